"""C2SP tlog-witness (https://c2sp.org/tlog-witness): ``add-checkpoint`` and a witness's checks.

A log asks a witness to cosign its new checkpoint with ``POST <prefix>/add-checkpoint``::

    old <tree size of the checkpoint the witness last cosigned for this log, 0 if none>
    <base64 hash>                  (0 to 63 lines: the consistency proof from old to new)
    <empty line>
    <the signed checkpoint note>

The witness keeps, per log (origin), the size and root it last cosigned, and cosigns only a
checkpoint that extends them. Everything here is pure; the witness's state, its key and HTTP
are the caller's (:mod:`runid.transparency.witness_state`, :mod:`runid._server.witness`). Each
refusal is a :class:`WitnessRefusedError` with the HTTP status the spec gives it:

====  ===========================  ==========================================================
400   ``E_WITNESS_REQUEST``        not an add-checkpoint body; old size above the new size
403   ``E_WITNESS_SIGNATURE``      no valid signature by a key trusted for the origin
404   ``E_WITNESS_UNKNOWN_LOG``    the origin is not a log this witness follows
409   ``E_WITNESS_CONFLICT``       old size is not the size last cosigned (body: that size)
422   ``E_WITNESS_INCONSISTENT``   the proof does not lead from the witnessed root to the new
                                   one; same size, another root; size 0, another root
====  ===========================  ==========================================================

>>> note = b"o\\n0\\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\\n\\n"
>>> body = format_add_checkpoint(0, [], note)
>>> body.split(b"\\n")[:2]
[b'old 0', b'']
>>> parse_add_checkpoint(body).old_size
0
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from ..checkpoint import Checkpoint, parse_checkpoint
from ..errors import (
    E_WITNESS_CONFLICT,
    E_WITNESS_INCONSISTENT,
    E_WITNESS_REQUEST,
    E_WITNESS_SIGNATURE,
    E_WITNESS_UNKNOWN_LOG,
    VerificationError,
)
from ..keys import Keyring
from ..merkle import EMPTY_ROOT, HASH_SIZE, verify_consistency
from ..note import MAX_NOTE_SIZE, NoteSignature, b64decode_canonical, open_note, split_note

__all__ = [
    "MAX_PROOF_LINES",
    "MAX_REQUEST_SIZE",
    "SIZE_CONTENT_TYPE",
    "AddCheckpoint",
    "LogState",
    "Submission",
    "WitnessRefusedError",
    "check_consistency",
    "check_submission",
    "format_add_checkpoint",
    "origin_hash",
    "parse_add_checkpoint",
    "witnessed_note",
]

MAX_PROOF_LINES: Final = 63
"""Most consistency proof lines a request may carry."""

MAX_REQUEST_SIZE: Final = MAX_NOTE_SIZE + 64 * (MAX_PROOF_LINES + 1)
"""Largest add-checkpoint body accepted, in bytes."""

SIZE_CONTENT_TYPE: Final = "text/x.tlog.size"
"""The content type of a 409 response, whose body is the witnessed size and a newline."""

_OLD = re.compile(rb"old (0|[1-9][0-9]{0,18})")
_EMPTY_ROOT_B64 = base64.b64encode(EMPTY_ROOT).decode("ascii")
_CODES: Final = {
    400: E_WITNESS_REQUEST,
    403: E_WITNESS_SIGNATURE,
    404: E_WITNESS_UNKNOWN_LOG,
    409: E_WITNESS_CONFLICT,
    422: E_WITNESS_INCONSISTENT,
}


class WitnessRefusedError(VerificationError):
    """The witness will not cosign: ``status`` is the HTTP status tlog-witness gives the case;
    ``size`` (409 only) the size the witness last cosigned for the log."""

    def __init__(self, status: int, message: str, *, size: int | None = None) -> None:
        super().__init__(message, code=_CODES[status])
        self.status = status
        self.size = size

    @property
    def content_type(self) -> str:
        return SIZE_CONTENT_TYPE if self.status == 409 else "text/plain; charset=utf-8"

    def body(self) -> bytes:
        """The response body: the witnessed size for 409 (as the spec says), else the reason."""
        if self.status == 409:
            return b"%d\n" % (self.size or 0)
        return self.message.encode("utf-8") + b"\n"


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    """An add-checkpoint request: the old size, the consistency proof, the signed note."""

    old_size: int
    proof: tuple[bytes, ...]
    note: bytes


@dataclass(frozen=True, slots=True)
class LogState:
    """What a witness keeps per log: the size and root of the checkpoint it last cosigned."""

    size: int
    root: bytes


@dataclass(frozen=True, slots=True)
class Submission:
    """A checkpoint whose signature by the log verified: its origin and fields, its text, and
    the log's signature lines that verified."""

    checkpoint: Checkpoint
    text: str
    signatures: tuple[NoteSignature, ...]

    @property
    def origin(self) -> str:
        return self.checkpoint.origin


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], note: bytes) -> bytes:
    """The body of an add-checkpoint request."""
    lines = [f"old {old_size}", *(base64.b64encode(h).decode("ascii") for h in proof)]
    return "".join(line + "\n" for line in lines).encode("ascii") + b"\n" + note


def _bad(message: str) -> WitnessRefusedError:
    return WitnessRefusedError(400, f"add-checkpoint: {message}")


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Parse an add-checkpoint body strictly (status 400 for anything malformed)."""
    if not isinstance(body, bytes):
        raise _bad("the body is not bytes")
    if len(body) > MAX_REQUEST_SIZE:
        raise _bad(f"{len(body)} bytes, more than the limit of {MAX_REQUEST_SIZE}")
    end = body.find(b"\n")
    match = _OLD.fullmatch(body[:end]) if end >= 0 else None
    if match is None:
        raise _bad("the first line is not 'old <size>' (a decimal without leading zeros)")
    old_size = int(match.group(1))
    pos = end + 1
    proof: list[bytes] = []
    while True:
        end = body.find(b"\n", pos)
        if end < 0:
            raise _bad("no empty line before the checkpoint")
        line = body[pos:end]
        pos = end + 1
        if not line:
            break
        if len(proof) == MAX_PROOF_LINES:
            raise _bad(f"more than {MAX_PROOF_LINES} consistency proof lines")
        digest = b64decode_canonical(line.decode("ascii", "replace"))
        if digest is None or len(digest) != HASH_SIZE:
            raise _bad(f"proof line {len(proof) + 1} is not base64 of a {HASH_SIZE}-byte hash")
        proof.append(digest)
    return AddCheckpoint(old_size, tuple(proof), body[pos:])


def check_submission(request: AddCheckpoint, logs: Mapping[str, Keyring]) -> Submission:
    """Check the submitted checkpoint against the logs the witness follows (origin -> trusted
    keys): known origin (404), a valid signature by a trusted key and none failing (403), a
    well-formed checkpoint (400; size 0 with another root than the empty tree's: 422)."""
    try:
        text, signatures = split_note(request.note)
    except VerificationError as exc:
        raise _bad(f"the checkpoint is not a signed note ({exc.message})") from None
    origin = text.split("\n", 1)[0]
    keyring = logs.get(origin)
    if keyring is None:
        raise WitnessRefusedError(404, f"this witness does not follow the log {origin[:200]!r}")
    lines = text.split("\n")
    if len(lines) > 2 and lines[1] == "0" and lines[2] != _EMPTY_ROOT_B64:
        raise WitnessRefusedError(422, "a checkpoint of size 0 must have the empty tree's root")
    try:
        note = open_note(request.note, keyring)
    except VerificationError as exc:
        raise WitnessRefusedError(403, f"checkpoint of {origin!r}: {exc.message}") from None
    try:
        checkpoint = parse_checkpoint(note.text)
    except VerificationError as exc:
        raise _bad(exc.message) from None
    verified = {(k.name, k.note_hash) for k in note.keys}
    own = tuple(s for s in dict.fromkeys(signatures) if (s.name, s.key_hash) in verified)
    return Submission(checkpoint, text, own)


def check_consistency(
    request: AddCheckpoint, submission: Submission, state: LogState | None
) -> LogState:
    """The witness's consistency checks against what it last cosigned for the log (``state``,
    ``None`` if nothing); the new state to store before cosigning. Raises
    :class:`WitnessRefusedError` (400, 409, 422). Run it and store its result atomically."""
    new = submission.checkpoint
    old = request.old_size
    if old > new.size:
        raise _bad(f"old size {old} is larger than the checkpoint's size {new.size}")
    current = state.size if state is not None else 0
    if old != current:
        raise WitnessRefusedError(
            409,
            f"old size {old} is not the size this witness last cosigned for {new.origin!r}: "
            f"{current}",
            size=current,
        )
    proof = list(request.proof)
    if old == 0:
        if proof:
            raise WitnessRefusedError(422, "a consistency proof from size 0 must be empty")
    elif state is not None and old == new.size:
        if proof or new.root != state.root:
            raise WitnessRefusedError(
                422,
                f"the checkpoint of size {new.size} has root {new.root.hex()[:16]}..., but this "
                f"witness cosigned root {state.root.hex()[:16]}... for that size: the log forked",
            )
    elif state is not None:
        try:
            verify_consistency(old, new.size, proof, state.root, new.root)
        except VerificationError:
            raise WitnessRefusedError(
                422,
                f"the checkpoint of size {new.size} is not consistent with the tree of size "
                f"{old} (root {state.root.hex()[:16]}...) this witness cosigned for "
                f"{new.origin!r}: the log forked or rewrote its history",
            ) from None
    return LogState(new.size, new.root)


def witnessed_note(submission: Submission, cosignatures: Sequence[NoteSignature]) -> bytes:
    """The checkpoint as the witness serves it to monitors: the text, the log's signatures
    that verified, and the witness's cosignatures."""
    lines = [*submission.signatures, *cosignatures]
    block = "".join(s.line() + "\n" for s in lines)
    return (submission.text + "\n" + block).encode("utf-8")


def origin_hash(origin: str) -> str:
    """The lowercase hex SHA-256 of an origin: the path element of a witness's monitoring
    endpoint ``<prefix>/<origin hash>/checkpoint``."""
    return hashlib.sha256(origin.encode("utf-8")).hexdigest()
