"""The frame every page shares, and the small pieces pages are made of.

Pages are plain HTML with one stylesheet (``static/ui.css``, shipped in the package) and no
script: every control is a link or a form that works from the keyboard. The frame has a skip
link, a navigation landmark and a ``main`` landmark; ids and digests are shown shortened with
the full value in a ``title`` and in the link.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from .html import Html, escape, tag, url

__all__ = [
    "Nav",
    "absent_badge",
    "badge",
    "page",
    "short",
    "status_badge",
]

_NAV: Final = (("runs", "Runs", "/runs"), ("diff", "Diff", "/diff"), ("drift", "Drift", "/drift"))
_NAV_LOG: Final = ("log", "Log", "/log")

Nav = str


def short(digest: object, n: int = 12) -> str:
    """``sha256:0123456789ab…`` (``n`` hex digits)."""
    text = str(digest)
    if text.startswith("sha256:") and len(text) > 7 + n:
        return text[: 7 + n] + "…"
    return text


def badge(text: str, kind: str) -> Html:
    return tag("span", text, class_=f"badge badge-{kind}")


def status_badge(status: str) -> Html:
    kind = {"ok": "ok", "pass": "ok", "fail": "fail", "error": "fail"}.get(status, "muted")
    return badge(status.replace("_", " "), kind)


def absent_badge(reason: object) -> Html:
    return tag(
        "span",
        "absent: ",
        tag("strong", str(reason).replace("_", " ")),
        class_="absent",
        data_absent=str(reason),
    )


def page(
    title: str,
    body: Iterable[object] | Html,
    *,
    active: Nav = "",
    prefix: str = "",
    subtitle: str = "",
    user: str | None = None,
) -> Html:
    """A whole page: ``prefix`` is where the UI is mounted (``""`` or ``/ui``)."""
    links = []
    for key, label, path in (*_NAV, _NAV_LOG):
        current = "page" if key == active else None
        links.append(tag("li", tag("a", label, href=prefix + path, aria_current=current)))
    who = tag("span", user, class_="who") if user else ""
    header = tag(
        "header",
        tag("a", "Skip to content", href="#main", class_="skip"),
        tag(
            "nav",
            tag("a", "runid", href=prefix + "/runs", class_="brand"),
            tag("ul", links),
            who,
            aria_label="Main",
        ),
    )
    heading = tag("h1", title)
    sub = tag("p", subtitle, class_="subtitle") if subtitle else ""
    main = tag("main", heading, sub, escape(body), id="main", tabindex="-1")
    return Html(
        "<!doctype html>\n"
        + tag(
            "html",
            tag(
                "head",
                Html('<meta charset="utf-8">'),
                Html('<meta name="viewport" content="width=device-width, initial-scale=1">'),
                tag("title", f"{title} · runid"),
                tag("link", rel="stylesheet", href=url(prefix + "/static/ui.css")),
                tag("link", rel="icon", href="data:,"),
            ),
            tag("body", header, main),
            lang="en",
        )
    )
