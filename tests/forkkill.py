"""Kill -9 harness for the crash tests: fork a child that runs a body and reports on a pipe,
wait for what the test needs to see (a readiness line, some acknowledgements), kill it with
SIGKILL at a random moment after that, and collect every line it wrote before it died.

Forking from the test process instead of starting an interpreter makes a kill cost
milliseconds, so the tests can afford hundreds of them; the child never returns into pytest
(it leaves with ``os._exit``).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Child:
    """A forked child and what it wrote, one line at a time (each line one ``os.write``)."""

    pid: int
    fd: int
    lines: list[str] = field(default_factory=list)
    _buffer: bytes = b""
    exited: bool = False

    def read_until(self, done: Callable[[list[str]], bool], timeout: float = 60.0) -> None:
        """Read lines until ``done(lines)`` or the child exits; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not done(self.lines):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"child {self.pid}: nothing more after {self.lines[-3:]}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready and not self._read():
                raise AssertionError(f"child {self.pid} exited early: {self.lines[-5:]}")

    def _read(self) -> bool:
        data = os.read(self.fd, 65536)
        if not data:
            return False
        self._buffer += data
        *complete, self._buffer = self._buffer.split(b"\n")
        self.lines += [line.decode() for line in complete]
        return True

    def kill(self) -> None:
        """SIGKILL, reap, and read what the pipe still holds (written before the kill)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        _, status = os.waitpid(self.pid, 0)
        while self._read():
            pass
        os.close(self.fd)
        self.exited = os.WIFEXITED(status)  # it died on its own before the kill: a failure


def fork(body: Callable[[Callable[[str], None]], None]) -> Child:
    """Run ``body(say)`` in a forked child; ``say(line)`` writes one line to the parent."""
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() with threads running (runid's writers are fork-safe).
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(read_fd)

            def say(line: str) -> None:
                os.write(write_fd, (line + "\n").encode())

            body(say)
        except BaseException:
            with contextlib.suppress(Exception):
                os.write(write_fd, ("X " + traceback.format_exc().replace("\n", " | ")).encode())
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    return Child(pid, read_fd)
