"""The in-memory store: what is its own beyond the store contract (reopening, closing)."""

from __future__ import annotations

import threading

import pytest

from runid.store.memory import MemoryStore
from store_contract import fake_note, leaves


def test_reopen_gives_another_store_object_on_the_same_log() -> None:
    first = MemoryStore()
    first.append(leaves(3))
    second = first.reopen()
    assert second.append([b"more"]) == [3]
    assert first.size() == 4 and first.entry(3) == b"more"
    assert MemoryStore().size() == 0  # a new store is a new log


def test_a_closed_store_object_refuses_use_but_the_log_stays() -> None:
    store = MemoryStore()
    store.append(leaves(2))
    store.close()
    store.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        store.size()
    assert store.reopen().size() == 2


def test_threads_appending_at_once_get_distinct_indices() -> None:
    log = MemoryStore()
    results: list[list[int]] = []

    def writer(n: int) -> None:
        store = log.reopen()
        results.append(
            [i for k in range(50) for i in store.append([f"{n}/{k}".encode()], fake_note)]
        )

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(i for found in results for i in found) == list(range(200))
    assert log.audit().ok
    latest = log.latest_checkpoint()
    assert latest is not None and latest.size == 200
