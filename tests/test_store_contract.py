"""The store contract (``store_contract.py``), run against every backend: SQLite, memory and
PostgreSQL (the server ``RUNID_TEST_POSTGRES_DSN`` names; skipped, with the reason, without one)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runid.store import LogStore, open_store
from runid.store.memory import MemoryStore
from store_contract import StoreContract
from store_postgres import schemas_for


@pytest.fixture(params=["sqlite", "memory", "postgresql"])
def open_log(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., LogStore]:
    if request.param == "sqlite":

        def open_sqlite(name: str = "log") -> LogStore:
            return open_store(tmp_path / name)

        return open_sqlite
    if request.param == "postgresql":
        from runid.store.postgres import PostgresStore

        schemas = schemas_for(request)

        def open_postgres(name: str = "log") -> LogStore:
            return PostgresStore.open(schemas.url(name))

        return open_postgres
    logs: dict[str, MemoryStore] = {}

    def open_memory(name: str = "log") -> LogStore:
        if name in logs:
            return logs[name].reopen()
        logs[name] = MemoryStore()
        return logs[name]

    return open_memory


class TestStoreContract(StoreContract):
    pass
