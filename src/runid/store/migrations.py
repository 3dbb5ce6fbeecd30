"""Schema migrations of the SQLite log store: named, ordered, applied once each.

Each :class:`Migration` has a number (its position: ``0001``, ``0002``, ...) and a name; the runner
in :mod:`runid.store._sqlite_open` applies the ones a database lacks, in order, each inside its own
``BEGIN IMMEDIATE`` transaction together with the row that records it in ``schema_migrations``.
So a migration is applied completely or not at all, even under ``kill -9``, and two processes
opening a new database at once cannot both apply it.

The SQL lives here as Python strings rather than as ``.sql`` package data: there is no packaging
step that can forget to ship it. Append new migrations to :data:`MIGRATIONS`; never edit or
reorder one that has shipped, since databases in the field record them by number and name.

Statements are separated by ``;`` at the end of a line (the runner splits with
:func:`sqlite3.complete_statement`, so a ``;`` inside a trigger body or a string is safe).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["APPLICATION_ID", "MIGRATIONS", "Migration"]

APPLICATION_ID: Final = 0x72756964
"""``PRAGMA application_id`` of a runid log (ASCII ``ruid``): ``file(1)`` and runid can tell a
runid log from any other SQLite database."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema change: ``number`` (1, 2, ...), ``name`` (``0001_initial``) and its SQL.

    ``reader_sql``, for a change that only adds what starts empty or what is derived from the
    log: SQL creating ``TEMP`` stand-ins, so a read-only open of a log that lacks the migration
    (a snapshot written by an older runid, which cannot be migrated where it lies) reads it as
    the migrated log would read. None: such a log is refused read-only.
    """

    number: int
    name: str
    sql: str
    reader_sql: str | None = None
    empty_sql: str | None = None
    """SQL run after ``sql``, in the same transaction, only when the log holds no entry and
    no blob yet (a new log): a rebuild of a table that would take minutes on a long log."""


_INITIAL = """
-- The log's leaves, in log order. ``data`` is the leaf exactly as given (canonical signed-record
-- bytes); ``leaf_hash`` is its RFC 9162 leaf hash SHA-256(0x00 || data), which is also the tree's
-- level-0 node, and is unique: a record is in the log at most once.
CREATE TABLE entries (
    idx       INTEGER PRIMARY KEY CHECK (idx >= 0),
    leaf_hash BLOB    NOT NULL UNIQUE CHECK (length(leaf_hash) = 32),
    data      BLOB    NOT NULL
);

-- The hash of every complete (perfect) subtree above the leaves: the node at ``level`` L >= 1 and
-- position ``idx`` covers leaves [idx * 2^L, (idx + 1) * 2^L). Level 0 is entries.leaf_hash.
-- Any proof or historical root is a fold of O(log n) of these rows.
CREATE TABLE nodes (
    level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 63),
    idx   INTEGER NOT NULL CHECK (idx >= 0),
    hash  BLOB    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;

-- The one row of sequencing state: the tree size and its compact range (the roots of the perfect
-- subtrees of ``size`` leaves, largest first, 32 bytes each, concatenated). Every append reads
-- and rewrites it inside its write transaction, which is what serialises concurrent writers.
CREATE TABLE tree_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    size    INTEGER NOT NULL CHECK (size >= 0),
    compact BLOB    NOT NULL CHECK (length(compact) % 32 = 0)
);
INSERT INTO tree_state (id, size, compact) VALUES (1, 0, x'');

-- Signed checkpoints (C2SP signed notes, opaque here), one per tree size, with the root the
-- store computed for that size when the checkpoint was saved, so an audit can check the tree
-- still has that root without parsing notes.
CREATE TABLE checkpoints (
    size INTEGER PRIMARY KEY CHECK (size >= 0),
    root BLOB    NOT NULL CHECK (length(root) = 32),
    note BLOB    NOT NULL
);

-- Content-addressed blobs: ``digest`` is the plain SHA-256 of ``data`` (raw 32 bytes; the API
-- spells it sha256:<hex>). A rowid table, since blobs can be large.
CREATE TABLE blobs (
    digest BLOB    NOT NULL UNIQUE CHECK (length(digest) = 32),
    size   INTEGER NOT NULL CHECK (size >= 0),
    data   BLOB    NOT NULL
);

-- The log is append-only: refuse edits through SQL as well, so a stray UPDATE or DELETE in a
-- SQLite shell fails loudly instead of silently breaking every proof. (Tamper evidence itself
-- comes from signed checkpoints; these triggers only stop accidents.)
CREATE TRIGGER entries_append_only_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'runid log entries are append-only'); END;
CREATE TRIGGER entries_append_only_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'runid log entries are append-only'); END;
CREATE TRIGGER nodes_append_only_update BEFORE UPDATE ON nodes
BEGIN SELECT RAISE(ABORT, 'runid log nodes are append-only'); END;
CREATE TRIGGER nodes_append_only_delete BEFORE DELETE ON nodes
BEGIN SELECT RAISE(ABORT, 'runid log nodes are append-only'); END;
CREATE TRIGGER checkpoints_append_only_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'runid checkpoints are append-only'); END;
CREATE TRIGGER checkpoints_append_only_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'runid checkpoints are append-only'); END;
"""

_LOOKUPS = """
-- Lookup indexes over the log (derived data: the log itself never reads them). Appends do not
-- write them; runid.log brings them up to date at read time from the high-water marks in
-- lookup_state, so every write path (capture, queued envelopes, a bare store.append) is covered
-- and an append pays nothing. Ids are the raw 32 bytes of their sha256:<hex> form.
--
-- One row per log entry that holds a readable record: its execution id and declaration id. Not
-- UNIQUE on execution_id: the store does not parse leaves, and a record signed twice (two keys)
-- is two leaves with one execution id; lookups take the first.
CREATE TABLE record_index (
    idx            INTEGER PRIMARY KEY CHECK (idx >= 0),
    execution_id   BLOB    NOT NULL CHECK (length(execution_id) = 32),
    declaration_id BLOB    NOT NULL CHECK (length(declaration_id) = 32)
);
CREATE INDEX record_index_execution ON record_index (execution_id);
CREATE INDEX record_index_declaration ON record_index (declaration_id, idx);

-- A declaration id -> the digest of the blob holding the declaration's canonical bytes.
CREATE TABLE declaration_index (
    declaration_id BLOB NOT NULL PRIMARY KEY CHECK (length(declaration_id) = 32),
    blob_digest    BLOB NOT NULL CHECK (length(blob_digest) = 32)
) WITHOUT ROWID;

-- How far the indexes reach: entries [0, entries) and blobs with rowid <= blobs were indexed.
CREATE TABLE lookup_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    entries INTEGER NOT NULL CHECK (entries >= 0),
    blobs   INTEGER NOT NULL CHECK (blobs >= 0)
);
INSERT INTO lookup_state (id, entries, blobs) VALUES (1, 0, 0);
"""

_ERASURES = """
-- Erased blobs (runid.store.erasures): one row per blob an erasure deleted, with when and why,
-- never the content, so a lookup tells "erased" from "never stored". Blobs are the one table
-- rows leave; entries, nodes and checkpoints stay append-only.
CREATE TABLE erasures (
    digest    BLOB NOT NULL PRIMARY KEY CHECK (length(digest) = 32),
    erased_at TEXT NOT NULL,
    reason    TEXT NOT NULL
) WITHOUT ROWID;
"""

_KEY_TABLE = """
CREATE TABLE {name} (
    key   BLOB    NOT NULL CHECK (length(key) = 32),
    kind  INTEGER NOT NULL CHECK (kind BETWEEN 0 AND 2),
    value INTEGER NOT NULL CHECK (value >= 0),
    PRIMARY KEY (key, kind, value)
) WITHOUT ROWID;
"""

_KEY_STATE = """
CREATE TABLE key_index_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    merged0 INTEGER NOT NULL CHECK (merged0 >= 0),
    merged1 INTEGER NOT NULL CHECK (merged1 >= 0)
);
"""

_KEY_INDEX = (
    """
-- The key index (runid.store._sqlite_keys, ADR 0020): leaf hash (kind 0) -> entry index, blob
-- digest (1) -> blob rowid, execution id (2) -> entry index, in three levels merged in key
-- order, so an append dirties a few pages of a small table instead of one page of a big tree
-- per random key. It takes over from the UNIQUE indexes of entries.leaf_hash and blobs.digest
-- (dropped on a new log by the rebuild below; a log that already has entries keeps them,
-- redundant) and from record_index_execution.
"""
    + "".join(_KEY_TABLE.format(name=f"key_index_{level}") for level in range(3))
    + _KEY_STATE
    + """
-- What the log already holds goes to the last level, in key order.
INSERT INTO key_index_2 (key, kind, value)
    SELECT leaf_hash, 0, idx FROM entries
    UNION ALL SELECT digest, 1, rowid FROM blobs
    UNION ALL SELECT execution_id, 2, idx FROM record_index
    ORDER BY 1, 2, 3;
INSERT INTO key_index_state (id, merged0, merged1)
    SELECT 1, size, size FROM tree_state WHERE id = 1;
DROP INDEX record_index_execution;
"""
)

# A new log: entries and blobs again, without the UNIQUE indexes the key index replaces (each
# insert into those wrote a random page). Same columns and checks, same triggers.
_KEY_INDEX_REBUILD = """
DROP TABLE entries;
CREATE TABLE entries (
    idx       INTEGER PRIMARY KEY CHECK (idx >= 0),
    leaf_hash BLOB    NOT NULL CHECK (length(leaf_hash) = 32),
    data      BLOB    NOT NULL
);
CREATE TRIGGER entries_append_only_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'runid log entries are append-only'); END;
CREATE TRIGGER entries_append_only_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'runid log entries are append-only'); END;
DROP TABLE blobs;
CREATE TABLE blobs (
    digest BLOB    NOT NULL CHECK (length(digest) = 32),
    size   INTEGER NOT NULL CHECK (size >= 0),
    data   BLOB    NOT NULL
);
"""

# A read-only open of an older log: levels 0 and 1 empty, level 2 a view of the UNIQUE and
# execution indexes that log still has.
_KEY_INDEX_READER = (
    "".join(
        _KEY_TABLE.format(name=f"key_index_{level}").replace("CREATE TABLE", "CREATE TEMP TABLE")
        for level in range(2)
    )
    + _KEY_STATE.replace("CREATE TABLE", "CREATE TEMP TABLE")
    + """
INSERT INTO temp.key_index_state (id, merged0, merged1)
    SELECT 1, size, size FROM main.tree_state WHERE id = 1;
CREATE TEMP VIEW key_index_2 (key, kind, value) AS
    SELECT leaf_hash, 0, idx FROM main.entries
    UNION ALL SELECT digest, 1, rowid FROM main.blobs
    UNION ALL SELECT execution_id, 2, idx FROM main.record_index;
"""
)

MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(1, "0001_initial", _INITIAL),
    Migration(2, "0002_lookup_indexes", _LOOKUPS),
    Migration(
        3,
        "0003_erasures",
        _ERASURES,
        # A log written before erasure existed has erased nothing.
        reader_sql=_ERASURES.replace("CREATE TABLE erasures", "CREATE TEMP TABLE erasures"),
    ),
    Migration(
        4, "0004_key_index", _KEY_INDEX, reader_sql=_KEY_INDEX_READER, empty_sql=_KEY_INDEX_REBUILD
    ),
)
"""Every migration, in the order they apply; ``MIGRATIONS[i].number == i + 1``."""
