"""``runid check``: evaluate a policy against runs from the log, declaration files or receipts.

Registered on the ``runid`` group by :mod:`runid._cli`. This module is the I/O edge of
:mod:`runid.policy` (which is pure): it reads the policy file, finds each run's declaration and
record, and prints the per-rule results. Exit codes, for CI: 0 every rule of every run passed
(or was not applicable), 1 some rule failed, 2 any error (a malformed policy, an unknown id, a
receipt that does not verify); on an error nothing is checked.

Runs stream: ``--all`` reads the log in pages, each run is evaluated and written at once to a
spool (memory up to 8 MiB, then a temporary file), and only counts are kept for the summary;
the report is copied out when every run was checked, so an error still prints no run and
memory stays flat however long the log.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import textwrap
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from .._internal.files import read_input
from ..errors import (
    E_CHECK_INPUT,
    E_TOO_LARGE,
    InputError,
    LimitExceededError,
    PolicyError,
    RunidError,
)
from ..keys import Keyring
from ..log import Entry, Log
from ..policy import FAIL, NA, PASS, Evaluation, Policy, RuleResult, evaluate, parse_policy
from ..resolve import resolve
from ..wire import Declaration
from ._common import Command, PolicyFileError, home_of, key_text, open_log, wants_color

__all__ = ["CHECK_SPEC", "EXIT_ERROR", "Checked", "check_command", "report_json"]

CHECK_SPEC = "runid/check/v1"
EXIT_ERROR = 2
_POLICY_LIMIT = 1 << 20  # a policy is a short document; 1 MiB is generous


@dataclass(frozen=True)
class Checked:
    """One run as checked: where it came from, its ids, and the evaluation."""

    subject: str
    source: str  # "log", "declaration_file" or "receipt_file"
    declaration_id: str
    evaluation: Evaluation
    execution_id: str | None = None
    entry: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The run's object in the ``--json`` report (docs/spec.md §17.4)."""
        return {
            "subject": self.subject,
            "source": self.source,
            "entry": self.entry,
            "execution_id": self.execution_id,
            "declaration_id": self.declaration_id,
            "status": self.evaluation.status,
            "scope": self.evaluation.scope or None,
            "results": [r.to_json() for r in self.evaluation.results],
        }


# A run whose declaration is withheld (or only known by digests) cannot be shown to comply.
_MISSING_DECLARATION = RuleResult(
    "declaration",
    FAIL,
    "the declaration's content is not at hand (withheld, or not stored in this log): no rule "
    "can be shown to hold",
    expected="the declaration",
    recorded=False,
)


class _Sources:
    """Finds runs: log entries (the log opened once, when needed) and files, through
    :func:`runid.resolve.resolve` (receipts are verified before they count)."""

    def __init__(self, ctx: click.Context, policy: Policy, keys: tuple[str, ...]) -> None:
        self.ctx = ctx
        self.policy = policy
        self.keyring = Keyring.from_texts(key_text(k) for k in keys) if keys else None
        self._log: Log | None = None
        # Many runs share one declaration (content-addressed, so one id is one declaration):
        # load each once. Without observed rules the record is never read, so the evaluation of
        # a declaration is the same for all of its runs, and is kept too.
        self._declarations: dict[str, Declaration | None] = {}
        self._evaluations: dict[str, Evaluation] = {}
        self._record_free = "observed" not in policy.document

    def log(self) -> Log:
        if self._log is None:
            self._log = open_log(self.ctx, need_key=False)
        return self._log

    def log_if_any(self) -> Log | None:
        """The home's log when there is one (a file argument does not need it)."""
        home = home_of(self.ctx)
        if self._log is None and not (
            home.public_key_path.exists() or home.signing_key_path.exists()
        ):
            return None
        return self.log()

    def close(self) -> None:
        if self._log is not None:
            self._log.close()

    def from_entry(self, index: int, subject: str | None = None) -> Checked:
        return self._checked(self.log().entry(index), subject)

    def _checked(self, entry: Entry, subject: str | None = None) -> Checked:
        log = self.log()
        record = entry.record
        declaration_id = record["declaration_id"]
        evaluation = self._evaluations.get(declaration_id)
        if evaluation is None:
            if declaration_id not in self._declarations:
                self._declarations[declaration_id] = log.declaration(declaration_id)
            evaluation = self.evaluate(self._declarations[declaration_id], record)
            if self._record_free:
                self._evaluations[declaration_id] = evaluation
        return Checked(
            subject or f"entry {entry.index}",
            "log",
            declaration_id,
            evaluation,
            record["execution_id"],
            entry.index,
        )

    def evaluate(
        self, declaration: Declaration | None, record: Mapping[str, Any] | None
    ) -> Evaluation:
        if declaration is None:
            return Evaluation(FAIL, (_MISSING_DECLARATION,), "", {PASS: 0, FAIL: 1, NA: 0})
        return evaluate(self.policy, declaration, record)

    def everything(self) -> Iterator[Checked]:
        for entry in self.log().iter_entries():  # read in pages, each verified
            yield self._checked(entry)

    def resolve(self, ref: str) -> Iterator[Checked]:
        if ref.isdigit() and not Path(ref).is_file():
            yield self.from_entry(int(ref))
            return
        log = self.log() if ref.startswith("sha256:") else self.log_if_any()
        subject = resolve(ref, log, keyring=self.keyring)
        if subject.kind == "declaration" and log is not None:
            # A declaration id: check every recorded run of it (or the declaration alone).
            entries = log.entries_of(subject.declaration_id)
            for entry in entries:
                yield self.from_entry(entry.index, ref)
            if entries:
                return
        source = {"execution": "log", "declaration": "log", "receipt": "receipt_file"}
        yield Checked(
            ref,
            source.get(subject.kind, "declaration_file"),
            subject.declaration_id,
            self.evaluate(subject.declaration, subject.record),
            subject.execution_id,
            None,
        )


# --- output -----------------------------------------------------------------------------------

_MARKS: dict[str, tuple[str, str]] = {
    PASS: ("pass", "green"),
    FAIL: ("FAIL", "red"),
    NA: ("n/a ", "bright_black"),
}


def _mark(status: str, color: bool) -> str:
    text, colour = _MARKS[status]
    return click.style(text, fg=colour, bold=status == FAIL) if color else text


def _short(digest: str | None) -> str:
    return digest[:19] + "…" if digest else "-"


def _render_run(run: Checked, color: bool, quiet: bool) -> list[str]:
    what = f"{run.subject}"
    if run.execution_id and run.subject != run.execution_id:
        what += f"  execution {_short(run.execution_id)}"
    what += f"  declaration {_short(run.declaration_id)}"
    lines = [f"{_mark(run.evaluation.status, color)}  {what}"]
    if run.evaluation.scope:
        lines.append(f"        not in scope: {run.evaluation.scope}")
    for result in run.evaluation.results:
        if quiet and result.status != FAIL:
            continue
        where = f"  [{result.document} {result.pointer or '/'}]" if result.status == FAIL else ""
        if not result.recorded:
            where += " (not recorded)"
        lines.append(f"  {_mark(result.status, color)}  {result.rule}: {result.message}{where}")
        if result.status == FAIL and result.expected is not None:
            lines.append(f"        expected: {_compact(result.expected)}")
    return lines


def _compact(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= 160 else text[:159] + "…"


class _Tally:
    """What the report says of all the runs, counted as they stream by."""

    def __init__(self, runs: Iterable[Checked] = ()) -> None:
        self.count = 0
        self.runs: dict[str, int] = {PASS: 0, FAIL: 0, NA: 0}
        self.rules: dict[str, int] = {PASS: 0, FAIL: 0, NA: 0}
        self.not_recorded = 0
        for run in runs:
            self.add(run)

    def add(self, run: Checked) -> None:
        self.count += 1
        self.runs[run.evaluation.status] += 1
        for result in run.evaluation.results:
            self.rules[result.status] += 1
        self.not_recorded += len(run.evaluation.not_recorded)

    def summary(self) -> dict[str, dict[str, int]]:
        return {"runs": dict(self.runs), "rules": dict(self.rules)}


def _warnings(policy: Policy, tally: _Tally) -> list[str]:
    """The policy's own warnings, and one when it checked nothing (a CI job that passes
    vacuously because of a wrong scope or an empty log should say so)."""
    out = list(policy.warnings)
    if not tally.count:
        out.append("no run was checked (the log is empty)")
    elif tally.runs[NA] == tally.count:
        out.append(f"none of the {tally.count} run(s) is in the policy's scope (applies_to)")
    return out


def _report_head(policy: Policy, tally: _Tally) -> dict[str, Any]:
    return {
        "check": CHECK_SPEC,
        "policy": {"name": policy.name, "digest": policy.digest},
        "status": FAIL if tally.runs[FAIL] else PASS,
        "summary": tally.summary(),
        "warnings": _warnings(policy, tally),
    }


def report_json(policy: Policy, runs: list[Checked]) -> dict[str, Any]:
    """The ``--json`` report (docs/spec.md §17.4)."""
    return {**_report_head(policy, _Tally(runs)), "runs": [run.to_json() for run in runs]}


def _read_policy(name: str) -> Policy:
    try:
        data = read_input(name, _POLICY_LIMIT, what="policies")
    except LimitExceededError:
        raise LimitExceededError(
            f"{name}: larger than {_POLICY_LIMIT} bytes; a policy is a short document",
            code=E_TOO_LARGE,
        ) from None
    try:
        return parse_policy(data, fmt="json" if name.endswith(".json") else None)
    except PolicyError as exc:
        error = PolicyFileError(name, exc.problems)
        error.hint = exc.hint
        raise error from None
    except RunidError as exc:  # strict JSON's own errors: name the policy file
        raise InputError(f"{name}: {exc.message}", hint=exc.hint, code=exc.code) from None


@click.command(name="check", cls=Command, error_exit_code=EXIT_ERROR)
@click.argument("runs", nargs=-1, metavar="[EXECUTION|DECLARATION_ID|ENTRY|FILE]...")
@click.option("--policy", "policy_file", required=True, metavar="FILE", help="Policy (YAML/JSON).")
@click.option("--all", "check_all", is_flag=True, help="Check every run in the log.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (spec §17.4).")
@click.option("-q", "--quiet", is_flag=True, help="Show only failed rules and the summary.")
@click.option(
    "--key",
    "keys_",
    multiple=True,
    metavar="PUBKEY",
    help="Verifier key (or a file holding one) for receipt files; default: the home's key.",
)
@click.option("--home", type=click.Path(file_okay=False), help="runid home directory.")
@click.pass_context
def check_command(
    ctx: click.Context,
    *,
    runs: tuple[str, ...],
    policy_file: str,
    check_all: bool,
    as_json: bool,
    quiet: bool,
    keys_: tuple[str, ...],
    home: str | None,
) -> None:
    """Check runs against a policy of approved conditions; report pass/fail per rule and run.

    Each argument is an execution id or entry number of the log, a declaration id (every
    recorded run of it), a declaration file or a receipt file (verified first); --all checks
    every run in the log. The policy format is docs/spec.md section 17.

    Exit codes: 0 all rules pass (or are not applicable), 1 a rule failed, 2 error.
    """
    if bool(runs) == check_all:
        raise InputError(
            "name the runs to check, or pass --all (not both)",
            code=E_CHECK_INPUT,
            hint="runid check --all --policy FILE, or runid check EXECUTION... --policy FILE",
        )
    policy = _read_policy(policy_file)
    sources = _Sources(ctx, policy, keys_)
    tally = _Tally()
    color = wants_color()
    # The report of each run is written as it is checked (see the module docstring).
    with tempfile.SpooledTemporaryFile(_SPOOL_MEMORY, "w+", encoding="utf-8") as spool:
        try:
            found = sources.everything() if check_all else iter(())
            for ref in runs:
                found = _chain(found, sources.resolve(ref))
            for run in found:
                tally.add(run)
                if as_json:
                    entry = textwrap.indent(json.dumps(run.to_json(), indent=2, **_JSON), "    ")
                    spool.write((",\n" if tally.count > 1 else "") + entry)
                elif not (quiet and run.evaluation.status != FAIL):
                    spool.write("".join(f"{line}\n" for line in _render_run(run, color, quiet)))
        finally:
            sources.close()
        spool.seek(0)
        if as_json:
            _print_json(policy, tally, spool)
        else:
            _render(policy, tally, spool, color=color)
    ctx.exit(1 if tally.runs[FAIL] else 0)


_SPOOL_MEMORY = 8 << 20
"""Bytes of report kept in memory before the spool moves to a temporary file."""

_JSON: dict[str, Any] = {"ensure_ascii": False}


def _chain(*parts: Iterator[Checked]) -> Iterator[Checked]:
    for part in parts:
        yield from part


def _print_json(policy: Policy, tally: _Tally, runs: Any) -> None:
    """The report as ``json.dumps(report_json(...), indent=2)`` writes it, the runs copied
    from the spool."""
    head = json.dumps(_report_head(policy, tally), indent=2, **_JSON)
    out = sys.stdout
    out.write(head[: -len("\n}")] + ',\n  "runs": [')
    if tally.count:
        out.write("\n")
        shutil.copyfileobj(runs, out)
        out.write("\n  ")
    out.write("]\n}\n")
    out.flush()


def _render(policy: Policy, tally: _Tally, runs: Any, *, color: bool) -> None:
    for warning in _warnings(policy, tally):
        click.echo(f"warning: {warning}", err=True)
    title = f"policy {policy.name} ({_short(policy.digest)})"
    click.echo(click.style(title, bold=True) if color else title)
    sys.stdout.flush()
    shutil.copyfileobj(runs, sys.stdout)
    r, u = tally.runs, tally.rules
    unknown = tally.not_recorded
    text = (
        f"{tally.count} run(s): {r[PASS]} passed, {r[FAIL]} failed, {r[NA]} not applicable; "
        f"rules: {u[PASS]} passed, {u[FAIL]} failed"
        + (f" ({unknown} not recorded)" if unknown else "")
        + f", {u[NA]} not applicable"
    )
    if color:
        text = click.style(text, fg="red" if r[FAIL] else "green", bold=True)
    click.echo(text)
