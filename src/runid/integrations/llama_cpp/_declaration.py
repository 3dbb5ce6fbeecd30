"""What a ``Llama`` instance is (:class:`EngineFacts`), the defaults llama-cpp-python applies,
and the pure mapping of a ``create_chat_completion`` request to a declaration."""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import random
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...canonical import canonicalize
from ...declaration import validate
from ...digest import content_ref
from ...errors import InputError
from ...filedigest import file_digest
from ...runtime import application_code, hardware_class, library_versions, platform_facts
from .._chat import chat_components, declared

__all__ = [
    "ENGINE",
    "ENGINE_PARAMETERS",
    "NA",
    "NOT_RECORDED",
    "PROVIDER",
    "SAMPLING_PARAMETERS",
    "TEXT_MEDIA",
    "EngineFacts",
    "declaration_from_request",
    "effective_defaults",
    "engine_facts",
    "next_seed",
]

#: ``runtime.engine.name`` of every declaration this adapter builds (the replay protocol).
ENGINE = "llama.cpp"
PROVIDER = "llama.cpp"

NA: dict[str, str] = {"absent": "not_applicable"}
NOT_RECORDED: dict[str, str] = {"absent": "not_recorded"}
TEXT_MEDIA = "text/plain; charset=utf-8"

#: The sampling parameters of ``Llama.create_chat_completion``, always listed.
SAMPLING_PARAMETERS: tuple[str, ...] = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "typical_p",
    "stop",
    "seed",
    "max_tokens",
    "presence_penalty",
    "frequency_penalty",
    "repeat_penalty",
    "tfs_z",
    "mirostat_mode",
    "mirostat_tau",
    "mirostat_eta",
    "logit_bias",
    "logprobs",
    "top_logprobs",
)

# What llama-cpp-python does with a None default (llama.py, _create_completion and the chat
# handlers), as a value a declaration can carry.
_NONE_MEANS: dict[str, Any] = {"logprobs": False, "top_logprobs": 0, "logit_bias": {}}

# Engine settings read from the Llama instance; replay rebuilds the instance from them.
ENGINE_PARAMETERS = frozenset(
    {"n_ctx", "n_batch", "repeat_last_n", "chat_format", "chat_template", "n_predict"}
)
# An engine setting this instance does not have (no chat template in the file): recorded as
# null, never left out.
_NA_PARAM: dict[str, Any] = {"source": "declared", "value": None}
# Request fields mapped to other components (by the OpenAI adapter's builder).
_STRUCTURAL = ("messages", "tools", "tool_choice", "functions", "function_call", "response_format")
# Request fields that do not change what is computed: a label for the response, streaming.
_IGNORED = frozenset({"model", "stream"})
# Arbitrary Python objects: a declaration cannot say what they do.
_OPAQUE = frozenset({"logits_processor", "grammar", "stopping_criteria"})


@dataclass(frozen=True)
class EngineFacts:
    """What a ``Llama`` instance is, read before the call (see :func:`engine_facts`)."""

    model_file: str  # the GGUF file name, without its directory (paths must not enter ids)
    digest: str
    size: int
    quantization: str | None
    n_ctx: int
    n_batch: int
    repeat_last_n: int
    chat_format: str | None
    chat_template: str | None
    lora: tuple[str, str, int] | None  # (file name, digest, size)
    gpu_layers: int
    version: str


@functools.lru_cache(maxsize=1)
def _ftype_names() -> dict[int, str]:
    import llama_cpp

    prefix = "LLAMA_FTYPE_MOSTLY_"
    names = {
        int(getattr(llama_cpp, n)): n[len(prefix) :] for n in dir(llama_cpp) if n.startswith(prefix)
    }
    names[int(getattr(llama_cpp, "LLAMA_FTYPE_ALL_F32", 0))] = "F32"
    return names


def _quantization(metadata: Mapping[str, str]) -> str | None:
    """The quantization scheme named by GGUF ``general.file_type`` (e.g. 3 → ``Q4_1``)."""
    raw = metadata.get("general.file_type")
    if raw is None or not str(raw).isdigit():
        return None
    return _ftype_names().get(int(raw))


@dataclass(frozen=True)
class _Files:
    """What a Llama instance loaded: GGUF name, digest, size; LoRA; quantization."""

    model_file: str
    digest: str
    size: int
    lora: tuple[str, str, int] | None
    quantization: str | None


# A loaded model computes with the bytes it loaded, whatever happens to the file later: its
# digest is taken once per instance (through the stat-keyed file cache, so a new process does
# not re-read the file either), not re-checked on every call.
_FILES: weakref.WeakKeyDictionary[Any, _Files] = weakref.WeakKeyDictionary()


def _files(llama: Any, cache_dir: str | Path | None) -> _Files:
    try:
        found = _FILES.get(llama)
    except TypeError:  # not weak-referenceable: no memo
        found = None
    if found is not None:
        return found
    path = Path(str(llama.model_path))
    metadata: Mapping[str, str] = getattr(llama, "metadata", None) or {}
    lora = None
    lora_path = getattr(llama, "lora_path", None)
    if lora_path:
        lp = Path(str(lora_path))
        lora = (lp.name, file_digest(lp, cache_dir=cache_dir), lp.stat().st_size)
    found = _Files(
        model_file=path.name,
        digest=file_digest(path, cache_dir=cache_dir),
        size=path.stat().st_size,
        lora=lora,
        quantization=_quantization(metadata),
    )
    with contextlib.suppress(TypeError):
        _FILES[llama] = found
    return found


def engine_facts(llama: Any, *, cache_dir: str | Path | None = None) -> EngineFacts:
    """Read :class:`EngineFacts` from a ``llama_cpp.Llama`` (the GGUF digest through the
    :mod:`runid.filedigest` cache in ``cache_dir``, default ``<runid home>/cache``, once per
    instance)."""
    import llama_cpp

    files = _files(llama, cache_dir)
    metadata: Mapping[str, str] = getattr(llama, "metadata", None) or {}
    return EngineFacts(
        model_file=files.model_file,
        digest=files.digest,
        size=files.size,
        quantization=files.quantization,
        n_ctx=int(llama.n_ctx()),
        n_batch=int(llama.n_batch),
        repeat_last_n=int(llama.last_n_tokens_size),
        chat_format=llama.chat_format if isinstance(llama.chat_format, str) else None,
        chat_template=metadata.get("tokenizer.chat_template"),
        lora=files.lora,
        gpu_layers=int(getattr(llama.model_params, "n_gpu_layers", 0)),
        version=str(llama_cpp.__version__),
    )


@functools.lru_cache(maxsize=1)
def _signature_defaults() -> tuple[tuple[str, Any], ...]:
    import llama_cpp

    signature = inspect.signature(llama_cpp.Llama.create_chat_completion)
    return tuple(
        (name, signature.parameters[name].default)
        for name in SAMPLING_PARAMETERS
        if name in signature.parameters
    )


def effective_defaults() -> dict[str, Any]:
    """The defaults the installed llama-cpp-python applies to ``create_chat_completion``,
    as declaration values (``None`` replaced by what it means; ``seed`` and ``max_tokens``
    left out: they are recorded per call)."""
    found: dict[str, Any] = {}
    for name, default in _signature_defaults():
        if name in ("seed", "max_tokens"):
            continue
        value = _NONE_MEANS.get(name) if default is None else default
        found[name] = list(value) if isinstance(value, list | tuple) else value
    return found


def next_seed(llama: Any) -> int | None:
    """The seed llama-cpp-python will use for a call that gives none: it draws it from the
    instance's seed state (``random.Random(llama._seed).randint(0, 2**32)``, llama.py).
    None when this llama-cpp-python keeps no such state (the seed is then recorded as
    ``provider_default``: applied, but not visible here)."""
    state = getattr(llama, "_seed", None)
    if isinstance(state, bool) or not isinstance(state, int):
        return None
    return random.Random(state).randint(0, 2**32)


def _entry(source: str, value: Any) -> dict[str, Any]:
    return {"source": source, "value": value}


def _parameters(
    facts: EngineFacts, request: Mapping[str, Any], seed: int | None, defaults: Mapping[str, Any]
) -> dict[str, Any]:
    params: dict[str, Any] = {
        name: _entry("default", value) for name, value in defaults.items() if value is not None
    }
    for name, given in request.items():
        if name in _STRUCTURAL or name in _IGNORED or given is None:
            continue
        if name in _OPAQUE:
            raise InputError(
                f"{name} is a Python object runid cannot declare",
                hint="record the call without it, or express it as response_format",
            )
        value = given
        if name == "stop" and isinstance(given, str):
            value = [given]  # one string or a list: one spelling for the id
        if name == "logit_bias" and isinstance(given, Mapping):
            value = {str(k): v for k, v in given.items()}  # token ids as JSON keys
        params[name] = _entry("declared", value)
    if "seed" not in params:
        params["seed"] = {"source": "provider_default"} if seed is None else _entry("default", seed)
    if "max_tokens" in params:
        max_tokens = params["max_tokens"]["value"]
        if isinstance(max_tokens, int) and max_tokens <= 0:  # llama.cpp: <= 0 means unlimited
            params["n_predict"] = params.pop("max_tokens")
    else:
        params["n_predict"] = _entry("default", -1)  # None: until the context window is full
    params["n_ctx"] = _entry("declared", facts.n_ctx)
    params["n_batch"] = _entry("declared", facts.n_batch)
    params["repeat_last_n"] = _entry("declared", facts.repeat_last_n)
    params["chat_format"] = (
        _entry("declared", facts.chat_format) if facts.chat_format else _NA_PARAM
    )
    template = facts.chat_template
    params["chat_template"] = (
        _entry("declared", content_ref(template.encode("utf-8"), TEXT_MEDIA)["digest"])
        if template
        else _NA_PARAM
    )
    return dict(sorted(params.items()))


def _model(facts: EngineFacts) -> dict[str, Any]:
    weights = [{"name": facts.model_file, "digest": facts.digest, "size": facts.size}]
    adapters: list[dict[str, Any]] = []
    if facts.lora is not None:
        name, digest, size = facts.lora
        adapters.append({"name": name, "digest": digest, "size": size})
    return {
        "provider": PROVIDER,
        "name": facts.model_file,
        "version": NOT_RECORDED,  # the weights digest is the version of a local file
        "endpoint": dict(NA),  # in-process: no endpoint
        "weights": weights,
        "tokenizer": [dict(w) for w in weights],  # the GGUF file carries the tokenizer
        "dtype": dict(NOT_RECORDED),
        "quantization": facts.quantization or dict(NOT_RECORDED),
        "adapters": adapters,
    }


@functools.lru_cache(maxsize=4)
def _runtime_json(version: str, gpu_layers: int) -> bytes:
    libraries, _missing = library_versions(["llama-cpp-python"])
    return canonicalize(
        {
            "engine": {"name": ENGINE, "version": version},
            "libraries": libraries,
            "platform": platform_facts(),
            # Offloaded layers run on an accelerator whose class llama.cpp does not name here.
            "hardware": hardware_class() if gpu_layers == 0 else dict(NOT_RECORDED),
            "code": dict(NOT_RECORDED),
            "determinism": {},
        }
    )


def _runtime(facts: EngineFacts, code: Mapping[str, Any] | None) -> dict[str, Any]:
    runtime: dict[str, Any] = json.loads(_runtime_json(facts.version, facts.gpu_layers))
    runtime["code"] = dict(code) if code is not None else application_code()
    return runtime


def declaration_from_request(
    facts: EngineFacts,
    request: Mapping[str, Any],
    *,
    seed: int | None,
    defaults: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    runtime: Mapping[str, Any] | None = None,
    upstream: Iterable[Mapping[str, Any]] = (),
    template: Mapping[str, Any] | None = None,
    truncation: Mapping[str, Any] | None = None,
    code: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A valid v1 declaration and the content it references (``{digest: bytes}``) for the
    keyword arguments of ``create_chat_completion`` on the engine ``facts`` describe.

    ``seed`` is the effective seed when the request sets none (:func:`next_seed`; None:
    ``provider_default``);
    ``defaults`` the library's defaults (:func:`effective_defaults`); ``context`` a ``context``
    component (:func:`runid.integrations.retrieval.context_component`), ``template`` an
    ``instructions.template`` (:func:`runid.integrations.templates.instruction_template`) and
    ``truncation`` an ``inputs.truncation``: what the application declares, each
    ``not_recorded`` when not given; ``upstream`` the runs whose outputs feed this call
    (``{"execution_id", "relation"}``, ``inputs.upstream``); ``code`` the ``runtime.code``
    (default: :func:`runid.runtime.application_code`; a replay keeps the original's). Raises
    :class:`~runid.errors.InputError` for a request runid cannot declare (a logits processor,
    a grammar object, an unknown message role) and
    :class:`~runid.errors.DeclarationError` when the result is not a valid declaration.
    """
    # Messages, tools and response_format have the OpenAI adapter's shapes (an unknown role:
    # InputError E_REQUEST).
    components, blobs = chat_components(
        request, upstream=upstream, template=template, truncation=truncation
    )
    declaration: dict[str, Any] = {
        "spec": "runid/v1",
        "model": _model(facts),
        "parameters": _parameters(
            facts, request, seed, effective_defaults() if defaults is None else defaults
        ),
        "instructions": components["instructions"],
        "inputs": components["inputs"],
        "context": declared(context),
        "tools": components["tools"],
        "runtime": dict(runtime) if runtime is not None else _runtime(facts, code),
        "constraints": components["constraints"],
    }
    validate(declaration)
    return declaration, blobs
