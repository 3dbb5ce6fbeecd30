"""Opening the SQLite log safely: a private file, WAL, ``synchronous=FULL``, migrations.

:func:`connect` creates the home directory (mode 0700) and the database file (mode 0600) when
asked, refuses a home everyone may write to and a log file (or its ``-wal``/``-shm``) that is
a symlink or not a regular file (SQLite would follow a planted link), switches the file to
write-ahead logging with every commit synced, and applies the
:data:`runid.store.migrations.MIGRATIONS` the database lacks, each in its own transaction.
:func:`mapped_errors` and :func:`store_error` turn a SQLite failure into the runid error that
says what went wrong, where, and what to do.
"""

from __future__ import annotations

import math
import os
import sqlite3
import stat
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from .._internal.files import check_private_dir, shown
from ..errors import (
    E_STORE,
    E_STORE_BUSY,
    E_STORE_SCHEMA,
    E_TOO_LARGE,
    FileAccessError,
    LimitExceededError,
    RunidError,
)
from ._checks import corrupt
from .migrations import APPLICATION_ID, Migration

__all__ = [
    "check_log_file",
    "configure",
    "connect",
    "create_private",
    "make_home",
    "mapped_errors",
    "migrate",
    "store_error",
    "text",
]

# Primary result codes (sqlite3.h); Python 3.11 exposes them as exc.sqlite_errorcode.
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 3, 5, 6, 8
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN = 10, 11, 13, 14
_SQLITE_TOOBIG, _SQLITE_CONSTRAINT, _SQLITE_NOTADB = 18, 19, 26


def connect(
    path: Path, *, create: bool, busy_timeout: float, migrations: Sequence[Migration]
) -> sqlite3.Connection:
    """Open the SQLite log ``path`` (with ``create``: create it, and its directory, privately),
    configure the connection and bring its schema up to date with ``migrations``."""
    check_private_dir(path.parent, "the runid home")
    check_log_file(path)
    if create:
        make_home(path.parent)
        create_private(path)
    elif not path.is_file():
        raise FileAccessError(
            f"{path}: no runid log here",
            code=E_STORE,
            hint="check --home or RUNID_HOME; a log is created by the first append",
        )
    try:
        # isolation_level=None: the sqlite3 module must not open transactions on its own;
        # every transaction here is an explicit BEGIN IMMEDIATE / BEGIN with a known scope.
        conn = sqlite3.connect(
            path.absolute().as_uri() + ("?mode=rwc" if create else "?mode=rw"),
            uri=True,
            timeout=busy_timeout,
            isolation_level=None,
        )
    except sqlite3.Error as exc:
        raise store_error(exc, path, "open the log", busy_timeout) from None
    # A TEXT value where runid stores BLOBs (put there by hand) then reads as bytes that fail
    # their hash checks, instead of failing to decode as UTF-8.
    conn.text_factory = bytes
    try:
        with mapped_errors(path, "open the log", busy_timeout):
            configure(conn, path, busy_timeout)
            migrate(conn, path, migrations)
    except BaseException:
        conn.close()
        raise
    return conn


# --- the file and its directory -------------------------------------------------------------------


def make_home(home: Path) -> None:
    """Create the runid home directory ``home`` (mode 0700) unless it exists."""
    try:
        # 0700: the log and blobs may hold private prompts and documents.
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:
        raise FileAccessError(
            f"{home}: exists and is not a directory",
            code=E_STORE,
            hint="point --home or RUNID_HOME at a directory",
        ) from None
    except OSError as exc:
        raise FileAccessError(
            f"{shown(home)}: cannot create the runid home directory ({exc.strerror or exc})",
            code=E_STORE,
            hint="choose a writable directory with --home DIR or RUNID_HOME",
        ) from None


#: The files SQLite keeps next to the database (write-ahead log, shared memory, rollback).
_SIDE_FILES = ("-wal", "-shm", "-journal")

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def check_log_file(path: Path) -> None:
    """Refuse a log file ``path`` (or a file SQLite keeps next to it) that is a symbolic link
    or not a regular file: SQLite follows links, so a planted one would send the log's writes
    elsewhere. Checked with ``lstat`` before SQLite opens anything; a missing file passes."""
    for candidate in (path, *(path.with_name(path.name + side) for side in _SIDE_FILES)):
        try:
            mode = os.lstat(candidate).st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue  # nothing there yet (a home that is a file is refused by make_home)
        except OSError as exc:
            raise FileAccessError(
                f"{shown(candidate)}: cannot inspect the log file ({exc.strerror or exc})",
                code=E_STORE,
                hint="check the runid home directory (--home, RUNID_HOME)",
            ) from None
        if stat.S_ISLNK(mode):
            raise FileAccessError(
                f"{shown(candidate)}: is a symbolic link; runid does not follow a link for its log",
                code=E_STORE,
                hint="replace the link with the file it points to, or point --home at the "
                "directory that holds the log",
            )
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise FileAccessError(
                f"{shown(candidate)}: is {kind}, not a runid log",
                code=E_STORE,
                hint="point --home or RUNID_HOME at a runid home directory",
            )


def create_private(path: Path) -> None:
    """Create the database file ``path`` (mode 0600) unless it exists."""
    # An empty file is a valid empty SQLite database. Creating it here with mode 0600 (SQLite
    # would use 0644) keeps the log private even in a --home that others can read; SQLite gives
    # the -wal and -shm files the mode of the database file.
    try:
        flags = os.O_WRONLY | os.O_CREAT | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC
        os.close(os.open(path, flags, 0o600))
    except IsADirectoryError:
        raise FileAccessError(
            f"{path}: is a directory, not a runid log",
            code=E_STORE,
            hint="point --home or RUNID_HOME at a runid home directory",
        ) from None
    except OSError as exc:
        raise FileAccessError(
            f"{shown(path)}: cannot create the log ({exc.strerror or exc})",
            code=E_STORE,
            hint="check the permissions of the runid home, or choose another --home",
        ) from None


# --- configuration and migrations -----------------------------------------------------------------


def configure(conn: sqlite3.Connection, path: Path, busy_timeout: float) -> None:
    """Switch the database to write-ahead logging, every commit synced (``FULL``)."""
    # WAL is a property of the file, so only the first opener really switches it, but that
    # switch needs an exclusive lock and, unlike BEGIN IMMEDIATE, does not wait for one through
    # the busy handler in every SQLite version: retry until the busy timeout.
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            break
        except sqlite3.OperationalError as exc:
            if primary(exc) not in (_SQLITE_BUSY, _SQLITE_LOCKED) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)
    mode = text(mode)
    if mode.lower() != "wal":
        raise FileAccessError(
            f"{path}: SQLite cannot use write-ahead logging here (journal mode {mode!r})",
            code=E_STORE,
            hint="keep the runid home on a local file system (not a network share); "
            "see --home and RUNID_HOME",
        )
    # FULL: in WAL mode, NORMAL may lose the last commits on power loss; FULL syncs the WAL on
    # every commit, which is what "acknowledged = durable" needs.
    conn.execute("PRAGMA synchronous = FULL")


def _applied(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if exists is None:
        return []
    rows = conn.execute("SELECT number, name FROM schema_migrations ORDER BY number").fetchall()
    return [(int(n), text(name)) for n, name in rows]


def _check_schema(
    path: Path, applied: list[tuple[int, str]], migrations: Sequence[Migration]
) -> None:
    """Refuse a database whose recorded migrations are not a prefix of ``migrations``."""
    for position, (number, name) in enumerate(applied):
        if position >= len(migrations):
            raise FileAccessError(
                f"{path}: the log was written by a newer runid (schema migration {name})",
                code=E_STORE_SCHEMA,
                hint="upgrade runid to open this log",
            )
        known = migrations[position]
        if (number, name) != (known.number, known.name):
            raise FileAccessError(
                f"{path}: unknown schema migration {number} {name!r} "
                f"(this runid expects {known.number} {known.name!r})",
                code=E_STORE_SCHEMA,
                hint="the log comes from another runid version or was changed by hand",
            )


def _statements(sql: str) -> Iterator[str]:
    """Split a script at the ends of complete statements (trigger bodies stay whole)."""
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer
            buffer = ""
    leftover = [
        line for line in buffer.splitlines() if line.strip() and not line.lstrip().startswith("--")
    ]
    if leftover:
        raise ValueError(f"incomplete SQL statement at the end of a migration: {buffer!r:.80}")


def migrate(conn: sqlite3.Connection, path: Path, migrations: Sequence[Migration]) -> None:
    """Apply the migrations the database lacks, each in its own transaction."""
    (app_id,) = conn.execute("PRAGMA application_id").fetchone()
    if app_id not in (0, APPLICATION_ID):
        raise FileAccessError(
            f"{path}: this SQLite database is not a runid log (application_id {app_id:#x})",
            code=E_STORE,
            hint="point --home or RUNID_HOME at a runid home directory",
        )
    applied = _applied(conn)
    _check_schema(path, applied, migrations)
    if len(applied) == len(migrations):
        return  # the common case: no write lock taken at all
    for migration in migrations[len(applied) :]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have migrated meanwhile.
            done = _applied(conn)
            _check_schema(path, done, migrations)
            if len(done) >= migration.number:
                conn.execute("COMMIT")
                continue
            if not done:
                foreign = conn.execute(
                    "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' LIMIT 1"
                ).fetchone()
                if foreign is not None:
                    raise FileAccessError(
                        f"{path}: this SQLite database is not a runid log "
                        f"(it has a table {text(foreign[0])!r})",
                        code=E_STORE,
                        hint="point --home or RUNID_HOME at a runid home directory",
                    )
                conn.execute(
                    "CREATE TABLE schema_migrations ("
                    " number INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
                    " applied_at TEXT NOT NULL)"
                )
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            for statement in _statements(migration.sql):
                conn.execute(statement)
            if migration.empty_sql and conn.execute(
                "SELECT NOT EXISTS (SELECT 1 FROM entries) AND NOT EXISTS (SELECT 1 FROM blobs)"
            ).fetchone() == (1,):
                for statement in _statements(migration.empty_sql):
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (number, name, applied_at) VALUES (?, ?, ?)",
                (
                    migration.number,
                    migration.name,
                    datetime.now(UTC).isoformat(timespec="seconds"),
                ),
            )
            # user_version mirrors the latest migration for people inspecting the file.
            conn.execute(f"PRAGMA user_version = {int(migration.number)}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


# --- errors ---------------------------------------------------------------------------------------


def primary(exc: sqlite3.Error) -> int:
    """The primary SQLite result code of ``exc`` (-1 when it has none)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else -1


@contextmanager
def mapped_errors(path: Path, doing: str, busy_timeout: float) -> Iterator[None]:
    """Raise a SQLite failure inside the block as the runid error :func:`store_error` names."""
    try:
        yield
    except sqlite3.ProgrammingError:
        raise  # misuse of the store object (e.g. after close): a bug, not a storage problem
    except sqlite3.Error as exc:
        raise store_error(exc, path, doing, busy_timeout) from exc


def store_error(exc: sqlite3.Error, path: Path, doing: str, busy_timeout: float) -> RunidError:
    """The runid error for a SQLite failure: what went wrong, where, and what to do."""
    code = primary(exc)
    detail = f"{path}: cannot {doing}: {exc}"
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return FileAccessError(
            f"{path}: cannot {doing}: the log stayed locked by another process for "
            f"{math.ceil(busy_timeout)} s",
            code=E_STORE_BUSY,
            hint="another process holds the log's write lock (a long batch, or a sqlite3 shell "
            "with an open transaction); retry when it is done",
        )
    if code == _SQLITE_CORRUPT:
        return corrupt(f"{detail} (the database file is damaged)")
    if code == _SQLITE_CONSTRAINT:
        # Appends never violate a constraint of a consistent log: the tables disagree.
        return corrupt(f"{detail} (the stored tree and its state disagree)")
    if code == _SQLITE_TOOBIG:
        return LimitExceededError(
            f"{path}: cannot {doing}: the value is larger than SQLite's limit",
            code=E_TOO_LARGE,
            hint="SQLite stores at most 1,000,000,000 bytes in one value",
        )
    if code == _SQLITE_FULL:
        hint = "free space on the disk that holds the runid home, then retry"
    elif code in (_SQLITE_READONLY, _SQLITE_PERM, _SQLITE_CANTOPEN):
        hint = "check the permissions of the runid home and log.sqlite3, or choose another --home"
    elif code == _SQLITE_NOTADB:
        hint = (
            "the file is not a SQLite database: check --home / RUNID_HOME; if it is the runid "
            "log, it is damaged: restore it from a backup"
        )
    elif code == _SQLITE_IOERR:
        hint = "the disk reported an I/O error; check the file system, then retry"
    else:
        hint = "check the runid home directory (--home, RUNID_HOME)"
    return FileAccessError(detail, code=E_STORE, hint=hint)


def text(value: object) -> str:
    """A TEXT value as ``str``: the connection reads TEXT as bytes (see ``text_factory``)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
