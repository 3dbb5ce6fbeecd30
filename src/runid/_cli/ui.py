"""``runid ui``: the web UI of a home, read-only, on 127.0.0.1 (docs/ui.md).

Registered on the ``runid`` group by :mod:`runid._cli`. Needs the ``server`` extra (Starlette,
uvicorn), imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import E_INPUT, InputError, PolicyError
from ._common import PolicyFileError, home_of

__all__ = ["ui_command"]


@click.command(name="ui")
@click.option("--home", type=click.Path(file_okay=False), help="runid home directory.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option(
    "--policy",
    "policy_file",
    metavar="FILE",
    help="A policy (YAML/JSON, docs/spec.md §17): its result on every run, and a filter.",
)
@click.option(
    "--witness",
    "witnesses",
    multiple=True,
    metavar="VKEY",
    help="A trusted witness's cosigner key: check the cosignatures; repeat.",
)
@click.pass_context
def ui_command(
    ctx: click.Context,
    *,
    home: str | None,
    host: str,
    port: int,
    policy_file: str | None,
    witnesses: tuple[str, ...],
) -> None:
    """Browse the runs of a home in a web browser: runs, a run, diff, drift, the log.

    Read-only: the log is opened for reading only (nothing written, no private key used), and
    served on 127.0.0.1 unless --host says otherwise. Pages are rendered on the server; nothing
    is fetched from the internet.
    """
    del home  # read through home_of(ctx), which also honours the group's --home
    try:
        import uvicorn

        from .._ui.app import ui_app
    except ImportError as exc:
        raise InputError(
            f"runid ui needs the server extra ({exc.name} is not installed)",
            code=E_INPUT,
            hint="pip install 'runid[server]'",
        ) from None
    from ..policy import parse_policy
    from ..tlog.cosignature import CosignerKey
    from ._common import key_text

    policy = None
    if policy_file is not None:
        from .._internal.files import read_input

        data = read_input(policy_file, 1 << 20, what="policies")
        try:
            policy = parse_policy(data, fmt="json" if policy_file.endswith(".json") else None)
        except PolicyError as exc:
            raise PolicyFileError(policy_file, exc.problems) from None
    keys = [CosignerKey.parse(key_text(k)) for k in witnesses]
    app = ui_app(
        home_of(ctx),
        policy=policy,
        policy_name=(policy.name or Path(policy_file).name) if policy and policy_file else None,
        witnesses=keys,
        host=host,
    )
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"runid ui: http://{shown}:{port}/ (read-only; Ctrl-C stops it)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
