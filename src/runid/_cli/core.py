"""``runid canon``, ``validate``, ``id`` and ``schema``: the canonical form and the declaration,
with no home and no log."""

from __future__ import annotations

import json
import sys

import click

from .. import canonical
from ..declaration import json_schema, problems
from ..errors import DeclarationError
from ..identity import compute_identity
from ._common import echo_json, json_errors, json_failure, load

__all__ = ["canon", "id_", "schema", "validate"]


@click.command()
@click.argument("source", default="-", metavar="[FILE|-]")
def canon(source: str) -> None:
    """Print the RFC 8785 canonical form of a JSON document (standard input by default).

    The bytes are written exactly, with no trailing newline, so they can be piped to a hash.
    """
    data = canonical.canonicalize(load(source))
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


@click.command()
@click.argument("source", metavar="FILE|-")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON report: valid, every problem, and when not valid the error's code, "
    "message and hint (E_INVALID_DECLARATION; a file or JSON error's own code, with no problems).",
)
@click.pass_context
def validate(ctx: click.Context, source: str, as_json: bool) -> None:
    """Check a declaration against the v1 schema; list every problem with its JSON Pointer."""
    with json_errors(ctx, as_json, valid=False, problems=[]):
        found = problems(load(source))
    if not found:
        if as_json:
            echo_json({"valid": True, "problems": []})
        else:
            click.echo(f"valid: {source}")
        return
    error = DeclarationError(found)
    if not as_json:
        raise error
    listed = [{"pointer": p.pointer, "code": p.code, "message": p.message} for p in found]
    json_failure(ctx, error, valid=False, problems=listed)


@click.command(name="id")
@click.argument("source", metavar="FILE|-")
@click.option("--json", "as_json", is_flag=True, help="Print declaration_id and components.")
def id_(source: str, as_json: bool) -> None:
    """Print the declaration id of a declaration file."""
    identity = compute_identity(load(source))
    if as_json:
        click.echo(json.dumps(identity.to_json(), indent=2))
    else:
        click.echo(identity.declaration_id)


@click.command()
def schema() -> None:
    """Print the JSON Schema of a v1 declaration (the file shipped in docs/schema/)."""
    click.echo(json.dumps(json_schema(), indent=2, ensure_ascii=False))
