"""``runid evidence``: export a signed evidence bundle (or a standard export), verify a bundle
offline, render the report.

The I/O edge of :mod:`runid.evidence`: the log is read by :mod:`runid.evidence.collect`, the zip
written and read by :mod:`runid.evidence.archive`; every file of a bundle is made and checked
by the pure package. Exit codes: 0 success; 7 a bundle that does not verify (the message names
the file and the check); 2 a usage error or an empty selection; 5 a bundle beyond the limits.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import click

from .._internal.files import read_input, write_output
from ..admin import check_project
from ..errors import (
    E_SELECTION,
    FileAccessError,
    InputError,
    PolicyError,
    RunidError,
    VerificationError,
)
from ..evidence import (
    EXPORT_FILES,
    REPORT_HTML,
    REPORT_PDF,
    Collected,
    Disclose,
    Verified,
    assemble,
    export_bytes,
    parse_disclose,
    parse_time,
    render_report,
    seal,
    verify_files,
    views,
)
from ..evidence.archive import MAX_BUNDLE, read_zip, write_zip
from ..evidence.collect import Selection, collect
from ..evidence.pdf import chromium, html_to_pdf
from ..keys import PublicKey
from ..log import Log
from ..policy import Policy, parse_policy
from ..tlog.cosignature import CosignerKey
from ._common import HOME_HELP, PolicyFileError, home_of, key_text, open_log

__all__ = ["evidence"]

_POLICY_LIMIT = 1 << 20
_PROGRESS_FROM = 1000  # runs: a smaller bundle verifies before a progress line would help


@click.group()
@click.option("--home", type=click.Path(file_okay=False), help=HOME_HELP)
def evidence(home: str | None) -> None:
    """Evidence for auditors: a signed bundle that verifies offline, a report, exports."""


def _reader(ctx: click.Context) -> Log:
    """The log opened read-only with the public key (the exports and the report sign
    nothing): nothing is created or written, so a snapshot handed over works too."""
    home = home_of(ctx)
    home.require_keys()
    return Log.open(home, readonly=True)


def _selection(
    since: str | None, until: str | None, runs: tuple[str, ...], project: str | None
) -> Selection:
    start = parse_time(since, "--since") if since else None
    end = parse_time(until, "--until") if until else None
    if start is not None and end is not None and end <= start:
        raise InputError("--until must be after --since", code=E_SELECTION)
    if project is not None:
        check_project(project)
    return Selection(start, end, runs, project)


def _policy(name: str | None) -> tuple[str, bytes, Policy] | None:
    if name is None:
        return None
    data = read_input(name, _POLICY_LIMIT, what="policies")
    fmt: Literal["json", "yaml"] = "json" if name.endswith(".json") else "yaml"
    try:
        policy = parse_policy(data, fmt=fmt)
    except PolicyError as exc:
        raise PolicyFileError(name, exc.problems) from None
    except RunidError as exc:
        raise InputError(f"{name}: {exc.message}", hint=exc.hint, code=exc.code) from None
    return f"policy/policy.{fmt}", data, policy


def _select_options(function: Any) -> Any:
    for option in reversed(
        (
            click.option("--since", metavar="TIME", help="Runs that started at or after TIME."),
            click.option("--until", metavar="TIME", help="Runs that started before TIME."),
            click.option(
                "--run",
                "runs",
                multiple=True,
                metavar="REF",
                help="Only this run (entry, execution id or declaration id); repeat.",
            ),
            click.option(
                "--project",
                metavar="P",
                help="Only the runs of project P of a log service's log (signed by its keys).",
            ),
            click.option(
                "--policy",
                "policy_file",
                metavar="FILE",
                help="Evaluate this policy (YAML/JSON) on every run; results included.",
            ),
            click.option(
                "--disclose",
                default="all",
                show_default=True,
                metavar="ITEMS",
                help="all, none, or components, 'outputs' and JSON Pointers "
                "(/context/retrieved/0), comma-separated; the rest only by digest.",
            ),
        )
    ):
        function = option(function)
    return function


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_FORMATS = ("bundle", "intoto", "dsse", "tlog-proof", "prov", "cyclonedx", "otlp")


@evidence.command(name="export")
@_select_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(_FORMATS),
    default="bundle",
    show_default=True,
    help="bundle: the signed zip. intoto: the envelopes as an in-toto bundle (JSON Lines); "
    "dsse, tlog-proof: one run's envelope, or its bare C2SP proof; prov: W3C PROV-JSON; "
    "cyclonedx: a CycloneDX 1.6 ML-BOM of the models and datasets; otlp: OTLP/JSON spans.",
)
@click.option(
    "--report",
    "with_report",
    is_flag=True,
    help="Put the report in the bundle (report/report.html, and report.pdf when Chromium is "
    "there): its digest is then in the signed manifest.",
)
@click.option(
    "--exports",
    "with_exports",
    is_flag=True,
    help="Also put the intoto, prov, cyclonedx and otlp exports in the bundle (exports/): "
    "listed in the signed manifest, and regenerated from the verified runs by 'evidence verify'.",
)
@click.option("-o", "--out", required=True, metavar="FILE", help="Write the bundle here.")
@click.pass_context
def evidence_export(
    ctx: click.Context,
    *,
    since: str | None,
    until: str | None,
    runs: tuple[str, ...],
    project: str | None,
    policy_file: str | None,
    disclose: str,
    fmt: str,
    with_report: bool,
    with_exports: bool,
    out: str,
) -> None:
    """Write a signed evidence bundle (a zip) of the selected runs.

    The bundle holds the runs' signed envelopes, their declarations (the components not
    disclosed only by digest), the disclosed contents the log holds, an inclusion proof per run,
    the checkpoints with a consistency chain between them, the log's public key, the policy and
    its results, and a manifest of every file's SHA-256 signed by the log's key (so this runs
    where the private key is). 'runid evidence verify' checks it offline.

    Runs: those that started at or after --since and before --until (a date, or an RFC 3339
    date-time, UTC unless it says otherwise), among the --run named or every run in the log.
    On a log service's log (runid serve), --project P keeps the runs of project P: those signed
    by a key registered to P (after its registration, before its revocation). Runs signed by
    client keys come with the admin records that register and revoke their keys and with the
    keys, so that 'evidence verify' needs only the log's key.
    """
    selection = _selection(since, until, runs, project)
    shown = parse_disclose(disclose)
    policy = _policy(policy_file)
    if fmt != "bundle":
        if with_exports:
            raise click.UsageError("--exports puts the exports in a bundle: drop --format")
        with _reader(ctx) as log:
            collected, _sizes = collect(log, selection, shown, policy=policy)
        data = _export(fmt, collected)
        write_output(out, data)
        click.echo(f"wrote {out}: {fmt}, {len(collected.runs):,} run(s)", err=True)
        return
    with open_log(ctx) as log:
        collected, sizes = collect(log, selection, shown, policy=policy)
        key = log.key
        assert key is not None
        files = assemble(collected, sizes)
        counts = {
            "runs": len(collected.runs),
            "declarations": sum(d is not None for d in collected.declarations.values()),
            "contents": len(collected.contents),
            "checkpoints": len(sizes),
        }
        created = _now()
        if with_exports:
            shown_runs = views(collected)
            leaves = [run.envelope for run in collected.runs]
            for name_, path in EXPORT_FILES.items():
                files[path] = export_bytes(
                    name_,
                    shown_runs,
                    leaves,
                    collected.key.name,
                    created_at=created,
                    tool_version=_version(),
                )

        def sealed_files() -> dict[str, bytes]:
            return seal(
                files,
                key,
                size=sizes[-1],
                created_at=created,
                selection=selection.to_json(shown),
                counts=counts,
            )

        sealed = sealed_files()
        if with_report:
            verified = verify_files(sealed, [key.public_key])
            note = "These results are the bundle's without its report, checked at export."
            page = render_report(verified, generated_at=created, tool_version=_version(), note=note)
            files.update(_report_files(page, pdf=True))
            sealed = sealed_files()
    write_output(out, write_zip(sealed))
    first, last = collected.runs[0].index, collected.runs[-1].index
    of = f" of project {project}" if project is not None else ""
    keys = (
        f"{len(collected.client_keys):,} client key(s) with {len(collected.admin):,} admin "
        "record(s), "
        if collected.client_keys
        else ""
    )
    click.echo(
        f"wrote {out}: {counts['runs']:,} run(s){of} (entries {first}..{last}), {keys}"
        f"{counts['declarations']:,} declaration(s), {counts['contents']:,} content(s), "
        f"disclosed: {_disclosed(shown)}; checkpoints at "
        f"{', '.join(f'{s:,}' for s in sizes)}",
        err=True,
    )


def _disclosed(shown: Disclose) -> str:
    if shown.everything and shown.outputs and not shown.pointers:
        return "all"
    return ", ".join(shown.to_json()) or "none (component digests only)"


def _export(fmt: str, collected: Collected) -> bytes:
    """The bytes of a standard export of the collected runs (as disclosed)."""
    origin = collected.key.name
    if fmt in ("dsse", "tlog-proof"):
        if len(collected.runs) != 1:
            raise InputError(
                f"--format {fmt} writes one run; {len(collected.runs):,} are selected",
                code=E_SELECTION,
                hint="name it with --run N|EXECUTION_ID",
            )
        run = collected.runs[0]
        return run.envelope if fmt == "dsse" else run.proof  # the leaf bytes exactly
    return export_bytes(
        fmt,
        views(collected),
        [run.envelope for run in collected.runs],
        origin,
        created_at=_now(),
        tool_version=_version(),
    )


def _report_files(page: str, *, pdf: bool) -> dict[str, bytes]:
    """``report/report.html`` and, when asked and Chromium is there, ``report/report.pdf``."""
    files = {REPORT_HTML: page.encode("utf-8")}
    if pdf:
        if chromium() is None:
            click.echo(
                "note: no Chromium (apt-get install chromium); the report is HTML only", err=True
            )
        else:
            files[REPORT_PDF] = html_to_pdf(page)
    return files


def _version() -> str:
    try:
        return metadata.version("runid")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


def _witness_options(function: Any) -> Any:
    function = click.option(
        "--min-witnesses",
        type=click.IntRange(min=1),
        metavar="K",
        help="Require a checkpoint cosigned by at least K --witness keys (default 1).",
    )(function)
    return click.option(
        "--witness",
        "witnesses",
        multiple=True,
        metavar="VKEY",
        help="A trusted witness's cosigner key (or a file holding one); repeat. A checkpoint "
        "of the bundle cosigned by them must hold every run.",
    )(function)


def _cosigners(witnesses: tuple[str, ...], min_witnesses: int | None) -> list[CosignerKey]:
    keys = [CosignerKey.parse(key_text(w)) for w in witnesses]
    if min_witnesses is not None and min_witnesses > len(keys):
        raise InputError(
            f"--min-witnesses {min_witnesses} needs at least as many --witness keys "
            f"({len(keys)} given)",
            code=E_SELECTION,
        )
    return keys


def _trusted(keys_: tuple[str, ...]) -> list[PublicKey] | None:
    return [PublicKey.parse(key_text(k)) for k in keys_] if keys_ else None


class _Bar:
    """A progress line on standard error, when it is a terminal and the bundle is large."""

    def __init__(self) -> None:
        self.shown = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        if total < _PROGRESS_FROM or not sys.stderr.isatty():
            return
        sys.stderr.write(f"\rverifying {stage}: {done:,}/{total:,}")
        sys.stderr.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self.shown = False


def _read_bundle(bundle: str) -> dict[str, bytes]:
    return read_zip(read_input(bundle, MAX_BUNDLE, what="evidence bundles"))


def _verify(
    bundle: str,
    trusted: list[PublicKey] | None,
    cosigners: list[CosignerKey] | None = None,
    min_witnesses: int | None = None,
) -> Verified:
    bar = _Bar()
    try:
        return verify_files(
            _read_bundle(bundle),
            trusted,
            progress=bar,
            witnesses=cosigners or (),
            min_witnesses=min_witnesses,
        )
    finally:
        bar.clear()


@evidence.command(name="verify")
@click.argument("bundle", metavar="FILE.zip")
@click.option(
    "--key",
    "keys_",
    multiple=True,
    metavar="VKEY",
    help="Trust this log key (or a file holding it); repeat for rotated keys. "
    "Without it the bundle's own key is used: whole and consistent, not who made it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_witness_options
def evidence_verify(
    bundle: str,
    keys_: tuple[str, ...],
    as_json: bool,
    witnesses: tuple[str, ...],
    min_witnesses: int | None,
) -> None:
    """Verify an evidence bundle offline, from the bundle alone (no home, no database).

    Checks the manifest's signature and every file's SHA-256, the checkpoints and the
    consistency between them, every envelope and its inclusion proof, the declarations (ids
    recomputed; each disclosed component against its digest), the contents, and the policy
    results (re-evaluated where the declaration is disclosed). Any failure exits 7 and names
    the file and the check.
    """
    trusted = _trusted(keys_)
    cosigners = _cosigners(witnesses, min_witnesses)
    try:
        verified = _verify(bundle, trusted, cosigners, min_witnesses)
    except VerificationError as exc:
        if not as_json:
            raise VerificationError(
                f"{bundle}: {exc.message}", code=exc.code, hint=exc.hint
            ) from None
        failure = {
            "file": getattr(exc, "file", ""),
            "check": getattr(exc, "check", ""),
            "code": exc.code,
            "message": exc.message,
        }
        click.echo(json.dumps({"verified": False, "bundle": bundle, "failure": failure}))
        sys.exit(exc.exit_code)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "verified": True,
                    "bundle": bundle,
                    "checks": verified.checks,
                    "runs": len(verified.runs),
                    "origin": verified.origin,
                    "anchored": verified.anchored,
                }
            )
        )
        return
    for check in verified.checks:
        click.echo(f"ok  {check}")
    of = f" of project {verified.project}" if verified.project is not None else ""
    click.echo(
        f"verified: {len(verified.runs):,} run(s){of} of the log {verified.origin}, tree size "
        f"{verified.checkpoint.size:,}"
    )
    if not verified.anchored:
        click.echo(
            "note: trusted the bundle's own log key; pass --key VKEY (the log's published "
            "key) to check who signed it",
            err=True,
        )


@evidence.command(name="report")
@click.argument("bundle", required=False, metavar="[FILE.zip]")
@_select_options
@click.option(
    "--key",
    "keys_",
    multiple=True,
    metavar="VKEY",
    help="Trust this log key when reading a bundle (as for verify).",
)
@click.option(
    "--pdf/--no-pdf",
    default=True,
    show_default=True,
    help="Also print report.pdf with headless Chromium, when there is one.",
)
@click.option("-o", "--out", required=True, metavar="DIR", help="Write the report here.")
@click.pass_context
def evidence_report(
    ctx: click.Context,
    *,
    bundle: str | None,
    since: str | None,
    until: str | None,
    runs: tuple[str, ...],
    project: str | None,
    policy_file: str | None,
    disclose: str,
    keys_: tuple[str, ...],
    pdf: bool,
    out: str,
) -> None:
    """Render the evidence report: report.html (and report.pdf) in DIR.

    From a bundle (verified first, as 'runid evidence verify' does), or, without one, from
    the log with the same selection options as export. The report shows what ran (models,
    instruction versions, index snapshots, parameter sets, with counts and time ranges), when
    each condition changed (a timeline), the policy results, the verification results, and
    the record-keeping clauses (EU AI Act, NIST AI RMF, ISO/IEC 42001) the evidence serves.
    """
    if bundle is not None:
        if since or until or runs or project or policy_file or disclose != "all":
            raise InputError(
                "the selection options are for a report from the log; a bundle's runs are fixed",
                code=E_SELECTION,
                hint="export a bundle with the selection you want, then report on it",
            )
        verified = _verify(bundle, _trusted(keys_))
        note = f"Verified from {bundle}."
        created = (verified.manifest or {}).get("created_at") or _now()
    else:
        selection = _selection(since, until, runs, project)
        shown = parse_disclose(disclose)
        policy = _policy(policy_file)
        with _reader(ctx) as log:
            collected, sizes = collect(log, selection, shown, policy=policy)
        verified = verify_files(
            assemble(collected, sizes), [collected.key], sealed=False, project=project
        )
        note = "Verified from the log's records, proofs and checkpoints (no bundle)."
        created = _now()
    page = render_report(verified, generated_at=created, tool_version=_version(), note=note)
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FileAccessError(f"{out}: cannot create the directory ({exc.strerror})") from None
    written = []
    for name, data in _report_files(page, pdf=pdf).items():
        target = folder / name.split("/")[-1]
        write_output(str(target), data)
        written.append(str(target))
    click.echo(f"wrote {', '.join(written)}: {len(verified.runs):,} run(s)", err=True)
