"""The SQLite log store: the embedded default backend of :class:`runid.store.LogStore`.

One file, ``<home>/log.sqlite3``, in WAL mode with ``synchronous=FULL``: a commit returns only
after its WAL frames are on stable storage, so an acknowledged append survives ``kill -9`` and
power loss, and readers never block the writer (or each other).

Writers serialise on SQLite's write lock: every write runs in ``BEGIN IMMEDIATE``, which takes
the lock before reading anything, so the size and compact range an append reads cannot change
under it, and no transaction ever needs to upgrade a stale read snapshot to a write (which
SQLite refuses with ``SQLITE_BUSY`` and no retry). Other processes wait for the lock up to the
busy timeout. Any number of processes may append to one log; within a process, use one
:class:`SQLiteStore` per thread.

The schema is :data:`runid.store.migrations.MIGRATIONS`, applied on open.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from ..errors import E_STORE, FileAccessError
from ..merkle import (
    HASH_SIZE,
    CompactRange,
    consistency_proof_ranges,
    inclusion_proof_ranges,
    leaf_hash,
)
from . import (
    AppendLookups,
    CheckpointSigner,
    StoredCheckpoint,
    fold,
    subtree_keys,
)
from . import _sqlite_keys as keys
from ._checks import (
    blob_digest_bytes,
    check_blob,
    check_blobs,
    check_hash,
    check_int,
    check_lookups,
    check_note,
    checkpoint_conflict,
    corrupt,
    leaf_list,
    not_in_log,
)
from ._sqlite_audit import SQLiteAudit
from ._sqlite_erasure import SQLiteErasure
from ._sqlite_lookups import Overlay, SQLiteLookups
from ._sqlite_open import connect, mapped_errors
from ._sqlite_readonly import connect_readonly
from .migrations import MIGRATIONS, Migration

__all__ = ["LOG_FILE", "SQLiteStore"]

LOG_FILE: Final = "log.sqlite3"
"""The name of the SQLite log inside the runid home directory."""

WRITE_CACHE_KIB: Final = 128 * 1024
"""The page cache of a connection that appends, in KiB (see ``SQLiteStore._writing``)."""

SINGLE_CHECKPOINT_PAGES: Final = 1_000
"""WAL pages after which a connection that appends fewer than 64 runs at a time checkpoints
(see ``SQLiteStore._writing``)."""

WRITE_CHECKPOINT_PAGES: Final = 10_000
"""The same after an append of 64 to 999 runs (see ``SQLiteStore._writing``)."""

BULK_CHECKPOINT_PAGES: Final = 40_000
"""The same after an append of 1,000 runs or more (see ``SQLiteStore._writing``)."""

DEFAULT_BUSY_TIMEOUT: Final = 30.0
"""Seconds a writer waits for another process's write transaction before giving up."""

# Rows fetched per query when streaming: a generator never holds a statement open between
# pages, so an abandoned iterator pins no WAL snapshot.
_PAGE: Final = 1000


class SQLiteStore(SQLiteLookups, SQLiteErasure, SQLiteAudit):
    """A :class:`~runid.store.LogStore` in one SQLite file. Create with :meth:`open`."""

    def __init__(
        self, path: Path, conn: sqlite3.Connection, busy_timeout: float, *, readonly: bool = False
    ) -> None:
        """Wrap an open, migrated connection; use :meth:`open` instead."""
        self.path = path
        self._conn = conn
        self._busy_timeout = busy_timeout
        self.readonly = readonly
        # Read-only: lookup rows a refresh finds stay in memory (see _sqlite_lookups).
        self._overlay = Overlay() if readonly else None
        self._write_cache = False  # see _writing()
        self._checkpoint_pages = 0

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        home: Path,
        *,
        create: bool = True,
        readonly: bool = False,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> SQLiteStore:
        """Open (with ``create``: create) the log ``<home>/log.sqlite3`` and bring its schema up
        to date. ``migrations`` is for tests; see :mod:`runid.store.migrations`.

        ``readonly``: open an existing log for reading only (SQLite ``mode=ro``, nothing
        created, migrated or written; see :mod:`runid.store._sqlite_readonly`), for commands
        that only read, on a home they may not write. Appends, checkpoints and blobs are then
        refused (``E_STORE``); lookups work, their index rows kept in memory."""
        path = Path(home) / LOG_FILE
        if readonly:
            conn = connect_readonly(path, busy_timeout=busy_timeout, migrations=migrations)
            return cls(path, conn, busy_timeout, readonly=True)
        conn = connect(path, create=create, busy_timeout=busy_timeout, migrations=migrations)
        return cls(path, conn, busy_timeout)

    # --- context manager -------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = ", readonly=True" if self.readonly else ""
        return f"SQLiteStore({str(self.path)!r}{mode})"

    # --- plumbing --------------------------------------------------------------------------

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        with mapped_errors(self.path, doing, self._busy_timeout):
            yield

    def _writable(self, doing: str) -> None:
        if self.readonly:
            raise FileAccessError(
                f"{self.path}: cannot {doing}: the log was opened read-only",
                code=E_STORE,
                hint="use a command that writes the log, where it is writable",
            )

    def _writing(self, rows: int = 1) -> None:
        """Before the first write: give this connection the page cache appends need.

        Every append inserts into indexes keyed by random digests (the leaf hash, the
        execution id, the blob digest): each insert lands on a random page of each. Once those
        indexes outgrow SQLite's default 2 MiB cache (a log of a few tens of thousands of
        runs), every insert reads its pages back from the file. :data:`WRITE_CACHE_KIB` holds
        them for a log of about a million runs; memory is taken only as pages are used, and
        only by connections that write (a reader keeps the default).

        And those inserts dirty a page each, so a batch of 1,000 runs writes thousands of pages
        to the WAL: with SQLite's default (a checkpoint every 1,000 pages) every such commit
        also copied them into the database file. Checkpointing every
        :data:`WRITE_CHECKPOINT_PAGES` lets a page that several commits dirty be copied once
        (+30 % appends per CPU second at 300k runs here); the WAL grows to ~40 MiB. An append
        of ``rows`` ≥ 1,000 (a batched import) uses :data:`BULK_CHECKPOINT_PAGES` (~160 MiB of
        WAL; +35 % appends per second at 400k runs): its commits are long anyway.

        An append of a few runs (a single append, capture's small groups) dirties a dozen
        pages, nearly all the same ones each time, and keeps SQLite's default,
        :data:`SINGLE_CHECKPOINT_PAGES`: a small WAL (4 MiB) is soon reused from its start,
        and a commit that overwrites WAL frames syncs faster than one that makes the file
        grow (here 290 µs against 450 µs an append while the WAL grows to 40 MiB, which is
        the first 800 appends of every process, since SQLite removes the WAL at close)."""
        if not self._write_cache:
            self._conn.execute(f"PRAGMA cache_size = -{WRITE_CACHE_KIB}")
            self._write_cache = True
        pages = (
            BULK_CHECKPOINT_PAGES
            if rows >= 1000
            else WRITE_CHECKPOINT_PAGES
            if rows >= 64
            else SINGLE_CHECKPOINT_PAGES
        )
        if pages != self._checkpoint_pages:
            self._conn.execute(f"PRAGMA wal_autocheckpoint = {pages}")
            self._checkpoint_pages = pages

    @contextmanager
    def _transaction(self, begin: str = "BEGIN IMMEDIATE") -> Iterator[None]:
        conn = self._conn
        conn.execute(begin)
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            # A failed COMMIT or an I/O error may already have ended the transaction.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _state(self) -> CompactRange:
        row = self._conn.execute("SELECT size, compact FROM tree_state WHERE id = 1").fetchone()
        return self._compact(row)

    def _state_and_index(self, leaf_hash: bytes) -> tuple[CompactRange, int | None]:
        """The tree state and the index of ``leaf_hash`` if it is in the log.

        One statement instead of two: this is the hot path of a single append, where each
        statement costs about as much as the Merkle work.
        """
        row = self._conn.execute(
            f"SELECT size, compact, {keys.FIND_ONE} FROM tree_state WHERE id = 1",
            (leaf_hash, keys.LEAF),
        ).fetchone()
        return self._compact(row), None if row is None else row[2]

    def _compact(self, row: tuple[int, bytes] | None) -> CompactRange:
        if row is None:
            raise corrupt(f"{self.path}: the tree state row is missing")
        size, compact = row[0], row[1]
        if len(compact) != HASH_SIZE * size.bit_count():
            raise corrupt(
                f"{self.path}: the stored compact range does not fit a tree of {size} leaves"
            )
        return CompactRange(
            size, [compact[i : i + HASH_SIZE] for i in range(0, len(compact), HASH_SIZE)]
        )

    def _size(self) -> int:
        row = self._conn.execute("SELECT size FROM tree_state WHERE id = 1").fetchone()
        if row is None:
            raise corrupt(f"{self.path}: the tree state row is missing")
        size: int = row[0]
        return size

    def _node(self, level: int, index: int) -> bytes:
        if level == 0:
            sql = "SELECT leaf_hash FROM entries WHERE idx = ?"
            row = self._conn.execute(sql, (index,)).fetchone()
        else:
            sql = "SELECT hash FROM nodes WHERE level = ? AND idx = ?"
            row = self._conn.execute(sql, (level, index)).fetchone()
        if row is None:
            raise corrupt(f"{self.path}: subtree hash ({level}, {index}) is missing")
        value: bytes = row[0]
        return value

    def _range_hash(self, begin: int, end: int) -> bytes:
        return fold([self._node(level, index) for level, index in subtree_keys(begin, end)])

    def _check_size(self, size: int, name: str = "size") -> int:
        """Check that ``size`` is a tree size the log has reached; return the current size."""
        check_int(size, name)
        current = self._size()
        if size > current:
            raise not_in_log(f"{name} {size} is beyond the end of the log ({current} leaves)")
        return current

    # --- the log ---------------------------------------------------------------------------

    def append(
        self,
        leaves: Sequence[bytes],
        sign_checkpoint: CheckpointSigner | None = None,
        *,
        blobs: Sequence[bytes] = (),
        lookups: AppendLookups | None = None,
    ) -> list[int]:
        """See :meth:`runid.store.LogStore.append`."""
        self._writable("append to the log")
        data = leaf_list(leaves)
        blob_rows = _blob_rows(blobs)
        if not data and lookups is None:
            if blob_rows:
                with self._errors("store blobs"), self._transaction():
                    keys.add_blobs(self._conn, blob_rows)
            return []
        raw_lookups = None if lookups is None else check_lookups(lookups, len(data))
        hashes = [leaf_hash(d) for d in data]
        new_nodes: list[tuple[int, int, bytes]] = []

        def visit(begin: int, end: int, h: bytes) -> None:
            # Level 0 lives in entries.leaf_hash; store only the subtrees above it.
            width = end - begin
            if width > 1:
                level = width.bit_length() - 1
                new_nodes.append((level, begin >> level, h))

        with self._errors("append to the log"):
            self._writing(len(data))
        with self._errors("append to the log"), self._transaction():
            # Sequencing happens here, under the write lock: nothing read below can change
            # until COMMIT.
            if len(hashes) == 1:
                tree, index = self._state_and_index(hashes[0])
                known = {} if index is None else {hashes[0]: index}
            else:
                tree = self._state()
                known = keys.find(self._conn, keys.LEAF, hashes)
            old_size = tree.size
            marks = self._lookup_marks() if raw_lookups is not None else None
            indices: list[int] = []
            rows: list[tuple[int, bytes, bytes]] = []
            for d, h in zip(data, hashes, strict=True):
                index = known.get(h)
                if index is None:
                    index = known[h] = tree.size
                    tree.append(h, visit)
                    rows.append((index, h, d))
                indices.append(index)
            conn = self._conn
            # The run's content, in the commit that acknowledges its record (one fsync).
            wrote_blobs = keys.add_blobs(conn, blob_rows) > 0 if blob_rows else False
            if rows:
                conn.executemany(
                    "INSERT INTO entries (idx, leaf_hash, data) VALUES (?, ?, ?)", rows
                )
                keys.add(conn, [(h, keys.LEAF, index) for index, h, _data in rows])
                if new_nodes:
                    conn.executemany(
                        "INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)", new_nodes
                    )
                conn.execute(
                    "UPDATE tree_state SET size = ?, compact = ? WHERE id = 1",
                    (tree.size, b"".join(tree.hashes)),
                )
            if raw_lookups is not None and marks is not None:
                self._index_appended(
                    raw_lookups, indices, old_size, tree.size, marks, wrote_blobs=wrote_blobs
                )
            if rows:
                keys.settle(conn, tree.size)
            # Sign when the size is new; when every leaf was already in the log, only if that
            # size has no checkpoint yet (an append of blobs alone signs nothing new).
            if (
                sign_checkpoint is not None
                and (data or rows)
                and (rows or self._checkpoint("WHERE size = ?", (tree.size,)) is None)
            ):
                root = tree.root()
                note = check_note(sign_checkpoint(tree.size, root))
                conn.execute(
                    "INSERT INTO checkpoints (size, root, note) VALUES (?, ?, ?)",
                    (tree.size, root, note),
                )
        return indices

    def size(self) -> int:
        """See :meth:`runid.store.LogStore.size`."""
        with self._errors("read the log"):
            return self._size()

    def entry(self, index: int) -> bytes:
        """See :meth:`runid.store.LogStore.entry`."""
        check_int(index, "index")
        with self._errors("read the log"):
            row = self._conn.execute(
                "SELECT leaf_hash, data FROM entries WHERE idx = ?", (index,)
            ).fetchone()
            if row is None:
                size = self._size()
                if index < size:
                    raise corrupt(f"{self.path}: log entry {index} is missing")
                raise not_in_log(f"there is no entry {index}: the log has {size} leaves")
        stored, data = row
        if leaf_hash(data) != stored:
            raise corrupt(f"{self.path}: log entry {index} does not match its leaf hash")
        result: bytes = data
        return result

    def index_of(self, leaf_hash: bytes) -> int | None:
        """See :meth:`runid.store.LogStore.index_of`."""
        check_hash(leaf_hash, "leaf hash")
        with self._errors("read the log"):
            return keys.find_one(self._conn, keys.LEAF, leaf_hash)

    def root(self, size: int | None = None) -> bytes:
        """See :meth:`runid.store.LogStore.root`."""
        with self._errors("read the log"):
            if size is None:
                return self._state().root()
            self._check_size(size)
            return self._range_hash(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """See :meth:`runid.store.LogStore.inclusion_proof`."""
        with self._errors("read the log"):
            self._check_size(size)
            ranges = inclusion_proof_ranges(index, size)
            return [self._range_hash(begin, end) for begin, end in ranges]

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """See :meth:`runid.store.LogStore.consistency_proof`."""
        with self._errors("read the log"):
            self._check_size(size2, "size2")
            ranges = consistency_proof_ranges(size1, size2)
            return [self._range_hash(begin, end) for begin, end in ranges]

    # --- checkpoints -----------------------------------------------------------------------

    def save_checkpoint(self, size: int, note: bytes) -> StoredCheckpoint:
        """See :meth:`runid.store.LogStore.save_checkpoint`."""
        self._writable("save a checkpoint")
        note = check_note(note)
        with self._errors("save a checkpoint"), self._transaction():
            self._check_size(size)
            existing = self._checkpoint("WHERE size = ?", (size,))
            if existing is not None:
                if existing.note == note:
                    return existing
                raise checkpoint_conflict(size)
            checkpoint = StoredCheckpoint(size, self._range_hash(0, size), note)
            self._conn.execute(
                "INSERT INTO checkpoints (size, root, note) VALUES (?, ?, ?)",
                (checkpoint.size, checkpoint.root, checkpoint.note),
            )
        return checkpoint

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """See :meth:`runid.store.LogStore.latest_checkpoint`."""
        with self._errors("read the checkpoints"):
            return self._checkpoint("ORDER BY size DESC LIMIT 1", ())

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        """See :meth:`runid.store.LogStore.checkpoint_at`."""
        check_int(size, "size")
        with self._errors("read the checkpoints"):
            return self._checkpoint("WHERE size = ?", (size,))

    def _checkpoint(self, where: str, args: tuple[int, ...]) -> StoredCheckpoint | None:
        sql = f"SELECT size, root, note FROM checkpoints {where}"
        row = self._conn.execute(sql, args).fetchone()
        return None if row is None else StoredCheckpoint(*row)

    def iter_checkpoints(self) -> Iterator[StoredCheckpoint]:
        """See :meth:`runid.store.LogStore.iter_checkpoints`."""
        sql = f"SELECT size, root, note FROM checkpoints WHERE size > ? ORDER BY size LIMIT {_PAGE}"
        after = -1
        while True:
            with self._errors("read the checkpoints"):
                rows = self._conn.execute(sql, (after,)).fetchall()
            for row in rows:
                yield StoredCheckpoint(*row)
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]

    # --- blobs -----------------------------------------------------------------------------

    def put_blob(self, data: bytes) -> str:
        """See :meth:`runid.store.LogStore.put_blob`."""
        self._writable("store a blob")
        digest = hashlib.sha256(check_blob(data)).digest()
        with self._errors("store a blob"), self._transaction():
            keys.add_blobs(self._conn, [(digest, len(data), data)])
        return "sha256:" + digest.hex()

    def get_blob(self, digest: str) -> bytes | None:
        """See :meth:`runid.store.LogStore.get_blob`."""
        raw = blob_digest_bytes(digest)
        with self._errors("read a blob"):
            row = self._conn.execute(
                f"SELECT data FROM blobs WHERE rowid = {keys.FIND_ONE}", (raw, keys.BLOB)
            ).fetchone()
        if row is None:
            return None
        data: bytes = row[0]
        if hashlib.sha256(data).digest() != raw:
            raise corrupt(f"{self.path}: blob {digest} does not match its digest")
        return data

    # --- iteration and audit ---------------------------------------------------------------

    def iter_entries(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
        """See :meth:`runid.store.LogStore.iter_entries`."""
        sql = "SELECT idx, data FROM entries WHERE"
        return self._pages(sql, (), start, stop)

    def iter_nodes(
        self, level: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, bytes]]:
        """See :meth:`runid.store.LogStore.iter_nodes`."""
        check_int(level, "level")
        if level == 0:
            return self._pages("SELECT idx, leaf_hash FROM entries WHERE", (), start, stop)
        return self._pages("SELECT idx, hash FROM nodes WHERE level = ? AND", (level,), start, stop)

    def _pages(
        self, select: str, args: tuple[int, ...], start: int, stop: int | None
    ) -> Iterator[tuple[int, bytes]]:
        """Rows ``start <= idx < stop`` of ``select`` (which ends in WHERE or AND), in order.

        Arguments are checked now, not at the first ``next()``; the rows are fetched lazily.
        """
        check_int(start, "start")
        if stop is None:
            with self._errors("read the log"):
                stop = self._size()
        check_int(stop, "stop")
        sql = f"{select} idx >= ? AND idx < ? ORDER BY idx LIMIT {_PAGE}"
        return self._paginate(sql, args, start, stop)

    def _paginate(
        self, sql: str, args: tuple[int, ...], start: int, stop: int
    ) -> Iterator[tuple[int, bytes]]:
        # Keyset pagination: each page is one short statement, resumed after the last index.
        while start < stop:
            with self._errors("read the log"):
                rows: list[tuple[int, bytes]] = self._conn.execute(
                    sql, (*args, start, stop)
                ).fetchall()
            yield from rows
            if len(rows) < _PAGE:
                return
            start = rows[-1][0] + 1


def _blob_rows(blobs: Sequence[bytes]) -> list[tuple[bytes, int, bytes]]:
    """``(digest, size, data)`` rows for ``blobs``, checked to be bytes."""
    check_blobs(blobs)
    return [(hashlib.sha256(blob).digest(), len(blob), blob) for blob in blobs]
