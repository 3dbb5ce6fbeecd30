"""Which conditions that can change a model call's output a declaration leaves unknown.

Private to :mod:`runid.diff`, which re-exports :func:`unrecorded` and :data:`OUTPUT_CONDITIONS`.
Two runs of one declaration with different outputs are *sampling nondeterminism* only when
nothing that computes the output could have differed unseen (docs/spec.md §16.3): the model as
served, the parameters, and what was sent. A declaration that does not record one of them
leaves the cause of a changed output undetermined, and says which.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = ["OUTPUT_CONDITIONS", "unrecorded"]

OUTPUT_CONDITIONS: Final = (
    "model",
    "parameters",
    "instructions",
    "inputs",
    "tools",
    "constraints",
    "constraints.output_schema",
)
"""The components (and the one field inside them that may be absent) that determine what a
model call computes: the model as served, the parameters, and what was sent (system prompts,
messages, tool definitions, output schema). ``context``, ``instructions.template``,
``inputs.truncation`` and ``runtime.code`` say how the request was assembled: its content is
already in the messages and prompts (docs/spec.md §4.1)."""

_WORDS: Final = {"not_recorded": "not recorded", "undisclosed": "undisclosed"}


def _reason(value: object) -> str | None:
    """The reason of an absence marker, or None for a value."""
    if isinstance(value, Mapping) and set(value) == {"absent"}:
        return str(value["absent"])
    return None


def _model(model: Mapping[str, Any]) -> str | None:
    """Why the served model is not identified, or None when it is: ``model.weights`` lists the
    files' digests, or ``model.version`` states the resolved version (a capture writes one
    only for an immutable snapshot: a dated name, a published digest; §4.1)."""
    weights, version = model.get("weights"), model.get("version")
    if (isinstance(weights, list) and weights) or (isinstance(version, str) and version):
        return None
    markers = {_reason(weights), _reason(version)} - {None}
    return "model undisclosed" if markers == {"undisclosed"} else "model not recorded"


def unrecorded(declaration: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The conditions that can change the output and that ``declaration`` does not record,
    each as ``"CONDITION REASON"`` (``model not recorded``, ``parameters undisclosed``,
    ``constraints.output_schema not recorded``); ``no model call`` when the run called no
    model (a tool step: nothing was sampled), ``declaration withheld`` when its content is
    not at hand. Empty when every such condition is recorded.

    A parameter left to the provider (``{"source": "provider_default"}``) counts as recorded:
    the condition is "the provider's default", the same on both sides of one declaration; a
    provider that changed it is provider drift, which its observed facts may show.

    >>> unrecorded({"model": {"absent": "not_recorded"}, "parameters": {}, "instructions":
    ...     {"absent": "not_applicable"}, "inputs": {"messages": []}, "tools":
    ...     {"absent": "undisclosed"}, "constraints": {"absent": "not_applicable"}})
    ('model not recorded', 'tools undisclosed')
    """
    if declaration is None:
        return ("declaration withheld",)
    found: list[str] = []
    for name in OUTPUT_CONDITIONS:
        head, _, field = name.partition(".")
        component = declaration.get(head)
        if field:
            if _reason(component) is not None or not isinstance(component, Mapping):
                continue  # the component's own absence is reported once, under its name
            reason = _reason(component.get(field))
        else:
            reason = _reason(component)
        if reason == "not_applicable" and name == "model":
            found.append("no model call")
        elif reason in _WORDS:
            found.append(f"{name} {_WORDS[reason]}")
        elif name == "model" and isinstance(component, Mapping) and reason is None:
            why = _model(component)
            if why is not None:
                found.append(why)
    return tuple(found)
