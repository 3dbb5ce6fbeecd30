"""``runid verify``: check a receipt offline (no home, no log, no network)."""

from __future__ import annotations

import click

from .. import canonical
from .._internal.files import read_input
from ..keys import Keyring
from ..receipt import verify_receipt
from ._common import key_text

__all__ = ["verify"]


@click.command()
@click.argument("receipt", metavar="RECEIPT")
@click.option(
    "--key",
    "keys_",
    multiple=True,
    required=True,
    metavar="PUBKEY",
    help="A trusted verifier key, or a file holding one; repeat for rotated keys.",
)
@click.option("--output", metavar="FILE", help="Also check that this file is the recorded output.")
@click.option("--origin", metavar="NAME", help="Require the log to have this origin name.")
def verify(receipt: str, keys_: tuple[str, ...], output: str | None, origin: str | None) -> None:
    """Verify a receipt offline: signature, record, declaration, inclusion, output."""
    keyring = Keyring.from_texts(key_text(k) for k in keys_)
    data = read_input(receipt, canonical.MAX_INPUT_BYTES)
    out = read_input(output, canonical.MAX_INPUT_BYTES) if output else None
    result = verify_receipt(data, keyring, output=out, origin=origin)
    for check in result.checks:
        click.echo(f"ok  {check}")
    click.echo("verified")
