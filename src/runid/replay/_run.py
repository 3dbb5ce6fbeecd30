"""Running one recorded call again: where its contents come from, and the replay step itself.

Private to :mod:`runid.replay`. :func:`replay_call` is what :func:`runid.replay.replay` (a run of
the home's own log) and :func:`runid.replay.replay_receipt` (a run known from its receipt, in
another home) share: pick the adapter, record the new run with ``replay_of``, compare.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..capture import Recorder, Run
from ..digest import checked_fetch
from ..errors import (
    E_CONTENT_ERASED,
    E_CONTENT_MISSING,
    E_NOT_STORED,
    E_REPLAY_FAILED,
    E_REPLAY_UNAVAILABLE,
    InputError,
    RunidError,
)
from ..home import Home
from ..identity import compute_identity
from ..log import Log
from ..wire import Record
from ._declaration import absent_reason
from .engines import adapter_for, engine_of
from .report import ReplayReport, compare

__all__ = ["Fetch", "blob_fetcher", "first_of", "load_declaration", "replay_call"]

Fetch = Callable[[str], bytes]
"""``fetch(digest) -> bytes``: a content by its digest, checked against it."""

#: The engine whose replay reads the original record (its observed endpoint, ADR 0014).
_OPENAI_ENGINE = "openai-compatible"


def blob_fetcher(log: Log) -> Fetch:
    """``fetch(digest) -> bytes`` over the log's blob store, checked against the digest;
    :class:`~runid.errors.InputError` (``E_CONTENT_MISSING``) when the content is not stored."""

    def stored(digest: str) -> bytes:
        data = log.store.get_blob(digest)
        if data is None:
            _check_not_erased(log, digest, "content")
            raise InputError(
                f"content {digest} is not stored in this log",
                hint="the run was recorded digests-only or keyed, or the content was erased; "
                "replay needs the content itself (runid replay --contents DIR gives it)",
                code=E_CONTENT_MISSING,
            )
        return data

    # A blob store is trusted for nothing: every byte is checked against its digest.
    return lambda digest: checked_fetch(stored, digest)


def _check_not_erased(log: Log, digest: str, what: str) -> None:
    """``E_CONTENT_ERASED`` if the log erased the blob ``digest`` (docs/spec.md §20.7)."""
    erasure = log.store.erasure(digest)
    if erasure is not None:
        why = f" ({erasure.reason})" if erasure.reason else ""
        raise InputError(
            f"{what} {digest} was erased from this log at {erasure.erased_at}{why}",
            hint="an erased content cannot be replayed from this log; the run's records and "
            "proofs still verify",
            code=E_CONTENT_ERASED,
        )


def first_of(*fetchers: Fetch) -> Fetch:
    """A fetch that asks each of ``fetchers`` in turn: the first that has the content gives
    it (each checks the bytes against the digest); the last one's ``E_CONTENT_MISSING`` (or
    ``E_CONTENT_ERASED``) when none has it."""

    def fetch(digest: str) -> bytes:
        missing: InputError | None = None
        for one in fetchers:
            try:
                return one(digest)
            except InputError as exc:
                if exc.code not in (E_CONTENT_MISSING, E_CONTENT_ERASED):
                    raise
                missing = exc
        assert missing is not None  # at least one fetcher
        raise missing

    return fetch


def load_declaration(log: Log, declaration_id: str) -> dict[str, Any]:
    """The stored declaration with ``declaration_id``, checked against the id."""
    lookup = getattr(log, "declaration", None)
    found = lookup(declaration_id) if callable(lookup) else None
    if found is None:
        blob = log.store.find_declaration(declaration_id)
        if blob is not None:
            _check_not_erased(log, blob, f"the declaration {declaration_id}, blob")
        raise InputError(
            f"the declaration {declaration_id} is not stored in this log",
            hint="the run was recorded digests-only (or keyed), so it cannot be replayed; "
            "record with privacy mode 'store' to make runs replayable",
            code=E_NOT_STORED,
        )
    declaration = dict(found)
    if compute_identity(declaration).declaration_id != declaration_id:
        raise InputError(
            f"the stored declaration does not have the id {declaration_id}",
            hint="run 'runid log audit'; the blob store was altered",
            code=E_NOT_STORED,
        )
    return declaration


def replay_call(
    original: Record,
    declaration: Mapping[str, Any],
    fetch: Fetch,
    *,
    home: Home,
    privacy: Any = None,
    options: Mapping[str, Any],
) -> ReplayReport:
    """Run the call ``declaration`` describes again through its engine's adapter, recorded in
    ``home`` (its key made if it has none, as every :class:`~runid.capture.Recorder` does) with
    ``replay_of`` naming ``original``, and compare the two runs.

    A step (a record with ``parent``) replays as a step of the same parent and index. The
    OpenAI-compatible adapter is given the original ``record`` (where the original went,
    ``observed.endpoint``), unless ``options`` name one.
    """
    engine = engine_of(declaration)
    adapter = adapter_for(engine)
    given = dict(options)
    if engine == _OPENAI_ENGINE:
        given.setdefault("record", original)
    parent: Mapping[str, Any] = original["parent"]
    if absent_reason(parent) is None:  # a step replays as a step of the same parent
        given.update(parent=parent["execution_id"], step=parent["step"])
    rec = Recorder(
        home,
        on_error="raise",  # a replay that is not recorded is a failed replay
        privacy=privacy,
        replay_of=original["execution_id"],
    )
    try:
        try:
            run = adapter.replay(declaration, fetch, recorder=rec, **given)
        except RunidError:
            raise
        except Exception as exc:  # the model call itself failed: say so, no traceback
            raise InputError(
                f"the {engine} replay failed: {type(exc).__name__}: {exc}",
                hint="check --endpoint / --model-path and that the model is reachable",
                code=E_REPLAY_FAILED,
            ) from exc
    finally:
        rec.close()
    replayed, replayed_declaration = _recorded(run)
    return compare(
        original,
        declaration,
        replayed,
        replayed_declaration,
        replay_index=run.entry_index,
        engine=engine,
        fetch=fetch,
    )


def _recorded(run: Run) -> tuple[Record, Mapping[str, Any]]:
    """The replayed run's record and declaration; an error when it was not recorded."""
    if run.record is None or run.declaration is None or not run.recorded:
        cause = run.failure
        detail = cause.message if isinstance(cause, RunidError) else str(cause or "unknown")
        raise InputError(
            f"the replay ran but was not recorded: {detail}",
            code=E_REPLAY_UNAVAILABLE,
        )
    return run.record, run.declaration
