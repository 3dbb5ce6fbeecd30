"""The Anthropic SDK adapter: ``client.messages.create(...)`` captured, built on pure mappings.

Capture: :func:`create_message` / :func:`acreate_message` (``anthropic.Anthropic`` /
``AsyncAnthropic``) call ``client.messages.create(**request)`` and return ``(message, run)``;
with ``stream=True`` the response is a :class:`~runid.integrations.openai.RecordedStream` /
:class:`~runid.integrations.openai.AsyncRecordedStream` that yields the SDK's events as they
come and records the run when the stream ends, fails or is closed early. ``runid.instrument()``
records ``messages.create`` and ``messages.stream`` of every client without changing the calls
(:mod:`runid.integrations.instrument`).

The pure mappings: :func:`declaration_from_messages_request` (the request as sent -> a v1
declaration and the content it references), :func:`observed_from_message` and
:func:`message_facts` (served model, message id, usage, stop reason), :func:`message_output_bytes`
(the output), :class:`MessageStreamAccumulator` (the same from the stream's events).

The declaration: ``model`` (provider ``anthropic``; a dated model id such as
``claude-3-5-haiku-20241022`` is its own ``version``; weights, tokenizer, dtype, quantization
and adapters ``undisclosed`` on Anthropic's API, ``not_recorded`` behind another base URL;
the endpoint is the record's ``observed.endpoint``, ADR 0014); ``instructions`` (the top-level
``system``); ``inputs`` (the messages, each content string as text and each list of content
blocks, ``tool_use`` and ``tool_result`` included, as canonical JSON); ``tools`` (definitions,
and ``tool_choice``: ``auto``, ``none``, ``any`` as ``required``, a named tool as ``{"name"}``);
``constraints.output_schema`` (``output_config.format``); ``parameters``. Every sampling
parameter in :data:`SAMPLING_PARAMETERS` is listed: ``declared`` when the request sets it
(as a keyword argument or in ``extra_body``: SDK 2 takes ``temperature``, ``top_p`` and
``top_k`` there), ``{"source": "provider_default"}`` when it does not. ``max_tokens`` is
required by the API, so always declared. The defaults Anthropic documents for what a request
leaves out (https://docs.anthropic.com/en/api/messages) are applied by its servers, so they
are ``provider_default``, never a value runid asserts: ``temperature`` 1.0; ``top_p`` and
``top_k`` none (unset: not applied); ``stop_sequences`` none (the turn ends naturally);
``thinking`` depends on the model; ``tool_choice`` ``auto`` when tools are given (left out,
``tools.choice`` is ``not_recorded``); parallel tool use allowed
(``tool_choice.disable_parallel_tool_use``, declared as ``disable_parallel_tool_use``). Any
other field the request sets is a declared parameter, except bookkeeping that does not change
what the model computes (:data:`IGNORED_REQUEST_FIELDS`). API keys, ``auth_token`` and
credential headers never enter a declaration or a record.

The output: a message of text blocks only is its text (UTF-8); any other message (tool use,
thinking) is the canonical JSON of its content blocks (``{"type": "text", "text"}``,
``{"type": "tool_use", "id", "name", "input"}``, ``{"type": "thinking", "thinking"}``, other
blocks as sent), the same for a streamed and a non-streamed call.

OpenTelemetry: the ``anthropic`` SDK (2.x) opens a span of its own for each API call when a
tracer provider is set (its ``open_telemetry`` client option, on by default), inside the call,
after runid's run has begun; runid cannot put its ids on it, so a run's span and the SDK's are
siblings, both GenAI spans of one call. For one span per call, turn one of them off:
``Anthropic(open_telemetry=False)`` (runid's span carries the call), or keep the SDK's and
find runid's ids on the run's span next to it.

No server that speaks Anthropic's protocol runs here: the tests drive the real ``anthropic``
client over HTTP against a stdlib ``http.server`` on 127.0.0.1 replaying recorded Messages API
exchanges (plain, streamed, tool use).

>>> decl, blobs = declaration_from_messages_request(
...     {"model": "claude-3-5-haiku-20241022", "max_tokens": 64, "system": "Be brief.",
...      "messages": [{"role": "user", "content": "Hi"}]})
>>> decl["parameters"]["max_tokens"], decl["parameters"]["temperature"]
({'source': 'declared', 'value': 64}, {'source': 'provider_default'})
>>> decl["model"]["version"], decl["model"]["weights"]
('claude-3-5-haiku-20241022', {'absent': 'undisclosed'})
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from ..canonical import canonicalize
from ..capture import Recorder, Run
from ..declaration import validate
from ..errors import E_REQUEST, InputError
from ..privacy import credentials_of, is_secret_name
from ..runtime import application_code, library_versions, platform_facts
from ._chat import (
    JSON_MEDIA,
    NA,
    NOT_RECORDED,
    TEXT_MEDIA,
    Blobs,
    constraints_component,
    get,
    given,
    plain,
    split_instructions,
    tools_component,
    upstream_links,
)
from .openai import AsyncRecordedStream, RecordedStream, endpoint_of

__all__ = [
    "DEFAULT_BASE_URL",
    "ENGINE",
    "IGNORED_REQUEST_FIELDS",
    "PROVIDER",
    "SAMPLING_PARAMETERS",
    "MessageStreamAccumulator",
    "acreate_message",
    "create_message",
    "declaration_from_messages_request",
    "default_runtime",
    "message_facts",
    "message_output_bytes",
    "message_output_media_type",
    "observed_from_message",
]

PROVIDER = "anthropic"
#: ``runtime.engine.name``: the API the run went through (no replay for it yet).
ENGINE = "anthropic.messages"
DEFAULT_BASE_URL = "https://api.anthropic.com"
UNDISCLOSED: dict[str, str] = {"absent": "undisclosed"}
PROVIDER_DEFAULT: dict[str, str] = {"source": "provider_default"}

#: Always listed: ``declared`` when set, ``provider_default`` when left to Anthropic.
SAMPLING_PARAMETERS: tuple[str, ...] = (
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "thinking",
    "disable_parallel_tool_use",
)

#: Request fields that do not change what the model computes (transport, bookkeeping, caching,
#: secrets): not part of a declaration. Every other field the request sets is declared.
IGNORED_REQUEST_FIELDS: frozenset[str] = frozenset(
    {
        "stream",
        "timeout",
        "extra_headers",
        "extra_query",
        "metadata",
        "service_tier",
        "cache_control",
        "diagnostics",
        "user_profile_id",
        "workspace_id",
        "betas",
        "api_key",
        "auth_token",
    }
)
#: Fields mapped to other components than ``parameters``.
_STRUCTURAL = frozenset(
    {"model", "messages", "system", "tools", "tool_choice", "output_config", "extra_body"}
)
_PARAM_NAME = re.compile(r"[a-z][a-z0-9_.-]*")
_DATED = re.compile(r".*-\d{8}")  # claude-3-5-haiku-20241022
_HOSTED = ("api.anthropic.com",)


# --- the declaration -----------------------------------------------------------------------


def default_runtime() -> dict[str, Any]:
    """The client-side runtime: ``anthropic`` and its HTTP library's versions, the platform,
    the application's revision (:func:`runid.runtime.application_code`)."""
    libraries, _missing = library_versions(["anthropic", "httpx", "httpx2"])
    return {
        "engine": {"name": ENGINE, "version": dict(NOT_RECORDED)},
        "libraries": libraries,
        "platform": platform_facts(),
        "hardware": dict(NOT_RECORDED),  # inference runs on the serving side
        "code": application_code(),
        "determinism": {},
    }


def _model(name: object, base_url: object, version: str | None, provider: str) -> dict[str, Any]:
    if not isinstance(name, str) or not name:
        raise InputError(
            "the request has no model name",
            hint="pass model=... (e.g. claude-3-5-haiku-20241022)",
            code=E_REQUEST,
        )
    host = urlsplit(endpoint_of(base_url)).hostname
    hidden = UNDISCLOSED if host in _HOSTED else NOT_RECORDED
    if version is None and _DATED.fullmatch(name):
        version = name
    return {
        "provider": provider,
        "name": name,
        "version": version if version else dict(NOT_RECORDED),
        "endpoint": dict(NA),
        "weights": dict(hidden),
        "tokenizer": dict(hidden),
        "dtype": dict(hidden),
        "quantization": dict(hidden),
        "adapters": dict(hidden),
    }


def _parameter(name: str, value: Any, params: dict[str, Any]) -> None:
    if _PARAM_NAME.fullmatch(name) is None:
        raise InputError(
            f"parameter name {name!r} is not a valid name",
            hint="v1 parameter names are lower case: [a-z][a-z0-9_.-]*",
            code=E_REQUEST,
        )
    params[name] = {"source": "declared", "value": plain(value)}


def _parameters(request: Mapping[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {name: dict(PROVIDER_DEFAULT) for name in SAMPLING_PARAMETERS}
    for name, value in request.items():
        if name not in _STRUCTURAL and name not in IGNORED_REQUEST_FIELDS and given(value):
            _parameter(name, value, params)
    extra = request.get("extra_body")
    if isinstance(extra, Mapping):  # SDK 2 sends temperature, top_p, top_k this way
        for name, value in extra.items():
            if not isinstance(name, str) or is_secret_name(name) or not given(value):
                continue
            if name not in _STRUCTURAL and name not in IGNORED_REQUEST_FIELDS:
                _parameter(name, value, params)
    choice = plain(request.get("tool_choice")) if given(request.get("tool_choice")) else None
    if isinstance(choice, Mapping) and given(choice.get("disable_parallel_tool_use")):
        _parameter("disable_parallel_tool_use", choice["disable_parallel_tool_use"], params)
    config = plain(request.get("output_config")) if given(request.get("output_config")) else {}
    for name, value in config.items() if isinstance(config, Mapping) else ():
        if name != "format" and given(value):
            _parameter(f"output_config.{name}", value, params)
    return dict(sorted(params.items()))


def _choice(tool_choice: Any) -> Any:
    """``tools.choice``: ``auto``, ``none``, ``any`` (use some tool) as ``required``, or the
    forced tool's ``{"name"}``; not recorded when left to Anthropic."""
    choice = plain(tool_choice) if given(tool_choice) else None
    if not isinstance(choice, Mapping):
        return dict(NOT_RECORDED)
    kind = choice.get("type")
    if kind == "tool" and isinstance(choice.get("name"), str):
        return {"name": choice["name"]}
    if kind in ("auto", "none"):
        return kind
    if kind == "any":
        return "required"
    raise InputError(
        f"unsupported tool_choice type: {kind!r}",
        hint="Anthropic's tool_choice types are auto, any, tool and none",
        code=E_REQUEST,
    )


def declaration_from_messages_request(
    request: Mapping[str, Any],
    *,
    base_url: object = DEFAULT_BASE_URL,
    runtime: Mapping[str, Any] | None = None,
    model_version: str | None = None,
    provider: str = PROVIDER,
    upstream: Iterable[Mapping[str, Any]] = (),
    context: Mapping[str, Any] | None = None,
    template: Mapping[str, Any] | None = None,
    truncation: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The v1 declaration of ``client.messages.create(**request)`` sent to ``base_url``, and
    the content it references (``{digest: bytes}``). ``runtime`` defaults to
    :func:`default_runtime`; ``context``, ``template`` and ``truncation`` are what the
    application declares (not given: ``not_recorded``). :class:`~runid.errors.InputError`
    ``E_REQUEST`` for a request v1 cannot carry. Pure apart from the default runtime."""
    blobs = Blobs()
    system = request.get("system")
    leading = [blobs.content(plain(system))] if given(system) and system else []
    messages = [plain(m) for m in request.get("messages") or ()]
    instructions, inputs = split_instructions(
        messages, blobs, leading, template=template, truncation=truncation
    )
    upstream_links(inputs, upstream)
    tools = tools_component(request.get("tools"), None, blobs)
    if "definitions" in tools:
        tools["choice"] = _choice(request.get("tool_choice"))
    config = plain(request.get("output_config")) if given(request.get("output_config")) else {}
    schema = config.get("format") if isinstance(config, Mapping) else None
    given_runtime = dict(plain(runtime)) if runtime is not None else default_runtime()
    if "absent" in given_runtime.get("engine", {}):  # a runtime that names no engine
        given_runtime["engine"] = {"name": ENGINE, "version": dict(NOT_RECORDED)}
    declaration: dict[str, Any] = {
        "spec": "runid/v1",
        "model": _model(request.get("model"), base_url, model_version, provider),
        "parameters": _parameters(request),
        "instructions": instructions,
        "inputs": inputs,
        "context": dict(NOT_RECORDED) if context is None else dict(plain(context)),
        "tools": tools,
        "runtime": given_runtime,
        "constraints": constraints_component(schema, blobs),
    }
    validate(declaration)
    return declaration, blobs.blobs


# --- the response --------------------------------------------------------------------------


def _block(block: object) -> dict[str, Any]:
    kind = get(block, "type")
    if kind == "text":
        return {"type": "text", "text": get(block, "text") or ""}
    if kind in ("tool_use", "server_tool_use"):
        return {
            "type": kind,
            "id": get(block, "id") or "",
            "name": get(block, "name") or "",
            "input": plain(get(block, "input")) or {},
        }
    if kind == "thinking":
        return {"type": "thinking", "thinking": get(block, "thinking") or ""}
    found = plain(block)
    return dict(found) if isinstance(found, Mapping) else {"type": str(kind)}


def _output(blocks: list[dict[str, Any]]) -> tuple[bytes, str]:
    if all(block["type"] == "text" for block in blocks):
        return "".join(block["text"] for block in blocks).encode("utf-8"), TEXT_MEDIA
    return canonicalize(blocks), JSON_MEDIA


def message_output_bytes(message: object) -> bytes:
    """The output of a ``Message``: its text, or the canonical JSON of its content blocks."""
    return _output([_block(b) for b in get(message, "content") or []])[0]


def message_output_media_type(message: object) -> str:
    """The media type of :func:`message_output_bytes`."""
    return _output([_block(b) for b in get(message, "content") or []])[1]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def message_facts(message: object) -> dict[str, Any]:
    """Keyword arguments for :meth:`runid.capture.Run.observe`: what Anthropic reported."""
    return {
        "served_model": _text(get(message, "model")),
        "response_id": _text(get(message, "id")),
        "usage": get(message, "usage"),
        "finish_reason": _text(get(message, "stop_reason")),
    }


def observed_from_message(message: object) -> dict[str, Any]:
    """The record's ``observed`` facts of a ``Message`` (a fact not reported: not recorded).

    >>> observed_from_message({"id": "msg_1", "model": "claude-3-5-haiku-20241022",
    ...     "stop_reason": "end_turn", "usage": {"input_tokens": 9, "output_tokens": 2}})["usage"]
    {'input_tokens': 9, 'output_tokens': 2, 'other': {}}
    """
    from ..capture import usage_fields

    facts = message_facts(message)
    return {
        "served_model": facts["served_model"] or dict(NOT_RECORDED),
        "system_fingerprint": dict(NOT_RECORDED),
        "response_id": facts["response_id"] or dict(NOT_RECORDED),
        "usage": usage_fields(facts["usage"]) if facts["usage"] is not None else NOT_RECORDED,
        "finish_reason": facts["finish_reason"] or dict(NOT_RECORDED),
    }


class MessageStreamAccumulator:
    """Consumes the events of ``messages.create(..., stream=True)`` and gives the output and
    facts of the whole message, as :func:`message_output_bytes` and :func:`message_facts`
    give them for the non-streamed call (what was received, if the stream stopped early).

    >>> acc = MessageStreamAccumulator()
    >>> for event in [
    ...     {"type": "message_start", "message": {"id": "msg_1", "model": "m",
    ...      "usage": {"input_tokens": 9, "output_tokens": 1}}},
    ...     {"type": "content_block_start", "index": 0,
    ...      "content_block": {"type": "text", "text": ""}},
    ...     {"type": "content_block_delta", "index": 0,
    ...      "delta": {"type": "text_delta", "text": "Paris."}},
    ...     {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
    ...      "usage": {"output_tokens": 3}}]:
    ...     acc.add(event)
    >>> acc.output_bytes(), acc.facts()["usage"]
    (b'Paris.', {'input_tokens': 9, 'output_tokens': 3})
    """

    def __init__(self) -> None:
        self.count = 0
        self.model: str | None = None
        self.message_id: str | None = None
        self.stop_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self._blocks: dict[int, dict[str, Any]] = {}
        self._json: dict[int, list[str]] = {}

    def add(self, event: object) -> None:
        """Take in one stream event (an SDK event object or its dict form)."""
        self.count += 1
        kind = get(event, "type")
        if kind == "message_start":
            message = get(event, "message")
            self.model = _text(get(message, "model")) or self.model
            self.message_id = _text(get(message, "id")) or self.message_id
            self._usage(get(message, "usage"))
        elif kind == "content_block_start":
            self._blocks[get(event, "index") or 0] = _block(get(event, "content_block"))
        elif kind == "content_block_delta":
            index = get(event, "index") or 0
            block = self._blocks.setdefault(index, {"type": "text", "text": ""})
            delta = get(event, "delta")
            change = get(delta, "type")
            if change == "text_delta" and block.get("type") == "text":
                block["text"] += get(delta, "text") or ""
            elif change == "input_json_delta":
                self._json.setdefault(index, []).append(get(delta, "partial_json") or "")
            elif change == "thinking_delta" and block.get("type") == "thinking":
                block["thinking"] += get(delta, "thinking") or ""
        elif kind == "message_delta":
            self.stop_reason = _text(get(get(event, "delta"), "stop_reason")) or self.stop_reason
            self._usage(get(event, "usage"))

    def _usage(self, usage: object) -> None:
        found = plain(usage)
        if isinstance(found, Mapping):
            self.usage = {**(self.usage or {}), **{k: v for k, v in found.items() if v is not None}}

    def blocks(self) -> list[dict[str, Any]]:
        """The content blocks received so far, tool inputs parsed from their JSON deltas."""
        found = []
        for index in sorted(self._blocks):
            block = dict(self._blocks[index])
            parts = self._json.get(index)
            if parts is not None and "input" in block:
                text = "".join(parts)
                try:
                    block["input"] = json.loads(text) if text else {}
                except ValueError:  # cut off mid-stream: the JSON as received
                    block["input"] = text
            found.append(block)
        return found

    def output_bytes(self) -> bytes:
        return _output(self.blocks())[0]

    def output_media_type(self) -> str:
        return _output(self.blocks())[1]

    def facts(self) -> dict[str, Any]:
        return {
            "served_model": self.model,
            "response_id": self.message_id,
            "usage": self.usage,
            "finish_reason": self.stop_reason,
        }


# --- capture -------------------------------------------------------------------------------


def _secrets(client: Any, request: Mapping[str, Any]) -> dict[str, Any]:
    found = credentials_of(client, request)
    token = getattr(client, "auth_token", None)
    if isinstance(token, str) and token and token not in found["credentials"]:
        found["credentials"].append(token)
    return found


def _run(client: Any, request: Mapping[str, Any], options: dict[str, Any]) -> Run:
    rec = options.pop("recorder", None) or Recorder()
    parent, step = options.pop("parent", None), options.pop("step", None)
    contents = tuple(options.pop("contents", ()))
    secrets = _secrets(client, request)
    try:
        declaration, blobs = declaration_from_messages_request(
            request, base_url=str(client.base_url), **options
        )
    except Exception as exc:
        failure = exc

        # A request runid cannot declare still goes out; the recorder's on_error decides.
        def unbuildable(_request: Mapping[str, Any]) -> Mapping[str, Any]:
            raise failure

        return rec.capture(unbuildable, request=secrets, parent=parent, step=step)
    run = rec.capture(
        declaration,
        request=secrets,
        contents=[*blobs.values(), *contents],
        parent=parent,
        step=step,
    )
    run.observe(endpoint=endpoint_of(client.base_url))  # where it was reached (ADR 0014)
    return run


def _record(run: Run, message: object) -> None:
    run.set_output(message_output_bytes(message), media_type=message_output_media_type(message))
    facts = message_facts(message)
    run.observe(usage=facts.pop("usage"), **facts)


def create_message(
    client: Any,
    *,
    recorder: Recorder | None = None,
    parent: str | None = None,
    step: int | None = None,
    upstream: Iterable[Mapping[str, Any]] = (),
    runtime: Mapping[str, Any] | None = None,
    model_version: str | None = None,
    provider: str = PROVIDER,
    context: Mapping[str, Any] | None = None,
    template: Mapping[str, Any] | None = None,
    truncation: Mapping[str, Any] | None = None,
    contents: Iterable[bytes | str] = (),
    **request: Any,
) -> tuple[Any, Run]:
    """Call ``client.messages.create(**request)`` under capture; return ``(message, run)``.

    The declaration is built from ``request`` before it is sent; the output and what Anthropic
    reports are recorded after. The keyword arguments are those of
    :func:`runid.integrations.openai.create_chat`. With ``stream=True`` the response is a
    :class:`~runid.integrations.openai.RecordedStream` of the SDK's events; the run is
    recorded when it ends, fails or is closed (same declaration id, and the same output
    digest for the same message, as the non-streamed call).
    """
    options = dict(
        recorder=recorder,
        parent=parent,
        step=step,
        upstream=upstream,
        runtime=runtime,
        model_version=model_version,
        provider=provider,
        context=context,
        template=template,
        truncation=truncation,
        contents=contents,
    )
    run = _run(client, request, options)
    if request.get("stream"):
        run.__enter__()  # the declaration id is fixed before the request
        run.detach()  # the stream outlives this call
        try:
            stream = client.messages.create(**request)
        except BaseException as exc:
            run.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return RecordedStream(stream, run, MessageStreamAccumulator()), run
    with run:
        message = client.messages.create(**request)
        _record(run, message)
    return message, run


async def acreate_message(
    client: Any,
    *,
    recorder: Recorder | None = None,
    parent: str | None = None,
    step: int | None = None,
    upstream: Iterable[Mapping[str, Any]] = (),
    runtime: Mapping[str, Any] | None = None,
    model_version: str | None = None,
    provider: str = PROVIDER,
    context: Mapping[str, Any] | None = None,
    template: Mapping[str, Any] | None = None,
    truncation: Mapping[str, Any] | None = None,
    contents: Iterable[bytes | str] = (),
    **request: Any,
) -> tuple[Any, Run]:
    """:func:`create_message` for ``anthropic.AsyncAnthropic`` (``stream=True``: an
    :class:`~runid.integrations.openai.AsyncRecordedStream`); the log append runs off the
    event loop."""
    options = dict(
        recorder=recorder,
        parent=parent,
        step=step,
        upstream=upstream,
        runtime=runtime,
        model_version=model_version,
        provider=provider,
        context=context,
        template=template,
        truncation=truncation,
        contents=contents,
    )
    run = _run(client, request, options)
    if request.get("stream"):
        await run.__aenter__()
        run.detach()
        try:
            stream = await client.messages.create(**request)
        except BaseException as exc:
            await run.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return AsyncRecordedStream(stream, run, MessageStreamAccumulator()), run
    async with run:
        message = await client.messages.create(**request)
        _record(run, message)
    return message, run
