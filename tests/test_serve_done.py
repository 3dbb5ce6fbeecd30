"""Issue 14's "done when": two application processes with different tokens record through the
service; a third party fetches receipts and verifies them offline with public keys only.

Everything runs as separate processes on loopback: ``runid serve``, two applications (each its
own home, key and ingest token, remote capture), and the third party, who reads with a read
token and then verifies with ``runid verify`` in an empty environment (no home, no network).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip(
    "starlette", reason="the service needs the server extra: pip install '.[server]'"
)
pytest.importorskip("uvicorn", reason="the service needs the server extra: pip install '.[server]'")

from serve_helpers import call, call_json, free_port, start_process, stop_process

APP = textwrap.dedent(
    """
    import sys
    from runid.capture import Recorder
    from runid.examples import example

    recorder = Recorder(sys.argv[1])   # RUNID_URL and RUNID_TOKEN name the service
    for i in range(int(sys.argv[3])):
        with recorder.capture(example("chat-hosted-model")) as run:
            run.set_output(f"{sys.argv[2]} answer {i}")
        print(run.execution_id, flush=True)
    assert recorder.remote is not None and recorder.remote.wait(timeout=60)
    """
)


def runid(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "runid", *args],
        capture_output=True,
        text=True,
        env=env if env is not None else os.environ.copy(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow
def test_two_applications_record_and_a_third_party_verifies_offline(tmp_path: Path) -> None:
    server_home = tmp_path / "server"
    runid("--home", str(server_home), "keys", "init", "--name", "log.example/shared")
    tokens: dict[str, str] = {}
    apps = {"alpha": tmp_path / "app-alpha", "beta": tmp_path / "app-beta"}
    for project, home in apps.items():
        for scope in ("ingest", "read"):
            out = runid(
                "--home",
                str(server_home),
                "tokens",
                "create",
                "--project",
                project,
                "--scope",
                scope,
            )
            tokens[f"{project}-{scope}"] = out.strip()
        runid("--home", str(home), "keys", "init", "--name", f"{project}.example/app")
        key = runid("--home", str(home), "keys", "show").splitlines()[0]
        runid("--home", str(server_home), "tokens", "add-key", "--project", project, key)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_process(server_home, port)
    try:
        recorded: dict[str, list[str]] = {}
        processes = {
            project: subprocess.Popen(
                [sys.executable, "-c", APP, str(home), project, "4"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={
                    **os.environ,
                    "RUNID_URL": base,
                    "RUNID_TOKEN": tokens[f"{project}-ingest"],
                },
            )
            for project, home in apps.items()
        }
        for project, process in processes.items():
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, err
            recorded[project] = out.split()
        # The third party: a read token of each project, the receipts and the public keys.
        verifier_dir = tmp_path / "third-party"
        verifier_dir.mkdir()
        for project, ids in recorded.items():
            read = tokens[f"{project}-read"]
            page = call_json(base, "GET", "/v1/runs", read)
            assert [item["execution_id"] for item in page["items"]] == ids
            keys = call_json(base, "GET", "/v1/keys", read)
            key_args = ["--key", keys["log"]["key"]]
            for key in keys["keys"]:
                key_args += ["--key", key["key"]]
            other = "beta" if project == "alpha" else "alpha"
            for i, execution_id in enumerate(ids):
                status, receipt = call(base, "GET", f"/v1/runs/{execution_id}/receipt", read)
                assert status == 200
                path = verifier_dir / f"{project}-{i}.receipt"
                path.write_bytes(receipt)
                output = verifier_dir / f"{project}-{i}.txt"
                output.write_text(f"{project} answer {i}")
                # the other project's token sees none of it
                assert (
                    call(base, "GET", f"/v1/runs/{execution_id}", tokens[f"{other}-read"])[0] == 404
                )
                # offline: no home, no service, public keys only
                env = {"PATH": os.environ.get("PATH", ""), "HOME": str(verifier_dir)}
                verified = runid("verify", str(path), *key_args, "--output", str(output), env=env)
                assert "OK" in verified or "verified" in verified.lower(), verified
        # the log the service kept audits clean
        stop_process(server)
        assert "audit: ok, 14 entries" in runid("--home", str(server_home), "tokens", "audit")
    finally:
        stop_process(server)
