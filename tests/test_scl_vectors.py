"""The SCL:V1 conformance vectors (tests/vectors/scl/): every case, its AST, canonical JSON and
doc_hash, or its error code and byte offset."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from runid import scl

HERE = Path(__file__).resolve().parent / "vectors" / "scl"
FILES = ("spec_examples.json", "grammar.json", "errors.json")


def _load() -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for name in FILES:
        body = json.loads((HERE / name).read_text("utf-8"))
        assert body["format"] == "runid/scl-vectors/v1"
        cases += [(f"{name[:-5]}/{v['name']}", v) for v in body["vectors"]]
    return cases


CASES = _load()


def _input(vector: dict[str, Any]) -> bytes:
    data = (
        vector["input"].encode("utf-8") if "input" in vector else bytes.fromhex(vector["input_hex"])
    )
    assert len(data) == vector["input_len"]
    return data


@pytest.mark.parametrize("vector", [v for _, v in CASES], ids=[n for n, _ in CASES])
def test_vector(vector: dict[str, Any]) -> None:
    data = _input(vector)
    if vector["expected_ok"]:
        document = scl.parse(data)
        assert document.to_json() == vector["ast"]
        assert scl.canonical_json(document) == vector["canonical_json"].encode("utf-8")
        assert scl.doc_hash(document) == vector["doc_hash"]
        return
    with pytest.raises(scl.SclError) as info:
        scl.parse(data)
    found = {"code": info.value.code, "offset": info.value.offset}
    assert found == vector["error"], info.value.message


def test_the_vectors_are_generated_from_their_cases() -> None:
    generate = _generator()
    for name in FILES:
        make = generate.GROUPS[name]
        assert (HERE / name).read_text("utf-8") == generate.render(make(), generate.WHAT[name])


def test_every_error_code_has_vectors_and_each_spec_rule_too() -> None:
    invalid = {v["error"]["code"] for _, v in CASES if not v["expected_ok"]}
    assert invalid == set(scl.CODES) - {"E900"}  # E900 is a parser bug: no document raises it
    errors = [v for n, v in CASES if n.startswith("errors/")]
    for code in scl.CODES:
        if code != "E900":
            assert any(v["name"].startswith(f"{code}-valid") for v in errors), code
    assert len(CASES) >= 120
    assert sum(v["expected_ok"] for _, v in CASES) >= 30


def test_the_formatting_variant_collides_and_unicode_forms_do_not() -> None:
    by_name = {v["name"]: v for _, v in CASES}
    assert by_name["formatting-variant"]["doc_hash"] == by_name["header-line"]["doc_hash"]
    nfc, nfd = by_name["no-normalization-nfc"], by_name["no-normalization-nfd"]
    assert nfc["doc_hash"] != nfd["doc_hash"]


def test_the_readme_counts_are_current() -> None:
    readme = (HERE / "README.md").read_text("utf-8")
    for name in FILES:
        vectors = [v for n, v in CASES if n.startswith(name[:-5] + "/")]
        valid = sum(v["expected_ok"] for v in vectors)
        assert f"`{name}` | {len(vectors)} | {valid} | {len(vectors) - valid}" in readme


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scl_vectors_generate", HERE / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
