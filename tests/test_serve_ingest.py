"""The log service's group commit (``runid._server.ingest``): requests waiting at once share one
append; a group that fails is retried request by request, so one request's failure is its own;
an acknowledged request's records are in the log."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from runid._server.ingest import GroupCommit
from runid.errors import E_SIGNATURE, VerificationError
from runid.keys import Keyring


class FakeLog:
    """Appends envelopes (dicts with an ``n``) unless one is ``{"bad": True}``; the first append
    waits until ``release`` is set, so that later requests queue behind it."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release
        self.entries: list[Mapping[str, Any]] = []
        self.calls: list[int] = []
        self.keyring = Keyring()
        self.entered = threading.Event()

    def append(
        self, envelopes: Sequence[Mapping[str, Any]], *, blobs: Sequence[bytes] = ()
    ) -> list[int]:
        self.entered.set()
        self.release.wait(10)
        self.calls.append(len(envelopes))
        if any(e.get("bad") for e in envelopes):
            raise VerificationError("signature: does not verify", code=E_SIGNATURE)
        start = len(self.entries)
        self.entries.extend(envelopes)
        return list(range(start, start + len(envelopes)))

    def close(self) -> None:
        pass


def test_waiting_requests_share_a_commit_and_a_bad_one_fails_alone() -> None:
    release = threading.Event()
    log = FakeLog(release)
    writer = GroupCommit(lambda: log, Keyring)  # type: ignore[arg-type,return-value]
    results: dict[str, Any] = {}

    def send(name: str, envelopes: list[dict[str, Any]]) -> None:
        try:
            results[name] = writer.append(envelopes)
        except VerificationError as exc:
            results[name] = exc

    first = threading.Thread(target=send, args=("first", [{"n": 0}]))
    first.start()  # the writer takes it and waits in its append: the others queue behind it
    assert log.entered.wait(10)
    others = [
        threading.Thread(target=send, args=("good1", [{"n": 1}, {"n": 2}])),
        threading.Thread(target=send, args=("bad", [{"n": 3}, {"bad": True}])),
        threading.Thread(target=send, args=("good2", [{"n": 4}])),
    ]
    for thread in others:
        thread.start()
    deadline = time.monotonic() + 10
    while len(writer._jobs) < 3 and time.monotonic() < deadline:  # all three waiting
        time.sleep(0.01)
    release.set()
    for thread in [first, *others]:
        thread.join(10)
    writer.close()
    assert isinstance(results["bad"], VerificationError)
    assert results["bad"].code == E_SIGNATURE
    acknowledged = [results[n] for n in ("first", "good1", "good2")]
    assert all(isinstance(r, list) for r in acknowledged)
    logged = [e["n"] for e in log.entries]
    assert sorted(logged) == [0, 1, 2, 4]  # the bad request wrote nothing
    assert log.calls[:2] == [1, 5]  # the three waiting requests were tried as one group
    for name, want in (("first", [0]), ("good1", [1, 2]), ("good2", [4])):
        assert [log.entries[i]["n"] for i in results[name]] == want


def test_a_closed_writer_refuses_new_requests() -> None:
    release = threading.Event()
    release.set()
    writer = GroupCommit(lambda: FakeLog(release), Keyring)  # type: ignore[arg-type,return-value]
    assert writer.append([{"n": 1}]) == [0]
    writer.close()
    with pytest.raises(RuntimeError):
        writer.append([{"n": 2}])
