"""The SCL:V1 AST (SPEC_V1.md §5): a document, its handles and its one scl block.

The JSON form is exactly the spec's object model::

    {"type": "Document", "version": "SCL:V1",
     "handles": [{"type": "Handle", "id": "<id>", "tags": ["<tag1>", ...]}, ...],
     "scl": {"type": "SclBlock", "content": "<content>", "refs": [], "hints": []}}

``refs`` and ``hints`` are always empty arrays in V1, so the Python nodes do not hold them.
:meth:`Document.from_json` reads that form back and accepts exactly the ASTs that some SCL:V1
document parses to (docs/scl.md, "What an AST can hold").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..errors import InputError

__all__ = [
    "VERSION",
    "Document",
    "Handle",
    "SclBlock",
    "content_problem",
    "handle_id_problem",
    "tag_problem",
]

VERSION: Final = "SCL:V1"
"""The only version an SCL:V1 document (and its AST) has."""

_HANDLE_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_QUOTED_FORBIDDEN = re.compile('["\x00-\x1f\x7f]')  # in a quoted string: the quote, controls
_CR_OR_TAB = re.compile("[\r\t]")
_BAD_TERMINATOR = re.compile(r" *\}( +)")  # a raw line SPEC §4.2 rule 3 forbids
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Handle:
    """A handle definition: its id and its tags, in input order."""

    id: str
    tags: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The AST form: ``{"type": "Handle", "id": ..., "tags": [...]}``."""
        return {"type": "Handle", "id": self.id, "tags": list(self.tags)}


@dataclass(frozen=True, slots=True)
class SclBlock:
    """The scl block: its content, as the content mode derives it (SPEC §4.2)."""

    content: str

    def to_json(self) -> dict[str, Any]:
        """The AST form: ``{"type": "SclBlock", "content": ..., "refs": [], "hints": []}``."""
        return {"type": "SclBlock", "content": self.content, "refs": [], "hints": []}


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed SCL:V1 document: the handles in input order and the scl block."""

    handles: tuple[Handle, ...]
    scl: SclBlock
    version: str = VERSION

    def to_json(self) -> dict[str, Any]:
        """The AST canonical form of SPEC_V1.md §5 as a JSON value."""
        return {
            "type": "Document",
            "version": self.version,
            "handles": [h.to_json() for h in self.handles],
            "scl": self.scl.to_json(),
        }

    @classmethod
    def from_json(cls, value: object) -> Document:
        """The document an AST JSON value describes (e.g. ``json.loads`` of canonical JSON).

        Refuses (:class:`~runid.errors.InputError`, naming the JSON Pointer) anything that is
        not exactly the §5 object model, or that no SCL:V1 document parses to: an empty
        handles list or tag list, a handle id outside ``[A-Za-z_][A-Za-z0-9_]*``, a tag with a
        double quote or a control character, content that neither content mode can hold.
        """
        doc = _object(value, "", ("type", "version", "handles", "scl"), "Document")
        if doc["version"] != VERSION:
            raise _invalid("/version", f"must be {VERSION!r}, not {doc['version']!r}")
        raw_handles = doc["handles"]
        if not isinstance(raw_handles, list) or not raw_handles:
            raise _invalid("/handles", "must be a non-empty array")
        handles = tuple(_handle(item, f"/handles/{i}") for i, item in enumerate(raw_handles))
        block = _object(doc["scl"], "/scl", ("type", "content", "refs", "hints"), "SclBlock")
        for name in ("refs", "hints"):
            if block[name] != []:
                raise _invalid(f"/scl/{name}", "must be an empty array in SCL:V1")
        content = block["content"]
        if not isinstance(content, str):
            raise _invalid("/scl/content", "must be a string")
        problem = content_problem(content)
        if problem:
            raise _invalid("/scl/content", problem)
        return cls(handles, SclBlock(content))


def handle_id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a handle id, or ``None``."""
    if _HANDLE_ID.fullmatch(value) is None:
        return f"{value!r} does not match [A-Za-z_][A-Za-z0-9_]* (ASCII)"
    return None


def tag_problem(value: str) -> str | None:
    """Why ``value`` cannot be a tag (a quoted string token, SPEC §3.4), or ``None``."""
    if _SURROGATE.search(value):
        return "holds a lone surrogate (not a Unicode scalar value)"
    found = _QUOTED_FORBIDDEN.search(value)
    if found:
        return f"holds {found.group()!r}, which a quoted string cannot hold"
    return None


def content_problem(value: str) -> str | None:
    """Why no SCL:V1 document has scl content ``value``, or ``None``.

    Quoted mode holds any lines without a double quote or a control character; raw mode holds
    any lines but one that looks like a terminator followed by spaces (``}`` then spaces), and
    its first line must not begin with optional spaces then ``"``. Neither holds CR or a tab.
    """
    if _SURROGATE.search(value):
        return "holds a lone surrogate (not a Unicode scalar value)"
    found = _CR_OR_TAB.search(value)
    if found:
        return f"holds {found.group()!r}, which SCL:V1 forbids anywhere"
    lines = value.split("\n")
    if all(_QUOTED_FORBIDDEN.search(line) is None for line in lines):
        return None  # quoted mode can hold it
    if lines[0].lstrip(" ").startswith('"'):
        return "its first line begins with a double quote, yet not every line can be quoted"
    for number, line in enumerate(lines, 1):
        if _BAD_TERMINATOR.fullmatch(line):
            return f"line {number} is '}}' followed by spaces, which raw mode forbids"
    return None


def _invalid(pointer: str, what: str) -> InputError:
    return InputError(
        f"not an SCL:V1 AST: {pointer or '/'} {what}",
        hint="the AST is the object model of SPEC_V1.md §5, as 'runid scl parse' prints it",
    )


def _object(value: object, pointer: str, keys: tuple[str, ...], kind: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _invalid(pointer, f"must be a {kind} object")
    if set(value) != set(keys):
        raise _invalid(pointer, f"must have exactly the members {', '.join(keys)}")
    if value["type"] != kind:
        raise _invalid(f"{pointer}/type", f"must be {kind!r}")
    return value


def _handle(value: object, pointer: str) -> Handle:
    item = _object(value, pointer, ("type", "id", "tags"), "Handle")
    ident, tags = item["id"], item["tags"]
    if not isinstance(ident, str):
        raise _invalid(f"{pointer}/id", "must be a string")
    problem = handle_id_problem(ident)
    if problem:
        raise _invalid(f"{pointer}/id", problem)
    if not isinstance(tags, list) or not tags:
        raise _invalid(f"{pointer}/tags", "must be a non-empty array")
    for i, tag in enumerate(tags):
        if not isinstance(tag, str):
            raise _invalid(f"{pointer}/tags/{i}", "must be a string")
        problem = tag_problem(tag)
        if problem:
            raise _invalid(f"{pointer}/tags/{i}", problem)
    return Handle(ident, tuple(tags))
