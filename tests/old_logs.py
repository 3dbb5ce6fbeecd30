"""Logs as an older runid left them: the schema before a given migration, for upgrade tests.

The log is written by this runid, then taken back with raw SQL to the layout that migration's
predecessors had (the indexes the key index of ``0004_key_index`` replaced, no tables of later
migrations, their rows gone from ``schema_migrations``): what an older runid's file looks like.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

# What each migration added, dropped by going back before it (newest first).
_UNDO: dict[int, str] = {
    4: """
        DROP TABLE key_index_0; DROP TABLE key_index_1; DROP TABLE key_index_2;
        DROP TABLE key_index_state;
        CREATE UNIQUE INDEX entries_leaf_hash ON entries (leaf_hash);
        CREATE UNIQUE INDEX blobs_digest ON blobs (digest);
        CREATE INDEX IF NOT EXISTS record_index_execution ON record_index (execution_id);
    """,
    3: "DROP TABLE erasures;",
    2: "DROP TABLE record_index; DROP TABLE declaration_index; DROP TABLE lookup_state;",
}


def before_migration(path: Path, number: int) -> None:
    """Take the log at ``path`` back to the schema it had before migration ``number``."""
    steps = [step for step in sorted(_UNDO, reverse=True) if step >= number]
    script = "".join(
        _UNDO[step] + f"DELETE FROM schema_migrations WHERE number = {step};" for step in steps
    )
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.executescript(f"BEGIN IMMEDIATE; {script} PRAGMA user_version = {number - 1}; COMMIT;")
    finally:
        conn.close()
