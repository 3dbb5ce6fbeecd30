"""The exported tiles verify with code not written for runid: Go's golang.org/x/mod/sumdb/tlog
and sumdb/note (tests/interop/tlogverify/main.go), built here from Debian's packages
golang-go and golang-golang-x-mod-dev. Skips, saying why, without them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runid import merkle
from runid.checkpoint import Checkpoint, sign_checkpoint
from runid.keys import SigningKey
from runid.tlog.tiles import ENTRIES, Tile, build_tiles, encode_bundle, tiles_for_size
from transparency_helpers import fork, grow, make_log

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests" / "interop" / "tlogverify" / "main.go"
GOPATH = Path("/usr/share/gocode")
APT = "apt-get install -y golang-go golang-golang-x-mod-dev"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tlogverify(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip(f"go is not on PATH ({APT})")
    if not (GOPATH / "src" / "golang.org" / "x" / "mod" / "sumdb" / "tlog").is_dir():
        pytest.skip(f"golang.org/x/mod/sumdb/tlog is not in {GOPATH} ({APT})")
    folder = tmp_path_factory.mktemp("go")
    binary = folder / "tlogverify"
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GOPATH),
        "GOCACHE": str(folder / "cache"),
        "GOFLAGS": "",
    }
    built = subprocess.run(
        [go, "build", "-o", str(binary), str(SOURCE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return binary


def go_verify(
    binary: Path, directory: Path, vkey: str, *old: Path
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(binary), str(directory), vkey, *map(str, old)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    print(result.stdout + result.stderr)  # shown with -s, and in a failure's report
    return result


def export(home: Path, directory: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "runid", "--home", str(home), "log", "export-tiles", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_runid_log_export_tiles_verify_with_go_sumdb_tlog(tlogverify: Path, tmp_path: Path) -> None:
    log = make_log(tmp_path / "home", 3)
    vkey = log.public.vkey
    tiles = tmp_path / "tiles"
    saved: list[Path] = []
    # Grow the log across a full level-0 tile and into a partial level-1 tile of width 2,
    # exporting (incrementally, into the same directory) and keeping each checkpoint.
    for size in (3, 256, 300, 600):
        grow(log, size - log.size())
        assert f"at size {size}" in export(tmp_path / "home", tiles)
        saved.append(tmp_path / f"checkpoint-{size}")
        shutil.copy(tiles / "checkpoint", saved[-1])
    assert (tiles / "tile" / "0" / "002.p" / "88").is_file()
    assert (tiles / "tile" / "1" / "000.p" / "2").is_file()
    assert (tiles / "tile" / "0" / "000.p" / "3").is_file()  # partial tiles of old sizes stay
    result = go_verify(tlogverify, tiles, vkey, *saved[:-1])
    assert result.returncode == 0
    assert "inclusion: 600 entries read from the entry bundles" in result.stdout
    for size in (3, 256, 300):
        assert f"consistency: size {size} -> 600 proven (ProveTree) and checked" in result.stdout
    assert result.stdout.rstrip().endswith("OK")

    # A fork under the same key: the same first 2 entries, then others. Go's CheckTree refuses
    # its checkpoint against the published tiles.
    other = fork(log, tmp_path / "fork", 2)
    grow(other, 3, tag="fork")
    export(tmp_path / "fork", tmp_path / "fork-tiles")
    assert go_verify(tlogverify, tmp_path / "fork-tiles", vkey).returncode == 0
    shutil.copy(tmp_path / "fork-tiles" / "checkpoint", tmp_path / "fork-checkpoint")
    refused = go_verify(tlogverify, tiles, vkey, tmp_path / "fork-checkpoint")
    assert refused.returncode == 1
    assert "FAIL CheckTree(5 -> 600)" in refused.stdout


def test_tiles_of_a_tree_of_70000_verify_with_go(tlogverify: Path, tmp_path: Path) -> None:
    """Three tile levels (the spec's own example size): 273 full level-0 tiles, a partial one
    of width 112, a full level-1 tile, a partial one of width 17, a level-2 tile of width 1."""
    size = 70000
    entries = [b"entry %d" % i for i in range(size)]
    hashes = [merkle.leaf_hash(e) for e in entries]
    for tile, data in build_tiles(hashes).items():
        (tmp_path / tile.path()).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / tile.path()).write_bytes(data)
    for tile in tiles_for_size(size):
        if tile.level == ENTRIES:
            bundle = encode_bundle(entries[tile.start : tile.start + tile.width])
            (tmp_path / tile.path()).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / tile.path()).write_bytes(bundle)
    key = SigningKey("runid.example/big", bytes(32))
    note = sign_checkpoint(Checkpoint(key.public_key.name, size, merkle.root(hashes)), key)
    (tmp_path / "checkpoint").write_bytes(note)
    assert (tmp_path / Tile(2, 0, 1).path()).is_file()
    result = go_verify(tlogverify, tmp_path, key.public_key.vkey)
    assert result.returncode == 0
    assert "inclusion: 70000 entries" in result.stdout
