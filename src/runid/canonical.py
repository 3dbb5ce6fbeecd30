"""RFC 8785 JSON Canonicalization Scheme (JCS): the bytes every runid digest is taken over.

Two values that mean the same JSON get the same bytes: object members sorted by the UTF-16 code
units of their keys, no insignificant whitespace, strings in minimal JSON escaping, numbers
written the way ECMAScript prints a double (``1.0`` and ``1`` are the same number, ``1e+21``,
``1e-7``). What JCS (with I-JSON, RFC 7493) cannot represent is rejected with a
:class:`~runid.errors.CanonicalizationError` that names the problem and its JSON Pointer:
NaN and the infinities, integers beyond +/-(2**53 - 1), lone surrogates, duplicate keys,
non-string keys and values that are not JSON at all.

>>> canonicalize({"b": [1.0, 0.5, 1e21], "a": "\\u00e9"})
b'{"a":"\\xc3\\xa9","b":[1,0.5,1e+21]}'
>>> canonicalize_text(b'{"b": 2, "a": 1.50}')
b'{"a":1.5,"b":2}'

Implementation: one fast walk checks types, integer range and depth, and rewrites only the floats
orjson would not write the JCS way (integral ones below 2**53 become ``int``, the others
pre-formatted ``orjson.Fragment`` s), copying a container only when something in it changed;
orjson then sorts keys and writes the bytes. orjson's key order (UTF-8 bytes, i.e. code
points) differs from JCS's UTF-16 order only between a supplementary-plane character and one in
U+E000..U+FFFF; output that holds both kinds of character is re-done on an exact path. Every
error path hands the original value to a slow walk that finds the first problem in document
order.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import orjson

from runid._internal import strict_json
from runid._internal.es6 import format_number
from runid.errors import CanonicalizationError

from .errors import E_NOT_JSON

__all__ = [
    "MAX_DEPTH",
    "MAX_INPUT_BYTES",
    "JSONValue",
    "canonicalize",
    "canonicalize_text",
    "format_number",
    "loads",
]

JSONValue: TypeAlias = dict[str, "JSONValue"] | list["JSONValue"] | str | int | float | bool | None
"""A JSON value as Python holds it (arrays may also be given to :func:`canonicalize` as tuples)."""

MAX_INPUT_BYTES = 64 * 1024 * 1024
"""Largest JSON text :func:`loads` accepts, in bytes of UTF-8."""

MAX_DEPTH = 128
"""Deepest nesting of arrays and objects accepted: a scalar root is depth 0, ``[]`` depth 1."""

_MAX_SAFE_INT = 2**53 - 1
_TWO_53 = 2.0**53
_Fragment = orjson.Fragment
_dumps = orjson.dumps
_SORT_KEYS = orjson.OPT_SORT_KEYS
# Floats already looked at: the int or Fragment that replaces them, or _SAME when orjson writes
# the float itself the JCS way. The values every declaration repeats (0.7, 0.95, 0.0, ...) are
# formatted once. Only finite floats are stored (-0.0 and 0.0 share the entry and both mean 0);
# bounded by clearing when full.
_SAME: Any = object()
_FLOATS: dict[float, Any] = {}
_FLOATS_MAX = 4096


class _RejectError(Exception):
    """The fast walk found something it will not explain; the slow path will."""


# Building blocks for code that runs its own single pass over a value and then hands the result
# to orjson (``runid._internal.schema``'s generated normaliser). Not public API: they raise
# ``Unrepresentable`` without saying where; call canonicalize() on the original value for that.
Unrepresentable = _RejectError


def loads(data: bytes | str) -> JSONValue:
    """Parse JSON text strictly: UTF-8, no BOM, and only what RFC 8785 can canonicalize.

    Numbers with a fraction or exponent are floats. Integer literals are ints within
    +/-(2**53 - 1); beyond that, a literal is accepted only if it is already the canonical form
    of a double (``9007199254740992``, ``100000000000000000000``, as JCS writes those doubles)
    and is returned as that float, so canonical output always reads back. Any other big integer
    literal (``9007199254740993``) would change under canonicalization: ``E_INTEGER_RANGE``.

    >>> loads(b'{"a": [1, 2.5, null]}')
    {'a': [1, 2.5, None]}
    >>> loads('{"a": 1, "a": 2}')
    Traceback (most recent call last):
    ...
    runid.errors.CanonicalizationError: duplicate key "a" in object at the root

    Raises :class:`~runid.errors.JSONSyntaxError` (``E_JSON_SYNTAX``: not UTF-8, BOM, syntax,
    empty input; the message gives line and column), :class:`~runid.errors.CanonicalizationError`
    with ``pointer`` (``E_NAN``, ``E_NUMBER_RANGE``, ``E_DUPLICATE_KEY``, ``E_LONE_SURROGATE``,
    ``E_INTEGER_RANGE``) and
    :class:`~runid.errors.LimitExceededError` (``E_TOO_DEEP`` beyond :data:`MAX_DEPTH`,
    ``E_TOO_LARGE`` beyond :data:`MAX_INPUT_BYTES`).
    """
    value: JSONValue = strict_json.parse(data, max_bytes=MAX_INPUT_BYTES, max_depth=MAX_DEPTH)
    return value


def canonicalize_text(data: bytes | str) -> bytes:
    """Canonical RFC 8785 bytes of JSON text; the same as ``canonicalize(loads(data))``.

    >>> canonicalize_text('{ "z": [ 4.50, 2e-3, 1E30 ], "\\u20ac": "\\u00e9" }')
    b'{"z":[4.5,0.002,1e+30],"\\xe2\\x82\\xac":"\\xc3\\xa9"}'
    """
    return canonicalize(loads(data))


def canonicalize(value: object) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of an in-memory JSON value.

    Accepts dict (str keys), list, tuple (an array), str, int within +/-(2**53 - 1), bool,
    float and None, and subclasses of these.

    >>> canonicalize({"b": 1, "a": [True, None, -0.0, 1e-7, 10.0]})
    b'{"a":[true,null,0,1e-7,10],"b":1}'
    >>> canonicalize({"x": [float("nan")]})
    Traceback (most recent call last):
    ...
    runid.errors.CanonicalizationError: NaN at /x/0 is not a JSON number

    Raises :class:`~runid.errors.CanonicalizationError` with ``pointer`` (``E_NAN``,
    ``E_INTEGER_RANGE``, ``E_LONE_SURROGATE``, ``E_KEY_TYPE``, ``E_NOT_JSON``) and
    :class:`~runid.errors.LimitExceededError` (``E_TOO_DEEP``) beyond :data:`MAX_DEPTH`.
    """
    try:
        # A dict is the usual root; anything else goes through prepare()'s wrapper list.
        prepared = _prep_dict(value, 1) if type(value) is dict else _prep_list([value], 0)[0]
        out: bytes = _dumps(prepared, option=_SORT_KEYS)
    except (_RejectError, TypeError):
        return _canonicalize_slow(value)
    if not out.isascii() and _may_need_utf16_order(out):
        out = _dumps(_utf16_sorted(prepared))
    return out


def prepare(value: object, depth: int = 0) -> Any:
    """``value`` checked and with floats in JCS form for ``orjson.dumps(..., OPT_SORT_KEYS)``.

    ``depth`` is the nesting depth of ``value``'s container (0 for a root). Returns ``value``
    itself when nothing had to change; raises ``Unrepresentable`` for anything canonicalize()
    would reject, except lone surrogates (orjson rejects those) and key types.
    """
    return _prep_list([value], depth)[0]


def prepare_float(x: float) -> Any:
    """JCS form of a finite float for orjson: ``x`` itself when orjson already writes it the
    JCS way (``0.5``), an int when it is integral below 2**53 (``1.0`` -> ``1``), else a
    pre-formatted ``orjson.Fragment`` (``1e-7``, ``1e+21``).

    Raises ``Unrepresentable`` for NaN and the infinities. Results are remembered in
    ``_FLOATS`` (the walk looks there first).
    """
    cached = _FLOATS.get(x)
    if cached is None:
        if x.is_integer() and -_TWO_53 < x < _TWO_53:
            cached = int(x)
        elif x - x == 0.0:
            text = format_number(x).encode()
            # Compared, not assumed: orjson's own shortest digits and layout match JCS for
            # most non-integral floats, and then nothing needs copying.
            cached = _SAME if _dumps(x) == text else _Fragment(text)
        else:  # NaN or an infinity
            raise _RejectError
        if len(_FLOATS) >= _FLOATS_MAX:
            _FLOATS.clear()
        _FLOATS[x] = cached
    return x if cached is _SAME else cached


# The fast walk. It runs once per canonicalization over every value, so it is written for
# CPython speed: leaves are checked inline (no call per leaf), dicts are read through .values()
# and copied only when a member changes. A member's key (or index) is found again by identity:
# the first object that changes is the first occurrence of that object in the container, since
# an earlier occurrence would have changed the same way.


def _prep_dict(d: dict[Any, Any], depth: int) -> Any:
    """Check ``d`` (at nesting ``depth``) and return it, or a copy if a member had to change."""
    if depth > MAX_DEPTH:
        raise _RejectError
    for v in d.values():
        t = type(v)
        if t is str:
            continue
        if t is dict:
            r = _prep_dict(v, depth + 1)
        elif t is int:
            if abs(v) <= _MAX_SAFE_INT:
                continue
            raise _RejectError
        elif v is None or t is bool:
            continue
        elif t is list:
            r = _prep_list(v, depth + 1)
        elif t is float:
            r = _FLOATS.get(v)
            if r is None:
                r = prepare_float(v)  # v itself if orjson writes it right
            elif r is _SAME:
                continue
        else:
            r = _prep_other(v, depth + 1)
        if r is not v:
            break
    else:
        return d
    # Copy: the members before v unchanged, v as r, the rest prepared one by one.
    new = {}
    members = iter(d.items())
    for key, item in members:
        if item is v:
            new[key] = r
            break
        new[key] = item
    for key, item in members:
        t = type(item)
        if t is str:
            new[key] = item
        elif t is dict:
            new[key] = _prep_dict(item, depth + 1)
        elif t is int:
            if abs(item) > _MAX_SAFE_INT:
                raise _RejectError
            new[key] = item
        elif item is None or t is bool:
            new[key] = item
        elif t is list:
            new[key] = _prep_list(item, depth + 1)
        elif t is float:
            r = _FLOATS.get(item)
            new[key] = item if r is _SAME else prepare_float(item) if r is None else r
        else:
            new[key] = _prep_other(item, depth + 1)
    return new


def _prep_list(seq: list[Any] | tuple[Any, ...], depth: int) -> Any:
    """Check ``seq`` (at nesting ``depth``) and return it, or a copy if an item had to change."""
    if depth > MAX_DEPTH:
        raise _RejectError
    for v in seq:
        t = type(v)
        if t is str:
            continue
        if t is dict:
            r = _prep_dict(v, depth + 1)
        elif t is int:
            if abs(v) <= _MAX_SAFE_INT:
                continue
            raise _RejectError
        elif v is None or t is bool:
            continue
        elif t is list:
            r = _prep_list(v, depth + 1)
        elif t is float:
            r = _FLOATS.get(v)
            if r is None:
                r = prepare_float(v)  # v itself if orjson writes it right
            elif r is _SAME:
                continue
        else:
            r = _prep_other(v, depth + 1)
        if r is not v:
            break
    else:
        return seq
    new = []
    items = iter(seq)
    for item in items:
        if item is v:
            new.append(r)
            break
        new.append(item)
    for item in items:
        t = type(item)
        if t is str:
            new.append(item)
        elif t is dict:
            new.append(_prep_dict(item, depth + 1))
        elif t is int:
            if abs(item) > _MAX_SAFE_INT:
                raise _RejectError
            new.append(item)
        elif item is None or t is bool:
            new.append(item)
        elif t is list:
            new.append(_prep_list(item, depth + 1))
        elif t is float:
            r = _FLOATS.get(item)
            new.append(item if r is _SAME else prepare_float(item) if r is None else r)
        else:
            new.append(_prep_other(item, depth + 1))
    return new


def _prep_other(v: object, depth: int) -> Any:
    """Tuples and subclasses of the JSON types, as their plain counterparts; else reject."""
    if type(v) is tuple:
        return _prep_list(v, depth)
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, int):  # bool cannot be subclassed; IntEnum and friends land here
        n = int.__int__(v)
        if -_MAX_SAFE_INT <= n <= _MAX_SAFE_INT:
            return n
        raise _RejectError
    if isinstance(v, float):
        return prepare_float(float.__float__(v))
    if isinstance(v, dict):
        return _prep_dict(dict(v), depth)
    if isinstance(v, list | tuple):
        return _prep_list(list(v), depth)
    raise _RejectError


def _may_need_utf16_order(out: bytes) -> bool:
    """True if ``out`` holds a character in U+E000..U+FFFF and one beyond U+FFFF.

    Only then can code point order (orjson) and UTF-16 code unit order (JCS) disagree.
    """
    return (b"\xee" in out or b"\xef" in out) and (
        b"\xf0" in out or b"\xf1" in out or b"\xf2" in out or b"\xf3" in out or b"\xf4" in out
    )


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be")


def _utf16_sorted(v: Any) -> Any:
    """Copy of a prepared value with every object's members in UTF-16 key order."""
    t = type(v)
    if t is dict:
        return {k: _utf16_sorted(v[k]) for k in sorted(v, key=_utf16_key)}
    if t is list or t is tuple:
        return [_utf16_sorted(item) for item in v]
    return v


def _plain(v: Any) -> Any:
    """Copy of a prepared value with every key a plain ``str`` (orjson rejects subclasses)."""
    t = type(v)
    if t is dict:
        return {str.__str__(k): _plain(item) for k, item in v.items()}
    if t is list or t is tuple:
        return [_plain(item) for item in v]
    return v


def _canonicalize_slow(value: object) -> bytes:
    """Explain why the fast path failed, or (for str-subclass keys only) finish the job."""
    problem = strict_json.find_problem(value, MAX_DEPTH)
    if problem is not None:
        raise problem
    try:
        prepared = _plain(_prep_list([value], 0)[0])
        return _dumps(_utf16_sorted(prepared))
    except (_RejectError, TypeError) as exc:  # pragma: no cover - find_problem should have named it
        raise CanonicalizationError(
            f"value cannot be canonicalized: {exc}", code=E_NOT_JSON
        ) from None


def dumps_prepared(prepared: Any) -> bytes:
    """Canonical bytes of a value already returned by :func:`prepare` (or a compiled
    normaliser that prepares the same way). Raises ``Unrepresentable`` for what orjson refuses
    (lone surrogates, non-str keys); canonicalize() on the original value then says where.
    """
    try:
        out: bytes = _dumps(prepared, option=_SORT_KEYS)
    except TypeError:
        raise _RejectError from None
    if not out.isascii() and _may_need_utf16_order(out):
        out = _dumps(_utf16_sorted(prepared))
    return out
