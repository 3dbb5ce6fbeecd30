"""Opening the PostgreSQL log: the connection string, the schema, migrations, errors.

:func:`parse_url` splits runid's ``schema`` parameter off a ``postgresql://`` URL (libpq does
not know it). :func:`session_conninfo` adds the settings every connection of the store runs
with: its schema first on ``search_path``, a lock timeout for the sequencer row, a limit on
idling inside a transaction. :func:`migrate` applies the
:data:`~runid.store.postgres_migrations.POSTGRES_MIGRATIONS` a schema lacks, each in its own
transaction, while holding an advisory lock. :func:`store_error` turns a psycopg failure into
the runid error that says what went wrong, where (the server and schema, never a password) and
what to do.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import PoolTimeout

from ..errors import (
    E_STORE,
    E_STORE_BUSY,
    E_STORE_SCHEMA,
    E_TOO_LARGE,
    FileAccessError,
    InputError,
    LimitExceededError,
    RunidError,
)
from ._checks import corrupt
from .migrations import APPLICATION_ID, Migration

__all__ = [
    "DEFAULT_SCHEMA",
    "describe",
    "migrate",
    "parse_url",
    "retryable",
    "session_conninfo",
    "store_error",
]

DEFAULT_SCHEMA: Final = "runid"
"""The schema the log's tables live in unless the store is opened with another."""

_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_URL = re.compile(r"postgres(ql)?://", re.I)

# SQLSTATEs after which the same work may simply be done again: the connection was lost or
# terminated (class 08, admin/crash shutdown), or the server undid the transaction to break a
# deadlock or a serialization conflict. Every store operation is idempotent (a leaf already in
# the log keeps its index), so repeating one whose commit was lost is safe.
_RETRY_STATES: Final = frozenset({"57P01", "57P02", "57P03", "40001", "40P01"})


def parse_url(conninfo: str, schema: str | None) -> tuple[str, str]:
    """``(conninfo for libpq, schema)``: a ``schema`` query parameter of a URL is runid's, not
    libpq's; it is taken off the URL (the ``schema`` argument, if given, must agree)."""
    if not isinstance(conninfo, str) or not conninfo.strip():
        raise InputError("a PostgreSQL store needs a connection URL (postgresql://...)")
    from_url = None
    if _URL.match(conninfo):
        parts = urlsplit(conninfo)
        query = parse_qsl(parts.query, keep_blank_values=True)
        kept = [(k, v) for k, v in query if k != "schema"]
        names = [v for k, v in query if k == "schema"]
        if names:
            from_url = names[-1]
            conninfo = urlunsplit(parts._replace(query=urlencode(kept)))
    if schema is not None and from_url is not None and schema != from_url:
        raise InputError(f"two schemas given: {schema!r} and the URL's {from_url!r}")
    name = schema if schema is not None else from_url if from_url is not None else DEFAULT_SCHEMA
    if not _SCHEMA.fullmatch(name):
        raise InputError(
            f"not a usable schema name: {name!r:.80}",
            hint="a schema name is lowercase letters, digits and _ (at most 63), not starting "
            "with a digit",
        )
    try:
        conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        raise InputError(
            f"not a PostgreSQL connection string: {_redact(str(exc))}",
            hint="e.g. postgresql://USER@HOST:PORT/DATABASE",
        ) from None
    return conninfo, name


def session_conninfo(conninfo: str, schema: str, lock_timeout: float) -> str:
    """``conninfo`` with the settings every connection of the store needs, as server options
    sent at connection start (no extra round trip): the schema first on the search path, how
    long a writer waits for the sequencer row, how long a transaction may sit idle (so a frozen
    writer cannot hold the log's lock for ever), and a name in ``pg_stat_activity``."""
    params = conninfo_to_dict(conninfo)
    ms = max(1, math.ceil(lock_timeout * 1000))
    ours = (
        f"-c search_path={schema} -c lock_timeout={ms} "
        f"-c idle_in_transaction_session_timeout={max(ms * 2, 60_000)}"
    )
    options = f"{params['options']} {ours}" if params.get("options") else ours
    extra: dict[str, str | int] = {"options": options}
    if "application_name" not in params:
        extra["application_name"] = "runid"
    if "connect_timeout" not in params:
        extra["connect_timeout"] = 10
    return make_conninfo(conninfo, **extra)


def describe(conninfo: str, schema: str) -> str:
    """Where the log is, for messages: ``postgresql://user@host:port/db (schema s)``, no
    password, no other parameters."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return f"PostgreSQL (schema {schema})"
    user = f"{params['user']}@" if params.get("user") else ""
    host = str(params.get("host") or "localhost")
    port = f":{params['port']}" if params.get("port") else ""
    db = params.get("dbname") or ""
    return f"postgresql://{user}{host}{port}/{db} (schema {schema})"


def _redact(text: str) -> str:
    return re.sub(r"(password\s*=\s*|://[^:/@]*:)[^@\s]*", r"\1***", text)


# --- migrations -----------------------------------------------------------------------------


def _applied(conn: psycopg.Connection[tuple[object, ...]], schema: str) -> list[tuple[int, str]]:
    table = f"{schema}.schema_migrations"
    (exists,) = _one(conn, "SELECT to_regclass(%s) IS NOT NULL", (table,))
    if not exists:
        return []
    query = sql.SQL("SELECT number, name FROM {}.schema_migrations ORDER BY number").format(
        sql.Identifier(schema)
    )
    return [(int(str(n)), str(name)) for n, name in conn.execute(query).fetchall()]


def _one(
    conn: psycopg.Connection[tuple[object, ...]], query: str, args: tuple[object, ...]
) -> tuple[object, ...]:
    row = conn.execute(query, args).fetchone()
    if row is None:
        raise corrupt(f"no result from {query!r}")
    return row


def _check_schema(
    where: str, applied: list[tuple[int, str]], migrations: Sequence[Migration]
) -> None:
    """Refuse a schema whose recorded migrations are not a prefix of ``migrations``."""
    for position, (number, name) in enumerate(applied):
        if position >= len(migrations):
            raise FileAccessError(
                f"{where}: the log was written by a newer runid (schema migration {name})",
                code=E_STORE_SCHEMA,
                hint="upgrade runid to open this log",
            )
        known = migrations[position]
        if (number, name) != (known.number, known.name):
            raise FileAccessError(
                f"{where}: unknown schema migration {number} {name!r} "
                f"(this runid expects {known.number} {known.name!r})",
                code=E_STORE_SCHEMA,
                hint="the log comes from another runid version or was changed by hand",
            )


def migrate(
    conn: psycopg.Connection[tuple[object, ...]],
    schema: str,
    where: str,
    migrations: Sequence[Migration],
    *,
    create: bool,
) -> None:
    """Apply the migrations ``schema`` lacks, each in its own transaction; with ``create``
    false, refuse a schema that holds no runid log. ``conn`` is in autocommit mode."""
    applied = _applied(conn, schema)
    _check_schema(where, applied, migrations)
    if len(applied) == len(migrations):
        return  # the common case: no lock taken at all
    if not applied and not create:
        raise FileAccessError(
            f"{where}: no runid log here",
            code=E_STORE,
            hint="check the URL and its schema; a log is created by the first writer",
        )
    # One migrator per schema at a time, in any process: a session-level advisory lock, taken
    # outside any transaction, so each migration's transaction starts after it is granted and
    # sees the catalog as the previous migrator left it (a transaction that waited for a lock
    # inside itself could still resolve names from caches of before the wait).
    key = (APPLICATION_ID, schema)
    conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", key)
    try:
        for migration in migrations[len(applied) :]:
            with conn.transaction():
                _apply(conn, schema, where, migration, migrations)
    finally:
        if not conn.broken:
            conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", key)


def _apply(
    conn: psycopg.Connection[tuple[object, ...]],
    schema: str,
    where: str,
    migration: Migration,
    migrations: Sequence[Migration],
) -> None:
    """Apply ``migration`` inside the caller's transaction, unless another process has."""
    ident = sql.Identifier(schema)
    done = _applied(conn, schema)  # re-read under the lock: another may have migrated
    _check_schema(where, done, migrations)
    if len(done) >= migration.number:
        return
    if not done:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
        foreign = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') LIMIT 1",
            (schema,),
        ).fetchone()
        if foreign is not None:
            raise FileAccessError(
                f"{where}: this schema is not a runid log (it has a table {str(foreign[0])!r})",
                code=E_STORE,
                hint="give the log a schema of its own (?schema=NAME in the URL)",
            )
        conn.execute(
            sql.SQL(
                "CREATE TABLE {}.schema_migrations ("
                " number integer PRIMARY KEY, name text NOT NULL UNIQUE,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(ident)
        )
        conn.execute(sql.SQL("COMMENT ON SCHEMA {} IS 'runid transparency log'").format(ident))
    conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(ident))
    # One script, simple query protocol: function bodies keep their semicolons.
    conn.execute(migration.sql.encode(), prepare=False)
    conn.execute(
        sql.SQL("INSERT INTO {}.schema_migrations (number, name) VALUES (%s, %s)").format(ident),
        (migration.number, migration.name),
    )


# --- errors -----------------------------------------------------------------------------------


def retryable(exc: psycopg.Error) -> bool:
    """Whether the work that raised ``exc`` may be done again on another connection."""
    if isinstance(exc, PoolTimeout | errors.LockNotAvailable):
        return False
    if exc.sqlstate in _RETRY_STATES or (exc.sqlstate or "").startswith("08"):
        return True
    # A connection that broke under us: libpq reports it without a SQLSTATE.
    return isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None


def store_error(exc: psycopg.Error, where: str, doing: str, lock_timeout: float) -> RunidError:
    """The runid error for a psycopg failure: what went wrong, where, and what to do."""
    message = _redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    detail = f"{where}: cannot {doing}: {message}"
    state = exc.sqlstate or ""
    if isinstance(exc, PoolTimeout):
        return FileAccessError(
            f"{where}: cannot {doing}: no database connection within the pool's timeout",
            code=E_STORE_BUSY,
            hint="the server is unreachable, or every pooled connection stayed busy; check the "
            "server, or open the store with a larger pool",
        )
    if isinstance(exc, errors.LockNotAvailable | errors.QueryCanceled):
        return FileAccessError(
            f"{where}: cannot {doing}: the log stayed locked by another writer for "
            f"{math.ceil(lock_timeout)} s",
            code=E_STORE_BUSY,
            hint="another session holds the log's sequencer row (a long batch, or a psql "
            "session with an open transaction); retry when it is done",
        )
    if isinstance(exc, errors.ProgramLimitExceeded) or state == "54000":
        return LimitExceededError(
            f"{where}: cannot {doing}: the value is larger than PostgreSQL's limit",
            code=E_TOO_LARGE,
            hint="PostgreSQL stores at most 1 GB in one value",
        )
    if isinstance(exc, errors.RestrictViolation):
        return FileAccessError(detail, code=E_STORE, hint="the log is append-only")
    if isinstance(exc, psycopg.IntegrityError):
        # Appends never violate a constraint of a consistent log: the tables disagree.
        return corrupt(f"{detail} (the stored tree and its state disagree)")
    if isinstance(exc, errors.DataCorrupted | errors.IndexCorrupted):
        return corrupt(f"{detail} (the database is damaged)")
    if isinstance(exc, errors.UndefinedTable | errors.UndefinedColumn):
        return corrupt(f"{detail} (the log's tables were changed by hand)")
    if state.startswith("28") or isinstance(exc, errors.InsufficientPrivilege):
        hint = "check the user, its password and its privileges on the database and schema"
    elif state == "3D000":
        hint = "the database does not exist: create it (createdb) or fix the URL"
    elif state.startswith("53"):
        hint = "the server is out of resources (disk, memory, connections); free some, retry"
    elif state.startswith("08") or (
        exc.sqlstate is None and isinstance(exc, psycopg.OperationalError)
    ):
        hint = "check that the PostgreSQL server is running and reachable at this URL"
    elif state.startswith("57"):
        hint = "the server is shutting down or restarting; retry when it is back"
    else:
        hint = "check the PostgreSQL server and the store URL"
    return FileAccessError(detail, code=E_STORE, hint=hint)
