"""``runid monitor``: follows a log over its tiles (a directory, or HTTP on loopback), and exits 7
saying where when the log forked, rolled back or holds a bad entry (6 when it cannot be read)."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runid._cli import main
from runid.checkpoint import Checkpoint, sign_checkpoint
from runid.log import Log
from runid.transparency.export import export_tiles
from transparency_helpers import ORIGIN, fork, grow, make_log


def monitor(source: str | Path, state: Path, key: str, *more: str) -> Any:
    result = CliRunner().invoke(
        main, ["monitor", str(source), "--checkpoint-dir", str(state), "--key", key, *more]
    )
    print(f"$ runid monitor {source}\n{result.stdout}{result.stderr}exit {result.exit_code}")
    return result


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Log]:
    opened = make_log(tmp_path / "home", 3)
    yield opened
    opened.close()


def test_a_growing_log_is_followed(tmp_path: Path, log: Log) -> None:
    tiles, state, key = tmp_path / "tiles", tmp_path / "state", log.public.vkey
    export_tiles(log, tiles)
    first = monitor(tiles, state, key)
    assert first.exit_code == 0
    assert "at size 3: 3 entries re-hashed and verified (first run" in first.stdout
    grow(log, 300)
    export_tiles(log, tiles)
    grown = monitor(tiles, state, key)
    assert grown.exit_code == 0
    assert "grew from 3 to 303 entries, consistent" in grown.stdout
    assert "300 new entries re-hashed and verified" in grown.stdout
    assert monitor(tiles, state, key).exit_code == 0
    assert (state / "leaves").stat().st_size == 303 * 32


def test_a_fork_under_the_same_key_is_caught_and_located(tmp_path: Path, log: Log) -> None:
    grow(log, 2)
    export_tiles(log, tmp_path / "tiles")
    state = tmp_path / "state"
    assert monitor(tmp_path / "tiles", state, log.public.vkey).exit_code == 0
    other = fork(log, tmp_path / "fork", 3)  # entries 0..2 the same, then others
    grow(other, 4, tag="fork")
    export_tiles(other, tmp_path / "fork-tiles")
    forked = monitor(tmp_path / "fork-tiles", state, log.public.vkey)
    assert forked.exit_code == 7
    assert "fork: " in forked.stderr
    assert "(size 7, root " in forked.stderr and "(size 5, root " in forked.stderr
    assert "entry 3 was rewritten: its leaf hash is now " in forked.stderr
    assert len(list((state / "evidence").iterdir())) == 1
    # The saved checkpoint is not replaced: the alarm rings again on the next run.
    assert monitor(tmp_path / "fork-tiles", state, log.public.vkey).exit_code == 7
    # The same size with another root is a fork too.
    same = fork(log, tmp_path / "same", 3)
    grow(same, 2, tag="same")
    export_tiles(same, tmp_path / "same-tiles")
    twin = monitor(tmp_path / "same-tiles", state, log.public.vkey)
    assert twin.exit_code == 7 and "entry 3 was rewritten" in twin.stderr


def test_a_rollback_is_caught(tmp_path: Path, log: Log) -> None:
    export_tiles(log, tmp_path / "old")  # the log at size 3, kept by a mirror
    grow(log, 2)
    export_tiles(log, tmp_path / "tiles")
    state = tmp_path / "state"
    assert monitor(tmp_path / "tiles", state, log.public.vkey).exit_code == 0
    rolled = monitor(tmp_path / "old", state, log.public.vkey)
    assert rolled.exit_code == 7
    assert "rollback: " in rolled.stderr and "checkpoint of size 3, but the log signed size 5" in (
        rolled.stderr
    )


def test_bad_entries_are_named(tmp_path: Path, log: Log) -> None:
    state, key = tmp_path / "state", log.public.vkey
    export_tiles(log, tmp_path / "tiles")
    assert monitor(tmp_path / "tiles", state, key).exit_code == 0
    # The log itself logs what is not a signed record (past Log.append's checks), and signs it.
    assert log.key is not None
    signer = log.key

    def sign(size: int, root: bytes) -> bytes:
        return sign_checkpoint(Checkpoint(ORIGIN, size, root), signer)

    log.store.append([b'{"payload":"bm90IGEgcmVjb3Jk"}', b"{ }"], sign_checkpoint=sign)
    grow(log, 1)
    export_tiles(log, tmp_path / "tiles")
    bad = monitor(tmp_path / "tiles", state, key)
    assert bad.exit_code == 7
    assert "bad entries in the log of size 6 (named above)" in bad.stderr
    assert "error: entry 3 (" in bad.stderr and "error: entry 4 (" in bad.stderr
    assert "not canonical JSON" in bad.stderr
    assert "error: entry 5" not in bad.stderr


def test_a_tampered_bundle_is_a_bad_entry(tmp_path: Path, log: Log) -> None:
    tiles = tmp_path / "tiles"
    export_tiles(log, tiles)
    bundle = tiles / "tile" / "entries" / "000.p" / "3"
    data = bytearray(bundle.read_bytes())
    data[-5] ^= 1
    bundle.write_bytes(bytes(data))
    bad = monitor(tiles, tmp_path / "state", log.public.vkey)
    assert bad.exit_code == 7
    assert "entry 2 (" in bad.stderr and "its bytes hash to " in bad.stderr


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_over_http_on_loopback(tmp_path: Path, log: Log, served: str) -> None:
    www, state, key = tmp_path / "www", tmp_path / "state", log.public.vkey
    export_tiles(log, www)
    assert monitor(served, state, key).exit_code == 0
    grow(log, 260)
    export_tiles(log, www)
    assert monitor(served + "/", state, key).exit_code == 0
    # A tile that does not hash to what the signed tree says: 7, named.
    grow(log, 1)
    export_tiles(log, www)
    tile = www / "tile" / "0" / "001.p" / "8"
    tile.write_bytes(bytes(32) + tile.read_bytes()[32:])
    mismatch = monitor(served, state, key)
    assert mismatch.exit_code == 7
    assert "lead to root" in mismatch.stderr
    # A tile the checkpoint needs that is not served: 6 (cannot read the log).
    (www / "tile" / "0" / "001.p" / "8").unlink()
    missing = monitor(served, state, key)
    assert missing.exit_code == 6 and "not served, but the checkpoint needs it" in missing.stderr
    assert monitor("http://127.0.0.1:9/nothing", state, key).exit_code == 6


def test_the_keys_and_the_state_must_be_the_logs(tmp_path: Path, log: Log) -> None:
    export_tiles(log, tmp_path / "tiles")
    stranger = make_log(tmp_path / "stranger", 1)
    untrusted = monitor(tmp_path / "tiles", tmp_path / "state", stranger.public.vkey)
    assert untrusted.exit_code == 7 and "no signature from a trusted key" in untrusted.stderr
    export_tiles(stranger, tmp_path / "stranger-tiles")
    assert (
        monitor(tmp_path / "stranger-tiles", tmp_path / "state", stranger.public.vkey).exit_code
        == 0
    )
    other = monitor(tmp_path / "tiles", tmp_path / "state", log.public.vkey)
    assert other.exit_code == 6 and "follows another log" in other.stderr
    stranger.close()
