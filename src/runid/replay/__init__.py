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
tool results instead of calling the tools.

A run recorded elsewhere replays from its **receipt** (:func:`replay_receipt`): verified with
the issuing log's public key, its contents read from a directory of files named by digest
(:func:`export_contents` writes one from the log, ``runid log export-contents``), the replay
recorded in this home. The original log is neither needed nor written. Only
:func:`replay`, :func:`replay_agent`, :func:`replay_receipt` and :func:`export_contents` do
I/O.

The modules:

* :mod:`runid.replay.engines`: the :class:`ReplayEngine` protocol every adapter implements, and
  the registry of engine names (adapters are imported only when a run of theirs is replayed,
  so that ``import runid`` stays light);
* :mod:`runid.replay.report`: :func:`compare` and the reports (pure, through
  :func:`runid.diff.compare`);
* :mod:`runid.replay.render`: the human form of a report.

>>> sorted(ENGINES)
['llama.cpp', 'openai-compatible', 'python-tool', 'transformers']
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..capture import Recorder, Run
from ..errors import E_REPLAY_FAILED, E_REPLAY_UNAVAILABLE, InputError, RunidError
from ..home import Home
from ..log import Log
from ..wire import Record
from ._declaration import absent_reason, previous_call
from ._portable import directory_fetcher, export_contents, replay_receipt
from ._run import blob_fetcher, first_of, load_declaration, replay_call
from .engines import ENGINES, ReplayEngine, adapter_for, engine_of, register_engine
from .render import render, render_agent
from .report import (
    AGENT_REPORT_FORMAT,
    REPORT_FORMAT,
    VERDICTS,
    AgentReplayReport,
    ReplayReport,
    compare,
    tool_call_ids,
)

__all__ = [
    "AGENT_REPORT_FORMAT",
    "ENGINES",
    "REPORT_FORMAT",
    "VERDICTS",
    "AgentReplayReport",
    "ReplayEngine",
    "ReplayReport",
    "adapter_for",
    "blob_fetcher",
    "compare",
    "directory_fetcher",
    "engine_of",
    "export_contents",
    "load_declaration",
    "register_engine",
    "render",
    "render_agent",
    "replay",
    "replay_agent",
    "replay_receipt",
]


def replay(
    home: Home | Log,
    execution_id: str,
    *,
    recorder: Recorder | None = None,
    contents: str | os.PathLike[str] | None = None,
    **options: Any,
) -> ReplayReport:
    """Replay execution ``execution_id`` of the log in ``home`` and compare.

    The new run is recorded in the same home (or in ``recorder``'s home, with its privacy
    mode) with ``replay_of`` set to ``execution_id``. Contents come from the log's blob store,
    then from the directory ``contents`` (files named by digest: a run recorded digests-only
    replays when its contents are given). ``options`` go to the engine's
    :meth:`~ReplayEngine.replay` (e.g. ``base_url`` for an OpenAI-compatible endpoint, default
    the original's ``observed.endpoint``; ``model_path`` for a local model file or directory).
    :func:`replay_receipt` replays a run of another log from its receipt.
    """
    log = home if isinstance(home, Log) else Log.open(home, need_key=False)
    try:
        original = log.entry(execution_id).record
        declaration = load_declaration(log, original["declaration_id"])
        fetch = blob_fetcher(log)
        if contents is not None:
            fetch = first_of(fetch, directory_fetcher(contents))
        report = replay_call(
            original,
            declaration,
            fetch,
            home=recorder.home if recorder is not None else _home_of(home),
            privacy=recorder.privacy if recorder is not None else None,
            options=options,
        )
    finally:
        if not isinstance(home, Log):
            log.close()
    return report


def _home_of(home: Home | Log) -> Home:
    if isinstance(home, Home):
        return home
    raise InputError("replay into an open Log needs a recorder= for the new run")


# --- agent loops ------------------------------------------------------------------------------


def _original_loop(log: Log, execution_id: str) -> list[tuple[int, Record, Mapping[str, Any]]]:
    """The model calls of the loop ``execution_id`` belongs to, first to last, as
    ``(log index, record, declaration)``: back along ``previous_call`` links to the first call,
    then forward through the log to each call that names the last one as its previous call."""
    entry = log.entry(execution_id)
    declaration = load_declaration(log, entry.record["declaration_id"])
    while (previous := previous_call(declaration)) is not None:
        entry = log.entry(previous)
        declaration = load_declaration(log, entry.record["declaration_id"])
    loop: list[tuple[int, Record, Mapping[str, Any]]] = [(entry.index, entry.record, declaration)]
    for index in range(entry.index + 1, log.size()):
        record = log.entry(index).record
        if absent_reason(record["parent"]) is None or "replay_of" in record:
            continue  # a tool step, or an earlier replay of this loop
        stored = log.declaration(record["declaration_id"])
        if stored is not None and previous_call(stored) == loop[-1][1]["execution_id"]:
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
    original's ``observed.endpoint``) and ``api_key``, as
    :func:`runid.integrations.openai.replay_client` takes them; the served model as
    :func:`runid.integrations.openai.create_chat` takes it (``served_model``, default: the
    probe of the server software the original names; ``model_files`` or ``model_path``;
    ``model_digest``). What the application declared (``context``, ``template``,
    ``truncation``, ``runtime.code``) is declared again as recorded.
    """
    from ..integrations import agent, served
    from ..integrations import openai as adapter

    with Log.open(home, need_key=False) as log:
        loop = _original_loop(log, execution_id)
        first = loop[0][2]
        if engine_of(first) != adapter.ENGINE:
            raise InputError(
                f"an agent loop replays over an OpenAI-compatible client; this run's engine is "
                f"{engine_of(first)!r}",
                code=E_REPLAY_UNAVAILABLE,
            )
        fetch = blob_fetcher(log)
        request = adapter.request_from_declaration(first, fetch)
        followup: dict[str, Any] = {}
        if len(loop) > 1:
            later = adapter.request_from_declaration(loop[1][2], fetch)
            followup = {k: v for k, v in later.items() if k != "messages" and request.get(k) != v}
        originals = [record["execution_id"] for _i, record, _d in loop]
        tools = agent.RecordedTools.from_log(log, parents=originals)
        client = adapter.replay_client(
            first,
            client=options.get("client"),
            base_url=options.get("base_url"),
            api_key=options.get("api_key"),
            record=loop[0][1],  # where the original loop went: its observed endpoint
        )
        # What the application declared (context, template, truncation, its revision) is
        # declared again as recorded; the served model is asked again as the original did.
        declares = adapter.declared_conditions(first, fetch)
        probe = options.get("served_model") or served.probe_for(first)
        if probe is not None:
            declares["served_model"] = probe
        files = options.get("model_files")
        if files is None and options.get("model_path") is not None:
            files = [options["model_path"]]
        if files is not None:
            declares["model_files"] = files
        if options.get("model_digest") is not None:
            declares["model_digest"] = options["model_digest"]
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
                **declares,
            )
        except RunidError:
            raise
        except Exception as exc:
            raise InputError(
                f"the agent replay failed: {type(exc).__name__}: {exc}",
                hint="check --endpoint and that the model server is reachable",
                code=E_REPLAY_FAILED,
            ) from exc
        finally:
            if client is not options.get("client"):
                client.close()  # a client this replay made: close its connections
        reports: list[ReplayReport] = []
        linked: dict[str, str] = {}  # the replay's identifiers -> the original's
        for (_index, record, declaration), turn in zip(loop, result.turns, strict=False):
            run = turn.run
            if run.record is None or run.declaration is None or not run.recorded:
                raise InputError(
                    "a replayed model call was not recorded", code=E_REPLAY_UNAVAILABLE
                )
            reports.append(
                compare(
                    record,
                    declaration,
                    run.record,
                    run.declaration,
                    replay_index=run.entry_index,
                    engine=adapter.ENGINE,
                    fetch=fetch,
                    linked_ids=linked,
                )
            )
            linked[run.record["execution_id"]] = record["execution_id"]
            ours, theirs = tool_call_ids(run.record, fetch), tool_call_ids(record, fetch)
            linked.update(zip(ours, theirs, strict=False))
    return AgentReplayReport(
        tuple(reports), len(loop), len(result.turns), sum(len(t.steps) for t in result.turns)
    )
