"""Resolving a CLI argument (id, receipt, declaration or identity file) into a Subject."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from runid import canonical
from runid.errors import DeclarationError, InputError, JSONSyntaxError, VerificationError
from runid.examples import example
from runid.home import Home
from runid.identity import compute_identity
from runid.keys import Keyring, SigningKey
from runid.log import Log
from runid.record import new_record
from runid.resolve import Subject, resolve


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/resolve")
    return home


@pytest.fixture
def log(home: Home) -> Any:
    with Log.open(home) as opened:
        yield opened


def write(path: Path, value: object) -> str:
    path.write_text(json.dumps(value))
    return str(path)


def test_an_execution_id_gives_the_run_and_its_declaration(log: Log) -> None:
    decl = example("rag-retrieved-chunks")
    entry = log.record_run(decl, output=b"answer")
    subject = resolve(entry.record["execution_id"], log)
    assert subject.kind == "execution"
    assert subject.record == entry.record
    assert subject.declaration == decl
    assert subject.identity() == compute_identity(decl)


def test_a_declaration_id_gives_the_stored_declaration(log: Log) -> None:
    decl = example("agent-step-with-tools")
    log.record_run(decl, output=b"x")
    subject = resolve(compute_identity(decl).declaration_id, log)
    assert (subject.kind, subject.declaration, subject.record) == ("declaration", decl, None)


def test_a_declaration_recorded_without_its_content_is_known_by_id_only(log: Log) -> None:
    did = compute_identity(example("chat-hosted-model")).declaration_id
    now = datetime.now(UTC)
    assert log.key is not None
    log.append_record(new_record(did, issuer=log.key, started_at=now, ended_at=now))
    subject = resolve(did, log)
    assert subject.components is None and subject.declaration is None
    assert subject.declaration_id == did
    assert "not stored" in subject.origin


def test_a_receipt_is_verified_with_the_homes_key_then_resolved(log: Log, tmp_path: Path) -> None:
    decl = example("chat-hosted-model")
    entry = log.record_run(decl, output=b"x")
    path = tmp_path / "r.json"
    path.write_bytes(log.receipt(entry.index, decl))
    subject = resolve(str(path), log)
    assert subject.kind == "receipt" and subject.declaration == decl
    assert subject.execution_id == entry.record["execution_id"]


def test_a_withheld_receipt_finds_the_declaration_in_the_log(log: Log, tmp_path: Path) -> None:
    decl = example("chat-hosted-model")
    entry = log.record_run(decl, output=b"x")
    path = tmp_path / "r.json"
    path.write_bytes(log.receipt(entry.index))
    assert resolve(str(path), log).declaration == decl
    other = Keyring([log.public])
    alone = resolve(str(path), None, keyring=other)
    assert alone.declaration is None and alone.components is None
    assert alone.declaration_id == entry.record["declaration_id"]


def test_a_receipt_from_another_key_or_altered_is_refused(log: Log, tmp_path: Path) -> None:
    decl = example("chat-hosted-model")
    entry = log.record_run(decl, output=b"x")
    receipt = json.loads(log.receipt(entry.index, decl))
    path = write(tmp_path / "r.json", receipt)
    stranger = Keyring([SigningKey.generate("someone/else").public_key])
    with pytest.raises(VerificationError, match="does not verify"):
        resolve(path, None, keyring=stranger)
    receipt["declaration"]["parameters"]["temperature"]["value"] = 0.9
    with pytest.raises(VerificationError, match="does not verify"):
        resolve(write(tmp_path / "t.json", receipt), log)
    with pytest.raises(InputError, match="no key was given") as caught:
        resolve(path, None)
    assert caught.value.code == "E_NO_KEY"


def test_declaration_files_are_validated(tmp_path: Path) -> None:
    decl = example("chat-hosted-model")
    subject = resolve(write(tmp_path / "d.json", decl))
    assert isinstance(subject, Subject) and subject.record is None
    decl["parameters"]["temperature"] = 0.2  # not a parameter entry
    with pytest.raises(DeclarationError):
        resolve(write(tmp_path / "bad.json", decl))


def test_other_spec_versions_are_named(tmp_path: Path, log: Log) -> None:
    decl = example("chat-hosted-model") | {"spec": "runid/v2"}
    with pytest.raises(InputError, match="runid/v2") as caught:
        resolve(write(tmp_path / "d.json", decl))
    assert caught.value.code == "E_SPEC_VERSION"
    entry = log.record_run(example("chat-hosted-model"), output=b"x")
    receipt = json.loads(log.receipt(entry.index)) | {"receipt": "runid/receipt/v9"}
    with pytest.raises(InputError, match="receipt/v9") as caught:
        resolve(write(tmp_path / "r.json", receipt), log)
    assert caught.value.code == "E_SPEC_VERSION"


def test_an_identity_file_gives_digests_only_and_is_checked(tmp_path: Path) -> None:
    identity = compute_identity(example("rag-retrieved-chunks")).to_json()
    subject = resolve(write(tmp_path / "i.json", identity))
    assert subject.declaration is None
    assert dict(subject.components or {}) == identity["components"]
    identity["components"]["model"] = "sha256:" + "0" * 64
    with pytest.raises(VerificationError, match="not the stated"):
        resolve(write(tmp_path / "j.json", identity))


@pytest.mark.parametrize(
    ("arg", "code"),
    [
        ("sha256:" + "ab" * 32, "E_UNKNOWN_ID"),
        ("sha256:abc", "E_SUBJECT"),
        ("no/such/file.json", "E_FILE"),
        ("", "E_SUBJECT"),
    ],
)
def test_unknown_or_malformed_arguments_are_clear_errors(log: Log, arg: str, code: str) -> None:
    with pytest.raises(InputError) as caught:
        resolve(arg, log)
    assert caught.value.code == code


def test_an_id_without_a_log_says_where_to_look() -> None:
    with pytest.raises(InputError, match="looked up in a log") as caught:
        resolve("sha256:" + "ab" * 32, None)
    assert "--home" in (caught.value.hint or "")


def test_files_that_are_no_subject_are_refused(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(JSONSyntaxError):
        resolve(str(tmp_path / "x.json"))
    with pytest.raises(InputError, match="not a declaration, a receipt") as caught:
        resolve(write(tmp_path / "y.json", [1, 2]))
    assert caught.value.code == "E_SUBJECT"
    (tmp_path / "z.json").write_bytes(
        canonical.canonicalize({"declaration_id": 1, "components": []})
    )
    with pytest.raises(InputError):
        resolve(str(tmp_path / "z.json"))
