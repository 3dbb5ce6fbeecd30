"""Four processes append to one SQLite log at once: every record lands exactly once.

The workers start together on a home with no log yet, so they also race to create the file,
switch it to WAL and apply the schema migrations. Each appends its own records (single leaves
and small batches, some signing a checkpoint in the same transaction), and all of them append one
shared record, which must be stored once with one index. While the others write, each worker
proves its latest record against the current tree. Afterwards every inclusion proof and every
consistency proof of the final log verifies.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import random
from pathlib import Path
from typing import Any

import pytest

from runid.merkle import leaf_hash, root, verify_consistency, verify_inclusion
from runid.store.sqlite import SQLiteStore

pytestmark = pytest.mark.crash  # processes racing on one log

WORKERS = 4
PER_WORKER = 200
SHARED = b"one record every worker appends"


def record(worker: int, j: int) -> bytes:
    return b'{"worker":%d,"record":%d}' % (worker, j)


def sign(size: int, tree_root: bytes) -> bytes:
    return b"test-note %d %s" % (size, tree_root.hex().encode())


def worker(home: Path, number: int, go: Any, acks: Path) -> None:
    """Append PER_WORKER records (and SHARED once), writing ``index j`` per acknowledged one."""
    rng = random.Random(number)
    go.wait()
    fd = os.open(acks, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with SQLiteStore.open(home) as store:
        j = 0
        while j < PER_WORKER:
            n = min(rng.choice((1, 1, 1, 2, 5)), PER_WORKER - j)
            signer = sign if rng.random() < 0.1 else None
            indices = store.append([record(number, j + k) for k in range(n)], signer)
            os.write(fd, b"".join(b"%d %d\n" % (i, j + k) for k, i in enumerate(indices)))
            # Read while the others write: the tree at any size we have seen stays provable.
            size = store.size()
            proof = store.inclusion_proof(indices[-1], size)
            verify_inclusion(
                leaf_hash(record(number, j + n - 1)), indices[-1], size, proof, store.root(size)
            )
            j += n
            if (j >= PER_WORKER // 2 and rng.random() < 0.2) or j == PER_WORKER:
                (shared,) = store.append([SHARED])
                os.write(fd, b"%d shared\n" % shared)


def test_four_processes_append_concurrently_and_every_record_lands_once(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    fork = multiprocessing.get_context("fork")
    go = fork.Event()
    processes = [
        fork.Process(target=worker, args=(home, w, go, tmp_path / f"acks-{w}"), daemon=True)
        for w in range(WORKERS)
    ]
    for process in processes:
        process.start()
    go.set()
    for process in processes:
        process.join(timeout=120)
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

    with SQLiteStore.open(home) as store:
        size = store.size()
        assert size == WORKERS * PER_WORKER + 1
        entries = [data for _, data in store.iter_entries()]
        expected = [record(w, j) for w in range(WORKERS) for j in range(PER_WORKER)]
        counts = collections.Counter(entries)
        assert counts == collections.Counter([*expected, SHARED])  # each exactly once
        assert entries.index(SHARED) in shared_indices
        for acked_index, data in acked.items():
            assert entries[acked_index] == data

        # The writers really interleaved: no worker's records form one contiguous run.
        runs = sum(
            1 for i in range(1, size) if entries[i].split(b",")[0] != entries[i - 1].split(b",")[0]
        )
        assert runs > WORKERS, "the workers ran one after another, not concurrently"

        hashes = [leaf_hash(data) for data in entries]
        tree_root = root(hashes)
        assert store.root() == tree_root
        for index in range(size):
            verify_inclusion(
                hashes[index], index, size, store.inclusion_proof(index, size), tree_root
            )
        for size1 in range(1, size + 1):
            verify_consistency(
                size1, size, store.consistency_proof(size1, size), root(hashes[:size1]), tree_root
            )
        checkpoint = store.latest_checkpoint()
        assert checkpoint is not None
        assert checkpoint.root == root(hashes[: checkpoint.size])
        report = store.audit(check=False)
        assert report.ok, report.problems
        assert report.size == size
        assert report.checkpoints >= 1


def open_and_append(home: Path, go: Any) -> None:
    go.wait()
    with SQLiteStore.open(home) as store:
        store.append([b"process %d" % os.getpid()])


def test_processes_racing_to_create_a_log_all_succeed(tmp_path: Path) -> None:
    # The first open switches the file to WAL and applies the migrations; whoever loses the race
    # must wait for the winner and then find the schema in place, not fail or apply it twice.
    fork = multiprocessing.get_context("fork")
    for attempt in range(3):
        home = tmp_path / f"home-{attempt}"
        go = fork.Event()
        processes = [
            fork.Process(target=open_and_append, args=(home, go), daemon=True) for _ in range(8)
        ]
        for process in processes:
            process.start()
        go.set()
        for process in processes:
            process.join(timeout=60)
        assert [p.exitcode for p in processes] == [0] * 8
        with SQLiteStore.open(home) as store:
            assert store.size() == 8
            assert store.audit().ok
