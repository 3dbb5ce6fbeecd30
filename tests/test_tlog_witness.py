"""The witness (C2SP tlog-witness, tlog-cosignature): the protocol's checks with each of the
spec's status codes, durable state, and the cosignatures verifiers count."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from runid.checkpoint import Checkpoint, sign_checkpoint, verify_checkpoint
from runid.errors import InputError, VerificationError
from runid.keys import Keyring, SigningKey
from runid.merkle import EMPTY_ROOT, leaf_hash, root
from runid.note import open_note
from runid.tlog.cosignature import (
    CosignerKey,
    CosigningKey,
    add_signatures,
    cosign,
    cosignature_message,
    parse_signature_lines,
    verify_cosignatures,
)
from runid.tlog.witness import (
    AddCheckpoint,
    WitnessRefusedError,
    format_add_checkpoint,
    parse_add_checkpoint,
)
from runid.transparency.witness import Witness, init_witness_key, load_witness_key
from transparency_helpers import ORIGIN, fork, grow, make_log

WITNESS = CosigningKey("witness.example/w1", bytes(range(32)))


def test_cosignature_v1_is_the_specs_message_and_a_valid_signed_note_line() -> None:
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    message = cosignature_message(text, 1679315147)
    assert message == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    line = cosign(text, WITNESS, 1679315147)
    assert line.key_hash == WITNESS.public.key_hash
    assert line.signature[:8] == (1679315147).to_bytes(8, "big")
    # The key hash is SHA-256(name || 0x0A || 0x04 || key)[:4], and the vkey says type 0x04.
    import base64
    import hashlib

    raw = WITNESS.public.raw
    assert line.key_hash == hashlib.sha256(b"witness.example/w1\n\x04" + raw).digest()[:4]
    assert base64.b64decode(WITNESS.public.vkey.split("+", 2)[2])[0] == 4
    assert CosignerKey.parse(WITNESS.public.vkey) == WITNESS.public
    assert CosigningKey.from_private_text(WITNESS.private_text()).public == WITNESS.public


def test_cosigned_checkpoints_verify_as_checkpoints_and_count_per_witness() -> None:
    log_key = SigningKey(ORIGIN, bytes(32))
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, leaf_hash(b"a")), log_key)
    text = note.decode().split("\n\n")[0] + "\n"
    other = CosigningKey("witness.example/w2", bytes(range(1, 33)))
    cosigned = add_signatures(note, [cosign(text, WITNESS, 5), cosign(text, other, 6)])
    keyring = Keyring([log_key.public_key])
    assert verify_checkpoint(cosigned, keyring, ORIGIN).size == 1  # a valid signed note
    assert len(open_note(cosigned, keyring).unverified) == 2  # witness lines: ignored there
    found = verify_cosignatures(cosigned, [WITNESS.public, other.public])
    assert [(c.key.name, c.timestamp) for c in found] == [
        ("witness.example/w1", 5),
        ("witness.example/w2", 6),
    ]
    assert verify_cosignatures(note, [WITNESS.public]) == []
    # A line of a trusted witness that does not verify rejects the note.
    forged = add_signatures(note, [cosign(text.replace("\n1\n", "\n2\n"), WITNESS, 5)])
    with pytest.raises(VerificationError) as bad:
        verify_cosignatures(forged, [WITNESS.public])
    assert bad.value.code == "E_COSIGNATURE_BAD"
    with pytest.raises(InputError) as wrong_type:
        CosignerKey.parse(log_key.public_key.vkey)
    assert "type 0x01" in wrong_type.value.message


def test_add_checkpoint_bodies_parse_strictly() -> None:
    note = b"o\n0\n" + b"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n"
    proof = [leaf_hash(b"x"), leaf_hash(b"y")]
    parsed = parse_add_checkpoint(format_add_checkpoint(7, proof, note))
    assert parsed == AddCheckpoint(7, tuple(proof), note)
    for body in (b"old 01\n\n" + note, b"old 1\n" + note, b"old 1\nAAAA\n\n" + note, b"x"):
        with pytest.raises(WitnessRefusedError) as caught:
            parse_add_checkpoint(body)
        assert caught.value.status == 400


@pytest.fixture
def witness(tmp_path: Path) -> Witness:
    log_key = make_log(tmp_path / "log").public
    return Witness(tmp_path / "witness", WITNESS, {ORIGIN: Keyring([log_key])}, clock=lambda: 1700)


def _refusal(witness: Witness, body: bytes) -> WitnessRefusedError:
    with pytest.raises(WitnessRefusedError) as caught:
        witness.add_checkpoint(body)
    return caught.value


def test_a_witness_cosigns_a_consistent_log_and_refuses_a_fork(tmp_path: Path) -> None:
    log = make_log(tmp_path / "home", 3)
    witness = Witness(tmp_path / "w", WITNESS, {ORIGIN: log.keyring}, clock=lambda: 1700)
    note3 = log.checkpoint()
    line = witness.add_checkpoint(format_add_checkpoint(0, [], note3))
    cosigned = add_signatures(note3, parse_signature_lines(line))
    assert [c.timestamp for c in verify_cosignatures(cosigned, [WITNESS.public])] == [1700]
    # The same checkpoint again from size 3; then a larger one with a consistency proof.
    witness.add_checkpoint(format_add_checkpoint(3, [], note3))
    grow(log, 4)
    note7 = log.checkpoint()
    stale = _refusal(witness, format_add_checkpoint(0, [], note7))
    assert (stale.status, stale.size, stale.body(), stale.content_type) == (
        409,
        3,
        b"3\n",
        "text/x.tlog.size",
    )
    witness.add_checkpoint(format_add_checkpoint(3, log.store.consistency_proof(3, 7), note7))
    state = witness.state(ORIGIN)
    assert state is not None and state[0].size == 7
    # A fork under the same key: the first 3 entries, then others. Refused, 422, kept.
    other = fork(log, tmp_path / "fork", 3)
    grow(other, 5, tag="fork")
    note8 = other.checkpoint()
    fork_refused = _refusal(
        witness, format_add_checkpoint(7, other.store.consistency_proof(7, 8), note8)
    )
    assert fork_refused.status == 422 and fork_refused.code == "E_WITNESS_INCONSISTENT"
    same_size = fork(log, tmp_path / "fork2", 3)
    grow(same_size, 4, tag="other")
    refused_same = _refusal(witness, format_add_checkpoint(7, [], same_size.checkpoint()))
    assert refused_same.status == 422 and "forked" in refused_same.message
    assert [reason[:9] for _when, reason in witness.refused(ORIGIN)] == ["the check", "the check"]
    # Rolled back: a checkpoint smaller than the old size sent.
    assert _refusal(witness, format_add_checkpoint(7, [], note3)).status == 400
    # Durable: a new Witness on the same home has the state.
    again = Witness(tmp_path / "w", WITNESS, {ORIGIN: log.keyring})
    assert again.state(ORIGIN) == state


def test_the_status_codes_of_tlog_witness(tmp_path: Path, witness: Witness) -> None:
    stranger = SigningKey("runid.example/other", bytes(32))
    unknown = sign_checkpoint(Checkpoint("runid.example/other", 0, EMPTY_ROOT), stranger)
    assert _refusal(witness, format_add_checkpoint(0, [], unknown)).status == 404
    impostor = SigningKey(ORIGIN, bytes(range(32)))  # the log's name, another key
    forged = sign_checkpoint(Checkpoint(ORIGIN, 0, EMPTY_ROOT), impostor)
    assert _refusal(witness, format_add_checkpoint(0, [], forged)).status == 403
    real = make_log(tmp_path / "other-home", 2)
    # The witness follows the key of tmp_path/log: this log's signature is not trusted either.
    assert _refusal(witness, format_add_checkpoint(0, [], real.checkpoint())).status == 403
    empty_root_wrong = b"runid.example/log\n0\n" + b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    body = format_add_checkpoint(0, [], empty_root_wrong + b"\n\xe2\x80\x94 x AAAAAAA=\n")
    assert _refusal(witness, body).status == 422
    assert _refusal(witness, b"not a request").status == 400


def test_concurrent_submissions_never_roll_the_state_back(tmp_path: Path) -> None:
    log = make_log(tmp_path / "home", 1)
    notes = [log.checkpoint()]
    for _ in range(6):
        grow(log, 1)
        notes.append(log.checkpoint())
    witness = Witness(tmp_path / "w", WITNESS, {ORIGIN: log.keyring})
    witness.add_checkpoint(format_add_checkpoint(0, [], notes[0]))
    errors: list[int] = []
    bodies = [
        format_add_checkpoint(1, log.store.consistency_proof(1, size), notes[size - 1])
        for size in range(2, 8)
    ]

    def submit(body: bytes) -> None:
        try:
            witness.add_checkpoint(body)
        except WitnessRefusedError as exc:
            errors.append(exc.status)

    threads = [threading.Thread(target=submit, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Exactly one request from size 1 wins; the others see its size (409), never an older one.
    assert sorted(errors) == [409] * 5
    state = witness.state(ORIGIN)
    assert state is not None and state[0].size >= 2


def test_witness_keys_live_in_the_home(tmp_path: Path) -> None:
    assert load_witness_key(tmp_path) is None
    key = init_witness_key(tmp_path, "witness.example/w9")
    assert (tmp_path / "witness.key").stat().st_mode & 0o777 == 0o600
    loaded = load_witness_key(tmp_path)
    assert loaded is not None and loaded.public == key.public
    with pytest.raises(InputError):
        init_witness_key(tmp_path)
    assert root([]) == EMPTY_ROOT
