"""Documents that are derived from the code, or promise something about it, stay true."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import jsonschema

from runid import errors
from runid.declaration import json_schema
from runid.examples import EXAMPLES, example

ROOT = Path(__file__).resolve().parent.parent


def test_generated_files_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _code_literals() -> dict[str, set[str]]:
    """``{code: {module file}}`` for every ``"E_..."`` string literal in the source."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "src" / "runid").rglob("*.py"):
        for code in re.findall(r'"(E_[A-Z0-9_]+)"', path.read_text("utf-8")):
            found.setdefault(code, set()).add(path.name)
    return found


def test_every_error_code_in_the_code_is_documented_in_the_spec() -> None:
    spec = (ROOT / "docs" / "spec.md").read_text("utf-8")
    used = set(errors.CODES) | set(_code_literals())
    assert len(used) > 50, "expected error codes in the source"
    undocumented = sorted(code for code in used if f"`{code}`" not in spec)
    assert undocumented == []


def test_every_error_code_literal_is_a_declared_constant() -> None:
    # Codes are constants in runid.errors; a literal that is not one is a typo or a new code
    # that was never declared (and so is missing from the spec's table of codes).
    undeclared = {
        code: files for code, files in _code_literals().items() if code not in errors.CODES
    }
    assert undeclared == {}


def test_every_declared_code_constant_is_named_after_its_value() -> None:
    for name in dir(errors):
        if name.startswith("E_"):
            assert getattr(errors, name) == name


def test_the_error_hierarchy_has_one_root_and_distinct_exit_codes() -> None:
    classes = [
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type)
        and issubclass(obj, Exception)
        and obj.__module__ == errors.__name__
    ]
    assert all(issubclass(cls, errors.RunidError) for cls in classes)
    assert issubclass(errors.DeclarationError, errors.InputError)
    assert issubclass(errors.CanonicalizationError, errors.InputError)
    assert issubclass(errors.VerificationError, errors.RunidError)
    leaf_codes = {
        errors.DeclarationError.exit_code,
        errors.JSONSyntaxError.exit_code,
        errors.CanonicalizationError.exit_code,
        errors.LimitExceededError.exit_code,
        errors.FileAccessError.exit_code,
        errors.VerificationError.exit_code,
    }
    assert len(leaf_codes) == 6 and 2 not in leaf_codes  # 2 is click's usage error


def test_the_json_schema_accepts_every_example() -> None:
    validator = jsonschema.Draft202012Validator(json_schema())
    for name in EXAMPLES:
        assert list(validator.iter_errors(example(name))) == [], name


def test_readme_starts_with_the_two_setup_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    commands = re.findall(r"```(?:sh|bash)\n(.+?)\n```", readme)
    assert len(commands) >= 2
    demo, test = commands[0], commands[1]
    assert "runid demo" in demo
    assert "test" in test
    assert test in (ROOT / ".ci" / "run").read_text("utf-8")
