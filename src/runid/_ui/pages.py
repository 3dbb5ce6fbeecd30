"""The runs page and the run page.

Both are functions from what :mod:`runid._ui.source` and :mod:`runid._ui.inspect` computed to
:class:`~runid._ui.html.Html`; they read nothing themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..diff import VERDICTS
from .html import Html, tag, url
from .inspect import RunDetail
from .layout import badge, page, short, status_badge
from .query import POLICY_RESULTS, RunFilters
from .source import Page
from .tree import Content, composition, value_html

__all__ = ["run_page", "runs_page"]


def _field(label: str, name: str, control: Html, hint: str = "") -> Html:
    return tag(
        "div",
        tag("label", label, for_=f"f-{name}"),
        control,
        tag("small", hint, id=f"h-{name}") if hint else "",
        class_="field",
    )


def _input(name: str, value: str, **attrs: Any) -> Html:
    described = f"h-{name}" if attrs.pop("hinted", False) else None
    return tag("input", id=f"f-{name}", name=name, value=value, aria_describedby=described, **attrs)


def _select(name: str, value: str | None, options: tuple[str, ...], empty: str) -> Html:
    opts = [tag("option", empty, value="")]
    for option in options:
        opts.append(tag("option", option.replace("_", " "), value=option, selected=option == value))
    return tag("select", opts, id=f"f-{name}", name=name)


def _filters_form(filters: RunFilters, prefix: str, has_policy: bool) -> Html:
    q = filters.query()
    fields = [
        _field(
            "Since (UTC)",
            "since",
            _input("since", q.get("since", ""), placeholder="2025-03-01T09:00", hinted=True),
            "date or date-time",
        ),
        _field("Until (UTC)", "until", _input("until", q.get("until", ""))),
        _field("Model", "model", _input("model", q.get("model", ""), placeholder="gpt-4o-mini")),
        _field(
            "Declaration id",
            "declaration_id",
            _input("declaration_id", q.get("declaration_id", ""), placeholder="sha256:…"),
        ),
        _field(
            "Component digest",
            "component",
            _input("component", q.get("component", ""), placeholder="sha256:…"),
        ),
    ]
    if has_policy:
        fields.append(
            _field(
                "Policy result",
                "policy",
                _select("policy", filters.policy, POLICY_RESULTS, "any"),
            )
        )
    fields.append(
        _field(
            "Replay verdict",
            "verdict",
            _select("verdict", filters.verdict, VERDICTS, "any"),
        )
    )
    return tag(
        "form",
        tag("div", fields, class_="fields"),
        tag(
            "div",
            tag("button", "Filter", type="submit"),
            " ",
            tag("a", "Clear", href=prefix + "/runs", class_="button secondary"),
            class_="actions",
        ),
        method="get",
        action=prefix + "/runs",
        class_="filters",
        role="search",
        aria_label="Filter runs",
    )


def runs_page(
    result: Page,
    filters: RunFilters,
    *,
    size: int,
    prefix: str = "",
    has_policy: bool = False,
    policy_name: str | None = None,
    user: str | None = None,
) -> Html:
    q = filters.query()
    head = ["#", "Execution", "Started (UTC)", "Model", "Declaration", "Status"]
    if has_policy:
        head.append("Policy")
    head.append("Replay")
    rows = []
    for run in result.runs:
        model = result.models.get(run.declaration_id) or run.served_model or ""
        served = (
            tag("small", f"served {run.served_model}", class_="muted")
            if run.served_model and run.served_model not in model
            else ""
        )
        cells = [
            tag("td", str(run.index), class_="num"),
            tag(
                "td",
                tag(
                    "a",
                    tag("code", short(run.execution_id)),
                    href=url(f"{prefix}/runs/{run.execution_id}"),
                    title=run.execution_id,
                    class_="run-link",
                    data_execution_id=run.execution_id,
                ),
            ),
            tag("td", run.started_at.replace("T", " ").rstrip("Z")[:23]),
            tag("td", model, " ", served),
            tag(
                "td",
                tag(
                    "a",
                    tag("code", short(run.declaration_id)),
                    href=url(f"{prefix}/runs", declaration_id=run.declaration_id),
                    title=f"runs of declaration {run.declaration_id}",
                ),
            ),
            tag("td", status_badge(run.status)),
        ]
        if has_policy:
            cells.append(tag("td", status_badge(result.policy.get(run.index, "none"))))
        verdict = result.verdicts.get(run.index)
        if run.replay_of is not None:
            cells.append(
                tag(
                    "td",
                    tag(
                        "a",
                        (verdict or "replay").replace("_", " "),
                        href=url(f"{prefix}/diff", a=run.replay_of, b=run.execution_id),
                        title=f"replay of {run.replay_of}: the diff",
                    ),
                )
            )
        else:
            cells.append(tag("td", ""))
        rows.append(tag("tr", cells, data_index=str(run.index)))
    if not rows:
        rows.append(tag("tr", tag("td", "No run matches on this page.", colspan=str(len(head)))))
    table = tag(
        "table",
        tag("caption", f"Runs, newest first ({size:,} in all)"),
        tag("thead", tag("tr", [tag("th", h, scope="col") for h in head])),
        tag("tbody", rows),
        class_="runs",
    )
    nav = []
    if result.newer is not None:
        nav.append(tag("a", "← Newer", href=url(prefix + "/runs", **q, after=result.newer)))
    if result.older is not None:
        nav.append(tag("a", "Older →", href=url(prefix + "/runs", **q, before=result.older)))
    note = ""
    if result.budget_spent:
        note = tag(
            "p",
            f"Looked through {result.scanned:,} entries for this page; older ones may match: "
            "follow Older.",
            class_="note",
            role="status",
        )
    subtitle = f"policy: {policy_name}" if policy_name else ""
    return page(
        "Runs",
        [
            _filters_form(filters, prefix, has_policy),
            note,
            table,
            tag("nav", nav, class_="pager", aria_label="Pages"),
        ],
        active="runs",
        prefix=prefix,
        subtitle=subtitle,
        user=user,
    )


def _facts(record: Mapping[str, Any], content: Content | None, prefix: str) -> Html:
    rows = []
    for key in ("started_at", "ended_at", "issuer", "parent", "replay_of", "nonce"):
        if key in record:
            rows.append(tag("tr", tag("th", key, scope="row"), tag("td", value_html(record[key]))))
    observed = record.get("observed", {})
    observed_rows = [
        tag("tr", tag("th", key, scope="row"), tag("td", value_html(value, content, prefix)))
        for key, value in (observed.items() if isinstance(observed, dict) else ())
    ]
    return tag(
        "div",
        tag("section", tag("h2", "Record"), tag("table", rows, class_="kv")),
        tag(
            "section",
            tag("h2", "Observed facts"),
            tag("table", observed_rows, class_="kv", data_section="observed"),
        ),
        class_="cols",
    )


def _outcome(record: Mapping[str, Any], content: Content | None, prefix: str) -> Html:
    outcome = record.get("outcome", {})
    if not isinstance(outcome, dict):
        return tag("p", "unreadable outcome")
    parts: list[object] = [tag("p", "status ", status_badge(str(outcome.get("status"))))]
    outputs = outcome.get("outputs", [])
    if isinstance(outputs, list) and outputs:
        parts.append(
            tag("ol", [tag("li", value_html(o, content, prefix)) for o in outputs], start="0")
        )
    if "error" in outcome:
        parts.append(tag("h3", "Error"))
        parts.append(value_html(outcome["error"], content, prefix))
    return tag("section", tag("h2", "Outcome"), parts, data_section="outcome")


def _checks(detail: RunDetail) -> Html:
    items = []
    for check in detail.checks:
        kind = {"ok": "ok", "fail": "fail"}.get(check.status, "muted")
        word = {"ok": "verified", "fail": "FAILED", "none": "—"}[check.status]
        items.append(
            tag(
                "li",
                tag("span", check.name, class_="check-name"),
                " ",
                badge(word, kind),
                " ",
                tag("span", check.text),
                data_check=check.name,
                data_status=check.status,
            )
        )
    return tag(
        "section", tag("h2", "Verification"), tag("ul", items, class_="checks"), id="verification"
    )


def _policy(detail: RunDetail, policy_name: str | None) -> Html:
    if policy_name is None:
        return tag(
            "section",
            tag("h2", "Policy"),
            tag("p", "No policy given (start runid ui with --policy FILE).", class_="muted"),
        )
    evaluation = detail.evaluation
    if evaluation is None:
        return tag(
            "section",
            tag("h2", f"Policy {policy_name}"),
            tag("p", status_badge("fail"), " the declaration is not stored: no rule can hold"),
            data_policy="fail",
        )
    rows = [
        tag(
            "tr",
            tag("td", tag("code", r.rule)),
            tag("td", status_badge(r.status)),
            tag("td", r.message),
            tag("td", tag("code", r.pointer) if r.pointer else ""),
            data_rule=r.rule,
            data_status=r.status,
        )
        for r in evaluation.results
    ]
    scope = tag("p", evaluation.scope, class_="muted") if evaluation.scope else ""
    return tag(
        "section",
        tag("h2", f"Policy {policy_name} ", status_badge(evaluation.status)),
        scope,
        tag(
            "table",
            tag(
                "thead",
                tag("tr", [tag("th", h, scope="col") for h in ("Rule", "Result", "Why", "Where")]),
            ),
            tag("tbody", rows),
            class_="policy",
        ),
        data_policy=evaluation.status,
    )


def run_page(
    detail: RunDetail,
    *,
    content: Content | None,
    replay_command: str,
    prefix: str = "",
    policy_name: str | None = None,
    user: str | None = None,
) -> Html:
    record = detail.record
    execution_id = str(record.get("execution_id"))
    declaration_id = str(record.get("declaration_id"))
    receipt = url(f"{prefix}/runs/{execution_id}/receipt.json")
    actions = tag(
        "ul",
        tag(
            "li",
            tag("a", "Download receipt", href=receipt, download=f"receipt-{detail.index}.json"),
        ),
        tag("li", tag("a", "Diff with…", href=url(f"{prefix}/diff", a=execution_id))),
        tag(
            "li",
            tag(
                "a",
                "Runs of this declaration",
                href=url(f"{prefix}/runs", declaration_id=declaration_id),
            ),
        ),
        tag(
            "li",
            tag(
                "a",
                "Drift of this model",
                href=url(f"{prefix}/drift", model=_model_name(detail.declaration)),
            )
            if _model_name(detail.declaration)
            else "",
        ),
        tag(
            "li",
            tag(
                "a",
                "Diff with the replayed run",
                href=url(f"{prefix}/diff", a=str(record["replay_of"]), b=execution_id),
            ),
        )
        if isinstance(record.get("replay_of"), str)
        else "",
        class_="actions-list",
    )
    ids = tag(
        "dl",
        tag("dt", "execution id"),
        tag("dd", tag("code", execution_id, id="execution-id")),
        tag("dt", "declaration id"),
        tag("dd", tag("code", declaration_id, id="declaration-id")),
        tag("dt", "log index"),
        tag("dd", str(detail.index)),
        class_="ids",
    )
    held = (
        "stored in the log"
        if detail.declaration is not None
        else "withheld: not stored in this log (its components are known only through the id)"
    )
    return page(
        f"Run {detail.index}",
        [
            ids,
            actions,
            _checks(detail),
            tag(
                "section",
                tag("h2", "Composition"),
                tag("p", f"Declaration {held}.", class_="muted"),
                composition(detail.declaration, detail.components, content, prefix),
                id="composition",
            ),
            _facts(record, content, prefix),
            _outcome(record, content, prefix),
            _policy(detail, policy_name),
            tag(
                "section",
                tag("h2", "Replay"),
                tag("p", "Run it again through its adapter (recorded with replay_of):"),
                tag("pre", tag("code", replay_command), class_="command", id="replay-command"),
            ),
        ],
        active="runs",
        prefix=prefix,
        user=user,
    )


def _model_name(declaration: Mapping[str, Any] | None) -> str | None:
    model = declaration.get("model") if declaration is not None else None
    name = model.get("name") if isinstance(model, dict) else None
    return name if isinstance(name, str) else None
