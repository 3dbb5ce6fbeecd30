"""The ``runid`` command line: a thin layer over the library.

Errors are handled in exactly one place (:class:`_Group`): a :class:`runid.errors.RunidError`
becomes ``error: <message>`` (and ``hint: ...``) on standard error with the error's exit code.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from . import canonical
from ._internal.files import read_input
from .declaration import json_schema, problems
from .errors import DeclarationError, RunidError
from .identity import compute_identity


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
def main() -> None:
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
def demo() -> None:
    """Build realistic declarations, print their identities, and show what changes an id."""
    from .demo import run_demo

    run_demo()
