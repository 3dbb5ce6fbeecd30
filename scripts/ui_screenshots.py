"""Screenshots of every page of ``runid ui`` (docs/ui/*.png), taken in Debian's chromium.

The pages show the home the browser tests use (tests/ui_home.py: a RAG pipeline whose model,
instructions and index change over twelve runs, a replay, a withheld declaration, absent
components), served read-only with the example policy. Run it after changing a page:

    python scripts/ui_screenshots.py            # writes docs/ui/*.png

Needs playwright (``pip install playwright``; the browser is /usr/bin/chromium, never
downloaded).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from runid._ui.app import ui_app  # noqa: E402
from runid.policy import parse_policy  # noqa: E402
from ui_browser import chromium, missing, serve  # noqa: E402
from ui_home import POLICY, make_ui_home  # noqa: E402

OUT = ROOT / "docs" / "ui"


def main() -> int:
    reason = missing()
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        home, ids = make_ui_home(Path(tmp) / "home")
        policy = parse_policy(POLICY.read_bytes())
        app = ui_app(home.path, policy=policy, policy_name="acme-support")
        pages = {
            "runs": "/runs",
            "run": f"/runs/{ids['last']}",
            "diff": f"/diff?a={ids['first']}&b={ids['last']}",
            "drift": "/drift?model=gpt-4o-mini",
            "log": "/log",
        }
        with serve(app) as base, chromium({"width": 1280, "height": 900}) as browser:
            page = browser.new_page()
            for name, path in pages.items():
                page.goto(base + path)
                if name == "log":
                    page.get_by_role("button", name="Run audit now").click()
                    page.wait_for_selector("#audit-status[data-audit]")
                page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
                print(f"wrote {OUT / f'{name}.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
