"""``runid replay``: re-execute a recorded run and say whether anything moved.

Registered on the ``runid`` group by :mod:`runid._cli`. Exit codes follow ``diff(1)``: 0 when the
declaration and the outcome are identical, 1 when something differs, 2 on any error (so a
script can tell "the run is not reproducible" from "the replay could not run").
"""

from __future__ import annotations

import json
from typing import Any

import click

from .._internal.files import check_kind
from ..errors import InputError
from ._common import Command, home_of, wants_color

__all__ = ["EXIT_ERROR", "replay_command"]

EXIT_ERROR = 2


@click.command(name="replay", cls=Command, error_exit_code=EXIT_ERROR)
@click.argument("execution", metavar="EXECUTION")
@click.option(
    "--endpoint",
    metavar="URL",
    help="OpenAI-compatible base URL to replay against (default: the recorded endpoint).",
)
@click.option(
    "--model-path",
    metavar="PATH",
    help="Local model file or directory (llama.cpp GGUF, transformers checkpoint).",
)
@click.option(
    "--agent",
    is_flag=True,
    help="Replay the whole tool loop this model call belongs to, serving the recorded tool "
    "results (no tool runs; a call the record lacks is an error).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (spec §18).")
@click.option("--home", type=click.Path(file_okay=False), help="runid home directory.")
@click.pass_context
def replay_command(
    ctx: click.Context,
    *,
    execution: str,
    endpoint: str | None,
    model_path: str | None,
    agent: bool,
    as_json: bool,
    home: str | None,
) -> None:
    """Re-execute the run EXECUTION (an execution id or entry number) through its adapter.

    The replay is recorded in the same log, linked to the original by replay_of. The report
    says whether the declaration is identical (if not, what moved), whether the outcome is
    identical (output digests) and which observed facts moved (provider drift).

    With --agent, the tool loop the call belongs to is replayed from its first model call;
    each call is compared with the original's, and tools are served from the record.

    Exit codes: 0 declaration and outcome identical, 1 something differs, 2 error.
    """
    from ..replay import AgentReplayReport, ReplayReport, render, render_agent, replay, replay_agent

    options: dict[str, Any] = {}
    if endpoint:
        options["base_url"] = endpoint
    if model_path:
        check_kind(model_path, directory_ok=True)  # a FIFO would block the model loader
        options["model_path"] = model_path
    report: ReplayReport | AgentReplayReport
    if agent:
        if model_path:
            raise InputError("--agent replays over an OpenAI-compatible endpoint, not a file")
        report = replay_agent(home_of(ctx), execution, **options)
    else:
        report = replay(home_of(ctx), execution, **options)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    elif isinstance(report, AgentReplayReport):
        click.echo(render_agent(report, color=wants_color()))
    else:
        click.echo(render(report, color=wants_color()))
    ctx.exit(report.exit_code)
