"""The bridges: runid's ids on the MLflow trace (``mlflow.openai.autolog()``, a local file
store, no server) and on the Langfuse observation (spans exported to memory: the Langfuse host
is never contacted) of calls to the local llama.cpp server.

``pip install -e '.[mlflow,langfuse]'`` (each part skipped with the reason when its library is
missing).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import runid
from llama_server import LlamaServer, llama_server_fixture
from runid.capture import Recorder, Run
from runid.home import Home

openai = pytest.importorskip("openai")
llama_server = llama_server_fixture()

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def recorder(tmp_path: Path) -> Recorder:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/bridges")
    return Recorder(home, on_error="raise")


@pytest.fixture
def client(llama_server: LlamaServer) -> Iterator[Any]:
    made = openai.OpenAI(base_url=llama_server.base_url, api_key="unused", max_retries=0)
    yield made
    made.close()


def _ask(client: Any, **kwargs: Any) -> Any:
    return client.chat.completions.create(
        model="smollm2", messages=QUESTION, temperature=0, max_tokens=6, **kwargs
    )


# --- MLflow -----------------------------------------------------------------------------------


@pytest.fixture
def mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # mlflow-skinny: no SQL store
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    module = pytest.importorskip(
        "mlflow", reason="mlflow is not installed (pip install -e '.[mlflow]')"
    )
    pytest.importorskip("mlflow.openai")
    module.set_tracking_uri((tmp_path / "mlruns").as_uri())
    try:
        yield module
    finally:
        module.openai.autolog(disable=True)
        runid.uninstrument()
        module.set_tracking_uri(None)


def _runid_attributes(trace: Any) -> list[tuple[str, dict[str, Any]]]:
    return [
        (span.name, {k: v for k, v in span.attributes.items() if k.startswith("runid.")})
        for span in trace.data.spans
    ]


def test_mlflow_autolog_span_carries_the_run(mlflow: Any, client: Any, recorder: Recorder) -> None:
    runid.instrument(recorder=recorder)  # first: MLflow's patch goes around runid's
    mlflow.openai.autolog(silent=True)
    _ask(client)
    run = runid.last_run()
    assert run is not None and run.recorded
    trace = mlflow.get_trace(mlflow.get_last_active_trace_id(), flush=True)
    ((_name, attributes),) = _runid_attributes(trace)
    assert attributes == {
        "runid.declaration_id": run.declaration_id,
        "runid.execution_id": run.execution_id,
        "runid.log": {"origin": "runid.test/bridges", "index": run.entry_index},
        "runid.receipt": f"runid log prove {run.execution_id}",
    }
    assert trace.info.tags["runid.execution_id"] == run.execution_id
    assert trace.info.tags["runid.declaration_id"] == run.declaration_id

    # A stream: MLflow ends its span as the stream ends, before the run has its execution id.
    text = "".join(c.choices[0].delta.content or "" for c in _ask(client, stream=True))
    streamed = runid.last_run()
    assert text and streamed is not None and streamed is not run and streamed.recorded
    trace = mlflow.get_trace(mlflow.get_last_active_trace_id(), flush=True)
    assert _runid_attributes(trace) == [
        ("Completions", {"runid.declaration_id": streamed.declaration_id})
    ]


def test_mlflow_span_around_calls(mlflow: Any, client: Any, recorder: Recorder) -> None:
    """autolog first (runid's patch outside MLflow's): the call's own span ends before the run
    does; the span the app opened around the calls lists them."""
    mlflow.openai.autolog(silent=True)
    runs: list[Run] = []
    runid.instrument(recorder=recorder, on_run=runs.append)
    with mlflow.start_span("answer"):
        _ask(client)
        _ask(client, seed=1)
    trace = mlflow.get_trace(mlflow.get_last_active_trace_id(), flush=True)
    spans = dict(_runid_attributes(trace))
    assert len(runs) == 2 and all(run.recorded for run in runs)
    assert spans["answer"]["runid.runs"] == [
        {
            "declaration_id": run.declaration_id,
            "execution_id": run.execution_id,
            "log": {"origin": "runid.test/bridges", "index": run.entry_index},
            "receipt": f"runid log prove {run.execution_id}",
        }
        for run in runs
    ]
    assert spans["Completions"] == {}
    assert trace.info.tags["runid.execution_id"] == runs[-1].execution_id


# --- Langfuse ---------------------------------------------------------------------------------


@pytest.fixture
def langfuse(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    """A Langfuse client whose spans go to memory (its own tracer provider: the global one is
    left alone), configured against a host that is never contacted."""
    module = pytest.importorskip(
        "langfuse", reason="langfuse is not installed (pip install -e '.[langfuse]')"
    )
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    for name, value in {
        "LANGFUSE_PUBLIC_KEY": "pk-lf-runid-test",
        "LANGFUSE_SECRET_KEY": "sk-lf-runid-test",
        "LANGFUSE_BASE_URL": "http://127.0.0.1:9",  # the discard port: never reached
    }.items():
        monkeypatch.setenv(name, value)
    exported = InMemorySpanExporter()
    client = module.Langfuse(tracer_provider=TracerProvider(), span_exporter=exported)
    try:
        yield client, exported
    finally:
        runid.uninstrument()
        client.flush()
        client.shutdown()


def test_langfuse_observation_carries_the_runs(
    langfuse: tuple[Any, Any], llama_server: LlamaServer, recorder: Recorder
) -> None:
    client, exported = langfuse
    from langfuse.openai import openai as observed_openai  # Langfuse's drop-in

    runid.instrument(recorder=recorder)
    drop_in = observed_openai.OpenAI(
        base_url=llama_server.base_url, api_key="unused", max_retries=0
    )
    try:
        with client.start_as_current_observation(name="answer"):
            drop_in.chat.completions.create(model="smollm2", messages=QUESTION, max_tokens=6)
            run = runid.last_run()
    finally:
        drop_in.close()
    client.flush()
    spans = {span.name: span for span in exported.get_finished_spans()}
    assert run is not None and run.recorded
    metadata = json.loads(spans["answer"].attributes["langfuse.observation.metadata.runid"])
    assert metadata == [
        {
            "declaration_id": run.declaration_id,
            "execution_id": run.execution_id,
            "log": {"origin": "runid.test/bridges", "index": run.entry_index},
            "receipt": f"runid log prove {run.execution_id}",
        }
    ]
    # The drop-in's generation for the call: a child of the observation, without runid's ids
    # (Langfuse does not make it current; see runid.integrations.bridges).
    generations = [
        span for span in spans.values()
        if span.attributes.get("langfuse.observation.type") == "generation"
    ]  # fmt: skip
    assert len(generations) == 1
    assert generations[0].parent is not None
    assert generations[0].parent.span_id == spans["answer"].context.span_id


def test_nothing_happens_without_the_libraries(
    client: Any, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("mlflow", "langfuse"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    runid.instrument(recorder=recorder)
    try:
        _ask(client)
    finally:
        runid.uninstrument()
    run = runid.last_run()
    assert run is not None and run.recorded  # the bridges looked for no library
