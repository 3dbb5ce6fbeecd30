"""Capture of an in-process ``create_chat_completion`` call: :func:`create_chat`, and
:func:`call`, the one code path a first call and a replay share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ...capture import Recorder, Run
from ...errors import InputError
from .._chat import output_bytes, output_media_type
from ._declaration import declaration_from_request, engine_facts, next_seed

__all__ = ["call", "create_chat"]


def _served(response: Mapping[str, Any]) -> str | None:
    # llama-cpp-python reports the model *path*; the file name is the fact, the path is not.
    model = response.get("model")
    return Path(model).name if isinstance(model, str) and model else None


def call(
    llama: Any,
    request: Mapping[str, Any],
    *,
    recorder: Recorder,
    context: Mapping[str, Any] | None,
    contents: Iterable[bytes | str],
    parent: str | None,
    step: int | None,
    seed: int | None,
    upstream: Iterable[Mapping[str, Any]],
    template: Mapping[str, Any] | None = None,
    truncation: Mapping[str, Any] | None = None,
    code: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], Run]:
    """The one code path of a first call and a replay."""
    if request.get("stream"):
        raise InputError(
            "create_chat records non-streaming calls",
            hint="call create_chat_completion without stream=True",
        )
    facts = engine_facts(llama, cache_dir=recorder.home.path / "cache")
    given_seed = request.get("seed")
    effective = (
        given_seed if given_seed is not None else (seed if seed is not None else next_seed(llama))
    )
    declaration, blobs = declaration_from_request(
        facts,
        request,
        seed=effective,
        context=context,
        upstream=upstream,
        template=template,
        truncation=truncation,
        code=code,
    )
    sent = dict(request)
    # Passing the effective seed is exactly what llama-cpp-python does with seed=None
    # (set_seed(derived)); passing it makes a replay use the recorded one.
    if effective is not None:
        sent["seed"] = effective
    with recorder.capture(
        declaration, contents=[*blobs.values(), *contents], parent=parent, step=step
    ) as run:
        response = llama.create_chat_completion(**sent)
        run.set_output(output_bytes(response), media_type=output_media_type(response))
        choices = response.get("choices") or []
        run.observe(
            served_model=_served(response),
            response_id=response.get("id"),
            usage=response.get("usage"),
            finish_reason=choices[0].get("finish_reason") if choices else None,
        )
    return response, run


def create_chat(
    llama: Any,
    *,
    recorder: Recorder | None = None,
    context: Mapping[str, Any] | None = None,
    contents: Iterable[bytes | str] = (),
    parent: str | None = None,
    step: int | None = None,
    upstream: Iterable[Mapping[str, Any]] = (),
    template: Mapping[str, Any] | None = None,
    truncation: Mapping[str, Any] | None = None,
    **request: Any,
) -> tuple[dict[str, Any], Run]:
    """Call ``llama.create_chat_completion(**request)`` under capture; return (response, run).

    The declaration is fixed before the call; ``context`` (a retrieval ``context`` component)
    and ``contents`` (the bytes it references) come from the retrieval that built the prompt;
    ``template`` is the instruction template the system prompt was rendered from
    (:func:`runid.integrations.templates.instruction_template`; its contents go in
    ``contents`` too) and ``truncation`` how the history was cut. Each of those the caller
    does not give is ``not_recorded``: the call does not show whether it happened (pass
    ``{"absent": "not_applicable"}`` to state that it did not). ``upstream`` names earlier runs
    whose outputs this call reads (agent loops, §12.9). ``recorder`` defaults to one for the
    default home. Non-streaming calls only.
    """
    rec = recorder if recorder is not None else Recorder()
    return call(
        llama,
        request,
        recorder=rec,
        context=context,
        contents=contents,
        parent=parent,
        step=step,
        seed=None,
        upstream=upstream,
        template=template,
        truncation=truncation,
    )
