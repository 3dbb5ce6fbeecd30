"""Start-up stays cheap (issue 13): what ``import runid`` and the ``runid`` command load.

No timings here (bench/startup.py measures them); these tests check the structure that keeps
start-up fast: the validators come precompiled, and a command imports only its own module.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from runid import __version__, declaration, record
from runid._cli import COMMANDS, main
from runid._internal.schema import codegen

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "declarations" / "chat-hosted-model.json"

#: Modules a command that does not use them must not pay for at start-up.
HEAVY = (
    "importlib.metadata",
    "yaml",
    "nacl",
    "sqlite3",
    "runid.log",
    "runid.store",
    "runid.policy",
    "runid.diff",
    "runid.evidence",
    "runid.capture",
    "runid.transparency",
    "runid._server",
)


def _loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_the_validators_are_precompiled() -> None:
    generated = ROOT / "src" / "runid" / "_internal" / "generated_validator.py"
    for function in (declaration.normalize, record._normalize_record, record._normalize_body):
        assert Path(function.__code__.co_filename) == generated
        # ... and they are the source compile_normalizer generates now
        assert function.__doc__ is not None and function.__doc__.startswith("def normalize(v0)")
    assert set(codegen.named_nodes()) == {"declaration", "record", "record_body"}


def test_a_stale_precompiled_validator_is_not_used() -> None:
    # A node whose source differs from the checked-in one (any other node) is compiled.
    function = codegen.compile_normalizer(record.RECORD, name="declaration")
    assert not function.__code__.co_filename.endswith("generated_validator.py")
    assert function({}) is codegen.INVALID


def test_import_runid_and_the_cli_load_no_heavy_module() -> None:
    assert _heavy(_loaded_after("import runid")) == []
    assert _heavy(_loaded_after("import runid._cli")) == []


def test_a_command_imports_only_what_it_uses() -> None:
    run = (
        "from runid._cli import main\n"
        "try:\n"
        f"    main([{'id'!r}, {str(EXAMPLE)!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
    )
    loaded = _loaded_after(run)
    assert _heavy(loaded) == []
    assert "runid._cli.core" in loaded
    assert "runid._cli.check" not in loaded


def test_every_command_loads_under_its_name() -> None:
    ctx = click.Context(main)
    assert main.list_commands(ctx) == sorted(COMMANDS)
    for name in COMMANDS:
        command = main.get_command(ctx, name)
        assert isinstance(command, click.Command)
        assert command.name == name
    log = main.get_command(ctx, "log")
    assert isinstance(log, click.Group)
    log_ctx = click.Context(log, parent=ctx)
    for name in log.list_commands(log_ctx):
        sub = log.get_command(log_ctx, name)
        assert sub is not None and sub.name == name


def test_version_is_the_installed_one() -> None:
    assert __version__ == importlib.metadata.version("runid")
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"main, version {__version__}\n"


def test_reading_the_log_does_not_load_the_process_pool() -> None:
    # Only a long log's check or audit starts worker processes (runid.log._parallel).
    loaded = _loaded_after("import runid.log, runid._cli.log")
    assert not {"concurrent.futures", "multiprocessing"} & loaded
