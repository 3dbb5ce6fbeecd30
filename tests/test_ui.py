"""The web UI over plain HTTP (Starlette's test client): every route, what each page shows
against what the library and the command line say, pagination and filters, hostile input."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the UI needs the server extra: pip install '.[server]'")
from click.testing import CliRunner
from starlette.testclient import TestClient

from runid._cli import main
from runid._ui.app import ui_app
from runid.home import Home
from runid.keys import Keyring, PublicKey
from runid.log import Log
from runid.policy import evaluate, parse_policy
from runid.receipt import verify_receipt
from ui_home import POLICY, make_ui_home

BASE = "http://127.0.0.1"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Home, dict[str, str]]:
    return make_ui_home(tmp_path_factory.mktemp("ui") / "home")


@pytest.fixture(scope="module")
def client(built: tuple[Home, dict[str, str]]) -> Iterator[TestClient]:
    home, _ids = built
    app = ui_app(home.path, policy=parse_policy(POLICY.read_bytes()), policy_name="acme-support")
    with TestClient(app, base_url=BASE) as c:
        yield c


@pytest.fixture(scope="module")
def ids(built: tuple[Home, dict[str, str]]) -> dict[str, str]:
    return built[1]


def indices(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-index="(\d+)"', html)]


def link(html: str, label: str) -> str | None:
    found = re.search(r'<a href="([^"]+)">' + re.escape(label) + "</a>", html)
    return found.group(1).replace("&amp;", "&") if found else None


def cli_diff(home: Home, a: str, b: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["--home", str(home.path), "diff", a, b, "--json"])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.output)


# --- every page --------------------------------------------------------------------------------


def test_every_page_answers(client: TestClient, ids: dict[str, str]) -> None:
    first, last = ids["first"], ids["last"]
    for path in (
        "/runs",
        f"/runs/{first}",
        "/diff",
        f"/diff?a={first}&b={last}",
        "/drift",
        "/drift?model=gpt-4o-mini",
        "/log",
    ):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[-500:])
        assert response.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "<script" not in response.text.lower()  # no script, and nothing injected
    assert client.get("/static/ui.css").headers["content-type"].startswith("text/css")
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/runs"


def test_an_entry_number_redirects_to_its_run(client: TestClient, ids: dict[str, str]) -> None:
    response = client.get("/runs/0", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"/runs/{ids['first']}"


# --- runs: pages and filters -------------------------------------------------------------------


def test_pages_walk_the_whole_log_newest_first_and_back(
    client: TestClient, built: tuple[Home, dict[str, str]]
) -> None:
    with Log.open(built[0], readonly=True) as log:
        size = log.size()
    seen: list[int] = []
    pages = []
    path: str | None = "/runs?limit=4"
    while path:
        html = client.get(path).text
        pages.append(indices(html))
        seen += pages[-1]
        path = link(html, "Older →")
    assert seen == list(range(size - 1, -1, -1))
    assert all(len(p) == 4 for p in pages[:-1])
    # ... and back up from the oldest page with "Newer"
    html = client.get(f"/runs?limit=4&before={pages[-1][-1] + 1}").text
    back = []
    while (path := link(html, "← Newer")) is not None:
        html = client.get(path).text
        back.append(indices(html))
    assert back[-1][0] == size - 1
    assert sorted(i for p in back for i in p) == list(range(pages[-1][-1] + 1, size))


def test_filter_by_declaration_component_and_model(
    client: TestClient, built: tuple[Home, dict[str, str]], ids: dict[str, str]
) -> None:
    home = built[0]
    with Log.open(home, readonly=True) as log:
        declaration_id = log.entry(ids["last"]).record["declaration_id"]
        expected = [e.index for e in log.entries_of(declaration_id)]
        declaration = log.declaration(declaration_id)
        assert declaration is not None
        from runid.identity import compute_identity

        context = compute_identity(declaration).components["context"]
        by_context = []
        for index in range(log.size()):
            record = log.entry(index).record
            decl = log.declaration(record["declaration_id"])
            if decl is not None and compute_identity(decl).components["context"] == context:
                by_context.append(index)
    html = client.get(f"/runs?declaration_id={declaration_id}").text
    assert indices(html) == sorted(expected, reverse=True)
    html = client.get(f"/runs?component={context}").text
    assert indices(html) == sorted(by_context, reverse=True)
    # the declared model: the twelve RAG runs and the replay, not the others
    html = client.get("/runs?model=gpt-4o-mini").text
    assert indices(html) == list(range(12, -1, -1))
    html = client.get("/runs?model=gpt-4o-mini-2025-01-31").text
    assert indices(html) == list(range(11, 5, -1))


def test_filter_by_time_policy_and_verdict(
    client: TestClient, built: tuple[Home, dict[str, str]]
) -> None:
    html = client.get("/runs?since=2025-03-01T10:00&until=2025-03-01T12:30:00Z").text
    assert indices(html) == [3, 2, 1]
    html = client.get("/runs?since=2025-03-02").text
    assert indices(html) == [14, 13, 12]
    policy = parse_policy(POLICY.read_bytes())
    with Log.open(built[0], readonly=True) as log:
        statuses = {}
        for index in range(log.size()):
            record = log.entry(index).record
            declaration = log.declaration(record["declaration_id"])
            statuses[index] = (
                "fail" if declaration is None else evaluate(policy, declaration, record).status
            )
    for result in ("pass", "fail", "not_applicable"):
        html = client.get(f"/runs?policy={result}").text
        expected = sorted((i for i, s in statuses.items() if s == result), reverse=True)
        assert indices(html) == expected, result
    html = client.get("/runs?verdict=nondeterminism").text
    assert indices(html) == [12]
    assert indices(client.get("/runs?verdict=provider_drift").text) == []


# --- a run --------------------------------------------------------------------------------------


def test_a_run_shows_its_composition_checks_policy_and_replay(
    client: TestClient, built: tuple[Home, dict[str, str]], ids: dict[str, str]
) -> None:
    home = built[0]
    html = client.get(f"/runs/{ids['last']}").text
    for check in ("signature", "inclusion", "consistency"):
        assert f'data-check="{check}" data-status="ok"' in html, check
    assert 'data-check="witnesses" data-status="none"' in html
    with Log.open(home, readonly=True) as log:
        record = log.entry(ids["last"]).record
        declaration = log.declaration(record["declaration_id"])
    assert declaration is not None
    components = re.findall(r'data-component="(\w+)" data-state="(\w+)"', html)
    assert [c for c, _ in components] == [
        "model",
        "parameters",
        "instructions",
        "inputs",
        "context",
        "tools",
        "runtime",
        "constraints",
    ]
    assert dict(components)["tools"] == "absent"
    # disclosed content the log holds is shown
    assert "Duplicate card charges are refunded within 5 business days." in html
    evaluation = evaluate(parse_policy(POLICY.read_bytes()), declaration, record)
    shown = re.findall(r'data-rule="([^"]+)" data-status="(\w+)"', html)
    assert shown == [(r.rule, r.status) for r in evaluation.results]
    assert f'data-policy="{evaluation.status}"' in html
    assert f"replay {ids['last']}</code>" in html


def test_absences_and_a_withheld_declaration(client: TestClient, ids: dict[str, str]) -> None:
    html = client.get(f"/runs/{ids['absent']}").text
    states = dict(re.findall(r'data-component="(\w+)" data-state="(\w+)"', html))
    assert states["parameters"] == "absent" and states["instructions"] == "absent"
    assert 'data-absent="not_recorded"' in html and 'data-absent="not_applicable"' in html
    # the output, a script tag, is text on the page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; answer" in html
    html = client.get(f"/runs/{ids['withheld']}").text
    states = dict(re.findall(r'data-component="(\w+)" data-state="(\w+)"', html))
    assert set(states.values()) == {"withheld"}
    assert "withheld: not stored in this log" in html


def test_the_receipt_verifies_offline(
    client: TestClient, built: tuple[Home, dict[str, str]], ids: dict[str, str]
) -> None:
    response = client.get(f"/runs/{ids['second']}/receipt.json")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    public = PublicKey.parse(built[0].public_key_path.read_text())
    verified = verify_receipt(response.content, Keyring([public]))
    assert verified.record["execution_id"] == ids["second"]


def test_stored_content_is_served_as_text(client: TestClient, ids: dict[str, str]) -> None:
    from runid.digest import content_digest

    digest = content_digest(b"<script>alert(1)</script> & answer")
    response = client.get(f"/content/{digest}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["content-security-policy"].startswith("sandbox")


# --- diff: the page says what runid diff --json says -------------------------------------------


@pytest.mark.parametrize(
    "pair",
    [("first", "last"), ("first", "replay"), ("first", "second"), ("first", "withheld")],
)
def test_the_diff_page_shows_what_runid_diff_json_says(
    client: TestClient, built: tuple[Home, dict[str, str]], ids: dict[str, str], pair: tuple
) -> None:
    a, b = ids[pair[0]], ids[pair[1]]
    expected = cli_diff(built[0], a, b)
    assert client.get(f"/diff.json?a={a}&b={b}").json() == expected
    html = client.get(f"/diff?a={a}&b={b}").text
    assert f'data-verdict="{expected["verdict"]}"' in html
    states = dict(re.findall(r'<li data-component="(\w+)" data-state="(\w+)"', html))
    assert states == expected["declaration"]["components"]
    shown = re.findall(r'data-path="([^"]*)" data-kind="(\w+)" data-section="(\w+)"', html)
    listed = [
        (c["path"], c["kind"], section)
        for section in ("declaration", "observed", "outcome")
        for c in expected[section]["changes"]
    ]
    assert [(p.replace("&quot;", '"'), k, s) for p, k, s in shown] == listed


def test_two_declarations_and_two_picked_runs(
    client: TestClient, built: tuple[Home, dict[str, str]], ids: dict[str, str]
) -> None:
    with Log.open(built[0], readonly=True) as log:
        da = log.entry(ids["first"]).record["declaration_id"]
        db = log.entry(ids["last"]).record["declaration_id"]
    expected = cli_diff(built[0], da, db)
    assert client.get(f"/diff.json?a={da}&b={db}").json() == expected
    html = client.get(f"/diff?pick={ids['first']}&pick={ids['last']}").text
    assert 'data-verdict="different_declarations"' in html


# --- drift and the log -------------------------------------------------------------------------


def test_drift_marks_each_change_and_links_the_runs(client: TestClient) -> None:
    html = client.get("/drift?model=gpt-4o-mini").text
    changed = re.findall(r'data-index="(\d+)" data-changed="([^"]+)"', html)
    # evidence_home: instructions at run 4 (12 // 3), model at 6, index snapshot at 8, every
    # fifth run's temperature; the replay (12) returns to run 0's declaration
    assert ("4", "parameters instructions") in changed
    assert ("6", "model") in changed and ("8", "context") in changed
    assert ("12", "model instructions context") in changed
    assert html.count('class="run-column"') == 13
    assert "<svg" in html


def test_log_page_and_audit_on_demand(client: TestClient, built: tuple[Home, dict]) -> None:
    html = client.get("/log").text
    with Log.open(built[0], readonly=True) as log:
        size = log.size()
        note = log.store.latest_checkpoint().note  # type: ignore[union-attr]
    assert f'data-size="{size}"' in html
    assert note.decode().splitlines()[2] in html
    assert 'id="audit-status"' in html
    assert client.get("/log/checkpoint").content == note
    token = re.search(r'name="csrf" value="([^"]+)"', html)
    assert token is not None
    response = client.post("/log/audit", data={"csrf": token.group(1)}, follow_redirects=False)
    assert response.status_code == 303
    assert 'data-audit="ok"' in client.get("/log").text
    older = client.get("/log?before=5").text
    with Log.open(built[0], readonly=True) as log:
        stored = [str(cp.size) for cp in log.store.iter_checkpoints() if cp.size < 5]
    assert stored and re.findall(r'<tr data-size="(\d+)"', older) == stored[::-1]


# --- hostile input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/runs/sha256:xyz", 400),
        ("/runs/not-an-id", 400),
        ("/runs/" + "sha256:" + "0" * 64, 404),
        ("/runs/99999999", 404),
        ("/runs/123456789012345678901234567890", 400),
        ("/runs?before=123456789012345678901234567890", 400),
        ("/runs?before=-1", 400),
        ("/runs?before=1&after=2", 400),
        ("/runs?limit=0", 400),
        ("/runs?limit=100000", 400),
        ("/runs?since=yesterday", 400),
        ("/runs?since=2025-02-30", 400),
        ("/runs?since=2025-03-02&until=2025-03-01", 400),
        ("/runs?verdict=maybe", 400),
        ("/runs?policy=perhaps", 400),
        ("/runs?declaration_id=sha256:12", 400),
        ("/runs?colour=red", 400),
        ("/runs?model=" + "m" * 300, 400),
        ("/diff?a=/etc/passwd&b=/etc/passwd", 400),
        ("/diff?a=" + "sha256:" + "0" * 64 + "&b=" + "sha256:" + "1" * 64, 404),
        ("/diff?pick=sha256:" + "0" * 64, 400),
        ("/diff.json?a=x", 400),
        ("/content/sha256:" + "0" * 64, 404),
        ("/content/..%2F..%2Fetc%2Fpasswd", 404),
        ("/drift?component=nope", 400),
        ("/drift?model=a&component=sha256:" + "0" * 64, 400),
        ("/log?before=abc", 400),
        ("/runs/" + "sha256:" + "0" * 64 + "/receipt.json", 404),
        ("/nothing-here", 404),
        ("/runs/%00", 400),
    ],
)
def test_hostile_input_is_a_clear_4xx(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status, (path, response.text[-400:])
    assert "Traceback" not in response.text
    assert 'class="error-message"' in response.text
    assert response.headers["content-type"].startswith("text/html")


def test_methods_hosts_and_forged_forms_are_refused(client: TestClient) -> None:
    assert client.post("/runs").status_code == 405
    forged = client.post("/log/audit", data={"csrf": "guess"})
    assert forged.status_code == 403 and "Traceback" not in forged.text
    assert client.post("/log/audit").status_code == 403
    rebinding = client.get("/runs", headers={"host": "evil.example"})
    assert rebinding.status_code == 400


def test_no_runs_page_of_an_empty_log(tmp_path: Path) -> None:
    home = Home(tmp_path / "empty")
    home.init_keys("runid.example/empty")
    with Log.open(home) as log:
        log.checkpoint()
    with TestClient(ui_app(home.path), base_url=BASE) as c:
        html = c.get("/runs").text
        assert "No run matches" in html
        assert c.get("/log").status_code == 200
        assert c.get("/drift").status_code == 200


def test_runid_ui_without_keys_is_one_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--home", str(tmp_path / "none"), "ui"])
    assert result.exit_code == 2
    assert "no runid keys here" in result.output
