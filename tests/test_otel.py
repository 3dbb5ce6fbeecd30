"""OpenTelemetry: every captured run is its own span (GenAI semantic conventions, runid's ids),
a child of the current span; two runs never overwrite each other's ids; another instrumentor's
span of the same model call gets the ids instead of a second span. Exported spans are read
from the SDK's InMemorySpanExporter; the tracer provider is patched in, never set globally."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runid.capture import Recorder
from runid.examples import example
from runid.home import Home

sdk_trace = pytest.importorskip(
    "opentelemetry.sdk.trace",
    reason="opentelemetry-sdk is not installed (pip install -e '.[test]')",
)
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """A real SDK tracer provider that exports to memory, as runid and the tests see it."""
    memory = InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    yield memory
    provider.shutdown()


@pytest.fixture
def recorder(tmp_path: Path) -> Recorder:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/otel")
    return Recorder(home)


def _tracer() -> Any:
    return trace.get_tracer_provider().get_tracer("app")


def _chat(recorder: Recorder, answer: str, **observed: Any) -> Any:
    with recorder.capture(example("chat-hosted-model")) as run:
        run.set_output(answer)
        run.observe(**observed)
    return run


def test_two_runs_under_one_request_span_are_two_spans(
    exporter: InMemorySpanExporter, recorder: Recorder
) -> None:
    with _tracer().start_as_current_span("POST /answer") as request:
        first = _chat(
            recorder,
            "Refunds take 5 business days.",
            served_model="gpt-4o-mini-2024-07-18",
            response_id="chatcmpl-1",
            finish_reason="stop",
            usage={"prompt_tokens": 812, "completion_tokens": 9},
        )
        second = _chat(recorder, "Yes.", finish_reason="length")
    spans = {span.name: span for span in exporter.get_finished_spans()}
    runs = [s for s in exporter.get_finished_spans() if s.name == "chat gpt-4o-mini"]
    assert len(runs) == 2
    # The request span keeps no runid id: nothing is overwritten there.
    assert not any(k.startswith("runid.") for k in (spans["POST /answer"].attributes or {}))
    ids = [(s.attributes or {})["runid.execution_id"] for s in runs]
    assert ids == [first.execution_id, second.execution_id]
    for span, run in zip(runs, (first, second), strict=True):
        attributes = dict(span.attributes or {})
        assert span.parent is not None
        assert span.parent.span_id == request.get_span_context().span_id
        assert span.kind == trace.SpanKind.CLIENT
        assert attributes["runid.declaration_id"] == run.declaration_id
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
        assert attributes["gen_ai.provider.name"] == run.declaration["model"]["provider"]
    first_attributes = dict(runs[0].attributes or {})
    assert first_attributes["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert first_attributes["gen_ai.response.id"] == "chatcmpl-1"
    assert first_attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert first_attributes["gen_ai.usage.input_tokens"] == 812
    assert first_attributes["gen_ai.usage.output_tokens"] == 9
    assert dict(runs[1].attributes or {})["gen_ai.response.finish_reasons"] == ("length",)
    assert "gen_ai.usage.input_tokens" not in dict(runs[1].attributes or {})


def test_a_run_without_a_current_span_is_a_root_span(
    exporter: InMemorySpanExporter, recorder: Recorder
) -> None:
    run = _chat(recorder, "Paris.")
    (span,) = exporter.get_finished_spans()
    assert span.parent is None
    assert dict(span.attributes or {})["runid.execution_id"] == run.execution_id


def test_declared_parameters_are_request_attributes(
    exporter: InMemorySpanExporter, recorder: Recorder
) -> None:
    decl = example("chat-hosted-model")
    decl["parameters"]["temperature"] = {"source": "declared", "value": 0.2}
    decl["parameters"]["stop"] = {"source": "declared", "value": ["\n\n"]}
    decl["parameters"]["top_p"] = {"source": "provider_default"}
    with recorder.capture(decl) as run:
        run.set_output("Paris.")
    (span,) = exporter.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.request.temperature"] == 0.2
    assert attributes["gen_ai.request.stop_sequences"] == ("\n\n",)
    assert "gen_ai.request.top_p" not in attributes  # left to the provider: not known
    # No content reaches a span: ids and GenAI metadata only.
    assert not any("message" in key or "prompt" in key for key in attributes)
    assert "Paris." not in str(attributes)


def test_an_error_outcome_marks_the_span(
    exporter: InMemorySpanExporter, recorder: Recorder
) -> None:
    with pytest.raises(TimeoutError), recorder.capture(example("chat-hosted-model")):
        raise TimeoutError("the model did not answer")
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code == trace.StatusCode.ERROR
    assert dict(span.attributes or {})["error.type"] == "TimeoutError"
    assert "did not answer" not in str(span.status.description)  # error texts stay out


def test_a_tool_step_is_an_execute_tool_span(
    exporter: InMemorySpanExporter, recorder: Recorder
) -> None:
    from runid.integrations.agent import step_declaration

    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
    decl, _ = step_declaration(tool, '{"city": "Paris"}')
    with recorder.capture(decl) as run:
        run.set_output("18 C")
    (span,) = exporter.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert span.name == "execute_tool get_weather"
    assert attributes["gen_ai.operation.name"] == "execute_tool"
    assert attributes["gen_ai.tool.name"] == "get_weather"
    assert "gen_ai.request.model" not in attributes


def test_another_instrumentors_model_span_gets_the_ids_and_no_second_span(
    exporter: InMemorySpanExporter, recorder: Recorder
) -> None:
    # What OpenLLMetry's OpenAIInstrumentor opens around client.chat.completions.create.
    attributes = {"gen_ai.operation.name": "chat", "gen_ai.system": "openai"}
    with _tracer().start_as_current_span("openai.chat", attributes=attributes):
        run = _chat(recorder, "Paris.", usage={"prompt_tokens": 3, "completion_tokens": 1})
    (span,) = exporter.get_finished_spans()
    found = dict(span.attributes or {})
    assert found["runid.declaration_id"] == run.declaration_id
    assert found["runid.execution_id"] == run.execution_id
    assert "gen_ai.usage.input_tokens" not in found  # the instrumentor's attributes, not ours


def test_an_agent_span_and_an_already_claimed_span_are_not_adopted(
    exporter: InMemorySpanExporter, recorder: Recorder
) -> None:
    agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.system": "openai"}
    with _tracer().start_as_current_span("invoke_agent", attributes=agent):
        _chat(recorder, "one")
        _chat(recorder, "two")
    with _tracer().start_as_current_span("openai.chat", attributes={"gen_ai.system": "openai"}):
        first = _chat(recorder, "three")
        second = _chat(recorder, "four")  # the call span carries the first run's ids already
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans].count("chat gpt-4o-mini") == 3
    claimed = next(s for s in spans if s.name == "openai.chat")
    assert dict(claimed.attributes or {})["runid.execution_id"] == first.execution_id
    own = [s for s in spans if s.name == "chat gpt-4o-mini"][-1]
    assert dict(own.attributes or {})["runid.execution_id"] == second.execution_id


def test_no_tracer_provider_no_span(recorder: Recorder) -> None:
    # The API alone (the proxy provider): nothing is traced, the run is recorded as ever.
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    run = _chat(recorder, "Paris.")
    assert run.recorded


def test_a_failing_tracer_never_breaks_the_call(
    monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    class Broken:
        def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("exporter misconfigured")

    monkeypatch.setattr(trace, "get_tracer_provider", Broken)
    run = _chat(recorder, "Paris.")
    assert run.recorded
