"""``runid log export-tiles``, ``log witness`` and ``log prove-witnessed``: the log in public
(static C2SP tiles, witnesses' cosignatures, receipts that carry them). Named on the
``runid log`` group by :mod:`runid._cli.log`, which imports this module when one is used."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .._internal.files import write_output
from ..errors import (
    E_WITNESS_CONFLICT,
    E_WITNESS_INCONSISTENT,
    FileAccessError,
    InputError,
    RunidError,
    VerificationError,
)
from ..log import Log
from ..transparency.export import export_tiles
from ..transparency.witnessing import (
    WitnessEndpoint,
    cosigned_path,
    witness_log,
    witnessed_receipt,
)
from ._common import home_of, load

__all__ = ["COMMANDS"]


@click.command(name="export-tiles")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False))
@click.pass_context
def export_tiles_command(ctx: click.Context, directory: str) -> None:
    """Write the log as C2SP tlog-tiles static files below DIR: checkpoint, tile/<L>/<N>,
    tile/entries/<N>.

    Serve DIR from any web server or object store: runid monitor and other tlog clients (Go's
    sumdb/tlog) read it. Exporting again adds what is new; published tiles never change, and a
    DIR holding another history or a larger tree of this log is refused.
    """
    with Log.open(home_of(ctx), need_key=False) as opened:
        report = export_tiles(opened, Path(directory))
    cp = report.checkpoint
    cosigned = " (with the witnesses' cosignatures)" if report.cosigned else ""
    click.echo(
        f"exported {cp.origin} at size {cp.size} to {directory}: {report.written} tiles and "
        f"bundles written, {report.unchanged} already there; checkpoint{cosigned} written last"
    )


@click.command(name="witness")
@click.option(
    "--witness",
    "witnesses",
    multiple=True,
    required=True,
    metavar="URL=VKEY",
    help="A witness: its URL prefix and its cosigner key; repeat.",
)
@click.option("--timeout", type=float, default=10.0, show_default=True, help="HTTP timeout (s).")
@click.pass_context
def witness_command(ctx: click.Context, witnesses: tuple[str, ...], timeout: float) -> None:
    """Submit the latest checkpoint to witnesses (C2SP tlog-witness) and keep the cosigned
    checkpoint in the home (witnessed/checkpoint); 'runid log prove-witnessed' and
    'runid log export-tiles' use it. Fails if any witness did not cosign."""
    endpoints = [WitnessEndpoint.parse(text) for text in witnesses]
    with Log.open(home_of(ctx)) as opened:
        report = witness_log(opened, endpoints, timeout=timeout)
        where = cosigned_path(opened.home) if opened.home else None
    failures = [o.error for o in report.outcomes if o.error is not None]
    for outcome in report.outcomes:
        if outcome.cosignature is not None:
            click.echo(f"cosigned by {outcome.witness.key.label} ({outcome.witness.url})")
        elif outcome.error is not None:
            click.echo(f"error: {outcome.error.message}", err=True)
    if report.note is not None:
        click.echo(
            f"stored the checkpoint of size {report.checkpoint.size} and its cosignatures "
            f"in {where}"
        )
    if failures:
        severe = [f for f in failures if f.code in (E_WITNESS_INCONSISTENT, E_WITNESS_CONFLICT)]
        first: RunidError = (severe or failures)[0]
        kind = next(
            k
            for k in (VerificationError, FileAccessError, InputError, RunidError)
            if isinstance(first, k)
        )
        raise kind(
            f"{len(failures)} of {len(endpoints)} witnesses did not cosign (named above)",
            hint=first.hint,
            code=first.code,
        )


@click.command(name="prove-witnessed")
@click.argument("ref", metavar="N|EXECUTION_ID")
@click.option("--declaration", metavar="FILE", help="Include this declaration (its id must match).")
@click.option("--no-declaration", "withhold", is_flag=True, help="Withhold the declaration.")
@click.option("-o", "--out", metavar="FILE", help="Write the receipt here (default: stdout).")
@click.pass_context
def prove_witnessed_command(
    ctx: click.Context, ref: str, declaration: str | None, withhold: bool, out: str | None
) -> None:
    """Write a receipt for an entry against the latest cosigned checkpoint, so it carries the
    witnesses' cosignatures (runid verify --witness VKEY --min-witnesses K checks them)."""
    if declaration and withhold:
        raise InputError("--declaration and --no-declaration exclude each other")
    decl = load(declaration) if declaration else None
    with Log.open(home_of(ctx), need_key=False) as opened:
        receipt = witnessed_receipt(opened, ref, decl, include_stored=not withhold)
    if out:
        write_output(out, receipt)
        click.echo(f"wrote {out}", err=True)
    else:
        sys.stdout.buffer.write(receipt + b"\n")


COMMANDS = (export_tiles_command, witness_command, prove_witnessed_command)
"""The commands this module adds to ``runid log``."""
