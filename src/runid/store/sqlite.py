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
import math
import os
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from ..errors import FileAccessError, InputError, LimitExceededError, RunidError
from ..merkle import (
    HASH_SIZE,
    CompactRange,
    consistency_proof_ranges,
    inclusion_proof_ranges,
    leaf_hash,
)
from . import (
    DECLARATION_BLOB_PREFIX,
    AuditReport,
    Checkpoint,
    CheckpointSigner,
    Problems,
    _corrupt,
    audit_tree,
    fold,
    node_count,
    subtree_keys,
)
from .migrations import APPLICATION_ID, MIGRATIONS, Migration

__all__ = ["LOG_FILE", "SQLiteStore"]

LOG_FILE: Final = "log.sqlite3"
"""The name of the SQLite log inside the runid home directory."""

DEFAULT_BUSY_TIMEOUT: Final = 30.0
"""Seconds a writer waits for another process's write transaction before giving up."""

# Rows fetched per query when streaming: a generator never holds a statement open between
# pages, so an abandoned iterator pins no WAL snapshot.
_PAGE: Final = 1000
# Host parameters per IN (...) list; far below SQLite's limit of 32766.
_IN_CHUNK: Final = 500

# Primary result codes (sqlite3.h); Python 3.11 exposes them as exc.sqlite_errorcode.
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 3, 5, 6, 8
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN = 10, 11, 13, 14
_SQLITE_TOOBIG, _SQLITE_CONSTRAINT, _SQLITE_NOTADB = 18, 19, 26

_BLOB_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")


class SQLiteStore:
    """A :class:`~runid.store.LogStore` in one SQLite file. Create with :meth:`open`."""

    def __init__(self, path: Path, conn: sqlite3.Connection, busy_timeout: float) -> None:
        """Wrap an open, migrated connection; use :meth:`open` instead."""
        self.path = path
        self._conn = conn
        self._busy_timeout = busy_timeout

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        home: Path,
        *,
        create: bool = True,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> SQLiteStore:
        """Open (with ``create``: create) the log ``<home>/log.sqlite3`` and bring its schema up
        to date. ``migrations`` is for tests; see :mod:`runid.store.migrations`."""
        home = Path(home)
        path = home / LOG_FILE
        if create:
            _make_home(home)
            _create_private(path)
        elif not path.is_file():
            raise FileAccessError(
                f"{path}: no runid log here",
                code="E_STORE",
                hint="check --home or RUNID_HOME; a log is created by the first append",
            )
        try:
            # isolation_level=None: the sqlite3 module must not open transactions on its own;
            # every transaction here is an explicit BEGIN IMMEDIATE / BEGIN with a known scope.
            conn = sqlite3.connect(
                path.absolute().as_uri() + ("?mode=rwc" if create else "?mode=rw"),
                uri=True,
                timeout=busy_timeout,
                isolation_level=None,
            )
        except sqlite3.Error as exc:
            raise _store_error(exc, path, "open the log", busy_timeout) from None
        # A TEXT value where runid stores BLOBs (put there by hand) then reads as bytes that fail
        # their hash checks, instead of failing to decode as UTF-8.
        conn.text_factory = bytes
        try:
            with _mapped_errors(path, "open the log", busy_timeout):
                _configure(conn, path, busy_timeout)
                _migrate(conn, path, migrations)
        except BaseException:
            conn.close()
            raise
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
        return f"SQLiteStore({str(self.path)!r})"

    # --- plumbing --------------------------------------------------------------------------

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        with _mapped_errors(self.path, doing, self._busy_timeout):
            yield

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
            "SELECT size, compact, (SELECT idx FROM entries WHERE leaf_hash = ?)"
            " FROM tree_state WHERE id = 1",
            (leaf_hash,),
        ).fetchone()
        return self._compact(row), None if row is None else row[2]

    def _compact(self, row: tuple[int, bytes] | None) -> CompactRange:
        if row is None:
            raise _corrupt(f"{self.path}: the tree state row is missing")
        size, compact = row[0], row[1]
        if len(compact) != HASH_SIZE * size.bit_count():
            raise _corrupt(
                f"{self.path}: the stored compact range does not fit a tree of {size} leaves"
            )
        return CompactRange(
            size, [compact[i : i + HASH_SIZE] for i in range(0, len(compact), HASH_SIZE)]
        )

    def _size(self) -> int:
        row = self._conn.execute("SELECT size FROM tree_state WHERE id = 1").fetchone()
        if row is None:
            raise _corrupt(f"{self.path}: the tree state row is missing")
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
            raise _corrupt(f"{self.path}: subtree hash ({level}, {index}) is missing")
        value: bytes = row[0]
        return value

    def _range_hash(self, begin: int, end: int) -> bytes:
        return fold([self._node(level, index) for level, index in subtree_keys(begin, end)])

    def _check_size(self, size: int, name: str = "size") -> int:
        """Check that ``size`` is a tree size the log has reached; return the current size."""
        _check_int(size, name)
        current = self._size()
        if size > current:
            raise _not_in_log(f"{name} {size} is beyond the end of the log ({current} leaves)")
        return current

    def _known(self, hashes: Sequence[bytes]) -> dict[bytes, int]:
        """The indices of those of ``hashes`` already in the log."""
        known: dict[bytes, int] = {}
        for i in range(0, len(hashes), _IN_CHUNK):
            chunk = hashes[i : i + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT leaf_hash, idx FROM entries WHERE leaf_hash IN ({marks})"
            known.update(self._conn.execute(sql, chunk).fetchall())
        return known

    # --- the log ---------------------------------------------------------------------------

    def append(
        self,
        leaves: Sequence[bytes],
        sign_checkpoint: CheckpointSigner | None = None,
        *,
        blobs: Sequence[bytes] = (),
    ) -> list[int]:
        """See :meth:`runid.store.LogStore.append`."""
        data = _leaf_list(leaves)
        blob_rows = _blob_rows(blobs)
        if not data:
            for blob in blobs:
                self.put_blob(blob)
            return []
        hashes = [leaf_hash(d) for d in data]
        new_nodes: list[tuple[int, int, bytes]] = []

        def visit(begin: int, end: int, h: bytes) -> None:
            # Level 0 lives in entries.leaf_hash; store only the subtrees above it.
            width = end - begin
            if width > 1:
                level = width.bit_length() - 1
                new_nodes.append((level, begin >> level, h))

        with self._errors("append to the log"), self._transaction():
            # Sequencing happens here, under the write lock: nothing read below can change
            # until COMMIT.
            if len(hashes) == 1:
                tree, index = self._state_and_index(hashes[0])
                known = {} if index is None else {hashes[0]: index}
            else:
                tree = self._state()
                known = self._known(hashes)
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
            if blob_rows:
                # The run's content, in the commit that acknowledges its record (one fsync).
                conn.executemany(_INSERT_BLOB, blob_rows)
            if rows:
                conn.executemany(
                    "INSERT INTO entries (idx, leaf_hash, data) VALUES (?, ?, ?)", rows
                )
                conn.executemany("INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)", new_nodes)
                conn.execute(
                    "UPDATE tree_state SET size = ?, compact = ? WHERE id = 1",
                    (tree.size, b"".join(tree.hashes)),
                )
            # Sign when the size is new; when every leaf was already in the log, only if that
            # size has no checkpoint yet.
            if sign_checkpoint is not None and (
                rows or self._checkpoint("WHERE size = ?", (tree.size,)) is None
            ):
                root = tree.root()
                note = _check_note(sign_checkpoint(tree.size, root))
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
        _check_int(index, "index")
        with self._errors("read the log"):
            row = self._conn.execute(
                "SELECT leaf_hash, data FROM entries WHERE idx = ?", (index,)
            ).fetchone()
            if row is None:
                size = self._size()
                if index < size:
                    raise _corrupt(f"{self.path}: log entry {index} is missing")
                raise _not_in_log(f"there is no entry {index}: the log has {size} leaves")
        stored, data = row
        if leaf_hash(data) != stored:
            raise _corrupt(f"{self.path}: log entry {index} does not match its leaf hash")
        result: bytes = data
        return result

    def index_of(self, leaf_hash: bytes) -> int | None:
        """See :meth:`runid.store.LogStore.index_of`."""
        _check_hash(leaf_hash, "leaf hash")
        with self._errors("read the log"):
            row = self._conn.execute(
                "SELECT idx FROM entries WHERE leaf_hash = ?", (leaf_hash,)
            ).fetchone()
        return None if row is None else int(row[0])

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

    def save_checkpoint(self, size: int, note: bytes) -> Checkpoint:
        """See :meth:`runid.store.LogStore.save_checkpoint`."""
        note = _check_note(note)
        with self._errors("save a checkpoint"), self._transaction():
            self._check_size(size)
            existing = self._checkpoint("WHERE size = ?", (size,))
            if existing is not None:
                if existing.note == note:
                    return existing
                raise InputError(
                    f"tree size {size} already has a different checkpoint",
                    code="E_CHECKPOINT_CONFLICT",
                    hint="a saved checkpoint is never replaced; sign a checkpoint for a newer "
                    "size instead",
                )
            checkpoint = Checkpoint(size, self._range_hash(0, size), note)
            self._conn.execute(
                "INSERT INTO checkpoints (size, root, note) VALUES (?, ?, ?)",
                (checkpoint.size, checkpoint.root, checkpoint.note),
            )
        return checkpoint

    def latest_checkpoint(self) -> Checkpoint | None:
        """See :meth:`runid.store.LogStore.latest_checkpoint`."""
        with self._errors("read the checkpoints"):
            return self._checkpoint("ORDER BY size DESC LIMIT 1", ())

    def checkpoint_at(self, size: int) -> Checkpoint | None:
        """See :meth:`runid.store.LogStore.checkpoint_at`."""
        _check_int(size, "size")
        with self._errors("read the checkpoints"):
            return self._checkpoint("WHERE size = ?", (size,))

    def _checkpoint(self, where: str, args: tuple[int, ...]) -> Checkpoint | None:
        sql = f"SELECT size, root, note FROM checkpoints {where}"
        row = self._conn.execute(sql, args).fetchone()
        return None if row is None else Checkpoint(*row)

    # --- blobs -----------------------------------------------------------------------------

    def put_blob(self, data: bytes) -> str:
        """See :meth:`runid.store.LogStore.put_blob`."""
        if not isinstance(data, bytes):
            raise InputError(f"a blob must be bytes, got a {type(data).__name__}")
        digest = hashlib.sha256(data).digest()
        with self._errors("store a blob"), self._transaction():
            self._conn.execute(
                "INSERT INTO blobs (digest, size, data) VALUES (?, ?, ?) "
                "ON CONFLICT (digest) DO NOTHING",
                (digest, len(data), data),
            )
        return "sha256:" + digest.hex()

    def get_blob(self, digest: str) -> bytes | None:
        """See :meth:`runid.store.LogStore.get_blob`."""
        match = _BLOB_DIGEST.fullmatch(digest) if isinstance(digest, str) else None
        if match is None:
            raise InputError(
                f"not a blob digest: {digest!r:.80}", hint="a blob digest is sha256:<64 hex digits>"
            )
        raw = bytes.fromhex(match.group(1))
        with self._errors("read a blob"):
            row = self._conn.execute("SELECT data FROM blobs WHERE digest = ?", (raw,)).fetchone()
        if row is None:
            return None
        data: bytes = row[0]
        if hashlib.sha256(data).digest() != raw:
            raise _corrupt(f"{self.path}: blob {digest} does not match its digest")
        return data

    # --- lookup indexes (derived data; see migration 0002_lookup_indexes) --------------------

    def lookup_state(self) -> tuple[int, int]:
        """See :meth:`runid.store.LogStore.lookup_state`."""
        with self._errors("read the lookup indexes"):
            row = self._conn.execute(
                "SELECT entries, blobs FROM lookup_state WHERE id = 1"
            ).fetchone()
        if row is None:
            raise _corrupt(f"{self.path}: the lookup state row is missing")
        return int(row[0]), int(row[1])

    def iter_declaration_blobs(self, after: int) -> Iterator[tuple[int, bytes]]:
        """See :meth:`runid.store.LogStore.iter_declaration_blobs`."""
        _check_int(after, "after")
        # JCS sorts keys, so a declaration's canonical bytes start with its first component
        # name in code-point order: SQLite filters without handing every output blob over.
        sql = (
            "SELECT rowid, data FROM blobs WHERE rowid > ? AND substr(data, 1, ?) = ?"
            f" ORDER BY rowid LIMIT {_PAGE}"
        )
        prefix = DECLARATION_BLOB_PREFIX
        while True:
            with self._errors("read the blobs"):
                rows: list[tuple[int, bytes]] = self._conn.execute(
                    sql, (after, len(prefix), prefix)
                ).fetchall()
            yield from rows
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]

    def max_blob_rowid(self) -> int:
        """See :meth:`runid.store.LogStore.max_blob_rowid`."""
        with self._errors("read the blobs"):
            (top,) = self._conn.execute("SELECT coalesce(max(rowid), 0) FROM blobs").fetchone()
        return int(top)

    def add_lookups(
        self,
        records: Sequence[tuple[int, str, str]],
        declarations: Sequence[tuple[str, str]],
        *,
        entries: int,
        blobs: int,
    ) -> None:
        """See :meth:`runid.store.LogStore.add_lookups`."""
        rows = [(i, _id_bytes(e), _id_bytes(d)) for i, e, d in records]
        decls = [(_id_bytes(d), _id_bytes(b)) for d, b in declarations]
        with self._errors("update the lookup indexes"), self._transaction():
            conn = self._conn
            # OR IGNORE: another process may have indexed the same rows meanwhile.
            conn.executemany(
                "INSERT OR IGNORE INTO record_index (idx, execution_id, declaration_id)"
                " VALUES (?, ?, ?)",
                rows,
            )
            conn.executemany(
                "INSERT OR IGNORE INTO declaration_index (declaration_id, blob_digest)"
                " VALUES (?, ?)",
                decls,
            )
            conn.execute(
                "UPDATE lookup_state SET entries = max(entries, ?), blobs = max(blobs, ?)"
                " WHERE id = 1",
                (_check_int(entries, "entries"), _check_int(blobs, "blobs")),
            )

    def find_execution(self, execution_id: str) -> int | None:
        """See :meth:`runid.store.LogStore.find_execution`."""
        with self._errors("read the lookup indexes"):
            row = self._conn.execute(
                "SELECT min(idx) FROM record_index WHERE execution_id = ?",
                (_id_bytes(execution_id),),
            ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def find_records(self, declaration_id: str) -> list[int]:
        """See :meth:`runid.store.LogStore.find_records`."""
        with self._errors("read the lookup indexes"):
            rows = self._conn.execute(
                "SELECT idx FROM record_index WHERE declaration_id = ? ORDER BY idx",
                (_id_bytes(declaration_id),),
            ).fetchall()
        return [int(row[0]) for row in rows]

    def find_declaration(self, declaration_id: str) -> str | None:
        """See :meth:`runid.store.LogStore.find_declaration`."""
        with self._errors("read the lookup indexes"):
            row = self._conn.execute(
                "SELECT blob_digest FROM declaration_index WHERE declaration_id = ?",
                (_id_bytes(declaration_id),),
            ).fetchone()
        return None if row is None else "sha256:" + bytes(row[0]).hex()

    # --- iteration and audit ---------------------------------------------------------------

    def iter_entries(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
        """See :meth:`runid.store.LogStore.iter_entries`."""
        sql = "SELECT idx, data FROM entries WHERE"
        return self._pages(sql, (), start, stop)

    def iter_nodes(
        self, level: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, bytes]]:
        """See :meth:`runid.store.LogStore.iter_nodes`."""
        _check_int(level, "level")
        if level == 0:
            return self._pages("SELECT idx, leaf_hash FROM entries WHERE", (), start, stop)
        return self._pages("SELECT idx, hash FROM nodes WHERE level = ? AND", (level,), start, stop)

    def _pages(
        self, select: str, args: tuple[int, ...], start: int, stop: int | None
    ) -> Iterator[tuple[int, bytes]]:
        """Rows ``start <= idx < stop`` of ``select`` (which ends in WHERE or AND), in order.

        Arguments are checked now, not at the first ``next()``; the rows are fetched lazily.
        """
        _check_int(start, "start")
        if stop is None:
            with self._errors("read the log"):
                stop = self._size()
        _check_int(stop, "stop")
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

    def audit(self, *, check: bool = True) -> AuditReport:
        """See :meth:`runid.store.LogStore.audit`."""
        conn = self._conn
        problems = Problems()
        # One read transaction: a WAL snapshot, so appends running meanwhile are not seen and
        # every count below refers to the same tree.
        with self._errors("audit the log"), self._transaction("BEGIN"):
            state = self._state()
            size = state.size
            tree = audit_tree(
                size,
                self.iter_entries(0, size),
                lambda level, stop: self.iter_nodes(level, 0, stop),
                conn.execute("SELECT size, root FROM checkpoints ORDER BY size"),
                problems,
            )
            if tree is not None and tree.hashes != state.hashes:
                problems.add(
                    "the stored sequencing state (compact range) disagrees with the entries"
                )
            (entries,) = conn.execute("SELECT count(*) FROM entries").fetchone()
            if entries != size:
                problems.add(f"{entries} entries are stored for a tree of {size} leaves")
            (nodes,) = conn.execute("SELECT count(*) FROM nodes").fetchone()
            if nodes != node_count(size):
                problems.add(
                    f"{nodes} subtree hashes are stored for a tree of {size} leaves, "
                    f"expected {node_count(size)}"
                )
            (checkpoints,) = conn.execute("SELECT count(*) FROM checkpoints").fetchone()
            blobs = 0
            for digest, length, data in conn.execute("SELECT digest, size, data FROM blobs"):
                if hashlib.sha256(data).digest() != digest or len(data) != length:
                    problems.add(f"blob sha256:{digest.hex()} does not match its digest")
                blobs += 1
        report = AuditReport(size, entries, nodes, checkpoints, blobs, problems.as_tuple())
        if check:
            report.check()
        return report


# --- argument checks -------------------------------------------------------------------------


def _check_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{name} must be a non-negative integer, got {value!r:.40}")
    return value


def _check_hash(value: object, name: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise InputError(f"{name} must be {HASH_SIZE} bytes")
    return value


def _check_note(note: object) -> bytes:
    if not isinstance(note, bytes) or not note:
        raise InputError("a checkpoint note must be non-empty bytes (a signed note)")
    return note


def _leaf_list(leaves: Sequence[bytes]) -> list[bytes]:
    if isinstance(leaves, bytes | bytearray | str):
        raise InputError(
            "append takes a sequence of leaves", hint="wrap a single leaf in a list: [leaf]"
        )
    data = list(leaves)
    for i, d in enumerate(data):
        if not isinstance(d, bytes):
            raise InputError(f"leaf {i} must be bytes, got a {type(d).__name__}")
    return data


def _text(value: object) -> str:
    """A TEXT value as ``str``: the connection reads TEXT as bytes (see ``text_factory``)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _id_bytes(value: object) -> bytes:
    """The raw 32 bytes of a ``sha256:<64 hex>`` id."""
    match = _BLOB_DIGEST.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InputError(
            f"not a digest: {value!r:.80}", hint="ids and digests are sha256:<64 hex digits>"
        )
    return bytes.fromhex(match.group(1))


_INSERT_BLOB = (
    "INSERT INTO blobs (digest, size, data) VALUES (?, ?, ?) ON CONFLICT (digest) DO NOTHING"
)


def _blob_rows(blobs: Sequence[bytes]) -> list[tuple[bytes, int, bytes]]:
    """``(digest, size, data)`` rows for ``blobs``, checked to be bytes."""
    for blob in blobs:
        if not isinstance(blob, bytes):
            raise InputError(f"a blob must be bytes, got a {type(blob).__name__}")
    return [(hashlib.sha256(blob).digest(), len(blob), blob) for blob in blobs]


def _not_in_log(message: str) -> InputError:
    return InputError(message, code="E_NOT_IN_LOG")


# --- opening, configuration and migrations ---------------------------------------------------


def _make_home(home: Path) -> None:
    try:
        # 0700: the log and blobs may hold private prompts and documents.
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:
        raise FileAccessError(
            f"{home}: exists and is not a directory",
            code="E_STORE",
            hint="point --home or RUNID_HOME at a directory",
        ) from None
    except OSError as exc:
        raise FileAccessError(
            f"{home}: cannot create the runid home directory ({exc.strerror or exc})",
            code="E_STORE",
            hint="choose a writable directory with --home DIR or RUNID_HOME",
        ) from None


def _create_private(path: Path) -> None:
    # An empty file is a valid empty SQLite database. Creating it here with mode 0600 (SQLite
    # would use 0644) keeps the log private even in a --home that others can read; SQLite gives
    # the -wal and -shm files the mode of the database file.
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    except IsADirectoryError:
        raise FileAccessError(
            f"{path}: is a directory, not a runid log",
            code="E_STORE",
            hint="point --home or RUNID_HOME at a runid home directory",
        ) from None
    except OSError as exc:
        raise FileAccessError(
            f"{path}: cannot create the log ({exc.strerror or exc})",
            code="E_STORE",
            hint="check the permissions of the runid home, or choose another --home",
        ) from None


def _configure(conn: sqlite3.Connection, path: Path, busy_timeout: float) -> None:
    # WAL is a property of the file, so only the first opener really switches it, but that
    # switch needs an exclusive lock and, unlike BEGIN IMMEDIATE, does not wait for one through
    # the busy handler in every SQLite version: retry until the busy timeout.
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            break
        except sqlite3.OperationalError as exc:
            if _primary(exc) not in (_SQLITE_BUSY, _SQLITE_LOCKED) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)
    mode = _text(mode)
    if mode.lower() != "wal":
        raise FileAccessError(
            f"{path}: SQLite cannot use write-ahead logging here (journal mode {mode!r})",
            code="E_STORE",
            hint="keep the runid home on a local file system (not a network share); "
            "see --home and RUNID_HOME",
        )
    # FULL: in WAL mode, NORMAL may lose the last commits on power loss; FULL syncs the WAL on
    # every commit, which is what "acknowledged = durable" needs.
    conn.execute("PRAGMA synchronous = FULL")


def _applied(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if exists is None:
        return []
    rows = conn.execute("SELECT number, name FROM schema_migrations ORDER BY number").fetchall()
    return [(int(n), _text(name)) for n, name in rows]


def _check_schema(
    path: Path, applied: list[tuple[int, str]], migrations: Sequence[Migration]
) -> None:
    """Refuse a database whose recorded migrations are not a prefix of ``migrations``."""
    for position, (number, name) in enumerate(applied):
        if position >= len(migrations):
            raise FileAccessError(
                f"{path}: the log was written by a newer runid (schema migration {name})",
                code="E_STORE_SCHEMA",
                hint="upgrade runid to open this log",
            )
        known = migrations[position]
        if (number, name) != (known.number, known.name):
            raise FileAccessError(
                f"{path}: unknown schema migration {number} {name!r} "
                f"(this runid expects {known.number} {known.name!r})",
                code="E_STORE_SCHEMA",
                hint="the log comes from another runid version or was changed by hand",
            )


def _statements(sql: str) -> Iterator[str]:
    """Split a script at the ends of complete statements (trigger bodies stay whole)."""
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer
            buffer = ""
    leftover = [
        line for line in buffer.splitlines() if line.strip() and not line.lstrip().startswith("--")
    ]
    if leftover:
        raise ValueError(f"incomplete SQL statement at the end of a migration: {buffer!r:.80}")


def _migrate(conn: sqlite3.Connection, path: Path, migrations: Sequence[Migration]) -> None:
    """Apply the migrations the database lacks, each in its own transaction."""
    (app_id,) = conn.execute("PRAGMA application_id").fetchone()
    if app_id not in (0, APPLICATION_ID):
        raise FileAccessError(
            f"{path}: this SQLite database is not a runid log (application_id {app_id:#x})",
            code="E_STORE",
            hint="point --home or RUNID_HOME at a runid home directory",
        )
    applied = _applied(conn)
    _check_schema(path, applied, migrations)
    if len(applied) == len(migrations):
        return  # the common case: no write lock taken at all
    for migration in migrations[len(applied) :]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have migrated meanwhile.
            done = _applied(conn)
            _check_schema(path, done, migrations)
            if len(done) >= migration.number:
                conn.execute("COMMIT")
                continue
            if not done:
                foreign = conn.execute(
                    "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' LIMIT 1"
                ).fetchone()
                if foreign is not None:
                    raise FileAccessError(
                        f"{path}: this SQLite database is not a runid log "
                        f"(it has a table {_text(foreign[0])!r})",
                        code="E_STORE",
                        hint="point --home or RUNID_HOME at a runid home directory",
                    )
                conn.execute(
                    "CREATE TABLE schema_migrations ("
                    " number INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
                    " applied_at TEXT NOT NULL)"
                )
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            for statement in _statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (number, name, applied_at) VALUES (?, ?, ?)",
                (
                    migration.number,
                    migration.name,
                    datetime.now(UTC).isoformat(timespec="seconds"),
                ),
            )
            # user_version mirrors the latest migration for people inspecting the file.
            conn.execute(f"PRAGMA user_version = {int(migration.number)}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


# --- errors ----------------------------------------------------------------------------------


def _primary(exc: sqlite3.Error) -> int:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else -1


@contextmanager
def _mapped_errors(path: Path, doing: str, busy_timeout: float) -> Iterator[None]:
    try:
        yield
    except sqlite3.ProgrammingError:
        raise  # misuse of the store object (e.g. after close): a bug, not a storage problem
    except sqlite3.Error as exc:
        raise _store_error(exc, path, doing, busy_timeout) from exc


def _store_error(exc: sqlite3.Error, path: Path, doing: str, busy_timeout: float) -> RunidError:
    """The runid error for a SQLite failure: what went wrong, where, and what to do."""
    code = _primary(exc)
    detail = f"{path}: cannot {doing}: {exc}"
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return FileAccessError(
            f"{path}: cannot {doing}: the log stayed locked by another process for "
            f"{math.ceil(busy_timeout)} s",
            code="E_STORE_BUSY",
            hint="another process holds the log's write lock (a long batch, or a sqlite3 shell "
            "with an open transaction); retry when it is done",
        )
    if code == _SQLITE_CORRUPT:
        return _corrupt(f"{detail} (the database file is damaged)")
    if code == _SQLITE_CONSTRAINT:
        # Appends never violate a constraint of a consistent log: the tables disagree.
        return _corrupt(f"{detail} (the stored tree and its state disagree)")
    if code == _SQLITE_TOOBIG:
        return LimitExceededError(
            f"{path}: cannot {doing}: the value is larger than SQLite's limit",
            code="E_TOO_LARGE",
            hint="SQLite stores at most 1,000,000,000 bytes in one value",
        )
    if code == _SQLITE_FULL:
        hint = "free space on the disk that holds the runid home, then retry"
    elif code in (_SQLITE_READONLY, _SQLITE_PERM, _SQLITE_CANTOPEN):
        hint = "check the permissions of the runid home and log.sqlite3, or choose another --home"
    elif code == _SQLITE_NOTADB:
        hint = (
            "the file is not a SQLite database: check --home / RUNID_HOME; if it is the runid "
            "log, it is damaged: restore it from a backup"
        )
    elif code == _SQLITE_IOERR:
        hint = "the disk reported an I/O error; check the file system, then retry"
    else:
        hint = "check the runid home directory (--home, RUNID_HOME)"
    return FileAccessError(detail, code="E_STORE", hint=hint)
