"""Benchmark: evidence bundles of 10,000 runs, exported and verified offline.

Run: ``pip install -e '.[test]' && python bench/evidence.py`` (``--quick``: 1,000 runs).
Updates the "Evidence bundles" section of docs/performance.md.

The log holds RAG runs whose conditions change over time (model snapshot, template version,
index snapshot, temperature), each with its own question (so its own declaration) and output;
the declarations, questions, chunks and outputs are stored blobs, as capture stores them. The
log is built with batched appends (not measured). Measured, each as a fresh ``python -m runid``
process (interpreter start included): ``evidence export`` of every run with the policy
(everything disclosed), the same with ``--report`` (HTML and PDF when Chromium is there), and
``evidence verify --key`` in a process whose home does not exist (no database, no
configuration). Then the stages in process, to see where the time goes.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _report import write_section
from runid import __version__, canonical
from runid.digest import content_digest, content_ref
from runid.evidence import assemble, parse_disclose, seal, verify_files
from runid.evidence.archive import read_zip, write_zip
from runid.evidence.collect import Selection, collect
from runid.evidence.pdf import chromium
from runid.examples import POLICY_CHUNKS, SUPPORT_PROMPT, example
from runid.home import Home
from runid.identity import compute_identity
from runid.log import Log
from runid.policy import parse_policy
from runid.record import new_record

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "examples" / "policies" / "acme-support.yaml"
START = datetime(2025, 3, 1, tzinfo=UTC)
BATCH = 500


def declaration(i: int, n: int) -> tuple[dict[str, Any], bytes]:
    """Run ``i`` of ``n``: the RAG example with its own question, and conditions that change."""
    question = f"Question {i}: I was charged twice for card order {i:06d}. Refund?".encode()
    decl = copy.deepcopy(example("rag-retrieved-chunks"))
    decl["inputs"]["messages"] = [{"role": "user", "content": content_ref(question)}]
    if i >= n // 2:
        decl["model"]["version"] = "gpt-4o-mini-2025-01-31"
    if i >= n // 3:
        decl["instructions"]["template"]["version"] = "8"
        decl["instructions"]["template"]["digest"] = content_digest(b"template v8")
    if i >= 2 * n // 3:
        decl["context"]["index"]["snapshot"] = content_digest(b"index snapshot 2025-03-02")
    if i % 50 == 49:
        decl["parameters"]["temperature"]["value"] = 0.7
    return decl, question


def build(home: Home, n: int) -> None:
    home.init_keys("bench.example/log")
    with Log.open(home) as log:
        key = log.key
        assert key is not None
        shared = [SUPPORT_PROMPT.encode(), *(t.encode() for _s, _c, t in POLICY_CHUNKS)]
        for blob in shared:
            log.store.put_blob(blob)
        for first in range(0, n, BATCH):
            envelopes, blobs = [], []
            for i in range(first, min(n, first + BATCH)):
                decl, question = declaration(i, n)
                output = f"Refund {i} is on its way within 5 business days.".encode()
                started = START + timedelta(minutes=i)
                record = new_record(
                    canonical_id(decl),
                    issuer=key,
                    started_at=started,
                    ended_at=started + timedelta(seconds=1),
                    outputs=[content_ref(output)],
                    observed={
                        "served_model": decl["model"]["version"],
                        "finish_reason": "stop",
                        "usage": {"input_tokens": 300, "output_tokens": 12},
                    },
                )
                envelopes.append(log.sign(record))
                blobs += [canonical.canonicalize(decl), question, output]
            log.append(envelopes, blobs=blobs)


def canonical_id(decl: dict[str, Any]) -> str:
    return compute_identity(decl).declaration_id


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return elapsed


def fmt(seconds: float) -> str:
    return f"{seconds:.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 runs, one round")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--out", default=str(ROOT / "docs" / "performance.md"))
    args = parser.parse_args()
    n = args.runs or (1_000 if args.quick else 10_000)
    rounds = 1 if args.quick else 3
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    work = Path(tempfile.mkdtemp(prefix="runid-bench-evidence-"))
    home = Home(work / "home")
    start = time.perf_counter()
    build(home, n)
    print(f"built a log of {n:,} runs in {time.perf_counter() - start:.1f} s", flush=True)
    bundle, reported = work / "bundle.zip", work / "reported.zip"
    vkey = work / "log.vkey"
    vkey.write_text(home.public_key().vkey + "\n")
    env = {**os.environ, "RUNID_HOME": str(home.path)}
    nowhere = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(work / "nobody"),
        "RUNID_HOME": str(work / "nobody" / "runid"),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }
    runid = [sys.executable, "-m", "runid"]
    export = [*runid, "evidence", "export", "--policy", str(POLICY), "-o", str(bundle)]
    export_report = [
        *runid,
        "evidence",
        "export",
        "--policy",
        str(POLICY),
        "--report",
        "--exports",
        "-o",
        str(reported),
    ]
    verify = [*runid, "evidence", "verify", str(bundle), "--key", str(vkey), "--json"]
    verify_reported = [*runid, "evidence", "verify", str(reported), "--key", str(vkey), "--json"]
    samples: dict[str, list[float]] = {k: [] for k in ("export", "verify", "report", "vreport")}
    for _ in range(rounds):
        samples["export"].append(timed(export, env))
        samples["verify"].append(timed(verify, nowhere))
        samples["report"].append(timed(export_report, env))
        samples["vreport"].append(timed(verify_reported, nowhere))
        print({k: fmt(v[-1]) for k, v in samples.items()}, flush=True)
    assert not (work / "nobody").exists(), "verify created a home"
    files = read_zip(bundle.read_bytes())
    raw = sum(len(d) for d in files.values())
    # The stages, in process.
    stages: dict[str, float] = {}
    policy = ("policy/policy.yaml", POLICY.read_bytes(), parse_policy(POLICY.read_bytes()))
    with Log.open(home) as log:
        t = time.perf_counter()
        collected, sizes = collect(log, Selection(), parse_disclose("all"), policy=policy)
        stages["collect (read, verify envelopes, proofs, blobs)"] = time.perf_counter() - t
        key = log.key
        assert key is not None
        t = time.perf_counter()
        made = assemble(collected, sizes)
        stages["assemble (declarations, policy results)"] = time.perf_counter() - t
        t = time.perf_counter()
        sealed = seal(
            made, key, size=sizes[-1], created_at="2025-01-01T00:00:00Z", selection={}, counts={}
        )
        stages["seal (manifest, signature)"] = time.perf_counter() - t
    t = time.perf_counter()
    data = write_zip(sealed)
    stages["zip (deflate)"] = time.perf_counter() - t
    t = time.perf_counter()
    back = read_zip(data)
    stages["read zip (checked)"] = time.perf_counter() - t
    t = time.perf_counter()
    verify_files(back, [home.public_key()])
    stages["verify files"] = time.perf_counter() - t
    median = {k: statistics.median(v) for k, v in samples.items()}
    total = median["export"] + median["verify"]
    pdf = "HTML and PDF" if chromium() else "HTML only (no Chromium)"
    lines = [
        "## Evidence bundles",
        "",
        "Generated by `python bench/evidence.py`; do not edit by hand. A log of "
        f"{n:,} RAG runs, each with its own question (so {n:,} declarations), conditions that "
        "change over time, and its declaration, question, chunks and output stored; the bundle "
        "discloses everything and carries the acme policy's results. Each command is a fresh "
        f"`python -m runid` process; median (min-max) of {rounds} round(s).",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, load average at start {load}; runid {__version__}.",
        "",
        "| step | median | min-max |",
        "|---|---|---|",
    ]
    names = {
        "export": "`evidence export --policy` (the bundle)",
        "verify": "`evidence verify --key`, no home or database",
        "report": f"`evidence export --policy --report --exports` ({pdf}; in-toto, PROV, "
        "CycloneDX, OTLP)",
        "vreport": "`evidence verify --key` of that bundle (the exports regenerated)",
    }
    for key_, title in names.items():
        s = samples[key_]
        lines.append(f"| {title} | {fmt(statistics.median(s))} | {fmt(min(s))}-{fmt(max(s))} |")
    lines += [
        "",
        f"Export then verify: {fmt(total)} for {n:,} runs (the bar: under 60 s). The bundle: "
        f"{len(files):,} files, {raw / 2**20:.1f} MiB, {bundle.stat().st_size / 2**20:.1f} MiB "
        "zipped.",
        "",
        "Where the time goes (in process, one round):",
        "",
        "| stage | time |",
        "|---|---|",
        *(f"| {name} | {fmt(seconds)} |" for name, seconds in stages.items()),
    ]
    print("\n".join(lines))
    write_section(Path(args.out), "bench/evidence.py", lines)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
