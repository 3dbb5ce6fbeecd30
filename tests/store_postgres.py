"""PostgreSQL for the tests: the server named by ``RUNID_TEST_POSTGRES_DSN``, a schema per log.

``scripts/postgres.sh start DIR PORT`` starts a private server and prints its DSN (e.g.
``postgresql://runid@127.0.0.1:54329/runid``); ``.ci/run`` exports it. Without it PostgreSQL
tests skip and say so; with it, a server that does not answer (or psycopg missing) fails them,
so a CI run that meant to test PostgreSQL cannot pass by skipping. Each log a test opens lives in
a schema of its own, named after the test process, and dropped afterwards.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import os
import re

import pytest

DSN_ENV = "RUNID_TEST_POSTGRES_DSN"

_counter = itertools.count()


@functools.cache
def _problem() -> tuple[str, bool] | None:
    """Why PostgreSQL tests cannot run here and whether that fails them, or ``None``."""
    dsn = os.environ.get(DSN_ENV)
    if not dsn:
        return (
            f"{DSN_ENV} is not set: start a server with 'scripts/postgres.sh start DIR PORT' "
            "and export the DSN it prints",
            False,
        )
    if (
        importlib.util.find_spec("psycopg") is None
        or importlib.util.find_spec("psycopg_pool") is None
    ):
        return f"{DSN_ENV} is set but psycopg is not installed (pip install -e '.[postgres]')", True
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"no PostgreSQL server answers at {DSN_ENV}={dsn}: {str(exc).strip()[:200]}", True
    return None


def require_postgres() -> str:
    """The test server's DSN. Without one the test skips (with the reason); with one that does
    not answer it fails."""
    problem = _problem()
    if problem is not None:
        reason, fatal = problem
        if fatal:
            pytest.fail(reason)
        pytest.skip(reason)
    return os.environ[DSN_ENV]


def with_schema(dsn: str, schema: str) -> str:
    """``dsn`` with runid's ``schema`` parameter."""
    return f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}"


class Schemas:
    """Fresh schema names for one test, each dropped by :meth:`drop_all`."""

    def __init__(self, dsn: str, test: str = "") -> None:
        self.dsn = dsn
        self.prefix = f"t{os.getpid()}_{next(_counter)}_{re.sub(r'[^a-z0-9]+', '_', test.lower())}"
        self.names: dict[str, str] = {}

    def name(self, log: str = "log") -> str:
        """The schema of ``log`` (the same one each time for the same ``log``)."""
        if log not in self.names:
            tail = re.sub(r"[^a-z0-9]+", "_", log.lower())
            self.names[log] = f"{self.prefix[: 62 - len(tail)]}_{tail}"
        return self.names[log]

    def url(self, log: str = "log") -> str:
        return with_schema(self.dsn, self.name(log))

    def drop_all(self) -> None:
        import psycopg
        from psycopg import sql

        if not self.names:
            return
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for schema in self.names.values():
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )


def schemas_for(request: pytest.FixtureRequest) -> Schemas:
    """Schemas for the logs of the test ``request`` is for, dropped after it; skips the test
    without a server."""
    schemas = Schemas(require_postgres(), request.node.name[:20])
    request.addfinalizer(schemas.drop_all)
    return schemas
