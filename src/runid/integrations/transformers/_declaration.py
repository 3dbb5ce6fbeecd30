"""The declaration of one transformers ``generate`` call, built just before it runs.

The effective generation config and the parameters, the runtime facts (libraries, hardware,
determinism flags), the model input and the instructions; the model component comes from
``_files``.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...canonical import canonicalize
from ...digest import content_digest, content_ref
from ...errors import InputError
from ...filedigest import FileDigestCache
from ...runtime import application_code, hardware_class, library_versions, platform_facts
from .._chat import declared as stated
from ._files import NA, NOT_RECORDED, model_component

__all__ = [
    "ADD_SPECIAL",
    "ENGINE",
    "IGNORED_GENERATION_FIELDS",
    "JSON_MEDIA",
    "TEXT_MEDIA",
    "declaration_from_generate",
    "determinism_flags",
    "effective_generation_config",
    "generation_names",
    "ids_of",
    "runtime_component",
]

ENGINE = "transformers"
TEXT_MEDIA = "text/plain; charset=utf-8"
JSON_MEDIA = "application/json"
ADD_SPECIAL = "tokenizer.add_special_tokens"

#: Generation-config fields that shape only what ``generate`` returns, or are bookkeeping;
#: they do not change the tokens produced and are not parameters.
IGNORED_GENERATION_FIELDS: frozenset[str] = frozenset(
    {
        "output_attentions",
        "output_hidden_states",
        "output_scores",
        "output_logits",
        "return_dict_in_generate",
        "transformers_version",
        "_from_model_config",
        "compile_config",
        "disable_compile",
        "low_memory",
        "prefill_chunk_size",
        "continuous_batching_config",
    }
)
# ``generate`` arguments that are objects with behaviour runid cannot name by value.
_UNDESCRIBABLE = (
    "logits_processor",
    "stopping_criteria",
    "prefix_allowed_tokens_fn",
    "assistant_model",
    "negative_prompt_ids",
    "negative_prompt_attention_mask",
    "custom_generate",
)
_PARAM_NAME = re.compile(r"[a-z][a-z0-9_.-]*")
_LIBRARIES = ("torch", "transformers", "tokenizers", "safetensors", "accelerate")


# --- parameters -------------------------------------------------------------------------------


def _json_value(name: str, value: Any) -> Any:
    if type(value) in (bool, int, str):  # the common case, nothing to check
        return value
    if isinstance(value, tuple):
        value = list(value)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        value = to_dict()
    try:
        canonicalize(value)
    except Exception:
        raise InputError(
            f"generation parameter {name!r} has a value runid cannot record: {type(value).__name__}"
        ) from None
    return value


@functools.lru_cache(maxsize=1)
def generation_names() -> frozenset[str]:
    from transformers import GenerationConfig

    return frozenset(GenerationConfig().to_dict())  # type: ignore[no-untyped-call, unused-ignore]


def effective_generation_config(
    model: Any, generation_config: Any, kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """The generation config ``generate`` will use, field by field.

    transformers' own merge (``GenerationMixin._prepare_generation_config``): start from the
    given ``generation_config`` (or an empty one), fill what is unset from the model's
    ``generation_config``, then from the library's global defaults, then apply the call's
    arguments. Done here on plain dicts (the library deep-copies config objects, ~10x slower);
    a test checks the result against the library's own function. Library versions without the
    global-defaults table use the library's function itself.
    """
    from transformers import GenerationConfig

    defaults = getattr(GenerationConfig, "_get_default_generation_params", None)
    prepare = getattr(model, "_prepare_generation_config", None)
    names = generation_names()
    updates = {k: v for k, v in kwargs.items() if k in names}
    if not callable(defaults):
        if callable(prepare):
            config, _unused = prepare(copy.deepcopy(generation_config), **updates)
        else:
            base = generation_config if generation_config is not None else model.generation_config
            config = copy.deepcopy(base)
            config.update(**updates)
        found: dict[str, Any] = config.to_dict()
        return found
    result: dict[str, Any] = dict.fromkeys(names)
    if generation_config is not None:
        result.update(_fields(generation_config))
    for name, value in _fields(model.generation_config).items():
        if result.get(name) is None:
            result[name] = value
    for name, value in defaults().items():
        if result.get(name) is None:
            result[name] = value
    for name, value in kwargs.items():
        if name in result:
            result[name] = value
    if result.get("cache_implementation") == "hybrid":
        result["cache_implementation"] = None
    return result


def _fields(config: Any) -> dict[str, Any]:
    """A generation config's public fields (custom entries included), without copying."""
    return {k: v for k, v in vars(config).items() if not k.startswith("_")}


def _parameters(
    effective: Mapping[str, Any],
    declared: set[str],
    *,
    seed: int | None,
    add_special_tokens: bool | None,
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, value in effective.items():
        if name in IGNORED_GENERATION_FIELDS or value is None:
            continue
        if _PARAM_NAME.fullmatch(name) is None:
            continue
        source = "declared" if name in declared else "default"
        params[name] = {"source": source, "value": _json_value(name, value)}
    if seed is not None:
        params["seed"] = {"source": "declared", "value": seed}
    if add_special_tokens is not None:
        params[ADD_SPECIAL] = {"source": "declared", "value": add_special_tokens}
    return dict(sorted(params.items()))


# --- runtime ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _libraries() -> tuple[tuple[str, str], ...]:
    # Versions cannot change inside a process; reading package metadata costs milliseconds.
    found, _missing = library_versions(_LIBRARIES)
    return tuple(sorted(found.items()))


def _device_type(model: Any) -> str:
    device = getattr(model, "device", None)
    return str(getattr(device, "type", device) or "cpu")


def _hardware(model: Any) -> str:
    kind = _device_type(model)
    if kind == "cuda":
        import torch

        device_name = torch.cuda.get_device_name(model.device)
        return "cuda-" + re.sub(r"[^a-z0-9]+", "-", device_name.lower()).strip("-")
    if kind == "cpu":
        return hardware_class()
    return kind  # mps, xpu, ...: the device class is what we know


def determinism_flags(model: Any, seed: int | None) -> dict[str, Any]:
    """torch's determinism switches as they are set now, the device type and the seed."""
    import torch

    return {
        "torch.deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "torch.deterministic_algorithms.warn_only": (
            torch.is_deterministic_algorithms_warn_only_enabled()
        ),
        "torch.float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cudnn.deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn.benchmark": bool(torch.backends.cudnn.benchmark),
        "cuda.matmul.allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "device_type": _device_type(model),
        "seed": seed if seed is not None else dict(NOT_RECORDED),
    }


def runtime_component(
    model: Any, *, seed: int | None = None, code: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The ``runtime`` component: engine, libraries, platform, hardware, code (default: the
    application's revision, :func:`runid.runtime.application_code`), determinism."""
    libraries = dict(_libraries())
    return {
        "engine": {"name": ENGINE, "version": libraries.get("transformers", "unknown")},
        "libraries": libraries,
        "platform": platform_facts(),
        "hardware": _hardware(model),
        "code": dict(code) if code is not None else application_code(),
        "determinism": determinism_flags(model, seed),
    }


# --- the declaration --------------------------------------------------------------------------


def ids_of(value: Any) -> list[int]:
    """One sequence of token ids from a tensor, array or list (batch of one)."""
    if value is None:
        raise InputError("generate() was called without input ids")
    tolist = getattr(value, "tolist", None)
    ids = tolist() if callable(tolist) else list(value)
    if ids and isinstance(ids[0], list):
        if len(ids) != 1:
            raise InputError(
                f"runid records one sequence per generate() call, not a batch of {len(ids)}",
                hint="call generate() once per prompt",
            )
        ids = ids[0]
    return [int(i) for i in ids]


def _model_input(
    tokenizer: Any, ids: list[int], candidates: Sequence[tuple[str, bool | None]]
) -> tuple[bytes, str, bool | None]:
    """The input as text when a candidate text tokenizes to exactly ``ids``, else the ids.

    The third value is the ``add_special_tokens`` flag that reproduces ``ids`` from the text,
    or None when the flag makes no difference for this text (then it is not a condition of the
    run, and a pipeline and a direct call that feed the model the same ids get the same id).
    """
    if tokenizer is not None:
        for text, given in candidates:
            by_flag = {
                flag: tokenizer(text, add_special_tokens=flag)["input_ids"] == ids
                for flag in (False, True)
            }
            if by_flag[False] and by_flag[True]:
                return text.encode("utf-8"), TEXT_MEDIA, None
            for flag in (given,) if given is not None else (False, True):
                if by_flag[flag]:
                    return text.encode("utf-8"), TEXT_MEDIA, flag
    return canonicalize(ids), JSON_MEDIA, None


def _chat_template(tokenizer: Any) -> str | None:
    template = getattr(tokenizer, "chat_template", None)
    return template if isinstance(template, str) and template else None


def _instructions(
    tokenizer: Any, system: Sequence[str] | None, variables: Mapping[str, Any] | None
) -> tuple[dict[str, Any], list[bytes]]:
    if not system:
        return dict(NA), []
    template = _chat_template(tokenizer)
    declared_template: Any = dict(NOT_RECORDED)
    if template is not None:
        declared_template = {
            "id": "tokenizer.chat_template",
            "version": dict(NA),
            "digest": content_digest(template.encode("utf-8")),
            "variables": dict(variables or {}),
        }
    refs = [dict(content_ref(text)) for text in system]
    return (
        {"system": refs, "template": declared_template, "source": "tokenizer.chat_template"},
        [text.encode("utf-8") for text in system],
    )


def declaration_from_generate(
    model: Any,
    tokenizer: Any,
    input_ids: Any,
    generate_kwargs: Mapping[str, Any],
    *,
    declared: set[str] | None = None,
    texts: Sequence[tuple[str, bool | None]] = (),
    system: Sequence[str] | None = None,
    template_variables: Mapping[str, Any] | None = None,
    seed: int | None = None,
    model_path: str | Path | None = None,
    tokenizer_path: str | Path | None = None,
    name: str | None = None,
    code: Mapping[str, Any] | None = None,
    cache: FileDigestCache | None = None,
    context: Mapping[str, Any] | None = None,
    truncation: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], list[bytes]]:
    """The declaration of ``model.generate(input_ids, **generate_kwargs)`` and its contents.

    ``declared`` names the generation parameters the caller set (default: every generation
    field in ``generate_kwargs``, and those a given ``generation_config`` sets); ``texts`` are
    candidate prompt texts with their ``add_special_tokens`` flag (None: try both) — the first
    that tokenizes to exactly ``input_ids`` is recorded as text; ``system`` and
    ``template_variables`` describe a chat's system messages and template call; ``context`` is
    the retrieval context the prompt was built from (a ``context`` component, e.g. from
    :func:`runid.integrations.retrieval.context_component`) and ``truncation`` how the caller
    cut the history: what the caller declares, else ``not_recorded`` (the prompt may have been
    built from a retrieval, or cut, before it reached ``generate``; ``{"absent":
    "not_applicable"}`` states that it was not).
    """
    for name_ in _UNDESCRIBABLE:
        if generate_kwargs.get(name_) is not None:
            raise InputError(
                f"generate(..., {name_}=...) cannot be recorded: runid cannot name its behaviour",
                hint="express it as generation parameters, or capture the call another way",
            )
    mask = generate_kwargs.get("attention_mask")
    if mask is not None and 0 in ids_of(mask):
        raise InputError("generate() with padding (an attention mask with zeros) is not recorded")
    ids = ids_of(input_ids)
    generation_config = generate_kwargs.get("generation_config")
    names = generation_names()
    if declared is None:
        declared = {k for k in generate_kwargs if k in names}
        if generation_config is not None:
            declared |= set(generation_config.to_diff_dict())
    effective = effective_generation_config(model, generation_config, generate_kwargs)
    raw, media, special = _model_input(tokenizer, ids, texts)
    instructions, system_blobs = _instructions(tokenizer, system, template_variables)
    declaration = {
        "spec": "runid/v1",
        "model": model_component(
            model,
            tokenizer,
            model_path=model_path,
            tokenizer_path=tokenizer_path,
            name=name,
            cache=cache,
        ),
        "parameters": _parameters(effective, declared, seed=seed, add_special_tokens=special),
        "instructions": instructions,
        "inputs": {
            "messages": [{"role": "user", "content": dict(content_ref(raw, media))}],
            "truncation": stated(truncation),
            "upstream": [],
        },
        "context": stated(context),
        "tools": dict(NA),
        "runtime": runtime_component(model, seed=seed, code=code),
        "constraints": dict(NA),
    }
    return declaration, [raw, *system_blobs]
