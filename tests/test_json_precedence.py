"""Which JSON-level fault is reported when a text has several (docs/spec.md §2.1, issue 12).

The rule, in one sentence: the size and then the encoding are checked before reading; reading
stops at the first syntax fault or at the opening bracket of the 129th level of nesting,
whichever comes first; a text read to its end is then checked for value faults, and the one
that starts first in the text is reported (a literal where it starts, a key where it stands,
a repeated key at its second occurrence).

A second implementation had to guess: ``{"a":NaN,"a":1}`` gave ``E_DUPLICATE_KEY`` though the
NaN comes first. These cases and a generated family of objects (checked against an oracle that
walks the members in order) pin the rule down.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runid.canonical import MAX_DEPTH, canonicalize, loads
from runid.errors import (
    E_DUPLICATE_KEY,
    E_INTEGER_RANGE,
    E_JSON_SYNTAX,
    E_LONE_SURROGATE,
    E_NAN,
    E_NUMBER_RANGE,
    E_TOO_DEEP,
    E_TOO_LARGE,
    CanonicalizationError,
    InputError,
)

DEEP = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)


def fault(text: str | bytes) -> tuple[str, str | None]:
    with pytest.raises(InputError) as raised:
        loads(text)
    return raised.value.code, getattr(raised.value, "pointer", None)


@pytest.mark.parametrize(
    ("text", "code", "pointer"),
    [
        # value faults: the first in the text wins, a repeated key where it repeats
        ('{"a":NaN,"a":1}', E_NAN, "/a"),
        ('{"a":1,"a":NaN}', E_DUPLICATE_KEY, ""),
        ('{"\\ud800":1,"a":1,"a":2}', E_LONE_SURROGATE, ""),
        ('{"a":1,"a":2,"\\ud800":1}', E_DUPLICATE_KEY, ""),
        ('{"a":[1e400],"a":2}', E_NUMBER_RANGE, "/a/0"),
        ('{"a":1,"b":{"c":1,"c":2},"b":3}', E_DUPLICATE_KEY, "/b"),
        ('{"x":1,"x":2,"y":NaN}', E_DUPLICATE_KEY, ""),
        ('[1e400, NaN, 9007199254740993, "\\udc00"]', E_NUMBER_RANGE, "/0"),
        ("[9007199254740993, NaN]", E_INTEGER_RANGE, "/0"),
        ('["\\udc00", {"k":1,"k":1}]', E_LONE_SURROGATE, "/0"),
        ('{"\\ud800":NaN}', E_LONE_SURROGATE, ""),  # the key stands before its value
        # reading: a syntax fault and a bracket past the limit, whichever comes first
        ("[NaN," + DEEP + "]", E_TOO_DEEP, None),  # value faults wait for the end of reading
        (DEEP + "x", E_TOO_DEEP, None),
        ("[" * 5000, E_TOO_DEEP, None),
        ("[1,," + "[" * 5000, E_JSON_SYNTAX, None),
        ('{"a":1,"a":2,' + "[" * 5000, E_JSON_SYNTAX, None),  # syntax before the deep bracket
        ('{"a":1,"a":2}x', E_JSON_SYNTAX, None),  # syntax, although the repeat comes first
        ("[NaN] [", E_JSON_SYNTAX, None),
    ],
)
def test_the_first_fault_is_reported(text: str, code: str, pointer: str | None) -> None:
    assert fault(text) == (code, pointer)
    assert fault(text.encode("utf-8", "surrogatepass") if "\\" not in text else text) == (
        code,
        pointer,
    )


def test_size_and_encoding_are_checked_before_reading() -> None:
    assert fault(b"\xff" + DEEP.encode())[0] == E_JSON_SYNTAX  # not UTF-8, though deep first
    assert fault(DEEP.encode() + b"\xff")[0] == E_JSON_SYNTAX
    assert fault(b"\xef\xbb\xbf" + b'{"a":NaN}')[0] == E_JSON_SYNTAX
    assert fault(b" " * (64 * 1024 * 1024 + 1))[0] == E_TOO_LARGE


def test_in_memory_values_are_checked_in_iteration_order() -> None:
    with pytest.raises(CanonicalizationError) as raised:
        canonicalize({"a": float("nan"), "\ud800": 1})
    assert (raised.value.code, raised.value.pointer) == (E_NAN, "/a")
    with pytest.raises(CanonicalizationError) as raised:
        canonicalize({"\ud800": 1, "a": float("nan")})
    assert (raised.value.code, raised.value.pointer) == (E_LONE_SURROGATE, "")


# --- generated: objects whose members may repeat keys and hold faults -------------------------

_VALUES = {
    "ok": ("1", None),
    "nan": ("NaN", E_NAN),
    "inf": ("-Infinity", E_NAN),
    "range": ("1e400", E_NUMBER_RANGE),
    "integer": ("9007199254740993", E_INTEGER_RANGE),
    "surrogate": ('"\\udfff"', E_LONE_SURROGATE),
}
_KEYS = ["a", "b", "\\ud800"]  # few keys, so repeats are common; one a lone surrogate

Member = tuple[str, Any]  # (key, value kind or list of members: a nested object)

_MEMBERS: st.SearchStrategy[list[Member]] = st.recursive(
    st.lists(st.tuples(st.sampled_from(_KEYS), st.sampled_from(sorted(_VALUES))), max_size=4),
    lambda inner: st.lists(
        st.tuples(st.sampled_from(_KEYS), st.one_of(st.sampled_from(sorted(_VALUES)), inner)),
        max_size=4,
    ),
    max_leaves=12,
)


def _text(members: list[Member]) -> str:
    parts = []
    for key, value in members:
        inner = _text(value) if isinstance(value, list) else _VALUES[value][0]
        parts.append(f'"{key}":{inner}')
    return "{" + ",".join(parts) + "}"


def _pointer_token(key: str) -> str:
    return json.loads(f'"{key}"', strict=False) if "\\" not in key else "\ud800"


def _oracle(members: list[Member], pointer: str = "") -> tuple[str, str] | None:
    """The first fault walking members in document order: each key, then its value."""
    seen: set[str] = set()
    for key, value in members:
        if key.startswith("\\ud8"):
            return E_LONE_SURROGATE, pointer
        if key in seen:
            return E_DUPLICATE_KEY, pointer
        seen.add(key)
        here = f"{pointer}/{_pointer_token(key)}"
        if isinstance(value, list):
            found = _oracle(value, here)
            if found is not None:
                return found
        elif _VALUES[value][1] is not None:
            return str(_VALUES[value][1]), here
    return None


@settings(max_examples=400, deadline=None)
@given(_MEMBERS)
def test_generated_objects_report_the_first_fault_in_document_order(
    members: list[Member],
) -> None:
    text = _text(members)
    expected = _oracle(members)
    if expected is None:
        loads(text)
        return
    assert fault(text) == expected, text
