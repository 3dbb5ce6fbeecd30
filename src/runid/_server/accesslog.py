"""Structured access logs: one JSON object per request on the ``runid.access`` logger.

Each line has ``time`` (RFC 3339 UTC), ``request_id`` (the client's ``X-Request-Id`` when it is
short and printable, else a new one; echoed in the response), ``method``, ``path`` (without the
query string), ``status``, ``ms`` (time to the last byte), ``bytes_in`` (declared),
``bytes_out``, ``client``, and, once a token was checked, ``project`` and ``token_id``;
``error`` is the code of a refused request. Tokens and bodies are never logged.

``runid serve`` writes these lines to standard error (:func:`configure`).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import time
from datetime import UTC, datetime
from typing import Any

__all__ = ["AccessLog", "configure"]

_log = logging.getLogger("runid.access")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

Scope = dict[str, Any]
Message = dict[str, Any]


class AccessLog:
    """ASGI middleware that logs every HTTP request as one JSON line."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.fullmatch(given) else secrets.token_hex(8)
        state: dict[str, Any] = scope.setdefault("state", {})
        seen: dict[str, int] = {"status": 500, "bytes": 0}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode("ascii")),
                ]
            elif message["type"] == "http.response.body":
                seen["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if _log.isEnabledFor(logging.INFO):
                line = {
                    "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "request_id": request_id,
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": seen["status"],
                    "ms": round((time.perf_counter() - start) * 1000, 3),
                    "bytes_in": _int(headers.get(b"content-length")),
                    "bytes_out": seen["bytes"],
                    "client": (scope.get("client") or ("", 0))[0],
                }
                for name in ("project", "token_id", "error"):
                    if name in state:
                        line[name] = state[name]
                _log.info(json.dumps(line, separators=(",", ":")))


def _int(value: bytes | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 19 else None


def configure(stream: Any = None) -> None:
    """Write access lines, bare, to ``stream`` (default: standard error)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    _log.handlers[:] = [handler]
    _log.setLevel(logging.INFO)
    _log.propagate = False
