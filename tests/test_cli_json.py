"""``--json`` results carry the stable error code (issue 12): ``runid log append``, ``log
consistency`` and ``keys show`` print one JSON object, their success checked against the log and
the key, each failure by its code; and every ``--json`` command's failure has the same error
members (``code``, ``message``, ``hint``), with the exit code it has without ``--json`` and
nothing else on standard output.

Each result is validated against its schema in docs/schema/ (written by scripts/gen_docs.py).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from runid import errors
from runid._cli import main
from runid._cli._schemas import SCHEMAS
from runid.checkpoint import parse_checkpoint
from runid.home import Home
from runid.identity import compute_identity
from runid.log import Log
from runid.note import split_note

ROOT = Path(__file__).resolve().parent.parent
DECLARATION = ROOT / "examples" / "declarations" / "chat-hosted-model.json"
ERROR_MEMBERS = {"code", "message", "hint"}


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def shipped(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((ROOT / "docs" / "schema" / name).read_text("utf-8"))
    assert schema == SCHEMAS[name], f"docs/schema/{name} is stale: run scripts/gen_docs.py"
    return schema


def json_run(*args: str, schema: str | None = None) -> tuple[int, dict[str, Any]]:
    """Run ``args`` with ``--json`` and without it: the exit code is the same, standard output
    holds exactly one JSON object (valid under ``schema``), and without ``--json`` a failure
    prints nothing on standard output."""
    with_json = invoke(*args, "--json")
    body = json.loads(with_json.stdout)  # the whole of stdout is one JSON document
    assert isinstance(body, dict)
    if schema is not None:
        jsonschema.validate(body, shipped(schema))
    if with_json.exit_code != 0:
        assert with_json.stderr == "", "--json reports the error on standard output only"
        plain = invoke(*args)
        assert plain.exit_code == with_json.exit_code, (plain.output, body)
        assert plain.stdout == ""
        if body["code"] != errors.E_INVALID_DECLARATION:  # else listed problem by problem
            assert f"error: {body['message']}" in plain.stderr
    return with_json.exit_code, body


def failure(exit_code: int, body: dict[str, Any], status: str, code: str) -> None:
    """A failure: the status member false, the error members, the exact stable code."""
    assert exit_code != 0
    assert body[status] is False
    assert body.keys() >= ERROR_MEMBERS
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert body["hint"] is None or isinstance(body["hint"], str)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/json")
    return home


@pytest.fixture
def answer(tmp_path: Path) -> Path:
    path = tmp_path / "answer.txt"
    path.write_bytes(b"Duplicate charges are refunded within 5 business days.")
    return path


def append(home: Home, answer: Path) -> None:
    done = invoke(
        "--home", str(home.path), "log", "append", str(DECLARATION), "--output", str(answer)
    )
    assert done.exit_code == 0, done.output


def checkpoint(home: Home, path: Path) -> bytes:
    done = invoke("--home", str(home.path), "log", "checkpoint")
    assert done.exit_code == 0, done.output
    path.write_bytes(done.stdout_bytes)
    return done.stdout_bytes


def public_only(home: Home, where: Path) -> Home:
    """A verifier's copy of ``home``: its public key file only."""
    copy = Home(where)
    copy.keys_dir.mkdir(mode=0o700, parents=True)
    where.chmod(0o700)
    shutil.copyfile(home.public_key_path, copy.public_key_path)
    return copy


# --- runid log append --json ------------------------------------------------------------------


def test_log_append_json_names_the_new_entry(home: Home, answer: Path) -> None:
    append(home, answer)
    code, body = json_run(
        "--home", str(home.path), "log", "append", str(DECLARATION), "--output", str(answer),
        schema="log-append-v1.schema.json",
    )  # fmt: skip
    assert code == 0
    with Log.open(home, readonly=True) as log:
        entry = log.entry(1)
        assert body == {
            "ok": True,
            "index": 1,
            "execution_id": entry.record["execution_id"],
            "declaration_id": compute_identity(json.loads(DECLARATION.read_text())).declaration_id,
            "origin": "runid.test/json",
            "size": log.size(),
        }
    assert entry.record["declaration_id"] == body["declaration_id"]
    assert body["size"] == 2


@pytest.mark.parametrize(
    ("case", "code", "exit_code"),
    [
        ("missing declaration", errors.E_FILE, 6),
        ("missing output", errors.E_FILE, 6),
        ("not JSON", errors.E_JSON_SYNTAX, 3),
        ("NaN", errors.E_NAN, 4),
        ("invalid declaration", errors.E_INVALID_DECLARATION, 1),
        ("no keys", errors.E_NO_SIGNING_KEY, 2),
        ("public key only", errors.E_NO_SIGNING_KEY, 2),
    ],
)
def test_log_append_json_failures_by_code(
    home: Home, answer: Path, tmp_path: Path, *, case: str, code: str, exit_code: int
) -> None:
    append(home, answer)
    declaration, output, target = str(DECLARATION), str(answer), home
    bad = tmp_path / "bad.json"
    if case == "missing declaration":
        declaration = str(tmp_path / "nope.json")
    elif case == "missing output":
        output = str(tmp_path / "nope.txt")
    elif case == "not JSON":
        bad.write_text('{"spec": ')
        declaration = str(bad)
    elif case == "NaN":
        bad.write_text('{"spec": NaN}')
        declaration = str(bad)
    elif case == "invalid declaration":
        bad.write_text('{"spec": "runid/v1"}')
        declaration = str(bad)
    elif case == "no keys":
        target = Home(tmp_path / "empty")
    else:
        target = public_only(home, tmp_path / "verifier")
    args = ("--home", str(target.path), "log", "append", declaration, "--output", output)
    got, body = json_run(*args, schema="log-append-v1.schema.json")
    failure(got, body, "ok", code)
    assert got == exit_code
    assert set(body) == {"ok", *ERROR_MEMBERS}
    if target is home:
        with Log.open(home, readonly=True) as log:
            assert log.size() == 1, "nothing appended"


# --- runid log consistency --json -------------------------------------------------------------


def test_log_consistency_json_gives_both_trees(home: Home, answer: Path, tmp_path: Path) -> None:
    append(home, answer)
    old_note = checkpoint(home, tmp_path / "old.cp")
    append(home, answer)
    append(home, answer)
    new_note = checkpoint(home, tmp_path / "new.cp")
    code, body = json_run(
        "--home", str(home.path), "log", "consistency", str(tmp_path / "old.cp"),
        schema="log-consistency-v1.schema.json",
    )  # fmt: skip
    assert code == 0
    old, new = (parse_checkpoint(split_note(note)[0]) for note in (old_note, new_note))
    b64 = base64.b64encode
    assert body == {
        "consistent": True,
        "origin": "runid.test/json",
        "old": {"size": 1, "root": b64(old.root).decode()},
        "new": {"size": 3, "root": b64(new.root).decode()},
    }
    assert (old.size, new.size) == (1, 3)


def other_home(home: Home, where: Path, runs: int, answer: Path) -> Home:
    """A home with ``home``'s key (the same origin, checkpoints that verify) and ``runs`` runs
    of its own: another history of "the same log"."""
    other = Home(where)
    other.create()
    shutil.copyfile(home.signing_key_path, other.signing_key_path)
    os.chmod(other.signing_key_path, 0o600)
    shutil.copyfile(home.public_key_path, other.public_key_path)
    for _ in range(runs):
        append(other, answer)
    return other


@pytest.mark.parametrize(
    ("case", "code", "exit_code"),
    [
        ("missing file", errors.E_FILE, 6),
        ("forged root", errors.E_NOTE_BAD_SIGNATURE, 7),
        ("another log's key", errors.E_NOTE_UNTRUSTED, 7),
        ("not a note", errors.E_NOTE_MALFORMED, 7),
        ("larger than the log", errors.E_VERIFY, 7),
        ("forked history", errors.E_VERIFY, 7),
        ("no keys", errors.E_NO_SIGNING_KEY, 2),
    ],
)
def test_log_consistency_json_failures_by_code(
    home: Home, answer: Path, tmp_path: Path, *, case: str, code: str, exit_code: int
) -> None:
    append(home, answer)
    append(home, answer)
    old = tmp_path / "old.cp"
    target = home
    if case == "forged root":
        lines = checkpoint(home, old).split(b"\n")
        lines[2] = base64.b64encode(bytes(32))
        old.write_bytes(b"\n".join(lines))
    elif case == "another log's key":
        stranger = Home(tmp_path / "stranger")
        stranger.init_keys("runid.test/json")  # same name, another key
        append(stranger, answer)
        checkpoint(stranger, old)
    elif case == "not a note":
        old.write_bytes(b"runid.test/json\n2\n")
    elif case == "larger than the log":
        checkpoint(other_home(home, tmp_path / "longer", 5, answer), old)
    elif case == "forked history":
        checkpoint(other_home(home, tmp_path / "fork", 2, answer), old)  # same size, other root
    elif case == "no keys":
        checkpoint(home, old)
        target = Home(tmp_path / "empty")
    args = ("--home", str(target.path), "log", "consistency", str(old))
    got, body = json_run(*args, schema="log-consistency-v1.schema.json")
    failure(got, body, "consistent", code)
    assert got == exit_code
    assert set(body) == {"consistent", *ERROR_MEMBERS}


# --- runid keys show --json -------------------------------------------------------------------


def test_keys_show_json_gives_the_key(home: Home, tmp_path: Path) -> None:
    public = home.public_key()
    code, body = json_run(
        "keys", "--home", str(home.path), "show", schema="keys-show-v1.schema.json"
    )
    assert code == 0
    assert body == {
        "ok": True,
        "name": "runid.test/json",
        "algorithm": "ed25519",
        "key_id": public.key_id,
        "vkey": public.vkey,
        "public_key": base64.b64encode(public.raw).decode(),
        "private_key": True,
        "path": str(home.public_key_path),
    }
    # The path is what `runid verify --key` takes: the same verifier key.
    assert Path(body["path"]).read_text().strip() == body["vkey"]
    # A verifier's copy of the home: the same key, no private key.
    copy = public_only(home, tmp_path / "verifier")
    _, from_copy = json_run("keys", "--home", str(copy.path), "show")
    assert from_copy == {**body, "private_key": False, "path": str(copy.public_key_path)}


@pytest.mark.parametrize(
    ("case", "code", "exit_code"),
    [
        ("no keys", errors.E_NO_SIGNING_KEY, 2),
        ("not a verifier key", errors.E_INPUT, 2),
        ("writable by everyone", errors.E_PERMISSIONS, 6),
    ],
)
def test_keys_show_json_failures_by_code(
    home: Home, tmp_path: Path, case: str, code: str, exit_code: int
) -> None:
    target = home
    if case == "no keys":
        target = Home(tmp_path / "empty")
    elif case == "not a verifier key":
        target = public_only(home, tmp_path / "verifier")
        target.public_key_path.write_text("runid.test/json+00000000+AAAA\n")
    else:
        home.path.chmod(0o777)
    got, body = json_run(
        "keys", "--home", str(target.path), "show", schema="keys-show-v1.schema.json"
    )
    failure(got, body, "ok", code)
    assert got == exit_code
    assert set(body) == {"ok", *ERROR_MEMBERS}


# --- one error shape across the --json commands -----------------------------------------------


def test_validate_json_reports_the_code_of_a_json_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"spec": "runid/v1",}')
    code, body = json_run("validate", str(bad))
    failure(code, body, "valid", errors.E_JSON_SYNTAX)
    assert code == 3
    assert body["problems"] == []
    bad.write_text('{"spec": "runid/v1"}')
    code, body = json_run("validate", str(bad))
    failure(code, body, "valid", errors.E_INVALID_DECLARATION)
    assert code == 1
    assert {p["code"] for p in body["problems"]} == {errors.E_REQUIRED}


def test_log_audit_json_reports_the_code_of_an_error(home: Home, tmp_path: Path) -> None:
    code, body = json_run("log", "--home", str(tmp_path / "empty"), "audit")
    failure(code, body, "ok", errors.E_NO_SIGNING_KEY)
    assert (code, body["size"], body["findings"]) == (2, None, [])


def failures(home: Home, answer: Path, tmp: Path) -> dict[str, tuple[int, dict[str, Any]]]:
    """One failure of each ``--json`` command: its exit code and its JSON result."""
    append(home, answer)
    h = str(home.path)
    with Log.open(home, readonly=True) as log:
        receipt = json.loads(log.receipt(0))
    receipt["envelope"]["signatures"][0]["sig"] = base64.b64encode(bytes(64)).decode()
    (tmp / "receipt.json").write_text(json.dumps(receipt))
    (tmp / "bad.json").write_text("[1, 2")
    (tmp / "invalid.json").write_text("{}")
    vkey = home.public_key().vkey
    # A lookup row deleted: audit finds it.
    audited = other_home(home, tmp / "audited", 1, answer)
    conn = sqlite3.connect(audited.path / "log.sqlite3", isolation_level=None)
    conn.execute("DELETE FROM record_index WHERE idx = 0")
    conn.close()
    missing = str(tmp / "missing")
    runs = {
        "validate (JSON)": ("validate", str(tmp / "bad.json")),
        "validate (declaration)": ("validate", str(tmp / "invalid.json")),
        "verify (no file)": ("verify", missing, "--key", vkey),
        "verify (signature)": ("verify", str(tmp / "receipt.json"), "--key", vkey),
        "log audit (no keys)": ("log", "--home", missing, "audit"),
        "log audit (findings)": ("log", "--home", str(audited.path), "audit"),
        "log append": ("--home", h, "log", "append", missing, "--output", str(answer)),
        "log consistency": ("--home", h, "log", "consistency", missing),
        "keys show": ("keys", "--home", missing, "show"),
    }
    return {name: json_run(*args) for name, args in runs.items()}


STATUS = {"validate": "valid", "verify": "verified", "log consistency": "consistent"}


def test_every_json_failure_has_the_same_error_members(
    home: Home, answer: Path, tmp_path: Path
) -> None:
    got = failures(home, answer, tmp_path)
    for name, (exit_code, body) in got.items():
        command = name.split(" (")[0]
        status = STATUS.get(command, "ok")
        assert exit_code != 0, name
        assert body[status] is False, name
        assert body.keys() >= ERROR_MEMBERS, name
        assert body["code"] in errors.CODES, name
        assert isinstance(body["message"], str) and body["message"], name
        assert body["hint"] is None or isinstance(body["hint"], str), name
    codes = {name: body["code"] for name, (_, body) in got.items()}
    assert codes == {
        "validate (JSON)": errors.E_JSON_SYNTAX,
        "validate (declaration)": errors.E_INVALID_DECLARATION,
        "verify (no file)": errors.E_FILE,
        "verify (signature)": errors.E_SIGNATURE,
        "log audit (no keys)": errors.E_NO_SIGNING_KEY,
        "log audit (findings)": errors.E_STORE_CORRUPT,
        "log append": errors.E_FILE,
        "log consistency": errors.E_FILE,
        "keys show": errors.E_NO_SIGNING_KEY,
    }


def test_a_bug_under_json_is_still_one_json_object_with_e_internal(
    home: Home, answer: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug (not a user mistake) keeps its exit code 70; with ``--json`` standard output is
    still the one JSON object, coded ``E_INTERNAL``, so a caller parsing it learns so."""

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.delenv("RUNID_DEBUG", raising=False)
    monkeypatch.setattr(Log, "record_run", broken)
    code, body = json_run(
        "--home", str(home.path), "log", "append", str(DECLARATION), "--output", str(answer),
        schema="log-append-v1.schema.json",
    )  # fmt: skip
    assert code == 70
    failure(code, body, "ok", errors.E_INTERNAL)
    assert "ZeroDivisionError: a bug" in body["message"] and "bug in runid" in body["hint"]
    with Log.open(home, readonly=True) as log:
        assert log.size() == 0  # nothing appended
