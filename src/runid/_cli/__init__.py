"""The ``runid`` command line: a thin layer over the library, one module per command group.

``runid._cli`` is not an API; the command is.

This module holds the click group :func:`main` and the one error handler. The commands live one
group per module (:mod:`.core`: canon, validate, id, schema; :mod:`.keys`; :mod:`.log`;
:mod:`.verify`; :mod:`.check`; :mod:`.diff`; :mod:`.replay`; :mod:`.demo`) and share
:mod:`._common`. They do not import this module: it names them in :data:`COMMANDS` and
:class:`._common.LazyGroup` imports a command's module when that command runs, so there is no
import cycle, and start-up pays only for the command used (``runid --version`` for none).
Modules a command alone needs (replay and the model adapters) are imported inside that command.

Errors are handled in exactly one place (:class:`_Group`): a :class:`runid.errors.RunidError`
becomes ``error: <message>`` (and ``hint: ...``) on standard error, and the process exits with the
error's exit code, or with the command's ``error_exit_code`` when it sets one
(:class:`._common.Command`: ``check``, ``diff`` and ``replay`` exit 2 on every error). Ctrl-C
exits 130 (128 + SIGINT, as a shell reports it), silently, whatever the command.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from .. import __version__
from .._internal.schema import hidden_count
from ..errors import E_MORE, DeclarationError, Problem, RunidError
from ._common import EXIT_INTERNAL, Command, LazyGroup, PolicyFileError

__all__ = ["COMMANDS", "main"]

#: Every command of ``runid``: its name -> ``module:attribute`` in this package, imported when
#: the command runs (see :class:`._common.LazyGroup`).
COMMANDS = {
    "canon": "core:canon",
    "validate": "core:validate",
    "id": "core:id_",
    "schema": "core:schema",
    "demo": "demo:demo",
    "keys": "keys:keys",
    "log": "log:log",
    "verify": "verify:verify",
    "check": "check:check_command",
    "diff": "diff:diff_command",
    "replay": "replay:replay_command",
    "scl": "scl:scl",
    "monitor": "monitor:monitor_command",
    "witness": "witness:witness",
    "evidence": "evidence:evidence",
    "serve": "serve:serve",
    "tokens": "tokens:tokens",
    "push": "push:push",
    "ui": "ui:ui_command",
}

#: The exit code after Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


class _Group(LazyGroup):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RunidError as exc:
            _report(exc)
            ctx.exit(self._error_exit_code(ctx, exc.exit_code))
        except BrokenPipeError:  # e.g. `runid canon big.json | head -c 10`
            sys.stderr.close()
            ctx.exit(0)
        except KeyboardInterrupt:  # Ctrl-C: no traceback, no "Aborted!"; outputs are atomic
            ctx.exit(EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # a bug, not a user mistake: say so, briefly
            if os.environ.get("RUNID_DEBUG"):
                raise
            click.echo(f"error: internal error: {type(exc).__name__}: {exc}", err=True)
            click.echo(
                "hint: this is a bug in runid; rerun with RUNID_DEBUG=1 and report", err=True
            )
            ctx.exit(self._error_exit_code(ctx, EXIT_INTERNAL))

    def _error_exit_code(self, ctx: click.Context, default: int) -> int:
        """The exit code of the command that failed: its own for every error, else ``default``."""
        name = ctx.invoked_subcommand
        command = self.commands.get(name) if name else None  # loaded: it was invoked
        if isinstance(command, Command) and command.error_exit_code is not None:
            return command.error_exit_code
        return default


def _report(exc: RunidError) -> None:
    if isinstance(exc, DeclarationError):
        _problems(exc.problems, "declaration is invalid")
    elif isinstance(exc, PolicyFileError):
        _problems(exc.problems, "the policy is invalid", where=f"{exc.path}: ")
    else:
        click.echo(f"error: {exc.message}", err=True)
    if exc.hint:
        click.echo(f"hint: {exc.hint}", err=True)


def _problems(problems: tuple[Problem, ...], what: str, *, where: str = "") -> None:
    for problem in problems:
        click.echo(f"error: {where}{problem}", err=True)
    # Findings beyond the cap per object are counted by E_MORE lines, not listed.
    total = sum(hidden_count(p.message) if p.code == E_MORE else 1 for p in problems)
    listed = (
        f", {sum(p.code != E_MORE for p in problems):,} listed" if total > len(problems) else ""
    )
    click.echo(f"error: {what} ({total:,} problem(s){listed})", err=True)


@click.group(cls=_Group, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
# The version is runid.__version__ (a test keeps it the installed one): looking it up in the
# installed metadata imports importlib.metadata, ~15 ms of start-up.
@click.version_option(version=__version__, package_name="runid")
@click.option("--home", type=click.Path(file_okay=False), help="runid home directory.")
def main(home: str | None) -> None:
    """runid: verifiable identity for AI runs.

    Exit codes: 0 success, 1 invalid declaration, 2 usage error, 3 malformed JSON,
    4 JSON that cannot be canonicalized, 5 limit exceeded, 6 file error, 7 verification failed.
    """
