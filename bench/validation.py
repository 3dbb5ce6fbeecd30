"""Benchmark: validation time per byte, from 1 KiB to 64 MiB (it should be flat).

Run: ``pip install -e '.[test]' && python bench/validation.py`` (``--quick``: up to 4 MiB;
``--max-mib N``: up to N MiB). Updates the "Validation" section of docs/performance.md.

Issue 12 found validation quadratic in the number of findings (40,000 unknown keys, 429 KB,
took 16.5 s; a 389 KB YAML policy 18 s). Three invalid inputs grow by 4x steps:

* a declaration with many unknown members (one finding each, in one object);
* a declaration with many invalid messages (two findings each, nested in an array);
* a YAML policy with many unknown members (PyYAML on libyaml, then the policy schema).

For each size: the strict JSON parse (or the YAML load), then validation alone
(``runid.problems`` / the policy schema), in nanoseconds per input byte, and how many problems
are listed (at most 100 per object or array, the rest counted by ``E_MORE``).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from _report import write_section
from runid import __version__, canonical
from runid.declaration import problems
from runid.errors import PolicyError
from runid.examples import example
from runid.policy import parse_policy, policy_problems

ROOT = Path(__file__).resolve().parent.parent
KIB = 1024
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the document to check


def unknown_members(size: int) -> bytes:
    """A declaration of about ``size`` bytes: spec, then unknown members ``"u0000001":1``."""
    parts = [b'{"spec":"runid/v1"']
    total, i = len(parts[0]) + 1, 0
    while True:
        item = b',"u%07d":1' % i
        if total + len(item) > size:  # at most size bytes: 64 MiB is the input limit
            break
        parts.append(item)
        total += len(item)
        i += 1
    parts.append(b"}")
    return b"".join(parts)


def bad_messages(size: int) -> bytes:
    """A valid declaration whose messages grow to about ``size`` bytes, each one invalid
    (an unknown role, no content: two findings)."""
    head = canonical.canonicalize(example("chat-hosted-model"))
    item = b'{"role":"nobody"}'
    marker = b'"messages":['
    at = head.index(marker) + len(marker)
    end = head.index(b"]", at)
    count = max(1, (size - len(head)) // (len(item) + 1))
    body = b",".join([item] * count)
    return head[:at] + body + head[end:]


def yaml_policy(size: int) -> bytes:
    """A YAML policy of about ``size`` bytes with many unknown members."""
    lines = [b"policy: runid/policy/v1", b"name: bench"]
    total, i = sum(len(line) + 1 for line in lines), 0
    while total < size:
        line = b"unknown_%07d: %d" % (i, i)
        lines.append(line)
        total += len(line) + 1
        i += 1
    return b"\n".join(lines) + b"\n"


def timed(fn: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    """The best of ``rounds`` calls (seconds) and the last result."""
    best, result = float("inf"), None
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def sizes(max_bytes: int) -> list[int]:
    out, size = [], KIB
    while size <= max_bytes:
        out.append(size)
        size *= 4
    return out


def human(size: int) -> str:
    return f"{size // (1 << 20)} MiB" if size >= 1 << 20 else f"{size // KIB} KiB"


def declaration_case(data: bytes, rounds: int) -> tuple[float, float, int, int]:
    parse_s, document = timed(lambda: canonical.loads(data), rounds)
    check_s, found = timed(lambda: problems(document), rounds)
    listed = sum(p.code != "E_MORE" for p in found)
    return parse_s, check_s, len(found), listed


def policy_case(data: bytes, rounds: int) -> tuple[float, float, int, int]:
    """``parse_policy`` as a whole; "parse" is that less the schema check of the document."""

    def whole() -> Any:
        try:
            parse_policy(data)
        except PolicyError as exc:
            return exc.problems
        raise AssertionError("the benchmark policy is invalid by construction")

    whole_s, found = timed(whole, rounds)
    document = yaml.load(data, Loader=_YAML_LOADER)
    check_s, _ = timed(lambda: policy_problems(document), rounds)
    listed = sum(p.code != "E_MORE" for p in found)
    return max(whole_s - check_s, 0.0), check_s, len(found), listed


CASES: dict[str, tuple[Callable[[int], bytes], Callable[[bytes, int], tuple[float, ...]]]] = {
    "declaration, unknown members": (unknown_members, declaration_case),
    "declaration, invalid messages": (bad_messages, declaration_case),
    "YAML policy, unknown members": (yaml_policy, policy_case),
}


def _growth(per_byte: list[float]) -> str:
    """How the time per byte moves from 64 KiB up (below, fixed costs dominate): the largest
    ratio between one size and the size 4x smaller (linear: about 1, quadratic: 4)."""
    steady = per_byte[3:] if len(per_byte) > 4 else per_byte
    steps = [b / a for a, b in itertools.pairwise(steady)] or [1.0]
    return (
        f"{steady[0]:.1f} to {steady[-1]:.1f} ns/B, at most {max(steps):.2f}x per 4x size "
        "(quadratic: 4x)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="sizes up to 4 MiB")
    parser.add_argument("--max-mib", type=int, default=64, help="largest size in MiB")
    parser.add_argument("--out", default=str(ROOT / "docs" / "performance.md"))
    args = parser.parse_args()
    max_bytes = (4 if args.quick else args.max_mib) << 20
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        "## Validation",
        "",
        "Generated by `python bench/validation.py`; do not edit by hand. Invalid inputs of",
        "growing size; the time per input byte of parsing (strict JSON, or YAML on libyaml)",
        "and of validating (`runid.problems`, the policy schema) should not grow with the size",
        "(issue 12: it did, quadratically). Best of 3 rounds (1 from 16 MiB up). The growth",
        "per 4x size below is measured from 64 KiB up; parsing large inputs grows somewhat",
        "with CPython's cyclic garbage collector and cache misses, not with the algorithm.",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, load average at start {load}; runid {__version__}.",
        "",
        "| input | size | parse | validate | parse / byte | validate / byte | problems listed |",
        "|---|---|---|---|---|---|---|",
    ]
    flatness: list[str] = []
    for name, (make, measure) in CASES.items():
        check_nspb: list[float] = []
        parse_nspb: list[float] = []
        for size in sizes(max_bytes):
            data = make(size)
            rounds = 3 if len(data) < 16 << 20 else 1
            parse_s, check_s, shown, listed = measure(data, rounds)
            check_nspb.append(check_s / len(data) * 1e9)
            parse_nspb.append(parse_s / len(data) * 1e9)
            lines.append(
                f"| {name} | {len(data):,} B | {parse_s * 1e3:.1f} ms | {check_s * 1e3:.2f} ms "
                f"| {parse_nspb[-1]:.0f} ns | {check_nspb[-1]:.1f} ns "
                f"| {listed} (+{shown - listed} `E_MORE`) |"
            )
            print(
                f"{name:<32} {human(size):>7} parse {parse_s * 1e3:9.1f} ms  "
                f"validate {check_s * 1e3:9.2f} ms  {check_nspb[-1]:6.1f} ns/B",
                flush=True,
            )
            del data
        flatness.append(f"{name}: validation {_growth(check_nspb)}; parsing {_growth(parse_nspb)}.")
    lines += ["", *(f"- {line}" for line in flatness)]
    print("\n".join(flatness))
    write_section(Path(args.out), "bench/validation.py", lines)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
