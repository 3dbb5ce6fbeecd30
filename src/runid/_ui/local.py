"""The UI's view of a home on this machine (``runid ui``): every read through a read-only log.

:class:`LocalBackend` is what the routes of :mod:`runid._ui.app` call; the service's backend
(:mod:`runid._ui.service`) answers the same calls for one project of ``runid serve``.
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._cli.diff import report_json
from ..checkpoint import verify_checkpoint
from ..diff import compare
from ..errors import RunidError
from ..home import Home
from ..note import split_note
from ..policy import Policy
from ..resolve import Subject, resolve
from ..tlog.cosignature import CosignerKey
from ..transparency.witnessing import load_cosigned
from .inspect import RunDetail, run_detail, tree_heads
from .logpage import AuditResult
from .query import RunFilters
from .source import LocalSource, Page, RunSummary

__all__ = ["LocalBackend"]


class LocalBackend:
    """One home, read-only. ``policy`` evaluates runs; ``witnesses`` check cosignatures."""

    audit_allowed = True

    def __init__(
        self,
        home: Path | Home,
        *,
        policy: Policy | None = None,
        policy_name: str | None = None,
        witnesses: Sequence[CosignerKey] = (),
    ) -> None:
        self.source = LocalSource(home, policy=policy, policy_name=policy_name, witnesses=witnesses)
        self.home = self.source.home
        self.policy_name = policy_name if policy is not None else None
        self.last_audit: AuditResult | None = None
        self._audit_lock = threading.Lock()

    def close(self) -> None:
        self.source.close()

    # --- runs ----------------------------------------------------------------------------------

    def size(self) -> int:
        return self.source.log().size()

    def runs(
        self, filters: RunFilters, *, before: int | None, after: int | None, limit: int
    ) -> Page:
        return self.source.runs(filters, before=before, after=after, limit=limit)

    def detail(self, ref: str) -> RunDetail:
        return run_detail(self.source, ref)

    def content(self, digest: str) -> bytes | None:
        return self.source.log().content(digest)

    def receipt(self, execution_id: str) -> bytes:
        return self.source.log().receipt(execution_id, include_stored=True)

    def replay_command(self, execution_id: str) -> str:
        return f"runid --home {shlex.quote(str(self.home.path))} replay {execution_id}"

    def diff(self, a: str, b: str) -> tuple[dict[str, Any], tuple[Subject, Subject]]:
        """What ``runid diff A B --json`` prints for two ids of this log, and both sides."""
        log = self.source.log()
        sa, sb = resolve(a, log), resolve(b, log)
        return report_json(sa, sb, compare(sa, sb)), (sa, sb)

    # --- drift ---------------------------------------------------------------------------------

    def pipeline(self, filters: RunFilters, limit: int) -> tuple[list[RunSummary], int]:
        return self.source.pipeline(filters, limit)

    def components_of(self, declaration_id: str) -> dict[str, str] | None:
        info = self.source.info(declaration_id)
        return None if info is None else info.components

    def model_names(self) -> list[str]:
        return self.source.model_names()

    # --- the log ---------------------------------------------------------------------------------

    def log_view(self, before: int | None) -> dict[str, Any]:
        log = self.source.log()
        stored = log.store.latest_checkpoint()
        problem = None
        if stored is not None:
            try:
                verify_checkpoint(stored.note, log.keyring, log.origin)
            except RunidError as exc:
                problem = f"{exc.code}: {exc.message}"
        heads, older = tree_heads(log, before)
        return {
            "origin": log.origin,
            "size": log.size(),
            "note": stored.note if stored else None,
            "verified": problem,
            "heads": heads,
            "older": older,
            "cosigned": self._cosigned(),
        }

    def _cosigned(self) -> str | None:
        log = self.source.log()
        try:
            found = load_cosigned(log)
        except RunidError as exc:
            return f"the cosigned checkpoint does not verify: {exc.code}: {exc.message}"
        if found is None:
            return None
        note, head = found
        names = sorted({s.name for s in split_note(note)[1] if s.name != log.origin})
        return f"checkpoint of size {head.size:,} cosigned by {', '.join(names) or 'no witness'}"

    def checkpoint(self) -> bytes | None:
        stored = self.source.log().store.latest_checkpoint()
        return stored.note if stored else None

    def audit(self) -> AuditResult:
        """Run the audit now (one at a time) and keep its result."""
        with self._audit_lock:
            log = self.source.log()
            began = time.perf_counter()
            size = log.size()
            findings = tuple((f.where, f.code, f.problem) for f in log.audit())
            result = AuditResult(datetime.now(UTC), size, findings, time.perf_counter() - began)
            self.last_audit = result
            return result
