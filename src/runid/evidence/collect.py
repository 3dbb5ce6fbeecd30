"""Collecting a bundle's evidence from a log: the runs selected, their proofs, checkpoints and
a consistency chain, the declarations and the contents to disclose, and for runs signed by a
log service's client keys, the admin records that register those keys.

The shell half of ``runid evidence export`` and ``report``: it reads the log
(:class:`runid.log.Log`) and hands values to the pure half (:mod:`runid.evidence`), which makes
every file. Each selected envelope is verified as it is read; the log's key signs nothing here
(:func:`runid.evidence.seal` does, with the key the caller holds).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from ..admin import KEY_ACTIONS, ClientKey, KeyLedger, admin_output, parse_action
from ..checkpoint import Checkpoint, verify_checkpoint
from ..digest import DIGEST_PATTERN
from ..envelope import verify_envelope
from ..errors import (
    E_SELECTION,
    E_STORE_CORRUPT,
    E_UNKNOWN_KEY,
    InputError,
    RunidError,
    VerificationError,
)
from ..identity import Identity, identity_and_canonical
from ..keys import Keyring
from ..log import Log
from ..merkle import inclusion_proof_ranges
from ..policy import Policy
from ..proof import format_proof
from ..store import fold, subtree_keys
from ..transparency.witnessing import load_cosigned
from ._assemble import (
    AdminEvidence,
    Collected,
    RunEvidence,
    disclosures,
    output_digests,
    peek_record,
)
from ._format import Disclose, instant
from ._keys import signer_of

__all__ = ["Selection", "collect"]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Selection:
    """Which runs: those that started in ``[since, until)`` (either may be None), among the
    ``runs`` named (entry numbers, execution ids, declaration ids) or every run of the log;
    with ``project``, only the runs of that project of a log service's log."""

    since: datetime | None = None
    until: datetime | None = None
    runs: tuple[str, ...] = ()
    project: str | None = None

    def to_json(self, disclose: Disclose) -> dict[str, Any]:
        def stamp(value: datetime | None) -> str | None:
            return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if value is not None else None

        return {
            "since": stamp(self.since),
            "until": stamp(self.until),
            "runs": list(self.runs) or None,
            "project": self.project,
            "disclose": disclose.to_json(),
        }

    def admits(self, record: dict[str, Any]) -> bool:
        started = instant(record["started_at"])
        return not (
            (self.since is not None and started < self.since)
            or (self.until is not None and started >= self.until)
        )


def _named(log: Log, refs: Iterable[str]) -> list[int]:
    """The entries ``refs`` name (entry numbers, execution ids, declaration ids), found with
    the log's lookups and not verified here: :func:`collect` verifies each run it selects with
    the keys that may sign it (a log service's client keys too)."""
    digest = re.compile(DIGEST_PATTERN)
    log.refresh_lookups()
    size = log.store.size()
    found: set[int] = set()
    for ref in refs:
        if ref.isdigit():
            if int(ref) >= size:
                span = f"entries 0..{size - 1}" if size else "no entries yet"
                raise InputError(f"--run {ref}: the log has {span}", code=E_SELECTION)
            found.add(int(ref))
            continue
        if not digest.fullmatch(ref):
            raise InputError(
                f"--run {ref!r:.80}: neither an entry number nor an execution or declaration id "
                "(sha256:<64 hex>)",
                code=E_SELECTION,
            )
        execution = log.store.find_execution(ref)
        indices = [execution] if execution is not None else log.store.find_records(ref)
        if not indices:
            raise InputError(
                f"--run {ref}: no run of this log has this execution or declaration id",
                code=E_SELECTION,
            )
        member = "execution_id" if execution is not None else "declaration_id"
        for index in indices:
            record = peek_record(log.store.entry(index))
            if record is None or record.get(member) != ref:
                raise VerificationError(
                    f"lookup index: entry {index} is indexed under {ref}, but it is not",
                    code=E_STORE_CORRUPT,
                    hint="run 'runid log audit'",
                )
        found.update(indices)
    return sorted(found)


class _Prover:
    """Inclusion proofs against one tree size from the stored subtree hashes, read once: for
    a bundle of many runs, instead of a few store look-ups per proof."""

    def __init__(self, log: Log, size: int) -> None:
        self.size = size
        self.levels = [
            [h for _i, h in log.store.iter_nodes(level, 0, size >> level)]
            for level in range(size.bit_length())
        ]

    def proof(self, index: int) -> list[bytes]:
        return [
            fold([self.levels[level][i] for level, i in subtree_keys(begin, end)])
            for begin, end in inclusion_proof_ranges(index, self.size)
        ]


def _declarations(
    log: Log, ids: Iterable[str]
) -> tuple[dict[str, dict[str, Any] | None], dict[str, Identity]]:
    """The declarations the log holds, by id (None: not held), each read once, its bytes
    checked to be the canonical form of a declaration with that id; and their identities."""
    log.refresh_lookups()
    found: dict[str, dict[str, Any] | None] = {}
    identities: dict[str, Identity] = {}
    for declaration_id in ids:
        digest = log.store.find_declaration(declaration_id)
        data = log.store.get_blob(digest) if digest is not None else None
        if data is None:
            found[declaration_id] = None  # withheld, erased, or recorded elsewhere
            continue
        try:
            value = orjson.loads(data)
            identity, canonical = identity_and_canonical(value)
        except (orjson.JSONDecodeError, RunidError):
            identity, canonical = None, b""
        if identity is None or canonical != data or identity.declaration_id != declaration_id:
            raise VerificationError(
                f"blob {digest} is indexed as declaration {declaration_id}, but it is not",
                code=E_STORE_CORRUPT,
                hint="run 'runid log audit'",
            )
        found[declaration_id] = value
        identities[declaration_id] = identity
    return found, identities


def _covering(log: Log, index: int, latest: int) -> int:
    """The size of the first stored checkpoint whose tree holds entry ``index``."""
    if log.store.checkpoint_at(index + 1) is not None:
        return index + 1
    for stored in log.store.iter_checkpoints():
        if stored.size > index:
            return min(stored.size, latest)
    return latest


def _cosigned(log: Log, latest: Checkpoint) -> tuple[bytes, Checkpoint] | None:
    """The home's latest checkpoint with witness cosignatures (``runid log witness``), when
    there is one of this log's tree."""
    found = load_cosigned(log)
    if found is None:
        return None
    note, checkpoint = found
    if not 0 < checkpoint.size <= latest.size or log.store.root(checkpoint.size) != checkpoint.root:
        raise VerificationError(
            f"the cosigned checkpoint of size {checkpoint.size} is not of this log's tree",
            hint="it belongs to another log or history; remove it and witness again",
            code=E_STORE_CORRUPT,
        )
    return note, checkpoint


def _checkpoints(
    log: Log,
    indices: Sequence[int],
    note: bytes,
    latest: Checkpoint,
    cosigned: tuple[bytes, Checkpoint] | None,
) -> tuple[list[int], list[bytes], list[tuple[int, int, list[bytes]]]]:
    sizes = {latest.size}
    if indices:
        sizes.add(_covering(log, indices[0], latest.size))
        sizes.add(_covering(log, indices[-1], latest.size))
    if cosigned is not None:
        sizes.add(cosigned[1].size)
    ordered = sorted(sizes)
    notes = []
    for size in ordered:
        if size == latest.size:
            notes.append(note)
            continue
        if cosigned is not None and size == cosigned[1].size:
            notes.append(cosigned[0])  # the log's signature and the witnesses'
            continue
        stored = log.store.checkpoint_at(size)
        assert stored is not None
        verify_checkpoint(stored.note, log.keyring, log.origin)
        notes.append(stored.note)
    chain = [
        (old, new, log.store.consistency_proof(old, new))
        for old, new in itertools.pairwise(ordered)
    ]
    return ordered, notes, chain


@dataclass
class _Clients:
    """A log service's client keys as of a tree size (``ledger``, the registry's rules), and
    the admin records about them: entry -> (its leaf, its action's bytes)."""

    ledger: KeyLedger
    records: dict[int, tuple[bytes, bytes]]

    def projects(self) -> list[str]:
        return sorted({info.project for info in self.ledger.keys.values()})


def _clients(log: Log, size: int) -> _Clients:
    """The admin records of the log's own key among entries ``[0, size)``, their key actions
    replayed in log order as the service's registry replays them (an action that does not
    apply, or whose bytes are erased, does not count)."""
    key_id = log.public.key_id
    marker = key_id.encode("ascii")
    found = _Clients(KeyLedger(key_id), {})
    for index, leaf in log.store.iter_entries(0, size):
        if marker not in leaf or signer_of(leaf) != key_id:
            continue
        record = peek_record(leaf)
        digest = admin_output(record) if record is not None else None
        data = log.store.get_blob(digest) if digest is not None else None
        if data is None:
            continue
        try:
            action = parse_action(data)
            if action.get("action") not in KEY_ACTIONS:
                continue
            found.ledger.check(action)
        except RunidError:
            continue
        found.ledger.apply(index, action)
        found.records[index] = (leaf, data)
    return found


def _issuer(record: dict[str, Any]) -> str | None:
    issuer = record.get("issuer")
    key_id = issuer.get("key_id") if isinstance(issuer, dict) else None
    return key_id if isinstance(key_id, str) else None


def _project_clients(log: Log, size: int, project: str) -> _Clients:
    clients = _clients(log, size)
    known = clients.projects()
    if project not in known:
        raise InputError(
            f"--project {project}: no client key of this log is registered to it",
            code=E_SELECTION,
            hint=f"projects with keys: {', '.join(known)}"
            if known
            else "this log has no projects (no admin record registers a client key)",
        )
    return clients


def collect(
    log: Log,
    selection: Selection,
    disclose: Disclose,
    *,
    policy: tuple[str, bytes, Policy] | None = None,
    progress: Progress | None = None,
) -> tuple[Collected, list[int]]:
    """The evidence of the selected runs, and the tree sizes of its checkpoints in order.

    Runs signed by a log service's client keys (``selection.project``: only those of that
    project) come with the admin records that register and revoke their keys. Raises
    :class:`~runid.errors.InputError` (``E_SELECTION``) when no run is selected or the project
    has no key; any envelope that does not verify, or a client-signed run no admin record
    puts in a project, raises :class:`~runid.errors.VerificationError`.
    """
    note = log.current_checkpoint() or log.checkpoint()
    latest = verify_checkpoint(note, log.keyring, log.origin)
    size = latest.size
    project = selection.project
    clients = _project_clients(log, size, project) if project is not None else None
    cosigned = _cosigned(log, latest)
    if cosigned is not None and cosigned[1].size == size:
        note = cosigned[0]  # every proof then carries the cosignatures
    prover: _Prover | None = None
    if selection.runs:
        candidates: Iterable[tuple[int, bytes]] = (
            (i, log.store.entry(i)) for i in _named(log, selection.runs) if i < size
        )
    else:
        candidates = log.store.iter_entries(0, size)
        prover = _Prover(log, size) if size else None

    def proof(index: int) -> bytes:
        hashes = prover.proof(index) if prover else log.store.inclusion_proof(index, size)
        return format_proof(index, hashes, note)

    runs: list[RunEvidence] = []

    def add(index: int, leaf: bytes, keyring: Keyring) -> None:
        try:
            record = verify_envelope(leaf, keyring)
        except RunidError as exc:
            raise VerificationError(f"entry {index}: {exc.message}", code=exc.code) from None
        runs.append(RunEvidence(index, leaf, record, proof(index)))
        if progress is not None and len(runs) % 500 == 0:
            progress("runs", len(runs), 0)

    log_keys = frozenset(log.keyring)  # key ids (a Keyring's lookup raises for others)
    signed_by_clients: list[tuple[int, bytes, str | None]] = []
    for index, leaf in candidates:
        peeked = peek_record(leaf)
        if peeked is None or not isinstance(peeked.get("started_at"), str):
            raise VerificationError(f"entry {index}: the stored leaf is not a runid envelope")
        try:
            if not selection.admits(peeked):
                continue
        except ValueError:
            raise VerificationError(f"entry {index}: its start time is not a timestamp") from None
        signer = _issuer(peeked)
        if signer is not None and signer not in log_keys:
            signed_by_clients.append((index, leaf, signer))
        elif project is None:
            add(index, leaf, log.keyring)  # the log's own runs are no project's
    if signed_by_clients:
        clients = clients or _clients(log, size)
        ledger = clients.ledger
        signers = Keyring([*log.keyring.values(), *(k.key for k in ledger.keys.values())])
        for index, leaf, signer in signed_by_clients:
            owner = ledger.project_of(signer, index) if signer is not None else None
            if project is not None and owner != project:
                continue
            if owner is None:
                raise VerificationError(
                    f"entry {index}: signed by {signer}, which no admin record of this log "
                    "registers to a project at that entry",
                    code=E_UNKNOWN_KEY,
                    hint="select one project's runs with --project, or name runs with --run",
                )
            add(index, leaf, signers)
        runs.sort(key=lambda run: run.index)
    if not runs:
        of = f"of project {project} " if project is not None else ""
        raise InputError(
            f"no run {of}of this log (entries 0..{size - 1}) matches the selection"
            if size
            else "the log is empty",
            code=E_SELECTION,
            hint="widen --since/--until, or name runs with --run",
        )
    declarations, identities = _declarations(
        log, dict.fromkeys(run.record["declaration_id"] for run in runs)
    )
    sizes, notes, chain = _checkpoints(log, [r.index for r in runs], note, latest, cosigned)
    collected = Collected(log.public, notes, chain, runs, declarations, disclose, policy=policy)
    collected.planned = disclosures(declarations, disclose, identities)
    collected.identities = identities
    if clients is not None:
        keys = _used_keys(clients, runs)
        collected.client_keys = [info.key for info in keys]
        collected.admin = _admin_evidence(log, clients, keys, proof)
    wanted: dict[str, None] = {}
    for _data, digests in collected.planned.values():
        wanted.update(dict.fromkeys(digests))
    if disclose.outputs:
        for run in runs:
            wanted.update(dict.fromkeys(output_digests(run.record)))
    for digest in wanted:
        data = log.content(digest)
        if data is not None:
            collected.contents[digest] = data
    return collected, sizes


def _used_keys(clients: _Clients, runs: Sequence[RunEvidence]) -> list[ClientKey]:
    """The client keys that signed ``runs``, by key id."""
    used = {run.record["issuer"]["key_id"] for run in runs}
    return [info for key_id, info in sorted(clients.ledger.keys.items()) if key_id in used]


def _admin_evidence(
    log: Log, clients: _Clients, keys: Sequence[ClientKey], proof: Callable[[int], bytes]
) -> list[AdminEvidence]:
    """The admin records that register and revoke ``keys``, each verified as it is read, with
    its action and its inclusion proof, in entry order."""
    indices = sorted(i for info in keys for i in (info.index, info.revoked_at) if i is not None)
    found = []
    for index in indices:
        leaf, action = clients.records[index]
        try:
            verify_envelope(leaf, log.keyring)
        except RunidError as exc:
            raise VerificationError(f"entry {index}: {exc.message}", code=exc.code) from None
        found.append(AdminEvidence(index, leaf, action, proof(index)))
    return found
