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
declaration id recomputed from the declaration, when included; the proof and its signed
checkpoint; the inclusion of the envelope's leaf in the checkpointed tree; with trusted witness
keys, that at least ``min_witnesses`` of them cosigned the checkpoint (C2SP tlog-cosignature);
and, given the output bytes, that their digest is one of the recorded outputs. It reads no
database and no network.

A failure is a :class:`ReceiptError`: ``check`` names the step (:data:`CHECKS`), ``code`` is
the stable code of the failure, the step's own (``E_RECEIPT`` for the receipt file, the
declaration and the output; the codes of docs/spec.md §12.7 for the envelope, §13 for the proof,
its checkpoint and the inclusion, §19 for the cosignatures), so another implementation can be
tested against this one by code. The receipt vectors in ``tests/vectors/receipts/`` give one of
each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from . import canonical
from .checkpoint import Checkpoint, verify_checkpoint
from .digest import content_digest
from .envelope import leaf_hash, verify_envelope
from .errors import E_RECEIPT, E_WITNESS_QUORUM, InputError, RunidError, VerificationError
from .identity import compute_identity
from .keys import Keyring
from .proof import parse_proof, verify_tlog_proof
from .tlog.cosignature import CosignerKey, verify_cosignatures
from .wire import Declaration, Envelope, Receipt, Record, Withheld

__all__ = [
    "CHECKS",
    "RECEIPT_SPEC",
    "ReceiptError",
    "VerifiedReceipt",
    "make_receipt",
    "verify_receipt",
]

RECEIPT_SPEC: Final = "runid/receipt/v1"
WITHHELD: Withheld = {"absent": "withheld"}
_KEYS = frozenset(("receipt", "envelope", "declaration", "proof"))

CHECKS: Final = (
    "receipt file",
    "envelope",
    "declaration",
    "checkpoint",
    "inclusion",
    "witnesses",
    "output",
)
"""The steps of verification, in order (docs/spec.md §14.3): a :class:`ReceiptError` names one.

``receipt file`` (``E_RECEIPT``); ``envelope`` (§12.7: ``E_ENVELOPE``, ``E_PAYLOAD_TYPE``,
``E_UNKNOWN_KEY``, ``E_BASE64``, ``E_SIGNATURE``, ``E_STATEMENT``, ``E_INVALID_RECORD``,
``E_EXECUTION_ID``, ``E_ISSUER``, ``E_SUBJECT``); ``declaration`` (``E_RECEIPT``);
``checkpoint``: the proof's lines and its signed checkpoint (§13.4 steps 1-3:
``E_PROOF_TOO_LARGE``, ``E_PROOF_MALFORMED``, ``E_NOTE_*``, ``E_CHECKPOINT_*``); ``inclusion``
(``E_PROOF_INDEX``, ``E_PROOF_INCLUSION``); ``witnesses``, with trusted witness keys (§19.2:
``E_COSIGNATURE_BAD``, ``E_WITNESS_QUORUM``); ``output`` (``E_RECEIPT``)."""

_T = TypeVar("_T")


class ReceiptError(VerificationError):
    """A receipt that does not verify: ``check`` is the step that failed (one of
    :data:`CHECKS`), ``code`` the failure's stable code."""

    def __init__(self, check: str, message: str, *, code: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, code=code)
        self.check = check


@dataclass
class VerifiedReceipt:
    """What was verified, for reporting."""

    record: Record
    checkpoint: Checkpoint
    index: int
    checks: list[str] = field(default_factory=list)


def make_receipt(envelope: Envelope, proof: bytes, declaration: Declaration | None = None) -> bytes:
    """The receipt file's bytes (canonical JSON, so the same receipt is the same file).

    It checks nothing: ``envelope`` is one the log holds (verified), ``declaration`` the one
    whose id is recorded in it, and ``proof`` the entry's tlog-proof; :func:`verify_receipt`
    checks all of it."""
    body: Receipt = {
        "receipt": RECEIPT_SPEC,
        "envelope": envelope,
        "declaration": declaration if declaration is not None else WITHHELD,
        "proof": proof.decode("utf-8"),
    }
    return canonical.canonicalize(body)


def _fail(check: str, message: str, hint: str | None = None) -> ReceiptError:
    return ReceiptError(check, f"{check}: {message}", hint=hint, code=E_RECEIPT)


def _step(check: str, verify: Callable[..., _T], *args: Any) -> _T:
    """``verify(*args)``, its failure reported as a failure of step ``check`` (same message
    and code)."""
    try:
        return verify(*args)
    except ReceiptError:
        raise
    except VerificationError as exc:
        raise ReceiptError(check, exc.message, code=exc.code, hint=exc.hint) from exc


def verify_receipt(
    data: bytes,
    keyring: Keyring,
    *,
    output: bytes | None = None,
    origin: str | None = None,
    witnesses: Sequence[CosignerKey] = (),
    min_witnesses: int = 0,
) -> VerifiedReceipt:
    """Verify a receipt offline; raise :class:`ReceiptError` (a
    :class:`~runid.errors.VerificationError`) naming the first failed check and its code.

    With ``witnesses`` (trusted cosigner keys), the checkpoint must carry valid cosignatures of
    at least ``min_witnesses`` of them (``E_WITNESS_QUORUM``; a trusted witness's line that
    does not verify is ``E_COSIGNATURE_BAD``)."""
    if min_witnesses > len(set(witnesses)):
        raise InputError(
            f"{min_witnesses} witnesses required, but {len(set(witnesses))} witness keys given",
            hint="pass each trusted witness's key with --witness VKEY",
            code=E_WITNESS_QUORUM,
        )
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

    record = _step("envelope", verify_envelope, envelope, keyring)
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
        raise _fail("receipt file", "the proof is not UTF-8 text") from None
    parsed = _step("checkpoint", parse_proof, proof_bytes)
    _step("checkpoint", verify_checkpoint, parsed.checkpoint, keyring, origin)
    checkpoint = _step("inclusion", verify_tlog_proof, parsed, leaf_hash(envelope), keyring, origin)
    index = parsed.index
    checks.append(
        f"checkpoint: signed by the log {checkpoint.origin!r}, tree size {checkpoint.size}"
    )
    checks.append(f"inclusion: the record is entry {index} of that tree (root verified)")
    if witnesses or min_witnesses:
        checks.append(
            _step("witnesses", _check_cosignatures, parsed.checkpoint, witnesses, min_witnesses)
        )

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


def _check_cosignatures(note: bytes, witnesses: Sequence[CosignerKey], required: int) -> str:
    found = verify_cosignatures(note, witnesses)
    if len(found) < required:
        trusted = ", ".join(k.label for k in dict.fromkeys(witnesses))
        raise VerificationError(
            f"witnesses: the checkpoint carries cosignatures of {len(found)} of the trusted "
            f"witnesses ({trusted}), {required} required",
            hint="the log did not have this checkpoint witnessed (runid log witness, then runid "
            "log prove-witnessed), or the witness keys are not the ones that cosigned",
            code=E_WITNESS_QUORUM,
        )
    named = ", ".join(f"{c.key.label} at {_when(c.timestamp)}" for c in found)
    return (
        f"cosignatures: {len(found)} trusted witness(es) cosigned the checkpoint, {required} "
        f"required ({named or 'none'})"
    )


def _when(timestamp: int) -> str:
    try:
        return f"{datetime.fromtimestamp(timestamp, UTC):%Y-%m-%dT%H:%M:%SZ}"
    except (OverflowError, OSError, ValueError):
        return f"time {timestamp}"
