"""A very small HTML builder that escapes by default.

:class:`Html` is text already known to be markup; everything else that goes into a page
passes through :func:`escape`. :func:`tag` builds an element whose children are escaped unless
they are :class:`Html`, and whose attribute values are always escaped, so a value read from the
log (a model name, a message, a path) can never become markup.

>>> str(tag("a", "<b>", href="/runs?x=1&y=2", class_="run"))
'<a href="/runs?x=1&amp;y=2" class="run">&lt;b&gt;</a>'
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Final
from urllib.parse import quote, urlencode

__all__ = ["Html", "escape", "join", "tag", "url"]

#: Elements with no content and no end tag.
_VOID: Final = frozenset({"br", "hr", "img", "input", "link", "meta"})
#: SVG elements written self-closing when empty (in HTML, SVG has no void elements).
_SVG_EMPTY: Final = frozenset({"rect", "circle", "line", "path"})


class Html(str):
    """Markup that is safe as it is (built here or escaped already)."""

    __slots__ = ()


def escape(value: object) -> Html:
    """``value`` as text inside markup (``None`` is nothing; :class:`Html` stays as it is)."""
    if value is None:
        return Html("")
    if isinstance(value, Html):
        return value
    if isinstance(value, str):
        return Html(html.escape(value, quote=True))
    if isinstance(value, bool | int | float):
        return Html(html.escape(str(value), quote=True))
    if isinstance(value, Iterable):
        return join(value)
    return Html(html.escape(str(value), quote=True))


def join(children: Iterable[object], sep: str = "") -> Html:
    """The children, each escaped, one after the other."""
    return Html(sep.join(escape(child) for child in children))


def tag(name: str, /, *children: object, **attrs: object) -> Html:
    """``<name attrs>children</name>``: a trailing ``_`` in an attribute name is dropped
    (``class_``), ``_`` elsewhere becomes ``-`` (``aria_label``); ``True`` is a bare
    attribute, ``None`` and ``False`` leave it out."""
    parts = [name]
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        attr = key.rstrip("_").replace("_", "-")
        if value is True:
            parts.append(attr)
        else:
            parts.append(f'{attr}="{html.escape(str(value), quote=True)}"')
    opening = "<" + " ".join(parts) + ">"
    if name in _VOID and not children:
        return Html(opening)
    if name in _SVG_EMPTY and not children:
        return Html(opening[:-1] + "/>")
    return Html(opening + join(children) + f"</{name}>")


def url(path: str, **query: object) -> str:
    """``path`` with the query parameters that are not ``None`` or empty (path segments are
    percent-encoded except ``/`` and ``:``)."""
    kept = {k.rstrip("_"): str(v) for k, v in query.items() if v is not None and v != ""}
    base = quote(path, safe="/:")
    return base + ("?" + urlencode(kept) if kept else "")
