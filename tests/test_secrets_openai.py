"""Secrets never reach the home, through the real ``openai`` client (issue 12, defect 1).

A tiny local server (stdlib ``http.server`` on 127.0.0.1) answers every request with 401 and an
error message that echoes the credential it was sent, as many proxies do. The OpenAI adapter
must register the client's key and credential headers as the run's secrets, so the error text
that echoes one is not stored; error texts are also scrubbed of values that look like
credentials. Then every byte of every file of the home is searched for the canary.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runid.capture import Recorder
from runid.digest import content_digest
from runid.home import Home
from runid.log import Log

openai = pytest.importorskip("openai")
from runid.integrations.openai import create_chat  # noqa: E402

MESSAGES = [{"role": "user", "content": "Where is my refund?"}]


class _EchoKey(BaseHTTPRequestHandler):
    """401 for everything, echoing the credential the request carried (and, if the server was
    told to, another credential-looking value it was never given)."""

    echo = True
    extra = ""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        sent = (
            self.headers.get("api-key")
            or self.headers.get("x-api-key")
            or self.headers.get("Authorization", "").removeprefix("Bearer ")
        )
        message = (
            f"Incorrect API key provided: {sent}." if self.echo else "Rejected."
        ) + self.extra
        body = json.dumps(
            {"error": {"message": message, "type": "invalid_request_error", "code": 401}}
        ).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def echo_server(extra: str = "", *, echo: bool = True) -> Iterator[str]:
    handler = type("Handler", (_EchoKey,), {"extra": extra, "echo": echo})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/secrets")
    return home


def canary() -> str:
    # No "sk-" prefix: nothing but the adapter's registration can know this is a key.
    return "k" + os.urandom(16).hex()


def home_bytes(home: Home) -> list[bytes]:
    """Every file of the home, the WAL included (read while the log is open)."""
    texts = []
    with Log.open(home, need_key=False) as log:
        for path in home.path.rglob("*"):
            if path.is_file():
                with contextlib.suppress(FileNotFoundError):
                    texts.append(path.read_bytes())
        for index in range(log.size()):
            texts.append(log.receipt(index))
    return texts


def assert_nowhere(home: Home, *secrets: str) -> None:
    texts = home_bytes(home)
    for secret in secrets:
        needles = [secret.encode(), secret.encode("utf-16-le"), content_digest(secret.encode())]
        for data in texts:
            for needle in needles:
                assert (needle if isinstance(needle, bytes) else needle.encode()) not in data


def run_401(home: Home, client: Any) -> Any:
    recorder = Recorder(home)
    with pytest.raises(openai.AuthenticationError) as raised:
        create_chat(client, recorder=recorder, model="gpt-4o-mini", messages=MESSAGES)
    recorder.close()
    with Log.open(home, need_key=False) as log:
        assert log.size() == 1  # the failed call is recorded, as an error outcome
        error = log.entry(0).record["outcome"]["error"]
    return raised.value, error


def test_the_clients_api_key_echoed_by_a_401_is_not_stored(home: Home) -> None:
    key = canary()
    with echo_server() as url:
        client = openai.OpenAI(api_key=key, base_url=url + "/v1", max_retries=0)
        raised, error = run_401(home, client)
    assert key in str(raised)  # the server did echo it
    assert error["message"] == {"absent": "not_recorded"}
    assert_nowhere(home, key)


def test_credential_headers_of_the_client_are_secrets(home: Home) -> None:
    key = canary()
    with echo_server() as url:
        client = openai.OpenAI(
            api_key="unused-placeholder",
            base_url=url + "/v1",
            max_retries=0,
            default_headers={"x-api-key": key},
        )
        raised, error = run_401(home, client)
    assert key in str(raised)
    assert error["message"] == {"absent": "not_recorded"}
    assert_nowhere(home, key)


def test_an_azure_ad_token_is_a_secret(home: Home) -> None:
    token = canary()
    with echo_server() as url:
        client = openai.AzureOpenAI(
            azure_endpoint=url, api_version="2024-06-01", azure_ad_token=token, max_retries=0
        )
        raised, error = run_401(home, client)
    assert token in str(raised)
    assert error["message"] == {"absent": "not_recorded"}
    assert_nowhere(home, token)


def test_a_credential_the_run_never_saw_is_redacted_from_the_error_text(home: Home) -> None:
    # The proxy leaks someone else's key and a JWT: runid was never given them, but they look
    # like credentials, so the stored error text has them replaced; the rest of it is kept.
    other = "sk-proj-" + os.urandom(20).hex()
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0." + os.urandom(16).hex()
    extra = f" Upstream said: key {other} rejected; Authorization: Bearer {jwt}"
    with echo_server(extra, echo=False) as url:
        client = openai.OpenAI(api_key=canary(), base_url=url + "/v1", max_retries=0)
        raised, error = run_401(home, client)
    assert other in str(raised) and jwt in str(raised)
    with Log.open(home, need_key=False) as log:
        stored = log.content(error["message"]["digest"])
    assert stored is not None
    assert b"Rejected. Upstream said: key [REDACTED] rejected" in stored
    assert_nowhere(home, other, jwt)
