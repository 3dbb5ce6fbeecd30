"""Several writer processes on one PostgreSQL log, and a writer killed with SIGKILL mid-append.

Four processes start together on a schema that does not exist yet (so they also race to create
it and apply the migrations) and append their own records, single and batched, some signing a
checkpoint in the same transaction, plus one record every worker appends (stored once, one
index). Afterwards: every acknowledged index holds its record, no index twice, no gap, one tree
whose every proof verifies, the checkpoints match it, and the audit is clean.

Then a child appends in a loop and is killed with SIGKILL at random moments, many times over the
same log: every acknowledged append survives, an interrupted batch landed whole or not at all,
and the tree agrees with its latest checkpoint. PostgreSQL rolls back the transaction of a client
that vanished, releasing the sequencer row for the next writer.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from runid.merkle import leaf_hash, root, verify_consistency, verify_inclusion
from store_postgres import Schemas, schemas_for

pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e '.[postgres]')")

from runid.store.postgres import PostgresStore

pytestmark = pytest.mark.crash

WORKERS = 4
PER_WORKER = 150
SHARED = b"one record every worker appends"


@pytest.fixture
def schemas(request: pytest.FixtureRequest) -> Schemas:
    return schemas_for(request)


def record(worker: int, j: int) -> bytes:
    return b'{"worker":%d,"record":%d}' % (worker, j)


def sign(size: int, tree_root: bytes) -> bytes:
    return b"test-note %d %s" % (size, tree_root.hex().encode())


def worker(url: str, number: int, go: Any, acks: Path) -> None:
    """Append PER_WORKER records (and SHARED once), writing ``index j`` per acknowledged one."""
    rng = random.Random(number)
    go.wait()
    fd = os.open(acks, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with PostgresStore.open(url) as store:
        j = 0
        while j < PER_WORKER:
            n = min(rng.choice((1, 1, 1, 2, 5)), PER_WORKER - j)
            signer = sign if rng.random() < 0.3 else None
            indices = store.append([record(number, j + k) for k in range(n)], signer)
            os.write(fd, b"".join(b"%d %d\n" % (i, j + k) for k, i in enumerate(indices)))
            size = store.size()  # read while the others write: what we saw stays provable
            proof = store.inclusion_proof(indices[-1], size)
            verify_inclusion(
                leaf_hash(record(number, j + n - 1)), indices[-1], size, proof, store.root(size)
            )
            j += n
            if (j >= PER_WORKER // 2 and rng.random() < 0.2) or j == PER_WORKER:
                (shared,) = store.append([SHARED], sign)
                os.write(fd, b"%d shared\n" % shared)


def test_four_processes_append_at_once_without_gaps_or_duplicates(
    schemas: Schemas, tmp_path: Path
) -> None:
    url = schemas.url()
    fork = multiprocessing.get_context("fork")
    go = fork.Event()
    processes = [
        fork.Process(target=worker, args=(url, w, go, tmp_path / f"acks-{w}"), daemon=True)
        for w in range(WORKERS)
    ]
    for process in processes:
        process.start()
    go.set()
    for process in processes:
        process.join(timeout=300)
        assert process.exitcode == 0, f"worker {process.name} failed ({process.exitcode})"

    acked: dict[int, bytes] = {}
    shared_indices: set[int] = set()
    for w in range(WORKERS):
        for line in (tmp_path / f"acks-{w}").read_bytes().splitlines():
            number, what = line.split()
            if what == b"shared":
                shared_indices.add(int(number))
                continue
            assert int(number) not in acked, f"index {int(number)} was handed out twice"
            acked[int(number)] = record(w, int(what))
    assert len(acked) == WORKERS * PER_WORKER
    assert len(shared_indices) == 1, "the shared record got more than one index"

    with PostgresStore.open(url) as store:
        size = store.size()
        assert size == WORKERS * PER_WORKER + 1
        entries = [data for _, data in store.iter_entries()]
        expected = [record(w, j) for w in range(WORKERS) for j in range(PER_WORKER)]
        assert collections.Counter(entries) == collections.Counter([*expected, SHARED])
        assert entries.index(SHARED) in shared_indices
        for index, data in acked.items():
            assert entries[index] == data
        runs = sum(1 for i in range(1, size) if entries[i][:12] != entries[i - 1][:12])
        assert runs > WORKERS, "the workers ran one after another, not concurrently"

        hashes = [leaf_hash(data) for data in entries]
        tree_root = root(hashes)
        assert store.root() == tree_root
        for index in range(0, size, 7):
            verify_inclusion(
                hashes[index], index, size, store.inclusion_proof(index, size), tree_root
            )
        for size1 in range(1, size + 1, 5):
            verify_consistency(
                size1, size, store.consistency_proof(size1, size), root(hashes[:size1]), tree_root
            )
        # Every checkpoint signed inside an append covers the tree committed with it.
        checkpoints = list(store.iter_checkpoints())
        assert len(checkpoints) >= WORKERS
        for checkpoint in checkpoints:
            assert checkpoint.root == root(hashes[: checkpoint.size])
            assert checkpoint.note == sign(checkpoint.size, checkpoint.root)
        report = store.audit(check=False)
        assert report.ok, report.problems
        assert (report.size, report.entries, report.checkpoints) == (size, size, len(checkpoints))


# --- kill -9 ------------------------------------------------------------------------------------

KILLS = 20
BUDGET_SECONDS = 60.0


def leaf(run: int, j: int) -> bytes:
    return b"run %d leaf %d " % (run, j) + bytes(range(256)) * (j % 5)


def child(url: str, run: int, acks: Path) -> None:
    """Append forever: ``try j n`` before each append of leaves ``j .. j+n-1``, and ``index run
    j`` for each leaf once the append has returned (os.write: nothing buffered at the kill)."""
    rng = random.Random(run)
    fd = os.open(acks, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with PostgresStore.open(url) as store:
        os.write(fd, b"ready\n")
        j = 0
        while True:
            n = rng.choice((1, 1, 1, 2, 3, 8))
            signer = sign if rng.random() < 0.5 else None
            os.write(fd, b"try %d %d\n" % (j, n))
            indices = store.append([leaf(run, j + k) for k in range(n)], signer)
            os.write(fd, b"".join(b"%d %d %d\n" % (i, run, j + k) for k, i in enumerate(indices)))
            j += n


def read_acks(path: Path, run: int) -> tuple[dict[int, bytes], list[bytes]]:
    """The acknowledged ``index -> leaf`` pairs, and the leaves of the last append started."""
    acked: dict[int, bytes] = {}
    last: list[bytes] = []
    if not path.exists():
        return acked, last
    for line in path.read_bytes().split(b"\n")[:-1]:  # a line cut by the kill is ignored
        words = line.split()
        if words[0] == b"try":
            j, n = int(words[1]), int(words[2])
            last = [leaf(run, j + k) for k in range(n)]
        elif words[0] != b"ready":
            index, leaf_run, j = map(int, words)
            acked[index] = leaf(leaf_run, j)
    return acked, last


def check_log(url: str, acked: dict[int, bytes], last: list[bytes]) -> int:
    with PostgresStore.open(url) as store:
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
        hashes = [leaf_hash(data) for _, data in entries]
        assert store.root() == root(hashes)
        checkpoint = store.latest_checkpoint()
        if checkpoint is not None:
            assert checkpoint.size <= size
            assert checkpoint.root == root(hashes[: checkpoint.size])
            assert checkpoint.note == sign(checkpoint.size, checkpoint.root)
        return size


def test_a_writer_killed_mid_append_loses_nothing_acknowledged(
    schemas: Schemas, tmp_path: Path
) -> None:
    url = schemas.url()
    rng = random.Random(20261205)
    fork = multiprocessing.get_context("fork")
    acked: dict[int, bytes] = {}
    started = time.monotonic()
    kills = killed_while_appending = 0
    sizes: list[int] = []
    for run in range(KILLS):
        if time.monotonic() - started > BUDGET_SECONDS:
            break
        acks = tmp_path / f"acks-{run}"
        process = fork.Process(target=child, args=(url, run, acks), daemon=True)
        process.start()
        time.sleep(rng.uniform(0.05, 0.4))  # opening, inside a transaction, or in COMMIT
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
        sizes.append(check_log(url, acked, last))
    assert kills >= 8, f"only {kills} kills fit in the time budget"
    assert killed_while_appending >= kills // 2, (kills, killed_while_appending)
    assert sizes == sorted(sizes)  # the log never shrinks
