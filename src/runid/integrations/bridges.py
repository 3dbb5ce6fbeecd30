"""Bridges: runid's ids on the MLflow trace and the Langfuse observation of a call.

A user who looks at MLflow traces or Langfuse observations finds the verified run from there:
when a run recorded by :func:`runid.instrument` (or the LiteLLM callback,
:mod:`runid.integrations.litellm`) ends, its ids go on the span or observation of that call
that the tool has open:

* ``runid.declaration_id`` and ``runid.execution_id``, ``runid.log`` (``{"origin", "index"}``:
  the run's entry in the log, once it is committed: with ``durability="sync"`` it is) and
  ``runid.receipt`` (the command that proves the run: ``runid log prove <execution id>``).

**MLflow** (``mlflow`` or ``mlflow-skinny``): the span of the call is the one
``mlflow.openai.autolog()`` opened around it. MLflow does not make that span current, but it
names it in the request (the ``traceparent`` header it adds): when runid's patch is inside
MLflow's, i.e. :func:`runid.instrument` was called *before* ``mlflow.openai.autolog()``, runid
finds that span, live, and sets the ids as its attributes, and as tags of its trace (searchable:
``mlflow.search_traces(filter_string="tags.`runid.execution_id` = '...'")``). A streamed call's
span gets the declaration id only: MLflow ends it as the stream ends, before runid's run has
its execution id. Otherwise, the
MLflow span active around the call (``@mlflow.trace``, ``mlflow.start_span``) gets them, as
``runid.runs`` (a list: one span can hold several calls). When runid's patch is outside
MLflow's (autolog first), MLflow's span has ended before the run has an execution id: the
call's own span cannot get it, only a span around it.

**Langfuse** (SDK v3 and later, built on OpenTelemetry): the Langfuse observation current when
the run ends (``@observe()``, ``langfuse.start_as_current_observation(...)``) gets the run in
its metadata, as the key ``runid`` (a list, like MLflow's ``runid.runs``). Langfuse's OpenAI
drop-in (``from langfuse.openai import openai``) does not make its generation current, so the
generation itself does not get the ids; with Langfuse as the OpenTelemetry tracer provider (its
default when none is set), runid's own GenAI span of the call (:mod:`runid.capture`, with
``runid.declaration_id`` and ``runid.execution_id``) is exported to Langfuse as an observation
beside it.

Neither library is a dependency: a bridge looks only at a library the app has imported
(``sys.modules``), and does nothing when it is not there, not tracing, or fails (a bridge never
breaks the user's call). Tested (``tests/test_bridges.py``): MLflow's OpenAI autolog with a
local file store against the local llama.cpp server (both orders), an ``mlflow.start_span``
around calls, and a Langfuse observation with its spans exported to memory (no Langfuse
server).
"""

from __future__ import annotations

import contextlib
import json
import sys
import weakref
from collections.abc import Mapping
from typing import Any

from ..capture import Run

__all__ = ["after_run", "before_call", "run_facts"]

#: MLflow spans named by the traceparent header of the request a run sends (while it runs).
_named: weakref.WeakKeyDictionary[Run, Any] = weakref.WeakKeyDictionary()

LANGFUSE_SCOPE = "langfuse-sdk"
LANGFUSE_METADATA = "langfuse.observation.metadata.runid"


def run_facts(run: Run) -> dict[str, Any]:
    """What a bridge tells about ``run``: ``declaration_id``, ``execution_id``, ``log``
    (``{"origin", "index"}`` once committed) and ``receipt`` (the command that proves it)."""
    facts: dict[str, Any] = {"declaration_id": run.declaration_id}
    if run.execution_id is not None:
        facts["execution_id"] = run.execution_id
        facts["receipt"] = f"runid log prove {run.execution_id}"
    if run.recorded and run.entry_index is not None and run.record is not None:
        facts["log"] = {"origin": run.record["issuer"]["name"], "index": run.entry_index}
    return facts


def before_call(run: Run, request: Mapping[str, Any]) -> None:
    """Called with the keyword arguments of a recorded call once the SDK has returned (for a
    stream: before it is read): the MLflow span they name (``traceparent``) gets the
    declaration id now, the rest when the run ends."""
    if "mlflow" not in sys.modules or run.declaration_id is None:
        return
    try:
        span = _mlflow_span_named(request)
        if span is not None:
            _named[run] = span
            span.set_attribute("runid.declaration_id", run.declaration_id)
    except Exception:  # a bridge never breaks the user's call
        return


def after_run(run: Run) -> None:
    """Called when a recorded run has ended: its ids go on the MLflow span and the Langfuse
    observation of the call (see the module's documentation)."""
    if run.declaration_id is None:
        return
    if "mlflow" in sys.modules:
        with contextlib.suppress(Exception):  # a bridge never breaks the user's call
            _to_mlflow(run)
    if "langfuse" in sys.modules:
        with contextlib.suppress(Exception):
            _to_langfuse(run)


# --- MLflow -----------------------------------------------------------------------------------


def _mlflow_span_named(request: Mapping[str, Any]) -> Any:
    """The live MLflow span the request's ``traceparent`` header names, or None."""
    headers = request.get("extra_headers")
    parent = headers.get("traceparent") if isinstance(headers, Mapping) else None
    if not isinstance(parent, str):
        return None
    parts = parent.split("-")
    if len(parts) != 4:
        return None
    trace_manager: Any = sys.modules.get("mlflow.tracing.trace_manager")
    if trace_manager is None:
        return None
    manager = trace_manager.InMemoryTraceManager.get_instance()
    trace_id = manager.get_mlflow_trace_id_from_otel_id(int(parts[1], 16))
    if trace_id is None:
        return None
    span = manager.get_span_from_id(trace_id, parts[2])
    return span if span is not None and _live(span) else None


def _live(span: Any) -> bool:
    inner = getattr(span, "_span", None)
    recording = getattr(inner, "is_recording", None)
    return bool(recording()) if callable(recording) else False


def _to_mlflow(run: Run) -> None:
    facts = run_facts(run)
    span = _named.pop(run, None)
    if span is not None and _live(span):  # the call's own span (autolog outside runid)
        span.set_attributes({f"runid.{name}": value for name, value in facts.items()})
        _mlflow_trace_tags(span.trace_id, facts)
        return
    mlflow: Any = sys.modules["mlflow"]
    active = mlflow.get_current_active_span()
    if active is None or not _live(active):
        return
    runs = active.get_attribute("runid.runs")
    active.set_attribute("runid.runs", [*(runs if isinstance(runs, list) else []), facts])
    _mlflow_trace_tags(active.trace_id, facts)


def _mlflow_trace_tags(trace_id: str, facts: Mapping[str, Any]) -> None:
    """The run's ids as tags of the live trace (the last run's, when it holds several)."""
    trace_manager: Any = sys.modules.get("mlflow.tracing.trace_manager")
    if trace_manager is None:
        return
    with trace_manager.InMemoryTraceManager.get_instance().get_trace(trace_id) as trace:
        if trace is not None:
            for name in ("declaration_id", "execution_id"):
                if name in facts:
                    trace.info.tags[f"runid.{name}"] = facts[name]


# --- Langfuse ---------------------------------------------------------------------------------


def _to_langfuse(run: Run) -> None:
    trace: Any = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return
    span = trace.get_current_span()
    scope = getattr(span, "instrumentation_scope", None)
    if not span.is_recording() or getattr(scope, "name", None) != LANGFUSE_SCOPE:
        return
    attributes = getattr(span, "attributes", None) or {}
    try:
        runs = json.loads(attributes.get(LANGFUSE_METADATA) or "[]")
    except ValueError:
        runs = []
    runs = [*(runs if isinstance(runs, list) else []), run_facts(run)]
    span.set_attribute(LANGFUSE_METADATA, json.dumps(runs, separators=(",", ":")))
