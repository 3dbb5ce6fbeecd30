"""runid.proof: the C2SP tlog-proof format, strict parsing, and end-to-end verification.

Vector, copied verbatim with its source: the example proof of c2sp.org/tlog-proof
(github.com/C2SP/C2SP, ``tlog-proof.md``). Its signature lines are elided (``[...]``) in the spec,
so as printed it is not a well-formed signed note; with the elided lines replaced by well-formed
signatures the proof lines above the checkpoint parse as the spec says.
"""

from __future__ import annotations

import base64
import contextlib
import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import runid.proof
from runid.checkpoint import MAX_TREE_SIZE, Checkpoint, sign_checkpoint
from runid.errors import InputError, LimitExceededError, VerificationError
from runid.keys import Keyring, PublicKey, SigningKey
from runid.merkle import RootMismatchError, inclusion_proof, leaf_hash, root
from runid.note import NoteSignature, sign_note
from runid.proof import (
    HEADER,
    MAX_PROOF_HASHES,
    MAX_PROOF_SIZE,
    TlogProof,
    format_proof,
    parse_proof,
    verify_tlog_proof,
)

C2SP_EXAMPLE = """c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

example.com/fancylog
109482
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=

— example.com/fancylog hI2DJw[...]1roloI=
— witness1.example mJirIklj[...]qY9v2B/5bg==
— witness2.example TnKKVHLX[...]xwYwrSjgow==
— witness3.example S4X82uH5[...]3oEcROGLFQ==
"""

ORIGIN = "runid.example/log"
LOG = SigningKey(ORIGIN, bytes(range(32)))
TRUST = Keyring([LOG.public_key])
DATA = [f"record {i}".encode() for i in range(13)]
LEAVES = [leaf_hash(d) for d in DATA]

READ_CODES = {
    "E_PROOF_MALFORMED",
    "E_PROOF_TOO_LARGE",
    "E_PROOF_INDEX",
    "E_PROOF_INCLUSION",
    "E_CHECKPOINT_MALFORMED",
    "E_CHECKPOINT_ORIGIN",
    "E_CHECKPOINT_KEY",
    "E_NOTE_MALFORMED",
    "E_NOTE_TOO_LARGE",
    "E_NOTE_AMBIGUOUS_KEY",
    "E_NOTE_BAD_SIGNATURE",
    "E_NOTE_UNTRUSTED",
}


def _signed(size: int, key: SigningKey = LOG, origin: str = ORIGIN) -> bytes:
    return sign_checkpoint(Checkpoint(origin, size, root(LEAVES[:size])), key)


def _proof(index: int, size: int, extra: bytes | None = None) -> bytes:
    return format_proof(index, inclusion_proof(LEAVES, index, size), _signed(size), extra)


def _verify_fails(
    data: bytes | TlogProof, code: str, leaf: bytes, origin: str | None = None
) -> None:
    with pytest.raises(VerificationError) as info:
        verify_tlog_proof(data, leaf, TRUST, origin)
    assert info.value.code == code, info.value.message


def _parse_fails(data: bytes, code: str = "E_PROOF_MALFORMED") -> None:
    with pytest.raises(VerificationError) as info:
        parse_proof(data)
    assert info.value.code == code, info.value.message


# --- the C2SP example --------------------------------------------------------------------------


def test_c2sp_example_as_printed_has_elided_signatures() -> None:
    _parse_fails(C2SP_EXAMPLE.encode(), "E_NOTE_MALFORMED")


def test_c2sp_example_parses_once_its_signatures_are_well_formed() -> None:
    head, _, _ = C2SP_EXAMPLE.partition("\u2014 ")
    names = ["example.com/fancylog", "witness1.example", "witness2.example", "witness3.example"]
    sigs = "".join(NoteSignature(n, bytes(4), bytes(64)).line() + "\n" for n in names)
    proof = parse_proof((head + sigs).encode())
    assert proof.extra == base64.b64decode("YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ")
    assert proof.extra.startswith(b"age-v1.2.1-darwin-arm64.tar.gz")
    assert proof.index == 73894
    assert [base64.b64encode(h).decode()[:8] for h in proof.hashes] == [
        "gSKyXoYZ",
        "B95lDa8R",
        "EKNzoDWG",
        "RoopEkOd",
        "AHCioX9n",
    ]
    assert proof.checkpoint.startswith(b"example.com/fancylog\n109482\n")
    # The example's 5 hashes cannot be the proof of leaf 73894 in a tree of 109482 (it needs 17).
    with pytest.raises(InputError):
        proof.to_bytes()


# --- the examples of docs/spec-parts/13-checkpoints.md (section 13.5) ---------------------------

SPEC_SKEY = "PRIVATE+KEY+runid.example/log+ed3d7150+AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"
SPEC_VKEY = "runid.example/log+ed3d7150+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
SPEC_NOTE = (
    "Hello, runid.\n"
    "\n"
    "— runid.example/log 7T1xUPXaH5BjPmA0Ibpk9DlKRQgHlvUPUyJS7FVjAVPsPWGnRU/AXSsQn8aN8iDCSCB9RoMV10V9h74mrQ3JWYY6Ngc=\n"  # noqa: E501
)
SPEC_CHECKPOINT = (
    "runid.example/log\n"
    "3\n"
    "NmQuc8JUCrEh46a/lUWwokmCzYMOsT080Z3jzmwCHsE=\n"
    "\n"
    "— runid.example/log 7T1xUDpSgMcaA4qxWQmqqpGtkozT3gzU+fYfHjBIvgVqEb4lx+EIV7QAvdz6JK4t3zY5GKGIw5O8OokyNSs1k7yvTQI=\n"  # noqa: E501
)
SPEC_PROOF_C = (
    "c2sp.org/tlog-proof@v1\nindex 2\nsTeYX/SE+2ANuTEHx3sDZcgNePW0Kd7Q/Zc2HQd5mes=\n\n"
    + SPEC_CHECKPOINT
)
SPEC_PROOF_A = (
    "c2sp.org/tlog-proof@v1\n"
    "extra cnVuaWQ=\n"
    "index 0\n"
    "V+s1YV1H807HFMrN9f10YIpejhAnJOgLJLKHwMJ7ajE=\n"
    "WX/LMSgtNGVMIA00GPylcFxkjr8ybsc9jd7xGEH4dtg=\n"
    "\n" + SPEC_CHECKPOINT
)


def test_spec_examples_are_reproduced_byte_for_byte() -> None:
    raw = base64.b64decode(SPEC_SKEY.split("+", 4)[4])
    key = SigningKey("runid.example/log", raw[1:])
    assert key.public_key.vkey == SPEC_VKEY
    trust = Keyring([PublicKey.parse(SPEC_VKEY)])
    leaves = [leaf_hash(d) for d in (b"a", b"b", b"c")]
    assert sign_note("Hello, runid.\n", [key]) == SPEC_NOTE.encode()
    signed = sign_checkpoint(Checkpoint("runid.example/log", 3, root(leaves)), key)
    assert signed == SPEC_CHECKPOINT.encode()
    proof_c = format_proof(2, inclusion_proof(leaves, 2, 3), signed)
    proof_a = format_proof(0, inclusion_proof(leaves, 0, 3), signed, extra=b"runid")
    assert (proof_c, proof_a) == (SPEC_PROOF_C.encode(), SPEC_PROOF_A.encode())
    assert verify_tlog_proof(proof_c, leaves[2], trust, "runid.example/log").size == 3
    assert verify_tlog_proof(proof_a, leaves[0], trust, "runid.example/log").size == 3


# --- round trips -------------------------------------------------------------------------------


def test_format_writes_the_spec_layout() -> None:
    signed = _signed(5)
    data = format_proof(4, inclusion_proof(LEAVES, 4, 5), signed, extra=b"\x00extra")
    lines = data.split(b"\n")
    assert lines[0] == HEADER.encode()
    assert lines[1] == b"extra " + base64.b64encode(b"\x00extra")
    assert lines[2] == b"index 4"
    assert lines[3] == base64.b64encode(root(LEAVES[:4]))
    assert lines[4] == b""
    assert data.endswith(b"\n\n" + signed)


@pytest.mark.parametrize("extra", [None, b"", b"x", bytes(range(256))])
def test_parse_inverts_format(extra: bytes | None) -> None:
    data = _proof(6, 13, extra)
    proof = parse_proof(data)
    assert proof == TlogProof(6, tuple(inclusion_proof(LEAVES, 6, 13)), _signed(13), extra)
    assert proof.to_bytes() == data


def test_every_leaf_of_every_small_tree_verifies() -> None:
    for size in range(1, len(LEAVES) + 1):
        for index in range(size):
            cp = verify_tlog_proof(_proof(index, size), LEAVES[index], TRUST, ORIGIN)
            assert (cp.size, cp.root) == (size, root(LEAVES[:size]))


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(st.binary(max_size=8), min_size=1, max_size=80),
    pick=st.integers(min_value=0),
    extra=st.none() | st.binary(max_size=40),
)
def test_any_proof_round_trips_and_verifies(
    data: list[bytes], pick: int, extra: bytes | None
) -> None:
    leaves = [leaf_hash(d) for d in data]
    size, index = len(leaves), pick % len(leaves)
    signed = sign_checkpoint(Checkpoint(ORIGIN, size, root(leaves)), LOG)
    encoded = format_proof(index, inclusion_proof(leaves, index, size), signed, extra)
    proof = parse_proof(encoded)
    assert proof.to_bytes() == encoded
    assert verify_tlog_proof(proof, leaves[index], TRUST).size == size


# --- verification failures ---------------------------------------------------------------------


def test_wrong_leaf_is_a_root_mismatch() -> None:
    with pytest.raises(RootMismatchError) as info:
        verify_tlog_proof(_proof(3, 13), LEAVES[4], TRUST)
    assert info.value.code == "E_PROOF_INCLUSION"


def test_wrong_index_fails() -> None:
    proof = parse_proof(_proof(3, 13))
    for index in (2, 4, 12):
        moved = TlogProof(index, proof.hashes, proof.checkpoint)
        _verify_fails(moved, "E_PROOF_INCLUSION", LEAVES[3])
    _verify_fails(TlogProof(13, proof.hashes, proof.checkpoint), "E_PROOF_INDEX", LEAVES[3])
    _verify_fails(TlogProof(10**18, (), proof.checkpoint), "E_PROOF_INDEX", LEAVES[3])


def test_wrong_size_fails() -> None:
    # Only where the path's shape changes: leaf 3 has the same path in every size from 9 to 16,
    # so there a size is bound to the root by the log's signature alone, not by the proof.
    proof = parse_proof(_proof(3, 13))
    for size in (4, 5, 8, 17, 100):
        signed = sign_checkpoint(Checkpoint(ORIGIN, size, root(LEAVES[:13])), LOG)
        _verify_fails(TlogProof(3, proof.hashes, signed), "E_PROOF_INCLUSION", LEAVES[3])


def test_proof_too_long_or_too_short_fails() -> None:
    proof = parse_proof(_proof(3, 13))
    longer = (*proof.hashes, proof.hashes[0])
    for hashes in (proof.hashes[:-1], longer, (), proof.hashes[1:]):
        _verify_fails(TlogProof(3, hashes, proof.checkpoint), "E_PROOF_INCLUSION", LEAVES[3])


def test_swapped_hashes_fail() -> None:
    proof = parse_proof(_proof(3, 13))
    swapped = (proof.hashes[1], proof.hashes[0], *proof.hashes[2:])
    _verify_fails(TlogProof(3, swapped, proof.checkpoint), "E_PROOF_INCLUSION", LEAVES[3])


def test_checkpoint_of_another_log_or_key_fails() -> None:
    data = _proof(0, 2)
    _verify_fails(data, "E_CHECKPOINT_ORIGIN", LEAVES[0], origin="runid.example/other")
    other = SigningKey(ORIGIN, bytes(32))  # same name, another key
    signed = _signed(2, key=other)
    forged = format_proof(0, inclusion_proof(LEAVES, 0, 2), signed)
    _verify_fails(forged, "E_NOTE_UNTRUSTED", LEAVES[0])


def test_checkpoint_signed_by_a_trusted_key_of_another_name_fails() -> None:
    witness = SigningKey("witness.example", bytes(range(2, 34)))
    body = Checkpoint(ORIGIN, 2, root(LEAVES[:2])).body()
    signed = sign_note(body, [witness])
    data = format_proof(0, inclusion_proof(LEAVES, 0, 2), signed)
    with pytest.raises(VerificationError) as info:
        verify_tlog_proof(data, LEAVES[0], Keyring([LOG.public_key, witness.public_key]))
    assert info.value.code == "E_CHECKPOINT_KEY"


def test_extra_data_is_not_authenticated() -> None:
    proof = parse_proof(_proof(1, 3, extra=b"one"))
    changed = TlogProof(proof.index, proof.hashes, proof.checkpoint, b"two")
    assert verify_tlog_proof(changed, LEAVES[1], TRUST).size == 3


def test_every_single_byte_change_and_truncation_is_rejected() -> None:
    good = _proof(5, 11)
    assert verify_tlog_proof(good, LEAVES[5], TRUST).size == 11
    for i in range(len(good)):
        mutated = bytearray(good)
        mutated[i] ^= 0x04
        for data in (bytes(mutated), good[:i], good[:i] + good[i + 1 :]):
            with pytest.raises(VerificationError) as info:
                verify_tlog_proof(data, LEAVES[5], TRUST)
            assert info.value.code in READ_CODES


# --- strict parsing ----------------------------------------------------------------------------


def _variants() -> dict[str, bytes]:
    good = _proof(2, 3).decode()
    head, _, note = good.partition("\n\n")
    h0 = head.split("\n")[2]
    raw0 = base64.b64decode(h0)
    return {
        "crlf-head": good.replace("\n", "\r\n", 3).encode(),
        "wrong-header": good.replace(HEADER, "c2sp.org/tlog-proof@v2").encode(),
        "header-trailing-space": good.replace(HEADER, HEADER + " ").encode(),
        "no-header": good.removeprefix(HEADER + "\n").encode(),
        "index-leading-zero": good.replace("index 2", "index 02").encode(),
        "index-plus": good.replace("index 2", "index +2").encode(),
        "index-negative": good.replace("index 2", "index -2").encode(),
        "index-two-spaces": good.replace("index 2", "index  2").encode(),
        "index-trailing-space": good.replace("index 2", "index 2 ").encode(),
        "index-tab": good.replace("index 2", "index\t2").encode(),
        "index-uppercase": good.replace("index 2", "Index 2").encode(),
        "index-missing": good.replace("index 2\n", "").encode(),
        "index-empty": good.replace("index 2", "index ").encode(),
        "index-too-large": good.replace("index 2", f"index {MAX_TREE_SIZE}").encode(),
        "index-20-digits": good.replace("index 2", f"index {2**64}").encode(),
        "index-unicode-digit": good.replace("index 2", "index \u0662").encode(),
        "index-twice": good.replace("index 2", "index 2\nindex 2").encode(),
        "extra-after-index": good.replace("index 2", "index 2\nextra AA==").encode(),
        "extra-bad-base64": good.replace("index 2", "extra !!!!\nindex 2").encode(),
        "extra-no-padding": good.replace("index 2", "extra AA\nindex 2").encode(),
        "extra-no-space": good.replace("index 2", "extraAA==\nindex 2").encode(),
        "extra-twice": good.replace("index 2", "extra AA==\nextra AA==\nindex 2").encode(),
        "hash-bad-base64": good.replace(h0, "!" + h0[1:]).encode(),
        "hash-short": good.replace(h0, base64.b64encode(raw0[:31]).decode()).encode(),
        "hash-long": good.replace(h0, base64.b64encode(raw0 + b"\x00").decode()).encode(),
        "hash-hex": good.replace(h0, raw0.hex()).encode(),
        "hash-no-padding": good.replace(h0, h0.rstrip("=")).encode(),
        "hash-padding-bits": good.replace(h0, h0[:-2] + chr(ord(h0[-2]) ^ 1) + "=").encode(),
        "hash-trailing-space": good.replace(h0, h0 + " ").encode(),
        "no-blank-line": (head + "\n" + note).encode(),
        "two-blank-lines": (head + "\n\n\n" + note).encode(),
        "truncated-head": good[: len(head) - 3].encode(),
        "head-only": (head + "\n").encode(),
        "too-many-hashes": good.replace(h0, "\n".join([h0] * (MAX_PROOF_HASHES + 1))).encode(),
        "non-ascii-head": good.replace("index 2", "index 2é").encode(),
        "empty": b"",
        "garbage": b"\x00\xff garbage",
    }


@pytest.mark.parametrize("name", sorted(_variants()))
def test_malformed_variant_is_rejected(name: str) -> None:
    with pytest.raises(VerificationError) as info:
        parse_proof(_variants()[name])
    assert info.value.code in {"E_PROOF_MALFORMED", "E_NOTE_MALFORMED", "E_CHECKPOINT_MALFORMED"}, (
        info.value.message
    )


def test_head_errors_are_proof_errors_and_note_errors_keep_their_code() -> None:
    good = _proof(2, 3)
    _parse_fails(good.replace(b"index 2", b"index 02"), "E_PROOF_MALFORMED")
    _parse_fails(good[:-1], "E_NOTE_MALFORMED")  # the checkpoint note lost its last newline
    _parse_fails(good.replace(b"\n3\n", b"\n03\n"), "E_CHECKPOINT_MALFORMED")
    _parse_fails(good.replace(b"\n\n", b"\n\n\n", 1), "E_CHECKPOINT_MALFORMED")  # empty origin
    _parse_fails(good.replace("\u2014".encode(), b"-"), "E_NOTE_MALFORMED")


def test_empty_extra_and_zero_hashes_are_valid() -> None:
    data = _proof(0, 1, extra=b"")
    assert b"\nextra \nindex 0\n\n" in data
    proof = parse_proof(data)
    assert (proof.extra, proof.hashes) == (b"", ())
    assert verify_tlog_proof(proof, LEAVES[0], TRUST).size == 1


def test_too_large_proofs_are_rejected() -> None:
    _parse_fails(_proof(0, 1) + b"x" * MAX_PROOF_SIZE, "E_PROOF_TOO_LARGE")
    with pytest.raises(LimitExceededError) as info:
        format_proof(0, [], _signed(1), extra=bytes(MAX_PROOF_SIZE))
    assert info.value.code == "E_PROOF_TOO_LARGE"


def test_anything_but_bytes_or_a_proof_is_rejected() -> None:
    for value in ("text", None, 1, bytearray(_proof(0, 1))):
        with pytest.raises(VerificationError):
            verify_tlog_proof(value, LEAVES[0], TRUST)  # type: ignore[arg-type]
        with pytest.raises(VerificationError):
            parse_proof(value)  # type: ignore[arg-type]


def test_a_leaf_hash_that_is_not_32_bytes_fails() -> None:
    for leaf in (DATA[0], b"", "x" * 32, None):
        with pytest.raises(VerificationError):
            verify_tlog_proof(_proof(0, 1), leaf, TRUST)  # type: ignore[arg-type]


# --- writing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "hashes", "signed", "extra"),
    [
        (-1, [], "ok", None),
        (True, [], "ok", None),
        (2**63, [], "ok", None),
        ("0", [], "ok", None),
        (0, [b"x" * 31], "ok", None),
        (0, b"x" * 32, "ok", None),
        (0, None, "ok", None),
        (0, [bytes(32)] * 64, "ok", None),
        (0, [], "ok", "extra"),
        (0, [], b"not a note", None),
        (0, [], "note-not-checkpoint", None),
        (0, [], "str", None),
        (1, [], "ok", None),  # index outside the tree of size 1
        (0, [bytes(32)], "ok", None),  # one hash too many for a tree of size 1
    ],
)
def test_format_refuses_invalid_fields(
    index: object, hashes: object, signed: object, extra: object
) -> None:
    named: dict[object, object] = {
        "ok": _signed(1),
        "note-not-checkpoint": sign_note("hello\n", [LOG]),
        "str": _signed(1).decode(),
    }
    checkpoint = named.get(signed, signed)
    with pytest.raises(InputError) as info:
        format_proof(index, hashes, checkpoint, extra)  # type: ignore[arg-type]
    assert info.value.code == "E_PROOF_FIELD"


def test_tlog_proof_checks_its_fields() -> None:
    with pytest.raises(InputError) as info:
        TlogProof(-1, (), b"")
    assert info.value.code == "E_PROOF_FIELD"
    assert TlogProof(0, [bytes(32)], b"").hashes == (bytes(32),)  # type: ignore[arg-type]


# --- fuzzing -----------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_verification_errors(data: bytes) -> None:
    for candidate in (data, HEADER.encode() + b"\n" + data):
        try:
            verify_tlog_proof(candidate, LEAVES[0], TRUST)
        except VerificationError as exc:
            assert exc.code in READ_CODES


proof_like = st.lists(
    st.sampled_from(
        [
            *[HEADER, "\n", "index ", "extra ", "0", "1", "AA==", " ", "\r", ORIGIN, "\n\n"],
            base64.b64encode(LEAVES[1]).decode(),
            base64.b64encode(root(LEAVES[:2])).decode(),
            _signed(2).decode(),
        ]
    ),
    max_size=14,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=proof_like)
def test_proof_shaped_text_raises_only_verification_errors(text: str) -> None:
    data = text.encode()
    with contextlib.suppress(VerificationError):
        proof = parse_proof(data)
        with contextlib.suppress(InputError):  # format_proof also checks index and proof length
            assert proof.to_bytes() == data  # whatever parses is in its one canonical form
        verify_tlog_proof(proof, LEAVES[proof.index % 2], TRUST)


def test_docstring_examples_run() -> None:
    failed, attempted = doctest.testmod(runid.proof)
    assert attempted >= 15
    assert failed == 0
