"""Strict JSON text parsing and the slow, pointer-reporting value checker behind it.

:func:`parse` reads JSON text the way RFC 8785 / I-JSON (RFC 7493) need it: UTF-8 only, no
byte order mark, no NaN/Infinity, no duplicate keys, no lone surrogates, no number that
overflows a double, no integer literal beyond +/-(2**53 - 1) that canonicalization would
change, bounded size and nesting depth.

The parse runs on the C scanner of :mod:`json` with hooks that never raise: a rejected number
becomes an :class:`Invalid` marker, an object with a repeated key keeps all its members in order
(:class:`Pairs`), and either sets a flag. Only when a flag is set (or the text could hold a lone
surrogate) does :func:`find_problem` walk the result, in document order, to turn the first
problem into an error with its RFC 6901 JSON Pointer. The same walk explains failures of
:func:`runid.canonical.canonicalize`, whose fast path only knows *that* a value is bad, not
*where*.

Precedence (docs/spec.md §2.1): the size, then the encoding, are checked before the text is
read; reading stops at the first syntax fault or at the opening bracket of the first level of
nesting past the limit, whichever comes first; a text read to its end is then checked for value
faults, and the one that starts first in the text is reported. A value fault's place is where
its literal starts; a key's (a lone surrogate in it, or its repeat) is where the key starts.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

import orjson

from runid._internal.es6 import format_number
from runid.errors import CanonicalizationError, InputError, JSONSyntaxError, LimitExceededError

from ..errors import (
    E_DUPLICATE_KEY,
    E_INTEGER_RANGE,
    E_KEY_TYPE,
    E_LONE_SURROGATE,
    E_NAN,
    E_NOT_JSON,
    E_NUMBER_RANGE,
    E_TOO_DEEP,
    E_TOO_LARGE,
)

__all__ = ["Invalid", "Pairs", "find_problem", "parse", "show"]

_MAX_SAFE_INT = 2**53 - 1
_UTF8_BOM = b"\xef\xbb\xbf"

# The tokens the depth scan cares about: string literals and brackets.
_KEEP_BRACKETS = str.maketrans("", "", "".join(chr(c) for c in range(128) if chr(c) not in "[]{}"))
_DEPTH_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_BRACKET_DELTA = {"[": 1, "{": 1, "]": -1, "}": -1}

# Where a lone surrogate could come from: a \uD800-\uDFFF escape, or (str input only) a raw
# surrogate code point. A match is only a hint; the walk decides.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class Invalid:
    """Stands in the parsed value for a number or literal JSON text held but runid rejects."""

    __slots__ = ("code", "text")

    def __init__(self, code: str, text: str) -> None:
        self.code = code
        self.text = text  # the offending literal


class Pairs:
    """Stands in the parsed value for an object with a repeated key: every member, in document
    order, so the walk reports whichever fault comes first (a member's value before the repeat,
    or the repeat)."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs


def show(text: str, limit: int = 80) -> str:
    """``text`` made safe for a one-line message: characters that are not printable (controls,
    line separators, surrogates, format characters) become ``\\uXXXX``; anything longer than
    ``limit`` is shortened in the middle."""
    if len(text) > limit:
        half = (limit - 3) // 2
        text = text[:half] + "..." + text[-half:]
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def _where(pointer: str) -> str:
    return show(pointer, 120) if pointer else "the root"


def _token(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _first_surrogate(s: str) -> str | None:
    if s.isascii():
        return None
    m = _SURROGATE.search(s)
    return None if m is None else m.group()


def _type_name(value: object) -> str:
    cls = type(value)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


_HINTS = {
    E_DUPLICATE_KEY: "each key may appear once in an object; remove or rename the repeated one",
    E_NAN: "JSON has no NaN or Infinity; use null or a string instead",
    E_NUMBER_RANGE: "write numbers beyond 1.7976931348623157e+308 as strings",
    E_INTEGER_RANGE: "integers beyond 2**53-1 are not exact in JSON; write them as strings",
    E_LONE_SURROGATE: "text must be valid Unicode; pair the surrogate or remove it",
    E_KEY_TYPE: "JSON object keys are strings; convert the key with str()",
    E_NOT_JSON: "use dict, list, tuple, str, int, float, bool or None",
}


def _describe(v: object) -> tuple[str, str, str] | None:
    """``(code, subject, tail)`` if the non-container ``v`` is not canonical JSON; the message
    reads ``f"{subject} at {where}{tail}"``."""
    if isinstance(v, str):
        bad = _first_surrogate(v)
        if bad is None:
            return None
        return E_LONE_SURROGATE, f"lone surrogate U+{ord(bad):04X} in string", ""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, int):
        if -_MAX_SAFE_INT <= v <= _MAX_SAFE_INT:
            return None
        return E_INTEGER_RANGE, f"integer {show(str(v), 40)}", " is beyond +/-(2**53-1)"
    if isinstance(v, float):
        if v - v == 0.0:
            return None
        name = "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
        return E_NAN, name, " is not a JSON number"
    if isinstance(v, Invalid):
        text = show(v.text, 40)
        if v.code == E_NAN:
            return E_NAN, text, " is not a JSON number"
        if v.code == E_NUMBER_RANGE:
            return E_NUMBER_RANGE, f"number {text}", " is too large for a double"
        tail = " is beyond +/-(2**53-1)"
        if len(v.text) <= 320:
            try:
                changed = format_number(float(int(v.text)))
            except OverflowError:
                pass
            else:
                tail += f" and canonicalization would change it to {changed}"
        return E_INTEGER_RANGE, f"integer {text}", tail
    return E_NOT_JSON, f"value of type {_type_name(v)}", " is not JSON"


def find_problem(value: object, max_depth: int) -> InputError | None:
    """Return the first reason ``value`` is not canonical JSON, in document order, or None.

    Accepts what :func:`runid.canonical.canonicalize` accepts: dict (str keys), list, tuple,
    str, int, float, bool, None, and subclasses of them. :class:`Invalid` markers are always
    a problem. Members are checked in order, each key before its value: a key's problem (not a
    string, a lone surrogate, a repeat) is found where the key stands, after the values of the
    members before it.
    """
    path: list[str] = []

    def fail(code: str, subject: str, tail: str = "") -> CanonicalizationError:
        pointer = "".join(path)
        return CanonicalizationError(
            f"{subject} at {_where(pointer)}{tail}", pointer=pointer, code=code, hint=_HINTS[code]
        )

    def key_problem(key: object, seen: set[str] | None) -> InputError | None:
        if not isinstance(key, str):
            return fail(
                E_KEY_TYPE,
                f"object key {show(repr(key), 40)} of type {_type_name(key)} in object",
                " is not a string",
            )
        bad = _first_surrogate(key)
        if bad is not None:
            return fail(
                E_LONE_SURROGATE,
                f'lone surrogate U+{ord(bad):04X} in key "{show(key, 40)}" of object',
            )
        if seen is not None:
            if key in seen:
                return fail(E_DUPLICATE_KEY, f'duplicate key "{show(key, 40)}" in object')
            seen.add(key)
        return None

    def walk(v: object, depth: int) -> InputError | None:
        if not isinstance(v, dict | list | tuple | Pairs):
            described = _describe(v)
            return None if described is None else fail(*described)
        if depth >= max_depth:
            return LimitExceededError(
                f"value nests deeper than the limit of {max_depth} levels at "
                + _where("".join(path)),
                code=E_TOO_DEEP,
                hint="flatten the structure",
            )
        if isinstance(v, dict | Pairs):
            members = v.pairs if isinstance(v, Pairs) else v.items()
            seen: set[str] | None = set() if isinstance(v, Pairs) else None
            for key, item in members:
                found = key_problem(key, seen)
                if found is not None:
                    return found
                path.append("/" + _token(key))
                found = walk(item, depth + 1)
                path.pop()
                if found is not None:
                    return found
        else:
            for index, item in enumerate(v):
                path.append(f"/{index}")
                found = walk(item, depth + 1)
                path.pop()
                if found is not None:
                    return found
        return None

    return walk(value, 0)


def _line_col(text: str, index: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _syntax(line: int, column: int, what: str) -> JSONSyntaxError:
    return JSONSyntaxError(f"invalid JSON at line {line}, column {column}: {what}")


def _too_deep(text: str, max_depth: int) -> LimitExceededError:
    """The error for JSON text nested deeper than ``max_depth``, located by a token scan."""
    where = ""
    at = _first_too_deep(text, len(text), max_depth)
    if at is not None:
        line, column = _line_col(text, at)
        where = f" at line {line}, column {column}"
    return LimitExceededError(
        f"JSON nests deeper than the limit of {max_depth} levels{where}",
        code=E_TOO_DEEP,
        hint="flatten the structure",
    )


def _first_too_deep(text: str, end: int, max_depth: int) -> int | None:
    """Where the first bracket past ``max_depth`` levels opens in ``text[:end]``, or None.
    (A token scan: exact for text that is valid JSON up to ``end``.)"""
    depth = 0
    for m in _DEPTH_TOKEN.finditer(text, 0, end):
        depth += _BRACKET_DELTA.get(m.group()[0], 0)
        if depth > max_depth:
            return m.start()
    return None


def _too_deep_before(text: str, end: int, max_depth: int) -> LimitExceededError | None:
    """The depth error, if a bracket past the limit opens before position ``end`` (a syntax
    fault there: the text before it is valid)."""
    head = text[:end]
    if head.count("[") + head.count("{") <= max_depth:
        return None
    if _first_too_deep(text, end, max_depth) is None:
        return None
    return _too_deep(head, max_depth)


def _depth(text: str, max_depth: int) -> int:
    """Maximum nesting depth of *valid* JSON ``text``, or any number <= ``max_depth`` if the
    text has no more brackets than that. Runs at C speed: string operations only.
    """
    if "\\" in text:
        # In valid JSON every backslash starts an escape. Dropping the escaped backslashes
        # first, then the escaped quotes, leaves only the quotes that delimit strings.
        text = text.replace("\\\\", "").replace('\\"', "")
    outside = "".join(text.split('"')[::2])  # everything but the string literals: ASCII
    if outside.count("[") + outside.count("{") <= max_depth:
        return 0
    brackets = outside.translate(_KEEP_BRACKETS)
    return max(accumulate(map(_BRACKET_DELTA.__getitem__, brackets)))


def _decode_utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = exc.start
        line_start = data.rfind(b"\n", 0, start) + 1
        line = data.count(b"\n", 0, start) + 1
        column = len(data[line_start:start].decode("utf-8", "replace")) + 1
        raise JSONSyntaxError(
            f"input is not UTF-8 at line {line}, column {column}: "
            f"{exc.reason} (byte 0x{data[start]:02x})",
            hint="save the file as UTF-8",
        ) from None


def _canonical_double(literal: str) -> int | float | None:
    """The value of an integer literal of 16+ characters, or None if runid rejects it.

    Within +/-(2**53 - 1) it is an int. Beyond, it is accepted only if it is exactly how RFC 8785
    writes some double (``9007199254740992``, ``100000000000000000000``), and then it *is* that
    double: canonical output always reads back. Any other big integer literal would silently
    change under canonicalization (``9007199254740993`` would become ``9007199254740992``).
    """
    if len(literal) > 320:  # longer than any double below 1.8e308 written out in full
        return None
    value = int(literal)
    if -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT:
        return value
    try:
        double = float(value)
    except OverflowError:
        return None
    return double if format_number(double) == literal else None


def _is_utf8(value: Any) -> bool:
    """Whether every string in a parsed value (no markers) encodes as UTF-8: no lone surrogate.

    A surrogate escape in the text is usually half of a valid pair (``\\ud83d\\ude00``, as
    ``json.dumps`` writes emoji); orjson answers at C speed before any slow walk.
    """
    try:
        orjson.dumps(value)
    except TypeError:
        return False
    return True


def parse(data: bytes | str, *, max_bytes: int, max_depth: int) -> Any:
    """Strictly parse JSON text; see :func:`runid.canonical.loads` for the rules."""
    if isinstance(data, str):
        text = data
        size = len(text)
        if size * 4 > max_bytes and size <= max_bytes:
            size = len(text.encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            raise _too_large(size, max_bytes)
        raw_surrogates = not text.isascii() and _SURROGATE.search(text) is not None
    elif isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        if len(raw) > max_bytes:
            raise _too_large(len(raw), max_bytes)
        if raw.startswith(_UTF8_BOM):
            raise _bom()
        text = _decode_utf8(raw)
        raw_surrogates = False
    else:
        raise TypeError(f"loads() needs bytes or str, not {_type_name(data)}")
    if text.startswith("\ufeff"):
        raise _bom()

    flagged: list[bool] = []

    def on_pairs(pairs: list[tuple[str, Any]]) -> Any:
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        flagged.append(True)  # a repeated key: the walk finds it, or a fault before it
        return Pairs(pairs)

    def on_int(literal: str) -> Any:
        if len(literal) < 16:
            return int(literal)
        double = _canonical_double(literal)
        if double is not None:
            return double
        flagged.append(True)
        return Invalid(E_INTEGER_RANGE, literal)

    def on_float(literal: str) -> Any:
        value = float(literal)
        if value - value == 0.0:
            return value
        flagged.append(True)
        return Invalid(E_NUMBER_RANGE, literal)

    def on_constant(literal: str) -> Any:
        flagged.append(True)
        return Invalid(E_NAN, literal)

    decoder = json.JSONDecoder(
        object_pairs_hook=on_pairs,
        parse_int=on_int,
        parse_float=on_float,
        parse_constant=on_constant,
    )
    try:
        value = decoder.decode(text)
    except json.JSONDecodeError as exc:
        # Reading stops at whichever comes first: this fault, or a bracket past the limit.
        deep = _too_deep_before(text, exc.pos, max_depth)
        if deep is not None:
            raise deep from None
        what = exc.msg if text.strip(" \t\n\r") else "the input is empty, expected a JSON value"
        raise _syntax(exc.lineno, exc.colno, what) from None
    except RecursionError:
        # The scanner read everything before this depth without a fault, and the first bracket
        # past the limit comes before it.
        raise _too_deep(text, max_depth) from None

    if text.count("[") + text.count("{") > max_depth and _depth(text, max_depth) > max_depth:
        raise _too_deep(text, max_depth)
    if flagged or (
        (raw_surrogates or _SURROGATE_ESCAPE.search(text) is not None) and not _is_utf8(value)
    ):
        problem = find_problem(value, max_depth)
        if problem is not None:
            raise problem
    return value


def _too_large(size: int, max_bytes: int) -> LimitExceededError:
    return LimitExceededError(
        f"JSON input is {size} bytes, larger than the limit of {max_bytes} bytes",
        code=E_TOO_LARGE,
        hint="move large content out of the document and reference it by digest",
    )


def _bom() -> JSONSyntaxError:
    return JSONSyntaxError(
        "invalid JSON at line 1, column 1: byte order mark (U+FEFF) is not allowed",
        hint="save the file as UTF-8 without a BOM",
    )
