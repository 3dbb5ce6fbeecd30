"""Benchmark: ingest into the log service over HTTP (``runid serve``), next to MLflow's tracking
server logging runs, measured the same way in one run.

Run: ``pip install -e '.[server]'``, then ``python bench/serve.py`` (``--quick`` for a short run;
``--dsn postgresql://...`` or ``RUNID_TEST_POSTGRES_DSN`` adds PostgreSQL, e.g. a server from
``scripts/postgres.sh start /tmp/runid-pg 54329``; ``--mlflow PATH`` names an ``mlflow``
command, e.g. from a venv of its own: ``python -m venv /tmp/mlflow && /tmp/mlflow/bin/pip
install 'mlflow>=3,<4'``; without one MLflow is skipped and the section says so). Updates the
"Log service" section of docs/performance.md.

Everything on loopback, bounded: a server process (``runid serve``, one worker, or
``mlflow server``), and a load process of 8 client threads, each with its own signing key and
keep-alive connection (``tests/serve_load.py``): each signs its records first (not timed), then
sends a fixed count, in requests of 1 record or of 100 (``POST /v1/records/batch``, one record
= one signed envelope with its output content). Throughput is records acknowledged (durable)
per second of wall time; latencies are per request, client side. MLflow is driven the same way
(8 threads, keep-alive, a fixed count): one run logged is ``runs/create`` then ``runs/log-batch``
(its parameters and a tag) then ``runs/update`` (FINISHED), the nearest thing to one record; its
API has no call that logs several runs at once.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _report import write_section
from runid._server.registry import Registry, admin_action, key_action, token_action
from runid.home import Home
from runid.keys import SigningKey
from runid.log import Log

ROOT = Path(__file__).resolve().parent.parent
LOAD = ROOT / "tests" / "serve_load.py"
CLIENTS = 8
PACED_RATE = 2000
PACED_BATCH = 25


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, path: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited: {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"port {port} did not answer")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def setup_runid(tmp: Path, store_url: str | None) -> tuple[Path, str, list[str]]:
    home = Home(tmp / "server")
    home.init_keys("bench.example/log")
    keys = []
    with Log.open(home, store_url=store_url) as log:
        registry = Registry(log.public, admin_only=True)
        action, token = token_action("bench", "ingest", by="bench")
        admin_action(log, registry, action)
        for i in range(CLIENTS):
            key = SigningKey.generate(f"bench.example/client{i}")
            admin_action(log, registry, key_action("bench", key.public_key.vkey, by="bench")[0])
            path = tmp / f"client{i}.key"
            path.write_text(key.private_text())
            keys.append(str(path))
    return home.path, token, keys


def run_runid(store_url: str | None, count: int, batch: int, rate: float = 0.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        home, token, keys = setup_runid(tmp, store_url)
        port = free_port()
        store = ["--store", store_url] if store_url else []
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runid",
                "--home",
                str(home),
                "serve",
                "--port",
                str(port),
                "--no-access-log",
                *store,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_ready(port, "/readyz", server)
            load = subprocess.run(
                [
                    sys.executable,
                    str(LOAD),
                    f"http://127.0.0.1:{port}",
                    token,
                    *keys,
                    "--count",
                    str(count),
                    "--batch",
                    str(batch),
                    "--deadline",
                    "600",
                    "--rate",
                    str(rate),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
        finally:
            stop(server)
    result = json.loads(load.stdout.strip().splitlines()[-1])
    acked = sum(len(c["acked"]) for c in result["clients"])
    assert acked == CLIENTS * count, (acked, [c["errors"] for c in result["clients"]])
    latencies = [x for c in result["clients"] for x in c["latencies"]]
    return {"records": acked, "wall": result["wall"], "latencies": latencies}


# --- MLflow's tracking server, driven the same way ------------------------------------------


def mlflow_client(port: int, experiment: str, count: int, out: dict[str, Any]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        conn.request("POST", f"/api/2.0/mlflow/{path}", body=json.dumps(body), headers=headers)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {data[:200]!r}")
        return json.loads(data) if data else {}

    for i in range(count):
        start = time.perf_counter()
        run = post(
            "runs/create", {"experiment_id": experiment, "start_time": int(time.time() * 1000)}
        )
        run_id = run["run"]["info"]["run_id"]
        params = [
            {"key": "model", "value": "gpt-4o-mini-2024-07-18"},
            {"key": "temperature", "value": "0.2"},
            {"key": "max_tokens", "value": "256"},
        ]
        tags = [{"key": "output_digest", "value": f"sha256:{i:064x}"}]
        post("runs/log-batch", {"run_id": run_id, "params": params, "tags": tags})
        post(
            "runs/update",
            {"run_id": run_id, "status": "FINISHED", "end_time": int(time.time() * 1000)},
        )
        out["latencies"].append(time.perf_counter() - start)
        out["runs"] += 1
    conn.close()


def run_mlflow(mlflow: str, count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        server = subprocess.Popen(
            [
                mlflow,
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{tmp}/mlflow.db",
                "--default-artifact-root",
                str(tmp / "artifacts"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            cwd=tmp,
        )
        try:
            wait_ready(port, "/health", server, 120)
            conn = http.client.HTTPConnection("127.0.0.1", port)
            conn.request(
                "POST",
                "/api/2.0/mlflow/experiments/create",
                body=json.dumps({"name": "bench"}),
                headers={"Content-Type": "application/json"},
            )
            experiment = json.loads(conn.getresponse().read())["experiment_id"]
            outs = [{"latencies": [], "runs": 0} for _ in range(CLIENTS)]
            threads = [
                threading.Thread(target=mlflow_client, args=(port, experiment, count, o))
                for o in outs
            ]
            start = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - start
            version = subprocess.run(
                [mlflow, "--version"], capture_output=True, text=True, check=False
            ).stdout.split()[-1]
        finally:
            stop(server)
    runs = sum(o["runs"] for o in outs)
    assert runs == CLIENTS * count
    return {
        "records": runs,
        "wall": wall,
        "latencies": [x for o in outs for x in o["latencies"]],
        "version": version.strip(),
    }


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def row(name: str, result: dict[str, Any]) -> str:
    rate = result["records"] / result["wall"]
    lat = result["latencies"]
    return (
        f"| {name} | {result['records']:,} | {rate:,.0f}/s | {ms(pct(lat, 0.5))} | "
        f"{ms(pct(lat, 0.99))} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dsn", default=os.environ.get("RUNID_TEST_POSTGRES_DSN"))
    parser.add_argument("--mlflow", default=shutil.which("mlflow"))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    single, batched, batch = (100, 1000, 100) if args.quick else (250, 2500, 100)
    paced_count = 500 if args.quick else 2000  # per client: 2 s or 8 s at the paced rate
    mlflow_runs = 50 if args.quick else 150
    load = os.getloadavg()
    backends: list[tuple[str, str | None]] = [("SQLite", None)]
    if args.dsn:
        schema = f"bench_serve_{os.getpid()}"
        sep = "&" if "?" in args.dsn else "?"
        backends.append(("PostgreSQL", f"{args.dsn}{sep}schema={schema}"))
    rows = []
    rates: dict[str, float] = {}
    paced_p99: dict[str, float] = {}
    for name, url in backends:
        one = run_runid(url, single, 1)
        many = run_runid(url, batched, batch)
        print(
            name, "single", one["records"] / one["wall"], "batched", many["records"] / many["wall"]
        )
        rows.append(row(f"runid serve, {name}: 1 record per request", one))
        rows.append(row(f"runid serve, {name}: {batch} records per request", many))
        paced = run_runid(url, paced_count, PACED_BATCH, PACED_RATE)
        label = f"paced at {PACED_RATE:,} records/s, {PACED_BATCH} per request"
        rows.append(row(f"runid serve, {name}: {label}", paced))
        paced_p99[f"{name} paced"] = pct(paced["latencies"], 0.99)
        rates[f"{name} 1"] = one["records"] / one["wall"]
        rates[f"{name} {batch}"] = many["records"] / many["wall"]
    mlflow_note = ""
    if args.mlflow:
        flow = run_mlflow(args.mlflow, mlflow_runs)
        print("mlflow", flow["records"] / flow["wall"])
        rows.append(
            row(f"MLflow tracking server ({flow['version']}), SQLite: 1 run = 3 requests", flow)
        )
        mrate = flow["records"] / flow["wall"]
        mlflow_note = (
            f" Ratio to MLflow's run logging: {rates['SQLite 1'] / mrate:.1f}x with one record "
            f"per request, {rates[f'SQLite {batch}'] / mrate:.0f}x batched (SQLite)"
            + (
                f"; {rates[f'PostgreSQL {batch}'] / mrate:.0f}x batched on PostgreSQL."
                if f"PostgreSQL {batch}" in rates
                else "."
            )
        )
    else:
        mlflow_note = " MLflow was not measured: no `mlflow` command (pass --mlflow PATH)."
    postgres_note = (
        "" if args.dsn else " PostgreSQL was not measured: no DSN (set RUNID_TEST_POSTGRES_DSN)."
    )
    targets = []
    if "PostgreSQL paced" in paced_p99:
        best = rates[f"PostgreSQL {batch}"]
        p99 = paced_p99["PostgreSQL paced"]
        targets = [
            "",
            "### Targets (issue 14)",
            "",
            f"- At least 2,000 records/s on PostgreSQL with batching: "
            f"{'met' if best >= 2000 else 'not met'} ({best:,.0f}/s with {batch} per request).",
            f"- p99 under 50 ms at that rate: {'met' if p99 < 0.05 else 'not met'} here "
            f"({ms(p99)} at {PACED_RATE:,} records/s, {PACED_BATCH} per request). The load "
            "process, the server and its database share the 2 cores with whatever else runs "
            f"(load average {load[0]:.1f} at the start): a paced request waits for CPU, not for "
            "the commit.",
        ]
    lines = [
        "## Log service (HTTP ingest)",
        "",
        f"Generated by `python bench/serve.py{' --quick' if args.quick else ''}`. "
        f"{CLIENTS} client threads in a load process, each with its own key and keep-alive "
        "connection, against one server process on loopback, on "
        f"{os.cpu_count()} cores shared by both ({platform.python_version()}, load average at "
        f"start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}). Records/s: records acknowledged "
        "(durable) per second of wall time; p50/p99: per request, client side. Each record is "
        "a signed envelope (verified by the service against the project's keys) with its output "
        "content; a batch also carries the declaration once.",
        "",
        "| server and requests | records | records/s | p50 | p99 |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "The first two rows are closed loops (each client sends its next request when the last "
        "was answered): the service's capacity, with latency that is mostly queueing. The paced "
        f"row is an open loop at {PACED_RATE:,} records/s ({PACED_BATCH} records per request, "
        "each client on a fixed schedule; a late request's latency counts from when it was "
        "due): the latency at that rate. One record per request is bound by the service's "
        "per-request work (HTTP, strict JSON, authentication, the signature verification, the "
        "registry catching up) on the cores the load process shares; concurrent requests share "
        "one commit (group commit), and batched, one commit and one checkpoint signature serve "
        "many records." + mlflow_note + postgres_note,
        *targets,
    ]
    for line in rows:
        print(line)
    if not args.no_write:
        write_section(ROOT / "docs" / "performance.md", "bench/serve.py", lines)


if __name__ == "__main__":
    main()
