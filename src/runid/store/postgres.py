"""The PostgreSQL log store: one log shared by any number of processes and hosts.

A :class:`~runid.store.LogStore` on PostgreSQL (``pip install 'runid[postgres]'``: psycopg 3 and
its connection pool), for a log service with several server processes. The tables are the
SQLite store's (:mod:`runid.store.postgres_migrations`), in a schema of their own (``runid``
unless ``?schema=NAME`` in the URL or ``schema=`` says otherwise).

**Sequencing.** Every write transaction starts by locking the one row of ``tree_state`` (``SELECT
... FOR UPDATE``): the sequencer row. Holding it, an append reads the size and compact range,
finds which leaves are already in the log, assigns consecutive indices, writes the leaves, every
completed subtree hash and the new state, signs the checkpoint of the new size and stores it, and
commits. The lock is released only at COMMIT, so writers in every process take turns, each sees
the previous one's commit, and the log has one tree with no gap and no duplicate; a checkpoint
always covers a tree that was committed with it. Blobs are written under the same lock, so their
sequence numbers become visible in order (the lookup indexes' high-water mark relies on it).
Reads take no lock and see committed data only; an audit reads one ``REPEATABLE READ`` snapshot.

**Durability.** A commit returns once PostgreSQL has flushed it (``synchronous_commit`` as the
server sets it; ``on``, the default, means durable). A writer killed mid-append leaves an open
transaction that the server rolls back when the connection drops: nothing of it is visible.

**Connections.** One :class:`PostgresStore` holds a small connection pool and may be used from
any number of threads (each call borrows a connection for its duration); after ``fork()`` the
child must open its own. A call that fails because its connection was lost (a server restart, a
terminated backend) or was chosen as a deadlock victim is done again once on a fresh connection:
every operation is idempotent (a leaf already in the log keeps its index).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ..merkle import consistency_proof_ranges, inclusion_proof_ranges, leaf_hash
from . import AppendLookups, AuditReport, CheckpointSigner, StoredCheckpoint
from ._checks import (
    blob_digest_bytes,
    check_blob,
    check_blobs,
    check_hash,
    check_int,
    check_note,
    checkpoint_conflict,
    corrupt,
    id_bytes,
    leaf_list,
    not_in_log,
)
from ._postgres_open import describe, migrate, parse_url, retryable, session_conninfo, store_error
from ._postgres_tree import PAGE, Conn, Tables, columns
from .erasures import Erasure, check_reason, erasure_time
from .migrations import Migration
from .postgres_migrations import POSTGRES_MIGRATIONS

__all__ = ["DEFAULT_LOCK_TIMEOUT", "PostgresStore"]

T = TypeVar("T")

DEFAULT_LOCK_TIMEOUT: Final = 30.0
"""Seconds a writer waits for the sequencer row before giving up (``E_STORE_BUSY``)."""

_ATTEMPTS: Final = 3
"""Tries of one operation whose connection was lost or which lost a deadlock."""

# The pool reports every failed reconnection as a warning; the store raises a runid error that
# says the same once. Without a handler of the application's, Python would print each one.
for _name in ("psycopg", "psycopg.pool"):
    logging.getLogger(_name).addHandler(logging.NullHandler())


class PostgresStore:
    """A :class:`~runid.store.LogStore` in a PostgreSQL schema. Create with :meth:`open`."""

    def __init__(
        self, pool: ConnectionPool[Conn], where: str, lock_timeout: float, conninfo: str = ""
    ) -> None:
        """Wrap an open pool on a migrated schema; use :meth:`open` instead."""
        self._pool = pool
        self.where = where
        self._lock_timeout = lock_timeout
        self._conninfo = conninfo

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str,
        *,
        schema: str | None = None,
        create: bool = True,
        pool_size: int = 4,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        migrations: Sequence[Migration] = POSTGRES_MIGRATIONS,
    ) -> PostgresStore:
        """Open the log at ``url`` (``postgresql://USER@HOST:PORT/DB[?schema=NAME]``, or any
        libpq connection string) and bring its schema up to date; with ``create`` (the
        default) a missing schema is created. ``pool_size`` is the most connections the store
        holds at once; ``migrations`` is for tests."""
        conninfo, name = parse_url(url, schema)
        where = describe(conninfo, name)
        conninfo = session_conninfo(conninfo, name, lock_timeout)
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                migrate(conn, name, where, migrations, create=create)
        except psycopg.Error as exc:
            raise store_error(exc, where, "open the log", lock_timeout) from None
        pool: ConnectionPool[Conn] = ConnectionPool(
            conninfo,
            kwargs={"autocommit": True},
            min_size=1,
            max_size=max(1, pool_size),
            timeout=max(lock_timeout, 10.0),
            num_workers=1,
            name=f"runid {where}",
            open=True,
        )
        return cls(pool, where, lock_timeout, conninfo)

    # --- context manager -------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection of the pool (idempotent)."""
        self._pool.close()

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
        return f"PostgresStore({self.where!r})"

    # --- plumbing --------------------------------------------------------------------------

    def _run(
        self,
        doing: str,
        work: Callable[[Tables], T],
        *,
        write: bool = False,
        snapshot: bool = False,
    ) -> T:
        """``work`` on a pooled connection, done again on a fresh connection if the first was
        lost; psycopg errors become runid errors. ``write``: in one transaction, in pipeline
        mode (statements are sent together until a result is needed: fewer round trips while
        the sequencer row is locked); ``snapshot``: in one transaction, not pipelined."""
        for attempt in range(_ATTEMPTS):
            try:
                with self._pool.connection() as conn:
                    tables = Tables(conn, self.where)
                    if write:
                        with conn.pipeline(), conn.transaction():
                            return work(tables)
                    if snapshot:
                        with conn.transaction():
                            return work(tables)
                    return work(tables)
            except psycopg.Error as exc:
                if self._pool.closed:
                    raise  # used after close(): a bug, not a storage problem
                if isinstance(exc, PoolTimeout) or retryable(exc):
                    # Is the server there at all? If not, say so now rather than wait for the
                    # pool to give up reconnecting.
                    down = self._probe()
                    if down is not None:
                        raise store_error(down, self.where, doing, self._lock_timeout) from exc
                    if attempt + 1 < _ATTEMPTS and not isinstance(exc, PoolTimeout):
                        self._pool.check()  # drop the other connections that died with it
                        continue
                raise store_error(exc, self.where, doing, self._lock_timeout) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _probe(self) -> psycopg.Error | None:
        """The error of a fresh connection to the server, or ``None`` if one can be made."""
        if not self._conninfo:
            return None
        try:
            psycopg.connect(self._conninfo, connect_timeout=5).close()
        except psycopg.Error as exc:
            return exc
        return None

    def _query(self, doing: str, query: str, args: tuple[Any, ...] = ()) -> list[Any]:
        """The rows of one read-only query."""
        return self._run(doing, lambda t: t.conn.execute(query, args).fetchall())

    # --- the log ---------------------------------------------------------------------------

    def append(
        self,
        leaves: Sequence[bytes],
        sign_checkpoint: CheckpointSigner | None = None,
        *,
        blobs: Sequence[bytes] = (),
        lookups: AppendLookups | None = None,
    ) -> list[int]:
        """See :meth:`runid.store.LogStore.append`. ``lookups`` are not written here yet: the
        lookups catch up at read time, as before ADR 0017."""
        del lookups
        data = leaf_list(leaves)
        check_blobs(blobs)
        unique = {hashlib.sha256(blob).digest(): blob for blob in blobs}
        blob_rows = [(digest, len(blob), blob) for digest, blob in unique.items()]
        if not data and not blob_rows:
            return []
        hashes = [leaf_hash(d) for d in data]
        return self._run(
            "append to the log",
            lambda t: t.append(data, hashes, blob_rows, sign_checkpoint),
            write=True,
        )

    def size(self) -> int:
        """See :meth:`runid.store.LogStore.size`."""
        return self._run("read the log", Tables.size)

    def entry(self, index: int) -> bytes:
        """See :meth:`runid.store.LogStore.entry`."""
        check_int(index, "index")

        def work(t: Tables) -> tuple[Any, ...]:
            row = t.conn.execute(
                "SELECT leaf_hash, data FROM entries WHERE idx = %s", (index,)
            ).fetchone()
            if row is None:
                size = t.size()
                if index < size:
                    raise corrupt(f"{self.where}: log entry {index} is missing")
                raise not_in_log(f"there is no entry {index}: the log has {size} leaves")
            return row

        stored, data = self._run("read the log", work)
        if leaf_hash(data) != stored:
            raise corrupt(f"{self.where}: log entry {index} does not match its leaf hash")
        return bytes(data)

    def index_of(self, leaf_hash: bytes) -> int | None:
        """See :meth:`runid.store.LogStore.index_of`."""
        check_hash(leaf_hash, "leaf hash")
        rows = self._query(
            "read the log", "SELECT idx FROM entries WHERE leaf_hash = %b", (leaf_hash,)
        )
        return int(rows[0][0]) if rows else None

    def root(self, size: int | None = None) -> bytes:
        """See :meth:`runid.store.LogStore.root`."""
        if size is None:
            return self._run("read the log", Tables.state).root()

        def work(t: Tables) -> bytes:
            t.check_size(size)
            return t.range_hashes([(0, size)])[0]

        return self._run("read the log", work)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """See :meth:`runid.store.LogStore.inclusion_proof`."""

        def work(t: Tables) -> list[bytes]:
            t.check_size(size)
            return t.range_hashes(inclusion_proof_ranges(index, size))

        return self._run("read the log", work)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """See :meth:`runid.store.LogStore.consistency_proof`."""

        def work(t: Tables) -> list[bytes]:
            t.check_size(size2, "size2")
            return t.range_hashes(consistency_proof_ranges(size1, size2))

        return self._run("read the log", work)

    # --- checkpoints -----------------------------------------------------------------------

    def save_checkpoint(self, size: int, note: bytes) -> StoredCheckpoint:
        """See :meth:`runid.store.LogStore.save_checkpoint`."""
        note = check_note(note)

        def work(t: Tables) -> StoredCheckpoint:
            t.lock()  # serialised with appends, as SQLite's write lock serialises them
            t.check_size(size)
            existing = t.checkpoint(size)
            if existing is not None:
                if existing.note == note:
                    return existing
                raise checkpoint_conflict(size)
            checkpoint = StoredCheckpoint(size, t.range_hashes([(0, size)])[0], note)
            t.insert_checkpoint(checkpoint)
            return checkpoint

        return self._run("save a checkpoint", work, write=True)

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """See :meth:`runid.store.LogStore.latest_checkpoint`."""
        return self._run("read the checkpoints", lambda t: t.checkpoint())

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        """See :meth:`runid.store.LogStore.checkpoint_at`."""
        check_int(size, "size")
        return self._run("read the checkpoints", lambda t: t.checkpoint(size))

    # --- blobs -----------------------------------------------------------------------------

    def put_blob(self, data: bytes) -> str:
        """See :meth:`runid.store.LogStore.put_blob`."""
        digest = hashlib.sha256(check_blob(data)).digest()
        if not self._query("store a blob", "SELECT 1 FROM blobs WHERE digest = %b", (digest,)):
            # Under the sequencer row, so blob sequence numbers become visible in order.
            self.append([], blobs=[data])
        return "sha256:" + digest.hex()

    def get_blob(self, digest: str) -> bytes | None:
        """See :meth:`runid.store.LogStore.get_blob`."""
        raw = blob_digest_bytes(digest)
        rows = self._query("read a blob", "SELECT data FROM blobs WHERE digest = %b", (raw,))
        if not rows:
            return None
        data = bytes(rows[0][0])
        if hashlib.sha256(data).digest() != raw:
            raise corrupt(f"{self.where}: blob {digest} does not match its digest")
        return data

    def erase_blobs(
        self, digests: Sequence[str], *, reason: str = "", erased_at: datetime | None = None
    ) -> list[str]:
        """See :meth:`runid.store.LogStore.erase_blobs`. The deleted rows stay in the table's
        files as dead tuples until ``VACUUM`` (autovacuum) reuses their space."""
        wanted = list(dict.fromkeys(blob_digest_bytes(d) for d in digests))
        why, when = check_reason(reason), erasure_time(erased_at)

        def work(t: Tables) -> list[bytes]:
            t.lock()  # the sequencer row: blob numbers and the lookup mark change in turn
            rows = t.conn.execute(
                "DELETE FROM blobs WHERE digest = ANY(%b) RETURNING digest", (wanted,)
            ).fetchall()
            gone = [bytes(row[0]) for row in rows]
            if gone:
                t.conn.execute(
                    "INSERT INTO erasures (digest, erased_at, reason)"
                    " SELECT d, %s, %s FROM unnest(%b::bytea[]) AS d ON CONFLICT (digest)"
                    " DO UPDATE SET erased_at = excluded.erased_at, reason = excluded.reason",
                    (when, why, gone),
                )
                t.conn.execute(
                    "UPDATE lookup_state SET blobs ="
                    " least(blobs, (SELECT coalesce(max(seq), 0) FROM blobs)) WHERE id = 1"
                )
            return gone

        gone = set(self._run("erase content", work, write=True)) if wanted else set()
        return ["sha256:" + d.hex() for d in wanted if d in gone]

    def erasure(self, digest: str) -> Erasure | None:
        """See :meth:`runid.store.LogStore.erasure`."""
        rows = self._query(
            "read the erasures",
            "SELECT erased_at, reason FROM erasures WHERE digest = %b",
            (blob_digest_bytes(digest),),
        )
        return Erasure(digest, rows[0][0], rows[0][1]) if rows else None

    def iter_erasures(self) -> Iterator[Erasure]:
        """See :meth:`runid.store.LogStore.iter_erasures`."""
        query = "SELECT digest, erased_at, reason FROM erasures WHERE digest > %s"
        for digest, at, why in self._keyset("read the erasures", query, b""):
            yield Erasure(_hex_id(digest), at, why)

    # --- lookup indexes (derived data; see docs/adr/0004) ----------------------------------

    def lookup_state(self) -> tuple[int, int]:
        """See :meth:`runid.store.LogStore.lookup_state`."""
        rows = self._query(
            "read the lookup indexes", "SELECT entries, blobs FROM lookup_state WHERE id = 1"
        )
        if not rows:
            raise corrupt(f"{self.where}: the lookup state row is missing")
        return int(rows[0][0]), int(rows[0][1])

    def iter_declaration_blobs(self, after: int) -> Iterator[tuple[int, bytes]]:
        """See :meth:`runid.store.LogStore.iter_declaration_blobs`."""
        check_int(after, "after")
        return self._declaration_pages(after)

    def _declaration_pages(self, after: int) -> Iterator[tuple[int, bytes]]:
        # ``declaration`` is computed on insert from the blob's first bytes (the prefix every
        # canonical declaration has), so output blobs are never read here.
        query = (
            f"SELECT seq, data FROM blobs WHERE declaration AND seq > %s ORDER BY seq LIMIT {PAGE}"
        )
        while True:
            rows = self._query("read the blobs", query, (after,))
            yield from ((int(seq), bytes(data)) for seq, data in rows)
            if len(rows) < PAGE:
                return
            after = int(rows[-1][0])

    def max_blob_rowid(self) -> int:
        """See :meth:`runid.store.LogStore.max_blob_rowid`."""
        rows = self._query("read the blobs", "SELECT coalesce(max(seq), 0) FROM blobs")
        return int(rows[0][0])

    def add_lookups(
        self,
        records: Sequence[tuple[int, str, str]],
        declarations: Sequence[tuple[str, str]],
        *,
        entries: int,
        blobs: int,
    ) -> None:
        """See :meth:`runid.store.LogStore.add_lookups`."""
        rows = sorted((check_int(i, "index"), id_bytes(e), id_bytes(d)) for i, e, d in records)
        decls = sorted({id_bytes(d): id_bytes(b) for d, b in declarations}.items())
        marks = (check_int(entries, "entries"), check_int(blobs, "blobs"))

        def work(t: Tables) -> None:
            # ON CONFLICT DO NOTHING: another process may have indexed the same rows meanwhile;
            # rows go in sorted order, so two such transactions cannot deadlock.
            if rows:
                t.conn.execute(
                    "INSERT INTO record_index (idx, execution_id, declaration_id)"
                    " SELECT * FROM unnest(%s::bigint[], %b::bytea[], %b::bytea[])"
                    " ON CONFLICT DO NOTHING",
                    columns(rows, 3),
                )
            if decls:
                t.conn.execute(
                    "INSERT INTO declaration_index (declaration_id, blob_digest)"
                    " SELECT * FROM unnest(%b::bytea[], %b::bytea[]) ON CONFLICT DO NOTHING",
                    columns(decls, 2),
                )
            t.conn.execute(
                "UPDATE lookup_state SET entries = greatest(entries, %s),"
                " blobs = greatest(blobs, %s) WHERE id = 1",
                marks,
            )

        self._run("update the lookup indexes", work, write=True)

    def find_execution(self, execution_id: str) -> int | None:
        """See :meth:`runid.store.LogStore.find_execution`."""
        rows = self._query(
            "read the lookup indexes",
            "SELECT min(idx) FROM record_index WHERE execution_id = %b",
            (id_bytes(execution_id),),
        )
        return None if not rows or rows[0][0] is None else int(rows[0][0])

    def find_records(self, declaration_id: str) -> list[int]:
        """See :meth:`runid.store.LogStore.find_records`."""
        rows = self._query(
            "read the lookup indexes",
            "SELECT idx FROM record_index WHERE declaration_id = %b ORDER BY idx",
            (id_bytes(declaration_id),),
        )
        return [int(row[0]) for row in rows]

    def find_declaration(self, declaration_id: str) -> str | None:
        """See :meth:`runid.store.LogStore.find_declaration`."""
        rows = self._query(
            "read the lookup indexes",
            "SELECT blob_digest FROM declaration_index WHERE declaration_id = %b",
            (id_bytes(declaration_id),),
        )
        return "sha256:" + bytes(rows[0][0]).hex() if rows else None

    def iter_record_lookups(self) -> Iterator[tuple[int, str, str]]:
        """See :meth:`runid.store.LogStore.iter_record_lookups`."""
        query = "SELECT idx, execution_id, declaration_id FROM record_index WHERE idx > %s"
        for index, execution, declaration in self._keyset("read the lookup indexes", query, -1):
            yield int(index), _hex_id(execution), _hex_id(declaration)

    def iter_declaration_lookups(self) -> Iterator[tuple[str, str]]:
        """See :meth:`runid.store.LogStore.iter_declaration_lookups`."""
        query = (
            "SELECT declaration_id, blob_digest FROM declaration_index WHERE declaration_id > %s"
        )
        for declaration, blob in self._keyset("read the lookup indexes", query, b""):
            yield _hex_id(declaration), _hex_id(blob)

    def iter_checkpoints(self) -> Iterator[StoredCheckpoint]:
        """See :meth:`runid.store.LogStore.iter_checkpoints`."""
        query = "SELECT size, root, note FROM checkpoints WHERE size > %s"
        for size, root, note in self._keyset("read the checkpoints", query, -1):
            yield StoredCheckpoint(int(size), bytes(root), bytes(note))

    def _keyset(self, doing: str, query: str, after: object) -> Iterator[tuple[Any, ...]]:
        """The rows of ``query`` (``... WHERE key > %s``) by its first column, a page at a
        time, each page on a pooled connection."""
        paged = f"{query} ORDER BY 1 LIMIT {PAGE}"
        while True:
            rows = self._query(doing, paged, (after,))
            yield from rows
            if len(rows) < PAGE:
                return
            after = rows[-1][0]

    # --- iteration and audit ---------------------------------------------------------------

    def iter_entries(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
        """See :meth:`runid.store.LogStore.iter_entries`."""
        return self._pages("SELECT idx, data FROM entries WHERE", (), start, stop)

    def iter_nodes(
        self, level: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, bytes]]:
        """See :meth:`runid.store.LogStore.iter_nodes`."""
        check_int(level, "level")
        if level == 0:
            return self._pages("SELECT idx, leaf_hash FROM entries WHERE", (), start, stop)
        return self._pages(
            "SELECT idx, hash FROM nodes WHERE level = %s AND", (level,), start, stop
        )

    def _pages(
        self, select: str, args: tuple[int, ...], start: int, stop: int | None
    ) -> Iterator[tuple[int, bytes]]:
        """Rows ``start <= idx < stop`` of ``select``, each page on a pooled connection (a
        generator holds no connection between pages). Arguments are checked now."""
        check_int(start, "start")
        end = self.size() if stop is None else check_int(stop, "stop")

        def pages(begin: int) -> Iterator[tuple[int, bytes]]:
            while begin < end:
                rows = self._page(select, args, begin, end)
                yield from ((int(i), bytes(v)) for i, v in rows)
                if len(rows) < PAGE:
                    return
                begin = int(rows[-1][0]) + 1

        return pages(start)

    def _page(self, select: str, args: tuple[int, ...], begin: int, stop: int) -> list[Any]:
        return self._run("read the log", lambda t: t.page(select, args, begin, stop))

    def audit(self, *, check: bool = True) -> AuditReport:
        """See :meth:`runid.store.LogStore.audit`."""

        def work(t: Tables) -> AuditReport:
            # One snapshot: appends committed meanwhile are not seen.
            t.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return t.audit()

        report = self._run("audit the log", work, snapshot=True)
        if check:
            report.check()
        return report


def _hex_id(raw: bytes) -> str:
    return "sha256:" + bytes(raw).hex()
