"""What a page is asked for: query parameters checked into values, or a clear 400.

Every parameter a page reads goes through here: an id must be ``sha256:<64 hex>``, a number a
plain decimal of at most 19 digits (no more than 2**62), a time an RFC 3339 date or date-time
(the browser's ``datetime-local`` form, without a zone, is read as UTC). A value that is not
so, and a parameter no page knows, is an :class:`~runid.errors.InputError` (``E_INPUT``),
shown as a 400 page that names it: never a traceback, never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Final

from ..diff import VERDICTS
from ..errors import E_INPUT, InputError

__all__ = [
    "FILTERS",
    "MAX_INT",
    "POLICY_RESULTS",
    "RunFilters",
    "check_keys",
    "digest",
    "integer",
    "parse_time",
    "ref",
]

MAX_INT: Final = 2**62
POLICY_RESULTS: Final = ("pass", "fail", "not_applicable")
FILTERS: Final = ("since", "until", "model", "declaration_id", "component", "policy", "verdict")
"""The filters of the runs page, as query parameters."""

_DIGEST: Final = re.compile(r"sha256:[0-9a-f]{64}")
_TIME: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?)?Z?"
)


def check_keys(values: Mapping[str, str], allowed: tuple[str, ...]) -> None:
    """Refuse a query parameter the page does not know (a typo would silently show all)."""
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise InputError(
            f"unknown parameter {unknown[0]!r:.40}",
            code=E_INPUT,
            hint=f"this page takes: {', '.join(allowed) or 'no parameters'}",
        )


def digest(value: str | None, name: str) -> str | None:
    """An id or digest (``sha256:<64 lowercase hex>``), or ``None`` when not given."""
    if value is None or value == "":
        return None
    value = value.strip()
    if not _DIGEST.fullmatch(value):
        raise InputError(
            f"{name}: {value!r:.80} is not an id",
            code=E_INPUT,
            hint="ids and digests are sha256: followed by 64 lowercase hex digits",
        )
    return value


def ref(value: str | None, name: str) -> str:
    """A run or declaration named by id (required)."""
    found = digest(value, name)
    if found is None:
        raise InputError(f"{name}: an execution id or declaration id is needed", code=E_INPUT)
    return found


def integer(value: str | None, name: str, *, low: int = 0, high: int = MAX_INT) -> int | None:
    """A decimal integer from ``low`` to ``high``, or ``None`` when not given."""
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 19) or not (
        low <= int(value) <= high
    ):
        raise InputError(
            f"{name}: expected an integer from {low} to {high:,}, got {value!r:.40}",
            code=E_INPUT,
        )
    return int(value)


def parse_time(value: str | None, name: str) -> datetime | None:
    """A time (UTC): ``2025-03-01``, ``2025-03-01T09:30`` or RFC 3339 with ``Z``."""
    if value is None or value == "":
        return None
    match = _TIME.fullmatch(value.strip())
    if match is None:
        raise InputError(
            f"{name}: {value!r:.60} is not a time",
            code=E_INPUT,
            hint="a UTC time such as 2025-03-01, 2025-03-01T09:30 or 2025-03-01T09:30:00Z",
        )
    year, month, day, hour, minute, second, fraction = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micro,
            tzinfo=UTC,
        )
    except ValueError:
        raise InputError(f"{name}: {value!r:.60} is not a date that exists", code=E_INPUT) from None


@dataclass(frozen=True)
class RunFilters:
    """The filters of the runs page; empty ones are ``None``.

    ``model`` and ``component`` select by the run's stored declaration (the declared model's
    name or version; one of its eight component digests); ``declaration_id`` by the record;
    ``since``/``until`` by the record's start time (``until`` excluded); ``policy`` by the
    result of the policy given to ``runid ui --policy``; ``verdict`` by how a replay relates
    to the run it replays (the verdict ``runid diff`` gives for the two).
    """

    since: datetime | None = None
    until: datetime | None = None
    model: str | None = None
    declaration_id: str | None = None
    component: str | None = None
    policy: str | None = None
    verdict: str | None = None

    @classmethod
    def parse(cls, values: Mapping[str, str]) -> RunFilters:
        model = (values.get("model") or "").strip() or None
        if model is not None and len(model) > 256:
            raise InputError("model: at most 256 characters", code=E_INPUT)
        policy = values.get("policy") or None
        if policy is not None and policy not in POLICY_RESULTS:
            raise InputError(
                f"policy: expected one of {', '.join(POLICY_RESULTS)}, got {policy!r:.40}",
                code=E_INPUT,
            )
        verdict = values.get("verdict") or None
        if verdict is not None and verdict not in VERDICTS:
            raise InputError(
                f"verdict: expected one of {', '.join(VERDICTS)}, got {verdict!r:.40}",
                code=E_INPUT,
            )
        since = parse_time(values.get("since"), "since")
        until = parse_time(values.get("until"), "until")
        if since is not None and until is not None and until <= since:
            raise InputError("until: must be later than since", code=E_INPUT)
        return cls(
            since=since,
            until=until,
            model=model,
            declaration_id=digest(values.get("declaration_id"), "declaration_id"),
            component=digest(values.get("component"), "component"),
            policy=policy,
            verdict=verdict,
        )

    def by_declaration(self) -> bool:
        """True when a filter selects by declaration (answered from the lookup indexes)."""
        return any(v is not None for v in (self.model, self.declaration_id, self.component))

    def query(self) -> dict[str, str]:
        """The filters as query parameters (for links that keep them)."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                out[f.name] = value.strftime("%Y-%m-%dT%H:%M:%SZ")
            elif value is not None:
                out[f.name] = str(value)
        return out
