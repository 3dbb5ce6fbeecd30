"""Reading a recorded declaration as replay needs it: absence markers and ``previous_call``
links. Pure; private to :mod:`runid.replay`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["PREVIOUS_CALL", "absent_reason", "is_present", "previous_call", "upstream"]

#: The inputs.upstream relation that chains one model call of an agent loop to the previous
#: one (runid.integrations.agent.PREVIOUS_CALL; spelled here so that importing runid.replay
#: does not import the agent adapter).
PREVIOUS_CALL = "previous_call"


def absent_reason(value: object) -> str | None:
    """The reason of an absence marker ``{"absent": reason}``; None for anything else."""
    if isinstance(value, Mapping) and set(value) == {"absent"}:
        return str(value["absent"])
    return None


def is_present(value: object) -> bool:
    """True for a component that is an object and not an absence marker."""
    return isinstance(value, Mapping) and absent_reason(value) is None


def upstream(declaration: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The declaration's ``inputs.upstream`` links (none when inputs are absent)."""
    inputs = declaration.get("inputs")
    if not isinstance(inputs, Mapping) or not is_present(inputs):
        return []
    return [u for u in inputs.get("upstream", []) if isinstance(u, Mapping)]


def previous_call(declaration: Mapping[str, Any]) -> str | None:
    """The execution id of the model call before this one in its agent loop, if any."""
    for link in upstream(declaration):
        if link.get("relation") == PREVIOUS_CALL:
            return str(link["execution_id"])
    return None
