"""The lookup indexes of the SQLite log store (derived data; migration ``0002_lookup_indexes``).

:class:`SQLiteLookups` holds the :class:`~runid.store.LogStore` lookup methods of
:class:`~runid.store.sqlite.SQLiteStore`: the high-water marks, the rows a refresh adds, the
lookups, and the rows an audit compares. A store opened read-only (``SQLiteStore.open(...,
readonly=True)``) never writes them: what a refresh adds is kept in memory for the life of the
store (:class:`Overlay`), so lookups still answer on a log the process may not write.

An append given :class:`~runid.store.AppendLookups` writes its rows in its own transaction
(:meth:`SQLiteLookups._index_appended`, ADR 0017), so the indexes stay current as the log
grows and the first lookup after a bulk import has nothing to catch up.
"""

from __future__ import annotations

import bisect
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from . import DECLARATION_BLOB_PREFIX
from . import _sqlite_keys as keys
from ._checks import check_int, corrupt, id_bytes

__all__ = ["PAGE", "Overlay", "SQLiteLookups", "hex_id"]

PAGE: Final = 1000
"""Rows fetched per query when streaming (a generator never holds a statement open)."""


def hex_id(raw: bytes) -> str:
    """``sha256:<hex>`` of a raw 32-byte id or digest as stored."""
    return "sha256:" + bytes(raw).hex()


@dataclass
class Overlay:
    """Lookup rows a read-only store found but may not write: kept in memory."""

    entries: int = 0
    blobs: int = 0
    records: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)
    executions: dict[bytes, int] = field(default_factory=dict)
    by_declaration: dict[bytes, list[int]] = field(default_factory=dict)
    declarations: dict[bytes, bytes] = field(default_factory=dict)

    def add(
        self,
        rows: Sequence[tuple[int, bytes, bytes]],
        decls: Sequence[tuple[bytes, bytes]],
        entries: int,
        blobs: int,
    ) -> None:
        for index, execution, declaration in rows:
            if index in self.records:
                continue
            self.records[index] = (execution, declaration)
            first = self.executions.get(execution)
            if first is None or index < first:
                self.executions[execution] = index
            bisect.insort(self.by_declaration.setdefault(declaration, []), index)
        for declaration, blob in decls:
            self.declarations.setdefault(declaration, blob)
        self.entries = max(self.entries, entries)
        self.blobs = max(self.blobs, blobs)


class SQLiteLookups:
    """The lookup methods of :class:`~runid.store.sqlite.SQLiteStore` (a mixin: it provides
    ``path``, the connection, the error mapping and, read-only, the :class:`Overlay`)."""

    path: Path
    _conn: sqlite3.Connection
    _overlay: Overlay | None

    def _errors(self, doing: str) -> AbstractContextManager[None]:
        raise NotImplementedError  # pragma: no cover - SQLiteStore's

    def _transaction(self, begin: str = "BEGIN IMMEDIATE") -> AbstractContextManager[None]:
        raise NotImplementedError  # pragma: no cover - SQLiteStore's

    def _writing(self, rows: int = 1) -> None:
        raise NotImplementedError  # pragma: no cover - SQLiteStore's

    def _lookup_marks(self) -> tuple[int, int, int]:
        """Inside an append's transaction, before it writes: the two high-water marks and the
        sequence number of the newest blob."""
        row = self._conn.execute(
            "SELECT entries, blobs, (SELECT coalesce(max(rowid), 0) FROM blobs)"
            " FROM lookup_state WHERE id = 1"
        ).fetchone()
        if row is None:
            raise corrupt(f"{self.path}: the lookup state row is missing")
        return int(row[0]), int(row[1]), int(row[2])

    def _index_appended(
        self,
        lookups: tuple[list[tuple[bytes, bytes] | None], list[tuple[bytes, bytes]]],
        indices: Sequence[int],
        old_size: int,
        new_size: int,
        marks: tuple[int, int, int],
        *,
        wrote_blobs: bool,
    ) -> None:
        """Inside an append's transaction, after it wrote: the lookup rows of the new leaves
        (``indices`` are the append's, ``old_size`` the size before it) and of the
        declaration blobs; each mark that was current moves past what the append wrote
        (``wrote_blobs``: whether it stored any blob)."""
        conn = self._conn
        records, declarations = lookups  # raw ids (runid.store._checks.check_lookups)
        rows = [
            (index, *ids)
            for index, ids in zip(indices, records, strict=True)
            if ids is not None and index >= old_size
        ]
        if rows:
            self._index_records(rows)
        if declarations:
            conn.executemany(
                "INSERT OR IGNORE INTO declaration_index (declaration_id, blob_digest)"
                " VALUES (?, ?)",
                declarations,
            )
        entries, blobs, top = marks
        new_entries = new_size if entries == old_size else entries
        new_blobs = blobs
        if blobs == top and wrote_blobs:
            (new_blobs,) = conn.execute("SELECT coalesce(max(rowid), 0) FROM blobs").fetchone()
        if (new_entries, new_blobs) != (entries, blobs):
            conn.execute(
                "UPDATE lookup_state SET entries = ?, blobs = ? WHERE id = 1",
                (new_entries, new_blobs),
            )

    def _index_records(self, rows: Sequence[tuple[int, bytes, bytes]]) -> None:
        """Inside a write transaction: ``(index, execution id, declaration id)`` rows not
        indexed yet, each with its execution id in the key index (exactly once: the audit
        compares the two)."""
        conn = self._conn
        before = conn.total_changes
        conn.executemany(
            "INSERT OR IGNORE INTO record_index (idx, execution_id, declaration_id)"
            " VALUES (?, ?, ?)",
            rows,
        )
        if conn.total_changes - before != len(rows):
            # Some were indexed meanwhile (by another process): key only the others.
            rows = [row for row in rows if not keys.has(conn, row[1], keys.EXECUTION, row[0])]
        keys.add(conn, [(execution, keys.EXECUTION, index) for index, execution, _ in rows])

    def lookup_state(self) -> tuple[int, int]:
        """See :meth:`runid.store.LogStore.lookup_state`."""
        with self._errors("read the lookup indexes"):
            row = self._conn.execute(
                "SELECT entries, blobs FROM lookup_state WHERE id = 1"
            ).fetchone()
        if row is None:
            raise corrupt(f"{self.path}: the lookup state row is missing")
        overlay = self._overlay
        if overlay is not None:
            return max(int(row[0]), overlay.entries), max(int(row[1]), overlay.blobs)
        return int(row[0]), int(row[1])

    def iter_declaration_blobs(self, after: int) -> Iterator[tuple[int, bytes]]:
        """See :meth:`runid.store.LogStore.iter_declaration_blobs`."""
        check_int(after, "after")
        # JCS sorts keys, so a declaration's canonical bytes start with its first component
        # name in code-point order: SQLite filters without handing every output blob over.
        sql = (
            "SELECT rowid, data FROM blobs WHERE rowid > ? AND substr(data, 1, ?) = ?"
            f" ORDER BY rowid LIMIT {PAGE}"
        )
        prefix = DECLARATION_BLOB_PREFIX
        while True:
            with self._errors("read the blobs"):
                rows: list[tuple[int, bytes]] = self._conn.execute(
                    sql, (after, len(prefix), prefix)
                ).fetchall()
            yield from rows
            if len(rows) < PAGE:
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
        rows = [(i, id_bytes(e), id_bytes(d)) for i, e, d in records]
        decls = [(id_bytes(d), id_bytes(b)) for d, b in declarations]
        if self._overlay is not None:
            check_int(entries, "entries")
            check_int(blobs, "blobs")
            self._overlay.add(rows, decls, entries, blobs)
            return
        with self._errors("update the lookup indexes"):
            self._writing(len(records))
        with self._errors("update the lookup indexes"), self._transaction():
            conn = self._conn
            # OR IGNORE: another process may have indexed the same rows meanwhile.
            self._index_records(rows)
            conn.executemany(
                "INSERT OR IGNORE INTO declaration_index (declaration_id, blob_digest)"
                " VALUES (?, ?)",
                decls,
            )
            conn.execute(
                "UPDATE lookup_state SET entries = max(entries, ?), blobs = max(blobs, ?)"
                " WHERE id = 1",
                (check_int(entries, "entries"), check_int(blobs, "blobs")),
            )

    def find_execution(self, execution_id: str) -> int | None:
        """See :meth:`runid.store.LogStore.find_execution`."""
        with self._errors("read the lookup indexes"):
            found = keys.find_one(self._conn, keys.EXECUTION, id_bytes(execution_id))
        if self._overlay is not None:
            more = self._overlay.executions.get(id_bytes(execution_id))
            if more is not None and (found is None or more < found):
                found = more
        return found

    def find_records(self, declaration_id: str) -> list[int]:
        """See :meth:`runid.store.LogStore.find_records`."""
        with self._errors("read the lookup indexes"):
            rows = self._conn.execute(
                "SELECT idx FROM record_index WHERE declaration_id = ? ORDER BY idx",
                (id_bytes(declaration_id),),
            ).fetchall()
        found = [int(row[0]) for row in rows]
        if self._overlay is not None:
            more = self._overlay.by_declaration.get(id_bytes(declaration_id), [])
            found = sorted(set(found).union(more))
        return found

    def find_declaration(self, declaration_id: str) -> str | None:
        """See :meth:`runid.store.LogStore.find_declaration`."""
        with self._errors("read the lookup indexes"):
            row = self._conn.execute(
                "SELECT blob_digest FROM declaration_index WHERE declaration_id = ?",
                (id_bytes(declaration_id),),
            ).fetchone()
        if row is None and self._overlay is not None:
            blob = self._overlay.declarations.get(id_bytes(declaration_id))
            return None if blob is None else hex_id(blob)
        return None if row is None else hex_id(row[0])

    def iter_record_lookups(self) -> Iterator[tuple[int, str, str]]:
        """See :meth:`runid.store.LogStore.iter_record_lookups` (read-only: with the rows
        kept in memory, for indices that have no stored row)."""
        overlay = self._overlay
        if overlay is None or not overlay.records:
            yield from self._stored_record_lookups()
            return
        extra = iter(sorted(overlay.records.items()))
        pending = next(extra, None)
        for row in self._stored_record_lookups():
            while pending is not None and pending[0] <= row[0]:
                if pending[0] < row[0]:
                    yield pending[0], hex_id(pending[1][0]), hex_id(pending[1][1])
                pending = next(extra, None)
            yield row
        while pending is not None:
            yield pending[0], hex_id(pending[1][0]), hex_id(pending[1][1])
            pending = next(extra, None)

    def _stored_record_lookups(self) -> Iterator[tuple[int, str, str]]:
        sql = (
            "SELECT idx, execution_id, declaration_id FROM record_index WHERE idx >= ?"
            f" ORDER BY idx LIMIT {PAGE}"
        )
        start = 0
        while True:
            with self._errors("read the lookup indexes"):
                rows = self._conn.execute(sql, (start,)).fetchall()
            for index, execution, declaration in rows:
                yield int(index), hex_id(execution), hex_id(declaration)
            if len(rows) < PAGE:
                return
            start = rows[-1][0] + 1

    def iter_declaration_lookups(self) -> Iterator[tuple[str, str]]:
        """See :meth:`runid.store.LogStore.iter_declaration_lookups` (read-only: with the
        rows kept in memory, for declarations that have no stored row)."""
        sql = (
            "SELECT declaration_id, blob_digest FROM declaration_index WHERE declaration_id > ?"
            f" ORDER BY declaration_id LIMIT {PAGE}"
        )
        after = b""
        seen: set[bytes] = set()
        while True:
            with self._errors("read the lookup indexes"):
                rows = self._conn.execute(sql, (after,)).fetchall()
            for declaration, blob in rows:
                seen.add(bytes(declaration))
                yield hex_id(declaration), hex_id(blob)
            if len(rows) < PAGE:
                break
            after = rows[-1][0]
        if self._overlay is not None:
            for declaration, blob in sorted(self._overlay.declarations.items()):
                if declaration not in seen:
                    yield hex_id(declaration), hex_id(blob)
