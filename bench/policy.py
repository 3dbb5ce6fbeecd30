"""Benchmark: the policy check, against the same conditions written as a JSON Schema.

Run: ``pip install -e '.[test]' && python bench/policy.py`` (``--quick`` for a short run).
Updates the "Policy check" section of docs/performance.md.

The peer is the common do-it-yourself policy: the approved conditions as a JSON Schema
(``const``/``enum``/``maximum``...), checked with the ``jsonschema`` package collecting every
error. It answers pass/fail per constraint too, but without absence semantics, rule names or
"not applicable". Both sides include validating the declaration against the v1 schema.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
from click.testing import CliRunner

from _report import write_section
from runid import __version__
from runid._cli import main as cli_main
from runid.canonical import canonicalize
from runid.declaration import json_schema as declaration_schema
from runid.examples import EXAMPLES, example, sized_declaration
from runid.home import Home
from runid.log import Log
from runid.policy import evaluate, parse_policy

ROOT = Path(__file__).resolve().parent.parent
ACME = ROOT / "examples" / "policies" / "acme-support.yaml"


def peer_schema(policy: dict[str, Any]) -> dict[str, Any]:
    """The acme policy's conditions as a JSON Schema over the declaration (the peer)."""
    model = policy["model"]
    params = policy["parameters"]
    prop = {"type": "object"}

    def entry(extra: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "properties": {"value": extra}, "required": ["value"]}

    return {
        "allOf": [
            {
                "type": "object",
                "properties": {
                    "model": {
                        "type": "object",
                        "properties": {
                            "name": {"enum": model["name"]},
                            "version": {"enum": model["version"]},
                            "endpoint": {"enum": model["endpoint"]},
                        },
                    },
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "temperature": {
                                **entry({"maximum": params["temperature"]["max"]}),
                                "properties": {
                                    "source": {"const": "declared"},
                                    "value": {"maximum": params["temperature"]["max"]},
                                },
                            },
                            "max_tokens": {
                                **entry({"minimum": 1, "maximum": 1024}),
                                "properties": {
                                    "source": {"const": "declared"},
                                    "value": {"minimum": 1, "maximum": 1024},
                                },
                            },
                            "n": entry({"enum": params["n"]["values"]}),
                        },
                    },
                    "instructions": {
                        "type": "object",
                        "properties": {
                            "system": {
                                "type": "array",
                                "items": {
                                    "properties": {
                                        "digest": {"enum": policy["instructions"]["system"]}
                                    }
                                },
                            }
                        },
                    },
                    "context": {
                        "anyOf": [
                            {"required": ["absent"]},
                            {
                                "properties": {
                                    "index": {
                                        "properties": {
                                            "snapshot": {
                                                "enum": [
                                                    i["snapshot"]
                                                    for i in policy["context"]["index"]
                                                ]
                                            }
                                        }
                                    }
                                }
                            },
                        ]
                    },
                    "runtime": prop,
                },
                "required": ["model", "parameters", "instructions", "runtime"],
            },
        ]
    }


def measure(fns: dict[str, Callable[[], object]], rounds: int, n: int) -> dict[str, list[float]]:
    """Seconds per call of each contender, interleaved round by round."""
    for fn in fns.values():
        fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - start) / n)
    return samples


def fmt(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} µs"


def check_all(runs: int, rounds: int) -> tuple[list[float], list[float]]:
    """Seconds per run of ``runid check --all`` over a log of ``runs`` example runs, without
    and with an ``observed`` rule (which needs every record, so nothing is shared)."""
    home = Home(Path(tempfile.mkdtemp(prefix="runid-bench-policy-")) / "home")
    home.init_keys("runid.bench/log")
    names = list(EXAMPLES)
    with Log.open(home) as log:
        for i in range(runs):
            observed = {"served_model": "gpt-4o-mini-2024-07-18"}
            log.record_run(example(names[i % 5]), output=b"%d" % i, observed=observed)
    strict = home.path / "observed.yaml"
    strict.write_text(
        ACME.read_text() + "observed:\n  served_model: [gpt-4o-mini-2024-07-18]\n", "utf-8"
    )
    out: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for policy, samples in ((ACME, out[0]), (strict, out[1])):
            start = time.perf_counter()
            result = CliRunner().invoke(
                cli_main,
                ["check", "--home", str(home.path), "--all", "-q", "--policy", str(policy)],
            )
            samples.append((time.perf_counter() - start) / runs)
            assert result.exit_code == 0, result.output
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "performance.md"))
    args = parser.parse_args()
    rounds = 5 if args.quick else 15
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    policy_bytes = ACME.read_bytes()
    policy = parse_policy(policy_bytes)
    conditions = jsonschema.Draft202012Validator(peer_schema(policy.document))
    structure = jsonschema.Draft202012Validator(declaration_schema())

    def peer(decl: dict[str, Any]) -> list[Any]:
        return [*structure.iter_errors(decl), *conditions.iter_errors(decl)]

    cases = {
        "small": example("agent-step-with-tools"),
        "medium": sized_declaration(messages=120, chunks=5),
        "large": sized_declaration(messages=3000, chunks=50),
    }
    lines = [
        "## Policy check",
        "",
        "Generated by `python bench/policy.py`; do not edit by hand. The policy is",
        "`examples/policies/acme-support.yaml`; the peer is the same conditions as a JSON",
        "Schema checked with the `jsonschema` package (every error collected). Both include",
        f"validating the declaration. Per call: median (min-max) over {rounds} interleaved rounds.",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, load average at start {load}; runid {__version__}.",
        "",
        "| case | size (canonical) | contender | median | min-max | result |",
        "|---|---|---|---|---|---|",
    ]
    for case, decl in cases.items():
        size = f"{len(canonicalize(decl)):,} B"
        rules = len(evaluate(policy, decl).results)
        errors = len(peer(decl))
        fns: dict[str, Callable[[], object]] = {
            "runid evaluate (validate + every rule)": lambda d=decl: evaluate(policy, d),
            "jsonschema peer (structure + conditions)": lambda d=decl: peer(d),
            "jsonschema, conditions only (no structure check)": lambda d=decl: list(
                conditions.iter_errors(d)
            ),
        }
        n = 20 if case == "small" else (5 if case == "medium" else 1)
        samples = measure(fns, rounds, n)
        notes = dict(zip(fns, (f"{rules} rules", f"{errors} errors", ""), strict=True))
        for name, s in samples.items():
            lines.append(
                f"| {case} | {size} | {name} | {fmt(statistics.median(s))} "
                f"| {fmt(min(s))}-{fmt(max(s))} | {notes[name]} |"
            )
            print(f"{case:<7} {name:<45} {fmt(statistics.median(s)):>10}", flush=True)
    parse = measure({"yaml": lambda: parse_policy(policy_bytes)}, rounds, 5)["yaml"]
    lines += [
        "",
        f"Parsing the YAML policy (PyYAML's safe loader on libyaml, schema check, digest): "
        f"{fmt(statistics.median(parse))} median.",
    ]
    runs = 200 if args.quick else 1000
    plain, observed = check_all(runs, 3 if args.quick else 5)
    lines += [
        "",
        f"`runid check --all -q` over a log of {runs:,} example runs (5 distinct declarations), "
        "in process, per run: "
        f"{fmt(statistics.median(plain))} median; with an `observed` rule (every run's "
        f"evaluation reads its own record) {fmt(statistics.median(observed))}. Each run's "
        "envelope signature is verified; each declaration is loaded (id recomputed) once.",
    ]
    print("\n".join(lines[-3:]))
    write_section(Path(args.out), "bench/policy.py", lines)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
