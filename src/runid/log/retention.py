"""Retention: erase the contents of runs older than a set number of days; keep the records.

The setting lives in the home's ``config.toml`` (:attr:`runid.home.Home.config_path`)::

    [retention]
    contents_days = 180     # erase the contents of runs that started more than 180 days ago
    declarations = false    # also erase those runs' declarations (default: keep them)

Records, the Merkle tree and checkpoints are kept for ever: they hold digests, not content, and
are what proves the runs happened (the EU AI Act asks deployers to keep logs at least six
months, Art. 19 and 26(6)). No setting deletes them; a key that tries (``records_days``) is
refused. :func:`plan_retention` lists what the setting erases at a given time and
:func:`apply_retention` erases it (:meth:`runid.store.LogStore.erase_blobs`), so every proof,
receipt and bundle still verifies.

A content is erased only when every run that references it is old: a system prompt that a run
inside the period still uses is kept (:attr:`RetentionPlan.kept`). Blobs no run references are
not dated, so retention leaves them.

>>> parse_retention({"contents_days": 30})
Retention(contents_days=30, declarations=False)
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from .._internal.files import read_regular
from ..errors import E_CONFIG, E_RETENTION, FileAccessError, InputError
from ..home import Home
from . import Log
from .erasure import digests_in, erase_noticed
from .notices import retention_rule

__all__ = [
    "MAX_CONFIG_BYTES",
    "Retention",
    "RetentionPlan",
    "apply_retention",
    "load_retention",
    "parse_retention",
    "plan_retention",
]

MAX_CONFIG_BYTES: Final = 1 << 20
"""The largest ``config.toml`` read."""

_KEYS = {"contents_days", "declarations"}
_TABLES = {"retention"}


@dataclass(frozen=True)
class Retention:
    """The ``[retention]`` setting: erase the contents of runs that started more than
    ``contents_days`` days ago (``None``: keep them), and with ``declarations`` their
    declarations too."""

    contents_days: int | None = None
    declarations: bool = False


MAX_CONTENTS_DAYS: Final = 100_000
"""The longest retention (about 270 years): a cut-off date before it is not a date."""


def parse_retention(table: Mapping[str, Any]) -> Retention:
    """The :class:`Retention` of a ``[retention]`` table; ``E_RETENTION`` for anything else."""
    for key in table:
        if key in _KEYS:
            continue
        if "record" in key or "checkpoint" in key or "entr" in key:
            raise InputError(
                f"retention.{key}: records, the tree and checkpoints are kept for ever",
                code=E_RETENTION,
                hint="they hold digests, not content; only contents_days (and declarations) "
                "can be set",
            )
        raise InputError(
            f"retention.{key}: not a retention setting",
            code=E_RETENTION,
            hint="the settings are contents_days = N and declarations = true|false",
        )
    days = table.get("contents_days")
    if days is not None and (
        isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_CONTENTS_DAYS
    ):
        raise InputError(
            f"retention.contents_days must be a whole number of days, 1 or more and at most "
            f"{MAX_CONTENTS_DAYS:,}, not {days!r:.40}",
            code=E_RETENTION,
            hint="to keep no content at all, record with privacy mode digests-only",
        )
    declarations = table.get("declarations", False)
    if not isinstance(declarations, bool):
        raise InputError("retention.declarations must be true or false", code=E_RETENTION)
    return Retention(days, declarations)


def load_retention(home: Home) -> Retention:
    """The retention setting of ``home`` (none when it has no ``config.toml``)."""
    path = home.config_path
    if not path.exists():
        return Retention()
    try:
        config = tomllib.loads(
            read_regular(path, MAX_CONFIG_BYTES, what="configuration files").decode("utf-8")
        )
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a TOML file ({exc})", code=E_CONFIG) from None
    except FileAccessError:
        raise
    unknown = sorted(set(config) - _TABLES)
    if unknown:
        raise InputError(
            f"{path}: unknown setting {unknown[0]!r}",
            code=E_CONFIG,
            hint="config.toml holds the table [retention] (docs/spec.md §20.7)",
        )
    table = config.get("retention", {})
    if not isinstance(table, dict):
        raise InputError(f"{path}: retention must be a table, [retention]", code=E_CONFIG)
    return parse_retention(table)


@dataclass(frozen=True)
class RetentionPlan:
    """What a retention setting erases at ``now``: runs that started before ``cutoff`` are
    ``old`` (the others ``recent``); ``contents`` are the stored blobs only old runs reference
    (with ``declarations``, their declaration blobs too), ``bytes`` their size, and ``kept``
    counts the stored contents of old runs kept because a recent run references them too."""

    now: datetime
    cutoff: datetime
    setting: Retention
    old: int
    recent: int
    contents: tuple[str, ...]
    declarations: int
    bytes: int
    kept: int

    def to_json(self) -> dict[str, Any]:
        return {
            "now": _stamp(self.now),
            "cutoff": _stamp(self.cutoff),
            "contents_days": self.setting.contents_days,
            "declarations": self.setting.declarations,
            "runs": {"old": self.old, "recent": self.recent},
            "erase": {
                "contents": len(self.contents) - self.declarations,
                "declarations": self.declarations,
                "bytes": self.bytes,
            },
            "kept_shared": self.kept,
            "digests": list(self.contents),
        }


def plan_retention(log: Log, setting: Retention, now: datetime | None = None) -> RetentionPlan:
    """What ``setting`` erases from ``log`` at ``now`` (default: the current time): one pass
    over the entries (verified) and the declarations they name."""
    if setting.contents_days is None:
        raise InputError(
            "no retention setting: contents are kept",
            code=E_RETENTION,
            hint="set [retention] contents_days = N in the home's config.toml",
        )
    moment = datetime.now(UTC) if now is None else now
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        cutoff = moment - timedelta(days=setting.contents_days)
    except OverflowError:  # a moment within contents_days of year 1: nothing is that old
        cutoff = datetime.min.replace(tzinfo=UTC)
    old_declarations: set[str] = set()
    recent_declarations: set[str] = set()
    old_contents: set[str] = set()
    recent_contents: set[str] = set()
    old = recent = 0
    for entry in log.iter_entries():
        record = entry.record
        outcome = set(digests_in(record["outcome"]))
        if _instant(record["started_at"]) < cutoff:
            old += 1
            old_declarations.add(record["declaration_id"])
            old_contents |= outcome
        else:
            recent += 1
            recent_declarations.add(record["declaration_id"])
            recent_contents |= outcome
    store = log.store
    log.refresh_lookups()
    blobs: dict[str, str | None] = {}
    for declaration_id in old_declarations | recent_declarations:
        blobs[declaration_id] = store.find_declaration(declaration_id)
        declaration = log.declaration(declaration_id)
        if declaration is None:
            continue
        named = set(digests_in(declaration)) - {declaration_id}
        if declaration_id in recent_declarations:
            recent_contents |= named
        else:
            old_contents |= named
    candidates = sorted(old_contents - recent_contents)
    sizes = {d: _size(log, d) for d in candidates}
    contents = [d for d in candidates if sizes[d] is not None]
    declarations = 0
    if setting.declarations:
        for declaration_id in sorted(old_declarations - recent_declarations):
            blob = blobs.get(declaration_id)
            size = None if blob is None else _size(log, blob)
            if blob is not None and size is not None:
                contents.append(blob)
                sizes[blob] = size
                declarations += 1
    kept = sum(1 for d in old_contents & recent_contents if _size(log, d) is not None)
    total = sum(sizes[d] or 0 for d in contents)
    return RetentionPlan(
        moment, cutoff, setting, old, recent, tuple(contents), declarations, total, kept
    )


def apply_retention(log: Log, plan: RetentionPlan) -> list[str]:
    """Erase what ``plan`` lists, under one erasure notice (rule ``retention contents_days=N``,
    :func:`~runid.log.erasure.erase_noticed`); the digests erased. The reason recorded names
    the setting."""
    if not plan.contents:
        return []
    days = plan.setting.contents_days
    if days is None:  # keep contents: nothing is old
        return []
    _notice, erased = erase_noticed(
        log,
        list(plan.contents),
        reason=f"retention: contents kept {days} days",
        rule=retention_rule(days),
    )
    return erased


def _instant(timestamp: str) -> datetime:
    """A record's RFC 3339 UTC timestamp (up to 9 fractional digits) as a datetime."""
    head, _, fraction = timestamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(fraction + '000000')[:6]}+00:00")


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _size(log: Log, digest: str) -> int | None:
    data = log.store.get_blob(digest)
    return None if data is None else len(data)
