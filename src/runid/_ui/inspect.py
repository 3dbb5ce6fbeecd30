"""What the run page and the log page check and show, computed from a read-only log.

:func:`run_detail` verifies one run the way a receipt is verified, against the log itself:

* **signature**: the envelope verifies with the log's key and the execution id is recomputed;
* **inclusion**: the entry is in the tree of the latest signed checkpoint (its signature and
  the inclusion proof to its root verified);
* **consistency**: the first stored checkpoint that includes the entry is a prefix of the
  latest one (consistency proof verified), so the entry has not moved since it was logged;
* **witnesses**: the cosigned checkpoint in the home (``runid log witness``), when it covers the
  entry: its cosignatures, verified against the keys given with ``runid ui --witness``.

:func:`tree_heads` lists stored checkpoints newest first, by probing sizes down from a bound
(a page costs at most :data:`PROBES` point reads, however long the log).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ..checkpoint import Checkpoint, verify_checkpoint
from ..envelope import leaf_hash
from ..errors import RunidError
from ..identity import compute_identity
from ..log import Entry, Log
from ..merkle import verify_consistency, verify_inclusion
from ..note import split_note
from ..policy import Evaluation, evaluate
from ..store import StoredCheckpoint
from ..tlog.cosignature import verify_cosignatures
from ..transparency.witnessing import load_cosigned
from .source import LocalSource, peek_record

__all__ = ["PROBES", "Check", "HeadRow", "RunDetail", "run_detail", "tree_heads"]

PROBES: Final = 4096
"""The most checkpoint sizes one look-up probes."""

Status = Literal["ok", "fail", "none"]


@dataclass(frozen=True)
class Check:
    """One verification step: ``ok``, ``fail`` or ``none`` (nothing to check)."""

    name: str
    status: Status
    text: str


@dataclass
class RunDetail:
    index: int
    record: Mapping[str, Any]  # verified, or as read from the entry when it does not verify
    envelope: Mapping[str, Any] | None
    verified: bool
    declaration: Mapping[str, Any] | None
    components: dict[str, str] | None
    checks: list[Check] = field(default_factory=list)
    evaluation: Evaluation | None = None
    replays: list[int] = field(default_factory=list)


def _first_checkpoint(log: Log, index: int, latest: int) -> StoredCheckpoint | None:
    """The stored checkpoint of the smallest size that includes entry ``index``."""
    for size in range(index + 1, min(index + 1 + PROBES, latest + 1)):
        found = log.store.checkpoint_at(size)
        if found is not None:
            return found
    return None


def _latest(log: Log) -> tuple[bytes, Checkpoint] | None:
    stored = log.store.latest_checkpoint()
    if stored is None:
        return None
    return stored.note, verify_checkpoint(stored.note, log.keyring, log.origin)


def run_detail(source: LocalSource, ref: str | int) -> RunDetail:
    """Everything the run page shows about entry ``ref`` (index or execution id)."""
    log = source.log()
    entry: Entry | None = None
    checks: list[Check] = []
    record: Mapping[str, Any]
    envelope: Mapping[str, Any] | None
    try:
        entry = log.entry(ref)
        record, envelope, index = entry.record, entry.envelope, entry.index
        issuer = record.get("issuer", {})
        checks.append(
            Check(
                "signature",
                "ok",
                f"valid, by {issuer.get('name')} ({issuer.get('key_id')}); execution id recomputed",
            )
        )
    except RunidError as exc:
        if not isinstance(ref, int) and not ref.isdigit():
            found = log.store.find_execution(ref)
            if found is None:
                raise
            ref = found
        index = int(ref)
        peeked = peek_record(log.store.entry(index))
        if peeked is None:
            raise
        record, envelope = peeked, None
        checks.append(Check("signature", "fail", f"{exc.code}: {exc.message}"))
    detail = RunDetail(index, record, envelope, entry is not None, None, None, checks)
    declaration_id = str(record.get("declaration_id"))
    try:
        detail.declaration = source.declaration(declaration_id)
        if detail.declaration is not None:
            detail.components = dict(compute_identity(detail.declaration).components)
    except RunidError as exc:
        checks.append(Check("declaration", "fail", f"{exc.code}: {exc.message}"))
    if entry is not None:
        checks.extend(_proofs(log, source, entry))
    if source.policy is not None and detail.declaration is not None:
        detail.evaluation = evaluate(source.policy, detail.declaration, record)
    return detail


def _proofs(log: Log, source: LocalSource, entry: Entry) -> list[Check]:
    checks: list[Check] = []
    try:
        latest = _latest(log)
    except RunidError as exc:
        return [Check("inclusion", "fail", f"latest checkpoint: {exc.code}: {exc.message}")]
    if latest is None or latest[1].size <= entry.index:
        return [Check("inclusion", "none", "no signed checkpoint includes this entry yet")]
    _note, head = latest
    try:
        proof = log.store.inclusion_proof(entry.index, head.size)
        verify_inclusion(leaf_hash(entry.envelope), entry.index, head.size, proof, head.root)
        checks.append(
            Check(
                "inclusion",
                "ok",
                f"entry {entry.index} of the tree of size {head.size:,} signed by "
                f"{head.origin} (inclusion proof of {len(proof)} hashes verified)",
            )
        )
    except RunidError as exc:
        checks.append(Check("inclusion", "fail", f"{exc.code}: {exc.message}"))
    try:
        first = _first_checkpoint(log, entry.index, head.size)
        if first is None:
            checks.append(
                Check("consistency", "none", "no stored checkpoint found just after this entry")
            )
        else:
            old = verify_checkpoint(first.note, log.keyring, log.origin)
            proof = log.store.consistency_proof(old.size, head.size) if old.size < head.size else []
            verify_consistency(old.size, head.size, proof, old.root, head.root)
            checks.append(
                Check(
                    "consistency",
                    "ok",
                    f"the first checkpoint with this entry (size {old.size:,}) is a prefix of "
                    f"the latest (size {head.size:,}): consistency proof verified",
                )
            )
    except RunidError as exc:
        checks.append(Check("consistency", "fail", f"{exc.code}: {exc.message}"))
    checks.append(_witnesses(log, source, entry.index))
    return checks


def _witnesses(log: Log, source: LocalSource, index: int) -> Check:
    try:
        cosigned = load_cosigned(log)
    except RunidError as exc:
        return Check("witnesses", "fail", f"cosigned checkpoint: {exc.code}: {exc.message}")
    if cosigned is None:
        return Check("witnesses", "none", "no cosigned checkpoint in this home")
    note, head = cosigned
    if head.size <= index:
        return Check(
            "witnesses",
            "none",
            f"the cosigned checkpoint (size {head.size:,}) does not include this entry yet",
        )
    _text, lines = split_note(note)
    names = sorted({line.name for line in lines if line.name != log.origin})
    if not names:
        return Check("witnesses", "none", "the cosigned checkpoint carries no cosignature")
    if not source.witnesses:
        return Check(
            "witnesses",
            "none",
            f"cosigned checkpoint of size {head.size:,} carries cosignatures by "
            f"{', '.join(names)} (not checked: start runid ui with --witness VKEY)",
        )
    try:
        good = verify_cosignatures(note, source.witnesses)
    except RunidError as exc:
        return Check("witnesses", "fail", f"{exc.code}: {exc.message}")
    if not good:
        return Check("witnesses", "fail", "no cosignature of a given witness key verifies")
    signers = ", ".join(sorted(c.key.name for c in good))
    return Check(
        "witnesses",
        "ok",
        f"{len(good)} cosignature(s) verified on the checkpoint of size {head.size:,}: {signers}",
    )


@dataclass(frozen=True)
class HeadRow:
    size: int
    root: bytes
    verified: bool
    problem: str | None


def tree_heads(log: Log, below: int | None, limit: int = 20) -> tuple[list[HeadRow], int | None]:
    """Stored checkpoints with sizes below ``below`` (default: all), newest first; and where
    the next page starts (``None``: no older one within reach)."""
    latest = log.store.latest_checkpoint()
    if latest is None:
        return [], None
    size = latest.size + 1 if below is None else min(below, latest.size + 1)
    rows: list[HeadRow] = []
    probes = 0
    while size > 1 and len(rows) < limit and probes < PROBES:
        size -= 1
        probes += 1
        found = log.store.checkpoint_at(size)
        if found is None:
            continue
        try:
            verify_checkpoint(found.note, log.keyring, log.origin)
            rows.append(HeadRow(found.size, found.root, True, None))
        except RunidError as exc:
            rows.append(HeadRow(found.size, found.root, False, f"{exc.code}: {exc.message}"))
    return rows, (size if size > 1 else None)
