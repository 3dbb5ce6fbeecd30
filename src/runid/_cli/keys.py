"""``runid keys``: create and show the issuer's signing key in a home."""

from __future__ import annotations

import base64
import os

import click

from ..home import DEFAULT_KEY_NAME
from ._common import HOME_HELP, echo_json, home_of, json_errors

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
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the result as JSON: ok, the key's name, algorithm, key id, verifier key and raw "
    "public key (base64), whether the home holds the private key, and the verifier key file; "
    "or the error's code, message and hint (docs/schema/keys-show-v1.schema.json).",
)
@click.pass_context
def keys_show(ctx: click.Context, as_json: bool) -> None:
    """Print the public (verifier) key and its key id."""
    with json_errors(ctx, as_json, ok=False):
        home = home_of(ctx)
        public = home.public_key()
    if as_json:
        # path: the verifier key file, which 'runid verify --key' takes (null if it is missing).
        path = home.public_key_path
        echo_json(
            {
                "ok": True,
                "name": public.name,
                "algorithm": "ed25519",
                "key_id": public.key_id,
                "vkey": public.vkey,
                "public_key": base64.b64encode(public.raw).decode("ascii"),
                "private_key": os.path.lexists(home.signing_key_path),
                "path": str(path) if os.path.lexists(path) else None,
            }
        )
        return
    click.echo(public.vkey)
    click.echo(f"key id: {public.key_id}")
