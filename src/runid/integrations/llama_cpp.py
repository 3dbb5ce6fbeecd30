"""The llama.cpp adapter: ``llama_cpp.Llama.create_chat_completion(...)`` called in-process.

No server, no HTTP: the model is a GGUF file on this machine, so everything about it is known
before the call and is declared:

* ``model``: provider ``llama.cpp``, the GGUF file name, its artifact digest (plain SHA-256,
  through the stat-keyed cache of :mod:`runid.filedigest`, so a 100 MB file is hashed once, not
  on every call) as ``weights`` and ``tokenizer`` (a GGUF file carries its tokenizer), the
  quantization named by the file's ``general.file_type`` metadata (``Q4_1``), LoRA adapters;
* ``parameters``: every sampling parameter of ``create_chat_completion``; one the call did not
  set is ``{"source": "default", "value": V}`` with the default llama-cpp-python really applies
  (read from the installed library's signature, so a new release's defaults are recorded as
  they are). ``None`` defaults are recorded as what they mean: ``logprobs`` false,
  ``top_logprobs`` 0, ``logit_bias`` ``{}``, ``max_tokens`` None as ``n_predict: -1`` (llama.cpp's
  spelling of "until the context window is full", which is what llama-cpp-python passes down;
  ``max_tokens`` must be >= 1 in a declaration), and a missing ``seed`` as the effective seed
  llama-cpp-python derives from the instance's seed state for this call (it advances after every
  call, so two unseeded calls really sample with different seeds). The engine settings that shape
  the computation are declared too: ``n_ctx``, ``n_batch``, ``repeat_last_n`` (the instance's
  ``last_n_tokens_size``), ``chat_format`` and the digest of the GGUF's ``chat_template``;
* ``instructions``, ``inputs``, ``tools``, ``constraints``: the same shapes as the OpenAI
  adapter (the chat mapping both share, :mod:`runid.integrations._chat`, builds them);
* ``context``: the retrieval component the caller passes (see
  :mod:`runid.integrations.retrieval`), else not applicable;
* ``runtime``: engine ``llama.cpp`` with the llama-cpp-python version, OS, arch, Python, the
  hardware class (CPU unless layers are offloaded).

The declaration is built from :class:`EngineFacts` and the request by a pure function:

>>> facts = EngineFacts(model_file="m.Q4_1.gguf", digest="sha256:" + "ab" * 32, size=10,
...     quantization="Q4_1", n_ctx=2048, n_batch=512, repeat_last_n=64,
...     chat_format="chatml", chat_template=None, lora=None, gpu_layers=0, version="0.3.36")
>>> decl, blobs = declaration_from_request(
...     facts, {"messages": [{"role": "user", "content": "Hi"}], "temperature": 0},
...     seed=7, defaults={"temperature": 0.2, "top_k": 40, "stop": []})
>>> decl["parameters"]["temperature"], decl["parameters"]["top_k"], decl["parameters"]["seed"]
({'source': 'declared', 'value': 0}, {'source': 'default', 'value': 40}, \
{'source': 'default', 'value': 7})
>>> decl["model"]["quantization"], decl["runtime"]["engine"]["name"]
('Q4_1', 'llama.cpp')

:func:`create_chat` runs the call under capture; :func:`replay` re-executes a recorded
declaration (the team's replay protocol, :mod:`runid.replay`).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import random
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..canonical import canonicalize
from ..capture import Recorder, Run
from ..declaration import validate
from ..digest import checked_fetch, content_ref
from ..errors import InputError
from ..filedigest import file_digest
from ..runtime import hardware_class, library_versions, platform_facts
from ._chat import chat_components, messages_from_declaration, output_bytes, output_media_type

__all__ = [
    "ENGINE",
    "PROVIDER",
    "SAMPLING_PARAMETERS",
    "EngineFacts",
    "create_chat",
    "declaration_from_request",
    "effective_defaults",
    "engine_facts",
    "replay",
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
_ENGINE_PARAMETERS = frozenset(
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


def declaration_from_request(
    facts: EngineFacts,
    request: Mapping[str, Any],
    *,
    seed: int | None,
    defaults: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    runtime: Mapping[str, Any] | None = None,
    upstream: Iterable[Mapping[str, Any]] = (),
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A valid v1 declaration and the content it references (``{digest: bytes}``) for the
    keyword arguments of ``create_chat_completion`` on the engine ``facts`` describe.

    ``seed`` is the effective seed when the request sets none (:func:`next_seed`; None:
    ``provider_default``);
    ``defaults`` the library's defaults (:func:`effective_defaults`); ``context`` a ``context``
    component (:func:`runid.integrations.retrieval.context_component`); ``upstream`` the runs
    whose outputs feed this call (``{"execution_id", "relation"}``, ``inputs.upstream``). Raises
    :class:`~runid.errors.InputError` for a request runid cannot declare (a logits processor,
    a grammar object, an unknown message role) and
    :class:`~runid.errors.DeclarationError` when the result is not a valid declaration.
    """
    # Messages, tools and response_format have the OpenAI adapter's shapes (an unknown role:
    # InputError E_REQUEST).
    components, blobs = chat_components(request, upstream=upstream)
    declaration: dict[str, Any] = {
        "spec": "runid/v1",
        "model": _model(facts),
        "parameters": _parameters(
            facts, request, seed, effective_defaults() if defaults is None else defaults
        ),
        "instructions": components["instructions"],
        "inputs": components["inputs"],
        "context": dict(context) if context is not None else dict(NA),
        "tools": components["tools"],
        "runtime": (
            dict(runtime)
            if runtime is not None
            else json.loads(_runtime_json(facts.version, facts.gpu_layers))
        ),
        "constraints": components["constraints"],
    }
    validate(declaration)
    return declaration, blobs


def _served(response: Mapping[str, Any]) -> str | None:
    # llama-cpp-python reports the model *path*; the file name is the fact, the path is not.
    model = response.get("model")
    return Path(model).name if isinstance(model, str) and model else None


def _call(
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
        facts, request, seed=effective, context=context, upstream=upstream
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
    **request: Any,
) -> tuple[dict[str, Any], Run]:
    """Call ``llama.create_chat_completion(**request)`` under capture; return (response, run).

    The declaration is fixed before the call; ``context`` (a retrieval ``context`` component)
    and ``contents`` (the bytes it references) come from the retrieval that built the prompt;
    ``upstream`` names earlier runs whose outputs this call reads (agent loops, §12.9).
    ``recorder`` defaults to one for the default home. Non-streaming calls only.
    """
    rec = recorder if recorder is not None else Recorder()
    return _call(
        llama,
        request,
        recorder=rec,
        context=context,
        contents=contents,
        parent=parent,
        step=step,
        seed=None,
        upstream=upstream,
    )


# --- replay -----------------------------------------------------------------------------------


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
        if name in _ENGINE_PARAMETERS and name != "n_predict":
            continue
        if name == "seed" and entry.get("source") == "default":
            seed = entry["value"]
        elif entry.get("source") == "declared":
            request["max_tokens" if name == "n_predict" else name] = entry["value"]
    if "logit_bias" in request:
        request["logit_bias"] = {int(k): v for k, v in request["logit_bias"].items()}
    return request, seed


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
    keep = context if isinstance(context, Mapping) and "absent" not in context else None
    inputs = declaration.get("inputs")
    _response, run = _call(
        llama,
        request,
        recorder=recorder,
        context=keep,
        contents=_contents_of(context, _checked(fetch)),
        parent=parent,
        step=step,
        seed=seed,
        upstream=inputs.get("upstream", ()) if isinstance(inputs, Mapping) else (),
    )
    return run
