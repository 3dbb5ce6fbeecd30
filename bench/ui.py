"""Benchmark: page loads of the web UI (``runid ui``) on a log of 100,000 runs (issue 17).

Run: ``pip install -e '.[server]' playwright && python bench/ui.py`` (``--runs N``; the browser
is Debian's ``/usr/bin/chromium``, never downloaded). Updates the "Web UI" section of
docs/performance.md.

The log: N runs of a RAG pipeline whose declaration drifts (a new prompt template every 5,000
runs, the model snapshot at half, the index snapshot at two thirds, temperature on every fifth
run), interleaved with a chat and an agent step (every third run), one second apart; every
1,000th run a replay of the run before. Records are signed by the log's key ahead of time
(``Log.sign``) and appended with their outputs through the batched append (``Log.append``,
1,000 a commit); the lookup indexes are brought up to date once, as the first lookup after an
append does (timed apart). Then ``runid ui`` serves it read-only (uvicorn on loopback, this
process) and each page is loaded:

* **server**: the app's own time for the request (its ``Server-Timing`` header), median of the
  warm loads, and the first (cold) load;
* **full load in chromium**: navigation start to the load event (HTML, stylesheet, layout),
  median of warm loads in one tab.

The target is under 300 ms for every page.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import write_section  # noqa: E402
from runid import __version__, canonical  # noqa: E402
from runid.digest import content_digest, content_ref  # noqa: E402
from runid.examples import example  # noqa: E402
from runid.home import Home  # noqa: E402
from runid.identity import compute_identity  # noqa: E402
from runid.log import Log  # noqa: E402
from runid.record import new_record  # noqa: E402

BATCH = 1000
TARGET = 0.300
START = datetime(2025, 1, 1, tzinfo=UTC)
POLICY = ROOT / "examples" / "policies" / "acme-support.yaml"


def rag(i: int, n: int) -> dict[str, Any]:
    """The RAG pipeline's declaration for its ``i``-th run of ``n``."""
    decl = copy.deepcopy(example("rag-retrieved-chunks"))
    template = decl["instructions"]["template"]
    version = i // 5000 + 1
    template["version"] = str(version)
    template["digest"] = content_digest(b"template v%d" % version)
    if i >= n // 2:
        decl["model"]["version"] = "gpt-4o-mini-2025-01-31"
    if i >= 2 * n // 3:
        decl["context"]["index"]["snapshot"] = content_digest(b"index snapshot 2")
    if i % 5 == 4:
        decl["parameters"]["temperature"]["value"] = 0.7
    return decl


def build(home_dir: Path, n: int) -> dict[str, Any]:
    home = Home(home_dir)
    home.init_keys("runid.bench/ui")
    others = [example("chat-hosted-model"), example("agent-step-with-tools")]
    cache: dict[str, tuple[str, bytes]] = {}

    def identity(decl: dict[str, Any]) -> str:
        data = canonical.canonicalize(decl)
        found = cache.get(data.decode())
        if found is None:
            found = cache[data.decode()] = (compute_identity(decl).declaration_id, data)
        return found[0]

    signing = ingest = 0.0
    ids: list[str] = []
    previous = ""
    with Log.open(home) as log:
        done = 0
        while done < n:
            start = time.perf_counter()
            envelopes, blobs = [], []
            fresh = len(cache)
            for i in range(done, min(done + BATCH, n)):
                decl = others[i % 2] if i % 3 == 2 else rag(i, n)
                declaration_id = identity(decl)
                output = b"answer %d" % i
                when = START + timedelta(seconds=i)
                replay_of = ids[-1] if i % 1000 == 999 else None
                if replay_of is not None:  # the run before, again: its declaration
                    declaration_id = previous
                record = new_record(
                    declaration_id,
                    issuer=log.key,  # type: ignore[arg-type]
                    started_at=when,
                    ended_at=when + timedelta(milliseconds=800),
                    outputs=[content_ref(output, "text/plain")],
                    observed={"served_model": decl["model"].get("version", "gpt-4o")},
                    replay_of=replay_of,
                )
                previous = declaration_id
                ids.append(record["execution_id"])
                envelopes.append(log.sign(record))
                blobs.append(output)
            blobs += [data for _id, data in list(cache.values())[fresh:]]
            middle = time.perf_counter()
            log.append(envelopes, blobs=blobs)
            ingest += time.perf_counter() - middle
            signing += middle - start
            done += len(envelopes)
        start = time.perf_counter()
        log.refresh_lookups()
        lookups = time.perf_counter() - start
    return {
        "signing": signing,
        "ingest": ingest,
        "lookups": lookups,
        "ids": ids,
        "declarations": len(cache),
    }


def server_ms(url: str) -> float:
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
        timing = response.headers["server-timing"]
        assert response.status == 200, url
    return float(timing.split("dur=")[1]) / 1000


def browser_loads(page: Any, url: str, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        response = page.goto(url, wait_until="load")
        assert response is not None and response.status == 200, url
        took = page.evaluate(
            "() => { const n = performance.getEntriesByType('navigation')[0];"
            " return n.loadEventEnd - n.startTime; }"
        )
        out.append(took / 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", default=str(ROOT / "docs" / "performance.md"))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from runid._ui.app import ui_app
    from runid.policy import parse_policy
    from ui_browser import chromium, missing, serve

    reason = missing()
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        built = build(Path(tmp) / "home", args.runs)
        print(
            f"built {args.runs:,} runs in {time.perf_counter() - began:.1f} s "
            f"(signing {built['signing']:.1f} s, append {built['ingest']:.1f} s, lookups "
            f"{built['lookups']:.1f} s, {built['declarations']} declarations)",
            file=sys.stderr,
        )
        ids = built["ids"]
        n = args.runs
        home = Home(Path(tmp) / "home")
        with Log.open(home, readonly=True) as log:
            mid = log.entry(n // 2).record
            late = log.entry(n - 1).record
            decl = log.declaration(mid["declaration_id"])
        assert decl is not None
        component = compute_identity(decl).components["instructions"]
        middle_time = (START + timedelta(seconds=n // 2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        window_end = (START + timedelta(seconds=n // 2 + 3600)).strftime("%Y-%m-%dT%H:%M:%SZ")
        replay = ids[999]
        pages = [
            ("runs, first page", "/runs"),
            ("runs, a page deep in the log", f"/runs?before={n // 2}"),
            ("runs, by declared model", "/runs?model=gpt-4o-mini-2025-01-31"),
            ("runs, by component digest", f"/runs?component={component}"),
            ("runs, by declaration id", f"/runs?declaration_id={mid['declaration_id']}"),
            (
                "runs, time range (from a page inside it)",
                f"/runs?since={middle_time}&until={window_end}&before={n // 2 + 3600}",
            ),
            ("runs, policy result fail", "/runs?policy=fail"),
            ("runs, replay verdict", "/runs?verdict=nondeterminism"),
            ("a run", f"/runs/{mid['execution_id']}"),
            ("diff of two runs", f"/diff?a={mid['execution_id']}&b={late['execution_id']}"),
            ("diff of a replay", f"/diff?a={ids[998]}&b={replay}"),
            ("drift of a pipeline (latest 200 runs)", "/drift?model=gpt-4o-mini"),
            ("log", "/log"),
        ]
        app = ui_app(home.path, policy=parse_policy(POLICY.read_bytes()), policy_name="acme")
        results = []
        with serve(app) as base, chromium() as browser:
            tab = browser.new_page()
            for name, path in pages:
                cold = server_ms(base + path)
                warm = [server_ms(base + path) for _ in range(args.rounds)]
                full = browser_loads(tab, base + path, args.rounds)
                results.append(
                    (name, path, cold, statistics.median(warm), statistics.median(full), max(full))
                )
                middle = statistics.median(warm) * 1000
                print(
                    f"{name}: server cold {cold * 1000:.0f} ms, warm {middle:.0f} ms; "
                    f"chromium load {statistics.median(full) * 1000:.0f} ms",
                    file=sys.stderr,
                )
    worst = max(r[4] for r in results)
    lines = [
        "## Web UI",
        "",
        f"`python bench/ui.py`: page loads of `runid ui` on a log of {n:,} runs "
        f"({built['declarations']} distinct declarations: a RAG pipeline drifting every 5,000 "
        "runs, a chat and an agent step; a replay every 1,000 runs), built from pre-signed "
        f"records through the batched append ({built['ingest']:.1f} s for the appends, "
        f"{built['signing']:.1f} s signing apart; lookup indexes {built['lookups']:.1f} s once). "
        "Served read-only by uvicorn on loopback with the example policy; **server** is the "
        "app's own time (its `Server-Timing`), the first load and the median of "
        f"{args.rounds} more; **chromium** is navigation start to the load event in Debian's "
        "chromium (headless, Playwright), median and worst of "
        f"{args.rounds}. Target: under {TARGET * 1000:.0f} ms.",
        "",
        "| page | server, first | server, median | chromium load, median | chromium, worst |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, _path, cold, warm, full, worst_one in results:
        lines.append(
            f"| {name} | {cold * 1000:.0f} ms | {warm * 1000:.0f} ms | {full * 1000:.0f} ms | "
            f"{worst_one * 1000:.0f} ms |"
        )
    lines += [
        "",
        f"Slowest median full load: {worst * 1000:.0f} ms "
        f"({'within' if worst < TARGET else 'over'} the {TARGET * 1000:.0f} ms target). "
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, load average at start {load}; runid {__version__}.",
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section(Path(args.out), "bench/ui.py", lines)
    return 0 if worst < TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
