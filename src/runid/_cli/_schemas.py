"""The JSON Schemas (2020-12) of the ``--json`` results of ``runid log append``, ``runid log
consistency`` and ``runid keys show``, shipped in ``docs/schema/`` (written by
``scripts/gen_docs.py``; the tests validate the commands' output against the shipped files).

Each result is one object: the command's status member (``ok`` or ``consistent``) true and what
it reports, or false and the members every ``--json`` failure has
(:func:`._common.error_members`: ``code``, ``message``, ``hint``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["SCHEMAS"]

_DIGEST = {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"}
_HASH_B64 = {
    "description": "A SHA-256 hash in standard base64, as a checkpoint's root line.",
    "type": "string",
    "pattern": "^[A-Za-z0-9+/]{43}=$",
}
_SIZE = {"type": "integer", "minimum": 0}


def _result(name: str, title: str, status: str, success: dict[str, Any]) -> dict[str, Any]:
    """A result schema: ``success`` (its members, all required) with ``status`` true, or the
    failure, ``status`` false with the error members."""
    failure = {
        "type": "object",
        "additionalProperties": False,
        "required": [status, "code", "message", "hint"],
        "properties": {
            status: {"const": False},
            "code": {
                "description": "The error's stable code (docs/spec.md, appendix Error codes).",
                "type": "string",
                "pattern": "^E_[A-Z0-9_]+$",
            },
            "message": {"type": "string", "minLength": 1},
            "hint": {"type": ["string", "null"]},
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://runid.dev/schema/{name}",
        "title": title,
        "oneOf": [
            {
                "type": "object",
                "additionalProperties": False,
                "required": [status, *success],
                "properties": {status: {"const": True}, **success},
            },
            failure,
        ],
    }


def _log_append() -> dict[str, Any]:
    return _result(
        "log-append-v1.schema.json",
        "runid log append --json result v1",
        "ok",
        {
            "index": {"description": "The new entry's number.", **_SIZE},
            "execution_id": _DIGEST,
            "declaration_id": _DIGEST,
            "origin": {"description": "The log's origin (its key's name).", "type": "string"},
            "size": {"description": "The log's size after the append.", **_SIZE, "minimum": 1},
        },
    )


def _log_consistency() -> dict[str, Any]:
    tree = {
        "type": "object",
        "additionalProperties": False,
        "required": ["size", "root"],
        "properties": {"size": _SIZE, "root": _HASH_B64},
    }
    return _result(
        "log-consistency-v1.schema.json",
        "runid log consistency --json result v1",
        "consistent",
        {
            "origin": {"type": "string"},
            "old": {"description": "The tree of the old checkpoint.", **tree},
            "new": {"description": "The log's tree now (its latest checkpoint).", **tree},
        },
    )


def _keys_show() -> dict[str, Any]:
    return _result(
        "keys-show-v1.schema.json",
        "runid keys show --json result v1",
        "ok",
        {
            "name": {"description": "The key's name, the log's origin.", "type": "string"},
            "algorithm": {"const": "ed25519"},
            "key_id": _DIGEST,
            "vkey": {
                "description": "The C2SP verifier key, name+hash+base64.",
                "type": "string",
                "pattern": "^[!-*,-~]+\\+[0-9a-f]{8}\\+[A-Za-z0-9+/]{44}$",
            },
            "public_key": {"description": "The 32-byte Ed25519 public key.", **_HASH_B64},
            "private_key": {
                "description": "Whether the home holds the private signing key.",
                "type": "boolean",
            },
            "path": {
                "description": "The verifier key file (keys/signing.pub), null if missing.",
                "type": ["string", "null"],
            },
        },
    )


#: Each shipped schema: its file name in docs/schema/ -> the schema.
SCHEMAS: dict[str, dict[str, Any]] = {
    "log-append-v1.schema.json": _log_append(),
    "log-consistency-v1.schema.json": _log_consistency(),
    "keys-show-v1.schema.json": _keys_show(),
}
