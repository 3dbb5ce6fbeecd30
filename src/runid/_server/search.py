"""Search filters of the log service, and how a page of runs is chosen.

A search walks one project's runs in log order (oldest first) from a **cursor**, the log index
of the last run the previous page returned (``next_cursor``; absent on the last page), and
keeps those that match every filter given:

* ``since`` / ``until``: the run started at or after / before this RFC 3339 time (UTC ``Z``);
* ``model``: the model the serving side reported (``observed.served_model``), or the declared
  model's name or version (declarations the log stores);
* ``declaration_id``; ``component``: a component digest of the run's declaration (stored);
* ``status``: ``ok`` or ``error``;
* ``policy`` with ``policy_result`` (``pass``, ``fail`` or ``not_applicable``): the run's result
  under that policy (docs/spec.md §17; a run whose declaration is not stored fails it).

``limit`` (1 to :data:`MAX_LIMIT`, default 100) caps the page. With a policy, at most
:data:`SCAN_LIMIT` runs are evaluated per page: a page may then hold fewer runs than ``limit``
and still have a ``next_cursor``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from ..errors import InputError
from .registry import DeclarationInfo, ProjectIndex, RunRow, parse_time

__all__ = ["MAX_LIMIT", "SCAN_LIMIT", "Filters", "run_json"]

MAX_LIMIT: Final = 1000
SCAN_LIMIT: Final = 5000

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_TIME = re.compile(
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]{1,9})?Z"
)
_FIELDS = frozenset(
    {
        "since",
        "until",
        "model",
        "declaration_id",
        "component",
        "status",
        "policy",
        "policy_result",
        "limit",
        "cursor",
    }
)


def _time(value: object, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        raise InputError(f"{name}: expected an RFC 3339 UTC time like 2025-03-01T12:00:00Z")
    try:
        return parse_time(value)
    except ValueError:
        raise InputError(f"{name}: {value!r} is not a date that exists") from None


def _digest(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _DIGEST.fullmatch(value):
        raise InputError(f"{name}: expected sha256:<64 lowercase hex digits>")
    return value


def _int(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, str) and value.isdigit() and len(value) < 20:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InputError(f"{name}: expected an integer from {low} to {high}")
    return value


@dataclass(frozen=True)
class Filters:
    since: datetime | None = None
    until: datetime | None = None
    model: str | None = None
    declaration_id: str | None = None
    component: str | None = None
    status: str | None = None
    policy: Any = None
    policy_result: str | None = None
    limit: int = 100
    cursor: int = -1
    scan_limit: int = SCAN_LIMIT

    @classmethod
    def parse(cls, values: Mapping[str, Any], *, parse_policy: Any = None) -> Filters:
        """Filters from query parameters or a JSON body; ``parse_policy`` reads ``policy``."""
        unknown = sorted(set(values) - _FIELDS)
        if unknown:
            raise InputError(f"unknown search filter {unknown[0]!r:.40}")
        model = values.get("model")
        if model is not None and (not isinstance(model, str) or not 0 < len(model) <= 256):
            raise InputError("model: expected a model name (1 to 256 characters)")
        status = values.get("status")
        if status not in (None, "ok", "error"):
            raise InputError("status: expected ok or error")
        policy, result = values.get("policy"), values.get("policy_result")
        if (policy is None) != (result is None):
            raise InputError("policy and policy_result go together")
        if result not in (None, "pass", "fail", "not_applicable"):
            raise InputError("policy_result: expected pass, fail or not_applicable")
        if policy is not None:
            if parse_policy is None:
                raise InputError("a policy filter is given in the body of POST /v1/search")
            policy = parse_policy(policy)
        cursor = values.get("cursor")
        return cls(
            since=_time(values.get("since"), "since"),
            until=_time(values.get("until"), "until"),
            model=model,
            declaration_id=_digest(values.get("declaration_id"), "declaration_id"),
            component=_digest(values.get("component"), "component"),
            status=status,
            policy=policy,
            policy_result=result,
            limit=_int(values.get("limit", 100), "limit", 1, MAX_LIMIT),
            cursor=-1 if cursor is None else _int(cursor, "cursor", 0, 2**62),
        )

    def select(
        self, project: ProjectIndex, declarations: Mapping[str, DeclarationInfo]
    ) -> Iterator[RunRow]:
        """The project's runs after the cursor that match every filter but the policy."""
        rows: Iterator[RunRow]
        if self.declaration_id is not None:
            rows = (
                r
                for r in project.by_declaration.get(self.declaration_id, ())
                if r.index > self.cursor
            )
        else:
            rows = project.after(self.cursor)
        for row in rows:
            if self.since is not None and row.started_at < self.since:
                continue
            if self.until is not None and row.started_at >= self.until:
                continue
            if self.status is not None and row.status != self.status:
                continue
            if self.model is not None or self.component is not None:
                info = declarations.get(row.declaration_id)
                if (
                    self.model is not None
                    and row.served_model != self.model
                    and (info is None or self.model not in info.models)
                ):
                    continue
                if self.component is not None and (
                    info is None or self.component not in info.components.values()
                ):
                    continue
            yield row


def run_json(row: RunRow) -> dict[str, Any]:
    """A run as a search result."""
    return {
        "index": row.index,
        "execution_id": row.execution_id,
        "declaration_id": row.declaration_id,
        "started_at": row.started_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "served_model": row.served_model,
        "status": row.status,
    }
