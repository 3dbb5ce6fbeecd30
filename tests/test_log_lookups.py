"""Lookups by id in the log: execution id -> entry, declaration id -> declaration and entries."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from old_logs import before_migration
from runid.envelope import sign_record, verify_envelope
from runid.errors import InputError, VerificationError
from runid.examples import example
from runid.home import Home
from runid.identity import compute_identity
from runid.log import Log
from runid.record import new_record


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/lookups")
    return home


def test_an_execution_id_finds_its_entry(home: Home) -> None:
    with Log.open(home) as log:
        entries = [
            log.record_run(example("rag-retrieved-chunks"), output=b"%d" % i) for i in range(5)
        ]
        for entry in entries:
            assert log.entry(entry.record["execution_id"]).index == entry.index


def test_a_declaration_id_finds_the_declaration_and_all_its_entries(home: Home) -> None:
    decl = example("agent-step-with-tools")
    did = compute_identity(decl).declaration_id
    with Log.open(home) as log:
        first = log.record_run(decl, output=b"one")
        log.record_run(example("chat-hosted-model"), output=b"other")
        second = log.record_run(decl, output=b"two")
        assert log.declaration(did) == decl
        assert [e.index for e in log.records_of(did)] == [first.index, second.index]


def test_unknown_ids_are_none_or_a_clear_error(home: Home) -> None:
    unknown = "sha256:" + "0" * 64
    with Log.open(home) as log:
        log.record_run(example("chat-hosted-model"), output=b"x")
        assert log.declaration(unknown) is None
        assert log.records_of(unknown) == []
        with pytest.raises(InputError, match="no entry with execution id"):
            log.entry(unknown)
        with pytest.raises(InputError, match="not a declaration id"):
            log.declaration("sha256:abc")


def test_content_is_found_by_its_digest(home: Home) -> None:
    with Log.open(home) as log:
        entry = log.record_run(example("chat-hosted-model"), output=b"the answer")
        assert log.content(entry.record["outcome"]["outputs"][0]["digest"]) == b"the answer"
        assert log.content("sha256:" + "1" * 64) is None


def test_a_log_written_before_the_indexes_is_backfilled_on_first_lookup(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    decl = example("rag-retrieved-chunks")
    # Write a log as an older runid did: no lookup rows at append (straight to the store),
    # then the schema taken back to the initial one.
    with Log.open(home) as old:
        monkeypatch.setattr(old, "_declaration_rows", lambda blobs: [])
        append = old.store.append

        def without_lookups(*args: Any, lookups: Any = None, **kwargs: Any) -> list[int]:
            return append(*args, **kwargs)

        monkeypatch.setattr(old.store, "append", without_lookups)
        entry = old.record_run(decl, output=b"old run")
    before_migration(home.path / "log.sqlite3", 2)
    with Log.open(home) as log:
        assert log.entry(entry.record["execution_id"]).index == entry.index
        assert log.declaration(compute_identity(decl).declaration_id) == decl


def test_runs_appended_by_another_writer_are_found(home: Home) -> None:
    with Log.open(home) as reader, Log.open(home) as writer:
        reader.record_run(example("chat-hosted-model"), output=b"a")
        assert reader.size() == 1
        entry = writer.record_run(example("agent-step-with-tools"), output=b"b")
        assert reader.entry(entry.record["execution_id"]).index == 1


def test_a_tampered_index_row_is_detected_not_trusted(home: Home) -> None:
    with Log.open(home) as log:
        a = log.record_run(example("chat-hosted-model"), output=b"a")
        b = log.record_run(example("chat-hosted-model"), output=b"b")
        log.refresh_lookups()
    conn = sqlite3.connect(home.path / "log.sqlite3", isolation_level=None)
    # The key index (ADR 0020) finds an execution id's entry: point b's at entry a.
    conn.execute(
        "UPDATE key_index_0 SET value = ? WHERE kind = 2 AND key = ?",
        (a.index, bytes.fromhex(b.record["execution_id"][7:])),
    )
    assert conn.total_changes == 1
    conn.close()
    with Log.open(home) as log, pytest.raises(VerificationError, match="lookup index"):
        log.entry(b.record["execution_id"])  # the index now points it at entry a


NOW = datetime(2026, 12, 5, tzinfo=UTC)


def test_an_envelope_in_the_url_safe_alphabet_is_read_like_any_other(home: Home) -> None:
    """DSSE signs the payload's bytes, not their base64: an envelope whose payload is in the
    URL-safe alphabet verifies, and the log's readers (lookups, the workers' path of a long
    log, erasure notices) read its record as verify_envelope does."""
    decl = example("chat-hosted-model")
    declaration_id = compute_identity(decl).declaration_id
    with Log.open(home) as log:
        key = home.signing_key()
        for i in range(200):  # a record whose payload's base64 has a "+" or "/"
            record = new_record(
                declaration_id,
                issuer=key,
                started_at=NOW,
                ended_at=NOW,
                observed={"served_model": f"modèle-{i}?"},
            )
            envelope = sign_record(record, key)
            if "+" in envelope["payload"] or "/" in envelope["payload"]:
                break
        else:
            pytest.fail("no payload with + or / in 200 records")
        urlsafe = {**envelope, "payload": envelope["payload"].translate(str.maketrans("+/", "-_"))}
        assert verify_envelope(urlsafe, log.keyring) == record
        (index,) = log.append([urlsafe])
        assert log.entry(record["execution_id"]).record == record
        (entry,) = log.iter_entries(workers=1)  # the verifying workers' path
        assert (entry.index, entry.record) == (index, record)
        assert log.audit() == []
