"""The command line: documented exit codes, one-line errors, never a traceback, nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runid.cli import main
from runid.examples import example

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples" / "declarations").glob("*.json"))


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """The real console entry point in a real process."""
    return subprocess.run(
        [sys.executable, "-m", "runid", *args], input=stdin, capture_output=True, check=False
    )


def invoke(*args: str, stdin: bytes | str | None = None) -> Any:
    return CliRunner().invoke(main, list(args), input=stdin)


def test_canon_writes_exact_canonical_bytes() -> None:
    result = run("canon", "-", stdin=b'{ "b": [1.0, 1e21, "\\u00e9"], "a": null }')
    assert result.returncode == 0
    assert result.stdout == '{"a":null,"b":[1,1e+21,"é"]}'.encode()
    assert result.stderr == b""


@pytest.mark.parametrize(
    ("text", "code", "needle"),
    [
        (b'{"a": 1,}', 3, "line 1, column"),
        (b"", 3, "empty"),
        (b"\xff\xfe{}", 3, "UTF-8"),
        (b'{"a": NaN}', 4, "/a"),
        (b'{"a": 1, "a": 2}', 4, 'duplicate key "a"'),
        (b'["\\ud800"]', 4, "/0"),
        (b'{"n": 9007199254740993}', 4, "/n"),
        (b"[" * 200 + b"]" * 200, 5, "deep"),
    ],
)
def test_canon_rejects_hostile_input_with_its_exit_code(
    text: bytes, code: int, needle: str
) -> None:
    result = run("canon", "-", stdin=text)
    assert result.returncode == code
    assert result.stdout == b""
    err = result.stderr.decode()
    assert "Traceback" not in err
    assert err.startswith("error: ")
    assert needle.lower() in err.lower()


def test_missing_file_is_exit_6_without_traceback(tmp_path: Path) -> None:
    result = run("id", str(tmp_path / "nope.json"))
    assert result.returncode == 6
    assert "no such file" in result.stderr.decode()
    result = run("validate", str(tmp_path))
    assert result.returncode == 6
    assert "directory" in result.stderr.decode()


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_shipped_example_validates_and_has_an_id(path: Path) -> None:
    assert invoke("validate", str(path)).exit_code == 0
    out = invoke("id", str(path), "--json")
    assert out.exit_code == 0
    body = json.loads(out.output)
    assert set(body) >= {"declaration_id", "components"}
    assert len(body["components"]) == 8
    plain = invoke("id", str(path))
    assert plain.output.strip() == body["declaration_id"]


def test_there_are_at_least_five_examples() -> None:
    assert len(EXAMPLES) >= 5


def test_examples_on_disk_match_the_code() -> None:
    from runid.examples import EXAMPLES as BUILDERS

    for name in BUILDERS:
        on_disk = json.loads((ROOT / "examples" / "declarations" / f"{name}.json").read_text())
        assert on_disk == example(name), name


def test_validate_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    decl = example("chat-hosted-model")
    decl["parameters"]["temperature"]["value"] = "0.2"
    del decl["tools"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(decl))
    result = run("validate", str(path))
    assert result.returncode == 1
    lines = result.stderr.decode().splitlines()
    assert "error: /parameters/temperature/value: E_TYPE expected number, got string" in lines
    assert "error: /tools: E_REQUIRED missing required field" in lines
    assert "Traceback" not in result.stderr.decode()
    report = invoke("validate", str(path), "--json")
    assert report.exit_code == 1
    assert json.loads(report.output)["problems"][0]["pointer"] == "/parameters/temperature/value"


def test_id_of_invalid_declaration_prints_no_id(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"spec": "runid/v1"}')
    result = run("id", str(path))
    assert result.returncode == 1
    assert result.stdout == b""
    assert "sha256:" not in result.stderr.decode()


def test_a_wrong_type_at_the_root_is_a_validation_error(tmp_path: Path) -> None:
    for text in ("[]", '"x"', "null", "42"):
        result = invoke("id", "-", stdin=text)
        assert result.exit_code == 1, text


def test_usage_errors_exit_2() -> None:
    assert invoke("id").exit_code == 2
    assert invoke("frobnicate").exit_code == 2


# `runid demo` (a real RAG pipeline with local models) is tested in tests/test_demo.py.


def test_schema_command_prints_the_shipped_schema() -> None:
    shipped = json.loads((ROOT / "docs" / "schema" / "declaration-v1.schema.json").read_text())
    assert json.loads(invoke("schema").output) == shipped
