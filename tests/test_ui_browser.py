"""The web UI in a real browser: Debian's chromium driven by Playwright (never downloaded).

Each page loads with no console error (a Content-Security-Policy violation is one), a run leads
to its diff, what the pages show is what the library and ``runid diff --json`` say, and the
keyboard reaches the main links and controls with a visible focus. Skipped, with the reason,
when Playwright or chromium is missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the UI needs the server extra: pip install '.[server]'")
pytest.importorskip("uvicorn", reason="the UI needs the server extra: pip install '.[server]'")

from ui_browser import chromium, missing, serve

if (reason := missing()) is not None:
    pytest.skip(reason, allow_module_level=True)

from click.testing import CliRunner

from runid._cli import main
from runid._ui.app import ui_app
from runid.home import Home
from runid.log import Log
from runid.policy import parse_policy
from ui_home import POLICY, make_ui_home

pytestmark = pytest.mark.slow


class Watched:
    """A page whose console errors, page errors and failed requests are collected."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on(
            "console",
            lambda m: (
                self.errors.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning")
                else None
            ),
        )
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url}"))

    def goto(self, url: str) -> Any:
        response = self.page.goto(url)
        assert response is not None and response.status == 200, url
        return response


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Home, dict[str, str]]]:
    home, ids = make_ui_home(tmp_path_factory.mktemp("ui-browser") / "home")
    app = ui_app(home.path, policy=parse_policy(POLICY.read_bytes()), policy_name="acme-support")
    with serve(app) as base:
        yield base, home, ids


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as context:
        yield context


@pytest.fixture
def page(browser: Any) -> Iterator[Watched]:
    tab = browser.new_page()
    watched = Watched(tab)
    yield watched
    tab.close()


def cli_diff(home: Home, a: str, b: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["--home", str(home.path), "diff", a, b, "--json"])
    return json.loads(result.output)


def test_every_page_loads_without_console_errors(site: tuple, page: Watched) -> None:
    base, _home, ids = site
    for path in (
        "/runs",
        f"/runs/{ids['last']}",
        f"/runs/{ids['absent']}",
        f"/runs/{ids['withheld']}",
        "/diff",
        f"/diff?a={ids['first']}&b={ids['last']}",
        "/drift",
        "/drift?model=gpt-4o-mini",
        "/log",
    ):
        page.goto(base + path)
        assert page.page.locator("h1").count() == 1
    assert page.errors == []


def test_the_runs_page_shows_the_log(site: tuple, page: Watched) -> None:
    base, home, _ids = site
    page.goto(base + "/runs")
    with Log.open(home, readonly=True) as log:
        size = log.size()
        newest = log.entry(size - 1).record["execution_id"]
    rows = page.page.locator("table.runs tbody tr")
    assert rows.count() == size
    assert rows.first.get_attribute("data-index") == str(size - 1)
    first_link = rows.first.locator("a.run-link")
    assert first_link.get_attribute("data-execution-id") == newest
    assert f"({size:,} in all)" in page.page.locator("caption").inner_text()
    assert page.errors == []


def test_follow_a_run_to_its_diff(site: tuple, page: Watched) -> None:
    base, home, ids = site
    page.goto(base + "/runs")
    # the replay's verdict in the list leads to the diff of the original and the replay
    page.page.locator('tr[data-index="12"] a', has_text="nondeterminism").click()
    page.page.wait_for_url("**/diff?**")
    expected = cli_diff(home, ids["first"], ids["replay"])
    verdict = page.page.locator("#verdict")
    assert verdict.get_attribute("data-verdict") == expected["verdict"] == "nondeterminism"
    assert "Sampling nondeterminism" in verdict.inner_text()
    # a run page's "Diff with the replayed run" leads to the same comparison
    page.goto(base + f"/runs/{ids['replay']}")
    page.page.get_by_role("link", name="Diff with the replayed run").click()
    page.page.wait_for_url("**/diff?**")
    assert page.page.locator("#verdict").get_attribute("data-verdict") == "nondeterminism"
    assert page.errors == []


def test_the_diff_shown_is_runid_diff_json(site: tuple, page: Watched) -> None:
    base, home, ids = site
    a, b = ids["first"], ids["last"]
    page.goto(base + "/diff")
    page.page.fill("#f-a", a)
    page.page.fill("#f-b", b)
    page.page.get_by_role("button", name="Compare").click()
    page.page.wait_for_selector("#verdict")
    expected = cli_diff(home, a, b)
    assert page.page.locator("#verdict").get_attribute("data-verdict") == expected["verdict"]
    states = {
        li.get_attribute("data-component"): li.get_attribute("data-state")
        for li in page.page.locator("ul.component-states li").all()
    }
    assert states == expected["declaration"]["components"]
    rows = page.page.locator("tr.change").all()
    shown = [(r.get_attribute("data-path"), r.get_attribute("data-kind")) for r in rows]
    listed = [
        (c["path"], c["kind"])
        for section in ("declaration", "observed", "outcome")
        for c in expected[section]["changes"]
    ]
    assert shown == listed
    # the visible cells hold the values the report gives (model.version, both sides)
    row = page.page.locator('tr.change[data-path="model.version"]')
    assert expected["declaration"]["changes"][-1]["path"] == "model.version"
    change = expected["declaration"]["changes"][-1]
    assert row.locator("td.side-a").inner_text() == json.dumps(change["a"])
    assert row.locator("td.side-b").inner_text() == json.dumps(change["b"])
    # and side by side, the diverged fields are marked in both compositions
    marked = page.page.locator("#side-by-side dd.diverged")
    assert marked.count() >= 2 * len(expected["declaration"]["changes"])
    assert page.errors == []


def test_drift_chart_links_into_runs(site: tuple, page: Watched) -> None:
    base, _home, _ids = site
    page.goto(base + "/drift?model=gpt-4o-mini")
    columns = page.page.locator("svg.drift a.run-column")
    assert columns.count() == 13
    columns.nth(6).click()
    page.page.wait_for_url("**/runs/sha256:*")
    assert page.page.locator("h1").inner_text() == "Run 6"
    assert page.errors == []


def test_audit_runs_on_demand(site: tuple, page: Watched) -> None:
    base, home, _ids = site
    page.goto(base + "/log")
    with Log.open(home, readonly=True) as log:
        size = log.size()
    assert page.page.locator("#log-size").get_attribute("data-size") == str(size)
    assert page.page.locator("#audit-status").get_attribute("data-audit") is None
    page.page.get_by_role("button", name="Run audit now").click()
    page.page.wait_for_selector('#audit-status[data-audit="ok"]')
    assert page.errors == []


def _focused(page: Any) -> dict[str, str]:
    return page.evaluate(
        """() => {
          const el = document.activeElement;
          const style = getComputedStyle(el);
          return {tag: el.tagName.toLowerCase(), text: (el.innerText || el.value || '').trim(),
                  id: el.id || '', name: el.getAttribute('name') || '',
                  cls: el.getAttribute('class') || '',
                  outline: style.outlineStyle + ' ' + style.outlineWidth};
        }"""
    )


def test_keyboard_reaches_links_and_controls_with_visible_focus(site: tuple, page: Watched) -> None:
    base, _home, _ids = site
    page.goto(base + "/runs")
    reached = []
    for _ in range(40):
        page.page.keyboard.press("Tab")
        focused = _focused(page.page)
        reached.append(focused)
        assert focused["outline"].split()[0] != "none", focused  # the focus is visible
        assert focused["outline"].split()[1] != "0px", focused
    texts = [f["text"] for f in reached]
    assert texts[0] == "Skip to content"
    for label in ("Runs", "Diff", "Drift", "Log", "Filter", "Clear"):
        assert label in texts, label
    names = {f["name"] for f in reached}
    assert {"since", "until", "model", "declaration_id", "component", "policy", "verdict"} <= names
    assert any("run-link" in f["cls"] for f in reached)
    # Enter on a run link opens the run
    while "run-link" not in _focused(page.page)["cls"]:
        page.page.keyboard.press("Shift+Tab")
    page.page.keyboard.press("Enter")
    page.page.wait_for_url("**/runs/sha256:*")
    # the skip link moves the focus to the main content
    page.page.keyboard.press("Tab")
    page.page.keyboard.press("Enter")
    assert page.page.evaluate("document.activeElement.id") == "main"
    assert page.errors == []


def test_keyboard_on_the_diff_form(site: tuple, page: Watched) -> None:
    base, home, ids = site
    page.goto(base + "/diff")
    page.page.keyboard.press("Tab")  # skip link
    for _ in range(6):
        page.page.keyboard.press("Tab")
        if page.page.evaluate("document.activeElement.id") == "f-a":
            break
    page.page.keyboard.type(ids["first"])
    page.page.keyboard.press("Tab")
    page.page.keyboard.type(ids["second"])
    page.page.keyboard.press("Enter")
    page.page.wait_for_selector("#verdict")
    expected = cli_diff(home, ids["first"], ids["second"])
    assert page.page.locator("#verdict").get_attribute("data-verdict") == expected["verdict"]
    assert page.errors == []
