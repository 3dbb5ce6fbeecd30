"""Benchmark: the in-call overhead of ``runid.instrument()`` next to the instrumentations users
already run: OpenLLMetry's instrumentor, ``mlflow.openai.autolog()`` and Langfuse's drop-in.

Run: ``pip install -e '.[openai,llama,mlflow,langfuse]' opentelemetry-instrumentation-openai``
then ``python bench/instrument.py`` (``--quick`` for a short run). Updates the "One-line
instrumentation" section of docs/performance.md.

One process, one local model: the real ``openai`` client against a local llama.cpp server
(SmolLM2-135M-Instruct, 4 tokens, temperature 0). OpenTelemetry is configured (an SDK tracer
provider, batch processor, an exporter that drops spans: the in-call cost only), as it is for a
user of an instrumentor. Contenders, each its own client (so one patched process serves all),
interleaved round by round:

* bare: nobody records (OpenLLMetry's wrapper present but suppressed through its own context
  key, runid's patch present but passing the client through);
* ``runid.instrument(client)``, ``durability="sync"`` and ``"background"`` (its own span each);
* OpenLLMetry's ``OpenAIInstrumentor`` alone;
* both (runid inside OpenLLMetry's wrapper: OpenLLMetry's span carries runid's ids);
* ``mlflow.openai.autolog()`` (MLflow's traces to a local file store, written by its async
  trace logging, as it does by default);
* Langfuse's drop-in (``from langfuse.openai import openai``; its own tracer provider, a batch
  processor and an exporter that drops spans: nothing leaves the process).

MLflow's and Langfuse's patches are on the SDK's class, so every client goes through them: for
the other contenders MLflow's tracing is disabled (``mlflow.tracing.disable()``, between
measurements) and Langfuse's clients a no-op tracer, so their wrappers pass the call
through. The bare client therefore still pays for three passing wrappers, and each row's
overhead is what recording adds on top of that.

The time spent in HTTP and the model is measured on every call, at the HTTP transport (a
timed ``httpx`` transport), and subtracted: **client-side** time is the call's wall time minus
that, and the **in-call overhead** of a contender is its client-side time minus the bare
client-side time of the same round. The caller thread's CPU time (``time.thread_time()``:
the HTTP client's work included, the server's not, since the thread sleeps while the server
works) is shown too.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import runid
from _report import write_section
from runid.capture import Recorder
from runid.home import Home

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
REQUEST = {
    "model": "smollm2",
    "messages": [{"role": "user", "content": "Why was I charged twice for one purchase?"}],
    "temperature": 0,
    "max_tokens": 4,
}
CONTENDERS = (
    "bare (no recording)",
    "runid.instrument(), sync",
    "runid.instrument(), background",
    "OpenLLMetry OpenAIInstrumentor",
    "OpenLLMetry + runid.instrument(), background",
    "MLflow mlflow.openai.autolog()",
    "Langfuse drop-in (langfuse.openai)",
)
OPENLLMETRY = frozenset({CONTENDERS[3], CONTENDERS[4]})
MLFLOW, LANGFUSE = CONTENDERS[5], CONTENDERS[6]


@dataclass
class Row:
    name: str
    total: list[float] = field(default_factory=list)
    client: list[float] = field(default_factory=list)  # wall time minus HTTP + model
    cpu: list[float] = field(default_factory=list)
    overhead: list[float] = field(default_factory=list)  # client-side minus bare's


def fmt(seconds: float) -> str:
    if abs(seconds) < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if abs(seconds) < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def _http() -> Any:
    """The HTTP library the installed openai client is built on (httpx, or httpx2)."""
    import openai

    return importlib.import_module(openai.DefaultHttpxClient.__mro__[1].__module__.split(".")[0])


def timed_client(base_url: str) -> tuple[Any, list[float]]:
    """An ``openai.OpenAI`` whose HTTP round trips (server and model included) are timed."""
    import openai

    httpx = _http()
    inside: list[float] = [0.0]

    class Timed(httpx.HTTPTransport):  # type: ignore[misc, name-defined]
        def handle_request(self, request: Any) -> Any:
            start = time.perf_counter()
            try:
                response = super().handle_request(request)
                response.read()  # the body too: it is the server's time, not the client's
                return response
            finally:
                inside[0] += time.perf_counter() - start

    http = httpx.Client(transport=Timed())
    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, http_client=http)
    return client, inside


def measure(call: Callable[[], object], inside: list[float], n: int) -> tuple[float, float, float]:
    """Medians over ``n`` calls: wall time, wall time minus the HTTP round trip, and the
    calling thread's CPU time."""
    totals, client, cpu = [], [], []
    for _ in range(n):
        inside[0] = 0.0
        start, start_cpu = time.perf_counter(), time.thread_time()
        call()
        cpu.append(time.thread_time() - start_cpu)
        total = time.perf_counter() - start
        totals.append(total)
        client.append(total - inside[0])
    return statistics.median(totals), statistics.median(client), statistics.median(cpu)


@contextlib.contextmanager
def serving(tmp: Path) -> Iterator[Any]:
    import llama_server as ls

    reason = ls.skip_reason()
    if reason is not None:
        raise SystemExit(f"the llama.cpp server cannot run here: {reason}")
    process, server = ls.start(tmp)
    try:
        yield server
    finally:
        ls.stop(process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "docs" / "performance.md"))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    warnings.simplefilter("ignore")
    rounds, calls = (3, 5) if args.quick else (7, 15)
    load = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="runid-bench-instrument-"))

    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor
    from opentelemetry.instrumentation.utils import _SUPPRESS_INSTRUMENTATION_KEY
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.trace import NoOpTracer

    class Drop(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    trace.set_tracer_provider(provider)
    OpenAIInstrumentor().instrument(tracer_provider=provider)  # first: runid goes inside it

    home = Home(tmp / "home")
    home.init_keys("runid.bench/instrument")
    sync, background = Recorder(home), Recorder(home, durability="background")
    rows = {name: Row(name) for name in CONTENDERS}
    runs: list[Any] = []
    with serving(tmp) as server:
        clients = {name: timed_client(server.base_url) for name in CONTENDERS}
        runid.instrument(clients[CONTENDERS[1]][0], recorder=sync, on_run=runs.append)
        runid.instrument(clients[CONTENDERS[2]][0], recorder=background, on_run=runs.append)
        runid.instrument(clients[CONTENDERS[4]][0], recorder=background, on_run=runs.append)
        # After runid (which stays inside OpenLLMetry's wrapper): Langfuse's wrapper, then
        # MLflow's patch, both around every client's call.
        langfuse_spans: list[Any] = []

        class Count(SpanExporter):
            def export(self, spans: Sequence[Any]) -> SpanExportResult:
                langfuse_spans.extend(span.name for span in spans)
                return SpanExportResult.SUCCESS

        langfuse, langfuse_tracer = _langfuse(Count())
        mlflow = _mlflow(tmp)
        suppressed = otel_context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True)

        def switch(name: str) -> None:
            """Only this contender's own tool records (between measurements, not timed)."""
            if name == MLFLOW:
                mlflow.tracing.enable()
            else:
                mlflow.tracing.disable()
            # The drop-in makes a client per call (get_client()), from the shared resources.
            langfuse._resources._otel_tracer = langfuse_tracer if name == LANGFUSE else NoOpTracer()

        def call(name: str) -> Callable[[], object]:
            client = clients[name][0]
            quiet = name not in OPENLLMETRY  # OpenLLMetry's wrapper passes them through

            def one() -> object:
                if not quiet:
                    return client.chat.completions.create(**REQUEST)
                token = otel_context.attach(suppressed)
                try:
                    return client.chat.completions.create(**REQUEST)
                finally:
                    otel_context.detach(token)

            return one

        for name in CONTENDERS:  # warm up: connections, first spans, the writer thread
            switch(name)
            measure(call(name), clients[name][1], 3)
        for number in range(rounds):
            order = CONTENDERS if number % 2 == 0 else tuple(reversed(CONTENDERS))
            client_side: dict[str, float] = {}
            for name in order:
                switch(name)
                total, client, cpu = measure(call(name), clients[name][1], calls)
                rows[name].total.append(total)
                rows[name].client.append(client)
                rows[name].cpu.append(cpu)
                client_side[name] = client
            for name in CONTENDERS:
                rows[name].overhead.append(client_side[name] - client_side[CONTENDERS[0]])
            print(f"round {number + 1}/{rounds} done", flush=True)
        for name in (*CONTENDERS[1:3], CONTENDERS[4]):
            runid.uninstrument(clients[name][0])
        mlflow.tracing.enable()
        mlflow.flush_trace_async_logging()
        mlflow.openai.autolog(disable=True)
        langfuse._resources._otel_tracer = langfuse_tracer
        langfuse.shutdown()
    background.flush()
    provider.shutdown()
    recorded = sum(1 for run in runs if run.recorded)
    lines = report(rows, rounds=rounds, calls=calls, load=load)
    lines.append(f"All {len(runs)} recorded calls of the run were in the log ({recorded}).")
    lines.append(
        f"Langfuse exported {len(langfuse_spans)} observations, one per call of its row "
        f"({(rounds * calls + 3)} calls)."
    )
    for line in lines:
        print(line)
    write_section(Path(args.out), "bench/instrument.py", lines)
    return 0 if recorded == len(runs) else 1


def _mlflow(tmp: Path) -> Any:
    """``mlflow.openai.autolog()`` with its traces in a file store under ``tmp``."""
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # mlflow-skinny: no SQL store
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow
    import mlflow.openai

    mlflow.set_tracking_uri((tmp / "mlruns").as_uri())
    mlflow.openai.autolog(silent=True)
    return mlflow


def _langfuse(exporter: Any) -> tuple[Any, Any]:
    """Langfuse's client on its own tracer provider, spans to ``exporter`` (a host that is
    never contacted), and its drop-in's wrapper around the OpenAI SDK; the client and its
    tracer."""
    from langfuse import Langfuse
    from opentelemetry.sdk.trace import TracerProvider

    os.environ.update(
        LANGFUSE_PUBLIC_KEY="pk-lf-bench", LANGFUSE_SECRET_KEY="sk-lf-bench",
        LANGFUSE_BASE_URL="http://127.0.0.1:9",
    )  # fmt: skip
    client: Any = Langfuse(tracer_provider=TracerProvider(), span_exporter=exporter)
    importlib.import_module("langfuse.openai")  # the drop-in patches the SDK when imported
    return client, client._resources.tracer


def report(rows: dict[str, Row], *, rounds: int, calls: int, load: tuple[float, ...]) -> list[str]:
    def spread(values: list[float]) -> str:
        return f"{fmt(statistics.median(values))} ({fmt(min(values))}-{fmt(max(values))})"

    versions = []
    for dist in (
        "openai", "opentelemetry-sdk", "opentelemetry-instrumentation-openai", "mlflow-skinny",
        "langfuse",
    ):  # fmt: skip
        with contextlib.suppress(Exception):
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
    lines = [
        "## One-line instrumentation",
        "",
        "Generated by `python bench/instrument.py`; do not edit by hand. The real `openai` "
        "client against a local llama.cpp server (SmolLM2-135M-Instruct, 4 tokens), "
        "OpenTelemetry configured (SDK tracer provider, batch processor, a dropping exporter); "
        "MLflow's traces to a local file store (async trace logging); Langfuse's spans to a "
        "dropping exporter. "
        f"Every contender in the same process, interleaved: per round the median of {calls} "
        f"calls, then the median (min-max) of {rounds} rounds.",
        "",
        f"Machine: {os.cpu_count()} shared cores, {platform.machine()}, Python "
        f"{platform.python_version()}, load average at start "
        f"{' '.join(f'{x:.2f}' for x in load)}; {', '.join(versions)}. Other engineers' tests "
        "ran on the same cores: compare rows of one run with each other.",
        "",
        "**Client-side** is the call's wall time minus its HTTP round trip (server and model), "
        "measured at the transport on the same call; **in-call overhead** is a contender's "
        "client-side time minus the bare client's in the same round (what recording adds to "
        "the caller). `runid.instrument()` alone also opens its own GenAI span per call "
        "(OpenTelemetry is configured); with OpenLLMetry, runid sits inside its wrapper and "
        "puts its ids on OpenLLMetry's span instead. Caller CPU is the calling thread's CPU "
        "time for the whole call (the HTTP client's work included, the server's not). "
        "MLflow's and Langfuse's patches are on the SDK's class: for the other rows they are "
        "switched off (MLflow's tracing disabled, Langfuse given a no-op tracer) and pass the "
        "call through, so the bare row includes three passing wrappers. **vs bare** is a row's "
        "median client-side time over the bare client's.",
        "",
        "| contender | in-call overhead | client-side | vs bare | total (with the model) "
        "| caller CPU |",
        "|---|---|---|---|---|---|",
    ]
    bare = statistics.median(rows[CONTENDERS[0]].client)
    for row in rows.values():
        overhead = "—" if row.name == CONTENDERS[0] else spread(row.overhead)
        lines.append(
            f"| {row.name} | {overhead} | {spread(row.client)} | "
            f"{statistics.median(row.client) / bare:.1f}x | {spread(row.total)} | "
            f"{fmt(statistics.median(row.cpu))} |"
        )
    runid_bg = statistics.median(rows[CONTENDERS[2]].overhead)
    otel = statistics.median(rows[CONTENDERS[3]].overhead)
    both = statistics.median(rows[CONTENDERS[4]].overhead)
    mlflow = statistics.median(rows[MLFLOW].overhead)
    langfuse = statistics.median(rows[LANGFUSE].overhead)
    lines += [
        "",
        f"`runid.instrument()` in `background` mode adds {fmt(runid_bg)} to a call where "
        f"OpenLLMetry adds {fmt(otel)} ({runid_bg / otel:.1f}x), `mlflow.openai.autolog()` "
        f"{fmt(mlflow)} ({runid_bg / mlflow:.1f}x) and Langfuse's drop-in {fmt(langfuse)} "
        f"({runid_bg / langfuse:.1f}x); OpenLLMetry and runid together add {fmt(both)}. `sync` "
        "mode also waits for the durable commit of the signed record (see Capture overhead for "
        "its parts).",
    ]
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
