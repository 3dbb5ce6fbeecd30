"""Receipts: one file that proves a run offline, with public keys only.

A receipt is a JSON object (``docs/spec.md`` §14)::

    {
      "receipt": "runid/receipt/v1",
      "envelope": { DSSE envelope of the signed execution record },
      "declaration": { the declaration } | {"absent": "withheld"},
      "proof": "c2sp.org/tlog-proof@v1\\nindex N\\n...\\n\\n<signed checkpoint>"
    }

:func:`verify_receipt` checks, in order, and fails closed at the first failure: the shape of
the file; the envelope's signature and the record inside it (execution id recomputed); the
declaration id recomputed from the declaration, when included; the checkpoint's signature; the
inclusion of the envelope's leaf in the checkpointed tree; and, given the output bytes, that
their digest is one of the recorded outputs. It reads no database and no network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import canonical
from .checkpoint import Checkpoint
from .digest import content_digest
from .envelope import leaf_hash, verify_envelope
from .errors import E_RECEIPT, RunidError, VerificationError
from .identity import compute_identity
from .keys import Keyring
from .proof import parse_proof, verify_tlog_proof

__all__ = ["RECEIPT_SPEC", "VerifiedReceipt", "make_receipt", "verify_receipt"]

RECEIPT_SPEC = "runid/receipt/v1"
WITHHELD = {"absent": "withheld"}
_KEYS = frozenset(("receipt", "envelope", "declaration", "proof"))


@dataclass
class VerifiedReceipt:
    """What was verified, for reporting."""

    record: dict[str, Any]
    checkpoint: Checkpoint
    index: int
    checks: list[str] = field(default_factory=list)


def make_receipt(
    envelope: dict[str, Any], proof: bytes, declaration: dict[str, Any] | None = None
) -> bytes:
    """The receipt file's bytes (canonical JSON, so the same receipt is the same file)."""
    body = {
        "receipt": RECEIPT_SPEC,
        "envelope": envelope,
        "declaration": declaration if declaration is not None else WITHHELD,
        "proof": proof.decode("utf-8"),
    }
    return canonical.canonicalize(body)


def _fail(check: str, message: str, hint: str | None = None) -> VerificationError:
    return VerificationError(f"{check}: {message}", hint=hint, code=E_RECEIPT)


def verify_receipt(
    data: bytes, keyring: Keyring, *, output: bytes | None = None, origin: str | None = None
) -> VerifiedReceipt:
    """Verify a receipt offline; raise :class:`VerificationError` naming the first failed check."""
    try:
        body = canonical.loads(data)
    except RunidError as exc:
        raise _fail("receipt file", f"not a readable receipt ({exc.message})") from None
    if not isinstance(body, dict) or set(body) != _KEYS:
        raise _fail("receipt file", f"expected exactly the members {sorted(_KEYS)}")
    if body["receipt"] != RECEIPT_SPEC:
        raise _fail("receipt file", f"unsupported receipt version {body['receipt']!r}")
    if not isinstance(body["proof"], str):
        raise _fail("receipt file", "proof must be the text of a C2SP tlog-proof")
    envelope = body["envelope"]
    if not isinstance(envelope, dict):
        raise _fail("receipt file", "envelope must be a DSSE envelope object")

    record = verify_envelope(envelope, keyring)
    checks = [
        f"envelope signature: valid, by {record['issuer']['name']} ({record['issuer']['key_id']})",
        f"execution record: valid, execution id {record['execution_id']} recomputed",
    ]

    declaration = body["declaration"]
    if declaration == WITHHELD:
        checks.append("declaration: withheld from this receipt (id taken from the signed record)")
    else:
        try:
            computed = compute_identity(declaration).declaration_id
        except RunidError as exc:
            raise _fail("declaration", f"invalid ({exc.message})") from None
        if computed != record["declaration_id"]:
            raise _fail(
                "declaration",
                f"its id {computed} is not the recorded {record['declaration_id']}",
                hint="the declaration in the receipt was altered",
            )
        checks.append(f"declaration: id {computed} recomputed and matches the record")

    try:
        proof_bytes = body["proof"].encode("utf-8")
    except UnicodeEncodeError:
        raise _fail("inclusion proof", "not UTF-8 text") from None
    parsed = parse_proof(proof_bytes)
    checkpoint = verify_tlog_proof(parsed, leaf_hash(envelope), keyring, origin)
    index = parsed.index
    checks.append(
        f"checkpoint: signed by the log {checkpoint.origin!r}, tree size {checkpoint.size}"
    )
    checks.append(f"inclusion: the record is entry {index} of that tree (root verified)")

    if output is not None:
        digest = content_digest(output)
        outputs = [o["digest"] for o in record["outcome"]["outputs"]]
        if digest not in outputs:
            raise _fail(
                "output",
                f"the file's digest {digest} is not a recorded output "
                f"({', '.join(outputs) or 'none'})",
                hint="this output was not produced by the recorded run, or it was altered",
            )
        checks.append(f"output: digest {digest} is recorded output {outputs.index(digest)}")
    return VerifiedReceipt(record=record, checkpoint=checkpoint, index=index, checks=checks)
