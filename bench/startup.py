"""Benchmark: how long the ``runid`` command takes to start (issue 13), next to a bare Python.

Run: ``pip install -e . && python bench/startup.py`` (``--quick`` for a short run,
``--no-callgrind`` to skip the instruction counts, ``--baseline SRC`` to run every ``runid``
command a second time with another source tree first on ``PYTHONPATH``, e.g. an earlier
revision from ``git archive REV src | tar -x -C DIR``, interleaved with this one). Updates the
"Start-up" section of docs/performance.md.

Each command runs as a new process, as a user or a script runs it: the console script
``runid`` the installer wrote, with the interpreter of this environment. The contenders are
interleaved round by round (one run of each per round), so the noise of a shared machine falls
on all of them alike. Per command: the wall time (median and minimum over rounds) and the CPU
time of the process (user + system, from ``getrusage``), which waiting for a core does not inflate;
with valgrind installed, the instructions the process executes (callgrind), which do not depend
on the load at all. The floor is the same interpreter running ``pass``.
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import runid
from _report import write_section
from runid import __version__

ROOT = Path(__file__).resolve().parent.parent
DECLARATION = ROOT / "examples" / "declarations" / "chat-hosted-model.json"


def runid_command() -> list[str]:
    """The installed console script, run by this interpreter (as its shebang would)."""
    script = Path(sys.executable).parent / "runid"
    if script.is_file():
        return [sys.executable, str(script)]
    return [sys.executable, "-c", "from runid._cli import main; main()"]


def run_once(argv: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one run of ``argv``; fails loudly if the command fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True
    )
    _out, err = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return wall


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # the child is reaped by then
    wall = run_once(argv, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def instructions(argv: list[str], env: dict[str, str]) -> int | None:
    """Instructions executed by one run of ``argv`` under callgrind (None without valgrind)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    proc = subprocess.run(
        [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"Collected : (\d+)", proc.stderr)
    return int(found.group(1)) if found else None


def import_profile(env: dict[str, str], statement: str, runs: int) -> list[tuple[float, str]]:
    """The modules that cost most to import for ``statement`` (cumulative µs, median)."""
    cumulative: dict[str, list[int]] = collections.defaultdict(list)
    for _ in range(runs):
        err = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", statement],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stderr
        for line in err.splitlines():
            if not line.startswith("import time:") or "[us]" in line:
                continue
            _self, cum, name = line[len("import time:") :].split("|")
            cumulative[name.strip()].append(int(cum))
    rows = [(statistics.median(v), name) for name, v in cumulative.items()]
    return sorted(rows, reverse=True)


def fmt(seconds: float) -> str:
    return f"{seconds * 1e3:.0f} ms" if seconds >= 0.01 else f"{seconds * 1e3:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=0)
    parser.add_argument("--no-callgrind", action="store_true")
    parser.add_argument("--baseline", metavar="SRC", help="another runid source tree to compare")
    parser.add_argument("--baseline-name", default="before", help="what to call it")
    parser.add_argument("--out", default=str(ROOT / "docs" / "performance.md"))
    args = parser.parse_args()
    rounds = args.rounds or (5 if args.quick else 21)

    tmp = Path(tempfile.mkdtemp(prefix="runid-bench-startup-"))
    env = {**os.environ, "RUNID_HOME": str(tmp / "home"), "NO_COLOR": "1"}
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    # As an installer does: the modules' bytecode compiled ahead (this environment may set
    # PYTHONDONTWRITEBYTECODE, and a module compiled at every start is not what users run).
    package = Path(runid.__file__).parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
    if args.baseline:
        baseline = Path(args.baseline) / "runid"
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(baseline)], check=True)
    command = runid_command()
    output = tmp / "output.txt"
    output.write_text("Refund on its way.\n")
    run_once([*command, "keys", "init", "--name", "runid.bench/startup"], env)
    run_once([*command, "log", "append", str(DECLARATION), "--output", str(output)], env)

    contenders: dict[str, list[str]] = {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "python -c 'import click' (the CLI library alone)": [
            sys.executable,
            "-c",
            "import click",
        ],
        "python -c 'import runid'": [sys.executable, "-c", "import runid"],
        "runid --version": [*command, "--version"],
        "runid id FILE": [*command, "id", str(DECLARATION)],
        "runid log show 0": [*command, "log", "show", "0"],
        "runid log append FILE --output FILE (durable)": [
            *command,
            "log",
            "append",
            str(DECLARATION),
            "--output",
            str(output),
        ],
    }
    envs = {name: env for name in contenders}
    if args.baseline:
        old_env = {**env, "PYTHONPATH": str(Path(args.baseline).resolve())}
        for name, argv in list(contenders.items()):
            if name.startswith(("runid", "python -c 'import runid'")):
                contenders[f"{name} ({args.baseline_name})"] = argv
                envs[f"{name} ({args.baseline_name})"] = old_env
    targets = {
        "runid --version": 0.100,
        "runid id FILE": 0.200,
        "runid log show 0": 0.200,
        "runid log append FILE --output FILE (durable)": 0.200,
    }
    load_at_start = os.getloadavg()
    walls: dict[str, list[float]] = {name: [] for name in contenders}
    cpus: dict[str, list[float]] = {name: [] for name in contenders}
    for name, argv in contenders.items():  # warm the page cache
        run_once(argv, envs[name])
    for _ in range(rounds):
        for name, argv in contenders.items():
            wall, cpu = timed(argv, envs[name])
            walls[name].append(wall)
            cpus[name].append(cpu)
    counts: dict[str, int | None] = {}
    if not args.no_callgrind:
        for name, argv in contenders.items():
            counts[name] = instructions(argv, envs[name])
    profile = import_profile(env, "import runid._cli", 3 if args.quick else 7)

    floor_wall = statistics.median(walls["python -c pass (floor)"])
    floor_cpu = statistics.median(cpus["python -c pass (floor)"])
    floor_count = counts.get("python -c pass (floor)")
    lines = [
        "## Start-up",
        "",
        "Generated by `python bench/startup.py`; do not edit by hand. Each command is a new "
        "process (the installed `runid` console script, bytecode compiled ahead as an installer "
        "does), interleaved round by round with the "
        f"others; median and minimum over {rounds} rounds. CPU is the process's user + system "
        "time, which waiting for a core does not inflate; instructions are counted by callgrind "
        "(one run each), which the load does not change at all.",
        "",
        f"Machine: {os.cpu_count()} shared cores, {platform.machine()}, Python "
        f"{platform.python_version()}, load average at start "
        f"{' '.join(f'{x:.2f}' for x in load_at_start)}; runid {__version__}.",
        "",
        "| command | wall median | wall min | CPU median | instructions | vs the floor "
        "(CPU; instructions) | target (quiet machine) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in contenders:
        wall = statistics.median(walls[name])
        cpu = statistics.median(cpus[name])
        count = counts.get(name)
        shown = f"{count / 1e6:,.0f} M" if count else "-"
        ratio = f"{cpu / floor_cpu:.1f}x" if floor_cpu else "-"
        if count and floor_count:
            ratio += f"; {count / floor_count:.1f}x"
        target = targets.get(name)
        verdict = ""
        if target is not None:
            met = min(walls[name]) <= target
            verdict = f"≤ {target * 1e3:.0f} ms: {'met' if met else 'NOT met'} (min)"
        lines.append(
            f"| `{name}` | {fmt(wall)} | {fmt(min(walls[name]))} | {fmt(cpu)} | {shown} | "
            f"{ratio} | {verdict} |"
        )
        print(f"{name:<50} {fmt(wall):>8} {fmt(min(walls[name])):>8} {fmt(cpu):>8} {shown:>8}")
    lines += [
        "",
        f"The floor, a bare interpreter, takes {fmt(floor_wall)} wall and {fmt(floor_cpu)} CPU "
        "here. The minimum is the figure closest to a quiet machine: a round in which no other "
        "process took the core. The durable append includes its fsync.",
        "",
        "Heaviest imports of `import runid._cli` (`python -X importtime`, cumulative, "
        "median of runs):",
        "",
        "| module | cumulative |",
        "|---|---|",
    ]
    for micros, module in profile[:12]:
        lines.append(f"| `{module}` | {micros / 1e3:.1f} ms |")
    out = Path(args.out)
    write_section(out, "bench/startup.py", lines)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
