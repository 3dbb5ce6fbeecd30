"""Erasing a person's content from a log, so that every proof, receipt and bundle still verifies.

Content is referenced by digest and stored once, as a blob beside the log (docs/spec.md §20.7):
the Merkle tree, the signed records and the checkpoints hold only digests. Erasing deletes the
blobs (:meth:`runid.store.LogStore.erase_blobs`) and leaves everything else as it was.

:func:`plan_erasure` says what an erasure would delete and who else it concerns: the contents
named by digest, or those a run references (by component of its declaration, its outputs, or
all of them, and with ``declaration=True`` the declaration itself), each with every run of the
log that references it. A blob is stored once for every run that uses it, so erasing it erases
it for all of them: :func:`erase` refuses content that other runs reference unless ``force``
(``E_ERASE_SHARED``). Keyed digests (``hmac-sha256:<key id>:<hex>``, privacy mode ``keyed``)
name lines of the home's keyed index, which :func:`erase` removes.

Finding the other runs reads every stored declaration and every entry once (entries verified,
on several cores for a long log): erasure is rare, and must not be wrong about who it concerns.
A run whose declaration the log does not hold (privacy mode ``keyed`` or ``digests-only``, or
erased) cannot be checked: :attr:`ErasurePlan.unchecked` counts them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from ..declaration import COMPONENTS
from ..digest import content_digest
from ..errors import E_ERASE, E_ERASE_SHARED, InputError
from ..store.erasures import Erasure, check_reason, erasure_time
from . import Log
from ._ids import DIGEST, declaration_id_of
from .notices import MANUAL, erasure_action, record_admin_action

__all__ = [
    "DECLARATION",
    "KEYED_DIGEST",
    "NAMED",
    "OUTPUTS",
    "Content",
    "ErasurePlan",
    "ErasureResult",
    "digests_in",
    "erase",
    "erase_noticed",
    "plan_erasure",
    "references",
]

OUTPUTS = "outputs"
"""The part name of a run's outputs (and error message): the contents its record names."""

DECLARATION = "declaration"
"""The part name of a run's declaration blob."""

NAMED = "content"
"""The part name of a content named by its digest."""

KEYED_DIGEST = re.compile(r"hmac-sha256:[A-Za-z0-9._-]{1,64}:[0-9a-f]{64}")
"""A keyed digest of privacy mode ``keyed`` (:meth:`runid.privacy.Privacy.keyed_digest`)."""

PARTS = (*COMPONENTS, OUTPUTS)
"""What ``components`` of :func:`plan_erasure` may name."""


@dataclass(frozen=True)
class Content:
    """One content an erasure concerns.

    ``parts`` says where the named runs reference it (declaration components, ``outputs``,
    ``declaration``; ``content`` when it was named by digest); ``size`` is its length when
    the log stores it (``None``: not stored); ``erasure`` the record of an earlier erasure;
    ``runs`` every entry that references it, ``others`` those of them not named."""

    digest: str
    parts: tuple[str, ...]
    size: int | None
    erasure: Erasure | None
    runs: tuple[int, ...]
    others: tuple[int, ...]

    @property
    def stored(self) -> bool:
        """True when the log holds the bytes now (an erasure would delete them)."""
        return self.size is not None

    def to_json(self) -> dict[str, Any]:
        erased = self.erasure
        return {
            "digest": self.digest,
            "parts": list(self.parts),
            "stored": self.stored,
            "size": self.size,
            "erased": None
            if erased is None or self.stored
            else {"erased_at": erased.erased_at, "reason": erased.reason},
            "runs": len(self.runs),
            "other_runs": list(self.others),
        }


@dataclass(frozen=True)
class ErasurePlan:
    """What :func:`erase` would do: the entries named (``runs``; empty when contents were
    named by digest), each content concerned, the keyed digests named, and ``unchecked``: how
    many entries' declarations the log does not hold (whether they reference a content cannot
    be known)."""

    runs: tuple[int, ...]
    contents: tuple[Content, ...]
    keyed: tuple[str, ...] = ()
    unchecked: int = 0

    @property
    def to_erase(self) -> tuple[Content, ...]:
        """The contents stored now: the blobs an erasure deletes."""
        return tuple(c for c in self.contents if c.stored)

    @property
    def shared(self) -> tuple[Content, ...]:
        """The stored contents other runs reference too: a run named references none of
        them alone; a content named by digest, when more than one run references it."""
        if self.runs:
            return tuple(c for c in self.to_erase if c.others)
        return tuple(c for c in self.to_erase if len(c.runs) > 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": list(self.runs),
            "contents": [c.to_json() for c in self.contents],
            "keyed": list(self.keyed),
            "unchecked_runs": self.unchecked,
            "erase": len(self.to_erase),
            "bytes": sum(c.size or 0 for c in self.to_erase),
            "shared": len(self.shared),
        }


@dataclass(frozen=True)
class ErasureResult:
    """What :func:`erase` did: the digests of the blobs deleted, the keyed-index lines
    removed, and whether SQLite's write-ahead log was checkpointed afterwards (``None``: not
    SQLite, or nothing deleted; ``False``: a reader held an old snapshot, so older WAL frames
    may hold the bytes until the next checkpoint); ``notice``: the entry index of the erasure
    notice appended first (``None``: nothing was erased, so none)."""

    erased: tuple[str, ...]
    keyed_removed: int
    wal_checkpointed: bool | None
    notice: int | None = None


def plan_erasure(
    log: Log,
    targets: Sequence[str | int],
    *,
    components: Sequence[str] = (),
    all_content: bool = False,
    declaration: bool = False,
) -> ErasurePlan:
    """What erasing ``targets`` would delete, and which runs each content concerns.

    Without ``components``, ``all_content`` or ``declaration``, each target is a content
    digest (``sha256:<hex>``) or a keyed digest (``hmac-sha256:<key id>:<hex>``). With any of
    them, each target is a run (an entry number or an execution id), and its contents are the
    ones its declaration's ``components`` reference (``outputs``: the contents its record
    names), every one of them with ``all_content``, and its declaration with ``declaration``.
    Only contents this log stores, or erased before, are listed.

    Raises :class:`~runid.errors.InputError`: ``E_ERASE`` for a target that is neither (or a
    digest this log never stored), an unknown component, or a run whose declaration the log
    does not hold when its components are asked for; ``E_NOT_IN_LOG`` for an unknown run.
    """
    if not targets:
        raise InputError("nothing named to erase", code=E_ERASE, hint=_USAGE)
    unknown = [c for c in components if c not in PARTS]
    if unknown:
        raise InputError(
            f"not a component of a declaration: {unknown[0]!r}",
            code=E_ERASE,
            hint=f"use one of {', '.join(PARTS)}, or --all-content",
        )
    by_run = bool(components) or all_content or declaration
    parts: dict[str, list[str]] = {}
    named: list[int] = []
    keyed: list[str] = []
    store = log.store
    if by_run:
        wanted = PARTS if all_content else tuple(components)
        for target in targets:
            index = _run_parts(log, target, wanted, declaration, parts)
            named.append(index)
    else:
        for target in targets:
            text = str(target)
            if KEYED_DIGEST.fullmatch(text):
                keyed.append(text)
            elif DIGEST.fullmatch(text):
                if store.get_blob(text) is None and store.erasure(text) is None:
                    raise InputError(
                        f"content {text} is not stored in this log (and was never erased here)",
                        code=E_ERASE,
                        hint="check the digest, or --home: it may be another log's content",
                    )
                parts.setdefault(text, []).append(NAMED)
            else:
                raise InputError(
                    f"{text!r:.80} is not a content digest (sha256:<64 hex>) or a keyed digest",
                    code=E_ERASE,
                    hint=_USAGE,
                )
    sizes = {d: _size(log, d) for d in parts}
    kept = {d: p for d, p in parts.items() if sizes[d] is not None or store.erasure(d) is not None}
    found, unchecked = references(log, [d for d in kept if sizes[d] is not None])
    contents = []
    for digest, where in kept.items():
        runs = tuple(sorted(found.get(digest, ())))
        contents.append(
            Content(
                digest,
                tuple(dict.fromkeys(where)),
                sizes[digest],
                store.erasure(digest),
                runs,
                tuple(i for i in runs if i not in named),
            )
        )
    return ErasurePlan(tuple(dict.fromkeys(named)), tuple(contents), tuple(keyed), unchecked)


def erase(
    log: Log,
    plan: ErasurePlan,
    *,
    reason: str = "",
    force: bool = False,
    erased_at: datetime | None = None,
) -> ErasureResult:
    """Append the erasure notice of ``plan`` (:func:`erase_noticed`), then delete its blobs
    (:meth:`runid.store.LogStore.erase_blobs`, recording ``reason``, at ``erased_at`` or now)
    and remove its keyed digests from the home's keyed index. Refuses (``E_ERASE_SHARED``,
    nothing erased) content other runs reference, unless ``force``: erasing it erases it for
    them too."""
    check_reason(reason)
    shared = plan.shared
    if shared and not force:
        first = shared[0]
        others = len(first.others) if plan.runs else len(first.runs)
        whom = "other run(s)" if plan.runs else "runs"
        raise InputError(
            f"{len(shared)} content(s) are referenced by other runs too, the first "
            f"({first.digest}) by {others} {whom}: a content is stored once, so erasing it "
            "erases it for every run that references it",
            code=E_ERASE_SHARED,
            hint="list them with --dry-run; pass --force to erase them for every run",
        )
    if plan.keyed and log.home is None:
        raise InputError("keyed digests name lines of a home's keyed index: open the log in a home")
    digests = [c.digest for c in plan.to_erase]
    notice, erased = erase_noticed(
        log, digests, plan.keyed, reason=reason, rule=MANUAL, erased_at=erased_at
    )
    removed = 0
    if plan.keyed and log.home is not None:
        removed = log.home.erase_keyed_index(plan.keyed)
    checkpointed = getattr(log.store, "wal_checkpointed", None) if erased else None
    return ErasureResult(tuple(erased), removed, checkpointed, notice)


def erase_noticed(
    log: Log,
    digests: Sequence[str],
    keyed: Sequence[str] = (),
    *,
    reason: str,
    rule: str,
    erased_at: datetime | None = None,
) -> tuple[int | None, list[str]]:
    """Erase the blobs ``digests`` under an erasure notice (:mod:`runid.log.notices`): append
    the notice naming them and ``keyed`` first, signed by the log's key, then delete them; the
    notice's entry index (``None`` when there is nothing to erase: no notice) and the digests
    deleted. A failure after the notice leaves blobs a notice names, which the audit reports
    (``E_ERASED_STORED``) and erasing them again completes, under a second notice."""
    check_reason(reason)
    if not digests and not keyed:
        return None, []
    when = erased_at or datetime.now(UTC)
    action = erasure_action(digests, keyed, erased_at=erasure_time(when), reason=reason, rule=rule)
    notice = record_admin_action(log, action)
    erased = log.store.erase_blobs(digests, reason=reason, erased_at=when) if digests else []
    return notice, erased


def references(log: Log, digests: Sequence[str]) -> tuple[dict[str, set[int]], int]:
    """Every entry that references each of ``digests``, through its stored declaration (a
    content it names, or the declaration's own blob) or its outcome (outputs, error message);
    and how many entries' declarations the log does not hold (those cannot be checked)."""
    wanted = set(digests)
    found: dict[str, set[int]] = {d: set() for d in wanted}
    store = log.store
    log.refresh_lookups()
    by_blob = {blob: declaration for declaration, blob in store.iter_declaration_lookups()}
    held: set[str] = set()
    needles = {d: d.removeprefix("sha256:").encode("ascii") for d in wanted}
    for _number, data in store.iter_declaration_blobs(0):
        blob = content_digest(data)
        declaration_id = by_blob.get(blob)
        hits = [d for d, needle in needles.items() if needle in data]
        if declaration_id is None and (hits or blob in wanted):
            declaration_id = declaration_id_of(data)
        if declaration_id is None:
            continue  # not a declaration: bytes that only look like one
        held.add(declaration_id)
        named = set(digests_in(orjson.loads(data))) if hits else set()
        if blob in wanted:
            named.add(blob)
        for digest in named & wanted:
            found[digest].update(store.find_records(declaration_id))
    unchecked = 0
    if not wanted:
        return found, unchecked
    for entry in log.iter_entries():
        record = entry.record
        if record["declaration_id"] not in held:
            unchecked += 1
        for digest in set(digests_in(record["outcome"])) & wanted:
            found[digest].add(entry.index)
    return found, unchecked


_USAGE = (
    "name contents by digest (runid log erase sha256:<hex>...), or a run with --component "
    "NAME, --all-content or --declaration (runid log erase N --all-content)"
)


def _run_parts(
    log: Log,
    target: str | int,
    wanted: Sequence[str],
    declaration: bool,
    parts: dict[str, list[str]],
) -> int:
    """Add the digests run ``target`` references in ``wanted`` parts (and its declaration's
    blob) to ``parts``; the run's index."""
    ref = int(target) if isinstance(target, str) and target.isdigit() else target
    entry = log.entry(ref)
    record = entry.record
    skip = {record["declaration_id"], record["execution_id"]}
    components = [c for c in wanted if c != OUTPUTS]
    if components:
        stored = log.declaration(record["declaration_id"])
        if stored is None:
            raise InputError(
                f"this log does not hold the declaration of entry {entry.index} (withheld by "
                "its privacy mode, or erased): the contents it references cannot be found",
                code=E_ERASE,
                hint="erase the contents by digest: runid log erase sha256:<hex>...",
            )
        for component in components:
            for digest in digests_in(stored.get(component)):
                if digest not in skip:
                    parts.setdefault(digest, []).append(component)
    if OUTPUTS in wanted:
        for digest in digests_in(record["outcome"]):
            parts.setdefault(digest, []).append(OUTPUTS)
    if declaration:
        log.refresh_lookups()
        blob = log.store.find_declaration(record["declaration_id"])
        if blob is not None:
            parts.setdefault(blob, []).append(DECLARATION)
    return entry.index


def _size(log: Log, digest: str) -> int | None:
    data = log.store.get_blob(digest)
    return None if data is None else len(data)


def digests_in(value: Any) -> Iterator[str]:
    """Every digest-shaped string in ``value`` (content references, a template's digest, ...)."""
    if isinstance(value, str):
        if DIGEST.fullmatch(value):
            yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from digests_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from digests_in(item)
