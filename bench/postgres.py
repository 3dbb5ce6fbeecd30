"""Benchmark: durable appends to the log on PostgreSQL next to SQLite, measured in one run.

Run: ``pip install -e '.[postgres]'``, start a server (``scripts/postgres.sh start /tmp/runid-pg
54329``), then ``python bench/postgres.py --dsn postgresql://runid@127.0.0.1:54329/runid``
(or set ``RUNID_TEST_POSTGRES_DSN``); ``--quick`` for a short run. Updates the "Log on
PostgreSQL" section of docs/performance.md.

Each backend is measured the same way, through :class:`runid.log.Log`: a single append (a new
record signed and appended in one durable commit; a checkpoint at most once a second, ADR 0019),
a batch of 1,000 records signed by ``Log.sign`` appended with one checkpoint, and several
writer processes appending single records at once (the sequencer lock is held to COMMIT, so
their appends take turns). The floor of each is one durable commit of one 1.9 KB row, measured
in the same run. This is the storage part of issue 14's ingest benchmark; HTTP ingest is
measured on top of it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from _report import write_section
from runid.examples import example
from runid.home import Home
from runid.identity import compute_identity
from runid.log import Log
from runid.record import new_record

ROOT = Path(__file__).resolve().parent.parent
WRITERS = 4


def per_call(fn: Callable[[], object], n: int, rounds: int) -> list[float]:
    """Seconds per call, one sample per round."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - start) / n)
    return samples


def fmt(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def raw_commit(url: str | None, tmp: Path, n: int, rounds: int) -> list[float]:
    """One durable commit of one 1.9 KB row: SQLite in WAL with synchronous=FULL, or PostgreSQL
    with the server's (default: synchronous) commit."""
    blob = os.urandom(1900)
    if url is None:
        import sqlite3

        conn = sqlite3.connect(tmp / "raw.sqlite3", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, data BLOB)")

        def commit() -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (data) VALUES (?)", (blob,))
            conn.execute("COMMIT")

        try:
            return per_call(commit, n, rounds)
        finally:
            conn.close()
    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute("CREATE TABLE IF NOT EXISTS runid_bench_raw (id serial PRIMARY KEY, data bytea)")

        def pg_commit() -> None:
            with pg.transaction():
                pg.execute("INSERT INTO runid_bench_raw (data) VALUES (%b)", (blob,))

        try:
            return per_call(pg_commit, n, rounds)
        finally:
            pg.execute("DROP TABLE runid_bench_raw")


def writer(home: Path, store_url: str | None, count: int, go: Any, out: Any) -> None:
    """One of the concurrent writers: ``count`` single appends once ``go`` is set."""
    key = Home(home).signing_key()
    decl_id = compute_identity(example("chat-hosted-model")).declaration_id
    with Log.open(Home(home), store_url=store_url) as log:
        go.wait()
        start = time.perf_counter()
        for _ in range(count):
            now = datetime.now(UTC)
            log.append_record(new_record(decl_id, issuer=key, started_at=now, ended_at=now))
        out.put(time.perf_counter() - start)


def concurrent(home: Path, store_url: str | None, count: int) -> float:
    """Appends per second of WRITERS processes appending ``count`` single records each."""
    fork = multiprocessing.get_context("fork")
    go, out = fork.Event(), fork.Queue()
    procs = [
        fork.Process(target=writer, args=(home, store_url, count, go, out)) for _ in range(WRITERS)
    ]
    for proc in procs:
        proc.start()
    time.sleep(1.0)  # every writer has opened its log
    start = time.perf_counter()
    go.set()
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"a writer failed ({proc.exitcode})")
    return WRITERS * count / (time.perf_counter() - start)


def one_round(
    home: Home, store_url: str | None, dsn: str, tmp: Path, *, n: int, result: dict[str, Any]
) -> None:
    """One sample of each measurement for one backend (SQLite when ``store_url`` is None)."""
    key = home.signing_key()
    decl_id = compute_identity(example("chat-hosted-model")).declaration_id
    now = datetime.now(UTC)

    def record() -> dict[str, Any]:
        return new_record(decl_id, issuer=key, started_at=now, ended_at=now)

    result["floor"] += raw_commit(dsn if store_url else None, tmp, n, 1)
    with Log.open(home, store_url=store_url) as log:
        result["single"] += per_call(lambda: log.append_record(record()), n, 1)
        # The public batched path (records signed by Log.sign are not verified again).
        envelopes = [log.sign(record()) for _ in range(1000)]
        start = time.perf_counter()
        log.append(envelopes, checkpoint=True)
        result["batch"].append((time.perf_counter() - start) / 1000)
    result["writers"].append(concurrent(home.path, store_url, n // 2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dsn", default=os.environ.get("RUNID_TEST_POSTGRES_DSN"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "performance.md"))
    args = parser.parse_args()
    if not args.dsn:
        parser.error("give --dsn postgresql://... or set RUNID_TEST_POSTGRES_DSN")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    tmp = Path(tempfile.mkdtemp(prefix="runid-bench-pg-"))
    home = Home(tmp / "home")
    home.init_keys("runid.bench/pg")
    schema = f"bench_{os.getpid()}"
    url = f"{args.dsn}{'&' if '?' in args.dsn else '?'}schema={schema}"
    rounds, n = (3, 60) if args.quick else (5, 200)
    sqlite: dict[str, Any] = {"floor": [], "single": [], "batch": [], "writers": []}
    pg: dict[str, Any] = {"floor": [], "single": [], "batch": [], "writers": []}
    try:
        # Interleaved rounds: the disk's other load (2 shared cores) hits both backends alike.
        for r in range(rounds):
            one_round(home, None, args.dsn, tmp, n=n, result=sqlite)
            one_round(home, url, args.dsn, tmp, n=n, result=pg)
            print(f"round {r + 1}/{rounds} done", flush=True)
        for store_url in (None, url):
            with Log.open(home, store_url=store_url) as log:
                assert log.audit() == [], "the benchmark's log does not audit clean"
    finally:
        with psycopg.connect(args.dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        with psycopg.connect(args.dsn) as conn:
            server = conn.execute("SHOW server_version").fetchone()
            sync = conn.execute("SHOW synchronous_commit").fetchone()
    for name, result in (("SQLite", sqlite), ("PostgreSQL", pg)):
        print(f"== {name}")
        for what in ("floor", "single", "batch"):
            print(f"  {what:<8} {fmt(statistics.median(result[what])):>10}")
        print(f"  {WRITERS} writers {statistics.median(result['writers']):,.0f} appends/s")

    def cell(samples: list[float]) -> str:
        mid = statistics.median(samples)
        return f"{fmt(mid)} ({1 / mid:,.0f}/s; {fmt(min(samples))}-{fmt(max(samples))})"

    rows = [
        ("durable commit of one 1.9 KB row (floor)", "floor"),
        (
            "single append: record + envelope signed, one commit (checkpoint ≤ once a second)",
            "single",
        ),
        ("batch of 1,000 pre-signed records, one checkpoint (per record)", "batch"),
    ]
    lines = [
        "## Log on PostgreSQL",
        "",
        "Generated by `python bench/postgres.py`. Medians per operation (appends/s; min-max over "
        f"{rounds} interleaved rounds), both backends through `runid.log.Log` in one run on "
        f"{os.cpu_count()} cores, load average at start {load}. PostgreSQL "
        f"{server[0] if server else '?'} on the same machine over loopback TCP "
        f"(`scripts/postgres.sh`, default settings: `synchronous_commit = "
        f"{sync[0] if sync else '?'}`, `fsync` on), tables in a schema of the benchmark's own.",
        "",
        "| operation | SQLite | PostgreSQL |",
        "|---|---|---|",
    ]
    for label, what in rows:
        lines.append(f"| {label} | {cell(sqlite[what])} | {cell(pg[what])} |")
    lines.append(
        f"| {WRITERS} writer processes, single appends at once (all together) "
        f"| {statistics.median(sqlite['writers']):,.0f}/s "
        f"({min(sqlite['writers']):,.0f}-{max(sqlite['writers']):,.0f}) "
        f"| {statistics.median(pg['writers']):,.0f}/s "
        f"({min(pg['writers']):,.0f}-{max(pg['writers']):,.0f}) |"
    )

    def ratio(result: dict[str, Any]) -> float:
        return float(statistics.median(result["single"]) / statistics.median(result["floor"]))

    lines += [
        "",
        f"A single append on PostgreSQL costs {ratio(pg):.1f}x one durable commit there (SQLite: "
        f"{ratio(sqlite):.1f}x): besides signing the record (a checkpoint at most once a second, "
        "ADR 0019), two round trips "
        "over loopback (the sequencer row's lock with the look-up of the leaf, then the writes "
        "with COMMIT, sent together in pipeline mode) and a larger commit (entry, subtree "
        "hashes, state, lookup rows). The sequencer row stays locked through the commit, so "
        "concurrent writers take turns rather than add up; throughput comes from batching "
        "(capture's group commit, a service's batched ingest), one commit and one checkpoint "
        "signature per batch. The maxima are other processes' disk load on this shared machine.",
    ]
    out = Path(args.out)
    write_section(out, "bench/postgres.py", lines)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
