"""``runid verify``: check a receipt offline (no home, no log, no network)."""

from __future__ import annotations

import click

from .. import canonical
from .._internal.files import not_json_hint, read_input, shown
from ..errors import VerificationError
from ..keys import Keyring
from ..receipt import verify_receipt
from ..tlog.cosignature import CosignerKey
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
@click.option(
    "--witness",
    "witnesses",
    multiple=True,
    metavar="VKEY",
    help="A trusted witness's cosigner key (C2SP cosignature/v1), or a file holding one; repeat.",
)
@click.option(
    "--min-witnesses",
    type=click.IntRange(min=0),
    default=None,
    metavar="K",
    help="Require cosignatures of at least K --witness keys (default: 1 with --witness).",
)
def verify(
    receipt: str,
    keys_: tuple[str, ...],
    output: str | None,
    origin: str | None,
    *,
    witnesses: tuple[str, ...],
    min_witnesses: int | None,
) -> None:
    """Verify a receipt offline: signature, record, declaration, inclusion, cosignatures,
    output."""
    cosigners = [CosignerKey.parse(key_text(w)) for w in witnesses]
    required = min_witnesses if min_witnesses is not None else min(1, len(cosigners))
    keyring = Keyring.from_texts(key_text(k) for k in keys_)
    data = read_input(receipt, canonical.MAX_INPUT_BYTES, what="receipts")
    out = read_input(output, canonical.MAX_INPUT_BYTES, what="run outputs") if output else None
    try:
        result = verify_receipt(
            data, keyring, output=out, origin=origin, witnesses=cosigners, min_witnesses=required
        )
    except VerificationError as exc:
        # "receipt file: ..." names the file the user gave, and says when it is not JSON at all.
        prefix = "receipt file: "
        if not exc.message.startswith(prefix):
            raise
        where = "standard input" if receipt == "-" else shown(receipt)
        hint = not_json_hint(receipt, data) if "not a readable receipt" in exc.message else None
        raise VerificationError(
            f"{where}: {exc.message[len(prefix) :]}", hint=hint or exc.hint, code=exc.code
        ) from None
    for check in result.checks:
        click.echo(f"ok  {check}")
    click.echo("verified")
