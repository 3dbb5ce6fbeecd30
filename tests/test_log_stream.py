"""Reading a whole log in pages (issue 13): ``Log.iter_entries``, the audit's progress, and the
fast parse of stored leaves."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from runid import canonical
from runid.errors import CanonicalizationError, VerificationError
from runid.examples import example
from runid.home import Home
from runid.log import Log
from runid.log._audit import audit_log
from runid.log._ids import envelope_of


@pytest.fixture
def log(tmp_path: Path) -> Log:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/stream")
    opened = Log.open(home)
    for i in range(7):
        opened.record_run(example("chat-hosted-model"), output=b"%d" % i)
    return opened


def test_iter_entries_gives_each_entry_verified_in_order(log: Log) -> None:
    with log:
        streamed = list(log.iter_entries())
        assert [e.index for e in streamed] == list(range(7))
        assert streamed == [log.entry(i) for i in range(7)]
        assert [e.index for e in log.iter_entries(2, 5)] == [2, 3, 4]


def test_iter_entries_raises_on_an_entry_that_does_not_verify(log: Log, tmp_path: Path) -> None:
    other = Home(tmp_path / "other")
    other.init_keys("runid.test/other")
    with log, Log.open(other) as stranger:
        stranger.record_run(example("chat-hosted-model"), output=b"x")
        foreign = stranger.store.entry(0)
        log.store.append([foreign])  # a leaf the log's key did not sign
        with pytest.raises(VerificationError):
            list(log.iter_entries())


def test_audit_reports_progress_up_to_the_size(log: Log) -> None:
    seen: list[tuple[int, int]] = []
    with log:
        assert log.audit(lambda done, total: seen.append((done, total))) == []
    assert seen[-1] == (7, 7)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_envelope_of_reads_as_the_strict_parser_does() -> None:
    data = canonical.canonicalize({"a": [1, 2.5, None], "b": "é"})
    assert envelope_of(data) == canonical.loads(data)
    # Not canonical: the strict parser decides (a duplicate key is an error, as there).
    with pytest.raises(CanonicalizationError):
        envelope_of(b'{"a":1,"a":2}')
    assert envelope_of(b'{ "b": 1, "a": 2 }') == {"a": 2, "b": 1}


def test_entries_verified_by_worker_processes_are_the_same(log: Log) -> None:
    with log:
        assert list(log.iter_entries(workers=2)) == list(log.iter_entries(workers=0))
        assert [e.index for e in log.iter_entries(3, 6, workers=2)] == [3, 4, 5]


def test_an_entry_that_does_not_verify_in_a_worker_raises(log: Log, tmp_path: Path) -> None:
    other = Home(tmp_path / "other")
    other.init_keys("runid.test/other")
    with log, Log.open(other) as stranger:
        stranger.record_run(example("chat-hosted-model"), output=b"x")
        log.store.append([stranger.store.entry(0)])
        with pytest.raises(VerificationError, match="entry 7"):
            list(log.iter_entries(workers=2))


def test_an_audit_with_worker_processes_finds_the_same(log: Log, tmp_path: Path) -> None:
    other = Home(tmp_path / "other")
    other.init_keys("runid.test/other")
    with log, Log.open(other) as stranger:
        stranger.record_run(example("chat-hosted-model"), output=b"x")
        log.store.append([stranger.store.entry(0), b"not json"])
        here = audit_log(log.store, log.keyring, log.origin, workers=0)
        spread = audit_log(log.store, log.keyring, log.origin, workers=2)
    assert spread == here
    assert {f.where for f in here} >= {"entry 7", "entry 8"}


def test_workers_do_not_repeat_what_the_caller_had_buffered(log: Log) -> None:
    # Standard output to a pipe is block-buffered: a forked worker would flush a copy of it.
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from runid.home import Home\n"
        "from runid.log import Log\n"
        "print('once', end='')\n"
        "with Log.open(Home(Path(sys.argv[1])), need_key=False) as log:\n"
        "    assert len(list(log.iter_entries(workers=2))) == 7\n"
    )
    assert log.home is not None
    with log:
        home = str(log.home.path)
    result = subprocess.run(
        [sys.executable, "-c", script, home], capture_output=True, text=True, check=True
    )
    assert result.stdout == "once"


def test_an_audit_with_worker_processes_reports_what_the_store_finds(log: Log) -> None:
    # With workers, the store's own audit runs in a process with a read-only connection of
    # its own: its findings are the same, and come first, as without workers.
    assert log.home is not None
    with log:
        pass
    conn = sqlite3.connect(log.home.path / "log.sqlite3", isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")  # an attacker with file access has no triggers
    # Entry 3 with a space before it: it still verifies, but is not its stored leaf's data.
    conn.execute("UPDATE entries SET data = CAST(' ' || CAST(data AS TEXT) AS BLOB) WHERE idx = 3")
    conn.execute("UPDATE blobs SET data = X'00' WHERE rowid = (SELECT max(rowid) FROM blobs)")
    conn.close()
    with Log.open(log.home, need_key=False) as again:
        here = audit_log(again.store, again.keyring, again.origin, workers=0)
        spread = audit_log(again.store, again.keyring, again.origin, workers=2)
    assert spread == here
    assert [f.where for f in here] == ["store", "store"]
    assert "log entry 3" in here[0].problem
    assert "does not match its digest" in here[1].problem
