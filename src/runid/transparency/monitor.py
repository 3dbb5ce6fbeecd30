"""A monitor: follow a log over its C2SP tlog-tiles read API and raise the alarm, saying exactly
where, when it forked, rolled back or holds a bad entry.

:func:`monitor` reads the log's ``checkpoint``, tiles and entry bundles from an HTTP(S) prefix
or from a directory of exported tiles, and keeps what it verified in a state directory::

    <dir>/checkpoint     the last checkpoint it verified (a signed note, verbatim)
    <dir>/leaves         the leaf hash of every entry it verified, 32 bytes each, in order
    <dir>/evidence/      signed checkpoints that contradict the saved one (a fork or rollback:
                         two checkpoints signed by the log's key are the proof)

Each run: the checkpoint's signature (a trusted key named like the origin); no rollback (its
size is not below the saved one); the tiles of the new tree lead to its signed root, every tile
authenticated through its parents (:class:`~runid.tlog.tiles.TiledTree`); the new tree's root at
the saved size is the saved root (else a fork, located at the first entry whose leaf hash
differs from the one verified before); every new entry hashes to its leaf hash, is canonical
JSON (JCS) and is an envelope whose signature and record verify with the trusted keys. Only
then is the new checkpoint saved. An alarm is a :class:`MonitorAlarmError` (exit code 7); a
log or state that cannot be read is a :class:`~runid.errors.FileAccessError` (exit code 6).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import canonical
from ..checkpoint import Checkpoint, verify_checkpoint
from ..envelope import verify_envelope
from ..errors import (
    E_MONITOR_BAD_ENTRY,
    E_MONITOR_FETCH,
    E_MONITOR_FORK,
    E_MONITOR_ROLLBACK,
    E_MONITOR_STATE,
    FileAccessError,
    RunidError,
    VerificationError,
)
from ..keys import Keyring
from ..merkle import HASH_SIZE, leaf_hash
from ..note import MAX_NOTE_SIZE
from ..tlog.tiles import (
    ENTRIES,
    MAX_ENTRY_SIZE,
    TILE_WIDTH,
    Tile,
    TiledTree,
    decode_bundle,
    tile_for,
)
from ._files import read_file, replace_file
from ._http import request

__all__ = ["MAX_FINDINGS", "MonitorAlarmError", "MonitorReport", "Source", "monitor"]

MAX_FINDINGS = 100
"""Bad entries named one by one in an alarm; the rest are counted."""


class MonitorAlarmError(VerificationError):
    """The log misbehaved: ``findings`` name each place (``E_MONITOR_*`` codes)."""

    def __init__(self, message: str, *, code: str, findings: list[str], hint: str | None = None):
        super().__init__(message, code=code, hint=hint)
        self.findings = findings


@dataclass(frozen=True, slots=True)
class MonitorReport:
    """A run that found nothing wrong: the sizes before and after, entries verified."""

    origin: str
    old_size: int | None
    checkpoint: Checkpoint
    entries: int


class Source:
    """Where the log's tiles are: an ``http(s)://`` prefix, or a directory of exported tiles."""

    def __init__(self, location: str, *, timeout: float = 30.0) -> None:
        self.location = location.rstrip("/") or location
        self.remote = location.startswith(("http://", "https://"))
        self.timeout = timeout
        if not self.remote and not Path(location).is_dir():
            raise FileAccessError(
                f"{location}: not a directory of tiles, nor an http(s):// URL",
                hint="point at the prefix the log's 'checkpoint' and 'tile/' are served under",
                code=E_MONITOR_FETCH,
            )

    def where(self, path: str) -> str:
        return f"{self.location}/{path}"

    def get(self, path: str, limit: int) -> bytes | None:
        """The resource at ``path`` below the prefix, or ``None`` if it is not there."""
        if not self.remote:
            return read_file(Path(self.location) / path, limit)
        response = request(
            self.where(path), limit=limit, timeout=self.timeout, code=E_MONITOR_FETCH
        )
        if response.status == 404:
            return None
        if response.status != 200:
            raise FileAccessError(
                f"{self.where(path)}: HTTP {response.status}", code=E_MONITOR_FETCH
            )
        return response.body

    def tile(self, tile: Tile) -> bytes:
        """A tile's bytes; a partial tile no longer served is cut from its full tile."""
        limit = TILE_WIDTH * (2 + MAX_ENTRY_SIZE) if tile.level == ENTRIES else 32 * TILE_WIDTH
        data = self.get(tile.path(), limit)
        if data is None and not tile.full:
            full = self.get(Tile(tile.level, tile.index).path(), limit)
            if full is not None and tile.level != ENTRIES:
                data = full[: HASH_SIZE * tile.width]
        if data is None:
            raise FileAccessError(
                f"{self.where(tile.path())}: not served, but the checkpoint needs it",
                hint="the log (or its mirror) is incomplete; try again later",
                code=E_MONITOR_FETCH,
            )
        return data


@contextlib.contextmanager
def _locked(state: Path) -> Iterator[None]:
    try:
        state.mkdir(parents=True, exist_ok=True)
        fd = os.open(state / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise FileAccessError(
            f"{state}: cannot use it ({exc.strerror})", code=E_MONITOR_STATE
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _evidence(state: Path, note: bytes, cp: Checkpoint) -> Path:
    path = state / "evidence" / f"{cp.size}-{cp.root.hex()[:16]}.checkpoint"
    replace_file(path, note)
    return path


def _short(h: bytes) -> str:
    return h.hex()[:16] + "..."


def _locate(tree: TiledTree, old: Checkpoint, leaves: bytes) -> str:
    """Where the log's tree now departs from the tree of the saved checkpoint."""
    if len(leaves) == old.size * HASH_SIZE:
        for start in range(0, old.size, TILE_WIDTH):
            stop = min(old.size, start + TILE_WIDTH)
            for offset, now in enumerate(tree.hashes(0, start, stop)):
                index = start + offset
                before = leaves[index * HASH_SIZE : (index + 1) * HASH_SIZE]
                if now != before:
                    return (
                        f"entry {index} was rewritten: its leaf hash is now {_short(now)}, this "
                        f"monitor verified {_short(before)}"
                    )
    return f"the log's tree of size {old.size} now has root {_short(tree.root(old.size))}"


def _check_entries(
    source: Source, tree: TiledTree, start: int, keyring: Keyring
) -> tuple[list[str], int]:
    """Re-hash and verify entries ``start..``; the findings and how many were checked."""
    findings: list[str] = []
    bad = 0
    index = start
    while index < tree.size:
        bundle = tile_for(ENTRIES, index, tree.size)
        where = source.where(bundle.path())
        try:
            entries = decode_bundle(source.tile(bundle), bundle)
        except VerificationError as exc:
            raise MonitorAlarmError(exc.message, code=E_MONITOR_BAD_ENTRY, findings=[]) from None
        expected = tree.hashes(0, index, bundle.start + bundle.width)
        for offset, entry in enumerate(entries[index - bundle.start :]):
            problem = _entry_problem(entry, expected[offset], keyring)
            if problem is not None:
                bad += 1
                if len(findings) < MAX_FINDINGS:
                    findings.append(f"entry {index + offset} ({where}): {problem}")
        index = bundle.start + bundle.width
    if bad > len(findings):
        findings.append(f"... and {bad - len(findings)} more bad entries")
    return findings, tree.size - start


def _entry_problem(entry: bytes, expected: bytes, keyring: Keyring) -> str | None:
    computed = leaf_hash(entry)
    if computed != expected:
        return (
            f"its bytes hash to {_short(computed)}, not to the leaf hash {_short(expected)} of "
            "the signed tree"
        )
    try:
        envelope = canonical.loads(entry)
        if canonical.canonicalize(envelope) != entry:
            return "not canonical JSON (JCS): a runid leaf is JCS(envelope)"
        if not isinstance(envelope, dict):
            return "not a DSSE envelope (a JSON object)"
        verify_envelope(envelope, keyring)
    except RunidError as exc:
        return exc.message
    return None


def monitor(
    source: Source, state: Path, keyring: Keyring, *, origin: str | None = None
) -> MonitorReport:
    """Check the log at ``source`` against the state in directory ``state``; save it when all
    is well. Raises :class:`MonitorAlarmError` when the log misbehaved."""
    with _locked(state):
        return _monitor(source, state, keyring, origin)


def _monitor(source: Source, state: Path, keyring: Keyring, origin: str | None) -> MonitorReport:
    note = source.get("checkpoint", MAX_NOTE_SIZE)
    if note is None:
        raise FileAccessError(f"{source.where('checkpoint')}: not found", code=E_MONITOR_FETCH)
    saved_note = read_file(state / "checkpoint", MAX_NOTE_SIZE)
    old = None
    if saved_note is not None:
        try:
            old = verify_checkpoint(saved_note, keyring, origin)
        except VerificationError as exc:
            raise FileAccessError(
                f"{state / 'checkpoint'}: the saved checkpoint does not verify with the keys "
                f"given ({exc.message})",
                hint="this directory follows another log: use one directory per log",
                code=E_MONITOR_STATE,
            ) from None
        origin = old.origin
    new = verify_checkpoint(note, keyring, origin)
    where = source.where("checkpoint")
    if old is not None and new.size < old.size:
        path = _evidence(state, note, new)
        raise MonitorAlarmError(
            f"rollback: {where} is a checkpoint of size {new.size}, but the log signed size "
            f"{old.size} (root {_short(old.root)}) before",
            code=E_MONITOR_ROLLBACK,
            findings=[],
            hint="a log never shrinks: both checkpoints are signed by the log "
            f"({state / 'checkpoint'} and {path}); report them to the log's operator and users",
        )
    if old is not None and new.size == old.size and new.root == old.root:
        return MonitorReport(new.origin, old.size, new, 0)
    try:
        tree = TiledTree(new.size, new.root, source.tile)
    except VerificationError as exc:
        if old is not None and new.size == old.size:
            path = _evidence(state, note, new)
            raise _fork(where, old, new, path, "(its tiles do not verify either)") from None
        raise MonitorAlarmError(
            exc.message, code=exc.code, findings=[], hint="the log serves tiles it did not sign"
        ) from None
    leaves = read_file(state / "leaves", 1 << 40) or b""
    if old is not None and (new.size == old.size or tree.root(old.size) != old.root):
        path = _evidence(state, note, new)
        raise _fork(where, old, new, path, _locate(tree, old, leaves[: old.size * HASH_SIZE]))
    start = old.size if old is not None else 0
    findings, checked = _check_entries(source, tree, start, keyring)
    if findings:
        raise MonitorAlarmError(
            f"bad entries in the log of size {new.size} (named above)",
            code=E_MONITOR_BAD_ENTRY,
            findings=findings,
            hint="a runid log holds only canonical envelopes signed by a trusted key",
        )
    _save(state, note, tree, start, leaves)
    return MonitorReport(new.origin, old.size if old is not None else None, new, checked)


def _fork(where: str, old: Checkpoint, new: Checkpoint, path: Path, located: str) -> Exception:
    return MonitorAlarmError(
        f"fork: {where} (size {new.size}, root {_short(new.root)}) does not extend the "
        f"checkpoint this monitor verified (size {old.size}, root {_short(old.root)}): {located}",
        code=E_MONITOR_FORK,
        findings=[],
        hint=f"two histories under one key, both signed by the log (the saved checkpoint and "
        f"{path}): report them to the log's operator and users; trust this log's receipts only "
        "with witnesses' cosignatures",
    )


def _save(state: Path, note: bytes, tree: TiledTree, start: int, leaves: bytes) -> None:
    """Append the new leaf hashes, then replace the checkpoint (a crash in between leaves
    extra leaf hashes, cut off next time)."""
    path = state / "leaves"
    new = b"".join(tree.hashes(0, start, tree.size))
    if len(leaves) < start * HASH_SIZE:  # lost or never kept: the verified tree has them
        replace_file(path, b"".join(tree.hashes(0, 0, start)) + new)
    else:
        try:
            with path.open("r+b" if leaves else "wb") as handle:
                handle.truncate(start * HASH_SIZE)
                handle.seek(start * HASH_SIZE)
                handle.write(new)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise FileAccessError(
                f"{path}: cannot write ({exc.strerror})", code=E_MONITOR_STATE
            ) from None
    replace_file(state / "checkpoint", note)
