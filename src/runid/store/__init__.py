"""Storage of the transparency log and of content blobs, behind one small interface.

:class:`LogStore` is everything the rest of runid may assume about storage. The embedded default
is SQLite (:mod:`runid.store.sqlite`); :mod:`runid.store.memory` keeps a log in memory, for tests
that are not about SQLite. Every backend passes the same contract tests
(``tests/store_contract.py``); a PostgreSQL backend shared by several writer processes would
implement the same protocol and pass them too.

What every backend guarantees:

* **Sequencing inside the store's transaction.** :meth:`LogStore.append` reads the tree size and
  compact range, assigns consecutive indices, writes the leaves and every newly completed subtree
  hash, and stores the new state, all in one write transaction. Nothing is assumed about which
  process is writing: any number of processes may append to one log at once.
* **Acknowledged means durable.** When ``append`` (or ``save_checkpoint``, ``put_blob``) returns,
  the data is committed and survives ``kill -9`` and power loss; until then nothing of it is
  visible, and a crash leaves no half-written leaf, node or state.
* **Append-only, immutable history.** A leaf, a subtree hash and a checkpoint, once committed,
  never change; so a root or proof for a size the log has reached is the same whenever asked.
  (Blobs are not part of the tree: content is referenced by digest, so erasing a blob later,
  :meth:`LogStore.erase_blobs`, leaves every proof valid.)
* **O(log n) proofs.** The hash of every complete subtree is stored, keyed (level, index), so a
  root for any past size, an inclusion proof and a consistency proof are each O(log n) look-ups.

Where the data lives (:func:`default_home`): the directory ``--home DIR`` names, else the
``RUNID_HOME`` environment variable, else ``$XDG_DATA_HOME/runid`` (``~/.local/share/runid`` when
``XDG_DATA_HOME`` is unset or not absolute). The SQLite log is the file ``<home>/log.sqlite3``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Final, Protocol, Self

from ..errors import InputError
from ..merkle import EMPTY_ROOT, CompactRange, leaf_hash, node_hash
from ._checks import corrupt
from .erasures import Erasure

__all__ = [
    "DECLARATION_BLOB_PREFIX",
    "MAX_PROBLEMS",
    "AppendLookups",
    "AuditReport",
    "CheckpointSigner",
    "Erasure",
    "LogStore",
    "Problems",
    "StoredCheckpoint",
    "audit_tree",
    "default_home",
    "fold",
    "node_count",
    "open_store",
    "open_store_url",
    "subtree_keys",
]

CheckpointSigner = Callable[[int, bytes], bytes]
"""``sign(size, root) -> signed note bytes``; see :meth:`LogStore.append`."""


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A saved checkpoint: the tree ``size``, the ``root`` the store computed for that size, and
    the signed ``note`` (a C2SP signed note; opaque to the store)."""

    size: int
    root: bytes
    note: bytes


@dataclass(frozen=True, slots=True)
class AppendLookups:
    """The lookup-index rows of what one :meth:`LogStore.append` writes (ADR 0017).

    ``records`` has one item per leaf given to the append: the ``(execution id, declaration
    id)`` its record holds, or ``None`` for a leaf that holds no readable record.
    ``declarations`` has the ``(declaration id, blob digest)`` of *every* blob given to the
    append that holds a declaration's canonical bytes (every blob starting with
    :data:`DECLARATION_BLOB_PREFIX` that is one). :class:`runid.log.Log` builds them from what
    it signed or verified; the lookups re-verify what an index row points at, as ever.
    """

    records: Sequence[tuple[str, str] | None]
    declarations: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What :meth:`LogStore.audit` re-hashed, and every problem it found.

    ``size`` is the tree size audited; ``entries``, ``nodes`` (subtree hashes above the leaves),
    ``checkpoints`` and ``blobs`` count the stored rows; ``problems`` names each inconsistency
    (at most :data:`MAX_PROBLEMS`, then a count of the rest), the entry or subtree first.
    """

    size: int
    entries: int
    nodes: int
    checkpoints: int
    blobs: int
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True if the audit found nothing wrong."""
        return not self.problems

    def check(self) -> None:
        """Raise :class:`~runid.errors.VerificationError` (``E_STORE_CORRUPT``) unless ok."""
        if self.problems:
            more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            raise corrupt(f"log audit: {self.problems[0]}{more}")


DECLARATION_BLOB_PREFIX: Final = b'{"constraints":'
"""How the canonical (RFC 8785) bytes of every declaration begin: JCS sorts keys and
``constraints`` is the first component name in code-point order. Blobs that do not start so are
not declarations, which lets the lookup index skip output blobs without reading them."""

MAX_PROBLEMS: Final = 1000
"""The most problems an audit lists one by one; a badly damaged log would list millions."""


class LogStore(Protocol):
    """The log and blob store. One object per thread; any number of processes per log.

    Sizes and indices are leaf counts and 0-based leaf positions. Hashes are raw 32-byte
    SHA-256 values as :mod:`runid.merkle` computes them. Wrong arguments (an index outside the
    log, a hash of the wrong length) raise :class:`~runid.errors.InputError`; storage problems a
    user can fix (permissions, disk full, a busy or newer database) raise
    :class:`~runid.errors.FileAccessError`; corruption found while reading raises
    :class:`~runid.errors.VerificationError`.
    """

    def append(
        self,
        leaves: Sequence[bytes],
        sign_checkpoint: CheckpointSigner | None = None,
        *,
        blobs: Sequence[bytes] = (),
        lookups: AppendLookups | None = None,
    ) -> list[int]:
        """Append ``leaves`` atomically and durably; return the index of each, in order.

        New leaves get consecutive indices after the current end of the log. A leaf already in
        the log (same bytes, so same leaf hash) is not appended again: its existing index is
        returned, so retrying an append whose acknowledgement was lost is safe.

        ``sign_checkpoint``, if given, is called inside the same transaction with the new size
        and root; the note it returns is saved as that size's checkpoint in the same commit, so
        the log never holds leaves past its last checkpoint because of a crash in between. It runs
        while the log's write lock is held, so it must be quick (an Ed25519 signature is) and
        must not use the store. If it raises, nothing is appended.

        ``blobs`` are stored as by :meth:`put_blob`, in the same transaction, so a batch of
        runs and their content cost one durable commit.

        ``lookups``, if given, are the lookup rows of the new leaves and of the declaration
        blobs (:class:`AppendLookups`), written in the same transaction; a high-water mark that
        was current (:meth:`lookup_state`) moves past what this append wrote, so the indexes
        stay current with no catch-up at read time (ADR 0017). A mark that lagged stays (the
        catch-up fills the gap). A backend may ignore ``lookups``: the catch-up then does it.
        """
        ...

    def size(self) -> int:
        """The number of leaves in the log now."""
        ...

    def entry(self, index: int) -> bytes:
        """The bytes of leaf ``index``, checked against its stored leaf hash."""
        ...

    def index_of(self, leaf_hash: bytes) -> int | None:
        """The index of the leaf with this RFC 9162 leaf hash, or ``None``."""
        ...

    def root(self, size: int | None = None) -> bytes:
        """The root of the first ``size`` leaves (default: all of them now)."""
        ...

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
        ...

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """The RFC 9162 consistency proof from ``size1`` to ``size2`` leaves (``0 < size1``)."""
        ...

    def save_checkpoint(self, size: int, note: bytes) -> StoredCheckpoint:
        """Save the signed ``note`` for tree ``size`` (at most the current size), durably.

        Saving the same note again is a no-op; a different note for a size that already has
        one is refused.
        """
        ...

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint with the largest size, or ``None`` if there is none."""
        ...

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        """The checkpoint saved for exactly ``size``, or ``None``."""
        ...

    def put_blob(self, data: bytes) -> str:
        """Store ``data`` durably by content; return its digest ``sha256:<hex>``. Idempotent."""
        ...

    def get_blob(self, digest: str) -> bytes | None:
        """The blob with ``digest`` (checked against it), or ``None`` if not stored."""
        ...

    def erase_blobs(
        self, digests: Sequence[str], *, reason: str = "", erased_at: datetime | None = None
    ) -> list[str]:
        """Delete the blobs with these digests and record each erasure, in one durable
        transaction; the digests that were stored (and are gone now), in the order given.

        Only blobs go (:mod:`runid.store.erasures`): entries, subtree hashes and checkpoints
        never change, so every root, proof and checkpoint stays the same. A digest not stored
        is skipped. Each erased blob leaves an :class:`~runid.store.erasures.Erasure` row
        (digest, ``erased_at`` or now, ``reason``; never the content; a second erasure of
        bytes stored again replaces it). The lookup row of a declaration the blob held stays
        (it names the blob, so a lookup finds the erasure; an audit expects no blob for it), and
        the blobs' high-water mark is kept at or below the newest blob, so the lookups and
        ``runid log audit`` stay consistent. SQLite overwrites the freed pages with zeros
        (``secure_delete``) and checkpoints its write-ahead log, so the bytes are left in
        neither file; PostgreSQL leaves them in dead rows until ``VACUUM`` reuses the space.
        """
        ...

    def erasure(self, digest: str) -> Erasure | None:
        """The record of the erasure of the blob ``digest``, or ``None`` if it was never
        erased. (A blob stored again after its erasure is stored: ask :meth:`get_blob` first.)"""
        ...

    def iter_erasures(self) -> Iterator[Erasure]:
        """Every erasure record, by digest."""
        ...

    # Lookup indexes: derived data. runid.log writes them with each append (``lookups``) and
    # catches up at read time with what other paths appended (ADR 0017). Ids and digests are
    # ``sha256:<64 hex>`` strings.

    def lookup_state(self) -> tuple[int, int]:
        """How far the lookup indexes reach: ``(entries, blobs)`` — entries ``[0, entries)``
        and blobs up to blob sequence number ``blobs`` were indexed."""
        ...

    def max_blob_rowid(self) -> int:
        """The sequence number of the newest blob (0 if there is none)."""
        ...

    def iter_declaration_blobs(self, after: int) -> Iterator[tuple[int, bytes]]:
        """``(sequence number, data)`` of the blobs after ``after`` that may be declarations
        (their bytes start with :data:`DECLARATION_BLOB_PREFIX`), in order."""
        ...

    def add_lookups(
        self,
        records: Sequence[tuple[int, str, str]],
        declarations: Sequence[tuple[str, str]],
        *,
        entries: int,
        blobs: int,
    ) -> None:
        """Add ``(index, execution id, declaration id)`` rows and ``(declaration id, blob
        digest)`` rows, and move the high-water marks up to ``entries`` and ``blobs``, in one
        transaction. Rows already present are kept (idempotent)."""
        ...

    def find_execution(self, execution_id: str) -> int | None:
        """The index of the first indexed entry with this execution id, or ``None``."""
        ...

    def find_records(self, declaration_id: str) -> list[int]:
        """The indices of the indexed entries whose record has this declaration id."""
        ...

    def find_declaration(self, declaration_id: str) -> str | None:
        """The digest of the blob holding this declaration, or ``None``."""
        ...

    def iter_record_lookups(self) -> Iterator[tuple[int, str, str]]:
        """Every stored ``(index, execution id, declaration id)`` row, by index: what the
        lookups answer from, for an audit to compare with the entries themselves."""
        ...

    def iter_declaration_lookups(self) -> Iterator[tuple[str, str]]:
        """Every stored ``(declaration id, blob digest)`` row, for an audit to compare with
        the blobs themselves."""
        ...

    def iter_checkpoints(self) -> Iterator[StoredCheckpoint]:
        """Every saved checkpoint, by ascending size (an audit verifies each note)."""
        ...

    def iter_entries(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
        """``(index, data)`` of leaves ``start <= index < stop`` in order (``stop``: the size)."""
        ...

    def iter_nodes(
        self, level: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, bytes]]:
        """``(index, hash)`` of the stored complete subtrees at ``level``, in index order.

        Level 0 yields the stored leaf hashes. With ``stop``, only ``start <= index < stop``.
        These are the hashes C2SP tlog-tiles serve, and what :func:`audit_tree` re-checks.
        """
        ...

    def audit(self, *, check: bool = True) -> AuditReport:
        """Re-hash everything (leaves, subtrees, state, checkpoints, blobs) in one snapshot.

        The backend's own structure is checked first (SQLite: ``PRAGMA integrity_check``, which
        also finds an index that no longer finds its rows). Every entry's data is hashed again
        and compared with its stored leaf hash; every stored subtree hash with the hash of its
        children; the sequencing state and each checkpoint's recorded root with the tree of the
        stored leaf hashes. The signed notes and the lookup indexes are opaque here: checking
        the notes' signatures and roots, and rebuilding the lookups from the records, is the
        caller's part (:meth:`runid.log.Log.audit`).

        With ``check`` (the default) any problem raises
        :class:`~runid.errors.VerificationError` (``E_STORE_CORRUPT``) naming the first one and
        counting the rest; with ``check=False`` the report lists every problem (up to
        :data:`MAX_PROBLEMS`), for ``runid log audit`` to name each bad entry.
        """
        ...

    def close(self) -> None:
        """Release the connection; the store cannot be used afterwards."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def default_home() -> Path:
    """The directory runid keeps its data in when no ``--home DIR`` is given.

    ``$RUNID_HOME`` if set and not empty; else ``$XDG_DATA_HOME/runid`` if ``XDG_DATA_HOME`` is
    an absolute path (the XDG Base Directory spec says to ignore a relative one); else
    ``~/.local/share/runid``. The CLI's ``--home DIR`` option, when given, wins over all of
    these; this function is what it falls back to.
    """
    home = os.environ.get("RUNID_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "runid"
    return Path.home() / ".local" / "share" / "runid"


def open_store(home: Path, *, create: bool = True, readonly: bool = False) -> LogStore:
    """Open the log store in directory ``home`` (see :func:`default_home`).

    With ``create`` (the default) a missing directory is created with mode 0700 and a missing log
    is initialised; with ``create=False`` a missing log raises
    :class:`~runid.errors.FileAccessError`, so a read-only command does not leave an empty log
    behind a mistyped ``--home``. With ``readonly`` an existing log is opened for reading only:
    nothing is created, migrated or written, so it works where the process may not write.
    """
    # Imported here: the backend imports this module for the shared helpers and types.
    from .sqlite import SQLiteStore

    return SQLiteStore.open(home, create=create and not readonly, readonly=readonly)


def open_store_url(url: str, *, create: bool = True) -> LogStore:
    """Open the log store a URL names: ``sqlite:PATH`` (the SQLite log in directory ``PATH``, or
    the ``log.sqlite3`` file ``PATH`` names) or ``postgresql://USER@HOST:PORT/DB[?schema=NAME]``
    (:class:`~runid.store.postgres.PostgresStore`; ``postgres://`` too; needs
    ``runid[postgres]``). ``create`` as for :func:`open_store`."""
    scheme = url.split(":", 1)[0].lower() if isinstance(url, str) and ":" in url else ""
    if scheme == "sqlite" and url.split(":", 1)[1].removeprefix("//"):
        path = Path(url.split(":", 1)[1].removeprefix("//")).expanduser()
        return open_store(path.parent if path.name == "log.sqlite3" else path, create=create)
    if scheme in ("postgresql", "postgres"):
        try:
            from .postgres import PostgresStore
        except ImportError as exc:
            raise InputError(
                f"a PostgreSQL store needs psycopg ({exc})",
                hint="pip install 'runid[postgres]'",
            ) from None
        return PostgresStore.open(url, create=create)
    raise InputError(
        f"not a store URL: {url!r:.80}",
        hint="use sqlite:PATH or postgresql://USER@HOST:PORT/DATABASE",
    )


# --- helpers shared by backends --------------------------------------------------------------


def subtree_keys(begin: int, end: int) -> list[tuple[int, int]]:
    """The ``(level, index)`` keys of the perfect subtrees that split leaves ``[begin, end)``.

    Largest first. ``begin`` must be a multiple of the largest power of two not above
    ``end - begin`` — true of every range :func:`~runid.merkle.inclusion_proof_ranges` and
    :func:`~runid.merkle.consistency_proof_ranges` return, and of ``[0, size)``. Fold the
    hashes with :func:`fold` to get the range's root.

    >>> subtree_keys(0, 13)
    [(3, 0), (2, 2), (0, 12)]
    >>> subtree_keys(8, 12)
    [(2, 2)]
    """
    keys = []
    width = end - begin
    for level in reversed(range(width.bit_length())):
        if width >> level & 1:
            keys.append((level, begin >> level))
            begin += 1 << level
    return keys


def fold(hashes: Sequence[bytes]) -> bytes:
    """The root of a range from the roots of its perfect subtrees, largest first.

    MTH splits off the largest perfect subtree first, so the smaller right-hand subtrees join
    before they meet it: fold from the right. The empty range has :data:`~runid.merkle.EMPTY_ROOT`.
    """
    if not hashes:
        return EMPTY_ROOT
    h = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = node_hash(left, h)
    return h


class Problems:
    """The problems an audit found: the first :data:`MAX_PROBLEMS` named, the rest counted."""

    def __init__(self) -> None:
        self.named: list[str] = []
        self.more = 0

    def add(self, message: str) -> None:
        if len(self.named) < MAX_PROBLEMS:
            self.named.append(message)
        else:
            self.more += 1

    def __bool__(self) -> bool:
        return bool(self.named)

    def as_tuple(self) -> tuple[str, ...]:
        if self.more:
            return (*self.named, f"... and {self.more} more problems")
        return tuple(self.named)


def audit_tree(
    size: int,
    entries: Iterable[tuple[int, bytes]],
    nodes: Callable[[int, int], Iterable[tuple[int, bytes]]],
    checkpoints: Iterable[tuple[int, bytes]],
    problems: Problems,
) -> CompactRange | None:
    """Check that the stored tree of ``size`` leaves is the tree of its leaves.

    ``entries`` yields ``(index, data)`` for indices ``0 .. size-1``; ``nodes(level, stop)`` yields
    the stored ``(index, hash)`` at ``level`` for ``index < stop`` (level 0: stored leaf hashes),
    as :meth:`LogStore.iter_entries` and :meth:`LogStore.iter_nodes` do; ``checkpoints`` yields
    ``(size, root)`` by ascending size. Each level is merge-joined with the one below it in one
    streaming pass, so memory stays O(log n) and time O(n). Rows beyond ``stop`` are the
    backend's to count (they may be appends newer than ``size``).

    Every check compares one stored thing with the things it is computed from, so each problem
    is reported where it is: an entry whose data does not hash to its stored leaf hash, a
    subtree hash that is not the hash of its two stored children, a checkpoint whose recorded
    root is not the root of the stored leaf hashes up to its size. Adds them to ``problems``.

    Returns the compact range of the stored leaf hashes, which must equal the backend's stored
    sequencing state, or ``None`` if leaf hashes are missing (there is no tree then).
    """
    # Level 0: re-hash each entry and compare it with its stored leaf hash; fold the stored leaf
    # hashes into a compact range to check the checkpoints against.
    tree: CompactRange | None = CompactRange()
    pending = iter(checkpoints)
    checkpoint = next(pending, None)
    wrong_checkpoints: list[int] = []
    stored_leaves = iter(nodes(0, size))
    stored = next(stored_leaves, None)
    expected = 0
    for index, data in entries:
        if index != expected:
            problems.add(f"log entries {expected}..{index - 1} are missing")
            tree = None
        expected = index + 1
        while tree is not None and checkpoint is not None and checkpoint[0] <= index:
            checkpoint = _check_checkpoint(checkpoint, tree, wrong_checkpoints, pending)
        while stored is not None and stored[0] < index:
            stored = next(stored_leaves, None)
        if stored is None or stored[0] != index:
            problems.add(f"log entry {index}: its leaf hash is missing")
            tree = None
            continue
        if stored[1] != leaf_hash(data):
            problems.add(f"log entry {index}: its data does not hash to its stored leaf hash")
        if tree is not None:
            tree.append(stored[1])
    if expected != size:
        problems.add(f"log entries {expected}..{size - 1} are missing")
        tree = None
    while tree is not None and checkpoint is not None:
        checkpoint = _check_checkpoint(checkpoint, tree, wrong_checkpoints, pending)
    if wrong_checkpoints:
        problems.add(
            f"the tree does not match the root recorded with {len(wrong_checkpoints)} "
            f"checkpoint(s), the first for size {wrong_checkpoints[0]}"
        )
    # Levels 1 and up: each stored subtree hash against the stored hashes of its two children.
    # A missing child was reported on its own level, so it is skipped here.
    for level in range(1, size.bit_length()):
        count = size >> level
        below = iter(nodes(level - 1, count * 2))
        child = next(below, None)
        expected = 0
        for index, stored_hash in nodes(level, count):
            if index != expected:
                problems.add(f"subtree hashes ({level}, {expected}..{index - 1}) are missing")
            expected = index + 1
            pair: list[bytes] = []
            for want in (2 * index, 2 * index + 1):
                while child is not None and child[0] < want:
                    child = next(below, None)
                if child is not None and child[0] == want:
                    pair.append(child[1])
            if len(pair) == 2 and node_hash(pair[0], pair[1]) != stored_hash:
                problems.add(f"subtree hash ({level}, {index}) does not match its children")
        if expected != count:
            problems.add(f"subtree hashes ({level}, {expected}..{count - 1}) are missing")
    return tree


def _check_checkpoint(
    checkpoint: tuple[int, bytes],
    tree: CompactRange,
    wrong: list[int],
    pending: Iterator[tuple[int, bytes]],
) -> tuple[int, bytes] | None:
    """Compare ``checkpoint`` with ``tree``; its size is ``tree.size`` unless it is bad."""
    cp_size, cp_root = checkpoint
    if cp_size != tree.size or cp_root != tree.root():
        wrong.append(cp_size)
    return next(pending, None)


def node_count(size: int) -> int:
    """The number of complete subtrees above the leaves in a tree of ``size`` leaves.

    >>> node_count(13)  # 6 pairs, 3 fours, 1 eight
    10
    """
    return sum(size >> level for level in range(1, size.bit_length()))
