"""C2SP tlog-tiles (https://c2sp.org/tlog-tiles): a log's Merkle tree and entries as static files.

A tiled log serves ``checkpoint``, hash tiles ``tile/<L>/<N>[.p/<W>]`` and entry bundles
``tile/entries/<N>[.p/<W>]``. A tile at level ``L`` holds up to 256 consecutive hashes of the
tree level ``8 * L``: at level 0 the leaf hashes, at level 1 the roots of the full level-0 tiles,
and so on; the rightmost tile of a level is *partial* (1 to 255 hashes, ``.p/<W>``) when the tree
size is not a multiple of its span. An entry bundle holds the entries of the level-0 tile with
the same ``N`` and width, each as a big-endian uint16 length and the entry's bytes; runid's
entries are the log's leaves, ``JCS(envelope)`` (``docs/spec.md`` §12.8, §19).

Everything here is pure: paths (:class:`Tile`, :func:`parse_tile_path`), which tiles a tree of a
given size has (:func:`tiles_for_size`, :func:`tiles_to_publish`), the bundle format
(:func:`encode_bundle`, :func:`decode_bundle`) and :class:`TiledTree`, which reads hashes, roots
and proofs from tiles given by a caller's function (files, HTTP: the caller does the I/O) and
authenticates every tile it uses against a trusted root, as Go's ``sumdb/tlog`` does.

>>> Tile(0, 1234067).path()
'tile/0/x001/x234/067'
>>> Tile(ENTRIES, 5, 17).path()
'tile/entries/005.p/17'
>>> [t.path() for t in tiles_for_size(70000, entries=False) if not t.full]
['tile/0/273.p/112', 'tile/1/001.p/17', 'tile/2/000.p/1']
>>> parse_tile_path("tile/1/001.p/17") == Tile(1, 1, 17)
True
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from ..errors import (
    E_TILE_ENTRY_TOO_LARGE,
    E_TILE_MALFORMED,
    E_TILE_MISMATCH,
    E_TILE_PATH,
    InputError,
    LimitExceededError,
    VerificationError,
)
from ..merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    consistency_proof_ranges,
    inclusion_proof_ranges,
)

__all__ = [
    "ENTRIES",
    "MAX_ENTRY_SIZE",
    "MAX_LEVEL",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "Tile",
    "TileReader",
    "TiledTree",
    "build_tiles",
    "decode_bundle",
    "encode_bundle",
    "parse_tile_path",
    "root_of",
    "split_tile",
    "subtree_keys",
    "tile_for",
    "tiles_for_size",
    "tiles_to_publish",
]

TILE_HEIGHT: Final = 8
"""Tree levels one tile spans: a full tile holds ``2 ** 8`` hashes."""

TILE_WIDTH: Final = 1 << TILE_HEIGHT
"""Hashes in a full tile (and entries in a full bundle): 256."""

ENTRIES: Final = -1
"""The :attr:`Tile.level` of an entry bundle (``tile/entries/...``)."""

MAX_LEVEL: Final = 63
"""Highest tile level a path may name (the spec's bound)."""

MAX_ENTRY_SIZE: Final = 0xFFFF
"""Largest entry an entry bundle can hold: its length is a big-endian uint16."""

_sha256 = hashlib.sha256
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")


@dataclass(frozen=True, slots=True, order=True)
class Tile:
    """One tile: ``level`` (0 to 63, or :data:`ENTRIES` for an entry bundle), ``index`` (the
    ``N`` of its path) and ``width`` (256 for a full tile, 1 to 255 for a partial one).

    Construction checks the fields and raises :class:`~runid.errors.InputError`
    (``E_TILE_PATH``).
    """

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        for name in ("level", "index", "width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InputError(
                    f"tile {name} must be an integer, got {value!r:.40}", code=E_TILE_PATH
                )
        if not (self.level == ENTRIES or 0 <= self.level <= MAX_LEVEL):
            raise InputError(f"tile level {self.level} is not in 0..{MAX_LEVEL}", code=E_TILE_PATH)
        if self.index < 0:
            raise InputError(f"tile index {self.index} is negative", code=E_TILE_PATH)
        if not 1 <= self.width <= TILE_WIDTH:
            raise InputError(f"tile width {self.width} is not in 1..256", code=E_TILE_PATH)

    @property
    def full(self) -> bool:
        """Whether the tile holds 256 hashes (or entries); a full tile never changes."""
        return self.width == TILE_WIDTH

    @property
    def hash_level(self) -> int:
        """The tree level of the hashes in the tile: ``8 * level`` (0 for an entry bundle)."""
        return TILE_HEIGHT * max(self.level, 0)

    @property
    def start(self) -> int:
        """The index, at :attr:`hash_level`, of the tile's first hash (or entry)."""
        return self.index * TILE_WIDTH

    def path(self) -> str:
        """The tile's path below the log's prefix, e.g. ``tile/0/x001/x234/067.p/5``."""
        level = "entries" if self.level == ENTRIES else str(self.level)
        suffix = "" if self.full else f".p/{self.width}"
        return f"tile/{level}/{_encode_index(self.index)}{suffix}"

    def __str__(self) -> str:
        return self.path()


def _encode_index(n: int) -> str:
    """``N`` in 3-digit path elements, all but the last prefixed ``x``: 1234067 -> x001/x234/067."""
    parts = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        parts.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(parts))


def parse_tile_path(path: str) -> Tile:
    """The tile a path names; only the one spelling :meth:`Tile.path` writes is accepted.

    Raises :class:`~runid.errors.InputError` (``E_TILE_PATH``) for anything else (leading
    zeros, a missing ``x``, a width of 0 or 256, a level above 63).

    >>> parse_tile_path("tile/entries/x001/002")
    Tile(level=-1, index=1002, width=256)
    >>> parse_tile_path("tile/0/1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    runid.errors.InputError: not a C2SP tile path: 'tile/0/1' ...
    """
    if not isinstance(path, str):
        raise InputError(
            f"a tile path must be a str, got a {type(path).__name__}", code=E_TILE_PATH
        )
    bad = InputError(
        f"not a C2SP tile path: {path[:120]!r} (expected tile/<L>/<N>[.p/<W>] or "
        "tile/entries/<N>[.p/<W>], N in 3-digit elements such as x001/x234/067)",
        code=E_TILE_PATH,
    )
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "tile" or len(parts) > 3 + 8:
        raise bad
    width = TILE_WIDTH
    if parts[-2].endswith(".p"):
        if _WIDTH.fullmatch(parts[-1]) is None or int(parts[-1]) >= TILE_WIDTH:
            raise bad
        width = int(parts[-1])
        parts = [*parts[:-2], parts[-2][:-2]]
    if parts[1] == "entries":
        level = ENTRIES
    elif _DECIMAL.fullmatch(parts[1]) and int(parts[1]) <= MAX_LEVEL:
        level = int(parts[1])
    else:
        raise bad
    elements = parts[2:]
    if not elements:
        raise bad
    index = 0
    for i, element in enumerate(elements):
        digits = element[1:] if i < len(elements) - 1 and element.startswith("x") else element
        if len(digits) != 3 or not digits.isascii() or not digits.isdigit():
            raise bad
        index = index * 1000 + int(digits)
    tile = Tile(level, index, width)
    if tile.path() != path:
        raise bad
    return tile


# --- which tiles a tree has ---------------------------------------------------------------------


def _check_size(size: object, name: str = "size") -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InputError(f"tree {name} must be a non-negative integer, got {size!r:.40}")
    return size


def _level_tiles(size: int, level: int, start: int = 0) -> Iterator[Tile]:
    """The tiles of ``level`` for a tree of ``size`` leaves, from tile ``start`` on."""
    count = size >> (TILE_HEIGHT * max(level, 0))  # hashes at the tile level
    for index in range(start, count // TILE_WIDTH):
        yield Tile(level, index)
    if count % TILE_WIDTH and count // TILE_WIDTH >= start:
        yield Tile(level, count // TILE_WIDTH, count % TILE_WIDTH)


def _levels(size: int) -> range:
    """The hash-tile levels a tree of ``size`` leaves has (none for the empty tree)."""
    top = 0
    while size >> (TILE_HEIGHT * (top + 1)):
        top += 1
    return range(top + 1) if size else range(0)


def tiles_for_size(size: int, *, entries: bool = True) -> list[Tile]:
    """Every tile (full and partial) and, with ``entries``, every entry bundle of a tree of
    ``size`` leaves, by level (bundles first) and index.

    >>> [t.path() for t in tiles_for_size(256)]
    ['tile/entries/000', 'tile/0/000', 'tile/1/000.p/1']
    """
    size = _check_size(size)
    tiles = list(_level_tiles(size, ENTRIES)) if entries else []
    for level in _levels(size):
        tiles.extend(_level_tiles(size, level))
    return tiles


def tiles_to_publish(old_size: int, new_size: int) -> list[Tile]:
    """The tiles and bundles a log grown from ``old_size`` to ``new_size`` leaves adds: those
    that became full and the partial ones of the new size (as Go's ``tlog.NewTiles``).

    >>> [t.path() for t in tiles_to_publish(250, 260)]
    ['tile/entries/000', 'tile/entries/001.p/4', 'tile/0/000', 'tile/0/001.p/4', 'tile/1/000.p/1']
    """
    old_size, new_size = _check_size(old_size, "old size"), _check_size(new_size, "new size")
    if old_size > new_size:
        raise InputError(f"old size {old_size} is larger than the new size {new_size}")
    tiles: list[Tile] = []
    for level in [ENTRIES, *_levels(new_size)]:
        done = (old_size >> (TILE_HEIGHT * max(level, 0))) // TILE_WIDTH  # full tiles before
        tiles.extend(_level_tiles(new_size, level, done))
    return tiles


def tile_for(level: int, index: int, size: int) -> Tile:
    """The tile of a tree of ``size`` leaves that holds hash ``index`` of tile ``level`` (entry
    ``index`` for :data:`ENTRIES`), with the width it has at that size."""
    count = size >> (TILE_HEIGHT * max(level, 0))
    if not 0 <= index < count:
        raise InputError(f"hash {index} of tile level {level} is not in a tree of size {size}")
    n = index // TILE_WIDTH
    return Tile(level, n, min(TILE_WIDTH, count - n * TILE_WIDTH))


# --- tile and bundle bytes -----------------------------------------------------------------------


def split_tile(data: bytes, tile: Tile) -> list[bytes]:
    """The hashes in a hash tile's bytes; exactly ``32 * width`` bytes, else
    :class:`~runid.errors.VerificationError` (``E_TILE_MALFORMED``)."""
    if not isinstance(data, bytes) or len(data) != HASH_SIZE * tile.width:
        got = len(data) if isinstance(data, bytes) else type(data).__name__
        raise VerificationError(
            f"{tile.path()}: {got} bytes, expected {HASH_SIZE * tile.width} ({tile.width} hashes)",
            code=E_TILE_MALFORMED,
        )
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each entry as a big-endian uint16 length and its bytes.

    An entry over :data:`MAX_ENTRY_SIZE` bytes raises
    :class:`~runid.errors.LimitExceededError` (``E_TILE_ENTRY_TOO_LARGE``).

    >>> encode_bundle([b"ab", b""])
    b'\\x00\\x02ab\\x00\\x00'
    """
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise InputError(f"a bundle holds 1 to {TILE_WIDTH} entries, got {len(entries)}")
    out = bytearray()
    for i, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_SIZE:
            raise LimitExceededError(
                f"entry {i} of the bundle is {len(entry)} bytes; a C2SP entry bundle holds "
                f"entries of at most {MAX_ENTRY_SIZE} bytes",
                code=E_TILE_ENTRY_TOO_LARGE,
            )
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_bundle(data: bytes, tile: Tile) -> list[bytes]:
    """The entries of an entry bundle; exactly ``tile.width`` of them and no trailing bytes,
    else :class:`~runid.errors.VerificationError` (``E_TILE_MALFORMED``).

    >>> decode_bundle(b"\\x00\\x02ab\\x00\\x00", Tile(ENTRIES, 0, 2))
    [b'ab', b'']
    """
    if not isinstance(data, bytes):
        raise VerificationError(f"{tile.path()}: not bytes", code=E_TILE_MALFORMED)
    entries: list[bytes] = []
    pos = 0
    while pos < len(data) and len(entries) < tile.width:
        if pos + 2 > len(data):
            break
        length = int.from_bytes(data[pos : pos + 2], "big")
        if pos + 2 + length > len(data):
            break
        entries.append(data[pos + 2 : pos + 2 + length])
        pos += 2 + length
    if len(entries) != tile.width or pos != len(data):
        raise VerificationError(
            f"{tile.path()}: not a bundle of {tile.width} entries (read {len(entries)} entries "
            f"and {pos} of {len(data)} bytes)",
            code=E_TILE_MALFORMED,
        )
    return entries


# --- hashes, roots and proofs from tiles ---------------------------------------------------------


def subtree_keys(begin: int, end: int) -> list[tuple[int, int]]:
    """The ``(level, index)`` of the perfect subtrees that split leaves ``[begin, end)``, largest
    first (``begin`` aligned as in every proof range and ``[0, size)``).

    >>> subtree_keys(0, 13)
    [(3, 0), (2, 2), (0, 12)]
    """
    keys = []
    width = end - begin
    for level in reversed(range(width.bit_length())):
        if width >> level & 1:
            keys.append((level, begin >> level))
            begin += 1 << level
    return keys


def _mth(hashes: Sequence[bytes]) -> bytes:
    """The root of a perfect (power-of-two) run of hashes."""
    level = list(hashes)
    while len(level) > 1:
        level = [
            _sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)
        ]
    return level[0]


def _fold(hashes: Sequence[bytes]) -> bytes:
    """A range's root from the roots of its perfect subtrees, largest first."""
    if not hashes:
        return EMPTY_ROOT
    h = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = _sha256(b"\x01" + left + h).digest()
    return h


TileReader = Callable[[Tile], bytes]
"""``read(tile) -> bytes``: the bytes published at ``tile.path()`` (the caller does the I/O)."""


class TiledTree:
    """The tree of a signed checkpoint, read from its tiles and authenticated against its root.

    ``read`` fetches a tile's bytes. On construction the partial tiles of ``size`` (the tree's
    right edge) are read and must hash to ``root`` (else :class:`~runid.errors.VerificationError`
    ``E_TILE_MISMATCH``); every full tile read later must hash to the hash its parent tile holds,
    up to that edge. So every hash this object returns is proven to be in the tree with
    ``root``. Tiles are cached for the life of the object.

    >>> from runid.merkle import leaf_hash
    >>> leaves = [leaf_hash(b"%d" % i) for i in range(300)]
    >>> tiles = build_tiles(leaves)
    >>> tree = TiledTree(300, root_of(leaves), tiles.__getitem__)
    >>> tree.leaf_hash(7) == leaves[7], tree.root(5) == root_of(leaves[:5])
    (True, True)
    """

    def __init__(self, size: int, root: bytes, read: TileReader) -> None:
        self.size = _check_size(size)
        self.root_hash = root
        self._read = read
        self._tiles: dict[Tile, list[bytes]] = {}
        self._trusted: set[Tile] = set()
        edge = [
            tile for level in _levels(size) for tile in _level_tiles(size, level) if not tile.full
        ]
        for tile in edge:
            self._tiles[tile] = split_tile(read(tile), tile)
        computed = _fold([self._edge_node(k, i) for k, i in subtree_keys(0, size)])
        if computed != root:
            paths = ", ".join(t.path() for t in edge) or "none"
            raise VerificationError(
                f"the tiles of the tree of size {size} ({paths}) lead to root {computed.hex()}, "
                f"not the checkpoint's {root.hex()}",
                hint="the log serves tiles that do not match its signed checkpoint",
                code=E_TILE_MISMATCH,
            )
        self._trusted.update(edge)

    def _edge_node(self, level: int, index: int) -> bytes:
        tile_level, rest = divmod(level, TILE_HEIGHT)
        first = index << rest
        tile = tile_for(tile_level, first, self.size)
        hashes = self._tiles[tile]
        offset = first - tile.start
        return _mth(hashes[offset : offset + (1 << rest)])

    def _tile(self, tile: Tile) -> list[bytes]:
        """A tile's hashes, authenticated through its parents up to the checked edge."""
        if tile in self._trusted:
            return self._tiles[tile]
        hashes = split_tile(self._read(tile), tile)
        parent = tile_for(tile.level + 1, tile.index, self.size)
        expected = self._tile(parent)[tile.index - parent.start]
        if _mth(hashes) != expected:
            raise VerificationError(
                f"{tile.path()} does not hash to the hash {parent.path()} holds for it "
                f"(the tree of size {self.size} with root {self.root_hash.hex()})",
                hint="the log serves a tile that is not part of its signed tree",
                code=E_TILE_MISMATCH,
            )
        self._tiles[tile] = hashes
        self._trusted.add(tile)
        return hashes

    def hashes(self, tile_level: int, start: int, stop: int) -> list[bytes]:
        """Hashes ``[start, stop)`` of tile level ``tile_level`` (level 0: leaf hashes)."""
        out: list[bytes] = []
        index = start
        while index < stop:
            tile = tile_for(tile_level, index, self.size)
            hashes = self._tile(tile)
            take = min(stop, tile.start + tile.width) - index
            out.extend(hashes[index - tile.start : index - tile.start + take])
            index += take
        return out

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash of entry ``index``."""
        return self.hashes(0, index, index + 1)[0]

    def node(self, level: int, index: int) -> bytes:
        """The root of the perfect subtree of leaves ``[index << level, (index + 1) << level)``."""
        tile_level, rest = divmod(level, TILE_HEIGHT)
        return _mth(self.hashes(tile_level, index << rest, (index + 1) << rest))

    def range_root(self, begin: int, end: int) -> bytes:
        """The root of leaves ``[begin, end)`` (a node of the tree, or ``[0, size)``)."""
        return _fold([self.node(k, i) for k, i in subtree_keys(begin, end)])

    def root(self, size: int | None = None) -> bytes:
        """The root of the first ``size`` leaves (default: the whole tree)."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise InputError(f"size {size} is outside the tree of size {self.size}")
        return self.range_root(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The RFC 9162 inclusion proof of leaf ``index`` in the first ``size`` leaves."""
        size = self.size if size is None else size
        return [self.range_root(a, b) for a, b in inclusion_proof_ranges(index, size)]

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """The RFC 9162 consistency proof from ``size1`` to ``size2`` leaves (``0 < size1``)."""
        size2 = self.size if size2 is None else size2
        return [self.range_root(a, b) for a, b in consistency_proof_ranges(size1, size2)]


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """The root of a list of leaf hashes (:func:`runid.merkle.root`, without its checks)."""
    return _fold(
        [_mth(leaf_hashes[i << k : (i + 1) << k]) for k, i in subtree_keys(0, len(leaf_hashes))]
    )


def build_tiles(leaf_hashes: Sequence[bytes]) -> dict[Tile, bytes]:
    """Every hash tile of the tree of these leaf hashes, in memory (for tests and small logs;
    a store serves tiles from the subtree hashes it keeps)."""
    tiles: dict[Tile, bytes] = {}
    level_hashes = list(leaf_hashes)
    for level in _levels(len(leaf_hashes)):
        for tile in _level_tiles(len(leaf_hashes), level):
            tiles[tile] = b"".join(level_hashes[tile.start : tile.start + tile.width])
        full = len(level_hashes) // TILE_WIDTH
        level_hashes = [
            _mth(level_hashes[n * TILE_WIDTH : (n + 1) * TILE_WIDTH]) for n in range(full)
        ]
    return tiles
