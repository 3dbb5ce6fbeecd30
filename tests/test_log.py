"""The transparency log end to end: records, checkpoints, receipts, audit, tampering."""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runid import canonical
from runid.checkpoint import Checkpoint, sign_checkpoint
from runid.digest import content_digest
from runid.envelope import leaf_hash, sign_record, verify_envelope
from runid.errors import InputError, VerificationError
from runid.examples import example
from runid.home import Home
from runid.keys import Keyring, SigningKey
from runid.log import Log
from runid.proof import format_proof
from runid.receipt import make_receipt, verify_receipt
from runid.record import new_record
from runid.store.memory import MemoryStore

OUTPUT = b"Duplicate charges are refunded within 5 business days."


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/log")
    return home


@pytest.fixture
def log(home: Home) -> Any:
    with Log.open(home) as opened:
        for name in ("chat-hosted-model", "rag-retrieved-chunks", "agent-step-with-tools"):
            opened.record_run(example(name), output=OUTPUT + name.encode())
        yield opened


def keyring(home: Home) -> Keyring:
    return Keyring([home.public_key()])


def db(home: Home) -> sqlite3.Connection:
    conn = sqlite3.connect(home.path / "log.sqlite3", isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")  # an attacker with file access has no triggers
    return conn


def test_receipt_verifies_offline_with_only_the_public_key(log: Log, home: Home) -> None:
    decl = example("rag-retrieved-chunks")
    receipt = log.receipt(1, decl)
    result = verify_receipt(receipt, keyring(home), output=OUTPUT + b"rag-retrieved-chunks")
    assert result.index == 1
    assert result.checkpoint.size == 3
    assert result.record["execution_id"] == log.entry(1).record["execution_id"]
    assert any("declaration: id" in check for check in result.checks)


def test_entries_are_found_by_index_or_execution_id(log: Log) -> None:
    entry = log.entry(2)
    assert log.entry(entry.record["execution_id"]).index == 2
    with pytest.raises(InputError, match="no entry 7"):
        log.entry("7")
    with pytest.raises(InputError, match="no entry with execution id"):
        log.entry("sha256:" + "0" * 64)
    with pytest.raises(InputError, match="neither"):
        log.entry("latest")


def test_the_tree_matches_its_checkpoint_after_every_append(log: Log, home: Home) -> None:
    before = log.checkpoint()
    log.record_run(example("absent-components"), output=b"hi")
    old, new = log.consistency(before)
    assert (old.size, new.size) == (3, 4)
    assert log.audit() == []


def test_a_receipt_for_a_declaration_that_is_not_the_recorded_one_is_refused(log: Log) -> None:
    with pytest.raises(InputError, match="not the one recorded"):
        log.receipt(0, example("local-transformers"))


def test_audit_names_a_tampered_record(log: Log, home: Home) -> None:
    conn = db(home)
    data = conn.execute("SELECT data FROM entries WHERE idx = 1").fetchone()[0]
    envelope = json.loads(data)
    payload = bytearray(base64.b64decode(envelope["payload"]))
    payload[payload.index(b"sha256:") + 9] ^= 0x01  # one byte of the signed statement
    envelope["payload"] = base64.b64encode(bytes(payload)).decode()
    conn.execute("UPDATE entries SET data = ? WHERE idx = 1", (canonical.canonicalize(envelope),))
    findings = log.audit()
    assert any(f.where == "entry 1" for f in findings)


def test_audit_names_a_tampered_node_and_checkpoint(log: Log, home: Home) -> None:
    conn = db(home)
    conn.execute("UPDATE nodes SET hash = zeroblob(32) WHERE level = 1 AND idx = 0")
    assert log.audit() != []


def test_audit_detects_a_forged_checkpoint(log: Log, home: Home) -> None:
    log.checkpoint()  # the checkpoint of size 3 (appends sign one at most every second)
    conn = db(home)
    conn.execute("UPDATE checkpoints SET note = replace(note, X'33', X'34')")  # size 3 -> 4
    findings = log.audit()
    assert any("checkpoint" in f.where or "checkpoint" in f.problem for f in findings)


def test_a_rewritten_history_fails_consistency_against_an_earlier_checkpoint(
    log: Log, home: Home
) -> None:
    old = log.checkpoint()
    # Someone rebuilds the log with a different entry 0 (same size), signs with the same key.
    other = Home(home.path.parent / "forked")
    other.create()
    copied = other.keys_dir.joinpath("signing.key")
    copied.write_bytes(home.signing_key_path.read_bytes())
    copied.chmod(0o600)  # a private key others can read is refused
    with Log.open(other) as forked:
        for name in ("local-transformers", "rag-retrieved-chunks", "agent-step-with-tools", "x"):
            decl = example(name if name != "x" else "absent-components")
            forked.record_run(decl, output=b"forged")
        with pytest.raises(VerificationError):
            forked.consistency(old)


def test_an_old_checkpoint_larger_than_the_log_is_a_truncation(log: Log, home: Home) -> None:
    key = home.signing_key()
    bigger = sign_checkpoint(Checkpoint("runid.test/log", 10, b"\x01" * 32), key)
    with pytest.raises(VerificationError, match="truncated"):
        log.consistency(bigger)


def mutate_proof(receipt: bytes, change: Any) -> bytes:
    body = json.loads(receipt)
    body["proof"] = change(body["proof"])
    return json.dumps(body).encode()


def with_signature(receipt: bytes, sig: str) -> bytes:
    body = json.loads(receipt)
    body["envelope"]["signatures"][0]["sig"] = sig
    return json.dumps(body).encode()


HOSTILE = {
    "truncated file": lambda r: r[: len(r) // 2],
    "empty file": lambda r: b"",
    "not json": lambda r: b"\x00\xff garbage",
    "wrong size": lambda r: mutate_proof(r, lambda p: p.replace("\n3\n", "\n4\n", 1)),
    "wrong index": lambda r: mutate_proof(r, lambda p: p.replace("index 1", "index 2", 1)),
    "proof too short": lambda r: mutate_proof(
        r, lambda p: "\n".join(line for i, line in enumerate(p.split("\n")) if i != 2)
    ),
    "proof too long": lambda r: mutate_proof(
        r,
        lambda p: p.replace(
            "index 1\n", "index 1\n" + base64.b64encode(b"\0" * 32).decode() + "\n"
        ),
    ),
    "garbage base64": lambda r: mutate_proof(
        r, lambda p: p.replace("index 1\n", "index 1\n@@@@\n")
    ),
    "missing member": lambda r: json.dumps(
        {k: v for k, v in json.loads(r).items() if k != "proof"}
    ).encode(),
    "tampered declaration": lambda r: r.replace(b'"temperature"', b'"temperaturf"', 1),
    "tampered signature": lambda r: with_signature(r, base64.b64encode(b"\1" * 64).decode()),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_receipts_fail_closed(log: Log, home: Home, name: str) -> None:
    receipt = log.receipt(1, example("rag-retrieved-chunks"))
    bad = HOSTILE[name](receipt)
    with pytest.raises(VerificationError):
        verify_receipt(bad, keyring(home))


def test_a_receipt_does_not_verify_with_another_key(log: Log) -> None:
    receipt = log.receipt(0)
    stranger = Keyring([SigningKey.generate("runid.test/log").public_key])
    with pytest.raises(VerificationError):
        verify_receipt(receipt, stranger)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runid", *args], capture_output=True, text=True, check=False, env=env
    )


def test_cli_round_trip_and_verify_without_any_database(tmp_path: Path) -> None:
    home = str(tmp_path / "h")
    out = tmp_path / "out.txt"
    out.write_bytes(OUTPUT)
    decl = str(Path(__file__).parent.parent / "examples/declarations/chat-hosted-model.json")
    assert run("--home", home, "keys", "init", "--name", "runid.test/log").returncode == 0
    key_file = Path(home) / "keys" / "signing.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    shown = run("keys", "--home", home, "show")
    assert shown.returncode == 0 and "PRIVATE" not in shown.stdout
    appended = run("log", "--home", home, "append", decl, "--output", str(out))
    assert appended.returncode == 0, appended.stderr
    receipt = tmp_path / "receipt.json"
    proved = run("log", "--home", home, "prove", "0", "--declaration", decl, "-o", str(receipt))
    assert proved.returncode == 0, proved.stderr
    env = {"RUNID_HOME": str(tmp_path / "nowhere"), "PATH": "/usr/bin:/bin"}
    pub = shown.stdout.splitlines()[0]
    verified = run("verify", str(receipt), "--key", pub, "--output", str(out), env=env)
    assert verified.returncode == 0, verified.stderr
    assert "verified" in verified.stdout
    assert not (tmp_path / "nowhere").exists()
    out.write_bytes(b"something else")
    wrong = run("verify", str(receipt), "--key", pub, "--output", str(out), env=env)
    assert wrong.returncode == 7
    assert wrong.stderr.startswith("error: output:")
    assert "Traceback" not in wrong.stderr
    audit = run("log", "--home", home, "audit")
    assert audit.returncode == 0 and "audit ok" in audit.stdout


def test_cli_without_keys_says_how_to_create_them(tmp_path: Path) -> None:
    result = run("--home", str(tmp_path / "empty"), "log", "checkpoint")
    assert result.returncode != 0
    assert "runid keys init" in result.stderr
    assert "Traceback" not in result.stderr


def test_keys_init_refuses_to_overwrite(tmp_path: Path) -> None:
    home = str(tmp_path / "h")
    assert run("--home", home, "keys", "init").returncode == 0
    again = run("--home", home, "keys", "init")
    assert again.returncode == 6
    assert "already exists" in again.stderr


def test_rotated_keys_verify_old_receipts(log: Log, home: Home) -> None:
    receipt = log.receipt(0)
    old = home.public_key()
    new = SigningKey.generate("runid.test/log-2026").public_key
    assert verify_receipt(receipt, Keyring([new, old])).index == 0
    with pytest.raises(VerificationError):
        verify_receipt(receipt, Keyring([new]))


def test_entry_number_out_of_range_names_the_valid_range(log: Log, home: Home) -> None:
    with pytest.raises(InputError, match=r"no entry 5: the log has entries 0\.\.2"):
        log.entry(5)
    empty = Home(home.path.parent / "empty")
    empty.init_keys("runid.test/empty")
    with Log.open(empty) as fresh, pytest.raises(InputError, match="has no entries yet"):
        fresh.entry(0)


# --- stored declarations in receipts (log prove, log declaration) -----------------------------


def test_a_receipt_can_include_the_declaration_the_log_holds(log: Log, home: Home) -> None:
    withheld = json.loads(log.receipt(1))
    assert withheld["declaration"] == {"absent": "withheld"}  # the library default: explicit
    receipt = log.receipt(1, include_stored=True)
    assert json.loads(receipt)["declaration"] == example("rag-retrieved-chunks")
    result = verify_receipt(receipt, keyring(home))
    assert any(check.startswith("declaration: id") for check in result.checks)


def test_stored_declaration_by_index_execution_id_or_declaration_id(log: Log) -> None:
    entry = log.entry(2)
    declaration_id = entry.record["declaration_id"]
    for ref in (2, "2", entry.record["execution_id"], declaration_id):
        found_id, found = log.stored_declaration(ref)
        assert (found_id, found) == (declaration_id, example("agent-step-with-tools"))
    with pytest.raises(InputError) as info:
        log.stored_declaration("sha256:" + "0" * 64)
    assert info.value.code == "E_NOT_IN_LOG"


def test_a_declaration_the_log_does_not_hold_is_a_clear_error(home: Home) -> None:
    with Log.open(home) as opened:
        record = new_record(
            "sha256:" + "ab" * 32,
            issuer=home.signing_key(),
            started_at="2025-03-01T12:00:00Z",
            ended_at="2025-03-01T12:00:01Z",
        )
        entry = opened.append_record(record)  # a record appended without its declaration
        with pytest.raises(InputError) as info:
            opened.stored_declaration(entry.index)
        assert info.value.code == "E_DECLARATION_NOT_STORED" and info.value.exit_code == 2
        assert f"entry {entry.index}" in info.value.message and info.value.hint
        # A receipt asked to include it withholds it instead.
        receipt = opened.receipt(entry.index, include_stored=True)
        assert json.loads(receipt)["declaration"] == {"absent": "withheld"}


# --- the one write path: Log.append --------------------------------------------------------------


def a_record(home: Home, second: int = 0, issuer: SigningKey | None = None) -> dict[str, Any]:
    return new_record(
        "sha256:" + "ab" * 32,
        issuer=issuer or home.signing_key(),
        started_at="2025-03-01T12:00:00Z",
        ended_at=f"2025-03-01T12:00:{second:02d}Z",
    )


def test_record_run_appends_its_record_and_content_in_one_transaction(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    declaration = example("chat-hosted-model")
    with Log.open(home) as opened:
        calls: list[tuple[int, list[bytes]]] = []
        append = opened.store.append

        def spy(
            leaves: Any, sign_checkpoint: Any = None, *, blobs: Any = (), **more: Any
        ) -> list[int]:
            calls.append((len(leaves), list(blobs)))
            return append(leaves, sign_checkpoint, blobs=blobs, **more)

        monkeypatch.setattr(opened.store, "append", spy)
        monkeypatch.setattr(opened.store, "put_blob", lambda data: pytest.fail("own transaction"))
        opened.record_run(declaration, output=b"kept")
        assert calls == [(1, [b"kept", canonical.canonicalize(declaration)])]
        assert opened.content(content_digest(b"kept")) == b"kept"


def test_a_failed_append_stores_no_content(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(checkpoint: Checkpoint, key: SigningKey) -> bytes:
        raise InputError("no checkpoint today")

    # The checkpoint is signed inside the transaction: its failure takes the blobs with it.
    monkeypatch.setattr("runid.log.sign_checkpoint", refuse)
    with Log.open(home) as opened:
        with pytest.raises(InputError, match="no checkpoint today"):
            opened.record_run(example("chat-hosted-model"), output=b"never stored")
        assert opened.size() == 0
        assert opened.store.max_blob_rowid() == 0


def test_append_verifies_envelopes_it_did_not_sign(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[object] = []

    def counting(envelope: Any, keyring: Keyring) -> dict[str, Any]:
        verified.append(envelope)
        return verify_envelope(envelope, keyring)

    monkeypatch.setattr("runid.log.verify_envelope", counting)
    with Log.open(home) as opened:
        own = opened.sign(a_record(home, 1))
        assert opened.append([own]) == [0]
        assert verified == []  # signed by this log: valid by construction
        outside = sign_record(a_record(home, 2), home.signing_key())
        assert opened.append([outside]) == [1]
        assert verified == [outside]
        changed = opened.sign(a_record(home, 3))
        changed["payloadType"] = "application/x-other"
        with pytest.raises(VerificationError):
            opened.append([changed])  # changed after signing: verified, and refused
        other = SigningKey.generate("runid.test/other")
        stranger = sign_record(a_record(home, 4, issuer=other), other)
        with pytest.raises(VerificationError):
            opened.append([stranger])
        assert opened.size() == 2
        assert opened.append([own]) == [0]  # already there: its index, nothing appended


def test_append_writes_keyed_index_lines_with_the_records(home: Home) -> None:
    lines = [{"keyed_digest": "hmac-sha256:org:00", "media_type": "text/plain", "size": 1}]
    with Log.open(home) as opened:
        opened.append([opened.sign(a_record(home))], keyed=lines)
    assert [json.loads(line) for line in home.keyed_index_path.read_text().splitlines()] == lines
    # A log built on a bare store has no home to keep the index in: nothing is appended.
    with Log(MemoryStore(), home.signing_key(), home.public_key()) as bare:
        with pytest.raises(InputError, match="keyed-index lines need"):
            bare.append([bare.sign(a_record(home, 5))], keyed=lines)
        assert bare.size() == 0


# --- verification names the keys when no trusted key signed -----------------------------------


def split_log_receipt(issuer: SigningKey, log_key: SigningKey) -> bytes:
    """A one-entry receipt whose record is signed by ``issuer`` and checkpoint by ``log_key``."""
    record = new_record(
        "sha256:" + "ab" * 32,
        issuer=issuer,
        started_at="2025-03-01T12:00:00Z",
        ended_at="2025-03-01T12:00:01Z",
    )
    envelope = sign_record(record, issuer)
    cp = Checkpoint(log_key.public_key.name, 1, leaf_hash(envelope))
    return make_receipt(envelope, format_proof(0, [], sign_checkpoint(cp, log_key)))


ISSUER = SigningKey("runid.test/worker", bytes(range(32)))
LOG_KEY = SigningKey("runid.test/log", bytes(range(1, 33)))


def test_a_checkpoint_signed_by_an_untrusted_key_names_signer_and_trusted_keys() -> None:
    receipt = split_log_receipt(ISSUER, LOG_KEY)
    assert verify_receipt(receipt, Keyring([ISSUER.public_key, LOG_KEY.public_key])).index == 0
    # Another key of the same name (a rotated or mistaken key) is not the signer either.
    impostor = SigningKey("runid.test/log", bytes(range(2, 34))).public_key
    with pytest.raises(VerificationError) as info:
        verify_receipt(receipt, Keyring([ISSUER.public_key, impostor]))
    error = info.value
    assert error.code == "E_NOTE_UNTRUSTED"
    assert f"signed by key runid.test/log+{LOG_KEY.public_key.note_hash.hex()}" in error.message
    assert f"runid.test/log+{impostor.note_hash.hex()} ({impostor.key_id})" in error.message
    assert ISSUER.public_key.key_id in error.message
    assert error.hint is not None and "--key" in error.hint
    assert "altered" not in f"{error.message} {error.hint}"


def test_a_trusted_checkpoint_signature_that_fails_is_called_tampering() -> None:
    receipt = json.loads(split_log_receipt(ISSUER, LOG_KEY))
    proof = receipt["proof"]
    line = proof.rstrip("\n").rsplit("\n", 1)[1]
    name, sig = line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(sig))
    raw[10] ^= 1  # a byte of the signature, not of the key hash
    receipt["proof"] = proof.replace(line, f"{name} {base64.b64encode(bytes(raw)).decode()}")
    with pytest.raises(VerificationError) as info:
        verify_receipt(
            canonical.canonicalize(receipt), Keyring([ISSUER.public_key, LOG_KEY.public_key])
        )
    assert info.value.code == "E_NOTE_BAD_SIGNATURE"
    assert info.value.hint is not None and "altered" in info.value.hint
