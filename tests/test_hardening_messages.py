"""Errors a clumsy user meets say what, where and how to fix it, with the documented exit code
(issue 12, defects 8 and 9): never "a bug in runid" for a user's input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runid.errors import PolicyError
from runid.policy import parse_policy

ROOT = Path(__file__).resolve().parent.parent
DECLARATION = ROOT / "examples" / "declarations" / "chat-hosted-model.json"
POLICY = ROOT / "examples" / "policies" / "acme-support.yaml"


def run(*args: str | Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runid", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _no_bug(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr
    assert "bug in runid" not in result.stderr
    assert result.returncode != 70


# --- defect 8: internal errors -------------------------------------------------------------------


def test_a_policy_integer_of_more_than_4300_digits_is_a_policy_error(tmp_path: Path) -> None:
    text = f"policy: runid/policy/v1\nname: x\nparameters:\n  temperature: {{max: {'9' * 5000}}}\n"
    with pytest.raises(PolicyError) as caught:
        parse_policy(text.encode())
    (problem,) = caught.value.problems
    assert problem.code == "E_POLICY_SYNTAX"
    assert "line 4" in problem.message and "5000 digits" in problem.message
    policy = tmp_path / "big.yaml"
    policy.write_text(text)
    for args in (("check", DECLARATION, "--policy", policy), ("validate", policy)):
        result = run(*args)
        _no_bug(result)
    result = run("check", DECLARATION, "--policy", policy)
    assert result.returncode == 2
    assert str(policy) in result.stderr and "E_POLICY_SYNTAX" in result.stderr
    assert len(result.stderr) < 1000


def test_a_home_name_beyond_the_file_name_limit_is_a_clear_error(tmp_path: Path) -> None:
    long_home = tmp_path / ("a" * 300)
    for args in (("log", "show", "0"), ("keys", "show"), ("keys", "init"), ("log", "audit")):
        result = run("--home", long_home, *args)
        _no_bug(result)
        assert result.returncode == 6, (args, result.stderr)
        first = result.stderr.splitlines()[0]
        assert "too long" in first, first
        assert "a" * 300 not in result.stderr and "…" in first, first
        assert "hint: " in result.stderr


def test_a_file_argument_beyond_the_file_name_limit_is_shortened(tmp_path: Path) -> None:
    result = run("validate", tmp_path / ("b" * 300 + ".json"))
    _no_bug(result)
    assert result.returncode == 6
    assert "b" * 300 not in result.stderr and "too long" in result.stderr


# --- defect 9: messages --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("validate", "{yaml}"),
        ("id", "{yaml}"),
        ("canon", "{yaml}"),
        ("diff", "{yaml}", str(DECLARATION)),
        ("log", "append", "{yaml}", "--output", "{yaml}"),
        ("check", "{yaml}", "--policy", str(POLICY)),
        ("verify", "{yaml}", "--key", "{pub}"),
    ],
    ids=["validate", "id", "canon", "diff", "log-append", "check-run", "verify"],
)
def test_a_yaml_file_given_as_json_is_named_with_a_hint(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    yaml_file = tmp_path / "policy.json"
    yaml_file.write_bytes(POLICY.read_bytes())
    home = tmp_path / "home"
    assert run("--home", home, "keys", "init").returncode == 0
    pub = str(home / "keys" / "signing.pub")
    result = run(
        "--home", home, *(a.replace("{yaml}", str(yaml_file)).replace("{pub}", pub) for a in args)
    )
    _no_bug(result)
    assert result.returncode in (2, 3, 7)
    first = result.stderr.splitlines()[0]
    assert str(yaml_file) in first, first
    assert "YAML" in result.stderr


def test_check_given_a_declaration_as_the_policy_says_so() -> None:
    result = run("check", DECLARATION, "--policy", DECLARATION)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) <= 3, result.stderr
    assert "this is a declaration, not a policy" in lines[0]
    assert str(DECLARATION) in lines[0]
    assert lines[-1].startswith("hint: ") and "--policy" in lines[-1]


def test_no_keys_is_one_code_and_one_exit_in_every_command(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    outcomes = {}
    for args in (
        ("keys", "show"),
        ("log", "show", "0"),
        ("log", "checkpoint"),
        ("log", "audit"),
        ("log", "append", str(DECLARATION), "--output", str(DECLARATION)),
    ):
        result = run("--home", empty, *args)
        _no_bug(result)
        outcomes[args[:2]] = (result.returncode, result.stderr.splitlines()[0])
    assert {code for code, _ in outcomes.values()} == {2}, outcomes
    assert all("no runid keys" in line for _, line in outcomes.values()), outcomes
    # A verifier's copy (public key only): commands that need the private key say so, exit 2.
    home = tmp_path / "home"
    assert run("--home", home, "keys", "init").returncode == 0
    (home / "keys" / "signing.key").unlink()
    shown = run("--home", home, "keys", "show")
    assert shown.returncode == 0 and shown.stdout.startswith("runid.local/log+")
    appended = run("--home", home, "log", "append", DECLARATION, "--output", DECLARATION)
    assert appended.returncode == 2, appended.stderr
    assert "no private signing key" in appended.stderr or "no signing key" in appended.stderr


def test_ctrl_c_exits_130_with_at_most_one_line() -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys\n"
            # A run started in the background (`... &` in a script) inherits SIGINT ignored,
            # and Python then installs no handler: the one it installs at start-up otherwise.
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "from runid._cli import main\n"
            "print('ready', flush=True)\n"
            "main(['canon', '-'])\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    try:
        assert child.stdout.readline() == b"ready\n"
        _wait_until_reading_stdin(child.pid)
        child.send_signal(signal.SIGINT)
        # Standard input stays open until the child ends: only the signal can end its read
        # (closing it at once, as communicate() does, raced the signal with an empty input).
        child.wait(timeout=30)
        err = child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for pipe in (child.stdin, child.stdout, child.stderr):
            pipe.close()
    assert child.returncode == 130, err
    assert len(err.decode().splitlines()) <= 1, err
    assert b"Traceback" not in err


_READ_SYSCALL = {"x86_64": "0", "aarch64": "63"}


def _wait_until_reading_stdin(pid: int) -> None:
    """Until process ``pid`` is blocked in read(0, ...) (Linux: /proc/PID/syscall), at most 20 s;
    elsewhere, half a second."""
    number = _READ_SYSCALL.get(os.uname().machine)
    where = Path(f"/proc/{pid}/syscall")
    if number is None or not where.exists():
        time.sleep(0.5)
        return
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            fields = where.read_text().split()
        except OSError:  # not allowed to read it: fall back to a pause
            time.sleep(0.5)
            return
        if fields[:2] == [number, "0x0"]:
            return
        time.sleep(0.01)
    raise AssertionError("the child never blocked reading standard input")
