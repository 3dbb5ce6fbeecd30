"""What the command modules share: the home a command works on and its log, ``--key`` values,
JSON input, colour, and the command class that gives a command one exit code for every error.

Every file a command reads or writes goes through :mod:`runid._internal.files` (regular files
only, named in every error; outputs written through a new no-follow temporary file).

The names are public inside the private package: command modules import them from here. This
module imports no command module at import time and not the group (:mod:`runid._cli`), so
there is no cycle; :class:`LazyGroup` imports a command's module when the command is used.
It imports the home and the log when a command asks for them, not before: ``runid --version``
and ``runid id`` never load the store, the keys or the signing library.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import click

from .._internal.files import load_json, read_input
from ..errors import E_INTERNAL, PolicyError, Problem, RunidError

#: The exit code of an internal error (a bug in runid), as sysexits.h's EX_SOFTWARE.
EXIT_INTERNAL = 70

if TYPE_CHECKING:
    from ..home import Home
    from ..log import Log

__all__ = [
    "EXIT_INTERNAL",
    "HOME_HELP",
    "Command",
    "LazyGroup",
    "PolicyFileError",
    "echo_json",
    "error_members",
    "home_of",
    "json_errors",
    "json_failure",
    "key_text",
    "load",
    "open_log",
    "wants_color",
]

HOME_HELP = "runid home directory (default: $RUNID_HOME, else ~/.local/share/runid)."


class Command(click.Command):
    """A command that exits with ``error_exit_code`` on any error, instead of the error's own
    exit code (``runid diff``, ``check`` and ``replay`` exit 2 on every error, as ``diff(1)``
    does, so that a script can tell "it differs" from "it could not run").

    The group's one error handler (:mod:`runid._cli`) reads the code; the command raises.
    """

    def __init__(self, *args: Any, error_exit_code: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.error_exit_code = error_exit_code


class LazyGroup(click.Group):
    """A group whose commands are imported when they are used.

    ``lazy`` maps a command name to ``"module:attribute"``, a module of this package and the
    command object in it. Running a command imports its module alone, so start-up does not pay
    for the others' imports (the policy language and YAML, the diff, the HTTP server, the
    evidence formats); ``--help`` lists every command, so it imports them all. A command added
    with :meth:`add_command` is used as it is.
    """

    def __init__(self, *args: Any, lazy: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module, _, attribute = self.lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(f".{module}", __package__), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[cmd_name]} is not a click command")
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)


class PolicyFileError(PolicyError):
    """An invalid policy, named by its file: the error handler prints each problem as
    ``error: FILE: /pointer: CODE message``."""

    def __init__(self, path: str, problems: Sequence[Problem]) -> None:
        super().__init__(problems)
        self.path = path


def echo_json(document: Mapping[str, Any]) -> None:
    """Print a ``--json`` result: one object, indented, UTF-8 as it is."""
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


def error_members(exc: RunidError) -> dict[str, Any]:
    """The members every ``--json`` result has when the command failed: the error's stable
    ``code`` (docs/spec.md, "Error codes"), its ``message`` and its ``hint`` (``null`` when it
    has none). A command adds them to its own status member set to false (``valid``,
    ``verified``, ``ok``, ``consistent``) and whatever else it reports."""
    return {"code": exc.code, "message": exc.message, "hint": exc.hint}


def json_failure(ctx: click.Context, exc: RunidError, **members: Any) -> NoReturn:
    """Print ``members`` and :func:`error_members` as the one JSON object on standard output,
    and exit with the exit code the command has for the error without ``--json``."""
    echo_json({**members, **error_members(exc)})
    command = ctx.command
    own = command.error_exit_code if isinstance(command, Command) else None
    ctx.exit(exc.exit_code if own is None else own)


@contextmanager
def json_errors(ctx: click.Context, as_json: bool, **members: Any) -> Iterator[None]:
    """With ``as_json``, a :class:`~runid.errors.RunidError` raised in the block becomes the
    command's JSON failure (:func:`json_failure` with ``members``); without, it goes on to the
    group's error handler (``error: ...`` on standard error). Either way the exit code is the
    same. Usage errors (click's, exit 2) are not caught; a bug is, with ``as_json``, printed as
    the failure ``E_INTERNAL`` (exit 70; ``RUNID_DEBUG=1`` lets its traceback through)."""
    try:
        yield
    except RunidError as exc:
        if not as_json:
            raise
        json_failure(ctx, exc, **members)
    except (click.exceptions.Exit, click.ClickException, click.Abort, BrokenPipeError):
        raise
    except Exception as exc:  # a bug: still one JSON object, so a caller parsing it learns so
        if not as_json or os.environ.get("RUNID_DEBUG"):
            raise
        echo_json(
            {
                **members,
                "code": E_INTERNAL,
                "message": f"internal error: {type(exc).__name__}: {exc}",
                "hint": "this is a bug in runid; rerun with RUNID_DEBUG=1 and report",
            }
        )
        ctx.exit(EXIT_INTERNAL)


def home_of(ctx: click.Context) -> Home:
    """The home chosen by the nearest --home (subcommand, group or main), else the default."""
    from ..home import Home, resolve_home

    chosen = None
    while ctx is not None and chosen is None:
        chosen = (ctx.params or {}).get("home")
        ctx = ctx.parent  # type: ignore[assignment]
    return Home(resolve_home(chosen))


def open_log(ctx: click.Context, *, need_key: bool = True) -> Log:
    """The log of the command's home; a home without keys (or, with ``need_key``, without
    the private key) is the one "no keys" error, whatever the command (exit 2)."""
    from ..log import Log

    home = home_of(ctx)
    home.require_keys(private=need_key)
    return Log.open(home, need_key=need_key)


def key_text(value: str) -> str:
    """A --key value is the key itself, or the path of a file that holds it (which must be a
    regular file: a FIFO or a directory is refused, not read as key text)."""
    try:
        is_path = os.path.lexists(value)
    except (OSError, ValueError):
        is_path = False
    if is_path:
        return read_input(value, 1 << 16, what="key files").decode("ascii", "replace").strip()
    return value  # parsed as a key; a bad one gets "not a verifier key" with a hint


def load(source: str) -> Any:
    """The JSON document in file ``source`` (``-``: standard input), read strictly; an error
    names the file."""
    return load_json(source)


def wants_color() -> bool:
    """Colour when standard output is a terminal and ``NO_COLOR`` is not set (no-color.org)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")
