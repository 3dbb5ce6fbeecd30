"""``runid.instrument()`` with OpenTelemetry, alone and next to OpenLLMetry's instrumentor.

The real ``openai`` client against the local llama.cpp server (SmolLM2-135M-Instruct), an SDK
``TracerProvider`` exporting to memory (patched in as the provider runid sees, never set
globally). Alone, each call is a span of its own under the current span, with the GenAI
attributes and runid's ids. With ``opentelemetry-instrumentation-openai`` (OpenLLMetry) also
installed, whichever is instrumented first: one span per call, OpenLLMetry's, carrying runid's
ids; uninstrumenting either first restores the SDK's method exactly.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import runid
from llama_server import LlamaServer, llama_server_fixture
from runid.capture import Recorder
from runid.home import Home

openai = pytest.importorskip(
    "openai", reason="openai is not installed (pip install -e '.[openai]')"
)
sdk_trace = pytest.importorskip(
    "opentelemetry.sdk.trace",
    reason="opentelemetry-sdk is not installed (pip install -e '.[test]')",
)
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

llama_server = llama_server_fixture()

#: OpenLLMetry 0.62 defines a pydantic model with a class-based config (its own deprecation
#: warning, raised on import under filterwarnings=error).
OPENLLMETRY_WARNING = "ignore:Support for class-based `config` is deprecated"

REQUEST = {
    "model": "smollm2",
    "messages": [{"role": "user", "content": "What is the capital of France?"}],
    "temperature": 0,
    "max_tokens": 8,
}


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, InMemorySpanExporter]]:
    memory = InMemorySpanExporter()
    tracer_provider = sdk_trace.TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: tracer_provider)
    yield tracer_provider, memory
    tracer_provider.shutdown()


@pytest.fixture
def recorder(tmp_path: Path) -> Recorder:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/otel")
    return Recorder(home, on_error="raise")


def _create() -> Any:
    return importlib.import_module("openai.resources.chat.completions").Completions.__dict__[
        "create"
    ]


#: The modules whose classes OpenLLMetry 0.62 wraps.
WRAPPED_BY_OPENLLMETRY = (
    "openai.resources.beta.assistants",
    "openai.resources.beta.chat.completions",
    "openai.resources.beta.realtime.realtime",
    "openai.resources.beta.threads.messages",
    "openai.resources.beta.threads.runs",
    "openai.resources.chat.completions",
    "openai.resources.completions",
    "openai.resources.embeddings",
    "openai.resources.images",
    "openai.resources.responses",
)


@pytest.fixture
def openllmetry() -> Iterator[Any]:
    """OpenLLMetry's instrumentor; afterwards every method it wrapped is put back by hand:
    its own ``uninstrument()`` leaves its proxies in place in this version (it looks the
    methods up under a wrong module path), which is not runid's to fix."""
    module = pytest.importorskip(
        "opentelemetry.instrumentation.openai",
        reason="OpenLLMetry is not installed (pip install opentelemetry-instrumentation-openai)",
    )
    saved = []
    for name in WRAPPED_BY_OPENLLMETRY:
        try:
            found = importlib.import_module(name)
        except ImportError:
            continue
        for owner in vars(found).values():
            if isinstance(owner, type) and owner.__module__.startswith("openai."):
                saved += [(owner, key, value) for key, value in vars(owner).items()]
    instrumentor = module.OpenAIInstrumentor()
    yield instrumentor
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    for owner, key, value in saved:
        if vars(owner).get(key) is not value:
            setattr(owner, key, value)


def _gen_ai_spans(memory: InMemorySpanExporter) -> list[Any]:
    return [
        s for s in memory.get_finished_spans() if "gen_ai.operation.name" in (s.attributes or {})
    ]


def test_alone_each_call_is_its_own_span(
    llama_server: LlamaServer, recorder: Recorder, provider: tuple[Any, InMemorySpanExporter]
) -> None:
    tracer_provider, memory = provider
    client = openai.OpenAI(base_url=llama_server.base_url, api_key="unused")
    runid.instrument(recorder=recorder)
    try:
        with tracer_provider.get_tracer("app").start_as_current_span("POST /ask") as request:
            client.chat.completions.create(**REQUEST)
            first = runid.last_run()
            stream = client.chat.completions.create(stream=True, **REQUEST)
            second = runid.last_run()
            list(stream)
    finally:
        runid.uninstrument()
    spans = _gen_ai_spans(memory)
    assert [s.name for s in spans] == ["chat smollm2", "chat smollm2"]
    assert first is not None and second is not None
    for span, run in zip(spans, (first, second), strict=True):
        attributes = dict(span.attributes or {})
        assert span.parent is not None
        assert span.parent.span_id == request.get_span_context().span_id
        assert attributes["runid.declaration_id"] == run.declaration_id
        assert attributes["runid.execution_id"] == run.execution_id
        assert attributes["gen_ai.request.model"] == "smollm2"
        assert attributes["gen_ai.request.temperature"] == 0
        assert attributes["gen_ai.request.max_tokens"] == 8
        assert attributes["server.address"] == "127.0.0.1"
        assert attributes["server.port"] == llama_server.port
        assert attributes["gen_ai.response.finish_reasons"]
    assert dict(spans[0].attributes or {})["gen_ai.usage.output_tokens"] > 0


@pytest.mark.filterwarnings(OPENLLMETRY_WARNING)
@pytest.mark.parametrize("runid_first", [False, True], ids=["openllmetry-first", "runid-first"])
def test_next_to_openllmetry_one_span_per_call_with_runids_ids(
    llama_server: LlamaServer,
    recorder: Recorder,
    provider: tuple[Any, InMemorySpanExporter],
    openllmetry: Any,
    runid_first: bool,
) -> None:
    tracer_provider, memory = provider
    original = _create()
    if runid_first:
        runid.instrument(recorder=recorder)
    openllmetry.instrument(tracer_provider=tracer_provider)
    wrapped = _create()
    if not runid_first:
        runid.instrument(recorder=recorder)
    assert _create() is wrapped  # runid went inside OpenLLMetry's proxy, or under it
    try:
        client = openai.OpenAI(base_url=llama_server.base_url, api_key="unused")
        response = client.chat.completions.create(**REQUEST)
        plain = runid.last_run()
        chunks = list(client.chat.completions.create(stream=True, **REQUEST))
        streamed = runid.last_run()

        async def app() -> Any:
            async_client = openai.AsyncOpenAI(base_url=llama_server.base_url, api_key="unused")
            await async_client.chat.completions.create(**REQUEST)
            await async_client.close()
            return runid.last_run()

        awaited = asyncio.run(app())
    finally:
        runid.uninstrument()
    # What OpenLLMetry alone leaves: its proxy around the SDK's own method.
    assert _create() is wrapped and wrapped.__wrapped__ is original
    assert response.choices and chunks
    spans = _gen_ai_spans(memory)
    # One span per call (OpenLLMetry's), none of runid's own: tokens are not counted twice.
    assert [s.name for s in spans] == ["openai.chat", "openai.chat", "openai.chat"]
    for span, run in zip(spans, (plain, streamed, awaited), strict=True):
        assert run is not None and run.recorded
        attributes = dict(span.attributes or {})
        assert attributes["runid.declaration_id"] == run.declaration_id
        assert attributes["runid.execution_id"] == run.execution_id
        assert attributes["gen_ai.request.model"] == "smollm2"  # OpenLLMetry's, kept


@pytest.mark.filterwarnings(OPENLLMETRY_WARNING)
def test_a_proxy_taken_away_leaves_runid_working_and_restorable(
    llama_server: LlamaServer,
    recorder: Recorder,
    provider: tuple[Any, InMemorySpanExporter],
    openllmetry: Any,
) -> None:
    tracer_provider, memory = provider
    original = _create()
    openllmetry.instrument(tracer_provider=tracer_provider)
    runid.instrument(recorder=recorder)
    # An instrumentor that unwraps properly puts its proxy's __wrapped__ back on the class:
    # runid's method, which then works alone and is restored from there.
    owner = importlib.import_module("openai.resources.chat.completions").Completions
    owner.create = _create().__wrapped__
    client = openai.OpenAI(base_url=llama_server.base_url, api_key="unused")
    try:
        client.chat.completions.create(**REQUEST)
        run = runid.last_run()
    finally:
        runid.uninstrument()
    assert _create() is original
    assert run is not None and run.recorded
    assert [s.name for s in _gen_ai_spans(memory)] == ["chat smollm2"]
