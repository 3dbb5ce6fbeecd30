"""Properties of canonicalization, checked against the ``rfc8785`` package as an oracle."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from runid.canonical import MAX_DEPTH, canonicalize, canonicalize_text, format_number, loads
from runid.errors import E_TOO_DEEP, LimitExceededError

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MAX_SAFE = 2**53 - 1

# Characters that stress key order and escaping: the two ranges where UTF-8 (code point) order
# and UTF-16 order disagree, controls, and the characters JSON escapes or must not.
_CHARS = st.one_of(
    st.characters(codec="utf-8"),
    st.characters(min_codepoint=0xE000, max_codepoint=0xFFFF, codec="utf-8"),
    st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF),
    st.sampled_from('aAz0"\\/\x00\x08\x1f\x7f\x80\u2028\u2029\ufeff\ue000\uffff\U0001f600'),
)
_TEXT = st.text(_CHARS, max_size=6)
_FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1e21, 1e-7, 1e-6, 9007199254740992.0, 0.1]),
    st.integers(-MAX_SAFE, MAX_SAFE).map(float),
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-MAX_SAFE, MAX_SAFE),
    st.integers(-100, 100),
    _FLOATS,
    _TEXT,
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(_TEXT, children, max_size=6),
    ),
    max_leaves=30,
)


def _shuffled(value: Any, rng: random.Random) -> Any:
    """The same JSON value with every object's members in a random insertion order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {key: _shuffled(item, rng) for key, item in items}
    if isinstance(value, list):
        return [_shuffled(item, rng) for item in value]
    return value


@SETTINGS
@given(JSON_VALUES)
@example({"\ue000": 1, "\U0001f600": 2})
@example({"\uffff": {"\U00010000": [0.5]}, "\U00010000": None})
@example([1.0, -0.0, 1e21, 1e-7, 123456789012345680000.0])
def test_canonicalize_matches_rfc8785_package(value: Any) -> None:
    assert canonicalize(value) == rfc8785.dumps(value)


@SETTINGS
@given(JSON_VALUES, st.randoms(use_true_random=False))
def test_key_order_does_not_matter(value: Any, rng: random.Random) -> None:
    assert canonicalize(_shuffled(value, rng)) == canonicalize(value)


@SETTINGS
@given(JSON_VALUES)
def test_canonical_bytes_parse_back_to_the_same_canonical_bytes(value: Any) -> None:
    data = canonicalize(value)
    assert canonicalize(loads(data)) == data
    assert canonicalize_text(data) == data


@SETTINGS
@given(JSON_VALUES)
def test_any_json_spelling_of_a_value_has_the_same_canonical_bytes(value: Any) -> None:
    # Python's json writes floats as repr (1.0, 1e-07, -0.0), escapes non-ASCII and indents.
    spelled = json.dumps(value, indent=2, ensure_ascii=True)
    assert canonicalize_text(spelled) == canonicalize(value)


@SETTINGS
@given(st.integers(-MAX_SAFE, MAX_SAFE))
def test_integral_float_and_int_spell_the_same_number(n: int) -> None:
    assert canonicalize(float(n)) == canonicalize(n) == str(n).encode()
    assert canonicalize_text(f"{n}.0") == canonicalize_text(str(n))


@SETTINGS
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_formatted_number_reads_back_as_the_same_double(x: float) -> None:
    text = format_number(x)
    assert float(text) == x
    assert text == rfc8785.dumps(x).decode()
    assert canonicalize(x) == text.encode()


@SETTINGS
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_formatted_number_follows_the_ecmascript_layout(x: float) -> None:
    text = format_number(x)
    assert "E" not in text and "+" not in text.split("e")[0]
    if x == 0:
        assert text == "0"
    elif 1e-6 <= abs(x) < 1e21:
        assert "e" not in text
        assert not text.endswith(".0")
        if x.is_integer():
            assert "." not in text
    else:
        mantissa, _, exponent = text.partition("e")
        assert exponent[0] in "+-" and exponent[1:].isdigit() and exponent[1] != "0"
        assert 1 <= abs(float(mantissa)) < 10


@SETTINGS
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=20))
def test_floats_are_written_without_changing_the_input(values: list[float]) -> None:
    before = [math.copysign(1.0, v) * abs(v) for v in values]
    canonicalize({"v": values, "t": tuple(values)})
    assert all(type(v) is float for v in values)
    assert [math.copysign(1.0, v) * abs(v) for v in values] == before


@SETTINGS
@given(st.integers(0, MAX_DEPTH + 3))
def test_depth_limit_is_the_same_for_text_and_values(depth: int) -> None:
    text = "[" * depth + "]" * depth if depth else "0"
    value: Any = [] if depth else 0
    for _ in range(depth - 1):
        value = [value]
    accepted = depth <= MAX_DEPTH
    for call, arg in ((canonicalize_text, text), (canonicalize, value)):
        if accepted:
            call(arg)
            continue
        # Rejected for its depth, and for nothing else (not any exception: a TypeError or a
        # RecursionError would be a bug, not a rejection).
        with pytest.raises(LimitExceededError) as raised:
            call(arg)
        assert type(raised.value) is LimitExceededError
        assert raised.value.code == E_TOO_DEEP
        assert raised.value.exit_code == 5


def test_keys_sort_by_utf16_code_units_not_code_points() -> None:
    # U+1F600 is D83D DE00 in UTF-16, so it sorts before U+E000 (code point order says after).
    value: Any = {"\ue000": 1, "\U0001f600": 2, "a": {"\uffff": 3, "\U00010000": 4}}
    expected = '{"a":{"\U00010000":4,"\uffff":3},"\U0001f600":2,"\ue000":1}'.encode()
    assert canonicalize(value) == expected == rfc8785.dumps(value)


def test_supplementary_characters_in_values_alone_keep_the_fast_order() -> None:
    value = {"\ue000": "\U0001f600", "b": "\uffff", "a": "x"}
    assert canonicalize(value) == rfc8785.dumps(value)
