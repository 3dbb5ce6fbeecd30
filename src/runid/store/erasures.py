"""Erasing content blobs: the record an erasure leaves, and the checks every backend shares.

Content and declarations are blobs beside the log, referenced by digest; the Merkle tree, the
signed records and the checkpoints hold only digests. So a blob can be deleted
(:meth:`runid.store.LogStore.erase_blobs`) while every root, proof, checkpoint and receipt stays
exactly what it was: entries, subtree hashes and checkpoints stay append-only.

What an erasure leaves behind is an :class:`Erasure` row: the digest (already in the records),
the time and a reason, never the content. It lets a lookup tell "erased" from "never stored"
(:meth:`runid.store.LogStore.erasure`), and ``runid log audit`` tell an erasure from a blob
lost to tampering. The same bytes stored again later (a new run uses them) are stored again;
the row of the earlier erasure stays, as history.

>>> check_reason("GDPR art. 17 request #4711")
'GDPR art. 17 request #4711'
>>> erasure_time(datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC))
'2026-01-02T03:04:05Z'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from ..errors import E_ERASE, InputError

__all__ = ["MAX_REASON", "Erasure", "check_reason", "erasure_time"]

MAX_REASON: Final = 500
"""The longest reason an erasure records, in characters."""


@dataclass(frozen=True, slots=True)
class Erasure:
    """One erased blob: its ``digest`` (``sha256:<hex>``), when it was erased (``erased_at``,
    RFC 3339 UTC to the second) and why (``reason``, as the operator gave it; may be empty)."""

    digest: str
    erased_at: str
    reason: str


def check_reason(reason: object) -> str:
    """``reason`` if it is a one-line text of at most :data:`MAX_REASON` characters.

    It is stored as given, so it must not be the content itself: a ticket number or the
    legal ground, not the person's data."""
    if not isinstance(reason, str):
        raise InputError(f"an erasure reason must be text, got a {type(reason).__name__}")
    if len(reason) > MAX_REASON or any(ord(c) < 0x20 or ord(c) == 0x7F for c in reason):
        raise InputError(
            f"an erasure reason is one line of at most {MAX_REASON} characters",
            code=E_ERASE,
            hint="name the request (a ticket number, the legal ground), not the content",
        )
    return reason


def erasure_time(at: datetime | None = None) -> str:
    """``at`` (default: now) as the RFC 3339 UTC text an erasure row holds, to the second."""
    moment = datetime.now(UTC) if at is None else at
    if moment.tzinfo is None:
        raise InputError("an erasure time needs a time zone (UTC)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
