"""``runid diff A B``: which conditions of two runs diverged, and how their outcomes relate.

Registered on the ``runid`` group by :mod:`runid._cli`. A and B are each an execution id, a
declaration id, a receipt file or a declaration (or identity) file (:mod:`runid.resolve`).
Exit codes follow ``diff(1)``: 0 identical, 1 different, 2 any error — unlike the other
commands, whose error classes have their own codes, so that a script can tell "they differ"
from "could not compare".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from ..diff import DIFF_FORMAT, Change, Comparison, compare, format_value, group_runs
from ..home import Home
from ..keys import Keyring
from ..log import Log
from ..resolve import Subject, resolve
from ._common import Command, home_of, key_text, wants_color

__all__ = [
    "EXIT_DIFFERENT",
    "EXIT_ERROR",
    "EXIT_IDENTICAL",
    "diff_command",
    "render",
    "report_json",
]

EXIT_IDENTICAL, EXIT_DIFFERENT, EXIT_ERROR = 0, 1, 2


@click.command(name="diff", cls=Command, error_exit_code=EXIT_ERROR)
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (spec §16).")
@click.option(
    "--key",
    "keys_",
    multiple=True,
    metavar="PUBKEY",
    help="A verifier key (or a file holding one) for receipts; repeat for several logs. "
    "Default: the home's key.",
)
@click.option("--home", type=click.Path(file_okay=False), help="runid home directory.")
@click.pass_context
def diff_command(
    ctx: click.Context, *, a: str, b: str, as_json: bool, keys_: tuple[str, ...], home: str | None
) -> None:
    """Compare two runs or declarations: name every diverged condition.

    A and B are each an execution id or a declaration id (looked up in the home's log), a
    receipt file (verified first, with --key or the home's key), a declaration file, or the
    identity file 'runid id --json' prints. Component digests are compared first, then every
    differing field or list item; for two runs the observed facts and outcome classify the
    relation: identical, different declarations, provider drift, observed drift, sampling
    nondeterminism, or undetermined (a changed output under one declaration that does not
    record the model, or another condition that can change the output: named).

    Exit codes (as diff(1)): 0 identical, 1 different, 2 error.
    """
    del home  # read through home_of(ctx), which also honours the group's --home
    subjects, comparison = _compare(home_of(ctx), a, b, keys_)
    if as_json:
        click.echo(json.dumps(report_json(*subjects, comparison), indent=2, ensure_ascii=False))
    else:
        click.echo(render(*subjects, comparison, color=wants_color()))
    ctx.exit(EXIT_IDENTICAL if comparison.identical else EXIT_DIFFERENT)


def _compare(
    home: Home, a: str, b: str, keys: tuple[str, ...]
) -> tuple[tuple[Subject, Subject], Comparison]:
    keyring = Keyring.from_texts(key_text(k) for k in keys) if keys else None
    log = _open_log(home)
    try:
        sa = resolve(a, log, keyring=keyring)
        sb = resolve(b, log, keyring=keyring)
    finally:
        if log is not None:
            log.close()
    return (sa, sb), compare(sa, sb)


def _open_log(home: Home) -> Log | None:
    """The home's log, if the home has one; without it, ids cannot be resolved (resolve says
    so) but files still can. Never creates a home or a log."""
    has_keys = home.signing_key_path.exists() or home.public_key_path.exists()
    if not has_keys or not (Path(home.path) / "log.sqlite3").is_file():
        return None
    return Log.open(home, need_key=False)


# --- the JSON report -------------------------------------------------------------------------


def _side(subject: Subject) -> dict[str, Any]:
    if subject.declaration is not None:
        content = "included"
    elif subject.components is not None:
        content = "digests"
    else:
        content = "withheld"
    return {
        "kind": subject.kind,
        "origin": subject.origin,
        "declaration_id": subject.declaration_id,
        "execution_id": subject.execution_id,
        "declaration": content,
    }


def report_json(a: Subject, b: Subject, comparison: Comparison) -> dict[str, Any]:
    """The ``runid diff --json`` object (docs/spec.md §16.3)."""
    return {"format": DIFF_FORMAT, "a": _side(a), "b": _side(b), **comparison.to_json()}


# --- the terminal report ---------------------------------------------------------------------

_HEADLINES = {
    "identical": "identical",
    "observed_drift": "same declaration and outcome, but observed facts differ",
    "different_declarations": "different declarations",
    "provider_drift": "same declaration, provider drift: the outcome differs and the "
    "provider's served model or fingerprint moved",
    "nondeterminism": "same declaration and same observed facts, different outcome: "
    "sampling nondeterminism",
    "undetermined": "same declaration and same observed facts, different outcome: "
    "undetermined, because conditions that can change the output are not recorded",
}
_COLORS = {
    "identical": "green",
    "observed_drift": "yellow",
    "different_declarations": "red",
    "provider_drift": "yellow",
    "nondeterminism": "magenta",
    "undetermined": "yellow",
}


def render(a: Subject, b: Subject, comparison: Comparison, *, color: bool = False) -> str:
    """The readable report: both sides, the verdict, then every diverged condition."""

    def style(text: str, **kwargs: Any) -> str:
        return click.style(text, **kwargs) if color else text

    lines = [f"A  {a.origin}", f"B  {b.origin}", ""]
    headline = _HEADLINES[comparison.verdict]
    changed = comparison.changed_components
    if comparison.verdict == "different_declarations":
        if changed:
            noun = "component differs" if len(changed) == 1 else "components differ"
            headline += f": {len(changed)} of 8 {noun} ({', '.join(changed)})"
        else:
            headline += " (their components are not disclosed)"
    elif comparison.verdict == "identical" and comparison.outcome is None:
        headline = "identical declarations"
    lines.append(style(headline, fg=_COLORS[comparison.verdict], bold=True))
    if comparison.reasons:
        lines.append(f"undetermined: {', '.join(comparison.reasons)}")
    sections = (
        ("declaration", comparison.declaration),
        ("observed", comparison.observed or ()),
        ("outcome", comparison.outcome or ()),
    )
    for title, changes in sections:
        if changes:
            lines.append("")
            lines.append(style(f"{title}:", bold=True))
            lines.extend(_lines(changes, style))
            if title == "declaration" and (note := _truncation_note(a, b)):
                lines.append(f"  {note}")
    if (
        comparison.observed is None
        and comparison.declaration_ids[0] == comparison.declaration_ids[1]
    ):
        lines.append("")
        lines.append("outcome: not compared (one side is not a run)")
    return "\n".join(lines)


def _lines(changes: tuple[Change, ...], style: Callable[..., str]) -> Iterator[str]:
    for path, members in group_runs(changes):
        first = members[0]
        if len(members) > 1:
            where = "A" if first.kind == "removed" else "B"
            mark, fg = ("-", "red") if first.kind == "removed" else ("+", "green")
            noun = "messages" if path.split("[")[0].endswith("messages") else "items"
            line = f"{mark} {path}: {len(members)} {noun} only in {where}"
            yield "  " + style(line, fg=fg)
            continue
        yield "  " + _line(first, path, style)


def _line(change: Change, path: str, style: Callable[..., str]) -> str:
    label = f"{change.label}, " if change.label else ""
    shown = style(path, fg="cyan")
    if change.kind == "removed":
        value = change.label or format_value(change.a)
        return style(f"- {path}: {value} (only in A)", fg="red")
    if change.kind == "added":
        value = change.label or format_value(change.b)
        return style(f"+ {path}: {value} (only in B)", fg="green")
    if change.kind == "moved":
        return f"~ {shown}: {change.label or format_value(change.a)} moved"
    if change.kind == "component":
        return (
            f"  {shown}: component {format_value(change.a)} → {format_value(change.b)} "
            "(content withheld)"
        )
    if change.kind == "declaration":
        return (
            f"  declaration {format_value(change.a)} → {format_value(change.b)} "
            "(components not disclosed)"
        )
    return f"  {shown}: {label}{format_value(change.a)} → {format_value(change.b)}"


def _truncation_note(a: Subject, b: Subject) -> str | None:
    """``history truncated on B only: kept 7 of 50 messages`` when the sides cut differently."""
    if a.declaration is None or b.declaration is None:
        return None
    cuts = [_cut(side.declaration) for side in (a, b)]
    if cuts[0] == cuts[1]:
        return None
    if cuts[0] is None or cuts[1] is None:
        side, cut = ("B", cuts[1]) if cuts[0] is None else ("A", cuts[0])
        return f"history truncated on {side} only: {cut}"
    return f"history truncated on both: A {cuts[0]}, B {cuts[1]}"


def _cut(declaration: Any) -> str | None:
    inputs = declaration.get("inputs") if isinstance(declaration, dict) else None
    truncation = inputs.get("truncation") if isinstance(inputs, dict) else None
    if not isinstance(truncation, dict) or "kept_count" not in truncation:
        return None
    kept, original = truncation["kept_count"], truncation.get("original_count")
    return f"kept {kept} of {original} messages ({truncation.get('strategy', 'unknown')})"
