"""The human form of a replay report: :func:`render` (``runid replay``) and
:func:`render_agent` (``runid replay --agent``). Pure text; ``color`` adds ANSI styles."""

from __future__ import annotations

from ..diff import Change, format_value
from .report import AgentReplayReport, ReplayReport

__all__ = ["render", "render_agent"]


def render(report: ReplayReport, *, color: bool = False) -> str:
    """The human report of ``runid replay`` (plain text; ``color`` adds ANSI styles)."""

    def style(text: str, good: bool) -> str:
        if not color:
            return text
        code = "32" if good else "31"
        return f"\x1b[{code}m{text}\x1b[0m"

    def line(change: Change) -> str:
        label = f" ({change.label})" if change.label else ""
        moved = f"{format_value(change.a)} -> {format_value(change.b)}"
        return f"  {change.path}{label}: {moved}"

    lines = [
        f"replayed {report.original['execution_id']}",
        f"      as {report.replay['execution_id']}"
        + (f" (log entry {report.replay_index})" if report.replay_index is not None else ""),
        f"engine:      {report.engine}",
    ]
    same = report.same_declaration
    lines.append(
        "declaration: "
        + style("identical" if same else "DIFFERENT", same)
        + f" {report.replay['declaration_id']}"
    )
    if not same:
        lines.append(f"  components: {', '.join(report.changed_components)}")
        lines.extend(line(change) for change in report.declaration_changes)
    ok = report.same_outcome
    outputs = ", ".join(ref["digest"] for ref in report.replay["outcome"]["outputs"]) or "none"
    lines.append("outcome:     " + style("identical" if ok else "DIFFERENT", ok) + f" {outputs}")
    if not ok:
        before = ", ".join(ref["digest"] for ref in report.original["outcome"]["outputs"])
        lines.append(f"  original outputs: {before or 'none'}")
    if report.observed_changes:
        lines.append("observed:    differences")
        lines.extend(line(change) for change in report.observed_changes)
    else:
        lines.append("observed:    identical (response ids aside)")
    verdict = report.verdict
    if report.reasons:
        verdict += ": " + ", ".join(report.reasons)
    lines.append("verdict:     " + style(verdict, report.identical))
    return "\n".join(lines)


def render_agent(report: AgentReplayReport, *, color: bool = False) -> str:
    """The human report of ``runid replay --agent``: one block per model call."""
    lines = [
        f"agent loop: {report.original_turns} model call(s) recorded, "
        f"{report.replayed_turns} replayed; {report.tools_served} tool result(s) served from "
        "the record (no tool ran)"
    ]
    for number, turn in enumerate(report.turns):
        lines += ["", f"-- call {number} --", render(turn, color=color)]
    verdict = report.verdict
    if color:
        verdict = f"\x1b[{32 if report.identical else 31}m{verdict}\x1b[0m"
    lines += ["", f"loop verdict: {verdict}"]
    return "\n".join(lines)
