"""``Log.audit`` checks what lookups and SQLite rely on, not only the tree (issue 12, defects 3
and 4): the derived lookup indexes are rebuilt from the entries and blobs and compared, SQLite's
own structure is checked (``PRAGMA integrity_check``), and every stored checkpoint note is
verified, not only the latest.

Each test tampers with the database the way someone without the key can (a SQLite shell, a
byte flip), shows the harm (a lookup that silently answers "none" or "not stored", a blob that
cannot be read back), and requires audit to name it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from runid.examples import example
from runid.home import Home
from runid.identity import compute_identity
from runid.log import AuditFinding, Log
from runid.store.memory import MemoryStore


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/audit")
    return home


DECL = example("chat-hosted-model")
DECL_ID = compute_identity(DECL).declaration_id


def three_runs(home: Home) -> None:
    with Log.open(home) as log:
        log.checkpoint_interval = 0  # a checkpoint per append: several notes to audit
        for i in range(3):
            log.record_run(DECL, output=b"answer %d" % i)
        log.record_run(example("rag-retrieved-chunks"), output=b"other")
        log.refresh_lookups()
        assert log.audit() == []


def sql(home: Home, *statements: str) -> None:
    conn = sqlite3.connect(home.path / "log.sqlite3", isolation_level=None)
    for statement in statements:
        conn.execute(statement)
    conn.close()


def audit(home: Home) -> list[AuditFinding]:
    with Log.open(home, need_key=False) as log:
        return log.audit()


def runs_of(home: Home) -> list[int]:
    with Log.open(home, need_key=False) as log:
        return [entry.index for entry in log.entries_of(DECL_ID)]


def said(findings: list[AuditFinding], *words: str) -> bool:
    return any(all(w in f"{f.where}: {f.problem}" for w in words) for f in findings)


# --- defect 3: the lookup indexes ---------------------------------------------------------------


def test_a_deleted_record_index_row_hides_a_run_and_audit_says_so(home: Home) -> None:
    three_runs(home)
    sql(home, "DELETE FROM record_index WHERE idx = 1")
    assert runs_of(home) == [0, 2]  # 'runid check DECL_ID' would skip entry 1
    findings = audit(home)
    assert said(findings, "lookup index", "entry 1", "missing")


def test_a_record_index_row_moved_to_another_declaration_is_found(home: Home) -> None:
    three_runs(home)
    other = compute_identity(example("rag-retrieved-chunks")).declaration_id
    sql(home, f"UPDATE record_index SET declaration_id = X'{other[7:]}' WHERE idx = 2")
    assert runs_of(home) == [0, 1]
    assert said(audit(home), "lookup index", "entry 2")


def test_a_lookup_state_past_the_log_is_found(home: Home) -> None:
    three_runs(home)
    sql(home, "UPDATE lookup_state SET entries = 10")
    with Log.open(home) as log:
        log.record_run(DECL, output=b"later")  # entry 4: indexed by its append (ADR 0017)
        log.store.append([b"a leaf appended past Log"])  # entry 5: the catch-up would skip it
    assert runs_of(home) == [0, 1, 2, 4]
    findings = audit(home)
    assert said(findings, "lookup", "10", "6 entries")


def test_a_poisoned_row_ahead_of_the_mark_is_found_before_it_is_used(home: Home) -> None:
    # A wrong row for an entry not indexed yet: the refresh keeps existing rows (OR IGNORE), so
    # it would hide that entry for ever.
    three_runs(home)
    other = compute_identity(example("rag-retrieved-chunks")).declaration_id
    sql(
        home,
        f"INSERT INTO record_index VALUES (4, X'{'00' * 32}', X'{other[7:]}')",
    )
    with Log.open(home) as log:
        log.record_run(DECL, output=b"later")
    assert runs_of(home) == [0, 1, 2]
    assert said(audit(home), "lookup index", "entry 4")


def test_a_deleted_declaration_index_row_makes_it_not_stored_and_audit_says_so(
    home: Home,
) -> None:
    three_runs(home)
    sql(home, f"DELETE FROM declaration_index WHERE declaration_id = X'{DECL_ID[7:]}'")
    with Log.open(home, need_key=False) as log:
        assert log.declaration(DECL_ID) is None  # 'not stored', wrongly
    assert said(audit(home), "lookup index", DECL_ID, "missing")


def test_a_declaration_index_row_pointing_elsewhere_is_found(home: Home) -> None:
    three_runs(home)
    sql(
        home,
        f"UPDATE declaration_index SET blob_digest = X'{'11' * 32}'"
        f" WHERE declaration_id = X'{DECL_ID[7:]}'",
    )
    assert said(audit(home), "lookup index", DECL_ID)


def test_a_blob_mark_past_the_blobs_is_found(home: Home) -> None:
    three_runs(home)
    sql(home, "UPDATE lookup_state SET blobs = 1000")
    assert said(audit(home), "lookup", "1000")


def test_an_untouched_log_and_a_log_not_yet_indexed_audit_clean(home: Home) -> None:
    with Log.open(home) as log:
        for i in range(5):
            log.record_run(DECL, output=b"%d" % i)
        assert log.audit() == []  # nothing indexed yet: nothing to compare, nothing missing
        log.refresh_lookups()
        assert log.audit() == []
    memory = Log(MemoryStore(), home.signing_key(), home.public_key())
    for i in range(3):
        memory.record_run(DECL, output=b"%d" % i)
    memory.refresh_lookups()
    assert memory.audit() == []
    assert [e.index for e in memory.entries_of(DECL_ID)] == [0, 1, 2]


# --- defect 4: SQLite's integrity and every checkpoint -------------------------------------------


def test_a_flipped_byte_in_an_old_checkpoint_note_is_found(home: Home) -> None:
    three_runs(home)
    # The checkpoint of size 2 (not the latest): flip one character of its signature line.
    conn = sqlite3.connect(home.path / "log.sqlite3", isolation_level=None)
    (note,) = conn.execute("SELECT note FROM checkpoints WHERE size = 2").fetchone()
    flipped = bytearray(note)
    flipped[-10] = ord("A") if flipped[-10] != ord("A") else ord("B")
    conn.execute("DROP TRIGGER checkpoints_append_only_update")
    conn.execute("UPDATE checkpoints SET note = ? WHERE size = 2", (bytes(flipped),))
    conn.close()
    findings = audit(home)
    assert said(findings, "checkpoint at size 2")
    assert not said(findings, "checkpoint at size 4")


def test_an_old_checkpoint_whose_note_states_another_root_is_found(home: Home) -> None:
    three_runs(home)
    conn = sqlite3.connect(home.path / "log.sqlite3", isolation_level=None)
    (note3,) = conn.execute("SELECT note FROM checkpoints WHERE size = 3").fetchone()
    conn.execute("DROP TRIGGER checkpoints_append_only_update")
    # A validly signed note, but of another size, filed under size 1.
    conn.execute("UPDATE checkpoints SET note = ? WHERE size = 1", (note3,))
    conn.close()
    assert said(audit(home), "checkpoint at size 1")


def test_a_damaged_blob_key_is_found_by_the_audit(home: Home) -> None:
    # A byte flip in the key index SQLite uses to find a blob by its digest (ADR 0020): the
    # blob is still in its table (a table scan re-hashes it fine), but no lookup finds it any
    # more. The page stays well-formed, so SQLite's own integrity check passes; the audit's
    # fingerprint of the key index against the tables does not.
    with Log.open(home) as log:
        entry = log.record_run(DECL, output=b"the only copy of this answer")
    digest = entry.record["outcome"]["outputs"][0]["digest"]
    path = home.path / "log.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (root,) = conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'key_index_0'"
    ).fetchone()
    (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    data = bytearray(path.read_bytes())
    page = slice((root - 1) * page_size, root * page_size)
    raw = bytes.fromhex(digest[7:])
    at = data[page].find(raw)
    assert at >= 0, "the digest is in its key index page"
    data[(root - 1) * page_size + at + 31] ^= 0x01
    path.write_bytes(bytes(data))
    with Log.open(home, need_key=False) as log:
        assert log.content(digest) is None  # unretrievable
        findings = log.audit()
    assert said(findings, "store", "key index does not match the blobs")


# --- what the audit reads, on both backends ------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "memory"])
def test_the_rows_the_audit_compares(
    home: Home, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runid.store.sqlite

    monkeypatch.setattr(runid.store.sqlite, "_PAGE", 2)  # every read below spans pages
    log = (
        Log.open(home)
        if backend == "sqlite"
        else Log(MemoryStore(), home.signing_key(), home.public_key())
    )
    log.checkpoint_interval = 0  # a checkpoint per append (ADR 0019's default is per second)
    entries = [
        log.record_run(DECL if i % 2 else example("agent-step-with-tools"), output=b"%d" % i)
        for i in range(5)
    ]
    log.refresh_lookups()
    store = log.store
    assert list(store.iter_record_lookups()) == [
        (e.index, e.record["execution_id"], e.record["declaration_id"]) for e in entries
    ]
    declarations = dict(store.iter_declaration_lookups())
    assert set(declarations) == {DECL_ID, entries[0].record["declaration_id"]}
    assert [cp.size for cp in store.iter_checkpoints()] == [1, 2, 3, 4, 5]
    assert log.audit() == []
    log.close()
