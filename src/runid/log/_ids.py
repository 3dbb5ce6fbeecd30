"""The ids the log's lookups and its audit read from stored bytes: a leaf's execution and
declaration ids, and the declaration id of a blob that holds a declaration's canonical bytes.

Both the lookup indexes (:meth:`runid.log.Log.refresh_lookups`) and the audit that rebuilds them
(:mod:`runid.log._audit`) use these, so the audit compares the stored rows with exactly what a
refresh would have written.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from .. import canonical
from ..envelope import payload_predicate
from ..errors import RunidError
from ..identity import compute_identity
from ..wire import Envelope, Record

__all__ = [
    "DIGEST",
    "declaration_id_of",
    "envelope_of",
    "parsed_leaf",
    "payload_record",
    "record_ids",
]

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
"""An execution id, declaration id or content digest: ``sha256:<64 lowercase hex>``."""


def envelope_of(data: bytes) -> Any:
    """The JSON value of a stored leaf, as :func:`runid.canonical.loads` reads it (strictly).

    A leaf is stored in canonical form, so the fast parser's value is taken when it writes back
    to exactly ``data`` (no duplicate key, big integer or lone surrogate can survive that); any
    other bytes go through the strict parser, which names what is wrong. ~4 µs instead of ~16 µs
    for a record's envelope: it counts when ``runid check --all`` or an audit reads every entry.
    """
    return parsed_leaf(data)[0]


def parsed_leaf(data: bytes) -> tuple[Any, bool]:
    """:func:`envelope_of` ``data``, and whether ``data`` was shown to be that value's
    canonical form (``canonicalize(value) == data``; ``False`` only says it was not shown).
    A verifier that needs the envelope's canonical bytes then has them: ``data`` itself."""
    try:
        value = orjson.loads(data)
        if canonical.canonicalize(value) == data:
            return value, True
    except (orjson.JSONDecodeError, RunidError):
        pass
    return canonical.loads(data), False


def payload_record(envelope: Envelope) -> Record:
    """The record in the payload of an envelope already verified (no check here): what
    :func:`runid.envelope.verify_envelope` returned for it."""
    record: Record = payload_predicate(envelope)
    return record


def record_ids(data: bytes) -> tuple[str, str] | None:
    """``(execution id, declaration id)`` read from a leaf without verifying it (the lookups
    verify what they return), or ``None`` if the leaf holds no readable record."""
    try:
        envelope = orjson.loads(data)
        # The payload in either base64 alphabet, as verify_envelope reads it.
        record = payload_predicate(envelope)
        ids = (record["execution_id"], record["declaration_id"])
    except (orjson.JSONDecodeError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if all(isinstance(i, str) and DIGEST.fullmatch(i) for i in ids):
        return ids
    return None


def declaration_id_of(data: bytes) -> str | None:
    """The id of the declaration whose canonical bytes are ``data``, or ``None`` if they are
    not a valid declaration's canonical bytes."""
    try:
        declaration = canonical.loads(data)
        if canonical.canonicalize(declaration) != data:
            return None
        return compute_identity(declaration).declaration_id
    except RunidError:
        return None
