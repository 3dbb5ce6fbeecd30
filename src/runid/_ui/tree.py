"""A declaration as a tree: its eight components, their digests, and every value below them.

Each component is a ``<details>`` (open by default: it folds with the keyboard, no script)
headed by its name and digest. An absent component or value shows its kind of absence
(``not applicable``, ``not recorded``, ``undisclosed``); a content reference shows its digest,
size and media type, and the content itself when the log holds the blob and it is text (the
first :data:`PREVIEW` characters, with a link to the whole). A component known only by digest
(the declaration is withheld) says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from ..declaration import COMPONENTS
from .html import Html, tag, url
from .layout import absent_badge, short

__all__ = ["PREVIEW", "composition", "value_html"]

PREVIEW: Final = 600
"""Characters of stored text content shown inline."""

Content = Callable[[str], bytes | None]


def _is_ref(value: object) -> bool:
    return isinstance(value, dict) and value.keys() == {"digest", "size", "media_type"}


def _is_absent(value: object) -> bool:
    return isinstance(value, dict) and value.keys() == {"absent"}


def _textual(media_type: str) -> bool:
    kind = media_type.split(";", maxsplit=1)[0].strip().lower()
    return kind.startswith("text/") or kind.endswith(("+json", "/json", "+xml", "/xml"))


def content_ref(value: dict[str, Any], content: Content | None, prefix: str) -> Html:
    digest = str(value["digest"])
    head = tag(
        "span",
        tag("code", short(digest), title=digest),
        f" · {value['size']:,} B · {value['media_type']}",
        class_="ref",
    )
    data = content(digest) if content is not None else None
    if data is None:
        return tag("span", head, " ", tag("span", "content not stored", class_="muted"))
    if not _textual(str(value["media_type"])):
        link = tag("a", "stored (binary)", href=url(f"{prefix}/content/{digest}"))
        return tag("span", head, " ", link)
    text = data.decode("utf-8", errors="replace")
    more = ""
    if len(text) > PREVIEW:
        text = text[:PREVIEW] + "…"
        more = tag("a", "whole content", href=url(f"{prefix}/content/{digest}"))
    return tag(
        "div",
        head,
        tag("pre", text, class_="content", data_digest=digest),
        more,
        class_="disclosed",
    )


def _token(key: object) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def value_html(
    value: Any,
    content: Content | None = None,
    prefix: str = "",
    pointer: str = "",
    marks: frozenset[str] = frozenset(),
) -> Html:
    """A JSON value as nested definition lists (escaped). ``pointer`` is where ``value`` is
    (an RFC 6901 pointer); the values at a pointer in ``marks`` are marked as diverged."""
    if _is_absent(value):
        return absent_badge(value["absent"])
    if _is_ref(value):
        return content_ref(value, content, prefix)
    if isinstance(value, dict):
        if not value:
            return tag("span", "{}", class_="muted")
        rows = []
        for key, item in value.items():
            at = f"{pointer}/{_token(key)}"
            mark = "diverged" if at in marks else None
            rows.append(tag("dt", str(key), class_=mark))
            rows.append(
                tag(
                    "dd", value_html(item, content, prefix, at, marks), class_=mark, data_pointer=at
                )
            )
        return tag("dl", rows)
    if isinstance(value, list):
        if not value:
            return tag("span", "[] (none)", class_="muted")
        items = []
        for position, item in enumerate(value):
            at = f"{pointer}/{position}"
            items.append(
                tag(
                    "li",
                    value_html(item, content, prefix, at, marks),
                    class_="diverged" if at in marks else None,
                    data_pointer=at,
                )
            )
        return tag("ol", items, start="0")
    if isinstance(value, str):
        if value.startswith("sha256:") and len(value) == 71:
            return tag("code", short(value), title=value)
        return tag("span", value, class_="str")
    if value is None:
        return tag("span", "null", class_="muted")
    if isinstance(value, bool):
        return tag("code", "true" if value else "false")
    return tag("code", str(value))


def composition(
    declaration: Mapping[str, Any] | None,
    components: Mapping[str, str] | None,
    content: Content | None = None,
    prefix: str = "",
    *,
    marks: frozenset[str] = frozenset(),
    states: Mapping[str, str] | None = None,
) -> Html:
    """The eight components of a declaration (or their digests alone, when withheld);
    ``marks`` (pointers) and ``states`` (component -> same/different) come from a diff."""
    items = []
    for name in COMPONENTS:
        digest = components.get(name) if components is not None else None
        value: Any = declaration.get(name) if declaration is not None else None
        digest_html = (
            tag(
                "a",
                tag("code", short(digest)),
                href=url(f"{prefix}/runs", component=digest),
                title=f"{digest}: runs with this {name}",
                class_="digest",
            )
            if digest
            else tag("span", "digest unknown", class_="muted")
        )
        if declaration is None:
            body = tag("p", "content withheld: known by digest only", class_="muted")
            state = "withheld"
        elif _is_absent(value):
            body = tag("p", absent_badge(value["absent"]))
            state = "absent"
        else:
            body = value_html(value, content, prefix, f"/{name}", marks)
            state = "present"
        summary = tag(
            "summary",
            tag("span", name, class_="component-name"),
            " ",
            digest_html,
            " ",
            absent_badge(value["absent"]) if state == "absent" else "",
        )
        diverged = states is not None and states.get(name) == "different"
        if f"/{name}" in marks:
            body = tag("div", body, class_="diverged")
        items.append(
            tag(
                "li",
                tag(
                    "details",
                    summary,
                    tag("div", body, class_="component-body"),
                    open=states is None or diverged,
                ),
                class_=f"component component-{state}" + (" component-diverged" if diverged else ""),
                data_component=name,
                data_state=state,
                data_diff=states.get(name) if states is not None else None,
            )
        )
    return tag("ul", items, class_="tree", aria_label="Composition: the eight components")
