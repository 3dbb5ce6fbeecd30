"""kill -9 in the middle of a stream of appends loses nothing acknowledged and tears nothing.

A child process (forked) appends to a SQLite log in a loop (single leaves and batches, some appends
signing a checkpoint in the same transaction) and writes each acknowledged index to a file
*after* ``append`` returned. The parent kills it with SIGKILL at a random moment (during start-up,
schema creation, a transaction or a commit), many times over the same log, and after every kill
reopens the log and checks that:

* every index ever acknowledged holds exactly the bytes that were appended;
* the entries are contiguous, every stored subtree hash matches its children, and the stored
  compact range matches the tree (:meth:`SQLiteStore.audit`);
* the root recomputed from all the entries equals the stored root;
* the latest checkpoint's root is the root of the entries up to its size.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

import pytest

from runid.merkle import leaf_hash, root
from runid.store.sqlite import SQLiteStore

pytestmark = [
    pytest.mark.crash,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL"),
]

KILLS = 30
BUDGET_SECONDS = 40.0  # stop early on a very slow disk rather than blow the suite's time


def leaf(run: int, j: int) -> bytes:
    """Leaf ``j`` of run ``run``: distinct, of varied length."""
    return b"run %d leaf %d " % (run, j) + bytes(range(256)) * (j % 5)


def sign(size: int, tree_root: bytes) -> bytes:
    return b"test-note %d %s" % (size, tree_root.hex().encode())


def child(home: Path, run: int, acks: Path) -> None:
    """Append forever: write ``try j n`` before each append of leaves ``j .. j+n-1``, and
    ``index run j`` for each leaf once the append has returned."""
    rng = random.Random(run)
    fd = os.open(acks, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with SQLiteStore.open(home) as store:
        os.write(fd, b"ready\n")
        j = 0
        while True:
            n = rng.choice((1, 1, 1, 2, 3, 8))
            signer = sign if rng.random() < 0.2 else None
            os.write(fd, b"try %d %d\n" % (j, n))
            indices = store.append([leaf(run, j + k) for k in range(n)], signer)
            # Acknowledged: append returned, so these entries are committed and durable.
            # os.write, not print: nothing sits in a user-space buffer when the kill comes.
            os.write(fd, b"".join(b"%d %d %d\n" % (i, run, j + k) for k, i in enumerate(indices)))
            j += n


def read_acks(path: Path, run: int) -> tuple[dict[int, bytes], list[bytes]]:
    """The acknowledged ``index -> leaf`` pairs the child wrote before it died, and the leaves
    of the last append it started (which the kill may have interrupted).

    A line cut short by the kill is ignored: its append was acknowledged, but the test can only
    check what it knows was acknowledged.
    """
    acked: dict[int, bytes] = {}
    last: list[bytes] = []
    if not path.exists():
        return acked, last
    for line in path.read_bytes().split(b"\n")[:-1]:
        words = line.split()
        if words[0] == b"try":
            j, n = int(words[1]), int(words[2])
            last = [leaf(run, j + k) for k in range(n)]
        elif words[0] != b"ready":
            index, leaf_run, j = map(int, words)
            acked[index] = leaf(leaf_run, j)
    return acked, last


def check_log(home: Path, acked: dict[int, bytes], last: list[bytes]) -> int:
    with SQLiteStore.open(home) as store:
        # The interrupted append happened completely or not at all.
        found = [store.index_of(leaf_hash(data)) for data in last]
        assert found == [None] * len(last) or None not in found, f"torn batch: {found}"
        size = store.size()
        report = store.audit(check=False)
        assert report.ok, report.problems
        assert report.size == size
        entries = list(store.iter_entries())
        assert [i for i, _ in entries] == list(range(size))
        for index, data in acked.items():
            assert index < size, f"acknowledged entry {index} lost (log has {size})"
            assert entries[index][1] == data, f"acknowledged entry {index} changed"
        for index in random.sample(sorted(acked), min(len(acked), 20)):
            assert store.entry(index) == acked[index]
        hashes = [leaf_hash(data) for _, data in entries]
        assert store.root() == root(hashes)
        checkpoint = store.latest_checkpoint()
        if checkpoint is not None:
            assert checkpoint.size <= size
            assert checkpoint.root == root(hashes[: checkpoint.size])
            assert checkpoint.note.startswith(b"test-note %d " % checkpoint.size)
        return size


def test_acknowledged_appends_survive_kill_9_and_nothing_is_torn(tmp_path: Path) -> None:
    home = tmp_path / "home"
    rng = random.Random(20240607)
    # fork: the child starts in milliseconds with runid already imported, so the time goes to
    # appending and checking; it is still a separate process that SIGKILL stops dead.
    fork = multiprocessing.get_context("fork")
    acked: dict[int, bytes] = {}
    started = time.monotonic()
    kills = killed_while_appending = 0
    sizes: list[int] = []
    for run in range(KILLS):
        if time.monotonic() - started > BUDGET_SECONDS:
            break
        acks = tmp_path / f"acks-{run}"
        process = fork.Process(target=child, args=(home, run, acks), daemon=True)
        process.start()
        # A random moment: while opening (and, the first time, creating) the log, in a
        # transaction, or during a commit's fsync.
        time.sleep(rng.uniform(0.0, 0.2))
        assert process.is_alive(), f"the child stopped by itself (exit code {process.exitcode})"
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        process.join()
        assert process.exitcode == -signal.SIGKILL
        kills += 1
        new, last = read_acks(acks, run)
        killed_while_appending += bool(new)
        for index, data in new.items():
            assert acked.setdefault(index, data) == data, f"index {index} acknowledged twice"
        sizes.append(check_log(home, acked, last))
    assert kills >= 10, f"only {kills} kills fit in the time budget"
    assert killed_while_appending >= kills // 2, (kills, killed_while_appending)
    assert sizes == sorted(sizes)  # the log never shrinks
