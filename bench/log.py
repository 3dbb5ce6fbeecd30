"""Benchmark: the transparency log (issue 3 targets), with the raw floors measured alongside.

Run: ``pip install -e . && python bench/log.py`` (``--quick`` for a short run, ``--million N``
to change the size of the tree used for proof generation). Updates the "Transparency log"
section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from _report import write_section
from runid.envelope import sign_record
from runid.examples import example
from runid.home import Home
from runid.identity import compute_identity
from runid.keys import Keyring
from runid.log import Log
from runid.receipt import verify_receipt
from runid.record import new_record
from runid.store import open_store

ROOT = Path(__file__).resolve().parent.parent
SINGLE = "single durable append incl. record + envelope (a checkpoint at most once a second)"


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
    return f"{seconds * 1e6:.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--million", type=int, default=1_000_000)
    parser.add_argument("--out", default=str(ROOT / "docs" / "performance.md"))
    args = parser.parse_args()
    rounds = 3 if args.quick else 7
    n_single = 100 if args.quick else 400
    tmp = Path(tempfile.mkdtemp(prefix="runid-bench-"))
    home = Home(tmp / "home")
    key = home.init_keys("runid.bench/log")
    decl = example("chat-hosted-model")
    decl_id = compute_identity(decl).declaration_id
    now = datetime.now(UTC)
    rows: list[tuple[str, list[float], str]] = []

    def record() -> dict[str, object]:
        return new_record(decl_id, issuer=key, started_at=now, ended_at=now)

    # Floors, measured in this run.
    payload = os.urandom(2048)
    rows.append(
        (
            "SHA-256 of 2 KiB (hashlib)",
            per_call(lambda: hashlib.sha256(payload).digest(), 20000, rounds),
            "floor",
        )
    )
    rows.append(
        ("Ed25519 sign (PyNaCl)", per_call(lambda: key.sign(payload), 2000, rounds), "floor")
    )
    sig = key.sign(payload)
    rows.append(
        (
            "Ed25519 verify (PyNaCl)",
            per_call(lambda: key.public_key.verify(payload, sig), 2000, rounds),
            "floor",
        )
    )
    conn = sqlite3.connect(tmp / "raw.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB)")
    blob = os.urandom(1900)

    def commit_one() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (data) VALUES (?)", (blob,))
        conn.execute("COMMIT")

    rows.append(
        (
            "SQLite WAL durable commit of one 1.9 KB row",
            per_call(commit_one, n_single, rounds),
            "floor",
        )
    )
    conn.close()

    with Log.open(home) as log:
        rows.append(("new_record (build + execution id)", per_call(record, 2000, rounds), ""))
        rec = record()
        rows.append(
            (
                "sign_record (DSSE + in-toto)",
                per_call(lambda: sign_record(rec, key), 2000, rounds),
                "",
            )
        )
        single = per_call(lambda: log.append_record(record()), n_single, rounds)
        rows.append(
            (
                SINGLE,
                single,
                "target ≥ 2,000/s",
            )
        )

        # The batched ingest: records signed by Log.sign, appended with Log.append (the public
        # path: no second signature check, lookup rows and one checkpoint in the transaction).
        batch_rounds = []
        verified_rounds = []
        for _ in range(rounds):
            envelopes = [log.sign(record()) for _ in range(1000)]
            start = time.perf_counter()
            log.append(envelopes)
            batch_rounds.append((time.perf_counter() - start) / 1000)
            # The same through Log.append when the log did not sign them: each is verified.
            foreign = [sign_record(record(), key) for _ in range(200)]
            start = time.perf_counter()
            log.append(foreign)
            verified_rounds.append((time.perf_counter() - start) / 200)
        rows.append(
            (
                "batch of 1,000 records signed by Log.sign, Log.append (per record)",
                batch_rounds,
                "target ≥ 20,000/s",
            )
        )
        rows.append(
            (
                "batch of 200 envelopes Log.append must verify (per record)",
                verified_rounds,
                "",
            )
        )

        size = log.size()
        receipts = [log.receipt(i) for i in random.Random(1).sample(range(size), 50)]
        ring = Keyring([key.public_key])
        it = iter(receipts * 10_000)
        rows.append(
            (
                "receipt verification (envelope sig + record + checkpoint sig + inclusion)",
                per_call(lambda: verify_receipt(next(it), ring), 200, rounds),
                "target ≥ 4,000/s",
            )
        )

    # A big tree for proof generation: synthetic 200-byte leaves, appended in batches.
    store = open_store(tmp / "big")
    start = time.perf_counter()
    batch = 20_000
    counter = 0
    while store.size() < args.million:
        count = min(batch, args.million - store.size())
        store.append(
            [
                counter.to_bytes(8, "big") + os.urandom(192)
                for counter in range(counter, counter + count)
            ]
        )
        counter += count
    build = time.perf_counter() - start
    big = store.size()
    rnd = random.Random(7)
    rows.append(
        (
            f"inclusion proof generation at {big:,} entries",
            per_call(lambda: store.inclusion_proof(rnd.randrange(big), big), 1000, rounds),
            "target < 1 ms",
        )
    )
    rows.append(
        (
            f"consistency proof generation at {big:,} entries",
            per_call(lambda: store.consistency_proof(rnd.randrange(1, big), big), 1000, rounds),
            "",
        )
    )
    store.close()

    lines = [
        "## Transparency log",
        "",
        "Generated by `python bench/log.py`. Medians (min-max) over "
        f"{rounds} rounds, measured in one run on {os.cpu_count()} cores, load average at start "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}. Floors (raw hashing, signing, a durable "
        "SQLite commit) are measured in the same run.",
        "",
        "| operation | median per op | min-max | ops/s (median) | note |",
        "|---|---|---|---|---|",
    ]
    for name, samples, note in rows:
        mid = statistics.median(samples)
        spread = f"{fmt(min(samples))}-{fmt(max(samples))}"
        lines.append(f"| {name} | {fmt(mid)} | {spread} | {1 / mid:,.0f} | {note} |")
        print(f"{name:<85} {fmt(mid):>10} {1 / mid:>12,.0f}/s", flush=True)
    med = {name: statistics.median(s) for name, s, _note in rows}
    # ADR 0019: an append signs its envelope; a checkpoint is signed at most once a second.
    floor = med["Ed25519 sign (PyNaCl)"] + med["SQLite WAL durable commit of one 1.9 KB row"]
    single_med = med[SINGLE]
    lines += [
        "",
        f"A single append signs once (the record's envelope; a checkpoint at most once a second, "
        f"ADR 0019) and commits once: a floor of {fmt(floor)}; the log takes {fmt(single_med)}, "
        f"{single_med / floor:.1f}x that floor. Building the {big:,}-entry tree took {build:.0f} s "
        f"({big / build:,.0f} synthetic leaves/s in batches of {batch:,}).",
    ]
    out = Path(args.out)
    write_section(out, "bench/log.py", lines)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
