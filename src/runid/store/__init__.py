"""Storage of the transparency log and of content blobs, behind one small interface.

:class:`LogStore` is everything the rest of runid may assume about storage. The embedded default
is SQLite (:mod:`runid.store.sqlite`); a PostgreSQL backend shared by several writer processes
implements the same protocol and passes the same contract tests (``tests/store_contract.py``).

What every backend guarantees:

* **Sequencing inside the store's transaction.** :meth:`LogStore.append` reads the tree size and
  compact range, assigns consecutive indices, writes the leaves and every newly completed subtree
  hash, and stores the new state, all in one write transaction. Nothing is assumed about which
  process is writing: any number of processes may append to one log at once.
* **Acknowledged means durable.** When ``append`` (or ``save_checkpoint``, ``put_blob``) returns,
  the data is committed and survives ``kill -9`` and power loss; until then nothing of it is
  visible, and a crash leaves no half-written leaf, node or state.
* **Append-only, immutable history.** A leaf, a subtree hash and a checkpoint, once committed,
  never change; so a root or proof for a size the log has reached is the same whenever asked.
* **O(log n) proofs.** The hash of every complete subtree is stored, keyed (level, index), so a
  root for any past size, an inclusion proof and a consistency proof are each O(log n) look-ups.

Where the data lives (:func:`default_home`): the directory ``--home DIR`` names, else the
``RUNID_HOME`` environment variable, else ``$XDG_DATA_HOME/runid`` (``~/.local/share/runid`` when
``XDG_DATA_HOME`` is unset). The SQLite log is the file ``<home>/log.sqlite3``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from ..errors import VerificationError
from ..merkle import EMPTY_ROOT, CompactRange, leaf_hash, node_hash

__all__ = [
    "AuditReport",
    "Checkpoint",
    "CheckpointSigner",
    "LogStore",
    "audit_tree",
    "default_home",
    "fold",
    "node_count",
    "open_store",
    "subtree_keys",
]

CheckpointSigner = Callable[[int, bytes], bytes]
"""``sign(size, root) -> signed note bytes``; see :meth:`LogStore.append`."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A saved checkpoint: the tree ``size``, the ``root`` the store computed for that size, and
    the signed ``note`` (a C2SP signed note; opaque to the store)."""

    size: int
    root: bytes
    note: bytes


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What :meth:`LogStore.audit` re-hashed and found consistent."""

    size: int
    entries: int
    nodes: int
    checkpoints: int
    blobs: int


class LogStore(Protocol):
    """The log and blob store. One object per thread; any number of processes per log.

    Sizes and indices are leaf counts and 0-based leaf positions. Hashes are raw 32-byte
    SHA-256 values as :mod:`runid.merkle` computes them. Wrong arguments (an index outside the
    log, a hash of the wrong length) raise :class:`~runid.errors.InputError`; storage problems a
    user can fix (permissions, disk full, a busy or newer database) raise
    :class:`~runid.errors.FileAccessError`; corruption found while reading raises
    :class:`~runid.errors.VerificationError`.
    """

    def append(
        self, leaves: Sequence[bytes], sign_checkpoint: CheckpointSigner | None = None
    ) -> list[int]:
        """Append ``leaves`` atomically and durably; return the index of each, in order.

        New leaves get consecutive indices after the current end of the log. A leaf already in
        the log (same bytes, so same leaf hash) is not appended again: its existing index is
        returned, so retrying an append whose acknowledgement was lost is safe.

        ``sign_checkpoint``, if given, is called inside the same transaction with the new size
        and root; the note it returns is saved as that size's checkpoint in the same commit, so
        the log never holds leaves past its last checkpoint because of a crash in between. It runs
        while the log's write lock is held, so it must be quick (an Ed25519 signature is) and
        must not use the store. If it raises, nothing is appended.
        """
        ...

    def size(self) -> int:
        """The number of leaves in the log now."""
        ...

    def entry(self, index: int) -> bytes:
        """The bytes of leaf ``index``, checked against its stored leaf hash."""
        ...

    def index_of(self, leaf_hash: bytes) -> int | None:
        """The index of the leaf with this RFC 9162 leaf hash, or ``None``."""
        ...

    def root(self, size: int | None = None) -> bytes:
        """The root of the first ``size`` leaves (default: all of them now)."""
        ...

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
        ...

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """The RFC 9162 consistency proof from ``size1`` to ``size2`` leaves (``0 < size1``)."""
        ...

    def save_checkpoint(self, size: int, note: bytes) -> Checkpoint:
        """Save the signed ``note`` for tree ``size`` (at most the current size), durably.

        Saving the same note again is a no-op; a different note for a size that already has
        one is refused.
        """
        ...

    def latest_checkpoint(self) -> Checkpoint | None:
        """The checkpoint with the largest size, or ``None`` if there is none."""
        ...

    def checkpoint_at(self, size: int) -> Checkpoint | None:
        """The checkpoint saved for exactly ``size``, or ``None``."""
        ...

    def put_blob(self, data: bytes) -> str:
        """Store ``data`` durably by content; return its digest ``sha256:<hex>``. Idempotent."""
        ...

    def get_blob(self, digest: str) -> bytes | None:
        """The blob with ``digest`` (checked against it), or ``None`` if not stored."""
        ...

    def iter_entries(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
        """``(index, data)`` of leaves ``start <= index < stop`` in order (``stop``: the size)."""
        ...

    def iter_nodes(
        self, level: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, bytes]]:
        """``(index, hash)`` of the stored complete subtrees at ``level``, in index order.

        Level 0 yields the stored leaf hashes. With ``stop``, only ``start <= index < stop``.
        These are the hashes C2SP tlog-tiles serve, and what :func:`audit_tree` re-checks.
        """
        ...

    def audit(self) -> AuditReport:
        """Re-hash everything (leaves, subtrees, state, checkpoints, blobs) in one snapshot.

        Raises :class:`~runid.errors.VerificationError` at the first inconsistency.
        """
        ...

    def close(self) -> None:
        """Release the connection; the store cannot be used afterwards."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def default_home() -> Path:
    """The directory runid keeps its data in when no ``--home DIR`` is given.

    ``$RUNID_HOME`` if set and not empty; else ``$XDG_DATA_HOME/runid`` if ``XDG_DATA_HOME`` is
    an absolute path (the XDG Base Directory spec says to ignore a relative one); else
    ``~/.local/share/runid``. The CLI's ``--home DIR`` option, when given, wins over all of
    these; this function is what it falls back to.
    """
    home = os.environ.get("RUNID_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "runid"
    return Path.home() / ".local" / "share" / "runid"


def open_store(home: Path, *, create: bool = True) -> LogStore:
    """Open the log store in directory ``home`` (see :func:`default_home`).

    With ``create`` (the default) a missing directory is created with mode 0700 and a missing log
    is initialised; with ``create=False`` a missing log raises
    :class:`~runid.errors.FileAccessError`, so a read-only command does not leave an empty log
    behind a mistyped ``--home``.
    """
    # Imported here: the backend imports this module for the shared helpers and types.
    from .sqlite import SQLiteStore

    return SQLiteStore.open(home, create=create)


# --- helpers shared by backends --------------------------------------------------------------


def subtree_keys(begin: int, end: int) -> list[tuple[int, int]]:
    """The ``(level, index)`` keys of the perfect subtrees that split leaves ``[begin, end)``.

    Largest first. ``begin`` must be a multiple of the largest power of two not above
    ``end - begin`` — true of every range :func:`~runid.merkle.inclusion_proof_ranges` and
    :func:`~runid.merkle.consistency_proof_ranges` return, and of ``[0, size)``. Fold the
    hashes with :func:`fold` to get the range's root.

    >>> subtree_keys(0, 13)
    [(3, 0), (2, 2), (0, 12)]
    >>> subtree_keys(8, 12)
    [(2, 2)]
    """
    keys = []
    width = end - begin
    for level in reversed(range(width.bit_length())):
        if width >> level & 1:
            keys.append((level, begin >> level))
            begin += 1 << level
    return keys


def fold(hashes: Sequence[bytes]) -> bytes:
    """The root of a range from the roots of its perfect subtrees, largest first.

    MTH splits off the largest perfect subtree first, so the smaller right-hand subtrees join
    before they meet it: fold from the right. The empty range has :data:`~runid.merkle.EMPTY_ROOT`.
    """
    if not hashes:
        return EMPTY_ROOT
    h = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = node_hash(left, h)
    return h


def _corrupt(message: str) -> VerificationError:
    return VerificationError(
        message,
        code="E_STORE_CORRUPT",
        hint="the log database was altered or damaged; restore it from a backup and compare "
        "with the last signed checkpoint",
    )


def audit_tree(
    size: int,
    entries: Iterable[tuple[int, bytes]],
    nodes: Callable[[int, int], Iterable[tuple[int, bytes]]],
    checkpoints: Iterable[tuple[int, bytes]] = (),
) -> CompactRange:
    """Check that the stored tree of ``size`` leaves is the tree of its leaves.

    ``entries`` yields ``(index, data)`` for indices ``0 .. size-1``; ``nodes(level, stop)`` yields
    the stored ``(index, hash)`` at ``level`` for ``index < stop`` (level 0: stored leaf hashes),
    as :meth:`LogStore.iter_entries` and :meth:`LogStore.iter_nodes` do; ``checkpoints`` yields
    ``(size, root)`` by ascending size. Each level is compared with the one below it in one
    streaming pass, so memory stays O(log n) and time O(n). Each checkpoint root is compared with
    the root recomputed from the entries' data (not from stored hashes) when the pass reaches its
    size. Rows beyond ``stop`` are the backend's to count (they may be appends newer than
    ``size``).

    Returns the compact range recomputed from the data: its hashes must equal the backend's
    stored sequencing state. Raises :class:`~runid.errors.VerificationError`
    (``E_STORE_CORRUPT``) at the first mismatch.
    """
    recomputed = CompactRange()
    pending = iter(checkpoints)
    checkpoint = next(pending, None)

    def check_checkpoints() -> tuple[int, bytes] | None:
        current = checkpoint
        while current is not None and current[0] <= recomputed.size:
            if current[0] < recomputed.size:
                raise _corrupt(f"checkpoint for size {current[0]} is out of order")
            if current[1] != recomputed.root():
                raise _corrupt(f"the tree does not match the checkpoint for size {current[0]}")
            current = next(pending, None)
        return current

    stored_leaves = iter(nodes(0, size))
    for index, data in entries:
        checkpoint = check_checkpoints()
        if index != recomputed.size:
            raise _corrupt(f"log entry {recomputed.size} is missing (found entry {index} next)")
        h = leaf_hash(data)
        stored = next(stored_leaves, None)
        if stored is None or stored[0] != index or stored[1] != h:
            raise _corrupt(f"log entry {index}: its data does not hash to its stored leaf hash")
        recomputed.append(h)
    checkpoint = check_checkpoints()
    if recomputed.size != size:
        raise _corrupt(f"the log has {size} leaves but only entries 0..{recomputed.size - 1} exist")
    if checkpoint is not None:
        raise _corrupt(f"a checkpoint for size {checkpoint[0]} is beyond the tree ({size} leaves)")
    for level in range(1, size.bit_length()):
        count = size >> level
        below = iter(nodes(level - 1, count * 2))
        position = 0
        for index, stored_hash in nodes(level, count):
            if index != position:
                raise _corrupt(f"subtree hash ({level}, {position}) is missing")
            left, right = next(below, None), next(below, None)
            if left is None or right is None or left[0] != 2 * index or right[0] != 2 * index + 1:
                raise _corrupt(f"subtree hashes at level {level - 1} are missing")
            if node_hash(left[1], right[1]) != stored_hash:
                raise _corrupt(f"subtree hash ({level}, {index}) does not match its children")
            position += 1
        if position != count:
            raise _corrupt(f"subtree hash ({level}, {position}) is missing")
    return recomputed


def node_count(size: int) -> int:
    """The number of complete subtrees above the leaves in a tree of ``size`` leaves.

    >>> node_count(13)  # 6 pairs, 3 fours, 1 eight
    10
    """
    return sum(size >> level for level in range(1, size.bit_length()))
