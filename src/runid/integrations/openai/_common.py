"""What the chat and Responses mappings share: the adapter's constants, the ``model`` and
``parameters`` components, the client-side runtime, and the record's ``observed`` facts."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from ...canonical import canonicalize
from ...capture import Run, usage_fields
from ...declaration import validate
from ...errors import E_ENDPOINT, E_REQUEST, InputError
from ...privacy import is_secret_name
from ...runtime import application_code, library_versions, platform_facts
from .._chat import NA, NOT_RECORDED, Blobs, given, plain, upstream_links
from ..served import SERVER_PREFIX, ServedModel, model_fields

__all__ = [
    "CHAT_SAMPLING_PARAMETERS",
    "ENGINE",
    "EXAMPLE_RUNTIME",
    "IGNORED_REQUEST_FIELDS",
    "PROVIDER",
    "PROVIDER_DEFAULT",
    "RESPONSES_ENGINE",
    "RESPONSES_SAMPLING_PARAMETERS",
    "default_runtime",
    "endpoint_of",
    "finish",
    "model_component",
    "observe",
    "observed_facts",
    "parameters_component",
]

PROVIDER = "openai-compatible"
#: ``runtime.engine.name`` of the declarations this adapter builds for chat completions: the
#: replay protocol's key (``runid replay`` picks this module's :func:`replay` by it). The engine
#: behind the endpoint is not visible to the client; this names the API the run went through.
ENGINE = "openai-compatible"
#: ``runtime.engine.name`` of Responses API declarations (no replay yet: a distinct name, so
#: replay fails with "unknown engine" instead of sending a Responses request as a chat call).
RESPONSES_ENGINE = "openai-compatible.responses"
PROVIDER_DEFAULT: dict[str, str] = {"source": "provider_default"}

#: Sampling/decoding parameters of the chat completions API that are always listed, as
#: ``declared`` when the request sets them and ``provider_default`` when it does not.
#: (``response_format`` is not a parameter: it is ``constraints.output_schema``.)
CHAT_SAMPLING_PARAMETERS: tuple[str, ...] = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "stop",
    "n",
    "logprobs",
    "top_logprobs",
    "parallel_tool_calls",
)

#: The same for the Responses API (``text.format`` is ``constraints.output_schema``).
RESPONSES_SAMPLING_PARAMETERS: tuple[str, ...] = (
    "temperature",
    "top_p",
    "max_output_tokens",
    "top_logprobs",
    "parallel_tool_calls",
)

#: Request fields that do not change what the model computes (transport, bookkeeping, secrets)
#: and so are not part of a declaration. Every other field the request sets is declared.
IGNORED_REQUEST_FIELDS: frozenset[str] = frozenset(
    {
        "stream",
        "stream_options",
        "timeout",
        "extra_headers",
        "extra_query",
        "metadata",
        "store",
        "user",
        "safety_identifier",
        "prompt_cache_key",
        "prompt_cache_retention",
        "prompt_cache_options",
        "service_tier",
        "background",
        "background_options",
        "include",
        "api_key",
        "organization",
        "project",
        "idempotency_key",
    }
)

_PARAM_NAME = re.compile(r"[a-z][a-z0-9_.-]*")
_PINNED = re.compile(r".*-\d{4}-\d{2}-\d{2}")  # a dated snapshot name, e.g. gpt-4o-2024-08-06

#: A fixed runtime component for examples and tests that must not depend on this machine.
EXAMPLE_RUNTIME: dict[str, Any] = {
    "engine": {"name": ENGINE, "version": NOT_RECORDED},
    "libraries": {"openai": "0.0.0"},
    "platform": {"os": "linux", "arch": "x86_64", "python": "3.11.7"},
    "hardware": NOT_RECORDED,
    "code": NOT_RECORDED,
    "determinism": {},
}


def endpoint_of(base_url: object) -> str:
    """The endpoint without credentials, query or fragment, and without a trailing ``/``.
    :class:`~runid.errors.InputError` ``E_ENDPOINT`` when it is not an absolute URL.

    >>> endpoint_of("HTTPS://key:secret@Api.Example.com:443/v1/?api-key=x#f")
    'https://api.example.com:443/v1'
    """
    try:
        parts = urlsplit(str(base_url))
        port = parts.port
    except ValueError as exc:  # an unbalanced [IPv6] host, a port that is not a number
        # Not the URL itself: it may carry credentials.
        raise _bad_endpoint(f"base_url is not a valid URL ({exc})") from None
    if not parts.scheme or not parts.hostname:
        raise _bad_endpoint(f"base_url is not an absolute URL: {parts.scheme}://{parts.hostname}")
    host = parts.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is not None:
        host = f"{host}:{port}"
    return f"{parts.scheme.lower()}://{host}{parts.path.rstrip('/')}"


def _bad_endpoint(message: str) -> InputError:
    return InputError(
        message,
        hint="give the client a base_url such as http://127.0.0.1:8080/v1",
        code=E_ENDPOINT,
    )


@functools.lru_cache(maxsize=1)
def _default_runtime_json() -> bytes:
    libraries, _missing = library_versions(["openai", "httpx", "httpx2"])
    runtime = {
        # The server's engine is not visible to the client: the engine named is the API.
        "engine": {"name": ENGINE, "version": NOT_RECORDED},
        "libraries": libraries,
        "platform": platform_facts(),
        "hardware": NOT_RECORDED,  # inference runs on the serving side
        "code": NOT_RECORDED,
        "determinism": {},
    }
    return canonicalize(runtime)


def default_runtime() -> dict[str, Any]:
    """The client-side runtime: ``openai`` and ``httpx``/``httpx2`` versions, OS, arch, Python,
    and the application's revision as ``code`` (:func:`runid.runtime.application_code`:
    ``$RUNID_APP_REVISION``, else the git commit of the calling code, else ``not_recorded``).

    The serving engine and hardware are not visible to the client (``not_recorded``); pass a
    ``runtime`` to the builders to declare them.
    """
    value: dict[str, Any] = json.loads(_default_runtime_json())
    value["code"] = application_code()
    return value


def model_component(
    name: object,
    base_url: object,
    version: str | None,
    provider: str,
    served: ServedModel | None = None,
) -> dict[str, Any]:
    """The ``model`` component of a request for model ``name`` sent to ``base_url``.

    The served model's identity is the condition, not where it is served (ADR 0014):
    ``endpoint`` is ``not_applicable`` (the base URL is the record's ``observed.endpoint``;
    it is still checked here, ``E_ENDPOINT``). ``version`` is ``version`` if given, the name
    if it is a dated snapshot, else what ``served`` says; ``weights``, ``tokenizer``, ``dtype``
    and ``quantization`` are what ``served`` knows, and ``not_recorded`` otherwise.
    """
    if not isinstance(name, str) or not name:
        raise InputError(
            "the request has no model name",
            hint="pass model=... (the name the server serves)",
            code=E_REQUEST,
        )
    endpoint_of(base_url)
    if version is None and _PINNED.fullmatch(name):
        version = name
    fields = model_fields(served)
    return {
        "provider": provider,
        "name": name,
        "version": version if version else fields["version"],
        "endpoint": dict(NA),
        "weights": fields["weights"],
        "tokenizer": fields["tokenizer"],
        "dtype": fields["dtype"],
        "quantization": fields["quantization"],
        "adapters": dict(NOT_RECORDED),
    }


def _param_value(name: str, value: Any) -> Any:
    value = plain(value)
    if name == "stop" and isinstance(value, str):
        return [value]  # the API accepts one string or a list; one spelling for the id
    return value


def parameters_component(
    request: Mapping[str, Any],
    always: Sequence[str],
    structural: frozenset[str],
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``parameters`` component: ``always`` listed (``provider_default`` unless set), every
    other field the request sets (not ``structural``, not ignored) and ``extra_body`` entries
    declared. ``defaults`` are the values the server reports it applies to what a request
    leaves out (:class:`~runid.integrations.served.ServedModel`): each one the request does
    not set is ``{"source": "default", "value": V}``."""
    params: dict[str, Any] = {name: dict(PROVIDER_DEFAULT) for name in always}
    for name, value in (defaults or {}).items():
        if name in structural or name in IGNORED_REQUEST_FIELDS or not given(value):
            continue
        if _PARAM_NAME.fullmatch(name) is not None:
            params[name] = {"source": "default", "value": _param_value(name, plain(value))}
    for name, value in request.items():
        if name in structural or name in IGNORED_REQUEST_FIELDS or name == "extra_body":
            continue
        if given(value):
            params[name] = {"source": "declared", "value": _param_value(name, value)}
    extra = request.get("extra_body")
    if isinstance(extra, Mapping):  # server-specific parameters (top_k, min_p, ...)
        for name, value in extra.items():
            if not isinstance(name, str) or is_secret_name(name) or not given(value):
                continue
            if name in structural or name in IGNORED_REQUEST_FIELDS:
                continue
            if _PARAM_NAME.fullmatch(name) is None:
                raise InputError(
                    f"extra_body parameter name {name!r} is not a valid name",
                    hint="v1 parameter names are lower case: [a-z][a-z0-9_.-]*",
                    code=E_REQUEST,
                )
            params[name] = {"source": "declared", "value": _param_value(name, value)}
    return dict(sorted(params.items()))


def finish(
    declaration: dict[str, Any],
    blobs: Blobs,
    runtime: Mapping[str, Any] | None,
    engine: str = ENGINE,
    upstream: Iterable[Mapping[str, Any]] = (),
    *,
    served: ServedModel | None = None,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Add the runtime (``engine`` named; the server software ``served`` names in its
    ``libraries`` as ``server:NAME``) and the upstream runs, validate, and return the
    declaration with its content."""
    given_runtime = plain(runtime) if runtime is not None else default_runtime()
    if served is not None and served.server and isinstance(given_runtime, dict):
        libraries = given_runtime.get("libraries")
        if isinstance(libraries, dict):
            for name, version in served.server.items():
                if isinstance(version, str) and version:
                    libraries[SERVER_PREFIX + name] = version
    if isinstance(given_runtime, dict) and "absent" in given_runtime.get("engine", {}):
        # The replay protocol dispatches on the engine name: a runtime that does not name one
        # (e.g. runid.runtime.runtime_component()) gets this adapter's.
        given_runtime["engine"] = {"name": engine, "version": dict(NOT_RECORDED)}
    elif (
        isinstance(given_runtime, dict)
        and engine != ENGINE
        and given_runtime.get("engine", {}).get("name") == ENGINE
    ):
        given_runtime["engine"] = {**given_runtime["engine"], "name": engine}
    declaration["runtime"] = given_runtime
    upstream_links(declaration["inputs"], upstream)
    validate(declaration)
    return declaration, blobs.blobs


def _text_or_absent(value: object) -> Any:
    return value if isinstance(value, str) and value else dict(NOT_RECORDED)


def observed_facts(
    model: object, fingerprint: object, response_id: object, usage: object, finish: object
) -> dict[str, Any]:
    """The record's ``observed`` member; a fact not given is ``not_recorded``."""
    return {
        "served_model": _text_or_absent(model),
        "system_fingerprint": _text_or_absent(fingerprint),
        "response_id": _text_or_absent(response_id),
        "usage": usage_fields(usage) if usage is not None else dict(NOT_RECORDED),
        "finish_reason": _text_or_absent(finish),
    }


def observe(run: Run, facts: Mapping[str, Any]) -> None:
    """Tell ``run`` the facts the server reported (keyword arguments of
    :meth:`runid.capture.Run.observe`; a value that is not text is left out)."""
    text = {k: v if isinstance(v, str) else None for k, v in facts.items() if k != "usage"}
    run.observe(usage=facts.get("usage"), **text)
