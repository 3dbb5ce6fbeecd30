"""Benchmark: the log at scale (issue 13): ingest, first lookup, ``check --all``, ``log audit``.

Run: ``pip install -e . && python bench/scale.py`` (``--sizes 1000,10000,100000``; add
1000000 for the full curve, which takes long on 2 cores; ``--baseline SRC`` to run everything a
second time with another source tree first on ``PYTHONPATH``, e.g. an earlier revision from
``git archive REV src | tar -x -C DIR``). Updates the "Log at scale" section of
docs/performance.md.

Every figure is a new process, so the baseline runs the same way: a log of N runs of the five
example declarations is built by ``Log.sign`` (records signed by the log's own key; signing is
timed apart) and ``Log.append`` in batches of 1,000 with each run's output as a blob; then, each
in a new process: the first lookup of an execution id; ``runid check --all -q`` with the
example policy; ``runid log audit``. For each, the wall time, the CPU time (user + system) and
the peak memory (maximum resident set) of that process, from ``wait4``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "examples" / "policies" / "acme-support.yaml"
BATCH = 1000


def build(home_dir: Path, size: int) -> dict[str, Any]:
    """Build a log of ``size`` runs in ``home_dir`` (runs in the process of the tree tested)."""
    from runid import canonical
    from runid.digest import content_ref
    from runid.examples import EXAMPLES, example
    from runid.home import Home
    from runid.identity import compute_identity
    from runid.log import Log
    from runid.record import new_record

    home = Home(home_dir)
    home.init_keys("runid.bench/scale")
    declarations = [example(name) for name in list(EXAMPLES)[:5]]
    ids = [compute_identity(d).declaration_id for d in declarations]
    now = datetime.now(UTC)
    signing = ingest = ingest_cpu = 0.0
    tail = tail_cpu = 0.0  # the last tenth of the runs: the rate at the log's full size
    tail_runs = 0
    first_execution = ""
    with Log.open(home) as log:
        # The declarations once, as capture stores them (blobs in the append transaction).
        log.append([], blobs=[canonical.canonicalize(d) for d in declarations])
        done = 0
        while done < size:
            count = min(BATCH, size - done)
            start = time.perf_counter()
            envelopes, blobs = [], []
            for i in range(done, done + count):
                output = b"answer %d" % i
                record = new_record(
                    ids[i % len(ids)],
                    issuer=log.key,  # type: ignore[arg-type]
                    started_at=now,
                    ended_at=now,
                    outputs=[content_ref(output, "text/plain")],
                )
                if not first_execution:
                    first_execution = record["execution_id"]
                envelopes.append(log.sign(record))
                blobs.append(output)
            middle = time.perf_counter()
            middle_cpu = time.process_time()
            log.append(envelopes, blobs=blobs)
            wall = time.perf_counter() - middle
            cpu = time.process_time() - middle_cpu
            ingest += wall
            ingest_cpu += cpu
            if done + count > size - max(size // 10, count):
                tail += wall
                tail_cpu += cpu
                tail_runs += count
            signing += middle - start
            done += count
    return {
        "signing": signing,
        "ingest": ingest,
        "ingest_cpu": ingest_cpu,
        "tail": tail,
        "tail_cpu": tail_cpu,
        "tail_runs": tail_runs,
        "execution": first_execution,
    }


_LOOKUP = """
import sys, time
from pathlib import Path
from runid.home import Home
from runid.log import Log
start = time.perf_counter()
with Log.open(Home(Path(sys.argv[1])), need_key=False) as log:
    log.entry(sys.argv[2])
print(time.perf_counter() - start)
"""


def measured(argv: list[str], env: dict[str, str], *, ok: tuple[int, ...] = (0,)) -> dict[str, Any]:
    """Wall, CPU and peak memory of one process; its standard output."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(argv)}: exit {proc.returncode}\n{err.decode()[-3000:]}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss": usage.ru_maxrss * 1024,
        "out": out.decode(),
        "err": err.decode(),
    }


def run_size(size: int, env: dict[str, str], tmp: Path) -> dict[str, Any]:
    home = tmp / f"home-{size}"
    runid = [sys.executable, "-c", "from runid._cli import main; main()"]
    built = measured([sys.executable, __file__, "--build", str(home), "--size", str(size)], env)
    result: dict[str, Any] = {"size": size, **json.loads(built["out"].splitlines()[-1])}
    result["build_rss"] = built["rss"]
    lookup = measured([sys.executable, "-c", _LOOKUP, str(home), result["execution"]], env)
    result["lookup"] = lookup
    home_env = {**env, "RUNID_HOME": str(home)}
    result["check"] = measured(
        [*runid, "check", "--all", "-q", "--policy", str(POLICY)], home_env, ok=(0, 1)
    )
    result["audit"] = measured([*runid, "log", "audit"], home_env)
    result["db_bytes"] = (home / "log.sqlite3").stat().st_size
    shutil.rmtree(home, ignore_errors=True)
    return result


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def secs(s: float) -> str:
    return f"{s * 1e3:.0f} ms" if s < 1 else f"{s:.1f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--baseline", metavar="SRC")
    parser.add_argument("--baseline-name", default="before")
    parser.add_argument(
        "--baseline-max", type=int, default=100_000, help="largest size the baseline runs at"
    )
    parser.add_argument("--out", default=str(ROOT / "docs" / "performance.md"))
    parser.add_argument("--build", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        print(json.dumps(build(Path(args.build), args.size)))
        return 0
    sys.path.insert(0, str(Path(__file__).parent))
    import runid
    from _report import write_section

    tmp = Path(tempfile.mkdtemp(prefix="runid-bench-scale-"))
    env = {**os.environ, "NO_COLOR": "1"}
    trees = {"now": env}
    if args.baseline:
        trees[args.baseline_name] = {**env, "PYTHONPATH": str(Path(args.baseline).resolve())}
    load_at_start = os.getloadavg()
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        for tree, tree_env in trees.items():
            if tree != "now" and size > args.baseline_max:
                continue
            r = run_size(size, tree_env, tmp)
            r["tree"] = tree
            rows.append(r)
            print(
                f"{tree:>10} {size:>9,}: ingest {size / r['ingest_cpu']:>9,.0f}/s CPU "
                f"({size / r['ingest']:,.0f}/s)  "
                f"first lookup {secs(float(r['lookup']['out']))}  "
                f"check {size / r['check']['cpu']:>8,.0f}/s CPU {mib(r['check']['rss'])}  "
                f"audit {size / r['audit']['cpu']:>8,.0f}/s CPU {mib(r['audit']['rss'])}",
                flush=True,
            )
    lines = [
        "## Log at scale",
        "",
        "Generated by `python bench/scale.py`; do not edit by hand. A log of N runs of the five "
        "example declarations (each run's output a blob), built with `Log.sign` and "
        f"`Log.append` in batches of {BATCH:,}; then each figure in a new process. Rates are "
        "runs per second of CPU time (user + system) of that process, which other processes "
        "on the shared cores do not inflate; memory is its peak resident set.",
        "",
        f"Machine: {os.cpu_count()} shared cores, {platform.machine()}, Python "
        f"{platform.python_version()}, load average at start "
        f"{' '.join(f'{x:.2f}' for x in load_at_start)}; runid {runid.__version__}.",
        "",
        "| tree | runs | signing (rate) | batched `Log.append`: runs/s CPU (wall); last tenth "
        "| database | first lookup (wall) | `check --all -q`: runs/s CPU, wall, peak memory "
        "| `log audit`: entries/s CPU, wall, peak memory |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        n = r["size"]
        c, a = r["check"], r["audit"]
        lines.append(
            f"| {r['tree']} | {n:,} | {n / r['signing']:,.0f}/s | "
            f"{n / r['ingest_cpu']:,.0f}/s ({n / r['ingest']:,.0f}/s); "
            f"{r['tail_runs'] / r['tail_cpu']:,.0f}/s ({r['tail_runs'] / r['tail']:,.0f}/s) | "
            f"{mib(r['db_bytes'])} | {secs(float(r['lookup']['out']))} | "
            f"{n / c['cpu']:,.0f}/s, {secs(c['wall'])}, {mib(c['rss'])} | "
            f"{n / a['cpu']:,.0f}/s, {secs(a['wall'])}, {mib(a['rss'])} |"
        )
    out = Path(args.out)
    write_section(out, "bench/scale.py", lines)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
