"""The SQLite store's key index in levels (ADR 0020): lookups through merges, erasure, upgrades.

A naive oracle (dicts of what was appended and stored) is compared with the store's lookups
after every step of random sequences, with the merge thresholds made tiny so that every
sequence crosses several merges of both levels.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from old_logs import before_migration
from runid.errors import VerificationError
from runid.examples import example
from runid.home import Home
from runid.log import Log
from runid.merkle import leaf_hash
from runid.store import _sqlite_keys as keys
from runid.store.sqlite import SQLiteStore


@pytest.fixture
def small_levels(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(keys, "LEVEL0_ENTRIES", 3)
    monkeypatch.setattr(keys, "LEVEL1_ENTRIES", 7)
    yield


def level_sizes(path: Path) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [
            conn.execute(f"SELECT count(*) FROM key_index_{level}").fetchone()[0]
            for level in range(3)
        ]
    finally:
        conn.close()


steps = st.lists(
    st.tuples(
        st.lists(st.integers(0, 40), max_size=6),  # leaves (small ints: repeats are likely)
        st.lists(st.integers(0, 40), max_size=4),  # blobs
        st.lists(st.integers(0, 40), max_size=2),  # blobs to erase afterwards
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=steps)
def test_lookups_match_an_oracle_through_merges_and_erasures(
    tmp_path_factory: pytest.TempPathFactory, small_levels: None, steps: list[Any]
) -> None:
    path = tmp_path_factory.mktemp("keys")
    leaves: dict[bytes, int] = {}  # the oracle: leaf hash -> index
    blobs: dict[bytes, bytes] = {}  # digest -> data
    with SQLiteStore.open(path) as store:
        for new_leaves, new_blobs, erase in steps:
            data = [b"leaf %d" % n for n in new_leaves]
            content = [b"blob %d" % n for n in new_blobs]
            indices = store.append(data, blobs=content)
            for d, index in zip(data, indices, strict=True):
                assert leaves.setdefault(leaf_hash(d), index) == index  # appended once
            for c in content:
                blobs[hashlib.sha256(c).digest()] = c
            gone = [hashlib.sha256(b"blob %d" % n).digest() for n in erase]
            erased = store.erase_blobs(["sha256:" + d.hex() for d in gone])
            assert sorted(erased) == sorted({"sha256:" + d.hex() for d in gone if d in blobs})
            for d in gone:
                blobs.pop(d, None)
            assert store.size() == len(leaves)
            for h, index in leaves.items():
                assert store.index_of(h) == index
            for d, c in blobs.items():
                assert store.get_blob("sha256:" + d.hex()) == c
            for d in gone:
                assert store.get_blob("sha256:" + d.hex()) is None
            assert store.index_of(hashlib.sha256(b"never").digest()) is None
        assert store.audit().problems == ()
    if len(leaves) >= 15:  # a merge of level 0 happened at a size of 7 or more, so of level 1
        assert level_sizes(path / "log.sqlite3")[2] > 0, "level 1 was merged into level 2"


def test_runs_are_found_by_execution_id_across_merges(tmp_path: Path, small_levels: None) -> None:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/keys")
    with Log.open(home) as log:
        entries = [
            log.record_run(example("chat-hosted-model"), output=b"%d" % i) for i in range(20)
        ]
        for entry in entries:
            assert log.entry(entry.record["execution_id"]).index == entry.index
        assert log.audit() == []
    sizes = level_sizes(home.path / "log.sqlite3")
    # Each run's leaf hash, output digest and execution id, and the declaration's blob, once.
    assert sizes[2] > 0 and sum(sizes) == 20 * 3 + 1, sizes


def test_a_new_log_has_no_random_key_indexes_on_its_tables(tmp_path: Path) -> None:
    with SQLiteStore.open(tmp_path) as store:
        store.append([b"a"], blobs=[b"b"])
    conn = sqlite3.connect(tmp_path / "log.sqlite3")
    indexes = {
        row[0]
        for row in conn.execute(
            "SELECT tbl_name FROM sqlite_master WHERE type = 'index'"
            " AND tbl_name IN ('entries', 'blobs', 'record_index')"
        )
    }
    assert indexes == {"record_index"}  # record_index_declaration only
    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'entries'").fetchone()
    assert "UNIQUE" not in sql


def test_a_log_of_an_older_runid_is_upgraded_with_its_keys(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/keys")
    with Log.open(home) as log:
        entries = [log.record_run(example("chat-hosted-model"), output=b"%d" % i) for i in range(5)]
    path = home.path / "log.sqlite3"
    before_migration(path, 4)
    with Log.open(home) as log:  # migrates: the old rows go to level 2
        for entry in entries:
            assert log.entry(entry.record["execution_id"]).index == entry.index
            digest = entry.record["outcome"]["outputs"][0]["digest"]
            assert log.content(digest) is not None
        more = log.record_run(example("chat-hosted-model"), output=b"after")
        assert log.entry(more.record["execution_id"]).index == 5
        assert log.audit() == []
    assert level_sizes(path)[2] == 3 * 5 + 1  # leaf, blob, execution id each; the declaration
    conn = sqlite3.connect(path)
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    # A log with entries keeps its UNIQUE indexes (a rebuild would take minutes at 1M).
    assert {"entries_leaf_hash", "blobs_digest"} <= names
    assert "record_index_execution" not in names


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("DELETE FROM key_index_0 WHERE kind = 2", "indexed records"),
        ("INSERT INTO key_index_0 VALUES (zeroblob(32), 0, 7)", "entries"),
        ("UPDATE key_index_0 SET value = value + 1 WHERE kind = 1", "blobs"),
    ],
)
def test_the_audit_names_a_key_index_that_differs_from_the_tables(
    tmp_path: Path, sql: str, kind: str
) -> None:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/keys")
    with Log.open(home) as log:
        log.record_run(example("chat-hosted-model"), output=b"x")
        assert log.audit() == []
    conn = sqlite3.connect(home.path / "log.sqlite3", isolation_level=None)
    conn.execute(sql)
    assert conn.total_changes >= 1
    conn.close()
    with Log.open(home) as log:
        problems = [f.problem for f in log.audit() if f.where == "store"]
    assert any(f"key index does not match the {kind}" in p for p in problems), problems


def test_the_audit_names_a_missing_key_index_state(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/keys")
    with Log.open(home) as log:
        log.record_run(example("chat-hosted-model"), output=b"x")
    conn = sqlite3.connect(home.path / "log.sqlite3", isolation_level=None)
    conn.execute("DELETE FROM key_index_state")
    conn.close()
    with Log.open(home) as log:
        problems = [f.problem for f in log.audit() if f.where == "store"]
        with pytest.raises(VerificationError, match="key index state row is missing"):
            log.record_run(example("chat-hosted-model"), output=b"y")
    assert any("key index state row is missing" in p for p in problems), problems
