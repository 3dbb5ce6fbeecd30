"""Generate the receipt vectors in this directory: ``python tests/vectors/receipts/generate.py``.

Everything is deterministic: the keys are fixed (the log key is the test key of docs/spec.md
§13.5), records have fixed timestamps and nonces, and Ed25519 signatures are deterministic. A
valid receipt is made for entry 1 of a three-entry log; each other case changes one thing in it
and says which step of docs/spec.md §14.3 must fail and with which code. ``cases.json`` lists
them; ``tests/test_receipt_vectors.py`` verifies every case and checks that this script still
writes exactly these files.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runid import canonical
from runid.digest import content_ref
from runid.envelope import sign_record
from runid.examples import example
from runid.identity import compute_identity
from runid.keys import SigningKey
from runid.log import Log
from runid.merkle import EMPTY_ROOT
from runid.note import sign_note
from runid.record import new_record
from runid.store.memory import MemoryStore
from runid.tlog.cosignature import CosigningKey, add_signatures, cosign

HERE = Path(__file__).resolve().parent

#: The log's (and issuer's) key: the test key of docs/spec.md §13.5. Never use it for anything.
LOG_KEY = SigningKey.from_private_text(
    "PRIVATE+KEY+runid.example/log+ed3d7150+AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"
)
#: A witness the verifier trusts, but whose name is not the log's origin.
WITNESS_KEY = SigningKey("witness.example/w", bytes(range(32, 64)))
#: A key with the log's name that the verifier does not trust.
STRANGER_KEY = SigningKey("runid.example/log", bytes(range(64, 96)))
#: A C2SP tlog-witness's cosigning key (cosignature/v1), trusted by the witness cases.
COSIGNER_KEY = CosigningKey("witness.example/c", bytes(range(96, 128)))
COSIGNED_AT = 1767258000  # 2026-01-01T09:00:00Z

OUTPUT = b"Duplicate charges are refunded within 5 business days.\n"
MEDIA_TYPE = "application/x-runid-answer"  # not what a verifier could guess from the file
DECLARATION = example("chat-hosted-model")
INDEX = 1


def _log() -> tuple[Log, list[dict[str, Any]]]:
    log = Log(MemoryStore(), LOG_KEY, LOG_KEY.public_key)
    declaration_id = compute_identity(DECLARATION).declaration_id
    records = []
    for i, output in enumerate([b"first run\n", OUTPUT, b"third run\n"]):
        records.append(
            new_record(
                declaration_id,
                issuer=LOG_KEY,
                started_at=f"2026-01-0{i + 1}T09:00:00.000000Z",
                ended_at=f"2026-01-0{i + 1}T09:00:01.500000Z",
                outputs=[content_ref(output, MEDIA_TYPE)],
                nonce=f"{i:02x}" * 16,
            )
        )
    log.append([log.sign(record) for record in records])
    return log, records


def _body(receipt: bytes) -> dict[str, Any]:
    body = json.loads(receipt)
    assert isinstance(body, dict)
    return body


def _jcs(body: object) -> bytes:
    return canonical.canonicalize(body)


def _with(receipt: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    body = _body(receipt)
    change(body)
    return _jcs(body)


def _proof_parts(receipt: bytes) -> tuple[list[str], bytes]:
    """The proof's lines before the checkpoint, and the checkpoint note."""
    proof = _body(receipt)["proof"]
    head, _, note = proof.partition("\n\n")
    return head.split("\n"), note.encode()


def _with_proof(receipt: bytes, lines: list[str], note: bytes) -> bytes:
    proof = "\n".join(lines) + "\n\n" + note.decode("utf-8", "surrogateescape")
    return _with(receipt, lambda body: body.__setitem__("proof", proof))


def _flip_b64(text: str, at: int) -> str:
    """``text`` (canonical base64) with the character at ``at`` changed, still canonical."""
    chars = list(text)
    chars[at] = "A" if chars[at] != "A" else "B"
    changed = "".join(chars)
    assert base64.b64encode(base64.b64decode(changed)).decode() == changed
    return changed


def _note_signature_flipped(note: bytes) -> bytes:
    text, _, block = note.decode().rpartition("\n\n")
    prefix, _, sig = block.rstrip("\n").rpartition(" ")
    return f"{text}\n\n{prefix} {_flip_b64(sig, 20)}\n".encode()


def _checkpoint_text(size: str, root: bytes, origin: str = "runid.example/log") -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def build() -> tuple[dict[str, bytes], dict[str, Any]]:
    """Every file of the vectors (name -> bytes) and the case list written to cases.json."""
    log, records = _log()
    valid = log.receipt(INDEX, DECLARATION)
    withheld = log.receipt(INDEX)
    lines, note = _proof_parts(valid)
    root = log.store.root(3)
    envelope = _body(valid)["envelope"]
    files: dict[str, bytes] = {"outputs/answer.txt": OUTPUT, "outputs/other.txt": b"Refunds?\n"}
    files["outputs/answer-with-newline.txt"] = OUTPUT + b"\n"
    cases: list[dict[str, Any]] = []

    def case(
        name: str,
        mutation: str,
        data: bytes,
        check: str | None = None,
        code: str | None = None,
        *,
        output: str | None = None,
        origin: str | None = None,
        witnesses: int | None = None,
    ) -> None:
        file = f"{len(cases) + 1:02d}-{name}.receipt"
        files[file] = data
        expect: dict[str, Any] = (
            {"verified": True}
            if check is None
            else {"verified": False, "check": check, "code": code}
        )
        cases.append(
            {
                "name": name,
                "mutation": mutation,
                "receipt": file,
                "output": output,
                "origin": origin,
                # With a number: the cosigner key below is trusted and that many are required.
                "min_witnesses": witnesses,
                "expect": expect,
            }
        )

    # --- valid ---------------------------------------------------------------------------------
    case("valid", "none: entry 1 of 3 with its declaration", valid)
    case("valid-with-output", "none; the output file is given", valid, output="outputs/answer.txt")
    case("valid-withheld", "none; the declaration is withheld", withheld)
    case("valid-with-origin", "none; the origin is required", valid, origin="runid.example/log")
    witnessed = sign_note(_checkpoint_text("3", root), [LOG_KEY, WITNESS_KEY])
    case(
        "valid-second-trusted-signer",
        "the checkpoint also carries the signature of another trusted key (not the log's)",
        _with_proof(valid, lines, witnessed),
    )
    text = note.decode().rpartition("\n\n")[0] + "\n"
    cosigned = add_signatures(note, [cosign(text, COSIGNER_KEY, COSIGNED_AT)])
    case(
        "valid-cosigned",
        "the checkpoint carries the trusted witness's cosignature (cosignature/v1); 1 required",
        _with_proof(valid, lines, cosigned),
        witnesses=1,
    )
    stranger_too = sign_note(
        _checkpoint_text("3", root), [LOG_KEY, SigningKey("x.example/y", bytes(32))]
    )
    case(
        "valid-unknown-cosigner",
        "the checkpoint also carries the signature of a key the verifier does not know (ignored)",
        _with_proof(valid, lines, stranger_too),
    )
    # --- 1. receipt file -----------------------------------------------------------------------
    rf, er = "receipt file", "E_RECEIPT"
    case("not-json", "the file is cut in the middle", valid[: len(valid) // 2], rf, er)
    case(
        "duplicate-member",
        'a second "receipt" member (not JSON that canonicalizes: §2.1)',
        valid.replace(b'{"declaration"', b'{"receipt":"runid/receipt/v1","declaration"', 1),
        rf,
        er,
    )
    case(
        "extra-member", 'an extra member "note"', _with(valid, lambda b: b.update(note="x")), rf, er
    )
    case("missing-proof", "no proof member", _with(valid, lambda b: b.pop("proof")), rf, er)
    case(
        "version",
        "receipt is runid/receipt/v2",
        _with(valid, lambda b: b.update(receipt="runid/receipt/v2")),
        rf,
        er,
    )
    case("proof-not-text", "proof is a number", _with(valid, lambda b: b.update(proof=1)), rf, er)
    case(
        "envelope-not-object",
        "envelope is a string",
        _with(valid, lambda b: b.update(envelope="x")),
        rf,
        er,
    )
    # --- 2. envelope ---------------------------------------------------------------------------
    env = "envelope"
    case(
        "envelope-extra-member",
        'an extra envelope member "x"',
        _with(valid, lambda b: b["envelope"].update(x=1)),
        env,
        "E_ENVELOPE",
    )
    case(
        "payload-type",
        "payloadType is application/json",
        _with(valid, lambda b: b["envelope"].update(payloadType="application/json")),
        env,
        "E_PAYLOAD_TYPE",
    )
    case(
        "unknown-keyid",
        "the signature's keyid is another (untrusted) key id",
        _with(
            valid,
            lambda b: b["envelope"]["signatures"][0].update(keyid=STRANGER_KEY.public_key.key_id),
        ),
        env,
        "E_UNKNOWN_KEY",
    )
    case(
        "signature-flipped",
        "one base64 character of the envelope signature changed",
        _with(
            valid,
            lambda b: b["envelope"]["signatures"][0].update(
                sig=_flip_b64(b["envelope"]["signatures"][0]["sig"], 10)
            ),
        ),
        env,
        "E_SIGNATURE",
    )
    payload = bytearray(base64.b64decode(envelope["payload"]))
    at = payload.index(b'"nonce":"') + len(b'"nonce":"')
    payload[at] = ord("f")
    case(
        "payload-altered",
        "one character of the signed statement (the record's nonce) changed",
        _with(
            valid,
            lambda b: b["envelope"].update(payload=base64.b64encode(bytes(payload)).decode()),
        ),
        env,
        "E_SIGNATURE",
    )
    stranger_record = new_record(
        records[INDEX]["declaration_id"],
        issuer=STRANGER_KEY,
        started_at=records[INDEX]["started_at"],
        ended_at=records[INDEX]["ended_at"],
        outputs=records[INDEX]["outcome"]["outputs"],
        nonce=records[INDEX]["nonce"],
    )
    stranger = sign_record(stranger_record, STRANGER_KEY)
    case(
        "signed-by-stranger",
        "the envelope is signed by an untrusted key with the log's name",
        _with(valid, lambda b: b.update(envelope=stranger)),
        env,
        "E_UNKNOWN_KEY",
    )
    # --- 3. declaration ------------------------------------------------------------------------
    dec = "declaration"

    def warmer(body: dict[str, Any]) -> None:
        body["declaration"]["parameters"]["temperature"] = {"source": "declared", "value": 0.9}

    case("declaration-altered", "temperature changed to 0.9", _with(valid, warmer), dec, er)
    case(
        "declaration-invalid",
        'the declaration is {"spec": "runid/v1"}',
        _with(valid, lambda b: b.update(declaration={"spec": "runid/v1"})),
        dec,
        er,
    )
    # --- 4. checkpoint: the proof's lines and its signed checkpoint ----------------------------
    cp = "checkpoint"
    case(
        "proof-header",
        "the first line is c2sp.org/tlog-proof@v2",
        _with_proof(valid, ["c2sp.org/tlog-proof@v2", *lines[1:]], note),
        cp,
        "E_PROOF_MALFORMED",
    )
    case(
        "proof-index-leading-zero",
        "index 01",
        _with_proof(valid, [lines[0], "index 01", *lines[2:]], note),
        cp,
        "E_PROOF_MALFORMED",
    )
    case(
        "proof-hash-short",
        "a hash line of 31 bytes",
        _with_proof(
            valid,
            [*lines[:2], base64.b64encode(bytes(31)).decode(), *lines[3:]],
            note,
        ),
        cp,
        "E_PROOF_MALFORMED",
    )
    case(
        "note-carriage-return",
        "the checkpoint's lines end in CR LF",
        _with_proof(valid, lines, note.replace(b"\n", b"\r\n")),
        cp,
        "E_NOTE_MALFORMED",
    )
    case(
        "checkpoint-signature-flipped",
        "one base64 character of the checkpoint signature changed",
        _with_proof(valid, lines, _note_signature_flipped(note)),
        cp,
        "E_NOTE_BAD_SIGNATURE",
    )
    case(
        "checkpoint-size-altered",
        "the checkpoint's size changed from 3 to 4, signature kept",
        _with_proof(valid, lines, note.replace(b"\n3\n", b"\n4\n", 1)),
        cp,
        "E_NOTE_BAD_SIGNATURE",
    )
    case(
        "checkpoint-untrusted",
        "the checkpoint is signed only by an untrusted key with the log's name",
        _with_proof(valid, lines, sign_note(_checkpoint_text("3", root), [STRANGER_KEY])),
        cp,
        "E_NOTE_UNTRUSTED",
    )
    malformed = _note_signature_flipped(sign_note(_checkpoint_text("03", root), [LOG_KEY]))
    case(
        "checkpoint-malformed-and-bad-signature",
        "size 03 (a leading zero) and a bad signature: syntax is checked first (§13.3)",
        _with_proof(valid, lines, malformed),
        cp,
        "E_CHECKPOINT_MALFORMED",
    )
    case(
        "checkpoint-empty-tree-root",
        "size 0 with a root other than the empty tree's, validly signed",
        _with_proof(
            valid, [lines[0], "index 0"], sign_note(_checkpoint_text("0", root), [LOG_KEY])
        ),
        cp,
        "E_CHECKPOINT_MALFORMED",
    )
    case(
        "checkpoint-origin",
        "the verifier requires the origin runid.example/other",
        valid,
        cp,
        "E_CHECKPOINT_ORIGIN",
        origin="runid.example/other",
    )
    case(
        "checkpoint-witness-only",
        "the checkpoint is signed only by the trusted witness, not by the log's key",
        _with_proof(valid, lines, sign_note(_checkpoint_text("3", root), [WITNESS_KEY])),
        cp,
        "E_CHECKPOINT_KEY",
    )
    # --- 5. inclusion --------------------------------------------------------------------------
    inc = "inclusion"
    case(
        "index-beyond-tree",
        "index 3 in a tree of size 3",
        _with_proof(valid, [lines[0], "index 3", *lines[2:]], note),
        inc,
        "E_PROOF_INDEX",
    )
    case(
        "other-index",
        "index 0 with the hashes of index 1",
        _with_proof(valid, [lines[0], "index 0", *lines[2:]], note),
        inc,
        "E_PROOF_INCLUSION",
    )
    case(
        "hash-altered",
        "one base64 character of the first proof hash changed",
        _with_proof(valid, [*lines[:2], _flip_b64(lines[2], 5), *lines[3:]], note),
        inc,
        "E_PROOF_INCLUSION",
    )
    case(
        "hash-missing",
        "the last proof hash removed",
        _with_proof(valid, lines[:-1], note),
        inc,
        "E_PROOF_INCLUSION",
    )
    case(
        "empty-tree",
        "a checkpoint of the empty tree (size 0), validly signed",
        _with_proof(
            valid, [lines[0], "index 0"], sign_note(_checkpoint_text("0", EMPTY_ROOT), [LOG_KEY])
        ),
        inc,
        "E_PROOF_INDEX",
    )
    # --- 6. witnesses (C2SP tlog-cosignature, §19.2) ---------------------------------------------
    wit = "witnesses"
    case(
        "no-cosignature",
        "the trusted witness did not cosign the checkpoint; 1 required",
        valid,
        wit,
        "E_WITNESS_QUORUM",
        witnesses=1,
    )
    bad = cosign(text, COSIGNER_KEY, COSIGNED_AT)
    bad_line = bad.line()
    head_, _, encoded = bad_line.rpartition(" ")
    case(
        "cosignature-flipped",
        "one base64 character of the witness's cosignature changed",
        _with_proof(valid, lines, note + f"{head_} {_flip_b64(encoded, 30)}\n".encode()),
        wit,
        "E_COSIGNATURE_BAD",
        witnesses=1,
    )
    # --- 7. output -----------------------------------------------------------------------------
    out = "output"
    case(
        "output-other",
        "the output file given is another text",
        valid,
        out,
        er,
        output="outputs/other.txt",
    )
    case(
        "output-one-byte-more",
        "the output file given has one more byte (a newline)",
        valid,
        out,
        er,
        output="outputs/answer-with-newline.txt",
    )
    document = {
        "description": "Receipts (docs/spec.md §14.3): a valid one and mutations of it, each "
        "with the verification step that must fail and its code. Verify each receipt with the "
        "trusted keys below, the output file if one is named (paths relative to this "
        "directory), the required origin if one is named, and, where min_witnesses is a "
        "number, the cosigner key below trusted and that many cosignatures required.",
        "generator": "tests/vectors/receipts/generate.py",
        "keys": [LOG_KEY.public_key.vkey, WITNESS_KEY.public_key.vkey],
        "cosigner": COSIGNER_KEY.public.vkey,
        "cases": cases,
    }
    return files, document


def write(folder: Path = HERE) -> None:
    files, document = build()
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (folder / "cases.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
