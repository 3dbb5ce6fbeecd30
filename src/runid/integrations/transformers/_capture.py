"""Capture of transformers calls: ``generate``, ``pipeline_call`` and the captured run.

:func:`run_under_capture` is the one captured ``generate`` call behind :func:`generate`,
:func:`pipeline_call` and replay.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ...capture import Recorder, Run
from ...errors import InputError
from ...filedigest import FileDigestCache, shared_cache
from ._declaration import declaration_from_generate, generation_names, ids_of

__all__ = ["generate", "pipeline_call", "run_under_capture"]


def _eos_ids(effective: Mapping[str, Any]) -> set[int]:
    eos = effective.get("eos_token_id")
    if isinstance(eos, int):
        return {eos}
    return {int(i) for i in eos} if isinstance(eos, list | tuple) else set()


def _finish_reason(new_ids: list[int], prompt_len: int, effective: Mapping[str, Any]) -> str:
    if new_ids and new_ids[-1] in _eos_ids(effective):
        return "eos"
    max_new = effective.get("max_new_tokens")
    max_length = effective.get("max_length")
    if isinstance(max_new, int) and len(new_ids) >= max_new:
        return "length"
    if max_new is None and isinstance(max_length, int) and prompt_len + len(new_ids) >= max_length:
        return "length"
    return "stop"


def _raise(failure: BaseException, _request: Mapping[str, Any]) -> Mapping[str, Any]:
    # Capture reports a declaration that could not be built as its own failure (on_error);
    # the user's call still runs.
    raise failure


def run_under_capture(
    call: Callable[..., Any],
    model: Any,
    tokenizer: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    recorder: Recorder,
    seed: int | None,
    parent: str | None,
    step: int | None,
    describe: Mapping[str, Any],
    extra_contents: Sequence[bytes] = (),
) -> tuple[Any, Run]:
    """Run ``call(*args, **kwargs)`` (the real ``generate``) under capture; ``extra_contents``
    are the bytes of content references the caller's ``context`` holds."""
    input_ids = kwargs.get("input_ids", args[0] if args else kwargs.get("inputs"))
    if describe.get("cache") is None:
        # File digests are cached next to the log the run goes to.
        describe = {**describe, "cache": shared_cache(recorder.home.path / "cache")}
    effective: dict[str, Any] = {}
    contents: list[bytes] = []
    source: Mapping[str, Any] | Callable[[Mapping[str, Any]], Mapping[str, Any]]
    try:
        declaration, contents = declaration_from_generate(
            model, tokenizer, input_ids, kwargs, seed=seed, **describe
        )
        contents = [*contents, *extra_contents]
        effective = {name: entry.get("value") for name, entry in declaration["parameters"].items()}
        source = declaration
    except Exception as exc:
        source = functools.partial(_raise, exc)
    with recorder.capture(source, contents=contents, parent=parent, step=step) as run:
        if seed is not None:
            import torch

            torch.manual_seed(seed)
        output = call(*args, **kwargs)
        if run.declaration_id is not None and tokenizer is not None:
            sequences = getattr(output, "sequences", output)
            prompt = ids_of(input_ids)
            new_ids = ids_of(sequences)[len(prompt) :]
            run.set_output(tokenizer.decode(new_ids, skip_special_tokens=True))
            run.observe(
                finish_reason=_finish_reason(new_ids, len(prompt), effective),
                usage={"input_tokens": len(prompt), "output_tokens": len(new_ids)},
            )
    return output, run


def generate(
    model: Any,
    tokenizer: Any,
    prompt: str | None = None,
    *,
    messages: Sequence[Mapping[str, Any]] | None = None,
    recorder: Recorder | None = None,
    seed: int | None = None,
    add_special_tokens: bool = True,
    model_path: str | Path | None = None,
    tokenizer_path: str | Path | None = None,
    name: str | None = None,
    code: Mapping[str, Any] | None = None,
    cache: FileDigestCache | None = None,
    parent: str | None = None,
    step: int | None = None,
    context: Mapping[str, Any] | None = None,
    contents: Sequence[bytes] = (),
    truncation: Mapping[str, Any] | None = None,
    **generate_kwargs: Any,
) -> tuple[str, Run]:
    """Tokenize ``prompt`` (or render ``messages`` with the chat template), call
    ``model.generate`` under capture, and return (decoded continuation, run).

    ``generate_kwargs`` go to ``generate`` as given (``max_new_tokens=8``, ``do_sample=...``)
    and are the declared parameters; everything else is the model's generation config, recorded
    as defaults. ``seed`` seeds torch just before the call and is declared. ``context`` (with
    ``contents``, the bytes its content references point at) declares the retrieval the
    prompt was built from, ``truncation`` how the history was cut; each one not given is
    ``not_recorded`` (``{"absent": "not_applicable"}`` states there was none).
    ``model_path`` may name the GGUF file a model was loaded from
    (``from_pretrained(DIR, gguf_file=NAME)``).
    """
    if (prompt is None) == (messages is None):
        raise InputError("give a prompt or messages, not both and not neither")
    rec = recorder if recorder is not None else Recorder()
    system: list[str] | None = None
    variables: dict[str, Any] | None = None
    if messages is not None:
        text = _render_chat(tokenizer, messages)
        system, variables = _leading_system(messages), {"add_generation_prompt": True}
        special: bool | None = False  # a chat template writes its own special tokens
    else:
        assert prompt is not None
        text, special = prompt, add_special_tokens
    encoded = tokenizer(text, add_special_tokens=special, return_tensors="pt")
    encoded = encoded.to(model.device)
    kwargs = {
        "input_ids": encoded["input_ids"],
        "attention_mask": encoded["attention_mask"],
        **generate_kwargs,
    }
    describe = {
        "declared": {k for k in generate_kwargs if k in generation_names()},
        "texts": [(text, special)],
        "system": system,
        "template_variables": variables,
        "model_path": model_path,
        "tokenizer_path": tokenizer_path,
        "name": name,
        "code": code,
        "cache": cache,
        "context": context,
        "truncation": truncation,
    }
    output, run = run_under_capture(
        model.generate,
        model,
        tokenizer,
        (),
        kwargs,
        recorder=rec,
        seed=seed,
        parent=parent,
        step=step,
        describe=describe,
        extra_contents=contents,
    )
    prompt_len = int(encoded["input_ids"].shape[-1])
    sequences = getattr(output, "sequences", output)
    return tokenizer.decode(ids_of(sequences)[prompt_len:], skip_special_tokens=True), run


def _render_chat(tokenizer: Any, messages: Sequence[Mapping[str, Any]]) -> str:
    rendered = tokenizer.apply_chat_template(
        [dict(m) for m in messages], tokenize=False, add_generation_prompt=True
    )
    if not isinstance(rendered, str):
        raise InputError("the tokenizer's chat template did not render text")
    return rendered


def _leading_system(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    system = []
    for message in messages:
        if message.get("role") not in ("system", "developer"):
            break
        content = message.get("content")
        if isinstance(content, str):
            system.append(content)
    return system


@contextlib.contextmanager
def _intercept(model: Any, replacement: Callable[..., Any]) -> Iterator[None]:
    """Route ``model.generate`` through ``replacement`` for the duration of one call."""
    had_own = "generate" in vars(model)
    previous = vars(model).get("generate")
    model.generate = replacement
    try:
        yield
    finally:
        if had_own:
            model.generate = previous
        else:
            del model.generate


def pipeline_call(
    pipe: Any,
    text_inputs: str | Sequence[Mapping[str, Any]],
    *,
    recorder: Recorder | None = None,
    seed: int | None = None,
    model_path: str | Path | None = None,
    tokenizer_path: str | Path | None = None,
    name: str | None = None,
    code: Mapping[str, Any] | None = None,
    cache: FileDigestCache | None = None,
    parent: str | None = None,
    step: int | None = None,
    context: Mapping[str, Any] | None = None,
    contents: Sequence[bytes] = (),
    **call_kwargs: Any,
) -> tuple[Any, Run]:
    """Call a text-generation ``pipe(text_inputs, **call_kwargs)`` with its ``generate`` call
    captured; return (the pipeline's result, run).

    ``context`` (with ``contents``) declares the retrieval the prompt was built from, as for
    :func:`generate`; not given, it is ``not_recorded``. ``inputs.truncation`` is
    ``not_recorded`` (``truncation`` is the pipeline's own argument: it cuts tokens, and the
    input recorded is what the model reads after it).

    The declaration is built from the ``generate`` call the pipeline really makes (its
    tokenization, its defaults such as ``max_new_tokens=256``); parameters the caller passed
    (here or when the pipeline was built) are ``declared``, the pipeline's and the model's
    defaults ``default``. One prompt (a string or a chat as a list of messages) per call. The
    pipeline must not be called from another thread at the same time (its model's ``generate``
    is routed through capture for the duration of the call).
    """
    rec = recorder if recorder is not None else Recorder()
    model, tokenizer = pipe.model, pipe.tokenizer
    names = generation_names()
    given = {**getattr(pipe, "_generate_kwargs", {}), **call_kwargs}
    declared = {k for k in given if k in names}
    user_config = given.get("generation_config")
    if user_config is not None:
        declared |= set(user_config.to_diff_dict())
    system: list[str] | None = None
    variables: dict[str, Any] | None = None
    if isinstance(text_inputs, str):
        prefix = call_kwargs.get("prefix", getattr(pipe, "prefix", None)) or ""
        special = call_kwargs.get("add_special_tokens")
        texts: list[tuple[str, bool | None]] = [(prefix + text_inputs, special)]
    else:
        messages = [dict(m) for m in text_inputs]
        continue_final = call_kwargs.get("continue_final_message")
        if continue_final is None:
            continue_final = messages[-1].get("role") == "assistant"
        variables = {
            "add_generation_prompt": not continue_final,
            "continue_final_message": bool(continue_final),
        }
        rendered = tokenizer.apply_chat_template(messages, tokenize=False, **variables)
        texts = [(rendered, False)]
        system = _leading_system(messages)
    describe = {
        "declared": declared,
        "texts": texts,
        "system": system,
        "template_variables": variables,
        "model_path": model_path,
        "tokenizer_path": tokenizer_path,
        "name": name,
        "code": code,
        "cache": cache,
        "context": context,
    }
    original = model.generate
    runs: list[Run] = []

    def captured_generate(*args: Any, **kwargs: Any) -> Any:
        output, run = run_under_capture(
            original,
            model,
            tokenizer,
            args,
            kwargs,
            recorder=rec,
            seed=seed,
            parent=parent,
            step=step,
            describe=describe,
            extra_contents=contents,
        )
        runs.append(run)
        return output

    with _intercept(model, captured_generate):
        result = pipe(text_inputs, **call_kwargs)
    if len(runs) != 1:
        raise InputError(f"the pipeline called generate() {len(runs)} times; expected once")
    return result, runs[0]
