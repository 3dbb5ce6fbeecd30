"""Schema migrations of the PostgreSQL log store: named, ordered, applied once each.

The same tables as the SQLite store (:mod:`runid.store.migrations`), in PostgreSQL's types, in a
schema of their own (``runid`` unless the store is opened with another). The runner in
:mod:`runid.store._postgres_open` applies the migrations a schema lacks, in order, each in its
own transaction together with the row that records it in ``schema_migrations``, holding a
transaction-level advisory lock keyed by the schema: PostgreSQL's DDL is transactional, so a
migration is applied completely or not at all, and two processes opening a new log at once
cannot both apply it.

Append new migrations to :data:`POSTGRES_MIGRATIONS`; never edit or reorder one that has shipped.
Each migration's SQL runs as one script (PostgreSQL's simple query protocol), so function
bodies with ``;`` inside need no splitting.
"""

from __future__ import annotations

from typing import Final

from .migrations import Migration

__all__ = ["POSTGRES_MIGRATIONS"]

_INITIAL = """
-- The log's leaves, in log order: ``data`` exactly as given (canonical signed-record bytes),
-- ``leaf_hash`` its RFC 9162 leaf hash SHA-256(0x00 || data), the tree's level-0 node; unique,
-- so a record is in the log at most once.
CREATE TABLE entries (
    idx       bigint PRIMARY KEY CHECK (idx >= 0),
    leaf_hash bytea  NOT NULL UNIQUE CHECK (length(leaf_hash) = 32),
    data      bytea  NOT NULL
);

-- The hash of every complete subtree above the leaves: the node at ``level`` L >= 1 and
-- position ``idx`` covers leaves [idx * 2^L, (idx + 1) * 2^L). Level 0 is entries.leaf_hash.
CREATE TABLE nodes (
    level smallint NOT NULL CHECK (level BETWEEN 1 AND 63),
    idx   bigint   NOT NULL CHECK (idx >= 0),
    hash  bytea    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);

-- The sequencer row: the tree size and its compact range (the roots of the perfect subtrees of
-- ``size`` leaves, largest first, 32 bytes each, concatenated). Every write transaction locks it
-- first (SELECT ... FOR UPDATE) and an append rewrites it: this row lock is what serialises the
-- writers of every process and host, so indices are assigned without gaps or duplicates.
CREATE TABLE tree_state (
    id      smallint PRIMARY KEY CHECK (id = 1),
    size    bigint   NOT NULL CHECK (size >= 0),
    compact bytea    NOT NULL CHECK (length(compact) % 32 = 0)
);
INSERT INTO tree_state (id, size, compact) VALUES (1, 0, '\\x');

-- Signed checkpoints (C2SP signed notes, opaque here), one per tree size, with the root the
-- store computed for that size.
CREATE TABLE checkpoints (
    size bigint PRIMARY KEY CHECK (size >= 0),
    root bytea  NOT NULL CHECK (length(root) = 32),
    note bytea  NOT NULL
);

-- Content-addressed blobs: ``digest`` is the plain SHA-256 of ``data``. ``seq`` plays the part
-- of SQLite's rowid for the lookup indexes' high-water mark: it is drawn while the sequencer row
-- is locked, so blobs become visible in ``seq`` order and a reader that indexed up to some
-- ``seq`` never sees a smaller one appear later. ``declaration`` marks the blobs whose bytes
-- start as every canonical declaration does ('{"constraints":', runid.store's
-- DECLARATION_BLOB_PREFIX), so the lookup scan skips outputs without reading them.
CREATE TABLE blobs (
    seq         bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest      bytea   NOT NULL UNIQUE CHECK (length(digest) = 32),
    size        bigint  NOT NULL CHECK (size >= 0),
    data        bytea   NOT NULL,
    declaration boolean GENERATED ALWAYS AS
        (substring(data FROM 1 FOR 15) = '\\x7b22636f6e73747261696e7473223a'::bytea) STORED
);
CREATE INDEX blobs_declarations ON blobs (seq) WHERE declaration;

-- Append-only: refuse UPDATE, DELETE and TRUNCATE of the tree through SQL, so a stray statement
-- in psql fails loudly instead of silently breaking every proof. (Tamper evidence comes from the
-- signed checkpoints; this only stops accidents.)
CREATE FUNCTION append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'runid % are append-only', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
CREATE TRIGGER nodes_append_only BEFORE UPDATE OR DELETE ON nodes
    FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER nodes_no_truncate BEFORE TRUNCATE ON nodes
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
"""

_LOOKUPS = """
-- Lookup indexes over the log: derived data, filled at read time from two high-water marks
-- (docs/adr/0004). Ids are the raw 32 bytes of their sha256:<hex> form.
CREATE TABLE record_index (
    idx            bigint PRIMARY KEY CHECK (idx >= 0),
    execution_id   bytea  NOT NULL CHECK (length(execution_id) = 32),
    declaration_id bytea  NOT NULL CHECK (length(declaration_id) = 32)
);
CREATE INDEX record_index_execution ON record_index (execution_id, idx);
CREATE INDEX record_index_declaration ON record_index (declaration_id, idx);

CREATE TABLE declaration_index (
    declaration_id bytea PRIMARY KEY CHECK (length(declaration_id) = 32),
    blob_digest    bytea NOT NULL CHECK (length(blob_digest) = 32)
);

-- How far the indexes reach: entries [0, entries) and blobs with seq <= blobs were indexed.
CREATE TABLE lookup_state (
    id      smallint PRIMARY KEY CHECK (id = 1),
    entries bigint   NOT NULL CHECK (entries >= 0),
    blobs   bigint   NOT NULL CHECK (blobs >= 0)
);
INSERT INTO lookup_state (id, entries, blobs) VALUES (1, 0, 0);
"""

_ERASURES = """
-- Erased blobs (runid.store.erasures): one row per blob an erasure deleted, with when and why,
-- never the content. Blobs are the one table rows leave.
CREATE TABLE erasures (
    digest    bytea       PRIMARY KEY CHECK (length(digest) = 32),
    erased_at text        NOT NULL,
    reason    text        NOT NULL
);
"""

_KEY_INDEX = """
-- The SQLite store's 0004 moves its random-key lookups into a key index in levels (ADR 0020),
-- since SQLite writes every page a commit dirtied to its WAL. PostgreSQL keeps its B-tree
-- indexes (its buffers and WAL work otherwise); this step keeps the schema histories in step.
SELECT 1;
"""

POSTGRES_MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(1, "0001_initial", _INITIAL),
    Migration(2, "0002_lookup_indexes", _LOOKUPS),
    Migration(3, "0003_erasures", _ERASURES),
    Migration(4, "0004_key_index", _KEY_INDEX),
)
"""Every migration, in the order they apply; ``POSTGRES_MIGRATIONS[i].number == i + 1``. The
names match the SQLite store's, so both record the same schema history."""
