"""runid.merkle against the transparency-dev/merkle proof vectors (tests/vectors/merkle/).

Each JSON file is one case: sizes, base64 roots, a base64 proof (``null`` for none) and
``wantErr``. The negative files are mutations of the happy path (bit flips, swapped roots, sizes
changed, hashes added or removed, garbage), and every one of them must raise VerificationError.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from runid.errors import VerificationError
from runid.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).parent / "vectors" / "merkle"
INCLUSION = sorted((VECTORS / "inclusion").glob("*/*.json"))
CONSISTENCY = sorted((VECTORS / "consistency").glob("*/*.json"))

# The eight leaves of the RFC 6962 reference tree that the vectors were generated from.
REFERENCE_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]


def _case_id(path: Path) -> str:
    return path.relative_to(VECTORS).as_posix()


def _load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return case


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _proof(case: dict[str, Any]) -> list[bytes]:
    return [_b64(p) for p in case["proof"] or []]


def test_every_vector_file_is_collected() -> None:
    # A moved or emptied vector directory must fail loudly, not parametrize to zero cases.
    assert len(INCLUSION) == 49
    assert len(CONSISTENCY) == 43
    assert (VECTORS / "LICENSE").is_file()


@pytest.mark.parametrize("path", INCLUSION, ids=_case_id)
def test_inclusion_vector(path: Path) -> None:
    case = _load(path)
    args = (
        _b64(case["leafHash"]),
        case["leafIdx"],
        case["treeSize"],
        _proof(case),
        _b64(case["root"]),
    )
    if case["wantErr"]:
        with pytest.raises(VerificationError):
            verify_inclusion(*args)
    else:
        assert verify_inclusion(*args) is None  # type: ignore[func-returns-value]


@pytest.mark.parametrize("path", CONSISTENCY, ids=_case_id)
def test_consistency_vector(path: Path) -> None:
    case = _load(path)
    args = (
        case["size1"],
        case["size2"],
        _proof(case),
        _b64(case["root1"]),
        _b64(case["root2"]),
    )
    if case["wantErr"]:
        with pytest.raises(VerificationError):
            verify_consistency(*args)
    else:
        assert verify_consistency(*args) is None  # type: ignore[func-returns-value]


@pytest.mark.parametrize(
    "path", [p for p in INCLUSION if p.name == "happy-path.json"], ids=_case_id
)
def test_generated_inclusion_proof_equals_vector(path: Path) -> None:
    case = _load(path)
    size = case["treeSize"]
    leaves = [leaf_hash(d) for d in REFERENCE_LEAVES[:size]]
    assert leaves[case["leafIdx"]] == _b64(case["leafHash"])
    assert root(leaves) == _b64(case["root"])
    assert inclusion_proof(leaves, case["leafIdx"], size) == _proof(case)


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in CONSISTENCY
        if p.name == "happy-path.json" and _load(p)["size1"] < _load(p)["size2"]
    ],
    ids=_case_id,
)
def test_generated_consistency_proof_equals_vector(path: Path) -> None:
    case = _load(path)
    leaves = [leaf_hash(d) for d in REFERENCE_LEAVES[: case["size2"]]]
    assert root(leaves[: case["size1"]]) == _b64(case["root1"])
    assert root(leaves) == _b64(case["root2"])
    assert consistency_proof(leaves, case["size1"], case["size2"]) == _proof(case)
