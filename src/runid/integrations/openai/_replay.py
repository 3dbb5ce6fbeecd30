"""Replay of a recorded chat declaration: :func:`request_from_declaration` (the inverse of
:func:`declaration_from_chat_request`) and :func:`replay` (the replay protocol).

What the application declared (the retrieval ``context``, the instruction template, the
truncation, the application's revision) is declared again as recorded: a replay rebuilds the
request from the declaration and runs none of the application's code. What the replay measures
again is what it can: this process's client runtime and, with a probe or the model file, the
served model (ADR 0014: the endpoint is where the original went, an observed fact)."""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ...capture import Recorder, Run
from ...errors import E_REPLAY_ENDPOINT, E_REPLAY_ENGINE, InputError, RunidError
from .._chat import fetch_content, messages_from_declaration
from ..served import probe_for
from ._capture import create_chat
from ._common import CHAT_SAMPLING_PARAMETERS, ENGINE, PROVIDER, default_runtime
from ._streams import RecordedStream

__all__ = [
    "declared_conditions",
    "recorded_endpoint",
    "replay",
    "replay_client",
    "request_from_declaration",
]


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


def recorded_endpoint(
    declaration: Mapping[str, Any], record: Mapping[str, Any] | None = None
) -> str | None:
    """Where the original run reached its model: the record's ``observed.endpoint`` (ADR
    0014), else the declaration's ``model.endpoint`` (declarations made before it), else None.
    """
    observed = record.get("observed") if isinstance(record, Mapping) else None
    endpoint = observed.get("endpoint") if isinstance(observed, Mapping) else None
    if isinstance(endpoint, str) and endpoint:
        return endpoint
    model = declaration.get("model")
    declared = model.get("endpoint") if isinstance(model, Mapping) else None
    return declared if isinstance(declared, str) and declared else None


def replay_client(
    declaration: Mapping[str, Any],
    *,
    client: Any = None,
    base_url: str | None = None,
    api_key: str | None = None,
    record: Mapping[str, Any] | None = None,
) -> Any:
    """The ``openai.OpenAI`` client a replay of ``declaration`` calls: ``client`` when given,
    else one for ``base_url`` (default: :func:`recorded_endpoint` of the original ``record``;
    none is ``E_REPLAY_ENDPOINT``) with ``api_key`` (default: ``$OPENAI_API_KEY``, else a
    placeholder for local servers) and no retries. :func:`replay` and
    :func:`runid.replay.replay_agent` use it."""
    if client is not None:
        return client
    try:
        import openai
    except ImportError as exc:
        raise InputError(
            "replaying an OpenAI-compatible run needs the openai package",
            hint="pip install openai",
        ) from exc
    base_url = base_url or recorded_endpoint(declaration, record)
    if not base_url:
        raise InputError(
            "the endpoint of the original run is not known here (it is the record's observed "
            "endpoint, not part of the declaration): give the base_url to replay against",
            hint="runid replay EXECUTION --endpoint URL",
            code=E_REPLAY_ENDPOINT,
        )
    key = api_key or os.environ.get("OPENAI_API_KEY") or "unused"
    return openai.OpenAI(base_url=str(base_url), api_key=key, max_retries=0)


def _original_record(recorder: Recorder) -> Mapping[str, Any] | None:
    """The record a replay re-executes, from the recorder's own log (a replay recorded in the
    original's home); None when it is not there."""
    if not recorder.replay_of:
        return None
    from ...log import Log

    try:
        with Log.open(recorder.home, need_key=False) as log:
            record: Mapping[str, Any] = log.entry(recorder.replay_of).record
    except (RunidError, OSError):
        return None
    return record


def _refs(value: Any) -> Iterator[str]:
    """The digests of every content reference in ``value``."""
    if isinstance(value, Mapping):
        if set(value) == {"digest", "size", "media_type"}:
            yield str(value["digest"])
        else:
            for item in value.values():
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def declared_conditions(
    declaration: Mapping[str, Any], fetch: Callable[[str], bytes]
) -> dict[str, Any]:
    """Keyword arguments of :func:`create_chat` (and
    :func:`runid.integrations.agent.run_agent`) that declare again, as recorded, what the
    application declared: ``context``, ``template``, ``truncation``, the ``contents`` they
    reference that ``fetch`` still has, and a ``runtime`` that is this process's client
    runtime with the original's ``code`` (a replay runs none of the application's code)."""
    instructions, inputs = declaration["instructions"], declaration["inputs"]
    kept: dict[str, Any] = {"context": declaration["context"]}
    if not _absent(instructions):
        kept["template"] = instructions.get("template")
    if not _absent(inputs):
        kept["truncation"] = inputs.get("truncation")
    template = kept.get("template")
    digests = list(_refs([kept.get("context"), template]))
    if isinstance(template, Mapping) and isinstance(template.get("digest"), str):
        digests.insert(0, template["digest"])  # the template's text
    contents: list[bytes] = []
    for digest in dict.fromkeys(digests):
        try:
            contents.append(fetch(digest))
        except RunidError:
            continue  # not stored (digests-only): the declaration still names it
    return {**kept, "contents": contents, "runtime": _replay_runtime(declaration)}


def _replay_runtime(declaration: Mapping[str, Any]) -> dict[str, Any]:
    """This process's client runtime, with the original's ``code``: the application's code
    does not run in a replay."""
    runtime = default_runtime()
    recorded = declaration.get("runtime")
    if isinstance(recorded, Mapping) and "code" in recorded:
        runtime["code"] = recorded["code"]
    return runtime


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

    Options: ``client`` (an ``openai.OpenAI``), else ``base_url`` (default: the original's
    :func:`recorded_endpoint`, from ``record``, the original record, else the recorder's own
    log) and ``api_key`` (default: ``$OPENAI_API_KEY``, else a placeholder for local
    servers); ``runtime`` (default: this process's :func:`default_runtime` with the original's
    ``code``, so a moved library version shows as a changed declaration); ``stream`` (replay as
    a streamed call; the declaration is the same); the served model as :func:`create_chat`
    takes it: ``served_model`` (default: the probe registered for the server software the
    original names, :func:`runid.integrations.served.probe_for`), ``model_files`` or
    ``model_path`` (``runid replay --model-path``), ``model_digest``. The declared
    ``inputs.upstream``, ``model.version``, ``model.provider``, ``context``,
    ``instructions.template`` and ``inputs.truncation`` are declared again as recorded.
    Returns the finished run; when nothing changed its declaration id is the original's.
    """
    request = request_from_declaration(declaration, fetch)
    record = options.get("record")
    if record is None and not options.get("client") and not options.get("base_url"):
        record = _original_record(recorder)
    client = replay_client(
        declaration,
        client=options.get("client"),
        base_url=options.get("base_url"),
        api_key=options.get("api_key"),
        record=record,
    )
    inputs = declaration["inputs"]
    upstream = [] if _absent(inputs) else list(inputs.get("upstream", []))
    version = declaration["model"].get("version")
    if options.get("stream"):
        request["stream"] = True
    kept = declared_conditions(declaration, fetch)
    if options.get("runtime"):
        kept["runtime"] = options["runtime"]
    files = options.get("model_files")
    if files is None and options.get("model_path") is not None:
        files = [options["model_path"]]
    served = options.get("served_model")
    if served is None:
        served = probe_for(declaration)
    try:
        response, run = create_chat(
            client,
            recorder=recorder,
            parent=parent,
            step=step,
            upstream=upstream,
            model_version=version if isinstance(version, str) else None,
            provider=str(declaration["model"].get("provider") or PROVIDER),
            served_model=served,
            model_files=files,
            model_digest=options.get("model_digest"),
            **kept,
            **request,
        )
        if isinstance(response, RecordedStream):
            for _chunk in response:
                pass
    finally:
        if client is not options.get("client"):
            client.close()  # a client this replay made: close its connections
    return run
