"""The SQLite log store: what is SQLite's own (file, pragmas, schema migrations, locking, and
detection of a database altered behind runid's back). The store contract runs against it in
``test_store_contract.py``."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from runid.errors import FileAccessError, InputError, VerificationError
from runid.merkle import leaf_hash
from runid.store import MAX_PROBLEMS, default_home, open_store
from runid.store.migrations import APPLICATION_ID, MIGRATIONS, Migration
from runid.store.sqlite import LOG_FILE, SQLiteStore
from store_contract import leaves


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def store(home: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore.open(home) as store:
        yield store


def raw(home: Path) -> sqlite3.Connection:
    """A plain connection to the log, as someone with a sqlite3 shell would have."""
    return sqlite3.connect(home / LOG_FILE, isolation_level=None)


# --- where the log lives ---------------------------------------------------------------------


def test_the_log_is_one_file_in_a_private_home_directory(tmp_path: Path) -> None:
    home = tmp_path / "a" / "b" / "home"
    with open_store(home) as store:
        store.append([b"x"])
    assert (home / LOG_FILE).is_file()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_the_log_files_are_private_to_the_user(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)  # a --home others may list
    with open_store(tmp_path) as store:
        store.append([b"x"])
        for name in (LOG_FILE, LOG_FILE + "-wal", LOG_FILE + "-shm"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


def test_an_existing_home_directory_keeps_its_mode(tmp_path: Path) -> None:
    tmp_path.chmod(0o750)
    open_store(tmp_path).close()
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o750


def test_runid_home_overrides_the_xdg_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNID_HOME", "/srv/runid")
    monkeypatch.setenv("XDG_DATA_HOME", "/xdg")
    assert default_home() == Path("/srv/runid")
    monkeypatch.setenv("RUNID_HOME", "~/runid")
    assert default_home() == Path.home() / "runid"


def test_the_default_home_follows_xdg_data_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNID_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", "/xdg")
    assert default_home() == Path("/xdg/runid")
    monkeypatch.setenv("HOME", "/home/someone")
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")  # the XDG spec says to ignore it
    assert default_home() == Path("/home/someone/.local/share/runid")
    monkeypatch.setenv("RUNID_HOME", "")  # empty counts as unset
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_home() == Path("/home/someone/.local/share/runid")


def test_without_create_a_missing_log_is_an_error_and_nothing_is_created(home: Path) -> None:
    with pytest.raises(FileAccessError) as info:
        open_store(home, create=False)
    assert info.value.code == "E_STORE"
    assert "--home" in (info.value.hint or "")
    assert not home.exists()
    open_store(home).close()
    open_store(home, create=False).close()


def test_a_home_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileAccessError) as info:
        open_store(tmp_path / "file")
    assert "not a directory" in info.value.message


# --- SQLite configuration --------------------------------------------------------------------


def test_the_log_uses_wal_and_syncs_every_commit(store: SQLiteStore) -> None:
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone() == (b"wal",)  # TEXT reads as bytes
    assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000


def test_a_locked_log_gives_a_clear_error_after_the_busy_timeout(home: Path) -> None:
    SQLiteStore.open(home).close()
    blocker = raw(home)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with SQLiteStore.open(home, busy_timeout=0.05) as store:
            assert store.size() == 0  # readers are not blocked by a writer in WAL mode
            with pytest.raises(FileAccessError) as info:
                store.append([b"x"])
            assert info.value.code == "E_STORE_BUSY"
            assert "write lock" in (info.value.hint or "")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


# --- schema migrations -----------------------------------------------------------------------


def test_migrations_are_recorded_by_number_and_name(home: Path, store: SQLiteStore) -> None:
    conn = raw(home)
    rows = conn.execute("SELECT number, name FROM schema_migrations ORDER BY number").fetchall()
    assert rows == [(m.number, m.name) for m in MIGRATIONS]
    assert [m.number for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert conn.execute("PRAGMA user_version").fetchone() == (MIGRATIONS[-1].number,)
    assert conn.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)


def test_a_new_migration_is_applied_once_on_open(home: Path) -> None:
    with SQLiteStore.open(home) as store:
        store.append([b"kept"])
    later = (*MIGRATIONS, Migration(len(MIGRATIONS) + 1, "0099_extra", "CREATE TABLE extra (x);"))
    for _ in range(2):
        SQLiteStore.open(home, migrations=later).close()
    conn = raw(home)
    assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (len(later),)
    assert conn.execute("SELECT count(*) FROM extra").fetchone() == (0,)
    with SQLiteStore.open(home, migrations=later) as store:
        assert store.entry(0) == b"kept"


def test_a_failing_migration_is_rolled_back_completely(home: Path) -> None:
    SQLiteStore.open(home).close()
    broken = Migration(
        len(MIGRATIONS) + 1,
        "0099_broken",
        "CREATE TABLE half (x);\nINSERT INTO no_such_table VALUES (1);\n",
    )
    with pytest.raises(FileAccessError):
        SQLiteStore.open(home, migrations=(*MIGRATIONS, broken))
    conn = raw(home)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchone() is None
    assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (len(MIGRATIONS),)
    SQLiteStore.open(home).close()  # the log is still usable by this runid


def test_a_log_from_a_newer_runid_is_refused(home: Path) -> None:
    SQLiteStore.open(home).close()
    conn = raw(home)
    conn.execute("INSERT INTO schema_migrations VALUES (99, '0099_from_the_future', 'later')")
    with pytest.raises(FileAccessError) as info:
        SQLiteStore.open(home)
    assert info.value.code == "E_STORE_SCHEMA"
    assert "newer runid" in info.value.message
    assert "upgrade runid" in (info.value.hint or "")


def test_a_log_with_an_unknown_migration_is_refused(home: Path) -> None:
    SQLiteStore.open(home).close()
    raw(home).execute("UPDATE schema_migrations SET name = '0001_other' WHERE number = 1")
    with pytest.raises(FileAccessError) as info:
        SQLiteStore.open(home)
    assert info.value.code == "E_STORE_SCHEMA"


def test_another_programs_database_is_not_taken_over(home: Path) -> None:
    home.mkdir()
    conn = raw(home)
    conn.execute("CREATE TABLE theirs (x)")
    conn.close()
    with pytest.raises(FileAccessError) as info:
        SQLiteStore.open(home)
    assert "not a runid log" in info.value.message
    assert raw(home).execute("SELECT name FROM sqlite_master").fetchall() == [("theirs",)]


def test_a_file_that_is_not_sqlite_is_refused(home: Path) -> None:
    home.mkdir()
    (home / LOG_FILE).write_bytes(b"this is not a database" * 100)
    with pytest.raises(FileAccessError) as info:
        SQLiteStore.open(home)
    assert info.value.code == "E_STORE"
    assert "restore it from a backup" in (info.value.hint or "")


# --- the database altered behind runid's back -------------------------------------------------


def test_sql_edits_of_the_log_are_refused(home: Path, store: SQLiteStore) -> None:
    store.append(leaves(4))
    store.save_checkpoint(4, b"note")
    conn = raw(home)
    for sql in (
        "UPDATE entries SET data = x'00' WHERE idx = 0",
        "DELETE FROM entries WHERE idx = 3",
        "UPDATE nodes SET hash = zeroblob(32)",
        "DELETE FROM nodes",
        "UPDATE checkpoints SET note = x'00'",
        "DELETE FROM checkpoints",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(sql)
    assert store.audit().ok


def tamper(home: Path, *statements: str) -> None:
    """Change the log with the append-only triggers out of the way, as an attacker could."""
    conn = raw(home)
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    for name, _ in triggers:
        conn.execute(f"DROP TRIGGER {name}")
    for sql in statements:
        conn.execute(sql)
    for _, sql in triggers:
        conn.execute(sql)
    conn.close()


@pytest.mark.parametrize(
    ("statements", "problem"),
    [
        (["UPDATE entries SET data = x'00' WHERE idx = 5"], "log entry 5: its data"),
        (["UPDATE entries SET leaf_hash = zeroblob(32) WHERE idx = 5"], "log entry 5: its data"),
        (["UPDATE entries SET data = 'text' WHERE idx = 5"], "log entry 5: its data"),
        (["DELETE FROM entries WHERE idx = 20"], "log entries 20..20 are missing"),
        (["UPDATE nodes SET hash = zeroblob(32) WHERE level = 2 AND idx = 1"], "(2, 1) does not"),
        (["DELETE FROM nodes WHERE level = 4 AND idx = 0"], "(4, 0..0) are missing"),
        (["INSERT INTO nodes VALUES (1, 999, zeroblob(32))"], "27 subtree hashes are stored"),
        (["UPDATE tree_state SET compact = randomblob(length(compact))"], "sequencing state"),
        (["UPDATE checkpoints SET root = zeroblob(32)"], "1 checkpoint(s), the first for size 30"),
        (["INSERT INTO checkpoints VALUES (0, zeroblob(32), x'00')"], "for size 0"),
        (["INSERT INTO checkpoints VALUES (31, zeroblob(32), x'00')"], "for size 31"),
        (["UPDATE blobs SET data = x'00'"], "blob sha256:"),
        (
            [
                "DELETE FROM entries WHERE idx = 29",
                "DELETE FROM nodes WHERE level = 1 AND idx = 14",
            ],
            "log entries 29..29 are missing",
        ),
    ],
)
def test_audit_finds_any_change_to_the_stored_tree(
    home: Path, store: SQLiteStore, statements: list[str], problem: str
) -> None:
    store.append(leaves(30))
    store.save_checkpoint(30, b"note")
    store.put_blob(b"blob")
    assert store.audit().ok
    tamper(home, *statements)
    with pytest.raises(VerificationError) as info:
        store.audit()  # fails closed by default
    assert info.value.code == "E_STORE_CORRUPT"
    report = store.audit(check=False)
    assert not report.ok
    assert any(problem in found for found in report.problems), report.problems
    assert report.problems[0] in info.value.message


def test_audit_names_every_bad_entry(home: Path, store: SQLiteStore) -> None:
    store.append(leaves(64))
    tamper(home, "UPDATE entries SET data = x'00' WHERE idx IN (3, 17, 60)")
    report = store.audit(check=False)
    assert report.problems == tuple(
        f"log entry {i}: its data does not hash to its stored leaf hash" for i in (3, 17, 60)
    )


def test_audit_lists_at_most_max_problems(home: Path, store: SQLiteStore) -> None:
    store.append(leaves(MAX_PROBLEMS + 50))
    tamper(home, "UPDATE entries SET data = CAST(x'00' || data AS BLOB)")
    problems = store.audit(check=False).problems
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1] == "... and 50 more problems"


def test_reads_fail_closed_on_a_changed_leaf_or_blob(home: Path, store: SQLiteStore) -> None:
    store.append(leaves(8))
    digest = store.put_blob(b"blob")
    tamper(home, "UPDATE entries SET data = x'00' WHERE idx = 3", "UPDATE blobs SET data = x'00'")
    with pytest.raises(VerificationError):
        store.entry(3)
    with pytest.raises(VerificationError):
        store.get_blob(digest)
    assert store.entry(2) == leaves(8)[2]


def test_a_missing_subtree_hash_fails_proofs_closed(home: Path, store: SQLiteStore) -> None:
    store.append(leaves(8))
    tamper(home, "DELETE FROM nodes WHERE level = 2 AND idx = 1")
    with pytest.raises(VerificationError) as info:
        store.inclusion_proof(0, 8)
    assert "(2, 1)" in info.value.message
    with pytest.raises(VerificationError):
        store.consistency_proof(4, 8)
    assert store.root(8) == store.root()  # (3, 0) itself is intact


def test_a_state_that_disagrees_with_the_entries_stops_appends(
    home: Path, store: SQLiteStore
) -> None:
    store.append(leaves(4))
    # A well-formed state for 2 leaves: the next index (2) collides with a stored entry.
    tamper(
        home,
        "UPDATE tree_state SET size = 2,"
        " compact = (SELECT hash FROM nodes WHERE level = 1 AND idx = 0)",
    )
    with pytest.raises(VerificationError) as info:
        store.append([b"new"])
    assert info.value.code == "E_STORE_CORRUPT"
    assert store.index_of(leaf_hash(b"new")) is None


def test_input_errors_are_not_storage_errors(store: SQLiteStore) -> None:
    with pytest.raises(InputError) as info:
        store.entry(0)
    assert not isinstance(info.value, FileAccessError)
