"""`runid scl parse|canon|hash FILE|-`: output, errors and exit codes, on real files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runid import scl
from runid._cli import main
from runid.canonical import MAX_INPUT_BYTES

DOC = b'SCL:V1\n\nhandles {\n  main("intent","v1")\n}\nscl {\n  "Be brief."\n  "Cite."\n}'


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """The real console entry point in a real process (with a timeout: nothing may block)."""
    return subprocess.run(
        [sys.executable, "-m", "runid", *args],
        input=stdin,
        capture_output=True,
        check=False,
        timeout=60,
    )


def invoke(*args: str, stdin: bytes | None = None) -> Any:
    return CliRunner().invoke(main, list(args), input=stdin)


@pytest.fixture
def doc(tmp_path: Path) -> Path:
    path = tmp_path / "doc.scl"
    path.write_bytes(DOC)
    return path


def test_canon_writes_the_exact_canonical_bytes(doc: Path) -> None:
    result = run("scl", "canon", str(doc))
    assert result.returncode == 0 and result.stderr == b""
    assert result.stdout == scl.canonical_json(scl.parse(DOC))
    assert run("scl", "canon", "-", stdin=DOC).stdout == result.stdout


def test_hash_is_sha256_of_the_canonical_bytes(doc: Path) -> None:
    result = invoke("scl", "hash", str(doc))
    assert result.exit_code == 0
    canon = invoke("scl", "canon", str(doc)).stdout_bytes
    assert result.stdout == hashlib.sha256(canon).hexdigest() + "\n"
    variant = DOC.replace(b"  ", b"")
    assert invoke("scl", "hash", "-", stdin=variant).stdout == result.stdout


def test_parse_prints_the_ast(doc: Path) -> None:
    result = invoke("scl", "parse", str(doc))
    assert result.exit_code == 0
    assert json.loads(result.stdout) == scl.parse(DOC).to_json()


@pytest.mark.parametrize("command", ["parse", "canon", "hash"])
def test_an_invalid_document_is_one_error_with_code_offset_and_hint(
    command: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.scl"
    path.write_bytes(DOC + b"\n")
    result = run("scl", command, str(path))
    assert result.returncode == 3
    assert result.stdout == b""
    err = result.stderr.decode()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[0] == (
        f"error: {path}: E104 at byte {len(DOC)} (line 9, column 2): "
        "a line feed (LF) after the closing } of the scl block"
    )
    assert lines[1].startswith("hint: ") and len(lines) == 2
    piped = run("scl", command, "-", stdin=b"SCL:V1\r\n")
    assert piped.returncode == 3
    assert piped.stderr.decode().startswith("error: standard input: E001 at byte 6 (line 1, ")


def test_what_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # a reader that opened it blocking would wait for a writer forever
    for target, needle in (
        (tmp_path, "not a regular file (a directory)"),
        (fifo, "not a regular file"),
        (Path("/dev/null"), "not a regular file"),
        (tmp_path / "missing.scl", "no such file"),
    ):
        result = run("scl", "hash", str(target))
        assert result.returncode == 6, result.stderr
        err = result.stderr.decode()
        assert err.startswith(f"error: {target}: {needle}") and "Traceback" not in err


def test_an_unreadable_file_is_a_file_error(doc: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    doc.chmod(0)
    result = invoke("scl", "hash", str(doc))
    assert result.exit_code == 6 and "permission denied" in result.stderr


def test_a_document_over_64_mib_is_a_limit_error(tmp_path: Path) -> None:
    big = tmp_path / "big.scl"
    with big.open("wb") as handle:
        handle.truncate(MAX_INPUT_BYTES + 1)
    result = invoke("scl", "hash", str(big))
    assert result.exit_code == 5
    assert "larger than the limit" in result.stderr


def test_the_group_is_listed_and_documented() -> None:
    result = invoke("--help")
    assert "scl" in result.stdout
    for command in ("parse", "canon", "hash"):
        help_text = invoke("scl", command, "--help").stdout
        assert "Exit codes: 0 success, 3 not an SCL:V1 document" in help_text
    cli_doc = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text("utf-8")
    assert "## `runid scl hash`" in cli_doc
