"""``runid tokens``: a log service's access control, run on the service's host.

Tokens (``create``, ``list``, ``revoke``) and the client keys a project's records are signed
with (``add-key``, ``revoke-key``). Each change is an admin record in the log, signed with the
log's key (so the home must hold it) and applied by every server process on its next request.
The same actions exist over HTTP for a project's admin tokens (``/v1/admin/...``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click

from .._server.access import SCOPES, check_project
from .._server.registry import Registry, admin_action, key_action, token_action
from ..errors import VerificationError
from ..log import Log
from ._common import HOME_HELP, home_of, key_text

__all__ = ["tokens"]

_STORE_HELP = "The log's store (sqlite:PATH or postgresql://...; default: the home's SQLite log)."


@contextlib.contextmanager
def _admin(ctx: click.Context) -> Iterator[tuple[Log, Registry]]:
    home = home_of(ctx)
    home.require_keys(private=True)
    store_url = None
    while ctx is not None and store_url is None:
        store_url = (ctx.params or {}).get("store_url")
        ctx = ctx.parent  # type: ignore[assignment]
    with Log.open(home, store_url=store_url) as log:
        registry = Registry(log.public, admin_only=True)
        registry.refresh(log)
        yield log, registry


@click.group()
@click.option("--home", type=click.Path(file_okay=False), help=HOME_HELP)
@click.option("--store", "store_url", metavar="URL", help=_STORE_HELP)
def tokens(home: str | None, store_url: str | None) -> None:
    """A log service's tokens and client keys, per project (admin actions, logged); its audit."""


@tokens.command(name="create")
@click.option("--project", required=True, help="The project the token belongs to.")
@click.option("--scope", type=click.Choice(SCOPES), required=True, help="What it may do.")
@click.pass_context
def tokens_create(ctx: click.Context, project: str, scope: str) -> None:
    """Create a token and print it, once (the log keeps only its hash)."""
    with _admin(ctx) as (log, registry):
        action, token = token_action(project, scope, by="cli")
        index = admin_action(log, registry, action)
    click.echo(token)
    click.echo(
        f"token {action['token_id']}: project {project}, scope {scope} (admin record {index}); "
        "it is shown only now",
        err=True,
    )


@tokens.command(name="list")
@click.option("--project", required=True)
@click.pass_context
def tokens_list(ctx: click.Context, project: str) -> None:
    """The project's tokens (id, scope, state) and keys."""
    check_project(project)
    with _admin(ctx) as (_log, registry):
        for token in registry.tokens.values():
            if token.project == project:
                state = "revoked" if token.revoked else "active"
                click.echo(f"token {token.token_id} {token.scope:<6} {state}")
        for info in registry.keys.values():
            if info.project == project:
                state = "revoked" if info.revoked else "active"
                click.echo(f"key   {info.key.key_id} {state} {info.key.vkey}")


@tokens.command(name="revoke")
@click.option("--project", required=True)
@click.argument("token_id")
@click.pass_context
def tokens_revoke(ctx: click.Context, project: str, token_id: str) -> None:
    """Revoke a token: refused from the next request on."""
    with _admin(ctx) as (log, registry):
        action = {"action": "token.revoke", "project": project, "token_id": token_id, "by": "cli"}
        index = admin_action(log, registry, action)
    click.echo(f"revoked token {token_id} of project {project} (admin record {index})")


@tokens.command(name="add-key")
@click.option("--project", required=True)
@click.argument("pubkey")
@click.pass_context
def tokens_add_key(ctx: click.Context, project: str, pubkey: str) -> None:
    """Register a client's public key (runid keys show, or a file) to the project: records
    it signs are accepted from the project's ingest tokens."""
    with _admin(ctx) as (log, registry):
        action, public = key_action(project, key_text(pubkey), by="cli")
        index = admin_action(log, registry, action)
    click.echo(
        f"registered key {public.key_id} ({public.name}) to project {project} "
        f"(admin record {index})"
    )


@tokens.command(name="revoke-key")
@click.option("--project", required=True)
@click.argument("key_id")
@click.pass_context
def tokens_revoke_key(ctx: click.Context, project: str, key_id: str) -> None:
    """Revoke a client key (rotation: add the new key first). Records it signed stay valid;
    new ones are refused."""
    with _admin(ctx) as (log, registry):
        action = {"action": "key.revoke", "project": project, "key_id": key_id, "by": "cli"}
        index = admin_action(log, registry, action)
    click.echo(f"revoked key {key_id} of project {project} (admin record {index})")


@tokens.command(name="audit")
@click.pass_context
def tokens_audit(ctx: click.Context) -> None:
    """Audit the service's log (as runid log audit) trusting the log's key and every client
    key the admin records registered (revoked ones too: their records stay valid)."""
    with _admin(ctx) as (log, registry):
        log.keyring = registry.keyring()
        findings = log.audit()
        size = log.size()
    for finding in findings:
        click.echo(f"error: {finding.where}: {finding.problem}", err=True)
    if findings:
        raise VerificationError(f"audit failed: {len(findings)} problem(s) in {size} entries")
    click.echo(f"audit: ok, {size} entries, {len(registry.keys)} client keys")
