"""LangChain: a callback handler that records every chat model call as a runid run.

:func:`callback_handler` gives a LangChain callback handler (a ``BaseCallbackHandler``) to
pass where LangChain takes callbacks: ``ChatOpenAI(..., callbacks=[handler])``,
``chain.invoke(x, config={"callbacks": [handler]})``. For every chat model call it declares the
call when the model starts (the declaration id is fixed before the request), and records the
output and what the provider reported when it ends, or the error when it fails; ``on_run``
receives each finished :class:`~runid.capture.Run`, and :func:`runid.last_run` and
``runid.context()`` work as they do for :func:`runid.instrument`.

The declaration is LangChain's view of the call, mapped the OpenAI chat way
(:func:`runid.integrations.openai.declaration_from_chat_request`): the messages as LangChain
converts them to OpenAI's format (``convert_to_openai_messages``), the invocation parameters
(``model``, ``temperature``, ``max_completion_tokens``, ``stop``, ``tools``, ...; LangChain's own
bookkeeping ``_type``, ``model_name`` and ``stream`` left out), and the model's base URL from
its serialized settings. For ``ChatOpenAI`` that is the request it sends, so a call recorded
by the handler and the same call recorded by ``runid.instrument()`` have the same declaration
id (and ``runid replay`` can run it); other chat models are declared under their LangChain
provider (``ls_provider``) and engine ``langchain:<type>``. Use one of the two for a client,
not both: each records the call. Text completion models (``on_llm_start``) are not recorded.

The observed facts come from LangChain's result: ``model_name``, the response ``id``,
``system_fingerprint``, ``token_usage`` (or ``usage_metadata``) and ``finish_reason``; a streamed
call (``.stream()``) reports what LangChain keeps of a stream (its finish reason and model,
usually no usage or id). The output is the assistant text, or the canonical JSON of its tool
calls, as the OpenAI adapter records it; LangChain keeps a tool call's arguments parsed, so
they are recorded as LangChain serializes them again (the text the model wrote is gone).

``langchain-core`` is imported when a handler is made: runid does not depend on it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from uuid import UUID

from ..capture import Recorder, Run
from ..runtime import library_versions
from ._callbacks import begin_detached, callback_context
from ._chat import NOT_RECORDED, get
from .instrument import note_run
from .openai import (
    PROVIDER,
    declaration_from_chat_request,
    default_runtime,
    endpoint_of,
    output_bytes,
    output_media_type,
)

__all__ = ["DEFAULT_BASE_URL", "callback_handler", "request_of"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: LangChain's invocation parameters that are not fields of the request it sends.
_BOOKKEEPING = frozenset({"_type", "model_name", "stream", "stream_usage", "ls_structured_output"})
#: The chat model types whose requests are OpenAI chat completions as LangChain sends them.
_OPENAI_TYPES = frozenset({"openai-chat", "azure-openai-chat"})


def request_of(
    messages: Iterable[Any], invocation_params: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The OpenAI-shaped request of one LangChain chat model call: ``messages`` (LangChain
    messages) in OpenAI's format, and the invocation parameters LangChain sends (unset ones,
    ``None``, left out)."""
    convert = importlib.import_module("langchain_core.messages").convert_to_openai_messages
    request: dict[str, Any] = {
        name: value
        for name, value in (invocation_params or {}).items()
        if name not in _BOOKKEEPING and value is not None
    }
    if "model" not in request and (invocation_params or {}).get("model_name"):
        request["model"] = (invocation_params or {})["model_name"]
    request["messages"] = convert(list(messages))
    return request


def _base_url(serialized: Mapping[str, Any] | None, given: str | None) -> str:
    settings = (serialized or {}).get("kwargs") or {}
    for name in ("openai_api_base", "base_url", "api_base"):
        value = settings.get(name)
        if isinstance(value, str) and value:
            return value
    return given or DEFAULT_BASE_URL


def _runtime(kind: str) -> dict[str, Any]:
    """The OpenAI adapter's client-side runtime for an OpenAI request (the same call has the
    same id, however it was recorded); for another chat model, LangChain's versions too and
    the engine ``langchain:<type>`` (no OpenAI replay for it)."""
    runtime = default_runtime()
    if kind not in _OPENAI_TYPES:
        libraries, _missing = library_versions(["langchain-core"])
        runtime["libraries"] = {**runtime["libraries"], **libraries}
        runtime["engine"] = {"name": f"langchain:{kind}", "version": dict(NOT_RECORDED)}
    return runtime


class Recording:
    """The handler's behaviour; :func:`callback_handler` mixes it into LangChain's
    ``BaseCallbackHandler``."""

    raise_error = False  # a recording failure never breaks the chain
    run_inline = True  # called in the caller's context: last_run() and runid.context() work

    def __init__(
        self,
        recorder: Recorder | None = None,
        *,
        on_run: Callable[[Run], None] | None = None,
        base_url: str | None = None,
    ) -> None:
        self.recorder = recorder
        self.on_run = on_run
        self.base_url = base_url
        self.runs: dict[UUID, Run] = {}

    def _recorder(self) -> Recorder:
        if self.recorder is None:
            self.recorder = Recorder()
        return self.recorder

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        invocation_params: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        kind = str((invocation_params or {}).get("_type") or "chat")
        base_url = _base_url(serialized, self.base_url)
        context = callback_context(("served_model", "model_files", "model_digest"))
        provider = PROVIDER if kind in _OPENAI_TYPES else str((metadata or {}).get("ls_provider"))

        def build() -> tuple[Mapping[str, Any], Mapping[str, bytes]]:
            request = request_of(messages[0] if messages else [], invocation_params)
            return declaration_from_chat_request(
                request,
                base_url=base_url,
                runtime=_runtime(kind),
                provider=provider,
                **context.options,
            )

        run = begin_detached(self._recorder(), build, context)
        with contextlib.suppress(Exception):  # a base URL runid cannot read: no endpoint fact
            run.observe(endpoint=endpoint_of(base_url))
        self.runs[run_id] = run
        note_run(run, context.collectors)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self.runs.pop(run_id, None)
        if run is None:
            return
        try:
            _record(run, response)
        finally:
            run.__exit__(None, None, None)
            self._ended(run)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        run = self.runs.pop(run_id, None)
        if run is None:
            return
        try:
            run.__exit__(type(error), error, error.__traceback__)
        finally:
            self._ended(run)

    def _ended(self, run: Run) -> None:
        if self.on_run is not None:
            self.on_run(run)


def _record(run: Run, response: Any) -> None:
    """The output and facts of LangChain's ``LLMResult`` (its first generation)."""
    generations = get(response, "generations") or [[]]
    generation = generations[0][0] if generations and generations[0] else None
    message = get(generation, "message")
    raw_calls = (get(message, "additional_kwargs") or {}).get("tool_calls")
    if not raw_calls and get(message, "tool_calls"):
        convert = importlib.import_module("langchain_core.messages").convert_to_openai_messages
        raw_calls = convert([message])[0].get("tool_calls")
    content = get(message, "content")
    if not isinstance(content, str):
        content = get(generation, "text") or ""
    shaped = {"choices": [{"message": {"content": content, "tool_calls": raw_calls or []}}]}
    if message is not None or generation is not None:
        run.set_output(output_bytes(shaped), media_type=output_media_type(shaped))
    output = get(response, "llm_output") or {}
    metadata = get(message, "response_metadata") or {}
    info = get(generation, "generation_info") or {}
    usage = output.get("token_usage") or metadata.get("token_usage")
    if usage is None and get(message, "usage_metadata"):
        usage = dict(get(message, "usage_metadata"))
    run.observe(
        served_model=_text(output.get("model_name") or metadata.get("model_name")),
        system_fingerprint=_text(output.get("system_fingerprint")),
        response_id=_text(output.get("id") or metadata.get("id")),
        usage=usage,
        finish_reason=_text(info.get("finish_reason") or metadata.get("finish_reason")),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@functools.cache
def _handler_class() -> type:
    base: Any = importlib.import_module("langchain_core.callbacks").BaseCallbackHandler
    return type("RunidCallbackHandler", (Recording, base), {"__module__": __name__})


def callback_handler(
    recorder: Recorder | None = None,
    *,
    on_run: Callable[[Run], None] | None = None,
    base_url: str | None = None,
) -> Any:
    """A LangChain callback handler that records every chat model call it sees.

    ``recorder``: a :class:`~runid.capture.Recorder` (default: one for the default home, made
    on the first call); ``on_run``: called with each run once it has ended; ``base_url``: the
    endpoint to declare when the model's settings do not name one (default: OpenAI's).
    :class:`ModuleNotFoundError` when ``langchain-core`` is not installed.
    """
    handler: Any = _handler_class()(recorder, on_run=on_run, base_url=base_url)
    return handler
