"""``runid serve``: the log service over HTTP (``runid._server``; needs the server extra)."""

from __future__ import annotations

import os
import sys

import click

from ..errors import InputError
from ._common import HOME_HELP, home_of

__all__ = ["serve"]


@click.command(name="serve")
@click.option("--home", type=click.Path(file_okay=False), help=HOME_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8600, show_default=True)
@click.option(
    "--store",
    "store_url",
    metavar="URL",
    help="Where the log is: sqlite:PATH or postgresql://USER@HOST:PORT/DB "
    "(default: the home's SQLite log). The log's keys are the home's.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Server processes (each appends with its own group commit).",
)
@click.option(
    "--max-body",
    type=click.IntRange(1024, 1 << 30),
    default=16 * 1024 * 1024,
    show_default=True,
    help="The largest request body accepted, in bytes (larger: 413).",
)
@click.option("--no-access-log", is_flag=True, help="Do not write access lines.")
@click.pass_context
def serve(  # noqa: PLR0917 - click passes each option
    ctx: click.Context,
    home: str | None,
    host: str,
    port: int,
    store_url: str | None,
    workers: int,
    max_body: int,
    no_access_log: bool,
) -> None:
    """Serve the log over HTTP: many applications record into it, with access control.

    Clients sign their records with their own keys, registered to a project by an admin
    (runid tokens add-key); the service verifies them, appends them durably and answers
    reads, searches, diffs, policy checks, proofs and receipts for the token's project only.
    The checkpoint and the proofs are public. Tokens: runid tokens create. The API is
    described at /openapi.json. Access lines (JSON) go to standard error.
    """
    try:
        import uvicorn

        from .._server import accesslog
        from .._server.api import CONFIG_ENV, config_to_environment, create_app
        from .._server.service import Config, Service
    except ImportError as exc:
        raise InputError(
            f"runid serve needs Starlette and uvicorn ({exc})", hint="pip install 'runid[server]'"
        ) from None
    the_home = home_of(ctx)
    if not the_home.signing_key_path.exists():
        raise InputError(
            f"{the_home.path}: the log needs its key here (it signs the checkpoints)",
            hint=f"runid --home {the_home.path} keys init --name YOUR.ORG/log",
        )
    config = Config(the_home.path, store_url=store_url, max_body=max_body)
    if not no_access_log:
        accesslog.configure()
    click.echo(f"runid serve: log {the_home.path}, listening on http://{host}:{port}", err=True)
    sys.stderr.flush()
    options = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": 10,
    }
    if workers == 1:
        from .._ui.service import with_ui  # the pages, per project, at /ui

        service = Service(config)
        app = with_ui(create_app(service, access_log=not no_access_log), service)
        uvicorn.run(app, **options)  # type: ignore[arg-type]
        return
    os.environ[CONFIG_ENV] = config_to_environment(config, access_log=not no_access_log)
    uvicorn.run(
        "runid._server.api:app_from_environment",
        factory=True,
        workers=workers,
        **options,  # type: ignore[arg-type]
    )
