"""One line to record an existing app: ``runid.instrument()``, call sites and return types kept.

``runid.instrument()`` patches the client classes of the SDKs that are installed, so every
call of every client is a captured run: OpenAI's ``chat.completions.create`` and
``responses.create`` (``OpenAI`` and ``AsyncOpenAI``, plain and ``stream=True``) and
Anthropic's ``messages.create`` (``Anthropic`` and ``AsyncAnthropic``). ``instrument(client)``
records the calls of that one client only (also as
``runid.integrations.openai.instrument(client)``). The call returns what it returned before:
the SDK's response object, or its stream (the same class to ``isinstance``, every attribute; its
chunks pass through runid, which records the run when the stream ends, fails or is closed).

The run is reachable without touching the call site: :func:`last_run` (the run of the last
instrumented call in this context: thread and asyncio task), ``on_run=`` (called with each run
once it has ended: for a stream, when the stream does), and ``with runid.context(...) as runs``
(the runs begun in the block, in order). What the request does not show is declared around the
calls it applies to: ``with runid.context(context=..., template=..., parent=...)`` (the keyword
arguments of :func:`runid.integrations.openai.create_chat`: ``context``, ``template``,
``truncation``, ``contents``, ``parent``, ``step``, ``upstream`` and the served model's
identity).

>>> import runid
>>> runid.instrument()          # doctest: +SKIP
>>> client.chat.completions.create(model="smollm2", messages=msgs)   # doctest: +SKIP
>>> runid.last_run().execution_id   # doctest: +SKIP

``uninstrument()`` (``uninstrument(client)``) restores the classes exactly: the method is the
object it was before. The patch is installed when the first client (or the global form) is
instrumented and removed with the last.

Other instrumentors (OpenTelemetry's, OpenLLMetry's, ...) wrap the same methods with ``wrapt``
proxies. runid installs itself *inside* such a proxy (it replaces the proxy's ``__wrapped__``),
whichever was instrumented first, so their span is current when runid's run begins and gets
runid's ids instead of a second span (:mod:`runid.capture`). When another proxy was put over
runid's method, ``uninstrument`` removes runid from inside it if it can and otherwise leaves an
inactive pass-through (the call goes straight to the SDK).

When the app has imported MLflow or Langfuse, each run's ids also go on the MLflow span or
the Langfuse observation of the call (:mod:`runid.integrations.bridges`).

A ``with_raw_response`` call (what LangChain's ``ChatOpenAI`` makes) is recorded from its parsed
response and returns the raw response as ever (the SDK binds a client's ``with_raw_response``
methods when they are first used: instrument before a client's first raw call). Not recorded
(the call passes through unchanged): ``with_streaming_response`` and raw streamed calls (the
caller reads the HTTP body itself), ``chat.completions.parse`` and ``responses.parse`` (they
do not go through ``create``), positional arguments, and a call a runid run already captures
(an explicit :func:`~runid.integrations.openai.create_chat`, the model calls of
:func:`~runid.integrations.agent.run_agent`): one call, one run. A request runid cannot
declare is reported as the recorder's ``on_error`` says and still sent.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import itertools
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..capture import CaptureWarning, Recorder, Run, current_run
from ._chat import given
from ._instrumented import AsyncInstrumentedStream, InstrumentedStream, client_view
from .bridges import after_run, before_call

__all__ = [
    "context",
    "context_options",
    "instrument",
    "instrumented",
    "last_run",
    "note_run",
    "uninstrument",
]

RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"

#: What ``runid.context`` takes: the adapters' keyword arguments the request cannot show.
CONTEXT_OPTIONS = (
    "context",
    "template",
    "truncation",
    "contents",
    "parent",
    "step",
    "upstream",
    "served_model",
    "model_files",
    "model_digest",
)

_last: contextvars.ContextVar[Run | None] = contextvars.ContextVar("runid_last_run", default=None)
_declares: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "runid_context", default=None
)


def last_run() -> Run | None:
    """The run of the last instrumented call made in this context (thread, asyncio task), or
    None. For a stream, the run is returned with the stream: its declaration id is fixed, its
    execution id comes when the stream ends. A call whose request could not be sent (or a
    streamed call that failed before its first chunk) leaves None. Runs of calls in other
    threads or tasks: ``on_run=`` or ``runid.context() as runs``."""
    return _last.get()


@contextlib.contextmanager
def context(**declares: Any) -> Iterator[list[Run]]:
    """Declare what the next calls' requests cannot show, for the instrumented calls in the
    block; yields the list of the runs begun in it.

    ``declares``: ``context`` (the retrieval,
    :func:`runid.integrations.retrieval.context_component`), ``template``
    (:func:`runid.integrations.templates.instruction_template`), ``truncation``, ``contents``
    (the bytes they reference), ``parent`` (an execution id or a finished :class:`Run`: the
    calls are steps of it) and ``step``, ``upstream``, ``served_model``, ``model_files``,
    ``model_digest``: as :func:`runid.integrations.openai.create_chat` takes them. A
    ``parent`` without ``step`` numbers the block's calls 0, 1, 2, ... Blocks nest: an inner
    block's values win. An option an API has no place for (``truncation`` on
    the Responses API, which has a field of that name) is not passed to it.
    """
    unknown = sorted(set(declares) - set(CONTEXT_OPTIONS))
    if unknown:
        from ..errors import InputError

        raise InputError(
            f"runid.context() does not take {', '.join(unknown)}",
            hint=f"it takes {', '.join(CONTEXT_OPTIONS)}",
        )
    outer = _declares.get() or {}
    runs: list[Run] = []
    given = {k: v for k, v in declares.items() if v is not None}
    if "parent" in given and "step" not in given:
        given["__steps__"] = itertools.count()  # the calls are its steps 0, 1, 2, ...
    token = _declares.set({**outer, **given, "__runs__": [*outer.get("__runs__", ()), runs]})
    try:
        yield runs
    finally:
        _declares.reset(token)


# --- what is patched ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One SDK method runid records: where it is, how it is captured."""

    module: str
    owner: str
    name: str
    api: str  # "chat", "responses", "messages"
    is_async: bool
    sdk: str  # the import name of the SDK: "openai", "anthropic"


TARGETS = (
    Target("openai.resources.chat.completions", "Completions", "create", "chat", False, "openai"),
    Target(
        "openai.resources.chat.completions", "AsyncCompletions", "create", "chat", True, "openai"
    ),
    Target("openai.resources.responses", "Responses", "create", "responses", False, "openai"),
    Target("openai.resources.responses", "AsyncResponses", "create", "responses", True, "openai"),
    Target("anthropic.resources.messages", "Messages", "create", "messages", False, "anthropic"),
    Target(
        "anthropic.resources.messages", "AsyncMessages", "create", "messages", True, "anthropic"
    ),
    # The SDK's stream helper posts by itself: it is recorded through create(stream=True).
    Target("anthropic.resources.messages", "Messages", "stream", "messages", False, "anthropic"),
    Target(
        "anthropic.resources.messages", "AsyncMessages", "stream", "messages", True, "anthropic"
    ),
)


def _adapter(api: str, is_async: bool) -> Callable[..., Any]:
    """The capture function of an API (imported when first used: no SDK at import time)."""
    if api == "messages":
        from .anthropic import acreate_message, create_message

        return acreate_message if is_async else create_message
    from .openai import acreate_chat, acreate_response, create_chat, create_response

    if api == "chat":
        return acreate_chat if is_async else create_chat
    return acreate_response if is_async else create_response


#: The options each API's capture function takes (``truncation`` is a Responses field).
_TAKES = {
    "chat": frozenset(CONTEXT_OPTIONS),
    "responses": frozenset(CONTEXT_OPTIONS) - {"truncation"},
    "messages": frozenset(CONTEXT_OPTIONS) - {"served_model", "model_files", "model_digest"},
}
#: The capture functions' own keyword arguments: a request that uses one is not recorded.
_RESERVED = frozenset({*CONTEXT_OPTIONS, "recorder", "runtime", "model_version", "provider"})


@dataclass
class _Settings:
    recorder: Recorder | None
    on_run: Callable[[Run], None] | None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def recorder_for_calls(self) -> Recorder:
        # One recorder for every call (one writer: group commit), made on the first call so
        # that instrument() itself touches no home.
        with self.lock:
            if self.recorder is None:
                self.recorder = Recorder()
            return self.recorder


@dataclass
class _Patch:
    target: Target
    owner: type
    original: Any  # what the method was (a function, or the inner function of a proxy)
    wrapper: Any = None
    proxy: Any = None  # the other instrumentor's proxy runid sits inside, if any
    active: bool = True


_lock = threading.RLock()
_global: _Settings | None = None
_clients: weakref.WeakKeyDictionary[Any, _Settings] = weakref.WeakKeyDictionary()
_patches: dict[Target, _Patch] = {}


def _is_proxy(value: object) -> bool:
    """A ``wrapt`` proxy (what OpenTelemetry instrumentors install): its ``__wrapped__`` is
    the function it calls, and can be replaced."""
    wrapt = sys.modules.get("wrapt")  # no wrapt imported: no wrapt proxy exists
    if wrapt is None:
        return False
    kinds = tuple(
        kind
        for kind in (getattr(wrapt, "ObjectProxy", None), getattr(wrapt, "BaseObjectProxy", None))
        if isinstance(kind, type)
    )
    return bool(kinds) and isinstance(value, kinds) and hasattr(value, "__wrapped__")


def _settings_of(resource: Any) -> _Settings | None:
    try:
        found = _clients.get(getattr(resource, "_client", None))
    except TypeError:  # an unhashable client: not instrumented one by one
        found = None
    return found if found is not None else _global


def _sdk_of(client: Any) -> str:
    module = type(client).__module__.split(".")[0]
    if module not in {t.sdk for t in TARGETS}:
        from ..errors import InputError

        raise InputError(
            f"runid.instrument() does not know the client {type(client).__qualname__} "
            f"(module {type(client).__module__})",
            hint="instrument an openai.OpenAI / AsyncOpenAI or anthropic.Anthropic / "
            "AsyncAnthropic client, or call runid.instrument() for every client",
        )
    return module


def instrument(
    client: Any = None,
    *,
    recorder: Recorder | None = None,
    on_run: Callable[[Run], None] | None = None,
) -> None:
    """Record every call of ``client`` (default: of every client of the installed SDKs).

    ``recorder``: a :class:`~runid.capture.Recorder` (default: one for the default home, made
    on the first call); ``on_run``: called with each run once it has ended. Instrumenting again
    replaces the settings. Calls keep their arguments and return values.
    """
    global _global  # noqa: PLW0603
    settings = _Settings(recorder, on_run)
    with _lock:
        if client is None:
            sdks = {t.sdk for t in TARGETS if _importable(t.sdk)}
            _global = settings
        else:
            sdks = {_sdk_of(client)}
            _clients[client] = settings
        for target in TARGETS:
            if target.sdk in sdks and target not in _patches:
                _install(target)


def uninstrument(client: Any = None) -> None:
    """Stop recording ``client``'s calls (default: the global form's); the classes are
    restored exactly once no client and no global form is left."""
    global _global  # noqa: PLW0603
    with _lock:
        if client is None:
            _global = None
        else:
            _clients.pop(client, None)
        if _global is None and not len(_clients):
            for target in list(_patches):
                _remove(_patches.pop(target))


def instrumented(client: Any = None) -> bool:
    """Whether ``client``'s calls (default: every client's) are recorded."""
    with _lock:
        if client is None:
            return _global is not None
        return client in _clients or (_global is not None and _sdk_of(client) in _patched_sdks())


def _patched_sdks() -> set[str]:
    return {t.sdk for t, p in _patches.items() if p.active}


def _importable(sdk: str) -> bool:
    try:
        importlib.import_module(sdk)
    except Exception:  # not installed, or broken: nothing to instrument
        return False
    return True


def _install(target: Target) -> None:
    try:
        module = importlib.import_module(target.module)
        owner = getattr(module, target.owner)
    except (ImportError, AttributeError):  # an SDK version without this API
        return
    current = owner.__dict__.get(target.name)
    if current is None:
        return
    proxy = None
    while _is_proxy(current):  # inside every instrumentor's proxy
        proxy, current = current, current.__wrapped__
    patch = _Patch(target, owner, current, proxy=proxy)
    patch.wrapper = _wrapper(patch)
    if proxy is not None:
        proxy.__wrapped__ = patch.wrapper
    else:
        setattr(owner, target.name, patch.wrapper)
    _patches[target] = patch


def _remove(patch: _Patch) -> None:
    name = patch.target.name
    current = patch.owner.__dict__.get(name)
    if current is patch.wrapper:
        setattr(patch.owner, name, patch.original)
        return
    while _is_proxy(current):
        proxy: Any = current
        if proxy.__wrapped__ is patch.wrapper:
            proxy.__wrapped__ = patch.original
            return
        current = proxy.__wrapped__
    # Someone holds runid's method where it cannot be reached: it passes calls through.
    patch.active = False


# --- the patched method ------------------------------------------------------------------------


def _wrapper(patch: _Patch) -> Callable[..., Any]:
    original = patch.original
    if patch.target.name == "stream":
        return _stream_helper(patch)
    if patch.target.is_async:

        @functools.wraps(original)
        async def acreate(self: Any, *args: Any, **kwargs: Any) -> Any:
            settings = _recording(patch, self, args, kwargs)
            if settings is None:
                return await original(self, *args, **kwargs)
            sdk = functools.partial(original, self)
            return await _acall(patch.target.api, sdk, self, kwargs, settings)

        return acreate

    @functools.wraps(original)
    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        settings = _recording(patch, self, args, kwargs)
        if settings is None:
            return original(self, *args, **kwargs)
        return _call(patch.target.api, functools.partial(original, self), self, kwargs, settings)

    return create


def _stream_helper(patch: _Patch) -> Callable[..., Any]:
    """Anthropic's ``messages.stream(...)``: the SDK's stream manager, around a recorded
    ``create(stream=True)`` (a structured ``output_format`` passes through unrecorded)."""
    original = patch.original

    @functools.wraps(original)
    def stream(self: Any, *args: Any, **kwargs: Any) -> Any:
        settings = _recording(patch, self, args, kwargs)
        if settings is None or given(kwargs.get("output_format")):
            return original(self, *args, **kwargs)
        sdk_module: Any = importlib.import_module("anthropic")  # typed Any: an optional SDK
        streaming: Any = importlib.import_module("anthropic.lib.streaming")
        headers = {**(kwargs.get("extra_headers") or {}), "X-Stainless-Helper-Method": "stream"}
        request = {**kwargs, "stream": True, "extra_headers": headers}
        request.pop("output_format", None)
        create = _patches.get(replace(patch.target, name="create"))
        sdk = functools.partial(create.original if create else type(self).create, self)
        unset = sdk_module.NOT_GIVEN
        if patch.target.is_async:
            call = _acall(patch.target.api, sdk, self, request, settings)
            return streaming.AsyncMessageStreamManager(call, output_format=unset)
        return streaming.MessageStreamManager(
            lambda: _call(patch.target.api, sdk, self, request, settings), output_format=unset
        )

    return stream


def _recording(
    patch: _Patch, resource: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> _Settings | None:
    """The settings to record this call with, or None: it passes through."""
    settings = _settings_of(resource) if patch.active else None
    if settings is None or args:
        return None
    raw = _raw(kwargs)
    if raw is not None and (raw != "true" or kwargs.get("stream")):
        return None  # with_streaming_response, or a raw stream: HTTP the caller reads itself
    run = current_run()
    if run is not None and _captures(run, kwargs):
        return None  # runid already captures this call (create_chat, run_agent)
    clash = _RESERVED & kwargs.keys()
    if clash:
        warnings.warn(
            CaptureWarning(
                f"runid: a {patch.target.api} request with {', '.join(sorted(clash))} is not "
                "recorded (runid's capture functions take these names themselves)"
            ),
            stacklevel=4,
        )
        return None
    return settings


def _raw(kwargs: Mapping[str, Any]) -> str | None:
    """How ``with_raw_response`` (``"true"``) or ``with_streaming_response`` (``"stream"``)
    asked for the response, or None for a plain call."""
    headers = kwargs.get("extra_headers")
    if isinstance(headers, Mapping) and RAW_RESPONSE_HEADER in headers:
        return str(headers[RAW_RESPONSE_HEADER])
    return None


def _captures(run: Run, kwargs: Mapping[str, Any]) -> bool:
    """Whether ``run`` (current, not ended) is the capture of the call made with ``kwargs``."""
    declaration = run.declaration
    if run.record is not None or run.outputs or not isinstance(declaration, Mapping):
        return False
    model = declaration.get("model")
    return isinstance(model, Mapping) and model.get("name") == kwargs.get("model")


def context_options(api: str) -> tuple[dict[str, Any], list[list[Run]]]:
    """What the enclosing ``runid.context()`` blocks declare, as keyword arguments of the
    capture function of ``api`` (``"chat"``, ``"responses"``, ``"messages"``), and the lists
    their runs go to (for :func:`note_run`). For other adapters (the LangChain handler)."""
    declares = _declares.get() or {}
    takes = _TAKES[api]
    options = {k: v for k, v in declares.items() if k in takes}
    parent = options.get("parent")
    if parent is not None and "step" not in options:
        options["step"] = next(declares["__steps__"])
    if isinstance(parent, Run):
        if parent.execution_id is None:
            warnings.warn(
                CaptureWarning("runid: the parent run has not ended: the call has no parent"),
                stacklevel=5,
            )
            options.pop("parent")
            options.pop("step", None)
        else:
            options["parent"] = parent.execution_id
    return options, declares.get("__runs__", [])


def note_run(run: Run, collectors: list[list[Run]]) -> None:
    """Make ``run`` this context's :func:`last_run` and add it to the blocks' run lists."""
    _last.set(run)
    for runs in collectors:
        runs.append(run)


def _call(
    api: str, sdk: Callable[..., Any], resource: Any, kwargs: dict[str, Any], settings: _Settings
) -> Any:
    """One recorded call: the adapter's capture function over the client, ``sdk`` (the SDK's
    own method, bound) making the call; the SDK's return value (a stream: its proxy)."""
    seen: list[Run] = []
    raw: list[Any] = []  # with_raw_response: the SDK's raw response, returned as it is

    def sdk_call(**request: Any) -> Any:
        run = current_run()
        if run is not None:
            seen.append(run)
        result = sdk(**request)
        if _raw(request) is None:
            return result
        raw.append(result)
        return result.parse()  # recorded from the parsed response (the SDK caches it)

    options, collectors = context_options(api)
    _last.set(None)
    try:
        result, run = _adapter(api, False)(
            client_view(resource._client, api, sdk_call),
            recorder=settings.recorder_for_calls(),
            **options,
            **kwargs,
        )
    except BaseException:
        if seen:  # the call failed: its run recorded the error
            note_run(seen[0], collectors)
            before_call(seen[0], kwargs)
            _notify(settings, seen[0])
        raise
    note_run(run, collectors)
    before_call(run, kwargs)  # what an instrumentor outside runid's patch added to the request
    if kwargs.get("stream"):
        return InstrumentedStream(result, functools.partial(_notify, settings, run))
    _notify(settings, run)
    return raw[0] if raw else result


async def _acall(
    api: str, sdk: Callable[..., Any], resource: Any, kwargs: dict[str, Any], settings: _Settings
) -> Any:
    """:func:`_call` for an async client."""
    seen: list[Run] = []
    raw: list[Any] = []

    async def sdk_call(**request: Any) -> Any:
        run = current_run()
        if run is not None:
            seen.append(run)
        result = await sdk(**request)
        if _raw(request) is None:
            return result
        raw.append(result)
        return result.parse()

    options, collectors = context_options(api)
    _last.set(None)
    try:
        result, run = await _adapter(api, True)(
            client_view(resource._client, api, sdk_call),
            recorder=settings.recorder_for_calls(),
            **options,
            **kwargs,
        )
    except BaseException:
        if seen:
            note_run(seen[0], collectors)
            before_call(seen[0], kwargs)
            _notify(settings, seen[0])
        raise
    note_run(run, collectors)
    before_call(run, kwargs)
    if kwargs.get("stream"):
        return AsyncInstrumentedStream(result, functools.partial(_notify, settings, run))
    _notify(settings, run)
    return raw[0] if raw else result


def _notify(settings: _Settings, run: Run) -> None:
    after_run(run)  # the MLflow / Langfuse bridges (runid.integrations.bridges)
    if settings.on_run is not None:
        settings.on_run(run)
