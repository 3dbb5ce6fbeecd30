"""Where the pages read runs from: a home's log opened read-only, page by page.

:class:`LocalSource` never loads the log whole. The runs page walks entries **newest first by
log index** (keyset pagination: ``before`` is the smallest index a page showed, ``after`` the
largest, so a page costs the same at entry 10 as at entry 10,000,000):

* with no filter, a page is one range read of the entries store;
* a filter on the declaration (its id, a component digest, the declared model) is answered
  from the store's lookup indexes: the declarations that match (:class:`Catalog`, built from
  the declaration index and kept while the log does not change), then their runs
  (``find_records``), merged in index order;
* the filters on the record (time range, policy result, replay verdict) are checked on the
  entries walked, at most :data:`SCAN_BUDGET` per page: a page can then end early, and says
  where the next one starts.

Lists show what the entries say (decoded, not verified: a list is an index); the run page
verifies everything it shows (:mod:`runid._ui.inspect`).
"""

from __future__ import annotations

import binascii
import bisect
import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson

from ..diff import compare
from ..errors import RunidError
from ..home import Home
from ..identity import compute_identity
from ..log import Log
from ..policy import Policy, evaluate
from ..resolve import Subject
from ..tlog.cosignature import CosignerKey
from ..wire import Declaration, Record
from .query import RunFilters

__all__ = [
    "MAX_PAGE",
    "SCAN_BUDGET",
    "Catalog",
    "DeclarationInfo",
    "LocalSource",
    "Page",
    "RunSummary",
    "peek_record",
    "started",
    "walk_indices",
]

SCAN_BUDGET: Final = 5000
"""The most entries one page walks to check the filters on records."""

MAX_PAGE: Final = 200
"""The most runs one page shows."""

_BATCH: Final = 500


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One run as a list shows it (read from the entry, not verified)."""

    index: int
    execution_id: str
    declaration_id: str
    started_at: str
    status: str
    served_model: str | None
    replay_of: str | None
    record: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Page:
    """A page of runs, newest first; ``older`` / ``newer`` start the next pages (``None``:
    there is none); ``policy`` and ``verdicts`` hold what was computed for the shown runs."""

    runs: list[RunSummary]
    older: int | None
    newer: int | None
    scanned: int
    budget_spent: bool
    policy: dict[int, str] = field(default_factory=dict)
    verdicts: dict[int, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeclarationInfo:
    """What the catalog keeps of a stored declaration."""

    components: dict[str, str]
    models: frozenset[str]
    model: str  # the declared model, for lists ("name version")


def peek_record(data: bytes) -> dict[str, Any] | None:
    """The record inside an entry's envelope, decoded without verifying it (``None`` if the
    entry holds none)."""
    try:
        envelope = orjson.loads(data)
        payload = binascii.a2b_base64(envelope["payload"], strict_mode=True)
        record = orjson.loads(payload)["predicate"]
    except (orjson.JSONDecodeError, binascii.Error, ValueError, KeyError, TypeError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("execution_id"), str):
        return None
    return record


def started(record: dict[str, Any]) -> datetime | None:
    """A record's start time (``None`` if unreadable)."""
    text = record.get("started_at")
    if not isinstance(text, str) or not text.endswith("Z"):
        return None
    head, _, fraction = text[:-1].partition(".")
    try:
        return datetime.fromisoformat(head + "." + fraction[:6].ljust(6, "0")).replace(tzinfo=UTC)
    except ValueError:
        return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _summary(index: int, record: dict[str, Any]) -> RunSummary:
    observed = record.get("observed")
    outcome = record.get("outcome")
    return RunSummary(
        index=index,
        execution_id=str(record.get("execution_id")),
        declaration_id=str(record.get("declaration_id")),
        started_at=str(record.get("started_at", "")),
        status=str(outcome.get("status", "?")) if isinstance(outcome, dict) else "?",
        served_model=_text(observed.get("served_model")) if isinstance(observed, dict) else None,
        replay_of=_text(record.get("replay_of")),
        record=record,
    )


def declaration_models(declaration: Mapping[str, Any]) -> tuple[frozenset[str], str]:
    """The names a declaration's model goes by (name, version), and how a list shows it."""
    model = declaration.get("model")
    if not isinstance(model, dict) or "absent" in model:
        return frozenset(), ""
    names = [v for v in (model.get("name"), model.get("version")) if isinstance(v, str)]
    return frozenset(names), " ".join(names)


def walk_indices(
    log: Log, indices: Sequence[int], before: int | None, after: int | None
) -> Iterator[tuple[int, bytes]]:
    """The entries at ``indices`` (sorted) below ``before`` (downwards) or above ``after``
    (upwards)."""
    store = log.store
    if after is not None:
        for i in indices[bisect.bisect_right(indices, after) :]:
            yield i, store.entry(i)
        return
    top = len(indices) if before is None else bisect.bisect_left(indices, before)
    for i in reversed(indices[:top]):
        yield i, store.entry(i)


class Catalog:
    """The stored declarations: their component digests and model names, by declaration id.

    Built from the declaration lookup index (one blob read and one identity per declaration,
    once); kept while the index does not move.
    """

    def __init__(self) -> None:
        self.infos: dict[str, DeclarationInfo] = {}
        self.state: tuple[int, int] | None = None
        self.lock = threading.Lock()

    def refresh(self, log: Log) -> None:
        state = log.store.lookup_state()
        if state == self.state:
            return
        with self.lock:
            for declaration_id, digest in log.store.iter_declaration_lookups():
                if declaration_id in self.infos:
                    continue
                data = log.store.get_blob(digest)
                if data is None:
                    continue
                try:
                    declaration = orjson.loads(data)
                    components = dict(compute_identity(declaration).components)
                except (orjson.JSONDecodeError, RunidError):
                    continue
                models, shown = declaration_models(declaration)
                self.infos[declaration_id] = DeclarationInfo(components, models, shown)
            self.state = state

    def matching(self, filters: RunFilters) -> set[str]:
        """The declaration ids that match the declaration filters."""
        ids = {filters.declaration_id} if filters.declaration_id is not None else set(self.infos)
        if filters.model is not None:
            ids = {i for i in ids if i in self.infos and filters.model in self.infos[i].models}
        if filters.component is not None:
            digest = filters.component
            ids = {
                i for i in ids if i in self.infos and digest in self.infos[i].components.values()
            }
        return ids


class LocalSource:
    """The runs of one home, read-only; thread-safe (one log per thread)."""

    def __init__(
        self,
        home: Path | Home,
        *,
        policy: Policy | None = None,
        policy_name: str | None = None,
        witnesses: Sequence[CosignerKey] = (),
    ) -> None:
        self.home = home if isinstance(home, Home) else Home(Path(home))
        self.policy = policy
        self.policy_name = policy_name
        self.witnesses = tuple(witnesses)
        self.catalog = Catalog()
        self._local = threading.local()
        self._logs: list[Log] = []
        self._lock = threading.Lock()
        self._indices: dict[tuple[Any, ...], list[int]] = {}
        self._declarations: OrderedDict[str, Declaration | None] = OrderedDict()
        self.log()  # fail now (no keys, no log) rather than on the first page

    # --- the log ---------------------------------------------------------------------------

    def log(self) -> Log:
        """This thread's read-only log, its lookup indexes current."""
        log: Log | None = getattr(self._local, "log", None)
        if log is None:
            log = Log.open(self.home, readonly=True)
            self._local.log = log
            self._local.size = -1
            with self._lock:
                self._logs.append(log)
        size = log.size()
        if size != self._local.size:
            log.refresh_lookups()
            self._local.size = size
        return log

    def close(self) -> None:
        with self._lock:
            for log in self._logs:
                # A connection made on another (pool) thread cannot be closed here: it closes
                # when the thread's log is collected.
                with contextlib.suppress(Exception):
                    log.close()
            self._logs.clear()

    def declaration(self, declaration_id: str) -> Declaration | None:
        """A stored declaration (verified: its id recomputed), remembered for a while."""
        with self._lock:
            if declaration_id in self._declarations:
                self._declarations.move_to_end(declaration_id)
                return self._declarations[declaration_id]
        found = self.log().declaration(declaration_id)
        with self._lock:
            self._declarations[declaration_id] = found
            while len(self._declarations) > 1024:
                self._declarations.popitem(last=False)
        return found

    def info(self, declaration_id: str) -> DeclarationInfo | None:
        """Components and model of a stored declaration (from the catalog, else computed)."""
        found = self.catalog.infos.get(declaration_id)
        if found is not None:
            return found
        declaration = self.declaration(declaration_id)
        if declaration is None:
            return None
        models, shown = declaration_models(declaration)
        return DeclarationInfo(dict(compute_identity(declaration).components), models, shown)

    # --- runs, page by page ----------------------------------------------------------------

    def indices_of(self, log: Log, filters: RunFilters) -> list[int]:
        """The log indices of the runs whose declaration matches, in order (cached while the
        log keeps its size)."""
        key = (log.size(), filters.declaration_id, filters.model, filters.component)
        with self._lock:
            found = self._indices.get(key)
        if found is not None:
            return found
        if filters.model is not None or filters.component is not None:
            self.catalog.refresh(log)
            ids = self.catalog.matching(filters)
        else:
            ids = {filters.declaration_id} if filters.declaration_id else set()
        merged: list[int] = sorted({i for d in ids for i in log.store.find_records(d)})
        with self._lock:
            if len(self._indices) > 32:
                self._indices.clear()
            self._indices[key] = merged
        return merged

    def walk(
        self, log: Log, filters: RunFilters, before: int | None, after: int | None
    ) -> Iterator[tuple[int, bytes]]:
        """Entries in the direction of travel: down from ``before`` or up from ``after``."""
        size = log.size()
        store = log.store
        if filters.by_declaration():
            yield from walk_indices(log, self.indices_of(log, filters), before, after)
            return
        if after is not None:
            start = after + 1
            while start < size:
                stop = min(start + _BATCH, size)
                yield from store.iter_entries(start, stop)
                start = stop
        else:
            stop = size if before is None else min(before, size)
            while stop > 0:
                start = max(stop - _BATCH, 0)
                yield from reversed(list(store.iter_entries(start, stop)))
                stop = start

    def runs(
        self,
        filters: RunFilters,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int = 50,
    ) -> Page:
        """One page of runs that match ``filters``, newest first."""
        log = self.log()
        checks_record = (
            filters.since is not None
            or filters.until is not None
            or filters.policy is not None
            or filters.verdict is not None
        )
        shown: list[RunSummary] = []
        policy: dict[int, str] = {}
        verdicts: dict[int, str] = {}
        scanned = 0
        last = None
        more = False
        for index, data in self.walk(log, filters, before, after):
            if len(shown) >= limit or (checks_record and scanned >= SCAN_BUDGET):
                more = True
                break
            scanned += 1
            last = index
            record = peek_record(data)
            if record is None or (filters.verdict is not None and "replay_of" not in record):
                continue
            run = _summary(index, record)
            if checks_record and not self._keep(run, filters, policy, verdicts):
                continue
            shown.append(run)
        budget_spent = more and len(shown) < limit
        if after is not None:  # walked up: show newest first, as every page does
            shown.reverse()
            newer = last if more else None
            older: int | None = shown[-1].index if shown else after + 1
            older = older or None  # nothing below entry 0
        else:
            older = last if more else None
            newer = None if before is None else (shown[0].index if shown else before - 1)
        if self.policy is not None:
            for run in shown:
                if run.index not in policy:
                    policy[run.index] = self._policy_status(run)
        for run in shown:
            if run.replay_of is not None and run.index not in verdicts:
                verdicts[run.index] = self._verdict(run)
        models = {}
        for run in shown:
            info = self.info(run.declaration_id) if run.declaration_id not in models else None
            if info is not None:
                models[run.declaration_id] = info.model
        return Page(shown, older, newer, scanned, budget_spent, policy, verdicts, models)

    def _keep(
        self,
        run: RunSummary,
        filters: RunFilters,
        policy: dict[int, str],
        verdicts: dict[int, str],
    ) -> bool:
        if filters.since is not None or filters.until is not None:
            when = started(run.record)
            if when is None:
                return False
            if filters.since is not None and when < filters.since:
                return False
            if filters.until is not None and when >= filters.until:
                return False
        if filters.policy is not None:
            status = policy[run.index] = self._policy_status(run)
            if status != filters.policy:
                return False
        if filters.verdict is not None:
            if run.replay_of is None:
                return False
            verdict = verdicts[run.index] = self._verdict(run)
            if verdict != filters.verdict:
                return False
        return True

    def _policy_status(self, run: RunSummary) -> str:
        """The run's result under the policy (``none`` without one; a run whose declaration
        the log does not hold fails: no rule can be shown to hold)."""
        if self.policy is None:
            return "none"
        declaration = self.declaration(run.declaration_id)
        if declaration is None:
            return "fail"
        return evaluate(self.policy, declaration, run.record).status

    def subject(self, execution_id: str, record: Record | None = None) -> Subject:
        """A run as one side of a diff (its record verified)."""
        log = self.log()
        if record is None:
            record = log.entry(execution_id).record
        declaration_id = str(record["declaration_id"])
        declaration = self.declaration(declaration_id)
        origin = f"execution {execution_id}"
        if declaration is None:
            return Subject(
                "execution", origin + ", declaration withheld", declaration_id, None, None, record
            )
        components = compute_identity(declaration).components
        return Subject("execution", origin, declaration_id, components, declaration, record)

    def _verdict(self, run: RunSummary) -> str:
        """How a replay relates to the run it replays (``runid diff`` original replay)."""
        assert run.replay_of is not None
        try:
            original = self.subject(run.replay_of)
            replay = self.subject(run.execution_id)
        except RunidError:
            return "unknown"
        return compare(original, replay).verdict

    # --- drift: one pipeline's runs in order -------------------------------------------------

    def pipeline(self, filters: RunFilters, limit: int) -> tuple[list[RunSummary], int]:
        """The latest ``limit`` runs of a pipeline (runs sharing the declared model, or a
        component digest), oldest first; and how many runs it has in all."""
        log = self.log()
        indices = self.indices_of(log, filters)
        runs = []
        for index in indices[-limit:]:
            record = peek_record(log.store.entry(index))
            if record is not None:
                runs.append(_summary(index, record))
        return runs, len(indices)

    def model_names(self) -> list[str]:
        """The declared model names of the stored declarations (pipelines to pick from)."""
        log = self.log()
        self.catalog.refresh(log)
        names = set()
        for info in self.catalog.infos.values():
            name = info.model.split(" ")[0] if info.model else ""
            if name:
                names.add(name)
        return sorted(names)
