"""The golden vectors of docs/spec.md §11: fixed ids that v1 must reproduce forever."""

from __future__ import annotations

from pathlib import Path

import pytest

from runid.canonical import loads
from runid.errors import CanonicalizationError, DeclarationError, RunidError
from runid.identity import compute_identity

VECTORS = sorted((Path(__file__).parent / "vectors" / "identity").glob("*.json"))


def test_there_are_enough_vectors() -> None:
    valid = [v for v in VECTORS if not v.name.startswith("e")]
    assert len(valid) >= 20
    assert len(VECTORS) - len(valid) >= 10


@pytest.mark.parametrize("path", VECTORS, ids=[v.stem for v in VECTORS])
def test_vector(path: Path) -> None:
    vector = loads(path.read_bytes())
    assert isinstance(vector, dict)
    if "error" in vector:
        expected = vector["error"]
        assert isinstance(expected, dict) and isinstance(vector["declaration_json"], str)
        with pytest.raises(RunidError) as info:
            compute_identity(loads(vector["declaration_json"]))
        error = info.value
        found = (expected["pointer"], expected["code"])
        if isinstance(error, DeclarationError):
            assert found in [(p.pointer, p.code) for p in error.problems]
        else:
            assert isinstance(error, CanonicalizationError)
            assert (error.pointer, error.code) == found
        return
    ident = compute_identity(vector["declaration"])
    assert dict(ident.components) == vector["components"]
    assert ident.declaration_id == vector["declaration_id"]


def test_spelling_variants_share_the_id_of_vector_01() -> None:
    ids = {
        loads(p.read_bytes())["declaration_id"]  # type: ignore[index,call-overload]
        for p in VECTORS
        if p.name[:3] in ("01-", "10-", "11-")
    }
    assert len(ids) == 1
