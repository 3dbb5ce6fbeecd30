"""runid.merkle against a naive RFC 9162 oracle, mutations of valid proofs, and properties.

The oracle below is written straight from the recursive definitions in RFC 9162 section 2.1
(MTH, PATH, PROOF/SUBPROOF) with hashlib alone; it shares no code with runid.merkle. Its only
concession to speed is memoising MTH of a leaf range, which changes no result.
"""

from __future__ import annotations

import contextlib
import doctest
import hashlib
import random
from collections.abc import Callable
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import runid.merkle
from runid.errors import InputError, RunidError, VerificationError
from runid.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    CompactRange,
    RootMismatchError,
    consistency_proof,
    consistency_proof_ranges,
    inclusion_proof,
    inclusion_proof_ranges,
    leaf_hash,
    node_hash,
    root,
    root_from_inclusion_proof,
    roots_from_consistency_proof,
    verify_consistency,
    verify_inclusion,
)

# --- the oracle: RFC 9162 section 2.1, recursively ------------------------------------------

MAX_SIZE = 300  # every tree size 1..MAX_SIZE is checked exhaustively
DATA = [f"leaf {i}".encode() for i in range(2 * MAX_SIZE + 2)]
LEAVES = [hashlib.sha256(b"\x00" + d).digest() for d in DATA]


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1), found the slow, obvious way."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _oracle_mth_of(data: list[bytes]) -> bytes:
    """MTH(D[n]) for a list of leaf data, no memo: for arbitrary (hypothesis) inputs."""
    n = len(data)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = _k(n)
    return hashlib.sha256(b"\x01" + _oracle_mth_of(data[:k]) + _oracle_mth_of(data[k:])).digest()


@cache
def mth(begin: int, end: int) -> bytes:
    """MTH(D[begin:end]) over DATA."""
    n = end - begin
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + DATA[begin]).digest()
    k = _k(n)
    return hashlib.sha256(b"\x01" + mth(begin, begin + k) + mth(begin + k, end)).digest()


# Proof elements are tagged with the side the sibling is on: "L" (hashed as left child), "R"
# (right child), or "seed" (the old subtree root at the start of a consistency proof). The
# sequence of tags is the proof's shape: all a verifier learns from the sizes.
Tagged = list[tuple[str, bytes]]


def path(m: int, begin: int, end: int) -> Tagged:
    """PATH(m, D[begin:end]), m relative to begin."""
    n = end - begin
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*path(m, begin, begin + k), ("R", mth(begin + k, end))]
    return [*path(m - k, begin + k, end), ("L", mth(begin, begin + k))]


def subproof(m: int, begin: int, end: int, b: bool) -> Tagged:
    """SUBPROOF(m, D[begin:end], b), m relative to begin."""
    n = end - begin
    if m == n:
        return [] if b else [("seed", mth(begin, end))]
    k = _k(n)
    if m <= k:
        return [*subproof(m, begin, begin + k, b), ("R", mth(begin + k, end))]
    return [*subproof(m - k, begin + k, end, False), ("L", mth(begin, begin + k))]


def oracle_inclusion(index: int, size: int) -> list[bytes]:
    return [h for _, h in path(index, 0, size)]


def oracle_consistency(size1: int, size2: int) -> list[bytes]:
    return [h for _, h in subproof(size1, 0, size2, True)] if size1 < size2 else []


def inclusion_shape(index: int, size: int) -> list[str]:
    return [tag for tag, _ in path(index, 0, size)]


def consistency_shape(size1: int, size2: int) -> list[str]:
    return [tag for tag, _ in subproof(size1, 0, size2, True)]


def hashes_of(ranges: list[tuple[int, int]]) -> list[bytes]:
    return [mth(a, b) for a, b in ranges]


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# A spread of sizes for the costlier tests: tiny trees, both sides of powers of two, odd sizes.
SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 255]
SIZES += [256, 257, MAX_SIZE]


def sample_indices(size: int) -> list[int]:
    picks = {0, size // 2, size - 1, *random.Random(size).sample(range(size), min(size, 3))}
    return sorted(picks)


def sample_pairs() -> list[tuple[int, int]]:
    rng = random.Random(9162)
    pairs = {(s1, s2) for s2 in SIZES for s1 in sample_indices(s2) if 0 < s1 < s2}
    pairs |= {(s1, s2) for s2 in SIZES for s1 in range(1, min(s2, 9))}
    for _ in range(40):
        size1, size2 = sorted(rng.sample(range(1, MAX_SIZE + 1), 2))
        pairs.add((size1, size2))
    return sorted(pairs)


PAIRS = sample_pairs()


# --- hashing -----------------------------------------------------------------------------------


def test_leaf_and_node_hashes_use_the_rfc_9162_domain_prefixes() -> None:
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert (
        node_hash(b"l" * 32, b"r" * 32) == hashlib.sha256(b"\x01" + b"l" * 32 + b"r" * 32).digest()
    )
    # A two-leaf root must never equal the leaf hash of the concatenated children.
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert root([a, b]) != leaf_hash(a + b)


def test_empty_tree_root_is_sha256_of_the_empty_string() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root([]) == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT
    assert HASH_SIZE == len(EMPTY_ROOT) == 32


def test_root_matches_oracle_for_every_size() -> None:
    for n in range(2 * MAX_SIZE + 1):
        assert root(LEAVES[:n]) == mth(0, n), n


def test_odd_nodes_are_carried_up_not_duplicated() -> None:
    a, b, c = LEAVES[:3]
    assert root([a, b, c]) == node_hash(node_hash(a, b), c)
    assert root([a, b, c]) != node_hash(node_hash(a, b), node_hash(c, c))


def test_root_accepts_any_sequence() -> None:
    assert root(tuple(LEAVES[:5])) == mth(0, 5)


# --- compact range -----------------------------------------------------------------------------


def test_compact_range_root_equals_root_after_every_append() -> None:
    cr = CompactRange()
    for n, leaf in enumerate(LEAVES, start=1):
        cr.append(leaf)
        assert cr.size == n
        assert cr.root() == mth(0, n), n
        assert len(cr.hashes) == len(cr.ranges) == n.bit_count()
        assert list(cr.hashes) == hashes_of(cr.ranges)


def test_compact_range_visits_every_completed_subtree_with_its_hash() -> None:
    seen: list[tuple[int, int, bytes]] = []
    cr = CompactRange()
    for leaf in LEAVES[:64]:
        cr.append(leaf, lambda b, e, h: seen.append((b, e, h)))
    # Every node of the perfect 64-leaf tree, exactly once: 64 leaves + 63 interior nodes.
    assert len(seen) == 127
    assert len({(b, e) for b, e, _ in seen}) == 127
    for b, e, h in seen:
        assert h == mth(b, e)
        width = e - b
        assert width & (width - 1) == 0 and b % width == 0


def test_every_proof_range_hash_folds_from_perfect_subtrees() -> None:
    # What a store holding only perfect-subtree hashes does to answer a proof (see the
    # inclusion_proof_ranges docstring): split a short range by the set bits of its length.
    def perfect_split(begin: int, end: int) -> list[tuple[int, int]]:
        out = []
        for bit in reversed(range((end - begin).bit_length())):
            if (end - begin) >> bit & 1:
                out.append((begin, begin + (1 << bit)))
                begin += 1 << bit
        return out

    ranges = set()
    for size in range(1, 130):
        for index in range(size):
            ranges.update(inclusion_proof_ranges(index, size))
        for size1 in range(1, size):
            ranges.update(consistency_proof_ranges(size1, size))
    for begin, end in ranges:
        parts = perfect_split(begin, end)
        for a, b in parts:
            assert a % (b - a) == 0  # aligned: a node a compact range would have reported
        folded = CompactRange(end - begin, hashes_of(parts)).root()
        assert folded == mth(begin, end), (begin, end)


def test_compact_range_resumes_from_stored_hashes() -> None:
    for size in (0, 1, 5, 6, 7, 8, 100):
        cr = CompactRange()
        for leaf in LEAVES[:size]:
            cr.append(leaf)
        resumed = CompactRange(cr.size, cr.hashes)
        assert resumed.root() == cr.root() == mth(0, size)
        for n in range(size, size + 20):
            resumed.append(LEAVES[n])
            assert resumed.root() == mth(0, n + 1)


def test_compact_range_rejects_malformed_state() -> None:
    with pytest.raises(InputError):
        CompactRange(3, [EMPTY_ROOT])  # 3 leaves need 2 subtree hashes
    with pytest.raises(InputError):
        CompactRange(1, [b"short"])
    with pytest.raises(InputError):
        CompactRange(-1, [])
    with pytest.raises(InputError):
        CompactRange().append(b"leaf data, not a leaf hash")
    assert "size=0" in repr(CompactRange())


# --- proof generation against the oracle -------------------------------------------------------


def test_inclusion_proof_ranges_match_oracle_for_every_index_and_size() -> None:
    for size in range(1, MAX_SIZE + 1):
        tree_root = mth(0, size)
        for index in range(size):
            proof = hashes_of(inclusion_proof_ranges(index, size))
            assert proof == oracle_inclusion(index, size), (index, size)
            assert root_from_inclusion_proof(LEAVES[index], index, size, proof) == tree_root
            verify_inclusion(LEAVES[index], index, size, proof, tree_root)


def test_consistency_proof_ranges_match_oracle_for_every_pair_of_sizes() -> None:
    for size2 in range(1, MAX_SIZE + 1):
        root2 = mth(0, size2)
        for size1 in range(1, size2 + 1):
            proof = hashes_of(consistency_proof_ranges(size1, size2))
            assert proof == oracle_consistency(size1, size2), (size1, size2)
            root1 = mth(0, size1)
            assert roots_from_consistency_proof(size1, size2, proof, root1) == (root1, root2)
            verify_consistency(size1, size2, proof, root1, root2)


def test_inclusion_proof_from_leaf_hashes_matches_oracle() -> None:
    for size in range(1, MAX_SIZE + 1):
        indices = range(size) if size <= 48 else sample_indices(size)
        for index in indices:
            # Extra leaves after ``size`` must be ignored.
            assert inclusion_proof(LEAVES, index, size) == oracle_inclusion(index, size)


def test_consistency_proof_from_leaf_hashes_matches_oracle() -> None:
    for size2 in range(1, 49):
        for size1 in range(1, size2 + 1):
            assert consistency_proof(LEAVES, size1, size2) == oracle_consistency(size1, size2)
    for size1, size2 in PAIRS:
        assert consistency_proof(LEAVES, size1, size2) == oracle_consistency(size1, size2)


def test_proof_generation_rejects_bad_arguments() -> None:
    leaves = LEAVES[:8]
    bad_inclusion = [(8, 8), (-1, 8), (0, 0), (0, 9), (True, 8)]
    for index, size in bad_inclusion:
        with pytest.raises(InputError):
            inclusion_proof(leaves, index, size)
    for size1, size2 in [(5, 4), (0, 8), (-1, 8), (1, 9)]:
        with pytest.raises(InputError):
            consistency_proof(leaves, size1, size2)
    with pytest.raises(InputError, match="leaf hash 1"):
        root([LEAVES[0], b"raw data"])
    with pytest.raises(InputError):
        inclusion_proof([LEAVES[0], "text"], 0, 2)  # type: ignore[list-item]
    with pytest.raises(InputError, match="empty tree"):
        consistency_proof_ranges(0, 5)


# --- mutations of valid proofs -----------------------------------------------------------------


def _inclusion_cases() -> list[tuple[int, int]]:
    return [(index, size) for size in SIZES for index in sample_indices(size)]


def _mismatches(verify: Callable[..., None], *args: object) -> bool:
    # Cheaper than pytest.raises in the hot loops below, which make ~10^5 calls.
    try:
        verify(*args)
    except RootMismatchError:
        return True
    return False


def test_flipping_any_bit_of_an_inclusion_proof_root_or_leaf_fails() -> None:
    for size in SIZES:
        for index in sorted({0, size // 2, size - 1}):
            proof = oracle_inclusion(index, size)
            leaf, tree_root = LEAVES[index], mth(0, size)
            accepted = []
            for bit in range(HASH_SIZE * 8):
                for i in range(len(proof)):
                    bad = [*proof[:i], flip(proof[i], bit), *proof[i + 1 :]]
                    if not _mismatches(verify_inclusion, leaf, index, size, bad, tree_root):
                        accepted.append(f"proof[{i}] bit {bit}")
                if not _mismatches(
                    verify_inclusion, leaf, index, size, proof, flip(tree_root, bit)
                ):
                    accepted.append(f"root bit {bit}")
                if not _mismatches(
                    verify_inclusion, flip(leaf, bit), index, size, proof, tree_root
                ):
                    accepted.append(f"leaf bit {bit}")
            assert accepted == [], (index, size)


def test_flipping_any_bit_of_a_consistency_proof_or_root_fails() -> None:
    for size1, size2 in PAIRS[::5]:
        proof = oracle_consistency(size1, size2)
        root1, root2 = mth(0, size1), mth(0, size2)
        accepted = []
        for bit in range(HASH_SIZE * 8):
            for i in range(len(proof)):
                bad = [*proof[:i], flip(proof[i], bit), *proof[i + 1 :]]
                if not _mismatches(verify_consistency, size1, size2, bad, root1, root2):
                    accepted.append(f"proof[{i}] bit {bit}")
            if not _mismatches(verify_consistency, size1, size2, proof, flip(root1, bit), root2):
                accepted.append(f"root1 bit {bit}")
            if not _mismatches(verify_consistency, size1, size2, proof, root1, flip(root2, bit)):
                accepted.append(f"root2 bit {bit}")
        assert accepted == [], (size1, size2)


def _shortened_and_lengthened(proof: list[bytes], extra: list[bytes]) -> list[list[bytes]]:
    """Every proof with one hash removed, and with one of ``extra`` inserted anywhere."""
    out = [proof[:i] + proof[i + 1 :] for i in range(len(proof))]
    for h in extra:
        out += [[*proof[:i], h, *proof[i:]] for i in range(len(proof) + 1)]
    return out


def test_truncated_or_extended_inclusion_proofs_fail() -> None:
    for index, size in _inclusion_cases():
        proof = oracle_inclusion(index, size)
        leaf, tree_root = LEAVES[index], mth(0, size)
        for bad in _shortened_and_lengthened(proof, [tree_root, leaf, EMPTY_ROOT, *proof[:1]]):
            with pytest.raises(VerificationError):
                verify_inclusion(leaf, index, size, bad, tree_root)


def test_truncated_or_extended_consistency_proofs_fail() -> None:
    for size1, size2 in PAIRS:
        proof = oracle_consistency(size1, size2)
        root1, root2 = mth(0, size1), mth(0, size2)
        for bad in _shortened_and_lengthened(proof, [root1, root2, EMPTY_ROOT, proof[0]]):
            with pytest.raises(VerificationError):
                verify_consistency(size1, size2, bad, root1, root2)


def test_an_inclusion_proof_holds_for_no_other_index() -> None:
    for size in SIZES:
        for index in sample_indices(size):
            proof, tree_root = oracle_inclusion(index, size), mth(0, size)
            for other in range(size):
                if other != index:
                    with pytest.raises(VerificationError):
                        verify_inclusion(LEAVES[index], other, size, proof, tree_root)


def test_a_changed_tree_size_verifies_only_if_the_proof_shape_is_the_same() -> None:
    # A proof does not commit to the tree size: the signed checkpoint that carries the root does.
    # A different size is accepted exactly when the proof would hash the same siblings on the
    # same sides (e.g. leaf 0 of 3 and of 4), never otherwise; index changes always fail (above).
    for index, size in _inclusion_cases():
        proof, tree_root = oracle_inclusion(index, size), mth(0, size)
        shape = inclusion_shape(index, size)
        for other in range(1, 2 * size + 2):
            if other == size:
                continue
            if other > index and inclusion_shape(index, other) == shape:
                verify_inclusion(LEAVES[index], index, other, proof, tree_root)
            else:
                with pytest.raises(VerificationError):
                    verify_inclusion(LEAVES[index], index, other, proof, tree_root)


def test_changed_consistency_sizes_verify_only_if_the_proof_shape_is_the_same() -> None:
    for size1, size2 in PAIRS[::2]:
        proof, root1, root2 = oracle_consistency(size1, size2), mth(0, size1), mth(0, size2)
        shape = consistency_shape(size1, size2)
        others = {(size1 + d1, size2 + d2) for d1 in (-2, -1, 0, 1, 2) for d2 in (-2, -1, 0, 1, 2)}
        others |= {(size1 ^ 2, size2), (size1, size2 * 2), (size1, size2 // 2), (0, size2)}
        others |= {(s1, size2) for s1 in range(1, size2 + 1)}
        others.discard((size1, size2))
        for other1, other2 in sorted(others):
            same = 0 < other1 < other2 and consistency_shape(other1, other2) == shape
            if same:
                verify_consistency(other1, other2, proof, root1, root2)
            else:
                with pytest.raises(VerificationError):
                    verify_consistency(other1, other2, proof, root1, root2)


def test_swapped_roots_fail() -> None:
    for size1, size2 in PAIRS:
        proof = oracle_consistency(size1, size2)
        with pytest.raises(VerificationError):
            verify_consistency(size1, size2, proof, mth(0, size2), mth(0, size1))


# --- special cases and malformed input ---------------------------------------------------------


def test_equal_sizes_need_an_empty_proof_and_equal_roots() -> None:
    r = mth(0, 5)
    verify_consistency(5, 5, [], r, r)
    assert roots_from_consistency_proof(5, 5, [], r) == (r, r)
    with pytest.raises(RootMismatchError):
        verify_consistency(5, 5, [], r, mth(0, 4))
    with pytest.raises(VerificationError, match="must be empty"):
        verify_consistency(5, 5, [r], r, r)


def test_consistency_from_the_empty_tree_is_rejected() -> None:
    # As transparency-dev/merkle does: every tree extends the empty one, so such a "proof" would
    # accept any root2; callers skip the check instead of getting a vacuous success.
    for size2 in (0, 1, 8):
        with pytest.raises(VerificationError, match="empty tree"):
            verify_consistency(0, size2, [], EMPTY_ROOT, mth(0, size2))


def test_single_leaf_tree_needs_an_empty_inclusion_proof() -> None:
    verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[0])
    with pytest.raises(VerificationError, match="must have 0 hashes"):
        verify_inclusion(LEAVES[0], 0, 1, [LEAVES[0]], LEAVES[0])


@pytest.mark.parametrize(
    ("index", "size", "message"),
    [
        (8, 8, "not in a tree"),
        (9, 8, "not in a tree"),
        (0, 0, "not in a tree"),
        (-1, 8, "integer in"),
        (2**64 - 1, 8, "not in a tree"),
        (0, 2**64, "integer in"),
        (True, 8, "integer in"),
        (1.0, 8, "integer in"),
        ("1", 8, "integer in"),
    ],
)
def test_inclusion_rejects_bad_index_or_size(index: object, size: object, message: str) -> None:
    proof = oracle_inclusion(1, 8)
    with pytest.raises(VerificationError, match=message):
        verify_inclusion(LEAVES[1], index, size, proof, mth(0, 8))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("size1", "size2", "message"),
    [
        (5, 4, "larger than"),
        (-1, 8, "integer in"),
        (3, 2**64, "integer in"),
        (False, 8, "integer in"),
        (0, 8, "empty tree"),
    ],
)
def test_consistency_rejects_bad_sizes(size1: object, size2: object, message: str) -> None:
    proof = oracle_consistency(3, 8)
    with pytest.raises(VerificationError, match=message):
        verify_consistency(size1, size2, proof, mth(0, 3), mth(0, 8))  # type: ignore[arg-type]


def test_malformed_hashes_are_rejected_before_any_hashing() -> None:
    proof, r = oracle_inclusion(2, 8), mth(0, 8)
    for bad in (b"", b"\x00" * 31, b"\x00" * 33, bytearray(32), "00" * 32, None):
        with pytest.raises(VerificationError, match="32 bytes"):
            verify_inclusion(bad, 2, 8, proof, r)  # type: ignore[arg-type]
        with pytest.raises(VerificationError, match="32 bytes"):
            verify_inclusion(LEAVES[2], 2, 8, proof, bad)  # type: ignore[arg-type]
        with pytest.raises(VerificationError, match=r"proof\[1\]"):
            verify_inclusion(LEAVES[2], 2, 8, [proof[0], bad, proof[2]], r)  # type: ignore[list-item]
        with pytest.raises(VerificationError, match="root2"):
            verify_consistency(3, 8, oracle_consistency(3, 8), mth(0, 3), bad)  # type: ignore[arg-type]
    for not_a_list in (None, b"x" * 32, {"a": 1}):
        with pytest.raises(VerificationError, match="list of hashes"):
            verify_inclusion(LEAVES[2], 2, 8, not_a_list, r)  # type: ignore[arg-type]


def test_root_mismatch_carries_expected_and_computed_roots() -> None:
    proof, good = oracle_inclusion(3, 8), mth(0, 8)
    wrong = mth(0, 7)
    with pytest.raises(RootMismatchError) as info:
        verify_inclusion(LEAVES[3], 3, 8, proof, wrong)
    err = info.value
    assert (err.expected, err.computed) == (wrong, good)
    assert wrong.hex() in str(err) and good.hex() in str(err)
    assert isinstance(err, VerificationError) and isinstance(err, RunidError)
    assert err.exit_code == 7 and err.code == "E_VERIFY" and err.hint


def test_length_errors_say_how_long_the_proof_must_be() -> None:
    proof = oracle_inclusion(0, 8)
    with pytest.raises(VerificationError, match="must have 3 hashes, it has 2"):
        verify_inclusion(LEAVES[0], 0, 8, proof[:2], mth(0, 8))
    with pytest.raises(VerificationError, match="must have 3 hashes, it has 4"):
        verify_inclusion(LEAVES[0], 0, 8, [*proof, proof[0]], mth(0, 8))
    cproof = oracle_consistency(6, 8)
    with pytest.raises(VerificationError, match="must have 3 hashes, it has 0"):
        verify_consistency(6, 8, [], mth(0, 6), mth(0, 8))
    with pytest.raises(VerificationError, match="must have 3 hashes, it has 4"):
        verify_consistency(6, 8, [*cproof, cproof[0]], mth(0, 6), mth(0, 8))


# --- properties --------------------------------------------------------------------------------

leaf_data = st.lists(st.binary(max_size=16), min_size=1, max_size=70)


@settings(max_examples=60, deadline=None)
@given(data=leaf_data, pick=st.integers(min_value=0))
def test_any_tree_proves_inclusion_of_each_of_its_leaves(data: list[bytes], pick: int) -> None:
    leaves = [leaf_hash(d) for d in data]
    size = len(leaves)
    index = pick % size
    tree_root = root(leaves)
    assert tree_root == _oracle_mth_of(data)
    verify_inclusion(leaves[index], index, size, inclusion_proof(leaves, index, size), tree_root)


@settings(max_examples=60, deadline=None)
@given(data=leaf_data, pick=st.integers(min_value=0))
def test_any_prefix_of_a_tree_is_consistent_with_it(data: list[bytes], pick: int) -> None:
    leaves = [leaf_hash(d) for d in data]
    size2 = len(leaves)
    size1 = pick % size2 + 1
    proof = consistency_proof(leaves, size1, size2)
    verify_consistency(size1, size2, proof, root(leaves[:size1]), root(leaves))


@settings(max_examples=40, deadline=None)
@given(data=leaf_data)
def test_compact_range_agrees_with_root_on_any_data(data: list[bytes]) -> None:
    cr = CompactRange()
    for n, d in enumerate(data, start=1):
        cr.append(leaf_hash(d))
        assert cr.root() == _oracle_mth_of(data[:n])


hash_like = st.one_of(
    st.binary(min_size=HASH_SIZE, max_size=HASH_SIZE),
    st.sampled_from([LEAVES[0], mth(0, 8), EMPTY_ROOT]),
    st.binary(max_size=40),
    st.none(),
    st.text(max_size=4),
)
size_like = st.one_of(
    st.integers(min_value=0, max_value=20),
    st.integers(),
    st.sampled_from([2**64 - 1, 2**64, -1]),
    st.booleans(),
    st.none(),
)
proof_like = st.one_of(st.lists(hash_like, max_size=8), st.none(), st.binary(max_size=64))


@settings(max_examples=200, deadline=None)
@given(leaf=hash_like, index=size_like, size=size_like, proof=proof_like, tree_root=hash_like)
def test_verify_inclusion_raises_only_verification_error(
    leaf: object, index: object, size: object, proof: object, tree_root: object
) -> None:
    with contextlib.suppress(VerificationError):
        verify_inclusion(leaf, index, size, proof, tree_root)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(size1=size_like, size2=size_like, proof=proof_like, root1=hash_like, root2=hash_like)
def test_verify_consistency_raises_only_verification_error(
    size1: object, size2: object, proof: object, root1: object, root2: object
) -> None:
    with contextlib.suppress(VerificationError):
        verify_consistency(size1, size2, proof, root1, root2)  # type: ignore[arg-type]


def test_random_proofs_of_the_right_length_never_verify() -> None:
    rng = random.Random(6962)
    for size in SIZES:
        index = rng.randrange(size)
        fake = [rng.randbytes(32) for _ in oracle_inclusion(index, size)]
        if fake:
            with pytest.raises(RootMismatchError):
                verify_inclusion(LEAVES[index], index, size, fake, mth(0, size))


# --- documentation -----------------------------------------------------------------------------


def test_docstring_examples_run() -> None:
    failed, attempted = doctest.testmod(runid.merkle)
    assert attempted > 20
    assert failed == 0
