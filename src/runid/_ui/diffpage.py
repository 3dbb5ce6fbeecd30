"""The diff page: two runs (or declarations) side by side, from the ``runid diff --json`` report.

The page is drawn from the very object ``runid diff --json`` prints (``report_json`` of the
command, over :func:`runid.diff.compare`), so what it shows is what the command says: the
verdict, the state of each of the eight components, and every diverged condition of the
declaration, the observed facts and the outcome, each a row with the A and B values. Below,
both compositions side by side with the diverged fields and list items marked (the change
pointers of the report).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ..declaration import COMPONENTS
from ..diff import format_value
from .html import Html, tag, url
from .layout import badge, page, short
from .tree import Content, composition

__all__ = ["HEADLINES", "diff_page"]

HEADLINES: Final = {
    "identical": "Identical",
    "observed_drift": "Observed drift: same declaration and outcome, observed facts differ",
    "different_declarations": "Different declarations",
    "provider_drift": "Provider drift: same declaration, the outcome differs and the provider's "
    "served model or fingerprint moved",
    "nondeterminism": "Sampling nondeterminism: same declaration and observed facts, "
    "different outcome",
    "undetermined": "Undetermined: same declaration and observed facts, different outcome, and "
    "conditions that can change the output are not recorded",
}
_KINDS: Final = {"identical": "ok", "different_declarations": "fail"}


def _value(value: Any, missing: bool) -> Html:
    if missing:
        return tag("span", "—", class_="muted", title="not on this side")
    return tag("code", format_value(value, limit=160))


def _changes(title: str, section: str, changes: list[dict[str, Any]]) -> Html:
    if not changes:
        return Html("")
    rows = []
    for change in changes:
        kind = str(change["kind"])
        label = tag("small", change["label"], class_="muted") if change.get("label") else ""
        rows.append(
            tag(
                "tr",
                tag("th", tag("code", change["path"] or "declaration id"), " ", label, scope="row"),
                tag("td", badge(kind, kind)),
                tag("td", _value(change["a"], kind == "added"), class_="side-a"),
                tag("td", _value(change["b"], kind == "removed"), class_="side-b"),
                class_=f"change change-{kind}",
                data_path=change["path"],
                data_kind=kind,
                data_section=section,
            )
        )
    return tag(
        "section",
        tag("h2", title),
        tag(
            "table",
            tag(
                "thead",
                tag("tr", [tag("th", h, scope="col") for h in ("Condition", "Change", "A", "B")]),
            ),
            tag("tbody", rows),
            class_="changes",
        ),
    )


def _side(name: str, side: Mapping[str, Any] | None, prefix: str) -> Html:
    if side is None:
        return tag("div", tag("h2", name), class_="side")
    execution = side.get("execution_id")
    link = (
        tag("a", tag("code", short(execution)), href=url(f"{prefix}/runs/{execution}"))
        if execution
        else ""
    )
    return tag(
        "div",
        tag("h2", name, " ", link),
        tag("p", side.get("origin", "")),
        tag(
            "p",
            "declaration ",
            tag("code", short(side.get("declaration_id")), title=side.get("declaration_id")),
            f" ({side.get('declaration')})",
            class_="muted",
        ),
        class_="side",
        data_side=name,
    )


def _components(report: Mapping[str, Any]) -> Html:
    states = report["declaration"]["components"]
    cells = []
    for name in COMPONENTS:
        state = states.get(name, "unknown")
        cells.append(
            tag(
                "li",
                tag("span", name, class_="component-name"),
                " ",
                badge(state, {"same": "ok", "different": "fail"}.get(state, "muted")),
                data_component=name,
                data_state=state,
            )
        )
    return tag("ul", cells, class_="component-states", aria_label="Components")


def _form(a: str, b: str, prefix: str) -> Html:
    return tag(
        "form",
        tag(
            "div",
            tag(
                "div",
                tag("label", "A: execution or declaration id", for_="f-a"),
                tag("input", id="f-a", name="a", value=a, placeholder="sha256:…", required=True),
                class_="field wide",
            ),
            tag(
                "div",
                tag("label", "B: execution or declaration id", for_="f-b"),
                tag("input", id="f-b", name="b", value=b, placeholder="sha256:…", required=True),
                class_="field wide",
            ),
            class_="fields",
        ),
        tag("div", tag("button", "Compare", type="submit"), class_="actions"),
        method="get",
        action=prefix + "/diff",
        class_="filters",
    )


def diff_page(
    report: Mapping[str, Any] | None,
    *,
    a: str = "",
    b: str = "",
    sides: tuple[Any, Any] | None = None,
    content: Content | None = None,
    prefix: str = "",
    user: str | None = None,
) -> Html:
    """The page; ``report`` is ``None`` until two sides are named. ``sides`` are the two
    subjects (declaration and components) for the side-by-side compositions."""
    body: list[object] = [_form(a, b, prefix)]
    if report is not None:
        verdict = str(report["verdict"])
        reasons = report.get("reasons") or []
        body.append(
            tag(
                "div",
                tag("p", "Verdict", class_="label"),
                tag("p", HEADLINES.get(verdict, verdict), class_="verdict-text"),
                tag("p", "not recorded: " + ", ".join(reasons), class_="muted") if reasons else "",
                tag(
                    "p",
                    tag("a", "JSON report", href=url(f"{prefix}/diff.json", a=a, b=b)),
                    " (what runid diff --json prints)",
                ),
                class_=f"verdict verdict-{_KINDS.get(verdict, 'warn')}",
                id="verdict",
                data_verdict=verdict,
                role="status",
            )
        )
        body.append(
            tag(
                "div",
                _side("A", report.get("a"), prefix),
                _side("B", report.get("b"), prefix),
                class_="cols",
            )
        )
        body.append(_components(report))
        body.append(_changes("Declaration", "declaration", report["declaration"]["changes"]))
        observed, outcome = report["observed"], report["outcome"]
        body.append(_changes("Observed facts", "observed", observed["changes"]))
        body.append(_changes("Outcome", "outcome", outcome["changes"]))
        if not outcome["compared"]:
            body.append(tag("p", "Outcome not compared: one side is not a run.", class_="muted"))
        if sides is not None:
            changes = report["declaration"]["changes"]
            marks_a = frozenset(c["pointer_a"] for c in changes if c.get("pointer_a"))
            marks_b = frozenset(c["pointer_b"] for c in changes if c.get("pointer_b"))
            states = report["declaration"]["components"]
            body.append(
                tag(
                    "section",
                    tag("h2", "Side by side"),
                    tag(
                        "div",
                        *(
                            tag(
                                "div",
                                tag("h3", name),
                                composition(
                                    side.declaration,
                                    side.components,
                                    content,
                                    prefix,
                                    marks=marks,
                                    states=states,
                                ),
                                class_="side",
                            )
                            for name, side, marks in (
                                ("A", sides[0], marks_a),
                                ("B", sides[1], marks_b),
                            )
                        ),
                        class_="cols",
                    ),
                    id="side-by-side",
                )
            )
    return page("Diff", body, active="diff", prefix=prefix, user=user)
