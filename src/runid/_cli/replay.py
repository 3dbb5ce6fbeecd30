"""``runid replay``: re-execute a recorded run and say whether anything moved.

Registered on the ``runid`` group by :mod:`runid._cli`. The run is an entry of the home's log,
or a receipt file of any log (verified with ``--key``, its contents from ``--contents DIR``):
the replay is recorded in the home either way. Exit codes follow ``diff(1)``: 0 when the
declaration and the outcome are identical, 1 when something differs, 2 on any error (so a
script can tell "the run is not reproducible" from "the replay could not run").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .. import canonical
from .._internal.files import check_kind, read_input
from ..errors import InputError
from ._common import Command, home_of, key_text, wants_color

__all__ = ["EXIT_ERROR", "replay_command"]

EXIT_ERROR = 2


@click.command(name="replay", cls=Command, error_exit_code=EXIT_ERROR)
@click.argument("execution", metavar="EXECUTION|RECEIPT")
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
@click.option(
    "--contents",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Directory of the run's contents, files named by digest (as 'runid log "
    "export-contents' writes them, or an extracted evidence bundle): for a receipt, or for a "
    "run whose contents this log does not hold.",
)
@click.option(
    "--key",
    "keys_",
    multiple=True,
    metavar="PUBKEY",
    help="Verifier key (or a file holding one) of the log that issued a RECEIPT; default: "
    "the home's key.",
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
    contents: str | None,
    keys_: tuple[str, ...],
    as_json: bool,
    home: str | None,
) -> None:
    """Re-execute a recorded run through its adapter and compare.

    EXECUTION is an execution id or entry number of the home's log; the replay is recorded in
    the same log, linked to the original by replay_of. RECEIPT is a receipt file of any log
    (runid log prove): it is verified first (--key, the issuing log's public key), its
    contents come from --contents DIR, and the replay is recorded in this home (its key made
    if it has none); the original's log is neither needed nor written. The report says whether
    the declaration is identical (if not, what moved), whether the outcome is identical
    (output digests) and which observed facts moved (provider drift).

    With --agent, the tool loop the call belongs to is replayed from its first model call;
    each call is compared with the original's, and tools are served from the record.

    Exit codes: 0 declaration and outcome identical, 1 something differs, 2 error.
    """
    from ..keys import Keyring
    from ..replay import (
        AgentReplayReport,
        ReplayReport,
        render,
        render_agent,
        replay,
        replay_agent,
        replay_receipt,
    )

    options: dict[str, Any] = {}
    if endpoint:
        options["base_url"] = endpoint
    if model_path:
        check_kind(model_path, directory_ok=True)  # a FIFO would block the model loader
        options["model_path"] = model_path
    if contents:
        check_kind(contents, directory_ok=True)
    report: ReplayReport | AgentReplayReport
    # An execution id or entry number names an entry of the home's log; anything else is a
    # receipt file (a file named by digits too).
    receipt = not execution.startswith("sha256:") and not (
        execution.isdigit() and not Path(execution).is_file()
    )
    if agent:
        if receipt or contents:
            raise InputError(
                "--agent replays a loop of the home's log (the tool results are its records)",
                hint="runid replay --agent EXECUTION --home DIR, in the home that recorded it",
            )
        report = replay_agent(home_of(ctx), execution, **options)
    elif receipt:
        keyring = Keyring.from_texts(key_text(k) for k in keys_) if keys_ else None
        data = read_input(execution, canonical.MAX_INPUT_BYTES, what="receipts")
        report = replay_receipt(home_of(ctx), data, keyring=keyring, contents=contents, **options)
    else:
        report = replay(home_of(ctx), execution, contents=contents, **options)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    elif isinstance(report, AgentReplayReport):
        click.echo(render_agent(report, color=wants_color()))
    else:
        click.echo(render(report, color=wants_color()))
    ctx.exit(report.exit_code)
