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

from ..checkpoint import Checkpoint, verify_checkpoint
from ..digest import DIGEST_PATTERN
from ..envelope import verify_envelope
from ..errors import E_SELECTION, InputError, RunidError, VerificationError
from ..log import Log
from ..policy import Policy
from ..proof import format_proof
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


def _covering(log: Log, index: int, latest: int) -> int:
    """The size of the first stored checkpoint whose tree holds entry ``index``."""
    if log.store.checkpoint_at(index + 1) is not None:
        return index + 1
    for stored in log.store.iter_checkpoints():
        if stored.size > index:
            return min(stored.size, latest)
    return latest


def _checkpoints(
    log: Log, indices: Sequence[int], note: bytes, latest: Checkpoint
) -> tuple[list[int], list[bytes], list[tuple[int, int, list[bytes]]]]:
    sizes = {latest.size}
    if indices:
        sizes.add(_covering(log, indices[0], latest.size))
        sizes.add(_covering(log, indices[-1], latest.size))
    ordered = sorted(sizes)
    notes = []
    for size in ordered:
        if size == latest.size:
            notes.append(note)
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
    if selection.runs:
        candidates: Iterable[tuple[int, bytes]] = (
            (i, log.store.entry(i)) for i in _named(log, selection.runs) if i < size
        )
    else:
        candidates = log.store.iter_entries(0, size)
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
        proof = format_proof(index, log.store.inclusion_proof(index, size), note)
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
    declarations: dict[str, dict[str, Any] | None] = {}
    for run in runs:
        declaration_id = run.record["declaration_id"]
        if declaration_id not in declarations:
            declarations[declaration_id] = log.declaration(declaration_id)
    sizes, notes, chain = _checkpoints(log, [r.index for r in runs], note, latest)
    collected = Collected(log.public, notes, chain, runs, declarations, disclose, policy=policy)
    collected.planned = disclosures(declarations, disclose)
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
