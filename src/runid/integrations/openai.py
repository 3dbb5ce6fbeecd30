"""The OpenAI client adapter: capture around the real ``openai`` client, built on pure mappings.

Capture (the call goes through the client given; its run is recorded by a
:class:`runid.capture.Recorder`):

* :func:`create_chat` / :func:`acreate_chat` (``OpenAI`` / ``AsyncOpenAI``) and
  :func:`create_response` / :func:`acreate_response` (the Responses API) return
  ``(response, run)``; with
  ``stream=True`` the response is a :class:`RecordedStream` / :class:`AsyncRecordedStream`
  that yields the chunks as they come and records the run when the stream ends, fails or is
  closed early.
* :func:`replay` re-runs a recorded chat declaration (the replay protocol, engine
  :data:`ENGINE`), through :func:`request_from_declaration`, the inverse of the mapping.

The pure mappings, which call nothing and record nothing:

* :func:`declaration_from_chat_request` turns the keyword arguments of
  ``client.chat.completions.create(...)``, as actually sent, into a v1 declaration and the
  content blobs it references (``{digest: bytes}``); :func:`declaration_from_responses_request`
  does the same for ``client.responses.create(...)``.
* :func:`observed_from_chat_response` gives the record's ``observed`` facts (served model,
  system fingerprint, response id, usage, finish reason) and :func:`output_bytes` the output;
  :class:`StreamAccumulator` gives both for a streamed call, chunk by chunk.

The request is read, never the client: API keys, ``extra_headers`` (``Authorization``) and
``extra_query`` never enter a declaration. Every sampling parameter in
:data:`CHAT_SAMPLING_PARAMETERS` is listed: ``declared`` when the request set it,
``{"source": "provider_default"}`` when it did not, so "left to the server" is recorded, never
silent. ``stream``/``stream_options``, ``timeout`` and bookkeeping fields (``metadata``,
``store``, ``user``, ...) do not change what the model computes and are not part of the
declaration: a streamed and a non-streamed call of the same request have the same id.

>>> decl, blobs = declaration_from_chat_request(
...     {"model": "smollm2", "temperature": 0,
...      "messages": [{"role": "system", "content": "Be brief."},
...                   {"role": "user", "content": "Hi"}]},
...     base_url="http://user:pw@127.0.0.1:8080/v1/", runtime=EXAMPLE_RUNTIME)
>>> decl["model"]["endpoint"], decl["parameters"]["temperature"], decl["parameters"]["seed"]
('http://127.0.0.1:8080/v1', {'source': 'declared', 'value': 0}, {'source': 'provider_default'})
>>> sorted(blobs.values())
[b'Be brief.', b'Hi']
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

from .. import capture as _capture_module
from ..canonical import canonicalize
from ..capture import Recorder, Run, usage_fields
from ..declaration import validate
from ..digest import ContentRef, checked_fetch, content_ref
from ..errors import InputError
from ..privacy import is_secret_name
from ..runtime import library_versions, platform_facts

__all__ = [
    "CHAT_SAMPLING_PARAMETERS",
    "ENGINE",
    "EXAMPLE_RUNTIME",
    "IGNORED_REQUEST_FIELDS",
    "PROVIDER",
    "RESPONSES_ENGINE",
    "RESPONSES_SAMPLING_PARAMETERS",
    "AsyncRecordedStream",
    "RecordedStream",
    "ResponsesStreamAccumulator",
    "StreamAccumulator",
    "acreate_chat",
    "acreate_response",
    "chat_components",
    "create_chat",
    "create_response",
    "declaration_from_chat_request",
    "declaration_from_responses_request",
    "default_runtime",
    "endpoint_of",
    "observed_from_chat_response",
    "observed_from_responses_response",
    "output_bytes",
    "output_media_type",
    "replay",
    "request_from_declaration",
    "responses_output_bytes",
    "responses_output_media_type",
]

PROVIDER = "openai-compatible"
#: ``runtime.engine.name`` of the declarations this adapter builds for chat completions: the
#: replay protocol's key (``runid replay`` picks this module's :func:`replay` by it). The engine
#: behind the endpoint is not visible to the client; this names the API the run went through.
ENGINE = "openai-compatible"
#: ``runtime.engine.name`` of Responses API declarations (no replay yet: a distinct name, so
#: replay fails with "unknown engine" instead of sending a Responses request as a chat call).
RESPONSES_ENGINE = "openai-compatible.responses"
TEXT_MEDIA = "text/plain; charset=utf-8"
JSON_MEDIA = "application/json"
NA: dict[str, str] = {"absent": "not_applicable"}
NOT_RECORDED: dict[str, str] = {"absent": "not_recorded"}
PROVIDER_DEFAULT: dict[str, str] = {"source": "provider_default"}

#: Sampling/decoding parameters of the chat completions API that are always listed, as
#: ``declared`` when the request sets them and ``provider_default`` when it does not.
#: (``response_format`` is not a parameter: it is ``constraints.output_schema``.)
CHAT_SAMPLING_PARAMETERS: tuple[str, ...] = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "stop",
    "n",
    "logprobs",
    "top_logprobs",
    "parallel_tool_calls",
)

#: The same for the Responses API (``text.format`` is ``constraints.output_schema``).
RESPONSES_SAMPLING_PARAMETERS: tuple[str, ...] = (
    "temperature",
    "top_p",
    "max_output_tokens",
    "top_logprobs",
    "parallel_tool_calls",
)

#: Request fields that do not change what the model computes (transport, bookkeeping, secrets)
#: and so are not part of a declaration. Every other field the request sets is declared.
IGNORED_REQUEST_FIELDS: frozenset[str] = frozenset(
    {
        "stream",
        "stream_options",
        "timeout",
        "extra_headers",
        "extra_query",
        "metadata",
        "store",
        "user",
        "safety_identifier",
        "prompt_cache_key",
        "prompt_cache_retention",
        "prompt_cache_options",
        "service_tier",
        "background",
        "background_options",
        "include",
        "api_key",
        "organization",
        "project",
        "idempotency_key",
    }
)

# Fields mapped to components other than parameters.
_CHAT_STRUCTURAL = frozenset(
    {"model", "messages", "tools", "tool_choice", "functions", "function_call", "response_format"}
)
_RESPONSES_STRUCTURAL = frozenset({"model", "input", "instructions", "tools", "tool_choice"})
_PARAM_NAME = re.compile(r"[a-z][a-z0-9_.-]*")
_PINNED = re.compile(r".*-\d{4}-\d{2}-\d{2}")  # a dated snapshot name, e.g. gpt-4o-2024-08-06
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})

#: A fixed runtime component for examples and tests that must not depend on this machine.
EXAMPLE_RUNTIME: dict[str, Any] = {
    "engine": {"name": ENGINE, "version": NOT_RECORDED},
    "libraries": {"openai": "0.0.0"},
    "platform": {"os": "linux", "arch": "x86_64", "python": "3.11.7"},
    "hardware": NOT_RECORDED,
    "code": NOT_RECORDED,
    "determinism": {},
}


# --- helpers ----------------------------------------------------------------------------------


def _sentinel(value: object) -> bool:
    """True for the client's "not given" sentinels (``NOT_GIVEN``, ``omit``): never sent."""
    return type(value).__name__ in ("NotGiven", "Omit")


def _given(value: object) -> bool:
    """False for ``None`` and the sentinels: the request leaves the field to the server."""
    return value is not None and not _sentinel(value)


def _plain(value: Any) -> Any:
    """A JSON-like copy: pydantic objects of the SDK dumped (unset fields left out)."""
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        value = dump(exclude_unset=True)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if not _sentinel(v)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


_IS_MAPPING: dict[type, bool] = {}


def _get(obj: object, name: str) -> Any:
    """``obj[name]`` or ``obj.name`` (SDK objects and dicts alike), None when missing."""
    # Runs several times per streamed chunk: an ABC isinstance check costs more than the rest
    # of the look-up, so its answer is kept per type.
    kind = type(obj)
    mapping = _IS_MAPPING.get(kind)
    if mapping is None:
        mapping = _IS_MAPPING[kind] = isinstance(obj, Mapping)
    return obj.get(name) if mapping else getattr(obj, name, None)  # type: ignore[attr-defined]


class _Blobs:
    """Collects the content a declaration references."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def add(self, raw: bytes, media_type: str) -> dict[str, Any]:
        ref: ContentRef = content_ref(raw, media_type)
        self.blobs[ref["digest"]] = raw
        return dict(ref)

    def text(self, text: str) -> dict[str, Any]:
        return self.add(text.encode("utf-8"), TEXT_MEDIA)

    def json(self, value: object) -> dict[str, Any]:
        return self.add(canonicalize(value), JSON_MEDIA)

    def content(self, content: Any) -> dict[str, Any]:
        """Message content: a string as UTF-8 text, a list of parts as canonical JSON."""
        if not _given(content):
            return dict(NA)
        if isinstance(content, str):
            return self.text(content)
        return self.json(_plain(content))

    def arguments(self, arguments: Any) -> dict[str, Any]:
        """Tool arguments as canonical JSON (sent as a JSON string); text if not JSON."""
        if isinstance(arguments, str):
            try:
                parsed = json.loads(arguments)
            except ValueError:
                return self.text(arguments)
            return self.json(parsed)
        return self.json(_plain(arguments))


def endpoint_of(base_url: object) -> str:
    """The endpoint without credentials, query or fragment, and without a trailing ``/``.

    >>> endpoint_of("HTTPS://key:secret@Api.Example.com:443/v1/?api-key=x#f")
    'https://api.example.com:443/v1'
    """
    parts = urlsplit(str(base_url))
    if not parts.scheme or not parts.hostname:
        raise ValueError(f"base_url is not an absolute URL: {parts.scheme}://{parts.hostname}")
    host = parts.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme.lower()}://{host}{parts.path.rstrip('/')}"


@functools.lru_cache(maxsize=1)
def _default_runtime_json() -> bytes:
    libraries, _missing = library_versions(["openai", "httpx", "httpx2"])
    runtime = {
        # The server's engine is not visible to the client: the engine named is the API.
        "engine": {"name": ENGINE, "version": NOT_RECORDED},
        "libraries": libraries,
        "platform": platform_facts(),
        "hardware": NOT_RECORDED,  # inference runs on the serving side
        "code": NOT_RECORDED,
        "determinism": {},
    }
    return canonicalize(runtime)


def default_runtime() -> dict[str, Any]:
    """The client-side runtime: ``openai`` and ``httpx``/``httpx2`` versions, OS, arch, Python.

    The serving engine and hardware are not visible to the client (``not_recorded``); pass a
    ``runtime`` to the builders to declare them, or the code revision (:mod:`runid.runtime`).
    """
    value: dict[str, Any] = json.loads(_default_runtime_json())
    return value


def _model(name: object, base_url: object, version: str | None, provider: str) -> dict[str, Any]:
    if not isinstance(name, str) or not name:
        raise ValueError("the request has no model name")
    if version is None and _PINNED.fullmatch(name):
        version = name
    return {
        "provider": provider,
        "name": name,
        "version": version if version else NOT_RECORDED,
        "endpoint": endpoint_of(base_url),
        "weights": NOT_RECORDED,
        "tokenizer": NOT_RECORDED,
        "dtype": NOT_RECORDED,
        "quantization": NOT_RECORDED,
        "adapters": NOT_RECORDED,
    }


def _param_value(name: str, value: Any) -> Any:
    value = _plain(value)
    if name == "stop" and isinstance(value, str):
        return [value]  # the API accepts one string or a list; one spelling for the id
    return value


def _parameters(
    request: Mapping[str, Any], always: Sequence[str], structural: frozenset[str]
) -> dict[str, Any]:
    params: dict[str, Any] = {name: dict(PROVIDER_DEFAULT) for name in always}
    for name, value in request.items():
        if name in structural or name in IGNORED_REQUEST_FIELDS or name == "extra_body":
            continue
        if _given(value):
            params[name] = {"source": "declared", "value": _param_value(name, value)}
    extra = request.get("extra_body")
    if isinstance(extra, Mapping):  # server-specific parameters (top_k, min_p, ...)
        for name, value in extra.items():
            if not isinstance(name, str) or is_secret_name(name) or not _given(value):
                continue
            if name in structural or name in IGNORED_REQUEST_FIELDS:
                continue
            if _PARAM_NAME.fullmatch(name) is None:
                raise ValueError(f"extra_body parameter name {name!r} is not a valid name")
            params[name] = {"source": "declared", "value": _param_value(name, value)}
    return dict(sorted(params.items()))


def _tool_calls(calls: Iterable[Any], blobs: _Blobs) -> list[dict[str, Any]]:
    found = []
    for given in calls:
        call = _plain(given)
        kind = call.get("type", "function")
        body = call.get(kind) if isinstance(call.get(kind), Mapping) else call.get("function", {})
        arguments = body.get("arguments", body.get("input", ""))
        found.append(
            {
                "id": str(call.get("id") or ""),
                "name": str(body.get("name") or ""),
                "arguments": blobs.arguments(arguments),
            }
        )
    return found


def _message(message: Mapping[str, Any], blobs: _Blobs) -> dict[str, Any]:
    role = message.get("role")
    if role == "function":  # the legacy function-result role
        role = "tool"
    if role not in _ROLES:
        raise ValueError(f"unsupported message role: {role!r}")
    out: dict[str, Any] = {"role": role, "content": blobs.content(message.get("content"))}
    name = message.get("name")
    if isinstance(name, str) and name and message.get("role") != "function":
        out["name"] = name
    call_id = message.get("tool_call_id")
    if message.get("role") == "function" and isinstance(name, str) and name:
        call_id = call_id or name
    if isinstance(call_id, str) and call_id:
        out["tool_call_id"] = call_id
    calls = message.get("tool_calls")
    if _given(calls) and calls:
        out["tool_calls"] = _tool_calls(calls, blobs)
    legacy = message.get("function_call")
    if _given(legacy) and legacy and "tool_calls" not in out:
        out["tool_calls"] = _tool_calls([{"type": "function", "function": legacy}], blobs)
    return out


def _split_instructions(
    messages: Sequence[Mapping[str, Any]], blobs: _Blobs, leading: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(instructions, inputs)``: leading system/developer messages are instructions."""
    system = list(leading)
    rest = 0
    while rest < len(messages) and messages[rest].get("role") in ("system", "developer"):
        system.append(blobs.content(messages[rest].get("content")))
        rest += 1
    system = [ref for ref in system if "absent" not in ref]
    instructions = (
        {"system": system, "template": NA, "source": NOT_RECORDED} if system else dict(NA)
    )
    sent = [_message(m, blobs) for m in messages[rest:]]
    inputs = {"messages": sent, "truncation": NA, "upstream": []} if sent else dict(NA)
    return instructions, inputs


def _tool_name(tool: Mapping[str, Any]) -> tuple[str, str]:
    kind = str(tool.get("type") or "function")
    body = tool.get(kind)
    if isinstance(body, Mapping) and isinstance(body.get("name"), str):
        return body["name"], kind
    name = tool.get("name")  # Responses API: flat {"type": "function", "name": ...}
    return (name if isinstance(name, str) and name else kind), kind


def _tools(
    tools: Any, choice: Any, blobs: _Blobs, legacy: Any = None, legacy_choice: Any = None
) -> dict[str, Any]:
    definitions = []
    if _given(tools):
        for tool in tools:
            plain = _plain(tool)
            name, kind = _tool_name(plain)
            definitions.append({"name": name, "kind": kind, "definition": blobs.json(plain)})
    if _given(legacy):  # the deprecated functions=[...]
        for function in legacy:
            plain = _plain(function)
            definitions.append(
                {
                    "name": str(plain.get("name")),
                    "kind": "function",
                    "definition": blobs.json(plain),
                }
            )
    if not definitions:
        return dict(NA)
    if not _given(choice):
        choice = legacy_choice
    return {"definitions": definitions, "choice": _choice(choice)}


def _choice(choice: Any) -> Any:
    if not _given(choice):
        return dict(NOT_RECORDED)  # left to the provider: its default is not visible here
    choice = _plain(choice)
    if isinstance(choice, str):
        return choice
    name, _kind = _tool_name(choice)
    return {"name": name}


def _constraints(schema: Any, blobs: _Blobs) -> dict[str, Any]:
    output_schema = blobs.json(_plain(schema)) if _given(schema) else dict(NA)
    return {"output_schema": output_schema, "guardrails": [], "budgets": {}}


def _finish(
    declaration: dict[str, Any],
    blobs: _Blobs,
    runtime: Mapping[str, Any] | None,
    engine: str = ENGINE,
    upstream: Iterable[Mapping[str, Any]] = (),
) -> tuple[dict[str, Any], dict[str, bytes]]:
    given = _plain(runtime) if runtime is not None else default_runtime()
    if isinstance(given, dict) and "absent" in given.get("engine", {}):
        # The replay protocol dispatches on the engine name: a runtime that does not name one
        # (e.g. runid.runtime.runtime_component()) gets this adapter's.
        given["engine"] = {"name": engine, "version": dict(NOT_RECORDED)}
    elif (
        isinstance(given, dict)
        and engine != ENGINE
        and given.get("engine", {}).get("name") == ENGINE
    ):
        given["engine"] = {**given["engine"], "name": engine}
    declaration["runtime"] = given
    links = [_plain(link) for link in upstream]
    if links:
        if "absent" in declaration["inputs"]:
            raise ValueError("upstream runs need input messages to feed")
        declaration["inputs"]["upstream"] = links
    validate(declaration)
    return declaration, blobs.blobs


# --- requests ---------------------------------------------------------------------------------


def declaration_from_chat_request(
    request: Mapping[str, Any],
    *,
    base_url: object,
    runtime: Mapping[str, Any] | None = None,
    model_version: str | None = None,
    provider: str = PROVIDER,
    upstream: Iterable[Mapping[str, Any]] = (),
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A valid v1 declaration, and the content it references (``{digest: bytes}``), from the
    keyword arguments of ``client.chat.completions.create(...)`` as sent to ``base_url``.

    ``model.version`` is ``model_version`` if given, the model name if it is a dated snapshot
    (``gpt-4o-2024-08-06``), else ``not_recorded`` (the served model is an observed fact).
    ``runtime`` replaces the client-side :func:`default_runtime` (its ``engine``, when absent,
    becomes :data:`ENGINE`). ``upstream`` lists the runs whose outputs feed this call
    (``{"execution_id", "relation"}``, docs/spec.md §12.9) as ``inputs.upstream``. Raises
    :class:`runid.errors.DeclarationError` if the request cannot make a valid declaration and
    ``ValueError`` for a message role or parameter name v1 cannot carry.
    """
    blobs = _Blobs()
    messages = [_plain(m) for m in request.get("messages") or ()]
    instructions, inputs = _split_instructions(messages, blobs, [])
    declaration: dict[str, Any] = {
        "spec": "runid/v1",
        "model": _model(request.get("model"), base_url, model_version, provider),
        "parameters": _parameters(request, CHAT_SAMPLING_PARAMETERS, _CHAT_STRUCTURAL),
        "instructions": instructions,
        "inputs": inputs,
        "context": dict(NA),
        "tools": _tools(
            request.get("tools"),
            request.get("tool_choice"),
            blobs,
            request.get("functions"),
            request.get("function_call"),
        ),
        "constraints": _constraints(request.get("response_format"), blobs),
    }
    return _finish(declaration, blobs, runtime, ENGINE, upstream)


def chat_components(
    request: Mapping[str, Any], *, upstream: Iterable[Mapping[str, Any]] = ()
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """``instructions``, ``inputs``, ``tools`` and ``constraints`` of a chat request, exactly as
    :func:`declaration_from_chat_request` builds them, and the content they reference.

    For adapters of engines that take OpenAI-shaped chat requests in-process (llama.cpp): they
    add their own ``model``, ``parameters``, ``context`` and ``runtime`` and validate the whole
    declaration once. Not validated here. ``ValueError`` for a message role v1 cannot carry.

    >>> parts, blobs = chat_components({"messages": [{"role": "user", "content": "Hi"}]})
    >>> sorted(parts), list(blobs.values())
    (['constraints', 'inputs', 'instructions', 'tools'], [b'Hi'])
    """
    blobs = _Blobs()
    messages = [_plain(m) for m in request.get("messages") or ()]
    instructions, inputs = _split_instructions(messages, blobs, [])
    links = [_plain(link) for link in upstream]
    if links:
        if "absent" in inputs:
            raise ValueError("upstream runs need input messages to feed")
        inputs["upstream"] = links
    components = {
        "instructions": instructions,
        "inputs": inputs,
        "tools": _tools(
            request.get("tools"),
            request.get("tool_choice"),
            blobs,
            request.get("functions"),
            request.get("function_call"),
        ),
        "constraints": _constraints(request.get("response_format"), blobs),
    }
    return components, blobs.blobs


def _responses_messages(items: Any) -> list[dict[str, Any]]:
    """Responses API input items as chat-style messages (tool calls and their outputs)."""
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    messages: list[dict[str, Any]] = []
    for given in items or ():
        item = _plain(given)
        kind = item.get("type", "message")
        if kind == "message" or (kind is None and "role" in item):
            messages.append({k: v for k, v in item.items() if k in ("role", "content")})
        elif kind in ("function_call", "custom_tool_call"):
            body_key = "function" if kind == "function_call" else "custom"
            call = {
                "id": item.get("call_id") or item.get("id"),
                "type": body_key,
                body_key: {
                    "name": item.get("name"),
                    "arguments": item.get("arguments", item.get("input", "")),
                },
            }
            last = messages[-1] if messages else None
            if last is not None and last.get("role") == "assistant" and last.get("tool_calls"):
                last["tool_calls"].append(call)  # parallel calls: one assistant turn
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind in ("function_call_output", "custom_tool_call_output"):
            messages.append(
                {"role": "tool", "tool_call_id": item.get("call_id"), "content": item.get("output")}
            )
        else:
            raise ValueError(f"unsupported Responses input item type: {kind!r}")
    return messages


def declaration_from_responses_request(
    request: Mapping[str, Any],
    *,
    base_url: object,
    runtime: Mapping[str, Any] | None = None,
    model_version: str | None = None,
    provider: str = PROVIDER,
    upstream: Iterable[Mapping[str, Any]] = (),
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """:func:`declaration_from_chat_request` for ``client.responses.create(...)``.

    ``instructions`` (and leading system/developer input items) are ``instructions.system``;
    ``input`` (a string, or message, function-call and function-call-output items) is
    ``inputs.messages``; ``text.format`` is ``constraints.output_schema`` and the rest of
    ``text`` (verbosity) a parameter; ``reasoning``, ``truncation``, ``previous_response_id``
    and other fields are declared parameters.
    """
    blobs = _Blobs()
    leading = []
    given_instructions = request.get("instructions")
    if _given(given_instructions):
        leading.append(blobs.content(given_instructions))
    messages = _responses_messages(request.get("input"))
    instructions, inputs = _split_instructions(messages, blobs, leading)
    text = _plain(request.get("text")) if _given(request.get("text")) else {}
    schema = text.pop("format", None) if isinstance(text, dict) else None
    params_request = {k: v for k, v in request.items() if k != "text"}
    if text:
        params_request["text"] = text
    declaration: dict[str, Any] = {
        "spec": "runid/v1",
        "model": _model(request.get("model"), base_url, model_version, provider),
        "parameters": _parameters(
            params_request, RESPONSES_SAMPLING_PARAMETERS, _RESPONSES_STRUCTURAL
        ),
        "instructions": instructions,
        "inputs": inputs,
        "context": dict(NA),
        "tools": _tools(request.get("tools"), request.get("tool_choice"), blobs),
        "constraints": _constraints(schema, blobs),
    }
    return _finish(declaration, blobs, runtime, RESPONSES_ENGINE, upstream)


# --- responses --------------------------------------------------------------------------------


def _text_or_absent(value: object) -> Any:
    return value if isinstance(value, str) and value else dict(NOT_RECORDED)


def _observed(
    model: object, fingerprint: object, response_id: object, usage: object, finish: object
) -> dict[str, Any]:
    return {
        "served_model": _text_or_absent(model),
        "system_fingerprint": _text_or_absent(fingerprint),
        "response_id": _text_or_absent(response_id),
        "usage": usage_fields(usage) if usage is not None else dict(NOT_RECORDED),
        "finish_reason": _text_or_absent(finish),
    }


def observed_from_chat_response(response: object) -> dict[str, Any]:
    """The record's ``observed`` member from a ``ChatCompletion`` (or its dict form): served
    ``model``, ``system_fingerprint``, response ``id``, ``usage`` and the first choice's
    ``finish_reason``; a fact the response does not carry is ``{"absent": "not_recorded"}``.
    """
    choices = _get(response, "choices") or []
    finish = _get(choices[0], "finish_reason") if choices else None
    return _observed(
        _get(response, "model"),
        _get(response, "system_fingerprint"),
        _get(response, "id"),
        _get(response, "usage"),
        finish,
    )


def _calls_json(calls: Sequence[Mapping[str, Any]]) -> bytes:
    return canonicalize(
        [
            {
                "id": call.get("id") or "",
                "type": call.get("type") or "function",
                "name": call.get("name") or "",
                "arguments": call.get("arguments") or "",
            }
            for call in calls
        ]
    )


def _message_output(content: object, calls: Sequence[Mapping[str, Any]]) -> bytes:
    if calls:
        return _calls_json(calls)
    return content.encode("utf-8") if isinstance(content, str) else b""


def _flat_calls(message: object) -> list[dict[str, Any]]:
    found = []
    for call in _get(message, "tool_calls") or []:
        kind = _get(call, "type") or "function"
        body = _get(call, kind) or _get(call, "function")
        found.append(
            {
                "id": _get(call, "id"),
                "type": kind,
                "name": _get(body, "name"),
                "arguments": _get(body, "arguments") or _get(body, "input"),
            }
        )
    return found


def output_bytes(response: object, choice: int = 0) -> bytes:
    """The output of one choice: the assistant text as UTF-8, or, when the model called tools,
    the canonical JSON of ``[{"id", "type", "name", "arguments"}]`` (arguments as the model
    wrote them)."""
    message = _get((_get(response, "choices") or [])[choice], "message")
    return _message_output(_get(message, "content"), _flat_calls(message))


def output_media_type(response: object, choice: int = 0) -> str:
    """The media type of :func:`output_bytes` for the same choice."""
    message = _get((_get(response, "choices") or [])[choice], "message")
    return JSON_MEDIA if _flat_calls(message) else TEXT_MEDIA


def observed_from_responses_response(response: object) -> dict[str, Any]:
    """The record's ``observed`` member from a Responses API ``Response`` (or its dict form):
    ``model``, ``id``, ``usage``; the finish reason is ``incomplete_details.reason`` for an
    incomplete response (``max_output_tokens``), else its ``status`` (``completed``). The
    Responses API has no system fingerprint (``not_recorded``).

    >>> observed_from_responses_response({"id": "resp_1", "model": "m", "status": "completed",
    ...     "usage": {"input_tokens": 3, "output_tokens": 1}})["finish_reason"]
    'completed'
    """
    finish = _get(_get(response, "incomplete_details"), "reason") or _get(response, "status")
    return _observed(
        _get(response, "model"), None, _get(response, "id"), _get(response, "usage"), finish
    )


def _responses_output(response: object) -> tuple[str, list[dict[str, Any]]]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in _get(response, "output") or []:
        kind = _get(item, "type")
        if kind == "message":
            for part in _get(item, "content") or []:
                if _get(part, "type") == "output_text" and isinstance(_get(part, "text"), str):
                    texts.append(_get(part, "text"))
        elif kind in ("function_call", "custom_tool_call"):
            calls.append(
                {
                    "id": _get(item, "call_id") or _get(item, "id"),
                    "type": "function" if kind == "function_call" else "custom",
                    "name": _get(item, "name"),
                    "arguments": _get(item, "arguments") or _get(item, "input"),
                }
            )
    return "".join(texts), calls


def responses_output_bytes(response: object) -> bytes:
    """:func:`output_bytes` for a Responses API ``Response``: the output text as UTF-8 or, when
    the model called tools, the canonical JSON of ``[{"id", "type", "name", "arguments"}]``."""
    text, calls = _responses_output(response)
    return _message_output(text, calls)


def responses_output_media_type(response: object) -> str:
    """The media type of :func:`responses_output_bytes`."""
    return JSON_MEDIA if _responses_output(response)[1] else TEXT_MEDIA


class StreamAccumulator:
    """Consumes the chunks of ``create(..., stream=True)`` and gives the same observed facts
    and output as :func:`observed_from_chat_response` and :func:`output_bytes` would for the
    non-streamed response (usage only if the server sent it, e.g. with
    ``stream_options={"include_usage": True}``).

    >>> acc = StreamAccumulator()
    >>> for chunk in [{"id": "c1", "model": "m", "choices": [{"index": 0,
    ...                "delta": {"content": "Hel"}}]},
    ...               {"id": "c1", "model": "m", "choices": [{"index": 0,
    ...                "delta": {"content": "lo"}, "finish_reason": "stop"}]}]:
    ...     acc.add(chunk)
    >>> acc.output_bytes(), acc.observed()["finish_reason"]
    (b'Hello', 'stop')
    """

    def __init__(self) -> None:
        self.model: str | None = None
        self.system_fingerprint: str | None = None
        self.response_id: str | None = None
        self.usage: object = None
        self._text: dict[int, list[str]] = {}
        self._calls: dict[int, dict[int, dict[str, Any]]] = {}
        self._finish: dict[int, str] = {}
        self.count = 0  # chunks taken in

    def add(self, chunk: object) -> None:
        """Take in one chunk (a ``ChatCompletionChunk`` or its dict form)."""
        self.count += 1
        for name, attr in (("model", "model"), ("system_fingerprint", "system_fingerprint")):
            value = _get(chunk, attr)
            if isinstance(value, str) and value:
                setattr(self, name, value)
        chunk_id = _get(chunk, "id")
        if isinstance(chunk_id, str) and chunk_id and self.response_id is None:
            self.response_id = chunk_id
        usage = _get(chunk, "usage")
        if usage is not None:
            self.usage = usage
        for choice in _get(chunk, "choices") or []:
            index = _get(choice, "index") or 0
            delta = _get(choice, "delta")
            content = _get(delta, "content")
            if isinstance(content, str):
                self._text.setdefault(index, []).append(content)
            for call in _get(delta, "tool_calls") or []:
                slot = self._calls.setdefault(index, {}).setdefault(
                    _get(call, "index") or 0,
                    {"id": None, "type": None, "name": "", "arguments": ""},
                )
                if _get(call, "id"):
                    slot["id"] = _get(call, "id")
                if _get(call, "type"):
                    slot["type"] = _get(call, "type")
                function = _get(call, "function")
                if _get(function, "name"):
                    slot["name"] += _get(function, "name")
                if _get(function, "arguments"):
                    slot["arguments"] += _get(function, "arguments")
            finish = _get(choice, "finish_reason")
            if isinstance(finish, str) and finish:
                self._finish[index] = finish

    def _calls_of(self, choice: int) -> list[dict[str, Any]]:
        return [self._calls[choice][i] for i in sorted(self._calls.get(choice, {}))]

    def observed(self) -> dict[str, Any]:
        """The record's ``observed`` member (see :func:`observed_from_chat_response`)."""
        return _observed(
            self.model, self.system_fingerprint, self.response_id, self.usage, self._finish.get(0)
        )

    def text(self, choice: int = 0) -> str:
        """The assistant text streamed so far for ``choice``."""
        return "".join(self._text.get(choice, []))

    def output_bytes(self, choice: int = 0) -> bytes:
        """The output, exactly as :func:`output_bytes` gives it for the whole response."""
        return _message_output(self.text(choice), self._calls_of(choice))

    def output_media_type(self, choice: int = 0) -> str:
        """The media type of :meth:`output_bytes` for ``choice``."""
        return JSON_MEDIA if self._calls_of(choice) else TEXT_MEDIA

    def facts(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`runid.capture.Run.observe`, as the server sent them."""
        return {
            "served_model": self.model,
            "system_fingerprint": self.system_fingerprint,
            "response_id": self.response_id,
            "usage": self.usage,
            "finish_reason": self._finish.get(0),
        }


class ResponsesStreamAccumulator:
    """Consumes the events of ``client.responses.create(..., stream=True)``: the final
    ``response.completed`` / ``response.incomplete`` / ``response.failed`` event carries the
    whole response (same facts and output as the non-streamed call); before it arrives, the
    ``response.output_text.delta`` texts are the output received so far.

    >>> acc = ResponsesStreamAccumulator()
    >>> acc.add({"type": "response.created", "response": {"id": "r1", "model": "m"}})
    >>> acc.add({"type": "response.output_text.delta", "delta": "Hi"})
    >>> acc.output_bytes(), acc.facts()["response_id"]
    (b'Hi', 'r1')
    """

    _FINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})

    def __init__(self) -> None:
        self.response: object = None  # the final response, once received
        self.started: object = None  # the response as announced by response.created
        self._text: list[str] = []
        self.count = 0

    def add(self, event: object) -> None:
        """Take in one stream event (an SDK event object or its dict form)."""
        self.count += 1
        kind = _get(event, "type")
        if kind in self._FINAL:
            self.response = _get(event, "response")
        elif kind in ("response.created", "response.in_progress"):
            self.started = _get(event, "response")
        elif kind == "response.output_text.delta" and isinstance(_get(event, "delta"), str):
            self._text.append(_get(event, "delta"))

    def output_bytes(self) -> bytes:
        """The output: the final response's, else the text received so far."""
        if self.response is not None:
            return responses_output_bytes(self.response)
        return "".join(self._text).encode("utf-8")

    def output_media_type(self) -> str:
        """The media type of :meth:`output_bytes`."""
        if self.response is not None:
            return responses_output_media_type(self.response)
        return TEXT_MEDIA

    def facts(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`runid.capture.Run.observe`."""
        return _responses_facts(self.response if self.response is not None else self.started)


def _chat_facts(response: object) -> dict[str, Any]:
    choices = _get(response, "choices") or []
    return {
        "served_model": _get(response, "model"),
        "system_fingerprint": _get(response, "system_fingerprint"),
        "response_id": _get(response, "id"),
        "usage": _get(response, "usage"),
        "finish_reason": _get(choices[0], "finish_reason") if choices else None,
    }


def _responses_facts(response: object) -> dict[str, Any]:
    finish = _get(_get(response, "incomplete_details"), "reason") or _get(response, "status")
    return {
        "served_model": _get(response, "model"),
        "response_id": _get(response, "id"),
        "usage": _get(response, "usage"),
        "finish_reason": finish,
    }


def _observe(run: Run, facts: Mapping[str, Any]) -> None:
    text = {k: v if isinstance(v, str) else None for k, v in facts.items() if k != "usage"}
    run.observe(usage=facts.get("usage"), **text)


# --- capture around the real call -------------------------------------------------------------


class _Accumulator(Protocol):
    """What the stream wrappers need from an accumulator."""

    count: int

    def add(self, item: object) -> None: ...
    def output_bytes(self) -> bytes: ...
    def output_media_type(self) -> str: ...
    def facts(self) -> dict[str, Any]: ...


def _detach(run: Run) -> None:
    # A stream outlives the call that opened it: its run must not stay "current" for the
    # caller's unrelated code, and it must be endable from wherever the stream is consumed
    # (another task's context cannot reset this context's variable). Run keeps its context
    # token private; read defensively so a refactor of runid.capture degrades to "current".
    token = getattr(run, "_token", None)
    var = getattr(_capture_module, "_current", None)
    if token is not None and var is not None:
        with contextlib.suppress(ValueError):
            var.reset(token)
        run._token = None


def _exc_info(exc: BaseException | None) -> tuple[Any, Any, Any]:
    return (type(exc), exc, exc.__traceback__) if exc is not None else (None, None, None)


class _StreamBase:
    def __init__(self, stream: Any, run: Run, accumulator: Any) -> None:
        self.stream = stream  # the client's stream object (``response``, ...)
        self.run = run
        self.accumulator: _Accumulator = accumulator
        self.finished = False

    def _outcome(self) -> None:
        acc = self.accumulator
        if acc.count:  # what was received, even when the stream stopped early
            self.run.set_output(acc.output_bytes(), media_type=acc.output_media_type())
        _observe(self.run, acc.facts())


class RecordedStream(_StreamBase):
    """The chunks of a streamed call, as they come; the run is recorded when the stream is
    exhausted, fails (error outcome, the exception propagates), or is closed early (what was
    received is the output). Use it as an iterator, ideally inside ``with``; a stream dropped
    unclosed is recorded when it is garbage-collected."""

    def __init__(self, stream: Any, run: Run, accumulator: Any) -> None:
        super().__init__(stream, run, accumulator)
        self._iterator = iter(stream)

    def __iter__(self) -> RecordedStream:
        return self

    def __next__(self) -> Any:
        if self.finished:
            raise StopIteration
        try:
            item = next(self._iterator)
        except StopIteration:
            self._finish(None)
            raise
        except BaseException as exc:
            self._finish(exc)
            raise
        self.accumulator.add(item)
        return item

    def close(self) -> None:
        """Stop reading (closing the HTTP response) and record what was received."""
        if self.finished:
            return
        try:
            close = getattr(self.stream, "close", None)
            if callable(close):
                close()
        finally:
            self._finish(None)

    def _finish(self, exc: BaseException | None) -> None:
        if self.finished:
            return
        self.finished = True
        self._outcome()
        self.run.__exit__(*_exc_info(exc))

    def __enter__(self) -> RecordedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "finished", True):
            with contextlib.suppress(Exception):
                self.close()


class AsyncRecordedStream(_StreamBase):
    """:class:`RecordedStream` for an async client: ``async for`` / ``async with`` /
    :meth:`aclose`."""

    def __init__(self, stream: Any, run: Run, accumulator: Any) -> None:
        super().__init__(stream, run, accumulator)
        self._iterator = stream.__aiter__()

    def __aiter__(self) -> AsyncRecordedStream:
        return self

    async def __anext__(self) -> Any:
        if self.finished:
            raise StopAsyncIteration
        try:
            item = await self._iterator.__anext__()
        except StopAsyncIteration:
            await self._finish(None)
            raise
        except BaseException as exc:
            await self._finish(exc)
            raise
        self.accumulator.add(item)
        return item

    async def aclose(self) -> None:
        """Stop reading (closing the HTTP response) and record what was received."""
        if self.finished:
            return
        try:
            close = getattr(self.stream, "close", None)
            if callable(close):
                await close()
        finally:
            await self._finish(None)

    async def _finish(self, exc: BaseException | None) -> None:
        if self.finished:
            return
        self.finished = True
        self._outcome()
        await self.run.__aexit__(*_exc_info(exc))

    async def __aenter__(self) -> AsyncRecordedStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # No event loop to await on here: a dropped stream is recorded synchronously.
        if not getattr(self, "finished", True):
            self.finished = True
            with contextlib.suppress(Exception):
                self._outcome()
                self.run.__exit__(None, None, None)


def _chat_run(
    client: Any,
    request: Mapping[str, Any],
    recorder: Recorder | None,
    options: Mapping[str, Any],
    responses: bool = False,
) -> Run:
    """The run of one call, its declaration built from ``request`` before it is sent."""
    rec = recorder if recorder is not None else Recorder()
    build = declaration_from_responses_request if responses else declaration_from_chat_request
    try:
        declaration, blobs = build(
            request,
            base_url=str(client.base_url),
            runtime=options.get("runtime"),
            model_version=options.get("model_version"),
            provider=options.get("provider") or PROVIDER,
            upstream=options.get("upstream") or (),
        )
    except Exception as exc:
        failure = exc

        # A request runid cannot declare must not stop the call: the run reports the failure
        # as the recorder's on_error says (warn and call unrecorded, or raise CaptureError).
        def unbuildable(_request: Mapping[str, Any]) -> Mapping[str, Any]:
            raise failure

        return rec.capture(unbuildable, parent=options.get("parent"), step=options.get("step"))
    return rec.capture(
        declaration,
        contents=list(blobs.values()),
        parent=options.get("parent"),
        step=options.get("step"),
    )


def _open_stream(run: Run, opener: Callable[[], Any], wrapper: Any, accumulator: Any) -> Any:
    run.__enter__()  # the declaration id is fixed here, before the request
    _detach(run)
    try:
        stream = opener()
    except BaseException as exc:
        run.__exit__(*_exc_info(exc))
        raise
    return wrapper(stream, run, accumulator)


def create_chat(
    client: Any,
    *,
    recorder: Recorder | None = None,
    parent: str | None = None,
    step: int | None = None,
    upstream: Iterable[Mapping[str, Any]] = (),
    runtime: Mapping[str, Any] | None = None,
    model_version: str | None = None,
    provider: str = PROVIDER,
    **request: Any,
) -> tuple[Any, Run]:
    """Call ``client.chat.completions.create(**request)`` under capture; return (response, run).

    The declaration is built from ``request`` as it is sent (and the client's ``base_url``)
    before the call, so ``run.declaration_id`` is fixed first; the output and the facts the
    server reports are recorded after it. ``recorder`` is a :class:`runid.capture.Recorder`
    (default: one for the default home); ``parent``/``step`` make the record a step of another
    (§12.9); ``upstream``, ``runtime``, ``model_version`` and ``provider`` go to
    :func:`declaration_from_chat_request`.

    With ``stream=True`` the response is a :class:`RecordedStream` that yields the chunks as
    they come; ``run`` is recorded when the stream ends, fails or is closed (a streamed and a
    non-streamed call of one request have the same declaration id and, at temperature 0, the
    same output digest).
    """
    options = {
        "parent": parent,
        "step": step,
        "upstream": upstream,
        "runtime": runtime,
        "model_version": model_version,
        "provider": provider,
    }
    run = _chat_run(client, request, recorder, options)
    if request.get("stream"):
        stream = _open_stream(
            run,
            lambda: client.chat.completions.create(**request),
            RecordedStream,
            StreamAccumulator(),
        )
        return stream, run
    with run:
        response = client.chat.completions.create(**request)
        run.set_output(output_bytes(response), media_type=output_media_type(response))
        _observe(run, _chat_facts(response))
    return response, run


async def acreate_chat(
    client: Any,
    *,
    recorder: Recorder | None = None,
    parent: str | None = None,
    step: int | None = None,
    upstream: Iterable[Mapping[str, Any]] = (),
    runtime: Mapping[str, Any] | None = None,
    model_version: str | None = None,
    provider: str = PROVIDER,
    **request: Any,
) -> tuple[Any, Run]:
    """:func:`create_chat` for ``openai.AsyncOpenAI``: ``await`` it; with ``stream=True`` the
    response is an :class:`AsyncRecordedStream` (``async for``). The log append runs in a
    worker thread, off the event loop."""
    options = {
        "parent": parent,
        "step": step,
        "upstream": upstream,
        "runtime": runtime,
        "model_version": model_version,
        "provider": provider,
    }
    run = _chat_run(client, request, recorder, options)
    if request.get("stream"):
        await run.__aenter__()
        _detach(run)
        try:
            stream = await client.chat.completions.create(**request)
        except BaseException as exc:
            await run.__aexit__(*_exc_info(exc))
            raise
        return AsyncRecordedStream(stream, run, StreamAccumulator()), run
    async with run:
        response = await client.chat.completions.create(**request)
        run.set_output(output_bytes(response), media_type=output_media_type(response))
        _observe(run, _chat_facts(response))
    return response, run


def create_response(
    client: Any,
    *,
    recorder: Recorder | None = None,
    parent: str | None = None,
    step: int | None = None,
    upstream: Iterable[Mapping[str, Any]] = (),
    runtime: Mapping[str, Any] | None = None,
    model_version: str | None = None,
    provider: str = PROVIDER,
    **request: Any,
) -> tuple[Any, Run]:
    """Call ``client.responses.create(**request)`` under capture; return (response, run).

    As :func:`create_chat`, with :func:`declaration_from_responses_request` and the facts of
    :func:`observed_from_responses_response`; ``stream=True`` gives a :class:`RecordedStream`
    of the API's events, fed to :class:`ResponsesStreamAccumulator`. The declaration's engine
    is :data:`RESPONSES_ENGINE` (no replay for Responses declarations yet).
    """
    options = {
        "parent": parent,
        "step": step,
        "upstream": upstream,
        "runtime": runtime,
        "model_version": model_version,
        "provider": provider,
    }
    run = _chat_run(client, request, recorder, options, responses=True)
    if request.get("stream"):
        stream = _open_stream(
            run,
            lambda: client.responses.create(**request),
            RecordedStream,
            ResponsesStreamAccumulator(),
        )
        return stream, run
    with run:
        response = client.responses.create(**request)
        run.set_output(
            responses_output_bytes(response), media_type=responses_output_media_type(response)
        )
        _observe(run, _responses_facts(response))
    return response, run


# --- replay: the inverse of declaration_from_chat_request ----------------------------------


def _absent(value: object) -> bool:
    return isinstance(value, Mapping) and "absent" in value


def _fetched(ref: Mapping[str, Any], fetch: Callable[[str], bytes]) -> bytes:
    return checked_fetch(fetch, str(ref["digest"]))


def _content_value(ref: Any, fetch: Callable[[str], bytes]) -> Any:
    """Message content as sent: text for text media, the parsed parts for JSON."""
    if _absent(ref):
        return None
    raw = _fetched(ref, fetch)
    if str(ref.get("media_type", "")).startswith("application/json"):
        return json.loads(raw)
    return raw.decode("utf-8")


def _message_back(message: Mapping[str, Any], fetch: Callable[[str], bytes]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "role": message["role"],
        "content": _content_value(message["content"], fetch),
    }
    for name in ("name", "tool_call_id"):
        if name in message:
            out[name] = message[name]
    if message.get("tool_calls"):
        out["tool_calls"] = [
            {
                "id": call["id"],
                "type": "function",
                # canonical JSON text: the model's spelling is gone, its meaning is not
                "function": {
                    "name": call["name"],
                    "arguments": _fetched(call["arguments"], fetch).decode("utf-8"),
                },
            }
            for call in message["tool_calls"]
        ]
    return out


@functools.lru_cache(maxsize=1)
def _chat_create_fields() -> frozenset[str]:
    """The keyword arguments ``chat.completions.create`` takes by name (others: extra_body)."""
    try:
        from openai.resources.chat.completions import Completions
    except ImportError:
        return frozenset(CHAT_SAMPLING_PARAMETERS)
    return frozenset(inspect.signature(Completions.create).parameters) - {"self"}


def request_from_declaration(
    declaration: Mapping[str, Any], fetch: Callable[[str], bytes]
) -> dict[str, Any]:
    """The keyword arguments of ``client.chat.completions.create(...)`` that make
    ``declaration`` again: model, messages (system prompts first), tools and tool_choice,
    response_format and every ``declared`` parameter (those the API does not name go in
    ``extra_body``); parameters recorded as ``provider_default`` are not sent.

    ``fetch(digest)`` returns the content of a reference (it raises
    :class:`runid.errors.InputError` when the content was not stored); fetched bytes are
    checked against their digest. The request gives the same declaration, except that a
    leading ``developer`` prompt comes back as ``system`` (v1 does not keep that role).
    """
    engine = declaration.get("runtime", {}).get("engine", {})
    if isinstance(engine, Mapping) and engine.get("name") not in (None, ENGINE):
        raise InputError(
            f"this declaration's engine is {engine.get('name')!r}, not {ENGINE!r}: "
            "the OpenAI chat adapter cannot rebuild it",
            hint="replay it with the adapter of its engine (runid replay picks it)",
            code="E_REPLAY_ENGINE",
        )
    model = declaration["model"]
    if _absent(model):
        raise InputError("the declaration has no model to call", code="E_REPLAY_ENGINE")
    messages: list[dict[str, Any]] = []
    instructions = declaration["instructions"]
    if not _absent(instructions):
        for ref in instructions["system"]:
            messages.append({"role": "system", "content": _content_value(ref, fetch)})
    inputs = declaration["inputs"]
    if not _absent(inputs):
        messages += [_message_back(m, fetch) for m in inputs["messages"]]
    request: dict[str, Any] = {"model": model["name"], "messages": messages}
    tools = declaration["tools"]
    if not _absent(tools):
        definitions = [json.loads(_fetched(d["definition"], fetch)) for d in tools["definitions"]]
        legacy = [d for d in definitions if "type" not in d]  # the deprecated functions=[...]
        if legacy:
            request["functions"] = legacy
        if len(legacy) < len(definitions):
            request["tools"] = [d for d in definitions if "type" in d]
        choice = tools["choice"]
        if isinstance(choice, str):
            request["function_call" if legacy and "tools" not in request else "tool_choice"] = (
                choice
            )
        elif not _absent(choice):
            if "tools" in request:
                request["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
            else:
                request["function_call"] = {"name": choice["name"]}
    schema = declaration["constraints"]
    if not _absent(schema) and not _absent(schema["output_schema"]):
        request["response_format"] = json.loads(_fetched(schema["output_schema"], fetch))
    known = _chat_create_fields()
    extra: dict[str, Any] = {}
    parameters = declaration["parameters"]
    for name, entry in ({} if _absent(parameters) else parameters).items():
        if entry.get("source") != "declared":
            continue  # provider_default / default: the original request did not send it
        (request if name in known else extra)[name] = entry["value"]
    if extra:
        request["extra_body"] = extra
    return request


def replay(
    declaration: Mapping[str, Any],
    fetch: Callable[[str], bytes],
    *,
    recorder: Recorder,
    parent: str | None = None,
    step: int | None = None,
    **options: Any,
) -> Run:
    """Re-run a recorded chat declaration through :func:`create_chat` (the replay protocol).

    Options: ``client`` (an ``openai.OpenAI``), else ``base_url`` (default: the declared
    ``model.endpoint``) and ``api_key`` (default: ``$OPENAI_API_KEY``, else a placeholder for
    local servers); ``runtime`` (default: this process's :func:`default_runtime`, so a moved
    library version shows as a changed declaration); ``stream`` (replay as a streamed call;
    the declaration is the same). The declared ``inputs.upstream``, ``model.version`` and
    ``model.provider`` are declared again as recorded. Returns the finished run; when nothing
    changed its declaration id is the original's.
    """
    request = request_from_declaration(declaration, fetch)
    client = options.get("client")
    if client is None:
        try:
            import openai
        except ImportError as exc:
            raise InputError(
                "replaying an OpenAI-compatible run needs the openai package",
                hint="pip install openai",
            ) from exc
        endpoint = declaration["model"].get("endpoint")
        base_url = options.get("base_url") or (None if _absent(endpoint) else endpoint)
        if not base_url:
            raise InputError(
                "the declaration has no endpoint: give the base_url to replay against",
                code="E_REPLAY_ENDPOINT",
            )
        api_key = options.get("api_key") or os.environ.get("OPENAI_API_KEY") or "unused"
        client = openai.OpenAI(base_url=str(base_url), api_key=api_key, max_retries=0)
    inputs = declaration["inputs"]
    upstream = [] if _absent(inputs) else list(inputs.get("upstream", []))
    version = declaration["model"].get("version")
    if options.get("stream"):
        request["stream"] = True
    response, run = create_chat(
        client,
        recorder=recorder,
        parent=parent,
        step=step,
        upstream=upstream,
        runtime=options.get("runtime"),
        model_version=version if isinstance(version, str) else None,
        provider=str(declaration["model"].get("provider") or PROVIDER),
        **request,
    )
    if isinstance(response, RecordedStream):
        for _chunk in response:
            pass
    return run


async def acreate_response(
    client: Any,
    *,
    recorder: Recorder | None = None,
    parent: str | None = None,
    step: int | None = None,
    upstream: Iterable[Mapping[str, Any]] = (),
    runtime: Mapping[str, Any] | None = None,
    model_version: str | None = None,
    provider: str = PROVIDER,
    **request: Any,
) -> tuple[Any, Run]:
    """:func:`create_response` for ``openai.AsyncOpenAI`` (``stream=True``: an
    :class:`AsyncRecordedStream` of the API's events)."""
    options = {
        "parent": parent,
        "step": step,
        "upstream": upstream,
        "runtime": runtime,
        "model_version": model_version,
        "provider": provider,
    }
    run = _chat_run(client, request, recorder, options, responses=True)
    if request.get("stream"):
        await run.__aenter__()
        _detach(run)
        try:
            stream = await client.responses.create(**request)
        except BaseException as exc:
            await run.__aexit__(*_exc_info(exc))
            raise
        return AsyncRecordedStream(stream, run, ResponsesStreamAccumulator()), run
    async with run:
        response = await client.responses.create(**request)
        run.set_output(
            responses_output_bytes(response), media_type=responses_output_media_type(response)
        )
        _observe(run, _responses_facts(response))
    return response, run
