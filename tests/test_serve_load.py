"""The log service under load, from a second process (bounded, loopback only): 8 concurrent
clients ingest a fixed count, nothing is lost or duplicated and the log audits clean; the
server killed (-9) and restarted mid-load loses no acknowledged record; more workers than one
share the store (docs/spec.md §21)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip(
    "starlette", reason="the service needs the server extra: pip install '.[server]'"
)
pytest.importorskip("uvicorn", reason="the service needs the server extra: pip install '.[server]'")

from runid.home import Home
from runid.keys import SigningKey
from runid.log import Log
from serve_helpers import call_json, free_port, start_process, stop_process

TESTS = Path(__file__).resolve().parent
CLIENTS = 8


def _setup(
    tmp_path: Path, store_url: str | None = None, clients: int = CLIENTS
) -> tuple[Path, str, str, list[str]]:
    """A server home with project "load": its ingest and read tokens and ``clients`` keys."""
    from runid._server.registry import Registry, admin_action, key_action, token_action

    home = Home(tmp_path / "server")
    home.init_keys("load.example/log")
    key_files = []
    with Log.open(home, store_url=store_url) as log:
        registry = Registry(log.public, admin_only=True)
        tokens = {}
        for scope in ("ingest", "read"):
            action, token = token_action("load", scope, by="test")
            admin_action(log, registry, action)
            tokens[scope] = token
        for i in range(clients):
            key = SigningKey.generate(f"load.example/client{i}")
            action, _public = key_action("load", key.public_key.vkey, by="test")
            admin_action(log, registry, action)
            path = tmp_path / f"client{i}.key"
            path.write_text(key.private_text())
            key_files.append(str(path))
    return home.path, tokens["ingest"], tokens["read"], key_files


def _load(base: str, token: str, keys: list[str], count: int, batch: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            str(TESTS / "serve_load.py"),
            base,
            token,
            *keys,
            "--count",
            str(count),
            "--batch",
            str(batch),
            "--deadline",
            "240",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(TESTS.parent / "src")},
    )
    assert process.stdout is not None
    assert json.loads(process.stdout.readline()) == {"ready": True}  # signed, about to send
    return process


def _result(process: subprocess.Popen[str]) -> dict:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    for client in result["clients"]:
        assert client["errors"] == []
    return result


def _audit(home: Path, store_url: str | None = None) -> str:
    store = ["--store", store_url] if store_url else []
    result = subprocess.run(
        [sys.executable, "-m", "runid", "--home", str(home), "tokens", *store, "audit"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _logged(home: Path, store_url: str | None = None) -> list[str]:
    """Every client record's execution id in the log, in order (admin records left out)."""
    with Log.open(Home(home), need_key=False, store_url=store_url) as log:
        ids = []
        for _index, data in log.store.iter_entries(0, log.size()):
            envelope = json.loads(data)
            if envelope["signatures"][0]["keyid"] != log.public.key_id:
                import base64

                ids.append(
                    json.loads(base64.b64decode(envelope["payload"]))["predicate"]["execution_id"]
                )
        return ids


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> str:
    from store_postgres import schemas_for

    return schemas_for(request).url()


@pytest.mark.slow
@pytest.mark.parametrize(("store", "workers"), [("sqlite", 1), ("sqlite", 2), ("postgresql", 2)])
def test_eight_clients_nothing_lost_or_duplicated(
    tmp_path: Path, store: str, workers: int, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_url") if store == "postgresql" else None
    home, ingest, read, keys = _setup(tmp_path, url)
    port = free_port()
    extra = ["--store", url] if url else []
    server = start_process(home, port, "--workers", str(workers), "--no-access-log", *extra)
    base = f"http://127.0.0.1:{port}"
    try:
        result = _result(_load(base, ingest, keys, 150, 10))
        acked = [i for c in result["clients"] for i in c["acked"]]
        assert len(acked) == len(set(acked)) == CLIENTS * 150
        assert call_json(base, "GET", "/v1/stats", read)["runs"] == CLIENTS * 150
    finally:
        stop_process(server)
    logged = _logged(home, url)
    assert sorted(logged) == sorted(acked)  # each once
    assert f"audit: ok, {len(logged) + 2 + CLIENTS} entries" in _audit(home, url)


@pytest.mark.slow
@pytest.mark.crash
def test_a_server_killed_mid_load_loses_no_acknowledged_record(tmp_path: Path) -> None:
    home, ingest, read, keys = _setup(tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_process(home, port, "--no-access-log")
    try:
        load = _load(base, ingest, keys, 400, 2)
        deadline = time.monotonic() + 60
        while call_json(base, "GET", "/v1/stats", read)["runs"] < 400:  # well under way
            assert time.monotonic() < deadline
            time.sleep(0.01)
        stop_process(server, signal.SIGKILL)  # mid-load: batches in flight are lost, not acked
        server = start_process(home, port, "--no-access-log")
        result = _result(load)
    finally:
        stop_process(server)
    acked = [i for c in result["clients"] for i in c["acked"]]
    assert len(acked) == CLIENTS * 400  # every client retried until acknowledged
    assert sum(c["retries"] for c in result["clients"]) > 0, "the kill did not hit the load"
    logged = _logged(home)
    assert len(logged) == len(set(logged))  # a retried batch is kept once
    assert set(acked) <= set(logged)
    assert "audit: ok" in _audit(home)


@pytest.mark.slow
@pytest.mark.crash
def test_postgres_backends_killed_mid_load_lose_no_acknowledged_record(
    tmp_path: Path, postgres_url: str
) -> None:
    import psycopg

    from store_postgres import require_postgres

    home, ingest, read, keys = _setup(tmp_path, postgres_url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_process(home, port, "--no-access-log", "--store", postgres_url)
    try:
        load = _load(base, ingest, keys, 300, 2)
        deadline = time.monotonic() + 60
        while call_json(base, "GET", "/v1/stats", read)["runs"] < 300:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # kill -9 the backends of the server's connections: PostgreSQL then restarts every
        # backend (crash recovery), and the server's store reconnects
        with psycopg.connect(require_postgres(), autocommit=True) as conn:
            pids = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            ).fetchall()
        assert pids
        for (pid,) in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        result = _result(load)
    finally:
        stop_process(server)
    acked = [i for c in result["clients"] for i in c["acked"]]
    assert len(acked) == CLIENTS * 300
    logged = _logged(home, postgres_url)
    assert len(logged) == len(set(logged)) and set(acked) <= set(logged)
    assert "audit: ok" in _audit(home, postgres_url)
