"""``runid log``: append runs, show entries, write checkpoints, receipts, stored declarations and
the contents a replay needs, prove consistency, audit.

The commands that only read the log (show, checkpoint, prove, declaration, export-contents,
consistency, audit) open it read-only (:meth:`runid.log.Log.open` with ``readonly``): they work
on a home the process may not write, such as a snapshot handed to an auditor. Only a log
without a signed checkpoint for its current size (appended to without a signer) is then opened
with its key, to sign one.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Callable
from typing import TypeVar

import click

from .. import canonical
from .._internal.files import read_input, write_output
from ..errors import E_STORE_CORRUPT, InputError, VerificationError
from ..home import Home
from ..log import Log
from ._common import (
    HOME_HELP,
    LazyGroup,
    echo_json,
    home_of,
    json_errors,
    json_failure,
    load,
    open_log,
)

__all__ = ["log"]

_T = TypeVar("_T")


def _reader(ctx: click.Context) -> Log:
    """The log opened read-only, with the public key: nothing is created or written."""
    home = home_of(ctx)
    home.require_keys()
    return Log.open(home, readonly=True)


def _writer(ctx: click.Context) -> Log:
    """The log opened to write, with the private key."""
    return open_log(ctx)


def _reading(ctx: click.Context, action: Callable[[Log], _T]) -> _T:
    """``action`` on the log opened read-only; on the log opened with its key only when the log
    has no signed checkpoint for its current size (which ``action`` would sign, ADR 0019) and
    this process can sign and write it. Otherwise the read-only log answers from its latest
    stored checkpoint (a receipt of an entry it covers), or says that none covers it yet."""
    with _reader(ctx) as opened:
        if opened.current_checkpoint() is not None or not _can_sign(home_of(ctx)):
            return action(opened)
    with _writer(ctx) as opened:
        return action(opened)


def _can_sign(home: Home) -> bool:
    """Whether this process may read the home's private key and write its log."""
    log_file = home.path / "log.sqlite3"
    return os.access(home.signing_key_path, os.R_OK) and all(
        os.access(path, os.W_OK) for path in (home.path, log_file) if path.exists()
    )


#: The log's public side (:mod:`.log_public`: tiles, witnesses) and erasure (:mod:`.log_erase`:
#: erase, erasures, retention), imported when used.
_PUBLIC = {
    "export-tiles": "log_public:export_tiles_command",
    "witness": "log_public:witness_command",
    "prove-witnessed": "log_public:prove_witnessed_command",
    "erase": "log_erase:erase_command",
    "erasures": "log_erase:erasures_command",
    "retention": "log_erase:retention_command",
}


@click.group(cls=LazyGroup, lazy=_PUBLIC)
@click.option("--home", type=click.Path(file_okay=False), help=HOME_HELP)
def log(home: str | None) -> None:
    """The log: append, show, checkpoint, prove, declaration, consistency, audit, erase."""


@log.command(name="append")
@click.argument("declaration", metavar="DECLARATION")
@click.option("--output", "output", required=True, metavar="FILE", help="The run's output file.")
@click.option("--media-type", default="text/plain; charset=utf-8", show_default=True)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the result as JSON: ok, the entry's index, execution and declaration ids, the "
    "log's origin and size; or the error's code, message and hint "
    "(docs/schema/log-append-v1.schema.json).",
)
@click.pass_context
def log_append(
    ctx: click.Context, declaration: str, output: str, media_type: str, as_json: bool
) -> None:
    """Record one run of DECLARATION that produced --output: sign it and append it."""
    with json_errors(ctx, as_json, ok=False):
        decl = load(declaration)
        data = read_input(output, canonical.MAX_INPUT_BYTES, what="run outputs")
        with open_log(ctx) as opened:
            entry = opened.record_run(decl, output=data, media_type=media_type)
            origin, size = opened.origin, opened.size()
    if as_json:
        echo_json(
            {
                "ok": True,
                "index": entry.index,
                "execution_id": entry.record["execution_id"],
                "declaration_id": entry.record["declaration_id"],
                "origin": origin,
                "size": size,
            }
        )
        return
    click.echo(f"appended entry {entry.index}")
    click.echo(f"execution id:   {entry.record['execution_id']}")
    click.echo(f"declaration id: {entry.record['declaration_id']}")


@log.command(name="show")
@click.argument("ref", metavar="N|EXECUTION_ID")
@click.pass_context
def log_show(ctx: click.Context, ref: str) -> None:
    """Print the verified execution record of an entry."""
    with _reader(ctx) as opened:
        entry = opened.entry(ref)
    click.echo(json.dumps({"index": entry.index, "record": entry.record}, indent=2))


@log.command(name="checkpoint")
@click.pass_context
def log_checkpoint(ctx: click.Context) -> None:
    """Print the latest signed checkpoint (a C2SP signed note)."""
    note = _reading(ctx, lambda opened: opened.checkpoint(covering=0))
    sys.stdout.write(note.decode("utf-8"))


@log.command(name="prove")
@click.argument("ref", metavar="N|EXECUTION_ID")
@click.option(
    "--declaration",
    metavar="FILE",
    help="Include this declaration (for a log that does not hold it; its id must match).",
)
@click.option(
    "--no-declaration",
    "withhold",
    is_flag=True,
    help="Withhold the declaration: the receipt carries its id only (in the signed record).",
)
@click.option("-o", "--out", metavar="FILE", help="Write the receipt here (default: stdout).")
@click.pass_context
def log_prove(
    ctx: click.Context, ref: str, declaration: str | None, withhold: bool, out: str | None
) -> None:
    """Write an offline-verifiable receipt for an entry.

    The receipt includes the run's declaration when the log holds it (as capture and
    'runid log append' store it), so a verifier can recompute its id and see every condition;
    --no-declaration withholds it, --declaration FILE supplies it.
    """
    if declaration and withhold:
        raise InputError(
            "--declaration and --no-declaration exclude each other",
            hint="pass --declaration FILE to include a declaration, --no-declaration to "
            "withhold it",
        )
    decl = load(declaration) if declaration else None

    def prove(opened: Log) -> bytes:
        entry = opened.entry(ref)
        included = decl
        if included is None and not withhold:
            included = opened.declaration(entry.record["declaration_id"])
            if included is None:
                click.echo(
                    f"note: this log does not hold the declaration of entry {entry.index}; "
                    "the receipt withholds it (pass --declaration FILE to include it)",
                    err=True,
                )
        return opened.receipt(entry.index, included)

    receipt = _reading(ctx, prove)
    if out:
        write_output(out, receipt)
        click.echo(f"wrote {out}", err=True)
    else:
        sys.stdout.buffer.write(receipt + b"\n")


@log.command(name="declaration")
@click.argument("ref", metavar="N|EXECUTION_ID|DECLARATION_ID")
@click.option("-o", "--out", metavar="FILE", help="Write it here (default: stdout).")
@click.pass_context
def log_declaration(ctx: click.Context, ref: str, out: str | None) -> None:
    """Write the declaration the log stores for an entry (its canonical JSON bytes).

    The entry is named by its number, its execution id or its declaration id. The id is
    recomputed before it is written. Standard output gets the bytes exactly, with no
    trailing newline (as 'runid canon'). Fails (exit 2, E_DECLARATION_NOT_STORED) when the
    log does not hold it: withheld by the recorder's privacy mode, or recorded elsewhere.
    """
    with _reader(ctx) as opened:
        declaration_id, declaration = opened.stored_declaration(ref)
    data = canonical.canonicalize(declaration)
    if out:
        write_output(out, data)
        click.echo(f"wrote {out} (declaration {declaration_id})", err=True)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


@log.command(name="export-contents")
@click.argument("refs", nargs=-1, required=True, metavar="N|EXECUTION_ID...")
@click.option(
    "--out", "out", required=True, metavar="DIR", help="The directory to write (made if missing)."
)
@click.pass_context
def log_export_contents(ctx: click.Context, refs: tuple[str, ...], out: str) -> None:
    """Write what a replay of each entry needs besides its receipt into DIR.

    Every content the log holds that the run's declaration references (prompts, messages,
    retrieved chunks, tool definitions, a template's text) and its outputs, each as a file
    named by the hex of its SHA-256 digest, and the declaration as <hex>.json. With the
    receipt (runid log prove) and the log's public key, 'runid replay RECEIPT --contents DIR
    --key PUBKEY' replays the run in another home.
    """
    from ..replay import export_contents

    with _reader(ctx) as opened:
        for ref in refs:
            written = export_contents(opened, int(ref) if ref.isdigit() else ref, out)
            click.echo(f"entry {ref}: wrote {len(written)} file(s) to {out}", err=True)


@log.command(name="consistency")
@click.argument("old_checkpoint", metavar="OLD_CHECKPOINT")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the result as JSON: consistent, the origin, the old and the new tree's size and "
    "root (base64, as in a checkpoint); or the error's code, message and hint "
    "(docs/schema/log-consistency-v1.schema.json).",
)
@click.pass_context
def log_consistency(ctx: click.Context, old_checkpoint: str, as_json: bool) -> None:
    """Prove the log still extends an earlier signed checkpoint (nothing rewritten)."""
    with json_errors(ctx, as_json, consistent=False):
        note = read_input(old_checkpoint, 1 << 20, what="checkpoints (signed notes)")
        old, new = _reading(ctx, lambda opened: opened.consistency(note))
    if as_json:
        echo_json(
            {
                "consistent": True,
                "origin": new.origin,
                "old": {"size": old.size, "root": base64.b64encode(old.root).decode("ascii")},
                "new": {"size": new.size, "root": base64.b64encode(new.root).decode("ascii")},
            }
        )
        return
    click.echo(
        f"consistent: the tree of size {old.size} is a prefix of the tree of size {new.size}"
    )


@log.command(name="audit")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the result as JSON: ok, the size, and each finding with its place and code; when "
    "not ok, also the error's code, message and hint.",
)
@click.pass_context
def log_audit(ctx: click.Context, as_json: bool) -> None:
    """Check all: records, nodes, signed checkpoints, lookup indexes and the database.

    Re-hashes every record and node, verifies every envelope and every stored signed checkpoint,
    rebuilds the lookup indexes from the entries and blobs, and runs SQLite's integrity check.
    On a terminal, a progress bar on standard error follows the envelopes.
    """
    with json_errors(ctx, as_json, ok=False, size=None, findings=[]), _reader(ctx) as opened:
        size = opened.size()
        if sys.stderr.isatty():
            with click.progressbar(length=size, label="audit", file=sys.stderr) as bar:
                findings = opened.audit(lambda done, _total: bar.update(done - bar.pos))
        else:
            findings = opened.audit()
    failed = VerificationError(
        f"audit failed: {len(findings)} problem(s) in {size} entries", code=E_STORE_CORRUPT
    )
    if as_json:
        listed = [{"where": f.where, "problem": f.problem, "code": f.code} for f in findings]
        if findings:
            json_failure(ctx, failed, ok=False, size=size, findings=listed)
        echo_json({"ok": True, "size": size, "code": None, "findings": []})
        return
    if findings:
        for finding in findings:
            click.echo(f"error: {finding.where}: {finding.problem}", err=True)
        raise failed
    click.echo(
        f"audit ok: {size} entries, their nodes, every signed checkpoint, the lookup indexes "
        "and the database verify"
    )
