"""LiteLLM: a callback that records every ``litellm.completion`` / ``acompletion`` call as a run.

:func:`instrument` adds runid's LiteLLM callback (a ``CustomLogger``) to ``litellm.callbacks``;
:func:`uninstrument` takes it out again, from every list LiteLLM copied it into
(``input_callback``, ``success_callback``, ``_async_success_callback``, ...). Or pass
:func:`callback` where LiteLLM takes callbacks (``litellm.completion(..., callbacks=[cb])``).
Sync and async calls, plain and ``stream=True``, succeeded and failed, are recorded:

* When LiteLLM is about to send the request (its pre-call hook, in the caller's thread and
  context) the call is declared and its run begins: the declaration id is fixed before the
  request. :func:`runid.last_run` is that run from then on, in the caller's context, and
  ``runid.context(...)`` applies, as for :func:`runid.instrument`.
* When LiteLLM reports the call's success or failure the run ends: the output, what the
  provider reported, or the error. LiteLLM reports a success after the call has returned, from
  its logging thread (sync calls) or logging task (async calls), so the run's execution id comes
  a moment after ``completion`` returns: :func:`wait` (or ``await`` :func:`wait_async`) until it
  has, or take the runs from ``on_run=``. A failure is reported before the exception reaches the
  caller. A stream's run ends when LiteLLM has the whole stream: a stream the caller abandons
  never ends (its run stays open, no record is written).

The declaration. For an OpenAI-compatible endpoint (``model="openai/<name>", api_base=...``)
LiteLLM sends the request through the ``openai`` client: the request body it sends (LiteLLM's
``complete_input_dict``: the model name without ``openai/``, the messages, the effective
parameters) is declared exactly as :func:`runid.integrations.openai.declaration_from_chat_request`
declares a ``client.chat.completions.create`` request to that base URL, with the OpenAI
adapter's client-side runtime: the same call made with the ``openai`` client directly (recorded
by :func:`runid.instrument` or ``create_chat``) has the same declaration id, and ``runid replay``
can run it. Other providers are declared from LiteLLM's own view of the call, mapped the OpenAI
chat way: ``model`` as given (provider ``custom_llm_provider``), the messages, LiteLLM's
effective ``optional_params`` (already translated to the provider's names: what it sends) and
tools, engine ``litellm:<provider>`` with LiteLLM's version among the libraries. Their endpoint
is not a condition either; it is observed when LiteLLM names it.

The observed facts come from LiteLLM's ``ModelResponse``: the served model
(``provider_response_model``, else the response's ``model``), response ``id``,
``system_fingerprint``, ``usage``, the first choice's ``finish_reason``, and the endpoint
(``api_base``). For a stream LiteLLM assembles the response and counts tokens itself when the
server sent no usage; such a count is LiteLLM's estimate, not the provider's report, so a
stream's ``usage`` is recorded only when the request asked the server for it
(``stream_options={"include_usage": True}``). The output is the assistant text, or the
canonical JSON of its tool calls, as the OpenAI adapter records them.

:func:`runid.instrument` does not record LiteLLM's calls: LiteLLM posts through the ``openai``
client's low-level ``post``, not ``chat.completions.create`` (which runid patches), so an app
that has both instrumented records each LiteLLM call once, here. Not recorded: a retried or
fallback attempt under the same call id (the first attempt's declaration stands), embeddings,
text completions and the other LiteLLM APIs (no chat messages). LiteLLM itself is imported
when the callback is made: runid does not depend on it.

Tested (``tests/test_litellm.py``) against the local llama.cpp server: plain, streamed, async
and async streamed calls, ``runid.context``, the same declaration as the OpenAI adapter's, a
server that is down (an error record, nothing else), and :func:`uninstrument`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

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

__all__ = ["callback", "instrument", "instrumented", "uninstrument", "wait", "wait_async"]

#: The base URL validated for a provider whose endpoint LiteLLM does not name (the endpoint is
#: not part of a declaration, ADR 0014; none is observed then).
_UNNAMED_ENDPOINT = "https://provider.invalid"
#: The OpenAI adapter's options that describe the OpenAI client's server (not taken here).
_SERVER_OPTIONS = ("served_model", "model_files", "model_digest")
#: The LiteLLM module lists a callback ends up in (LiteLLM copies ``callbacks`` into them).
_CALLBACK_LISTS = (
    "callbacks",
    "input_callback",
    "success_callback",
    "failure_callback",
    "service_callback",
    "_async_input_callback",
    "_async_success_callback",
    "_async_failure_callback",
)

_ended: weakref.WeakKeyDictionary[Run, threading.Event] = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_installed: Any = None  # the callback instrument() added


class Recording:
    """The callback's behaviour; :func:`callback` mixes it into LiteLLM's ``CustomLogger``."""

    def __init__(
        self, recorder: Recorder | None = None, *, on_run: Callable[[Run], None] | None = None
    ) -> None:
        self.recorder = recorder
        self.on_run = on_run
        self.runs: dict[str, Run] = {}
        self._lock = threading.Lock()

    def _recorder(self) -> Recorder:
        with self._lock:
            if self.recorder is None:
                self.recorder = Recorder()
            return self.recorder

    # --- LiteLLM's hooks ---------------------------------------------------------------------

    def log_pre_api_call(self, model: Any, messages: Any, kwargs: dict[str, Any]) -> None:
        call_id = str(kwargs.get("litellm_call_id") or "")
        if not call_id or call_id in self.runs or not isinstance(kwargs.get("messages"), list):
            return  # a retry of a call already begun, or not a chat call
        context = callback_context(_SERVER_OPTIONS)
        base_url = _api_base(kwargs)
        run = begin_detached(
            self._recorder(), lambda: _declaration(kwargs, base_url, context.options), context
        )
        _ended[run] = threading.Event()
        if base_url is not None:
            with contextlib.suppress(Exception):  # an endpoint runid cannot read: not observed
                run.observe(endpoint=endpoint_of(base_url))
        self.runs[call_id] = run
        note_run(run, context.collectors)

    def log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        run = self.runs.pop(str(kwargs.get("litellm_call_id") or ""), None)
        if run is None:
            return
        try:
            _record(run, kwargs, response_obj)
        finally:
            self._end(run, None)

    def log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        run = self.runs.pop(str(kwargs.get("litellm_call_id") or ""), None)
        if run is None:
            return
        error = kwargs.get("exception")
        if not isinstance(error, BaseException):
            error = RuntimeError(str(error or "the LiteLLM call failed"))
        self._end(run, error)

    async def async_log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        return None  # LiteLLM calls the sync pre-call hook for async calls too

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self.log_success_event(kwargs, response_obj, start_time, end_time)

    async def async_log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self.log_failure_event(kwargs, response_obj, start_time, end_time)

    def _end(self, run: Run, error: BaseException | None) -> None:
        try:
            if error is None:
                run.__exit__(None, None, None)
            else:
                run.__exit__(type(error), error, error.__traceback__)
        finally:
            try:
                from .bridges import after_run

                after_run(run)
                if self.on_run is not None:
                    self.on_run(run)
            finally:
                event = _ended.get(run)
                if event is not None:
                    event.set()


# --- the declaration and the record -----------------------------------------------------------


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _api_base(kwargs: Mapping[str, Any]) -> str | None:
    params = kwargs.get("litellm_params") or {}
    extra = kwargs.get("additional_args") or {}
    for value in (params.get("api_base"), extra.get("api_base"), kwargs.get("api_base")):
        if value is not None and str(value):
            return str(value)  # LiteLLM gives a parsed URL here and there
    return None


def _openai_body(kwargs: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The request LiteLLM sends through the ``openai`` client, or None."""
    extra = kwargs.get("additional_args") or {}
    body = extra.get("complete_input_dict")
    if (
        kwargs.get("custom_llm_provider") == "openai"
        and isinstance(body, Mapping)
        and isinstance(body.get("messages"), list)
    ):
        return body  # an OpenAI chat completions body (LiteLLM marks only some "openai_sdk")
    return None


@functools.lru_cache(maxsize=1)
def _litellm_version() -> dict[str, str]:
    versions, _missing = library_versions(["litellm"])
    return versions


def _declaration(
    kwargs: Mapping[str, Any], base_url: str | None, options: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, bytes]]:
    body = _openai_body(kwargs)
    if body is not None:  # what the OpenAI adapter declares for this request
        return declaration_from_chat_request(
            dict(body),
            base_url=base_url or "https://api.openai.com/v1",
            runtime=default_runtime(),
            **options,
        )
    provider = str(kwargs.get("custom_llm_provider") or "litellm")
    params = {
        name: value
        for name, value in (kwargs.get("optional_params") or {}).items()
        if value is not None and name not in ("model", "messages")
    }
    request = {**params, "model": kwargs.get("model"), "messages": kwargs.get("messages")}
    runtime = default_runtime()
    runtime["libraries"] = {**runtime["libraries"], **_litellm_version()}
    runtime["engine"] = {"name": f"litellm:{provider}", "version": dict(NOT_RECORDED)}
    return declaration_from_chat_request(
        request,
        base_url=base_url or _UNNAMED_ENDPOINT,
        runtime=runtime,
        provider=PROVIDER if provider == "openai" else provider,
        **options,
    )


def _asked_for_usage(kwargs: Mapping[str, Any]) -> bool:
    for source in (kwargs.get("optional_params") or {}, kwargs):
        stream_options = source.get("stream_options")
        if isinstance(stream_options, Mapping) and stream_options.get("include_usage"):
            return True
    return False


def _record(run: Run, kwargs: Mapping[str, Any], response: Any) -> None:
    """The output and facts of LiteLLM's ``ModelResponse`` (for a stream: the one it
    assembled)."""
    streamed = bool(kwargs.get("stream"))
    if streamed and kwargs.get("complete_streaming_response") is not None:
        response = kwargs["complete_streaming_response"]
    if get(response, "choices"):
        run.set_output(output_bytes(response), media_type=output_media_type(response))
    hidden = getattr(response, "_hidden_params", None) or {}
    choices = get(response, "choices") or []
    usage = get(response, "usage")
    if streamed and not _asked_for_usage(kwargs):
        usage = None  # LiteLLM's own count of a stream, not the provider's report
    run.observe(
        served_model=_text(hidden.get("provider_response_model")) or _text(get(response, "model")),
        system_fingerprint=_text(get(response, "system_fingerprint")),
        response_id=_text(get(response, "id")),
        usage=usage,
        finish_reason=_text(get(choices[0], "finish_reason")) if choices else None,
    )


# --- the public functions ---------------------------------------------------------------------


@functools.cache
def _callback_class() -> type:
    base: Any = importlib.import_module("litellm.integrations.custom_logger").CustomLogger

    def init(self: Any, recorder: Any = None, *, on_run: Any = None) -> None:
        base.__init__(self)
        Recording.__init__(self, recorder, on_run=on_run)

    return type(
        "RunidLiteLLMCallback", (Recording, base), {"__module__": __name__, "__init__": init}
    )


def callback(
    recorder: Recorder | None = None, *, on_run: Callable[[Run], None] | None = None
) -> Any:
    """A LiteLLM callback (a ``CustomLogger``) that records every chat call it sees.

    ``recorder``: a :class:`~runid.capture.Recorder` (default: one for the default home, made
    on the first call); ``on_run``: called with each run once it has ended (in LiteLLM's
    logging thread or task). :class:`ModuleNotFoundError` when ``litellm`` is not installed.
    """
    made: Any = _callback_class()(recorder, on_run=on_run)
    return made


def instrument(
    recorder: Recorder | None = None, *, on_run: Callable[[Run], None] | None = None
) -> Any:
    """Record every ``litellm.completion`` / ``acompletion`` call: adds :func:`callback` to
    ``litellm.callbacks`` (instrumenting again replaces it) and returns it."""
    global _installed  # noqa: PLW0603
    litellm: Any = importlib.import_module("litellm")
    made = callback(recorder, on_run=on_run)
    with _lock:
        if _installed is not None:
            _remove(litellm, _installed)
        litellm.callbacks = [*litellm.callbacks, made]
        _installed = made
    return made


def uninstrument() -> None:
    """Stop recording LiteLLM's calls: runid's callback is taken out of every LiteLLM list it
    was copied into. Calls already begun end unrecorded."""
    global _installed  # noqa: PLW0603
    with _lock:
        if _installed is not None:
            _remove(importlib.import_module("litellm"), _installed)
            _installed = None


def instrumented() -> bool:
    """Whether :func:`instrument` is in effect."""
    return _installed is not None


def _remove(litellm: Any, made: Any) -> None:
    for name in _CALLBACK_LISTS:
        found = getattr(litellm, name, None)
        if isinstance(found, list) and any(entry is made for entry in found):
            found[:] = [entry for entry in found if entry is not made]
    manager = getattr(litellm, "logging_callback_manager", None)
    remove = getattr(manager, "remove_callback_from_list_by_object", None)
    if callable(remove):
        for name in _CALLBACK_LISTS:
            found = getattr(litellm, name, None)
            if isinstance(found, list):
                with contextlib.suppress(Exception):
                    remove(found, made)


def wait(run: Run | None = None, timeout: float | None = 10.0) -> bool:
    """Wait until ``run`` (default: :func:`runid.last_run`) has ended, its record written; True
    if it has. LiteLLM reports a call's success from its logging thread after the call has
    returned. In async code use :func:`wait_async`: LiteLLM ends the run on the event loop."""
    from .instrument import last_run

    target = run if run is not None else last_run()
    event = _ended.get(target) if target is not None else None
    return event.wait(timeout) if event is not None else False


async def wait_async(run: Run | None = None, timeout: float | None = 10.0) -> bool:
    """:func:`wait` for async code: the event loop keeps running (LiteLLM's logging task ends
    the run on it)."""
    from .instrument import last_run

    target = run if run is not None else last_run()
    event = _ended.get(target) if target is not None else None
    if event is None:
        return False
    deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
    while not event.is_set():
        if deadline is not None and asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(0.005)
    return True
