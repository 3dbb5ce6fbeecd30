"""C2SP transparency log proofs (https://c2sp.org/tlog-proof): offline inclusion receipts.

A proof is text; every line ends in a newline (U+000A)::

    c2sp.org/tlog-proof@v1
    extra <base64 of opaque extra data>           (optional)
    index <leaf index, decimal, no leading zeros>
    <base64 of a 32-byte hash>                    (zero or more: the inclusion proof,
    ...                                            from the leaf's sibling up to the root's child)
    <empty line>
    <the signed checkpoint note, verbatim>

:func:`parse_proof` checks the syntax of all of it (the embedded note and checkpoint included)
without checking any signature; :func:`verify_tlog_proof` verifies the signed checkpoint
(:func:`runid.checkpoint.verify_checkpoint`), then that the index is inside its tree, then the
inclusion proof (:func:`runid.merkle.verify_inclusion`). The extra data is not authenticated.

Reading raises :class:`~runid.errors.VerificationError`: ``E_PROOF_MALFORMED`` (the proof lines),
``E_PROOF_TOO_LARGE``, ``E_PROOF_INDEX`` (index not below the tree size),
``E_PROOF_INCLUSION`` (the inclusion proof fails; a
:class:`~runid.merkle.RootMismatchError` if it leads to another root), and the ``E_NOTE_*`` and
``E_CHECKPOINT_*`` codes of the signed checkpoint. Writing (:func:`format_proof`,
:class:`TlogProof`) raises :class:`~runid.errors.InputError` (``E_PROOF_FIELD``) or
:class:`~runid.errors.LimitExceededError` (``E_PROOF_TOO_LARGE``).

>>> from runid.checkpoint import sign_checkpoint
>>> from runid.keys import SigningKey
>>> from runid.merkle import inclusion_proof, leaf_hash, root
>>> key = SigningKey("example.com/log", bytes(32))
>>> leaves = [leaf_hash(d) for d in (b"a", b"b", b"c")]
>>> signed = sign_checkpoint(Checkpoint("example.com/log", 3, root(leaves)), key)
>>> data = format_proof(2, inclusion_proof(leaves, 2, 3), signed)
>>> print(data.decode().split("\\n\\n")[0])
c2sp.org/tlog-proof@v1
index 2
sTeYX/SE+2ANuTEHx3sDZcgNePW0Kd7Q/Zc2HQd5mes=
>>> verify_tlog_proof(data, leaves[2], Keyring([key.public_key]), "example.com/log").size
3
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from .checkpoint import MAX_TREE_SIZE, Checkpoint, parse_checkpoint, verify_checkpoint
from .errors import (
    E_PROOF_FIELD,
    E_PROOF_INCLUSION,
    E_PROOF_INDEX,
    E_PROOF_MALFORMED,
    E_PROOF_TOO_LARGE,
    InputError,
    LimitExceededError,
    VerificationError,
)
from .keys import Keyring
from .merkle import HASH_SIZE, inclusion_proof_ranges, verify_inclusion
from .note import MAX_NOTE_SIZE, b64decode_canonical, split_note

__all__ = [
    "HEADER",
    "MAX_PROOF_HASHES",
    "MAX_PROOF_SIZE",
    "TlogProof",
    "format_proof",
    "parse_proof",
    "verify_tlog_proof",
]

HEADER: Final = "c2sp.org/tlog-proof@v1"
"""The first line of every proof."""

MAX_PROOF_HASHES: Final = 63
"""Most inclusion proof hashes: a tree of at most 2^63 - 1 leaves never needs more."""

MAX_PROOF_SIZE: Final = 2 * MAX_NOTE_SIZE
"""Largest proof accepted or written, in bytes; the checkpoint note in it is limited as well."""

_INDEX = re.compile(r"index (0|[1-9][0-9]{0,18})")
_NOT_PRINTABLE = re.compile(rb"[^\x20-\x7e]")
_MALFORMED = E_PROOF_MALFORMED
_HINT = (
    "a tlog-proof is: 'c2sp.org/tlog-proof@v1', optional 'extra <base64>', 'index <n>', "
    "base64 hashes, an empty line, then the signed checkpoint"
)


@dataclass(frozen=True, slots=True)
class TlogProof:
    """A parsed proof. ``checkpoint`` is the signed checkpoint note, verbatim and unverified.

    Construction checks the field types and ranges and raises
    :class:`~runid.errors.InputError` (``E_PROOF_FIELD``).
    """

    index: int
    hashes: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None

    def __post_init__(self) -> None:
        hashes: object = self.hashes
        if isinstance(hashes, Sequence) and not isinstance(hashes, str | bytes):
            object.__setattr__(self, "hashes", tuple(hashes))
        problem = _field_problem(self.index, self.hashes, self.checkpoint, self.extra)
        if problem is not None:
            raise InputError(f"invalid tlog-proof: {problem}", code=E_PROOF_FIELD)

    def to_bytes(self) -> bytes:
        """The proof in the tlog-proof text format; the same as :func:`format_proof`."""
        return format_proof(self.index, self.hashes, self.checkpoint, self.extra)


def _field_problem(index: object, hashes: object, checkpoint: object, extra: object) -> str | None:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < MAX_TREE_SIZE:
        return f"index must be an integer in [0, 2^63 - 1), got {index!r:.40}"
    if not isinstance(hashes, tuple):
        return f"hashes must be a sequence of {HASH_SIZE}-byte hashes"
    if len(hashes) > MAX_PROOF_HASHES:
        return f"{len(hashes)} hashes, more than the {MAX_PROOF_HASHES} any tree needs"
    for i, h in enumerate(hashes):
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            return f"hash {i} must be {HASH_SIZE} bytes, got {h!r:.40}"
    if not isinstance(checkpoint, bytes):
        return f"the signed checkpoint must be bytes, got a {type(checkpoint).__name__}"
    if extra is not None and not isinstance(extra, bytes):
        return f"extra must be bytes or None, got a {type(extra).__name__}"
    return None


def format_proof(
    index: int, hashes: Sequence[bytes], signed_checkpoint: bytes, extra: bytes | None = None
) -> bytes:
    """Write a proof of leaf ``index`` with its inclusion proof ``hashes``.

        Besides the field checks of :class:`TlogProof`, the signed checkpoint must be a well-formed
        signed note holding a checkpoint (its signatures are not checked here), ``index`` must be
        inside its tree, and ``hashes`` as long as the inclusion proof for that index and size.
        Failures raise :class:`~runid.errors.InputError` (``E_PROOF_FIELD``).

        >>> from runid.checkpoint import sign_checkpoint
    >>> from runid.keys import SigningKey
    >>> from runid.merkle import leaf_hash
        >>> key = SigningKey("example.com/log", bytes(32))
        >>> signed = sign_checkpoint(Checkpoint("example.com/log", 1, leaf_hash(b"a")), key)
        >>> format_proof(0, [], signed, extra=b"hi").split(b"\\n")[:4]
        [b'c2sp.org/tlog-proof@v1', b'extra aGk=', b'index 0', b'']
        >>> format_proof(1, [], signed)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        runid.errors.InputError: invalid tlog-proof: index 1 is not in the checkpoint's tree of ...
    """
    if isinstance(hashes, str | bytes) or not isinstance(hashes, Sequence):
        raise InputError("hashes must be a sequence of 32-byte hashes", code=E_PROOF_FIELD)
    hashes = tuple(hashes)
    problem = _field_problem(index, hashes, signed_checkpoint, extra)
    if problem is not None:
        raise InputError(f"invalid tlog-proof: {problem}", code=E_PROOF_FIELD)
    try:
        text, _signatures = split_note(signed_checkpoint)
        cp = parse_checkpoint(text)
    except VerificationError as exc:
        raise InputError(
            f"invalid tlog-proof: the signed checkpoint: {exc.message}", code=E_PROOF_FIELD
        ) from None
    if index >= cp.size:
        raise InputError(
            f"invalid tlog-proof: index {index} is not in the checkpoint's tree of size {cp.size}",
            code=E_PROOF_FIELD,
        )
    want = len(inclusion_proof_ranges(index, cp.size))
    if len(hashes) != want:
        raise InputError(
            f"invalid tlog-proof: the inclusion proof of leaf {index} in a tree of {cp.size} "
            f"has {want} hashes, got {len(hashes)}",
            code=E_PROOF_FIELD,
        )
    lines = [HEADER]
    if extra is not None:
        lines.append("extra " + base64.b64encode(extra).decode("ascii"))
    lines.append(f"index {index}")
    lines.extend(base64.b64encode(h).decode("ascii") for h in hashes)
    data = "".join(line + "\n" for line in lines).encode("ascii") + b"\n" + signed_checkpoint
    if len(data) > MAX_PROOF_SIZE:
        raise LimitExceededError(
            f"the proof would be {len(data)} bytes, more than the limit of {MAX_PROOF_SIZE}",
            code=E_PROOF_TOO_LARGE,
        )
    return data


def _malformed(message: str) -> VerificationError:
    return VerificationError(f"tlog-proof: {message}", hint=_HINT, code=_MALFORMED)


class _Lines:
    """Reads the ASCII lines of the head of a proof, before the checkpoint."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.number = 0

    def next(self) -> str:
        end = self.data.find(b"\n", self.pos)
        self.number += 1
        if end < 0:
            raise _malformed(f"line {self.number} does not end with a newline (truncated?)")
        raw = self.data[self.pos : end]
        self.pos = end + 1
        if _NOT_PRINTABLE.search(raw) is not None:
            raise _malformed(f"line {self.number} holds a byte that is not printable ASCII")
        return raw.decode("ascii")


def parse_proof(data: bytes) -> TlogProof:
    """Parse a proof strictly; the signed checkpoint is checked for syntax, not signatures.

    Every line must be exactly as the format says: the header; ``extra`` and one space and
    canonical standard base64 (optional); ``index`` and one space and a decimal without leading
    zeros below 2^63 - 1; at most :data:`MAX_PROOF_HASHES` lines of canonical base64 of 32 bytes;
    an empty line; a well-formed signed note (:mod:`runid.note`) whose text is a checkpoint.
    Failures raise :class:`~runid.errors.VerificationError` (see the module docstring).

    >>> parse_proof(b"c2sp.org/tlog-proof@v1\\nindex 01\\n")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    runid.errors.VerificationError: tlog-proof: line 2 is not 'index <n>' ...
    """
    if not isinstance(data, bytes):
        raise _malformed(f"expected bytes, got a {type(data).__name__}")
    if len(data) > MAX_PROOF_SIZE:
        raise VerificationError(
            f"tlog-proof: {len(data)} bytes, more than the limit of {MAX_PROOF_SIZE}",
            code=E_PROOF_TOO_LARGE,
        )
    lines = _Lines(data)
    if lines.next() != HEADER:
        raise _malformed(f"the first line is not {HEADER!r}")
    line = lines.next()
    extra = None
    if line.startswith("extra "):
        extra = b64decode_canonical(line[len("extra ") :])
        if extra is None:
            raise _malformed(f"line {lines.number}: extra data is not canonical standard base64")
        line = lines.next()
    match = _INDEX.fullmatch(line)
    if match is None:
        raise _malformed(
            f"line {lines.number} is not 'index <n>' (a decimal without leading zeros, at most "
            "19 digits)"
        )
    index = int(match.group(1))
    if index >= MAX_TREE_SIZE:
        raise _malformed(f"line {lines.number}: index {index} is outside every checkpoint's tree")
    hashes: list[bytes] = []
    while (line := lines.next()) != "":
        if len(hashes) == MAX_PROOF_HASHES:
            raise _malformed(
                f"more than {MAX_PROOF_HASHES} inclusion proof hashes (or no empty line before "
                "the checkpoint)"
            )
        h = b64decode_canonical(line)
        if h is None or len(h) != HASH_SIZE:
            raise _malformed(
                f"line {lines.number} is not canonical base64 of a {HASH_SIZE}-byte hash (or the "
                "empty line before the checkpoint is missing)"
            )
        hashes.append(h)
    checkpoint = data[lines.pos :]
    try:
        text, _signatures = split_note(checkpoint)
        parse_checkpoint(text)
    except VerificationError as exc:
        raise VerificationError(
            f"tlog-proof: the signed checkpoint (from line {lines.number + 1}): {exc.message}",
            hint=exc.hint,
            code=exc.code,
        ) from None
    return TlogProof(index, tuple(hashes), checkpoint, extra)


def verify_tlog_proof(
    proof: TlogProof | bytes, leaf_hash: bytes, keyring: Keyring, origin: str | None = None
) -> Checkpoint:
    """Verify that the leaf with ``leaf_hash`` is in the log, and return the log's checkpoint.

    ``proof`` is a :class:`TlogProof` or proof bytes (parsed with :func:`parse_proof`);
    ``leaf_hash`` is the RFC 9162 leaf hash of the logged entry (:func:`runid.merkle.leaf_hash`).
    In this order: the signed checkpoint verifies (:func:`runid.checkpoint.verify_checkpoint`,
    with ``origin`` if given); the index is below the tree size (``E_PROOF_INDEX``); the
    inclusion proof leads from the leaf to the checkpoint's root (``E_PROOF_INCLUSION``). Any
    failure raises :class:`~runid.errors.VerificationError`.

    >>> from runid.checkpoint import sign_checkpoint
    >>> from runid.keys import SigningKey
    >>> from runid.merkle import leaf_hash
    >>> key = SigningKey("example.com/log", bytes(32))
    >>> signed = sign_checkpoint(Checkpoint("example.com/log", 1, leaf_hash(b"a")), key)
    >>> proof = format_proof(0, [], signed)
    >>> verify_tlog_proof(proof, leaf_hash(b"a"), Keyring([key.public_key])).root.hex()[:8]
    '022a6979'
    >>> verify_tlog_proof(proof, leaf_hash(b"b"), Keyring([key.public_key]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    runid.merkle.RootMismatchError: inclusion proof for leaf 0 of 1: the proof leads to root ...
    """
    if isinstance(proof, bytes):
        proof = parse_proof(proof)
    elif not isinstance(proof, TlogProof):
        raise _malformed(f"expected a TlogProof or bytes, got a {type(proof).__name__}")
    cp = verify_checkpoint(proof.checkpoint, keyring, origin)
    if proof.index >= cp.size:
        raise VerificationError(
            f"tlog-proof: index {proof.index} is not in the checkpoint's tree of size {cp.size}",
            code=E_PROOF_INDEX,
        )
    try:
        verify_inclusion(leaf_hash, proof.index, cp.size, list(proof.hashes), cp.root)
    except VerificationError as exc:
        exc.code = E_PROOF_INCLUSION
        raise
    return cp
