"""Chat completions, pure: the declaration from a ``chat.completions.create`` request, and the
observed facts and output of a ``ChatCompletion``.

The message, tool and output mapping itself is shared with the other chat adapters
(:mod:`runid.integrations._chat`); this module adds what is OpenAI-specific: the ``model``
(endpoint, provider), the sampling parameters the API names, the client-side runtime.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .._chat import (
    Blobs,
    chat_components,
    constraints_component,
    declared,
    get,
    output_bytes,
    output_media_type,
    plain,
    split_instructions,
    tools_component,
)
from ..served import ServedModel
from ._common import (
    CHAT_SAMPLING_PARAMETERS,
    ENGINE,
    PROVIDER,
    finish,
    model_component,
    observed_facts,
    parameters_component,
)

__all__ = [
    "chat_components",
    "chat_facts",
    "declaration_from_chat_request",
    "observed_from_chat_response",
    "output_bytes",
    "output_media_type",
]

# Fields mapped to components other than parameters.
_STRUCTURAL = frozenset(
    {"model", "messages", "tools", "tool_choice", "functions", "function_call", "response_format"}
)


def declaration_from_chat_request(
    request: Mapping[str, Any],
    *,
    base_url: object,
    runtime: Mapping[str, Any] | None = None,
    model_version: str | None = None,
    provider: str = PROVIDER,
    upstream: Iterable[Mapping[str, Any]] = (),
    context: Mapping[str, Any] | None = None,
    template: Mapping[str, Any] | None = None,
    truncation: Mapping[str, Any] | None = None,
    served: ServedModel | None = None,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A valid v1 declaration, and the content it references (``{digest: bytes}``), from the
    keyword arguments of ``client.chat.completions.create(...)`` as sent to ``base_url``.

    ``model.version`` is ``model_version`` if given, the model name if it is a dated snapshot
    (``gpt-4o-2024-08-06``), else what ``served`` knows, else ``not_recorded``; ``served``
    (:func:`runid.integrations.served.served_facts`) also gives the weights and the server's
    defaults (``parameters`` entries ``{"source": "default"}``). The endpoint is not a
    condition (``model.endpoint`` is ``not_applicable``, ADR 0014). ``context`` (the retrieval,
    :func:`runid.integrations.retrieval.context_component`), ``template``
    (:func:`runid.integrations.templates.instruction_template`) and ``truncation`` are what
    the application declares; left out, each is ``not_recorded`` (the request does not show
    whether they happened; pass ``{"absent": "not_applicable"}`` to state there were none).
    ``runtime`` replaces the client-side :func:`default_runtime` (its ``engine``, when absent,
    becomes :data:`ENGINE`). ``upstream`` lists the runs whose outputs feed this call
    (``{"execution_id", "relation"}``, docs/spec.md §12.9) as ``inputs.upstream``. Raises
    :class:`runid.errors.DeclarationError` if the request cannot make a valid declaration,
    :class:`~runid.errors.InputError` ``E_REQUEST`` for a message role or parameter name v1
    cannot carry (or no model name) and ``E_ENDPOINT`` for a ``base_url`` that is not an
    absolute URL.
    """
    blobs = Blobs()
    messages = [plain(m) for m in request.get("messages") or ()]
    instructions, inputs = split_instructions(
        messages, blobs, [], template=template, truncation=truncation
    )
    defaults = served.defaults if served is not None else None
    declaration: dict[str, Any] = {
        "spec": "runid/v1",
        "model": model_component(request.get("model"), base_url, model_version, provider, served),
        "parameters": parameters_component(
            request, CHAT_SAMPLING_PARAMETERS, _STRUCTURAL, defaults
        ),
        "instructions": instructions,
        "inputs": inputs,
        "context": declared(context),
        "tools": tools_component(
            request.get("tools"),
            request.get("tool_choice"),
            blobs,
            request.get("functions"),
            request.get("function_call"),
        ),
        "constraints": constraints_component(request.get("response_format"), blobs),
    }
    return finish(declaration, blobs, runtime, ENGINE, upstream, served=served)


def observed_from_chat_response(response: object) -> dict[str, Any]:
    """The record's ``observed`` member from a ``ChatCompletion`` (or its dict form): served
    ``model``, ``system_fingerprint``, response ``id``, ``usage`` and the first choice's
    ``finish_reason``; a fact the response does not carry is ``{"absent": "not_recorded"}``.
    """
    choices = get(response, "choices") or []
    finish_reason = get(choices[0], "finish_reason") if choices else None
    return observed_facts(
        get(response, "model"),
        get(response, "system_fingerprint"),
        get(response, "id"),
        get(response, "usage"),
        finish_reason,
    )


def chat_facts(response: object) -> dict[str, Any]:
    """Keyword arguments for :meth:`runid.capture.Run.observe` from a ``ChatCompletion``."""
    choices = get(response, "choices") or []
    return {
        "served_model": get(response, "model"),
        "system_fingerprint": get(response, "system_fingerprint"),
        "response_id": get(response, "id"),
        "usage": get(response, "usage"),
        "finish_reason": get(choices[0], "finish_reason") if choices else None,
    }
