"""The web UI as an ASGI app (Starlette): routes over a backend, errors as pages.

:func:`ui_app` serves one home read-only (``runid ui``); :func:`create_ui` builds the same
routes over any :class:`Backend` (the service's, per project and token, is
:mod:`runid._ui.service`), so the UI can be mounted under a prefix of another app.

Every response carries a Content-Security-Policy that allows nothing but this origin's
stylesheet (no script, no frame, no form posted elsewhere), ``nosniff`` and no referrer. A
request for a host the UI was not started for is refused (DNS rebinding), and the one form
that posts (run the audit) carries a token that must match its ``SameSite=Strict`` cookie.
Errors are pages with the stable code and the message (:func:`status_of`): 400 for input, 404
for what is not in the log, never a traceback. Each response says how long the app took
(``Server-Timing``).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from importlib import resources
from typing import Any, Final, Protocol
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ..errors import (
    E_AUTH,
    E_INPUT,
    E_INTERNAL,
    E_NOT_FOUND,
    E_NOT_IN_LOG,
    E_SCOPE,
    E_UNKNOWN_ID,
    InputError,
    RunidError,
    VerificationError,
)
from ..resolve import Subject
from .diffpage import diff_page
from .drift import drift_page
from .html import Html, tag
from .inspect import RunDetail
from .layout import page
from .logpage import AuditResult, log_page
from .pages import run_page, runs_page
from .query import FILTERS, RunFilters, check_keys, digest, integer, ref
from .source import MAX_PAGE, Page, RunSummary

__all__ = [
    "CSP",
    "CSRF_COOKIE",
    "Backend",
    "create_ui",
    "csrf_of",
    "form_field",
    "status_of",
    "ui_app",
]

CSP: Final = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_NOT_FOUND: Final = frozenset({E_NOT_FOUND, E_NOT_IN_LOG, E_UNKNOWN_ID})
_CSS: Final = resources.files(__package__).joinpath("static/ui.css")
CSRF_COOKIE: Final = "runid_ui_csrf"
"""The cookie a form's ``csrf`` field must match (double submit; ``SameSite=Strict``)."""
PIPELINE_RUNS: Final = 200
"""The most runs a drift timeline shows (the latest)."""


class Backend(Protocol):
    """What the pages ask of a log (a home, or one project of the service)."""

    policy_name: str | None
    audit_allowed: bool

    @property
    def last_audit(self) -> AuditResult | None: ...

    def size(self) -> int: ...

    def runs(
        self, filters: RunFilters, *, before: int | None, after: int | None, limit: int
    ) -> Page: ...

    def detail(self, ref: str) -> RunDetail: ...

    def content(self, digest: str) -> bytes | None: ...

    def receipt(self, execution_id: str) -> bytes: ...

    def replay_command(self, execution_id: str) -> str: ...

    def diff(self, a: str, b: str) -> tuple[dict[str, Any], tuple[Subject, Subject]]: ...

    def pipeline(self, filters: RunFilters, limit: int) -> tuple[list[RunSummary], int]: ...

    def components_of(self, declaration_id: str) -> dict[str, str] | None: ...

    def model_names(self) -> list[str]: ...

    def log_view(self, before: int | None) -> dict[str, Any]: ...

    def checkpoint(self) -> bytes | None: ...

    def audit(self) -> AuditResult: ...

    def close(self) -> None: ...


#: How a request finds its backend (and who is asking, for the header): the local UI has one
#: backend; the service resolves the caller's token to its project's backend.
Resolver = Callable[[Request], tuple[Backend, str | None]]


def status_of(exc: RunidError) -> int:
    """The HTTP status of an error shown as a page."""
    if exc.code in _NOT_FOUND:
        return 404
    if exc.code == E_AUTH:
        return 401
    if exc.code == E_SCOPE:
        return 403
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, VerificationError):
        return 422
    return 500 if exc.code == E_INTERNAL else 503


def _html(body: Html, status: int = 200) -> HTMLResponse:
    return HTMLResponse(str(body), status_code=status, headers=_HEADERS)


class ServerTiming:
    """ASGI middleware: each response says how long the app took (``Server-Timing: app;dur=``
    in milliseconds), so a browser and the benchmark see the server's share of a page load."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()

        async def timed(message: Any) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - began) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={took:.1f}".encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed)


def csrf_of(request: Request) -> str:
    """The request's form token (its cookie), or a new one."""
    found = request.cookies.get(CSRF_COOKIE, "")
    return found if 20 <= len(found) <= 64 and found.isascii() else secrets.token_urlsafe(24)


async def form_field(request: Request, limit: int = 8192) -> dict[str, str]:
    """A small urlencoded form (at most ``limit`` bytes; a larger body is an empty form)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


def _error_page(prefix: str, status: int, code: str, message: str, hint: str | None) -> Response:
    back = (
        tag("a", "Sign in", href=prefix + "/login")
        if code == E_AUTH
        else tag("a", "Back to the runs", href=prefix + "/runs")
    )
    body = [
        tag("p", tag("code", code), " ", message, class_="error-message", data_code=code),
        tag("p", hint, class_="muted") if hint else "",
        tag("p", back),
    ]
    return _html(page(f"Error {status}", body, prefix=prefix), status)


def create_ui(
    resolver: Resolver,
    *,
    prefix: str = "",
    allowed_hosts: Sequence[str] | None = None,
    extra_routes: Sequence[Route] = (),
    on_close: Callable[[], None] | None = None,
) -> Starlette:
    """The UI's app. ``prefix`` is the path it is mounted at (links carry it); ``allowed_hosts``
    (when given) the Host headers served. The one form that changes something (run the audit)
    returns a token that must match its ``SameSite=Strict`` cookie."""

    def error(exc: RunidError) -> Response:
        return _error_page(prefix, status_of(exc), exc.code, exc.message, exc.hint)

    def endpoint(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def run(request: Request) -> Response:
            try:
                return handler(request)
            except RunidError as exc:
                return error(exc)

        return run

    def params(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
        values = dict(request.query_params)
        check_keys(values, allowed)
        return values

    @endpoint
    def runs(request: Request) -> Response:
        values = params(request, (*FILTERS, "before", "after", "limit"))
        backend, user = resolver(request)
        filters = RunFilters.parse(values)
        if filters.policy is not None and backend.policy_name is None:
            raise InputError(
                "policy: no policy was given to this UI",
                code=E_INPUT,
                hint="start it with runid ui --policy FILE",
            )
        before = integer(values.get("before"), "before")
        after = integer(values.get("after"), "after")
        if before is not None and after is not None:
            raise InputError("before and after exclude each other", code=E_INPUT)
        limit = integer(values.get("limit"), "limit", low=1, high=MAX_PAGE) or 50
        result = backend.runs(filters, before=before, after=after, limit=limit)
        return _html(
            runs_page(
                result,
                filters,
                size=backend.size(),
                prefix=prefix,
                has_policy=backend.policy_name is not None,
                policy_name=backend.policy_name,
                user=user,
            )
        )

    @endpoint
    def run(request: Request) -> Response:
        params(request, ())
        backend, user = resolver(request)
        text = request.path_params["ref"]
        if text.isascii() and text.isdigit():
            index = integer(text, "entry")
            detail = backend.detail(str(index))
            target = f"{prefix}/runs/{detail.record['execution_id']}"
            return RedirectResponse(target, status_code=303, headers=_HEADERS)
        execution_id = ref(text, "run")
        detail = backend.detail(execution_id)
        body = run_page(
            detail,
            content=backend.content,
            replay_command=backend.replay_command(execution_id),
            prefix=prefix,
            policy_name=backend.policy_name,
            user=user,
        )
        return _html(body)

    @endpoint
    def receipt(request: Request) -> Response:
        params(request, ())
        backend, _user = resolver(request)
        execution_id = ref(request.path_params["ref"], "run")
        data = backend.receipt(execution_id)
        name = f"receipt-{execution_id[7:19]}.json"
        headers = {**_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
        return Response(data, media_type="application/json", headers=headers)

    @endpoint
    def content(request: Request) -> Response:
        params(request, ())
        backend, _user = resolver(request)
        found = digest(request.path_params["digest"], "digest")
        assert found is not None
        data = backend.content(found)
        if data is None:
            raise InputError(f"content {found} is not stored in this log", code=E_NOT_FOUND)
        headers = {**_HEADERS, "Content-Security-Policy": "sandbox; default-src 'none'"}
        try:
            data.decode("utf-8")
            media = "text/plain; charset=utf-8"
        except UnicodeDecodeError:
            media = "application/octet-stream"
            headers["Content-Disposition"] = f'attachment; filename="{found[7:19]}.bin"'
        return Response(data, media_type=media, headers=headers)

    @endpoint
    def diff(request: Request) -> Response:
        values = params(request, ("a", "b", "pick"))
        backend, user = resolver(request)
        picks = request.query_params.getlist("pick")
        a, b = values.get("a", ""), values.get("b", "")
        if picks:
            if len(picks) != 2 or a or b:
                raise InputError(
                    f"pick exactly two runs to compare ({len(picks)} picked)", code=E_INPUT
                )
            a, b = picks
        if not (a and b):
            return _html(diff_page(None, a=a, b=b, prefix=prefix, user=user))
        report, sides = backend.diff(ref(a, "a"), ref(b, "b"))
        return _html(
            diff_page(
                report,
                a=a,
                b=b,
                sides=sides,
                content=backend.content,
                prefix=prefix,
                user=user,
            )
        )

    @endpoint
    def diff_json(request: Request) -> Response:
        import json

        values = params(request, ("a", "b"))
        backend, _user = resolver(request)
        report, _sides = backend.diff(ref(values.get("a"), "a"), ref(values.get("b"), "b"))
        data = json.dumps(report, indent=2, ensure_ascii=False)
        return Response(data, media_type="application/json", headers=_HEADERS)

    @endpoint
    def drift(request: Request) -> Response:
        values = params(request, ("model", "component"))
        backend, user = resolver(request)
        model = (values.get("model") or "").strip()
        component = digest(values.get("component"), "component")
        if model and component:
            raise InputError("model and component exclude each other: pick one", code=E_INPUT)
        models = backend.model_names()
        if not (model or component):
            body = drift_page([], 0, {}, selected="", kind="", models=models, prefix=prefix)
            return _html(body)
        filters = RunFilters.parse({"model": model} if model else {"component": component or ""})
        runs, total = backend.pipeline(filters, PIPELINE_RUNS)
        components = {r.declaration_id: backend.components_of(r.declaration_id) for r in runs}
        kind, selected = ("model", model) if model else ("component", component or "")
        body = drift_page(
            runs,
            total,
            components,
            selected=selected,
            kind=kind,
            models=models,
            prefix=prefix,
            user=user,
        )
        return _html(body)

    @endpoint
    def log(request: Request) -> Response:
        values = params(request, ("before",))
        backend, user = resolver(request)
        before = integer(values.get("before"), "before")
        view = backend.log_view(before)
        token = csrf_of(request)
        body = log_page(
            **view,
            audit=backend.last_audit,
            audit_allowed=backend.audit_allowed,
            csrf=token,
            prefix=prefix,
            user=user,
        )
        response = _html(body)
        response.set_cookie(
            CSRF_COOKIE, token, httponly=True, samesite="strict", path=prefix or "/"
        )
        return response

    @endpoint
    def log_checkpoint(request: Request) -> Response:
        params(request, ())
        backend, _user = resolver(request)
        note = backend.checkpoint()
        if note is None:
            raise InputError("this log has no signed checkpoint yet", code=E_NOT_FOUND)
        return Response(note, media_type="text/plain; charset=utf-8", headers=_HEADERS)

    async def audit(request: Request) -> Response:
        fields = await form_field(request)
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not cookie or not secrets.compare_digest(
            fields.get("csrf", "").encode(), cookie.encode()
        ):
            return _error_page(
                prefix,
                403,
                E_SCOPE,
                "this form was not sent by this page (stale or forged)",
                "reload the log page and press the button again",
            )
        try:
            backend, _user = resolver(request)
            if not backend.audit_allowed:
                raise InputError("the audit of the whole log needs an admin token", code=E_SCOPE)
            await run_in_threadpool(backend.audit)
        except RunidError as exc:
            return error(exc)
        return RedirectResponse(prefix + "/log#audit", status_code=303, headers=_HEADERS)

    def css(request: Request) -> Response:
        headers = {**_HEADERS, "Cache-Control": "max-age=3600"}
        return Response(_CSS.read_bytes(), media_type="text/css", headers=headers)

    def home(request: Request) -> Response:
        return RedirectResponse(prefix + "/runs", status_code=303, headers=_HEADERS)

    routes = [
        Route("/", home, methods=["GET"]),
        Route("/runs", runs, methods=["GET"]),
        Route("/runs/{ref}", run, methods=["GET"]),
        Route("/runs/{ref}/receipt.json", receipt, methods=["GET"]),
        Route("/content/{digest}", content, methods=["GET"]),
        Route("/diff", diff, methods=["GET"]),
        Route("/diff.json", diff_json, methods=["GET"]),
        Route("/drift", drift, methods=["GET"]),
        Route("/log", log, methods=["GET"]),
        Route("/log/checkpoint", log_checkpoint, methods=["GET"]),
        Route("/log/audit", audit, methods=["POST"]),
        Route("/static/ui.css", css, methods=["GET"]),
        *extra_routes,
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 404:
            message = f"no such page: {request.url.path}"
        elif status == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = f"HTTP {status}"
        return _error_page(prefix, status, E_NOT_FOUND if status == 404 else E_INPUT, message, None)

    async def internal_error(request: Request, exc: Exception) -> Response:
        return _error_page(
            prefix,
            500,
            E_INTERNAL,
            f"internal error: {type(exc).__name__}",
            "this is a bug in runid; please report it",
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if on_close is not None:
            on_close()

    middleware = [Middleware(ServerTiming)]
    if allowed_hosts is not None:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)))
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: http_error, Exception: internal_error},
        lifespan=lifespan,
    )


LOCAL_HOSTS: Final = ("127.0.0.1", "localhost", "::1", "[::1]")


def ui_app(
    home: Any,
    *,
    policy: Any = None,
    policy_name: str | None = None,
    witnesses: Sequence[Any] = (),
    host: str = "127.0.0.1",
    allowed_hosts: Sequence[str] | None = None,
) -> Starlette:
    """The UI of one home, read-only (``runid ui``). Requests must name ``host`` (or a
    loopback name) in their Host header unless ``allowed_hosts`` says otherwise."""
    from .local import LocalBackend

    backend = LocalBackend(home, policy=policy, policy_name=policy_name, witnesses=witnesses)
    hosts = allowed_hosts if allowed_hosts is not None else sorted({*LOCAL_HOSTS, host})
    return create_ui(lambda request: (backend, None), allowed_hosts=hosts, on_close=backend.close)
