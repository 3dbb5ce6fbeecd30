"""Shared fixtures (example declarations, the paths of checked-in vectors) and test isolation.

Markers (registered in pyproject.toml): ``slow``, ``crash`` and ``model``. The inner loop is
``pytest -n 2 -m "not slow and not crash and not model"`` (pytest-xdist, both cores).

A test marked ``model`` enters native model code (llama.cpp, torch, sentence-transformers), which
can kill the whole process (SIGSEGV, SIGILL, an abort). Such tests run in a forked child, one
child for each module's run of them (they share its module fixtures: each model is loaded once
per module), so a crash is one failed test whose report names the signal and shows the output
(with Python's traceback at the crash); the module's remaining tests go on in a new child and the
run goes on. The parent pytest never loads a model or starts a torch or llama.cpp thread pool, so
no child inherits one. Fixtures the parent had already set up are shared with the child and never
torn down by it.

``pytest.mark.model(subprocess=True)`` marks a test whose model already runs in a process of its
own (the llama.cpp server, the ``runid demo`` command): it is not forked, so its shared fixtures
(one server for the session, one demo run) are made once. Tests that use the ``llama_server``
fixture get that marker here by themselves.

``--model-in-process`` runs model tests in the pytest process (to use a debugger); a crash in
native code then ends the run.

Why not pytest-forked: its reports go through ``marshal``, which pytest 9.2's reports (a
``NodeId`` in them) no longer pass, so every forked test failed with "EXITED with status 3"; a
child also ran the teardown of session fixtures that the parent had set up (stopping the shared
llama.cpp server). This uses pytest's own report serialization hooks instead.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import pickle
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, NoReturn

import pytest
from _pytest.runner import runtestprotocol

from runid.examples import EXAMPLES, example

pytest_plugins = ["pytester", "llama_server"]

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
VECTORS = TESTS / "vectors"

# Data and the scripts that generate it, not tests: under --doctest-modules (scripts/test.sh)
# pytest would import every vectors/*/generate.py as a module named "generate", and fail.
collect_ignore = ["vectors"]

#: Fixtures whose model runs in a child process: tests using them are model(subprocess=True).
SUBPROCESS_MODEL_FIXTURES = ("llama_server",)

FORK = pytest.StashKey[bool]()  # on an item: run it in a forked child


@pytest.fixture(params=sorted(EXAMPLES))
def example_decl(request: pytest.FixtureRequest) -> dict[str, Any]:
    return example(request.param)


# --- which tests are forked --------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--model-in-process",
        action="store_true",
        default=False,
        help="run model tests in the pytest process, not forked (for a debugger; a crash in "
        "native model code then ends the run)",
    )
    parser.addoption(
        "--model-timeout",
        type=float,
        default=600.0,
        help="seconds a forked model test may take before its process is stopped with every "
        "thread's traceback (a deadlock; default 600)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    in_process = bool(config.getoption("--model-in-process")) or not hasattr(os, "fork")
    forked = False
    for item in items:
        names = getattr(item, "fixturenames", ())
        if item.get_closest_marker("model") is None and any(
            name in names for name in SUBPROCESS_MODEL_FIXTURES
        ):
            item.add_marker(pytest.mark.model(subprocess=True))
        marker = item.get_closest_marker("model")
        if marker is not None and not marker.kwargs.get("subprocess") and not in_process:
            item.stash[FORK] = True
            forked = True
    if forked:
        # The session's base temporary directory is made here, in the parent: a child that made
        # its own would number another one and prune older ones.
        factory = getattr(config, "_tmp_path_factory", None)
        if factory is not None:
            factory.getbasetemp()


# --- running model tests in a forked child ----------------------------------------------------
#
# The parent forks one child for a run of consecutive forked tests of one module (they share its
# module fixtures: a model is loaded once per module). The child runs them one after another and
# leaves, for each, a file with its reports; the parent waits for each test's file in turn and
# reports it as usual. If the child dies, the test it was in fails with the signal and its
# output; the module's remaining tests go on in a new child.


class _Group:
    """A forked child running ``items`` in order; its files are in ``folder``."""

    def __init__(self, items: list[pytest.Item]) -> None:
        self.items = items
        self.index = {item.nodeid: k for k, item in enumerate(items)}
        self.folder = Path(tempfile.mkdtemp(prefix="runid-forked-"))
        (self.folder / "results").mkdir()
        self.status: int | None = None
        self.timeout = float(items[0].config.getoption("--model-timeout"))
        # A faulthandler watchdog (faulthandler_timeout) would not exist in the child, which
        # would then hang arming its own: the child has its own watchdog (--model-timeout).
        faulthandler.cancel_dump_traceback_later()
        # Threads Python did not start (a model runtime's pool: torch's OpenMP, tokenizers'):
        # a child inherits their state but not the threads, and may hang on them.
        self.native_threads = _native_threads()
        with warnings.catch_warnings():
            # Python 3.12+ warns that fork() in a process with threads may deadlock the child.
            # The parent's threads here are runid's own writers (fork-safe by design) and
            # pytest's; a child that hangs is stopped after --model-timeout, never silently.
            warnings.simplefilter("ignore", DeprecationWarning)
            self.pid = os.fork()
        if self.pid == 0:
            _child(items, self.folder, self.timeout)

    def exited(self) -> bool:
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
        return self.status is not None

    def wait(self) -> None:
        if self.status is None:
            _, self.status = os.waitpid(self.pid, 0)

    def end(self) -> None:
        """Stop the child if it still runs, reap it, remove its files."""
        if self.status is None:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            self.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def output(self, k: int) -> tuple[str, str]:
        """What the child wrote to stdout and stderr while it ran test ``k``."""
        starts = [_offsets(self.folder, j) for j in (k, k + 1)]
        texts = []
        for n, name in enumerate(("stdout", "stderr")):
            data = (self.folder / name).read_bytes() if (self.folder / name).exists() else b""
            begin = starts[0][n] if starts[0] else 0
            finish = starts[1][n] if starts[1] else len(data)
            texts.append(data[begin:finish].decode(errors="replace"))
        return texts[0], texts[1]

    def reports(self, item: pytest.Item) -> list[pytest.TestReport] | None:
        """The test's reports; a crash report if the child died in it; None if it died
        before it (the caller starts a new child)."""
        k = self.index[item.nodeid]
        result = self.folder / "results" / f"{k}.pkl"
        while not result.exists():
            if self.exited():
                if result.exists():
                    break
                if _offsets(self.folder, k) is None:
                    return None  # died in an earlier test of the run (reported there)
                out, err = self.output(k)
                phase = _read(self.folder / "phase") or "setup"
                assert self.status is not None
                return [_crash_report(item, self, phase=phase, out=out, err=err)]
            time.sleep(0.01)
        hook = item.config.hook
        reports: list[pytest.TestReport] = [
            hook.pytest_report_from_serializable(config=item.config, data=data)
            for data in pickle.loads(result.read_bytes())
        ]
        out, err = self.output(k)
        for report in [r for r in reports if r.failed] or reports[-1:]:
            report.sections.extend(_sections(out, err))
        if k == len(self.items) - 1:
            self.wait()
        return reports


_GROUP: list[_Group] = []  # the child running now, if any


def _group_for(item: pytest.Item, *, new: bool = False) -> _Group:
    """The child that runs ``item``: the current one, or (``new``, or none runs it) a new one
    for ``item`` and the forked tests of its module right after it."""
    if _GROUP and item.nodeid in _GROUP[0].index and not new:
        return _GROUP[0]
    _end_group()
    items = item.session.items
    start = items.index(item)
    end = start + 1
    while (
        end < len(items)
        and items[end].stash.get(FORK, False)
        and _module(items[end]) == (_module(item))
    ):
        end += 1
    _GROUP.append(_Group(items[start:end]))
    return _GROUP[0]


def _end_group() -> None:
    while _GROUP:
        _GROUP.pop().end()


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    if not item.stash.get(FORK, False):
        return None
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    try:
        reports = _group_for(item).reports(item)
        if reports is None:  # its child died in an earlier test: a new child from here on
            reports = _group_for(item, new=True).reports(item)
    except BaseException:  # e.g. Ctrl-C: the child goes too
        _end_group()
        raise
    assert reports is not None
    for report in reports:
        item.ihook.pytest_runtest_logreport(report=report)
    # What the parent had set up and the next item does not need ends here, as after any test.
    call = pytest.CallInfo.from_call(
        lambda: item.session._setupstate.teardown_exact(nextitem), "teardown"
    )
    if call.excinfo is not None:
        item.ihook.pytest_runtest_logreport(
            report=item.ihook.pytest_runtest_makereport(item=item, call=call)
        )
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def pytest_sessionfinish(session: pytest.Session) -> None:
    _end_group()  # e.g. after -x: a child may still be running the module's other tests


# --- in the child ------------------------------------------------------------------------------

_PHASE_FILE: list[Path] = []  # in a forked child: where it notes the phase it is in


def _note_phase(when: str) -> None:
    if _PHASE_FILE:
        _PHASE_FILE[0].write_text(when)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _note_phase("setup")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    _note_phase("call")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    _note_phase("teardown")


def _child(items: list[pytest.Item], folder: Path, timeout: float) -> NoReturn:
    """Run the tests (setup, call, teardown) here, leave their reports; never return."""
    code = 3
    try:
        config = items[0].config
        # The parent's output capture is not used here: the tests' output goes to files the
        # parent reads even when this process dies in native code.
        capture = config.pluginmanager.getplugin("capturemanager")
        if capture is not None:
            capture.stop_global_capturing()
            # (its hooks still ask it for the output: there is none)
            setattr(capture, "read_global_capture", lambda: ("", ""))  # noqa: B010
        for fd, name in ((1, "stdout"), (2, "stderr")):
            target = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.dup2(target, fd)
            os.close(target)
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        faulthandler.enable(file=sys.stderr, all_threads=True)
        _PHASE_FILE.append(folder / "phase")
        # Fixtures the parent set up stay the parent's: this child never tears them down (it
        # would stop the parent's server or delete its files). What the child sets up, it
        # tears down.
        stack = items[0].session._setupstate.stack
        for node, (_finalizers, failure) in list(stack.items()):
            stack[node] = ([], failure)
        hook = config.hook
        for k, item in enumerate(items):
            sys.stdout.flush()
            sys.stderr.flush()
            sizes = [os.fstat(fd).st_size for fd in (1, 2)]
            _atomic_write(folder / f"start-{k}", f"{sizes[0]} {sizes[1]}".encode())
            nextitem = items[k + 1] if k + 1 < len(items) else None
            # A test that hangs (a deadlock in native code) is stopped, every thread's
            # traceback written first: the run goes on.
            faulthandler.dump_traceback_later(timeout, exit=True, file=sys.stderr)
            reports = runtestprotocol(item, log=False, nextitem=nextitem)
            faulthandler.cancel_dump_traceback_later()
            data = [hook.pytest_report_to_serializable(config=config, report=r) for r in reports]
            sys.stdout.flush()
            sys.stderr.flush()
            _atomic_write(folder / "results" / f"{k}.pkl", pickle.dumps(data))
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


# --- helpers -----------------------------------------------------------------------------------


def _atomic_write(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.rename(path)


def _offsets(folder: Path, k: int) -> tuple[int, int] | None:
    """Where test ``k``'s output starts in the stdout and stderr files (None: not started)."""
    text = _read(folder / f"start-{k}")
    if not text:
        return None
    out, err = text.split()
    return int(out), int(err)


def _native_threads() -> int:
    """How many of this process's threads Python did not start (0 where /proc is missing)."""
    try:
        threads = len(os.listdir(f"/proc/{os.getpid()}/task"))
    except OSError:
        return 0
    return max(0, threads - threading.active_count())


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _sections(out: str, err: str) -> list[tuple[str, str]]:
    return [
        (f"Captured {name} (forked child)", text)
        for name, text in (("stdout", out), ("stderr", err))
        if text
    ]


def _crash_report(
    item: pytest.Item, group: _Group, *, phase: str, out: str, err: str
) -> pytest.TestReport:
    status = group.status
    assert status is not None
    code = os.waitstatus_to_exitcode(status)
    if os.WIFSIGNALED(status):
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown signal"
        how = f"was killed by signal {-code} ({name})"
        cause = "a crash in native code: the model runtime, most likely"
    elif code == 1 and "Timeout (" in err:
        how = f"did not finish within {group.timeout:.0f} s (--model-timeout) and was stopped"
        cause = "a deadlock, most likely"
    else:
        how = f"exited with status {code} without a report"
        cause = "an exit in native code, most likely"
    if group.native_threads:
        cause += (
            f"; the pytest process had {group.native_threads} thread(s) that Python did not "
            "start when it forked this one: a model runtime's thread pool, so a test that ran "
            "a model in the pytest process lacks the model marker"
        )
    path, line, _ = item.location
    when = phase if phase in ("setup", "call", "teardown") else "setup"
    longrepr = (
        f"{path}:{(line or 0) + 1}: the forked process running this test {how} during its "
        f"{when} ({cause}). Only this test failed: the module's remaining tests run in a new "
        "process. Its output, with Python's traceback at the end, follows."
    )
    now = time.time()
    return pytest.TestReport(
        item.nodeid,
        item.location,
        dict.fromkeys(item.keywords, 1),
        "failed",
        longrepr,
        when,  # type: ignore[arg-type]
        _sections(out, err),
        0.0,
        now,
        now,
    )
