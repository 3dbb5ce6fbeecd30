"""Schemathesis against the log service's OpenAPI document (loopback only, bounded examples):
no 5xx, no response outside the document (status, content type, headers, schema), no request
that violates the schema accepted, 405 with ``Allow``, auth enforced; with a token of each
scope (read first: the admin run may revoke the token it uses).

``positive_data_acceptance`` is left out: a schema cannot say which envelope is validly signed,
which declaration passes the rules of docs/spec.md §6 or which policy is valid, so schema-valid
bodies are rightly refused with 4xx (422) there. The body limit stays at its default here
(413 is tested in ``test_serve_api``): schemathesis does not count 413 as a rejection.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "starlette", reason="the service needs the server extra: pip install '.[server]'"
)
pytest.importorskip("uvicorn", reason="the service needs the server extra: pip install '.[server]'")
pytest.importorskip("schemathesis", reason="pip install schemathesis")

from runid._server.registry import Registry, admin_action, key_action, token_action
from runid.examples import example
from runid.home import Home
from runid.keys import SigningKey
from runid.log import Log
from serve_helpers import free_port, start_process, stop_process


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path: Path) -> None:
    beside = Path(sys.executable).parent / "schemathesis"  # the venv's, if not on PATH
    st = shutil.which("schemathesis") or (str(beside) if beside.exists() else None)
    if st is None:
        pytest.skip("the schemathesis command is not on PATH")
    home = Home(tmp_path / "server")
    home.init_keys("fuzz.example/log")
    tokens = {}
    with Log.open(home) as log:
        registry = Registry(log.public, admin_only=True)
        for scope in ("read", "ingest", "admin"):
            action, token = token_action("fuzz", scope, by="test")
            admin_action(log, registry, action)
            tokens[scope] = token
        key = SigningKey.generate("fuzz.example/app")
        admin_action(log, registry, key_action("fuzz", key.public_key.vkey, by="test")[0])
    # some runs for the reads to find (through the service, as a client would)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_process(home.path, port, "--no-access-log")
    try:
        from serve_helpers import call_json, make_envelope

        for i in range(3):
            envelope, _record, _blobs = make_envelope(
                key, f"fuzz {i}".encode(), example("chat-hosted-model")
            )
            call_json(base, "POST", "/v1/records", tokens["ingest"], body=envelope)
        for scope in ("read", "ingest", "admin"):
            result = subprocess.run(
                [
                    st,
                    "run",
                    f"{base}/openapi.json",
                    "-H",
                    f"Authorization: Bearer {tokens[scope]}",
                    "--max-examples",
                    "25",
                    "--seed",
                    "14",
                    "--checks",
                    "all",
                    "--exclude-checks",
                    "positive_data_acceptance",
                    "--workers",
                    "1",
                    "--request-timeout",
                    "30",
                    "--no-color",
                ],
                capture_output=True,
                text=True,
                timeout=400,
                check=False,
                cwd=tmp_path,
            )
            assert result.returncode == 0, (
                f"scope {scope}:\n{result.stdout[-6000:]}{result.stderr[-2000:]}"
            )
    finally:
        stop_process(server)
