"""Rules a second implementation had to guess (issue 12, "spec precision"), one test each:

- §13.2: the exact set of white space a note's key name may not hold;
- §13.3/§13.4: a checkpoint's syntax is checked before its signatures, alone and in a proof, so
  both give the same code;
- §14.3: the output check compares the digest only (the record's media type is not the file's).

(§2.1's precedence is tests/test_json_precedence.py; §14.3's per-step codes are the receipt
vectors, tests/test_receipt_vectors.py.)
"""

from __future__ import annotations

import base64
import sys

import pytest

from runid.checkpoint import verify_checkpoint
from runid.digest import content_ref
from runid.errors import VerificationError
from runid.keys import Keyring, SigningKey
from runid.merkle import leaf_hash
from runid.note import open_note, sign_note
from runid.proof import verify_tlog_proof

KEY = SigningKey("runid.example/log", bytes(range(32)))
KEYRING = Keyring([KEY.public_key])

#: docs/spec.md §13.2 step 5: the characters with the Unicode White_Space property that step 2
#: (no character below U+0020 but newline) lets through.
SPEC_WHITE_SPACE = frozenset(
    [0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
)


def _note_with_name(name: str) -> bytes:
    """A note whose (untrusted) signature line names ``name``, then one of KEY's."""
    good = sign_note("hello\n", [KEY])
    text, _, block = good.decode().rpartition("\n\n")
    fake = base64.b64encode(bytes(68)).decode()
    return f"{text}\n\n— {name} {fake}\n{block}".encode()


def test_the_white_space_of_key_names_is_exactly_the_listed_set() -> None:
    # The implementation's set, over every code point step 2 allows...
    refused = {
        c for c in range(0x20, sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF and chr(c).isspace()
    }
    assert refused == SPEC_WHITE_SPACE
    # ...and what a note does with each of them, and with look-alikes that are not white space.
    for code in sorted(SPEC_WHITE_SPACE - {0x20}):  # U+0020 ends the name: another failure
        with pytest.raises(VerificationError) as raised:
            open_note(_note_with_name(f"a{chr(code)}b"), KEYRING)
        assert raised.value.code == "E_NOTE_MALFORMED", hex(code)
    for code in (0x180E, 0x200B, 0x2060, 0xFEFF, 0x7F):
        assert open_note(_note_with_name(f"a{chr(code)}b"), KEYRING).text == "hello\n"


def _malformed_checkpoint_with_a_bad_signature() -> bytes:
    root = base64.b64encode(leaf_hash(b"a")).decode()
    note = sign_note(f"runid.example/log\n01\n{root}\n", [KEY])  # "01": a leading zero
    text, _, block = note.decode().rpartition("\n\n")
    prefix, _, signature = block.rstrip("\n").rpartition(" ")
    flipped = signature[:20] + ("A" if signature[20] != "A" else "B") + signature[21:]
    return f"{text}\n\n{prefix} {flipped}\n".encode()


def test_checkpoint_syntax_comes_before_signatures_alone_and_in_a_proof() -> None:
    note = _malformed_checkpoint_with_a_bad_signature()
    with pytest.raises(VerificationError) as alone:
        verify_checkpoint(note, KEYRING)
    proof = b"c2sp.org/tlog-proof@v1\nindex 0\n\n" + note
    with pytest.raises(VerificationError) as in_proof:
        verify_tlog_proof(proof, leaf_hash(b"a"), KEYRING)
    assert alone.value.code == in_proof.value.code == "E_CHECKPOINT_MALFORMED"
    # A malformed checkpoint signed by a key the verifier does not trust: syntax first, too.
    other = SigningKey("runid.example/log", bytes(range(1, 33)))
    root = base64.b64encode(leaf_hash(b"a")).decode()
    untrusted = sign_note(f"runid.example/log\n01\n{root}\n", [other])
    with pytest.raises(VerificationError) as raised:
        verify_checkpoint(untrusted, KEYRING)
    assert raised.value.code == "E_CHECKPOINT_MALFORMED"


def test_the_output_check_compares_the_digest_only() -> None:
    from runid.envelope import sign_record
    from runid.log import Log
    from runid.receipt import verify_receipt
    from runid.record import new_record
    from runid.store.memory import MemoryStore

    data = b"an answer"
    log = Log(MemoryStore(), KEY, KEY.public_key)
    record = new_record(
        "sha256:" + "ab" * 32,
        issuer=KEY,
        started_at="2026-01-01T00:00:00.000000Z",
        ended_at="2026-01-01T00:00:00.000000Z",
        outputs=[content_ref(data, "image/png")],  # not what the file is: not compared
    )
    log.append([sign_record(record, KEY)])
    receipt = log.receipt(0)
    assert verify_receipt(receipt, KEYRING, output=data).checks[-1].startswith("output: digest")
    with pytest.raises(VerificationError):
        verify_receipt(receipt, KEYRING, output=data + b" ")
