"""End to end on loopback: ``runid witness serve`` (Starlette on uvicorn, in a child process),
``runid log witness`` submitting to it, receipts with cosignatures, ``runid verify
--witness --min-witnesses``; a fork and a rollback are refused and cannot get a receipt that
passes ``--min-witnesses 1``."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from runid import canonical
from runid.home import Home
from runid.log import Log
from runid.tlog.witness import format_add_checkpoint
from transparency_helpers import ORIGIN, fork, grow, make_log

pytest.importorskip("starlette", reason="runid witness serve needs the server extra")
pytest.importorskip("uvicorn", reason="runid witness serve needs the server extra")
pytestmark = pytest.mark.slow


def runid(*args: str | Path, check: bool = False) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "runid", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    shown = " ".join(map(str, args))
    print(f"$ runid {shown}\n{result.stdout}{result.stderr}exit {result.returncode}")
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    def __init__(self, url: str, vkey: str, process: subprocess.Popen[str]) -> None:
        self.url, self.vkey, self.process = url, vkey, process


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[Served]:
    log = make_log(tmp_path / "home")  # the log this witness follows (grown by the tests)
    log.close()
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runid",
            "witness",
            "--home",
            str(tmp_path / "witness"),
            "serve",
            "--port",
            str(port),
            "--name",
            "witness.example/w1",
            "--log",
            f"{ORIGIN}={(tmp_path / 'home' / 'keys' / 'signing.pub').read_text().strip()}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"the witness did not start: {process.stdout.read()}"
                    ) from None  # type: ignore[union-attr]
                time.sleep(0.1)
        vkey = (tmp_path / "witness" / "witness.pub").read_text().strip()
        yield Served(f"http://127.0.0.1:{port}", vkey, process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_witnessed_receipts_and_a_fork_that_cannot_get_one(tmp_path: Path, witness: Served) -> None:
    home = tmp_path / "home"
    log = make_log_again(home, 3)
    key = (home / "keys" / "signing.pub").read_text().strip()
    spec = f"{witness.url}={witness.vkey}"
    backup = tmp_path / "backup"
    log.close()  # (a process that copies a live SQLite file drops its own locks on it)
    shutil.copytree(home, backup)  # the log at size 3, for the rollback below
    log = make_log_again(home, 0)

    out = runid("--home", home, "log", "witness", "--witness", spec, check=True)
    assert "cosigned by witness.example/w1+" in out.stdout
    grow(log, 2)
    runid("--home", home, "log", "witness", "--witness", spec, check=True)  # 3 -> 5, with a proof
    receipt = tmp_path / "receipt.json"
    runid("--home", home, "log", "prove-witnessed", "4", "-o", receipt, check=True)
    verified = runid(
        "verify", receipt, "--key", key, "--witness", witness.vkey, "--min-witnesses", "1"
    )
    assert verified.returncode == 0
    assert "ok  cosignatures: 1 trusted witness(es) cosigned the checkpoint" in verified.stdout
    assert runid("verify", receipt, "--key", key).returncode == 0  # cosignatures are ignored there

    # The monitoring endpoint serves the cosigned checkpoint.
    digest = hashlib.sha256(ORIGIN.encode()).hexdigest()
    with urllib.request.urlopen(f"{witness.url}/{digest}/checkpoint", timeout=10) as response:
        served = response.read()
    assert (
        served.startswith(f"{ORIGIN}\n5\n".encode())
        and b"\xe2\x80\x94 witness.example/w1 " in served
    )

    # A fork under the same key (the first 3 entries, then others): the witness refuses it.
    other = fork(log, tmp_path / "fork", 3)
    grow(other, 3, tag="fork")
    other.close()
    refused = runid("--home", tmp_path / "fork", "log", "witness", "--witness", spec)
    assert refused.returncode == 7
    assert "answered 422" in refused.stderr and "not consistent" in refused.stderr
    # Its receipts carry no cosignature: --min-witnesses 1 refuses them.
    assert runid("--home", tmp_path / "fork", "log", "prove-witnessed", "4").returncode == 2
    forked = tmp_path / "forked.json"
    runid("--home", tmp_path / "fork", "log", "prove", "4", "-o", forked, check=True)
    assert runid("verify", forked, "--key", key).returncode == 0  # the split view, offline
    quorum = runid(
        "verify", forked, "--key", key, "--witness", witness.vkey, "--min-witnesses", "1"
    )
    assert quorum.returncode == 7
    assert "cosignatures of 0 of the trusted witnesses" in quorum.stderr
    # Nor does it help to copy the witness's cosignature line onto the forked checkpoint.
    cosigned = (home / "witnessed" / "checkpoint").read_text()
    line = next(x for x in cosigned.splitlines() if x.startswith("\u2014 witness.example/w1 "))
    body = json.loads(forked.read_text())
    body["proof"] += line + "\n"
    copied = tmp_path / "copied.json"
    copied.write_bytes(canonical.canonicalize(body))
    stolen = runid("verify", copied, "--key", key, "--witness", witness.vkey)
    assert stolen.returncode == 7
    assert "does not verify over the checkpoint" in stolen.stderr

    # A rollback: the log's home restored from a backup at size 3. The witness has cosigned 5.
    rolled = runid("--home", backup, "log", "witness", "--witness", spec)
    assert rolled.returncode == 7
    assert "larger than the log's 3: the log was rolled back" in rolled.stderr

    # A request straight to the witness from an old size it did not cosign: 409 and the size.
    request = urllib.request.Request(
        f"{witness.url}/add-checkpoint",
        data=format_add_checkpoint(0, [], (home / "witnessed" / "checkpoint").read_bytes()),
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as conflict:
        urllib.request.urlopen(request, timeout=10)
    assert conflict.value.code == 409
    assert conflict.value.headers["Content-Type"].startswith("text/x.tlog.size")
    assert conflict.value.read() == b"5\n"


def make_log_again(home: Path, size: int) -> Log:
    log = Log.open(Home(home))
    grow(log, size)
    return log
