"""The key index of the SQLite log store: leaf hash, blob digest and execution id to row (ADR 0020).

Every append adds three keys that are SHA-256 digests, so random: its leaf hash, its output
blob's digest and its execution id. In one B-tree each, every insert dirtied its own page of a
tree that, at a million runs, has tens of thousands of pages, and the commit wrote each such
page to the WAL: three quarters of a batched append's time at that size. Here the keys live in
three levels, like an LSM tree, each a ``(key, kind, value)`` table in key order:

* ``key_index_0`` takes the keys of the last (at most about) :data:`LEVEL0_ENTRIES` entries: a
  small tree whose few pages every batch dirties anyway;
* at that many entries, level 0 is merged into ``key_index_1`` in key order and emptied (a
  merge writes each page of level 1 once for thousands of keys);
* at :data:`LEVEL1_ENTRIES` entries, level 1 is merged into ``key_index_2`` the same way.

A lookup reads the three levels (a point lookup in each, in pages a writer keeps cached). The
values are entry indices (leaf hashes, execution ids) and blob rowids. A key may have several
values (a record signed by two keys is two entries with one execution id): lookups take the
smallest. Levels are derived data: the audit checks that they hold exactly the pairs the tables
hold (each entry's leaf hash, each blob's digest, each indexed record's execution id).

All functions run inside the caller's transaction and never commit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Final

from . import Problems
from ._checks import corrupt

__all__ = [
    "BLOB",
    "EXECUTION",
    "FIND_ONE",
    "LEAF",
    "LEVEL0_ENTRIES",
    "LEVEL1_ENTRIES",
    "Fingerprint",
    "add",
    "add_blobs",
    "audit",
    "find",
    "find_one",
    "has",
    "remove",
    "settle",
]

LEAF: Final = 0
"""Kind of a leaf hash; its value is the entry's index."""

BLOB: Final = 1
"""Kind of a blob digest; its value is the blob's rowid."""

EXECUTION: Final = 2
"""Kind of an execution id; its value is the index of an entry holding that record."""

LEVEL0_ENTRIES: Final = 10_000
"""Entries appended after which level 0 is merged into level 1."""

LEVEL1_ENTRIES: Final = 100_000
"""Entries appended after which level 1 is merged into level 2."""

_LEVELS: Final = ("key_index_0", "key_index_1", "key_index_2")
_IN_CHUNK: Final = 1000  # keys per lookup statement (SQLite allows 32,766 parameters)

FIND_ONE: Final = (
    "(SELECT min(value) FROM ("
    + " UNION ALL ".join(
        f"SELECT value FROM {table} WHERE key = ?1 AND kind = ?2" for table in _LEVELS
    )
    + "))"
)
"""A subquery, with parameters ``?1`` (key) and ``?2`` (kind), giving the smallest value of
that key or NULL, to embed in a statement that reads more (one round trip)."""


def find_one(conn: sqlite3.Connection, kind: int, key: bytes) -> int | None:
    """The smallest value of ``key`` of ``kind``, or None."""
    row = conn.execute(f"SELECT {FIND_ONE}", (key, kind)).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def has(conn: sqlite3.Connection, key: bytes, kind: int, value: int) -> bool:
    """Whether the index holds exactly ``(key, kind, value)``."""
    sql = " UNION ALL ".join(
        f"SELECT 1 FROM {table} WHERE key = ?1 AND kind = ?2 AND value = ?3" for table in _LEVELS
    )
    return conn.execute(sql, (key, kind, value)).fetchone() is not None


def find(conn: sqlite3.Connection, kind: int, keys: Sequence[bytes]) -> dict[bytes, int]:
    """The smallest value of each of ``keys`` of ``kind`` that is in the index.

    The keys go in once, as a table of values joined with each level: an ``IN (...)`` list
    per level built its own sorted copy of the keys three times, which cost more than the
    lookups when the levels are small (2.1 ms against 0.8 ms for 1,000 keys here). Sorted,
    the lookups walk each level in key order.
    """
    found: dict[bytes, int] = {}
    for i in range(0, len(keys), _IN_CHUNK):
        chunk = sorted(set(keys[i : i + _IN_CHUNK]))
        values = ",".join(f"(?{n})" for n in range(2, len(chunk) + 2))
        sql = f"WITH probe (key) AS (VALUES {values}) " + " UNION ALL ".join(
            f"SELECT probe.key, level.value FROM probe"
            f" JOIN {table} AS level ON level.key = probe.key AND level.kind = ?1"
            for table in _LEVELS
        )
        for raw, value in conn.execute(sql, [kind, *chunk]):
            key = bytes(raw)
            if key not in found or value < found[key]:
                found[key] = int(value)
    return found


def add(conn: sqlite3.Connection, rows: Iterable[tuple[bytes, int, int]]) -> None:
    """Index ``(key, kind, value)`` rows (in level 0; a row already there is kept once)."""
    conn.executemany("INSERT OR IGNORE INTO key_index_0 (key, kind, value) VALUES (?, ?, ?)", rows)


def remove(conn: sqlite3.Connection, kind: int, keys: Sequence[bytes]) -> None:
    """Drop every value of ``keys`` of ``kind`` from every level."""
    for i in range(0, len(keys), _IN_CHUNK):
        chunk = list(keys[i : i + _IN_CHUNK])
        marks = ",".join("?" * len(chunk))
        for table in _LEVELS:
            conn.execute(f"DELETE FROM {table} WHERE kind = ? AND key IN ({marks})", [kind, *chunk])


def settle(conn: sqlite3.Connection, size: int) -> None:
    """After an append that brought the log to ``size`` entries: merge the levels that are due.

    A merge copies a level into the next in key order (so each page of the next level is
    written once for all the keys that land on it) and empties it; SQLite empties a whole table
    without visiting its rows.
    """
    row = conn.execute("SELECT merged0, merged1 FROM key_index_state WHERE id = 1").fetchone()
    if row is None:
        raise corrupt("the key index state row is missing")
    merged0, merged1 = int(row[0]), int(row[1])
    if size - merged0 < LEVEL0_ENTRIES:
        return
    _merge(conn, 0)
    merged0 = size
    if size - merged1 >= LEVEL1_ENTRIES:
        _merge(conn, 1)
        merged1 = size
    conn.execute(
        "UPDATE key_index_state SET merged0 = ?, merged1 = ? WHERE id = 1", (merged0, merged1)
    )


def _merge(conn: sqlite3.Connection, level: int) -> None:
    source, target = _LEVELS[level], _LEVELS[level + 1]
    conn.execute(
        f"INSERT OR IGNORE INTO {target} (key, kind, value)"
        f" SELECT key, kind, value FROM {source} ORDER BY key, kind, value"
    )
    conn.execute(f"DELETE FROM {source}")


def add_blobs(conn: sqlite3.Connection, rows: Sequence[tuple[bytes, int, bytes]]) -> int:
    """Store the ``(digest, size, data)`` rows whose digest is not stored yet, with their keys;
    return how many were new."""
    known = find(conn, BLOB, [digest for digest, _size, _data in rows])
    new: dict[bytes, tuple[int, bytes]] = {}
    for digest, size, data in rows:
        if digest not in known:
            new.setdefault(digest, (size, data))
    if not new:
        return 0
    # Rowids as SQLite would give them (one past the largest), chosen here so the key rows
    # can name them: the write lock is held, nobody else inserts meanwhile.
    (top,) = conn.execute("SELECT coalesce(max(rowid), 0) FROM blobs").fetchone()
    numbered = [(top + 1 + i, digest, *row) for i, (digest, row) in enumerate(new.items())]
    conn.executemany("INSERT INTO blobs (rowid, digest, size, data) VALUES (?, ?, ?, ?)", numbered)
    add(conn, [(digest, BLOB, rowid) for rowid, digest, _size, _data in numbered])
    return len(numbered)


class Fingerprint:
    """The count and an order-independent fingerprint of ``(key, value)`` pairs: equal for
    equal sets, different when a key or value changed (the XOR of each key, with its value in
    the bits above it). It finds damage, not forgery: tampering is what signatures find."""

    __slots__ = ("count", "value")

    def __init__(self) -> None:
        self.count = 0
        self.value = 0

    def add(self, key: bytes, value: int) -> None:
        self.count += 1
        self.value ^= int.from_bytes(key) ^ (value << 256)


def audit(conn: sqlite3.Connection, tables: dict[int, Fingerprint], problems: Problems) -> None:
    """Add to ``problems`` unless the levels hold exactly, for each kind, the pairs the tables
    hold (``tables``: leaf hash and entry index, digest and blob rowid, execution id and entry
    index of ``record_index``): a key lost, changed or left over makes a lookup miss (one that
    finds a wrong row still fails closed: what it finds is checked against its hashes)."""
    if conn.execute("SELECT 1 FROM key_index_state WHERE id = 1").fetchone() is None:
        problems.add("the key index state row is missing: no append can merge the levels")
    found = {kind: Fingerprint() for kind in tables}
    for table in _LEVELS:
        for kind, key, value in conn.execute(f"SELECT kind, key, value FROM {table}"):
            found[kind].add(key, value)
    names = {LEAF: "entries", BLOB: "blobs", EXECUTION: "indexed records"}
    for kind, stored in tables.items():
        if (found[kind].count, found[kind].value) != (stored.count, stored.value):
            problems.add(
                f"the key index does not match the {names[kind]}: {found[kind].count} keys "
                f"for {stored.count} {names[kind]}; restore the log from a backup"
            )
