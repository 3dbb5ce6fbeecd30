"""``runid monitor``: follow a log over its tiles; alarm on a fork, a rollback or a bad entry."""

from __future__ import annotations

from pathlib import Path

import click

from ..keys import Keyring
from ..transparency.monitor import MonitorAlarmError, Source, monitor
from ._common import key_text

__all__ = ["monitor_command"]


@click.command(name="monitor")
@click.argument("source", metavar="URL|DIR")
@click.option(
    "--checkpoint-dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Where the monitor keeps the last checkpoint it verified (one directory per log).",
)
@click.option(
    "--key",
    "keys_",
    multiple=True,
    required=True,
    metavar="VKEY",
    help="The log's public key (and the issuer's, if another), or a file holding it; repeat.",
)
@click.option("--origin", metavar="NAME", help="Require the log to have this origin.")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="HTTP timeout (s).")
def monitor_command(
    source: str, checkpoint_dir: str, keys_: tuple[str, ...], origin: str | None, timeout: float
) -> None:
    """Check a log served as C2SP tlog-tiles (URL prefix, or a directory of exported tiles)
    against the checkpoint saved in --checkpoint-dir, then save the new one.

    Verifies the checkpoint's signature, that the log did not roll back or fork (its tree
    extends the saved one, every tile authenticated against the signed root), and re-hashes
    every new entry and verifies its signature. Exit codes (for cron and CI): 0 the log is
    consistent and every new entry verified; 7 the log misbehaved (fork, rollback, bad entry
    or tile, bad signature), with where on standard error; 6 the log or the state could not
    be read (network, missing tile); 2 usage.
    """
    keyring = Keyring.from_texts(key_text(k) for k in keys_)
    try:
        report = monitor(
            Source(source, timeout=timeout), Path(checkpoint_dir), keyring, origin=origin
        )
    except MonitorAlarmError as exc:
        for finding in exc.findings:
            click.echo(f"error: {finding}", err=True)
        raise
    size = report.checkpoint.size
    if report.old_size is None:
        click.echo(
            f"ok: {report.origin} at size {size}: {report.entries} entries re-hashed and "
            "verified (first run: checkpoint saved)"
        )
    elif report.entries == 0:
        click.echo(f"ok: {report.origin} at size {size}: unchanged since the saved checkpoint")
    else:
        click.echo(
            f"ok: {report.origin} grew from {report.old_size} to {size} entries, consistent with "
            f"the saved checkpoint; {report.entries} new entries re-hashed and verified"
        )
