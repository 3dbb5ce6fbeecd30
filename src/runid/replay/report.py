"""Comparing a run with its replay: :func:`compare`, :class:`ReplayReport` and, for a tool
loop, :class:`AgentReplayReport`. Pure: records, declarations and (to read outputs) a
``fetch`` function in, a report out; the comparison itself is :func:`runid.diff.compare`.

Comparing two runs needs no model; a run compared with itself is identical:

>>> from runid.examples import example
>>> from runid.record import new_record
>>> from runid.keys import SigningKey
>>> from runid.identity import compute_identity
>>> from runid.digest import content_ref
>>> decl = example("chat-hosted-model")
>>> key = SigningKey("runid.example/worker", bytes(32))
>>> record = new_record(compute_identity(decl).declaration_id, issuer=key,
...     started_at="2025-03-01T12:00:00Z", ended_at="2025-03-01T12:00:01Z",
...     outputs=[content_ref("Refunds take 5 business days.")])
>>> report = compare(record, decl, record, decl)
>>> report.verdict, report.identical, report.exit_code
('identical', True, 0)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from .. import canonical
from ..diff import VERDICTS, Change, Comparison
from ..diff import compare as diff_compare
from ..errors import E_NOT_STORED, InputError, RunidError
from ..identity import compute_identity
from ..wire import Declaration, Record
from ._declaration import is_present
from .engines import engine_of

__all__ = [
    "AGENT_REPORT_FORMAT",
    "REPORT_FORMAT",
    "VERDICTS",
    "AgentReplayReport",
    "ReplayReport",
    "compare",
    "tool_call_ids",
]

REPORT_FORMAT = "runid/replay-report/v1"
"""The ``format`` value of :meth:`ReplayReport.to_json` (docs/spec.md §18)."""

AGENT_REPORT_FORMAT = "runid/agent-replay-report/v1"
"""The ``format`` value of :meth:`AgentReplayReport.to_json` (docs/spec.md §18.4)."""


@dataclass(frozen=True)
class _Side:
    """One run as :func:`runid.diff.compare` reads it."""

    declaration_id: str
    components: Mapping[str, str]
    declaration: Declaration
    record: Record

    @classmethod
    def of(cls, record: Record, declaration: Mapping[str, Any]) -> _Side:
        identity = compute_identity(declaration)  # validates it
        if identity.declaration_id != record["declaration_id"]:
            raise InputError(
                f"the declaration's id {identity.declaration_id} is not the one its record "
                f"names ({record['declaration_id']})",
                code=E_NOT_STORED,
            )
        valid = cast(Declaration, declaration)
        return cls(identity.declaration_id, identity.components, valid, record)


@dataclass(frozen=True)
class ReplayReport:
    """What a replay found: the original and the replayed record, and their comparison by
    :func:`runid.diff.compare` (original as side A, replay as side B). ``verdict`` is one of
    :data:`VERDICTS`:

    * ``identical``: same declaration id, same outcome, same observed facts;
    * ``observed_drift``: same declaration and outcome, but an observed fact moved (the served
      model, the system fingerprint): worth knowing, not a different result;
    * ``different_declarations``: the conditions moved (``declaration_changes`` names them);
    * ``provider_drift``: same declaration, different outcome, and a provider fact moved;
    * ``nondeterminism``: same declaration and provider facts, different outcome, and the
      declaration records every condition that can change the output;
    * ``undetermined``: the same, but the declaration does not record such a condition
      (``reasons`` names each: ``model not recorded``), so the cause is not known.
    """

    engine: str
    original: Mapping[str, Any]
    replay: Mapping[str, Any]
    replay_index: int | None
    comparison: Comparison
    #: The outputs differ only by the tool call ids the provider assigned (random per
    #: response): the same calls with the same arguments, so the same outcome.
    call_ids_only: bool = False

    @property
    def verdict(self) -> str:
        verdict = self.comparison.verdict
        if self.call_ids_only and verdict in ("nondeterminism", "provider_drift", "undetermined"):
            return "observed_drift" if self.comparison.observed else "identical"
        return verdict

    @property
    def reasons(self) -> tuple[str, ...]:
        """For the verdict ``undetermined``: the conditions that can change the output and
        are not recorded (``model not recorded``); empty otherwise."""
        return self.comparison.reasons if self.verdict == "undetermined" else ()

    @property
    def same_declaration(self) -> bool:
        ids = self.comparison.declaration_ids
        return ids[0] == ids[1]

    @property
    def same_outcome(self) -> bool:
        return not self.comparison.outcome or self.call_ids_only

    @property
    def changed_components(self) -> tuple[str, ...]:
        return self.comparison.changed_components

    @property
    def declaration_changes(self) -> tuple[Change, ...]:
        return self.comparison.declaration

    @property
    def observed_changes(self) -> tuple[Change, ...]:
        return self.comparison.observed or ()

    @property
    def identical(self) -> bool:
        """True when the declaration and the outcome are identical (exit code 0)."""
        return self.same_declaration and self.same_outcome

    @property
    def exit_code(self) -> int:
        """0 when declaration and outcome are identical, else 1 (``runid replay``)."""
        return 0 if self.identical else 1

    def to_json(self) -> dict[str, Any]:
        """The stable machine form of ``runid replay --json`` (docs/spec.md §18.3); changes
        are diff change objects (§16) with the original as ``a`` and the replay as ``b``."""
        return {
            "format": REPORT_FORMAT,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "identical": self.identical,
            "engine": self.engine,
            "original": _side(self.original),
            "replay": {**_side(self.replay), "log_index": self.replay_index},
            "declaration": {
                "identical": self.same_declaration,
                "components": list(self.changed_components),
                "changes": [change.to_json() for change in self.declaration_changes],
            },
            "outcome": {"identical": self.same_outcome, "call_ids_only": self.call_ids_only},
            "observed": {
                "identical": not self.observed_changes,
                "provider_drift": self.comparison.provider_drift,
                "changes": [change.to_json() for change in self.observed_changes],
            },
        }


def _side(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "execution_id": record["execution_id"],
        "declaration_id": record["declaration_id"],
        "status": record["outcome"]["status"],
        "outputs": [ref["digest"] for ref in record["outcome"]["outputs"]],
        "observed": dict(record["observed"]),
    }


def compare(
    original: Record,
    original_declaration: Mapping[str, Any],
    replayed: Record,
    replayed_declaration: Mapping[str, Any],
    *,
    replay_index: int | None = None,
    engine: str | None = None,
    fetch: Callable[[str], bytes] | None = None,
    linked_ids: Mapping[str, str] | None = None,
) -> ReplayReport:
    """Compare an original run with its replay (records and declarations); pure.

    Each declaration must have the id its record names (else ``E_NOT_STORED``). With
    ``fetch`` (content by digest), outputs that are the same tool calls except for the call
    ids the provider drew are the same outcome (``call_ids_only``). ``linked_ids`` maps the
    replay's own identifiers (the execution ids of earlier replayed calls, the provider's tool
    call ids) to the original's: a replayed agent loop names the same links by other ids, and
    they are not moved conditions.
    """
    comparison = diff_compare(
        _Side.of(original, original_declaration),
        _linked_side(replayed_declaration, replayed, linked_ids or {}),
    )
    ids_only = (
        bool(comparison.outcome)
        and fetch is not None
        and _only_call_ids_differ(original, replayed, fetch)
    )
    return ReplayReport(
        engine=engine or _engine_or_unknown(original_declaration),
        original=original,
        replay=replayed,
        replay_index=replay_index,
        comparison=comparison,
        call_ids_only=ids_only,
    )


def _engine_or_unknown(declaration: Mapping[str, Any]) -> str:
    try:
        return engine_of(declaration)
    except InputError:
        return "unknown"


def _linked_side(declaration: Mapping[str, Any], record: Record, ids: Mapping[str, str]) -> _Side:
    """The replay's side with its own identifiers mapped to the original's: the execution ids
    of its earlier calls in ``inputs.upstream`` and the tool call ids the provider assigned
    (random per response) in ``inputs.messages``. They differ by construction and name the
    same links, so they are not moved conditions."""
    inputs = declaration.get("inputs")
    if not ids or not isinstance(inputs, Mapping) or not is_present(inputs):
        return _Side.of(record, declaration)

    def mapped(value: Any) -> Any:
        return ids.get(value, value) if isinstance(value, str) else value

    messages = []
    for given in inputs.get("messages", []):
        message = dict(given)
        if "tool_call_id" in message:
            message["tool_call_id"] = mapped(message["tool_call_id"])
        if "tool_calls" in message:
            message["tool_calls"] = [
                {**call, "id": mapped(call.get("id"))} for call in message["tool_calls"]
            ]
        messages.append(message)
    upstream = [
        {**link, "execution_id": mapped(link.get("execution_id"))}
        for link in inputs.get("upstream", [])
    ]
    linked = {**declaration, "inputs": {**inputs, "messages": messages, "upstream": upstream}}
    identity = compute_identity(linked)  # validates it
    return _Side(identity.declaration_id, identity.components, cast(Declaration, linked), record)


def _output_calls(record: Mapping[str, Any], fetch: Callable[[str], bytes]) -> list[Any] | None:
    """The tool calls a model call's only output holds (canonical JSON, as the OpenAI and
    llama.cpp adapters write them), or None when the output is not a list of calls."""
    outputs = record["outcome"]["outputs"]
    if len(outputs) != 1 or not str(outputs[0].get("media_type", "")).startswith(
        "application/json"
    ):
        return None
    try:
        calls = canonical.loads(fetch(outputs[0]["digest"]))
    except RunidError:
        return None
    if not isinstance(calls, list) or not all(isinstance(c, Mapping) for c in calls):
        return None
    return calls


def _only_call_ids_differ(
    original: Mapping[str, Any], replayed: Mapping[str, Any], fetch: Callable[[str], bytes]
) -> bool:
    """True when both outputs are the same tool calls except for the providers' call ids."""
    if original["outcome"]["status"] != replayed["outcome"]["status"]:
        return False
    a, b = _output_calls(original, fetch), _output_calls(replayed, fetch)
    if a is None or b is None or len(a) != len(b):
        return False
    return [{**c, "id": None} for c in a] == [{**c, "id": None} for c in b]


def tool_call_ids(record: Mapping[str, Any], fetch: Callable[[str], bytes]) -> list[str]:
    """The provider's ids of the tool calls a model call's output holds (in order)."""
    outputs = record["outcome"]["outputs"]
    if not outputs or not str(outputs[0].get("media_type", "")).startswith("application/json"):
        return []
    try:
        calls = canonical.loads(fetch(outputs[0]["digest"]))
    except RunidError:
        return []
    if not isinstance(calls, list):
        return []
    return [str(c.get("id")) for c in calls if isinstance(c, Mapping) and c.get("id")]


@dataclass(frozen=True)
class AgentReplayReport:
    """A replayed tool loop: one :class:`ReplayReport` per model call, paired in order with the
    original loop's calls (a call either side made beyond the other's count is unpaired and
    makes the loop different). Tool results were served from the record, never called."""

    turns: tuple[ReplayReport, ...]
    original_turns: int
    replayed_turns: int
    tools_served: int

    @property
    def identical(self) -> bool:
        """Every call paired and each identical in declaration and outcome (exit code 0)."""
        return self.original_turns == self.replayed_turns and all(
            turn.identical for turn in self.turns
        )

    @property
    def verdict(self) -> str:
        """The first turn's verdict that is not identical, else ``identical`` (or
        ``different_turns`` when only the number of model calls differs)."""
        for turn in self.turns:
            if not turn.identical:
                return turn.verdict
        return "identical" if self.identical else "different_turns"

    @property
    def exit_code(self) -> int:
        return 0 if self.identical else 1

    def to_json(self) -> dict[str, Any]:
        """``runid replay --agent --json`` (docs/spec.md §18.4)."""
        return {
            "format": AGENT_REPORT_FORMAT,
            "verdict": self.verdict,
            "identical": self.identical,
            "original_turns": self.original_turns,
            "replayed_turns": self.replayed_turns,
            "tools_served": self.tools_served,
            "turns": [turn.to_json() for turn in self.turns],
        }
