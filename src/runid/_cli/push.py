"""``runid push``: send a home's log to a log service (``runid serve``)."""

from __future__ import annotations

import click

from ..capture.remote import Forwarder, remote_settings
from ..errors import InputError
from ._common import HOME_HELP, home_of

__all__ = ["push"]


@click.command(name="push")
@click.option("--home", type=click.Path(file_okay=False), help=HOME_HELP)
@click.option("--url", envvar="RUNID_URL", help="The service (default: $RUNID_URL).")
@click.option(
    "--token", envvar="RUNID_TOKEN", help="An ingest token of the project (default: $RUNID_TOKEN)."
)
@click.pass_context
def push(ctx: click.Context, home: str | None, url: str | None, token: str | None) -> None:
    """Send the home's log to a service: every entry it has not acknowledged, in batches
    with their declarations and content. Resumable: a push that stopped goes on where the
    service's acknowledgements ended, and an entry sent twice is kept once."""
    the_home = home_of(ctx)
    the_home.require_keys()
    settings = remote_settings(url, token)
    if settings is None:
        raise InputError("no service to push to", hint="pass --url URL (or set RUNID_URL)")
    forwarder = Forwarder(the_home, *settings)
    result = forwarder.push()
    click.echo(f"pushed {result.sent} entries to {settings[0]}; the log has {result.size}")
