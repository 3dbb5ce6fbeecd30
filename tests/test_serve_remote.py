"""Remote capture (``Recorder(url=..., token=...)``) and ``runid push`` against a service on
loopback: runs reach the service; an outage loses none and does not slow the call; a refusal is
kept and sent once fixed (docs/capture-reference.md, "Remote capture")."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytest.importorskip(
    "starlette", reason="the service needs the server extra: pip install '.[server]'"
)
pytest.importorskip("uvicorn", reason="the service needs the server extra: pip install '.[server]'")

from click.testing import CliRunner

from runid._cli import main
from runid.capture import Recorder
from runid.capture.remote import RemoteError, push
from runid.examples import example
from runid.home import Home
from serve_helpers import call_json, free_port, served


def _record(recorder: Recorder, text: str) -> str:
    with recorder.capture(example("chat-hosted-model")) as run:
        run.set_output(text)
    assert run.recorded and run.execution_id is not None
    return run.execution_id


def _app_home(path: Path, name: str) -> Home:
    home = Home(path)
    home.init_keys(name)
    return home


def test_runs_reach_the_service_with_their_declaration_and_output(tmp_path: Path) -> None:
    with served(tmp_path) as svc:
        project = svc.project("team-a")
        home = _app_home(tmp_path / "app", "app.example/a")
        svc.service.add_key("team-a", home.public_key().vkey, by="test")
        recorder = Recorder(home, url=svc.base, token=project.ingest)
        ids = [_record(recorder, f"answer {i}") for i in range(5)]
        assert recorder.remote is not None and recorder.remote.wait(timeout=20)
        page = call_json(svc.base, "GET", "/v1/runs", project.read)
        assert [item["execution_id"] for item in page["items"]] == ids
        run = call_json(svc.base, "GET", f"/v1/runs/{ids[0]}", project.read)
        declaration_id = run["record"]["declaration_id"]
        got = call_json(svc.base, "GET", f"/v1/declarations/{declaration_id}", project.read)
        assert got["declaration"] == example("chat-hosted-model")
        assert recorder.remote.pending() == 0


def test_an_outage_loses_no_run_and_does_not_slow_the_call(tmp_path: Path) -> None:
    home = _app_home(tmp_path / "app", "app.example/a")
    port = free_port()
    # The service is down: the calls are as fast as local capture, and nothing is lost.
    recorder = Recorder(
        home, url=f"http://127.0.0.1:{port}", token="runid_" + "0" * 16 + "_" + "A" * 43
    )
    start = time.perf_counter()
    ids = [_record(recorder, f"during the outage {i}") for i in range(20)]
    elapsed = time.perf_counter() - start
    assert elapsed < 5, elapsed
    assert recorder.remote is not None and not recorder.remote.wait(timeout=0.5)
    assert recorder.remote.pending() == 20
    assert recorder.remote.last_error is not None and recorder.remote.last_error.retry
    # The service comes up (on another port: a new recorder, the same home and its spool).
    with served(tmp_path / "later") as svc:
        project = svc.project("team-a")
        svc.service.add_key("team-a", home.public_key().vkey, by="test")
        later = Recorder(home, url=svc.base, token=project.ingest)
        ids.append(_record(later, "after the outage"))
        assert later.remote is not None and later.remote.wait(timeout=30)
        page = call_json(svc.base, "GET", "/v1/runs?limit=1000", project.read)
        assert [item["execution_id"] for item in page["items"]] == ids


def test_an_unregistered_key_is_kept_and_sent_once_registered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with served(tmp_path) as svc:
        project = svc.project("team-a")
        home = _app_home(tmp_path / "app", "app.example/late")
        with pytest.raises(RemoteError) as refused:
            recorder = Recorder(home)
            _record(recorder, "signed by a key nobody registered")
            push(home, svc.base, project.ingest)
        assert refused.value.status == 403 and not refused.value.retry
        assert "E_UNKNOWN_KEY" in refused.value.message and "add-key" in (refused.value.hint or "")
        assert call_json(svc.base, "GET", "/v1/stats", project.read)["runs"] == 0
        svc.service.add_key("team-a", home.public_key().vkey, by="test")
        result = CliRunner().invoke(
            main, ["--home", str(home.path), "push", "--url", svc.base, "--token", project.ingest]
        )
        assert result.exit_code == 0, result.output
        assert "pushed 1 entries" in result.output
        assert call_json(svc.base, "GET", "/v1/stats", project.read)["runs"] == 1
        # pushing again sends nothing; the service keeps one copy either way
        assert push(home, svc.base, project.ingest).sent == 0


def test_runid_tokens_manages_access_on_the_host(tmp_path: Path) -> None:
    with served(tmp_path) as svc:
        runner = CliRunner()
        home = str(svc.home.path)
        created = runner.invoke(
            main, ["--home", home, "tokens", "create", "--project", "ops", "--scope", "read"]
        )
        assert created.exit_code == 0, created.output
        token = created.stdout.strip().splitlines()[0]
        assert call_json(svc.base, "GET", "/v1/stats", token)["project"] == "ops"
        listed = runner.invoke(main, ["--home", home, "tokens", "list", "--project", "ops"])
        token_id = token.split("_")[1]
        assert token_id in listed.output and token not in listed.output
        revoked = runner.invoke(
            main, ["--home", home, "tokens", "revoke", "--project", "ops", token_id]
        )
        assert revoked.exit_code == 0, revoked.output
        from serve_helpers import call

        status, body = call(svc.base, "GET", "/v1/stats", token)
        assert status == 401 and json.loads(body)["error"]["code"] == "E_AUTH"
        bad = runner.invoke(
            main, ["--home", home, "tokens", "create", "--project", "Bad Name", "--scope", "read"]
        )
        assert bad.exit_code == 2 and "not a project name" in bad.output
