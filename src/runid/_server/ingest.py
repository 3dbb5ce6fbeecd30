"""Group commit for the log service: one writer thread per server process appends the records
of every ingest request waiting, in one :meth:`runid.log.Log.append` (one transaction, one
durable commit; a checkpoint at most once a second, ADR 0019), and answers each request with its
indices.

A request is acknowledged only after the commit that holds its records returned, so an
acknowledged record survives a crash or restart of the server. Records already in the log are
not appended again (the log returns their index), so a client may retry anything it did not
see acknowledged. If a group fails as a whole, each request in it is retried alone, so one
request's failure is its own.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ..keys import Keyring
from ..log import Log

__all__ = ["GROUP_RECORDS", "GroupCommit"]

GROUP_RECORDS: Final = 4096
"""The most records one commit takes (more wait for the next)."""


@dataclass(eq=False)
class _Job:
    envelopes: Sequence[Mapping[str, Any]]
    blobs: Sequence[bytes]
    done: threading.Event = field(default_factory=threading.Event)
    indices: list[int] | None = None
    error: BaseException | None = None


class GroupCommit:
    """Appends through one :class:`Log` that ``open_log`` opens (and reopens after a failure);
    ``keyring()`` gives the keys the log verifies the envelopes against."""

    def __init__(self, open_log: Callable[[], Log], keyring: Callable[[], Keyring]) -> None:
        self._open_log = open_log
        self._keyring = keyring
        self._cond = threading.Condition()
        self._jobs: list[_Job] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        self.commits = 0

    def append(
        self, envelopes: Sequence[Mapping[str, Any]], blobs: Sequence[bytes] = ()
    ) -> list[int]:
        """Append ``envelopes`` and ``blobs`` durably (with whatever else is waiting); the
        index of each envelope. Raises what the append raised."""
        job = _Job(envelopes, blobs)
        with self._cond:
            if self._closed:
                raise RuntimeError("the service is shutting down")
            self._jobs.append(job)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="runid-serve-writer", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.indices is not None
        return job.indices

    def close(self) -> None:
        """Finish the jobs queued and stop the writer."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=30)

    def _take(self) -> list[_Job] | None:
        with self._cond:
            self._cond.wait_for(lambda: bool(self._jobs) or self._closed)
            if not self._jobs:
                self._thread = None
                return None
            batch: list[_Job] = []
            count = 0
            while self._jobs and (
                not batch or count + len(self._jobs[0].envelopes) <= GROUP_RECORDS
            ):
                job = self._jobs.pop(0)
                batch.append(job)
                count += len(job.envelopes)
            return batch

    def _loop(self) -> None:
        log: Log | None = None
        try:
            while (batch := self._take()) is not None:
                log = self._write(batch, log)
        finally:
            if log is not None:
                with contextlib.suppress(Exception):
                    log.close()

    def _write(self, batch: list[_Job], log: Log | None) -> Log | None:
        try:
            if log is None:
                log = self._open_log()
            log.keyring = self._keyring()
            indices = log.append(
                [e for job in batch for e in job.envelopes],
                blobs=[b for job in batch for b in job.blobs],
            )
            self.commits += 1
            start = 0
            for job in batch:
                job.indices = indices[start : start + len(job.envelopes)]
                start += len(job.envelopes)
        except Exception as exc:
            if log is not None:
                with contextlib.suppress(Exception):
                    log.close()
            log = None
            if len(batch) == 1:
                batch[0].error = exc
            else:  # each alone, so that one request's failure is its own
                for job in batch:
                    log = self._write([job], log)
                return log
        finally:
            for job in batch:
                if job.indices is not None or job.error is not None:
                    job.done.set()
        return log
