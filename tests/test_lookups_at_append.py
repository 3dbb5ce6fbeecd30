"""The lookup indexes are written with each append (ADR 0017): no catch-up at read time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runid import canonical
from runid.errors import InputError
from runid.examples import example
from runid.home import Home
from runid.identity import compute_identity
from runid.log import Log
from runid.store import AppendLookups, LogStore
from runid.store.memory import MemoryStore


@pytest.fixture(params=["sqlite", "memory"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Log:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/lookups")
    opened = Log.open(home)
    if request.param == "memory":
        opened.store.close()
        opened.store = MemoryStore()
    return opened


def _no_catch_up(log: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        pytest.fail("the lookups had to catch up at read time")

    monkeypatch.setattr(log.store, "add_lookups", refuse)


def test_runs_appended_through_the_log_are_found_without_a_catch_up(
    log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    declarations = [example("chat-hosted-model"), example("rag-retrieved-chunks")]
    with log:
        first = log.record_run(declarations[0], output=b"one")
        # A batch signed by the log (not verified again) with its content, as an import does.
        envelopes = []
        for i in range(5):
            entry = log.record_run(declarations[i % 2], output=b"%d" % i)
            envelopes.append(entry)
        key = log.key
        assert key is not None
        _no_catch_up(log, monkeypatch)
        assert log.store.lookup_state() == (log.size(), log.store.max_blob_rowid())
        assert log.entry(first.record["execution_id"]).index == 0
        assert [e.index for e in log.entries_of(first.record["declaration_id"])] == [0, 1, 3, 5]
        for declaration in declarations:
            assert log.declaration(compute_identity(declaration).declaration_id) == declaration
        assert log.audit() == []


def test_a_batch_of_envelopes_signed_by_the_log_is_indexed(
    log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runid.digest import content_ref
    from runid.record import new_record

    declaration = example("chat-hosted-model")
    declaration_id = compute_identity(declaration).declaration_id
    with log:
        key = log.key
        assert key is not None
        now = "2026-01-01T00:00:00Z"
        records = [
            new_record(
                declaration_id,
                issuer=key,
                started_at=now,
                ended_at=now,
                outputs=[content_ref(b"%d" % i, "text/plain")],
            )
            for i in range(4)
        ]
        envelopes = [log.sign(r) for r in records]
        indices = log.append(envelopes, blobs=[canonical.canonicalize(declaration)])
        assert indices == [0, 1, 2, 3]
        _no_catch_up(log, monkeypatch)
        assert log.store.find_execution(records[2]["execution_id"]) == 2
        assert log.store.find_records(declaration_id) == [0, 1, 2, 3]
        assert log.declaration(declaration_id) == declaration


def test_a_lagging_mark_stays_and_the_catch_up_fills_the_gap(log: Log) -> None:
    with log:
        log.store.append([b"not a record, appended past the log"])
        entry = log.record_run(example("chat-hosted-model"), output=b"x")
        assert log.store.lookup_state()[0] == 0  # the leaf before was never indexed
        assert log.entry(entry.record["execution_id"]).index == 1
        assert log.store.lookup_state()[0] == 2


@pytest.mark.parametrize(
    "lookups",
    [
        AppendLookups([]),
        AppendLookups([("sha256:" + "ab" * 32, "not an id")]),
        AppendLookups([None], [("sha256:" + "ab" * 32, "sha256:12")]),
    ],
)
def test_lookups_that_do_not_fit_are_refused_before_anything_is_written(
    log: Log, lookups: AppendLookups
) -> None:
    store: LogStore = log.store
    with log:
        with pytest.raises(InputError):
            store.append([b"leaf"], lookups=lookups)
        assert store.size() == 0
