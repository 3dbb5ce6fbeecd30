"""The drift timeline: when each component of one pipeline changed across its executions.

A pipeline is the runs that share the declared model (``model``) or one component digest
(``component``). For its latest runs (oldest to newest), each of the eight components is a
lane: a band per stretch of runs with the same digest, and a marker where the digest changed
from the run before. The chart is inline SVG; every run is a link (a column the full height of
the chart) to its page, and the changes are listed below it as links too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from ..declaration import COMPONENTS
from .html import Html, tag, url
from .layout import page, short
from .source import RunSummary

__all__ = ["Change", "changes", "chart", "drift_page"]

LANE: Final = 30
LEFT: Final = 110
WIDTH: Final = 900
TOP: Final = 24

Change = tuple[RunSummary, list[str]]


def changes(
    runs: Sequence[RunSummary], components: Mapping[str, Mapping[str, str] | None]
) -> list[Change]:
    """Each run where a component's digest differs from the run before: the components."""
    found: list[Change] = []
    previous: Mapping[str, str] | None = None
    for run in runs:
        current = components.get(run.declaration_id)
        if previous is not None and current is not None:
            moved = [name for name in COMPONENTS if current.get(name) != previous.get(name)]
            if moved:
                found.append((run, moved))
        if current is not None:
            previous = current
    return found


def chart(
    runs: Sequence[RunSummary],
    components: Mapping[str, Mapping[str, str] | None],
    prefix: str = "",
) -> Html:
    """The timeline as SVG: lanes by component, columns by run (each a link)."""
    n = max(len(runs), 1)
    step = (WIDTH - LEFT - 10) / n
    height = TOP + LANE * len(COMPONENTS) + 28
    parts: list[object] = []
    for lane, name in enumerate(COMPONENTS):
        y = TOP + lane * LANE
        parts.append(
            tag("text", name, x=str(LEFT - 8), y=f"{y + LANE / 2 + 4:.0f}", class_="lane-label")
        )
        start = 0
        band = 0
        for i in range(1, len(runs) + 1):
            here = components.get(runs[i - 1].declaration_id)
            this = here.get(name) if here else None
            after = None
            if i < len(runs):
                nxt = components.get(runs[i].declaration_id)
                after = nxt.get(name) if nxt else None
            if i == len(runs) or after != this:
                kind = "unknown" if this is None else f"v{band % 2}"
                parts.append(
                    tag(
                        "rect",
                        x=f"{LEFT + start * step:.1f}",
                        y=str(y + 4),
                        width=f"{max((i - start) * step - 1, 1):.1f}",
                        height=str(LANE - 8),
                        class_=f"band band-{kind}",
                    )
                )
                band += 1
                start = i
    for run, moved in changes(runs, components):
        x = LEFT + runs.index(run) * step
        for name in moved:
            y = TOP + COMPONENTS.index(name) * LANE
            parts.append(
                tag(
                    "rect",
                    x=f"{x - 1:.1f}",
                    y=str(y + 1),
                    width="3",
                    height=str(LANE - 2),
                    class_="change-mark",
                    data_component=name,
                )
            )
    for position, run in enumerate(runs):
        x = LEFT + position * step
        title = f"run {run.index} · {run.started_at} · {short(run.execution_id)}"
        parts.append(
            tag(
                "a",
                tag("title", title),
                tag(
                    "rect",
                    x=f"{x:.1f}",
                    y=str(TOP),
                    width=f"{max(step, 2):.1f}",
                    height=str(LANE * len(COMPONENTS)),
                    class_="column",
                ),
                href=url(f"{prefix}/runs/{run.execution_id}"),
                aria_label=title,
                class_="run-column",
                tabindex="-1",
            )
        )
    if runs:
        axis_y = TOP + LANE * len(COMPONENTS) + 16
        parts.append(tag("text", runs[0].started_at[:16], x=str(LEFT), y=str(axis_y)))
        parts.append(
            tag(
                "text",
                runs[-1].started_at[:16],
                x=str(WIDTH - 10),
                y=str(axis_y),
                text_anchor="end",
            )
        )
    return tag(
        "svg",
        tag("title", "Component changes across the pipeline's runs"),
        parts,
        xmlns="http://www.w3.org/2000/svg",
        viewBox=f"0 0 {WIDTH} {height}",
        role="img",
        class_="drift",
        aria_label="Drift timeline: the eight components across runs; marks where one changed",
    )


def _picker(selected: str, kind: str, models: Sequence[str], prefix: str) -> Html:
    return tag(
        "form",
        tag(
            "div",
            tag(
                "div",
                tag("label", "Model (declared name)", for_="f-model"),
                tag(
                    "input",
                    id="f-model",
                    name="model",
                    value=selected if kind == "model" else "",
                    list="models",
                ),
                tag("datalist", [tag("option", value=m) for m in models], id="models"),
                class_="field",
            ),
            tag(
                "div",
                tag("label", "or a component digest", for_="f-component"),
                tag(
                    "input",
                    id="f-component",
                    name="component",
                    value=selected if kind == "component" else "",
                    placeholder="sha256:…",
                ),
                class_="field wide",
            ),
            class_="fields",
        ),
        tag("div", tag("button", "Show", type="submit"), class_="actions"),
        method="get",
        action=prefix + "/drift",
        class_="filters",
    )


def drift_page(
    runs: Sequence[RunSummary],
    total: int,
    components: Mapping[str, Mapping[str, str] | None],
    *,
    selected: str,
    kind: str,
    models: Sequence[str],
    prefix: str = "",
    user: str | None = None,
) -> Html:
    body: list[object] = [_picker(selected, kind, models, prefix)]
    if not selected:
        body.append(
            tag(
                "ul",
                [tag("li", tag("a", m, href=url(prefix + "/drift", model=m))) for m in models],
                class_="pipelines",
                aria_label="Pipelines by model",
            )
            if models
            else tag("p", "No stored declaration names a model.", class_="muted")
        )
        return page("Drift", body, active="drift", prefix=prefix, user=user)
    shown = (
        f"the latest {len(runs):,} of {total:,} runs" if total > len(runs) else f"{total:,} runs"
    )
    body.append(tag("p", f"{kind} {selected}: {shown}, oldest to newest.", class_="muted"))
    if not runs:
        body.append(tag("p", "No run of this pipeline in the log."))
        return page("Drift", body, active="drift", prefix=prefix, user=user)
    body.append(tag("figure", chart(runs, components, prefix), class_="chart"))
    found = changes(runs, components)
    rows = [
        tag(
            "li",
            tag(
                "a",
                f"run {run.index}",
                href=url(f"{prefix}/runs/{run.execution_id}"),
                class_="change-link",
            ),
            f" {run.started_at.replace('T', ' ')[:19]}: ",
            ", ".join(moved),
            " ",
            tag(
                "a",
                "diff with the run before",
                href=url(f"{prefix}/diff", a=_before(runs, run).execution_id, b=run.execution_id),
            ),
            data_index=str(run.index),
            data_changed=" ".join(moved),
        )
        for run, moved in found
    ]
    body.append(
        tag(
            "section",
            tag("h2", f"Changes ({len(found)})"),
            tag("ol", rows, class_="drift-changes")
            if rows
            else tag("p", "No component changed across these runs."),
        )
    )
    return page("Drift", body, active="drift", prefix=prefix, user=user)


def _before(runs: Sequence[RunSummary], run: RunSummary) -> RunSummary:
    position = runs.index(run)
    return runs[position - 1] if position > 0 else run
