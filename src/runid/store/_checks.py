"""Argument checks and errors every store backend shares, so backends refuse alike.

A wrong argument raises :class:`~runid.errors.InputError` with the same message and code in every
backend; corruption found while reading raises :class:`~runid.errors.VerificationError`
(``E_STORE_CORRUPT``). Not a public API: backends import it, callers see the errors.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from ..errors import (
    E_CHECKPOINT_CONFLICT,
    E_NOT_IN_LOG,
    E_STORE_CORRUPT,
    InputError,
    VerificationError,
)
from ..merkle import HASH_SIZE

if TYPE_CHECKING:
    from . import AppendLookups

__all__ = [
    "DIGEST",
    "blob_digest_bytes",
    "check_blob",
    "check_blobs",
    "check_hash",
    "check_int",
    "check_lookups",
    "check_note",
    "checkpoint_conflict",
    "corrupt",
    "id_bytes",
    "leaf_list",
    "not_in_log",
]

DIGEST: Final = re.compile(r"sha256:([0-9a-f]{64})")
"""A blob digest, execution id or declaration id as the store's API spells it."""


def check_int(value: object, name: str) -> int:
    """``value`` if it is a non-negative integer (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{name} must be a non-negative integer, got {value!r:.40}")
    return value


def check_hash(value: object, name: str) -> bytes:
    """``value`` if it is a raw hash of :data:`~runid.merkle.HASH_SIZE` bytes."""
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise InputError(f"{name} must be {HASH_SIZE} bytes")
    return value


def check_note(note: object) -> bytes:
    """``note`` if it is non-empty bytes (the store treats a signed note as opaque)."""
    if not isinstance(note, bytes) or not note:
        raise InputError("a checkpoint note must be non-empty bytes (a signed note)")
    return note


def leaf_list(leaves: Sequence[bytes]) -> list[bytes]:
    """``leaves`` as a list, each checked to be bytes; a bare ``bytes`` or ``str`` is refused."""
    if isinstance(leaves, bytes | bytearray | str):
        raise InputError(
            "append takes a sequence of leaves", hint="wrap a single leaf in a list: [leaf]"
        )
    data = list(leaves)
    for i, d in enumerate(data):
        if not isinstance(d, bytes):
            raise InputError(f"leaf {i} must be bytes, got a {type(d).__name__}")
    return data


def check_blob(data: object) -> bytes:
    """``data`` if it is bytes."""
    if not isinstance(data, bytes):
        raise InputError(f"a blob must be bytes, got a {type(data).__name__}")
    return data


def check_blobs(blobs: Sequence[bytes]) -> None:
    """Check that every blob of ``blobs`` is bytes."""
    for blob in blobs:
        check_blob(blob)


def blob_digest_bytes(digest: object) -> bytes:
    """The raw 32 bytes of a blob digest ``sha256:<64 hex>``."""
    match = DIGEST.fullmatch(digest) if isinstance(digest, str) else None
    if match is None:
        raise InputError(
            f"not a blob digest: {digest!r:.80}", hint="a blob digest is sha256:<64 hex digits>"
        )
    return bytes.fromhex(match.group(1))


def id_bytes(value: object) -> bytes:
    """The raw 32 bytes of a ``sha256:<64 hex>`` id."""
    match = DIGEST.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InputError(
            f"not a digest: {value!r:.80}", hint="ids and digests are sha256:<64 hex digits>"
        )
    return bytes.fromhex(match.group(1))


def not_in_log(message: str) -> InputError:
    """The error for a size or index the log has not reached (``E_NOT_IN_LOG``)."""
    return InputError(message, code=E_NOT_IN_LOG)


def checkpoint_conflict(size: int) -> InputError:
    """The error for a second, different note for a size (``E_CHECKPOINT_CONFLICT``)."""
    return InputError(
        f"tree size {size} already has a different checkpoint",
        code=E_CHECKPOINT_CONFLICT,
        hint="a saved checkpoint is never replaced; sign a checkpoint for a newer size instead",
    )


def corrupt(message: str) -> VerificationError:
    """The error for a stored log that is not what was written (``E_STORE_CORRUPT``)."""
    return VerificationError(
        message,
        code=E_STORE_CORRUPT,
        hint="the log database was altered or damaged; restore it from a backup and compare "
        "with the last signed checkpoint",
    )


def check_lookups(
    lookups: AppendLookups, leaves: int
) -> tuple[list[tuple[bytes, bytes] | None], list[tuple[bytes, bytes]]]:
    """The rows of ``lookups`` as raw ids, refused (before an append starts) unless they fit an
    append of ``leaves`` leaves: per leaf ``(execution id, declaration id)`` or ``None``, and
    the ``(declaration id, blob digest)`` rows."""
    records = getattr(lookups, "records", None)
    declarations = getattr(lookups, "declarations", None)
    if records is None or declarations is None or len(records) != leaves:
        raise InputError("lookups must be an AppendLookups with one record item per leaf")
    raw: list[tuple[bytes, bytes] | None] = [
        None if item is None else (id_bytes(item[0]), id_bytes(item[1])) for item in records
    ]
    return raw, [(id_bytes(d), id_bytes(b)) for d, b in declarations]
