"""Ed25519 keys: generation, key texts, key ids and a keyring of trusted public keys.

Keys are written in the C2SP signed-note key formats, so transparency-log tooling reads them
(the key files of a runid home are read and written by :mod:`runid.home`):

* private key file: ``PRIVATE+KEY+<name>+<hash>+<base64(0x01 || 32-byte seed)>`` (mode 0600);
* public key (verifier key): ``<name>+<hash>+<base64(0x01 || 32-byte public key)>``;

where ``<hash>`` is the 8-hex-digit note key hash: the first 4 bytes of
SHA-256(name || 0x0A || 0x01 || public key). That short hash only routes signatures in a note;
runid identifies keys by :attr:`PublicKey.key_id`, the full tagged digest
``sha256(b"runid:v1:key\\x00" || 0x01 || public key)``, never by a truncated fingerprint.

>>> key = SigningKey.generate("runid.example/log")
>>> sig = key.sign(b"hello")
>>> key.public_key.verify(b"hello", sig)
>>> PublicKey.parse(key.public_key.vkey) == key.public_key
True
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping

import nacl.exceptions
import nacl.signing

from .digest import tagged_digest
from .errors import InputError, VerificationError

__all__ = ["Keyring", "PublicKey", "SigningKey", "note_key_hash"]

ED25519 = b"\x01"  # the C2SP signed-note signature type of Ed25519
KEY_TAG = "runid:v1:key"
# A key name as C2SP signed notes allow it: printable, no spaces, no '+'.
_NAME = re.compile(r"[\x21-\x2a\x2c-\x7e]+")


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{what}: not valid base64") from None


def note_key_hash(name: str, public_raw: bytes) -> bytes:
    """The 4-byte key hash of C2SP signed notes for an Ed25519 key."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public_raw).digest()[:4]


def _check_name(name: str) -> str:
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise InputError(
            f"invalid key name {name!r}",
            hint="a key name is printable ASCII without spaces or '+', e.g. 'runid.example/log'",
        )
    return name


class PublicKey:
    """An Ed25519 verifier key with its name."""

    __slots__ = ("_verify", "name", "raw")

    def __init__(self, name: str, raw: bytes) -> None:
        if len(raw) != 32:
            raise InputError("an Ed25519 public key is 32 bytes")
        self.name = _check_name(name)
        self.raw = raw
        self._verify = nacl.signing.VerifyKey(raw)

    @property
    def key_id(self) -> str:
        """The full, domain-separated digest that names this key in records and keyrings."""
        return tagged_digest(KEY_TAG, ED25519 + self.raw)

    @property
    def note_hash(self) -> bytes:
        return note_key_hash(self.name, self.raw)

    @property
    def vkey(self) -> str:
        """The C2SP verifier key string ``name+hash+base64``."""
        body = base64.b64encode(ED25519 + self.raw).decode()
        return f"{self.name}+{self.note_hash.hex()}+{body}"

    @classmethod
    def parse(cls, text: str) -> PublicKey:
        """Parse a verifier key string; its embedded hash must match its name and key."""
        parts = text.strip().split("+", 2)  # base64 may itself contain "+"
        if len(parts) != 3:
            raise InputError(
                "not a verifier key: expected 'name+hash+base64'",
                hint="print one with 'runid keys show'",
            )
        name, hash_hex, body = parts
        raw = _b64decode(body, "verifier key")
        if len(raw) != 33 or raw[:1] != ED25519:
            raise InputError("verifier key: not an Ed25519 key (type 0x01, 32 bytes)")
        key = cls(name, raw[1:])
        if key.note_hash.hex() != hash_hex.lower() or len(hash_hex) != 8:
            raise InputError("verifier key: its key hash does not match its name and key")
        return key

    def verify(self, message: bytes, signature: bytes) -> None:
        """Return None if ``signature`` is this key's signature of ``message``, else raise."""
        try:
            self._verify.verify(message, signature)
        except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
            raise VerificationError(
                f"signature does not verify with key {self.name} ({self.key_id})"
            ) from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and (self.name, self.raw) == (other.name, other.raw)

    def __hash__(self) -> int:
        return hash((self.name, self.raw))

    def __repr__(self) -> str:
        return f"PublicKey({self.vkey!r})"


class SigningKey:
    """An Ed25519 private key. It is never printed: ``repr`` shows only the public half."""

    __slots__ = ("_signer", "public_key")

    def __init__(self, name: str, seed: bytes) -> None:
        if len(seed) != 32:
            raise InputError("an Ed25519 private key seed is 32 bytes")
        self._signer = nacl.signing.SigningKey(seed)
        self.public_key = PublicKey(name, bytes(self._signer.verify_key))

    @classmethod
    def generate(cls, name: str) -> SigningKey:
        return cls(name, secrets.token_bytes(32))

    def sign(self, message: bytes) -> bytes:
        return bytes(self._signer.sign(message).signature)

    def private_text(self) -> str:
        """The private key in the C2SP note format ``PRIVATE+KEY+name+hash+base64`` (what the
        key file holds). It is the secret: write it only to a private file."""
        seed = bytes(self._signer)
        body = base64.b64encode(ED25519 + seed).decode()
        pub = self.public_key
        return f"PRIVATE+KEY+{pub.name}+{pub.note_hash.hex()}+{body}"

    @classmethod
    def from_private_text(cls, text: str, source: str = "private key") -> SigningKey:
        """Parse :meth:`private_text` (surrounding white space ignored); ``source`` names it in
        errors (:class:`~runid.errors.InputError`)."""
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise InputError(f"{source}: not a runid/C2SP private key file")
        raw = _b64decode(parts[4], source)
        if len(raw) != 33 or raw[:1] != ED25519:
            raise InputError(f"{source}: not an Ed25519 private key")
        key = cls(parts[2], raw[1:])
        if key.public_key.note_hash.hex() != parts[3].lower():
            raise InputError(f"{source}: the key hash does not match the key (file damaged?)")
        return key

    def __repr__(self) -> str:
        return f"SigningKey(public={self.public_key.vkey!r})"


class Keyring(Mapping[str, PublicKey]):
    """Trusted public keys by key id; several at once, for key rotation."""

    def __init__(self, keys: Iterable[PublicKey] = ()) -> None:
        self._keys = {key.key_id: key for key in keys}

    def __getitem__(self, key_id: str) -> PublicKey:
        try:
            return self._keys[key_id]
        except KeyError:
            raise VerificationError(
                f"signed by an untrusted or unknown key {key_id}",
                hint="pass the issuer's public key with --key (repeat for rotated keys)",
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def by_note_hash(self, name: str, note_hash: bytes) -> PublicKey | None:
        for key in self._keys.values():
            if key.name == name and key.note_hash == note_hash:
                return key
        return None

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Keyring:
        return cls(PublicKey.parse(text) for text in texts)
