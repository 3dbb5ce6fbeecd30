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
import math
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


def extend(home_dir: Path, batches: int, batch: int) -> dict[str, Any]:
    """Append ``batches`` batches of ``batch`` runs to the log built in ``home_dir``: the rate
    of the batched ingest at that log's size, with larger batches."""
    from runid.digest import content_ref
    from runid.examples import EXAMPLES, example
    from runid.home import Home
    from runid.identity import compute_identity
    from runid.log import Log
    from runid.record import new_record

    ids = [compute_identity(example(name)).declaration_id for name in list(EXAMPLES)[:5]]
    now = datetime.now(UTC)
    wall = cpu = 0.0
    with Log.open(Home(home_dir)) as log:
        start_size = log.size()
        for b in range(batches):
            envelopes, blobs = [], []
            for i in range(batch):
                output = b"extra answer %d %d" % (b, i)
                record = new_record(
                    ids[i % len(ids)],
                    issuer=log.key,  # type: ignore[arg-type]
                    started_at=now,
                    ended_at=now,
                    outputs=[content_ref(output, "text/plain")],
                )
                envelopes.append(log.sign(record))
                blobs.append(output)
            start, start_cpu = time.perf_counter(), time.process_time()
            log.append(envelopes, blobs=blobs)
            wall += time.perf_counter() - start
            cpu += time.process_time() - start_cpu
    return {"size": start_size, "runs": batches * batch, "ingest": wall, "ingest_cpu": cpu}


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


def run_size(size: int, env: dict[str, str], tmp: Path, *, keep: bool = False) -> dict[str, Any]:
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
    result["home"] = str(home)
    if not keep:
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
    parser.add_argument("--svg", default=str(ROOT / "docs" / "scale.svg"), help="the plot")
    parser.add_argument("--render", metavar="JSON", help="re-render the results of a run")
    parser.add_argument("--build", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--extend", help=argparse.SUPPRESS)
    parser.add_argument("--batches", type=int, default=5, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=10_000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        print(json.dumps(build(Path(args.build), args.size)))
        return 0
    if args.extend:
        print(json.dumps(extend(Path(args.extend), args.batches, args.batch)))
        return 0
    sys.path.insert(0, str(Path(__file__).parent))
    import runid
    from _report import write_section

    if args.render:
        saved = json.loads(Path(args.render).read_text())
        return report(saved["rows"], saved["load"], args, write_section, runid.__version__)
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
            raw = tmp / "results.json"
            raw.write_text(json.dumps({"rows": rows, "load": load_at_start}))
    shutil.copy(tmp / "results.json", Path(args.svg).with_suffix(".json"))
    shutil.rmtree(tmp, ignore_errors=True)
    return report(rows, load_at_start, args, write_section, runid.__version__)


def report(
    rows: list[dict[str, Any]],
    load_at_start: tuple[float, ...],
    args: argparse.Namespace,
    write_section: Any,
    version: str,
) -> int:
    """Write the section (and the plot) from the results of a run."""
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
        f"{' '.join(f'{x:.2f}' for x in load_at_start)}; runid {version}.",
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
    svg = Path(args.svg)
    svg.write_text(plot(rows), "utf-8")
    lines += [
        "",
        f"![Rates and peak memory against the log's size, CPU time, this run]({svg.name}) "
        "(`docs/scale.svg`, drawn by the script; the raw results are in `docs/scale.json`).",
    ]
    out = Path(args.out)
    write_section(out, "bench/scale.py", lines)
    print(f"wrote {out} and {svg}")
    return 0


_SERIES = (
    ("batched Log.append, runs/s CPU", lambda r: r["size"] / r["ingest_cpu"], "#1f77b4"),
    ("check --all, runs/s CPU", lambda r: r["size"] / r["check"]["cpu"], "#d62728"),
    ("log audit, entries/s CPU", lambda r: r["size"] / r["audit"]["cpu"], "#2ca02c"),
)


def plot(rows: list[dict[str, Any]]) -> str:
    """Two log-log panels drawn by hand (no plotting library here): the rates, and the peak
    memory of check --all, against the log's size; one line per tree (dashed: the baseline)."""
    width, height, pad = 860, 360, 60
    panel = (width - 3 * pad) // 2
    trees = list(dict.fromkeys(r["tree"] for r in rows))
    sizes = sorted({r["size"] for r in rows})
    x_lo, x_hi = math.log10(min(sizes)), math.log10(max(sizes)) + 1e-9

    def sx(size: float, left: int) -> float:
        return left + (math.log10(size) - x_lo) / (x_hi - x_lo or 1) * panel

    def sy(value: float, lo: float, hi: float) -> float:
        return height - pad - (math.log10(value) - lo) / (hi - lo or 1) * (height - 2 * pad)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    panels = [
        ("rate (per second of CPU)", [(n, f, c) for n, f, c in _SERIES], pad),
        (
            "check --all peak memory (MiB)",
            [("check --all peak RSS", lambda r: r["check"]["rss"] / 2**20, "#9467bd")],
            2 * pad + panel,
        ),
    ]
    for title, series, left in panels:
        values = [f(r) for r in rows for _n, f, _c in series]
        lo, hi = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
        out.append(f'<text x="{left}" y="{pad - 25}" font-weight="bold">{title}</text>')
        out.append(
            f'<rect x="{left}" y="{pad}" width="{panel}" height="{height - 2 * pad}" '
            'fill="none" stroke="#999"/>'
        )
        for power in range(lo, hi + 1):
            y = sy(10**power, lo, hi)
            out.append(f'<text x="{left - 6}" y="{y + 4:.0f}" text-anchor="end">1e{power}</text>')
            out.append(
                f'<line x1="{left}" x2="{left + panel}" y1="{y:.0f}" y2="{y:.0f}" stroke="#eee"/>'
            )
        for size in sizes:
            x = sx(size, left)
            out.append(
                f'<text x="{x:.0f}" y="{height - pad + 15}" text-anchor="middle">{size:,}</text>'
            )
        for _name, f, colour in series:
            for tree in trees:
                points = [
                    (sx(r["size"], left), sy(f(r), lo, hi)) for r in rows if r["tree"] == tree
                ]
                dash = "" if tree == "now" else ' stroke-dasharray="5,4"'
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
                out.append(
                    f'<polyline points="{path}" fill="none" stroke="{colour}" '
                    f'stroke-width="2"{dash}/>'
                )
                out += [
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in points
                ]
        for i, (name, _f, colour) in enumerate(series):
            y = height - 18 - 14 * (len(series) - 1 - i)
            out.append(f'<rect x="{left}" y="{y - 9}" width="10" height="10" fill="{colour}"/>')
            out.append(f'<text x="{left + 15}" y="{y}">{name}</text>')
    legend = ", ".join(f"{'solid' if t == 'now' else 'dashed'}: {t}" for t in trees)
    out.append(f'<text x="{pad}" y="{height - 2}" fill="#555">{legend}; runs on the x axis</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
