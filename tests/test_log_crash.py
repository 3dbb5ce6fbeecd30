"""kill -9 during signed appends: every acknowledged record survives and the tree always
matches its latest signed checkpoint (the checkpoint is signed inside the append's commit)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runid.home import Home
from runid.log import Log

pytestmark = [
    pytest.mark.crash,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL"),
]

CHILD = r"""
import os, sys
from datetime import UTC, datetime
from pathlib import Path
from runid.home import Home
from runid.log import Log
from runid.record import new_record
home = Home(Path(sys.argv[1]))
with Log.open(home) as log:
    key = home.signing_key()
    now = datetime.now(UTC)
    while True:
        record = new_record("sha256:" + "ab" * 32, issuer=key, started_at=now, ended_at=now)
        entry = log.append_record(record)
        os.write(1, f"{entry.index} {record['execution_id']}\n".encode())
"""


def test_signed_appends_survive_kill_9_and_match_the_checkpoint(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/log")
    acknowledged: dict[int, str] = {}
    rnd = random.Random(2026)
    deadline = time.monotonic() + 25
    kills = 0
    while kills < 12 and time.monotonic() < deadline:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(home.path)], stdout=subprocess.PIPE
        )
        time.sleep(rnd.uniform(0.3, 1.2))  # start-up, then appends
        os.kill(child.pid, signal.SIGKILL)
        out, _ = child.communicate()
        kills += 1
        for line in out.decode().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit() and len(parts[1]) == 71:
                acknowledged[int(parts[0])] = parts[1]
        with Log.open(home, need_key=False) as log:
            assert log.audit() == []
            size = log.size()
            latest = log.store.latest_checkpoint()
            assert size == 0 or (latest is not None and latest.size == size)
            for index, execution_id in acknowledged.items():
                assert index < size
                assert log.entry(index).record["execution_id"] == execution_id
    assert kills >= 3
    assert acknowledged, "the child never acknowledged an append"
