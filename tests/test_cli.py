"""The command line: documented exit codes, one-line errors, never a traceback, nothing written."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runid._cli import main
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


# --- log prove / log declaration / verify ------------------------------------------------------

DECLARATION = ROOT / "examples" / "declarations" / "chat-hosted-model.json"
ANSWER = b"Duplicate charges are refunded within 5 business days."


@pytest.fixture
def logged(tmp_path: Path) -> dict[str, Any]:
    """A home with entry 0 recorded by `runid log append` (the log holds its declaration) and
    entry 1 appended without its declaration."""
    from runid.home import Home
    from runid.log import Log
    from runid.record import new_record

    home = Home(tmp_path / "home")
    home.init_keys("runid.test/log")
    answer = tmp_path / "answer.txt"
    answer.write_bytes(ANSWER)
    appended = invoke(
        "--home", str(home.path), "log", "append", str(DECLARATION), "--output", str(answer)
    )
    assert appended.exit_code == 0, appended.output
    record = new_record(
        "sha256:" + "ab" * 32,
        issuer=home.signing_key(),
        started_at="2025-03-01T12:00:00Z",
        ended_at="2025-03-01T12:00:01Z",
    )
    with Log.open(home) as log:
        log.append_record(record)
    pub = home.public_key().vkey
    return {"home": str(home.path), "answer": str(answer), "pub": pub, "tmp": tmp_path}


def test_prove_includes_the_declaration_the_log_holds(logged: dict[str, Any]) -> None:
    home, tmp = logged["home"], logged["tmp"]
    receipt = tmp / "receipt.json"
    proved = invoke("--home", home, "log", "prove", "0", "-o", str(receipt))
    assert proved.exit_code == 0, proved.output
    assert json.loads(receipt.read_bytes())["declaration"] == example("chat-hosted-model")
    verified = invoke("verify", str(receipt), "--key", logged["pub"], "--output", logged["answer"])
    assert verified.exit_code == 0, verified.output
    assert "ok  declaration: id sha256:" in verified.stdout
    # --no-declaration withholds it; --declaration FILE still supplies one.
    withheld = invoke("--home", home, "log", "prove", "0", "--no-declaration")
    assert json.loads(withheld.stdout)["declaration"] == {"absent": "withheld"}
    given = invoke("--home", home, "log", "prove", "0", "--declaration", str(DECLARATION))
    assert json.loads(given.stdout)["declaration"] == example("chat-hosted-model")


def test_prove_without_a_stored_declaration_withholds_it_and_says_so(
    logged: dict[str, Any],
) -> None:
    proved = invoke("--home", logged["home"], "log", "prove", "1")
    assert proved.exit_code == 0
    assert json.loads(proved.stdout)["declaration"] == {"absent": "withheld"}
    assert "does not hold the declaration of entry 1" in proved.stderr
    assert "--declaration FILE" in proved.stderr


def test_prove_refuses_both_declaration_options_and_writes_nothing(
    logged: dict[str, Any],
) -> None:
    out = logged["tmp"] / "receipt.json"
    both = ("--declaration", str(DECLARATION), "--no-declaration")
    result = invoke("--home", logged["home"], "log", "prove", "0", *both, "-o", str(out))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --declaration and --no-declaration")
    assert "hint: " in result.stderr
    assert not out.exists()


def test_log_declaration_writes_the_stored_canonical_bytes(logged: dict[str, Any]) -> None:
    home, tmp = logged["home"], logged["tmp"]
    canonical_bytes = invoke("canon", str(DECLARATION)).stdout_bytes
    by_index = invoke("--home", home, "log", "declaration", "0")
    assert by_index.exit_code == 0
    assert by_index.stdout_bytes == canonical_bytes
    record = json.loads(invoke("--home", home, "log", "show", "0").stdout)["record"]
    for ref in (record["execution_id"], record["declaration_id"]):
        assert invoke("--home", home, "log", "declaration", ref).stdout_bytes == canonical_bytes
    out = tmp / "decl.json"
    written = invoke("--home", home, "log", "declaration", "0", "-o", str(out))
    assert written.exit_code == 0 and out.read_bytes() == canonical_bytes
    assert invoke("id", str(out)).stdout.strip() == record["declaration_id"]


def test_log_declaration_not_held_is_a_clear_error_and_writes_nothing(
    logged: dict[str, Any],
) -> None:
    out = logged["tmp"] / "decl.json"
    result = run("--home", logged["home"], "log", "declaration", "1", "-o", str(out))
    assert result.returncode == 2
    err = result.stderr.decode()
    assert err.startswith("error: this log does not hold declaration sha256:abab")
    assert "entry 1" in err and "\nhint: " in err and "Traceback" not in err
    assert result.stdout == b"" and not out.exists()
    unknown = invoke("--home", logged["home"], "log", "declaration", "sha256:" + "0" * 64)
    assert (
        unknown.exit_code == 2 and "no entry with execution id or declaration id" in unknown.stderr
    )


def test_verify_with_the_wrong_key_names_the_signer_and_the_trusted_keys(
    logged: dict[str, Any],
) -> None:
    from runid.keys import SigningKey

    receipt = logged["tmp"] / "receipt.json"
    assert invoke("--home", logged["home"], "log", "prove", "0", "-o", str(receipt)).exit_code == 0
    signer = json.loads(receipt.read_bytes())["envelope"]["signatures"][0]["keyid"]
    other = SigningKey.generate("runid.test/other").public_key
    result = run("verify", str(receipt), "--key", other.vkey)
    assert result.returncode == 7
    err = result.stderr.decode()
    assert f"signed by key id {signer}" in err
    assert f"trusted: {other.key_id} (runid.test/other)" in err
    assert "hint: pass the issuer's public key" in err and "--key" in err
    assert "altered" not in err and "Traceback" not in err


def test_verify_calls_it_tampering_only_when_a_trusted_signature_fails(
    logged: dict[str, Any],
) -> None:
    receipt = logged["tmp"] / "receipt.json"
    assert invoke("--home", logged["home"], "log", "prove", "0", "-o", str(receipt)).exit_code == 0
    body = json.loads(receipt.read_bytes())
    entry = body["envelope"]["signatures"][0]
    sig = bytearray(base64.b64decode(entry["sig"]))
    sig[0] ^= 1
    entry["sig"] = base64.b64encode(bytes(sig)).decode()
    receipt.write_text(json.dumps(body))
    result = run("verify", str(receipt), "--key", logged["pub"])
    assert result.returncode == 7
    err = result.stderr.decode()
    assert err.startswith("error: signature: the signature does not verify with key runid.test/log")
    assert "altered" in err
