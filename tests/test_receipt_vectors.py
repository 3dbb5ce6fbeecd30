"""The receipt vectors (tests/vectors/receipts/): every case verifies, or fails at the step and
with the code it names, through the library and through ``runid verify --json``; and the
generator still writes exactly the checked-in files (their provenance)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runid._cli import main
from runid.errors import VerificationError
from runid.keys import Keyring, PublicKey
from runid.receipt import CHECKS, ReceiptError, verify_receipt
from runid.tlog.cosignature import CosignerKey

VECTORS = Path(__file__).resolve().parent / "vectors" / "receipts"
DOCUMENT = json.loads((VECTORS / "cases.json").read_text(encoding="utf-8"))
CASES = DOCUMENT["cases"]
KEYRING = Keyring([PublicKey.parse(text) for text in DOCUMENT["keys"]])
COSIGNER = CosignerKey.parse(DOCUMENT["cosigner"])


def _outcome(case: dict[str, Any]) -> dict[str, Any]:
    data = (VECTORS / case["receipt"]).read_bytes()
    output = (VECTORS / case["output"]).read_bytes() if case["output"] else None
    try:
        required = case["min_witnesses"]
        witnesses = [COSIGNER] if required is not None else []
        verify_receipt(
            data,
            KEYRING,
            output=output,
            origin=case["origin"],
            witnesses=witnesses,
            min_witnesses=required or 0,
        )
    except ReceiptError as exc:
        return {"verified": False, "check": exc.check, "code": exc.code}
    return {"verified": True}


@pytest.mark.parametrize("case", CASES, ids=[c["receipt"] for c in CASES])
def test_each_case_verifies_or_fails_where_it_says(case: dict[str, Any]) -> None:
    assert _outcome(case) == case["expect"]


@pytest.mark.parametrize("case", CASES, ids=[c["receipt"] for c in CASES])
def test_runid_verify_json_reports_the_step_and_code(case: dict[str, Any]) -> None:
    args = ["verify", str(VECTORS / case["receipt"]), "--json"]
    for key in DOCUMENT["keys"]:
        args += ["--key", key]
    if case["output"]:
        args += ["--output", str(VECTORS / case["output"])]
    if case["origin"]:
        args += ["--origin", case["origin"]]
    if case["min_witnesses"] is not None:
        args += ["--witness", DOCUMENT["cosigner"], "--min-witnesses", str(case["min_witnesses"])]
    result = CliRunner().invoke(main, args)
    report = json.loads(result.stdout)
    expect = case["expect"]
    assert report["verified"] is expect["verified"]
    if expect["verified"]:
        assert result.exit_code == 0
        assert report["log"] == {"origin": "runid.example/log", "size": 3, "index": 1}
    else:
        assert result.exit_code == VerificationError.exit_code == 7
        assert (report["check"], report["code"]) == (expect["check"], expect["code"])
        assert report["message"]


def test_the_cases_cover_every_step_and_the_valid_receipt() -> None:
    steps = {c["expect"].get("check") for c in CASES}
    assert steps == {None, *CHECKS}
    assert sum(c["expect"]["verified"] for c in CASES) >= 3
    readme = (VECTORS / "README.md").read_text(encoding="utf-8")
    assert "Provenance" in readme and "generate.py" in readme


def test_the_generator_writes_exactly_these_files(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("receipt_vectors", VECTORS / "generate.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    generator.write(tmp_path)
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    kept = sorted(
        p.relative_to(VECTORS)
        for p in VECTORS.rglob("*")
        if p.is_file()
        and p.name not in ("README.md", "generate.py")
        and "__pycache__" not in p.parts
    )
    assert made == kept
    for name in made:
        assert (tmp_path / name).read_bytes() == (VECTORS / name).read_bytes(), name


def test_verify_json_on_an_unreadable_argument_names_no_step(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["verify", str(tmp_path / "missing.json"), "--key", DOCUMENT["keys"][0], "--json"]
    )
    report = json.loads(result.stdout)
    assert report["verified"] is False and report["check"] is None
    assert report["code"].startswith("E_") and result.exit_code == 6
