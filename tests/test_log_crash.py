"""kill -9 during captures: every acknowledged run is in the log exactly once, nothing is in it
twice, and the tree always matches its latest signed checkpoint (the checkpoint is signed inside
the append's commit).

Each round forks a child that records runs through a :class:`~runid.capture.Recorder`
(``durability="sync"``: a capture returns once its run is committed) from two threads, so that
runs share group commits. The child says when it is ready (its first run is in the log) and
acknowledges every run after its capture returned; the test waits for the readiness line and a
random number of acknowledgements, then kills the child at a random moment a few milliseconds
later, mostly in the middle of a commit. After every kill the log is opened and checked, and all
kills go to one log, so later rounds run on what earlier ones left.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from forkkill import fork
from runid.capture import Recorder
from runid.checkpoint import verify_checkpoint
from runid.examples import example
from runid.home import Home
from runid.log import Log

pytestmark = [
    pytest.mark.crash,
    pytest.mark.skipif(
        not hasattr(signal, "SIGKILL") or not hasattr(os, "fork"), reason="needs fork and SIGKILL"
    ),
]

KILLS = 100
THREADS = 2
DECL = example("chat-hosted-model")


def capture_forever(home: Path) -> Callable[[Callable[[str], None]], None]:
    def body(say: Callable[[str], None]) -> None:
        recorder = Recorder(home, durability="sync", on_error="raise")
        with recorder.capture(DECL) as run:
            run.set_output(f"{os.getpid()} ready")
        say(f"R {run.execution_id} {run.entry_index}")  # ready: its first run is in the log

        def worker(number: int) -> None:
            i = 0
            while True:
                with recorder.capture(DECL) as run:
                    run.set_output(f"{os.getpid()} {number} {i}")
                say(f"A {run.execution_id} {run.entry_index}")  # acknowledged: committed
                i += 1

        threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        threads[0].join()  # until killed

    return body


def check_exactly_once(home: Home, acknowledged: dict[str, int]) -> int:
    """Every acknowledged run once, at its index; nothing twice; audit clean. The log size."""
    with Log.open(home, readonly=True) as log:
        assert log.audit() == []
        size = log.size()
        # Every stored checkpoint is of a prefix of the tree (audit checks their roots); the
        # latest may lag the appends a kill cut short (ADR 0019): it is signed when asked for.
        latest = log.store.latest_checkpoint()
        assert latest is not None and latest.size <= size
        logged = [log.entry(i).record["execution_id"] for i in range(size)]
    with Log.open(home) as log:
        assert verify_checkpoint(log.checkpoint(), log.keyring).size == size
    twice = [e for e, n in Counter(logged).items() if n > 1]
    assert twice == [], f"runs in the log more than once: {twice}"
    for execution_id, index in acknowledged.items():
        assert index < size and logged[index] == execution_id, execution_id
    return size


def test_acknowledged_runs_survive_kill_9_exactly_once(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/log")
    rnd = random.Random(2026)
    acknowledged: dict[str, int] = {}
    unacknowledged = 0  # runs committed whose acknowledgement the kill cut off
    for _ in range(KILLS):
        child = fork(capture_forever(home.path))
        wanted = rnd.randint(0, 4)
        child.read_until(
            lambda lines, wanted=wanted: (
                any(line.startswith("R ") for line in lines)
                and sum(line.startswith("A ") for line in lines) >= wanted
            )
        )
        # A moment later: mostly inside a capture, a commit or its acknowledgement.
        time.sleep(rnd.uniform(0, 0.004))
        child.kill()
        assert not child.exited, f"the child died before the kill: {child.lines[-3:]}"
        assert not [line for line in child.lines if line.startswith("X ")], child.lines
        for line in child.lines:
            kind, execution_id, index = line.split()
            assert kind in ("R", "A")
            assert execution_id not in acknowledged  # each run acknowledged once
            acknowledged[execution_id] = int(index)
        unacknowledged = check_exactly_once(home, acknowledged) - len(acknowledged)
    assert len(acknowledged) >= KILLS  # every round got at least its readiness run in
    assert unacknowledged > 0  # some kills landed between a commit and its acknowledgement
