"""Salted content: a commitment to a short content that its digest does not give away.

Private to :mod:`runid.evidence` (docs/spec.md §20.6). A content reference names the SHA-256
of the bytes it refers to; for a short prompt or a yes/no answer anyone can hash the likely
values and compare. A **salted blob** puts 16 random bytes before the content::

    runid/salted/v1 <media type of the content>\\n<32 lowercase hex digits of salt>\\n<content>

and the declaration (or record) references the blob instead of the content (media type
:data:`SALTED_MEDIA_TYPE`). The digest then binds the content as before, but reveals nothing
about it without the blob: disclosing the blob discloses the content; deleting the blob leaves
a digest no one can test a guess against.
"""

from __future__ import annotations

import re
import secrets
from typing import Final

from ..digest import ContentRef, content_ref
from ..errors import E_FORMAT, InputError

__all__ = ["SALTED_MEDIA_TYPE", "SALTED_SPEC", "salted_content", "unsalted"]

SALTED_SPEC: Final = "runid/salted/v1"
SALTED_MEDIA_TYPE: Final = "application/vnd.runid.salted"
_HEADER = re.compile(rb"runid/salted/v1 ([\x21-\x7e][\x20-\x7e]*)\n([0-9a-f]{32})\n")


def salted_content(
    data: bytes | str,
    media_type: str = "text/plain; charset=utf-8",
    *,
    salt: bytes | None = None,
) -> tuple[ContentRef, bytes]:
    """The reference to put in a declaration and the salted blob to store for ``data``.

    >>> ref, blob = salted_content("yes", salt=bytes(16))
    >>> blob
    b'runid/salted/v1 text/plain; charset=utf-8\\n00000000000000000000000000000000\\nyes'
    >>> unsalted(blob)
    ('text/plain; charset=utf-8', b'yes')
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    salt = secrets.token_bytes(16) if salt is None else salt
    if len(salt) != 16:
        raise InputError("a salt is 16 bytes", code=E_FORMAT)
    if not media_type.isascii() or "\n" in media_type or not media_type.strip():
        raise InputError(f"not a media type: {media_type!r:.60}", code=E_FORMAT)
    blob = f"{SALTED_SPEC} {media_type}\n{salt.hex()}\n".encode("ascii") + raw
    return content_ref(blob, SALTED_MEDIA_TYPE), blob


def unsalted(blob: bytes) -> tuple[str, bytes]:
    """``(media type, content)`` of a salted blob; :class:`~runid.errors.InputError` for
    anything else."""
    match = _HEADER.match(blob)
    if match is None:
        raise InputError(f"not a {SALTED_SPEC} blob", code=E_FORMAT)
    return match.group(1).decode("ascii"), blob[match.end() :]
