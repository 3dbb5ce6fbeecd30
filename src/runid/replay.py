"""Replay: re-execute a recorded run through its adapter and say what stayed the same.

A replay takes one execution from a runid home's log, loads its record and its declaration
(the declaration blob), picks the model adapter named by the declaration's
``runtime.engine.name``, and lets the adapter rebuild the exact call from the declaration,
fetching every referenced content by its digest from the log's blob store. The adapter runs
the call again under capture, through the same code path as a first-time call, so the new run
gets its own declaration (built afresh from what is really sent now), its own signed record
and a log entry; that record carries ``replay_of``, the execution id of the original (a signed
link, docs/spec.md §18).

The :class:`ReplayReport` then answers three questions: is the declaration identical (if not,
what moved: e.g. a library version or the weights digest), is the outcome identical (the output
digests), and did the observed facts move (provider drift: the served model or the system
fingerprint). :func:`replay_agent` replays a whole tool loop the same way, serving the recorded
tool results instead of calling the tools. Comparing is pure (:func:`compare`, through
:func:`runid.diff.compare`); only :func:`replay` and :func:`replay_agent` do I/O.

Adapters are found through a small registry of engine names to module paths, imported only when
needed so that ``import runid`` stays light:

>>> sorted(ENGINES)
['llama.cpp', 'openai-compatible', 'python-tool', 'transformers']
>>> engine_of({"runtime": {"engine": {"absent": "not_recorded"}}})
Traceback (most recent call last):
...
runid.errors.InputError: the declaration does not name its inference engine \
(runtime.engine is not_recorded), so no adapter can replay it

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

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from . import canonical
from .capture import Recorder, Run
from .diff import VERDICTS, Change, Comparison, format_value
from .diff import compare as diff_compare
from .digest import checked_fetch
from .errors import InputError, RunidError
from .home import Home
from .identity import compute_identity
from .log import Log

__all__ = [
    "AGENT_REPORT_FORMAT",
    "ENGINES",
    "REPORT_FORMAT",
    "VERDICTS",
    "AgentReplayReport",
    "ReplayReport",
    "adapter_for",
    "blob_fetcher",
    "compare",
    "engine_of",
    "load_declaration",
    "register_engine",
    "render",
    "render_agent",
    "replay",
    "replay_agent",
]

REPORT_FORMAT = "runid/replay-report/v1"
"""The ``format`` value of :meth:`ReplayReport.to_json` (docs/spec.md §18)."""

AGENT_REPORT_FORMAT = "runid/agent-replay-report/v1"
"""The ``format`` value of :meth:`AgentReplayReport.to_json` (docs/spec.md §18.4)."""

# The inputs.upstream relation that chains one model call of an agent loop to the previous
# one (runid.integrations.agent.PREVIOUS_CALL; spelled here so the core does not import it).
_PREVIOUS_CALL = "previous_call"

#: Engine name (``runtime.engine.name`` of a declaration) → the adapter module that replays it.
#: Module paths, not modules: an adapter imports its model library, which must not load until
#: a run of that engine is replayed.
ENGINES: dict[str, str] = {
    "llama.cpp": "runid.integrations.llama_cpp",
    "openai-compatible": "runid.integrations.openai",
    "python-tool": "runid.integrations.agent",  # a tool step; needs the functions: tools=
    "transformers": "runid.integrations.transformers",
}


def register_engine(name: str, module: str) -> None:
    """Let replay find the adapter ``module`` (an importable path) for engine ``name``.

    The module must expose ``ENGINE == name`` and ``replay(...)`` (the replay protocol).
    """
    if not name or not module:
        raise InputError("an engine needs a name and a module path")
    ENGINES[name] = module


def _absent_reason(value: object) -> str | None:
    if isinstance(value, Mapping) and set(value) == {"absent"}:
        return str(value["absent"])
    return None


def engine_of(declaration: Mapping[str, Any]) -> str:
    """The ``runtime.engine.name`` of a declaration, or a clear error when it has none."""
    runtime = declaration.get("runtime")
    reason = _absent_reason(runtime)
    if reason is not None or not isinstance(runtime, Mapping):
        raise InputError(
            f"the declaration has no runtime component ({reason or 'missing'}), so no adapter "
            "can replay it",
            hint="record runs through a runid adapter (llama.cpp, transformers, openai), which "
            "declares runtime.engine",
            code="E_REPLAY_ENGINE",
        )
    engine = runtime.get("engine")
    reason = _absent_reason(engine)
    name = engine.get("name") if isinstance(engine, Mapping) else None
    if reason is not None or not isinstance(name, str) or not name:
        raise InputError(
            f"the declaration does not name its inference engine (runtime.engine is "
            f"{reason or 'missing'}), so no adapter can replay it",
            hint="record runs through a runid adapter (llama.cpp, transformers, openai), which "
            "declares runtime.engine",
            code="E_REPLAY_ENGINE",
        )
    return name


def adapter_for(engine: str) -> ModuleType:
    """The adapter module for ``engine``, imported now; clear errors when there is none."""
    path = ENGINES.get(engine)
    if path is None:
        known = ", ".join(sorted(ENGINES))
        raise InputError(
            f"no replay adapter for engine {engine!r} (known engines: {known})",
            hint="runid.replay.register_engine(name, module) adds one",
            code="E_UNKNOWN_ENGINE",
        )
    try:
        module = importlib.import_module(path)
    except ImportError as exc:
        raise InputError(
            f"the {engine} adapter ({path}) cannot be loaded: {exc}",
            hint="install the packages it needs, e.g. pip install 'runid[demo]'",
            code="E_REPLAY_UNAVAILABLE",
        ) from None
    if getattr(module, "ENGINE", None) != engine or not callable(getattr(module, "replay", None)):
        raise InputError(
            f"{path} does not follow the replay protocol for engine {engine!r} "
            "(it needs ENGINE and replay())",
            code="E_REPLAY_UNAVAILABLE",
        )
    return module


# --- comparing (pure) -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Side:
    """One run as :func:`runid.diff.compare` reads it."""

    declaration_id: str
    components: Mapping[str, str]
    declaration: Mapping[str, Any]
    record: Mapping[str, Any]

    @classmethod
    def of(cls, record: Mapping[str, Any], declaration: Mapping[str, Any]) -> _Side:
        identity = compute_identity(declaration)
        if identity.declaration_id != record["declaration_id"]:
            raise InputError(
                f"the declaration's id {identity.declaration_id} is not the one its record "
                f"names ({record['declaration_id']})",
                code="E_NOT_STORED",
            )
        return cls(identity.declaration_id, identity.components, declaration, record)


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
    * ``nondeterminism``: same declaration and provider facts, different outcome.
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
        if self.call_ids_only and verdict in ("nondeterminism", "provider_drift"):
            return "observed_drift" if self.comparison.observed else "identical"
        return verdict

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
    original: Mapping[str, Any],
    original_declaration: Mapping[str, Any],
    replayed: Mapping[str, Any],
    replayed_declaration: Mapping[str, Any],
    *,
    replay_index: int | None = None,
    engine: str | None = None,
) -> ReplayReport:
    """Compare an original run with its replay (records and declarations); pure.

    Each declaration must have the id its record names (else ``E_NOT_STORED``).
    """
    comparison = diff_compare(
        _Side.of(original, original_declaration), _Side.of(replayed, replayed_declaration)
    )
    return ReplayReport(
        engine=engine or _engine_or_unknown(original_declaration),
        original=original,
        replay=replayed,
        replay_index=replay_index,
        comparison=comparison,
    )


def _engine_or_unknown(declaration: Mapping[str, Any]) -> str:
    try:
        return engine_of(declaration)
    except InputError:
        return "unknown"


# --- replaying (I/O) ---------------------------------------------------------------------------


def blob_fetcher(log: Log) -> Callable[[str], bytes]:
    """``fetch(digest) -> bytes`` over the log's blob store, checked against the digest;
    :class:`~runid.errors.InputError` (``E_CONTENT_MISSING``) when the content is not stored."""

    def stored(digest: str) -> bytes:
        data = log.store.get_blob(digest)
        if data is None:
            raise InputError(
                f"content {digest} is not stored in this log",
                hint="the run was recorded digests-only or keyed, or the content was erased; "
                "replay needs the content itself",
                code="E_CONTENT_MISSING",
            )
        return data

    # A blob store is trusted for nothing: every byte is checked against its digest.
    return lambda digest: checked_fetch(stored, digest)


def load_declaration(log: Log, declaration_id: str) -> dict[str, Any]:
    """The stored declaration with ``declaration_id``, checked against the id."""
    lookup = getattr(log, "declaration", None)
    found = lookup(declaration_id) if callable(lookup) else None
    if found is None:
        raise InputError(
            f"the declaration {declaration_id} is not stored in this log",
            hint="the run was recorded digests-only (or keyed), so it cannot be replayed; "
            "record with privacy mode 'store' to make runs replayable",
            code="E_NOT_STORED",
        )
    declaration = dict(found)
    if compute_identity(declaration).declaration_id != declaration_id:
        raise InputError(
            f"the stored declaration does not have the id {declaration_id}",
            hint="run 'runid log audit'; the blob store was altered",
            code="E_NOT_STORED",
        )
    return declaration


def replay(
    home: Home | Log,
    execution_id: str,
    *,
    recorder: Recorder | None = None,
    **options: Any,
) -> ReplayReport:
    """Replay execution ``execution_id`` of the log in ``home`` and compare.

    The new run is recorded in the same home (or through ``recorder``, which must write to a
    log that holds the original's content) with ``replay_of`` set to ``execution_id``.
    ``options`` go to the adapter's ``replay`` (e.g. ``base_url`` for an OpenAI-compatible
    endpoint, ``model_path`` for a local model file or directory).
    """
    log = home if isinstance(home, Log) else Log.open(home, need_key=False)
    try:
        entry = log.entry(execution_id)
        original = entry.record
        parent = original["parent"]
        declaration = load_declaration(log, original["declaration_id"])
        engine = engine_of(declaration)
        adapter = adapter_for(engine)
        fetch = blob_fetcher(log)
        home_of = recorder.home if recorder is not None else _home_of(home)
        rec = Recorder(
            home_of,
            on_error="raise",  # a replay that is not recorded is a failed replay
            privacy=recorder.privacy if recorder is not None else None,
            replay_of=original["execution_id"],
        )
        step: dict[str, Any] = {}
        if _absent_reason(parent) is None:  # a step replays as a step of the same parent
            step = {"parent": parent["execution_id"], "step": parent["step"]}
        try:
            run: Run = adapter.replay(declaration, fetch, recorder=rec, **step, **options)
        except RunidError:
            raise
        except Exception as exc:  # the model call itself failed: say so, no traceback
            raise InputError(
                f"the {engine} replay failed: {type(exc).__name__}: {exc}",
                hint="check --endpoint / --model-path and that the model is reachable",
                code="E_REPLAY_FAILED",
            ) from exc
        report = _report(engine, original, declaration, run)
        if report.comparison.outcome and _only_call_ids_differ(original, run.record or {}, fetch):
            report = dataclasses.replace(report, call_ids_only=True)
    finally:
        if not isinstance(home, Log):
            log.close()
    return report


def _home_of(home: Home | Log) -> Home:
    if isinstance(home, Home):
        return home
    raise InputError("replay into an open Log needs a recorder= for the new run")


def _report(
    engine: str, original: Mapping[str, Any], declaration: Mapping[str, Any], run: Run
) -> ReplayReport:
    if run.record is None or run.declaration is None or not run.recorded:
        cause = run.failure
        detail = cause.message if isinstance(cause, RunidError) else str(cause or "unknown")
        raise InputError(
            f"the replay ran but was not recorded: {detail}",
            code="E_REPLAY_UNAVAILABLE",
        )
    report = compare(
        original,
        declaration,
        run.record,
        run.declaration,
        replay_index=run.entry_index,
        engine=engine,
    )
    return report


def render(report: ReplayReport, *, color: bool = False) -> str:
    """The human report of ``runid replay`` (plain text; ``color`` adds ANSI styles)."""

    def style(text: str, good: bool) -> str:
        if not color:
            return text
        code = "32" if good else "31"
        return f"\x1b[{code}m{text}\x1b[0m"

    def line(change: Change) -> str:
        label = f" ({change.label})" if change.label else ""
        moved = f"{format_value(change.a)} -> {format_value(change.b)}"
        return f"  {change.path}{label}: {moved}"

    lines = [
        f"replayed {report.original['execution_id']}",
        f"      as {report.replay['execution_id']}"
        + (f" (log entry {report.replay_index})" if report.replay_index is not None else ""),
        f"engine:      {report.engine}",
    ]
    same = report.same_declaration
    lines.append(
        "declaration: "
        + style("identical" if same else "DIFFERENT", same)
        + f" {report.replay['declaration_id']}"
    )
    if not same:
        lines.append(f"  components: {', '.join(report.changed_components)}")
        lines.extend(line(change) for change in report.declaration_changes)
    ok = report.same_outcome
    outputs = ", ".join(ref["digest"] for ref in report.replay["outcome"]["outputs"]) or "none"
    lines.append("outcome:     " + style("identical" if ok else "DIFFERENT", ok) + f" {outputs}")
    if not ok:
        before = ", ".join(ref["digest"] for ref in report.original["outcome"]["outputs"])
        lines.append(f"  original outputs: {before or 'none'}")
    if report.observed_changes:
        lines.append("observed:    differences")
        lines.extend(line(change) for change in report.observed_changes)
    else:
        lines.append("observed:    identical (response ids aside)")
    lines.append("verdict:     " + style(report.verdict, report.identical))
    return "\n".join(lines)


def render_agent(report: AgentReplayReport, *, color: bool = False) -> str:
    """The human report of ``runid replay --agent``: one block per model call."""
    lines = [
        f"agent loop: {report.original_turns} model call(s) recorded, "
        f"{report.replayed_turns} replayed; {report.tools_served} tool result(s) served from "
        "the record (no tool ran)"
    ]
    for number, turn in enumerate(report.turns):
        lines += ["", f"-- call {number} --", render(turn, color=color)]
    verdict = report.verdict
    if color:
        verdict = f"\x1b[{32 if report.identical else 31}m{verdict}\x1b[0m"
    lines += ["", f"loop verdict: {verdict}"]
    return "\n".join(lines)


# --- agent loops ------------------------------------------------------------------------------


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


def _upstream(declaration: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    inputs = declaration.get("inputs")
    if not isinstance(inputs, Mapping) or not _is_present(inputs):
        return []
    return [u for u in inputs.get("upstream", []) if isinstance(u, Mapping)]


def _is_present(value: object) -> bool:
    return isinstance(value, Mapping) and _absent_reason(value) is None


def _previous(declaration: Mapping[str, Any]) -> str | None:
    for link in _upstream(declaration):
        if link.get("relation") == _PREVIOUS_CALL:
            return str(link["execution_id"])
    return None


def _original_loop(log: Log, execution_id: str) -> list[tuple[int, dict[str, Any], dict[str, Any]]]:
    """The model calls of the loop ``execution_id`` belongs to, first to last, as
    ``(log index, record, declaration)``: back along ``previous_call`` links to the first call,
    then forward through the log to each call that names the last one as its previous call."""
    entry = log.entry(execution_id)
    declaration = load_declaration(log, entry.record["declaration_id"])
    while (previous := _previous(declaration)) is not None:
        entry = log.entry(previous)
        declaration = load_declaration(log, entry.record["declaration_id"])
    loop = [(entry.index, entry.record, declaration)]
    for index in range(entry.index + 1, log.size()):
        record = log.entry(index).record
        if _absent_reason(record["parent"]) is None or "replay_of" in record:
            continue  # a tool step, or an earlier replay of this loop
        stored = log.declaration(record["declaration_id"])
        if stored is not None and _previous(stored) == loop[-1][1]["execution_id"]:
            loop.append((index, record, stored))
    return loop


class _LoopRecorder(Recorder):
    """Records the replayed loop: the n-th model call is the replay of the original n-th."""

    def __init__(self, home: Home, originals: list[str], privacy: Any) -> None:
        super().__init__(home, on_error="raise", privacy=privacy)
        self._originals = list(originals)
        self.turn = 0

    def capture(self, declaration: Any, **kwargs: Any) -> Run:
        # Only model calls are captured during a replayed loop: served tool results are not
        # new runs. A call beyond the original's count replays nothing (no replay_of).
        turn, self.turn = self.turn, self.turn + 1
        self.replay_of = self._originals[turn] if turn < len(self._originals) else None
        return super().capture(declaration, **kwargs)


def _linked_side(
    declaration: Mapping[str, Any], record: Mapping[str, Any], ids: Mapping[str, str]
) -> _Side:
    """The replay's side with its own identifiers mapped to the original's: the execution ids
    of its earlier calls in ``inputs.upstream`` and the tool call ids the provider assigned
    (random per response) in ``inputs.messages``. They differ by construction and name the
    same links, so they are not moved conditions."""
    inputs = declaration.get("inputs")
    if not ids or not isinstance(inputs, Mapping) or not _is_present(inputs):
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
    identity = compute_identity(linked)
    return _Side(identity.declaration_id, identity.components, linked, record)


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


def _call_ids(record: Mapping[str, Any], fetch: Callable[[str], bytes]) -> list[str]:
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


def replay_agent(
    home: Home,
    execution_id: str,
    *,
    recorder: Recorder | None = None,
    max_turns: int | None = None,
    **options: Any,
) -> AgentReplayReport:
    """Replay the tool loop that model call ``execution_id`` belongs to, from its first call.

    The first request is rebuilt from the first call's declaration (later calls' changed
    fields, such as ``tool_choice``, become the loop's ``followup``); the loop runs again
    through :func:`runid.integrations.agent.run_agent` with the tool results served from the
    record (:class:`~runid.integrations.agent.RecordedTools`): no tool function runs, and a
    tool call the record does not have fails with ``E_TOOL_NOT_RECORDED`` naming the tool and
    its arguments. Options: ``client`` (an ``openai.OpenAI``) or ``base_url`` (default: the
    recorded endpoint) and ``api_key``.
    """
    from .integrations import agent
    from .integrations import openai as adapter

    with Log.open(home, need_key=False) as log:
        loop = _original_loop(log, execution_id)
        first = loop[0][2]
        if engine_of(first) != adapter.ENGINE:
            raise InputError(
                f"an agent loop replays over an OpenAI-compatible client; this run's engine is "
                f"{engine_of(first)!r}",
                code="E_REPLAY_UNAVAILABLE",
            )
        fetch = blob_fetcher(log)
        request = adapter.request_from_declaration(first, fetch)
        followup: dict[str, Any] = {}
        if len(loop) > 1:
            later = adapter.request_from_declaration(loop[1][2], fetch)
            followup = {k: v for k, v in later.items() if k != "messages" and request.get(k) != v}
        originals = [record["execution_id"] for _i, record, _d in loop]
        tools = agent.RecordedTools.from_log(log, parents=originals)
        client = options.get("client") or _openai_client(first, options)
        rec = _LoopRecorder(
            recorder.home if recorder is not None else home,
            originals,
            recorder.privacy if recorder is not None else None,
        )
        try:
            result = agent.run_agent(
                client,
                request,
                tools,
                recorder=rec,
                max_turns=max_turns or len(loop) + 1,
                followup=followup or None,
            )
        except RunidError:
            raise
        except Exception as exc:
            raise InputError(
                f"the agent replay failed: {type(exc).__name__}: {exc}",
                hint="check --endpoint and that the model server is reachable",
                code="E_REPLAY_FAILED",
            ) from exc
        reports: list[ReplayReport] = []
        mapped: dict[str, str] = {}  # the replay's identifiers -> the original's
        for (_index, record, declaration), turn in zip(loop, result.turns, strict=False):
            run = turn.run
            if run.record is None or run.declaration is None or not run.recorded:
                raise InputError(
                    "a replayed model call was not recorded", code="E_REPLAY_UNAVAILABLE"
                )
            comparison = diff_compare(
                _Side.of(record, declaration), _linked_side(run.declaration, run.record, mapped)
            )
            ids_only = bool(comparison.outcome) and _only_call_ids_differ(record, run.record, fetch)
            reports.append(
                ReplayReport(
                    adapter.ENGINE, record, run.record, run.entry_index, comparison, ids_only
                )
            )
            mapped[run.record["execution_id"]] = record["execution_id"]
            ours, theirs = _call_ids(run.record, fetch), _call_ids(record, fetch)
            mapped.update(zip(ours, theirs, strict=False))
    return AgentReplayReport(
        tuple(reports), len(loop), len(result.turns), sum(len(t.steps) for t in result.turns)
    )


def _openai_client(declaration: Mapping[str, Any], options: Mapping[str, Any]) -> Any:
    import os

    import openai

    endpoint = declaration["model"].get("endpoint")
    base_url = options.get("base_url") or (endpoint if isinstance(endpoint, str) else None)
    if not base_url:
        raise InputError(
            "the declaration has no endpoint: give the base URL to replay against",
            hint="runid replay --agent EXECUTION --endpoint URL",
            code="E_REPLAY_FAILED",
        )
    key = options.get("api_key") or os.environ.get("OPENAI_API_KEY") or "unused"
    return openai.OpenAI(base_url=str(base_url), api_key=key, max_retries=0)
