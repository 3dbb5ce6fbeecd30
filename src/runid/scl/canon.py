"""SCL:V1 canonical JSON and the document hash (SPEC_V1.md §6).

The canonical JSON of a document is its AST (§5) as one line of UTF-8: object keys sorted by
the bytes of their UTF-8 encoding, no whitespace outside strings, and strings with minimal
escaping: ``"`` and ``\\`` are escaped, U+0000..U+001F are written ``\\u00xx`` (lowercase hex),
and nothing else is escaped (no ``\\n``, no ``\\t``, no ``\\/``, no ``\\uXXXX`` for other
characters). ``doc_hash`` is SHA-256 of exactly those bytes.

This is **not** RFC 8785 byte for byte: RFC 8785 writes LF as ``\\n`` (and U+0008, U+0009,
U+000C, U+000D as ``\\b``, ``\\t``, ``\\f``, ``\\r``) where SCL:V1 forbids those short escapes.
For an AST whose strings hold no control character the two agree (the AST's keys are ASCII, so
UTF-8 and UTF-16 orders agree too); docs/scl.md says more.

>>> from runid.scl import parse
>>> canonical_json(parse(b'SCL:V1\\n\\nhandles {\\na("x")\\n}\\nscl {\\n"hi"\\n}'))
b'{"handles":[{"id":"a","tags":["x"],"type":"Handle"}],"scl":{"content":"hi","hints":[],"refs":[],"type":"SclBlock"},"type":"Document","version":"SCL:V1"}'
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Final

from .nodes import Document

__all__ = ["canonical_json", "canonical_json_value", "doc_hash", "doc_hash_of_canonical"]

_ESCAPES: Final[dict[str, str]] = {
    '"': '\\"',
    "\\": "\\\\",
    **{chr(c): f"\\u{c:04x}" for c in range(0x20)},
}
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f]')


def _string(value: str) -> str:
    return '"' + _NEEDS_ESCAPE.sub(lambda m: _ESCAPES[m.group()], value) + '"'


def _write(value: object, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, Mapping):
        out.append("{")
        for i, key in enumerate(sorted(value, key=_utf8)):
            if i:
                out.append(",")
            out.append(_string(key))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, Sequence):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:  # §6.1: no numbers, booleans or null in an SCL:V1 document's canonical JSON
        raise TypeError(f"SCL:V1 canonical JSON holds objects, arrays and strings, not {value!r}")


def _utf8(key: str) -> bytes:
    if not isinstance(key, str):
        raise TypeError(f"object keys are strings, not {key!r}")
    return key.encode("utf-8")


def canonical_json_value(value: object) -> bytes:
    """The SCL:V1 canonical JSON bytes of a value made of objects, arrays and strings.

    Object keys are unique by construction (a mapping); a string that is not Unicode scalar
    values (a lone surrogate) cannot be encoded and raises ``UnicodeEncodeError``.
    """
    out: list[str] = []
    _write(value, out)
    return "".join(out).encode("utf-8")


def canonical_json(document: Document) -> bytes:
    """The canonical JSON bytes of a parsed document: the sole input of its hash."""
    return canonical_json_value(document.to_json())


def doc_hash_of_canonical(canonical: bytes) -> str:
    """SHA-256 of canonical JSON bytes, as 64 lowercase hexadecimal digits."""
    return hashlib.sha256(canonical).hexdigest()


def doc_hash(document: Document) -> str:
    """The Document Hash (§6): SHA-256 of the canonical JSON, 64 lowercase hex digits.

    It is not the hash of the input bytes: documents that differ only in formatting (the
    indentation of handle lines, of quoted lines, of the terminator) have the same hash.
    """
    return doc_hash_of_canonical(canonical_json(document))
