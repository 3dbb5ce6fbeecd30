"""The audit of the SQLite log store: SQLite's own integrity check, the tree, counts and hashes.

:class:`SQLiteAudit` holds :meth:`~runid.store.LogStore.audit` for
:class:`~runid.store.sqlite.SQLiteStore` (a mixin: it provides the connection, the error
mapping, the transaction, the tree state and the iterators).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Final

from ..merkle import CompactRange
from . import AuditReport, Problems, audit_tree, node_count
from . import _sqlite_keys as keys

__all__ = ["SQLiteAudit"]

_INTEGRITY_MESSAGES: Final = 100
"""The most problems ``PRAGMA integrity_check`` is asked for."""


class SQLiteAudit:
    """The audit method of :class:`~runid.store.sqlite.SQLiteStore` (a mixin)."""

    _conn: sqlite3.Connection

    def _errors(self, doing: str) -> AbstractContextManager[None]:
        raise NotImplementedError  # pragma: no cover - SQLiteStore's

    def _transaction(self, begin: str = "BEGIN IMMEDIATE") -> AbstractContextManager[None]:
        raise NotImplementedError  # pragma: no cover - SQLiteStore's

    def _state(self) -> CompactRange:
        raise NotImplementedError  # pragma: no cover - SQLiteStore's

    def iter_entries(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
        raise NotImplementedError  # pragma: no cover - SQLiteStore's

    def iter_nodes(
        self, level: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, bytes]]:
        raise NotImplementedError  # pragma: no cover - SQLiteStore's

    def audit(self, *, check: bool = True) -> AuditReport:
        """See :meth:`runid.store.LogStore.audit`."""
        conn = self._conn
        problems = Problems()
        # One read transaction: a WAL snapshot, so appends running meanwhile are not seen and
        # every count below refers to the same tree.
        with self._errors("audit the log"), self._transaction("BEGIN"):
            # SQLite's own structure first: a damaged index (a blob no lookup finds any more)
            # passes every hash check below, which scan the tables.
            for (message,) in conn.execute(f"PRAGMA integrity_check({_INTEGRITY_MESSAGES})"):
                if bytes(message) != b"ok":
                    problems.add(
                        f"SQLite integrity check: {bytes(message).decode('utf-8', 'replace')}"
                    )
            state = self._state()
            size = state.size
            leaves = keys.Fingerprint()
            passes = [0]

            def stored_nodes(level: int, stop: int) -> Iterator[tuple[int, bytes]]:
                # audit_tree reads level 0 twice (its leaves, then under level 1): one count.
                first = level == 0 and passes[0] == 0
                passes[0] += level == 0
                for index, node in self.iter_nodes(level, 0, stop):
                    if first:
                        leaves.add(node, index)
                    yield index, node

            tree = audit_tree(
                size,
                self.iter_entries(0, size),
                stored_nodes,
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
            stored = keys.Fingerprint()
            for rowid, digest, length, data in conn.execute(
                "SELECT rowid, digest, size, data FROM blobs"
            ):
                if hashlib.sha256(data).digest() != digest or len(data) != length:
                    problems.add(f"blob sha256:{digest.hex()} does not match its digest")
                stored.add(digest, rowid)
            blobs = stored.count
            executions = keys.Fingerprint()
            for index, execution in conn.execute("SELECT idx, execution_id FROM record_index"):
                executions.add(execution, index)
            tables = {keys.LEAF: leaves, keys.BLOB: stored, keys.EXECUTION: executions}
            keys.audit(conn, tables, problems)
        report = AuditReport(size, entries, nodes, checkpoints, blobs, problems.as_tuple())
        if check:
            report.check()
        return report
