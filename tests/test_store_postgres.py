"""The PostgreSQL store beyond the shared contract: URLs, migrations, append-only tables, errors,
lost connections, the sequencer row's lock timeout, and a whole log (``Log.open(store_url=)``).

The contract itself runs against PostgreSQL in ``test_store_contract.py``; concurrency and
``kill -9`` in ``test_store_postgres_concurrency.py``. Tests that need a server skip without
one (``RUNID_TEST_POSTGRES_DSN``, see ``store_postgres.py``); the URL and error tests need only
psycopg.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from runid.errors import FileAccessError, InputError
from runid.examples import example
from runid.home import Home
from runid.keys import Keyring
from runid.log import Log
from runid.merkle import leaf_hash, root
from runid.receipt import verify_receipt
from runid.store import DECLARATION_BLOB_PREFIX, open_store_url
from runid.store.migrations import MIGRATIONS, Migration
from store_contract import fake_note, leaves
from store_postgres import Schemas, schemas_for

psycopg = pytest.importorskip(
    "psycopg", reason="psycopg is not installed (pip install -e '.[postgres]')"
)

from runid.store._postgres_open import parse_url  # noqa: E402
from runid.store.postgres import PostgresStore  # noqa: E402
from runid.store.postgres_migrations import POSTGRES_MIGRATIONS  # noqa: E402

# --- no server needed ----------------------------------------------------------------------------


def test_the_schema_comes_from_the_url_or_the_argument() -> None:
    assert parse_url("postgresql://u@h:5/db", None) == ("postgresql://u@h:5/db", "runid")
    conninfo, schema = parse_url("postgresql://u@h:5/db?schema=audit_2&sslmode=disable", None)
    assert (conninfo, schema) == ("postgresql://u@h:5/db?sslmode=disable", "audit_2")
    assert parse_url("host=h dbname=db", "other") == ("host=h dbname=db", "other")
    with pytest.raises(InputError):
        parse_url("postgresql://u@h/db?schema=a", "b")  # two different schemas
    for bad in ("Robert'); DROP", "1abc", "a" * 64, ""):
        with pytest.raises(InputError):
            parse_url(f"postgresql://u@h/db?schema={bad}", None)


def test_an_unreachable_server_is_a_store_error_that_hides_the_password() -> None:
    with pytest.raises(FileAccessError) as info:
        open_store_url("postgresql://runid:s3cret@127.0.0.1:1/runid?connect_timeout=2")
    assert info.value.code == "E_STORE"
    assert "s3cret" not in info.value.message
    assert "127.0.0.1:1/runid (schema runid)" in info.value.message
    assert "running and reachable" in (info.value.hint or "")


@pytest.mark.parametrize("url", ["mysql://h/db", "log.sqlite3", "sqlite:", 5])
def test_a_store_url_names_a_known_backend(url: object) -> None:
    with pytest.raises(InputError):
        open_store_url(url)  # type: ignore[arg-type]


def test_a_sqlite_url_opens_the_sqlite_log(tmp_path: Path) -> None:
    with open_store_url(f"sqlite:{tmp_path / 'a'}") as store:
        store.append([b"x"])
    with open_store_url(f"sqlite://{tmp_path / 'a' / 'log.sqlite3'}", create=False) as store:
        assert store.size() == 1


def test_the_migrations_have_the_sqlite_stores_names() -> None:
    assert [(m.number, m.name) for m in POSTGRES_MIGRATIONS] == [
        (m.number, m.name) for m in MIGRATIONS
    ]
    # The generated `declaration` column spells the prefix every canonical declaration has.
    assert DECLARATION_BLOB_PREFIX.hex() in POSTGRES_MIGRATIONS[0].sql


# --- against the test server ---------------------------------------------------------------------


@pytest.fixture
def postgres_schemas(request: pytest.FixtureRequest) -> Schemas:
    return schemas_for(request)


def test_migrations_are_recorded_in_order(postgres_schemas: Schemas) -> None:
    with PostgresStore.open(postgres_schemas.url()) as store:
        store.append([b"x"])
    with psycopg.connect(postgres_schemas.dsn) as conn:
        rows = conn.execute(
            f"SELECT number, name FROM {postgres_schemas.name()}.schema_migrations ORDER BY 1"
        ).fetchall()
    assert rows == [(m.number, m.name) for m in POSTGRES_MIGRATIONS]


def test_a_log_from_a_newer_runid_is_refused(postgres_schemas: Schemas) -> None:
    future = Migration(len(POSTGRES_MIGRATIONS) + 1, "0099_future", "CREATE TABLE future (x int);")
    newer = (*POSTGRES_MIGRATIONS, future)
    PostgresStore.open(postgres_schemas.url(), migrations=newer).close()
    with pytest.raises(FileAccessError) as info:
        PostgresStore.open(postgres_schemas.url())
    assert info.value.code == "E_STORE_SCHEMA"
    assert "0099_future" in info.value.message
    renamed = (POSTGRES_MIGRATIONS[0], Migration(2, "0002_other", ""))
    with pytest.raises(FileAccessError) as info:
        PostgresStore.open(postgres_schemas.url(), migrations=renamed)
    assert info.value.code == "E_STORE_SCHEMA"


def test_a_schema_holding_other_tables_is_not_taken_over(postgres_schemas: Schemas) -> None:
    schema = postgres_schemas.name()
    with psycopg.connect(postgres_schemas.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.customers (id int)")
    with pytest.raises(FileAccessError) as info:
        PostgresStore.open(postgres_schemas.url())
    assert "not a runid log" in info.value.message
    assert "customers" in info.value.message


def test_opening_without_create_finds_no_log_and_makes_none(postgres_schemas: Schemas) -> None:
    with pytest.raises(FileAccessError) as info:
        open_store_url(postgres_schemas.url(), create=False)
    assert info.value.code == "E_STORE"
    assert "no runid log here" in info.value.message
    with psycopg.connect(postgres_schemas.dsn) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (postgres_schemas.name(),)
        ).fetchone()
    assert found is None


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {s}.entries SET data = 'x'",
        "DELETE FROM {s}.entries",
        "TRUNCATE {s}.entries",
        "UPDATE {s}.nodes SET hash = hash",
        "DELETE FROM {s}.nodes",
        "TRUNCATE {s}.nodes CASCADE",
        "DELETE FROM {s}.checkpoints",
        "UPDATE {s}.checkpoints SET note = 'forged'",
        "TRUNCATE {s}.checkpoints",
    ],
)
def test_the_tree_is_append_only_in_sql_too(postgres_schemas: Schemas, statement: str) -> None:
    with PostgresStore.open(postgres_schemas.url()) as store:
        store.append(leaves(4), fake_note)
        before = store.audit()
        with (
            psycopg.connect(postgres_schemas.dsn) as conn,
            pytest.raises(psycopg.errors.RestrictViolation, match="append-only"),
        ):
            conn.execute(statement.format(s=postgres_schemas.name()))
        assert store.audit() == before


def test_declaration_blobs_are_marked_on_insert(postgres_schemas: Schemas) -> None:
    with PostgresStore.open(postgres_schemas.url()) as store:
        store.put_blob(b"an output")
        store.append([b"leaf"], blobs=[DECLARATION_BLOB_PREFIX + b"{}}", b"another output"])
        store.put_blob(DECLARATION_BLOB_PREFIX + b"[]}")
        found = list(store.iter_declaration_blobs(0))
        assert [data for _, data in found] == [
            DECLARATION_BLOB_PREFIX + b"{}}",
            DECLARATION_BLOB_PREFIX + b"[]}",
        ]
        assert found[0][0] < found[1][0] <= store.max_blob_rowid()
        assert list(store.iter_declaration_blobs(found[0][0])) == found[1:]


def test_a_terminated_connection_is_replaced_and_the_append_lands(
    postgres_schemas: Schemas,
) -> None:
    with PostgresStore.open(postgres_schemas.url(), pool_size=2) as store:
        store.append(leaves(3))
        with psycopg.connect(postgres_schemas.dsn, autocommit=True) as admin:
            # Every idle connection of the store, as a server restart or an operator would.
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'runid' AND pid <> pg_backend_pid()"
            )
        assert store.append([b"after"], fake_note) == [3]
        assert store.size() == 4
        assert store.audit().ok


def test_a_writer_waits_for_the_sequencer_row_then_gives_up(postgres_schemas: Schemas) -> None:
    with PostgresStore.open(postgres_schemas.url(), lock_timeout=0.5) as store:
        store.append([b"first"])
        with psycopg.connect(postgres_schemas.dsn) as holder:
            holder.execute(
                f"SELECT 1 FROM {postgres_schemas.name()}.tree_state WHERE id = 1 FOR UPDATE"
            )
            with pytest.raises(FileAccessError) as info:
                store.append([b"second"])
            assert info.value.code == "E_STORE_BUSY"
            assert store.size() == 1  # readers are not blocked by the writer's lock
            holder.rollback()
        assert store.append([b"second"]) == [1]


def test_threads_share_one_store(postgres_schemas: Schemas) -> None:
    with PostgresStore.open(postgres_schemas.url(), pool_size=3) as store:
        errors: list[BaseException] = []

        def write(t: int) -> None:
            try:
                for j in range(25):
                    store.append([b"thread %d leaf %d" % (t, j)], fake_note)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        hashes = [leaf_hash(data) for _, data in store.iter_entries()]
        assert len(set(hashes)) == store.size() == 100
        checkpoint = store.latest_checkpoint()
        assert checkpoint is not None
        assert (checkpoint.size, checkpoint.root) == (100, root(hashes))
        assert store.audit().ok


def test_a_log_on_postgresql_records_proves_and_audits(
    postgres_schemas: Schemas, tmp_path: Path
) -> None:
    home = Home(tmp_path / "home")
    key = home.init_keys("runid.test/pg")
    declaration = example("chat-hosted-model")
    with Log.open(home, store_url=postgres_schemas.url()) as log:
        first = log.record_run(declaration, output=b"Refund on its way.")
        second = log.record_run(declaration, output=b"Refund sent.")
        assert (first.index, second.index) == (0, 1)
        assert log.audit() == []
        assert [e.index for e in log.entries_of(first.record["declaration_id"])] == [0, 1]
        assert log.declaration(first.record["declaration_id"]) == declaration
        receipt = log.receipt(second.record["execution_id"])
    verify_receipt(receipt, Keyring([key.public_key]))
    assert not (home.path / "log.sqlite3").exists()  # the log is in PostgreSQL, not the home
    with Log.open(home, need_key=False, store_url=postgres_schemas.url()) as log:
        assert log.size() == 2
        assert log.entry(1).record == second.record


class Proxy:
    """A TCP proxy on loopback to the test server, whose link can be cut and restored: the
    server going away (and coming back) for the store, without stopping the shared server."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.refuse = False
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refuse:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def cut(self) -> None:
        self.refuse = True
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.sockets.clear()

    def close(self) -> None:
        self.cut()
        self.listener.close()


def test_a_server_that_goes_away_is_reported_at_once_and_found_again(
    postgres_schemas: Schemas,
) -> None:
    dsn = urlsplit(postgres_schemas.dsn)
    proxy = Proxy(dsn.hostname or "127.0.0.1", dsn.port or 5432)
    url = postgres_schemas.url().replace(dsn.netloc, f"{dsn.username}@127.0.0.1:{proxy.port}")
    try:
        with PostgresStore.open(url, pool_size=2) as store:
            store.append([b"before"], fake_note)
            proxy.cut()
            started = time.monotonic()
            with pytest.raises(FileAccessError) as info:
                store.append([b"during"], fake_note)
            assert time.monotonic() - started < 10  # not the pool's 30 s timeout
            assert info.value.code == "E_STORE"
            assert "running and reachable" in (info.value.hint or "")
            proxy.refuse = False  # the server is back
            assert store.append([b"after"], fake_note) == [1]
            assert store.audit().ok
    finally:
        proxy.close()
