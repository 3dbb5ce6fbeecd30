"""Access tokens of the log service: their form, their stored hash, and how one is checked.

A token is ``runid_<id>_<secret>``: ``id`` is 16 lowercase hex digits that name the token (in
access logs, listings and revocations), ``secret`` 32 random bytes in URL-safe base64 (43
characters). The service never stores a token: the admin record that creates it holds its
**hash**, the structure digest (docs/spec.md §3) with tag ``runid:v1:token`` of the token's
UTF-8 bytes, and a presented token is hashed the same way and compared with
:func:`hmac.compare_digest` (constant time). The token is printed once, when it is created.

A token belongs to one **project** and has one **scope**: ``ingest`` (append records, store
declarations and content), ``read`` (get, search, diff, check, receipts) or ``admin`` (manage
the project's tokens and keys; it may also read).

>>> token_id, token = new_token()
>>> parse_token(token) == token_id
True
>>> len(token_hash(token))
71
>>> check_project("team-a")
'team-a'
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import Final, Literal, get_args

from ..admin import PROJECT_PATTERN, check_project
from ..digest import tagged_digest
from ..errors import InputError

__all__ = [
    "PROJECT_PATTERN",
    "SCOPES",
    "TOKEN_TAG",
    "Scope",
    "allows",
    "check_project",
    "check_scope",
    "hash_matches",
    "new_token",
    "parse_token",
    "token_hash",
]

Scope = Literal["ingest", "read", "admin"]
SCOPES: Final[tuple[str, ...]] = get_args(Scope)

TOKEN_TAG: Final = "runid:v1:token"
"""The domain-separation tag of a token's stored hash."""

_TOKEN = re.compile(r"runid_([0-9a-f]{16})_[A-Za-z0-9_-]{43}")


def new_token() -> tuple[str, str]:
    """A fresh token: ``(token id, token)``."""
    token_id = secrets.token_hex(8)
    return token_id, f"runid_{token_id}_{secrets.token_urlsafe(32)}"


def parse_token(text: str) -> str | None:
    """The id of a well-formed token, or ``None``."""
    match = _TOKEN.fullmatch(text)
    return match.group(1) if match else None


def token_hash(token: str) -> str:
    """The stored form of ``token``: ``sha256:<hex>`` of ``runid:v1:token || 0x00 || token``."""
    return tagged_digest(TOKEN_TAG, token.encode("utf-8"))


def hash_matches(token: str, stored: str) -> bool:
    """Whether ``token`` hashes to ``stored``, compared in constant time."""
    return hmac.compare_digest(token_hash(token).encode("ascii"), stored.encode("ascii"))


def check_scope(scope: object) -> Scope:
    """``scope`` if it is one of :data:`SCOPES`, else :class:`~runid.errors.InputError`."""
    if scope == "ingest" or scope == "read" or scope == "admin":  # noqa: PLR1714 - narrows
        return scope
    raise InputError(f"{scope!r:.40} is not a scope", hint=f"one of {', '.join(SCOPES)}")


def allows(scope: str, needed: str) -> bool:
    """Whether a token of ``scope`` may do what needs ``needed`` (``admin`` may also read)."""
    return scope == needed or (scope == "admin" and needed == "read")
