"""Group commit (ADR 0006 in code): one writer thread per recorder appends every waiting run.

A finished run is a :class:`Pending` item (record, content, keyed-index lines) handed over as a
:class:`Job`. The :class:`Writer` thread owns a long-lived log connection and appends every run
waiting since its last commit through :meth:`runid.log.Log.append`: one transaction and one
durable commit for the group, whatever thread the runs come from (a checkpoint is signed at
most once a second, and when the thread ends and closes its log: ADR 0019).
It also keeps the runs ``on_error="queue"`` set aside (retried after the next commit that
works) and the failures of ``"background"`` runs (raised by the next ``flush()``).

Bounded: at most :data:`MAX_QUEUE` runs wait. Fork-safe: ``fork()`` waits for a commit in
flight, and a child starts with an empty writer of its own. At interpreter exit the runs still
waiting are written (boundedly).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..envelope import sign_record
from ..home import Home
from ..keys import SigningKey
from ..log import Log
from ..wire import Envelope, Record

__all__ = [
    "GROUP",
    "IDLE_SECONDS",
    "LINGER_SECONDS",
    "MAX_QUEUE",
    "Done",
    "Job",
    "Pending",
    "Writer",
]

# Runs waiting for the writer; past this a capture waits for room, so memory and the
# unflushed tail a crash can lose in "background" mode stay bounded.
MAX_QUEUE = 1024
# A writer with nothing to do closes its connection and ends after this long; the next run
# starts a new one (so idle recorders hold no thread and no open file).
IDLE_SECONDS = 2.0
# When only "background" runs wait, the writer gives more runs this long to join the group:
# fewer commits and checkpoint signatures per run, so less work competing with the callers.
LINGER_SECONDS = 0.001
GROUP = 64


@dataclass
class Pending:
    """A finished run not yet in the log: its record, envelope (once signed) and content."""

    record: Record
    envelope: Envelope | None = None
    blobs: list[bytes] = field(default_factory=list)
    keyed: list[dict[str, Any]] = field(default_factory=list)


class Done:
    """A one-shot ``threading.Event`` (``set`` once, ``wait`` by anyone), built on one lock
    held until set: every captured call makes one, and an Event (a Condition) costs more."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def set(self) -> None:
        with contextlib.suppress(RuntimeError):  # already set
            self._lock.release()

    def wait(self, timeout: float | None = None) -> bool:
        if not self._lock.acquire(timeout=-1 if timeout is None else max(timeout, 0)):
            return False
        with contextlib.suppress(RuntimeError):
            self._lock.release()  # let the other waiters through too
        return True


@dataclass(eq=False)
class Job:
    """One finished run handed to the writer; ``done`` is set once it is in the log or failed,
    after ``landed(job)`` (the run's own bookkeeping, in the writer thread) if given."""

    item: Pending
    landed: Callable[[Job], None] | None = None
    background: bool = False
    done: Done = field(default_factory=Done)
    index: int | None = None
    error: BaseException | None = None


class Writer:
    """Group commit for one recorder: a thread that owns the log connection and appends every
    run queued since its last commit in one transaction (checkpoints: ADR 0019).

    N runs that end while a commit is in flight share the next commit (one fsync), whatever
    thread they come from. The thread starts with the first run
    and ends after :data:`IDLE_SECONDS` without work.

    ``signing_key`` gives the recorder's key (created on first use), to sign the runs kept for
    later (:meth:`keep`) while they wait. ``kept`` and ``failures`` are guarded by ``lock``.
    """

    def __init__(self, home: Home, signing_key: Callable[[], SigningKey]) -> None:
        self.home = home
        self.signing_key = signing_key
        self._cond = threading.Condition()
        self._jobs: list[Job] = []
        self._thread: threading.Thread | None = None
        self._submitted = 0
        self._completed = 0
        self._urgent = 0  # runs in the queue that a caller waits for
        self._stop = False  # end the thread once the queue is empty (see stop())
        # Held while the writer uses SQLite: fork() waits for it, so that a child never
        # inherits SQLite's locks taken by a thread it does not have.
        self._io = threading.Lock()
        self.commits = 0  # transactions written (for benchmarks and tests)
        # Called after every commit (remote capture: the forwarder sends the new entries).
        self.after_commit: Callable[[], None] | None = None
        self.lock = threading.Lock()
        # on_error="queue": finished runs kept in memory until a commit works.
        self.kept: list[Pending] = []
        # on_error="raise" with durability="background": failures the call could not raise,
        # raised by the next flush() or close().
        self.failures: list[BaseException] = []
        _writers.add(self)

    # --- the group commit ------------------------------------------------------------------

    def submit(self, job: Job) -> None:
        """Queue ``job`` (waiting for room when :data:`MAX_QUEUE` runs already wait)."""
        with self._cond:
            while len(self._jobs) >= MAX_QUEUE:
                self._cond.wait()
            self._jobs.append(job)
            self._submitted += 1
            self._urgent += not job.background  # somebody waits for this one
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="runid-capture-writer", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every run submitted before this call is written (or failed)."""
        with self._cond:
            target = self._submitted
            self._urgent += 1  # no lingering: someone waits
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._completed >= target, timeout)

    def stop(self, timeout: float | None = None) -> None:
        """End the writer thread once the runs queued are written, closing its log (which signs
        the checkpoint of what it appended, ADR 0019); the next run starts a new thread."""
        with self._cond:
            thread = self._thread
            if thread is None:
                return
            self._stop = True
            self._cond.notify_all()
        if thread is not threading.current_thread():
            thread.join(timeout)

    def _loop(self) -> None:
        log: Log | None = None
        try:
            while True:
                with self._cond:
                    waiting = self._cond.wait_for(
                        lambda: bool(self._jobs) or self._stop, IDLE_SECONDS
                    )
                    if not waiting or not self._jobs:
                        self._thread = None  # idle: the next submit starts a new thread
                        self._stop = False
                        return
                    if not self._urgent:
                        self._cond.wait_for(
                            lambda: self._urgent > 0 or len(self._jobs) >= GROUP,
                            LINGER_SECONDS,
                        )
                    self._urgent = 0
                    batch, self._jobs = self._jobs, []
                    self._cond.notify_all()  # room in the queue again
                try:
                    with self._io:
                        log = self._write(batch, log)
                finally:
                    for job in batch:
                        _finish(job)
                    with self._cond:
                        self._completed += len(batch)
                        self._cond.notify_all()
        finally:
            with self._cond:
                # Ending abnormally too: the next submit must start a new thread, not wait.
                if self._thread is threading.current_thread():
                    self._thread = None
            if log is not None:
                with self._io, contextlib.suppress(Exception):
                    log.close()

    def _write(self, batch: list[Job], log: Log | None) -> Log | None:
        """Append ``batch`` in one transaction; on failure every job carries the error."""
        try:
            if log is None:
                log = Log.open(self.home)
            ready: list[Job] = []
            for job in batch:
                try:
                    _sign(job.item, log)
                    ready.append(job)
                except Exception as exc:  # this run only; the others still land
                    job.error = exc
            indices = _append(log, [job.item for job in ready])
        except Exception as exc:
            for job in batch:
                job.error = job.error or exc
            if log is not None:
                # The connection's state is unknown after a failure: start afresh next time.
                with contextlib.suppress(Exception):
                    log.close()
            return None
        self.commits += 1
        for job, index in zip(ready, indices, strict=True):
            job.index = index
        if self.after_commit is not None:
            with contextlib.suppress(Exception):
                self.after_commit()
        self._retry_kept(log)
        return log

    def _retry_kept(self, log: Log) -> None:
        """After a commit that worked, append the runs ``on_error="queue"`` kept, if any."""
        queued = self.take_kept()
        if not queued:
            return
        try:
            for item in queued:
                _sign(item, log)
            _append(log, queued)
        except Exception:  # still failing: they stay queued, in order
            self.put_back(queued)
            return
        self.commits += 1

    # --- runs kept for later, failures for flush() -----------------------------------------

    def keep(self, item: Pending) -> None:
        """Keep a run that could not be recorded (``on_error="queue"``) for a later commit."""
        if item.envelope is None:
            # Keep it signed, so the run is attested while it waits; if the key cannot be
            # read now, the complete record is signed when it is flushed.
            with contextlib.suppress(Exception):
                item.envelope = sign_record(item.record, self.signing_key())
        with self.lock:
            self.kept.append(item)

    def take_kept(self) -> list[Pending]:
        """The kept runs, in order, no longer kept."""
        with self.lock:
            kept, self.kept = self.kept, []
        return kept

    def put_back(self, items: list[Pending]) -> None:
        """Keep ``items`` again, before the runs kept since they were taken."""
        with self.lock:
            self.kept[:0] = items

    def report(self, failure: BaseException) -> None:
        """Remember the failure of a ``"background"`` run for the next ``flush()`` to raise."""
        with self.lock:
            self.failures.append(failure)

    def take_failures(self) -> list[BaseException]:
        with self.lock:
            failures, self.failures = self.failures, []
        return failures


def _finish(job: Job) -> None:
    # A failure here must not stop the writer: the job is done either way.
    try:
        if job.landed is not None:
            job.landed(job)
    except Exception:  # pragma: no cover - landed only warns or queues
        pass
    finally:
        job.done.set()


def _sign(item: Pending, log: Log) -> None:
    if item.envelope is None:
        item.envelope = log.sign(item.record)


def _append(log: Log, items: list[Pending]) -> list[int]:
    """Append signed ``items`` and their content through :meth:`Log.append`: one transaction,
    one durable commit for all of them."""
    if not items:
        return []
    return log.append(
        [item.envelope for item in items if item.envelope is not None],
        blobs=[blob for item in items for blob in item.blobs],
        keyed=[entry for item in items for entry in item.keyed],
    )


# --- fork safety and interpreter exit ---------------------------------------------------------

_writers: weakref.WeakSet[Writer] = weakref.WeakSet()
_forking: list[Writer] = []


def _before_fork() -> None:
    # Wait for any commit (or close) in flight: its SQLite locks must not be copied held.
    _forking[:] = list(_writers)
    for writer in _forking:
        writer._io.acquire()


def _after_fork_in_parent() -> None:
    for writer in _forking:
        writer._io.release()
    _forking.clear()


def _after_fork_in_child() -> None:
    # A forked child has no writer thread and must not touch the parent's queue or locks
    # (another thread may have held them): start empty; the next run starts a new writer.
    for writer in list(_writers):
        writer._cond = threading.Condition()
        writer._io = threading.Lock()
        writer._jobs = []
        writer._thread = None
        writer._submitted = writer._completed = writer._urgent = 0
        writer._stop = False
    _forking.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


@atexit.register
def _drain_at_exit() -> None:
    """At interpreter exit, wait (boundedly) for background runs still queued."""
    for writer in list(_writers):
        with contextlib.suppress(Exception):
            writer.drain(timeout=10.0)
            writer.stop(timeout=10.0)  # its log closed: the checkpoint of its runs signed
