"""Replay of a recorded transformers ``generate`` call.

:func:`replay` rebuilds the call from its declaration and stored contents and runs it again
through the same captured path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ...capture import Recorder, Run
from ...digest import checked_fetch
from ...errors import E_REPLAY_ENGINE, E_REPLAY_UNAVAILABLE, InputError
from ._capture import run_under_capture
from ._declaration import ADD_SPECIAL, ENGINE, JSON_MEDIA
from ._files import gguf_file

__all__ = ["replay"]

_REPLAY_OPTIONS = frozenset({"model", "tokenizer", "model_path", "tokenizer_path", "cache"})


def _fetch_text(fetch: Callable[[str], bytes], ref: Mapping[str, Any]) -> bytes:
    return checked_fetch(fetch, ref["digest"])


def replay(
    declaration: Mapping[str, Any],
    fetch: Callable[[str], bytes],
    *,
    recorder: Recorder,
    parent: str | None = None,
    step: int | None = None,
    **options: Any,
) -> Run:
    """Re-run a recorded transformers ``generate`` call from its declaration.

    Options: ``model_path`` (required unless ``model`` and ``tokenizer`` are given: the local
    directory to load, or the GGUF file), ``tokenizer_path``, ``model``/``tokenizer`` (already
    loaded objects), ``cache`` (a :class:`~runid.filedigest.FileDigestCache`). The input is
    fetched by digest, the declared parameters are passed again, defaults are left to the
    model's generation config (so a changed default shows as a changed ``parameters``
    component), and the model component is recomputed from the files (so changed weights change
    the id and name the ``model`` component). The retrieval context, the truncation and the
    application's revision (``runtime.code``) are declared as recorded.
    When nothing changed, the declaration id is the original's.
    """
    engine = declaration.get("runtime", {}).get("engine")
    if not isinstance(engine, Mapping) or engine.get("name") != ENGINE:
        raise InputError(
            f"this declaration was not made by the {ENGINE} adapter",
            hint="replay it with the adapter its runtime.engine.name names",
            code=E_REPLAY_ENGINE,
        )
    unknown = sorted(set(options) - _REPLAY_OPTIONS)
    if unknown:
        raise InputError(
            f"a transformers replay takes no option {', '.join(unknown)}",
            hint="options: " + ", ".join(sorted(_REPLAY_OPTIONS)) + " (--model-path on the CLI)",
        )
    model = options.get("model")
    tokenizer = options.get("tokenizer")
    model_path = options.get("model_path")
    tokenizer_path = options.get("tokenizer_path")
    if model is None or tokenizer is None:
        if model_path is None:
            raise InputError(
                "replaying a transformers run needs model_path (the model's directory)",
                hint="pass model_path=DIR (--model-path): the directory the model was loaded from",
                code=E_REPLAY_UNAVAILABLE,
            )
        from transformers import AutoModelForCausalLM, AutoTokenizer

        dtype = declaration["model"].get("dtype")
        gguf = gguf_file(model_path)
        where = {"gguf_file": gguf.name} if gguf is not None else {}
        directory = gguf.parent if gguf is not None else model_path
        model = model or AutoModelForCausalLM.from_pretrained(
            directory, dtype=dtype if isinstance(dtype, str) else "auto", **where
        )
        tokenizer = tokenizer or (
            AutoTokenizer.from_pretrained(tokenizer_path)
            if tokenizer_path is not None
            else AutoTokenizer.from_pretrained(directory, **where)
        )
    params: Mapping[str, Any] = declaration["parameters"]
    message = declaration["inputs"]["messages"][0]
    raw = _fetch_text(fetch, message["content"])
    kwargs: dict[str, Any] = {
        name: entry["value"]
        for name, entry in params.items()
        if entry.get("source") == "declared" and name not in ("seed", ADD_SPECIAL)
    }
    seed = params.get("seed", {}).get("value")
    texts: list[tuple[str, bool | None]] = []
    import torch

    if message["content"]["media_type"] == JSON_MEDIA:
        ids = json.loads(raw)
    else:
        text = raw.decode("utf-8")
        special = bool(params.get(ADD_SPECIAL, {}).get("value", True))
        ids = tokenizer(text, add_special_tokens=special)["input_ids"]
        texts = [(text, special)]
    input_ids = torch.tensor([ids], device=model.device)
    instructions = declaration.get("instructions", {})
    system: list[str] | None = None
    variables: dict[str, Any] | None = None
    if isinstance(instructions, Mapping) and "system" in instructions:
        system = [_fetch_text(fetch, ref).decode("utf-8") for ref in instructions["system"]]
        template = instructions.get("template")
        if isinstance(template, Mapping) and "variables" in template:
            variables = dict(template["variables"])
    code = declaration["runtime"].get("code")
    describe = {
        "declared": set(kwargs),
        "texts": texts,
        "system": system,
        "template_variables": variables,
        "model_path": model_path,
        "tokenizer_path": tokenizer_path,
        "name": declaration["model"]["name"],
        # The application's revision as recorded: a replay runs none of the application's code
        # (it rebuilds the call from the declaration); what runs is measured again.
        "code": code if isinstance(code, Mapping) else None,
        "cache": options.get("cache"),
        # What the application declared is declared again as recorded: the replay feeds the
        # same prompt, built from the same retrieval and cut the same way.
        "context": declaration["context"],
        "truncation": declaration["inputs"].get("truncation"),
    }
    call_kwargs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), **kwargs}
    _output, run = run_under_capture(
        model.generate,
        model,
        tokenizer,
        (),
        call_kwargs,
        recorder=recorder,
        seed=seed if isinstance(seed, int) else None,
        parent=parent,
        step=step,
        describe=describe,
    )
    return run
