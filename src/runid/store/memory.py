"""An in-memory log store: the :class:`~runid.store.LogStore` contract with nothing on disk.

For tests that are not about SQLite, and for short-lived tools: it keeps every rule of the
contract (sequencing under one lock, duplicate leaves keep their index, a failing signer appends
nothing, stored subtree hashes, O(log n) proofs, lookup indexes) and passes the same contract
suite (``tests/store_contract.py``) as :class:`~runid.store.sqlite.SQLiteStore`. "Durable" means
"until the object is gone": nothing survives the process.

One :class:`MemoryStore` is one log. :meth:`MemoryStore.reopen` gives another store object on the
same log, as opening the same file again would (for another thread, or after :meth:`close`).
"""

from __future__ import annotations

import bisect
import hashlib
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Self

from ..merkle import CompactRange, consistency_proof_ranges, inclusion_proof_ranges, leaf_hash
from . import (
    DECLARATION_BLOB_PREFIX,
    AppendLookups,
    AuditReport,
    CheckpointSigner,
    Problems,
    StoredCheckpoint,
    audit_tree,
    fold,
    node_count,
    subtree_keys,
)
from ._checks import (
    blob_digest_bytes,
    check_blob,
    check_blobs,
    check_hash,
    check_int,
    check_lookups,
    check_note,
    checkpoint_conflict,
    id_bytes,
    leaf_list,
    not_in_log,
)
from .erasures import Erasure, check_reason, erasure_time

__all__ = ["MemoryStore"]


class _Log:
    """The data of one in-memory log, shared by every store object opened on it.

    Lists and maps only grow (the log is append-only), and a change is applied only after every
    check has passed, under :attr:`lock`: readers see a whole append or none of it.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.entries: list[bytes] = []
        self.leaf_hashes: list[bytes] = []
        self.index: dict[bytes, int] = {}  # leaf hash -> index
        self.nodes: dict[tuple[int, int], bytes] = {}  # (level >= 1, index) -> subtree hash
        self.tree = CompactRange()
        self.checkpoints: dict[int, StoredCheckpoint] = {}
        self.blobs: dict[bytes, bytes] = {}  # raw SHA-256 -> data
        # Raw SHA-256 by sequence number - 1; None where a blob was erased (numbers are not
        # reused: bytes stored again after their erasure get a new number).
        self.blob_order: list[bytes | None] = []
        self.erasures: dict[bytes, Erasure] = {}  # raw SHA-256 -> the record of its erasure
        self.records: dict[int, tuple[bytes, bytes]] = {}  # index -> (execution, declaration)
        self.executions: dict[bytes, int] = {}  # execution id -> first index
        self.by_declaration: dict[bytes, list[int]] = {}  # declaration id -> indices, sorted
        self.declarations: dict[bytes, bytes] = {}  # declaration id -> blob digest
        self.lookup_entries = 0
        self.lookup_blobs = 0

    def add_blob(self, digest: bytes, data: bytes) -> None:
        if digest not in self.blobs:
            self.blobs[digest] = data
            self.blob_order.append(digest)

    def node(self, level: int, index: int) -> bytes:
        return self.leaf_hashes[index] if level == 0 else self.nodes[(level, index)]

    def range_hash(self, begin: int, end: int) -> bytes:
        return fold([self.node(level, index) for level, index in subtree_keys(begin, end)])

    def check_size(self, size: int, name: str = "size") -> int:
        """Check that ``size`` is a tree size the log has reached; return the current size."""
        check_int(size, name)
        current = self.tree.size
        if size > current:
            raise not_in_log(f"{name} {size} is beyond the end of the log ({current} leaves)")
        return current


class MemoryStore:
    """A :class:`~runid.store.LogStore` held in memory. ``MemoryStore()`` is a new, empty log."""

    def __init__(self) -> None:
        """A new, empty log."""
        self._log = _Log()
        self._closed = False

    def reopen(self) -> MemoryStore:
        """Another store object on this log, as opening the same log again would give."""
        store = MemoryStore()
        store._log = self._log
        return store

    def _data(self) -> _Log:
        if self._closed:
            raise RuntimeError("this MemoryStore is closed; reopen() gives a new one on its log")
        return self._log

    # --- context manager -------------------------------------------------------------------

    def close(self) -> None:
        """Close this store object (idempotent); the log stays for :meth:`reopen`."""
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MemoryStore(size={self._log.tree.size})"

    # --- the log ---------------------------------------------------------------------------

    def append(
        self,
        leaves: Sequence[bytes],
        sign_checkpoint: CheckpointSigner | None = None,
        *,
        blobs: Sequence[bytes] = (),
        lookups: AppendLookups | None = None,
    ) -> list[int]:
        """See :meth:`runid.store.LogStore.append`."""
        data = leaf_list(leaves)
        check_blobs(blobs)
        log = self._data()
        raw = None if lookups is None else check_lookups(lookups, len(data))
        if not data:
            with log.lock:
                top = len(log.blob_order)
                for blob in blobs:
                    log.add_blob(hashlib.sha256(blob).digest(), blob)
                if raw is not None:
                    _index_appended(log, raw, [], log.tree.size, top)
            return []
        hashes = [leaf_hash(d) for d in data]
        new_nodes: list[tuple[int, int, bytes]] = []

        def visit(begin: int, end: int, h: bytes) -> None:
            # Level 0 is the leaf hashes; store only the subtrees above them.
            width = end - begin
            if width > 1:
                level = width.bit_length() - 1
                new_nodes.append((level, begin >> level, h))

        with log.lock:
            # Work on a copy of the state: nothing changes until every step has succeeded.
            tree = CompactRange(log.tree.size, log.tree.hashes)
            known: dict[bytes, int] = {}
            indices: list[int] = []
            rows: list[tuple[bytes, bytes]] = []
            for d, h in zip(data, hashes, strict=True):
                index = log.index.get(h, known.get(h))
                if index is None:
                    index = known[h] = tree.size
                    tree.append(h, visit)
                    rows.append((h, d))
                indices.append(index)
            checkpoint = None
            old_size, top = log.tree.size, len(log.blob_order)
            # Sign when the size is new; when every leaf was already in the log, only if that
            # size has no checkpoint yet.
            if sign_checkpoint is not None and (rows or tree.size not in log.checkpoints):
                root = tree.root()
                checkpoint = StoredCheckpoint(
                    tree.size, root, check_note(sign_checkpoint(tree.size, root))
                )
            for blob in blobs:
                log.add_blob(hashlib.sha256(blob).digest(), blob)
            for h, d in rows:
                log.index[h] = len(log.entries)
                log.leaf_hashes.append(h)
                log.entries.append(d)
            for level, index, h in new_nodes:
                log.nodes[(level, index)] = h
            log.tree = tree
            if checkpoint is not None:
                log.checkpoints[checkpoint.size] = checkpoint
            if raw is not None:
                _index_appended(log, raw, indices, old_size, top)
        return indices

    def size(self) -> int:
        """See :meth:`runid.store.LogStore.size`."""
        return self._data().tree.size

    def entry(self, index: int) -> bytes:
        """See :meth:`runid.store.LogStore.entry`."""
        check_int(index, "index")
        log = self._data()
        with log.lock:
            if index >= log.tree.size:
                raise not_in_log(f"there is no entry {index}: the log has {log.tree.size} leaves")
            return log.entries[index]

    def index_of(self, leaf_hash: bytes) -> int | None:
        """See :meth:`runid.store.LogStore.index_of`."""
        check_hash(leaf_hash, "leaf hash")
        return self._data().index.get(leaf_hash)

    def root(self, size: int | None = None) -> bytes:
        """See :meth:`runid.store.LogStore.root`."""
        log = self._data()
        with log.lock:
            if size is None:
                return log.tree.root()
            log.check_size(size)
            return log.range_hash(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """See :meth:`runid.store.LogStore.inclusion_proof`."""
        log = self._data()
        with log.lock:
            log.check_size(size)
            ranges = inclusion_proof_ranges(index, size)
            return [log.range_hash(begin, end) for begin, end in ranges]

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """See :meth:`runid.store.LogStore.consistency_proof`."""
        log = self._data()
        with log.lock:
            log.check_size(size2, "size2")
            ranges = consistency_proof_ranges(size1, size2)
            return [log.range_hash(begin, end) for begin, end in ranges]

    # --- checkpoints -----------------------------------------------------------------------

    def save_checkpoint(self, size: int, note: bytes) -> StoredCheckpoint:
        """See :meth:`runid.store.LogStore.save_checkpoint`."""
        note = check_note(note)
        log = self._data()
        with log.lock:
            log.check_size(size)
            existing = log.checkpoints.get(size)
            if existing is not None:
                if existing.note == note:
                    return existing
                raise checkpoint_conflict(size)
            checkpoint = log.checkpoints[size] = StoredCheckpoint(
                size, log.range_hash(0, size), note
            )
        return checkpoint

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """See :meth:`runid.store.LogStore.latest_checkpoint`."""
        log = self._data()
        with log.lock:
            return log.checkpoints[max(log.checkpoints)] if log.checkpoints else None

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        """See :meth:`runid.store.LogStore.checkpoint_at`."""
        check_int(size, "size")
        return self._data().checkpoints.get(size)

    # --- blobs -----------------------------------------------------------------------------

    def put_blob(self, data: bytes) -> str:
        """See :meth:`runid.store.LogStore.put_blob`."""
        digest = hashlib.sha256(check_blob(data)).digest()
        log = self._data()
        with log.lock:
            log.add_blob(digest, data)
        return "sha256:" + digest.hex()

    def get_blob(self, digest: str) -> bytes | None:
        """See :meth:`runid.store.LogStore.get_blob`."""
        return self._data().blobs.get(blob_digest_bytes(digest))

    def erase_blobs(
        self, digests: Sequence[str], *, reason: str = "", erased_at: datetime | None = None
    ) -> list[str]:
        """See :meth:`runid.store.LogStore.erase_blobs`."""
        wanted = list(dict.fromkeys(blob_digest_bytes(d) for d in digests))
        why = check_reason(reason)
        when = erasure_time(erased_at)
        log = self._data()
        erased = []
        with log.lock:
            for digest in wanted:
                if log.blobs.pop(digest, None) is None:
                    continue
                log.blob_order[log.blob_order.index(digest)] = None
                hexed = "sha256:" + digest.hex()
                log.erasures[digest] = Erasure(hexed, when, why)
                erased.append(hexed)
        return erased

    def erasure(self, digest: str) -> Erasure | None:
        """See :meth:`runid.store.LogStore.erasure`."""
        return self._data().erasures.get(blob_digest_bytes(digest))

    def iter_erasures(self) -> Iterator[Erasure]:
        """See :meth:`runid.store.LogStore.iter_erasures`."""
        log = self._data()
        with log.lock:
            return iter([log.erasures[d] for d in sorted(log.erasures)])

    # --- lookup indexes (derived data; see runid.log) ----------------------------------------

    def lookup_state(self) -> tuple[int, int]:
        """See :meth:`runid.store.LogStore.lookup_state`."""
        log = self._data()
        with log.lock:
            return log.lookup_entries, log.lookup_blobs

    def iter_declaration_blobs(self, after: int) -> Iterator[tuple[int, bytes]]:
        """See :meth:`runid.store.LogStore.iter_declaration_blobs`."""
        check_int(after, "after")
        log = self._data()
        with log.lock:
            order = log.blob_order[after:]
        for number, digest in enumerate(order, start=after + 1):
            data = None if digest is None else log.blobs.get(digest)
            if data is not None and data.startswith(DECLARATION_BLOB_PREFIX):
                yield number, data

    def max_blob_rowid(self) -> int:
        """See :meth:`runid.store.LogStore.max_blob_rowid`."""
        return len(self._data().blob_order)

    def add_lookups(
        self,
        records: Sequence[tuple[int, str, str]],
        declarations: Sequence[tuple[str, str]],
        *,
        entries: int,
        blobs: int,
    ) -> None:
        """See :meth:`runid.store.LogStore.add_lookups`."""
        rows = [(check_int(i, "index"), id_bytes(e), id_bytes(d)) for i, e, d in records]
        decls = [(id_bytes(d), id_bytes(b)) for d, b in declarations]
        check_int(entries, "entries")
        check_int(blobs, "blobs")
        log = self._data()
        with log.lock:
            _add_rows(log, rows, decls)
            log.lookup_entries = max(log.lookup_entries, entries)
            log.lookup_blobs = max(log.lookup_blobs, blobs)

    def find_execution(self, execution_id: str) -> int | None:
        """See :meth:`runid.store.LogStore.find_execution`."""
        raw = id_bytes(execution_id)
        return self._data().executions.get(raw)

    def find_records(self, declaration_id: str) -> list[int]:
        """See :meth:`runid.store.LogStore.find_records`."""
        raw = id_bytes(declaration_id)
        log = self._data()
        with log.lock:
            return list(log.by_declaration.get(raw, ()))

    def find_declaration(self, declaration_id: str) -> str | None:
        """See :meth:`runid.store.LogStore.find_declaration`."""
        found = self._data().declarations.get(id_bytes(declaration_id))
        return None if found is None else "sha256:" + found.hex()

    def iter_record_lookups(self) -> Iterator[tuple[int, str, str]]:
        """See :meth:`runid.store.LogStore.iter_record_lookups`."""
        log = self._data()
        with log.lock:
            rows = sorted(log.records.items())
        return ((i, "sha256:" + e.hex(), "sha256:" + d.hex()) for i, (e, d) in rows)

    def iter_declaration_lookups(self) -> Iterator[tuple[str, str]]:
        """See :meth:`runid.store.LogStore.iter_declaration_lookups`."""
        log = self._data()
        with log.lock:
            rows = sorted(log.declarations.items())
        return (("sha256:" + d.hex(), "sha256:" + b.hex()) for d, b in rows)

    def iter_checkpoints(self) -> Iterator[StoredCheckpoint]:
        """See :meth:`runid.store.LogStore.iter_checkpoints`."""
        log = self._data()
        with log.lock:
            return iter([log.checkpoints[size] for size in sorted(log.checkpoints)])

    # --- iteration and audit ---------------------------------------------------------------

    def iter_entries(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
        """See :meth:`runid.store.LogStore.iter_entries`."""
        log = self._data()
        start, stop = self._bounds(log, start, stop, log.tree.size)
        entries = log.entries  # append-only: indices below the size never change
        return ((index, entries[index]) for index in range(start, stop))

    def iter_nodes(
        self, level: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, bytes]]:
        """See :meth:`runid.store.LogStore.iter_nodes`."""
        check_int(level, "level")
        log = self._data()
        size = log.tree.size
        start, stop = self._bounds(log, start, stop, size >> level)
        return ((index, log.node(level, index)) for index in range(start, stop))

    @staticmethod
    def _bounds(log: _Log, start: int, stop: int | None, count: int) -> tuple[int, int]:
        """``[start, stop)`` checked now (not at the first ``next()``), cut at ``count`` rows."""
        check_int(start, "start")
        if stop is None:
            stop = log.tree.size
        check_int(stop, "stop")
        return start, max(start, min(stop, count))

    def audit(self, *, check: bool = True) -> AuditReport:
        """See :meth:`runid.store.LogStore.audit`."""
        log = self._data()
        problems = Problems()
        with log.lock:  # one snapshot: appends wait until the audit is done
            size = log.tree.size
            tree = audit_tree(
                size,
                self.iter_entries(0, size),
                lambda level, stop: self.iter_nodes(level, 0, stop),
                sorted((cp.size, cp.root) for cp in log.checkpoints.values()),
                problems,
            )
            if tree is not None and tree.hashes != log.tree.hashes:
                problems.add(
                    "the stored sequencing state (compact range) disagrees with the entries"
                )
            entries = len(log.entries)
            if entries != size:
                problems.add(f"{entries} entries are stored for a tree of {size} leaves")
            nodes = len(log.nodes)
            if nodes != node_count(size):
                problems.add(
                    f"{nodes} subtree hashes are stored for a tree of {size} leaves, "
                    f"expected {node_count(size)}"
                )
            checkpoints = len(log.checkpoints)
            for digest, data in log.blobs.items():
                if hashlib.sha256(data).digest() != digest:
                    problems.add(f"blob sha256:{digest.hex()} does not match its digest")
            blobs = len(log.blobs)
        report = AuditReport(size, entries, nodes, checkpoints, blobs, problems.as_tuple())
        if check:
            report.check()
        return report


def _add_rows(
    log: _Log, rows: Sequence[tuple[int, bytes, bytes]], decls: Sequence[tuple[bytes, bytes]]
) -> None:
    """Add lookup rows (the caller holds the lock); rows already present are kept, as another
    store object may have added them."""
    for index, execution, declaration in rows:
        if index in log.records:
            continue
        log.records[index] = (execution, declaration)
        first = log.executions.get(execution)
        if first is None or index < first:
            log.executions[execution] = index
        bisect.insort(log.by_declaration.setdefault(declaration, []), index)
    for declaration, blob in decls:
        log.declarations.setdefault(declaration, blob)


def _index_appended(
    log: _Log,
    lookups: tuple[list[tuple[bytes, bytes] | None], list[tuple[bytes, bytes]]],
    indices: Sequence[int],
    old_size: int,
    top: int,
) -> None:
    """An append's lookup rows (raw ids, from ``check_lookups``), and the marks that were
    current moved past it (ADR 0017)."""
    records, declarations = lookups
    rows = [
        (index, *ids)
        for index, ids in zip(indices, records, strict=True)
        if ids is not None and index >= old_size
    ]
    _add_rows(log, rows, declarations)
    if log.lookup_entries == old_size:
        log.lookup_entries = log.tree.size
    if log.lookup_blobs == top:
        log.lookup_blobs = len(log.blob_order)
