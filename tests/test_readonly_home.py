"""Read-only homes (issue 12, defect 6): the commands that only read work on a home the process
may not write, such as a snapshot handed to an auditor or a read-only mount.

The store has an explicit read-only open (SQLite ``mode=ro``, ``PRAGMA query_only``): nothing
is created, migrated or written, lookups keep their rows in memory. The real check runs the
command line as a user who cannot write the home (files 0444, directory 0555): as root, through
``setpriv`` as ``nobody`` (root ignores permissions); otherwise as the current user.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from old_logs import before_migration
from runid.errors import E_STORE, FileAccessError
from runid.examples import example
from runid.home import Home
from runid.identity import compute_identity
from runid.keys import Keyring
from runid.log import Log
from runid.receipt import verify_receipt

DECL = example("chat-hosted-model")
DECL_ID = compute_identity(DECL).declaration_id


def make_home(path: Path, runs: int = 3) -> tuple[Home, list[str], bytes]:
    """A home with ``runs`` runs, closed cleanly (no -wal left); its execution ids, and a
    checkpoint taken after the first run."""
    home = Home(path)
    home.init_keys("runid.test/readonly")
    ids = []
    with Log.open(home) as log:
        first = log.record_run(DECL, output=b"answer 0")
        ids.append(first.record["execution_id"])
        old = log.checkpoint()
        for i in range(1, runs):
            ids.append(log.record_run(DECL, output=b"answer %d" % i).record["execution_id"])
    return home, ids, old


def snapshot(home: Home) -> dict[str, tuple[str, float]]:
    """Every file's digest and modification time. A reader on a writable home may leave
    SQLite's shared-memory index and an empty write-ahead log (what concurrent readers of a
    live log need), never anything with content."""
    found = {}
    for path in sorted(home.path.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if path.name.endswith("-shm") or (path.name.endswith("-wal") and not data):
                continue
            found[str(path.relative_to(home.path))] = (
                hashlib.sha256(data).hexdigest(),
                path.stat().st_mtime,
            )
    return found


def test_a_read_only_log_reads_everything_and_writes_nothing(tmp_path: Path) -> None:
    home, ids, old = make_home(tmp_path / "home")
    before = snapshot(home)
    with Log.open(home, readonly=True) as log:
        assert log.readonly and log.key is None
        (query_only,) = log.store._conn.execute("PRAGMA query_only").fetchone()  # type: ignore[attr-defined]
        assert query_only == 1
        assert log.audit() == []
        assert log.entry(ids[2]).index == 2  # lookups by id: rows kept in memory
        assert [e.index for e in log.entries_of(DECL_ID)] == [0, 1, 2]
        assert log.stored_declaration(DECL_ID)[1] == DECL
        receipt = log.receipt(ids[1], include_stored=True)
        verify_receipt(receipt, Keyring([home.public_key()]))
        assert log.checkpoint() == log.current_checkpoint()
        log.consistency(old)
        for write in (
            lambda: log.record_run(DECL, output=b"no"),
            lambda: log.store.put_blob(b"no"),
            lambda: log.store.save_checkpoint(1, old),
        ):
            with pytest.raises(Exception) as raised:
                write()
            if isinstance(raised.value, FileAccessError):
                assert raised.value.code == E_STORE and "read-only" in raised.value.message
    assert snapshot(home) == before  # not a byte of the log, the keys or the index


def test_a_read_only_open_never_creates_or_migrates(tmp_path: Path) -> None:
    home = Home(tmp_path / "keys-only")
    home.init_keys("runid.test/readonly")
    with pytest.raises(FileAccessError, match="no runid log here"):
        Log.open(home, readonly=True)
    assert not (home.path / "log.sqlite3").exists()


def test_a_wal_with_commits_is_read_not_skipped(tmp_path: Path) -> None:
    # A snapshot taken while a writer had the log open: the -wal holds commits the database
    # file does not. A read-only open must read them (or refuse), never silently skip them.
    home, ids, _ = make_home(tmp_path / "home", runs=1)
    writer = sqlite3.connect(home.path / "log.sqlite3")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    with Log.open(home) as log:
        log.store._conn.execute("PRAGMA wal_autocheckpoint = 0")  # type: ignore[attr-defined]
        ids.append(log.record_run(DECL, output=b"in the wal").record["execution_id"])
        copy = tmp_path / "copy"
        shutil.copytree(home.path, copy)  # log.sqlite3 + -wal + -shm, as a snapshot tool would
    writer.close()
    assert (copy / "log.sqlite3-wal").stat().st_size > 0
    with Log.open(Home(copy), readonly=True) as log:
        assert log.size() == 2 and log.entry(ids[1]).index == 1 and log.audit() == []


def test_a_planted_link_is_not_followed_by_a_read_only_open(tmp_path: Path) -> None:
    home, _, _ = make_home(tmp_path / "home", runs=1)
    other, _, _ = make_home(tmp_path / "other", runs=2)
    (home.path / "log.sqlite3").unlink()
    (home.path / "log.sqlite3").symlink_to(other.path / "log.sqlite3")
    with pytest.raises(FileAccessError, match="symbolic link"):
        Log.open(home, readonly=True)


def test_a_log_of_an_older_runid_is_read_without_the_additive_migrations(tmp_path: Path) -> None:
    """A snapshot written before ``0003_erasures`` and ``0004_key_index`` (which cannot be
    migrated where it lies) opens read-only: the missing tables read as empty, or as a view of
    the indexes the old layout has, through TEMP stand-ins of this connection; the files are
    not touched. A log missing a migration without a reader
    stand-in is still refused, naming it."""
    home, ids, _ = make_home(tmp_path / "home")
    path = home.path / "log.sqlite3"
    before_migration(path, 3)
    before = snapshot(home)
    with Log.open(home, readonly=True) as log:
        assert log.audit() == []
        assert log.entry(ids[1]).index == 1
        assert log.stored_declaration(DECL_ID)[1] == DECL
        assert log.store.erasure("sha256:" + "00" * 32) is None
        assert list(log.store.iter_erasures()) == []
    assert snapshot(home) == before
    assert {"erasures", "key_index_2"}.isdisjoint(
        row[0] for row in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")
    )
    # One migration further back (the lookup indexes) has no stand-in: refused, named.
    old = sqlite3.connect(path)
    old.execute("DELETE FROM schema_migrations WHERE number = 2")
    old.commit()
    old.close()
    with pytest.raises(FileAccessError, match="needs schema migration 0002_lookup_indexes"):
        Log.open(home, readonly=True)
