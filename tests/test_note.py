"""runid.note: C2SP signed notes, against upstream vectors, every malformed variant, and fuzzing.

Vectors, copied verbatim with their sources:

* golang.org/x/mod/sumdb/note, ``note_test.go`` (BSD-3-Clause, Copyright 2019 The Go Authors):
  the PeterNeumann and EnochRoot keys, their signatures of the same text, and the malformed
  messages of ``TestOpen``. Ed25519 is deterministic, so signing with the PeterNeumann private
  key must reproduce Go's note byte for byte.
* c2sp.org/signed-note (github.com/C2SP/C2SP, ``signed-note.md``): the example note. The spec
  publishes no public key for it, so it can only be parsed, not verified.
* sum.golang.org: a signed tree head of the Go checksum database (size 65209736), verified with
  the database's public key as pinned in the Go toolchain (golang/go,
  ``src/cmd/go/internal/modfetch/key.go``). A real note from a production log.
"""

from __future__ import annotations

import base64
import contextlib
import doctest

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runid.note
from runid.errors import InputError, LimitExceededError, RunidError, VerificationError
from runid.keys import Keyring, PublicKey, SigningKey
from runid.note import (
    MAX_NOTE_SIZE,
    MAX_SIGNATURES,
    Note,
    NoteSignature,
    open_note,
    sign_note,
    split_note,
)

# --- vectors -----------------------------------------------------------------------------------

GO_PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"  # noqa: E501
GO_PETER_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"  # noqa: E501
GO_ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"  # noqa: E501
GO_NOTE = GO_TEXT + "\n" + GO_PETER_SIG

C2SP_EXAMPLE = (
    "Ognuno sta solo sul cuor della terra\n"
    "trafitto da un raggio di sole:\n"
    "\n"
    "ed è subito sera.\n"
    "\n"
    "— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"  # noqa: E501
)

SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTE = (
    "go.sum database tree\n"
    "65209736\n"
    "5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=\n"
    "\n"
    "— sum.golang.org Az3grnbssgK7ubgFX36gVETtNv0U23qxyAhAMai2QUfeGa3nB/akvkMdlUErfcZz7l/R3cVtYspg3dxXABkGZZKdsQ8=\n"  # noqa: E501
)

PETER = PublicKey.parse(GO_PETER_VKEY)
ENOCH = PublicKey.parse(GO_ENOCH_VKEY)

NOTE_CODES = {
    "E_NOTE_MALFORMED",
    "E_NOTE_TOO_LARGE",
    "E_NOTE_AMBIGUOUS_KEY",
    "E_NOTE_BAD_SIGNATURE",
    "E_NOTE_UNTRUSTED",
}

ALICE = SigningKey("alice.example/log", bytes(range(32)))
BOB = SigningKey("bob.example/log", bytes(range(1, 33)))


def _go_signing_key() -> SigningKey:
    raw = base64.b64decode(GO_PETER_SKEY.split("+", 4)[4])
    return SigningKey("PeterNeumann", raw[1:])


def _open_fails(data: bytes, keyring: Keyring, code: str) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        open_note(data, keyring)
    assert info.value.code == code, info.value.message
    return info.value


# --- upstream vectors --------------------------------------------------------------------------


def test_go_note_verifies_with_the_go_key() -> None:
    note = open_note(GO_NOTE.encode(), Keyring([PETER]))
    assert note.text == GO_TEXT
    assert note.keys == (PETER,)
    assert note.unverified == ()


def test_signing_with_the_go_private_key_reproduces_the_go_note_byte_for_byte() -> None:
    key = _go_signing_key()
    assert key.public_key == PETER
    assert sign_note(GO_TEXT, [key]) == GO_NOTE.encode()


def test_go_note_with_two_signatures_and_one_trusted_key() -> None:
    data = (GO_TEXT + "\n" + GO_PETER_SIG + GO_ENOCH_SIG).encode()
    note = open_note(data, Keyring([PETER]))
    assert note.keys == (PETER,)
    assert [(s.name, s.key_hash.hex()) for s in note.unverified] == [("EnochRoot", "af0cfe78")]
    both = open_note(data, Keyring([PETER, ENOCH]))
    assert both.keys == (PETER, ENOCH)
    assert both.unverified == ()
    _open_fails(data, Keyring(), "E_NOTE_UNTRUSTED")


def test_go_note_with_101_signatures_is_too_large() -> None:
    data = (GO_TEXT + "\n" + GO_PETER_SIG * (MAX_SIGNATURES + 1)).encode()
    _open_fails(data, Keyring([PETER]), "E_NOTE_TOO_LARGE")
    _open_fails(data, Keyring(), "E_NOTE_TOO_LARGE")


def test_go_note_with_a_corrupted_trusted_signature_is_rejected() -> None:
    # From Go's TestOpen: 4 base64 characters inserted inside the signature.
    data = (GO_TEXT + "\n" + GO_PETER_SIG[:60] + "ABCD" + GO_PETER_SIG[60:]).encode()
    _open_fails(data, Keyring([PETER]), "E_NOTE_BAD_SIGNATURE")


def test_go_note_repeated_signatures_are_reported_once() -> None:
    enoch_abcd = GO_ENOCH_SIG[:60] + "ABCD" + GO_ENOCH_SIG[60:]
    data = GO_TEXT + "\n" + GO_PETER_SIG * 2 + GO_ENOCH_SIG * 2 + enoch_abcd
    note = open_note(data.encode(), Keyring([PETER]))
    assert note.keys == (PETER,)
    assert [s.line() + "\n" for s in note.unverified] == [GO_ENOCH_SIG, enoch_abcd]


@pytest.mark.parametrize(
    "message",
    [
        GO_TEXT.encode(),
        (GO_TEXT + "\n").encode(),
        (GO_TEXT + "\n" + GO_PETER_SIG[:-1]).encode(),
        b"\x01" + (GO_TEXT + "\n" + GO_PETER_SIG).encode(),
        b"\xff" + (GO_TEXT + "\n" + GO_PETER_SIG).encode(),
        (GO_TEXT + "\n" + "— Bad Name " + GO_PETER_SIG.split(" ")[2][:-1]).encode(),
        (GO_TEXT + "\n" + "— Bad Name " + GO_PETER_SIG.split(" ")[2]).encode(),
        (GO_TEXT + "\n" + GO_PETER_SIG + "Unexpected line.\n").encode(),
    ],
    ids=[
        "no-signatures",
        "blank-line-only",
        "no-final-newline",
        "control-char",
        "not-utf8",
        "name-with-space-no-newline",
        "name-with-space",
        "trailing-line",
    ],
)
def test_go_malformed_messages_are_malformed(message: bytes) -> None:
    _open_fails(message, Keyring([PETER]), "E_NOTE_MALFORMED")


def test_c2sp_example_splits_at_the_last_blank_line() -> None:
    text, signatures = split_note(C2SP_EXAMPLE.encode())
    assert text == (
        "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\n"
        "ed è subito sera.\n"
    )
    assert [s.name for s in signatures] == ["quasimodo.example/salvatore"]
    assert len(signatures[0].signature) == 64
    # No key is published for it: its signature is from an unknown key, and nothing else signed.
    _open_fails(C2SP_EXAMPLE.encode(), Keyring([PETER]), "E_NOTE_UNTRUSTED")


def test_sum_golang_org_tree_head_verifies_with_the_go_toolchain_key() -> None:
    sumdb = PublicKey.parse(SUMDB_VKEY)
    note = open_note(SUMDB_NOTE.encode(), Keyring([sumdb]))
    assert note.keys == (sumdb,)
    assert note.text.splitlines()[:2] == ["go.sum database tree", "65209736"]
    tampered = SUMDB_NOTE.replace("65209736", "65209737").encode()
    _open_fails(tampered, Keyring([sumdb]), "E_NOTE_BAD_SIGNATURE")


# --- round trips -------------------------------------------------------------------------------


def test_sign_then_open_round_trips_with_several_keys() -> None:
    data = sign_note("a\n\nb\n", [ALICE, BOB])
    assert data.count("\u2014".encode()) == 2
    note = open_note(data, Keyring([ALICE.public_key, BOB.public_key]))
    assert note.text == "a\n\nb\n"
    assert note.keys == (ALICE.public_key, BOB.public_key)
    only_bob = open_note(data, Keyring([BOB.public_key]))
    assert only_bob.keys == (BOB.public_key,)
    assert [s.name for s in only_bob.unverified] == ["alice.example/log"]


@pytest.mark.parametrize("text", ["\n", "\n\n", "x\n\n\n", "— a b\n", "\u2014 x AAAA\n\n", "é\n"])
def test_texts_with_blank_lines_and_dash_lines_round_trip(text: str) -> None:
    assert open_note(sign_note(text, [ALICE]), Keyring([ALICE.public_key])).text == text


def test_the_signed_bytes_are_the_text_with_its_newline_without_the_blank_line() -> None:
    data = sign_note("hello\n", [ALICE])
    _text, signatures = split_note(data)
    ALICE.public_key.verify(b"hello\n", signatures[0].signature)
    assert signatures[0].key_hash == ALICE.public_key.note_hash


def test_del_and_other_non_ascii_controls_are_allowed_as_the_spec_says() -> None:
    # The spec forbids only the controls below U+0020 (other than newline).
    text = "del \x7f c1 \x85 nbsp \xa0\n"
    assert open_note(sign_note(text, [ALICE]), Keyring([ALICE.public_key])).text == text


printable = st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\t\x0b\x0c")
note_text = st.text(st.one_of(printable, st.just("\n")), max_size=80).map(
    lambda s: "".join(c for c in s if c == "\n" or ord(c) >= 0x20) + "\n"
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=note_text)
def test_any_valid_text_round_trips(text: str) -> None:
    note = open_note(sign_note(text, [ALICE]), Keyring([ALICE.public_key]))
    assert note.text == text
    assert note.keys == (ALICE.public_key,)


# --- trust rules -------------------------------------------------------------------------------


def test_unknown_keys_are_ignored_but_one_trusted_signature_is_required() -> None:
    data = sign_note("x\n", [ALICE])
    _open_fails(data, Keyring([BOB.public_key]), "E_NOTE_UNTRUSTED")
    _open_fails(data, Keyring(), "E_NOTE_UNTRUSTED")


def test_a_key_of_the_same_name_but_another_key_hash_is_unknown() -> None:
    impostor = SigningKey(ALICE.public_key.name, bytes(32))  # same name, other key
    data = sign_note("x\n", [impostor])
    _open_fails(data, Keyring([ALICE.public_key]), "E_NOTE_UNTRUSTED")


def test_a_signature_under_the_trusted_name_and_hash_by_another_key_is_bad() -> None:
    forged = NoteSignature(
        ALICE.public_key.name, ALICE.public_key.note_hash, BOB.sign(b"x\n")
    ).line()
    data = f"x\n\n{forged}\n".encode()
    _open_fails(data, Keyring([ALICE.public_key]), "E_NOTE_BAD_SIGNATURE")


def test_one_bad_trusted_signature_rejects_the_note_even_if_another_verifies() -> None:
    good = sign_note("x\n", [ALICE])
    bad = NoteSignature(BOB.public_key.name, BOB.public_key.note_hash, bytes(64)).line()
    data = good + (bad + "\n").encode()
    assert open_note(data, Keyring([ALICE.public_key])).keys == (ALICE.public_key,)
    _open_fails(data, Keyring([ALICE.public_key, BOB.public_key]), "E_NOTE_BAD_SIGNATURE")


def test_swapped_signatures_do_not_verify() -> None:
    lines = sign_note("x\n", [ALICE, BOB]).decode().split("\n")
    alice_line, bob_line = lines[2], lines[3]
    alice_b64, bob_b64 = alice_line.split(" ")[2], bob_line.split(" ")[2]
    keyring = Keyring([ALICE.public_key, BOB.public_key])
    # Whole blobs swapped: the key hashes no longer match the names, so both are unknown.
    swapped = f"x\n\n— alice.example/log {bob_b64}\n— bob.example/log {alice_b64}\n"
    _open_fails(swapped.encode(), keyring, "E_NOTE_UNTRUSTED")
    # Only the signatures swapped, key hashes kept: both are trusted and bad.
    a, b = base64.b64decode(alice_b64), base64.b64decode(bob_b64)
    mixed = NoteSignature("alice.example/log", a[:4], b[4:]).line()
    _open_fails(f"x\n\n{mixed}\n".encode(), keyring, "E_NOTE_BAD_SIGNATURE")


def test_a_trusted_signature_of_the_wrong_length_is_bad() -> None:
    pub = ALICE.public_key
    for size in (1, 63, 65, 100):
        line = NoteSignature(pub.name, pub.note_hash, bytes(size)).line()
        _open_fails(f"x\n\n{line}\n".encode(), Keyring([pub]), "E_NOTE_BAD_SIGNATURE")


class _CollidingKey(PublicKey):
    """A public key that claims another key's note hash (a real collision costs 2^32 work)."""

    __slots__ = ()

    @property
    def note_hash(self) -> bytes:
        return ALICE.public_key.note_hash


def test_two_trusted_keys_with_the_same_name_and_hash_are_ambiguous() -> None:
    twin = _CollidingKey(ALICE.public_key.name, BOB.public_key.raw)
    data = sign_note("x\n", [ALICE])
    _open_fails(data, Keyring([ALICE.public_key, twin]), "E_NOTE_AMBIGUOUS_KEY")


def test_sixteen_large_unknown_signatures_are_accepted() -> None:
    # The spec: accept at least 16 signatures, post-quantum ones nearly 5 kB each.
    pq = "".join(
        NoteSignature(f"w{i}.example", bytes(4), bytes(4900)).line() + "\n" for i in range(16)
    )
    data = sign_note("x\n", [ALICE]) + pq.encode()
    note = open_note(data, Keyring([ALICE.public_key]))
    assert len(note.unverified) == 16


# --- malformed variants ------------------------------------------------------------------------


def _alice_note() -> str:
    return sign_note("origin\n1\n", [ALICE]).decode()


def _mutations() -> dict[str, bytes]:
    good = _alice_note()
    text, sig_line = good.split("\n\n")
    b64 = sig_line.rstrip("\n").split(" ")[2]
    name = "alice.example/log"
    raw = base64.b64decode(b64)
    noncanonical = b64[:-2] + chr(ord(b64[-2]) + 1) + "="  # same bytes, other padding bits
    assert base64.b64decode(noncanonical) == raw
    return {
        "crlf": good.replace("\n", "\r\n").encode(),
        "cr-in-text": good.replace("origin", "ori\rgin").encode(),
        "tab-in-text": good.replace("origin", "ori\tgin").encode(),
        "nul": good.replace("origin", "ori\x00gin").encode(),
        "no-final-newline": good[:-1].encode(),
        "no-blank-line": (text + "\n" + sig_line).encode(),
        "hyphen-not-em-dash": good.replace("\u2014", "-").encode(),
        "en-dash": good.replace("\u2014", "\u2013").encode(),
        "no-space-after-dash": good.replace("\u2014 ", "\u2014").encode(),
        "two-spaces-after-dash": good.replace("\u2014 ", "\u2014  ").encode(),
        "two-spaces-before-sig": good.replace(f"{name} ", f"{name}  ").encode(),
        "trailing-space": good.replace(b64, b64 + " ").encode(),
        "tab-separator": good.replace(f"{name} ", f"{name}\t").encode(),
        "no-signature": good.replace(f" {b64}", "").encode(),
        "empty-signature": good.replace(f" {b64}", " ").encode(),
        "name-with-plus": good.replace(name, "alice+log").encode(),
        "name-with-nbsp": good.replace(name, "alice\u00a0log").encode(),
        "name-with-ideographic-space": good.replace(name, "alice\u3000log").encode(),
        "bad-base64-char": good.replace(b64, "!" + b64[1:]).encode(),
        "url-safe-base64": good.replace(b64, base64.urlsafe_b64encode(raw).decode()).encode()
        if "+" in b64 or "/" in b64
        else good.replace(b64, "-" + b64[1:]).encode(),
        "missing-padding": good.replace(b64, b64.rstrip("=")).encode(),
        "noncanonical-padding-bits": good.replace(b64, noncanonical).encode(),
        "short-signature": good.replace(b64, base64.b64encode(raw[:4]).decode()).encode(),
        "blank-line-after-signature": (good + "\n").encode(),
        "line-after-signature": (good + "not a signature\n").encode(),
        "utf16": good.encode("utf-16"),
        "latin1-overlong": good.encode().replace("\u2014".encode(), b"\xc0\xa0"),
        "surrogate-bytes": good.encode().replace(b"origin", b"\xed\xa0\x80"),
        "empty": b"",
        "only-newlines": b"\n\n\n",
    }


@pytest.mark.parametrize("name", sorted(_mutations()))
def test_malformed_variant_is_rejected_as_malformed(name: str) -> None:
    data = _mutations()[name]
    _open_fails(data, Keyring([ALICE.public_key]), "E_NOTE_MALFORMED")


def test_every_single_byte_change_is_rejected() -> None:
    good = _alice_note().encode()
    keyring = Keyring([ALICE.public_key])
    assert open_note(good, keyring).text == "origin\n1\n"
    for i in range(len(good)):
        for delta in (1, 0x80):
            mutated = bytearray(good)
            mutated[i] = (mutated[i] + delta) % 256
            with pytest.raises(VerificationError) as info:
                open_note(bytes(mutated), keyring)
            assert info.value.code in NOTE_CODES


def test_every_truncation_is_rejected() -> None:
    good = _alice_note().encode()
    keyring = Keyring([ALICE.public_key])
    for end in range(len(good)):
        with pytest.raises(VerificationError):
            open_note(good[:end], keyring)
        with pytest.raises(VerificationError):
            open_note(good[end + 1 :], keyring)


def test_a_note_larger_than_the_limit_is_too_large() -> None:
    big = "x" * MAX_NOTE_SIZE + "\n\n" + _alice_note().split("\n\n")[1]
    _open_fails(big.encode(), Keyring([ALICE.public_key]), "E_NOTE_TOO_LARGE")


@pytest.mark.parametrize("data", ["text\n\n— a AAAAAA==\n", bytearray(b"x"), None, 42])
def test_anything_but_bytes_is_malformed(data: object) -> None:
    _open_fails(data, Keyring(), "E_NOTE_MALFORMED")  # type: ignore[arg-type]


# --- sign_note arguments -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["", "no newline", "cr\r\n", "tab\t\n", "nul\x00\n", "lone \ud800\n", b"bytes\n"]
)
def test_sign_refuses_text_it_could_not_write_as_a_note(text: object) -> None:
    with pytest.raises(InputError) as info:
        sign_note(text, [ALICE])  # type: ignore[arg-type]
    assert info.value.code == "E_NOTE_TEXT"


@pytest.mark.parametrize(
    "keys",
    [[], ALICE, [ALICE, ALICE], [ALICE.public_key], [ALICE] * (MAX_SIGNATURES + 1), "key"],
    ids=["none", "not-a-list", "duplicate", "public-key", "too-many", "str"],
)
def test_sign_refuses_bad_key_lists(keys: object) -> None:
    with pytest.raises(InputError) as info:
        sign_note("x\n", keys)  # type: ignore[arg-type]
    assert info.value.code == "E_NOTE_KEYS"


def test_sign_refuses_a_note_over_the_size_limit() -> None:
    with pytest.raises(LimitExceededError) as info:
        sign_note("x" * MAX_NOTE_SIZE + "\n", [ALICE])
    assert info.value.code == "E_NOTE_TOO_LARGE"


# --- fuzzing -----------------------------------------------------------------------------------


def _only_verification_errors(data: bytes, keyring: Keyring) -> Note | None:
    try:
        return open_note(data, keyring)
    except VerificationError as exc:
        assert exc.code in NOTE_CODES
        return None


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_verification_errors(data: bytes) -> None:
    assert _only_verification_errors(data, Keyring([ALICE.public_key])) is None


note_like = st.lists(
    st.sampled_from(
        [
            *["x", "\n", "\n\n", "— ", "\u2014", " ", "alice.example/log", "+", "=", "AAAA"],
            *["\r", "é", _alice_note().split("\n\n")[1].split(" ")[2].strip()],
        ]
    ),
    max_size=30,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=note_like)
def test_note_shaped_text_raises_only_verification_errors(text: str) -> None:
    note = _only_verification_errors(text.encode(), Keyring([ALICE.public_key]))
    if note is not None:  # it can only verify if it holds Alice's signature of its text
        assert note.keys == (ALICE.public_key,)


@settings(max_examples=200, deadline=None)
@given(prefix=st.binary(max_size=20), cut=st.integers(min_value=0, max_value=200))
def test_damaged_real_notes_raise_only_verification_errors(prefix: bytes, cut: int) -> None:
    good = _alice_note().encode()
    for data in (prefix + good, good[:cut] + prefix + good[cut:], good[:cut] + good[cut + 1 :]):
        with contextlib.suppress(VerificationError):
            note = open_note(data, Keyring([ALICE.public_key]))
            assert note.text.encode() in data


# --- documentation -----------------------------------------------------------------------------


def test_errors_are_runid_errors_with_documented_codes() -> None:
    with pytest.raises(RunidError) as info:
        open_note(b"garbage", Keyring())
    assert isinstance(info.value, VerificationError)
    assert info.value.exit_code == 7


def test_docstring_examples_run() -> None:
    failed, attempted = doctest.testmod(runid.note)
    assert attempted >= 8
    assert failed == 0
