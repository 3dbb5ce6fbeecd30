"""C2SP signed notes (https://c2sp.org/signed-note), Ed25519 only.

A signed note is a UTF-8 text that ends in a newline, then one blank line, then one or more
signature lines ``— <key name> <base64(4-byte key hash || signature)>`` (the dash is the em dash
U+2014, each line ends in a newline). The signature covers the text, final newline included,
blank line excluded. The key hash is :func:`runid.keys.note_key_hash` of the signing key.

:func:`open_note` is strict and fails closed. Every problem with the bytes it is given raises
:class:`~runid.errors.VerificationError`, each with one of these codes:

* ``E_NOTE_MALFORMED``: not a signed note (not UTF-8, a character below U+0020 other than newline,
  no blank line before the signatures, a signature line not of the form above, base64 that is
  not the canonical standard encoding, a key name that is empty or holds a space or ``+``);
* ``E_NOTE_TOO_LARGE``: more than :data:`MAX_NOTE_SIZE` bytes or :data:`MAX_SIGNATURES` lines;
* ``E_NOTE_AMBIGUOUS_KEY``: two trusted keys share the name and key hash of a signature;
* ``E_NOTE_BAD_SIGNATURE``: a signature whose name and key hash match a trusted key does not
  verify with it (the whole note is rejected, even if another trusted signature verifies);
* ``E_NOTE_UNTRUSTED``: no signature from a trusted key. Signatures of unknown keys are skipped,
  as the spec requires, and reported in :attr:`Note.unverified`.

:func:`sign_note` writes notes; bad arguments to it raise :class:`~runid.errors.InputError`
(``E_NOTE_TEXT``, ``E_NOTE_KEYS``) or :class:`~runid.errors.LimitExceededError`
(``E_NOTE_TOO_LARGE``). Everything :func:`sign_note` writes, :func:`open_note` reads back.

>>> key = SigningKey("example.com/log", bytes(32))
>>> signed = sign_note("hello\\n", [key])
>>> signed.decode().splitlines()[2][:22]
'— example.com/log Hd5F'
>>> note = open_note(signed, Keyring([key.public_key]))
>>> note.text, [k.name for k in note.keys]
('hello\\n', ['example.com/log'])
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from .errors import (
    E_NOTE_AMBIGUOUS_KEY,
    E_NOTE_BAD_SIGNATURE,
    E_NOTE_KEYS,
    E_NOTE_MALFORMED,
    E_NOTE_TEXT,
    E_NOTE_TOO_LARGE,
    E_NOTE_UNTRUSTED,
    InputError,
    LimitExceededError,
    VerificationError,
)
from .keys import Keyring, PublicKey, SigningKey

__all__ = ["MAX_NOTE_SIZE", "MAX_SIGNATURES", "Note", "NoteSignature", "open_note", "sign_note"]

MAX_NOTE_SIZE: Final = 256 * 1024
"""Largest signed note accepted or written, in bytes (room for 16 post-quantum signatures)."""

MAX_SIGNATURES: Final = 100
"""Most signature lines in one note (the spec asks verifiers to accept at least 16)."""

SIGNATURE_PREFIX: Final = "\u2014 "  # em dash, space
_ED25519_SIGNATURE_SIZE: Final = 64

# ASCII control characters other than newline; the spec forbids them anywhere in a note.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")

_MALFORMED = E_NOTE_MALFORMED
_TOO_LARGE = E_NOTE_TOO_LARGE
_HINT = "a signed note is text ending in a newline, a blank line, then lines '— <name> <base64>'"


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: key name, 4-byte key hash, and the signature bytes after the hash."""

    name: str
    key_hash: bytes
    signature: bytes

    def line(self) -> str:
        """The signature line, without its newline.

        >>> NoteSignature("a.example", b"\\x00\\x01\\x02\\x03", b"\\xff").line()
        '— a.example AAECA/8='
        """
        body = base64.b64encode(self.key_hash + self.signature).decode("ascii")
        return f"{SIGNATURE_PREFIX}{self.name} {body}"


@dataclass(frozen=True, slots=True)
class Note:
    """A signed note whose text is trusted: at least one trusted key signed it.

    ``keys`` are the trusted keys whose signatures verified, in the order they first appear;
    ``unverified`` are the signatures of keys not in the keyring, which were ignored (for
    example witness cosignatures), without repeats.
    """

    text: str
    keys: tuple[PublicKey, ...]
    unverified: tuple[NoteSignature, ...] = ()


def text_problem(text: str) -> str | None:
    """What makes ``text`` unfit to appear in a note (control characters, lone surrogates)."""
    match = _CONTROL.search(text)
    if match is not None:
        return f"control character U+{ord(match.group()):04X} at offset {match.start()}"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"lone surrogate at offset {exc.start}"
    return None


def _name_problem(name: str) -> str | None:
    if not name:
        return "empty key name"
    if "+" in name or any(c.isspace() for c in name):
        return f"key name {name!r} holds a space or '+'"
    return None


def b64decode_canonical(text: str) -> bytes | None:
    """Standard base64 (RFC 4648 section 4) in its one canonical spelling, else ``None``.

    Non-zero padding bits, missing padding, whitespace and the URL alphabet are all refused, so
    a signature or hash has exactly one encoding.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(raw).decode("ascii") != text:
        return None
    return raw


def _malformed(message: str, code: str = _MALFORMED) -> VerificationError:
    return VerificationError(f"signed note: {message}", hint=_HINT, code=code)


def split_note(data: object) -> tuple[str, list[NoteSignature]]:
    """Check the syntax of a signed note and split it into text and signatures; no crypto.

    Raises :class:`~runid.errors.VerificationError` (``E_NOTE_MALFORMED``, ``E_NOTE_TOO_LARGE``).
    """
    if not isinstance(data, bytes):
        raise _malformed(f"expected bytes, got a {type(data).__name__}")
    if len(data) > MAX_NOTE_SIZE:
        raise _malformed(f"{len(data)} bytes, more than the limit of {MAX_NOTE_SIZE}", _TOO_LARGE)
    try:
        message = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _malformed(f"not valid UTF-8 (byte offset {exc.start})") from None
    match = _CONTROL.search(message)
    if match is not None:
        raise _malformed(
            f"control character U+{ord(match.group()):04X} at offset {match.start()} "
            "(only newline is allowed; CRLF line ends are not)"
        )
    split = message.rfind("\n\n")
    if split < 0:
        raise _malformed("no blank line between the text and the signatures")
    text, block = message[: split + 1], message[split + 2 :]
    if not block:
        raise _malformed("no signature lines after the blank line")
    if not block.endswith("\n"):
        raise _malformed("the last signature line does not end with a newline (truncated?)")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise _malformed(
            f"{len(lines)} signature lines, more than the limit of {MAX_SIGNATURES}", _TOO_LARGE
        )
    signatures = []
    for number, line in enumerate(lines, 1):
        where = f"signature line {number}"
        if not line.startswith(SIGNATURE_PREFIX):
            raise _malformed(f"{where} does not start with an em dash (U+2014) and a space")
        name, space, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if not space:
            raise _malformed(f"{where} has no space between key name and signature")
        problem = _name_problem(name)
        if problem is not None:
            raise _malformed(f"{where}: {problem}")
        raw = b64decode_canonical(encoded)
        if raw is None:
            raise _malformed(f"{where}: the signature is not canonical standard base64")
        if len(raw) < 5:
            raise _malformed(f"{where}: {len(raw)} bytes, too short for a key hash and signature")
        signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    return text, signatures


def open_note(data: bytes, keyring: Keyring) -> Note:
    """Parse a signed note and verify it against the trusted keys in ``keyring``.

    Syntax is checked in full before any signature. A signature counts if its key name and key
    hash both match a trusted key and it verifies with that key; a signature that matches a
    trusted key and does not verify rejects the note; signatures of other keys are ignored. At
    least one trusted signature must verify. See the module docstring for the error codes.

    >>> key = SigningKey("example.com/log", bytes(32))
    >>> open_note(sign_note("hi\\n", [key]), Keyring([key.public_key])).text
    'hi\\n'
    >>> open_note(sign_note("hi\\n", [key]), Keyring())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    runid.errors.VerificationError: signed note: no signature from a trusted key; signed by ...
    """
    text, signatures = split_note(data)
    trusted: dict[tuple[str, bytes], list[PublicKey]] = {}
    for key in keyring.values():
        trusted.setdefault((key.name, key.note_hash), []).append(key)
    message = text.encode("utf-8")
    verified: dict[PublicKey, None] = {}  # an ordered set
    unverified: dict[NoteSignature, None] = {}
    checked: set[NoteSignature] = set()
    for number, sig in enumerate(signatures, 1):
        candidates = trusted.get((sig.name, sig.key_hash))
        if candidates is None:
            unverified.setdefault(sig)
            continue
        label = f"{sig.name}+{sig.key_hash.hex()}"
        if len(candidates) > 1:
            raise VerificationError(
                f"signed note: signature line {number}: {len(candidates)} trusted keys are named "
                f"{label}, so the signature is ambiguous",
                hint="trust only one key per name and key hash",
                code=E_NOTE_AMBIGUOUS_KEY,
            )
        key = candidates[0]
        if sig in checked:  # the same line again: verified already
            continue
        if len(sig.signature) != _ED25519_SIGNATURE_SIZE:
            raise VerificationError(
                f"signed note: signature line {number} by trusted key {label} is "
                f"{len(sig.signature)} bytes, not an Ed25519 signature",
                code=E_NOTE_BAD_SIGNATURE,
            )
        try:
            key.verify(message, sig.signature)
        except VerificationError:
            raise VerificationError(
                f"signed note: the signature of trusted key {label} ({key.key_id}) on line "
                f"{number} does not verify",
                hint="the text or the signature was altered, or it was signed by another key "
                "of the same name",
                code=E_NOTE_BAD_SIGNATURE,
            ) from None
        checked.add(sig)
        verified.setdefault(key)
    if not verified:
        # Not a sign of tampering: no signature is by a key the verifier was given. Name the
        # keys that signed (name+key hash, all a signature line says) and the trusted ones.
        signers = list(dict.fromkeys(f"{sig.name}+{sig.key_hash.hex()}" for sig in signatures))
        noun = "key" if len(signers) == 1 else "keys"
        known = ", ".join(
            f"{key.name}+{key.note_hash.hex()} ({key.key_id})" for key in keyring.values()
        )
        raise VerificationError(
            f"signed note: no signature from a trusted key; signed by {noun} {', '.join(signers)}; "
            f"trusted: {known or 'none'}",
            hint="pass the signer's public key (name+hash+base64, e.g. runid verify --key); "
            "'runid keys show' on the log's home prints it",
            code=E_NOTE_UNTRUSTED,
        )
    return Note(text, tuple(verified), tuple(unverified))


def sign_note(text: str, keys: Sequence[SigningKey]) -> bytes:
    """Sign ``text`` with each key, in order, and return the signed note.

    ``text`` must end in a newline and hold no control character other than newline
    (``E_NOTE_TEXT``); ``keys`` must be 1 to :data:`MAX_SIGNATURES` distinct signing keys
    (``E_NOTE_KEYS``). Both raise :class:`~runid.errors.InputError`.

    >>> key = SigningKey("example.com/log", bytes(32))
    >>> sign_note("hi\\n", [key]).startswith("hi\\n\\n— example.com/log ".encode())
    True
    >>> sign_note("hi", [key])
    Traceback (most recent call last):
    ...
    runid.errors.InputError: note text must end with a newline
    """
    if not isinstance(text, str):
        raise InputError(f"note text must be a str, got a {type(text).__name__}", code=E_NOTE_TEXT)
    if not text.endswith("\n"):
        raise InputError("note text must end with a newline", code=E_NOTE_TEXT)
    problem = text_problem(text)
    if problem is not None:
        raise InputError(f"note text: {problem}", code=E_NOTE_TEXT)
    if isinstance(keys, SigningKey) or not isinstance(keys, Sequence):
        raise InputError("keys must be a list of signing keys", code=E_NOTE_KEYS)
    if not 1 <= len(keys) <= MAX_SIGNATURES:
        raise InputError(
            f"a note needs 1 to {MAX_SIGNATURES} signing keys, got {len(keys)}", code=E_NOTE_KEYS
        )
    seen: set[tuple[str, bytes]] = set()
    for key in keys:
        if not isinstance(key, SigningKey):
            raise InputError(
                f"keys must be signing keys, got a {type(key).__name__}", code=E_NOTE_KEYS
            )
        ident = (key.public_key.name, key.public_key.note_hash)
        if ident in seen:
            raise InputError(
                f"two signing keys are named {ident[0]}+{ident[1].hex()}", code=E_NOTE_KEYS
            )
        seen.add(ident)
    message = text.encode("utf-8")
    lines = [
        NoteSignature(key.public_key.name, key.public_key.note_hash, key.sign(message)).line()
        for key in keys
    ]
    signed = message + b"\n" + "".join(line + "\n" for line in lines).encode("utf-8")
    if len(signed) > MAX_NOTE_SIZE:
        raise LimitExceededError(
            f"the signed note would be {len(signed)} bytes, more than the limit of {MAX_NOTE_SIZE}",
            code=_TOO_LARGE,
        )
    return signed
