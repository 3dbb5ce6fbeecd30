"""Read-only homes on the command line (issue 12, defect 6): ``log audit``, ``show``, ``prove``,
``checkpoint``, ``declaration`` and ``consistency`` open the store read-only and work on a home
the process may not write (files 0444, directory 0555): as root, run through ``setpriv`` with
every capability dropped (root otherwise ignores permissions); otherwise as the current user.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runid._cli import main
from runid.keys import Keyring
from runid.receipt import verify_receipt
from test_readonly_home import DECL_ID, make_home, snapshot

# --- the command line, as a user who cannot write the home -------------------------------------


def test_read_only_commands_open_the_store_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, ids, old = make_home(tmp_path / "home")
    (tmp_path / "old.note").write_bytes(old)
    uris: list[str] = []
    connect = sqlite3.connect

    def spy(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        uris.append(str(database))
        return connect(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", spy)
    runner = CliRunner()
    for args in (
        ["log", "audit"],
        ["log", "show", ids[0]],
        ["log", "prove", "1", "-o", str(tmp_path / "r.json")],
        ["log", "checkpoint"],
        ["log", "declaration", DECL_ID, "-o", str(tmp_path / "d.json")],
        ["log", "consistency", str(tmp_path / "old.note")],
    ):
        uris.clear()
        result = runner.invoke(main, ["--home", str(home.path), *args])
        assert result.exit_code == 0, (args, result.output)
        assert uris and all("mode=ro" in uri for uri in uris), (args, uris)


def _as_auditor() -> list[str] | None:
    """The command prefix that runs a process which file permissions bind: as root, through
    ``setpriv`` with every capability dropped (root without CAP_DAC_OVERRIDE obeys the
    permission bits like any user: files 0444 and a directory 0555 are read-only to it)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return [setpriv, "--bounding-set=-all", "--inh-caps=-all"]


@pytest.fixture
def world_readable_dir() -> Iterator[Path]:
    # pytest's tmp_path lives under a 0700 directory of root's: the auditor could not reach it.
    folder = Path(tempfile.mkdtemp(prefix="runid-readonly-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(folder)


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_an_auditor_who_cannot_write_the_home_can_audit_show_prove_and_checkpoint(
    world_readable_dir: Path,
) -> None:
    prefix = _as_auditor()
    if prefix is None:
        pytest.skip(
            "running as root without setpriv: cannot drop the capabilities that ignore permissions"
        )
    home, ids, old = make_home(world_readable_dir / "home")
    out = world_readable_dir / "out"
    out.mkdir(mode=0o777)
    out.chmod(0o777)
    (out / "old.note").write_bytes(old)
    (out / "old.note").chmod(0o644)
    # The snapshot handed over: nothing in it is writable (the private key is not readable).
    for path in sorted(home.path.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else (0o444 if path.name != "signing.key" else 0o400))
    home.path.chmod(0o555)
    before = snapshot(home)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(out),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    }

    def runid(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, sys.executable, "-m", "runid", "--home", str(home.path), *args],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            cwd=out,
            timeout=120,
        )

    for args in (
        ("log", "audit"),
        ("log", "show", "2"),
        ("log", "show", ids[1]),
        ("log", "prove", ids[1], "-o", str(out / "receipt.json")),
        ("log", "checkpoint"),
        ("log", "declaration", DECL_ID),
        ("log", "consistency", str(out / "old.note")),
    ):
        result = runid(*args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        assert "cannot create" not in result.stderr
    # ... while a command that writes says why it cannot
    result = runid("log", "append", str(out / "old.note"), "--output", str(out / "old.note"))
    assert result.returncode != 0
    verify_receipt((out / "receipt.json").read_bytes(), Keyring([home.public_key()]))
    assert snapshot(home) == before
    assert stat.S_IMODE(home.path.stat().st_mode) == 0o555
