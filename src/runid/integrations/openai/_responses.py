"""The Responses API, pure: the declaration from a ``responses.create`` request (its input
items as chat messages), and the observed facts and output of a ``Response``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ...errors import E_REQUEST, InputError
from .._chat import (
    JSON_MEDIA,
    TEXT_MEDIA,
    Blobs,
    constraints_component,
    declared,
    get,
    given,
    message_output,
    plain,
    split_instructions,
    tools_component,
)
from ..served import ServedModel
from ._common import (
    PROVIDER,
    RESPONSES_ENGINE,
    RESPONSES_SAMPLING_PARAMETERS,
    finish,
    model_component,
    observed_facts,
    parameters_component,
)

__all__ = [
    "declaration_from_responses_request",
    "observed_from_responses_response",
    "responses_facts",
    "responses_output_bytes",
    "responses_output_media_type",
]

# Fields mapped to components other than parameters.
_STRUCTURAL = frozenset({"model", "input", "instructions", "tools", "tool_choice"})


def _responses_messages(items: Any) -> list[dict[str, Any]]:
    """Responses API input items as chat-style messages (tool calls and their outputs)."""
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    messages: list[dict[str, Any]] = []
    for given_item in items or ():
        item = plain(given_item)
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
            raise InputError(
                f"unsupported Responses input item type: {kind!r}",
                hint="v1 declares message, function_call, custom_tool_call and their outputs",
                code=E_REQUEST,
            )
    return messages


def declaration_from_responses_request(
    request: Mapping[str, Any],
    *,
    base_url: object,
    runtime: Mapping[str, Any] | None = None,
    model_version: str | None = None,
    provider: str = PROVIDER,
    upstream: Iterable[Mapping[str, Any]] = (),
    context: Mapping[str, Any] | None = None,
    template: Mapping[str, Any] | None = None,
    served: ServedModel | None = None,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """:func:`declaration_from_chat_request` for ``client.responses.create(...)``.

    ``instructions`` (and leading system/developer input items) are ``instructions.system``;
    ``input`` (a string, or message, function-call and function-call-output items) is
    ``inputs.messages``; ``text.format`` is ``constraints.output_schema`` and the rest of
    ``text`` (verbosity) a parameter; ``reasoning``, ``truncation``, ``previous_response_id``
    and other fields are declared parameters (``truncation`` is the API's own: the server
    dropping items, a parameter; the application's own cutting of the history is
    ``inputs.truncation``, ``not_recorded`` here). An input item v1 cannot carry is
    :class:`~runid.errors.InputError` ``E_REQUEST``.
    """
    blobs = Blobs()
    leading = []
    given_instructions = request.get("instructions")
    if given(given_instructions):
        leading.append(blobs.content(given_instructions))
    messages = _responses_messages(request.get("input"))
    instructions, inputs = split_instructions(messages, blobs, leading, template=template)
    text = plain(request.get("text")) if given(request.get("text")) else {}
    schema = text.pop("format", None) if isinstance(text, dict) else None
    params_request = {k: v for k, v in request.items() if k != "text"}
    if text:
        params_request["text"] = text
    declaration: dict[str, Any] = {
        "spec": "runid/v1",
        "model": model_component(request.get("model"), base_url, model_version, provider, served),
        "parameters": parameters_component(
            params_request,
            RESPONSES_SAMPLING_PARAMETERS,
            _STRUCTURAL,
            served.defaults if served is not None else None,
        ),
        "instructions": instructions,
        "inputs": inputs,
        "context": declared(context),
        "tools": tools_component(request.get("tools"), request.get("tool_choice"), blobs),
        "constraints": constraints_component(schema, blobs),
    }
    return finish(declaration, blobs, runtime, RESPONSES_ENGINE, upstream, served=served)


def observed_from_responses_response(response: object) -> dict[str, Any]:
    """The record's ``observed`` member from a Responses API ``Response`` (or its dict form):
    ``model``, ``id``, ``usage``; the finish reason is ``incomplete_details.reason`` for an
    incomplete response (``max_output_tokens``), else its ``status`` (``completed``). The
    Responses API has no system fingerprint (``not_recorded``).

    >>> observed_from_responses_response({"id": "resp_1", "model": "m", "status": "completed",
    ...     "usage": {"input_tokens": 3, "output_tokens": 1}})["finish_reason"]
    'completed'
    """
    finish_reason = get(get(response, "incomplete_details"), "reason") or get(response, "status")
    return observed_facts(
        get(response, "model"), None, get(response, "id"), get(response, "usage"), finish_reason
    )


def _responses_output(response: object) -> tuple[str, list[dict[str, Any]]]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in get(response, "output") or []:
        kind = get(item, "type")
        if kind == "message":
            for part in get(item, "content") or []:
                if get(part, "type") == "output_text" and isinstance(get(part, "text"), str):
                    texts.append(get(part, "text"))
        elif kind in ("function_call", "custom_tool_call"):
            calls.append(
                {
                    "id": get(item, "call_id") or get(item, "id"),
                    "type": "function" if kind == "function_call" else "custom",
                    "name": get(item, "name"),
                    "arguments": get(item, "arguments") or get(item, "input"),
                }
            )
    return "".join(texts), calls


def responses_output_bytes(response: object) -> bytes:
    """:func:`output_bytes` for a Responses API ``Response``: the output text as UTF-8 or, when
    the model called tools, the canonical JSON of ``[{"id", "type", "name", "arguments"}]``."""
    text, calls = _responses_output(response)
    return message_output(text, calls)


def responses_output_media_type(response: object) -> str:
    """The media type of :func:`responses_output_bytes`."""
    return JSON_MEDIA if _responses_output(response)[1] else TEXT_MEDIA


def responses_facts(response: object) -> dict[str, Any]:
    """Keyword arguments for :meth:`runid.capture.Run.observe` from a ``Response``."""
    finish_reason = get(get(response, "incomplete_details"), "reason") or get(response, "status")
    return {
        "served_model": get(response, "model"),
        "response_id": get(response, "id"),
        "usage": get(response, "usage"),
        "finish_reason": finish_reason,
    }
