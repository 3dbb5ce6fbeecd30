"""C2SP tlog-tiles in the core (runid.tlog.tiles): paths, which tiles a tree has, entry bundles,
and a tree read from tiles whose every hash is authenticated against the signed root."""

from __future__ import annotations

import random

import pytest

from runid import merkle
from runid.errors import InputError, LimitExceededError, VerificationError
from runid.tlog.tiles import (
    ENTRIES,
    Tile,
    TiledTree,
    build_tiles,
    decode_bundle,
    encode_bundle,
    parse_tile_path,
    root_of,
    tiles_for_size,
    tiles_to_publish,
)


def leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(b"entry %d" % i) for i in range(n)]


@pytest.mark.parametrize(
    ("tile", "path"),
    [
        (Tile(0, 0), "tile/0/000"),
        (Tile(0, 1234067), "tile/0/x001/x234/067"),
        (Tile(0, 1234067, 5), "tile/0/x001/x234/067.p/5"),
        (Tile(3, 999), "tile/3/999"),
        (Tile(1, 1000, 255), "tile/1/x001/000.p/255"),
        (Tile(63, 7), "tile/63/007"),
        (Tile(ENTRIES, 1_000_000), "tile/entries/x001/x000/000"),
        (Tile(ENTRIES, 2, 17), "tile/entries/002.p/17"),
    ],
)
def test_paths_are_the_specs_and_parse_back(tile: Tile, path: str) -> None:
    assert tile.path() == path
    assert parse_tile_path(path) == tile


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/1",
        "tile/0/0001",
        "tile/00/000",
        "tile/64/000",
        "tile/0/001/234",
        "tile/0/x001",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/05",
        "tile/0/x000/001",
        "tile/data/000",
        "tile/-1/000",
        "tiles/0/000",
        "tile/0/000/",
        "tile/0/00a",
    ],
)
def test_other_spellings_are_refused(path: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_tile_path(path)
    assert caught.value.code == "E_TILE_PATH"


def test_the_specs_example_of_a_tree_of_70000() -> None:
    tiles = tiles_for_size(70000, entries=False)
    full0 = [t for t in tiles if t.level == 0 and t.full]
    assert len(full0) == 273
    partial = [t.path() for t in tiles if not t.full]
    assert partial == ["tile/0/273.p/112", "tile/1/001.p/17", "tile/2/000.p/1"]
    assert [t.path() for t in tiles if t.level == 1 and t.full] == ["tile/1/000"]
    # "a tree of size 256 will be represented by a full level 0 tile and a partial level 1
    # tile of width 1"
    assert [t.path() for t in tiles_for_size(256, entries=False)] == [
        "tile/0/000",
        "tile/1/000.p/1",
    ]
    assert tiles_for_size(0) == []


@pytest.mark.parametrize(("old", "new"), [(0, 1), (0, 256), (255, 257), (256, 512), (300, 70000)])
def test_published_tiles_are_the_new_full_ones_and_the_new_partial_ones(old: int, new: int) -> None:
    before, after = set(tiles_for_size(old)), set(tiles_for_size(new))
    expected = {t for t in after - before if t.full} | {t for t in after if not t.full}
    assert set(tiles_to_publish(old, new)) == expected


def test_bundles_round_trip_and_refuse_what_they_cannot_hold() -> None:
    entries = [b"", b"a", bytes(range(256)) * 3]
    bundle = encode_bundle(entries)
    assert bundle[:2] == b"\x00\x00" and bundle[2:4] == b"\x00\x01"
    assert decode_bundle(bundle, Tile(ENTRIES, 0, 3)) == entries
    for data, width in ((bundle, 2), (bundle, 4), (bundle + b"\x00", 3), (bundle[:-1], 3)):
        with pytest.raises(VerificationError) as caught:
            decode_bundle(data, Tile(ENTRIES, 0, width))
        assert caught.value.code == "E_TILE_MALFORMED"
    assert decode_bundle(encode_bundle([b"x" * 0xFFFF]), Tile(ENTRIES, 0, 1)) == [b"x" * 0xFFFF]
    with pytest.raises(LimitExceededError) as too_large:
        encode_bundle([b"x" * 0x10000])
    assert too_large.value.code == "E_TILE_ENTRY_TOO_LARGE"


@pytest.mark.parametrize("size", [0, 1, 2, 3, 255, 256, 257, 511, 512, 513, 700, 65536, 65537])
def test_a_tiled_tree_gives_the_roots_and_proofs_of_runid_merkle(size: int) -> None:
    hashes = leaves(size)
    root = merkle.root(hashes)
    assert root_of(hashes) == root
    tiles = build_tiles(hashes)
    assert set(tiles) == set(tiles_for_size(size, entries=False))
    tree = TiledTree(size, root, tiles.__getitem__)
    assert tree.root() == root
    rng = random.Random(size)
    for _ in range(8 if size else 0):
        index = rng.randrange(size)
        at = rng.randrange(index + 1, size + 1)
        assert tree.leaf_hash(index) == hashes[index]
        assert tree.root(at) == merkle.root(hashes[:at])
        proof = tree.inclusion_proof(index, at)
        merkle.verify_inclusion(hashes[index], index, at, proof, merkle.root(hashes[:at]))
        old = rng.randrange(1, at + 1)
        consistency = tree.consistency_proof(old, at)
        merkle.verify_consistency(old, at, consistency, merkle.root(hashes[:old]), tree.root(at))


def test_a_tile_that_is_not_part_of_the_signed_tree_is_named() -> None:
    hashes = leaves(600)
    tiles = build_tiles(hashes)
    root = merkle.root(hashes)
    # The right edge is checked against the root at once.
    edge = dict(tiles)
    edge[Tile(0, 2, 88)] = bytes(32) + edge[Tile(0, 2, 88)][32:]
    with pytest.raises(VerificationError) as caught:
        TiledTree(600, root, edge.__getitem__)
    assert caught.value.code == "E_TILE_MISMATCH"
    # A full tile is checked against the hash its parent holds, when it is read.
    inner = dict(tiles)
    inner[Tile(0, 1)] = inner[Tile(0, 1)][:-32] + bytes(32)
    tree = TiledTree(600, root, inner.__getitem__)
    assert tree.leaf_hash(5) == hashes[5]
    with pytest.raises(VerificationError) as mismatch:
        tree.leaf_hash(300)
    assert mismatch.value.code == "E_TILE_MISMATCH"
    assert "tile/0/001 does not hash to the hash tile/1/000.p/2 holds" in mismatch.value.message
    # A tile of the wrong length.
    short = dict(tiles)
    short[Tile(0, 0)] = short[Tile(0, 0)][:-1]
    with pytest.raises(VerificationError) as malformed:
        TiledTree(600, root, short.__getitem__).leaf_hash(0)
    assert malformed.value.code == "E_TILE_MALFORMED"


def test_another_root_is_refused_even_for_the_empty_tree() -> None:
    with pytest.raises(VerificationError):
        TiledTree(0, bytes(32), {}.__getitem__)
    assert TiledTree(0, merkle.EMPTY_ROOT, {}.__getitem__).root() == merkle.EMPTY_ROOT
