"""Signed execution records: DSSE v1 envelopes around in-toto Statement v1, failing closed."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

import nacl.signing
import orjson
import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runid.canonical import canonicalize
from runid.digest import content_ref
from runid.envelope import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    envelope_bytes,
    leaf_hash,
    pae,
    sign_record,
    statement,
    verify_envelope,
)
from runid.errors import InputError, RunidError, VerificationError
from runid.keys import Keyring, PublicKey, SigningKey
from runid.record import new_record

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEY = SigningKey("runid.example/worker", bytes(range(32)))
OTHER = SigningKey("runid.example/other", bytes(range(1, 33)))
RING = Keyring([KEY.public_key])
BOTH = Keyring([KEY.public_key, OTHER.public_key])
DECLARATION_ID = "sha256:" + "d3" * 32
OUTPUTS = [content_ref("Refunds take 5 business days."), content_ref(b"{}", "application/json")]


def make_record(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "issuer": KEY,
        "started_at": "2025-03-01T12:00:00.000000Z",
        "ended_at": "2025-03-01T12:00:01.250000Z",
        "outputs": OUTPUTS,
        "observed": {"served_model": "gpt-4o-2024-08-06", "finish_reason": "stop"},
        "nonce": "0123456789abcdef0123456789abcdef",
    }
    args.update(overrides)
    return new_record(DECLARATION_ID, **args)


RECORD = make_record()
ENVELOPE = sign_record(RECORD, KEY)
# Ed25519 signatures are deterministic: this exact envelope is a test vector for other
# implementations (same key seed 00..1f, same record).
GOLDEN_LEAF = "d4db5e4678fe555b313781f8cb46a84a04edf7a0b358925e528b83ca4cbcaad3"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def payload_of(envelope: dict[str, Any]) -> bytes:
    return base64.b64decode(envelope["payload"])


def signed(
    payload: bytes, key: SigningKey = KEY, payload_type: str = PAYLOAD_TYPE
) -> dict[str, Any]:
    """An envelope with a *valid* signature over arbitrary payload bytes."""
    signature = key.sign(pae(payload_type, payload))
    return {
        "payload": b64(payload),
        "payloadType": payload_type,
        "signatures": [{"keyid": key.public_key.key_id, "sig": b64(signature)}],
    }


def signed_statement(stmt: Any, key: SigningKey = KEY) -> dict[str, Any]:
    return signed(rfc8785.dumps(stmt), key)


def code_of(envelope: object, keyring: Any = RING) -> str:
    with pytest.raises(VerificationError) as info:
        verify_envelope(envelope, keyring)
    return info.value.code


# --- DSSE PAE ---------------------------------------------------------------------------------


def test_pae_matches_the_dsse_spec_example() -> None:
    # DSSE protocol.md, "Test Vectors".
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters_and_handles_empty_parts() -> None:
    assert pae("application/vnd.ex\u00e4mple+json", b"") == (
        b"DSSEv1 29 application/vnd.ex\xc3\xa4mple+json 0 "
    )
    assert pae(b"", b"x") == b"DSSEv1 0  1 x"
    body = b"\x00 \xff" * 400
    assert pae(PAYLOAD_TYPE, body) == b"DSSEv1 28 " + PAYLOAD_TYPE.encode() + b" 1200 " + body


def test_ed25519_over_pae_with_the_rfc8032_test_key() -> None:
    # RFC 8032 section 7.1, TEST 1 key; the payload is a minimal in-toto statement.
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    key = SigningKey("rfc8032-test1", seed)
    assert key.public_key.raw.hex() == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )
    body = b'{"_type":"https://in-toto.io/Statement/v1"}'
    message = pae(PAYLOAD_TYPE, body)
    assert message.hex() == (
        "445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203433"
        "207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e742f76"
        "31227d"
    )
    assert b64(key.sign(message)) == (
        "2WAfaHm5jluo0w+0rk8uVkluELJYWjSmU9x7EUzx+AyteDGJ4/nqyJXfmAUVFIAoQafWm7AxBZNw5M9ixNHiCA=="
    )


# --- round trip and form ------------------------------------------------------------------------


def test_round_trip_returns_the_record() -> None:
    assert verify_envelope(ENVELOPE, RING) == RECORD
    assert verify_envelope(envelope_bytes(ENVELOPE), RING) == RECORD
    assert verify_envelope(envelope_bytes(ENVELOPE).decode(), BOTH) == RECORD
    assert verify_envelope(ENVELOPE, {KEY.public_key.key_id: KEY.public_key}) == RECORD


def test_the_envelope_and_statement_have_the_documented_form() -> None:
    assert ENVELOPE.keys() == {"payload", "payloadType", "signatures"}
    assert ENVELOPE["payloadType"] == "application/vnd.in-toto+json"
    assert ENVELOPE["signatures"] == [
        {"keyid": KEY.public_key.key_id, "sig": ENVELOPE["signatures"][0]["sig"]}
    ]
    payload = payload_of(ENVELOPE)
    stmt = json.loads(payload)
    assert payload == rfc8785.dumps(stmt)
    assert stmt == statement(RECORD)
    assert stmt["_type"] == STATEMENT_TYPE == "https://in-toto.io/Statement/v1"
    assert stmt["predicateType"] == PREDICATE_TYPE == "https://runid.dev/ExecutionRecord/v1"
    assert stmt["predicate"] == RECORD
    assert stmt["subject"] == [
        {"name": "execution_id", "digest": {"sha256": RECORD["execution_id"][7:]}},
        {"name": "outputs/0", "digest": {"sha256": OUTPUTS[0]["digest"][7:]}},
        {"name": "outputs/1", "digest": {"sha256": OUTPUTS[1]["digest"][7:]}},
    ]
    # The subject digest of an output is what sha256sum prints for its bytes.
    assert stmt["subject"][1]["digest"]["sha256"] == (
        hashlib.sha256(b"Refunds take 5 business days.").hexdigest()
    )


def test_the_signature_is_plain_ed25519_over_the_pae() -> None:
    # An independent check with PyNaCl alone, as any DSSE verifier would do it.
    verify_key = nacl.signing.VerifyKey(KEY.public_key.raw)
    signature = base64.b64decode(ENVELOPE["signatures"][0]["sig"])
    message = b"DSSEv1 28 application/vnd.in-toto+json %d " % len(payload_of(ENVELOPE))
    verify_key.verify(message + payload_of(ENVELOPE), signature)


def test_envelope_bytes_is_jcs_and_the_leaf_hash_is_rfc9162() -> None:
    data = envelope_bytes(ENVELOPE)
    assert data == rfc8785.dumps(ENVELOPE)
    assert leaf_hash(ENVELOPE) == hashlib.sha256(b"\x00" + data).digest()
    assert leaf_hash(ENVELOPE).hex() == GOLDEN_LEAF
    assert sign_record(RECORD, KEY) == ENVELOPE  # deterministic
    with pytest.raises(InputError) as info:
        envelope_bytes({"payload": "", "payloadType": PAYLOAD_TYPE})  # type: ignore[arg-type]
    assert info.value.code == "E_ENVELOPE"


def test_records_without_outputs_still_have_a_subject() -> None:
    record = make_record(outputs=[], error={"type": "timeout"})
    stmt = statement(record)
    assert [s["name"] for s in stmt["subject"]] == ["execution_id"]
    assert verify_envelope(sign_record(record, KEY), RING) == record


def test_sign_record_refuses_invalid_records_and_other_keys() -> None:
    with pytest.raises(InputError) as info:
        sign_record({**RECORD, "nonce": "x"}, KEY)
    assert info.value.code == "E_INVALID_RECORD"
    with pytest.raises(InputError) as info:
        sign_record({**RECORD, "declaration_id": "sha256:" + "0" * 64}, KEY)
    assert info.value.code == "E_INVALID_RECORD"
    assert "E_EXECUTION_ID" in info.value.message
    with pytest.raises(InputError) as info:
        sign_record(RECORD, OTHER)
    assert info.value.code == "E_ISSUER"


# --- tampering: every single change fails closed ----------------------------------------------


def test_every_byte_of_the_payload_is_covered() -> None:
    payload = payload_of(ENVELOPE)
    for index in range(len(payload)):
        tampered = bytearray(payload)
        tampered[index] ^= 0x01
        envelope = {**ENVELOPE, "payload": b64(bytes(tampered))}
        assert code_of(envelope) == "E_SIGNATURE", index


def test_every_byte_of_the_signature_is_covered() -> None:
    signature = base64.b64decode(ENVELOPE["signatures"][0]["sig"])
    for index in range(len(signature)):
        tampered = bytearray(signature)
        tampered[index] ^= 0x80
        entry = {**ENVELOPE["signatures"][0], "sig": b64(bytes(tampered))}
        assert code_of({**ENVELOPE, "signatures": [entry]}) == "E_SIGNATURE", index
    short = {**ENVELOPE["signatures"][0], "sig": b64(signature[:-1])}
    assert code_of({**ENVELOPE, "signatures": [short]}) == "E_SIGNATURE"


def test_every_character_of_the_base64_payload_is_covered() -> None:
    text = ENVELOPE["payload"]
    for index in range(0, len(text), 7):
        char = "A" if text[index] != "A" else "B"
        envelope = {**ENVELOPE, "payload": text[:index] + char + text[index + 1 :]}
        assert code_of(envelope) in ("E_SIGNATURE", "E_BASE64"), index


def with_entry(**changes: Any) -> dict[str, Any]:
    return {**ENVELOPE, "signatures": [{**ENVELOPE["signatures"][0], **changes}]}


def test_key_ids_and_keys() -> None:
    # Unknown key id, and the issuer's key missing from the keyring.
    assert code_of(with_entry(keyid="sha256:" + "0" * 64)) == "E_UNKNOWN_KEY"
    assert code_of(ENVELOPE, Keyring([OTHER.public_key])) == "E_UNKNOWN_KEY"
    assert code_of(ENVELOPE, Keyring()) == "E_UNKNOWN_KEY"
    # The keyid swapped to another trusted key: the signature is not that key's.
    assert code_of(with_entry(keyid=OTHER.public_key.key_id), BOTH) == "E_SIGNATURE"
    # A keyring that maps a key id to a different key is not believed.
    lying = {KEY.public_key.key_id: OTHER.public_key}
    assert code_of(ENVELOPE, lying) == "E_UNKNOWN_KEY"


def failure(envelope: object, keyring: Any) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        verify_envelope(envelope, keyring)
    return info.value


def test_an_untrusted_key_is_named_with_the_trusted_ones_and_not_called_tampering() -> None:
    # The verifier was given another key: say which key signed and which are trusted.
    error = failure(ENVELOPE, Keyring([OTHER.public_key]))
    assert error.code == "E_UNKNOWN_KEY"
    assert f"signed by key id {KEY.public_key.key_id}" in error.message
    assert f"trusted: {OTHER.public_key.key_id} ({OTHER.public_key.name})" in error.message
    assert error.hint is not None and "--key" in error.hint
    assert "altered" not in f"{error.message} {error.hint}"
    # Several trusted keys are all named; none at all says so.
    error = failure(ENVELOPE, Keyring([OTHER.public_key, SigningKey("c", bytes(32)).public_key]))
    assert error.message.count("sha256:") == 3
    assert failure(ENVELOPE, Keyring()).message.endswith("trusted: none")


def test_a_trusted_keys_failing_signature_is_called_tampering() -> None:
    signature = bytearray(base64.b64decode(ENVELOPE["signatures"][0]["sig"]))
    signature[0] ^= 1
    error = failure(with_entry(sig=b64(bytes(signature))), RING)
    assert error.code == "E_SIGNATURE"
    assert KEY.public_key.key_id in error.message
    assert error.hint is not None and "altered" in error.hint


def test_a_record_re_signed_by_another_trusted_key_is_rejected() -> None:
    forged = signed(payload_of(ENVELOPE), OTHER)
    assert code_of(forged, BOTH) == "E_ISSUER"
    # Also when the forger names itself in the issuer, but only by key id or only by name.
    for issuer in (
        {"name": KEY.public_key.name, "key_id": OTHER.public_key.key_id},
        {"name": OTHER.public_key.name, "key_id": KEY.public_key.key_id},
    ):
        record = {**RECORD, "issuer": issuer}
        record["execution_id"] = execution_id_of(record)
        assert code_of(signed_statement(statement_of(record)), BOTH) == "E_ISSUER"


def execution_id_of(record: dict[str, Any]) -> str:
    from runid.record import execution_id

    return execution_id(record)


def statement_of(record: dict[str, Any]) -> dict[str, Any]:
    """A statement for ``record`` built by hand (statement() refuses invalid records)."""
    subject = [{"name": "execution_id", "digest": {"sha256": record["execution_id"][7:]}}]
    subject += [
        {"name": f"outputs/{i}", "digest": {"sha256": ref["digest"][7:]}}
        for i, ref in enumerate(record["outcome"]["outputs"])
    ]
    return {
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": PREDICATE_TYPE,
        "predicate": record,
    }


def resealed(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "execution_id": execution_id_of(record)}


STATEMENT = statement_of(RECORD)

# Authentic (validly signed by the issuer) but wrong in content: each fails its own check.
CONTENT_TAMPERS: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    (
        "record field changed, id kept",
        lambda s: s["predicate"].update(nonce="f" * 32),
        "E_EXECUTION_ID",
    ),
    (
        "declaration id changed, id kept",
        lambda s: s["predicate"].update(declaration_id="sha256:" + "0" * 64),
        "E_EXECUTION_ID",
    ),
    (
        "execution id changed, subject kept",
        lambda s: s["predicate"].update(resealed({**s["predicate"], "nonce": "f" * 32})),
        "E_SUBJECT",
    ),
    (
        "output changed and resealed",
        lambda s: (
            s["predicate"]["outcome"]["outputs"].pop(),
            s["predicate"].update(resealed(s["predicate"])),
        ),
        "E_SUBJECT",
    ),
    (
        "subject digest changed",
        lambda s: s["subject"][1]["digest"].update(sha256="0" * 64),
        "E_SUBJECT",
    ),
    ("subject renamed", lambda s: s["subject"][1].update(name="answer"), "E_SUBJECT"),
    ("subject reordered", lambda s: s["subject"].reverse(), "E_SUBJECT"),
    (
        "subject with a second algorithm",
        lambda s: s["subject"][1]["digest"].update(sha512="00"),
        "E_SUBJECT",
    ),
    ("subject missing", lambda s: s["subject"].clear(), "E_SUBJECT"),
    ("record invalid", lambda s: s["predicate"].update(nonce="not hex"), "E_INVALID_RECORD"),
    ("record with an unknown field", lambda s: s["predicate"].update(extra=1), "E_INVALID_RECORD"),
    ("record not an object", lambda s: s.update(predicate=[]), "E_INVALID_RECORD"),
    ("wrong _type", lambda s: s.update(_type="https://in-toto.io/Statement/v0.1"), "E_STATEMENT"),
    (
        "wrong predicateType",
        lambda s: s.update(predicateType="https://slsa.dev/provenance/v1"),
        "E_STATEMENT",
    ),
    ("extra statement member", lambda s: s.update(note="hi"), "E_STATEMENT"),
    ("missing predicate", lambda s: s.pop("predicate"), "E_STATEMENT"),
]


@pytest.mark.parametrize(
    ("what", "tamper", "code"), CONTENT_TAMPERS, ids=[t[0] for t in CONTENT_TAMPERS]
)
def test_authentic_but_wrong_statements_fail_their_own_check(
    what: str, tamper: Callable[[dict[str, Any]], Any], code: str
) -> None:
    stmt = copy.deepcopy(STATEMENT)
    tamper(stmt)
    assert code_of(signed_statement(stmt)) == code
    # And without re-signing, the original signature no longer covers it.
    unsigned = {**ENVELOPE, "payload": b64(rfc8785.dumps(stmt))}
    assert code_of(unsigned) == "E_SIGNATURE"


def test_the_payload_must_be_canonical_json() -> None:
    assert code_of(signed(json.dumps(STATEMENT).encode())) == "E_STATEMENT"
    assert code_of(signed(rfc8785.dumps(STATEMENT) + b"\n")) == "E_STATEMENT"
    assert code_of(signed(b"not json")) == "E_STATEMENT"
    assert code_of(signed(b"")) == "E_STATEMENT"
    duplicate = rfc8785.dumps(STATEMENT).replace(b'{"_type":', b'{"_type":"x","_type":', 1)
    assert code_of(signed(duplicate)) == "E_STATEMENT"
    assert code_of(signed(b"[1,2]")) == "E_STATEMENT"


def test_payload_type_is_checked_and_signed() -> None:
    assert code_of({**ENVELOPE, "payloadType": "application/json"}) == "E_PAYLOAD_TYPE"
    resigned = signed(payload_of(ENVELOPE), payload_type="application/vnd.in-toto.provenance+json")
    assert code_of(resigned) == "E_PAYLOAD_TYPE"


@pytest.mark.parametrize(
    "envelope",
    [
        None,
        [],
        "",
        b"\xff\xfe",
        b"{}",
        "{",
        {},
        {**ENVELOPE, "extra": 1},
        {k: v for k, v in ENVELOPE.items() if k != "signatures"},
        {**ENVELOPE, "payload": 3},
        {**ENVELOPE, "payloadType": None},
        {**ENVELOPE, "signatures": []},
        {**ENVELOPE, "signatures": {}},
        {**ENVELOPE, "signatures": ENVELOPE["signatures"] * 2},
        {**ENVELOPE, "signatures": [{"sig": ENVELOPE["signatures"][0]["sig"]}]},
        {**ENVELOPE, "signatures": [[]]},
        with_entry(extra=True),
        with_entry(keyid=["a"]),
        with_entry(sig=None),
    ],
)
def test_malformed_envelopes(envelope: object) -> None:
    assert code_of(envelope) == "E_ENVELOPE"


def test_base64_alphabets_padding_and_canonical_form() -> None:
    # DSSE: verifiers accept the standard and the URL-safe alphabet.
    sig = ENVELOPE["signatures"][0]["sig"]
    assert "+" in sig or "/" in sig
    urlsafe = with_entry(sig=sig.replace("+", "-").replace("/", "_"))
    assert verify_envelope(urlsafe, RING) == RECORD
    binary = signed(b"\xfb\xff\xbf" * 8)  # authentic, not a statement; base64 with + and /
    text = binary["payload"]
    assert "+" in text and "/" in text
    assert code_of(binary) == "E_STATEMENT"
    assert code_of({**binary, "payload": text.replace("+", "-").replace("/", "_")}) == "E_STATEMENT"
    for bad in (
        text.replace("+", "-"),  # mixed alphabets
        ENVELOPE["payload"].rstrip("="),  # padding left out
        ENVELOPE["payload"] + "=",
        ENVELOPE["payload"][:10] + " " + ENVELOPE["payload"][10:],
        ENVELOPE["payload"] + "\n",
        ENVELOPE["payload"][:-1] + "\u00e9",
        "*",
    ):
        assert code_of({**ENVELOPE, "payload": bad}) == "E_BASE64", bad[-5:]
    # Non-zero padding bits: the same bytes, a second spelling; only the canonical one counts.
    assert sig.endswith("==")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    respelled = sig[:-3] + alphabet[alphabet.index(sig[-3]) ^ 1] + "=="
    assert base64.b64decode(respelled) == base64.b64decode(sig)
    assert code_of(with_entry(sig=respelled)) == "E_BASE64"


def test_verification_errors_name_the_check() -> None:
    with pytest.raises(VerificationError) as info:
        verify_envelope(with_entry(keyid=OTHER.public_key.key_id), BOTH)
    assert info.value.message.startswith("signature: ")
    assert info.value.exit_code == 7
    with pytest.raises(VerificationError) as info:
        verify_envelope(signed_statement({**STATEMENT, "subject": []}), RING)
    assert info.value.message.startswith("subject: ")


# --- properties: nothing but VerificationError escapes ------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=16),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=16,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copied = copy.copy(value)
    copied[path[0]] = _replace(value[path[0]], path[1:], new)
    return copied


def _outcome(envelope: object, keyring: Any = RING) -> dict[str, Any] | str:
    try:
        return verify_envelope(envelope, keyring)
    except VerificationError as exc:
        assert exc.code.startswith("E_")
        return exc.code


@SETTINGS
@given(st.binary(max_size=300) | st.text(max_size=300))
def test_random_text_only_fails_verification(data: bytes | str) -> None:
    assert isinstance(_outcome(data), str)


@SETTINGS
@given(JSON)
def test_random_json_only_fails_verification(value: Any) -> None:
    assert isinstance(_outcome(value), str)
    assert isinstance(
        _outcome(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS) if _jsonable(value) else b"x"),
        str,
    )


def _jsonable(value: Any) -> bool:
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        return False
    return True


ENVELOPE_PATHS = _paths(ENVELOPE)
STATEMENT_PATHS = _paths(STATEMENT)


@SETTINGS
@given(st.sampled_from(ENVELOPE_PATHS), JSON)
def test_mutated_envelopes_fail_or_give_the_same_record(path: tuple[Any, ...], new: Any) -> None:
    result = _outcome(_replace(ENVELOPE, path, new))
    assert isinstance(result, str) or result == RECORD


@SETTINGS
@given(st.sampled_from(STATEMENT_PATHS), JSON)
def test_authentic_mutated_statements_fail_or_give_their_record(
    path: tuple[Any, ...], new: Any
) -> None:
    mutated = _replace(STATEMENT, path, new)
    try:
        payload = canonicalize(mutated)
    except RunidError:
        payload = (
            orjson.dumps(mutated, option=orjson.OPT_NON_STR_KEYS) if _jsonable(mutated) else b"?"
        )
    result = _outcome(signed(payload))
    assert isinstance(result, str) or result == json.loads(payload)["predicate"]


@SETTINGS
@given(JSON)
def test_authentic_random_payloads_only_fail_verification(value: Any) -> None:
    payload = orjson.dumps(value) if _jsonable(value) else b"\x00"
    assert isinstance(_outcome(signed(payload)), str)


@SETTINGS
@given(st.sampled_from(["payload", "sig"]), st.integers(0, 10_000), st.integers(1, 255))
def test_any_flipped_bit_fails(where: str, position: int, mask: int) -> None:
    if where == "payload":
        data = bytearray(payload_of(ENVELOPE))
        data[position % len(data)] ^= mask
        envelope = {**ENVELOPE, "payload": b64(bytes(data))}
    else:
        data = bytearray(base64.b64decode(ENVELOPE["signatures"][0]["sig"]))
        data[position % len(data)] ^= mask
        envelope = with_entry(sig=b64(bytes(data)))
    assert _outcome(envelope) == "E_SIGNATURE"


def test_public_key_type_is_what_the_keyring_holds() -> None:
    assert isinstance(RING[KEY.public_key.key_id], PublicKey)


def test_the_spec_test_vector() -> None:
    """docs/spec.md, "Execution records", "Test vector": these exact values."""
    record = new_record(
        "sha256:" + "d3" * 32,
        issuer=KEY,
        started_at="2025-03-01T12:00:00.000000Z",
        ended_at="2025-03-01T12:00:01.250000Z",
        outputs=[content_ref("Refunds take 5 business days.")],
        observed={
            "served_model": "gpt-4o-2024-08-06",
            "finish_reason": "stop",
            "usage": {"input_tokens": 812, "output_tokens": 9},
        },
        nonce="0123456789abcdef0123456789abcdef",
    )
    assert KEY.public_key.raw.hex() == (
        "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
    )
    assert KEY.public_key.key_id == (
        "sha256:7e3ae932732df75eeffad3f9ca37d12f013840390122ca557808a5dcc9019851"
    )
    assert record["execution_id"] == (
        "sha256:9cd443dcebd8e40bf4dbb2ebb73683d3dfb126b42000333f7b50ae78cdd0d8c1"
    )
    envelope = sign_record(record, KEY)
    assert envelope["signatures"][0]["sig"] == (
        "LSURDjui/TBvWxvZ/nnVvs+90SO4wsn1+snYgrguNhmz/W8KOGnv4hczNfxE0VC9EoF87Oh0Ue78QXVskAVdBQ=="
    )
    assert len(payload_of(envelope)) == 1226
    assert len(envelope_bytes(envelope)) == 1891
    assert leaf_hash(envelope).hex() == (
        "e416b661bba6c7c7a934bead8fe3d20f5cbfae2a46c9e4612feaf5153560ee9f"
    )
