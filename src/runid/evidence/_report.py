"""The evidence report: one self-contained HTML page (inline CSS and SVG, nothing fetched).

Private to :mod:`runid.evidence`. :func:`render_report` turns a verified bundle
(:class:`~runid.evidence.Verified`) into HTML: what ran (models, instruction versions, index
snapshots, parameter sets, with counts and time ranges), when each condition changed (a
timeline chart and the list of changes), the policy results, the verification results, and
the record-keeping clauses the evidence serves. Pure: text in, text out; the PDF is printed
from it by :mod:`runid.evidence.pdf`.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from ._clauses import CLAUSES, DISCLAIMER
from ._format import VerifiedRun, instant
from ._verify import Verified

__all__ = ["KINDS", "Variant", "render_report", "summarise"]

KINDS: Final = (
    ("model", "Models"),
    ("instructions", "Instruction versions"),
    ("context", "Index snapshots"),
    ("parameters", "Parameter sets"),
)
_MAX_ROWS: Final = 40
_MAX_LANE: Final = 10
_MAX_CHANGES: Final = 60
_COLOURS: Final = (
    "#1f6feb",
    "#d1242f",
    "#1a7f37",
    "#9a6700",
    "#8250df",
    "#bf3989",
    "#0a7ea4",
    "#57606a",
    "#e16f24",
    "#116329",
)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _when(timestamp: str) -> str:
    """A record time for a table: to the second, UTC."""
    return timestamp[:10] + " " + timestamp[11:19] + "Z" if len(timestamp) >= 19 else timestamp


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12] + "…"


def _absent(value: Any) -> str | None:
    if isinstance(value, dict) and set(value) == {"absent"}:
        return str(value["absent"]).replace("_", " ")
    return None


# --- what ran -------------------------------------------------------------------------------


def _model(value: Any) -> str:
    label = f"{value['provider']}/{value['name']}"
    version = value.get("version")
    return label + (f" @ {version}" if isinstance(version, str) else "")


def _instructions(value: Any) -> str:
    template = value.get("template")
    if isinstance(template, dict):
        version = template.get("version")
        return f"template {template.get('id')} v{version} ({_short(template['digest'])})"
    system = value.get("system")
    if isinstance(system, list) and system:
        return "system " + ", ".join(_short(s["digest"]) for s in system if "digest" in s)
    return "no template or system prompt"


def _index(value: Any) -> str:
    index = value.get("index")
    if isinstance(index, dict):
        return f"{index.get('id')} @ {_short(str(index.get('snapshot', '')))}"
    return f"no index ({_absent(index) or 'none'})"


def _parameter(name: str, value: Any) -> str:
    if isinstance(value, dict) and "value" in value:
        return f"{name}={value['value']}"
    if isinstance(value, dict) and value.get("source"):
        return f"{name}={str(value['source']).replace('_', ' ')}"
    return f"{name}={_absent(value) or '?'}"


def _parameters(value: Any) -> str:
    text = ", ".join(_parameter(k, v) for k, v in sorted(value.items()))
    return text if len(text) <= 140 else text[:139] + "…"


_LABELS: Final[dict[str, Callable[[Any], str]]] = {
    "model": _model,
    "instructions": _instructions,
    "context": _index,
    "parameters": _parameters,
}


def variant_of(run: VerifiedRun, kind: str) -> tuple[str, str]:
    """``(key, label)`` of the condition ``kind`` of one run, as far as it is disclosed."""
    if run.components is None:
        return "none", "declaration not held"
    if kind not in run.disclosed:
        return run.components[kind], f"undisclosed ({_short(run.components[kind])})"
    value = run.disclosed[kind]
    reason = _absent(value)
    if reason is not None:
        return f"absent:{reason}", reason
    label = _LABELS[kind](value)
    key = run.components[kind] if kind in ("model", "parameters") else label
    return key, label


@dataclass
class Variant:
    """One value a condition took: how many runs had it, first and last start time."""

    key: str
    label: str
    runs: int = 0
    first: str = ""
    last: str = ""
    spans: list[tuple[datetime, datetime]] = field(default_factory=list)


def summarise(
    runs: Sequence[VerifiedRun],
) -> tuple[dict[str, list[Variant]], list[tuple[str, str, str, str]]]:
    """Per condition kind, its variants (most used first); and the changes in time order:
    ``(started_at, kind, from label, to label)``."""
    ordered = sorted(runs, key=lambda r: (instant(r.record["started_at"]), r.index))
    variants: dict[str, dict[str, Variant]] = {kind: {} for kind, _t in KINDS}
    starts = [instant(r.record["started_at"]) for r in ordered]
    changes: list[tuple[str, str, str, str]] = []
    previous: dict[str, tuple[str, str]] = {}
    for position, run in enumerate(ordered):
        started = run.record["started_at"]
        until = starts[position + 1] if position + 1 < len(starts) else starts[position]
        for kind, _title in KINDS:
            key, label = variant_of(run, kind)
            variant = variants[kind].setdefault(key, Variant(key, label, first=started))
            variant.runs += 1
            variant.last = started
            variant.spans.append((starts[position], until))
            before = previous.get(kind)
            if before is not None and before[0] != key:
                changes.append((started, kind, before[1], label))
            previous[kind] = (key, label)
    ranked = {k: sorted(v.values(), key=lambda x: (-x.runs, x.first)) for k, v in variants.items()}
    return ranked, changes


# --- the timeline ---------------------------------------------------------------------------


def _columns(
    spans: Sequence[tuple[datetime, datetime]], start: datetime, span: float, width: int
) -> list[int]:
    """The pixel columns a value was in effect in: from each run's start until the next run's
    (the column of the next start itself excluded, unless the span is within one column)."""
    found: set[int] = set()
    for begin, end in spans:
        first = min(width - 1, int((begin - start).total_seconds() / span * width))
        last = min(width - 1, int((end - start).total_seconds() / span * width))
        found.update(range(first, max(first + 1, last)))
    return sorted(found)


def _distinct(labels: Sequence[str]) -> list[str]:
    """Labels of parameter sets without the items all of them share (what tells them apart)."""
    items = [label.split(", ") for label in labels]
    if len(items) < 2 or any(len(i) < 2 for i in items):
        return list(labels)
    common = set(items[0]).intersection(*items[1:])
    return [
        ", ".join(x for x in i if x not in common) or label
        for i, label in zip(items, labels, strict=True)
    ]


def timeline_svg(variants: dict[str, list[Variant]], runs: Sequence[VerifiedRun]) -> str:
    """An SVG chart: for each condition kind, a row per value (the most used), a bar where the
    value was in effect (from a run that had it until the next run started), so a change shows
    as one bar ending where another begins."""
    times = [instant(r.record["started_at"]) for r in runs]
    start, end = min(times), max(times)
    span = max((end - start).total_seconds(), 1.0)
    left, width, row, top = 290, 660, 16, 24
    rows: list[str] = []
    y = top
    for kind, title in KINDS:
        rows.append(f'<text x="4" y="{y + 12}" class="lane">{_e(title)}</text>')
        y += row + 2
        shown = variants[kind][:_MAX_LANE]
        labels = _distinct([v.label for v in shown])
        for n, variant in enumerate(shown):
            colour = _COLOURS[n % len(_COLOURS)]
            label = labels[n] if len(labels[n]) <= 44 else labels[n][:43] + "…"
            rows.append(
                f'<text x="14" y="{y + 11}" class="v"><title>{_e(variant.label)}'
                f"</title>{_e(label)}</text>"
            )
            cols = _columns(variant.spans, start, span, width)
            run_start = None
            for i, col in enumerate(cols):
                if run_start is None:
                    run_start = col
                if i + 1 == len(cols) or cols[i + 1] != col + 1:
                    rows.append(
                        f'<rect x="{left + run_start}" y="{y + 2}" '
                        f'width="{max(col - run_start + 1, 2)}" height="{row - 5}" '
                        f'fill="{colour}"/>'
                    )
                    run_start = None
            y += row
        hidden = len(variants[kind]) - len(shown)
        if hidden > 0:
            rows.append(f'<text x="14" y="{y + 11}" class="v">… and {hidden} more</text>')
            y += row
        y += 6
    ticks = []
    for i in range(5):
        x = left + round(i * (width - 1) / 4)
        moment = start + (end - start) * (i / 4)
        ticks.append(
            f'<line x1="{x}" y1="{top - 4}" x2="{x}" y2="{y}" class="grid"/>'
            f'<text x="{x}" y="{top - 8}" class="tick">'
            f"{_e(moment.strftime('%Y-%m-%d %H:%M'))}</text>"
        )
    height = y + 8
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {left + width + 50} {height}" '
        f'width="100%" role="img" aria-label="Timeline of conditions">'
        f"<style>.lane{{font:bold 12px sans-serif}}.v{{font:11px sans-serif;fill:#24292f}}"
        f".tick{{font:10px sans-serif;fill:#57606a;text-anchor:middle}}"
        f".grid{{stroke:#d0d7de;stroke-dasharray:2 3}}</style>"
        + "".join(ticks)
        + "".join(rows)
        + "</svg>"
    )


# --- the page --------------------------------------------------------------------------------

_CSS: Final = """
body{font:13px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#24292f;
margin:24px auto;max-width:1000px;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;border-bottom:1px solid #d0d7de;
padding-bottom:4px;margin-top:28px}h3{font-size:14px;margin:16px 0 6px}
table{border-collapse:collapse;width:100%;margin:6px 0 12px}th,td{border:1px solid #d0d7de;
padding:4px 6px;text-align:left;vertical-align:top}th{background:#f6f8fa}
td.n{text-align:right;white-space:nowrap}code{font:12px ui-monospace,Menlo,monospace}
.ok{color:#1a7f37;font-weight:600}.fail{color:#d1242f;font-weight:600}.muted{color:#57606a}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;color:#fff;font-weight:600}
.badge.ok{background:#1a7f37;color:#fff}.badge.fail{background:#d1242f;color:#fff}
ul.checks{list-style:none;padding-left:0}ul.checks li{margin:3px 0}
@media print{body{margin:0;max-width:none}h2{break-after:avoid}tr,svg{break-inside:avoid}}
@page{size:A4;margin:14mm}
"""


def _table(
    head: Sequence[str], rows: Sequence[Sequence[str]], numeric: frozenset[int] = frozenset()
) -> str:
    out = ["<table>"]
    if head:
        out += ["<tr>", *(f"<th>{_e(h)}</th>" for h in head), "</tr>"]
    for row in rows:
        out.append("<tr>")
        for i, cell in enumerate(row):
            out.append(f'<td class="n">{cell}</td>' if i in numeric else f"<td>{cell}</td>")
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def _summary(verified: Verified) -> str:
    runs = verified.runs
    starts = sorted((r.record["started_at"] for r in runs), key=instant)
    ok = sum(r.record["outcome"]["status"] == "ok" for r in runs)
    issuers = sorted({r.record["issuer"]["name"] for r in runs})
    steps = sum(
        isinstance(r.record.get("parent"), dict) and "execution_id" in r.record["parent"]
        for r in runs
    )
    manifest = verified.manifest or {}
    selection = manifest.get("selection") or {}
    disclosed = ", ".join(selection.get("disclose") or []) or "none"
    rows = [
        ("Runs", f"{len(runs):,} (entries {runs[0].index:,} to {runs[-1].index:,})"),
        ("Period (run start times)", f"{_e(_when(starts[0]))} to {_e(_when(starts[-1]))}"),
        ("Outcomes", f"{ok:,} ok, {len(runs) - ok:,} error; {steps:,} tool step(s)"),
        ("Issuers", _e(", ".join(issuers))),
        (
            "Log",
            f"<code>{_e(verified.origin)}</code>, key id <code>{_e(verified.key.key_id)}"
            f"</code>, tree size {verified.checkpoint.size:,}",
        ),
        (
            "Selection",
            _e(f"since {selection.get('since') or '-'}, until {selection.get('until') or '-'}")
            if manifest
            else "the log",
        ),
        ("Disclosed", _e(disclosed) if manifest else "as the log holds it"),
    ]
    if verified.project is not None:
        keys = len(verified.client_keys)
        rows.insert(
            0,
            (
                "Project",
                f"<code>{_e(verified.project)}</code>: every run signed by one of its "
                f"{keys:,} client key(s), each registered to it by an admin record of the log",
            ),
        )
    return _table((), [(f"<b>{_e(k)}</b>", v) for k, v in rows])


def _what_ran(variants: dict[str, list[Variant]]) -> str:
    out = []
    for kind, title in KINDS:
        found = variants[kind]
        rows = [
            (_e(v.label), f"{v.runs:,}", _e(_when(v.first)), _e(_when(v.last)))
            for v in found[:_MAX_ROWS]
        ]
        if len(found) > _MAX_ROWS:
            rows.append((f"… and {len(found) - _MAX_ROWS} more", "", "", ""))
        out.append(f"<h3>{_e(title)} ({len(found)})</h3>")
        out.append(_table(("value", "runs", "first run", "last run"), rows, frozenset({1})))
    return "".join(out)


def _difference(before: str, after: str) -> tuple[str, str]:
    """The items of two parameter-set labels that differ (the labels when they are not lists)."""
    old, new = before.split(", "), after.split(", ")
    if len(old) < 2 or len(old) != len(new):
        return before, after
    pairs = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
    return ", ".join(a for a, _b in pairs), ", ".join(b for _a, b in pairs)


def _changes(changes: Sequence[tuple[str, str, str, str]]) -> str:
    titles = dict(KINDS)
    if not changes:
        return "<p>No condition changed over the period.</p>"
    rows = [
        (_e(_when(t)), _e(titles[k]), *map(_e, _difference(a, b)))
        for t, k, a, b in changes[:_MAX_CHANGES]
    ]
    more = (
        f"<p class='muted'>… and {len(changes) - _MAX_CHANGES:,} more changes.</p>"
        if len(changes) > _MAX_CHANGES
        else ""
    )
    return (
        f"<p>{len(changes):,} change(s) between consecutive runs (by start time):</p>"
        + _table(("run started", "condition", "from", "to"), rows)
        + more
    )


def _policy(verified: Verified) -> str:
    results = verified.policy_results
    if results is None or verified.policy is None:
        return "<p>No policy was evaluated for this bundle (export with <code>--policy</code>).</p>"
    runs, rules = results["summary"]["runs"], results["summary"]["rules"]
    status = results["status"]
    badge = f'<span class="badge {"ok" if status == "pass" else "fail"}">{_e(status)}</span>'
    failed: dict[str, list[tuple[str, str]]] = {}
    starts = {r.index: r.record["started_at"] for r in verified.runs}
    for run in results["runs"]:
        for result in run["results"]:
            if result["status"] == "fail":
                failed.setdefault(result["rule"], []).append(
                    (starts.get(run["entry"], ""), result["message"])
                )
    rows = []
    for rule, hits in sorted(failed.items(), key=lambda item: -len(item[1])):
        times = sorted((t for t, _m in hits if t), key=instant)
        span = f"{_e(_when(times[0]))} to {_e(_when(times[-1]))}" if times else ""
        rows.append((f"<code>{_e(rule)}</code>", f"{len(hits):,}", span, _e(hits[0][1])))
    table = (
        _table(("rule", "runs failing", "when", "first message"), rows, frozenset({1}))
        if rows
        else "<p>No rule failed.</p>"
    )
    return (
        f"<p>Policy <b>{_e(verified.policy.name)}</b> (<code>{_e(verified.policy.digest)}</code>)"
        f": {badge} &nbsp; runs: {runs['pass']:,} passed, {runs['fail']:,} failed, "
        f"{runs['not_applicable']:,} not applicable; rules: {rules['pass']:,} passed, "
        f"{rules['fail']:,} failed, {rules['not_applicable']:,} not applicable.</p>" + table
    )


def _verification(verified: Verified, note: str) -> str:
    items = "".join(f'<li><span class="ok">ok</span> {_e(c)}</li>' for c in verified.checks)
    trust = (
        "The log key was given to the verifier."
        if verified.anchored
        else "The bundle's own log key was used: check it against the key the log publishes."
    )
    return f'<ul class="checks">{items}</ul><p>{_e(trust)} {_e(note)}</p>'


def _clauses() -> str:
    rows = [
        (
            f"{_e(c.framework)}<br><b>{_e(c.clause)}</b>",
            _e(c.paraphrase),
            _e(c.evidence),
            _e(c.shows),
            _e(c.does_not_show),
        )
        for c in CLAUSES
    ]
    return f"<p class='muted'>{_e(DISCLAIMER)}</p>" + _table(
        (
            "clause",
            "what it asks (paraphrased)",
            "evidence in this bundle",
            "what it shows",
            "what it does not show",
        ),
        rows,
    )


def render_report(
    verified: Verified, *, generated_at: str, tool_version: str, note: str = ""
) -> str:
    """The report as one HTML document. ``note`` says where the verification results come
    from (a bundle, the log, a bundle being exported)."""
    variants, changes = summarise(verified.runs)
    body = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Evidence report: {_e(verified.origin)}</title><style>{_CSS}</style></head><body>",
        "<h1>Evidence report</h1>",
        f"<p class='muted'>runid {_e(tool_version)}, generated {_e(generated_at)}. Every "
        "statement below is checked from the signed records; verify the bundle yourself with "
        "<code>runid evidence verify BUNDLE.zip --key LOG_VKEY</code>.</p>",
        "<h2>Summary</h2>",
        _summary(verified),
        "<h2>What ran</h2>",
        _what_ran(variants),
        "<h2>When each condition changed</h2>",
        timeline_svg(variants, verified.runs),
        _changes(changes),
        "<h2>Policy results</h2>",
        _policy(verified),
        "<h2>Verification results</h2>",
        _verification(verified, note),
        "<h2>Record-keeping clauses</h2>",
        _clauses(),
        "</body></html>\n",
    ]
    return "".join(body)
