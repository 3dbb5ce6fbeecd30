"""The web UI on the log service (``runid serve``): the same pages, per project and token.

A browser signs in with a token of the service (``/login``: the token is checked by
:meth:`runid._server.service.Service.authenticate` with scope ``read``, then kept in an
``HttpOnly``, ``SameSite=Strict`` cookie; ``Authorization: Bearer`` works too). Every page then
reads through a :class:`ProjectBackend` of the token's project, with the isolation of the API
(docs/spec.md §21): the runs listed, searched, charted and compared are the project's runs only
(the project's index in the service's registry), and a run, declaration or content blob that no
run of the project names is "not found" (``E_NOT_FOUND``, 404), exactly as if it did not exist.
The checkpoint and the tree heads are public, as in the API. The audit of the whole log needs
an ``admin`` token.

:func:`with_ui` mounts the UI at ``/ui`` next to the API app::

    app = with_ui(create_app(service), service)
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any, Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from .._cli.diff import report_json
from .._server.service import Principal, Service
from ..diff import compare
from ..errors import E_AUTH, E_NOT_FOUND, InputError, RunidError
from ..identity import compute_identity
from ..log import Log
from ..resolve import Subject
from ..wire import Declaration, Record
from .app import CSRF_COOKIE, create_ui, csrf_of, form_field
from .html import tag
from .inspect import RunDetail, run_detail, tree_heads
from .layout import page
from .logpage import AuditResult
from .query import RunFilters
from .source import DeclarationInfo, LocalSource, Page, RunSummary, declaration_models

__all__ = ["COOKIE", "ProjectBackend", "ProjectSource", "service_ui", "with_ui"]

COOKIE: Final = "runid_ui_token"
"""The cookie that holds the signed-in token."""


class ProjectSource(LocalSource):
    """A project's runs in the service's log (from the registry's project index)."""

    def __init__(self, service: Service, project: str) -> None:
        self.service = service
        self.project_name = project
        super().__init__(service.home)

    def log(self) -> Log:
        return self.service.log()

    def close(self) -> None:
        """The service owns its logs."""

    def _project(self) -> Any:
        self.service.refresh()
        return self.service.registry.project(self.project_name)

    def indices_of(self, log: Log, filters: RunFilters) -> list[int]:
        project = self._project()
        if filters.declaration_id is not None:
            rows = project.by_declaration.get(filters.declaration_id, [])
        else:
            rows = project.runs
        if filters.model is None and filters.component is None:
            return [row.index for row in rows] if filters.declaration_id else project.positions
        infos = self.service.registry.declarations
        out = []
        for row in rows:
            info = infos.get(row.declaration_id)
            if info is None:
                continue
            if filters.model is not None and filters.model not in info.models:
                continue
            if filters.component is not None and filters.component not in info.components.values():
                continue
            out.append(row.index)
        return out

    def walk(self, log: Log, filters: RunFilters, before: int | None, after: int | None) -> Any:
        from .source import walk_indices

        return walk_indices(log, self.indices_of(log, filters), before, after)

    def subject(self, execution_id: str, record: Record | None = None) -> Subject:
        if execution_id not in self._project().by_execution:
            raise InputError(f"run {execution_id} not found", code=E_NOT_FOUND)
        return super().subject(execution_id, record)

    def has_declaration(self, declaration_id: str) -> bool:
        return declaration_id in self._project().by_declaration

    def declaration(self, declaration_id: str) -> Declaration | None:
        if not self.has_declaration(declaration_id):
            return None
        return super().declaration(declaration_id)

    def info(self, declaration_id: str) -> DeclarationInfo | None:
        if not self.has_declaration(declaration_id):
            return None
        declaration = self.declaration(declaration_id)
        if declaration is None:
            return None
        models, shown = declaration_models(declaration)
        return DeclarationInfo(dict(compute_identity(declaration).components), models, shown)

    def model_names(self) -> list[str]:
        infos = self.service.registry.declarations
        names = set()
        for declaration_id in self._project().by_declaration:
            info = infos.get(declaration_id)
            if info is not None:
                declaration = self.declaration(declaration_id)
                if declaration is not None:
                    _models, shown = declaration_models(declaration)
                    if shown:
                        names.add(shown.split(" ")[0])
        return sorted(names)


class ProjectBackend:
    """What the pages read for one principal: its project's runs, nothing else."""

    def __init__(self, service: Service, principal: Principal, audits: dict[str, Any]) -> None:
        self.service = service
        self.principal = principal
        self.source = ProjectSource(service, principal.project)
        self.policy_name: str | None = None
        self.audit_allowed = principal.scope == "admin"
        self._audits = audits

    @property
    def last_audit(self) -> AuditResult | None:
        found: AuditResult | None = self._audits.get("last")
        return found

    def close(self) -> None:
        """Nothing to close: the service owns its logs."""

    def size(self) -> int:
        return len(self.source._project().runs)

    def runs(
        self, filters: RunFilters, *, before: int | None, after: int | None, limit: int
    ) -> Page:
        return self.source.runs(filters, before=before, after=after, limit=limit)

    def detail(self, ref: str) -> RunDetail:
        if ref.isdigit():
            self.service.entry(self.principal, int(ref))  # not found unless the project's
            return run_detail(self.source, int(ref))
        row = self.service.run_row(self.principal, ref)
        return run_detail(self.source, row.index)

    def content(self, found: str) -> bytes | None:
        try:
            return self.service.blob(self.principal, found)
        except InputError as exc:
            if exc.code == E_NOT_FOUND:
                return None
            raise

    def receipt(self, execution_id: str) -> bytes:
        return self.service.receipt(self.principal, execution_id, declaration=True)

    def replay_command(self, execution_id: str) -> str:
        return f"runid replay {execution_id}  # in a home that holds the run (runid push)"

    def _subject(self, ref: str, name: str) -> Subject:
        project = self.source._project()
        row = project.by_execution.get(ref)
        if row is not None:
            record = self.service.log().entry(row.index).record
            return self.source.subject(ref, record)
        if ref in project.by_declaration:
            declaration = self.source.declaration(ref)
            origin = f"declaration {ref}"
            if declaration is None:
                return Subject("declaration", origin + ", withheld", ref, None, None, None)
            components = compute_identity(declaration).components
            return Subject("declaration", origin, ref, components, declaration, None)
        raise InputError(f"{name}: run or declaration {ref} not found", code=E_NOT_FOUND)

    def diff(self, a: str, b: str) -> tuple[dict[str, Any], tuple[Subject, Subject]]:
        sa, sb = self._subject(a, "a"), self._subject(b, "b")
        return report_json(sa, sb, compare(sa, sb)), (sa, sb)

    def pipeline(self, filters: RunFilters, limit: int) -> tuple[list[RunSummary], int]:
        return self.source.pipeline(filters, limit)

    def components_of(self, declaration_id: str) -> dict[str, str] | None:
        info = self.source.info(declaration_id)
        return None if info is None else info.components

    def model_names(self) -> list[str]:
        return self.source.model_names()

    def log_view(self, before: int | None) -> dict[str, Any]:
        log = self.service.log()
        note = self.service.checkpoint()
        heads, older = tree_heads(log, before)
        return {
            "origin": log.origin,
            "size": log.size(),
            "note": note,
            "verified": None,
            "heads": heads,
            "older": older,
            "cosigned": None,
        }

    def checkpoint(self) -> bytes | None:
        return self.service.checkpoint()

    def audit(self) -> AuditResult:
        if not self.audit_allowed:
            raise InputError("the audit of the whole log needs an admin token", code=E_AUTH)
        import time
        from datetime import UTC, datetime

        log = self.service.log()
        began = time.perf_counter()
        size = log.size()
        findings = tuple((f.where, f.code, f.problem) for f in log.audit())
        result = AuditResult(datetime.now(UTC), size, findings, time.perf_counter() - began)
        self._audits["last"] = result
        return result


def _login_page(prefix: str, csrf: str, message: str = "") -> Response:
    body = [
        tag("p", message, class_="error-message", data_code=E_AUTH) if message else "",
        tag(
            "form",
            tag("input", type="hidden", name="csrf", value=csrf),
            tag(
                "div",
                tag("label", "Token (runid_<id>_<secret>) of your project", for_="f-token"),
                tag(
                    "input",
                    id="f-token",
                    name="token",
                    type="password",
                    autocomplete="off",
                    required=True,
                ),
                class_="field wide",
            ),
            tag("div", tag("button", "Sign in", type="submit"), class_="actions"),
            method="post",
            action=prefix + "/login",
            class_="filters",
        ),
        tag(
            "p",
            "A read token shows your project's runs; an admin can create one with "
            "runid tokens create --project P --scope read.",
            class_="muted",
        ),
    ]
    html = page("Sign in", body, prefix=prefix)
    response = HTMLResponse(str(html), status_code=401 if message else 200)
    response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", path=prefix or "/")
    return response


def service_ui(service: Service, *, prefix: str = "/ui", secure: bool = False) -> Starlette:
    """The UI of ``service`` to mount at ``prefix``: each request's token picks its project.
    ``secure`` marks the session cookie ``Secure`` (behind TLS)."""
    audits: dict[str, dict[str, Any]] = {}

    def resolver(request: Request) -> tuple[ProjectBackend, str | None]:
        header = request.headers.get("authorization")
        token = request.cookies.get(COOKIE)
        if header is None and token is None:
            raise InputError(
                "sign in with a token of your project",
                code=E_AUTH,
                hint=f"open {prefix}/login",
            )
        principal = service.authenticate(header or f"Bearer {token}", "read")
        per_project = audits.setdefault(principal.project, {})
        user = f"project {principal.project} · {principal.scope} token {principal.token_id}"
        return ProjectBackend(service, principal, per_project), user

    def login_form(request: Request) -> Response:
        return _login_page(prefix, csrf_of(request))

    async def login(request: Request) -> Response:
        fields = await form_field(request)
        if not secrets.compare_digest(
            fields.get("csrf", "").encode(), request.cookies.get(CSRF_COOKIE, "-").encode()
        ):
            return _login_page(prefix, csrf_of(request), "this form was not sent by this page")
        token = fields.get("token", "").strip()
        try:
            service.authenticate(f"Bearer {token}", "read")
        except RunidError as exc:
            return _login_page(prefix, csrf_of(request), exc.message)
        response = RedirectResponse(prefix + "/runs", status_code=303)
        response.set_cookie(
            COOKIE, token, httponly=True, samesite="strict", secure=secure, path=prefix or "/"
        )
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse(prefix + "/login", status_code=303)
        response.delete_cookie(COOKIE, path=prefix or "/")
        return response

    extra = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
    return create_ui(resolver, prefix=prefix, extra_routes=extra)


def with_ui(api: Any, service: Service, *, prefix: str = "/ui", secure: bool = False) -> Any:
    """``api`` (the service's ASGI app) with the UI mounted at ``prefix``."""
    routes: Sequence[Any] = [
        Mount(prefix, app=service_ui(service, prefix=prefix, secure=secure)),
        Mount("", app=api),
    ]
    return Starlette(routes=list(routes))
