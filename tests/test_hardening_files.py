"""Files runid writes and reads: no planted symlink is followed, permissions are checked, and
a file argument that is not a regular file is refused at once (issue 12, defects 5 and 7).

Each test runs the real command line (``python -m runid``) with a timeout, so a command that
would block on a FIFO fails the test instead of hanging the suite.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from runid._cli import main
from runid._internal import files
from runid.errors import FileAccessError
from runid.examples import example
from runid.home import Home

ROOT = Path(__file__).resolve().parent.parent
DECLARATION = ROOT / "examples" / "declarations" / "chat-hosted-model.json"
POLICY = ROOT / "examples" / "policies" / "acme-support.yaml"

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes, FIFOs, symlinks")


def run(*args: str | Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runid", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home with a key and one entry (entry 0), and the run's output file."""
    path = tmp_path / "home"
    assert run("--home", path, "keys", "init").returncode == 0
    (tmp_path / "out.txt").write_text("answer\n")
    appended = run("--home", path, "log", "append", DECLARATION, "--output", tmp_path / "out.txt")
    assert appended.returncode == 0, appended.stderr
    return path


# --- writing: no planted symlink is written through ------------------------------------------


def test_prove_does_not_write_through_a_planted_temporary_file(home: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    out = tmp_path / "receipt.json"
    (tmp_path / ".receipt.json.tmp").symlink_to(victim)
    result = run("--home", home, "log", "prove", "0", "-o", out)
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "precious\n"
    assert not out.is_symlink() and out.read_bytes().startswith(b'{"declaration"')
    assert (tmp_path / ".receipt.json.tmp").is_symlink()  # left alone, not renamed over out


def test_prove_replaces_a_planted_symlink_at_the_target_instead_of_following_it(
    home: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    out = tmp_path / "receipt.json"
    out.symlink_to(victim)
    assert run("--home", home, "log", "prove", "0", "-o", out).returncode == 0
    assert victim.read_text() == "precious\n"
    assert not out.is_symlink() and out.stat().st_size > 100


def test_write_output_creates_its_temporary_file_exclusively_without_following_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[tuple[str, int]] = []
    real_open = os.open

    def spy(path: str | os.PathLike[str], flags: int, *args: int, **kwargs: int) -> int:
        opened.append((os.fspath(path), flags))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    target = tmp_path / "out.json"
    files.write_output(str(target), b"{}")
    assert target.read_bytes() == b"{}"
    creates = [(p, f) for p, f in opened if f & os.O_CREAT]
    assert creates, "the temporary file is created with os.open"
    for path, flags in creates:
        assert Path(path).parent == tmp_path and Path(path).name != "out.json"
        assert flags & os.O_EXCL and flags & os.O_NOFOLLOW, path
    names = {Path(p).name for p, _ in creates}
    files.write_output(str(target), b"[]")
    again = {Path(p).name for p, f in opened if f & os.O_CREAT} - names
    assert again and again.isdisjoint(names), "a random name each time"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_keys_init_does_not_follow_a_planted_public_key_symlink(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "keys").mkdir(parents=True, mode=0o700)
    home.chmod(0o700)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (home / "keys" / "signing.pub").symlink_to(victim)
    result = run("--home", home, "keys", "init")
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "precious\n"
    public = home / "keys" / "signing.pub"
    assert not public.is_symlink() and public.read_text().startswith("runid.local/log+")


def test_public_key_is_0644_even_under_umask_000(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        Home(tmp_path / "home").init_keys("example.org/log")
    finally:
        os.umask(previous)
    keys = tmp_path / "home" / "keys"
    assert stat.S_IMODE((keys / "signing.pub").stat().st_mode) == 0o644
    assert stat.S_IMODE((keys / "signing.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700


def test_a_planted_log_symlink_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run("--home", home, "keys", "init").returncode == 0
    victim = tmp_path / "elsewhere.sqlite3"
    victim.write_bytes(b"")
    (home / "log.sqlite3").symlink_to(victim)
    (tmp_path / "out.txt").write_text("answer\n")
    result = run("--home", home, "log", "append", DECLARATION, "--output", tmp_path / "out.txt")
    assert result.returncode == 6, result.stderr
    assert "symbolic link" in result.stderr and "log.sqlite3" in result.stderr
    assert victim.read_bytes() == b""  # SQLite never opened it
    assert run("--home", home, "log", "audit").returncode == 6


def test_a_world_writable_home_is_refused_with_the_fix(home: Path) -> None:
    home.chmod(0o777)
    result = run("--home", home, "log", "show", "0")
    assert result.returncode == 6, result.stderr
    assert "writable by everyone" in result.stderr
    assert f"hint: chmod 700 {home}" in result.stderr
    home.chmod(0o700)
    assert run("--home", home, "log", "show", "0").returncode == 0


def test_a_private_key_others_can_read_is_refused_with_the_fix(home: Path) -> None:
    key = home / "keys" / "signing.key"
    key.chmod(0o644)
    result = run("--home", home, "keys", "show")
    assert result.returncode == 6, result.stderr
    assert "readable by others" in result.stderr
    assert f"hint: chmod 600 {key}" in result.stderr
    with pytest.raises(FileAccessError, match="chmod 600"):
        try:
            Home(home).signing_key()
        except FileAccessError as exc:
            raise FileAccessError(f"{exc.message} {exc.hint}") from None
    key.chmod(0o600)
    assert run("--home", home, "keys", "show").returncode == 0


# --- reading: every file argument must be a regular file ----------------------------------------


def _specials(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "dir").mkdir()
    return {"fifo": fifo, "device": Path("/dev/null"), "directory": tmp_path / "dir"}


KIND_WORDS = {"fifo": "FIFO", "device": "device", "directory": "directory"}


class _BlockedError(Exception):
    pass


def _invoke(*args: str | Path) -> tuple[int, str]:
    """Run the command in this process; a read that blocks (a FIFO) is cut off after 5 s."""

    def alarm(signum: int, frame: object) -> None:
        raise _BlockedError

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(5)
    try:
        result = CliRunner().invoke(main, [str(a) for a in args])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    if isinstance(result.exception, _BlockedError):
        return -1, "blocked"
    return result.exit_code, result.stderr


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_every_file_argument_refuses_a_non_regular_file_at_once(
    kind: str, home: Path, tmp_path: Path
) -> None:
    special = _specials(tmp_path)[kind]
    out = tmp_path / "out.txt"
    pub = home / "keys" / "signing.pub"
    receipt = tmp_path / "receipt.json"
    assert run("--home", home, "log", "prove", "0", "-o", receipt).returncode == 0
    commands: list[tuple[str | Path, ...]] = [
        ("validate", special),
        ("id", special),
        ("canon", special),
        ("--home", home, "log", "append", special, "--output", out),
        ("--home", home, "log", "append", DECLARATION, "--output", special),
        ("--home", home, "log", "prove", "0", "--declaration", special),
        ("--home", home, "log", "prove", "0", "-o", special),
        ("--home", home, "log", "declaration", "0", "-o", special),
        ("--home", home, "log", "consistency", special),
        ("verify", special, "--key", pub),
        ("verify", receipt, "--key", special),
        ("verify", receipt, "--key", pub, "--output", special),
        ("--home", home, "check", DECLARATION, "--policy", special),
        ("--home", home, "check", special, "--policy", POLICY),
        ("--home", home, "diff", special, DECLARATION),
        ("--home", home, "diff", DECLARATION, receipt, "--key", special),
    ]
    if kind != "directory":  # a model path may be a checkpoint directory
        commands.append(("--home", home, "replay", "0", "--model-path", special))
    failures = []
    for args in commands:
        code, err = _invoke(*args)
        shown = " ".join(map(str, args))
        first = err.splitlines()[0] if err else ""
        if not (
            code in (2, 6)
            and str(special) in first
            and KIND_WORDS[kind] in first
            and "not a regular file" in first
            and "\nhint: " in err
        ):
            failures.append(f"{shown}: exit {code}: {err.strip()[:200]}")
    assert failures == []
    if kind == "fifo":
        assert stat.S_ISFIFO(special.lstat().st_mode)  # not replaced by an output


def test_the_consistency_size_hint_names_the_real_limit(home: Path, tmp_path: Path) -> None:
    big = tmp_path / "checkpoint"
    big.write_bytes(b"x" * ((1 << 20) + 1))
    result = run("--home", home, "log", "consistency", big)
    assert result.returncode == 5
    assert "1 MiB" in result.stderr and "64 MiB" not in result.stderr


def test_standard_input_is_still_read(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "runid", "canon", "-"],
        input=b'{"b": 1.0, "a": 2}',
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert result.stdout == b'{"a":2,"b":1}'
    assert example("chat-hosted-model")["spec"] == "runid/v1"
