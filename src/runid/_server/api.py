"""The log service's HTTP API (``runid serve``): a Starlette app over :class:`.service.Service`.

Every response to ``/v1/...`` is JSON (the checkpoint, receipts and content blobs excepted:
their own media types); every error is ``{"error": {"code", "message", "hint"?,
"problems"?}}`` with the stable code the command line reports for the same failure
(``runid.errors``) and an HTTP status that follows from it (:func:`status_of`). Bodies larger
than the configured limit are refused with 413 before they are read whole. Bodies are strict
JSON (docs/spec.md §2.1): a duplicate key or a NaN is an error, not a guess.

The routes, their scopes and their schemas are listed in :mod:`.openapi`, served at
``/openapi.json``. Each request is logged as one JSON line on the ``runid.access`` logger
(:mod:`.accesslog`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import canonical
from ..errors import (
    E_AUTH,
    E_INTERNAL,
    E_KEY_REGISTERED,
    E_METHOD,
    E_NOT_FOUND,
    E_NOT_IN_LOG,
    E_SCOPE,
    E_STORE,
    E_STORE_BUSY,
    E_TOO_LARGE,
    E_UNAVAILABLE,
    E_UNKNOWN_ID,
    E_UNKNOWN_KEY,
    DeclarationError,
    FileAccessError,
    InputError,
    LimitExceededError,
    PolicyError,
    RunidError,
    VerificationError,
)
from .accesslog import AccessLog
from .accesslog import configure as configure_access_log
from .openapi import openapi_document
from .search import Filters
from .service import Config, Principal, Service, parse_policy_value

__all__ = ["CONFIG_ENV", "app_from_environment", "create_app", "status_of"]

CONFIG_ENV: Final = "RUNID_SERVE_CONFIG"
"""The environment variable that hands a worker process its configuration (JSON)."""

_JSON: Final = "application/json"
_STATUS: Final = {
    E_AUTH: 401,
    E_SCOPE: 403,
    E_UNKNOWN_KEY: 403,
    E_NOT_FOUND: 404,
    E_NOT_IN_LOG: 404,
    E_UNKNOWN_ID: 404,
    E_METHOD: 405,
    E_KEY_REGISTERED: 409,
    E_TOO_LARGE: 413,
    E_STORE: 503,
    E_STORE_BUSY: 503,
    E_UNAVAILABLE: 503,
}


def status_of(exc: RunidError) -> int:
    """The HTTP status of an error: by its code, else by its class (400 for input, 422 for
    content that is well-formed but invalid or does not verify, 503 for storage)."""
    status = _STATUS.get(exc.code)
    if status is not None:
        return status
    if isinstance(exc, LimitExceededError):
        return 413
    if isinstance(exc, VerificationError | DeclarationError | PolicyError):
        return 422
    if isinstance(exc, FileAccessError):
        return 503
    if isinstance(exc, InputError):
        return 400
    return 500


def error_response(exc: RunidError) -> JSONResponse:
    body: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.hint:
        body["hint"] = exc.hint
    problems = getattr(exc, "problems", None)
    if problems:
        body["problems"] = [
            {"pointer": p.pointer, "code": p.code, "message": p.message} for p in problems[:100]
        ]
    status = status_of(exc)
    headers = {"WWW-Authenticate": 'Bearer realm="runid"'} if status == 401 else None
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _json(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value, ensure_ascii=False), status_code=status, media_type=_JSON)


class _Handler:
    """Binds a route to the service: authentication by scope, body limits, error mapping."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.max_body = service.config.max_body

    async def body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise _too_large(self.max_body)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                raise _too_large(self.max_body)
            chunks.append(chunk)
        return b"".join(chunks)

    async def json_body(self, request: Request) -> Any:
        data = await self.body(request)
        if not data:
            raise InputError("the request needs a JSON body")
        if len(data) < 16384:
            return canonical.loads(data)
        return await run_in_threadpool(canonical.loads, data)  # off the event loop

    async def principal(self, request: Request, scope: str) -> Principal:
        header = request.headers.get("authorization")
        principal = await run_in_threadpool(self.service.authenticate, header, scope)
        request.state.project = principal.project
        request.state.token_id = principal.token_id
        return principal

    def route(
        self, path: str, endpoints: dict[str, Callable[[Request], Awaitable[Response]]]
    ) -> Route:
        """One route per path (so a 405 lists every method of the path in ``Allow``)."""

        async def handle(request: Request) -> Response:
            endpoint = endpoints.get(request.method) or endpoints.get(
                "GET" if request.method == "HEAD" else ""
            )
            try:
                if endpoint is None:  # pragma: no cover - Starlette answers 405 first
                    raise InputError(f"{request.method} is not allowed", code=E_METHOD)
                return await endpoint(request)
            except RunidError as exc:
                request.state.error = exc.code
                return error_response(exc)

        return Route(path, handle, methods=list(endpoints))


def _too_large(limit: int) -> LimitExceededError:
    return LimitExceededError(
        f"the request body is larger than the service's limit of {limit:,} bytes",
        code=E_TOO_LARGE,
        hint="send fewer records per batch",
    )


def _object(value: Any, *members: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError("expected a JSON object")
    unknown = sorted(set(value) - set(members))
    if unknown:
        raise InputError(
            f"unknown member {unknown[0]!r:.40}", hint=f"members: {', '.join(members)}"
        )
    return value


def _blobs(value: object) -> list[bytes]:
    if not isinstance(value, list):
        raise InputError("blobs: expected a list of base64 strings")
    out = []
    for position, item in enumerate(value):
        try:
            if not isinstance(item, str):
                raise ValueError
            out.append(base64.b64decode(item, validate=True))
        except (ValueError, binascii.Error):
            raise InputError(f"blobs[{position}]: not base64 (RFC 4648, padded)") from None
    return out


def _digest_param(request: Request, name: str) -> str:
    value = request.path_params[name]
    if not isinstance(value, str) or len(value) != 71 or not value.startswith("sha256:"):
        raise InputError(f"{name}: expected sha256:<64 lowercase hex digits>")
    if any(c not in "0123456789abcdef" for c in value[7:]):
        raise InputError(f"{name}: expected sha256:<64 lowercase hex digits>")
    return value


_MAX_INT: Final = 2**62


def _int_param(value: str | None, name: str) -> int:
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 19:
        raise InputError(f"{name}: expected an integer from 0 to 2**62")
    number = int(value)
    if number > _MAX_INT:
        raise InputError(f"{name}: expected an integer from 0 to 2**62")
    return number


def _routes(h: _Handler) -> list[Route]:
    service = h.service

    async def healthz(request: Request) -> Response:
        return _json({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            return _json(await run_in_threadpool(service.ready))
        except Exception as exc:
            raise InputError(f"the store is not ready: {exc}", code=E_UNAVAILABLE) from None

    async def openapi(request: Request) -> Response:
        return _json(openapi_document())

    async def checkpoint(request: Request) -> Response:
        note = await run_in_threadpool(service.checkpoint)
        return Response(note, media_type="text/plain; charset=utf-8")

    async def log_key(request: Request) -> Response:
        key = service.registry.log_key
        return _json({"key": key.vkey, "key_id": key.key_id, "origin": key.name})

    async def inclusion(request: Request) -> Response:
        index = _int_param(request.query_params.get("index"), "index")
        size = _int_param(request.query_params.get("size"), "size")
        return _json(await run_in_threadpool(service.inclusion, index, size))

    async def consistency(request: Request) -> Response:
        first = _int_param(request.query_params.get("from"), "from")
        second = _int_param(request.query_params.get("to"), "to")
        return _json(await run_in_threadpool(service.consistency, first, second))

    async def post_record(request: Request) -> Response:
        principal = await h.principal(request, "ingest")
        envelope = await h.json_body(request)
        result = await run_in_threadpool(service.ingest, principal, [envelope])
        return _json(result[0], 201)

    async def post_batch(request: Request) -> Response:
        principal = await h.principal(request, "ingest")
        body = _object(await h.json_body(request), "records", "blobs")
        records = body.get("records")
        limit = service.config.max_records
        if not isinstance(records, list) or not records or len(records) > limit:
            raise InputError(f"records: expected a list of 1 to {limit:,} signed envelopes")
        blobs = _blobs(body.get("blobs", []))
        result = await run_in_threadpool(service.ingest, principal, records, blobs)
        return _json({"records": result}, 201)

    async def post_declaration(request: Request) -> Response:
        await h.principal(request, "ingest")
        declaration = await h.json_body(request)
        return _json(await run_in_threadpool(service.store_declaration, declaration), 201)

    async def post_blob(request: Request) -> Response:
        await h.principal(request, "ingest")
        data = await h.body(request)
        if not data:
            raise InputError("the request needs a body: the content to store")
        from ..digest import content_digest

        await run_in_threadpool(service.store_blobs, [data])
        return _json({"digest": content_digest(data), "size": len(data)}, 201)

    async def get_run(request: Request) -> Response:
        principal = await h.principal(request, "read")
        ref = _digest_param(request, "execution_id")
        return _json(await run_in_threadpool(service.run, principal, ref))

    async def get_receipt(request: Request) -> Response:
        principal = await h.principal(request, "read")
        ref = _digest_param(request, "execution_id")
        include = request.query_params.get("declaration", "true")
        if include not in ("true", "false"):
            raise InputError("declaration: expected true or false")
        data = await run_in_threadpool(
            lambda: service.receipt(principal, ref, declaration=include == "true")
        )
        return Response(data, media_type=_JSON)

    async def get_entry(request: Request) -> Response:
        principal = await h.principal(request, "read")
        index = _int_param(request.path_params["index"], "index")
        return _json(await run_in_threadpool(service.entry, principal, index))

    async def get_declaration(request: Request) -> Response:
        principal = await h.principal(request, "read")
        ref = _digest_param(request, "declaration_id")
        return _json(await run_in_threadpool(service.declaration, principal, ref))

    async def get_blob(request: Request) -> Response:
        principal = await h.principal(request, "read")
        ref = _digest_param(request, "digest")
        data = await run_in_threadpool(service.blob, principal, ref)
        return Response(data, media_type="application/octet-stream")

    async def list_runs(request: Request) -> Response:
        principal = await h.principal(request, "read")
        filters = Filters.parse(dict(request.query_params))
        return _json(await run_in_threadpool(service.search, principal, filters))

    async def search(request: Request) -> Response:
        principal = await h.principal(request, "read")
        body = await h.json_body(request)
        if not isinstance(body, dict):
            raise InputError("expected a JSON object of filters")
        filters = Filters.parse(body, parse_policy=parse_policy_value)
        return _json(await run_in_threadpool(service.search, principal, filters))

    async def diff(request: Request) -> Response:
        principal = await h.principal(request, "read")
        body = _object(await h.json_body(request), "a", "b")
        return _json(await run_in_threadpool(service.diff, principal, body.get("a"), body.get("b")))

    async def check(request: Request) -> Response:
        principal = await h.principal(request, "read")
        body = _object(await h.json_body(request), "policy", "runs")
        result = await run_in_threadpool(
            service.check, principal, body.get("policy"), body.get("runs")
        )
        return _json(result)

    async def stats(request: Request) -> Response:
        principal = await h.principal(request, "read")
        return _json(await run_in_threadpool(service.stats, principal))

    async def keys(request: Request) -> Response:
        principal = await h.principal(request, "read")
        return _json(await run_in_threadpool(service.keys, principal))

    async def create_token(request: Request) -> Response:
        principal = await h.principal(request, "admin")
        body = _object(await h.json_body(request), "scope")
        by = f"token:{principal.token_id}"
        result = await run_in_threadpool(
            lambda: service.create_token(principal.project, body.get("scope", ""), by=by)
        )
        return _json(result, 201)

    async def list_tokens(request: Request) -> Response:
        principal = await h.principal(request, "admin")
        return _json({"tokens": await run_in_threadpool(service.tokens, principal.project)})

    async def revoke_token(request: Request) -> Response:
        principal = await h.principal(request, "admin")
        token_id = request.path_params["token_id"]
        by = f"token:{principal.token_id}"
        index = await run_in_threadpool(
            lambda: service.revoke_token(principal.project, token_id, by=by)
        )
        return _json({"token_id": token_id, "revoked": True, "index": index})

    async def add_key(request: Request) -> Response:
        principal = await h.principal(request, "admin")
        body = _object(await h.json_body(request), "key")
        key = body.get("key")
        if not isinstance(key, str):
            raise InputError("key: expected a verifier key (runid keys show)")
        by = f"token:{principal.token_id}"
        result = await run_in_threadpool(lambda: service.add_key(principal.project, key, by=by))
        return _json(result, 201)

    async def revoke_key(request: Request) -> Response:
        principal = await h.principal(request, "admin")
        key_id = _digest_param(request, "key_id")
        by = f"token:{principal.token_id}"
        index = await run_in_threadpool(
            lambda: service.revoke_key(principal.project, key_id, by=by)
        )
        return _json({"key_id": key_id, "revoked": True, "index": index})

    table: list[tuple[str, str, Callable[[Request], Awaitable[Response]]]] = [
        ("/healthz", "GET", healthz),
        ("/readyz", "GET", readyz),
        ("/openapi.json", "GET", openapi),
        ("/v1/log/checkpoint", "GET", checkpoint),
        ("/v1/log/key", "GET", log_key),
        ("/v1/log/proofs/inclusion", "GET", inclusion),
        ("/v1/log/proofs/consistency", "GET", consistency),
        ("/v1/records", "POST", post_record),
        ("/v1/records/batch", "POST", post_batch),
        ("/v1/declarations", "POST", post_declaration),
        ("/v1/blobs", "POST", post_blob),
        ("/v1/runs", "GET", list_runs),
        ("/v1/runs/{execution_id}", "GET", get_run),
        ("/v1/runs/{execution_id}/receipt", "GET", get_receipt),
        ("/v1/entries/{index}", "GET", get_entry),
        ("/v1/declarations/{declaration_id}", "GET", get_declaration),
        ("/v1/blobs/{digest}", "GET", get_blob),
        ("/v1/search", "POST", search),
        ("/v1/diff", "POST", diff),
        ("/v1/check", "POST", check),
        ("/v1/stats", "GET", stats),
        ("/v1/keys", "GET", keys),
        ("/v1/admin/tokens", "POST", create_token),
        ("/v1/admin/tokens", "GET", list_tokens),
        ("/v1/admin/tokens/{token_id}", "DELETE", revoke_token),
        ("/v1/admin/keys", "POST", add_key),
        ("/v1/admin/keys/{key_id}", "DELETE", revoke_key),
    ]
    by_path: dict[str, dict[str, Callable[[Request], Awaitable[Response]]]] = {}
    for path, method, endpoint in table:
        by_path.setdefault(path, {})[method] = endpoint
    return [h.route(path, methods) for path, methods in by_path.items()]


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 405:
        error = InputError(f"{request.method} is not allowed on {request.url.path}", code=E_METHOD)
    elif status == 404:
        error = InputError(f"no such endpoint: {request.url.path}", code=E_NOT_FOUND)
    else:
        error = InputError(f"HTTP {status}", code=E_INTERNAL)
    response = error_response(error)
    response.status_code = status
    if isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)  # Allow, for 405
    return response


async def _internal_error(request: Request, exc: Exception) -> Response:
    body = {"code": E_INTERNAL, "message": f"internal error: {type(exc).__name__}"}
    return JSONResponse({"error": body}, status_code=500)


def create_app(service: Service, *, access_log: bool = True) -> Any:
    """The ASGI app of ``service`` (wrapped in the access log unless ``access_log`` is off)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(service.close)

    app = Starlette(
        routes=_routes(_Handler(service)),
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
        lifespan=lifespan,
    )
    return AccessLog(app) if access_log else app


def config_to_environment(config: Config, *, access_log: bool = True) -> str:
    """The configuration for :func:`app_from_environment`, as JSON."""
    return json.dumps(
        {
            "home": str(config.home),
            "store_url": config.store_url,
            "max_body": config.max_body,
            "max_records": config.max_records,
            "access_log": access_log,
        }
    )


def app_from_environment() -> Any:
    """The app factory uvicorn calls in each worker process (``--workers``)."""
    values = json.loads(os.environ[CONFIG_ENV])
    access_log = bool(values.pop("access_log", True))
    values["home"] = Path(values["home"])
    if access_log:
        configure_access_log()
    from .._ui.service import with_ui  # the pages, per project, at /ui

    service = Service(Config(**values))
    return with_ui(create_app(service, access_log=access_log), service)
