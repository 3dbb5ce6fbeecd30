"""The log page: the latest signed checkpoint, the size, the tree head history, the audit.

The audit (:meth:`runid.log.Log.audit`: every entry, node, checkpoint and lookup row re-hashed)
is not run when the page loads: a button runs it, and the page shows the last result with the
time it was run.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from .html import Html, tag, url
from .inspect import HeadRow
from .layout import badge, page

__all__ = ["AuditResult", "log_page"]


@dataclass(frozen=True)
class AuditResult:
    """The last audit: when, of how many entries, and each problem found."""

    when: datetime
    size: int
    findings: tuple[tuple[str, str, str], ...]  # (where, code, problem)
    seconds: float


def _audit(result: AuditResult | None, prefix: str, allowed: bool, csrf: str) -> Html:
    if result is None:
        status = tag("p", "Not run since this UI started.", class_="muted", id="audit-status")
    elif not result.findings:
        status = tag(
            "p",
            badge("ok", "ok"),
            f" audit ok: {result.size:,} entries, their nodes, every signed checkpoint and the "
            f"lookup indexes re-hashed and matched ({result.seconds:.2f} s, "
            f"{result.when:%Y-%m-%d %H:%M:%S} UTC)",
            id="audit-status",
            data_audit="ok",
        )
    else:
        status = tag(
            "div",
            tag(
                "p",
                badge("failed", "fail"),
                f" audit failed: {len(result.findings)} problem(s) in {result.size:,} entries "
                f"({result.when:%Y-%m-%d %H:%M:%S} UTC)",
            ),
            tag(
                "ul",
                [
                    tag("li", tag("code", code), f" {where}: {problem}")
                    for where, code, problem in result.findings[:100]
                ],
            ),
            id="audit-status",
            data_audit="fail",
        )
    button = (
        tag(
            "form",
            tag("input", type="hidden", name="csrf", value=csrf),
            tag("button", "Run audit now", type="submit"),
            method="post",
            action=prefix + "/log/audit",
        )
        if allowed
        else tag("p", "The audit of the whole log needs an admin token.", class_="muted")
    )
    return tag(
        "section",
        tag("h2", "Audit"),
        tag(
            "p",
            "Re-hash every entry and node against the checkpoints, verify every signed "
            "checkpoint and envelope, and rebuild the lookup indexes (runid log audit).",
        ),
        status,
        button,
        id="audit",
    )


def log_page(
    *,
    origin: str,
    size: int,
    note: bytes | None,
    verified: str | None,
    heads: list[HeadRow],
    older: int | None,
    audit: AuditResult | None,
    audit_allowed: bool,
    csrf: str = "",
    cosigned: str | None = None,
    prefix: str = "",
    user: str | None = None,
) -> Html:
    latest = [
        tag(
            "dl",
            tag("dt", "origin"),
            tag("dd", tag("code", origin)),
            tag("dt", "size"),
            tag("dd", f"{size:,} entries", id="log-size", data_size=str(size)),
            tag("dt", "signature"),
            tag(
                "dd",
                badge("verified", "ok") if verified is None else badge("FAILED", "fail"),
                " ",
                verified or "checkpoint signed by the log's key",
            ),
            tag("dt", "witnesses"),
            tag("dd", cosigned or "no cosigned checkpoint in this home"),
            class_="ids",
        ),
        tag("pre", note.decode("utf-8", "replace"), class_="note-text", id="checkpoint")
        if note
        else tag("p", "No signed checkpoint yet.", class_="muted"),
        tag("p", tag("a", "checkpoint as text", href=prefix + "/log/checkpoint")),
    ]
    rows = [
        tag(
            "tr",
            tag("td", f"{row.size:,}", class_="num"),
            tag("td", tag("code", base64.b64encode(row.root).decode("ascii"))),
            tag(
                "td",
                badge("verified", "ok") if row.verified else badge("FAILED", "fail"),
                " ",
                row.problem or "",
            ),
            data_size=str(row.size),
        )
        for row in heads
    ]
    history = tag(
        "section",
        tag("h2", "Tree head history"),
        tag(
            "table",
            tag("caption", "Stored signed checkpoints, newest first"),
            tag(
                "thead",
                tag("tr", [tag("th", h, scope="col") for h in ("Size", "Root hash", "Signature")]),
            ),
            tag("tbody", rows),
            class_="heads",
        ),
        tag(
            "nav",
            tag("a", "Older →", href=url(prefix + "/log", before=older)) if older else "",
            class_="pager",
            aria_label="Tree head pages",
        ),
    )
    return page(
        "Log",
        [
            tag("section", tag("h2", "Latest checkpoint"), latest),
            history,
            _audit(audit, prefix, audit_allowed, csrf),
        ],
        active="log",
        prefix=prefix,
        user=user,
    )
