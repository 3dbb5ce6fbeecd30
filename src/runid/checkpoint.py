"""C2SP transparency log checkpoints (https://c2sp.org/tlog-checkpoint).

A checkpoint is the text of a signed note (:mod:`runid.note`) stating a log's tree head::

    <origin>
    <tree size, decimal, no leading zeros>
    <root hash, base64 of 32 bytes>
    [extension lines]

each line ending in a newline. In runid the log signs its checkpoints with an Ed25519 key whose
name is the origin; :func:`verify_checkpoint` insists on that, so a key trusted for one log cannot
vouch for another log's tree.

Reading (:func:`parse_checkpoint`, :func:`verify_checkpoint`) raises
:class:`~runid.errors.VerificationError`: ``E_CHECKPOINT_MALFORMED`` for text that is not a
checkpoint, ``E_CHECKPOINT_ORIGIN`` for another log's checkpoint, ``E_CHECKPOINT_KEY`` if no
trusted key named after the origin signed it, and the ``E_NOTE_*`` codes of
:func:`runid.note.open_note`. Writing (:class:`Checkpoint`, :func:`sign_checkpoint`) raises
:class:`~runid.errors.InputError`: ``E_CHECKPOINT_FIELD`` and ``E_CHECKPOINT_KEY``.

>>> from runid.merkle import leaf_hash
>>> key = SigningKey("example.com/log", bytes(32))
>>> cp = Checkpoint("example.com/log", 1, leaf_hash(b"record"))
>>> print(cp.body(), end="")
example.com/log
1
5hChEu3XXdtX6k0u0ZGghryRPOWQu48rbbldPMP+Lg4=
>>> verify_checkpoint(sign_checkpoint(cp, key), Keyring([key.public_key])) == cp
True
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from .errors import (
    E_CHECKPOINT_FIELD,
    E_CHECKPOINT_KEY,
    E_CHECKPOINT_MALFORMED,
    E_CHECKPOINT_ORIGIN,
    E_NOTE_KEYS,
    E_NOTE_TOO_LARGE,
    InputError,
    VerificationError,
)
from .keys import Keyring, SigningKey
from .merkle import EMPTY_ROOT, HASH_SIZE
from .note import (
    MAX_NOTE_SIZE,
    b64decode_canonical,
    open_note,
    sign_note,
    split_note,
    text_problem,
)

__all__ = [
    "MAX_TREE_SIZE",
    "Checkpoint",
    "parse_checkpoint",
    "sign_checkpoint",
    "verify_checkpoint",
]

MAX_TREE_SIZE: Final = (1 << 63) - 1
"""Largest tree size a checkpoint may state (a signed 64-bit integer, as Go's tlog uses)."""

# ASCII digits only (str.isdigit would take other scripts' digits); at most 19 of them, so int()
# never parses a long string.
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
_MALFORMED = E_CHECKPOINT_MALFORMED
_HINT = "a checkpoint is: origin, tree size, base64 root hash, optional extension lines"


def _line_problem(what: str, line: object) -> str | None:
    if not isinstance(line, str):
        return f"{what} must be a str, got a {type(line).__name__}"
    if not line:
        return f"{what} is empty"
    if "\n" in line:
        return f"{what} holds a newline"
    problem = text_problem(line)
    return None if problem is None else f"{what}: {problem}"


def _problem(origin: object, size: object, root: object, extensions: object) -> str | None:
    """The first thing wrong with these checkpoint fields, or ``None``."""
    problem = _line_problem("origin", origin)
    if problem is not None:
        return problem
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_TREE_SIZE:
        return f"tree size must be an integer in [0, 2^63 - 1], got {size!r:.40}"
    if not isinstance(root, bytes) or len(root) != HASH_SIZE:
        return f"root hash must be {HASH_SIZE} bytes, got {root!r:.60}"
    if size == 0 and root != EMPTY_ROOT:
        return "the root of the empty tree (size 0) must be SHA-256 of the empty string"
    if not isinstance(extensions, tuple):
        return f"extensions must be a tuple of str, got a {type(extensions).__name__}"
    for i, line in enumerate(extensions):
        problem = _line_problem(f"extension line {i}", line)
        if problem is not None:
            return problem
    return None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's tree head: origin, tree size, root hash, and opaque extension lines.

    Construction checks every field and raises :class:`~runid.errors.InputError`
    (``E_CHECKPOINT_FIELD``) if one is invalid.

    >>> Checkpoint("example.com/log", 0, EMPTY_ROOT).body()
    'example.com/log\\n0\\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\\n'
    >>> Checkpoint("", 0, EMPTY_ROOT)
    Traceback (most recent call last):
    ...
    runid.errors.InputError: invalid checkpoint: origin is empty
    """

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        extensions: object = self.extensions
        if isinstance(extensions, Sequence) and not isinstance(extensions, str | bytes):
            object.__setattr__(self, "extensions", tuple(extensions))
        problem = _problem(self.origin, self.size, self.root, self.extensions)
        if problem is not None:
            raise InputError(f"invalid checkpoint: {problem}", code=E_CHECKPOINT_FIELD)

    def body(self) -> str:
        """The checkpoint as note text: one field per line, every line ending in a newline."""
        root = base64.b64encode(self.root).decode("ascii")
        lines = [self.origin, str(self.size), root, *self.extensions]
        return "".join(line + "\n" for line in lines)


def _malformed(message: str) -> VerificationError:
    return VerificationError(f"checkpoint: {message}", hint=_HINT, code=_MALFORMED)


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse checkpoint text (the text of a signed note); no signature is checked here.

    Strict: the text ends in a newline; it has at least three lines, none empty; the size is
    ASCII decimal without leading zeros, at most 2^63 - 1; the root is canonical standard base64
    of exactly 32 bytes (and for size 0 the empty-tree root); later lines are extensions. Any
    failure raises :class:`~runid.errors.VerificationError` (``E_CHECKPOINT_MALFORMED``). Only
    use the result of text whose signature you verified: see :func:`verify_checkpoint`.

    >>> text = "example.com/log\\n0\\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\\n"
    >>> cp = parse_checkpoint(text)
    >>> cp.origin, cp.size, cp.root == EMPTY_ROOT
    ('example.com/log', 0, True)
    >>> parse_checkpoint("example.com/log\\n007\\nAAAA\\n")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    runid.errors.VerificationError: checkpoint: line 2: tree size '007' is not a decimal ...
    """
    if not isinstance(text, str):
        raise _malformed(f"expected a str, got a {type(text).__name__}")
    if len(text) > MAX_NOTE_SIZE:
        raise VerificationError(
            f"checkpoint: {len(text)} characters, more than the limit of {MAX_NOTE_SIZE}",
            code=E_NOTE_TOO_LARGE,
        )
    if not text.endswith("\n"):
        raise _malformed("the text does not end with a newline")
    problem = text_problem(text)
    if problem is not None:
        raise _malformed(problem)
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise _malformed(f"{len(lines)} lines; origin, tree size and root hash are required")
    for number, line in enumerate(lines, 1):
        if not line:
            raise _malformed(f"line {number} is empty")
    origin, size_text, root_text, *extensions = lines
    if _DECIMAL.fullmatch(size_text) is None:
        raise _malformed(
            f"line 2: tree size {size_text[:40]!r} is not a decimal number without leading "
            "zeros (at most 19 digits)"
        )
    size = int(size_text)
    if size > MAX_TREE_SIZE:
        raise _malformed(f"line 2: tree size {size} is larger than 2^63 - 1")
    root = b64decode_canonical(root_text)
    if root is None or len(root) != HASH_SIZE:
        raise _malformed(f"line 3: root hash is not canonical base64 of {HASH_SIZE} bytes")
    problem = _problem(origin, size, root, tuple(extensions))
    if problem is not None:
        raise _malformed(problem)
    return Checkpoint(origin, size, root, tuple(extensions))


def sign_checkpoint(cp: Checkpoint, key: SigningKey) -> bytes:
    """Sign a checkpoint as a signed note with the log's key, which must be named ``cp.origin``.

    >>> key = SigningKey("example.com/log", bytes(32))
    >>> signed = sign_checkpoint(Checkpoint("example.com/log", 0, EMPTY_ROOT), key)
    >>> signed.decode().splitlines()[4][:18]
    '— example.com/log '
    >>> sign_checkpoint(Checkpoint("example.com/x", 0, EMPTY_ROOT), key)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    runid.errors.InputError: the log key is named 'example.com/log', not after the origin ...
    """
    if not isinstance(cp, Checkpoint):
        raise InputError(
            f"expected a Checkpoint, got a {type(cp).__name__}", code=E_CHECKPOINT_FIELD
        )
    if not isinstance(key, SigningKey):
        raise InputError(f"expected a SigningKey, got a {type(key).__name__}", code=E_NOTE_KEYS)
    if key.public_key.name != cp.origin:
        raise InputError(
            f"the log key is named {key.public_key.name!r}, not after the origin {cp.origin!r}",
            hint="a runid log signs its checkpoints with a key named exactly like its origin",
            code=E_CHECKPOINT_KEY,
        )
    return sign_note(cp.body(), [key])


def verify_checkpoint(data: bytes, keyring: Keyring, origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint and return it.

    In this order: the note is well-formed (:func:`runid.note.split_note`); its text is a
    checkpoint (:func:`parse_checkpoint`); the note verifies (:func:`runid.note.open_note`: at
    least one trusted signature, no bad trusted signature); if ``origin`` is given, the
    checkpoint's origin equals it
    (``E_CHECKPOINT_ORIGIN``); one of the verified keys is named exactly like the origin
    (``E_CHECKPOINT_KEY``). Every failure raises :class:`~runid.errors.VerificationError`.

    >>> key = SigningKey("example.com/log", bytes(32))
    >>> signed = sign_checkpoint(Checkpoint("example.com/log", 0, EMPTY_ROOT), key)
    >>> verify_checkpoint(signed, Keyring([key.public_key]), "example.com/log").size
    0
    >>> verify_checkpoint(signed, Keyring([key.public_key]), "example.com/x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    runid.errors.VerificationError: checkpoint of log 'example.com/log', expected 'example...
    """
    if origin is not None and not isinstance(origin, str):
        raise VerificationError(
            f"the expected origin must be a str, got a {type(origin).__name__}",
            code=E_CHECKPOINT_ORIGIN,
        )
    # Receipts from one log snapshot share their checkpoint: verify a given note once per set
    # of trusted keys. Only successes are remembered, keyed by the exact bytes and the keys.
    if not isinstance(data, bytes) or not isinstance(keyring, Keyring):
        return _verify_checkpoint(data, keyring, origin)  # it will say what is wrong
    cache_key = (data, tuple(sorted((k.name, k.raw) for k in keyring.values())), origin)
    cached = _VERIFIED.get(cache_key)
    if cached is not None:
        return cached
    cp = _verify_checkpoint(data, keyring, origin)
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[cache_key] = cp
    return cp


_VERIFIED: dict[tuple[bytes, tuple[tuple[str, bytes], ...], str | None], Checkpoint] = {}
_VERIFIED_MAX = 256


def _verify_checkpoint(data: bytes, keyring: Keyring, origin: str | None) -> Checkpoint:
    # Syntax before any signature, the note's and then the checkpoint's (spec §13.3): a
    # checkpoint is judged the same alone and inside a proof, whose parse checks both first.
    text, _signatures = split_note(data)
    parse_checkpoint(text)
    note = open_note(data, keyring)
    cp = parse_checkpoint(note.text)
    if origin is not None and cp.origin != origin:
        raise VerificationError(
            f"checkpoint of log {cp.origin!r}, expected {origin!r}",
            hint="the checkpoint (or proof) belongs to another log",
            code=E_CHECKPOINT_ORIGIN,
        )
    if not any(key.name == cp.origin for key in note.keys):
        signers = ", ".join(key.name for key in note.keys)
        raise VerificationError(
            f"checkpoint of log {cp.origin!r} is signed by trusted key(s) {signers}, none of "
            "them the log's key (named after the origin)",
            hint="trust the log's own public key, whose name is the log's origin",
            code=E_CHECKPOINT_KEY,
        )
    return cp
