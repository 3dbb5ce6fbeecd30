"""``runid log erase``, ``log erasures`` and ``log retention``: deleting content from the log's
blob store while every record, proof, receipt and bundle still verifies (docs/spec.md §20.7).
Named on the ``runid log`` group by :mod:`runid._cli.log`, which imports this module when one
is used."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from ..errors import E_RETENTION
from ..evidence import parse_time
from ..log import Log
from ..log.erasure import PARTS, ErasurePlan, erase, plan_erasure
from ..log.notices import iter_notices, notices_by_digest
from ..log.retention import apply_retention, load_retention, plan_retention
from ._common import echo_json, home_of, json_errors, open_log

__all__ = ["erase_command", "erasures_command", "retention_command"]


@click.command(name="erase")
@click.argument("targets", nargs=-1, required=True, metavar="DIGEST...|N|EXECUTION_ID")
@click.option(
    "--component",
    "components",
    multiple=True,
    metavar="NAME",
    help=f"Erase the contents this part of the run references ({', '.join(PARTS)}); repeat.",
)
@click.option(
    "--all-content", is_flag=True, help="Erase every content the run references and its outputs."
)
@click.option(
    "--declaration",
    "declaration",
    is_flag=True,
    help="Erase the run's declaration too (its id stays in the record).",
)
@click.option(
    "--reason", default="", metavar="TEXT", help="Why (recorded; a ticket, not the content)."
)
@click.option("--dry-run", is_flag=True, help="List what would be erased; erase nothing.")
@click.option(
    "--force", is_flag=True, help="Also erase content other runs reference (for them too)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def erase_command(
    ctx: click.Context,
    targets: tuple[str, ...],
    *,
    components: tuple[str, ...],
    all_content: bool,
    declaration: bool,
    reason: str,
    dry_run: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Erase content from the log's blob store: by digest, or the contents of a run.

    TARGETS are content digests (sha256:<hex>, or keyed digests hmac-sha256:<key id>:<hex>,
    removed from the home's keyed index); with --component, --all-content or --declaration,
    runs (an entry number or an execution id). Records, the tree and checkpoints are not
    touched: every proof, receipt and bundle still verifies, and a bundle exported afterwards
    lacks the content.

    A content is stored once for every run that uses it, so erasing it erases it for all of
    them: content other runs reference is refused (E_ERASE_SHARED) unless --force. --dry-run
    lists each content, its size and how many runs reference it.
    """
    with json_errors(ctx, as_json, erased=False):
        opener = _reader if dry_run else open_log
        with opener(ctx) as opened:
            plan = plan_erasure(
                opened,
                list(targets),
                components=components,
                all_content=all_content,
                declaration=declaration,
            )
            if dry_run:
                _show_plan(plan, as_json, dry_run=True)
                return
            result = erase(opened, plan, reason=reason, force=force)
    if as_json:
        echo_json(
            {
                "erased": True,
                **plan.to_json(),
                "reason": reason,
                "erased_digests": list(result.erased),
                "keyed_removed": result.keyed_removed,
                "wal_checkpointed": result.wal_checkpointed,
                "notice": result.notice,
            }
        )
        return
    _show_plan(plan, False, dry_run=False)
    if plan.keyed:
        click.echo(f"removed {result.keyed_removed} line(s) from the keyed index")
    notice = "" if result.notice is None else f" under the erasure notice at entry {result.notice}"
    click.echo(
        f"erased {len(result.erased)} content(s){notice}; records, proofs and checkpoints are "
        "unchanged"
    )
    if result.wal_checkpointed is False:
        click.echo(
            "note: a reader held the log open, so its write-ahead log still holds older pages; "
            "they are overwritten at the next checkpoint (or run 'runid log audit' later)",
            err=True,
        )


@click.command(name="erasures")
@click.argument("digests", nargs=-1, metavar="[DIGEST...]")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def erasures_command(ctx: click.Context, digests: tuple[str, ...], as_json: bool) -> None:
    """Say whether each content DIGEST is stored, erased (when, why, the entry of its erasure
    notice) or not stored; without DIGEST, list every erasure the log recorded."""
    with json_errors(ctx, as_json), _reader(ctx) as opened:
        store = opened.store
        named = notices_by_digest(list(iter_notices(store, opened.keyring)))
        if digests:
            rows = []
            for digest in digests:
                stored = store.get_blob(digest)
                erasure = None if stored is not None else store.erasure(digest)
                status = "stored" if stored is not None else "erased" if erasure else "not stored"
                rows.append(
                    {
                        "digest": digest,
                        "status": status,
                        "erased_at": erasure.erased_at if erasure else None,
                        "reason": erasure.reason if erasure else None,
                        "notice": named[digest][-1] if erasure and digest in named else None,
                    }
                )
        else:
            rows = [
                {
                    "digest": e.digest,
                    "status": "stored" if store.get_blob(e.digest) is not None else "erased",
                    "erased_at": e.erased_at,
                    "reason": e.reason,
                    "notice": named[e.digest][-1] if e.digest in named else None,
                }
                for e in store.iter_erasures()
            ]
    if as_json:
        echo_json({"contents": rows})
        return
    for row in rows:
        if row["status"] == "erased" or row["erased_at"]:
            why = f" ({row['reason']})" if row["reason"] else ""
            again = ", stored again since" if row["status"] == "stored" else ""
            notice = row["notice"]
            noticed = "no erasure notice" if notice is None else f"notice at entry {notice}"
            click.echo(f"{row['digest']}  erased at {row['erased_at']}{why}, {noticed}{again}")
        else:
            click.echo(f"{row['digest']}  {row['status']}")
    if not rows:
        click.echo("no content was erased from this log")


@click.command(name="retention")
@click.option(
    "--apply", "apply_", is_flag=True, help="Erase what the setting says (default: list)."
)
@click.option(
    "--now", metavar="TIME", help="Count the days back from TIME (RFC 3339), not from now."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def retention_command(ctx: click.Context, apply_: bool, now: str | None, as_json: bool) -> None:
    """Erase the contents of runs older than the home's retention setting.

    The setting is [retention] contents_days = N in <home>/config.toml (declarations = true
    also erases those runs' declarations). Without --apply, lists what it would erase. Records,
    the tree and checkpoints are kept for ever; a content a newer run still references is kept.
    """
    with json_errors(ctx, as_json, applied=False):
        moment = parse_time(now, "--now", code=E_RETENTION) if now else datetime.now(UTC)
        home = home_of(ctx)
        setting = load_retention(home)
        opener = open_log if apply_ else _reader
        with opener(ctx) as opened:
            plan = plan_retention(opened, setting, moment)
            erased = apply_retention(opened, plan) if apply_ else []
    report = plan.to_json()
    if as_json:
        echo_json({"applied": apply_, **report, "erased": len(erased)})
        return
    erase_counts = report["erase"]
    verb = "erased" if apply_ else "would erase"
    click.echo(
        f"retention: contents kept {setting.contents_days} days, so runs that started before "
        f"{report['cutoff']} are old: {plan.old} old, {plan.recent} recent"
    )
    declarations = (
        f" and {erase_counts['declarations']} declaration(s)" if setting.declarations else ""
    )
    click.echo(
        f"{verb} {erase_counts['contents']} content(s){declarations}, "
        f"{erase_counts['bytes']} bytes; {plan.kept} content(s) of old runs kept (a recent run "
        "references them); records and checkpoints are kept"
    )
    if not apply_ and plan.contents:
        click.echo("run again with --apply to erase them", err=True)


def _reader(ctx: click.Context) -> Log:
    home = home_of(ctx)
    home.require_keys()
    return Log.open(home, need_key=False)


def _show_plan(plan: ErasurePlan, as_json: bool, *, dry_run: bool) -> None:
    if as_json:
        echo_json({"erased": False, "dry_run": dry_run, **plan.to_json()})
        return
    what = f"entry {', '.join(map(str, plan.runs))}" if plan.runs else "the contents named"
    verb = "would erase" if dry_run else "erasing"
    click.echo(f"{verb} {len(plan.to_erase)} content(s) of {what}:")
    for content in plan.contents:
        parts = ",".join(content.parts)
        if not content.stored:
            erased = content.erasure
            when = f" at {erased.erased_at}" if erased else ""
            click.echo(f"  {content.digest}  {parts}  already erased{when}")
            continue
        others = ""
        if plan.runs and content.others:
            others = f"; {len(content.others)} other run(s) too: erasing it erases it for them"
        elif not plan.runs and len(content.runs) > 1:
            others = ": erasing it erases it for all of them"
        click.echo(
            f"  {content.digest}  {parts}  {content.size} bytes, referenced by "
            f"{len(content.runs)} run(s){others}"
        )
    for keyed in plan.keyed:
        click.echo(f"  {keyed}  keyed index line(s)")
    if plan.unchecked:
        click.echo(
            f"note: {plan.unchecked} run(s) have no declaration in this log; whether they "
            "reference these contents cannot be checked",
            err=True,
        )
    if dry_run and plan.shared:
        click.echo(
            f"{len(plan.shared)} content(s) are referenced by other runs: without --force, "
            "'runid log erase' refuses them",
            err=True,
        )
    sys.stdout.flush()
