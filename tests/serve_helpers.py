"""Helpers for the log service's tests: a service on loopback, tokens, client keys, records.

:class:`Served` starts ``runid._server`` in this process (uvicorn on a thread, a free port on
127.0.0.1) over a fresh home; :func:`start_process` runs ``runid serve`` as a child process
(for restarts and kill -9). Requests go through :func:`call` (urllib, no extra dependency).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runid import canonical
from runid.digest import content_ref
from runid.envelope import sign_record
from runid.examples import example
from runid.home import Home
from runid.identity import compute_identity
from runid.keys import SigningKey
from runid.record import new_record

LOG_NAME = "service.example/log"


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(
    base: str,
    method: str,
    path: str,
    token: str | None = None,
    *,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """One request; ``(status, body)`` whatever the status."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(base + path, data=data, method=method)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def call_json(base: str, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
    status, data = call(base, method, path, token, **kw)
    assert 200 <= status < 300, (status, data)
    return json.loads(data)


def make_envelope(key: SigningKey, output: bytes = b"answer", declaration: Any = None) -> tuple:
    """A signed record of a run of ``declaration`` (default: an example) by ``key``; the
    envelope, the record and the blobs (output, declaration)."""
    declaration = declaration or example("chat-hosted-model")
    now = datetime.now(UTC)
    identity = compute_identity(declaration)
    record = new_record(
        identity.declaration_id,
        issuer=key,
        started_at=now,
        ended_at=now,
        outputs=[content_ref(output)],
        observed={"served_model": "gpt-4o-mini-2024-07-18"},
    )
    return sign_record(record, key), record, [output, canonical.canonicalize(declaration)]


@dataclass
class Project:
    name: str
    admin: str
    ingest: str
    read: str
    key: SigningKey


@dataclass
class Served:
    """A service in this process over a fresh home in ``root``."""

    root: Path
    config_extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import uvicorn

        from runid._server.api import create_app
        from runid._server.service import Config, Service

        self.home = Home(self.root / "server")
        self.home.init_keys(LOG_NAME)
        self.service = Service(Config(self.home.path, **self.config_extra))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(self.service), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.02)

    def project(self, name: str, key_name: str | None = None) -> Project:
        """A project with one token of each scope and one registered client key."""
        tokens = {
            scope: self.service.create_token(name, scope, by="test")["token"]
            for scope in ("admin", "ingest", "read")
        }
        key = SigningKey.generate(key_name or f"{name}.example/app")
        self.service.add_key(name, key.public_key.vkey, by="test")
        return Project(name, tokens["admin"], tokens["ingest"], tokens["read"], key)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


def start_process(home: Path, port: int, *extra: str, env: dict[str, str] | None = None):
    """``runid serve`` as a child process (its own process group); returns once it answers."""
    process = subprocess.Popen(
        [sys.executable, "-m", "runid", "--home", str(home), "serve", "--port", str(port), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if call(base, "GET", "/readyz")[0] == 200:
                return process
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            raise AssertionError(f"runid serve did not start: {process.stderr.read()!r}")  # type: ignore[union-attr]
        time.sleep(0.1)


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)
    if process.stderr is not None:
        process.stderr.close()


@contextlib.contextmanager
def served(root: Path, **config: Any) -> Iterator[Served]:
    service = Served(root, config)
    try:
        yield service
    finally:
        service.stop()
