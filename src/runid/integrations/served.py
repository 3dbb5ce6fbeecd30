"""The model behind an endpoint: what is known about it before the call (ADR 0014).

A client of an OpenAI-compatible server sends a model *name*, often an alias (``smollm2``), and
sees nothing of the file the server loaded or of the sampler defaults it applies to what the
request leaves out. Where the model is served (the URL, the port) is an observed fact of the run
(the record's ``observed.endpoint``); *which* model is served is the condition, and the
declaration says what is known of it and, where nothing is, that it was not recorded.

Three ways to know more, combined by :func:`served_facts`:

* the application names the weights: ``model_files=[PATH, ...]`` (hashed through the
  stat-keyed :mod:`runid.filedigest` cache: a GGUF file declares ``weights`` and ``tokenizer``,
  other files ``weights``), or ``model_digest="sha256:..."`` (a digest the deployment publishes,
  declared as ``model.version``);
* a **probe** asks the server before the call: any callable ``probe(endpoint, model) ->``
  :class:`ServedModel` ``| None`` (:class:`ServedModelProbe`). :func:`llama_cpp_server` reads
  llama.cpp's servers: llama-cpp-python's (``python -m llama_cpp.server``: the defaults of its
  chat request schema in ``/openapi.json`` and its version) and llama.cpp's own
  ``llama-server`` (``/props``: the default generation settings, the chat template, the build,
  and the model file's digest when the file is on this machine). vLLM, Ollama and TGI report
  what they serve too (``/v1/models``, ``/api/show``, ``/info``); a probe of a few lines reads
  them (docs/capture-reference.md shows one);
* a :class:`ServedModel` given as is (what the deployment knows).

What a probe cannot read stays ``not_recorded``; a probe that fails (the server does not
answer, a 404) knows nothing, and the run is declared without it (and the ``runid`` logger
says so once per endpoint).

>>> facts = ServedModel(defaults={"temperature": 0.8, "top_k": 40},
...                     server={"llama-cpp-python": "0.3.36"})
>>> model_fields(facts)["weights"], facts.defaults["top_k"]
({'absent': 'not_recorded'}, 40)
>>> model_fields(model_digest("sha256:" + "ab" * 32))["version"][:9]
'sha256:ab'
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from ..digest import content_digest
from ..errors import E_FORMAT, InputError
from ..filedigest import directory_files, file_digest

__all__ = [
    "PROBES",
    "SERVER_PREFIX",
    "ServedModel",
    "ServedModelProbe",
    "llama_cpp_server",
    "model_digest",
    "model_fields",
    "model_files",
    "probe_for",
    "register_probe",
    "served_facts",
]

NOT_RECORDED: dict[str, str] = {"absent": "not_recorded"}
#: ``runtime.libraries`` key prefix of the server software a probe names (``server:llama.cpp``).
SERVER_PREFIX = "server:"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_PARAM_NAME = re.compile(r"[a-z][a-z0-9_.-]*")
_TIMEOUT = 2.0  # seconds a probe waits for the server
_LLAMA_RANDOM_SEED = 0xFFFFFFFF  # llama.cpp's LLAMA_DEFAULT_SEED: "draw a random seed"
# Request fields of llama-cpp-python's chat schema that are not sampling parameters.
_NOT_PARAMETERS = frozenset(
    {
        "model",
        "messages",
        "functions",
        "function_call",
        "tools",
        "tool_choice",
        "response_format",
        "stream",
        "user",
        "logit_bias_type",
        "grammar",
    }
)
# llama-server's /props default_generation_settings.params: the sampling settings (its own
# names; ``temp`` is older servers' spelling of temperature).
_LLAMA_SERVER_PARAMS = {
    "temperature": "temperature",
    "temp": "temperature",
    "top_k": "top_k",
    "top_p": "top_p",
    "min_p": "min_p",
    "typical_p": "typical_p",
    "top_n_sigma": "top_n_sigma",
    "xtc_probability": "xtc_probability",
    "xtc_threshold": "xtc_threshold",
    "repeat_last_n": "repeat_last_n",
    "repeat_penalty": "repeat_penalty",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "dry_multiplier": "dry_multiplier",
    "dry_base": "dry_base",
    "dry_allowed_length": "dry_allowed_length",
    "dry_penalty_last_n": "dry_penalty_last_n",
    "dynatemp_range": "dynatemp_range",
    "dynatemp_exponent": "dynatemp_exponent",
    "mirostat": "mirostat",
    "mirostat_tau": "mirostat_tau",
    "mirostat_eta": "mirostat_eta",
    "n_predict": "n_predict",
    "seed": "seed",
    "stop": "stop",
    "ignore_eos": "ignore_eos",
    "min_keep": "min_keep",
    "samplers": "samplers",
}

logger = logging.getLogger("runid")


@dataclass(frozen=True)
class ServedModel:
    """What is known, before the call, about the model an endpoint serves.

    ``weights``/``tokenizer``: artifacts ``{"name", "digest", "size"}`` (names without
    directories); ``version``: an immutable identity the deployment gives (a digest, a
    snapshot); ``quantization``/``dtype`` as reported; ``defaults``: parameter name → the value
    the server applies when a request leaves it out (declared as ``{"source": "default"}``);
    ``server``: server software name → version (declared in ``runtime.libraries`` as
    ``server:NAME``). None / empty: not known.
    """

    weights: tuple[Mapping[str, Any], ...] | None = None
    tokenizer: tuple[Mapping[str, Any], ...] | None = None
    version: str | None = None
    quantization: str | None = None
    dtype: str | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    server: Mapping[str, str] = field(default_factory=dict)

    def merged(self, other: ServedModel | None) -> ServedModel:
        """These facts with ``other``'s on top (a fact ``other`` knows wins)."""
        if other is None:
            return self
        known = {
            name: getattr(other, name)
            for name in ("weights", "tokenizer", "version", "quantization", "dtype")
            if getattr(other, name) is not None
        }
        return replace(
            self,
            **known,
            defaults={**self.defaults, **other.defaults},
            server={**self.server, **other.server},
        )


class ServedModelProbe(Protocol):
    """Asks a server, before the call, what it serves: ``(endpoint, model)`` → facts.

    ``endpoint`` is the client's base URL without credentials (``http://127.0.0.1:8080/v1``),
    ``model`` the name the request asks for. Return None when nothing is known. It runs once per
    captured call (close over a key if the server wants one); an exception counts as "nothing
    known".
    """

    def __call__(self, endpoint: str, model: str) -> ServedModel | None: ...


# --- what the application names ---------------------------------------------------------------


def _artifacts(named: Mapping[str, Path], cache_dir: str | Path | None) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "digest": file_digest(path, cache_dir=cache_dir),
            "size": path.stat().st_size,
        }
        for name, path in sorted(named.items())
    ]


def model_files(
    paths: Iterable[str | os.PathLike[str]], *, cache_dir: str | Path | None = None
) -> ServedModel:
    """The weights the application says the server loaded, hashed (plain SHA-256 through the
    :mod:`runid.filedigest` cache in ``cache_dir``, default ``<runid home>/cache``: a large
    file is read once, and again only when its ``stat`` changes).

    A file is named by its file name (a path is a machine detail); a directory contributes its
    files by relative name. GGUF files carry their tokenizer: when every file is a GGUF, the
    same artifacts are the ``tokenizer``. :class:`~runid.errors.InputError` for no file, a
    missing path, or two files with one name.
    """
    named: dict[str, Path] = {}
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise InputError(f"{path}: no such model file", hint="model_files names the weights")
        found = (
            {name: path / name for name in directory_files(path)}
            if path.is_dir()
            else {path.name: path}
        )
        for name, file in found.items():
            if name in named:
                raise InputError(
                    f"model_files: two files named {name!r}",
                    hint="artifacts are named by file name; pass files with distinct names",
                )
            named[name] = file
    if not named:
        raise InputError("model_files: no files given", hint="pass the weights file(s)")
    artifacts = tuple(_artifacts(named, cache_dir))
    gguf = all(name.lower().endswith(".gguf") for name in named)
    return ServedModel(weights=artifacts, tokenizer=artifacts if gguf else None)


def model_digest(digest: str) -> ServedModel:
    """A model identity the deployment publishes (``sha256:<hex>``: an Ollama model digest, the
    digest of a released GGUF), declared as ``model.version``."""
    if not isinstance(digest, str) or _DIGEST.fullmatch(digest) is None:
        raise InputError(
            f"model_digest is not a digest: {digest!r}",
            hint="'sha256:' followed by 64 lowercase hex digits",
            code=E_FORMAT,
        )
    return ServedModel(version=digest)


# --- probes -----------------------------------------------------------------------------------


def _root(endpoint: str) -> str:
    """The server's root URL: the endpoint without a trailing ``/v1``."""
    return re.sub(r"/v1/?$", "", endpoint.rstrip("/"))


def _get_json(url: str) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
        return json.loads(response.read())


def _get_json_or_none(url: str) -> Any:
    try:
        return _get_json(url)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _loopback(endpoint: str) -> bool:
    host = urlsplit(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _scalar(value: Any) -> bool:
    if isinstance(value, list):
        return all(isinstance(v, str | int | float | bool) for v in value)
    return isinstance(value, str | int | float | bool)


def _python_server(document: Mapping[str, Any]) -> ServedModel | None:
    """llama-cpp-python's server: its chat request schema's defaults are what it applies."""
    info = document.get("info") or {}
    if "llama.cpp" not in str(info.get("title", "")):
        return None
    schemas = (document.get("components") or {}).get("schemas") or {}
    chat = schemas.get("CreateChatCompletionRequest") or {}
    defaults: dict[str, Any] = {}
    for name, spec in (chat.get("properties") or {}).items():
        if name in _NOT_PARAMETERS or not isinstance(spec, Mapping) or "default" not in spec:
            continue
        value = spec["default"]
        if value is None or not _scalar(value) or not _PARAM_NAME.fullmatch(name):
            continue
        defaults[name] = value
    version = info.get("version")
    server = {"llama-cpp-python": version} if isinstance(version, str) and version else {}
    return ServedModel(defaults=defaults, server=server)


def _llama_server(endpoint: str, props: Mapping[str, Any]) -> ServedModel:
    """llama.cpp's ``llama-server``: ``/props``."""
    settings = props.get("default_generation_settings") or {}
    params = settings.get("params") if isinstance(settings, Mapping) else None
    defaults: dict[str, Any] = {}
    for name, value in (params or {}).items():
        target = _LLAMA_SERVER_PARAMS.get(name)
        if target is None or value is None or not _scalar(value):
            continue
        if target == "seed" and value == _LLAMA_RANDOM_SEED:
            continue  # a seed drawn per request: not a value a declaration can state
        defaults.setdefault(target, value)
    template = props.get("chat_template")
    if isinstance(template, str) and template:
        defaults["chat_template"] = content_digest(template.encode("utf-8"))
    build = props.get("build_info")
    server = {"llama.cpp": build} if isinstance(build, str) and build else {}
    weights = None
    path = props.get("model_path")
    if isinstance(path, str) and path and _loopback(endpoint) and Path(path).is_file():
        # The server runs on this machine: the file it names is the one it loaded (unless
        # replaced since; the digest is of the file as it is now).
        weights = model_files([path]).weights
    return ServedModel(weights=weights, tokenizer=weights, defaults=defaults, server=server)


def llama_cpp_server(endpoint: str, model: str) -> ServedModel | None:
    """The probe for llama.cpp's OpenAI-compatible servers (:class:`ServedModelProbe`).

    llama.cpp's ``llama-server`` answers ``GET /props``: its default generation settings (the
    sampler parameters under their llama.cpp names; a seed of 4294967295, "random", is left
    out), the chat template (its digest, as ``chat_template``), the build (``server:llama.cpp``)
    and, when the server runs on this machine (a loopback address) and the file exists, the
    model file (hashed: ``weights`` and ``tokenizer``). llama-cpp-python's server (``python -m
    llama_cpp.server``) has no ``/props``; its ``/openapi.json`` holds the defaults its chat
    request schema applies (``temperature`` 0.8, ``top_k`` 40, ``min_p`` 0.05,
    ``repeat_penalty`` 1.1, ...) and its version (``server:llama-cpp-python``); it does not
    report the model file (name it with ``model_files``). None when neither answers.
    """
    root = _root(endpoint)
    props = _get_json_or_none(f"{root}/props")
    if isinstance(props, Mapping) and "default_generation_settings" in props:
        return _llama_server(endpoint, props)
    document = _get_json_or_none(f"{root}/openapi.json")
    if isinstance(document, Mapping):
        return _python_server(document)
    return None


#: Probes by server software name, as ``runtime.libraries`` names it (``server:NAME``): a replay
#: asks the same kind of server again (:func:`probe_for`).
PROBES: dict[str, ServedModelProbe] = {
    "llama-cpp-python": llama_cpp_server,
    "llama.cpp": llama_cpp_server,
}


def register_probe(server: str, probe: ServedModelProbe) -> None:
    """Make ``probe`` the one a replay uses for declarations whose ``runtime.libraries`` name
    ``server:<server>`` (the name your probe reports in :attr:`ServedModel.server`)."""
    if not server or not callable(probe):
        raise InputError("register_probe needs a server name and a callable probe")
    PROBES[server] = probe


def probe_for(declaration: Mapping[str, Any]) -> ServedModelProbe | None:
    """The registered probe of the server software a declaration names, or None."""
    runtime = declaration.get("runtime")
    libraries = runtime.get("libraries") if isinstance(runtime, Mapping) else None
    for name in sorted(libraries or {}):
        if name.startswith(SERVER_PREFIX) and name[len(SERVER_PREFIX) :] in PROBES:
            return PROBES[name[len(SERVER_PREFIX) :]]
    return None


# --- putting it together ----------------------------------------------------------------------

_WARNED: set[str] = set()
_WARNED_LOCK = threading.Lock()


def _run_probe(probe: Callable[..., Any], endpoint: str, model: str) -> ServedModel | None:
    try:
        found = probe(endpoint, model)
    except Exception as exc:  # a probe never breaks the call: nothing is known
        found = exc
    if isinstance(found, ServedModel):
        return found
    with _WARNED_LOCK:
        first = endpoint not in _WARNED
        _WARNED.add(endpoint)
    if first:
        why = f"{type(found).__name__}: {found}" if isinstance(found, Exception) else "no answer"
        logger.warning(
            "runid: the served model at %s could not be read (%s); what it is stays "
            "not_recorded in the declaration",
            endpoint,
            why,
        )
    return None


def served_facts(
    endpoint: str,
    model: str,
    *,
    served_model: ServedModel | ServedModelProbe | None = None,
    model_files_given: Iterable[str | os.PathLike[str]] | None = None,
    model_digest_given: str | None = None,
    cache_dir: str | Path | None = None,
) -> ServedModel | None:
    """What the adapter declares of the served model: the probe's answer (or the facts given),
    then the named files' digests, then the published digest (each later one wins for what it
    says). None when nothing is known."""
    facts: ServedModel | None = None
    if isinstance(served_model, ServedModel):
        facts = served_model
    elif served_model is not None:
        facts = _run_probe(served_model, endpoint, model)
    if model_files_given is not None:
        facts = (facts or ServedModel()).merged(model_files(model_files_given, cache_dir=cache_dir))
    if model_digest_given is not None:
        facts = (facts or ServedModel()).merged(model_digest(model_digest_given))
    return facts


def model_fields(facts: ServedModel | None) -> dict[str, Any]:
    """The ``model`` fields the facts fill: ``version``, ``weights``, ``tokenizer``, ``dtype``,
    ``quantization``; each one not known is ``not_recorded``."""
    known = facts or ServedModel()

    def listed(artifacts: tuple[Mapping[str, Any], ...] | None) -> Any:
        return [dict(a) for a in artifacts] if artifacts else dict(NOT_RECORDED)

    return {
        "version": known.version or dict(NOT_RECORDED),
        "weights": listed(known.weights),
        "tokenizer": listed(known.tokenizer),
        "dtype": known.dtype or dict(NOT_RECORDED),
        "quantization": known.quantization or dict(NOT_RECORDED),
    }
