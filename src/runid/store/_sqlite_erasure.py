"""Erasing blobs from the SQLite log store (migration ``0003_erasures``, :mod:`.erasures`).

:class:`SQLiteErasure` holds the erasure methods of :class:`~runid.store.sqlite.SQLiteStore`.
An erasure deletes the blob rows and records each erasure, in one ``BEGIN IMMEDIATE``
transaction, with ``PRAGMA secure_delete`` on: SQLite
overwrites the deleted cells and freed pages with zeros, in the page images it writes. Those go
to the write-ahead log first; a ``wal_checkpoint(TRUNCATE)`` after the commit copies them over
the database file and empties the WAL, whose older frames still held the bytes. When a reader
holds an old snapshot the checkpoint cannot finish; the next one does (the result says so).

The blob high-water mark of the lookup indexes (``lookup_state.blobs``) is lowered to the
newest blob left when the erased blob was the newest: SQLite gives the next blob the rowid after
the largest one left, which must be above the mark for the read-time catch-up to see it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Final

from . import _sqlite_keys as keys
from ._checks import blob_digest_bytes
from ._sqlite_open import text
from .erasures import Erasure, check_reason, erasure_time

__all__ = ["SQLiteErasure"]

_CHUNK: Final = 500
"""Digests per ``IN (...)`` list."""


class SQLiteErasure:
    """The erasure methods of :class:`~runid.store.sqlite.SQLiteStore` (a mixin: it provides
    ``path``, the connection, the error mapping and the transaction)."""

    path: Path
    _conn: sqlite3.Connection

    #: Whether the last erasure's WAL checkpoint completed (``None``: no erasure yet).
    wal_checkpointed: bool | None = None

    def _errors(self, doing: str) -> AbstractContextManager[None]:
        raise NotImplementedError  # pragma: no cover - SQLiteStore's

    def _transaction(self, begin: str = "BEGIN IMMEDIATE") -> AbstractContextManager[None]:
        raise NotImplementedError  # pragma: no cover - SQLiteStore's

    def _writable(self, doing: str) -> None:
        raise NotImplementedError  # pragma: no cover - SQLiteStore's

    def erase_blobs(
        self, digests: Sequence[str], *, reason: str = "", erased_at: datetime | None = None
    ) -> list[str]:
        """See :meth:`runid.store.LogStore.erase_blobs`."""
        self._writable("erase content")
        wanted = list(dict.fromkeys(blob_digest_bytes(d) for d in digests))
        why = check_reason(reason)
        when = erasure_time(erased_at)
        conn = self._conn
        with self._errors("erase content"):
            (previous,) = conn.execute("PRAGMA secure_delete").fetchone()
            conn.execute("PRAGMA secure_delete = ON")
            try:
                with self._transaction():
                    stored = keys.find(conn, keys.BLOB, wanted)
                    rowids = list(stored.values())
                    for i in range(0, len(rowids), _CHUNK):
                        chunk = rowids[i : i + _CHUNK]
                        marks = ",".join("?" * len(chunk))
                        conn.execute(f"DELETE FROM blobs WHERE rowid IN ({marks})", chunk)
                    erased = [d for d in wanted if d in stored]
                    keys.remove(conn, keys.BLOB, erased)
                    conn.executemany(
                        "INSERT INTO erasures (digest, erased_at, reason) VALUES (?, ?, ?)"
                        " ON CONFLICT (digest) DO UPDATE"
                        " SET erased_at = excluded.erased_at, reason = excluded.reason",
                        [(d, when, why) for d in erased],
                    )
                    conn.execute(
                        "UPDATE lookup_state SET blobs ="
                        " min(blobs, (SELECT coalesce(max(rowid), 0) FROM blobs)) WHERE id = 1"
                    )
            finally:
                conn.execute(f"PRAGMA secure_delete = {int(previous)}")
            if erased:
                (busy, _frames, _copied) = conn.execute(
                    "PRAGMA wal_checkpoint(TRUNCATE)"
                ).fetchone()
                self.wal_checkpointed = not busy
        return ["sha256:" + d.hex() for d in erased]

    def erasure(self, digest: str) -> Erasure | None:
        """See :meth:`runid.store.LogStore.erasure`."""
        raw = blob_digest_bytes(digest)
        with self._errors("read the erasures"):
            row = self._conn.execute(
                "SELECT erased_at, reason FROM erasures WHERE digest = ?", (raw,)
            ).fetchone()
        return None if row is None else Erasure(digest, text(row[0]), text(row[1]))

    def iter_erasures(self) -> Iterator[Erasure]:
        """See :meth:`runid.store.LogStore.iter_erasures`."""
        sql = (
            "SELECT digest, erased_at, reason FROM erasures WHERE digest > ?"
            f" ORDER BY digest LIMIT {_CHUNK}"
        )
        after = b""
        while True:
            with self._errors("read the erasures"):
                rows = self._conn.execute(sql, (after,)).fetchall()
            for digest, at, why in rows:
                yield Erasure("sha256:" + bytes(digest).hex(), text(at), text(why))
            if len(rows) < _CHUNK:
                return
            after = rows[-1][0]
