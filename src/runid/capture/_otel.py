"""OpenTelemetry: one span per run, following the GenAI semantic conventions (optional).

When the OpenTelemetry API is installed and a real tracer provider is set
(``trace.set_tracer_provider``), :func:`start_run_span` opens a span for the run as it begins,
a child of the span current at that moment (never made current itself: a run can outlive the
call that began it, e.g. a stream read later), and :func:`end_run_span` ends it with what the
record says. The span carries ``runid.declaration_id`` from the start and
``runid.execution_id`` at the end, next to the GenAI attributes read from the declaration
(``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.model`` and the declared
sampling parameters) and from the record (``gen_ai.response.model``, ``gen_ai.response.id``,
``gen_ai.response.finish_reasons``, ``gen_ai.usage.input_tokens``/``output_tokens``,
``server.address``/``server.port`` from ``observed.endpoint``, ``error.type``). Two runs under
one request span are two spans: neither overwrites the other's ids. No content (messages,
outputs) goes on a span: digests are runid's business, texts the instrumentors'.

Another GenAI instrumentor (OpenLLMetry's ``OpenAIInstrumentor``, ...) that already opened a
span for this very model call: when the current span is a recording span whose attributes say
it is a GenAI model call (``gen_ai.operation.name`` ``chat``, ``text_completion``,
``generate_content`` or ``embeddings``, or ``gen_ai.system`` without an operation) and that does
not carry a runid id yet, the run's ids go on that span and runid opens none: one span per
call, not two that would count its tokens twice. runid adds only its two ids to such a span,
never its own GenAI attributes over the instrumentor's.

Tracing never breaks the user's call: a missing, unconfigured, broken or failing OpenTelemetry
is ignored. Without a tracer provider the cost is one look-up per run.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["end_run_span", "request_attributes", "response_attributes", "start_run_span"]

DECLARATION_ID = "runid.declaration_id"
EXECUTION_ID = "runid.execution_id"

#: Operations of a span that *is* one model call (another instrumentor's span to adopt); an
#: agent or workflow span (``invoke_agent``, ...) holds several calls and is never adopted.
_MODEL_CALLS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})

#: Declared parameters -> GenAI request attributes (the first one given wins).
_PARAMETERS = (
    ("temperature", "gen_ai.request.temperature"),
    ("top_p", "gen_ai.request.top_p"),
    ("top_k", "gen_ai.request.top_k"),
    ("max_tokens", "gen_ai.request.max_tokens"),
    ("max_completion_tokens", "gen_ai.request.max_tokens"),
    ("max_output_tokens", "gen_ai.request.max_tokens"),
    ("max_new_tokens", "gen_ai.request.max_tokens"),
    ("frequency_penalty", "gen_ai.request.frequency_penalty"),
    ("presence_penalty", "gen_ai.request.presence_penalty"),
    ("seed", "gen_ai.request.seed"),
    ("n", "gen_ai.request.choice.count"),
    ("stop", "gen_ai.request.stop_sequences"),
    ("stop_sequences", "gen_ai.request.stop_sequences"),
)


@functools.cache
def _importable() -> bool:
    try:
        import opentelemetry.trace  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
    except Exception:  # not installed, or broken: tracing is optional
        return False
    return True


def _trace() -> Any:
    # A dict look-up first: this runs twice per captured call, an import statement costs more.
    trace: Any = sys.modules.get("opentelemetry.trace")
    if trace is None and _importable():
        trace = sys.modules.get("opentelemetry.trace")
    return trace


@functools.cache
def _version() -> str | None:
    try:
        from importlib.metadata import version

        return version("runid")
    except Exception:  # not installed as a distribution (a source tree on the path)
        return None


_tracers: dict[int, tuple[Any, Any]] = {}  # id(provider) -> (provider, tracer)


def _tracer(provider: Any) -> Any:
    found = _tracers.get(id(provider))
    if found is not None and found[0] is provider:
        return found[1]
    tracer = provider.get_tracer("runid", _version())
    _tracers.clear()  # one provider at a time, in practice
    _tracers[id(provider)] = (provider, tracer)
    return tracer


class _Adopted:
    """Another instrumentor's span of this model call: it gets runid's ids only."""

    __slots__ = ("span",)

    def __init__(self, span: Any) -> None:
        self.span = span


def _attributes_of(span: Any) -> Mapping[str, Any] | None:
    attributes = getattr(span, "attributes", None)  # the SDK's spans (ReadableSpan)
    return attributes if isinstance(attributes, Mapping) else None


def _is_model_call_span(span: Any) -> bool:
    """A recording span another instrumentor opened for one model call, without runid ids."""
    attributes = _attributes_of(span)
    if not attributes or DECLARATION_ID in attributes:
        return False
    operation = attributes.get("gen_ai.operation.name")
    if operation is not None:
        return operation in _MODEL_CALLS
    return "gen_ai.system" in attributes or "gen_ai.provider.name" in attributes


def _named(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _value(value: object) -> Any:
    """An attribute value OpenTelemetry takes (scalars, lists of strings), else None."""
    if isinstance(value, bool | str | int | float):
        return value
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def operation_of(declaration: Mapping[str, Any]) -> tuple[str | None, str]:
    """``(gen_ai.operation.name, span name)`` of a run: ``chat {model}`` for a model call,
    ``execute_tool {tool}`` for a tool step (no model, one chosen tool), else no operation."""
    model = declaration.get("model")
    name = _named(model.get("name")) if isinstance(model, Mapping) else None
    if name is not None:
        return "chat", f"chat {name}"
    tools = declaration.get("tools")
    choice = tools.get("choice") if isinstance(tools, Mapping) else None
    tool = _named(choice.get("name")) if isinstance(choice, Mapping) else None
    if tool is not None:
        return "execute_tool", f"execute_tool {tool}"
    return None, "runid run"


def request_attributes(declaration: Mapping[str, Any], declaration_id: str) -> dict[str, Any]:
    """The span attributes a run has when it begins: its declaration id and the GenAI
    request attributes its declaration states (declared or known default values only).

    >>> import runid.examples
    >>> attributes = request_attributes(runid.examples.example("chat-hosted-model"), "sha256:…")
    >>> attributes["gen_ai.operation.name"], attributes["gen_ai.request.model"]
    ('chat', 'gpt-4o-mini')
    """
    attributes: dict[str, Any] = {DECLARATION_ID: declaration_id}
    operation, _ = operation_of(declaration)
    if operation is None:
        return attributes
    attributes["gen_ai.operation.name"] = operation
    model = declaration.get("model")
    if isinstance(model, Mapping):
        if _named(model.get("provider")):
            attributes["gen_ai.provider.name"] = model["provider"]
        if _named(model.get("name")):
            attributes["gen_ai.request.model"] = model["name"]
    if operation == "execute_tool":
        attributes["gen_ai.tool.name"] = declaration["tools"]["choice"]["name"]
    parameters = declaration.get("parameters")
    if isinstance(parameters, Mapping):
        for name, attribute in _PARAMETERS:
            parameter = parameters.get(name)
            if attribute in attributes or not isinstance(parameter, Mapping):
                continue
            if "value" in parameter and parameter.get("source") in ("declared", "default"):
                value = parameter["value"]
                if attribute.endswith("stop_sequences") and isinstance(value, str):
                    value = [value]  # one stop string is a list of one
                converted = _value(value)
                if converted is not None:
                    attributes[attribute] = converted
    return attributes


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def response_attributes(record: Mapping[str, Any]) -> dict[str, Any]:
    """The span attributes a run has when it ends: its execution id and what its record's
    observed facts and outcome say (a fact not recorded is left out)."""
    attributes: dict[str, Any] = {EXECUTION_ID: record["execution_id"]}
    observed = record.get("observed")
    if isinstance(observed, Mapping):
        for fact, attribute in (
            ("served_model", "gen_ai.response.model"),
            ("response_id", "gen_ai.response.id"),
        ):
            if _named(observed.get(fact)):
                attributes[attribute] = observed[fact]
        if _named(observed.get("finish_reason")):
            attributes["gen_ai.response.finish_reasons"] = (observed["finish_reason"],)
        usage = observed.get("usage")
        if isinstance(usage, Mapping):
            for name in ("input_tokens", "output_tokens"):
                count = _count(usage.get(name))
                if count is not None:
                    attributes[f"gen_ai.usage.{name}"] = count
        endpoint = observed.get("endpoint")
        if _named(endpoint):
            try:
                parts = urlsplit(str(endpoint))
                if parts.hostname:
                    attributes["server.address"] = parts.hostname
                if parts.port is not None:
                    attributes["server.port"] = parts.port
            except ValueError:
                pass
    outcome = record.get("outcome")
    error = outcome.get("error") if isinstance(outcome, Mapping) else None
    if isinstance(error, Mapping) and _named(error.get("type")):
        attributes["error.type"] = error["type"]
    return attributes


def start_run_span(declaration: Mapping[str, Any], declaration_id: str) -> Any:
    """Open the span of a run as it begins (or adopt another instrumentor's span of this
    model call); the handle for :func:`end_run_span`, None when nothing is traced."""
    trace = _trace()
    if trace is None:
        return None
    try:
        provider = trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
            return None  # OpenTelemetry is not configured
        current = trace.get_current_span()
        if current.is_recording() and _is_model_call_span(current):
            current.set_attribute(DECLARATION_ID, declaration_id)
            return _Adopted(current)
        _, name = operation_of(declaration)
        span = _tracer(provider).start_span(
            name,
            kind=trace.SpanKind.CLIENT,
            attributes=request_attributes(declaration, declaration_id),
        )
        return span if span.is_recording() else None
    except Exception:  # a tracing problem must never break the user's call
        return None


def end_run_span(handle: Any, record: Mapping[str, Any] | None, failure: object = None) -> None:
    """End the span :func:`start_run_span` opened, with what ``record`` says (None: the
    record could not be built; ``failure`` is the call's exception, if any)."""
    if handle is None:
        return
    try:
        if isinstance(handle, _Adopted):
            if record is not None and handle.span.is_recording():
                handle.span.set_attribute(EXECUTION_ID, record["execution_id"])
            return
        if record is not None:
            handle.set_attributes(response_attributes(record))
        if isinstance(failure, BaseException):
            trace = _trace()
            handle.set_attribute("error.type", type(failure).__name__)
            handle.set_status(trace.Status(trace.StatusCode.ERROR, type(failure).__name__))
        handle.end()
    except Exception:  # a tracing problem must never break the user's call
        return
