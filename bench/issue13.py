"""Benchmark: the table of issue 13 (performance at scale), refilled from one run.

Run: ``pip install -e . && python bench/issue13.py`` (``--size 1000000`` for the log at 1M runs;
the default 100,000 is quicker on 2 cores). Updates the "Issue 13: the targets" section of
docs/performance.md. Every row is measured in this run, each next to its floor or peer:

* a single durable append (``Log.append_record``; a checkpoint signed at most once a second,
  ADR 0019) against one durable SQLite commit of a row and one Ed25519 signature (the
  envelope's), interleaved round by round;
* durable capture (``Recorder``, ``durability="sync"``, an instant model): the caller's wall
  and CPU time, against the same commit floor;
* ``runid --version`` and ``runid log append`` as new processes, against ``python -c pass``;
* at ``--size`` runs (built by ``bench/scale.py``'s builder, in a new process): the batched
  ``Log.sign`` + ``Log.append`` over the last tenth of the runs, the first lookup,
  ``runid check --all -q`` and ``runid log audit`` (CPU time, wall time, peak memory), with the
  Ed25519 verification floor (one per entry) beside the last two.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import scale
import startup
from _report import write_section
from runid import __version__
from runid.capture import Recorder
from runid.capture._writer import Writer
from runid.examples import example
from runid.home import Home
from runid.identity import compute_identity
from runid.log import Log
from runid.record import new_record
from runid.store.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent


def interleaved(fns: dict[str, Callable[[], object]], n: int, rounds: int) -> dict[str, float]:
    """Median seconds per call of each of ``fns``, interleaved round by round."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - start) / n)
    return {name: statistics.median(s) for name, s in samples.items()}


def capture_sync(home: Home, n: int, rounds: int) -> tuple[float, float, float, float]:
    """Median wall and calling-thread CPU seconds of one captured call, instant model; and,
    inside it, the median seconds the writer thread spent signing and appending the run, and
    the median of its durable commit alone (the SQL COMMIT)."""
    decl = example("chat-hosted-model")
    walls, cpus, writes, commits = [], [], [], []
    write = Writer._write  # timed from outside: the writer's own code is what is measured
    transaction = SQLiteStore._transaction

    def timed_write(self: Writer, batch: Any, log: Any) -> Any:
        start = time.perf_counter()
        try:
            return write(self, batch, log)
        finally:
            writes.append(time.perf_counter() - start)

    @contextlib.contextmanager
    def timed_transaction(self: SQLiteStore, begin: str = "BEGIN IMMEDIATE") -> Any:
        conn = self._conn  # the bench times the store's COMMIT alone
        conn.execute(begin)
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        start = time.perf_counter()
        conn.execute("COMMIT")
        commits.append(time.perf_counter() - start)

    Writer._write = timed_write  # type: ignore[method-assign]
    SQLiteStore._transaction = timed_transaction  # type: ignore[method-assign,assignment]
    try:
        with Recorder(home, durability="sync") as recorder:
            for _ in range(rounds):
                for _ in range(n):
                    start, start_cpu = time.perf_counter(), time.thread_time()
                    with recorder.capture(decl) as run:
                        run.set_output("Refunds take 5 business days.")
                    cpus.append(time.thread_time() - start_cpu)
                    walls.append(time.perf_counter() - start)
    finally:
        Writer._write = write  # type: ignore[method-assign]
        SQLiteStore._transaction = transaction  # type: ignore[method-assign]
    return tuple(statistics.median(x) for x in (walls, cpus, writes, commits))  # type: ignore[return-value]


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} µs" if seconds < 1e-2 else f"{seconds * 1e3:,.0f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "docs" / "performance.md"))
    parser.add_argument("--json", default=str(ROOT / "docs" / "issue13.json"))
    parser.add_argument("--render", metavar="JSON", help="re-render the section of a run")
    args = parser.parse_args()
    if args.render:
        return render(json.loads(Path(args.render).read_text()), Path(args.out))
    rounds = 3 if args.quick else 7
    tmp = Path(tempfile.mkdtemp(prefix="runid-bench-issue13-"))
    load_at_start = os.getloadavg()
    started = time.perf_counter()

    # 1. A single durable append, and the floor beside it.
    home = Home(tmp / "home")
    key = home.init_keys("runid.bench/issue13")
    decl_id = compute_identity(example("chat-hosted-model")).declaration_id
    now = datetime.now(UTC)
    floor_db = sqlite3.connect(tmp / "floor.sqlite3", isolation_level=None)
    floor_db.execute("PRAGMA journal_mode=WAL")
    floor_db.execute("PRAGMA synchronous=FULL")
    floor_db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB)")
    row = os.urandom(1900)
    payload = os.urandom(600)
    with Log.open(home) as log:
        single = interleaved(
            {
                "append": lambda: log.append_record(
                    new_record(decl_id, issuer=key, started_at=now, ended_at=now)
                ),
                "commit": lambda: floor_db.execute("INSERT INTO t (data) VALUES (?)", (row,)),
                "sign": lambda: key.sign(payload),
            },
            100 if args.quick else 200,
            rounds,
        )
    signature = key.sign(payload)
    verify = interleaved(
        {"verify": lambda: key.public_key.verify(payload, signature)}, 2000, rounds
    )["verify"]
    floor_db.close()

    # 2. Durable capture, caller's view.
    capture = capture_sync(Home(tmp / "capture"), 100, rounds)
    if not Home(tmp / "capture").signing_key_path.exists():
        raise SystemExit("the capture home has no key: the capture did not record")

    # 3. Start-up, as new processes.
    env = {**os.environ, "RUNID_HOME": str(tmp / "cli"), "NO_COLOR": "1"}
    command = startup.runid_command()
    output = tmp / "output.txt"
    output.write_text("Refund on its way.\n")
    declaration = startup.DECLARATION
    startup.run_once([*command, "keys", "init", "--name", "runid.bench/cli"], env)
    processes = {
        "floor": [sys.executable, "-c", "pass"],
        "version": [*command, "--version"],
        "append": [*command, "log", "append", str(declaration), "--output", str(output)],
    }
    walls: dict[str, list[float]] = {name: [] for name in processes}
    cpus: dict[str, list[float]] = {name: [] for name in processes}
    for _ in range(11 if not args.quick else 3):
        for name, argv in processes.items():
            wall, cpu = startup.timed(argv, env)
            walls[name].append(wall)
            cpus[name].append(cpu)
    cpu_of = {name: statistics.median(c) for name, c in cpus.items()}

    # 4. The log at --size runs.
    big = scale.run_size(args.size, {**os.environ, "NO_COLOR": "1"}, tmp, keep=True)
    # ... and batches of 10,000 appended to that log: the same ingest, larger batches.
    extended = scale.measured(
        [sys.executable, scale.__file__, "--extend", big["home"], "--batches", "5"],
        {**os.environ, "NO_COLOR": "1"},
    )
    big["extend"] = json.loads(extended["out"].splitlines()[-1])
    shutil.rmtree(big["home"], ignore_errors=True)
    elapsed = time.perf_counter() - started

    data = {
        "size": args.size,
        "elapsed": elapsed,
        "load": load_at_start,
        "single": single,
        "verify": verify,
        "capture": list(capture),
        "walls": walls,
        "cpu_of": cpu_of,
        "big": {k: v for k, v in big.items() if k not in ("execution",)},
    }
    Path(args.json).write_text(json.dumps(data, indent=1))
    return render(data, Path(args.out))


def render(data: dict[str, Any], out: Path) -> int:
    """Write the section from the measurements of a run."""
    n = data["size"]
    elapsed, load_at_start = data["elapsed"], data["load"]
    single, verify = data["single"], data["verify"]
    capture_wall, capture_cpu, *writer = data["capture"]
    capture_write, capture_commit = writer or (float("nan"), float("nan"))
    walls, cpu_of, big = data["walls"], data["cpu_of"], data["big"]
    floor_single = single["commit"] + single["sign"]
    tail_rate = big["tail_runs"] / big["tail_cpu"]
    tail_wall = big["tail_runs"] / big["tail"]
    ext = big["extend"]
    ext_cpu, ext_wall = ext["runs"] / ext["ingest_cpu"], ext["runs"] / ext["ingest"]
    check, audit = big["check"], big["audit"]
    lookup = float(big["lookup"]["out"])
    ver_min, app_min = min(walls["version"]), min(walls["append"])
    lines = [
        "## Issue 13: the targets",
        "",
        "Generated by `python bench/issue13.py"
        + (f" --size {n}" if n != 100_000 else "")
        + "`; do not edit by hand. Every figure of the table comes from this one run "
        f"({elapsed / 60:.0f} min), each beside its floor measured in the same run. Machine: "
        f"{os.cpu_count()} shared cores, {platform.machine()}, Python "
        f"{platform.python_version()}, load average at start "
        f"{' '.join(f'{x:.2f}' for x in load_at_start)}; runid {__version__}. Rates in CPU "
        "time are what the process itself spent (other processes on the shared cores do not "
        "inflate them); wall times include waiting for a core and for the shared disk.",
        "",
        "| figure | now (this run) | floor or peer (this run) | target | met? |",
        "|---|---|---|---|---|",
        f"| single durable append (`Log.append_record`: record, envelope, commit; a checkpoint "
        f"at most once a second, ADR 0019) "
        f"| {1 / single['append']:,.0f}/s ({us(single['append'])}) | one durable commit "
        f"{us(single['commit'])}; with the envelope's Ed25519 signature ({us(single['sign'])}) "
        f"{us(floor_single)} ({1 / floor_single:,.0f}/s) | ≥ 2,000/s | "
        f"{'yes' if single['append'] <= 1 / 2000 else 'no'}: "
        f"{single['append'] / floor_single:.1f}x the floor |",
        f"| batched append of signed records at {n:,} (`Log.sign` + `Log.append`, batches "
        f"of 1,000, last tenth) | {tail_rate:,.0f}/s CPU, {tail_wall:,.0f}/s wall | "
        f"(the same log's first tenth: see Log at scale) | ≥ 20,000/s at 1M | "
        f"{'yes' if tail_wall >= 20_000 and n >= 1_000_000 else 'no'} |",
        f"| the same at {ext['size']:,} with batches of 10,000 ({ext['runs']:,} runs "
        f"appended) | {ext_cpu:,.0f}/s CPU, {ext_wall:,.0f}/s wall | | ≥ 20,000/s at 1M | "
        f"{'yes' if ext_wall >= 20_000 and ext['size'] >= 1_000_000 else 'no'} |",
        f"| durable capture (sync, instant model): caller wall, caller CPU | {us(capture_wall)}"
        f", {us(capture_cpu)} | one durable commit {us(single['commit'])} | ≤ floor + 100 µs; "
        f"CPU ≤ 100 µs | {'yes' if capture_wall <= single['commit'] + 1e-4 else 'no'}, "
        f"{'yes' if capture_cpu <= 1e-4 else 'no'} |",
        f"| `runid --version`, `runid log append` as new processes: best wall of rounds "
        f"(median CPU) | {ver_min * 1e3:.0f} ms ({cpu_of['version'] * 1e3:.0f} ms), "
        f"{app_min * 1e3:.0f} ms ({cpu_of['append'] * 1e3:.0f} ms) | `python -c pass` "
        f"{min(walls['floor']) * 1e3:.0f} ms ({cpu_of['floor'] * 1e3:.0f} ms) | "
        "≤ 100 ms, ≤ 200 ms (quiet machine) | "
        f"{'yes' if ver_min <= 0.1 else 'no'}, {'yes' if app_min <= 0.2 else 'no'} |",
        f"| `runid check --all -q` at {n:,} runs | {n / check['wall']:,.0f} runs/s "
        f"({n / check['cpu']:,.0f} per CPU second), peak {check['rss'] / 2**20:,.0f} MiB | "
        f"one Ed25519 verification a run: {1 / verify:,.0f}/s on one core | ≥ 20,000 runs/s; "
        f"≤ 200 MB flat | {'yes' if n / check['wall'] >= 20_000 else 'no'}; "
        f"{'yes' if check['rss'] <= 200e6 else 'no'} |",
        f"| first lookup after a bulk import of {n:,} | {lookup * 1e3:,.0f} ms | | ≤ 1 s | "
        f"{'yes' if lookup <= 1 else 'no'} |",
        f"| `runid log audit` at {n:,} | {n / audit['wall']:,.0f} entries/s "
        f"({n / audit['cpu']:,.0f} per CPU second), peak {audit['rss'] / 2**20:,.0f} MiB, "
        f"progress bar on a terminal | one Ed25519 verification an entry: "
        f"{1 / verify:,.0f}/s on one core | ≥ 20,000/s; memory flat | "
        f"{'yes' if n / audit['wall'] >= 20_000 else 'no'}; "
        f"{'yes' if audit['rss'] <= 200e6 else 'no'} |",
    ]
    per_check = check["cpu"] / n
    per_audit = audit["cpu"] / n
    lines += [
        "",
        "How each figure stands, from the figures above (a reason where a target is not met):",
        "",
        f"- **Single durable append**: its floor is one durable commit plus the envelope's "
        f"Ed25519 signature, {us(floor_single)} here (the checkpoint is no longer signed per "
        f"append: at most once a second, and on demand for a receipt or proof, ADR 0019); the "
        f"append takes {us(single['append'])}: the rest is the record's build and validation "
        f"and a larger commit (entry, key index rows, subtree hashes, tree state, lookup rows "
        f"and marks: about ten WAL frames instead of one or two). 2,000/s means ≤ 500 µs an "
        f"append: it holds while this shared disk is quiet; under other processes' I/O one "
        f"commit alone takes milliseconds here.",
        f"- **Batched append at {n:,}**: {1e6 / tail_rate:.0f} µs of CPU a run at that size, "
        f"against {1e6 * big['ingest_cpu'] / n:.0f} µs over the whole build. Each run's three "
        "random keys (leaf hash, blob digest, execution id) go to the key index in levels of "
        "ADR 0020: a batch dirties a few hundred pages of a small level 0 instead of a page "
        "of three big B-trees per run (873 WAL pages a batch of 1,000 at 200k runs, 2,103 "
        "before), and merges rewrite the bigger levels in key order every 10,000 and 100,000 "
        "entries. What still grows with the log: every leaf hash and blob digest is looked up "
        "in the three levels before it is written (a leaf is in the log once, a content "
        "stored once: 6,000 B-tree probes a batch, a fifth of its time at 600k runs), the "
        "merges into a last level of 3M keys, and the entries themselves (~2 KB a run, written "
        "to the WAL and again to the database file at each checkpoint). With batches of "
        f"10,000: {ext_wall:,.0f}/s wall.",
        f"- **Durable capture**: three steps in series for one call. The caller builds the "
        f"declaration id and the record ({us(capture_cpu)} of its CPU); the writer thread "
        f"signs the envelope and appends it ({us(capture_write)}, of which the durable "
        f"COMMIT {us(capture_commit)}: about ten WAL frames, entry, key index rows, output "
        f"blob, lookup rows, where the floor's commit of one row writes one or two, "
        f"{us(single['commit'])}); the hand-offs between the threads take the rest "
        f"({us(max(capture_wall - capture_cpu - capture_write, 0))}). With the commit at "
        f"the floor, the work before it (the caller's record, the signature, the append's "
        f"statements and Merkle update: {us(capture_wall - capture_commit)} here) is more "
        f"than the 100 µs the target leaves: met only if that CPU work fell by about "
        f"{max(0.0, 1 - 1e-4 / max(capture_wall - capture_commit, 1e-9)):.0%}. Concurrent "
        f"callers share one commit (ADR 0006), which the single-caller figure does not show.",
        f"- **`check --all` and `log audit`**: every run's envelope signature is verified "
        f"({us(verify)} an Ed25519 verification here, at most {1 / verify:,.0f}/s on one "
        f"core); the check takes {us(per_check)} of CPU a run and the audit {us(per_audit)} "
        "an entry, so one core cannot reach 20,000/s: past 50,000 entries the envelopes are "
        "verified by worker processes on every CPU (`runid.log._parallel`), and the rate "
        "above is what two cores give when they are free (on a loaded machine, the rate per "
        "CPU second times the cores free). Memory stays flat: both read the log in pages "
        "and keep counts.",
        "- **Start-up**: the best wall time of rounds is the quiet-machine figure; the CPU "
        "time shows what the command costs whatever the load.",
    ]
    write_section(out, "bench/issue13.py", lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
