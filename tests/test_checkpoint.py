"""runid.checkpoint: C2SP tlog-checkpoint bodies, signing, verification and strictness.

Vectors, copied verbatim with their sources:

* c2sp.org/tlog-checkpoint (github.com/C2SP/C2SP, ``tlog-checkpoint.md``): the example
  checkpoint. Its signature line carries the key hash of sum.golang.org under another name, and
  no key is published for it, so it is parsed, not verified.
* sum.golang.org: a signed tree head of the Go checksum database, verified with the key pinned in
  the Go toolchain (golang/go, ``src/cmd/go/internal/modfetch/key.go``). Its origin
  (``go.sum database tree``) is not its key name (``sum.golang.org``), which runid's own rule
  (the log key is named after the origin) refuses; the note and the body are valid.
"""

from __future__ import annotations

import base64
import contextlib
import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import runid.checkpoint
from runid.checkpoint import (
    MAX_TREE_SIZE,
    Checkpoint,
    parse_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
)
from runid.errors import InputError, VerificationError
from runid.keys import Keyring, PublicKey, SigningKey
from runid.merkle import EMPTY_ROOT, leaf_hash
from runid.note import open_note, sign_note, split_note

C2SP_EXAMPLE = (
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"  # noqa: E501
)
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTE = (
    "go.sum database tree\n"
    "65209736\n"
    "5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=\n"
    "\n"
    "— sum.golang.org Az3grnbssgK7ubgFX36gVETtNv0U23qxyAhAMai2QUfeGa3nB/akvkMdlUErfcZz7l/R3cVtYspg3dxXABkGZZKdsQ8=\n"  # noqa: E501
)

ORIGIN = "runid.example/log"
LOG = SigningKey(ORIGIN, bytes(range(32)))
OTHER = SigningKey("other.example/log", bytes(range(1, 33)))
TRUST = Keyring([LOG.public_key])
ROOT = leaf_hash(b"record")
B64_ROOT = base64.b64encode(ROOT).decode()
URLSAFE_ROOT = base64.urlsafe_b64encode(bytes([0xFB]) * 32).decode()

READ_CODES = {
    "E_CHECKPOINT_MALFORMED",
    "E_CHECKPOINT_ORIGIN",
    "E_CHECKPOINT_KEY",
    "E_NOTE_MALFORMED",
    "E_NOTE_TOO_LARGE",
    "E_NOTE_AMBIGUOUS_KEY",
    "E_NOTE_BAD_SIGNATURE",
    "E_NOTE_UNTRUSTED",
}


def _parse_fails(text: str) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        parse_checkpoint(text)
    assert info.value.code == "E_CHECKPOINT_MALFORMED", info.value.message
    return info.value


# --- vectors -----------------------------------------------------------------------------------


def test_c2sp_example_body_parses() -> None:
    text, signatures = split_note(C2SP_EXAMPLE.encode())
    cp = parse_checkpoint(text)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.extensions == ()
    assert cp.body() == text
    assert signatures[0].key_hash.hex() == "033de0ae"


def test_c2sp_example_is_not_trusted_without_its_key() -> None:
    with pytest.raises(VerificationError) as info:
        verify_checkpoint(C2SP_EXAMPLE.encode(), Keyring([PublicKey.parse(SUMDB_VKEY)]))
    assert info.value.code == "E_NOTE_UNTRUSTED"  # same key hash, other name: an unknown key


def test_sum_golang_org_checkpoint_verifies_as_a_note_and_parses() -> None:
    sumdb = Keyring([PublicKey.parse(SUMDB_VKEY)])
    cp = parse_checkpoint(open_note(SUMDB_NOTE.encode(), sumdb).text)
    assert (cp.origin, cp.size) == ("go.sum database tree", 65209736)
    assert cp.root.hex().startswith("e7eb86163c")
    with pytest.raises(VerificationError) as info:
        verify_checkpoint(SUMDB_NOTE.encode(), sumdb)
    assert info.value.code == "E_CHECKPOINT_KEY"  # runid's rule: the key is named like the origin


# --- round trips -------------------------------------------------------------------------------


def test_body_is_three_lines_and_extensions() -> None:
    cp = Checkpoint(ORIGIN, 7, ROOT, ("ext one", "ext/two"))
    assert cp.body() == f"{ORIGIN}\n7\n{B64_ROOT}\next one\next/two\n"
    assert parse_checkpoint(cp.body()) == cp


def test_sign_then_verify_round_trips() -> None:
    cp = Checkpoint(ORIGIN, 12345, ROOT)
    signed = sign_checkpoint(cp, LOG)
    assert signed.decode().startswith(f"{ORIGIN}\n12345\n{B64_ROOT}\n\n\u2014 {ORIGIN} ")
    assert verify_checkpoint(signed, TRUST) == cp
    assert verify_checkpoint(signed, TRUST, origin=ORIGIN) == cp


def test_extensions_list_is_stored_as_a_tuple() -> None:
    cp = Checkpoint(ORIGIN, 1, ROOT, ["a"])  # type: ignore[arg-type]
    assert cp.extensions == ("a",)


def test_largest_size_round_trips() -> None:
    cp = Checkpoint(ORIGIN, MAX_TREE_SIZE, ROOT)
    assert parse_checkpoint(cp.body()).size == 2**63 - 1


def test_witness_cosignatures_from_unknown_keys_are_ignored() -> None:
    signed = sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), LOG)
    cosigned = signed + sign_note(Checkpoint(ORIGIN, 1, ROOT).body(), [OTHER]).split(b"\n\n")[1]
    assert verify_checkpoint(cosigned, TRUST).size == 1


origins = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=30).filter(
    lambda s: "\n" not in s
)


@settings(max_examples=150, deadline=None)
@given(
    origin=origins,
    size=st.integers(min_value=1, max_value=MAX_TREE_SIZE),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(origins, max_size=3),
)
def test_any_valid_checkpoint_round_trips(
    origin: str, size: int, root: bytes, extensions: list[str]
) -> None:
    cp = Checkpoint(origin, size, root, tuple(extensions))
    assert parse_checkpoint(cp.body()) == cp
    key = SigningKey(ORIGIN, bytes(32))
    signed = sign_note(cp.body(), [key])
    if origin == ORIGIN:
        assert verify_checkpoint(signed, Keyring([key.public_key])) == cp


# --- strict parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"{ORIGIN}\n1\n{B64_ROOT}",  # no final newline
        f"{ORIGIN}\r\n1\r\n{B64_ROOT}\r\n",  # CRLF
        f"{ORIGIN}\n1\n",  # two lines
        f"{ORIGIN}\n",
        "\n",
        "",
        f"\n1\n{B64_ROOT}\n",  # empty origin
        f"{ORIGIN}\n\n{B64_ROOT}\n",  # empty size
        f"{ORIGIN}\n1\n\n",  # empty root
        f"{ORIGIN}\n1\n{B64_ROOT}\n\next\n",  # empty extension line
        f"{ORIGIN}\n1\n{B64_ROOT}\n\n",  # trailing blank line
        f"{ORIGIN}\n01\n{B64_ROOT}\n",  # leading zero
        f"{ORIGIN}\n00\n{B64_ROOT}\n",
        f"{ORIGIN}\n+1\n{B64_ROOT}\n",
        f"{ORIGIN}\n-1\n{B64_ROOT}\n",
        f"{ORIGIN}\n 1\n{B64_ROOT}\n",  # extra spaces
        f"{ORIGIN}\n1 \n{B64_ROOT}\n",
        f"{ORIGIN}\n1_000\n{B64_ROOT}\n",
        f"{ORIGIN}\n1e3\n{B64_ROOT}\n",
        f"{ORIGIN}\n0x10\n{B64_ROOT}\n",
        f"{ORIGIN}\n\u0661\n{B64_ROOT}\n",  # Arabic-Indic digit one
        f"{ORIGIN}\n\uff11\n{B64_ROOT}\n",  # fullwidth digit one
        f"{ORIGIN}\n{2**63}\n{B64_ROOT}\n",  # beyond int64
        f"{ORIGIN}\n{2**64}\n{B64_ROOT}\n",
        f"{ORIGIN}\n{'9' * 5000}\n{B64_ROOT}\n",  # no int() of a long string
        f"{ORIGIN}\n1\n {B64_ROOT}\n",
        f"{ORIGIN}\n1\n{B64_ROOT} \n",
        f"{ORIGIN}\n1\n{B64_ROOT.rstrip('=')}\n",  # missing padding
        f"{ORIGIN}\n1\n{URLSAFE_ROOT}\n",  # URL alphabet
        f"{ORIGIN}\n1\n{base64.b64encode(bytes(31)).decode()}\n",  # 31 bytes
        f"{ORIGIN}\n1\n{base64.b64encode(bytes(33)).decode()}\n",  # 33 bytes
        f"{ORIGIN}\n1\n{B64_ROOT[:-2]}B=\n",  # non-zero padding bits
        f"{ORIGIN}\n1\n{ROOT.hex()}\n",  # hex, not base64
        f"{ORIGIN}\n0\n{B64_ROOT}\n",  # empty tree with a non-empty root
        f"ori\tgin\n1\n{B64_ROOT}\n",  # control character
        f"{ORIGIN}\n1\n{B64_ROOT}\next\x00\n",
        f"lone \ud800\n1\n{B64_ROOT}\n",
    ],
)
def test_malformed_checkpoint_text_is_rejected(text: str) -> None:
    _parse_fails(text)


def test_non_text_is_rejected() -> None:
    for value in (b"x\n1\nroot\n", None, 1):
        _parse_fails(value)  # type: ignore[arg-type]


def test_huge_text_is_rejected_before_it_is_parsed() -> None:
    with pytest.raises(VerificationError) as info:
        parse_checkpoint("x" * (1 << 20) + "\n1\n" + B64_ROOT + "\n")
    assert info.value.code == "E_NOTE_TOO_LARGE"


def test_origin_may_hold_spaces_and_non_ascii() -> None:
    # The spec recommends but does not require a schema-less URL.
    assert parse_checkpoint(f"a log é\n1\n{B64_ROOT}\n").origin == "a log é"


# --- verification ------------------------------------------------------------------------------


def _verify_fails(data: bytes, keyring: Keyring, code: str, origin: str | None = None) -> None:
    with pytest.raises(VerificationError) as info:
        verify_checkpoint(data, keyring, origin)
    assert info.value.code == code, info.value.message


def test_another_logs_checkpoint_is_rejected_by_origin() -> None:
    signed = sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), LOG)
    _verify_fails(signed, TRUST, "E_CHECKPOINT_ORIGIN", origin="runid.example/other")
    _verify_fails(signed, TRUST, "E_CHECKPOINT_ORIGIN", origin=ORIGIN + " ")
    _verify_fails(signed, TRUST, "E_CHECKPOINT_ORIGIN", origin=b"x")  # type: ignore[arg-type]


def test_a_trusted_key_of_another_name_cannot_vouch_for_the_log() -> None:
    body = Checkpoint(ORIGIN, 1, ROOT).body()
    signed = sign_note(body, [OTHER])
    _verify_fails(signed, Keyring([LOG.public_key, OTHER.public_key]), "E_CHECKPOINT_KEY")


def test_untrusted_and_wrong_keys_are_rejected() -> None:
    signed = sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), LOG)
    _verify_fails(signed, Keyring(), "E_NOTE_UNTRUSTED")
    _verify_fails(signed, Keyring([OTHER.public_key]), "E_NOTE_UNTRUSTED")
    impostor = SigningKey(ORIGIN, bytes(32))
    _verify_fails(sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), impostor), TRUST, "E_NOTE_UNTRUSTED")


def test_a_changed_size_or_root_breaks_the_signature() -> None:
    signed = sign_checkpoint(Checkpoint(ORIGIN, 10, ROOT), LOG).decode()
    other_root = base64.b64encode(leaf_hash(b"other")).decode()
    for changed in (signed.replace("\n10\n", "\n11\n"), signed.replace(B64_ROOT, other_root)):
        _verify_fails(changed.encode(), TRUST, "E_NOTE_BAD_SIGNATURE")


def test_a_signed_note_that_is_no_checkpoint_is_malformed() -> None:
    for text in ("hello\n", f"{ORIGIN}\n1\n", f"{ORIGIN}\n01\n{B64_ROOT}\n"):
        _verify_fails(sign_note(text, [LOG]), TRUST, "E_CHECKPOINT_MALFORMED")


def test_every_single_byte_change_and_truncation_is_rejected() -> None:
    good = sign_checkpoint(Checkpoint(ORIGIN, 3, ROOT), LOG)
    for i in range(len(good)):
        mutated = bytearray(good)
        mutated[i] ^= 0x01
        for data in (bytes(mutated), good[:i]):
            with pytest.raises(VerificationError) as info:
                verify_checkpoint(data, TRUST)
            assert info.value.code in READ_CODES


# --- writing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "size", "root", "extensions"),
    [
        ("", 1, ROOT, ()),
        ("a\nb", 1, ROOT, ()),
        ("a\tb", 1, ROOT, ()),
        ("lone \udc00", 1, ROOT, ()),
        (b"origin", 1, ROOT, ()),
        (ORIGIN, -1, ROOT, ()),
        (ORIGIN, 2**63, ROOT, ()),
        (ORIGIN, True, ROOT, ()),
        (ORIGIN, 1.0, ROOT, ()),
        (ORIGIN, "1", ROOT, ()),
        (ORIGIN, 1, ROOT[:31], ()),
        (ORIGIN, 1, ROOT.hex(), ()),
        (ORIGIN, 0, ROOT, ()),
        (ORIGIN, 1, ROOT, ("",)),
        (ORIGIN, 1, ROOT, ("a\nb",)),
        (ORIGIN, 1, ROOT, "ext"),
        (ORIGIN, 1, ROOT, (1,)),
        (ORIGIN, 1, ROOT, None),
    ],
)
def test_invalid_fields_are_refused(
    origin: object, size: object, root: object, extensions: object
) -> None:
    with pytest.raises(InputError) as info:
        Checkpoint(origin, size, root, extensions)  # type: ignore[arg-type]
    assert info.value.code == "E_CHECKPOINT_FIELD"


def test_empty_tree_checkpoint_uses_the_empty_root() -> None:
    assert parse_checkpoint(Checkpoint(ORIGIN, 0, EMPTY_ROOT).body()).size == 0


def test_sign_requires_a_key_named_after_the_origin() -> None:
    with pytest.raises(InputError) as info:
        sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), OTHER)
    assert info.value.code == "E_CHECKPOINT_KEY"
    with pytest.raises(InputError):
        sign_checkpoint("not a checkpoint", LOG)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), LOG.public_key)  # type: ignore[arg-type]


# --- fuzzing -----------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(text=st.text(max_size=200))
def test_arbitrary_text_raises_only_verification_errors(text: str) -> None:
    with contextlib.suppress(VerificationError):
        cp = parse_checkpoint(text)
        assert cp.body() == text  # whatever parses is in its one canonical form


checkpoint_like = st.lists(
    st.sampled_from(
        [ORIGIN, "\n", "0", "1", "9", " ", "+", "=", "A", B64_ROOT, "\r", "é", "\x00", "-"]
    ),
    max_size=16,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=checkpoint_like)
def test_checkpoint_shaped_text_parses_to_its_canonical_form_or_fails(text: str) -> None:
    with contextlib.suppress(VerificationError):
        assert parse_checkpoint(text).body() == text


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_verification_errors_when_verified(data: bytes) -> None:
    try:
        verify_checkpoint(data, TRUST)
    except VerificationError as exc:
        assert exc.code in READ_CODES


def test_docstring_examples_run() -> None:
    failed, attempted = doctest.testmod(runid.checkpoint)
    assert attempted >= 10
    assert failed == 0
