"""The chat mapping adapters share: OpenAI-shaped chat messages, tools and outputs (pure).

Engines that take OpenAI-shaped chat requests (an OpenAI-compatible server, llama.cpp
in-process) declare messages, tools and ``response_format`` the same way and read a chat
completion's output the same way; this module holds that mapping. It calls nothing and
records nothing: values in, components and the content they reference (``{digest: bytes}``)
out. A request v1 cannot carry raises :class:`~runid.errors.InputError` ``E_REQUEST``. The
inverse, for replay: :func:`messages_from_declaration` gives the messages back.

>>> parts, blobs = chat_components({"messages": [{"role": "system", "content": "Be brief."},
...                                              {"role": "user", "content": "Hi"}]})
>>> len(parts["instructions"]["system"]), [m["role"] for m in parts["inputs"]["messages"]]
(1, ['user'])
>>> output_bytes({"choices": [{"message": {"role": "assistant", "content": "Hello"}}]})
b'Hello'
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..canonical import canonicalize
from ..digest import ContentRef, checked_fetch, content_ref
from ..errors import E_REPLAY_CONTENT, E_REQUEST, InputError

__all__ = [
    "JSON_MEDIA",
    "NA",
    "NOT_RECORDED",
    "TEXT_MEDIA",
    "Blobs",
    "chat_components",
    "choice_of",
    "constraints_component",
    "content_value",
    "declared",
    "fetch_content",
    "get",
    "given",
    "message_output",
    "messages_from_declaration",
    "output_bytes",
    "output_media_type",
    "plain",
    "split_instructions",
    "tools_component",
    "upstream_links",
]

TEXT_MEDIA = "text/plain; charset=utf-8"
JSON_MEDIA = "application/json"
NA: dict[str, str] = {"absent": "not_applicable"}
NOT_RECORDED: dict[str, str] = {"absent": "not_recorded"}
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


# --- reading SDK objects and dicts alike ------------------------------------------------------


def _sentinel(value: object) -> bool:
    """True for the client's "not given" sentinels (``NOT_GIVEN``, ``omit``): never sent."""
    return type(value).__name__ in ("NotGiven", "Omit")


def given(value: object) -> bool:
    """False for ``None`` and the sentinels: the request leaves the field to the server."""
    return value is not None and not _sentinel(value)


def plain(value: Any) -> Any:
    """A JSON-like copy: pydantic objects of the SDK dumped (unset fields left out)."""
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        value = dump(exclude_unset=True)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items() if not _sentinel(v)}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


_IS_MAPPING: dict[type, bool] = {}


def get(obj: object, name: str) -> Any:
    """``obj[name]`` or ``obj.name`` (SDK objects and dicts alike), None when missing."""
    # Runs several times per streamed chunk: an ABC isinstance check costs more than the rest
    # of the look-up, so its answer is kept per type.
    kind = type(obj)
    mapping = _IS_MAPPING.get(kind)
    if mapping is None:
        mapping = _IS_MAPPING[kind] = isinstance(obj, Mapping)
    return obj.get(name) if mapping else getattr(obj, name, None)  # type: ignore[attr-defined]


class Blobs:
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
        if not given(content):
            return dict(NA)
        if isinstance(content, str):
            return self.text(content)
        return self.json(plain(content))

    def arguments(self, arguments: Any) -> dict[str, Any]:
        """Tool arguments as canonical JSON (sent as a JSON string); text if not JSON."""
        if isinstance(arguments, str):
            try:
                parsed = json.loads(arguments)
            except ValueError:
                return self.text(arguments)
            return self.json(parsed)
        return self.json(plain(arguments))


# --- requests: messages, tools, output schema -------------------------------------------------


def _tool_calls(calls: Iterable[Any], blobs: Blobs) -> list[dict[str, Any]]:
    found = []
    for given_call in calls:
        call = plain(given_call)
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


def _message(message: Mapping[str, Any], blobs: Blobs) -> dict[str, Any]:
    role = message.get("role")
    if role == "function":  # the legacy function-result role
        role = "tool"
    if role not in _ROLES:
        raise InputError(
            f"unsupported message role: {role!r}",
            hint=f"v1 messages have the roles {', '.join(sorted(_ROLES))} (and legacy function)",
            code=E_REQUEST,
        )
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
    if given(calls) and calls:
        out["tool_calls"] = _tool_calls(calls, blobs)
    legacy = message.get("function_call")
    if given(legacy) and legacy and "tool_calls" not in out:
        out["tool_calls"] = _tool_calls([{"type": "function", "function": legacy}], blobs)
    return out


def declared(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the application declares for a condition the adapter cannot see (the retrieval
    ``context``, ``instructions.template``, ``inputs.truncation``): the value given (an absence
    marker included: ``{"absent": "not_applicable"}`` says "none"), else ``not_recorded``.
    An adapter never concludes ``not_applicable`` from silence (docs/spec.md §4.1)."""
    return dict(NOT_RECORDED) if value is None else dict(plain(value))


def split_instructions(
    messages: Sequence[Mapping[str, Any]],
    blobs: Blobs,
    leading: list[dict[str, Any]],
    *,
    template: Mapping[str, Any] | None = None,
    truncation: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(instructions, inputs)``: leading system/developer messages are instructions.

    A request without them has no instructions (``not_applicable``: the request shows there are
    none); without other messages, no inputs. ``template`` and ``truncation`` are what the
    application declares (:func:`declared`): not given, they are ``not_recorded``, since the
    adapter cannot see whether the prompt came from a template or the history was cut."""
    system = list(leading)
    rest = 0
    while rest < len(messages) and messages[rest].get("role") in ("system", "developer"):
        system.append(blobs.content(messages[rest].get("content")))
        rest += 1
    system = [ref for ref in system if "absent" not in ref]
    sent = [_message(m, blobs) for m in messages[rest:]]
    for what, given, present in (
        ("an instruction template", template, system),
        ("a truncation", truncation, sent),
    ):
        if given is not None and not present and "absent" not in given:
            raise InputError(
                f"{what} is declared but the request has no "
                f"{'system prompt' if what.endswith('template') else 'input messages'}",
                hint="declare it with the request it describes",
                code=E_REQUEST,
            )
    instructions = (
        {"system": system, "template": declared(template), "source": NOT_RECORDED}
        if system
        else dict(NA)
    )
    inputs = (
        {"messages": sent, "truncation": declared(truncation), "upstream": []} if sent else dict(NA)
    )
    return instructions, inputs


def _tool_name(tool: Mapping[str, Any]) -> tuple[str, str]:
    kind = str(tool.get("type") or "function")
    body = tool.get(kind)
    if isinstance(body, Mapping) and isinstance(body.get("name"), str):
        return body["name"], kind
    name = tool.get("name")  # Responses API: flat {"type": "function", "name": ...}
    return (name if isinstance(name, str) and name else kind), kind


def tools_component(
    tools: Any, choice: Any, blobs: Blobs, legacy: Any = None, legacy_choice: Any = None
) -> dict[str, Any]:
    """The ``tools`` component: the definitions (canonical JSON by reference) and the choice;
    ``legacy``/``legacy_choice`` are the deprecated ``functions``/``function_call``."""
    definitions = []
    if given(tools):
        for tool in tools:
            plain_tool = plain(tool)
            name, kind = _tool_name(plain_tool)
            definitions.append({"name": name, "kind": kind, "definition": blobs.json(plain_tool)})
    if given(legacy):  # the deprecated functions=[...]
        for function in legacy:
            plain_function = plain(function)
            definitions.append(
                {
                    "name": str(plain_function.get("name")),
                    "kind": "function",
                    "definition": blobs.json(plain_function),
                }
            )
    if not definitions:
        return dict(NA)
    if not given(choice):
        choice = legacy_choice
    return {"definitions": definitions, "choice": choice_of(choice)}


def choice_of(choice: Any) -> Any:
    """``tools.choice``: a mode string, ``{"name"}`` of a forced tool, or not recorded."""
    if not given(choice):
        return dict(NOT_RECORDED)  # left to the provider: its default is not visible here
    choice = plain(choice)
    if isinstance(choice, str):
        return choice
    name, _kind = _tool_name(choice)
    return {"name": name}


def constraints_component(schema: Any, blobs: Blobs) -> dict[str, Any]:
    """The ``constraints`` component: the output schema (``response_format``), if any."""
    output_schema = blobs.json(plain(schema)) if given(schema) else dict(NA)
    return {"output_schema": output_schema, "guardrails": [], "budgets": {}}


def upstream_links(inputs: dict[str, Any], upstream: Iterable[Mapping[str, Any]]) -> None:
    """Put the runs whose outputs feed this call into ``inputs.upstream`` (docs/spec.md §12.9)."""
    links = [plain(link) for link in upstream]
    if links:
        if "absent" in inputs:
            raise InputError(
                "upstream runs need input messages to feed",
                hint="a call with upstream runs sends at least one non-system message",
                code=E_REQUEST,
            )
        inputs["upstream"] = links


def chat_components(
    request: Mapping[str, Any],
    *,
    upstream: Iterable[Mapping[str, Any]] = (),
    template: Mapping[str, Any] | None = None,
    truncation: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """``instructions``, ``inputs``, ``tools`` and ``constraints`` of a chat request, exactly as
    :func:`runid.integrations.openai.declaration_from_chat_request` builds them, and the
    content they reference.

    For adapters of engines that take OpenAI-shaped chat requests in-process (llama.cpp): they
    add their own ``model``, ``parameters``, ``context`` and ``runtime`` and validate the whole
    declaration once. Not validated here. ``template`` and ``truncation``: see
    :func:`split_instructions`. :class:`~runid.errors.InputError` ``E_REQUEST`` for a
    message role v1 cannot carry, or ``upstream`` runs without input messages to feed.

    >>> parts, blobs = chat_components({"messages": [{"role": "user", "content": "Hi"}]})
    >>> sorted(parts), list(blobs.values())
    (['constraints', 'inputs', 'instructions', 'tools'], [b'Hi'])
    """
    blobs = Blobs()
    messages = [plain(m) for m in request.get("messages") or ()]
    instructions, inputs = split_instructions(
        messages, blobs, [], template=template, truncation=truncation
    )
    upstream_links(inputs, upstream)
    components = {
        "instructions": instructions,
        "inputs": inputs,
        "tools": tools_component(
            request.get("tools"),
            request.get("tool_choice"),
            blobs,
            request.get("functions"),
            request.get("function_call"),
        ),
        "constraints": constraints_component(request.get("response_format"), blobs),
    }
    return components, blobs.blobs


# --- responses: the output of a chat completion -----------------------------------------------


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


def message_output(content: object, calls: Sequence[Mapping[str, Any]]) -> bytes:
    """The output of one assistant message: the canonical JSON of its tool calls
    (``[{"id", "type", "name", "arguments"}]``) when it has any, else its text as UTF-8."""
    if calls:
        return _calls_json(calls)
    return content.encode("utf-8") if isinstance(content, str) else b""


def _flat_calls(message: object) -> list[dict[str, Any]]:
    found = []
    for call in get(message, "tool_calls") or []:
        kind = get(call, "type") or "function"
        body = get(call, kind) or get(call, "function")
        found.append(
            {
                "id": get(call, "id"),
                "type": kind,
                "name": get(body, "name"),
                "arguments": get(body, "arguments") or get(body, "input"),
            }
        )
    return found


def output_bytes(response: object, choice: int = 0) -> bytes:
    """The output of one choice: the assistant text as UTF-8, or, when the model called tools,
    the canonical JSON of ``[{"id", "type", "name", "arguments"}]`` (arguments as the model
    wrote them)."""
    message = get((get(response, "choices") or [])[choice], "message")
    return message_output(get(message, "content"), _flat_calls(message))


def output_media_type(response: object, choice: int = 0) -> str:
    """The media type of :func:`output_bytes` for the same choice."""
    message = get((get(response, "choices") or [])[choice], "message")
    return JSON_MEDIA if _flat_calls(message) else TEXT_MEDIA


# --- the inverse, for replay: messages back from a declaration --------------------------------


def fetch_content(ref: Mapping[str, Any], fetch: Callable[[str], bytes], *, as_json: bool) -> Any:
    """The content ``ref`` names, fetched and checked against its digest (``E_CONTENT_DIGEST``),
    parsed as JSON or decoded as UTF-8 text; :class:`~runid.errors.InputError`
    ``E_REPLAY_CONTENT`` when it is not what its media type says."""
    raw = checked_fetch(fetch, str(ref["digest"]))
    try:
        return json.loads(raw) if as_json else raw.decode("utf-8")
    except ValueError as exc:  # not JSON, not UTF-8
        raise InputError(
            f"the recorded content {ref['digest']} is not {'JSON' if as_json else 'UTF-8 text'}"
            f" ({exc}): no request can be rebuilt from it",
            hint="the declaration's content does not match its media type",
            code=E_REPLAY_CONTENT,
        ) from None


def content_value(ref: Any, fetch: Callable[[str], bytes]) -> Any:
    """Message content as sent: text for text media, the parsed parts for JSON, None when
    the message had none."""
    if not isinstance(ref, Mapping) or "absent" in ref:
        return None
    as_json = str(ref.get("media_type", "")).startswith("application/json")
    return fetch_content(ref, fetch, as_json=as_json)


def messages_from_declaration(
    declaration: Mapping[str, Any], fetch: Callable[[str], bytes]
) -> list[dict[str, Any]]:
    """The chat messages a declaration describes, as sent: its system prompts first, then its
    input messages with their names, tool call ids and tool calls (the arguments as canonical
    JSON text: the model's spelling is gone, its meaning is not). Content is read through
    :func:`fetch_content`."""
    messages: list[dict[str, Any]] = []
    instructions = declaration.get("instructions")
    if isinstance(instructions, Mapping) and "system" in instructions:
        for ref in instructions["system"]:
            messages.append({"role": "system", "content": content_value(ref, fetch)})
    inputs = declaration.get("inputs")
    for message in inputs.get("messages", []) if isinstance(inputs, Mapping) else []:
        out: dict[str, Any] = {
            "role": message["role"],
            "content": content_value(message["content"], fetch),
        }
        for key in ("name", "tool_call_id"):
            if key in message:
                out[key] = message[key]
        if message.get("tool_calls"):
            out["tool_calls"] = [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {
                        "name": call["name"],
                        "arguments": fetch_content(call["arguments"], fetch, as_json=False),
                    },
                }
                for call in message["tool_calls"]
            ]
        messages.append(out)
    return messages
