"""Collecting a bundle's evidence from a log: the runs selected, their proofs, checkpoints and
a consistency chain, the declarations and the contents to disclose.

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

from ..checkpoint import Checkpoint, verify_checkpoint
from ..digest import DIGEST_PATTERN
from ..envelope import verify_envelope
from ..errors import E_SELECTION, E_STORE_CORRUPT, InputError, RunidError, VerificationError
from ..identity import Identity, identity_and_canonical
from ..log import Log
from ..merkle import inclusion_proof_ranges
from ..policy import Policy
from ..proof import format_proof
from ..store import fold, subtree_keys
from ..transparency.witnessing import load_cosigned
from ._assemble import Collected, RunEvidence, disclosures, output_digests, peek_record
from ._format import Disclose, instant

__all__ = ["Selection", "collect"]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Selection:
    """Which runs: those that started in ``[since, until)`` (either may be None), among the
    ``runs`` named (entry numbers, execution ids, declaration ids) or every run of the log."""

    since: datetime | None = None
    until: datetime | None = None
    runs: tuple[str, ...] = ()

    def to_json(self, disclose: Disclose) -> dict[str, Any]:
        def stamp(value: datetime | None) -> str | None:
            return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if value is not None else None

        return {
            "since": stamp(self.since),
            "until": stamp(self.until),
            "runs": list(self.runs) or None,
            "disclose": disclose.to_json(),
        }

    def admits(self, record: dict[str, Any]) -> bool:
        started = instant(record["started_at"])
        return not (
            (self.since is not None and started < self.since)
            or (self.until is not None and started >= self.until)
        )


def _named(log: Log, refs: Iterable[str]) -> list[int]:
    digest = re.compile(DIGEST_PATTERN)
    log.refresh_lookups()
    found: set[int] = set()
    for ref in refs:
        if digest.fullmatch(ref) and log.store.find_execution(ref) is None:
            entries = log.entries_of(ref)
            if not entries:
                raise InputError(
                    f"--run {ref}: no run of this log has this execution or declaration id",
                    code=E_SELECTION,
                )
            found.update(e.index for e in entries)
        else:
            found.add(log.entry(ref).index)
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


def collect(
    log: Log,
    selection: Selection,
    disclose: Disclose,
    *,
    policy: tuple[str, bytes, Policy] | None = None,
    progress: Progress | None = None,
) -> tuple[Collected, list[int]]:
    """The evidence of the selected runs, and the tree sizes of its checkpoints in order.

    Raises :class:`~runid.errors.InputError` (``E_SELECTION``) when no run is selected; any
    envelope that does not verify raises :class:`~runid.errors.VerificationError`.
    """
    note = log.current_checkpoint() or log.checkpoint()
    latest = verify_checkpoint(note, log.keyring, log.origin)
    size = latest.size
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
    runs: list[RunEvidence] = []
    for index, leaf in candidates:
        peeked = peek_record(leaf)
        if peeked is None or not isinstance(peeked.get("started_at"), str):
            raise VerificationError(f"entry {index}: the stored leaf is not a runid envelope")
        try:
            if not selection.admits(peeked):
                continue
        except ValueError:
            raise VerificationError(f"entry {index}: its start time is not a timestamp") from None
        try:
            record = verify_envelope(leaf, log.keyring)
        except RunidError as exc:
            raise VerificationError(f"entry {index}: {exc.message}", code=exc.code) from None
        hashes = prover.proof(index) if prover else log.store.inclusion_proof(index, size)
        proof = format_proof(index, hashes, note)
        runs.append(RunEvidence(index, leaf, record, proof))
        if progress is not None and len(runs) % 500 == 0:
            progress("runs", len(runs), 0)
    if not runs:
        raise InputError(
            f"no run of this log (entries 0..{size - 1}) matches the selection"
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
