"""The PostgreSQL log's tables, read and written on one connection: the SQL of the store.

:class:`Tables` binds one connection (borrowed from the store's pool for one operation) to the
queries of :class:`~runid.store.postgres.PostgresStore`: the sequenced append, proofs' subtree
hashes fetched in one query, keyset pages, and the audit of one snapshot. Argument checks and
connection handling are the store's; everything here runs inside what the store opened.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any, Final

import psycopg

from ..merkle import HASH_SIZE, CompactRange
from . import (
    AuditReport,
    CheckpointSigner,
    Problems,
    StoredCheckpoint,
    audit_tree,
    fold,
    node_count,
    subtree_keys,
)
from ._checks import check_int, check_note, corrupt, not_in_log

__all__ = ["PAGE", "Conn", "Tables", "columns"]

Conn = psycopg.Connection[tuple[Any, ...]]

PAGE: Final = 1000
"""Rows per page when streaming: each page is one short query, resumed after the last key."""

_LOCK = "SELECT size, compact FROM tree_state WHERE id = 1 FOR UPDATE"
_STATE = "SELECT size, compact FROM tree_state WHERE id = 1"
_KNOWN = "SELECT leaf_hash, idx FROM entries WHERE leaf_hash = ANY(%b)"
_INSERT_ENTRIES = (
    "INSERT INTO entries (idx, leaf_hash, data)"
    " SELECT * FROM unnest(%s::bigint[], %b::bytea[], %b::bytea[])"
)
_INSERT_NODES = (
    "INSERT INTO nodes (level, idx, hash)"
    " SELECT * FROM unnest(%s::smallint[], %s::bigint[], %b::bytea[])"
)
_INSERT_BLOBS = (
    "INSERT INTO blobs (digest, size, data)"
    " SELECT * FROM unnest(%b::bytea[], %s::bigint[], %b::bytea[])"
    " ON CONFLICT (digest) DO NOTHING"
)
_UPDATE_STATE = "UPDATE tree_state SET size = %s, compact = %b WHERE id = 1"
_INSERT_CHECKPOINT = "INSERT INTO checkpoints (size, root, note) VALUES (%s, %b, %b)"


def columns(rows: Sequence[tuple[Any, ...]], width: int) -> tuple[list[Any], ...]:
    """Rows as ``width`` column lists: one array parameter each, for ``unnest``."""
    return tuple([row[i] for row in rows] for i in range(width))


class Tables:
    """The log's tables on connection ``conn``; ``where`` names the log in messages."""

    def __init__(self, conn: Conn, where: str) -> None:
        self.conn = conn
        self.where = where

    # --- the tree state ----------------------------------------------------------------------

    def lock(self) -> CompactRange:
        """Lock the sequencer row until the end of the transaction; the state it holds."""
        return self._compact(self.conn.execute(_LOCK).fetchone())

    def state(self) -> CompactRange:
        """The tree size and compact range as last committed."""
        return self._compact(self.conn.execute(_STATE).fetchone())

    def _compact(self, row: tuple[Any, ...] | None) -> CompactRange:
        if row is None:
            raise corrupt(f"{self.where}: the tree state row is missing")
        size, compact = int(row[0]), bytes(row[1])
        if len(compact) != HASH_SIZE * size.bit_count():
            raise corrupt(
                f"{self.where}: the stored compact range does not fit a tree of {size} leaves"
            )
        return CompactRange(
            size, [compact[i : i + HASH_SIZE] for i in range(0, len(compact), HASH_SIZE)]
        )

    def size(self) -> int:
        row = self.conn.execute("SELECT size FROM tree_state WHERE id = 1").fetchone()
        if row is None:
            raise corrupt(f"{self.where}: the tree state row is missing")
        return int(row[0])

    def check_size(self, size: int, name: str = "size") -> int:
        """Check that ``size`` is a tree size the log has reached; return the current size."""
        check_int(size, name)
        current = self.size()
        if size > current:
            raise not_in_log(f"{name} {size} is beyond the end of the log ({current} leaves)")
        return current

    def range_hashes(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """The root of each leaf range from its stored subtree hashes, all in two queries at
        most (leaf hashes, hashes above them): a proof costs two round trips, not O(log n)."""
        wanted = [subtree_keys(begin, end) for begin, end in ranges]
        keys = {key for subtrees in wanted for key in subtrees}
        found: dict[tuple[int, int], bytes] = {}
        leaves = [index for level, index in keys if level == 0]
        upper = [(level, index) for level, index in keys if level > 0]
        if leaves:
            rows = self.conn.execute(
                "SELECT idx, leaf_hash FROM entries WHERE idx = ANY(%s::bigint[])", (leaves,)
            ).fetchall()
            found.update(((0, int(i)), bytes(h)) for i, h in rows)
        if upper:
            rows = self.conn.execute(
                "SELECT n.level, n.idx, n.hash FROM nodes n"
                " JOIN unnest(%s::smallint[], %s::bigint[]) AS k(level, idx)"
                " ON n.level = k.level AND n.idx = k.idx",
                columns(upper, 2),
            ).fetchall()
            found.update(((int(lv), int(i)), bytes(h)) for lv, i, h in rows)
        missing = keys - found.keys()
        if missing:
            level, index = min(missing)
            raise corrupt(f"{self.where}: subtree hash ({level}, {index}) is missing")
        return [fold([found[key] for key in subtrees]) for subtrees in wanted]

    def checkpoint(self, size: int | None = None) -> StoredCheckpoint | None:
        """The checkpoint of ``size``, or the one with the largest size."""
        if size is None:
            row = self.conn.execute(
                "SELECT size, root, note FROM checkpoints ORDER BY size DESC LIMIT 1"
            ).fetchone()
        else:
            row = self.conn.execute(
                "SELECT size, root, note FROM checkpoints WHERE size = %s", (size,)
            ).fetchone()
        return None if row is None else StoredCheckpoint(int(row[0]), bytes(row[1]), bytes(row[2]))

    def insert_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        self.conn.execute(_INSERT_CHECKPOINT, (checkpoint.size, checkpoint.root, checkpoint.note))

    # --- appending (inside the store's write transaction) ----------------------------------

    def append(
        self,
        data: Sequence[bytes],
        hashes: Sequence[bytes],
        blob_rows: Sequence[tuple[bytes, int, bytes]],
        sign_checkpoint: CheckpointSigner | None,
    ) -> list[int]:
        """Sequence and write ``data`` (leaf hashes ``hashes``), the blobs and a checkpoint.

        The sequencer row is locked first and held until COMMIT; in READ COMMITTED every later
        statement reads a snapshot taken after the lock was granted, so it sees the previous
        writer's commit (its leaves, for the duplicate check, and its state).
        """
        conn = self.conn
        # In pipeline mode (the store's writes run in one) the statements up to the first
        # fetch go to the server together: BEGIN, the lock, the blobs and the look-up of the
        # leaves cost one round trip; the writes below and COMMIT another.
        locked = conn.execute(_LOCK)
        if blob_rows:
            # The run's content, in the commit that acknowledges its record.
            conn.execute(_INSERT_BLOBS, columns(blob_rows, 3))
        found = conn.execute(_KNOWN, (list(hashes),)) if data else None
        tree = self._compact(locked.fetchone())
        if found is None:
            return []
        known: dict[bytes, int] = {bytes(h): int(i) for h, i in found.fetchall()}
        new_nodes: list[tuple[int, int, bytes]] = []

        def visit(begin: int, end: int, h: bytes) -> None:
            width = end - begin  # level 0 lives in entries.leaf_hash
            if width > 1:
                level = width.bit_length() - 1
                new_nodes.append((level, begin >> level, h))

        indices: list[int] = []
        rows: list[tuple[int, bytes, bytes]] = []
        for d, h in zip(data, hashes, strict=True):
            index = known.get(h)
            if index is None:
                index = known[h] = tree.size
                tree.append(h, visit)
                rows.append((index, h, d))
            indices.append(index)
        if rows:
            conn.execute(_INSERT_ENTRIES, columns(rows, 3))
            if new_nodes:
                conn.execute(_INSERT_NODES, columns(new_nodes, 3))
            conn.execute(_UPDATE_STATE, (tree.size, b"".join(tree.hashes)))
        # Sign when the size is new; when every leaf was already in the log, only if that size
        # has no checkpoint yet.
        if sign_checkpoint is not None and (rows or self.checkpoint(tree.size) is None):
            root = tree.root()
            note = check_note(sign_checkpoint(tree.size, root))
            self.insert_checkpoint(StoredCheckpoint(tree.size, root, note))
        return indices

    # --- streaming and audit ---------------------------------------------------------------

    def page(self, select: str, args: tuple[int, ...], begin: int, stop: int) -> list[Any]:
        """One page of ``select`` (ending in WHERE or AND): rows ``begin <= idx < stop``."""
        query = f"{select} idx >= %s AND idx < %s ORDER BY idx LIMIT {PAGE}"
        return self.conn.execute(query, (*args, begin, stop)).fetchall()

    def pages(
        self, select: str, args: tuple[int, ...], begin: int, stop: int
    ) -> Iterator[tuple[int, bytes]]:
        """Every row ``begin <= idx < stop`` of ``select``, a page at a time, on this
        connection."""
        while begin < stop:
            rows = self.page(select, args, begin, stop)
            yield from ((int(i), bytes(v)) for i, v in rows)
            if len(rows) < PAGE:
                return
            begin = int(rows[-1][0]) + 1

    def audit(self) -> AuditReport:
        """Re-hash everything; the caller runs this in a REPEATABLE READ transaction, so every
        count refers to the same tree while appends go on."""
        conn = self.conn
        problems = Problems()
        state = self.state()
        size = state.size
        checkpoints = [
            (int(s), bytes(r))
            for s, r in conn.execute("SELECT size, root FROM checkpoints ORDER BY size")
        ]

        def nodes(level: int, stop: int) -> Iterator[tuple[int, bytes]]:
            if level == 0:
                return self.pages("SELECT idx, leaf_hash FROM entries WHERE", (), 0, stop)
            return self.pages("SELECT idx, hash FROM nodes WHERE level = %s AND", (level,), 0, stop)

        entries_of = self.pages("SELECT idx, data FROM entries WHERE", (), 0, size)
        tree = audit_tree(size, entries_of, nodes, checkpoints, problems)
        if tree is not None and tree.hashes != state.hashes:
            problems.add("the stored sequencing state (compact range) disagrees with the entries")
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM entries), (SELECT count(*) FROM nodes)"
        ).fetchone()
        entries, stored_nodes = (0, 0) if counts is None else (int(counts[0]), int(counts[1]))
        if entries != size:
            problems.add(f"{entries} entries are stored for a tree of {size} leaves")
        if stored_nodes != node_count(size):
            problems.add(
                f"{stored_nodes} subtree hashes are stored for a tree of {size} leaves, "
                f"expected {node_count(size)}"
            )
        blobs = after = 0
        while True:
            rows = conn.execute(
                "SELECT seq, digest, size, data FROM blobs WHERE seq > %s"
                f" ORDER BY seq LIMIT {PAGE}",
                (after,),
            ).fetchall()
            for _seq, digest, length, data in rows:
                if hashlib.sha256(data).digest() != digest or len(data) != length:
                    problems.add(f"blob sha256:{bytes(digest).hex()} does not match its digest")
                blobs += 1
            if len(rows) < PAGE:
                break
            after = int(rows[-1][0])
        return AuditReport(
            size, entries, stored_nodes, len(checkpoints), blobs, problems.as_tuple()
        )
