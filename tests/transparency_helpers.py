"""Logs for the tiles, witness and monitor tests: made fast (one append for many records), and
forks of them (a second home with the same key, the same first entries, then others)."""

from __future__ import annotations

import shutil
from pathlib import Path

from runid.digest import content_ref
from runid.home import Home
from runid.log import Log
from runid.record import new_record

ORIGIN = "runid.example/log"
DECLARATION_ID = "sha256:" + "ab" * 32


def make_log(path: Path, size: int = 0) -> Log:
    """A log in a new home ``path`` with ``size`` entries (key named ``ORIGIN``)."""
    home = Home(path)
    home.init_keys(ORIGIN)
    log = Log.open(home)
    grow(log, size)
    return log


def grow(log: Log, count: int, tag: str = "a") -> None:
    """Append ``count`` records in one transaction (outputs named by ``tag`` and index)."""
    if count <= 0:
        return
    assert log.key is not None
    start = log.size()
    envelopes = [
        log.sign(
            new_record(
                DECLARATION_ID,
                issuer=log.key,
                started_at="2025-03-01T12:00:00Z",
                ended_at="2025-03-01T12:00:01Z",
                outputs=[content_ref(f"output {tag} {start + i}")],
            )
        )
        for i in range(count)
    ]
    log.append(envelopes)


def fork(log: Log, path: Path, keep: int) -> Log:
    """A second log in home ``path`` under the same key holding the first ``keep`` entries of
    ``log`` (the same bytes): the two histories agree up to ``keep`` and diverge after."""
    assert log.home is not None
    (path / "keys").mkdir(parents=True, mode=0o700)
    for name in ("signing.key", "signing.pub"):
        shutil.copy2(log.home.keys_dir / name, path / "keys" / name)
    other = Log.open(Home(path))
    from runid import canonical

    entries = [canonical.loads(data) for _i, data in log.store.iter_entries(0, keep)]
    if entries:
        other.append(entries)  # type: ignore[arg-type]
    return other
