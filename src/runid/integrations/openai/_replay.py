"""Replay of a recorded chat declaration: :func:`request_from_declaration` (the inverse of
:func:`declaration_from_chat_request`) and :func:`replay` (the replay protocol)."""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Mapping
from typing import Any

from ...capture import Recorder, Run
from ...errors import E_REPLAY_ENDPOINT, E_REPLAY_ENGINE, InputError
from .._chat import fetch_content, messages_from_declaration
from ._capture import create_chat
from ._common import CHAT_SAMPLING_PARAMETERS, ENGINE, PROVIDER
from ._streams import RecordedStream

__all__ = ["replay", "replay_client", "request_from_declaration"]


def _absent(value: object) -> bool:
    return isinstance(value, Mapping) and "absent" in value


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
    checked against their digest (``E_CONTENT_DIGEST``) and must be what their media type
    says (``E_REPLAY_CONTENT``). The request gives the same declaration, except that a
    leading ``developer`` prompt comes back as ``system`` (v1 does not keep that role).
    """
    engine = declaration.get("runtime", {}).get("engine", {})
    if isinstance(engine, Mapping) and engine.get("name") not in (None, ENGINE):
        raise InputError(
            f"this declaration's engine is {engine.get('name')!r}, not {ENGINE!r}: "
            "the OpenAI chat adapter cannot rebuild it",
            hint="replay it with the adapter of its engine (runid replay picks it)",
            code=E_REPLAY_ENGINE,
        )
    model = declaration["model"]
    if _absent(model):
        raise InputError("the declaration has no model to call", code=E_REPLAY_ENGINE)
    messages = messages_from_declaration(declaration, fetch)
    request: dict[str, Any] = {"model": model["name"], "messages": messages}
    tools = declaration["tools"]
    if not _absent(tools):
        definitions = [
            fetch_content(d["definition"], fetch, as_json=True) for d in tools["definitions"]
        ]
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
        request["response_format"] = fetch_content(schema["output_schema"], fetch, as_json=True)
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


def replay_client(
    declaration: Mapping[str, Any],
    *,
    client: Any = None,
    base_url: str | None = None,
    api_key: str | None = None,
) -> Any:
    """The ``openai.OpenAI`` client a replay of ``declaration`` calls: ``client`` when given,
    else one for ``base_url`` (default: the declared ``model.endpoint``; neither is
    ``E_REPLAY_ENDPOINT``) with ``api_key`` (default: ``$OPENAI_API_KEY``, else a placeholder
    for local servers) and no retries. :func:`replay` and :func:`runid.replay.replay_agent`
    use it."""
    if client is not None:
        return client
    try:
        import openai
    except ImportError as exc:
        raise InputError(
            "replaying an OpenAI-compatible run needs the openai package",
            hint="pip install openai",
        ) from exc
    endpoint = declaration["model"].get("endpoint")
    base_url = base_url or (None if _absent(endpoint) else endpoint)
    if not base_url:
        raise InputError(
            "the declaration has no endpoint: give the base_url to replay against",
            hint="runid replay EXECUTION --endpoint URL",
            code=E_REPLAY_ENDPOINT,
        )
    key = api_key or os.environ.get("OPENAI_API_KEY") or "unused"
    return openai.OpenAI(base_url=str(base_url), api_key=key, max_retries=0)


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
    client = replay_client(
        declaration,
        client=options.get("client"),
        base_url=options.get("base_url"),
        api_key=options.get("api_key"),
    )
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
