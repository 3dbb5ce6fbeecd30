"""The OpenAPI 3.1 document of the log service (``GET /openapi.json``), written out by route.

The routes are those of :mod:`.api`; ``tests/test_serve_api.py`` checks that both list the same
paths and methods, and a schemathesis run checks the service against this document.
"""

from __future__ import annotations

import functools
from typing import Any, Final

__all__ = ["openapi_document"]

_DIGEST: Final = {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"}
_TIME: Final = {"type": "string", "description": "RFC 3339 UTC, e.g. 2025-03-01T12:00:00Z"}
_OBJECT: Final = {"type": "object"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR = _json(_ref("Error"), "An error, with the stable code runid reports for it")
_ERRORS: Final = {
    "400": _ERROR,
    "401": _ERROR,
    "403": _ERROR,
    "404": _ERROR,
    "413": _ERROR,
    "422": _ERROR,
    "503": _ERROR,
}

_SCHEMAS: Final[dict[str, Any]] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "pattern": "^E_[A-Z0-9_]+$"},
                    "message": {"type": "string"},
                    "hint": {"type": "string"},
                    "problems": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["pointer", "code", "message"],
                            "properties": {
                                "pointer": {"type": "string"},
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        },
                    },
                },
            }
        },
    },
    "Envelope": {
        "type": "object",
        "description": "A DSSE envelope of a signed execution record (docs/spec.md §12.6)",
        "required": ["payload", "payloadType", "signatures"],
        "properties": {
            "payload": {"type": "string"},
            "payloadType": {"type": "string"},
            "signatures": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["keyid", "sig"],
                    "properties": {"keyid": {"type": "string"}, "sig": {"type": "string"}},
                },
            },
        },
    },
    "Ingested": {
        "type": "object",
        "required": ["index", "execution_id"],
        "properties": {"index": {"type": "integer", "minimum": 0}, "execution_id": _DIGEST},
    },
    "Entry": {
        "type": "object",
        "required": ["index", "record", "envelope"],
        "properties": {
            "index": {"type": "integer", "minimum": 0},
            "record": _OBJECT,
            "envelope": _ref("Envelope"),
        },
    },
    "RunSummary": {
        "type": "object",
        "required": [
            "index",
            "execution_id",
            "declaration_id",
            "started_at",
            "served_model",
            "status",
        ],
        "properties": {
            "index": {"type": "integer", "minimum": 0},
            "execution_id": _DIGEST,
            "declaration_id": _DIGEST,
            "started_at": _TIME,
            "served_model": {"type": ["string", "null"]},
            "status": {"enum": ["ok", "error"]},
        },
    },
    "Page": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": _ref("RunSummary")},
            "next_cursor": {"type": ["string", "null"]},
        },
    },
    "Proof": {
        "type": "object",
        "required": ["size", "hashes", "checkpoint"],
        "properties": {
            "index": {"type": "integer"},
            "from": {"type": "integer"},
            "size": {"type": "integer"},
            "hashes": {"type": "array", "items": {"type": "string"}},
            "checkpoint": {"type": ["string", "null"]},
        },
    },
    "Filters": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "since": _TIME,
            "until": _TIME,
            "model": {"type": "string", "minLength": 1, "maxLength": 256},
            "declaration_id": _DIGEST,
            "component": _DIGEST,
            "status": {"enum": ["ok", "error"]},
            "policy": {"type": ["object", "string"], "description": "a policy (§17)"},
            "policy_result": {"enum": ["pass", "fail", "not_applicable"]},
            "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
            "cursor": {"type": "string", "pattern": "^[0-9]{1,18}$"},
        },
    },
    "Token": {
        "type": "object",
        "required": ["token_id", "scope", "revoked", "index"],
        "properties": {
            "token_id": {"type": "string"},
            "scope": {"enum": ["ingest", "read", "admin"]},
            "revoked": {"type": "boolean"},
            "index": {"type": "integer"},
        },
    },
}


def _op(
    summary: str,
    response: dict[str, Any],
    *,
    scope: str | None = None,
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    status: str = "200",
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {status: response, **_ERRORS}}
    if scope is not None:
        op["security"] = [{"token": []}]
        op["description"] = f"Needs a token of scope {scope}."
    else:
        op["security"] = []
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True, "content": body}
    return op


def _path(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query(name: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema}


_INDEX: Final = {"type": "integer", "minimum": 0, "maximum": 2**62}
_SIZE: Final = {"type": "integer", "minimum": 1, "maximum": 2**62}
_JSON_BODY: Final = {"application/json": {"schema": _OBJECT}}


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The document (built once)."""
    search_params = [
        _query(name, schema)
        for name, schema in _SCHEMAS["Filters"]["properties"].items()
        if name not in ("policy", "policy_result")
    ]
    paths: dict[str, Any] = {
        "/healthz": {"get": _op("Liveness", _json(_OBJECT))},
        "/readyz": {"get": _op("Readiness: the store answers", _json(_OBJECT))},
        "/openapi.json": {"get": _op("This document", _json(_OBJECT))},
        "/v1/log/checkpoint": {
            "get": _op(
                "The latest signed checkpoint (C2SP signed note)",
                {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}},
            )
        },
        "/v1/log/key": {"get": _op("The log's verifier key", _json(_OBJECT))},
        "/v1/log/proofs/inclusion": {
            "get": _op(
                "RFC 9162 inclusion proof of entry index in the tree of size entries",
                _json(_ref("Proof")),
                params=[_query("index", _INDEX, True), _query("size", _SIZE, True)],
            )
        },
        "/v1/log/proofs/consistency": {
            "get": _op(
                "RFC 9162 consistency proof from one tree size to a later one",
                _json(_ref("Proof")),
                params=[_query("from", _SIZE, True), _query("to", _SIZE, True)],
            )
        },
        "/v1/records": {
            "post": _op(
                "Append one signed record",
                _json(_ref("Ingested")),
                scope="ingest",
                body={"application/json": {"schema": _ref("Envelope")}},
                status="201",
            )
        },
        "/v1/records/batch": {
            "post": _op(
                "Append signed records and their content in one commit",
                _json(
                    {
                        "type": "object",
                        "required": ["records"],
                        "properties": {"records": {"type": "array", "items": _ref("Ingested")}},
                    }
                ),
                scope="ingest",
                body={
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["records"],
                            "additionalProperties": False,
                            "properties": {
                                "records": {
                                    "type": "array",
                                    "items": _ref("Envelope"),
                                    "minItems": 1,
                                    "maxItems": 1000,
                                },
                                "blobs": {"type": "array", "items": {"type": "string"}},
                            },
                        }
                    }
                },
                status="201",
            )
        },
        "/v1/declarations": {
            "post": _op(
                "Store a declaration (docs/spec.md §4)",
                _json(_OBJECT),
                scope="ingest",
                body=_JSON_BODY,
                status="201",
            )
        },
        "/v1/blobs": {
            "post": _op(
                "Store content by digest",
                _json(_OBJECT),
                scope="ingest",
                body={
                    "application/octet-stream": {
                        "schema": {"type": "string", "format": "binary", "minLength": 1}
                    }
                },
                status="201",
            )
        },
        "/v1/runs": {
            "get": _op(
                "The project's runs, filtered, a page at a time",
                _json(_ref("Page")),
                scope="read",
                params=search_params,
            )
        },
        "/v1/runs/{execution_id}": {
            "get": _op(
                "A run by execution id",
                _json(_ref("Entry")),
                scope="read",
                params=[_path("execution_id", _DIGEST)],
            )
        },
        "/v1/runs/{execution_id}/receipt": {
            "get": _op(
                "An offline-verifiable receipt (docs/spec.md §14.3)",
                _json(_OBJECT),
                scope="read",
                params=[
                    _path("execution_id", _DIGEST),
                    _query("declaration", {"enum": ["true", "false"]}),
                ],
            )
        },
        "/v1/entries/{index}": {
            "get": _op(
                "A run by log index",
                _json(_ref("Entry")),
                scope="read",
                params=[_path("index", _INDEX)],
            )
        },
        "/v1/declarations/{declaration_id}": {
            "get": _op(
                "A declaration the project's runs name",
                _json(_OBJECT),
                scope="read",
                params=[_path("declaration_id", _DIGEST)],
            )
        },
        "/v1/blobs/{digest}": {
            "get": _op(
                "Content the project's runs reference",
                {
                    "description": "OK",
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                },
                scope="read",
                params=[_path("digest", _DIGEST)],
            )
        },
        "/v1/search": {
            "post": _op(
                "Search the project's runs (filters as GET /v1/runs, and a policy result)",
                _json(_ref("Page")),
                scope="read",
                body={"application/json": {"schema": _ref("Filters")}},
            )
        },
        "/v1/diff": {
            "post": _op(
                "Which conditions of two runs or declarations diverged (docs/spec.md §16.5)",
                _json(_OBJECT),
                scope="read",
                body={
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["a", "b"],
                            "additionalProperties": False,
                            "properties": {"a": _DIGEST, "b": _DIGEST},
                        }
                    }
                },
            )
        },
        "/v1/check": {
            "post": _op(
                "Evaluate a policy against runs (docs/spec.md §17)",
                _json(_OBJECT),
                scope="read",
                body={
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["policy", "runs"],
                            "additionalProperties": False,
                            "properties": {
                                "policy": {"type": ["object", "string"]},
                                "runs": {"type": "array", "items": _DIGEST, "minItems": 1},
                            },
                        }
                    }
                },
            )
        },
        "/v1/stats": {"get": _op("The project's counts", _json(_OBJECT), scope="read")},
        "/v1/keys": {
            "get": _op("The log's key and the project's keys", _json(_OBJECT), scope="read")
        },
        "/v1/admin/tokens": {
            "post": _op(
                "Create a token of the project (printed once)",
                _json(_OBJECT),
                scope="admin",
                body={
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["scope"],
                            "additionalProperties": False,
                            "properties": {"scope": {"enum": ["ingest", "read", "admin"]}},
                        }
                    }
                },
                status="201",
            ),
            "get": _op(
                "The project's tokens (never the tokens themselves)",
                _json(
                    {
                        "type": "object",
                        "required": ["tokens"],
                        "properties": {"tokens": {"type": "array", "items": _ref("Token")}},
                    }
                ),
                scope="admin",
            ),
        },
        "/v1/admin/tokens/{token_id}": {
            "delete": _op(
                "Revoke a token of the project",
                _json(_OBJECT),
                scope="admin",
                params=[_path("token_id", {"type": "string", "pattern": "^[0-9a-f]{16}$"})],
            )
        },
        "/v1/admin/keys": {
            "post": _op(
                "Register a client's verifier key to the project",
                _json(_OBJECT),
                scope="admin",
                body={
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["key"],
                            "additionalProperties": False,
                            "properties": {"key": {"type": "string"}},
                        }
                    }
                },
                status="201",
            )
        },
        "/v1/admin/keys/{key_id}": {
            "delete": _op(
                "Revoke a key of the project (its records stay valid)",
                _json(_OBJECT),
                scope="admin",
                params=[_path("key_id", _DIGEST)],
            )
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "runid log service",
            "version": "1",
            "description": "A shared, audited log of AI runs (docs/spec.md, the HTTP API).",
        },
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
    }
