"""Benchmark: `runid diff` of two ~500 KB declarations that differ in a few leaves.

Run: ``python bench/diff.py`` (``--quick`` for a short run). Writes its section of
docs/performance.md. Contenders run in one process, interleaved round by round, so the noise of
a shared machine falls on all alike; medians and min-max over rounds.

* **runid compare** — :func:`runid.diff.compare` of two resolved sides: what ``runid diff``
  does once its arguments are resolved (their identities are computed while validating them).
* **runid diff_declarations** — the same from two bare declarations: validation and identity
  of both, then the walk. The issue's bar (< 50 ms median) is checked on this, the larger one.
* **identity of both (floor)** — the part of the above that is not the diff.
* **DeepDiff** (if installed) — the popular general-purpose Python object diff, ``DeepDiff(a,
  b)`` with default options: a peer that walks everything and aligns nothing.
* **difflib over pretty JSON** — what ``diff <(jq -S . a) <(jq -S . b)`` does: line diff of the
  sorted, indented documents.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _report import write_section
from runid import __version__
from runid.canonical import canonicalize
from runid.diff import compare, diff_declarations
from runid.digest import content_ref
from runid.examples import sized_declaration
from runid.identity import compute_identity
from runid.resolve import subject_of_declaration

ROOT = Path(__file__).resolve().parent.parent
SLOW_ROUNDS = 5


def pair(*, insert: bool) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Two ~500 KB declarations (3000 messages, 50 retrieved chunks) differing in four
    leaves — and, with ``insert``, also by one message inserted mid-history. Returns the
    expected number of changes too."""
    a = sized_declaration(messages=3000, chunks=50)
    b = copy.deepcopy(a)
    b["parameters"]["temperature"]["value"] = 0.7
    b["model"]["version"] = "gpt-4o-mini-2024-09-01"
    b["inputs"]["messages"][1500]["content"] = content_ref("an edited turn")
    b["context"]["retrieved"][20]["content"] = content_ref("an edited chunk")
    if insert:
        b["inputs"]["messages"].insert(700, {"role": "user", "content": content_ref("new turn")})
    return a, b, 4 + insert


def contenders(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Callable[[], object]]:
    sa, sb = subject_of_declaration(a), subject_of_declaration(b)
    fns: dict[str, Callable[[], object]] = {
        "runid compare (sides resolved)": lambda: compare(sa, sb),
        "runid diff_declarations (validate + identity + walk)": lambda: diff_declarations(a, b),
        "identity of both (floor of the above)": lambda: (compute_identity(a), compute_identity(b)),
    }
    try:
        from deepdiff import DeepDiff  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        pass
    else:
        fns["DeepDiff (deepdiff package, defaults)"] = lambda: DeepDiff(a, b)

    def line_diff() -> object:
        left = json.dumps(a, indent=1, sort_keys=True).splitlines()
        right = json.dumps(b, indent=1, sort_keys=True).splitlines()
        return list(difflib.unified_diff(left, right, lineterm="", n=0))

    fns["difflib over sorted, indented JSON lines"] = line_diff
    return fns


def measure(
    fns: dict[str, Callable[[], object]], rounds: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall and CPU seconds per call of each contender, one call per round per contender,
    interleaved. CPU time (this process only) is the figure that other processes competing
    for the cores inflate least."""
    for fn in fns.values():
        fn()  # warm up
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            if len(wall[name]) >= SLOW_ROUNDS and statistics.median(wall[name]) > 1.0:
                continue  # a peer that takes seconds: its median is clear after a few rounds
            start, start_cpu = time.perf_counter_ns(), time.process_time_ns()
            fn()
            cpu[name].append((time.process_time_ns() - start_cpu) / 1e9)
            wall[name].append((time.perf_counter_ns() - start) / 1e9)
    return wall, cpu


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} µs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "performance.md"))
    args = parser.parse_args()
    rounds = 5 if args.quick else 21
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        "## Diff",
        "",
        "Generated by `python bench/diff.py`; do not edit by hand. Two declarations built by",
        "`sized_declaration(3000, 50)` differ in four leaves (a parameter, the model version, one",
        "message of 3000, one retrieved chunk of 50); the second case also inserts a message",
        f"mid-history. Per call: median (min-max) over {rounds} interleaved rounds ({SLOW_ROUNDS}",
        "for a contender slower than 1 s a call).",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, load average at start {load}; runid {__version__}.",
        "",
        "On a shared machine under load, wall-clock times include waiting for a core; the CPU",
        "median (this process's own time) is the figure other processes inflate least.",
        "",
        "| case | size (canonical) | contender | median | min-max | CPU median | changes found |",
        "|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for insert in (False, True):
        a, b, expected = pair(insert=insert)
        size = f"{len(canonicalize(a)):,} B"
        case = "4 leaves + 1 inserted message" if insert else "4 leaves"
        found = len(diff_declarations(a, b))
        assert found == expected, (found, expected)  # the bench measures a correct diff
        samples, cpu = measure(contenders(a, b), rounds)
        for name, s in samples.items():
            median = statistics.median(s)
            note = str(found) if name.startswith("runid") else ""
            lines.append(
                f"| {case} | {size} | {name} | {fmt(median)} | {fmt(min(s))}-{fmt(max(s))} "
                f"| {fmt(statistics.median(cpu[name]))} | {note} |"
            )
            print(f"{case:<30} {name:<55} {fmt(median):>10}", flush=True)
        medians = {name: statistics.median(s) for name, s in samples.items()}
        cpu_medians = {name: statistics.median(s) for name, s in cpu.items()}
        verdicts.append((case, medians, cpu_medians))
    lines += ["", "### Target (issue 5: < 50 ms median)", ""]
    for case, medians, cpu_medians in verdicts:
        walk = medians["runid compare (sides resolved)"]
        full = medians["runid diff_declarations (validate + identity + walk)"]
        full_cpu = cpu_medians["runid diff_declarations (validate + identity + walk)"]
        floor = medians["identity of both (floor of the above)"]
        lines.append(
            f"- {case}: the diff of resolved sides {fmt(walk)} "
            f"({'met' if walk < 0.050 else 'NOT met'}); end to end {fmt(full)} wall "
            f"({'met' if full < 0.050 else 'NOT met'}), {fmt(full_cpu)} CPU "
            f"({'met' if full_cpu < 0.050 else 'NOT met'}), of which validating and hashing "
            f"both declarations {fmt(floor)}"
        )
    write_section(Path(args.out), "bench/diff.py", lines)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
