"""Hugging Face ``transformers`` capture: ``model.generate()`` and text-generation pipelines.

The declaration is built from the ``generate`` call as it is really made, just before it runs:

* ``model``: provider ``transformers``; the artifact digests (plain SHA-256, docs/adr/0002) of
  the weights files (``*.safetensors``, ``pytorch_model*.bin``, their index, and
  ``config.json``, which says what the tensors mean) and of the tokenizer files (including the
  chat template); ``dtype``; ``quantization`` from the model config (``not_applicable`` when
  none); ``adapters`` (``[]`` when no PEFT adapter is loaded, ``not_recorded`` when one is).
  File digests come from :mod:`runid.filedigest`, so a multi-GB weights file is read once and
  then recognised by ``stat`` (path, size, mtime, ctime, inode).
* ``parameters``: the *effective* generation config exactly as ``generate()`` computes it (the
  call's arguments over the model's ``generation_config`` over the library's global defaults),
  every entry marked ``declared`` (the caller set it) or ``default`` (with the value that
  applied). Flags that only shape the return value (``output_scores``,
  ``return_dict_in_generate``, ...) are not parameters; ``None`` means "not in effect" and is
  left out. ``seed`` is declared when the caller gives one (the adapter seeds torch with it).
* ``inputs``: one ``user`` message holding what the model really reads: the prompt text after
  the chat template (and any prefix), when tokenizing that text gives exactly the token ids
  ``generate`` receives (``tokenizer.add_special_tokens`` records how), otherwise the token ids
  themselves as canonical JSON (``application/json``). Either way the model input is fixed.
* ``instructions``: for a chat, the leading system messages as given and the chat template's
  digest; ``not_applicable`` for a plain prompt.
* ``runtime``: engine ``transformers`` and its version, ``torch``/``tokenizers``/
  ``safetensors``/``accelerate`` versions, platform, hardware class from the model's device,
  and determinism flags (deterministic algorithms, cuDNN flags, matmul precision, device type,
  seed). The code revision is ``not_recorded`` unless the caller passes ``code``.

Observed facts: ``finish_reason`` (``eos``: the last new token is an end-of-sequence token;
``length``: the new-token budget was used up; ``stop``: another stopping criterion), and the
input/output token counts. The output is the decoded continuation (new tokens only, special
tokens skipped).

Replay (the team's protocol): :data:`ENGINE` and :func:`replay` rebuild the call from a
declaration and its stored contents and run it again through the same code path.

A batch of one sequence per call is supported; a call this adapter cannot describe exactly
(custom logits processors or stopping criteria, an assistant model, a batch, padding) still
runs, and capture reports that it could not be recorded (``on_error`` of the recorder).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..canonical import canonicalize
from ..capture import Recorder, Run
from ..digest import checked_fetch, content_digest, content_ref
from ..errors import InputError
from ..filedigest import FileDigestCache, file_digest, shared_cache
from ..runtime import code_revision, hardware_class, library_versions, platform_facts

__all__ = [
    "ENGINE",
    "IGNORED_GENERATION_FIELDS",
    "PROVIDER",
    "declaration_from_generate",
    "generate",
    "gguf_file_type",
    "model_component",
    "pipeline_call",
    "replay",
]

ENGINE = "transformers"
PROVIDER = "transformers"
TEXT_MEDIA = "text/plain; charset=utf-8"
JSON_MEDIA = "application/json"
NA: dict[str, str] = {"absent": "not_applicable"}
NOT_RECORDED: dict[str, str] = {"absent": "not_recorded"}
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
# Transport only: how results are delivered, not what is computed.
_TRANSPORT = frozenset({"streamer", "synced_gpus", "tokenizer", "use_model_defaults"})
_PARAM_NAME = re.compile(r"[a-z][a-z0-9_.-]*")
_WEIGHT_FILE = re.compile(
    r"(.*\.safetensors|.*\.safetensors\.index\.json|pytorch_model.*\.bin|.*\.bin\.index\.json"
    r"|config\.json)"
)
_TOKENIZER_FILE = re.compile(
    r"(tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|added_tokens\.json"
    r"|vocab\.json|vocab\.txt|merges\.txt|.*\.model|chat_template\.jinja|chat_template\.json"
    r"|additional_chat_templates/.*\.jinja)"
)
_REPLAY_OPTIONS = frozenset({"model", "tokenizer", "model_path", "tokenizer_path", "cache"})
_LIBRARIES = ("torch", "transformers", "tokenizers", "safetensors", "accelerate")


# --- model ------------------------------------------------------------------------------------


def _local_dir(value: object) -> Path | None:
    if isinstance(value, str | Path) and str(value) and Path(value).is_dir():
        return Path(value)
    return None


_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
_SNAPSHOT = re.compile(r"models--(?P<org>[^/]+?)--(?P<name>[^/]+)/snapshots/(?P<rev>[0-9a-f]{40})")


@functools.lru_cache(maxsize=64)
def _hub_snapshot(repo_id: str) -> Path | None:
    """The local Hugging Face cache snapshot of ``repo_id`` (its ``main`` ref), never fetched.

    Resolved once per process: the model in memory was loaded from it and does not change.
    """
    try:
        from huggingface_hub import snapshot_download

        found = snapshot_download(repo_id, local_files_only=True)
    except Exception:  # not cached, or no huggingface_hub: the files are not at hand
        return None
    return _local_dir(found)


def _resolve(value: object) -> tuple[Path | None, str | None, str | None]:
    """``(directory, repo id, revision)`` for a ``name_or_path``: a local directory, a snapshot
    directory of the Hugging Face cache, or a repo id found in that cache."""
    directory = _local_dir(value)
    if directory is None and isinstance(value, str) and _REPO_ID.fullmatch(value):
        directory = _hub_snapshot(value)
    if directory is None:
        return None, None, None
    match = _SNAPSHOT.search(directory.as_posix())
    if match is None:
        return directory, None, None
    return directory, f"{match['org']}/{match['name']}", match["rev"]


_NESTED = "additional_chat_templates"  # the one subdirectory a checkpoint has (templates)
_listings: dict[tuple[str, int, int], list[tuple[str, str]]] = {}


def _listing(directory: Path) -> list[tuple[str, str]]:
    """``[(relative name, path)]`` of the checkpoint's files, sorted; hidden names skipped.

    Cached by the directory's and its template subdirectory's mtime (adding, removing or
    renaming a file moves them), so repeated captures do not walk the directory.
    """
    top = os.fspath(directory)
    nested = os.path.join(top, _NESTED)
    try:
        top_mtime = os.stat(top).st_mtime_ns
        nested_mtime = os.stat(nested).st_mtime_ns if os.path.isdir(nested) else -1
    except OSError:
        return []
    key = (top, top_mtime, nested_mtime)
    found = _listings.get(key)
    if found is None:
        found = []
        for base, prefix in ((top, ""), (nested, _NESTED + "/")):
            if base == nested and nested_mtime < 0:
                continue
            with os.scandir(base) as entries:
                for entry in entries:
                    if not entry.name.startswith(".") and entry.is_file():
                        found.append((prefix + entry.name, entry.path))
        found.sort()
        _listings[key] = found
    return found


def _artifacts(
    directory: Path | None, pattern: re.Pattern[str], cache: FileDigestCache | None
) -> list[dict[str, Any]] | dict[str, str]:
    if directory is None:
        return dict(NOT_RECORDED)
    found = [
        {"name": name, "digest": file_digest(path, cache=cache), "size": os.stat(path).st_size}
        for name, path in _listing(directory)
        if pattern.fullmatch(name)
    ]
    return found if found else dict(NOT_RECORDED)


def _dtype(model: Any) -> str | dict[str, str]:
    dtype = getattr(model, "dtype", None)
    return str(dtype).removeprefix("torch.") if dtype is not None else dict(NOT_RECORDED)


def _quantization(model: Any) -> str | dict[str, str]:
    config = getattr(getattr(model, "config", None), "quantization_config", None)
    if config is None:
        return dict(NA)
    method = config.get("quant_method") if isinstance(config, Mapping) else None
    method = method or getattr(config, "quant_method", None)
    method = getattr(method, "value", method)  # an enum in transformers
    return str(method) if method else dict(NOT_RECORDED)


def model_component(
    model: Any,
    tokenizer: Any = None,
    *,
    model_path: str | Path | None = None,
    tokenizer_path: str | Path | None = None,
    name: str | None = None,
    cache: FileDigestCache | None = None,
) -> dict[str, Any]:
    """The ``model`` component of a local transformers model.

    ``model_path`` is the directory the model was loaded from (default: ``model.name_or_path``
    when it is a local directory, or a repo id whose snapshot is in the local Hugging Face cache;
    otherwise weights are ``not_recorded``); ``tokenizer_path`` likewise (default: the
    tokenizer's ``name_or_path``, else ``model_path``). ``name`` defaults to the repo id for a
    hub snapshot (``version``: its commit), else to the directory's name: a path is a machine
    detail and never enters the id.
    """
    gguf = _gguf_file(model_path)
    if gguf is not None:
        return _gguf_model_component(model, gguf, tokenizer_path, name=name, cache=cache)
    directory, repo_id, revision = _resolve(model_path)
    if directory is None:
        directory, repo_id, revision = _resolve(getattr(model, "name_or_path", None))
    tok_dir = (
        _resolve(tokenizer_path)[0]
        or _resolve(getattr(tokenizer, "name_or_path", None))[0]
        or directory
    )
    if name is None:
        if repo_id is not None:
            name = repo_id
        else:
            name = directory.resolve().name if directory is not None else type(model).__name__
    adapters: Any = []
    if getattr(model, "_hf_peft_config_loaded", False) or getattr(model, "peft_config", None):
        adapters = dict(NOT_RECORDED)  # adapter files are not hashed in v1 of this adapter
    return {
        "provider": PROVIDER,
        "name": name,
        # A hub snapshot's commit is its version; a local directory has none (digests identify it).
        "version": revision if revision is not None else dict(NA),
        "endpoint": dict(NA),  # in-process
        "weights": _artifacts(directory, _WEIGHT_FILE, cache),
        "tokenizer": _artifacts(tok_dir, _TOKENIZER_FILE, cache),
        "dtype": _dtype(model),
        "quantization": _quantization(model),
        "adapters": adapters,
    }


def _gguf_file(value: object) -> Path | None:
    """``value`` as a GGUF file (a model loaded with ``from_pretrained(DIR, gguf_file=NAME)``)."""
    if isinstance(value, str | Path) and str(value).endswith(".gguf") and Path(value).is_file():
        return Path(value)
    return None


def gguf_file_type(path: str | Path) -> str | None:
    """The quantization a GGUF file's weights are stored in (``general.file_type``, e.g.
    ``Q4_1``), read with the ``gguf`` package; None when it cannot be read."""
    try:
        import gguf

        reader = gguf.GGUFReader(os.fspath(path), "r")
        field = reader.fields.get("general.file_type")
        if field is None:
            return None
        value = int(field.parts[field.data[0]][0])
        return str(gguf.LlamaFileType(value).name).removeprefix("MOSTLY_")
    except Exception:  # no gguf package, or a file it cannot read: not recorded
        return None


def _gguf_model_component(
    model: Any,
    gguf: Path,
    tokenizer_path: str | Path | None,
    *,
    name: str | None,
    cache: FileDigestCache | None,
) -> dict[str, Any]:
    """A model loaded from one GGUF file: the file is the weights and, unless a tokenizer
    directory is given, the tokenizer (a GGUF file carries its vocabulary). transformers
    dequantizes the tensors on load: ``quantization`` is the file's storage type and ``dtype``
    the type computed in."""
    artifact = [
        {"name": gguf.name, "digest": file_digest(gguf, cache=cache), "size": os.stat(gguf).st_size}
    ]
    tok_dir = _resolve(tokenizer_path)[0]
    quantization = gguf_file_type(gguf)
    return {
        "provider": PROVIDER,
        "name": name if name is not None else gguf.name,
        "version": dict(NA),  # a local file: its digest identifies it
        "endpoint": dict(NA),  # in-process
        "weights": artifact,
        "tokenizer": _artifacts(tok_dir, _TOKENIZER_FILE, cache) if tok_dir else list(artifact),
        "dtype": _dtype(model),
        "quantization": quantization if quantization else dict(NOT_RECORDED),
        "adapters": [],
    }


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
def _generation_names() -> frozenset[str]:
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
    names = _generation_names()
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
    """The ``runtime`` component: engine, libraries, platform, hardware, code, determinism."""
    libraries = dict(_libraries())
    return {
        "engine": {"name": ENGINE, "version": libraries.get("transformers", "unknown")},
        "libraries": libraries,
        "platform": platform_facts(),
        "hardware": _hardware(model),
        "code": dict(code) if code is not None else dict(NOT_RECORDED),
        "determinism": determinism_flags(model, seed),
    }


# --- the declaration --------------------------------------------------------------------------


def _ids_of(value: Any) -> list[int]:
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
) -> tuple[dict[str, Any], list[bytes]]:
    """The declaration of ``model.generate(input_ids, **generate_kwargs)`` and its contents.

    ``declared`` names the generation parameters the caller set (default: every generation
    field in ``generate_kwargs``, and those a given ``generation_config`` sets); ``texts`` are
    candidate prompt texts with their ``add_special_tokens`` flag (None: try both) — the first
    that tokenizes to exactly ``input_ids`` is recorded as text; ``system`` and
    ``template_variables`` describe a chat's system messages and template call; ``context`` is
    the retrieval context the prompt was built from (a ``context`` component, e.g. from
    :func:`runid.integrations.retrieval.context_component`), else ``not_applicable``: a bare
    ``generate`` call retrieves nothing.
    """
    for name_ in _UNDESCRIBABLE:
        if generate_kwargs.get(name_) is not None:
            raise InputError(
                f"generate(..., {name_}=...) cannot be recorded: runid cannot name its behaviour",
                hint="express it as generation parameters, or capture the call another way",
            )
    mask = generate_kwargs.get("attention_mask")
    if mask is not None and 0 in _ids_of(mask):
        raise InputError("generate() with padding (an attention mask with zeros) is not recorded")
    ids = _ids_of(input_ids)
    generation_config = generate_kwargs.get("generation_config")
    names = _generation_names()
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
            "truncation": dict(NA),
            "upstream": [],
        },
        "context": dict(context) if context is not None else dict(NA),
        "tools": dict(NA),
        "runtime": runtime_component(model, seed=seed, code=code),
        "constraints": dict(NA),
    }
    return declaration, [raw, *system_blobs]


# --- running under capture --------------------------------------------------------------------


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


def _run(
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
            prompt = _ids_of(input_ids)
            new_ids = _ids_of(sequences)[len(prompt) :]
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
    **generate_kwargs: Any,
) -> tuple[str, Run]:
    """Tokenize ``prompt`` (or render ``messages`` with the chat template), call
    ``model.generate`` under capture, and return (decoded continuation, run).

    ``generate_kwargs`` go to ``generate`` as given (``max_new_tokens=8``, ``do_sample=...``)
    and are the declared parameters; everything else is the model's generation config, recorded
    as defaults. ``seed`` seeds torch just before the call and is declared. ``context`` (with
    ``contents``, the bytes its content references point at) declares the retrieval the
    prompt was built from; without it the ``context`` component is ``not_applicable``.
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
        "declared": {k for k in generate_kwargs if k in _generation_names()},
        "texts": [(text, special)],
        "system": system,
        "template_variables": variables,
        "model_path": model_path,
        "tokenizer_path": tokenizer_path,
        "name": name,
        "code": code,
        "cache": cache,
        "context": context,
    }
    output, run = _run(
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
    return tokenizer.decode(_ids_of(sequences)[prompt_len:], skip_special_tokens=True), run


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
    **call_kwargs: Any,
) -> tuple[Any, Run]:
    """Call a text-generation ``pipe(text_inputs, **call_kwargs)`` with its ``generate`` call
    captured; return (the pipeline's result, run).

    The declaration is built from the ``generate`` call the pipeline really makes (its
    tokenization, its defaults such as ``max_new_tokens=256``); parameters the caller passed
    (here or when the pipeline was built) are ``declared``, the pipeline's and the model's
    defaults ``default``. One prompt (a string or a chat as a list of messages) per call. The
    pipeline must not be called from another thread at the same time (its model's ``generate``
    is routed through capture for the duration of the call).
    """
    rec = recorder if recorder is not None else Recorder()
    model, tokenizer = pipe.model, pipe.tokenizer
    names = _generation_names()
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
    }
    original = model.generate
    runs: list[Run] = []

    def captured_generate(*args: Any, **kwargs: Any) -> Any:
        output, run = _run(
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
        )
        runs.append(run)
        return output

    with _intercept(model, captured_generate):
        result = pipe(text_inputs, **call_kwargs)
    if len(runs) != 1:
        raise InputError(f"the pipeline called generate() {len(runs)} times; expected once")
    return result, runs[0]


# --- replay -----------------------------------------------------------------------------------


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
    the id and name the ``model`` component). The retrieval context is declared as recorded.
    When nothing changed, the declaration id is the original's.
    """
    engine = declaration.get("runtime", {}).get("engine")
    if not isinstance(engine, Mapping) or engine.get("name") != ENGINE:
        raise InputError(
            f"this declaration was not made by the {ENGINE} adapter",
            hint="replay it with the adapter its runtime.engine.name names",
            code="E_REPLAY_ENGINE",
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
                code="E_REPLAY_UNAVAILABLE",
            )
        from transformers import AutoModelForCausalLM, AutoTokenizer

        dtype = declaration["model"].get("dtype")
        gguf = _gguf_file(model_path)
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
        # Measured again, never copied: a changed checkout must show as a changed runtime.
        "code": code_revision() if isinstance(code, Mapping) and "absent" not in code else None,
        "cache": options.get("cache"),
        # The retrieval context is a recorded input condition: the replay feeds the same
        # prompt, so it declares the same context (its contents are in the log already).
        "context": declaration["context"],
    }
    call_kwargs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), **kwargs}
    _output, run = _run(
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
