"""The README's quick start runs pasted as it stands, before or after the demo (a docs test).

The ``sh`` block after "State lives in a home directory" is taken from README.md as it is and
run with bash (``set -euo pipefail``) in a scratch directory that holds what a clone holds
(``examples/declarations/``), with the venv's ``runid`` first on PATH and HOME, XDG_DATA_HOME
and TMPDIR pointed at scratch directories. Once with an empty default home, once with a default
home that already has a key and entries (as after ``runid demo``): both must verify.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runid.examples import example
from runid.home import Home
from runid.log import Log

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RUNID = Path(sys.executable).parent / "runid"
ANCHOR = "State lives in a home directory"


def quickstart() -> str:
    """The first ```sh block after the anchor sentence, verbatim."""
    text = README.read_text("utf-8")
    start = text.index(ANCHOR)
    found = re.compile(r"^```sh\n(.*?)^```$", re.M | re.S).search(text, start)
    assert found is not None, f"no ```sh block after {ANCHOR!r} in README.md"
    return found.group(1)


def test_the_block_is_the_quick_start() -> None:
    block = quickstart()
    for command in ("runid keys init", "runid log append", "runid log prove", "runid verify"):
        assert command in block, command


def run_block(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    work = tmp_path / "clone"
    shutil.copytree(ROOT / "examples" / "declarations", work / "examples" / "declarations")
    for name in ("home", "xdg", "tmp"):
        (tmp_path / name).mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNID_")}
    env |= {
        "PATH": f"{RUNID.parent}{os.pathsep}{env.get('PATH', '')}",
        "HOME": str(tmp_path / "home"),
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
        "TMPDIR": str(tmp_path / "tmp"),
    }
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + quickstart()],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def assert_verified(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "verified", result.stdout
    checks = [line for line in lines if line.startswith("ok  ")]
    assert any(line.startswith("ok  envelope signature: valid") for line in checks)
    # The receipt carries the declaration the log holds; the output file is the recorded one.
    assert any(line.startswith("ok  declaration: id ") for line in checks), result.stdout
    assert any(line.startswith("ok  output: digest ") for line in checks), result.stdout


needs_runid = pytest.mark.skipif(
    not RUNID.exists() or shutil.which("bash") is None,
    reason=f"needs the venv's console script {RUNID} (pip install -e .) and bash",
)


@needs_runid
def test_quick_start_runs_pasted_on_a_fresh_machine(tmp_path: Path) -> None:
    result = run_block(tmp_path)
    assert_verified(result)
    # It used a home of its own: the default home was not created.
    assert not (tmp_path / "xdg" / "runid").exists()


@needs_runid
def test_quick_start_runs_pasted_after_the_demo(tmp_path: Path) -> None:
    # As `runid demo` leaves it: the default home has a key and entries already.
    default = Home(tmp_path / "xdg" / "runid")
    default.init_keys("runid.demo/log")
    with Log.open(default) as log:
        log.record_run(example("rag-retrieved-chunks"), output=b"an earlier answer")
        log.record_run(example("rag-retrieved-chunks"), output=b"another answer")
    before = default.signing_key_path.read_bytes()
    assert_verified(run_block(tmp_path))
    assert default.signing_key_path.read_bytes() == before
    with Log.open(default, need_key=False) as log:
        assert log.size() == 2
