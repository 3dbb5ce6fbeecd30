"""Tagged, domain-separated digests.

Every digest runid writes is a string ``sha256:<64 lowercase hex>``. Two kinds exist:

* **Artifact digests** (:func:`content_digest`): the plain SHA-256 of a byte string that exists
  outside runid — a prompt text, a document chunk, a weights file, an output. They equal what
  ``sha256sum``, OCI, in-toto subjects and Hugging Face LFS pointers say for the same bytes, so an
  auditor can check them with any tool. (docs/adr/0002-artifact-digests.md says why.)
* **Structure digests** (:func:`tagged_digest`): SHA-256 over ``tag || 0x00 || payload`` where the
  tag names the role (``runid:v1:component:model``, ``runid:v1:declaration``). A digest made for one
  role can never pass for another role's, and none of them for an artifact's unless someone stores
  that exact tagged preimage as an artifact.

>>> content_digest(b"hello")
'sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824'
>>> tagged_digest("runid:v1:component:model", b"{}")[:15]
'sha256:acad5d68'
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from functools import lru_cache
from typing import TypedDict

from .errors import E_CONTENT_DIGEST, E_FORMAT, InputError, VerificationError

__all__ = [
    "DIGEST_PATTERN",
    "ContentRef",
    "checked_fetch",
    "content_digest",
    "content_ref",
    "digest_bytes",
    "tagged_digest",
]

DIGEST_PATTERN = "sha256:[0-9a-f]{64}"
_DIGEST_RE = re.compile(DIGEST_PATTERN)


class ContentRef(TypedDict):
    """A reference to content kept outside the declaration (see docs/spec.md, "Content")."""

    digest: str
    size: int
    media_type: str


def content_digest(data: bytes) -> str:
    """Artifact digest: ``sha256:`` + hex SHA-256 of the bytes themselves."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def checked_fetch(fetch: Callable[[str], bytes], digest: str) -> bytes:
    """``fetch(digest)``, refused unless the bytes have that artifact digest.

    A replay runs exactly what was recorded, so content from any store is checked rather than
    trusted: a mismatch is a :class:`~runid.errors.VerificationError` (``E_CONTENT_DIGEST``).

    >>> checked_fetch({content_digest(b"hi"): b"hi"}.__getitem__, content_digest(b"hi"))
    b'hi'
    """
    data = fetch(digest)
    found = content_digest(data)
    if found != digest:
        raise VerificationError(
            f"fetched content for {digest} has digest {found}",
            hint="the content store was altered or mixed up; run 'runid log audit'",
            code=E_CONTENT_DIGEST,
        )
    return data


def content_ref(data: bytes | str, media_type: str = "text/plain; charset=utf-8") -> ContentRef:
    """A content reference for ``data`` (a ``str`` is encoded as UTF-8, never normalised).

    >>> content_ref("You are a helpful assistant.")["size"]
    28
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return {"digest": content_digest(raw), "size": len(raw), "media_type": media_type}


@lru_cache(maxsize=64)
def _tag_state(tag: str) -> hashlib._Hash:
    # Hashing the tag once and copying the state saves re-hashing it on the hot path.
    if "\x00" in tag or not tag.isascii():
        raise ValueError(f"digest tag must be ASCII without NUL: {tag!r}")
    return hashlib.sha256(tag.encode("ascii") + b"\x00")


def tagged_digest(tag: str, payload: bytes) -> str:
    """Structure digest: ``sha256:`` + hex SHA-256(``tag`` || 0x00 || ``payload``)."""
    state = _tag_state(tag).copy()
    state.update(payload)
    return "sha256:" + state.hexdigest()


def digest_bytes(digest: str) -> bytes:
    """The 32 raw bytes of a ``sha256:<hex>`` digest string; a clear error for anything else."""
    if not isinstance(digest, str) or _DIGEST_RE.fullmatch(digest) is None:
        raise InputError(
            f"not a digest: {digest!r}",
            hint="a digest is 'sha256:' followed by 64 lowercase hex digits",
            code=E_FORMAT,
        )
    return bytes.fromhex(digest[7:])
