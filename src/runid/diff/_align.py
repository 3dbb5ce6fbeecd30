"""Aligning two lists: Myers' shortest edit script, a keyed fallback, and item pairing.

Private to :mod:`runid.diff`, which re-exports :func:`align`. Pure and independent of the
diff's change model: lists of JSON values in, index blocks and pairs out. :func:`align` is the
same seen from either side (docs/adr/0005-diff-alignment.md).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

import orjson

__all__ = ["Block", "align", "common_ends", "item_key", "moves", "pair"]


def item_key(value: Any) -> bytes:
    """A JSON value's bytes with sorted keys: equal exactly when the values are the same JSON."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


Block = tuple[int, int, int, int]

_MAX_EDITS: Final = 128
"""Beyond this many inserted plus removed items, the alignment hashes every item instead."""


def align(a: list[Any], b: list[Any]) -> list[Block]:
    """The blocks ``(i1, i2, j1, j2)`` where ``a[i1:i2]`` and ``b[j1:j2]`` differ, in order,
    from a shortest edit script (a longest common subsequence) of the two lists.

    Computed in an order fixed by content, so that it is the same seen from either side.
    """
    # The lists' first items differ (the common head was skipped), so they usually decide;
    # the whole lists only when they do not.
    first_a, first_b = item_key(a[:1]), item_key(b[:1])
    swap = first_b < first_a if first_a != first_b else item_key(b) < item_key(a)
    first, second = (b, a) if swap else (a, b)
    blocks = _myers(first, second)
    if blocks is None:
        blocks = _keyed_blocks(first, second)
    return [(j1, j2, i1, i2) for i1, i2, j1, j2 in blocks] if swap else blocks


def _myers(a: list[Any], b: list[Any]) -> list[Block] | None:
    """Myers' O((N+M)·D) shortest edit script with item equality only (no hashing: keying
    every item costs more than the whole alignment when a few items differ). ``None`` when
    more than :data:`_MAX_EDITS` edits are needed or ``==`` matched items that are not the
    same JSON (``True == 1``); the caller then aligns by keys."""
    n, m = len(a), len(b)
    v = {1: 0}
    trace: list[dict[int, int]] = []
    for d in range(min(n + m, _MAX_EDITS) + 1):
        trace.append(v.copy())
        for k in range(-d, d + 1, 2):
            x = v[k + 1] if k == -d or (k != d and v[k - 1] < v[k + 1]) else v[k - 1] + 1
            y = x - k
            while x < n and y < m and a[x] == b[y]:
                x, y = x + 1, y + 1
            v[k] = x
            if x >= n and y >= m:
                return _blocks(_snakes(trace, n, m), n, m, a, b)
    return None


def _snakes(trace: list[dict[int, int]], n: int, m: int) -> list[tuple[int, int]]:
    """The matched ``(i, j)`` pairs of the edit script found at the last ``trace`` step."""
    x, y = n, m
    matched: list[tuple[int, int]] = []
    for d in range(len(trace) - 1, -1, -1):
        v = trace[d]
        k = x - y
        prev_k = k + 1 if k == -d or (k != d and v[k - 1] < v[k + 1]) else k - 1
        prev_x = v[prev_k]
        prev_y = prev_x - prev_k
        while x > prev_x and y > prev_y:
            x, y = x - 1, y - 1
            matched.append((x, y))
        x, y = prev_x, prev_y
    matched.reverse()
    return matched


def _blocks(
    matched: list[tuple[int, int]], n: int, m: int, a: list[Any], b: list[Any]
) -> list[Block] | None:
    if item_key([a[i] for i, _ in matched]) != item_key([b[j] for _, j in matched]):
        return None  # == matched True with 1 somewhere: let the keyed alignment decide
    blocks: list[Block] = []
    pi = pj = 0
    for i, j in [*matched, (n, m)]:
        if i > pi or j > pj:
            blocks.append((pi, i, pj, j))
        pi, pj = i + 1, j + 1
    return blocks


def _keyed_blocks(a: list[Any], b: list[Any]) -> list[Block]:
    """The differing blocks by difflib's longest-matching-block alignment of item keys."""
    matcher = difflib.SequenceMatcher(
        None, [item_key(x) for x in a], [item_key(y) for y in b], autojunk=False
    )
    return [(i1, i2, j1, j2) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]


def common_ends(a: list[Any], b: list[Any]) -> tuple[int, int]:
    """How many leading and trailing items the lists share (not overlapping)."""
    limit = min(len(a), len(b))
    head = _shared(a, b, limit, lambda lst, lo, hi: lst[lo:hi])
    tail = _shared(a, b, limit - head, lambda lst, lo, hi: lst[len(lst) - hi : len(lst) - lo])
    if not head + tail:
        return 0, 0
    # Python's == takes True for 1; confirm the skipped items are the same JSON, in one
    # serialisation per side (one call is ~20x cheaper than one per item).
    same = item_key(a[:head] + a[len(a) - tail :]) == item_key(b[:head] + b[len(b) - tail :])
    if same:
        return head, tail
    keys_a, keys_b = [item_key(x) for x in a], [item_key(y) for y in b]
    head = 0
    while head < limit and keys_a[head] == keys_b[head]:
        head += 1
    tail = 0
    while tail < limit - head and keys_a[len(a) - 1 - tail] == keys_b[len(b) - 1 - tail]:
        tail += 1
    return head, tail


def _shared(
    a: list[Any], b: list[Any], limit: int, span: Callable[[list[Any], int, int], list[Any]]
) -> int:
    """The largest ``n <= limit`` with ``span(a, 0, n) == span(b, 0, n)``, by bisection over
    slice comparisons (each runs in C; a Python loop over the items costs ~10x more)."""
    if span(a, 0, limit) == span(b, 0, limit):
        return limit
    lo, hi = 0, limit  # the first lo items agree; the first hi do not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if span(a, lo, mid) == span(b, lo, mid):
            lo = mid
        else:
            hi = mid
    return lo


def moves(
    events: Sequence[tuple[int | None, int | None]],
    ka: Mapping[int, bytes],
    kb: Mapping[int, bytes],
) -> dict[int, int]:
    """Items removed from one place and inserted, unchanged, at another: A index -> B index.
    Matched first occurrence to first occurrence, which is the same seen from either side."""
    added: dict[bytes, list[int]] = {}
    for i, j in events:
        if i is None and j is not None:
            added.setdefault(kb[j], []).append(j)
    found: dict[int, int] = {}
    for i, j in events:
        if j is None and i is not None and added.get(ka[i]):
            found[i] = added[ka[i]].pop(0)
    return found


_IDENTITY_FIELDS: Final = (("source", "chunk"), ("name",), ("id",), ("execution_id",))


def _identity(item: Any) -> tuple[Any, ...] | None:
    """The identity fields of a list item, if it has any (``source``+``chunk``, ``name``...)."""
    if not isinstance(item, dict):
        return None
    for fields in _IDENTITY_FIELDS:
        if all(f in item for f in fields):
            return (fields, *(item_key(item[f]) for f in fields))
    return None


def pair(
    a: Sequence[Any], b: Sequence[Any], ia: range, ib: range
) -> Iterator[tuple[int | None, int | None]]:
    """Pair the items of a replaced block: by position when both sides have as many, else by
    identity fields where items have them; the rest are removals (only in A) and insertions
    (only in B). In index order."""
    ids_a = [_identity(a[i]) for i in ia]
    ids_b = [_identity(b[j]) for j in ib]
    # As many items on each side: edits in place (the common case, and the reading that
    # names each edited leaf). Only when the counts differ do identity fields decide.
    if len(ia) != len(ib) and (any(ids_a) or any(ids_b)):
        free_b: dict[Any, list[int]] = {}
        for j, key in zip(ib, ids_b, strict=True):
            if key is not None:
                free_b.setdefault(key, []).append(j)
        pairs: dict[int, int] = {}
        for i, key in zip(ia, ids_a, strict=True):
            if key is not None and free_b.get(key):
                pairs[i] = free_b[key].pop(0)
        # What identity did not pair, in equal numbers on both sides, was edited in place
        # (its identity fields among the edits): pair it by position, to report the leaves.
        left_a = [i for i in ia if i not in pairs]
        left_b = sorted(set(ib) - set(pairs.values()))
        if len(left_a) == len(left_b):
            pairs.update(zip(left_a, left_b, strict=True))
        matched_b = set(pairs.values())
        events: list[tuple[int, int, int | None, int | None]] = []
        for i in ia:
            events.append((i - ia.start, 0, i, pairs.get(i)))
        for j in ib:
            if j not in matched_b:
                events.append((j - ib.start, 1, None, j))
        events.sort(key=lambda e: (e[0], e[1]))
        for _, _, event_a, event_b in events:
            yield event_a, event_b
        return
    # Positional pairing is symmetric by construction (index k with index k).
    for k in range(max(len(ia), len(ib))):
        yield (ia[k] if k < len(ia) else None, ib[k] if k < len(ib) else None)
