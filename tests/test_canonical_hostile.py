"""Input that RFC 8785 / I-JSON cannot carry is rejected with a precise, one-line error."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import uuid
from collections import OrderedDict, namedtuple
from typing import Any

import orjson
import pytest

from runid import canonical
from runid.canonical import MAX_DEPTH, canonicalize, canonicalize_text, format_number, loads
from runid.errors import (
    CanonicalizationError,
    InputError,
    JSONSyntaxError,
    LimitExceededError,
    RunidError,
)


def _nested(depth: int, opener: str = "[", closer: str = "]", leaf: str = "0") -> str:
    return opener * depth + leaf + closer * depth


def _nested_value(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def _one_line(exc: BaseException) -> str:
    message = str(exc)
    assert message
    assert "\n" not in message
    assert "\r" not in message
    assert message.isprintable()
    return message


def _rejects(
    call: Any, arg: Any, cls: type[RunidError], code: str, pointer: str | None = None
) -> str:
    """Run ``call(arg)``; check the error class, code and pointer; return the message."""
    with pytest.raises(cls) as info:
        call(arg)
    exc = info.value
    assert type(exc) is cls
    assert exc.code == code
    if pointer is not None:
        assert isinstance(exc, CanonicalizationError)
        assert exc.pointer == pointer
    return _one_line(exc)


# --- the error classes ---------------------------------------------------------------------


def test_errors_belong_to_the_runid_hierarchy() -> None:
    assert issubclass(JSONSyntaxError, InputError)
    assert issubclass(CanonicalizationError, InputError)
    assert issubclass(LimitExceededError, InputError)
    assert issubclass(InputError, RunidError)
    assert (JSONSyntaxError.exit_code, CanonicalizationError.exit_code) == (3, 4)
    assert LimitExceededError.exit_code == 5


# --- syntax and encoding -------------------------------------------------------------------


def test_syntax_error_names_line_and_column() -> None:
    message = _rejects(loads, b'{\n  "a": 1,\n  "b" 2\n}', JSONSyntaxError, "E_JSON_SYNTAX")
    assert message == "invalid JSON at line 3, column 7: Expecting ':' delimiter"


@pytest.mark.parametrize("data", [b"", "", b"   ", b"\n\t "])
def test_empty_input_is_a_syntax_error(data: bytes | str) -> None:
    message = _rejects(loads, data, JSONSyntaxError, "E_JSON_SYNTAX")
    assert message.startswith("invalid JSON at line ")
    assert message.endswith(": the input is empty, expected a JSON value")


@pytest.mark.parametrize("data", [b"[1] x", b"{} {}", b"1 2", b'"a" ,', b"[1]\x00"])
def test_trailing_garbage_is_a_syntax_error(data: bytes) -> None:
    assert "Extra data" in _rejects(loads, data, JSONSyntaxError, "E_JSON_SYNTAX")


@pytest.mark.parametrize(
    "data",
    [
        b"[1,]",
        b'{"a":1,}',
        b"{'a':1}",
        b"[01]",
        b"[.5]",
        b"[1.]",
        b"[+1]",
        b"[0x10]",
        b'["a\x01"]',
        b'["\\x41"]',
        b"[nan]",
        b"[True]",
        b"[1e]",
        "[\u0661]".encode(),  # ARABIC-INDIC DIGIT ONE is not a JSON digit
        b"// comment\n[]",
    ],
)
def test_malformed_json_is_a_syntax_error(data: bytes) -> None:
    _rejects(loads, data, JSONSyntaxError, "E_JSON_SYNTAX")


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b'["\xff"]', "line 1, column 3"),
        (b'[\n "ok",\n "\xc3"]', "line 3, column 3"),
        (b'"\xed\xa0\x80"', "line 1, column 2"),  # a surrogate encoded as UTF-8 (CESU)
        (b"\xff\xfe[\x00]\x00", "line 1, column 1"),  # UTF-16 with its BOM
    ],
)
def test_invalid_utf8_is_a_syntax_error_with_its_location(data: bytes, where: str) -> None:
    message = _rejects(loads, data, JSONSyntaxError, "E_JSON_SYNTAX")
    assert "not UTF-8" in message
    assert where in message


@pytest.mark.parametrize("data", [b"\xef\xbb\xbf[]", "\ufeff[]"])
def test_byte_order_mark_is_rejected(data: bytes | str) -> None:
    message = _rejects(loads, data, JSONSyntaxError, "E_JSON_SYNTAX")
    assert "line 1, column 1" in message
    assert "byte order mark" in message


def test_loads_rejects_what_is_not_text() -> None:
    with pytest.raises(TypeError):
        loads(123)  # type: ignore[arg-type]


# --- values JCS cannot represent -------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "pointer", "literal"),
    [
        (b"NaN", "", "NaN"),
        (b"[1, Infinity]", "/1", "Infinity"),
        (b'{"a": {"b": [-Infinity]}}', "/a/b/0", "-Infinity"),
    ],
)
def test_nan_and_infinity_are_rejected_with_pointer(
    data: bytes, pointer: str, literal: str
) -> None:
    message = _rejects(loads, data, CanonicalizationError, "E_NAN", pointer)
    assert message.startswith(literal + " at ")


@pytest.mark.parametrize(
    ("data", "pointer"),
    [(b"1e400", ""), (b'{"x": [-1e400]}', "/x/0"), (b"[1" + b"0" * 400 + b".5]", "/0")],
)
def test_number_that_overflows_a_double_is_rejected(data: bytes, pointer: str) -> None:
    message = _rejects(loads, data, CanonicalizationError, "E_NUMBER_RANGE", pointer)
    assert "too large for a double" in message


def test_tiny_number_underflows_to_zero() -> None:
    assert canonicalize_text(b"[1e-400, -1e-400, 5e-324]") == b"[0,0,5e-324]"


def test_duplicate_key_names_key_and_object_pointer() -> None:
    data = b'{"x": [{"a": 1, "b": 2, "a": 3}]}'
    message = _rejects(loads, data, CanonicalizationError, "E_DUPLICATE_KEY", "/x/0")
    assert message == 'duplicate key "a" in object at /x/0'


def test_duplicate_key_at_root_says_root() -> None:
    message = _rejects(loads, '{"a": 1, "a": 1}', CanonicalizationError, "E_DUPLICATE_KEY", "")
    assert message == 'duplicate key "a" in object at the root'


def test_keys_that_differ_only_by_escaping_are_duplicates() -> None:
    _rejects(loads, b'{"\\u0061": 1, "a": 2}', CanonicalizationError, "E_DUPLICATE_KEY", "")


def test_keys_that_differ_only_by_normalisation_are_not_duplicates() -> None:
    assert loads('{"\\u00c5": 1, "A\\u030a": 2}') == {"\u00c5": 1, "A\u030a": 2}


@pytest.mark.parametrize(
    ("data", "pointer"),
    [
        (b'"\\ud800"', ""),
        (b'["ok", "x\\udc00y"]', "/1"),
        (b'{"a": "\\ude02\\ud83d"}', "/a"),  # a pair in the wrong order
        (b'{"a": ["\\uD83D"]}', "/a/0"),
    ],
)
def test_lone_surrogate_in_string_is_rejected(data: bytes, pointer: str) -> None:
    message = _rejects(loads, data, CanonicalizationError, "E_LONE_SURROGATE", pointer)
    assert "lone surrogate U+D" in message


def test_lone_surrogate_in_key_is_rejected_at_its_object() -> None:
    data = b'{"o": {"\\udc00": 1}}'
    message = _rejects(loads, data, CanonicalizationError, "E_LONE_SURROGATE", "/o")
    assert message == 'lone surrogate U+DC00 in key "\\udc00" of object at /o'


def test_raw_lone_surrogate_in_str_input_is_rejected() -> None:
    _rejects(loads, '["\ud800"]', CanonicalizationError, "E_LONE_SURROGATE", "/0")


def test_escaped_surrogate_pair_is_one_character() -> None:
    assert loads(b'"\\ud83d\\ude02"') == "\U0001f602"
    assert canonicalize_text(b'"\\ud83d\\ude02"') == '"\U0001f602"'.encode()


def test_escaped_backslash_before_u_is_not_a_surrogate() -> None:
    assert loads(b'"\\\\ud800"') == "\\ud800"


@pytest.mark.parametrize(
    ("data", "pointer"),
    [
        (b"9007199254740993", ""),
        (b"[-9007199254740993]", "/0"),
        (b"[1152921504606846976]", "/0"),  # 2**60: a double, but JCS writes 1152921504606847000
        (b'{"n": 123456789012345678901234567890}', "/n"),
        (b"[" + b"9" * 5000 + b"]", "/0"),  # beyond Python's int-parsing digit limit
    ],
)
def test_integer_literal_beyond_2_53_is_rejected(data: bytes, pointer: str) -> None:
    message = _rejects(loads, data, CanonicalizationError, "E_INTEGER_RANGE", pointer)
    assert len(message) < 200


def test_integer_literal_error_says_what_it_would_become() -> None:
    message = _rejects(loads, b"[9007199254740993]", CanonicalizationError, "E_INTEGER_RANGE")
    assert message == (
        "integer 9007199254740993 at /0 is beyond +/-(2**53-1) "
        "and canonicalization would change it to 9007199254740992"
    )


def test_integer_literals_at_the_limit_are_accepted() -> None:
    assert loads(b"[9007199254740991, -9007199254740991, -0]") == [2**53 - 1, -(2**53 - 1), 0]
    assert all(type(n) is int for n in loads(b"[9007199254740991, 1, 0]"))  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "literal", [b"9007199254740992", b"-9007199254740994", b"1152921504606847000", b"1" + b"0" * 20]
)
def test_big_integer_literal_in_canonical_form_is_that_double(literal: bytes) -> None:
    # Canonical output must read back: JCS writes the double 2**53 as 9007199254740992.
    value = loads(literal)
    assert type(value) is float
    assert value == float(literal)
    assert canonicalize_text(literal) == literal


def test_large_numbers_written_as_doubles_are_accepted() -> None:
    assert canonicalize_text(b"[1e20, 1.0e20, 1E21, 9007199254740993.0]") == (
        b"[100000000000000000000,100000000000000000000,1e+21,9007199254740992]"
    )


def test_first_problem_in_document_order_is_reported() -> None:
    data = b'{"a": [1, 2, NaN], "b": 1e400, "c": "\\ud800"}'
    _rejects(loads, data, CanonicalizationError, "E_NAN", "/a/2")


def test_pointer_escapes_slash_and_tilde() -> None:
    data = b'{"a/b": {"m~n": [NaN]}}'
    message = _rejects(loads, data, CanonicalizationError, "E_NAN", "/a~1b/m~0n/0")
    assert "/a~1b/m~0n/0" in message


def test_message_stays_one_line_when_keys_hold_control_characters() -> None:
    data = b'{"line\\nbreak\\u2028": {"x": 1, "x": 2}}'
    message = _rejects(loads, data, CanonicalizationError, "E_DUPLICATE_KEY", "/line\nbreak\u2028")
    assert "\\u000a" in message


def test_long_keys_are_shortened_in_messages() -> None:
    key = "k" * 10_000
    message = _rejects(
        loads, f'{{"{key}": 1, "{key}": 2}}', CanonicalizationError, "E_DUPLICATE_KEY", ""
    )
    assert len(message) < 200


# --- limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("opener", "closer"), [("[", "]"), ('{"a":', "}")])
def test_nesting_at_max_depth_is_accepted(opener: str, closer: str) -> None:
    value = loads(_nested(MAX_DEPTH, opener, closer))
    assert canonicalize(value) == _nested(MAX_DEPTH, opener, closer).encode()


@pytest.mark.parametrize(("opener", "closer"), [("[", "]"), ('{"a":', "}")])
def test_nesting_one_beyond_max_depth_is_rejected(opener: str, closer: str) -> None:
    message = _rejects(
        loads, _nested(MAX_DEPTH + 1, opener, closer), LimitExceededError, "E_TOO_DEEP"
    )
    assert f"limit of {MAX_DEPTH} levels" in message
    assert f"line 1, column {MAX_DEPTH * len(opener) + 1}" in message


def test_depth_counts_containers_not_scalars() -> None:
    assert loads("0") == 0
    assert loads(_nested(MAX_DEPTH, leaf="")) is not None  # [] innermost is depth MAX_DEPTH


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    text = '["' + "[{" * 500 + '\\"\\\\", ' + _nested(MAX_DEPTH - 1) + "]"
    value = loads(text)
    assert isinstance(value, list)
    assert value[0] == "[{" * 500 + '"\\'


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_absurd_nesting_is_a_limit_error_not_a_recursion_error(depth: int) -> None:
    _rejects(loads, "[" * depth, LimitExceededError, "E_TOO_DEEP")
    _rejects(loads, '{"a":' * depth, LimitExceededError, "E_TOO_DEEP")
    _rejects(loads, _nested(depth).encode(), LimitExceededError, "E_TOO_DEEP")


def test_size_limit_is_enforced_in_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(canonical, "MAX_INPUT_BYTES", 10)
    assert loads(b'["123456"]') == ["123456"]  # exactly 10 bytes
    message = _rejects(loads, b'["1234567"]', LimitExceededError, "E_TOO_LARGE")
    assert "11 bytes" in message
    assert "limit of 10 bytes" in message
    # str input counts its UTF-8 bytes: 5 characters, 11 bytes
    _rejects(loads, '"\u20ac\u20ac\u20ac"', LimitExceededError, "E_TOO_LARGE")
    _rejects(canonicalize_text, b'["1234567"]', LimitExceededError, "E_TOO_LARGE")


def test_default_limits() -> None:
    assert canonical.MAX_INPUT_BYTES == 64 * 1024 * 1024
    assert canonical.MAX_DEPTH == 128


# --- canonicalize() on Python values -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "pointer", "start"),
    [
        (float("nan"), "", "NaN at the root"),
        ({"a": [1.0, float("inf")]}, "/a/1", "Infinity at /a/1"),
        ([{"b": -float("inf")}], "/0/b", "-Infinity at /0/b"),
    ],
)
def test_canonicalize_rejects_nan_and_infinity(value: Any, pointer: str, start: str) -> None:
    message = _rejects(canonicalize, value, CanonicalizationError, "E_NAN", pointer)
    assert message.startswith(start)


@pytest.mark.parametrize(
    ("value", "pointer"),
    [(2**53, ""), ([-(2**53)], "/0"), ({"a": {"b": 10**30}}, "/a/b"), ([2**64], "/0")],
)
def test_canonicalize_rejects_integers_beyond_2_53(value: Any, pointer: str) -> None:
    _rejects(canonicalize, value, CanonicalizationError, "E_INTEGER_RANGE", pointer)


def test_canonicalize_accepts_integers_at_the_limit() -> None:
    assert canonicalize([2**53 - 1, -(2**53 - 1)]) == b"[9007199254740991,-9007199254740991]"


@pytest.mark.parametrize(
    ("value", "pointer"),
    [("\ud800", ""), (["ok", "a\udfffb"], "/1"), ({"k": ["\ud83d\ude02"]}, "/k/0")],
)
def test_canonicalize_rejects_lone_surrogates(value: Any, pointer: str) -> None:
    _rejects(canonicalize, value, CanonicalizationError, "E_LONE_SURROGATE", pointer)


def test_canonicalize_rejects_lone_surrogate_in_key() -> None:
    message = _rejects(
        canonicalize, {"x": {"\udc00": 1}}, CanonicalizationError, "E_LONE_SURROGATE", "/x"
    )
    assert "\\udc00" in message


@pytest.mark.parametrize("key", [1, None, 1.5, ("a",), True, b"a"])
def test_canonicalize_rejects_non_string_keys(key: Any) -> None:
    message = _rejects(canonicalize, {"o": {key: 1}}, CanonicalizationError, "E_KEY_TYPE", "/o")
    assert type(key).__name__ in message


@dataclasses.dataclass
class _Point:
    x: int


class _Color(enum.Enum):
    RED = "red"


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        ({1, 2}, "set"),
        (b"bytes", "bytes"),
        (bytearray(b"x"), "bytearray"),
        (decimal.Decimal("1.5"), "decimal.Decimal"),
        (datetime.datetime(2024, 1, 1), "datetime.datetime"),
        (uuid.UUID(int=0), "uuid.UUID"),
        (_Point(1), "_Point"),
        (_Color.RED, "_Color"),
        (object(), "object"),
        (orjson.Fragment(b"1"), "orjson.Fragment"),
        (range(3), "range"),
        (complex(1, 2), "complex"),
        (iter([1]), "list_iterator"),
    ],
)
def test_canonicalize_rejects_values_that_are_not_json(value: Any, type_name: str) -> None:
    message = _rejects(canonicalize, {"v": [value]}, CanonicalizationError, "E_NOT_JSON", "/v/0")
    assert type_name in message


def test_canonicalize_never_raises_raw_type_errors() -> None:
    hostile: list[Any] = [{1: float("nan")}, [object()], {"a": {2: 3}}, ["\ud800", 2**70]]
    for value in hostile:
        with pytest.raises(CanonicalizationError):
            canonicalize(value)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 100_000])
def test_canonicalize_rejects_deep_values(depth: int) -> None:
    message = _rejects(canonicalize, _nested_value(depth), LimitExceededError, "E_TOO_DEEP")
    assert len(message) < 300


def test_canonicalize_accepts_max_depth() -> None:
    assert canonicalize(_nested_value(MAX_DEPTH)) == _nested(MAX_DEPTH).encode()


def test_canonicalize_rejects_cycles_as_too_deep() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    _rejects(canonicalize, cycle, LimitExceededError, "E_TOO_DEEP")
    loop: dict[str, Any] = {}
    loop["self"] = loop
    _rejects(canonicalize, loop, LimitExceededError, "E_TOO_DEEP")


def test_format_number_rejects_non_finite() -> None:
    for value in (float("nan"), float("inf"), -float("inf")):
        _rejects(format_number, value, CanonicalizationError, "E_NAN")


# --- what is accepted: Python conveniences map onto plain JSON -----------------------------------


def test_tuples_are_arrays() -> None:
    assert canonicalize((1, (2.0, "x"), [])) == b'[1,[2,"x"],[]]'


def test_bool_is_not_a_number() -> None:
    assert canonicalize([True, False, 1, 0]) == b"[true,false,1,0]"


def test_subclasses_of_json_types_serialize_as_their_base() -> None:
    class Level(enum.IntEnum):
        HIGH = 3

    class Name(enum.StrEnum):
        BOB = "bob"

    Pair = namedtuple("Pair", "a b")
    value = OrderedDict([("z", Level.HIGH), ("a", Name.BOB), ("p", Pair(1.5, 2.0))])
    assert canonicalize(value) == b'{"a":"bob","p":[1.5,2],"z":3}'
    assert canonicalize({Name.BOB: 1, "a": 2}) == b'{"a":2,"bob":1}'


def test_input_values_are_never_modified() -> None:
    value = {"f": [1.0, 0.5, {"g": 2.5}], "t": (3.0,)}
    snapshot = repr(value)
    canonicalize(value)
    assert repr(value) == snapshot
    assert type(value["f"][0]) is float


def test_negative_zero_is_zero() -> None:
    assert canonicalize([-0.0, 0.0, -0]) == b"[0,0,0]"
    assert canonicalize_text(b"[-0.0, -0, 0e10]") == b"[0,0,0]"
