"""The ``runid`` command line: a thin layer over the library.

Errors are handled in exactly one place (:class:`_Group`): a :class:`runid.errors.RunidError`
becomes ``error: <message>`` (and ``hint: ...``) on standard error with the error's exit code.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from . import canonical
from ._internal.files import read_input, write_output
from .declaration import json_schema, problems
from .errors import DeclarationError, InputError, RunidError, VerificationError
from .home import DEFAULT_KEY_NAME, Home, resolve_home
from .identity import compute_identity
from .keys import Keyring
from .log import Log
from .receipt import verify_receipt


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RunidError as exc:
            _report(exc)
            ctx.exit(exc.exit_code)
        except BrokenPipeError:  # e.g. `runid canon big.json | head -c 10`
            sys.stderr.close()
            ctx.exit(0)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # a bug, not a user mistake: say so, briefly
            if os.environ.get("RUNID_DEBUG"):
                raise
            click.echo(f"error: internal error: {type(exc).__name__}: {exc}", err=True)
            click.echo(
                "hint: this is a bug in runid; rerun with RUNID_DEBUG=1 and report", err=True
            )
            ctx.exit(70)


def _report(exc: RunidError) -> None:
    if isinstance(exc, DeclarationError):
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        click.echo(f"error: declaration is invalid ({len(exc.problems)} problem(s))", err=True)
    else:
        click.echo(f"error: {exc.message}", err=True)
    if exc.hint:
        click.echo(f"hint: {exc.hint}", err=True)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="runid")
@click.option("--home", type=click.Path(file_okay=False), help="runid home directory.")
def main(home: str | None) -> None:
    """runid: verifiable identity for AI runs.

    Exit codes: 0 success, 1 invalid declaration, 2 usage error, 3 malformed JSON,
    4 JSON that cannot be canonicalized, 5 limit exceeded, 6 file error, 7 verification failed.
    """


def _load(source: str) -> Any:
    return canonical.loads(read_input(source, canonical.MAX_INPUT_BYTES))


@main.command()
@click.argument("source", default="-", metavar="[FILE|-]")
def canon(source: str) -> None:
    """Print the RFC 8785 canonical form of a JSON document (standard input by default).

    The bytes are written exactly, with no trailing newline, so they can be piped to a hash.
    """
    data = canonical.canonicalize(_load(source))
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


@main.command()
@click.argument("source", metavar="FILE|-")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
def validate(source: str, as_json: bool) -> None:
    """Check a declaration against the v1 schema; list every problem with its JSON Pointer."""
    found = problems(_load(source))
    if as_json:
        report = {
            "valid": not found,
            "problems": [
                {"pointer": p.pointer, "code": p.code, "message": p.message} for p in found
            ],
        }
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        if found:
            sys.exit(DeclarationError.exit_code)
        return
    if found:
        raise DeclarationError(found)
    click.echo(f"valid: {source}")


@main.command(name="id")
@click.argument("source", metavar="FILE|-")
@click.option("--json", "as_json", is_flag=True, help="Print declaration_id and components.")
def id_(source: str, as_json: bool) -> None:
    """Print the declaration id of a declaration file."""
    identity = compute_identity(_load(source))
    if as_json:
        click.echo(json.dumps(identity.to_json(), indent=2))
    else:
        click.echo(identity.declaration_id)


@main.command()
def schema() -> None:
    """Print the JSON Schema of a v1 declaration (the file shipped in docs/schema/)."""
    click.echo(json.dumps(json_schema(), indent=2, ensure_ascii=False))


@main.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Run a small real RAG pipeline (MiniLM, SmolLM2), record every run, write a receipt."""
    from .demo import run_demo

    run_demo(_home(ctx))


# --- keys, log, verify -----------------------------------------------------------------------

_HOME_HELP = "runid home directory (default: $RUNID_HOME, else ~/.local/share/runid)."


def _home(ctx: click.Context) -> Home:
    """The home chosen by the nearest --home (subcommand, group or main), else the default."""
    chosen = None
    while ctx is not None and chosen is None:
        chosen = (ctx.params or {}).get("home")
        ctx = ctx.parent  # type: ignore[assignment]
    return Home(resolve_home(chosen))


@main.group(cls=_Group)
@click.option("--home", type=click.Path(file_okay=False), help=_HOME_HELP)
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
    home = _home(ctx)
    key = home.init_keys(name)
    click.echo(f"created {home.signing_key_path} (private, mode 0600)")
    click.echo(f"public key: {key.public_key.vkey}")
    click.echo(f"key id:     {key.public_key.key_id}")


@keys.command(name="show")
@click.pass_context
def keys_show(ctx: click.Context) -> None:
    """Print the public (verifier) key and its key id."""
    public = _home(ctx).public_key()
    click.echo(public.vkey)
    click.echo(f"key id: {public.key_id}")


@main.group(cls=_Group)
@click.option("--home", type=click.Path(file_okay=False), help=_HOME_HELP)
def log(home: str | None) -> None:
    """The log: append, show, checkpoint, prove, declaration, consistency, audit."""


@log.command(name="append")
@click.argument("declaration", metavar="DECLARATION")
@click.option("--output", "output", required=True, metavar="FILE", help="The run's output file.")
@click.option("--media-type", default="text/plain; charset=utf-8", show_default=True)
@click.pass_context
def log_append(ctx: click.Context, declaration: str, output: str, media_type: str) -> None:
    """Record one run of DECLARATION that produced --output: sign it and append it."""
    decl = _load(declaration)
    data = read_input(output, canonical.MAX_INPUT_BYTES)
    with Log.open(_home(ctx)) as opened:
        entry = opened.record_run(decl, output=data, media_type=media_type)
    click.echo(f"appended entry {entry.index}")
    click.echo(f"execution id:   {entry.record['execution_id']}")
    click.echo(f"declaration id: {entry.record['declaration_id']}")


@log.command(name="show")
@click.argument("ref", metavar="N|EXECUTION_ID")
@click.pass_context
def log_show(ctx: click.Context, ref: str) -> None:
    """Print the verified execution record of an entry."""
    with Log.open(_home(ctx), need_key=False) as opened:
        entry = opened.entry(ref)
    click.echo(json.dumps({"index": entry.index, "record": entry.record}, indent=2))


@log.command(name="checkpoint")
@click.pass_context
def log_checkpoint(ctx: click.Context) -> None:
    """Print the latest signed checkpoint (a C2SP signed note)."""
    with Log.open(_home(ctx)) as opened:
        sys.stdout.write(opened.checkpoint().decode("utf-8"))


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
    decl = _load(declaration) if declaration else None
    with Log.open(_home(ctx)) as opened:
        entry = opened.entry(ref)
        if decl is None and not withhold:
            decl = opened.declaration(entry.record["declaration_id"])
            if decl is None:
                click.echo(
                    f"note: this log does not hold the declaration of entry {entry.index}; "
                    "the receipt withholds it (pass --declaration FILE to include it)",
                    err=True,
                )
        receipt = opened.receipt(entry.index, decl)
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
    with Log.open(_home(ctx), need_key=False) as opened:
        declaration_id, declaration = opened.stored_declaration(ref)
    data = canonical.canonicalize(declaration)
    if out:
        write_output(out, data)
        click.echo(f"wrote {out} (declaration {declaration_id})", err=True)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


@log.command(name="consistency")
@click.argument("old_checkpoint", metavar="OLD_CHECKPOINT")
@click.pass_context
def log_consistency(ctx: click.Context, old_checkpoint: str) -> None:
    """Prove the log still extends an earlier signed checkpoint (nothing rewritten)."""
    note = read_input(old_checkpoint, 1 << 20)
    with Log.open(_home(ctx)) as opened:
        old, new = opened.consistency(note)
    click.echo(
        f"consistent: the tree of size {old.size} is a prefix of the tree of size {new.size}"
    )


@log.command(name="audit")
@click.pass_context
def log_audit(ctx: click.Context) -> None:
    """Re-hash every record and node and check them against the latest signed checkpoint."""
    with Log.open(_home(ctx), need_key=False) as opened:
        findings = opened.audit()
        size = opened.size()
    if findings:
        for finding in findings:
            click.echo(f"error: {finding.where}: {finding.problem}", err=True)
        raise VerificationError(f"audit failed: {len(findings)} problem(s) in {size} entries")
    click.echo(f"audit ok: {size} entries, nodes and the latest checkpoint verify")


@main.command()
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
    keyring = Keyring.from_texts(_key_text(k) for k in keys_)
    data = read_input(receipt, canonical.MAX_INPUT_BYTES)
    out = read_input(output, canonical.MAX_INPUT_BYTES) if output else None
    result = verify_receipt(data, keyring, output=out, origin=origin)
    for check in result.checks:
        click.echo(f"ok  {check}")
    click.echo("verified")


def _key_text(value: str) -> str:
    """A --key value is the key itself, or the path of a file that holds it."""
    if Path(value).is_file():
        return read_input(value, 1 << 16).decode("ascii", "replace").strip()
    return value  # parsed as a key; a bad one gets "not a verifier key" with a hint


# Subcommands in their own modules; each imports main from here to register itself.
from . import (  # noqa: E402
    cli_check,  # noqa: F401  (registers `runid check`)
    cli_diff,  # noqa: F401  (registers `runid diff`)
    cli_replay,  # noqa: F401  (registers `runid replay`)
)
