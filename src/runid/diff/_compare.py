"""The comparison: two sides' components, every diverged leaf, and the verdict (docs/spec.md §16).

Private to :mod:`runid.diff`, which re-exports its public names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

from ..declaration import COMPONENTS
from ..identity import compute_identity
from ..wire import Declaration, DiffChange, Record
from ._align import align, common_ends, item_key, moves, pair
from ._recorded import unrecorded

__all__ = [
    "MISSING",
    "PROVIDER_FACTS",
    "VERDICTS",
    "Change",
    "ChangeKind",
    "Comparison",
    "ComponentState",
    "Side",
    "Verdict",
    "compare",
    "diff_declarations",
    "diff_values",
]

Verdict = Literal[
    "identical",
    "observed_drift",
    "different_declarations",
    "provider_drift",
    "nondeterminism",
    "undetermined",
]
VERDICTS: Final[tuple[Verdict, ...]] = (
    "identical",
    "observed_drift",
    "different_declarations",
    "provider_drift",
    "nondeterminism",
    "undetermined",
)
"""The relations of two sides, as in docs/spec.md §16.3 (the same words as §18.2)."""

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

    def to_json(self) -> DiffChange:
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
    def declaration(self) -> Declaration | None: ...

    @property
    def record(self) -> Record | None: ...


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare`.

    ``components`` maps each component name to ``same``, ``different`` or ``unknown`` (a side
    disclosed only its declaration id). ``observed`` and ``outcome`` are ``None`` when not
    both sides are runs. ``reasons`` names, for the verdict ``undetermined``, the conditions
    that can change the output and that the declaration does not record
    (``model not recorded``); it is empty for every other verdict.
    """

    verdict: Verdict
    declaration_ids: tuple[str, str]
    components: Mapping[str, ComponentState]
    declaration: tuple[Change, ...]
    observed: tuple[Change, ...] | None = None
    outcome: tuple[Change, ...] | None = None
    provider_drift: bool = field(default=False)
    reasons: tuple[str, ...] = ()

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
            self.reasons,
        )

    def to_json(self) -> dict[str, Any]:
        """The comparison part of the ``runid diff --json`` report (docs/spec.md §16.3)."""
        return {
            "verdict": self.verdict,
            "reasons": list(self.reasons),
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
    (different outcome, same provider facts, and every condition that can change the output
    recorded: :func:`unrecorded`), ``undetermined`` (different outcome, same provider facts,
    but a condition that can change the output is not recorded: ``reasons`` names each),
    ``observed_drift`` (same outcome, an observed fact moved), or ``identical``. Two
    declarations (no runs) are ``identical`` or ``different_declarations``.
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
    reasons: tuple[str, ...] = ()
    if ids[0] != ids[1]:
        verdict = "different_declarations"
    elif outcome and drift:
        verdict = "provider_drift"
    elif outcome:
        # One declaration: either side's content is it (or neither side has it).
        reasons = unrecorded(a.declaration if a.declaration is not None else b.declaration)
        verdict = "undetermined" if reasons else "nondeterminism"
    elif observed:
        verdict = "observed_drift"
    else:
        verdict = "identical"
    return Comparison(verdict, ids, components, changes, observed, outcome, drift, reasons)


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
    da: Mapping[str, Any] | None = a.declaration  # read by component name
    db: Mapping[str, Any] | None = b.declaration
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


def _walk_list(a: list[Any], b: list[Any], pa: Path, pb: Path) -> Iterator[Change]:
    head, tail = common_ends(a, b)
    if head == len(a) == len(b):
        return
    # Only the region between the common head and tail is aligned; the items outside it are
    # equal at shifted-or-not indices.
    events: list[tuple[int | None, int | None]] = []
    for i1, i2, j1, j2 in align(a[head : len(a) - tail], b[head : len(b) - tail]):
        events.extend(pair(a, b, range(i1 + head, i2 + head), range(j1 + head, j2 + head)))
    ka = {i: item_key(a[i]) for i, j in events if i is not None and j is None}
    kb = {j: item_key(b[j]) for i, j in events if j is not None and i is None}
    moved = moves(events, ka, kb)
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
