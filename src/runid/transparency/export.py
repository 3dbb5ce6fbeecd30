"""Export a log as C2SP tlog-tiles static files, to serve from any web server or object store.

:func:`export_tiles` writes, below a directory::

    checkpoint                      the latest signed checkpoint (with the witnesses'
                                    cosignatures when the home holds them for it)
    tile/<L>/<N>[.p/<W>]            hash tiles (level 0: leaf hashes)
    tile/entries/<N>[.p/<W>]        entry bundles: the log's leaves, JCS(envelope)

Tiles come from the subtree hashes the store keeps (level ``8 * L``), entries from the stored
leaves, each re-hashed against its leaf hash; before anything is written the tiles are read
back as a verifier would and must lead to the checkpoint's root. Exporting again into the same
directory adds what is new: an existing full tile or bundle is immutable and must be byte for
byte the one this log has (else ``E_TILE_CONFLICT``: the directory holds another log or
another history), as must the partial ones; the checkpoint is written last, so a reader never
sees a checkpoint whose tiles are missing. A directory whose checkpoint is larger than this
log's is refused (publishing would roll the log back).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..checkpoint import Checkpoint, parse_checkpoint, verify_checkpoint
from ..errors import E_STORE_CORRUPT, E_TILE_CONFLICT, VerificationError
from ..log import Log
from ..merkle import leaf_hash
from ..note import MAX_NOTE_SIZE, split_note
from ..tlog.tiles import (
    ENTRIES,
    TILE_WIDTH,
    Tile,
    TiledTree,
    encode_bundle,
    split_tile,
    tiles_for_size,
)
from ._files import read_file, replace_file
from .witnessing import load_cosigned

__all__ = ["ExportReport", "export_tiles"]


@dataclass(frozen=True, slots=True)
class ExportReport:
    """What an export wrote: the checkpoint, and how many tiles (bundles included) were new
    and how many were there already."""

    checkpoint: Checkpoint
    written: int
    unchanged: int
    cosigned: bool


def _hash_tile(log: Log, tile: Tile) -> bytes:
    rows = list(log.store.iter_nodes(tile.hash_level, tile.start, tile.start + tile.width))
    if [i for i, _ in rows] != list(range(tile.start, tile.start + tile.width)):
        raise VerificationError(
            f"the store lacks hashes of level {tile.hash_level} for {tile.path()}",
            hint="run 'runid log audit'",
            code=E_STORE_CORRUPT,
        )
    return b"".join(h for _, h in rows)


def _bundle(log: Log, tile: Tile, leaves: list[bytes]) -> bytes:
    entries = []
    for (index, data), expected in zip(
        log.store.iter_entries(tile.start, tile.start + tile.width), leaves, strict=False
    ):
        if leaf_hash(data) != expected:
            raise VerificationError(
                f"log entry {index} does not hash to its stored leaf hash",
                hint="run 'runid log audit'",
                code=E_STORE_CORRUPT,
            )
        entries.append(data)
    if len(entries) != tile.width:
        raise VerificationError(f"the store lacks entries for {tile.path()}", code=E_STORE_CORRUPT)
    return encode_bundle(entries)


def _published(directory: Path) -> Checkpoint | None:
    data = read_file(directory / "checkpoint", MAX_NOTE_SIZE)
    if data is None:
        return None
    try:
        return parse_checkpoint(split_note(data)[0])
    except VerificationError:
        return None  # not a checkpoint: replaced like any file


def _end(tile: Tile) -> int:
    """The number of leaves a tree needs to hold all of ``tile``."""
    return (tile.start + tile.width) << tile.hash_level


def export_tiles(log: Log, directory: Path) -> ExportReport:
    """Write the log's latest checkpoint, tiles and entry bundles below ``directory``."""
    # The checkpoint of the current size (signed now if appends left it behind, ADR 0019); a
    # log that cannot sign publishes its latest stored one.
    note = log.checkpoint(covering=0)
    checkpoint = verify_checkpoint(note, log.keyring, log.origin)
    found = load_cosigned(log)
    cosigned = found is not None and found[1] == checkpoint
    if found is not None and cosigned:
        note = found[0]
    # What is published already: a prefix of this tree (its full tiles need no rewrite), or
    # another history, or a larger tree (publishing this one would roll the log back).
    published = _published(directory)
    prefix = 0
    if published is not None and published.origin == checkpoint.origin:
        if published.size > checkpoint.size or log.store.root(published.size) != published.root:
            raise VerificationError(
                f"{directory / 'checkpoint'} holds a checkpoint of size {published.size} (root "
                f"{published.root.hex()[:16]}...) that this log at size {checkpoint.size} does "
                "not extend: publishing it would roll back or fork the published log",
                hint="export into a new directory, or find out why the log shrank or forked",
                code=E_TILE_CONFLICT,
            )
        prefix = published.size
    # The tree's right edge must lead to the signed root before anything is written.
    TiledTree(checkpoint.size, checkpoint.root, lambda tile: _hash_tile(log, tile))
    written = unchanged = 0
    for tile in tiles_for_size(checkpoint.size, entries=False):
        targets = [tile] if tile.level else [Tile(ENTRIES, tile.index, tile.width), tile]
        if (
            tile.full
            and _end(tile) <= prefix
            and all((directory / t.path()).is_file() for t in targets)
        ):
            unchanged += len(targets)
            continue
        data = _hash_tile(log, tile)
        for target in targets:
            content = data if target is tile else _bundle(log, target, split_tile(data, tile))
            if _write(directory / target.path(), content, target):
                written += 1
            else:
                unchanged += 1
    replace_file(directory / "checkpoint", note)
    return ExportReport(checkpoint, written, unchanged, cosigned)


def _write(path: Path, data: bytes, tile: Tile) -> bool:
    """Write a tile unless it is there already; one that differs is a conflict."""
    limit = TILE_WIDTH * (2 + 0xFFFF) if tile.level == ENTRIES else 32 * TILE_WIDTH
    existing = read_file(path, limit)
    if existing == data:
        return False
    if existing is not None:
        raise VerificationError(
            f"{path} differs from this log's {tile.path()}: the directory holds another log or "
            "another history of this one",
            hint="export into a new directory (published tiles are immutable)",
            code=E_TILE_CONFLICT,
        )
    replace_file(path, data, sync=False)
    return True
