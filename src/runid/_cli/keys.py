"""``runid keys``: create and show the issuer's signing key in a home."""

from __future__ import annotations

import click

from ..home import DEFAULT_KEY_NAME
from ._common import HOME_HELP, home_of

__all__ = ["keys"]


@click.group()
@click.option("--home", type=click.Path(file_okay=False), help=HOME_HELP)
def keys(home: str | None) -> None:
    """Create and show the issuer's Ed25519 signing key."""


@keys.command(name="init")
@click.option(
    "--name",
    default=DEFAULT_KEY_NAME,
    show_default=True,
    help="Key (and log origin) name: printable ASCII, no spaces or '+'.",
)
@click.pass_context
def keys_init(ctx: click.Context, name: str) -> None:
    """Create a new key pair in the home (private key file mode 0600, never printed)."""
    home = home_of(ctx)
    key = home.init_keys(name)
    click.echo(f"created {home.signing_key_path} (private, mode 0600)")
    click.echo(f"public key: {key.public_key.vkey}")
    click.echo(f"key id:     {key.public_key.key_id}")


@keys.command(name="show")
@click.pass_context
def keys_show(ctx: click.Context) -> None:
    """Print the public (verifier) key and its key id."""
    public = home_of(ctx).public_key()
    click.echo(public.vkey)
    click.echo(f"key id: {public.key_id}")
