"""C2SP tlog-cosignature (https://c2sp.org/tlog-cosignature): Ed25519 ``cosignature/v1``.

A witness (a *cosigner*) that checked a checkpoint's consistency with everything it saw of that
log signs it. The cosignature is one more signature line of the checkpoint's signed note::

    — <cosigner name> base64(key hash || u64 timestamp, big-endian || Ed25519 signature)

where the key hash is ``SHA-256(name || 0x0A || 0x04 || public key)[:4]`` (signature type
``0x04``) and the signature covers ``cosignature/v1\\n`` + ``time <timestamp>\\n`` + the
checkpoint's text (its signature lines excluded). A note with cosignatures is still a valid
signed note: verifiers that do not know the witness key ignore the line (:mod:`runid.note`).

Cosigner keys are written in the C2SP formats with type byte ``0x04``: the verifier key
``<name>+<hash>+<base64(0x04 || public key)>`` and the private key
``PRIVATE+KEY+<name>+<hash>+<base64(0x04 || seed)>``.

>>> key = CosigningKey("witness.example/w1", bytes(32))
>>> text = "runid.example/log\\n0\\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\\n"
>>> line = cosign(text, key, 1700000000)
>>> note = b"runid.example/log\\n0\\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\\n\\n"
>>> [c.timestamp for c in verify_cosignatures(note + line.line().encode() + b"\\n", [key.public])]
[1700000000]
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import nacl.exceptions
import nacl.signing

from ..errors import (
    E_COSIGNATURE_BAD,
    E_COSIGNER_KEY,
    E_NOTE_TOO_LARGE,
    InputError,
    LimitExceededError,
    VerificationError,
)
from ..note import MAX_NOTE_SIZE, MAX_SIGNATURES, NoteSignature, split_note

__all__ = [
    "COSIGNATURE_TYPE",
    "MAX_TIMESTAMP",
    "Cosignature",
    "CosignerKey",
    "CosigningKey",
    "add_signatures",
    "cosign",
    "cosignature_message",
    "parse_signature_lines",
    "verify_cosignatures",
]

COSIGNATURE_TYPE: Final = b"\x04"
"""The signed-note signature type of timestamped Ed25519 checkpoint cosignatures."""

MAX_TIMESTAMP: Final = (1 << 63) - 1
_HEADER: Final = b"cosignature/v1\n"
_NAME = re.compile(r"[\x21-\x2a\x2c-\x7e]+")
_SIGNATURE_SIZE: Final = 8 + 64


def _key_hash(name: str, raw: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + COSIGNATURE_TYPE + raw).digest()[:4]


def _check_name(name: object) -> str:
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise InputError(
            f"invalid cosigner name {name!r:.80}",
            hint="a cosigner name is printable ASCII without spaces or '+', e.g. "
            "'witness.example/w1'",
            code=E_COSIGNER_KEY,
        )
    return name


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{what}: not valid base64", code=E_COSIGNER_KEY) from None


class CosignerKey:
    """A witness's public key (Ed25519, cosignature type ``0x04``) and its name."""

    __slots__ = ("_verify", "key_hash", "name", "raw")

    def __init__(self, name: str, raw: bytes) -> None:
        if not isinstance(raw, bytes) or len(raw) != 32:
            raise InputError("an Ed25519 public key is 32 bytes", code=E_COSIGNER_KEY)
        self.name = _check_name(name)
        self.raw = raw
        self.key_hash = _key_hash(self.name, raw)
        self._verify = nacl.signing.VerifyKey(raw)

    @property
    def vkey(self) -> str:
        """The C2SP verifier key ``name+hash+base64(0x04 || key)``."""
        body = base64.b64encode(COSIGNATURE_TYPE + self.raw).decode("ascii")
        return f"{self.name}+{self.key_hash.hex()}+{body}"

    @property
    def label(self) -> str:
        """``name+hash``: what a signature line says about its key."""
        return f"{self.name}+{self.key_hash.hex()}"

    @classmethod
    def parse(cls, text: str) -> CosignerKey:
        """Parse a cosigner verifier key; its type must be ``0x04`` and its hash must match.

        >>> CosignerKey.parse(CosigningKey("w.example", bytes(32)).public.vkey).name
        'w.example'
        """
        parts = text.strip().split("+", 2) if isinstance(text, str) else []
        if len(parts) != 3:
            raise InputError(
                "not a cosigner key: expected 'name+hash+base64'",
                hint="a witness prints its key with 'runid witness key'",
                code=E_COSIGNER_KEY,
            )
        name, hash_hex, body = parts
        raw = _b64(body, "cosigner key")
        if len(raw) != 33 or raw[:1] != COSIGNATURE_TYPE:
            kind = "a log or issuer key (type 0x01)" if raw[:1] == b"\x01" else "not type 0x04"
            raise InputError(
                f"cosigner key {name}: {kind}; a witness key is an Ed25519 cosignature/v1 key "
                "(type 0x04, 32 bytes)",
                code=E_COSIGNER_KEY,
            )
        key = cls(name, raw[1:])
        if len(hash_hex) != 8 or key.key_hash.hex() != hash_hex.lower():
            raise InputError(
                f"cosigner key {name}: its key hash does not match its name and key",
                code=E_COSIGNER_KEY,
            )
        return key

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self._verify.verify(message, signature)
        except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CosignerKey) and (self.name, self.raw) == (other.name, other.raw)

    def __hash__(self) -> int:
        return hash((self.name, self.raw))

    def __repr__(self) -> str:
        return f"CosignerKey({self.vkey!r})"


class CosigningKey:
    """A witness's private key. ``repr`` shows only the public half."""

    __slots__ = ("_signer", "public")

    def __init__(self, name: str, seed: bytes) -> None:
        if not isinstance(seed, bytes) or len(seed) != 32:
            raise InputError("an Ed25519 private key seed is 32 bytes", code=E_COSIGNER_KEY)
        self._signer = nacl.signing.SigningKey(seed)
        self.public = CosignerKey(name, bytes(self._signer.verify_key))

    @classmethod
    def generate(cls, name: str) -> CosigningKey:
        return cls(name, secrets.token_bytes(32))

    def sign(self, message: bytes) -> bytes:
        return bytes(self._signer.sign(message).signature)

    def private_text(self) -> str:
        """``PRIVATE+KEY+name+hash+base64(0x04 || seed)``: the secret, for a private file."""
        body = base64.b64encode(COSIGNATURE_TYPE + bytes(self._signer)).decode("ascii")
        return f"PRIVATE+KEY+{self.public.label}+{body}"

    @classmethod
    def from_private_text(cls, text: str, source: str = "witness key") -> CosigningKey:
        """Parse :meth:`private_text` (surrounding white space ignored)."""
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise InputError(f"{source}: not a C2SP private key", code=E_COSIGNER_KEY)
        raw = _b64(parts[4], source)
        if len(raw) != 33 or raw[:1] != COSIGNATURE_TYPE:
            raise InputError(f"{source}: not a cosignature/v1 key (type 0x04)", code=E_COSIGNER_KEY)
        key = cls(parts[2], raw[1:])
        if key.public.key_hash.hex() != parts[3].lower():
            raise InputError(f"{source}: the key hash does not match the key", code=E_COSIGNER_KEY)
        return key

    def __repr__(self) -> str:
        return f"CosigningKey(public={self.public.vkey!r})"


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A verified cosignature: the witness key and the time it signed (POSIX seconds)."""

    key: CosignerKey
    timestamp: int


def cosignature_message(text: str, timestamp: int) -> bytes:
    """The bytes a cosignature/v1 signs: header, time line, the checkpoint text.

    >>> cosignature_message("o\\n1\\nAA==\\n", 5)
    b'cosignature/v1\\ntime 5\\no\\n1\\nAA==\\n'
    """
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise InputError(f"a timestamp is an integer, got {timestamp!r:.40}")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise InputError(f"timestamp {timestamp} is outside [0, 2^63 - 1]")
    return _HEADER + b"time %d\n" % timestamp + text.encode("utf-8")


def cosign(text: str, key: CosigningKey, timestamp: int) -> NoteSignature:
    """The cosignature line of ``key`` on checkpoint ``text`` at ``timestamp`` (non-zero, as
    tlog-witness requires)."""
    if timestamp == 0:
        raise InputError("a witness cosignature must not have timestamp 0")
    signature = key.sign(cosignature_message(text, timestamp))
    return NoteSignature(
        key.public.name, key.public.key_hash, timestamp.to_bytes(8, "big") + signature
    )


def verify_cosignatures(note: bytes, keys: Sequence[CosignerKey]) -> list[Cosignature]:
    """The cosignatures of trusted witness ``keys`` on a signed checkpoint note, one per key
    (the latest when a key signed twice), in the order of ``keys``.

    Lines of other keys are ignored. A line whose name and key hash match a trusted key but
    whose signature is malformed or does not verify raises
    :class:`~runid.errors.VerificationError` (``E_COSIGNATURE_BAD``), as a bad trusted
    signature rejects a note (§13.2). The note's syntax is checked (``E_NOTE_*``); its other
    signatures (the log's) are the caller's to verify.
    """
    text, signatures = split_note(note)
    message_text = text
    found: dict[CosignerKey, Cosignature] = {}
    trusted = {(k.name, k.key_hash): k for k in keys}
    for number, sig in enumerate(signatures, 1):
        key = trusted.get((sig.name, sig.key_hash))
        if key is None:
            continue
        where = f"cosignature of witness {key.label} (signature line {number})"
        if len(sig.signature) != _SIGNATURE_SIZE:
            raise VerificationError(
                f"{where}: {len(sig.signature)} bytes, not a timestamp and an Ed25519 signature",
                code=E_COSIGNATURE_BAD,
            )
        timestamp = int.from_bytes(sig.signature[:8], "big")
        if timestamp > MAX_TIMESTAMP or not key.verify(
            cosignature_message(message_text, timestamp), sig.signature[8:]
        ):
            raise VerificationError(
                f"{where} does not verify over the checkpoint",
                hint="the checkpoint or the cosignature was altered, or another key of that "
                "name signed it",
                code=E_COSIGNATURE_BAD,
            )
        previous = found.get(key)
        if previous is None or timestamp > previous.timestamp:
            found[key] = Cosignature(key, timestamp)
    return [found[k] for k in dict.fromkeys(keys) if k in found]


def parse_signature_lines(data: bytes) -> list[NoteSignature]:
    """The signature lines of a witness's response (``— name base64`` lines, each ending in a
    newline), checked as a signed note's signature block is (``E_NOTE_MALFORMED``)."""
    _text, signatures = split_note(b".\n\n" + data)
    return signatures


def add_signatures(note: bytes, lines: Sequence[NoteSignature]) -> bytes:
    """``note`` with the signature ``lines`` it does not hold yet appended (same text: a valid
    signed note). Raises :class:`~runid.errors.LimitExceededError` (``E_NOTE_TOO_LARGE``) past
    the note limits."""
    text, signatures = split_note(note)
    merged = list(dict.fromkeys([*signatures, *lines]))
    if len(merged) > MAX_SIGNATURES:
        raise LimitExceededError(
            f"the note would carry {len(merged)} signatures, more than {MAX_SIGNATURES}",
            code=E_NOTE_TOO_LARGE,
        )
    out = text.encode("utf-8") + b"\n" + "".join(s.line() + "\n" for s in merged).encode("utf-8")
    if len(out) > MAX_NOTE_SIZE:
        raise LimitExceededError(
            f"the note would be {len(out)} bytes, more than {MAX_NOTE_SIZE}", code=E_NOTE_TOO_LARGE
        )
    return out
