"""The web UI on the log service: the same tokens as the API, and nothing of another project
ever shown (runid._ui.service, mounted at /ui next to the API by with_ui)."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the UI needs the server extra: pip install '.[server]'")
from starlette.testclient import TestClient

from runid._server.api import create_app
from runid._server.service import Config, Service
from runid._ui.service import COOKIE, with_ui
from runid.digest import content_digest
from runid.examples import example
from runid.home import Home
from runid.identity import compute_identity
from runid.keys import SigningKey
from serve_helpers import LOG_NAME, make_envelope

BASE = "http://127.0.0.1"


def _declaration(model: str) -> dict[str, Any]:
    decl = copy.deepcopy(example("chat-hosted-model"))
    decl["model"]["name"] = model
    return decl


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = Home(tmp_path_factory.mktemp("ui-service") / "server")
    home.init_keys(LOG_NAME)
    service = Service(Config(home.path))
    out: dict[str, Any] = {"service": service}
    for name, model in (("team-a", "model-of-a"), ("team-b", "model-of-b")):
        tokens = {s: service.create_token(name, s, by="test")["token"] for s in ("admin", "read")}
        tokens["ingest"] = service.create_token(name, "ingest", by="test")["token"]
        key = SigningKey.generate(f"{name}.example/app")
        service.add_key(name, key.public_key.vkey, by="test")
        principal = service.authenticate(f"Bearer {tokens['ingest']}", "ingest")
        runs = []
        for i in range(3):
            output = f"{name} answer {i}".encode()
            envelope, record, blobs = make_envelope(key, output, _declaration(model))
            service.ingest(principal, [envelope], blobs)
            runs.append(record)
        out[name] = {"tokens": tokens, "runs": runs, "model": model}
    app = with_ui(create_app(service, access_log=False), service)
    with TestClient(app, base_url=BASE) as client:
        out["client"] = client
        yield out
    service.close()


def _login(client: TestClient, token: str) -> None:
    client.cookies.clear()
    form = client.get("/ui/login")
    assert form.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    response = client.post(
        "/ui/login", data={"csrf": csrf.group(1), "token": token}, follow_redirects=False
    )
    assert response.status_code == 303, response.text[-300:]
    assert response.headers["location"] == "/ui/runs"
    assert COOKIE in response.headers["set-cookie"]
    assert "httponly" in response.headers["set-cookie"].lower()
    assert "samesite=strict" in response.headers["set-cookie"].lower()


def test_no_token_no_page(setup: dict[str, Any]) -> None:
    client: TestClient = setup["client"]
    client.cookies.clear()
    response = client.get("/ui/runs")
    assert response.status_code == 401
    assert 'href="/ui/login"' in response.text
    bad = client.get("/ui/runs", headers={"authorization": "Bearer runid_0123456789abcdef_x"})
    assert bad.status_code == 401 and "Traceback" not in bad.text


def test_a_bad_token_is_refused_at_sign_in(setup: dict[str, Any]) -> None:
    client: TestClient = setup["client"]
    client.cookies.clear()
    form = client.get("/ui/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    response = client.post("/ui/login", data={"csrf": csrf.group(1), "token": "nope"})
    assert response.status_code == 401
    assert COOKIE not in response.headers.get("set-cookie", "")
    forged = client.post("/ui/login", data={"csrf": "x" * 32, "token": "nope"})
    assert forged.status_code == 401


def test_a_project_sees_its_runs_and_nothing_of_another(setup: dict[str, Any]) -> None:
    client: TestClient = setup["client"]
    a, b = setup["team-a"], setup["team-b"]
    _login(client, a["tokens"]["read"])
    html = client.get("/ui/runs").text
    shown = set(re.findall(r'data-execution-id="(sha256:[0-9a-f]{64})"', html))
    assert shown == {r["execution_id"] for r in a["runs"]}
    assert "project team-a" in html
    mine, theirs = a["runs"][0], b["runs"][0]
    assert client.get(f"/ui/runs/{mine['execution_id']}").status_code == 200
    for path in (
        f"/ui/runs/{theirs['execution_id']}",
        f"/ui/runs/{theirs['execution_id']}/receipt.json",
        f"/ui/content/{content_digest(b'team-b answer 0')}",
        f"/ui/diff?a={mine['execution_id']}&b={theirs['execution_id']}",
        f"/ui/diff?a={mine['execution_id']}&b={theirs['declaration_id']}",
        f"/ui/diff.json?a={theirs['execution_id']}&b={theirs['execution_id']}",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "team-b" not in response.text and "model-of-b" not in response.text
    # filters and charts find nothing of the other project
    filtered = client.get(f"/ui/runs?declaration_id={theirs['declaration_id']}").text
    assert re.findall(r'data-execution-id="([^"]+)"', filtered) == []
    component = compute_identity(_declaration("model-of-b")).components["model"]
    assert (
        re.findall(r'data-execution-id="', client.get(f"/ui/runs?component={component}").text) == []
    )
    drift = client.get("/ui/drift?model=model-of-b").text
    assert "run-column" not in drift
    assert "model-of-b" not in client.get("/ui/drift").text.replace('value="model-of-b"', "")
    # the project's own content, receipt and diff are there
    assert client.get(f"/ui/content/{content_digest(b'team-a answer 0')}").status_code == 200
    assert client.get(f"/ui/runs/{mine['execution_id']}/receipt.json").status_code == 200
    other = a["runs"][1]["execution_id"]
    diff = client.get(f"/ui/diff.json?a={mine['execution_id']}&b={other}").json()
    assert diff["a"]["execution_id"] == mine["execution_id"]


def test_the_same_pages_for_the_other_project(setup: dict[str, Any]) -> None:
    client: TestClient = setup["client"]
    b = setup["team-b"]
    _login(client, b["tokens"]["read"])
    html = client.get("/ui/runs").text
    shown = set(re.findall(r'data-execution-id="(sha256:[0-9a-f]{64})"', html))
    assert shown == {r["execution_id"] for r in b["runs"]}
    drift = client.get("/ui/drift?model=model-of-b").text
    assert drift.count('class="run-column"') == 3


def test_bearer_header_and_api_next_to_it(setup: dict[str, Any]) -> None:
    client: TestClient = setup["client"]
    client.cookies.clear()
    a = setup["team-a"]
    headers = {"authorization": f"Bearer {a['tokens']['read']}"}
    assert client.get("/ui/runs", headers=headers).status_code == 200
    api = client.get("/v1/stats", headers=headers)
    assert api.status_code == 200 and api.json()["runs"] == 3


def test_audit_needs_an_admin_token(setup: dict[str, Any]) -> None:
    client: TestClient = setup["client"]
    a = setup["team-a"]
    _login(client, a["tokens"]["read"])
    page = client.get("/ui/log").text
    assert "needs an admin token" in page
    csrf = client.cookies.get("runid_ui_csrf")
    refused = client.post("/ui/log/audit", data={"csrf": csrf})
    assert refused.status_code == 403
    _login(client, a["tokens"]["admin"])
    page = client.get("/ui/log").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    done = client.post("/ui/log/audit", data={"csrf": csrf.group(1)}, follow_redirects=False)
    assert done.status_code == 303
    assert 'data-audit="ok"' in client.get("/ui/log").text


def test_sign_out(setup: dict[str, Any], tmp_path: Path) -> None:
    client: TestClient = setup["client"]
    _login(client, setup["team-a"]["tokens"]["read"])
    response = client.post("/ui/logout", follow_redirects=False)
    assert response.status_code == 303
    client.cookies.clear()
    assert client.get("/ui/runs").status_code == 401
