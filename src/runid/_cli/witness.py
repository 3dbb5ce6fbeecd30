"""``runid witness``: a C2SP tlog-witness that cosigns the checkpoints of the logs it follows."""

from __future__ import annotations

import sys

import click

from ..errors import InputError, RunidError
from ..keys import Keyring, PublicKey
from ..transparency.witness import (
    DEFAULT_WITNESS_NAME,
    Witness,
    init_witness_key,
    load_witness_key,
)
from ._common import HOME_HELP, home_of, key_text

__all__ = ["parse_log_option", "witness"]


def parse_log_option(text: str) -> tuple[str, PublicKey]:
    """``ORIGIN=VKEY`` (or a bare VKEY, whose name is the origin); the key may be a file."""
    problem: RunidError | None = None
    candidates = [(text[:i], text[i + 1 :]) for i, c in enumerate(text) if c == "="]
    for origin, vkey in [*candidates, ("", text)]:
        try:
            key = PublicKey.parse(key_text(vkey))
        except RunidError as exc:
            problem = exc
            continue
        return origin or key.name, key
    raise InputError(
        f"--log {text[:200]!r}: expected ORIGIN=VKEY, the log's origin and its public key"
        f"{f' ({problem.message})' if problem else ''}",
        hint="the log's operator prints its key with 'runid keys show'",
    )


@click.group()
@click.option("--home", type=click.Path(file_okay=False), help=HOME_HELP)
def witness(home: str | None) -> None:
    """A witness: cosign the checkpoints of logs, never two histories of one log."""


@witness.command(name="init")
@click.option(
    "--name",
    default=DEFAULT_WITNESS_NAME,
    show_default=True,
    help="The witness's name (a schema-less URL that identifies it).",
)
@click.pass_context
def witness_init(ctx: click.Context, name: str) -> None:
    """Create the witness's cosigner key (Ed25519, type 0x04) in the home."""
    home = home_of(ctx).path
    key = init_witness_key(home, name)
    click.echo(f"created {home / 'witness.key'} (private, mode 0600)")
    click.echo(f"witness key: {key.public.vkey}")


@witness.command(name="key")
@click.pass_context
def witness_key(ctx: click.Context) -> None:
    """Print the witness's verifier key (give it to logs and verifiers)."""
    home = home_of(ctx).path
    key = load_witness_key(home)
    if key is None:
        raise InputError(
            f"{home}: no witness key here", hint="create one with 'runid witness init'"
        )
    click.echo(key.public.vkey)


@witness.command(name="serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option(
    "--log",
    "logs",
    multiple=True,
    required=True,
    metavar="ORIGIN=VKEY",
    help="A log to witness: its origin and public key (or a file holding it); repeat.",
)
@click.option(
    "--name",
    default=DEFAULT_WITNESS_NAME,
    show_default=True,
    help="The witness's name, if its key is created now.",
)
@click.pass_context
def witness_serve(
    ctx: click.Context, host: str, port: int, logs: tuple[str, ...], name: str
) -> None:
    """Serve C2SP tlog-witness: POST /add-checkpoint, GET /<origin hash>/checkpoint.

    The witness cosigns a log's checkpoint only if it is consistent with the last one it
    cosigned for that log (kept durably in the home's witness.sqlite3); a checkpoint of another
    history is refused (422) and kept as evidence. Needs the server extra
    (pip install 'runid[server]'). Creates the witness key on first use.
    """
    try:
        from .._server.witness import run
    except ImportError as exc:
        raise InputError(
            f"runid witness serve needs Starlette and uvicorn ({exc})",
            hint="pip install 'runid[server]'",
        ) from None
    home = home_of(ctx).path
    trusted: dict[str, list[PublicKey]] = {}
    for text in logs:
        origin, log_key = parse_log_option(text)
        trusted.setdefault(origin, []).append(log_key)
    key = load_witness_key(home)
    if key is None:
        key = init_witness_key(home, name)
        click.echo(f"created the witness key {home / 'witness.key'}")
    server = Witness(home, key, {o: Keyring(k) for o, k in trusted.items()})
    click.echo(f"witness key: {key.public.vkey}")
    for origin in trusted:
        click.echo(f"following:   {origin}")
    click.echo(f"listening:   http://{host}:{port}/add-checkpoint")
    sys.stdout.flush()
    run(server, host, port)
