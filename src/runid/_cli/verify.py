"""``runid verify``: check a receipt offline (no home, no log, no network)."""

from __future__ import annotations

from typing import Any

import click

from .. import canonical
from .._internal.files import not_json_hint, read_input, shown
from ..errors import RunidError, VerificationError
from ..keys import Keyring
from ..receipt import ReceiptError, VerifiedReceipt, verify_receipt
from ..tlog.cosignature import CosignerKey
from ._common import echo_json, json_failure, key_text

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
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the result as JSON on standard output: verified, and the checks passed, or the "
    "check that failed and its stable code (docs/spec.md §14.3).",
)
@click.pass_context
def verify(
    ctx: click.Context,
    receipt: str,
    keys_: tuple[str, ...],
    output: str | None,
    origin: str | None,
    *,
    witnesses: tuple[str, ...],
    min_witnesses: int | None,
    as_json: bool,
) -> None:
    """Verify a receipt offline: signature, record, declaration, inclusion, cosignatures,
    output."""
    if as_json:
        _verify_json(
            ctx,
            receipt=receipt,
            keys_=keys_,
            output=output,
            origin=origin,
            witnesses=witnesses,
            min_witnesses=min_witnesses,
        )
        return
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


def _verify_json(
    ctx: click.Context,
    *,
    receipt: str,
    keys_: tuple[str, ...],
    output: str | None,
    origin: str | None,
    witnesses: tuple[str, ...],
    min_witnesses: int | None,
) -> None:
    """``runid verify --json``: one JSON object, whatever happens; the exit code as without it."""
    try:
        cosigners = [CosignerKey.parse(key_text(w)) for w in witnesses]
        required = min_witnesses if min_witnesses is not None else min(1, len(cosigners))
        keyring = Keyring.from_texts(key_text(k) for k in keys_)
        data = read_input(receipt, canonical.MAX_INPUT_BYTES, what="receipts")
        out = read_input(output, canonical.MAX_INPUT_BYTES, what="run outputs") if output else None
        result = verify_receipt(
            data, keyring, output=out, origin=origin, witnesses=cosigners, min_witnesses=required
        )
    except RunidError as exc:
        # check: the step of docs/spec.md §14.3 that failed; null for an error before
        # verification (a file that cannot be read, a key that is not a key).
        check = exc.check if isinstance(exc, ReceiptError) else None
        json_failure(ctx, exc, verified=False, check=check)
    echo_json(_success(result))


def _success(result: VerifiedReceipt) -> dict[str, Any]:
    record = result.record
    return {
        "verified": True,
        "execution_id": record["execution_id"],
        "declaration_id": record["declaration_id"],
        "issuer": record["issuer"],
        "log": {
            "origin": result.checkpoint.origin,
            "size": result.checkpoint.size,
            "index": result.index,
        },
        "checks": result.checks,
    }
