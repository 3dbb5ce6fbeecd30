"""RFC 9162 (Certificate Transparency v2) Merkle tree hashing, proofs and verifiers.

The log is a Merkle tree over leaf hashes, hashed exactly as RFC 9162 section 2.1 says:

* ``leaf_hash(d) = SHA-256(0x00 || d)`` and ``node_hash(l, r) = SHA-256(0x01 || l || r)``: the
  prefixes keep a leaf from passing for an interior node (second-preimage attacks);
* the root of ``n`` leaves splits them at the largest power of two smaller than ``n``; an odd
  node is carried up unchanged, never paired with a copy of itself;
* the root of the empty tree is ``SHA-256("")`` (:data:`EMPTY_ROOT`), not 32 zero bytes.

Everything here is pure (bytes in, bytes out, no I/O), in three parts:

* building over leaf hashes: :func:`root`, :func:`inclusion_proof`, :func:`consistency_proof`,
  and :class:`CompactRange` (the root of a growing log in O(log n) space); wrong arguments raise
  :class:`~runid.errors.InputError`;
* planning, for a store that keeps subtree hashes: :func:`inclusion_proof_ranges` and
  :func:`consistency_proof_ranges` name the leaf ranges whose hashes form a proof;
* verifying, from a proof and trusted roots alone: :func:`root_from_inclusion_proof` and
  :func:`roots_from_consistency_proof` compute roots, :func:`verify_inclusion` and
  :func:`verify_consistency` compare them. They fail closed: anything wrong raises
  :class:`~runid.errors.VerificationError`, a differing root :class:`RootMismatchError`.

>>> leaves = [leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")]
>>> root(leaves) == node_hash(node_hash(leaves[0], leaves[1]), leaves[2])
True
>>> verify_inclusion(leaves[2], 2, 3, inclusion_proof(leaves, 2, 3), root(leaves))
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Final

from .errors import InputError, VerificationError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "RootMismatchError",
    "consistency_proof",
    "consistency_proof_ranges",
    "inclusion_proof",
    "inclusion_proof_ranges",
    "leaf_hash",
    "node_hash",
    "root",
    "root_from_inclusion_proof",
    "roots_from_consistency_proof",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE: Final = 32
"""Length in bytes of every hash in the tree (SHA-256)."""

EMPTY_ROOT: Final = hashlib.sha256(b"").digest()
"""Root of the tree with no leaves: SHA-256 of the empty string (RFC 9162 section 2.1.1)."""

# RFC 9162 tree sizes and leaf indices are uint64; nothing larger can appear in a valid proof.
_MAX_SIZE: Final = 1 << 64

_sha256 = hashlib.sha256


class RootMismatchError(VerificationError):
    """A proof leads to a different root than the one trusted.

    ``expected``: the root the caller trusts (from a checkpoint); ``computed``: the root the
    proof leads to. Raw bytes (the message shows them in hex).
    """

    def __init__(self, what: str, *, expected: bytes, computed: bytes) -> None:
        super().__init__(
            f"{what}: the proof leads to root {computed.hex()}, expected {expected.hex()}",
            hint="the data is not in the tree with that root, or the proof, the sizes or the "
            "root were altered; fetch the proof and checkpoint again from the log",
        )
        self.expected = expected
        self.computed = computed


# --- hashing ---------------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || ``data``).

    >>> leaf_hash(b"").hex()
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d'
    """
    h = _sha256(b"\x00")
    h.update(data)  # leaves are whole records: update() avoids copying them to prepend 0x00
    return h.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 || ``left`` || ``right``).

    >>> node_hash(leaf_hash(b"a"), leaf_hash(b"b")).hex()[:16]
    'b137985ff484fb60'
    """
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``): where MTH splits ``n`` leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def _mth(hashes: list[bytes]) -> bytes:
    """MTH of a non-empty list of leaf hashes, built level by level.

    Pairing neighbours bottom-up and carrying an odd last node up unchanged builds exactly the
    tree RFC 9162 defines by splitting at the largest power of two: the left part is a perfect
    subtree, and the same holds again for the right part. It avoids recursion and slicing.
    """
    level = hashes
    while len(level) > 1:
        carry = level[-1] if len(level) & 1 else None
        level = [
            _sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if carry is not None:
            level.append(carry)
    return level[0]


# --- argument checks -------------------------------------------------------------------------


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _describe(value: object) -> str:
    if isinstance(value, bytes):
        return f"{len(value)} bytes"
    return f"a {type(value).__name__}"


def _input_size(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{name} must be a non-negative integer, got {value!r:.40}")
    return value


def _input_leaves(leaf_hashes: Sequence[bytes], size: int) -> list[bytes]:
    """The first ``size`` leaf hashes as a list, each checked to be a 32-byte hash."""
    if size > len(leaf_hashes):
        raise InputError(
            f"tree size {size} is larger than the {len(leaf_hashes)} leaf hashes given"
        )
    hashes = list(leaf_hashes[:size])
    for i, h in enumerate(hashes):
        if not _is_hash(h):
            raise InputError(
                f"leaf hash {i} must be {HASH_SIZE} bytes, got {_describe(h)}",
                hint="pass leaf hashes (leaf_hash(data)), not the leaf data itself",
            )
    return hashes


def _verify_size(value: object, name: str) -> int:
    # Verifiers see untrusted numbers (from JSON, a header, a receipt): anything that is not a
    # uint64 is a failed verification, not a programming error.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _MAX_SIZE:
        raise VerificationError(f"{name} must be an integer in [0, 2^64), got {value!r:.40}")
    return value


def _verify_hash(value: object, name: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise VerificationError(f"{name} must be {HASH_SIZE} bytes, got {_describe(value)}")
    return value


def _verify_proof(proof: object) -> list[bytes]:
    if not isinstance(proof, list | tuple):
        raise VerificationError(f"a proof must be a list of hashes, got {_describe(proof)}")
    return [_verify_hash(p, f"proof[{i}]") for i, p in enumerate(proof)]


# --- building --------------------------------------------------------------------------------


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash (RFC 9162 section 2.1.1) of ``leaf_hashes``; :data:`EMPTY_ROOT` if empty.

    >>> root([]) == EMPTY_ROOT
    True
    >>> a, b = leaf_hash(b"a"), leaf_hash(b"b")
    >>> root([a, b]) == node_hash(a, b)
    True
    """
    hashes = _input_leaves(leaf_hashes, len(leaf_hashes))
    return _mth(hashes) if hashes else EMPTY_ROOT


def inclusion_proof_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges ``[begin, end)`` whose roots form the inclusion proof of leaf ``index``.

    In proof order (from the leaf's sibling up to the root's other child), as RFC 9162 section
    2.1.3.1 defines PATH(index, D[0:size]). Each range is a node of the tree: ``2^k`` leaves from
    a multiple of ``2^k``, or fewer where it ends at ``size``; the hash of a shorter one is
    ``CompactRange(end - begin, hashes).root()`` over the roots of its perfect subtrees, largest
    first. So a store that keeps the subtree hashes :meth:`CompactRange.append` reports can answer
    a proof with O(log n) look-ups.

    >>> inclusion_proof_ranges(2, 5)
    [(3, 4), (0, 2), (4, 5)]
    """
    _input_size(index, "index")
    _input_size(size, "size")
    if index >= size:
        raise InputError(f"leaf index {index} is not in a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    begin, end = 0, size
    # Walk down from the root towards the leaf, noting the sibling at each split.
    while end - begin > 1:
        mid = begin + _split(end - begin)
        if index < mid:
            ranges.append((mid, end))
            end = mid
        else:
            ranges.append((begin, mid))
            begin = mid
    ranges.reverse()
    return ranges


def consistency_proof_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """The leaf ranges whose roots form the consistency proof from ``size1`` to ``size2`` leaves.

    In proof order, as RFC 9162 section 2.1.4.1 defines PROOF(size1, D[0:size2]); each range is
    a node of the tree of ``size2`` leaves (see :func:`inclusion_proof_ranges`). Requires
    ``0 < size1 <= size2``; the proof for ``size1 == size2`` is empty.

    >>> consistency_proof_ranges(3, 7)
    [(2, 3), (3, 4), (0, 2), (4, 7)]
    """
    _input_size(size1, "size1")
    _input_size(size2, "size2")
    if size1 > size2:
        raise InputError(f"size1 {size1} is larger than size2 {size2}")
    if size1 == 0:
        # RFC 9162 defines PROOF only for 0 < m; the verifiers reject size1 == 0 as well.
        raise InputError(
            "no consistency proof exists from the empty tree",
            hint="every log extends the empty tree: skip the consistency check for size1 = 0",
        )
    ranges: list[tuple[int, int]] = []
    begin, end = 0, size2
    # ``whole`` is SUBPROOF's flag b: true while the subtree [begin, end) starts at leaf 0, whose
    # old root the verifier already holds as root1 and so is left out of the proof.
    whole = True
    while True:
        if size1 == end:
            if not whole:
                ranges.append((begin, end))
            break
        mid = begin + _split(end - begin)
        if size1 <= mid:
            ranges.append((mid, end))
            end = mid
        else:
            ranges.append((begin, mid))
            begin = mid
            whole = False
    ranges.reverse()
    return ranges


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """Inclusion proof (RFC 9162 section 2.1.3.1) of leaf ``index`` in the first ``size`` leaves.

    Each leaf hash is hashed once: O(size) time.

    >>> leaves = [leaf_hash(bytes([i])) for i in range(5)]
    >>> proof = inclusion_proof(leaves, 4, 5)
    >>> proof == [root(leaves[:4])]
    True
    """
    hashes = _input_leaves(leaf_hashes, _input_size(size, "size"))
    return [_mth(hashes[a:b]) for a, b in inclusion_proof_ranges(index, size)]


def consistency_proof(leaf_hashes: Sequence[bytes], size1: int, size2: int) -> list[bytes]:
    """Consistency proof (RFC 9162 section 2.1.4.1) from the first ``size1`` to ``size2`` leaves.

    Requires ``0 < size1 <= size2``; O(size2) time.

    >>> leaves = [leaf_hash(bytes([i])) for i in range(4)]
    >>> consistency_proof(leaves, 2, 4) == [node_hash(leaves[2], leaves[3])]
    True
    """
    hashes = _input_leaves(leaf_hashes, _input_size(size2, "size2"))
    return [_mth(hashes[a:b]) for a, b in consistency_proof_ranges(size1, size2)]


# Called with (begin, end, hash) for a subtree of leaves [begin, end); see CompactRange.append.
SubtreeVisitor = Callable[[int, int, bytes], None]


class CompactRange:
    """The root of a growing log, kept as the roots of its perfect subtrees.

    A tree of ``size`` leaves splits into perfect subtrees, one for each set bit of ``size``,
    largest (leftmost) first: 13 leaves are ``[0, 8) [8, 12) [12, 13)``. Holding their roots is
    enough to append the next leaf in amortised O(1) hashes and to compute the tree root in
    O(log n), without keeping the leaves.

    >>> cr = CompactRange()
    >>> for d in (b"a", b"b", b"c"):
    ...     cr.append(leaf_hash(d))
    >>> cr.size, cr.ranges
    (3, [(0, 2), (2, 3)])
    >>> cr.root() == root([leaf_hash(d) for d in (b"a", b"b", b"c")])
    True

    A store can persist ``size`` and ``hashes`` and resume with ``CompactRange(size, hashes)``.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """Resume from ``size`` leaves and the roots of the subtrees in :attr:`ranges`."""
        _input_size(size, "size")
        if len(hashes) != size.bit_count():
            raise InputError(
                f"a compact range of {size} leaves has {size.bit_count()} subtree hashes, "
                f"got {len(hashes)}"
            )
        for i, h in enumerate(hashes):
            if not _is_hash(h):
                raise InputError(f"subtree hash {i} must be {HASH_SIZE} bytes, got {_describe(h)}")
        self._size = size
        self._hashes = list(hashes)

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """Roots of the perfect subtrees in :attr:`ranges`, left to right."""
        return tuple(self._hashes)

    @property
    def ranges(self) -> list[tuple[int, int]]:
        """The leaf ranges ``[begin, end)`` of the perfect subtrees, left to right."""
        ranges = []
        begin = 0
        for bit in reversed(range(self._size.bit_length())):
            width = 1 << bit
            if self._size & width:
                ranges.append((begin, begin + width))
                begin += width
        return ranges

    def append(self, leaf_hash: bytes, visit: SubtreeVisitor | None = None) -> None:
        """Append one leaf hash; amortised O(1) hashes.

        ``visit``, if given, is called with ``(begin, end, hash)`` for the new leaf and then for
        every perfect subtree the append completes, smallest first, so a store can keep subtree
        hashes for :func:`inclusion_proof_ranges` and :func:`consistency_proof_ranges`.

        >>> seen = []
        >>> cr = CompactRange()
        >>> for d in (b"a", b"b"):
        ...     cr.append(leaf_hash(d), lambda b, e, h: seen.append((b, e)))
        >>> seen
        [(0, 1), (1, 2), (0, 2)]
        """
        if not isinstance(leaf_hash, bytes) or len(leaf_hash) != HASH_SIZE:
            raise InputError(
                f"a leaf hash must be {HASH_SIZE} bytes, got {_describe(leaf_hash)}",
                hint="append leaf_hash(data), not the leaf data itself",
            )
        hashes = self._hashes
        h = leaf_hash
        # Each trailing 1 bit of the old size is a perfect subtree as large as the one just
        # completed: merge them, as a binary counter carries.
        carry = self._size
        if visit is None:
            # The hot path of a log append: no bookkeeping beyond the merge itself.
            while carry & 1:
                h = _sha256(b"\x01" + hashes.pop() + h).digest()
                carry >>= 1
        else:
            begin, width = self._size, 1
            visit(begin, begin + 1, h)
            while carry & 1:
                h = _sha256(b"\x01" + hashes.pop() + h).digest()
                carry >>= 1
                begin -= width
                width <<= 1
                visit(begin, begin + width, h)
        hashes.append(h)
        self._size += 1

    def root(self) -> bytes:
        """The root of the tree of all leaves appended so far; O(log n) hashes.

        >>> CompactRange().root() == EMPTY_ROOT
        True
        """
        hashes = self._hashes
        if not hashes:
            return EMPTY_ROOT
        # MTH splits off the largest perfect subtree first, so the smaller right-hand subtrees
        # fold together before they join it: fold from the right.
        h = hashes[-1]
        for left in reversed(hashes[:-1]):
            h = _sha256(b"\x01" + left + h).digest()
        return h

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, hashes=<{len(self._hashes)} hashes>)"


# --- verifying -------------------------------------------------------------------------------


def root_from_inclusion_proof(leaf_hash: bytes, index: int, size: int, proof: list[bytes]) -> bytes:
    """The root that ``proof`` leads to from leaf ``index`` in a tree of ``size`` leaves.

    RFC 9162 section 2.1.3.2, steps 1-5, except the final comparison with a trusted root (see
    :func:`verify_inclusion`). Raises :class:`~runid.errors.VerificationError` if the index is
    outside the tree, a hash is not 32 bytes, or the proof is too long or too short.

    >>> leaves = [leaf_hash(bytes([i])) for i in range(3)]
    >>> root_from_inclusion_proof(leaves[0], 0, 3, inclusion_proof(leaves, 0, 3)) == root(leaves)
    True
    """
    index = _verify_size(index, "index")
    size = _verify_size(size, "size")
    if index >= size:
        raise VerificationError(f"leaf index {index} is not in a tree of size {size}")
    r = _verify_hash(leaf_hash, "leaf hash")
    path = _verify_proof(proof)
    fn, sn = index, size - 1
    for p in path:
        if sn == 0:
            raise _inclusion_length_error(index, size, len(path))
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01" + p + r).digest()
            # On the right edge of a ragged tree the node has no right sibling on some levels:
            # climb them without hashing.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise _inclusion_length_error(index, size, len(path))
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> None:
    """Check that ``proof`` proves leaf ``index`` with ``leaf_hash`` in the tree with ``root``.

    Raises :class:`~runid.errors.VerificationError` on any failure, :class:`RootMismatchError`
    if the proof is well-formed but leads to another root.

    >>> leaves = [leaf_hash(bytes([i])) for i in range(5)]
    >>> proof = inclusion_proof(leaves, 3, 5)
    >>> verify_inclusion(leaves[3], 3, 5, proof, root(leaves))
    >>> verify_inclusion(leaves[2], 3, 5, proof, root(leaves))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    runid.merkle.RootMismatchError: inclusion proof for leaf 3 of 5: the proof leads to root ...
    """
    expected = _verify_hash(root, "root")
    computed = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if computed != expected:
        raise RootMismatchError(
            f"inclusion proof for leaf {index} of {size}", expected=expected, computed=computed
        )


def roots_from_consistency_proof(
    size1: int, size2: int, proof: list[bytes], root1: bytes
) -> tuple[bytes, bytes]:
    """The roots ``(of size1, of size2)`` that ``proof`` leads to, given the old ``root1``.

    RFC 9162 section 2.1.4.2, steps 1-6, except the final comparison with trusted roots (see
    :func:`verify_consistency`). ``root1`` seeds the computation only when ``size1`` is a power of
    two (the proof leaves that subtree out); otherwise the first root comes from the proof alone.
    As in transparency-dev/merkle, ``size1 == size2`` needs an empty proof and gives
    ``(root1, root1)``, and ``size1 == 0`` is rejected: no root can be computed from nothing.

    >>> leaves = [leaf_hash(bytes([i])) for i in range(7)]
    >>> proof = consistency_proof(leaves, 3, 7)
    >>> roots_from_consistency_proof(3, 7, proof, root(leaves[:3])) == (
    ...     root(leaves[:3]), root(leaves))
    True
    """
    size1 = _verify_size(size1, "size1")
    size2 = _verify_size(size2, "size2")
    if size1 > size2:
        raise VerificationError(f"size1 {size1} is larger than size2 {size2}: a log never shrinks")
    if size1 == 0:
        raise VerificationError(
            "a consistency proof from the empty tree proves nothing",
            hint="every log extends the empty tree: skip the consistency check for size1 = 0",
        )
    first = _verify_hash(root1, "root1")
    path = _verify_proof(proof)
    if size1 == size2:
        if path:
            raise VerificationError(
                f"consistency proof between equal sizes must be empty, got {len(path)} hashes"
            )
        return first, first
    if not path:  # step 1
        raise _consistency_length_error(size1, size2, 0)
    # Step 2: a power-of-two size1 is one perfect subtree, whose root the verifier already has.
    if size1 & (size1 - 1) == 0:
        path.insert(0, first)
    fn, sn = size1 - 1, size2 - 1  # steps 3-4
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            raise _consistency_length_error(size1, size2, len(proof))
        if fn & 1 or fn == sn:
            fr = _sha256(b"\x01" + c + fr).digest()
            sr = _sha256(b"\x01" + c + sr).digest()
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            # A node that did not exist yet at size1: it changes the new root only.
            sr = _sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    # Step 7, first part; the root comparisons are verify_consistency's.
    if sn != 0:
        raise _consistency_length_error(size1, size2, len(proof))
    return fr, sr


def verify_consistency(
    size1: int, size2: int, proof: list[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree with ``root2`` and ``size2`` leaves extends the one with ``root1``.

    Raises :class:`~runid.errors.VerificationError` on any failure, :class:`RootMismatchError`
    if the proof is well-formed but leads to other roots. Requires ``0 < size1 <= size2``; see
    :func:`roots_from_consistency_proof`.

    >>> leaves = [leaf_hash(bytes([i])) for i in range(7)]
    >>> proof = consistency_proof(leaves, 3, 7)
    >>> verify_consistency(3, 7, proof, root(leaves[:3]), root(leaves))
    >>> verify_consistency(3, 7, proof, root(leaves[:4]), root(leaves))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    runid.merkle.RootMismatchError: consistency proof from 3 to 7, old root: the proof leads ...
    """
    expected1 = _verify_hash(root1, "root1")
    expected2 = _verify_hash(root2, "root2")
    computed = roots_from_consistency_proof(size1, size2, proof, root1)
    for which, want, got in zip(("old", "new"), (expected1, expected2), computed, strict=True):
        if got != want:
            raise RootMismatchError(
                f"consistency proof from {size1} to {size2}, {which} root",
                expected=want,
                computed=got,
            )


# Only called on failure: the expected length is worked out for the message alone.
def _inclusion_length_error(index: int, size: int, got: int) -> VerificationError:
    want = len(inclusion_proof_ranges(index, size))
    return VerificationError(
        f"inclusion proof for leaf {index} of {size} must have {_hashes(want)}, it has {got}"
    )


def _consistency_length_error(size1: int, size2: int, got: int) -> VerificationError:
    want = len(consistency_proof_ranges(size1, size2))
    return VerificationError(
        f"consistency proof from {size1} to {size2} must have {_hashes(want)}, it has {got}"
    )


def _hashes(n: int) -> str:
    return "1 hash" if n == 1 else f"{n} hashes"
