"""A log's side of witnessing: submit its checkpoint to witnesses, keep the cosigned checkpoint,
and write receipts that carry the cosignatures.

:func:`witness_log` sends the log's latest signed checkpoint to each witness with C2SP
tlog-witness ``add-checkpoint`` (a consistency proof from the size the witness last cosigned;
a 409 answer names that size and the request is made once more from it), checks each returned
cosignature with the witness's key, and stores the checkpoint with every cosignature it got in
the log's home, ``<home>/witnessed/checkpoint`` (replaced atomically). A checkpoint with
cosignatures is still a valid signed note: everything that reads checkpoints reads it.

:func:`witnessed_receipt` proves an entry against that cosigned checkpoint, so the receipt
carries the cosignatures and ``runid verify --witness VKEY --min-witnesses K`` accepts it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from ..checkpoint import Checkpoint, verify_checkpoint
from ..errors import (
    E_NOT_WITNESSED,
    E_STORE_CORRUPT,
    E_WITNESS_CONFLICT,
    E_WITNESS_INCONSISTENT,
    E_WITNESS_REQUEST,
    E_WITNESS_RESPONSE,
    E_WITNESS_SIGNATURE,
    E_WITNESS_UNKNOWN_LOG,
    E_WITNESS_UNREACHABLE,
    InputError,
    RunidError,
    VerificationError,
)
from ..home import Home
from ..identity import compute_identity
from ..log import Log
from ..note import MAX_NOTE_SIZE, NoteSignature
from ..proof import format_proof
from ..receipt import make_receipt
from ..tlog.cosignature import (
    Cosignature,
    CosignerKey,
    add_signatures,
    parse_signature_lines,
    verify_cosignatures,
)
from ..tlog.witness import format_add_checkpoint
from ..wire import Declaration
from ._files import read_file, replace_file
from ._http import request

__all__ = [
    "WitnessEndpoint",
    "WitnessOutcome",
    "WitnessingReport",
    "cosigned_path",
    "load_cosigned",
    "witness_log",
    "witnessed_receipt",
]

_STATUS_CODES = {
    400: E_WITNESS_REQUEST,
    403: E_WITNESS_SIGNATURE,
    404: E_WITNESS_UNKNOWN_LOG,
    409: E_WITNESS_CONFLICT,
    422: E_WITNESS_INCONSISTENT,
}


@dataclass(frozen=True, slots=True)
class WitnessEndpoint:
    """A witness: its submission prefix URL and its cosigner key."""

    url: str
    key: CosignerKey

    @classmethod
    def parse(cls, text: str) -> WitnessEndpoint:
        """``URL=VKEY`` (the URL may itself hold ``=``: the key is what follows the ``=`` after
        which a cosigner key parses).

        >>> from runid.tlog.cosignature import CosigningKey
        >>> vkey = CosigningKey("w.example", bytes(32)).public.vkey
        >>> WitnessEndpoint.parse("http://127.0.0.1:8080/=" + vkey).url
        'http://127.0.0.1:8080'
        """
        problem: RunidError | None = None
        for i, char in enumerate(text):
            if char != "=":
                continue
            url = text[:i].rstrip("/")
            try:
                key = CosignerKey.parse(text[i + 1 :])
            except InputError as exc:
                problem = exc
                continue
            if not url.startswith(("http://", "https://")):
                break
            return cls(url, key)
        raise InputError(
            f"--witness {text[:200]!r}: expected URL=VKEY, an http(s) URL and a witness's "
            f"cosigner key{f' ({problem.message})' if problem else ''}",
            hint="e.g. http://127.0.0.1:8080=witness.example/w1+<hash>+<base64>; the witness "
            "prints its key with 'runid witness key'",
        )


@dataclass(frozen=True, slots=True)
class WitnessOutcome:
    """What one witness answered: its cosignature, or the error."""

    witness: WitnessEndpoint
    cosignature: Cosignature | None
    error: RunidError | None = None


@dataclass(frozen=True, slots=True)
class WitnessingReport:
    """The checkpoint submitted, the cosigned note stored (``None`` if no witness cosigned),
    and each witness's outcome."""

    checkpoint: Checkpoint
    note: bytes | None
    outcomes: tuple[WitnessOutcome, ...]


def cosigned_path(home: Home) -> Path:
    """Where a log's home keeps its latest cosigned checkpoint."""
    return home.path / "witnessed" / "checkpoint"


def load_cosigned(log: Log) -> tuple[bytes, Checkpoint] | None:
    """The log's latest cosigned checkpoint note (verified as the log's checkpoint), or
    ``None`` if it has none."""
    if log.home is None:
        return None
    note = read_file(cosigned_path(log.home), MAX_NOTE_SIZE)
    if note is None:
        return None
    return note, verify_checkpoint(note, log.keyring, log.origin)


def _refusal(witness: WitnessEndpoint, status: int, body: bytes) -> RunidError:
    reason = body.decode("utf-8", "replace").strip().splitlines()
    said = f": {reason[0][:300]}" if reason else ""
    code = _STATUS_CODES.get(status)
    message = f"witness {witness.url} answered {status}{said}"
    if code == E_WITNESS_INCONSISTENT:
        return VerificationError(
            message,
            hint="the witness saw another history of this log: the log forked or was rewritten",
            code=code,
        )
    if code is None:
        return VerificationError(message, code=E_WITNESS_RESPONSE)
    return VerificationError(message, code=code)


def _submit(
    log: Log,
    checkpoint: Checkpoint,
    note: bytes,
    witness: WitnessEndpoint,
    *,
    old: int,
    timeout: float,
) -> tuple[Cosignature, list[NoteSignature]]:
    for attempt in range(2):
        proof = (
            log.store.consistency_proof(old, checkpoint.size) if 0 < old < checkpoint.size else []
        )
        response = request(
            witness.url + "/add-checkpoint",
            body=format_add_checkpoint(old, proof, note),
            limit=64 * 1024,
            timeout=timeout,
            code=E_WITNESS_UNREACHABLE,
        )
        if response.status == 409 and attempt == 0:
            text = response.body.decode("ascii", "replace").strip()
            if not text.isdigit():
                raise _refusal(witness, 409, response.body)
            old = int(text)
            if old > checkpoint.size:
                raise VerificationError(
                    f"witness {witness.url} has cosigned a tree of size {old} of "
                    f"{checkpoint.origin!r}, larger than the log's {checkpoint.size}: the log "
                    "was rolled back, or another history of it was witnessed",
                    code=E_WITNESS_CONFLICT,
                )
            continue
        if response.status != 200:
            raise _refusal(witness, response.status, response.body)
        try:
            lines = parse_signature_lines(response.body)
            found = verify_cosignatures(add_signatures(note, lines), [witness.key])
        except RunidError as exc:
            raise VerificationError(
                f"witness {witness.url}: its answer is not a valid cosignature ({exc.message})",
                code=E_WITNESS_RESPONSE,
            ) from None
        if not found:
            raise VerificationError(
                f"witness {witness.url} answered no cosignature by {witness.key.label}",
                hint="check the witness's key (runid witness key on the witness)",
                code=E_WITNESS_RESPONSE,
            )
        own = [s for s in lines if (s.name, s.key_hash) == (witness.key.name, witness.key.key_hash)]
        return found[0], own
    raise AssertionError("unreachable")  # pragma: no cover


def witness_log(
    log: Log, witnesses: Sequence[WitnessEndpoint], *, timeout: float = 10.0
) -> WitnessingReport:
    """Submit the log's latest checkpoint to ``witnesses``; store it with the cosignatures got.

    Cosignatures the home already holds for the same checkpoint are kept. Never raises for
    a witness's refusal: each outcome says what happened (the caller decides the exit code).
    """
    if log.home is None:
        raise InputError("witnessing needs a log opened in a home (Log.open)")
    note = log.checkpoint()
    checkpoint = verify_checkpoint(note, log.keyring, log.origin)
    previous = load_cosigned(log)
    old = previous[1].size if previous and previous[1].size <= checkpoint.size else 0
    outcomes = []
    lines: list[NoteSignature] = []
    for witness in witnesses:
        try:
            cosignature, own = _submit(log, checkpoint, note, witness, old=old, timeout=timeout)
        except RunidError as exc:
            outcomes.append(WitnessOutcome(witness, None, exc))
            continue
        outcomes.append(WitnessOutcome(witness, cosignature))
        lines.extend(own)
    if not lines:
        return WitnessingReport(checkpoint, None, tuple(outcomes))
    if previous is not None and previous[1] == checkpoint:
        note = previous[0]  # the same checkpoint: keep the cosignatures it has
    cosigned = add_signatures(note, lines)
    replace_file(cosigned_path(log.home), cosigned)
    return WitnessingReport(checkpoint, cosigned, tuple(outcomes))


def witnessed_receipt(
    log: Log,
    ref: str | int,
    declaration: Mapping[str, Any] | None = None,
    *,
    include_stored: bool = True,
) -> bytes:
    """A receipt for entry ``ref`` proven against the log's latest cosigned checkpoint, so it
    carries the witnesses' cosignatures. Raises :class:`~runid.errors.InputError`
    (``E_NOT_WITNESSED``) when the home has no cosigned checkpoint or the entry came later."""
    entry = log.entry(ref)
    found = load_cosigned(log)
    if found is None:
        raise InputError(
            "this log has no cosigned checkpoint yet",
            hint="submit its checkpoint to witnesses first: runid log witness --witness URL=VKEY",
            code=E_NOT_WITNESSED,
        )
    note, checkpoint = found
    if entry.index >= checkpoint.size:
        raise InputError(
            f"entry {entry.index} was appended after the latest witnessed checkpoint (size "
            f"{checkpoint.size})",
            hint="run 'runid log witness' again to have the current checkpoint cosigned",
            code=E_NOT_WITNESSED,
        )
    if log.store.root(checkpoint.size) != checkpoint.root:
        raise VerificationError(
            f"the cosigned checkpoint of size {checkpoint.size} does not match the log's tree",
            hint=f"{cosigned_path(log.home) if log.home else 'it'} belongs to another log or "
            "history; remove it and witness again",
            code=E_STORE_CORRUPT,
        )
    included: Declaration | None = None
    if declaration is not None:
        computed = compute_identity(declaration).declaration_id  # validates it
        if computed != entry.record["declaration_id"]:
            raise InputError(
                f"the declaration's id {computed} is not the one recorded in entry "
                f"{entry.index} ({entry.record['declaration_id']})"
            )
        included = cast(Declaration, dict(declaration))
    elif include_stored:
        included = log.declaration(entry.record["declaration_id"])
    hashes = log.store.inclusion_proof(entry.index, checkpoint.size)
    proof = format_proof(entry.index, hashes, note)
    return make_receipt(entry.envelope, proof, included)
