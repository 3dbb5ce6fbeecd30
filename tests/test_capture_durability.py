"""Capture durability modes and group commit (runid.capture): every run lands, in order, in
shared commits; "background" returns before the commit and loses at most the unflushed tail
on kill -9, never corrupting the log."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from forkkill import fork
from runid.capture import CaptureError, CaptureWarning, Recorder
from runid.checkpoint import verify_checkpoint
from runid.errors import InputError, RunidError
from runid.examples import example
from runid.home import Home
from runid.log import Log
from runid.store.sqlite import SQLiteStore

ANSWER = "Duplicate charges are refunded within 5 business days."


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/durability")
    return home


def fail_append(monkeypatch: pytest.MonkeyPatch) -> None:
    """The log's storage refuses every append (what a full disk does to the commit)."""

    def refuse(self: SQLiteStore, *args: Any, **kwargs: Any) -> Any:
        raise RunidError("the disk is full", code="E_STORE")

    monkeypatch.setattr(SQLiteStore, "append", refuse)


def logged_execution_ids(home: Home) -> list[str]:
    with Log.open(home, need_key=False) as log:
        assert log.audit() == []
        return [log.entry(i).record["execution_id"] for i in range(log.size())]


def capture_one(recorder: Recorder, text: str) -> str:
    with recorder.capture(example("chat-hosted-model")) as run:
        run.set_output(text)
    assert run.execution_id is not None
    return run.execution_id


def test_background_runs_all_land_in_order_after_flush(home: Home) -> None:
    recorder = Recorder(home, durability="background")
    captured = [capture_one(recorder, f"{ANSWER} #{i}") for i in range(40)]
    recorder.flush()
    assert logged_execution_ids(home) == captured


def test_background_run_wait_reports_its_log_index(home: Home) -> None:
    recorder = Recorder(home, durability="background")
    with recorder.capture(example("absent-components")) as run:
        run.set_output(ANSWER)
    assert run.wait(timeout=30)
    assert run.recorded and run.entry_index == 0
    assert run.sidecar()["log"] == {"origin": "runid.test/durability", "index": 0}


def test_sync_run_is_in_the_log_when_the_call_returns(home: Home) -> None:
    recorder = Recorder(home, durability="sync")
    execution_id = capture_one(recorder, ANSWER)
    # Another connection sees it at once: acknowledged means committed.
    assert logged_execution_ids(home) == [execution_id]


def test_runs_waiting_share_one_commit_and_one_checkpoint(home: Home) -> None:
    recorder = Recorder(home, durability="background")
    capture_one(recorder, "first")  # opens the writer's connection
    recorder.flush()
    commits = recorder._writer.commits
    # Hold SQLite's write lock from another connection: the runs queue up behind it.
    blocker = sqlite3.connect(home.path / "log.sqlite3", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    captured = [capture_one(recorder, f"queued {i}") for i in range(25)]
    time.sleep(0.2)
    blocker.execute("COMMIT")
    blocker.close()
    recorder.flush()
    assert recorder._writer.commits - commits <= 2  # one waiting on the lock, one for the rest
    logged = logged_execution_ids(home)
    assert logged[1:] == captured
    with Log.open(home, need_key=False) as log:
        sizes = [size for (size,) in log.store._conn.execute("SELECT size FROM checkpoints")]  # type: ignore[attr-defined]
    # At most one checkpoint per commit group (appends sign one at most every second, ADR
    # 0019); the one that covers the last run is signed when asked for.
    assert len(sizes) <= 3 and sizes[-1] <= 26
    with Log.open(home) as log:
        assert verify_checkpoint(log.checkpoint(), log.keyring).size == 26


def test_sync_calls_from_many_threads_share_commits(home: Home) -> None:
    recorder = Recorder(home, durability="sync")
    results: list[tuple[str, int | None, bool]] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for i in range(8):
            with recorder.capture(example("chat-hosted-model")) as run:
                run.set_output(f"thread {n} call {i}")
            with lock:
                results.append((run.execution_id or "", run.entry_index, run.recorded))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(recorded for _, _, recorded in results) and len(results) == 48
    logged = logged_execution_ids(home)
    assert sorted(logged) == sorted(e for e, _, _ in results)
    assert {logged[index or 0] for _, index, _ in results} == set(logged)  # indices are right
    assert recorder._writer.commits <= 48


def test_background_failure_warns(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(home, durability="background")
    fail_append(monkeypatch)
    with pytest.warns(CaptureWarning, match="not recorded: the disk is full"):
        with recorder.capture(example("absent-components")) as run:
            run.set_output(ANSWER)
        assert recorder.flush() == 0
    assert not run.wait() and run.failure is not None


def test_background_failure_with_raise_surfaces_at_flush(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder(home, durability="background", on_error="raise")
    fail_append(monkeypatch)
    with recorder.capture(example("absent-components")) as run:  # the call itself returns
        run.set_output(ANSWER)
    with pytest.raises(CaptureError, match="the disk is full") as caught:
        recorder.flush()
    assert caught.value.code == "E_STORE" and caught.value.run is run
    monkeypatch.undo()
    assert recorder.flush() == 0  # raised once


def test_background_failure_with_queue_keeps_the_run(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder(home, durability="background", on_error="queue")
    fail_append(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # queue mode does not warn
        first = capture_one(recorder, "first")
        recorder._writer.drain()
    assert recorder.pending == 1
    monkeypatch.undo()
    second = capture_one(recorder, "second")
    recorder.flush()
    assert recorder.pending == 0
    assert sorted(logged_execution_ids(home)) == sorted([first, second])


def test_async_background_capture(home: Home) -> None:
    recorder = Recorder(home, durability="background")

    async def main() -> list[str]:
        ids = []
        for i in range(5):
            async with recorder.capture(example("chat-hosted-model")) as run:
                await asyncio.sleep(0)
                run.set_output(f"async {i}")
            ids.append(run.execution_id or "")
        return ids

    captured = asyncio.run(main())
    recorder.flush()
    assert logged_execution_ids(home) == captured


def test_recorder_as_context_manager_flushes_on_exit(home: Home) -> None:
    with Recorder(home, durability="background") as recorder:
        captured = [capture_one(recorder, f"run {i}") for i in range(5)]
    assert logged_execution_ids(home) == captured


def test_bad_durability_is_refused(home: Home) -> None:
    with pytest.raises(InputError, match="durability must be one of sync, background"):
        Recorder(home, durability="eventually")  # type: ignore[arg-type]


# --- kill -9 in the middle of captures ----------------------------------------------------

KILLS = 100  # per durability mode


def capture_and_flush(home: Path, durability: str) -> Callable[[Callable[[str], None]], None]:
    """The child: captures forever, says "C <execution id>" when a capture returns (durable in
    sync mode) and "F <n>" when a flush acknowledged the first n; "R" once ready (a first run
    flushed into the log)."""

    def body(say: Callable[[str], None]) -> None:
        recorder = Recorder(home, durability=durability, on_error="raise")  # type: ignore[arg-type]
        with recorder.capture(example("chat-hosted-model")) as run:
            run.set_output(f"{os.getpid()} ready")
        recorder.flush()
        say(f"R {run.execution_id}")
        i = 0
        while True:
            with recorder.capture(example("chat-hosted-model")) as run:
                run.set_output(f"{os.getpid()} {i}")
            i += 1
            say(f"C {run.execution_id}")  # captured (sync: committed)
            if i % 7 == 0:
                recorder.flush()
                say(f"F {i}")  # everything captured before is durable

    return body


@pytest.mark.crash
@pytest.mark.skipif(
    not hasattr(signal, "SIGKILL") or not hasattr(os, "fork"), reason="needs fork and SIGKILL"
)
@pytest.mark.parametrize("durability", ["background", "sync"])
def test_kill_9_loses_at_most_the_unflushed_tail(tmp_path: Path, durability: str) -> None:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/crash")
    rnd = random.Random(2026)
    children: list[tuple[list[str], int]] = []
    for _ in range(KILLS):
        child = fork(capture_and_flush(home.path, durability))
        # Wait until the child is ready, then for a random number of captures (up to two
        # flushes' worth), and kill it a random moment later.
        wanted = rnd.randint(0, 16)
        child.read_until(
            lambda lines, wanted=wanted: (
                bool(lines) and sum(line.startswith("C ") for line in lines) >= wanted
            )
        )
        time.sleep(rnd.uniform(0, 0.003))
        child.kill()
        assert not child.exited and not [x for x in child.lines if x.startswith("X ")], child.lines
        assert child.lines[0].startswith("R ")
        captured = [child.lines[0][2:]]
        flushed = 1
        for line in child.lines[1:]:
            kind, _, value = line.partition(" ")
            if kind == "C":
                captured.append(value)
            elif kind == "F":
                flushed = int(value) + 1  # the ready run, then the first n captures
        children.append((captured, flushed))
        with Log.open(home, readonly=True) as log:
            assert log.audit() == []  # never corrupt: every checkpoint is of a prefix of the tree
            latest = log.store.latest_checkpoint()
            assert latest is not None and latest.size <= log.size()
        with Log.open(home) as log:  # the checkpoint that covers the tree, signed when asked
            assert verify_checkpoint(log.checkpoint(), log.keyring).size == log.size()
    logged = logged_execution_ids(home)
    assert len(set(logged)) == len(logged), "a run is in the log more than once"
    position = {execution_id: index for index, execution_id in enumerate(logged)}
    lost_tail = 0
    for captured, flushed in children:
        landed = [e for e in captured if e in position]
        # In capture order, a prefix of what was captured: only the tail can be missing...
        assert landed == captured[: len(landed)]
        assert [position[e] for e in landed] == sorted(position[e] for e in landed)
        # ...and never what a flush (or, in sync mode, the call's return) acknowledged.
        acknowledged = len(captured) if durability == "sync" else flushed
        assert len(landed) >= acknowledged
        lost_tail += len(captured) - len(landed)
    if durability == "background":
        assert lost_tail > 0  # some kills did land before a background commit
    else:
        assert lost_tail == 0


def test_background_runs_are_written_at_interpreter_exit(home: Home) -> None:
    script = (
        "import sys\n"
        "from runid.capture import Recorder\n"
        "from runid.examples import example\n"
        "recorder = Recorder(sys.argv[1], durability='background')\n"
        "for i in range(30):\n"
        "    with recorder.capture(example('chat-hosted-model')) as run:\n"
        "        run.set_output(str(i))\n"
        "    print(run.execution_id)\n"
    )  # no flush: the exit hook waits for the writer
    out = subprocess.run(
        [sys.executable, "-c", script, str(home.path)], capture_output=True, check=True
    ).stdout
    assert logged_execution_ids(home) == out.decode().split()


@pytest.mark.crash
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_records_through_its_own_writer(home: Home) -> None:
    recorder = Recorder(home, durability="sync")
    parent_id = capture_one(recorder, "before fork")  # the parent's writer thread is running
    pid = os.fork()
    if pid == 0:  # the child: a new writer thread, not a hang on the parent's
        code = 1
        try:
            with recorder.capture(example("absent-components")) as run:
                run.set_output("in the child")
            code = 0 if run.recorded else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert parent_id in logged_execution_ids(home) and len(logged_execution_ids(home)) == 2
