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
fingerprint). Comparing is pure (:func:`compare`); only :func:`replay` does I/O.

Adapters are found through a small registry of engine names to module paths, imported only when
needed so that ``import runid`` stays light:

>>> sorted(ENGINES)
['llama.cpp', 'openai-compatible', 'transformers']
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

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .capture import Recorder, Run
from .diff import VERDICTS, Change, Comparison, format_value
from .diff import compare as diff_compare
from .digest import content_digest
from .errors import InputError, RunidError
from .home import Home
from .identity import compute_identity
from .log import Log

__all__ = [
    "ENGINES",
    "REPORT_FORMAT",
    "VERDICTS",
    "ReplayReport",
    "adapter_for",
    "compare",
    "engine_of",
    "register_engine",
    "replay",
]

REPORT_FORMAT = "runid/replay-report/v1"
"""The ``format`` value of :meth:`ReplayReport.to_json` (docs/spec.md §18)."""

#: Engine name (``runtime.engine.name`` of a declaration) → the adapter module that replays it.
#: Module paths, not modules: an adapter imports its model library, which must not load until
#: a run of that engine is replayed.
ENGINES: dict[str, str] = {
    "llama.cpp": "runid.integrations.llama_cpp",
    "openai-compatible": "runid.integrations.openai",
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

    @property
    def verdict(self) -> str:
        return self.comparison.verdict

    @property
    def same_declaration(self) -> bool:
        return bool(self.original["declaration_id"] == self.replay["declaration_id"])

    @property
    def same_outcome(self) -> bool:
        return not self.comparison.outcome

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
            "outcome": {"identical": self.same_outcome},
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

    def fetch(digest: str) -> bytes:
        data = log.store.get_blob(digest)
        if data is None:
            raise InputError(
                f"content {digest} is not stored in this log",
                hint="the run was recorded digests-only or keyed, or the content was erased; "
                "replay needs the content itself",
                code="E_CONTENT_MISSING",
            )
        if content_digest(data) != digest:  # a blob store is trusted for nothing
            raise InputError(
                f"the stored content for {digest} has another digest ({content_digest(data)})",
                hint="run 'runid log audit'; the blob store was altered",
                code="E_CONTENT_MISSING",
            )
        return data

    return fetch


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
    finally:
        if not isinstance(home, Log):
            log.close()
    return _report(engine, original, declaration, run)


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
