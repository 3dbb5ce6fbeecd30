"""Replay of a recorded llama.cpp declaration: :func:`request_from_declaration` and
:func:`replay` (the replay protocol)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeGuard

from ...capture import Recorder, Run
from ...digest import checked_fetch
from ...errors import InputError, RunidError
from .._chat import messages_from_declaration
from ._capture import call
from ._declaration import ENGINE, ENGINE_PARAMETERS

__all__ = ["replay", "request_from_declaration"]


def _checked(fetch: Callable[[str], bytes]) -> Callable[[str], bytes]:
    """``fetch`` that refuses content whose digest is not the one asked for: a replay must run
    exactly what was recorded (``E_CONTENT_DIGEST``)."""
    return lambda digest: checked_fetch(fetch, digest)


def request_from_declaration(
    declaration: Mapping[str, Any], fetch: Callable[[str], bytes]
) -> tuple[dict[str, Any], int | None]:
    """The ``create_chat_completion`` keyword arguments a declaration describes, and the
    recorded default seed (None when the seed was declared). ``fetch(digest)`` returns stored
    content (and raises :class:`~runid.errors.InputError` when it was not stored)."""
    request: dict[str, Any] = {"messages": messages_from_declaration(declaration, fetch)}
    tools = declaration.get("tools")
    if isinstance(tools, Mapping) and "definitions" in tools:
        request["tools"] = [
            json.loads(fetch(d["definition"]["digest"])) for d in tools["definitions"]
        ]
        choice = tools.get("choice")
        if isinstance(choice, str):
            request["tool_choice"] = choice
        elif isinstance(choice, Mapping) and "name" in choice:
            request["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    constraints = declaration.get("constraints")
    if isinstance(constraints, Mapping):
        schema = constraints.get("output_schema")
        if isinstance(schema, Mapping) and "digest" in schema:
            request["response_format"] = json.loads(fetch(schema["digest"]))
    seed: int | None = None
    for name, entry in (declaration.get("parameters") or {}).items():
        if name in ENGINE_PARAMETERS and name != "n_predict":
            continue
        if name == "seed" and entry.get("source") == "default":
            seed = entry["value"]
        elif entry.get("source") == "declared":
            request["max_tokens" if name == "n_predict" else name] = entry["value"]
    if "logit_bias" in request:
        request["logit_bias"] = {int(k): v for k, v in request["logit_bias"].items()}
    return request, seed


def _present(value: Any) -> TypeGuard[Mapping[str, Any]]:
    return isinstance(value, Mapping) and "absent" not in value


def _template_contents(template: Any, fetch: Callable[[str], bytes]) -> list[bytes]:
    """The template's text and its string variables, where still stored."""
    if not _present(template):
        return []
    digests = [template.get("digest")] + [
        v.get("digest") for v in (template.get("variables") or {}).values() if _present(v)
    ]
    found = []
    for digest in digests:
        if isinstance(digest, str):
            try:
                found.append(fetch(digest))
            except RunidError:
                continue  # not stored: the declaration still names it
    return found


def _contents_of(context: Any, fetch: Callable[[str], bytes]) -> list[bytes]:
    if not isinstance(context, Mapping) or "absent" in context:
        return []
    refs = [context.get("query")] + [item.get("content") for item in context.get("retrieved", [])]
    return [fetch(ref["digest"]) for ref in refs if isinstance(ref, Mapping) and "digest" in ref]


def _engine_setting(declaration: Mapping[str, Any], name: str) -> Any:
    entry = (declaration.get("parameters") or {}).get(name)
    return entry.get("value") if isinstance(entry, Mapping) else None


def replay(
    declaration: Mapping[str, Any],
    fetch: Callable[[str], bytes],
    *,
    recorder: Recorder,
    parent: str | None = None,
    step: int | None = None,
    **options: Any,
) -> Run:
    """Re-execute a recorded llama.cpp declaration under capture (the replay protocol).

    Options: ``llama`` (a loaded ``llama_cpp.Llama``) or ``model_path`` (a GGUF file, loaded
    with the declaration's ``n_ctx``, ``n_batch``, ``repeat_last_n`` and ``chat_format``).
    The call is rebuilt from the declaration (messages, tools, response format, every declared
    parameter, the recorded default seed), each content fetched by digest, and run through
    the same path as :func:`create_chat`. When nothing changed, the new declaration has the
    original's id.
    """
    engine = ((declaration.get("runtime") or {}).get("engine") or {}).get("name")
    if engine != ENGINE:
        raise InputError(
            f"this declaration's engine is {engine!r}, not {ENGINE!r}",
            hint="replay it with the adapter of its engine (runid.replay picks it)",
        )
    unknown = sorted(set(options) - {"llama", "model_path"})
    if unknown:
        raise InputError(f"unknown replay option(s) for llama.cpp: {', '.join(unknown)}")
    llama = options.get("llama")
    if llama is None:
        model_path = options.get("model_path")
        if model_path is None:
            raise InputError(
                "replaying a llama.cpp run needs the model: a Llama instance or its GGUF file",
                hint="pass --model-path FILE.gguf (model_path=...) or llama=...",
            )
        if not Path(model_path).is_file():
            raise InputError(f"{model_path}: no such GGUF file")
        import llama_cpp

        llama = llama_cpp.Llama(
            model_path=str(model_path),
            n_ctx=_engine_setting(declaration, "n_ctx") or 512,
            n_batch=_engine_setting(declaration, "n_batch") or 512,
            last_n_tokens_size=_engine_setting(declaration, "repeat_last_n") or 64,
            chat_format=_engine_setting(declaration, "chat_format"),
            verbose=False,
        )
    request, seed = request_from_declaration(declaration, _checked(fetch))
    context = declaration.get("context")
    inputs = declaration.get("inputs")
    instructions = declaration.get("instructions")
    template = instructions.get("template") if _present(instructions) else None
    runtime = declaration.get("runtime")
    # What the application declared is declared again as recorded (the replay runs none of its
    # code): the retrieval, the template, the truncation, the application's revision.
    _response, run = call(
        llama,
        request,
        recorder=recorder,
        context=context if isinstance(context, Mapping) else None,
        contents=[
            *_contents_of(context, _checked(fetch)),
            *_template_contents(template, _checked(fetch)),
        ],
        parent=parent,
        step=step,
        seed=seed,
        upstream=inputs.get("upstream", ()) if _present(inputs) else (),
        template=template,
        truncation=inputs.get("truncation") if _present(inputs) else None,
        code=runtime.get("code") if _present(runtime) else None,
    )
    return run
