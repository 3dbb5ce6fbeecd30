"""What evaluating a policy gives: the statuses, one result per rule, and their collection.

Private to :mod:`runid.policy`, which re-exports :class:`RuleResult`, :class:`Evaluation` and
the statuses. :class:`Context` collects one run's results and applies the principle of
:mod:`runid.policy` to absences on the way to a value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .._internal.schema import pointer
from ..wire import PolicyResult

__all__ = ["FAIL", "NA", "PASS", "Context", "Evaluation", "RuleResult", "Status", "absence"]


Status = Literal["pass", "fail", "not_applicable"]
PASS: Status = "pass"
FAIL: Status = "fail"
NA: Status = "not_applicable"


@dataclass(frozen=True, slots=True)
class RuleResult:
    """The result of one named rule for one run.

    ``document`` is ``"declaration"`` or ``"record"``, ``pointer`` the JSON Pointer of the value
    the rule read there (the first offending item when it failed); ``expected`` and ``actual``
    are JSON values (``actual`` None when nothing was read). ``recorded`` is False for a rule
    that failed because the run does not record the value it needs (``not_recorded``,
    ``undisclosed``, a provider default, a fact the record lacks): compliance cannot be shown,
    which is not the same as a value shown to be outside the policy.
    """

    rule: str
    status: Status
    message: str
    pointer: str = ""
    document: Literal["declaration", "record"] = "declaration"
    expected: Any = None
    actual: Any = None
    recorded: bool = True

    def to_json(self) -> PolicyResult:
        """The result as a JSON object (docs/spec.md §17.4)."""
        return {
            "rule": self.rule,
            "status": self.status,
            "recorded": self.recorded,
            "message": self.message,
            "document": self.document,
            "pointer": self.pointer,
            "expected": self.expected,
            "actual": self.actual,
        }


@dataclass(frozen=True)
class Evaluation:
    """Every rule's result for one run; ``status`` is fail if any rule failed, pass otherwise,
    and not_applicable when the run is outside the policy's ``applies_to``."""

    status: Status
    results: tuple[RuleResult, ...] = ()
    scope: str = ""  # why the run is outside the scope (empty when in scope)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> tuple[RuleResult, ...]:
        """The rules that failed."""
        return tuple(r for r in self.results if r.status == FAIL)

    @property
    def not_recorded(self) -> tuple[RuleResult, ...]:
        """The rules that failed because the run does not record what they read."""
        return tuple(r for r in self.results if r.status == FAIL and not r.recorded)


def absence(value: Any) -> str | None:
    """The reason of an absence marker (``{"absent": REASON}``), or None for any other value."""
    if type(value) is dict and len(value) == 1 and "absent" in value:
        reason = value["absent"]
        return reason if isinstance(reason, str) else "not_recorded"
    return None


_POINTERS: dict[tuple[str | int, ...], str] = {}

#: What a not_applicable value means where a reader could take it for "anything goes".
_NOTES: dict[tuple[str | int, ...], str] = {
    ("model", "endpoint"): "; where a model is served is not a condition (ADR 0014): "
    "observed.endpoint approves where runs went",
}


def _pointer(path: Sequence[str | int]) -> str:
    """:func:`pointer`, remembered: a policy reads the same few paths in every run."""
    key = tuple(path)
    found = _POINTERS.get(key)
    if found is None:
        found = pointer(key)
        if len(_POINTERS) < 4096:
            _POINTERS[key] = found
    return found


class Context:
    """Collects the results of one run's evaluation."""

    def __init__(self, declaration: Mapping[str, Any], record: Mapping[str, Any] | None) -> None:
        self.declaration = declaration
        self.record = record
        self.results: list[RuleResult] = []

    def add(
        self, rule: str, status: Status, message: str, path: Sequence[str | int], **kw: Any
    ) -> None:
        self.results.append(RuleResult(rule, status, message, _pointer(path), **kw))

    def lookup(
        self, rule: str, path: Sequence[str | int], expected: Any, *, record: bool = False
    ) -> tuple[Any, bool]:
        """The value at ``path``, or a result for an absence on the way (then ``(None, False)``).

        Absences follow the principle of :mod:`runid.policy`: not_applicable → rule not
        applicable; any other reason (the value was part of the run but is unknown), or a
        member the document lacks (an observed fact the record does not have) → the rule fails
        as not recorded (``recorded`` False).
        """
        document: Literal["declaration", "record"] = "record" if record else "declaration"
        value: Any = self.record if record else self.declaration
        for depth, part in enumerate(path):
            reason = absence(value)
            if reason is None and isinstance(value, dict | list):
                try:
                    value = value[part]  # type: ignore[index]
                except (KeyError, IndexError, TypeError):
                    value = {"absent": "not_recorded"}
                reason = absence(value)
            if reason is not None:
                where = path[: depth + 1]
                applicable = reason != "not_applicable"
                note = _NOTES.get(tuple(where), "") if not applicable else ""
                self.add(
                    rule,
                    FAIL if applicable else NA,
                    f"{pointer(where)} is absent ({reason})"
                    + (": compliance cannot be shown" if applicable else note),
                    where,
                    document=document,
                    expected=expected,
                    actual=value,
                    recorded=not applicable,
                )
                return None, False
        return value, True
