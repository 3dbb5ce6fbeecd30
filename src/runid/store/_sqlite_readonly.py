"""Opening the SQLite log read-only: for commands that only read, on a home they may not write.

An auditor handed a snapshot (a read-only mount, a directory without write permission) must be
able to audit, show and prove. :func:`connect_readonly` opens ``log.sqlite3`` with SQLite's
``mode=ro`` and ``PRAGMA query_only``: nothing is created (no home, no database, no migration)
and nothing is written. A WAL database normally needs its ``-shm`` file, which a reader cannot
create in a read-only directory; when the log was closed cleanly (no ``-wal`` file with
content, so the database file holds every commit) it is then opened ``immutable``, which needs
neither. A ``-wal`` with content but no usable ``-shm`` cannot be read safely (it holds commits
the database file does not): refused, with what to do.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from ..errors import E_STORE, E_STORE_SCHEMA, FileAccessError
from ._sqlite_open import check_log_file, mapped_errors, primary, store_error, text
from .migrations import APPLICATION_ID, Migration

__all__ = ["connect_readonly"]

_SQLITE_READONLY, _SQLITE_CANTOPEN = 8, 14


def connect_readonly(
    path: Path, *, busy_timeout: float, migrations: Sequence[Migration]
) -> sqlite3.Connection:
    """A read-only connection to the existing SQLite log ``path`` whose schema is exactly
    ``migrations`` (an older log needs its migrations applied by a writable open first)."""
    check_log_file(path)  # a planted link is not followed for reading either
    if not path.is_file():
        raise FileAccessError(
            f"{path}: no runid log here",
            code=E_STORE,
            hint="check --home or RUNID_HOME; a log is created by the first append",
        )
    uri = path.absolute().as_uri() + "?mode=ro"
    try:
        conn = _open(uri, busy_timeout)
    except sqlite3.Error as exc:
        if primary(exc) not in (_SQLITE_READONLY, _SQLITE_CANTOPEN):
            raise store_error(exc, path, "open the log", busy_timeout) from None
        wal = path.with_name(path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise FileAccessError(
                f"{path}: cannot read the log read-only: its write-ahead log ({wal.name}) holds "
                f"commits, and SQLite cannot open it without a writable {path.name}-shm",
                code=E_STORE,
                hint="copy the whole home (with its -wal and -shm files) to a writable "
                "directory, or open the log once where it is writable so its commits move "
                "into the database file",
            ) from None
        # Closed cleanly: the database file holds every commit, and nothing will change it.
        try:
            conn = _open(uri + "&immutable=1", busy_timeout)
        except sqlite3.Error as again:
            raise store_error(again, path, "open the log", busy_timeout) from None
    try:
        with mapped_errors(path, "open the log", busy_timeout):
            _check_schema(conn, path, migrations)
    except BaseException:
        conn.close()
        raise
    return conn


def _open(uri: str, busy_timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout, isolation_level=None)
    try:
        conn.text_factory = bytes  # as the writable connection reads (see _sqlite_open)
        conn.execute("PRAGMA query_only = 1")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the WAL, if any
    except BaseException:
        conn.close()
        raise
    return conn


def _check_schema(conn: sqlite3.Connection, path: Path, migrations: Sequence[Migration]) -> None:
    """The log's recorded migrations must be exactly ``migrations``: read-only, none can be
    applied, and a newer log is not understood."""
    (app_id,) = conn.execute("PRAGMA application_id").fetchone()
    if app_id != APPLICATION_ID:
        raise FileAccessError(
            f"{path}: this SQLite database is not a runid log (application_id {app_id:#x})",
            code=E_STORE,
            hint="point --home or RUNID_HOME at a runid home directory",
        )
    rows = conn.execute("SELECT number, name FROM schema_migrations ORDER BY number").fetchall()
    applied = [(int(number), text(name)) for number, name in rows]
    known = [(m.number, m.name) for m in migrations]
    if applied == known:
        return
    if applied[: len(known)] == known:
        raise FileAccessError(
            f"{path}: the log was written by a newer runid (schema migration {applied[-1][1]})",
            code=E_STORE_SCHEMA,
            hint="upgrade runid to read this log",
        )
    missing = migrations[len(applied) :]
    if known[: len(applied)] == applied and all(m.reader_sql for m in missing):
        # Additive migrations only: TEMP stand-ins (this connection's own, nothing is written
        # to the log's files) make the old log read as a migrated one with those parts empty.
        conn.execute("PRAGMA query_only = 0")
        try:
            for migration in missing:
                conn.executescript(migration.reader_sql or "")
        finally:
            conn.execute("PRAGMA query_only = 1")
        return
    if known[: len(applied)] == applied:
        raise FileAccessError(
            f"{path}: the log needs schema migration {known[len(applied)][1]}, which a "
            "read-only open cannot apply",
            code=E_STORE_SCHEMA,
            hint="run any runid log command once where the log is writable (it migrates), or "
            "read a writable copy",
        )
    raise FileAccessError(
        f"{path}: unknown schema migrations {applied}",
        code=E_STORE_SCHEMA,
        hint="the log comes from another runid version or was changed by hand",
    )
