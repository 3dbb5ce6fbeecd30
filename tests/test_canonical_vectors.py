"""RFC 8785 reference vectors (cyberphone/json-canonicalization, see vectors/jcs/SOURCE.md)."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest

from runid.canonical import canonicalize, canonicalize_text, format_number
from runid.errors import CanonicalizationError

JCS = Path(__file__).parent / "vectors" / "jcs"
NAMES = sorted(path.stem for path in (JCS / "input").glob("*.json"))


def _double(bits: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(bits.rjust(16, "0")))[0]
    return value


def _number_lines() -> list[tuple[str, str]]:
    lines = (JCS / "es6-numbers-sample.txt").read_text(encoding="ascii").splitlines()
    return [(bits, expected) for bits, expected in (line.split(",") for line in lines if line)]


NUMBERS = _number_lines()
FINITE = [(bits, expected) for bits, expected in NUMBERS if math.isfinite(_double(bits))]
NOT_FINITE = [(bits, expected) for bits, expected in NUMBERS if not math.isfinite(_double(bits))]


def test_all_upstream_vector_files_are_present() -> None:
    assert NAMES == ["arrays", "french", "structures", "unicode", "values", "weird"]
    assert len(NUMBERS) == 2000


@pytest.mark.parametrize("name", NAMES)
def test_input_canonicalizes_to_expected_output(name: str) -> None:
    expected = (JCS / "output" / f"{name}.json").read_bytes()
    assert canonicalize_text((JCS / "input" / f"{name}.json").read_bytes()) == expected


@pytest.mark.parametrize("name", NAMES)
def test_input_canonicalizes_to_expected_hex(name: str) -> None:
    expected = bytes.fromhex((JCS / "outhex" / f"{name}.txt").read_text(encoding="ascii"))
    assert canonicalize_text((JCS / "input" / f"{name}.json").read_bytes()) == expected


@pytest.mark.parametrize("name", NAMES)
def test_str_input_gives_the_same_bytes_as_bytes_input(name: str) -> None:
    data = (JCS / "input" / f"{name}.json").read_bytes()
    assert canonicalize_text(data.decode("utf-8")) == canonicalize_text(data)


@pytest.mark.parametrize("name", NAMES)
def test_canonical_output_is_a_fixed_point(name: str) -> None:
    output = (JCS / "output" / f"{name}.json").read_bytes()
    assert canonicalize_text(output) == output


def test_every_sample_number_formats_like_ecmascript() -> None:
    wrong = [
        (bits, expected, format_number(_double(bits)))
        for bits, expected in FINITE
        if format_number(_double(bits)) != expected
    ]
    assert wrong == []


def test_every_sample_number_canonicalizes_like_ecmascript() -> None:
    wrong = [
        (bits, expected)
        for bits, expected in FINITE
        if canonicalize([_double(bits)]) != b"[" + expected.encode("ascii") + b"]"
    ]
    assert wrong == []


def test_every_sample_number_reads_back_as_the_same_double() -> None:
    assert all(float(expected) == _double(bits) for bits, expected in FINITE)


@pytest.mark.parametrize(("bits", "expected"), NOT_FINITE or [("7ff8000000000000", "NaN")])
def test_non_finite_sample_numbers_are_rejected(bits: str, expected: str) -> None:
    with pytest.raises(CanonicalizationError) as info:
        canonicalize([_double(bits)])
    assert info.value.code == "E_NAN"
    assert info.value.pointer == "/0"


def test_docstring_examples_run() -> None:
    import doctest

    import runid._internal.es6
    import runid.canonical

    for module in (runid.canonical, runid._internal.es6):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0
        assert result.failed == 0
