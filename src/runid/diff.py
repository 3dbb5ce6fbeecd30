"""Which conditions of two runs diverged, and how their outcomes relate. Pure: no I/O.

:func:`compare` takes two sides (anything with ``declaration_id``, ``components``,
``declaration`` and ``record``, such as :class:`runid.resolve.Subject`) and compares, like
``nix-diff`` walking two derivations:

1. the **component digests** first (a one-level Merkle tree: equal digests mean equal
   components, and nothing below them is read);
2. inside each differing component, every diverged **leaf**, with a readable path and both
   values. Lists are aligned (longest common subsequence), so an inserted or removed item is one
   change, not a shift of every later index; items of a list whose items carry identity fields
   (retrieved chunks by ``source`` and ``chunk``, tools and artifacts by ``name``, ...) are
   matched by them. Content references, absence markers and parameter entries are compared
   as single values: each is one condition;
3. where a declaration is withheld, the components from their digests alone;
4. the **observed facts** and the **outcome** of the two records, when both sides are runs,
   which classifies the relation (:data:`VERDICTS`).

``compare(a, b)`` mirrors ``compare(b, a)`` exactly: lists are aligned in an order fixed by
their content, not by which side came first.

>>> from runid.examples import example
>>> a, b = example("chat-hosted-model"), example("chat-hosted-model")
>>> b["parameters"]["temperature"]["value"] = 0.7
>>> b["model"]["version"] = "gpt-4o-mini-2024-09-01"
>>> for change in diff_declarations(a, b):
...     print(change.path, format_value(change.a), "->", format_value(change.b))
model.version "gpt-4o-mini-2024-07-18" -> "gpt-4o-mini-2024-09-01"
parameters.temperature 0.2 -> 0.7
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

import orjson

from .declaration import COMPONENTS
from .identity import compute_identity

__all__ = [
    "DIFF_FORMAT",
    "MISSING",
    "PROVIDER_FACTS",
    "VERDICTS",
    "Change",
    "Comparison",
    "Side",
    "Verdict",
    "compare",
    "diff_declarations",
    "diff_values",
    "format_value",
    "group_runs",
    "json_schema",
]

DIFF_FORMAT: Final = "runid/diff/v1"
"""The ``format`` member of ``runid diff --json`` (docs/spec.md §16)."""

Verdict = Literal[
    "identical", "observed_drift", "different_declarations", "provider_drift", "nondeterminism"
]
VERDICTS: Final[tuple[Verdict, ...]] = (
    "identical",
    "observed_drift",
    "different_declarations",
    "provider_drift",
    "nondeterminism",
)
"""The relations of two sides, as in docs/spec.md §16.2 (the same words as §18.2)."""

PROVIDER_FACTS: Final = ("served_model", "system_fingerprint")
"""Observed facts that say which configuration served the call: when they move under one
declaration, the provider drifted."""

# Facts that differ on every run by construction: never a finding.
_PER_RUN_FACTS: Final = frozenset({"response_id"})

ChangeKind = Literal["changed", "added", "removed", "moved", "component", "declaration"]
ComponentState = Literal["same", "different", "unknown"]


class _Missing:
    """The value on the side where a key or item does not exist."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
"""Stands for the side of an ``added`` or ``removed`` change that has no value."""


@dataclass(frozen=True)
class Change:
    """One diverged condition.

    ``kind``: ``changed`` (both sides have a value), ``added`` (only B), ``removed`` (only A),
    ``moved`` (the same list item at another index: ``a`` equals ``b``), ``component`` (a
    withheld component known by digest only: ``a``/``b`` are its digests), ``declaration``
    (only the declaration ids are known). ``pointer_a`` / ``pointer_b`` are the RFC 6901
    pointers of the value in each declaration (``None`` on the side that lacks it). ``path``
    is the readable form (``context.retrieved[3].content``; ``[3→4]`` when the item moved).
    ``label`` names the list item the change is in (``kb/refunds.md chunk 2``).
    """

    kind: ChangeKind
    path: str
    pointer_a: str | None
    pointer_b: str | None
    a: Any
    b: Any
    label: str | None = None

    def mirrored(self) -> Change:
        """The same change seen from the other side."""
        kind: ChangeKind = {"added": "removed", "removed": "added"}.get(  # type: ignore[assignment]
            self.kind, self.kind
        )
        return Change(
            kind,
            _path(self.pointer_b, self.pointer_a, self.path),
            self.pointer_b,
            self.pointer_a,
            self.b,
            self.a,
            _ARROW.join(reversed(self.label.split(_ARROW, 1))) if self.label else self.label,
        )

    def to_json(self) -> dict[str, Any]:
        """The change as a JSON object (docs/spec.md §16.3); a missing side is ``null``."""
        return {
            "kind": self.kind,
            "path": self.path,
            "pointer_a": self.pointer_a,
            "pointer_b": self.pointer_b,
            "a": None if self.a is MISSING else self.a,
            "b": None if self.b is MISSING else self.b,
            "label": self.label,
        }


class Side(Protocol):
    """What :func:`compare` reads of each side (:class:`runid.resolve.Subject` has it)."""

    @property
    def declaration_id(self) -> str: ...

    @property
    def components(self) -> Mapping[str, str] | None: ...

    @property
    def declaration(self) -> Mapping[str, Any] | None: ...

    @property
    def record(self) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare`.

    ``components`` maps each component name to ``same``, ``different`` or ``unknown`` (a side
    disclosed only its declaration id). ``observed`` and ``outcome`` are ``None`` when not
    both sides are runs.
    """

    verdict: Verdict
    declaration_ids: tuple[str, str]
    components: Mapping[str, ComponentState]
    declaration: tuple[Change, ...]
    observed: tuple[Change, ...] | None = None
    outcome: tuple[Change, ...] | None = None
    provider_drift: bool = field(default=False)

    @property
    def identical(self) -> bool:
        """True exactly when nothing differs (``runid diff`` exits 0)."""
        return self.verdict == "identical"

    @property
    def changed_components(self) -> tuple[str, ...]:
        """The names of the components whose digests differ, sorted."""
        return tuple(name for name, state in self.components.items() if state == "different")

    def mirrored(self) -> Comparison:
        """The comparison seen from the other side (what ``compare(b, a)`` returns)."""
        return Comparison(
            self.verdict,
            (self.declaration_ids[1], self.declaration_ids[0]),
            self.components,
            tuple(c.mirrored() for c in self.declaration),
            None if self.observed is None else tuple(c.mirrored() for c in self.observed),
            None if self.outcome is None else tuple(c.mirrored() for c in self.outcome),
            self.provider_drift,
        )

    def to_json(self) -> dict[str, Any]:
        """The comparison part of the ``runid diff --json`` report (docs/spec.md §16.3)."""
        return {
            "verdict": self.verdict,
            "identical": self.identical,
            "declaration": {
                "identical": self.declaration_ids[0] == self.declaration_ids[1],
                "declaration_id_a": self.declaration_ids[0],
                "declaration_id_b": self.declaration_ids[1],
                "components": dict(self.components),
                "changes": [c.to_json() for c in self.declaration],
            },
            "observed": {
                "compared": self.observed is not None,
                "provider_drift": self.provider_drift,
                "changes": [c.to_json() for c in self.observed or ()],
            },
            "outcome": {
                "compared": self.outcome is not None,
                "identical": None if self.outcome is None else not self.outcome,
                "changes": [c.to_json() for c in self.outcome or ()],
            },
        }


# --- comparing two sides ---------------------------------------------------------------------


def compare(a: Side, b: Side) -> Comparison:
    """Compare two sides: declarations by component, then (for two runs) facts and outcome.

    The verdict: ``different_declarations`` when the declaration ids differ; else, for two
    runs, ``provider_drift`` (different outcome, a provider fact moved), ``nondeterminism``
    (different outcome, same provider facts), ``observed_drift`` (same outcome, an observed
    fact moved), or ``identical``. Two declarations (no runs) are ``identical`` or
    ``different_declarations``.
    """
    ids = (a.declaration_id, b.declaration_id)
    components, changes = _declaration_changes(a, b)
    observed = outcome = None
    drift = False
    if a.record is not None and b.record is not None:
        observed = tuple(_observed_changes(a.record["observed"], b.record["observed"]))
        outcome = tuple(_outcome_changes(a.record["outcome"], b.record["outcome"]))
        drift = any(_fact(c) in PROVIDER_FACTS for c in observed)
    verdict: Verdict
    if ids[0] != ids[1]:
        verdict = "different_declarations"
    elif outcome:
        verdict = "provider_drift" if drift else "nondeterminism"
    elif observed:
        verdict = "observed_drift"
    else:
        verdict = "identical"
    return Comparison(verdict, ids, components, changes, observed, outcome, drift)


def _fact(change: Change) -> str:
    pointer = change.pointer_a or change.pointer_b or ""
    return pointer.split("/")[2] if pointer.count("/") >= 2 else ""


def _declaration_changes(a: Side, b: Side) -> tuple[dict[str, ComponentState], tuple[Change, ...]]:
    names = sorted(COMPONENTS)
    if a.declaration_id == b.declaration_id:
        return dict.fromkeys(names, "same"), ()
    if a.components is None or b.components is None:
        states: dict[str, ComponentState] = dict.fromkeys(names, "unknown")
        change = Change("declaration", "", None, None, a.declaration_id, b.declaration_id)
        return states, (change,)
    ca, cb = a.components, b.components
    states = {name: "same" if ca[name] == cb[name] else "different" for name in names}
    changes: list[Change] = []
    da, db = a.declaration, b.declaration
    for name in names:
        if states[name] == "same":
            continue
        if da is None or db is None:
            changes.append(Change("component", name, f"/{name}", f"/{name}", ca[name], cb[name]))
            continue
        found = list(_walk(da[name], db[name], (name,), (name,), None))
        if not found:
            # Equal values with different digests cannot happen for validated declarations;
            # if it does, still name the component rather than report nothing.
            found = [Change("component", name, f"/{name}", f"/{name}", ca[name], cb[name])]
        changes.extend(found)
    return states, tuple(changes)


def _observed_changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> Iterator[Change]:
    for name in sorted(set(a) | set(b)):
        if name in _PER_RUN_FACTS:
            continue
        yield from _walk(
            a.get(name, MISSING), b.get(name, MISSING), ("observed", name), ("observed", name), None
        )


def _outcome_changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> Iterator[Change]:
    for name in ("status", "outputs", "error"):
        yield from _walk(
            a.get(name, MISSING), b.get(name, MISSING), ("outcome", name), ("outcome", name), None
        )


def diff_declarations(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Change]:
    """Every diverged condition of two declarations (validated first; components whose
    digests agree are not read). Raises :class:`~runid.errors.DeclarationError` for an
    invalid declaration."""
    ia, ib = compute_identity(a), compute_identity(b)
    changes: list[Change] = []
    for name in sorted(COMPONENTS):
        if ia.components[name] != ib.components[name]:
            changes.extend(_walk(a[name], b[name], (name,), (name,), None))
    return changes


def diff_values(a: Any, b: Any, root: str = "") -> list[Change]:
    """Every diverged leaf of two JSON values (no identity, no validation), paths under
    ``root`` (a dotted prefix such as ``parameters``)."""
    prefix = tuple(root.split(".")) if root else ()
    return list(_walk(a, b, prefix, prefix, None))


# --- the walk --------------------------------------------------------------------------------

Key = str | int
Path = tuple[Key, ...]


def _atomic(value: Any, where: Path) -> bool:
    """Values compared whole: absence markers, content references, parameter entries."""
    if not isinstance(value, dict):
        return True
    keys = value.keys()
    if len(keys) == 1 and "absent" in keys:
        return True
    if keys == {"digest", "size", "media_type"}:
        return True
    # A parameter entry: {"source": ..., "value"?: ...} directly under parameters.
    return len(where) == 2 and where[0] == "parameters" and "source" in keys


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0 (the same canonical number), but True != 1."""
    if type(a) is type(b) or (
        isinstance(a, int | float)
        and isinstance(b, int | float)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        return bool(a == b)
    return False


def _same(a: Any, b: Any) -> bool:
    """JSON equality of whole values (atomic ones included), numbers as JCS compares them."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return _equal(a, b)


def _walk(a: Any, b: Any, pa: Path, pb: Path, label: str | None) -> Iterator[Change]:
    if a is MISSING or b is MISSING:
        if a is not b:
            kind: ChangeKind = "added" if a is MISSING else "removed"
            yield _change(
                kind,
                pa if a is not MISSING else None,
                pb if b is not MISSING else None,
                a,
                b,
                label=label,
            )
        return
    if isinstance(a, dict) and isinstance(b, dict) and not (_atomic(a, pa) or _atomic(b, pb)):
        for key in sorted(a.keys() | b.keys()):
            yield from _walk(
                a.get(key, MISSING), b.get(key, MISSING), (*pa, key), (*pb, key), label
            )
        return
    if isinstance(a, list) and isinstance(b, list):
        yield from _walk_list(a, b, pa, pb)
        return
    if not _same(a, b):
        yield _change("changed", pa, pb, a, b, label=label)


def _change(
    kind: ChangeKind, pa: Path | None, pb: Path | None, a: Any, b: Any, *, label: str | None
) -> Change:
    ptr_a = None if pa is None else _pointer(pa)
    ptr_b = None if pb is None else _pointer(pb)
    return Change(kind, _path(ptr_a, ptr_b, ""), ptr_a, ptr_b, a, b, label)


def _key(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _walk_list(a: list[Any], b: list[Any], pa: Path, pb: Path) -> Iterator[Change]:
    head, tail = _common_ends(a, b)
    if head == len(a) == len(b):
        return
    # Only the region between the common head and tail is aligned; the items outside it are
    # equal at shifted-or-not indices.
    events: list[tuple[int | None, int | None]] = []
    for i1, i2, j1, j2 in _align(a[head : len(a) - tail], b[head : len(b) - tail]):
        events.extend(_pair(a, b, range(i1 + head, i2 + head), range(j1 + head, j2 + head)))
    ka = {i: _key(a[i]) for i, j in events if i is not None and j is None}
    kb = {j: _key(b[j]) for i, j in events if j is not None and i is None}
    moved = _moves(events, ka, kb)
    moved_to = set(moved.values())
    for i, j in events:
        if i is None:
            assert j is not None
            if j in moved_to:
                continue  # reported with its old place
            yield _change("added", None, (*pb, j), MISSING, b[j], label=_label(b[j]))
        elif j is None:
            if i in moved:
                yield _change(
                    "moved", (*pa, i), (*pb, moved[i]), a[i], b[moved[i]], label=_label(a[i])
                )
            else:
                yield _change("removed", (*pa, i), None, a[i], MISSING, label=_label(a[i]))
        else:
            yield from _walk(a[i], b[j], (*pa, i), (*pb, j), _both(_label(a[i]), _label(b[j])))


Block = tuple[int, int, int, int]

_MAX_EDITS: Final = 128
"""Beyond this many inserted plus removed items, the alignment hashes every item instead."""


def _align(a: list[Any], b: list[Any]) -> list[Block]:
    """The blocks ``(i1, i2, j1, j2)`` where ``a[i1:i2]`` and ``b[j1:j2]`` differ, in order,
    from a shortest edit script (a longest common subsequence) of the two lists.

    Computed in an order fixed by content, so that it is the same seen from either side.
    """
    # The lists' first items differ (the common head was skipped), so they usually decide;
    # the whole lists only when they do not.
    first_a, first_b = _key(a[:1]), _key(b[:1])
    swap = first_b < first_a if first_a != first_b else _key(b) < _key(a)
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
    if _key([a[i] for i, _ in matched]) != _key([b[j] for _, j in matched]):
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
        None, [_key(x) for x in a], [_key(y) for y in b], autojunk=False
    )
    return [(i1, i2, j1, j2) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]


def _common_ends(a: list[Any], b: list[Any]) -> tuple[int, int]:
    """How many leading and trailing items the lists share (not overlapping)."""
    limit = min(len(a), len(b))
    head = _shared(a, b, limit, lambda lst, lo, hi: lst[lo:hi])
    tail = _shared(a, b, limit - head, lambda lst, lo, hi: lst[len(lst) - hi : len(lst) - lo])
    if not head + tail:
        return 0, 0
    # Python's == takes True for 1; confirm the skipped items are the same JSON, in one
    # serialisation per side (one call is ~20x cheaper than one per item).
    same = _key(a[:head] + a[len(a) - tail :]) == _key(b[:head] + b[len(b) - tail :])
    if same:
        return head, tail
    keys_a, keys_b = [_key(x) for x in a], [_key(y) for y in b]
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


def _moves(
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
    moves: dict[int, int] = {}
    for i, j in events:
        if j is None and i is not None and added.get(ka[i]):
            moves[i] = added[ka[i]].pop(0)
    return moves


_IDENTITY_FIELDS: Final = (("source", "chunk"), ("name",), ("id",), ("execution_id",))


def _identity(item: Any) -> tuple[Any, ...] | None:
    """The identity fields of a list item, if it has any (``source``+``chunk``, ``name``...)."""
    if not isinstance(item, dict):
        return None
    for fields in _IDENTITY_FIELDS:
        if all(f in item for f in fields):
            return (fields, *(_key(item[f]) for f in fields))
    return None


def _pair(
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


_ARROW: Final = " → "


def _both(label_a: str | None, label_b: str | None) -> str | None:
    """One label for an item paired across the sides: ``x → y`` when its name changed."""
    if label_a is None or label_b is None or label_a == label_b:
        return label_a or label_b
    return f"{label_a}{_ARROW}{label_b}"


def _label(item: Any) -> str | None:
    """A short name for a list item, for reports: ``kb/refunds.md chunk 2``, a tool's name."""
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("source"), str) and "chunk" in item:
        return f"{item['source']} chunk {item['chunk']}"
    for name in ("name", "id"):
        if isinstance(item.get(name), str):
            return str(item[name])
    if isinstance(item.get("role"), str):
        return f"{item['role']} message"
    return None


# --- paths and values ------------------------------------------------------------------------


def _pointer(path: Path) -> str:
    return "".join("/" + str(k).replace("~", "~0").replace("/", "~1") for k in path)


def _segments(pointer: str) -> list[str]:
    return [s.replace("~1", "/").replace("~0", "~") for s in pointer.split("/")[1:]]


def _path(pointer_a: str | None, pointer_b: str | None, fallback: str) -> str:
    """``a.b[3].c`` from the pointers; ``[3→4]`` where an item sits at another index on B."""
    if pointer_a is None and pointer_b is None:
        return fallback
    sa = _segments(pointer_a) if pointer_a is not None else None
    sb = _segments(pointer_b) if pointer_b is not None else None
    base = sa if sa is not None else sb
    assert base is not None
    out = ""
    for position, segment in enumerate(base):
        other = sb[position] if sa is not None and sb is not None else segment
        if segment.isdigit() and other.isdigit():
            out += f"[{segment}]" if segment == other else f"[{segment}→{other}]"
        elif _IDENT(segment):
            out += ("." if out else "") + segment
        else:
            out += f"[{json.dumps(segment, ensure_ascii=False)}]"
    return out


def _IDENT(segment: str) -> bool:  # noqa: N802 - reads as a character class
    return (
        bool(segment)
        and segment.replace("_", "a").replace("-", "a").isalnum()
        and (not segment[0].isdigit())
    )


_SHORT_DIGEST: Final = 19  # "sha256:" + 12 hex digits


def format_value(value: Any, *, limit: int = 72) -> str:
    """A value for a terminal report: digests shortened, markers and parameters in words.

    >>> format_value({"digest": "sha256:" + "ab" * 32, "size": 5, "media_type": "text/plain"})
    'sha256:abababababab… (5 B)'
    >>> format_value({"absent": "not_recorded"}), format_value({"source": "provider_default"})
    ('(not recorded)', '(provider default)')
    """
    if value is MISSING:
        return "(none)"
    if isinstance(value, dict):
        if value.keys() == {"absent"}:
            return f"({str(value['absent']).replace('_', ' ')})"
        if value.keys() == {"digest", "size", "media_type"}:
            return f"{_short(value['digest'])} ({value['size']} B)"
        if "source" in value and value.keys() <= {"source", "value"}:
            if value["source"] == "provider_default":
                return "(provider default)"
            shown = format_value(value.get("value"), limit=limit)
            return shown if value["source"] == "declared" else f"{shown} ({value['source']})"
    text = _compact(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _compact(value: Any) -> str:
    """JSON-like text with digests and content references shortened, markers in words."""
    if isinstance(value, str) and value.startswith("sha256:") and len(value) == 71:
        return _short(value)
    if isinstance(value, dict):
        if value.keys() == {"absent"} or value.keys() == {"digest", "size", "media_type"}:
            return format_value(value, limit=1 << 30)
        inner = ", ".join(f"{k}: {_compact(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _short(digest: object) -> str:
    text = str(digest)
    return text[:_SHORT_DIGEST] + "…" if len(text) > _SHORT_DIGEST else text


def group_runs(changes: Sequence[Change]) -> list[tuple[str, list[Change]]]:
    """Consecutive added (or removed) items of one list, grouped for a report line:
    ``[("inputs.messages[0..2]", [three removals]), ...]``; other changes stand alone."""
    groups: list[tuple[str, list[Change]]] = []
    for change in changes:
        pointer = change.pointer_a if change.kind == "removed" else change.pointer_b
        if change.kind in ("added", "removed") and pointer and pointer.rsplit("/", 1)[-1].isdigit():
            parent, index = pointer.rsplit("/", 1)
            if groups and groups[-1][1][-1].kind == change.kind:
                last = groups[-1][1][-1]
                last_ptr = last.pointer_a if last.kind == "removed" else last.pointer_b
                assert last_ptr is not None
                last_parent, last_index = last_ptr.rsplit("/", 1)
                if (
                    last_parent == parent
                    and last_index.isdigit()
                    and int(last_index) + 1 == int(index)
                ):
                    groups[-1][1].append(change)
                    continue
        groups.append((change.path, [change]))
    named = []
    for path, members in groups:
        if len(members) > 1:
            head, tail = members[0].path, members[-1].path
            stem = head.rsplit("[", 1)[0]
            start = head.rsplit("[", 1)[1].rstrip("]")
            end = tail.rsplit("[", 1)[1].rstrip("]")
            named.append((f"{stem}[{start}..{end}]", members))
        else:
            named.append((path, members))
    return named


# --- the JSON report's schema ----------------------------------------------------------------


def json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of the ``runid diff --json`` report (docs/spec.md §16.5),
    shipped as ``docs/schema/diff-v1.schema.json``."""
    nullable_digest = {"type": ["string", "null"], "pattern": "^sha256:[0-9a-f]{64}$"}
    pointer = {"type": ["string", "null"]}
    change = {
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", "path", "pointer_a", "pointer_b", "a", "b", "label"],
        "properties": {
            "kind": {"enum": ["changed", "added", "removed", "moved", "component", "declaration"]},
            "path": {"type": "string"},
            "pointer_a": pointer,
            "pointer_b": pointer,
            "a": {"description": "The value in A (null when A has none)."},
            "b": {"description": "The value in B (null when B has none)."},
            "label": {"type": ["string", "null"]},
        },
    }
    changes = {"type": "array", "items": {"$ref": "#/$defs/change"}}
    side = {
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", "origin", "declaration_id", "execution_id", "declaration"],
        "properties": {
            "kind": {
                "enum": [
                    "execution",
                    "declaration",
                    "receipt",
                    "declaration-file",
                    "identity-file",
                ]
            },
            "origin": {"type": "string"},
            "declaration_id": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
            "execution_id": nullable_digest,
            "declaration": {"enum": ["included", "digests", "withheld"]},
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://runid.dev/schema/diff-v1.schema.json",
        "title": "runid diff report v1",
        "type": "object",
        "additionalProperties": False,
        "required": [
            "format",
            "a",
            "b",
            "verdict",
            "identical",
            "declaration",
            "observed",
            "outcome",
        ],
        "properties": {
            "format": {"const": DIFF_FORMAT},
            "a": {"$ref": "#/$defs/side"},
            "b": {"$ref": "#/$defs/side"},
            "verdict": {"enum": list(VERDICTS)},
            "identical": {"type": "boolean"},
            "declaration": {
                "type": "object",
                "additionalProperties": False,
                "required": [
                    "identical",
                    "declaration_id_a",
                    "declaration_id_b",
                    "components",
                    "changes",
                ],
                "properties": {
                    "identical": {"type": "boolean"},
                    "declaration_id_a": {"type": "string"},
                    "declaration_id_b": {"type": "string"},
                    "components": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": sorted(COMPONENTS),
                        "properties": {
                            name: {"enum": ["same", "different", "unknown"]}
                            for name in sorted(COMPONENTS)
                        },
                    },
                    "changes": changes,
                },
            },
            "observed": {
                "type": "object",
                "additionalProperties": False,
                "required": ["compared", "provider_drift", "changes"],
                "properties": {
                    "compared": {"type": "boolean"},
                    "provider_drift": {"type": "boolean"},
                    "changes": changes,
                },
            },
            "outcome": {
                "type": "object",
                "additionalProperties": False,
                "required": ["compared", "identical", "changes"],
                "properties": {
                    "compared": {"type": "boolean"},
                    "identical": {"type": ["boolean", "null"]},
                    "changes": changes,
                },
            },
        },
        "$defs": {"change": change, "side": side},
    }
