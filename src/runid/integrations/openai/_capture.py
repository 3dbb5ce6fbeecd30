"""Capture around the real client call: :func:`create_chat`, :func:`acreate_chat`,
:func:`create_response` and :func:`acreate_response`, four faces of one captured call.

Besides the request, each takes what the application declares and the client cannot see:
``context`` (the retrieval), ``template`` (the instruction template), ``truncation`` (how the
history was cut; chat only: the Responses API has a ``truncation`` field of its own),
``contents`` (the bytes those reference, stored with the run), and the served model's identity
(``served_model``: a probe or known facts; ``model_files``; ``model_digest``)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...capture import Recorder, Run
from ...privacy import credentials_of
from .._chat import output_bytes, output_media_type
from ..served import ServedModel, ServedModelProbe, served_facts
from ._chat import chat_facts, declaration_from_chat_request
from ._common import PROVIDER, endpoint_of, observe
from ._responses import (
    declaration_from_responses_request,
    responses_facts,
    responses_output_bytes,
    responses_output_media_type,
)
from ._streams import (
    Accumulator,
    AsyncRecordedStream,
    RecordedStream,
    ResponsesStreamAccumulator,
    StreamAccumulator,
    exc_info,
)

__all__ = ["acreate_chat", "acreate_response", "create_chat", "create_response"]


@dataclass(frozen=True)
class _Api:
    """One client API as a captured call uses it: how its request is declared, how it is
    called, and how its response (or stream) is read."""

    declaration: Callable[..., tuple[dict[str, Any], dict[str, bytes]]]
    call: Callable[..., Any]  # (client, **request): the client's method looked up per call
    accumulator: Callable[[], Accumulator]
    output_bytes: Callable[[Any], bytes]
    output_media_type: Callable[[Any], str]
    facts: Callable[[Any], dict[str, Any]]


_CHAT = _Api(
    declaration_from_chat_request,
    lambda client, **request: client.chat.completions.create(**request),
    StreamAccumulator,
    output_bytes,
    output_media_type,
    chat_facts,
)
_RESPONSES = _Api(
    declaration_from_responses_request,
    lambda client, **request: client.responses.create(**request),
    ResponsesStreamAccumulator,
    responses_output_bytes,
    responses_output_media_type,
    responses_facts,
)


@dataclass(frozen=True)
class _Options:
    """The keyword arguments of the public functions that are not the request."""

    recorder: Recorder | None
    parent: str | None
    step: int | None
    upstream: Iterable[Mapping[str, Any]]
    runtime: Mapping[str, Any] | None
    model_version: str | None
    provider: str
    context: Mapping[str, Any] | None = None
    template: Mapping[str, Any] | None = None
    truncation: Mapping[str, Any] | None = None
    contents: Iterable[bytes | str] = ()
    served_model: ServedModel | ServedModelProbe | None = None
    model_files: Iterable[str | os.PathLike[str]] | None = None
    model_digest: str | None = None
    declares: dict[str, Any] = field(default_factory=dict)  # what the API's builder takes


def _options(api: _Api, **given: Any) -> _Options:
    options = _Options(**given)
    declares: dict[str, Any] = {"context": options.context, "template": options.template}
    if api is _CHAT:
        declares["truncation"] = options.truncation
    elif options.truncation is not None:  # pragma: no cover - the signatures do not offer it
        raise TypeError("truncation is the Responses API's own field")
    options.declares.update(declares)
    return options


def _served(client: Any, request: Mapping[str, Any], options: _Options, rec: Recorder) -> Any:
    """What the application and the server say about the served model (None: nothing)."""
    if options.served_model is None and options.model_files is None and not options.model_digest:
        return None
    return served_facts(
        endpoint_of(client.base_url),
        str(request.get("model") or ""),
        served_model=options.served_model,
        model_files_given=options.model_files,
        model_digest_given=options.model_digest,
        cache_dir=rec.home.path / "cache",
    )


_UNSET: Any = object()


def _run(
    api: _Api,
    client: Any,
    request: Mapping[str, Any],
    options: _Options,
    served: Any = _UNSET,
) -> Run:
    """The run of one call, its declaration built from ``request`` before it is sent.
    ``served``: the served-model facts already read (the async path reads them in a thread),
    or an exception raised reading them."""
    rec = options.recorder if options.recorder is not None else Recorder()
    # The client's key and credential headers are the run's secrets: dropped, and a text that
    # echoes one (a 401 "Incorrect API key provided: ...") is never stored.
    secrets = credentials_of(client, request)
    try:
        if served is _UNSET:
            served = _served(client, request, options, rec)
        if isinstance(served, Exception):
            raise served
        declaration, blobs = api.declaration(
            request,
            base_url=str(client.base_url),
            runtime=options.runtime,
            model_version=options.model_version,
            provider=options.provider or PROVIDER,
            upstream=options.upstream or (),
            served=served,
            **options.declares,
        )
    except Exception as exc:
        failure = exc

        # A request runid cannot declare must not stop the call: the run reports the failure
        # as the recorder's on_error says (warn and call unrecorded, or raise CaptureError).
        def unbuildable(_request: Mapping[str, Any]) -> Mapping[str, Any]:
            raise failure

        return rec.capture(unbuildable, request=secrets, parent=options.parent, step=options.step)
    run = rec.capture(
        declaration,
        request=secrets,
        contents=[*blobs.values(), *options.contents],
        parent=options.parent,
        step=options.step,
    )
    # Where the model was reached is a fact of this occurrence, not a condition (ADR 0014).
    run.observe(endpoint=endpoint_of(client.base_url))
    return run


def _record(api: _Api, run: Run, response: object) -> None:
    run.set_output(api.output_bytes(response), media_type=api.output_media_type(response))
    observe(run, api.facts(response))


def _captured_call(
    api: _Api, client: Any, request: Mapping[str, Any], options: _Options
) -> tuple[Any, Run]:
    """The one captured call: declared before it is sent, recorded after it returns or, with
    ``stream=True``, when the stream it returns ends, fails or is closed."""
    run = _run(api, client, request, options)
    if request.get("stream"):
        run.__enter__()  # the declaration id is fixed here, before the request
        # The stream outlives this call: its run must not stay current for the caller's code.
        run.detach()
        try:
            stream = api.call(client, **request)
        except BaseException as exc:
            run.__exit__(*exc_info(exc))
            raise
        return RecordedStream(stream, run, api.accumulator()), run
    with run:
        response = api.call(client, **request)
        _record(api, run, response)
    return response, run


async def _acaptured_call(
    api: _Api, client: Any, request: Mapping[str, Any], options: _Options
) -> tuple[Any, Run]:
    """:func:`_captured_call` for an async client: the same steps, awaited (the log append,
    a served-model probe and the hashing of model files run in worker threads, off the event
    loop)."""
    served: Any = None
    if options.served_model is not None or options.model_files is not None or options.model_digest:
        rec = options.recorder if options.recorder is not None else Recorder()
        options = _Options(**{**options.__dict__, "recorder": rec})
        try:
            served = await asyncio.to_thread(_served, client, request, options, rec)
        except Exception as exc:
            served = exc
    run = _run(api, client, request, options, served)
    if request.get("stream"):
        await run.__aenter__()
        run.detach()
        try:
            stream = await api.call(client, **request)
        except BaseException as exc:
            await run.__aexit__(*exc_info(exc))
            raise
        return AsyncRecordedStream(stream, run, api.accumulator()), run
    async with run:
        response = await api.call(client, **request)
        _record(api, run, response)
    return response, run


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
    context: Mapping[str, Any] | None = None,
    template: Mapping[str, Any] | None = None,
    truncation: Mapping[str, Any] | None = None,
    contents: Iterable[bytes | str] = (),
    served_model: ServedModel | ServedModelProbe | None = None,
    model_files: Iterable[str | os.PathLike[str]] | None = None,
    model_digest: str | None = None,
    **request: Any,
) -> tuple[Any, Run]:
    """Call ``client.chat.completions.create(**request)`` under capture; return (response, run).

    The declaration is built from ``request`` as it is sent (and the client's ``base_url``)
    before the call, so ``run.declaration_id`` is fixed first; the output and the facts the
    server reports are recorded after it. ``recorder`` is a :class:`runid.capture.Recorder`
    (default: one for the default home); ``parent``/``step`` make the record a step of another
    (§12.9); ``upstream``, ``runtime``, ``model_version`` and ``provider`` go to
    :func:`declaration_from_chat_request`; ``truncation`` is how the application cut the
    history (``{"strategy", "original_count", "kept_count"}``).

    What the application declares (the client cannot see it; left out, each is
    ``not_recorded``, never ``not_applicable``: pass ``{"absent": "not_applicable"}`` to state
    there was none): ``context``, the retrieval the prompt was built from
    (:func:`runid.integrations.retrieval.context_component`); ``template``, the instruction
    template the system prompt was rendered from
    (:func:`runid.integrations.templates.instruction_template`); ``contents``, the bytes those
    reference (stored with the run, so a replay keeps them).

    The served model: ``served_model`` is a probe (``probe(endpoint, model)``, e.g.
    :func:`runid.integrations.served.llama_cpp_server`, run before the call) or a
    :class:`~runid.integrations.served.ServedModel`; ``model_files`` the weights file(s) the
    server loaded (hashed: ``model.weights``); ``model_digest`` a published ``sha256:``
    digest of the model (``model.version``). Without them the model's identity is
    ``not_recorded``. The endpoint is never a condition: it is the record's
    ``observed.endpoint`` (ADR 0014).

    With ``stream=True`` the response is a :class:`RecordedStream` that yields the chunks as
    they come; ``run`` is recorded when the stream ends, fails or is closed (a streamed and a
    non-streamed call of one request have the same declaration id and, at temperature 0, the
    same output digest).
    """
    options = _options(
        _CHAT,
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
        contents=tuple(contents),
        served_model=served_model,
        model_files=model_files,
        model_digest=model_digest,
    )
    return _captured_call(_CHAT, client, request, options)


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
    context: Mapping[str, Any] | None = None,
    template: Mapping[str, Any] | None = None,
    truncation: Mapping[str, Any] | None = None,
    contents: Iterable[bytes | str] = (),
    served_model: ServedModel | ServedModelProbe | None = None,
    model_files: Iterable[str | os.PathLike[str]] | None = None,
    model_digest: str | None = None,
    **request: Any,
) -> tuple[Any, Run]:
    """:func:`create_chat` for ``openai.AsyncOpenAI``: ``await`` it; with ``stream=True`` the
    response is an :class:`AsyncRecordedStream` (``async for``). The log append, a probe and
    the hashing of model files run in worker threads, off the event loop."""
    options = _options(
        _CHAT,
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
        contents=tuple(contents),
        served_model=served_model,
        model_files=model_files,
        model_digest=model_digest,
    )
    return await _acaptured_call(_CHAT, client, request, options)


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
    context: Mapping[str, Any] | None = None,
    template: Mapping[str, Any] | None = None,
    contents: Iterable[bytes | str] = (),
    served_model: ServedModel | ServedModelProbe | None = None,
    model_files: Iterable[str | os.PathLike[str]] | None = None,
    model_digest: str | None = None,
    **request: Any,
) -> tuple[Any, Run]:
    """Call ``client.responses.create(**request)`` under capture; return (response, run).

    As :func:`create_chat`, with :func:`declaration_from_responses_request` and the facts of
    :func:`observed_from_responses_response`; ``stream=True`` gives a :class:`RecordedStream`
    of the API's events, fed to :class:`ResponsesStreamAccumulator`. The declaration's engine
    is :data:`RESPONSES_ENGINE` (no replay for Responses declarations yet). ``truncation`` is
    the API's own request field (a parameter), not an option here.
    """
    options = _options(
        _RESPONSES,
        recorder=recorder,
        parent=parent,
        step=step,
        upstream=upstream,
        runtime=runtime,
        model_version=model_version,
        provider=provider,
        context=context,
        template=template,
        contents=tuple(contents),
        served_model=served_model,
        model_files=model_files,
        model_digest=model_digest,
    )
    return _captured_call(_RESPONSES, client, request, options)


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
    context: Mapping[str, Any] | None = None,
    template: Mapping[str, Any] | None = None,
    contents: Iterable[bytes | str] = (),
    served_model: ServedModel | ServedModelProbe | None = None,
    model_files: Iterable[str | os.PathLike[str]] | None = None,
    model_digest: str | None = None,
    **request: Any,
) -> tuple[Any, Run]:
    """:func:`create_response` for ``openai.AsyncOpenAI`` (``stream=True``: an
    :class:`AsyncRecordedStream` of the API's events)."""
    options = _options(
        _RESPONSES,
        recorder=recorder,
        parent=parent,
        step=step,
        upstream=upstream,
        runtime=runtime,
        model_version=model_version,
        provider=provider,
        context=context,
        template=template,
        contents=tuple(contents),
        served_model=served_model,
        model_files=model_files,
        model_digest=model_digest,
    )
    return await _acaptured_call(_RESPONSES, client, request, options)
