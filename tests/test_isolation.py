"""A crash in native model code fails one test, names the signal, and the run goes on.

Each test runs an inner pytest in a subprocess (``pytester.runpytest_subprocess``) with this
suite's own configuration: ``pyproject.toml``, ``tests/conftest.py`` and ``tests/llama_server.py``
copied next to an inner test file. The inner tests crash on purpose, so these are ``crash`` tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

pytestmark = pytest.mark.crash

NATIVE_CRASH = """
import ctypes
import os

import pytest

PARENT = os.getpid()  # this module is imported (collected) in the pytest process


@pytest.fixture(scope="module")
def model():
    # Loaded in the child (a new one after a crash): the parent never enters native model code.
    return {"pid": os.getpid()}


@pytest.mark.model
def test_native_code_segfaults(model):
    assert model["pid"] != PARENT
    ctypes.string_at(0)  # reads address 0 in C: SIGSEGV, as a bad model kernel would


@pytest.mark.model
def test_a_model_test_after_the_crash_still_runs(model):
    assert model["pid"] == os.getpid() != PARENT


def test_a_test_without_a_model_runs_in_the_pytest_process():
    assert os.getpid() == PARENT
"""

# Ordered as pytest runs them (file order). Marks: the parent's fixtures stay the parent's.
DETAILS = """
import os
from pathlib import Path

import pytest

PARENT = os.getpid()


@pytest.fixture(scope="session")
def shared(tmp_path_factory):
    # Set up by the first test, in the parent; a child must not run this teardown.
    state = {"folder": tmp_path_factory.mktemp("shared")}
    yield state
    (state["folder"] / f"torn-down-by-{os.getpid()}").touch()


@pytest.fixture(scope="module")
def model():
    # Loaded once in each child, shared by the module's model tests that child runs.
    return {"pid": os.getpid(), "used_by": []}


@pytest.fixture
def model_that_aborts():
    os.abort()  # SIGABRT while loading, as a failed assertion in native code would


def test_a_test_without_a_model_sets_up_the_shared_fixture(shared):
    assert os.getpid() == PARENT


@pytest.mark.model
def test_a_crash_while_loading_the_model_is_an_error_in_setup(shared, model_that_aborts):
    pass


@pytest.mark.model
def test_a_failing_model_test_shows_its_output(shared, model):
    model["used_by"].append("failing")
    print("the model said: hello")
    assert os.getpid() == model["pid"] != PARENT
    assert False, "wrong answer"


@pytest.mark.model
def test_the_next_model_test_shares_the_module_fixture_and_the_parents(shared, model):
    assert model["used_by"] == ["failing"]  # the same child, the same loaded model
    assert shared["folder"].is_dir()


def test_no_child_tore_the_parents_fixture_down(shared):
    assert list(shared["folder"].iterdir()) == []
"""

HANG = """
import ctypes
import faulthandler
import time

import pytest


def test_a_native_thread_is_left_in_the_pytest_process():
    # A thread started in C, which Python's threading module does not know, as a model
    # runtime's pool would be: it waits in pause() until the process ends.
    libc = ctypes.CDLL(None)
    thread = ctypes.c_ulong()
    start = ctypes.cast(libc.pause, ctypes.c_void_p)
    assert libc.pthread_create(ctypes.byref(thread), None, start, None) == 0
    # pytest's faulthandler_timeout arms a watchdog thread like this one: the children must
    # not inherit it (they would hang arming their own).
    faulthandler.dump_traceback_later(3600)


@pytest.mark.model
def test_a_model_test_that_hangs():
    time.sleep(120)  # as a deadlock in native code would


@pytest.mark.model
def test_the_next_model_test_still_runs():
    pass
"""

SERVER_CRASH = '''
import sys
import urllib.request
from pathlib import Path

import pytest

import llama_server as ls

# Stands in for llama.cpp's server: answers /v1/models, dies by SIGSEGV on /v1/crash.
FAKE = """
import http.server, os, signal, sys

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/v1/crash":
            print("ggml_compute_forward: about to fail natively", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGSEGV)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


class FakeServer(ls.LlamaServer):
    def command(self):
        return [sys.executable, "-c", FAKE, str(self.port)]


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "server.log"
    with ls.serving(FakeServer(Path("model.gguf"), log, ls._free_port())) as server:
        yield server


def test_the_server_crashes_during_this_test(llama_server):
    urllib.request.urlopen(llama_server.base_url + "/crash", timeout=10)


def test_the_next_test_gets_the_server_started_again(llama_server):
    with urllib.request.urlopen(llama_server.base_url + "/models", timeout=10) as response:
        assert response.status == 200
'''


def _inner(pytester: pytest.Pytester, test_file: str, *args: str) -> pytest.RunResult:
    """Run ``test_file`` under this suite's own configuration in a new pytest process."""
    pytester.makefile(".toml", pyproject=(ROOT / "pyproject.toml").read_text("utf-8"))
    pytester.makeconftest((TESTS / "conftest.py").read_text("utf-8"))
    pytester.makepyfile(llama_server=(TESTS / "llama_server.py").read_text("utf-8"))
    pytester.makepyfile(test_inner=test_file)
    return pytester.runpytest_subprocess("-rA", *args, "test_inner.py", timeout=120)


def test_a_segfault_in_a_model_test_fails_that_test_names_the_signal_and_the_run_goes_on(
    pytester: pytest.Pytester,
) -> None:
    result = _inner(pytester, NATIVE_CRASH)
    output = result.stdout.str() + result.stderr.str()
    result.assert_outcomes(failed=1, passed=2)
    assert "SIGSEGV" in output and "signal 11" in output, output
    result.stdout.fnmatch_lines(["FAILED test_inner.py::test_native_code_segfaults*"])


def test_a_llama_server_that_dies_is_named_with_its_signal_and_started_again(
    pytester: pytest.Pytester,
) -> None:
    result = _inner(pytester, SERVER_CRASH)
    output = result.stdout.str()
    result.assert_outcomes(failed=1, passed=1)
    assert "LlamaServerDiedError" in output, output
    assert "killed by signal 11 (SIGSEGV) during this test" in output, output
    # The tail of the server's own output explains what it was doing.
    assert "ggml_compute_forward: about to fail natively" in output, output
    result.stdout.fnmatch_lines(["FAILED test_inner.py::test_the_server_crashes_during_this_test*"])


def test_crashes_in_setup_ordinary_failures_and_shared_fixtures_in_forked_model_tests(
    pytester: pytest.Pytester,
) -> None:
    result = _inner(pytester, DETAILS)
    output = result.stdout.str()
    result.assert_outcomes(failed=1, passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "ERROR test_inner.py::test_a_crash_while_loading_the_model_is_an_error_in_setup*",
            "FAILED test_inner.py::test_a_failing_model_test_shows_its_output*",
        ]
    )
    assert "killed by signal 6 (SIGABRT) during its setup" in output, output
    assert "AssertionError: wrong answer" in output, output
    assert "the model said: hello" in output, output


def test_a_hung_model_test_is_stopped_with_its_traceback_and_a_native_pool_is_named(
    pytester: pytest.Pytester,
) -> None:
    result = _inner(pytester, HANG, "--model-timeout=3")
    output = result.stdout.str()
    result.assert_outcomes(failed=1, passed=2)
    result.stdout.fnmatch_lines(["FAILED test_inner.py::test_a_model_test_that_hangs*"])
    assert "did not finish within 3 s (--model-timeout) and was stopped" in output, output
    assert "in test_a_model_test_that_hangs" in output, output  # the traceback at the hang
    assert "thread(s) that Python did not start" in output, output
