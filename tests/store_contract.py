"""The contract every :class:`runid.store.LogStore` backend passes.

A test module subclasses :class:`StoreContract` and provides one fixture, ``open_log``: a
callable ``open_log(name="log") -> LogStore`` that opens the log called ``name`` of the current
test, creating it empty on first use; calling it again with the same name reopens the same log
(as another process would), a new name gives an independent log. ``test_store_contract.py``
runs the contract against every backend (the fixture is parametrized: SQLite and memory).

The reference for every root and proof is the pure :mod:`runid.merkle` (itself checked against a
naive RFC 9162 oracle in ``test_merkle.py``): the store must give the same bytes from its stored
subtree hashes as the pure functions compute from all the leaves.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runid.errors import InputError
from runid.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from runid.store import (
    DECLARATION_BLOB_PREFIX,
    AppendLookups,
    Erasure,
    LogStore,
    StoredCheckpoint,
)

OpenLog = Callable[..., LogStore]


def leaves(n: int, tag: str = "leaf") -> list[bytes]:
    """``n`` distinct leaves of varied length (some long enough to span SQLite overflow pages)."""
    return [f"{tag} {i} ".encode() + bytes(range(256)) * (i % 3) for i in range(n)]


def hashes_of(store: LogStore) -> list[bytes]:
    return [leaf_hash(data) for _, data in store.iter_entries()]


def fake_note(size: int, tree_root: bytes) -> bytes:
    """A stand-in for a signed checkpoint note: the store treats notes as opaque bytes."""
    return f"runid.test/log\n{size}\n{tree_root.hex()}\n".encode()


class StoreContract:
    """Rules every backend keeps. Subclasses provide the ``open_log`` fixture."""

    @pytest.fixture
    def store(self, open_log: OpenLog) -> Iterator[LogStore]:
        with open_log() as store:
            yield store

    # --- appending -------------------------------------------------------------------------

    def test_a_new_log_is_empty(self, store: LogStore) -> None:
        assert store.size() == 0
        assert store.root() == EMPTY_ROOT
        assert store.root(0) == EMPTY_ROOT
        assert store.latest_checkpoint() is None
        assert list(store.iter_entries()) == []
        assert list(store.iter_nodes(0)) == []

    def test_appends_get_consecutive_indices_and_read_back_exactly(self, store: LogStore) -> None:
        data = [b"", b"\x00", b"\xff" * 3, *leaves(5)]
        assert store.append(data[:1]) == [0]
        assert store.append(data[1:4]) == [1, 2, 3]
        assert store.append(data[4:]) == [4, 5, 6, 7]
        assert store.size() == len(data)
        assert [store.entry(i) for i in range(len(data))] == data
        assert list(store.iter_entries()) == list(enumerate(data))

    def test_a_leaf_already_in_the_log_keeps_its_index(self, store: LogStore) -> None:
        store.append(leaves(3))
        again = store.append([leaves(3)[1], b"new", leaves(3)[0]])
        assert again == [1, 3, 0]
        assert store.size() == 4

    def test_a_leaf_twice_in_one_batch_is_stored_once(self, store: LogStore) -> None:
        assert store.append([b"a", b"b", b"a", b"c", b"b"]) == [0, 1, 0, 2, 1]
        assert store.size() == 3
        assert store.root() == root([leaf_hash(d) for d in (b"a", b"b", b"c")])

    def test_an_empty_append_changes_nothing(self, store: LogStore) -> None:
        assert store.append([]) == []
        assert store.size() == 0

    @pytest.mark.parametrize("bad", [b"one leaf", "text", ["text"], [b"ok", 5], [bytearray(b"x")]])
    def test_append_takes_only_a_sequence_of_bytes(self, store: LogStore, bad: object) -> None:
        with pytest.raises(InputError):
            store.append(bad)  # type: ignore[arg-type]
        assert store.size() == 0

    def test_index_of_finds_a_leaf_by_its_leaf_hash(self, store: LogStore) -> None:
        data = leaves(10)
        store.append(data)
        assert [store.index_of(leaf_hash(d)) for d in data] == list(range(10))
        assert store.index_of(leaf_hash(b"absent")) is None
        assert store.index_of(hashlib.sha256(data[0]).digest()) is None  # not a leaf hash
        with pytest.raises(InputError):
            store.index_of(b"short")

    def test_reads_beyond_the_end_are_refused(self, store: LogStore) -> None:
        store.append(leaves(3))
        for call in (
            lambda: store.entry(3),
            lambda: store.root(4),
            lambda: store.inclusion_proof(0, 4),
            lambda: store.consistency_proof(1, 4),
            lambda: store.save_checkpoint(4, b"note"),
        ):
            with pytest.raises(InputError) as info:
                call()
            assert info.value.code == "E_NOT_IN_LOG"

    @pytest.mark.parametrize(
        "call",
        [
            lambda s: s.entry(-1),
            lambda s: s.entry(True),
            lambda s: s.root(-1),
            lambda s: s.inclusion_proof(3, 3),
            lambda s: s.inclusion_proof(-1, 3),
            lambda s: s.consistency_proof(0, 3),
            lambda s: s.consistency_proof(3, 2),
            lambda s: s.checkpoint_at(-1),
            lambda s: s.iter_entries(-1),
            lambda s: s.iter_nodes(-1),
        ],
    )
    def test_wrong_arguments_raise_input_error(
        self, store: LogStore, call: Callable[[LogStore], object]
    ) -> None:
        store.append(leaves(3))
        with pytest.raises(InputError):
            call(store)

    # --- the tree --------------------------------------------------------------------------

    def test_roots_and_proofs_equal_the_reference_for_every_size(self, store: LogStore) -> None:
        # Single appends first, then batches that start and end at awkward positions, so
        # subtrees are completed both within one transaction and across several.
        for d in leaves(11):
            store.append([d])
        for start, stop in ((11, 16), (16, 17), (17, 30), (30, 33), (33, 41)):
            store.append(leaves(41)[start:stop])
        hashes = hashes_of(store)
        assert len(hashes) == 41
        for size in range(41 + 1):
            assert store.root(size) == root(hashes[:size]), size
            for index in range(size):
                proof = store.inclusion_proof(index, size)
                assert proof == inclusion_proof(hashes, index, size), (index, size)
                verify_inclusion(hashes[index], index, size, proof, root(hashes[:size]))
            for size1 in range(1, size + 1):
                proof = store.consistency_proof(size1, size)
                assert proof == consistency_proof(hashes, size1, size), (size1, size)
        assert store.root() == root(hashes)

    def test_history_stays_the_same_as_the_log_grows(self, store: LogStore) -> None:
        store.append(leaves(5))
        before = (store.root(5), store.root(3), store.inclusion_proof(2, 5))
        store.append(leaves(20, "more"))
        assert (store.root(5), store.root(3), store.inclusion_proof(2, 5)) == before
        verify_consistency(5, 25, store.consistency_proof(5, 25), before[0], store.root())

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(batches=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=8))
    def test_any_sequence_of_batches_builds_the_reference_tree(
        self, open_log: OpenLog, batches: list[int]
    ) -> None:
        name = f"h{next(_names)}"  # a fresh log per example
        with open_log(name) as store:
            total = 0
            for n in batches:
                assert store.append(leaves(n, f"{total}")) == list(range(total, total + n))
                total += n
                hashes = hashes_of(store)
                assert store.root() == root(hashes)
                if total:
                    for index in {0, total // 2, total - 1}:
                        assert store.inclusion_proof(index, total) == inclusion_proof(
                            hashes, index, total
                        )
                    for size1 in {1, total // 2 or 1, total}:
                        assert store.consistency_proof(size1, total) == consistency_proof(
                            hashes, size1, total
                        )
            store.audit().check()

    def test_a_log_reopens_with_everything_in_it(self, open_log: OpenLog) -> None:
        with open_log() as store:
            store.append(leaves(9))
            checkpoint = store.save_checkpoint(9, b"note")
            digest = store.put_blob(b"blob")
            tree_root = store.root()
        with open_log() as store:
            assert store.size() == 9
            assert store.root() == tree_root
            assert store.latest_checkpoint() == checkpoint
            assert store.get_blob(digest) == b"blob"
            assert store.append([b"next"]) == [9]

    def test_iteration_covers_ranges_and_many_pages(self, store: LogStore) -> None:
        data = leaves(2600)  # more than one page of rows, whatever the backend's page size
        store.append(data)
        assert list(store.iter_entries()) == list(enumerate(data))
        assert list(store.iter_entries(1999, 2003)) == [(i, data[i]) for i in range(1999, 2003)]
        assert list(store.iter_entries(5, 5)) == []
        hashes = [leaf_hash(d) for d in data]
        assert list(store.iter_nodes(0, 10, 12)) == [(10, hashes[10]), (11, hashes[11])]
        level3 = list(store.iter_nodes(3))
        assert [i for i, _ in level3] == list(range(2600 // 8))
        assert level3[7][1] == root(hashes[56:64])
        assert list(store.iter_nodes(12)) == []  # 2600 leaves complete no subtree of 4096
        assert list(store.iter_nodes(11)) == [(0, root(hashes[:2048]))]

    # --- checkpoints -----------------------------------------------------------------------

    def test_a_saved_checkpoint_records_the_root_of_its_size(self, store: LogStore) -> None:
        store.append(leaves(6))
        saved = store.save_checkpoint(4, b"note 4")
        assert saved == StoredCheckpoint(4, root(hashes_of(store)[:4]), b"note 4")
        assert store.checkpoint_at(4) == saved
        assert store.checkpoint_at(5) is None
        assert store.latest_checkpoint() == saved
        store.save_checkpoint(2, b"note 2")
        assert store.latest_checkpoint() == saved  # the largest size, not the newest row
        store.save_checkpoint(6, b"note 6")
        assert store.latest_checkpoint() == StoredCheckpoint(6, store.root(), b"note 6")

    def test_a_checkpoint_is_never_replaced(self, store: LogStore) -> None:
        store.append(leaves(2))
        first = store.save_checkpoint(2, b"note")
        assert store.save_checkpoint(2, b"note") == first  # the same note again: a no-op
        with pytest.raises(InputError) as info:
            store.save_checkpoint(2, b"another note")
        assert info.value.code == "E_CHECKPOINT_CONFLICT"
        assert store.checkpoint_at(2) == first

    def test_the_empty_tree_can_have_a_checkpoint(self, store: LogStore) -> None:
        assert store.save_checkpoint(0, b"empty") == StoredCheckpoint(0, EMPTY_ROOT, b"empty")

    def test_append_can_sign_a_checkpoint_in_the_same_transaction(self, store: LogStore) -> None:
        seen: list[tuple[int, bytes]] = []

        def sign(size: int, tree_root: bytes) -> bytes:
            seen.append((size, tree_root))
            return fake_note(size, tree_root)

        store.append(leaves(3), sign)
        store.append([b"x"], sign)
        hashes = hashes_of(store)
        assert seen == [(3, root(hashes[:3])), (4, root(hashes))]
        assert store.latest_checkpoint() == StoredCheckpoint(
            4, root(hashes), fake_note(4, root(hashes))
        )
        # Nothing new: the current size already has a checkpoint, so nothing is signed.
        store.append([b"x"], sign)
        assert len(seen) == 2

    def test_a_failing_signer_appends_nothing(self, store: LogStore) -> None:
        store.append(leaves(2))

        def refuse(size: int, tree_root: bytes) -> bytes:
            raise RuntimeError("the signing key is not available")

        with pytest.raises(RuntimeError):
            store.append([b"x", b"y"], refuse)
        with pytest.raises(InputError):
            store.append([b"x"], lambda size, tree_root: b"")  # an empty note
        assert store.size() == 2
        assert store.index_of(leaf_hash(b"x")) is None
        assert store.latest_checkpoint() is None
        assert store.append([b"z"]) == [2]
        assert store.audit().ok

    # --- blobs -----------------------------------------------------------------------------

    def test_blobs_are_addressed_by_their_plain_sha256(self, store: LogStore) -> None:
        digest = store.put_blob(b"hello")
        assert digest == "sha256:" + hashlib.sha256(b"hello").hexdigest()
        assert store.put_blob(b"hello") == digest  # idempotent
        assert store.get_blob(digest) == b"hello"
        assert store.get_blob(store.put_blob(b"")) == b""
        assert store.get_blob("sha256:" + "0" * 64) is None

    @pytest.mark.parametrize(
        "bad", ["sha256:" + "A" * 64, "sha256:abc", "2cf24dba" * 8, "sha512:" + "0" * 64, 5]
    )
    def test_a_malformed_blob_digest_is_refused(self, store: LogStore, bad: object) -> None:
        with pytest.raises(InputError):
            store.get_blob(bad)  # type: ignore[arg-type]

    def test_put_blob_takes_bytes(self, store: LogStore) -> None:
        with pytest.raises(InputError):
            store.put_blob("text")  # type: ignore[arg-type]

    # --- erasure ---------------------------------------------------------------------------

    def test_erase_blobs_deletes_them_and_records_each_erasure(self, store: LogStore) -> None:
        kept, gone = store.put_blob(b"kept"), store.put_blob(b"a person's prompt")
        never = "sha256:" + hashlib.sha256(b"never stored").hexdigest()
        at = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
        assert store.erase_blobs([gone, never, gone], reason="ticket 17", erased_at=at) == [gone]
        assert store.get_blob(gone) is None
        assert store.get_blob(kept) == b"kept"
        assert store.erasure(gone) == Erasure(gone, "2026-03-01T12:30:00Z", "ticket 17")
        assert store.erasure(kept) is None
        assert store.erasure(never) is None  # not stored: nothing was erased
        assert list(store.iter_erasures()) == [Erasure(gone, "2026-03-01T12:30:00Z", "ticket 17")]
        assert store.erase_blobs([gone]) == []  # already gone
        assert store.erase_blobs([]) == []
        assert store.audit().ok

    def test_an_erasure_without_a_time_is_stamped_now(self, store: LogStore) -> None:
        digest = store.put_blob(b"x")
        before = datetime.now(UTC).replace(microsecond=0)
        store.erase_blobs([digest])
        found = store.erasure(digest)
        assert found is not None and found.reason == ""
        stamped = datetime.fromisoformat(found.erased_at.replace("Z", "+00:00"))
        assert before <= stamped <= datetime.now(UTC)

    def test_erasure_leaves_the_tree_its_proofs_and_checkpoints(self, store: LogStore) -> None:
        data = leaves(11)
        blobs = [f"content {i}".encode() for i in range(5)]
        store.append(data, fake_note, blobs=blobs)
        size = store.size()
        before = (
            store.root(),
            [store.root(n) for n in range(size + 1)],
            [store.inclusion_proof(i, size) for i in range(size)],
            [store.consistency_proof(n, size) for n in range(1, size)],
            list(store.iter_checkpoints()),
            list(store.iter_entries()),
        )
        digests = ["sha256:" + hashlib.sha256(b).hexdigest() for b in blobs]
        assert store.erase_blobs(digests[1:4], reason="retention") == digests[1:4]
        after = (
            store.root(),
            [store.root(n) for n in range(size + 1)],
            [store.inclusion_proof(i, size) for i in range(size)],
            [store.consistency_proof(n, size) for n in range(1, size)],
            list(store.iter_checkpoints()),
            list(store.iter_entries()),
        )
        assert after == before
        assert [store.get_blob(d) is None for d in digests] == [False, True, True, True, False]
        report = store.audit(check=False)
        assert report.ok, report.problems
        assert report.blobs == 2

    def test_erasing_a_declaration_keeps_the_lookups_consistent(self, store: LogStore) -> None:
        first = DECLARATION_BLOB_PREFIX + b'{"n":1}}'
        newest = DECLARATION_BLOB_PREFIX + b'{"n":2}}'
        ids = ["sha256:" + hashlib.sha256(b"decl %d" % i).hexdigest() for i in (1, 2)]
        digests = ["sha256:" + hashlib.sha256(b).hexdigest() for b in (first, newest)]
        rows = list(zip(ids, digests, strict=True))
        store.append([b"leaf"], blobs=[first, newest], lookups=AppendLookups([None], rows))
        # (A backend may ignore an append's lookups: the catch-up adds the same rows.)
        store.add_lookups([], rows, entries=1, blobs=store.max_blob_rowid())
        assert store.find_declaration(ids[1]) == digests[1]
        # Erasing the newest blob: the blobs' mark must not stay above the newest blob, or a
        # blob stored next could be numbered at or below it and never be indexed.
        assert store.erase_blobs([digests[1]]) == [digests[1]]
        # The lookup row stays: it names the blob, whose erasure is recorded.
        assert store.find_declaration(ids[1]) == digests[1]
        assert store.get_blob(digests[1]) is None
        assert store.erasure(digests[1]) is not None
        assert store.find_declaration(ids[0]) == digests[0]
        assert store.lookup_state()[1] <= store.max_blob_rowid()
        mark = store.lookup_state()[1]
        later = DECLARATION_BLOB_PREFIX + b'{"n":3}}'
        store.put_blob(later)
        assert later in [data for _, data in store.iter_declaration_blobs(mark)]
        assert first not in [data for _, data in store.iter_declaration_blobs(mark)]
        assert newest not in [data for _, data in store.iter_declaration_blobs(0)]
        assert store.audit().ok

    def test_bytes_stored_again_after_an_erasure_are_stored(self, store: LogStore) -> None:
        digest = store.put_blob(b"used again")
        store.erase_blobs([digest], reason="first", erased_at=datetime(2026, 1, 1, tzinfo=UTC))
        mark = store.max_blob_rowid()
        assert store.put_blob(b"used again") == digest
        assert store.get_blob(digest) == b"used again"
        assert store.max_blob_rowid() > mark
        assert store.erasure(digest) == Erasure(digest, "2026-01-01T00:00:00Z", "first")
        store.erase_blobs([digest], reason="second", erased_at=datetime(2026, 2, 1, tzinfo=UTC))
        assert store.get_blob(digest) is None
        assert store.erasure(digest) == Erasure(digest, "2026-02-01T00:00:00Z", "second")
        assert len(list(store.iter_erasures())) == 1

    @pytest.mark.parametrize(
        ("digests", "reason"),
        [(["sha256:abc"], ""), ([5], ""), (["sha256:" + "0" * 64], "two\nlines"), ([], 5)],
    )
    def test_a_malformed_erasure_is_refused(
        self, store: LogStore, digests: list[object], reason: object
    ) -> None:
        with pytest.raises(InputError):
            store.erase_blobs(digests, reason=reason)  # type: ignore[arg-type]
        with pytest.raises(InputError):
            store.erasure("sha256:abc")

    # --- audit -----------------------------------------------------------------------------

    def test_audit_rehashes_a_healthy_log(self, store: LogStore) -> None:
        empty = store.audit(check=False)
        assert (empty.size, empty.entries, empty.nodes, empty.problems) == (0, 0, 0, ())
        store.append(leaves(100))
        store.save_checkpoint(37, b"note")
        store.append(leaves(13, "more"), fake_note)
        store.put_blob(b"a blob")
        report = store.audit(check=False)
        assert report.ok, report.problems
        assert store.audit() == report  # check=True returns the same report when all is well
        assert (report.size, report.entries, report.checkpoints, report.blobs) == (113, 113, 2, 1)
        # One stored hash per complete subtree above the leaves: sum of size >> level.
        assert report.nodes == sum(113 >> level for level in range(1, 8))


_names = itertools.count()
