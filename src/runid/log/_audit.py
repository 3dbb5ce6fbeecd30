"""Auditing a log: everything proofs and lookups rely on, checked against what it derives from.

:func:`audit_log` is :meth:`runid.log.Log.audit`. The store re-hashes its entries, subtrees and
blobs and checks its own structure (:meth:`runid.store.LogStore.audit`); here every stored
checkpoint note is verified, every envelope, and the lookup indexes are rebuilt from the entries
and blobs (:mod:`runid.log._ids`, as a refresh would write them) and compared row by row: a
lookup that answers "no such run" or "not stored" cannot be wrong without the audit saying so.
Last, the store's erasure rows and blobs are checked against the log's erasure notices
(:mod:`runid.log.notices`, docs/spec.md §20.7).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..checkpoint import Checkpoint, verify_checkpoint
from ..digest import content_digest
from ..errors import E_ERASED_STORED, E_ERASURE_UNNOTICED, E_STORE_CORRUPT, RunidError
from ..keys import Keyring
from ..store import LogStore
from ._ids import declaration_id_of, record_ids
from ._parallel import Verdict, verdict_of, verified, workers_for
from .notices import Notice, iter_notices, notice_finder, notices_by_digest

__all__ = ["PROGRESS_EVERY", "AuditFinding", "Progress", "audit_log"]

Progress = Callable[[int, int], None]
"""``progress(entries checked, entries in all)``, called as an audit goes (see ``audit_log``)."""

PROGRESS_EVERY = 4096
"""Entries between two calls of an audit's ``progress``."""


@dataclass(frozen=True)
class AuditFinding:
    """One problem ``runid log audit`` found, naming the entry (or part) concerned; ``code``
    is the stable code of the check that failed (``E_STORE_CORRUPT`` for stored data that does
    not match what it derives from; a verifier's code, such as ``E_SIGNATURE`` or
    ``E_NOTE_BAD_SIGNATURE``, for an envelope or checkpoint that does not verify)."""

    where: str
    problem: str
    code: str = E_STORE_CORRUPT


def audit_log(
    store: LogStore,
    keyring: Keyring,
    origin: str,
    progress: Progress | None = None,
    *,
    workers: int | None = None,
) -> list[AuditFinding]:
    """Every problem of the log in ``store`` whose checkpoints ``keyring`` verifies for
    ``origin``; empty when it is sound. See :meth:`runid.log.Log.audit`.

    Streaming: the entries are read in pages and only findings are kept, so memory does not
    grow with the log. ``progress``, if given, is called every :data:`PROGRESS_EVERY` entries
    of the envelope pass (the longest: one signature verification each) and at its end.
    ``workers`` processes verify the envelopes (default: :func:`~runid.log._parallel.
    workers_for` the log's size; 0: this process). With workers, an SQLite store's own audit
    runs meanwhile, in a process with its own read-only connection (:class:`_StoreAudit`)."""
    count = workers_for(store.size()) if workers is None else workers
    background = _StoreAudit.start(store) if count > 0 else None
    try:
        return _audit(store, keyring, origin, progress, count=count, background=background)
    finally:
        if background is not None:
            background.stop()


def _audit(
    store: LogStore,
    keyring: Keyring,
    origin: str,
    progress: Progress | None,
    *,
    count: int,
    background: _StoreAudit | None,
) -> list[AuditFinding]:
    findings = _store_findings(store) if background is None else []
    findings += _checkpoints(store, keyring, origin)
    entries_mark, blobs_mark = store.lookup_state()
    size = store.size()
    if entries_mark > size:
        findings.append(
            AuditFinding(
                "lookup index",
                f"the lookup state says {entries_mark} entries were indexed, but the log has "
                f"{size} entries: runs appended from now on would never be indexed",
            )
        )
    # The log's key signs the erasure notices: the key of ``keyring`` named for the log's
    # origin (a keyring may hold client keys too, ``runid tokens audit``). They are picked
    # out of the entries as this pass reads them (a run's entry is passed over in ~0.5 µs).
    log_keys = Keyring(keyring[k] for k in keyring if keyring[k].name == origin)
    find_notice = notice_finder(store, log_keys)
    notices: list[Notice] = []
    rows = iter(store.iter_record_lookups())
    row = next(rows, None)
    leaves = iter(store.iter_nodes(0, 0, size))
    leaf = next(leaves, None)
    stream = (
        verified(store.iter_entries(0, size), keyring, count)
        if count > 0
        else ((i, d, verdict_of(d, keyring)) for i, d in store.iter_entries(0, size))
    )
    for index, data, verdict in stream:
        while leaf is not None and leaf[0] < index:
            leaf = next(leaves, None)
        ids = verdict[0]
        if ids is None or leaf is None or leaf[0] != index or verdict[1] != leaf[1]:
            failure, ids = _entry_problem(verdict, data, leaf, index)
            if failure is not None:
                findings.append(AuditFinding(f"entry {index}", *failure))
        while row is not None and row[0] < index:
            row = next(rows, None)  # a row of a missing entry: the store reports the entry
        indexed = (row[1], row[2]) if row is not None and row[0] == index else None
        if indexed != ids:
            problem = _lookup_problem(ids, indexed, required=index < entries_mark)
            if problem is not None:
                findings.append(AuditFinding(f"entry {index}", problem))
        notice = find_notice(data)
        if notice is not None:
            notices.append((index, notice))
        if progress is not None and (index + 1) % PROGRESS_EVERY == 0:
            progress(index + 1, size)
    if progress is not None:
        progress(size, size)
    beyond = [r[0] for r in (row, *rows) if r is not None and r[0] >= size]
    if beyond and beyond[-1] >= store.size():  # (not a run appended and indexed meanwhile)
        findings.append(
            AuditFinding("lookup index", f"it lists entry {beyond[-1]}, beyond the log")
        )
    if background is not None:
        findings = background.findings(store) + findings
    notices += iter_notices(store, log_keys, size)  # runs appended meanwhile
    return findings + _declaration_lookups(store, blobs_mark) + _erasures(store, notices)


def _store_findings(store: LogStore) -> list[AuditFinding]:
    """What the store's own audit (:meth:`runid.store.LogStore.audit`) finds."""
    try:
        report = store.audit(check=False)
        return [AuditFinding("store", problem) for problem in report.problems]
    except RunidError as exc:
        return [AuditFinding("store", exc.message, exc.code)]


_CHILD: Final = (
    "import json, sys\n"
    "sys.path[:] = json.loads(sys.argv[2])\n"
    "from runid.log._audit import store_findings_of\n"
    "sys.stdout.write(store_findings_of(sys.argv[1]))\n"
)
"""The program of :class:`_StoreAudit`'s process (isolated: the caller's ``sys.path`` only)."""


def store_findings_of(home: str) -> str:
    """In :class:`_StoreAudit`'s process: the store audit's findings on the SQLite log of
    ``home`` (opened read-only), as JSON."""
    from ..store.sqlite import SQLiteStore  # (only a long log's audit needs it)

    with SQLiteStore.open(Path(home), readonly=True) as copy:
        found = _store_findings(copy)
    return json.dumps([[f.where, f.problem, f.code] for f in found])


class _StoreAudit:
    """The store's own audit of an SQLite log, in a new process with its own read-only
    connection, while worker processes verify the envelopes.

    It re-hashes every entry, subtree and blob (10-20 µs an entry), which otherwise runs alone
    before the envelope pass with one core busy. A new process (``python -I -S -c``, the
    caller's ``sys.path``): not a fork (the child would share the SQLite library's state of
    the file the caller's connection has open), nor a thread (the two would take turns at
    this process's GIL at every row either reads: ~3 µs an entry more at 1M entries). If it
    cannot start or does not answer, the audit runs here, on the caller's connection, as
    without workers."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc

    @classmethod
    def start(cls, store: LogStore) -> _StoreAudit | None:
        """One started for ``store`` if it is an SQLite log, else None."""
        from ..store.sqlite import SQLiteStore

        if not isinstance(store, SQLiteStore) or not sys.executable:
            return None
        argv = [sys.executable, "-I", "-S", "-c", _CHILD, str(store.path.parent)]
        try:
            proc = subprocess.Popen(
                [*argv, json.dumps(sys.path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            return None
        return cls(proc)

    def findings(self, store: LogStore) -> list[AuditFinding]:
        """What the store's audit found (waiting for it), or finds now on ``store``."""
        out, _ = self._proc.communicate()
        if self._proc.returncode == 0:
            try:
                return [AuditFinding(*found) for found in json.loads(out)]
            except (ValueError, TypeError):
                pass
        return _store_findings(store)

    def stop(self) -> None:
        """End the process if it still runs (the audit was interrupted)."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()


def _checkpoints(store: LogStore, keyring: Keyring, origin: str) -> list[AuditFinding]:
    """Every stored note: signed by the log's key for its origin, stating the stored size and
    root (which the store checked against the tree); the tree against the latest."""
    findings = []
    latest: Checkpoint | None = None
    for stored in store.iter_checkpoints():
        where = f"checkpoint at size {stored.size}"
        try:
            checkpoint = verify_checkpoint(stored.note, keyring, origin)
        except RunidError as exc:
            findings.append(AuditFinding(where, exc.message, exc.code))
            continue
        if checkpoint.size != stored.size or checkpoint.root != stored.root:
            findings.append(
                AuditFinding(
                    where,
                    f"its signed note states size {checkpoint.size} and a root other than the "
                    "one stored for this size",
                )
            )
        latest = checkpoint
    if latest is not None and store.root(latest.size) != latest.root:
        findings.append(
            AuditFinding(
                f"checkpoint at size {latest.size}", "the tree does not match its signed checkpoint"
            )
        )
    return findings


def _entry_problem(
    verdict: Verdict, data: bytes, stored_leaf: tuple[int, bytes] | None, index: int
) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
    """What is wrong with the envelope of entry ``index`` (from its verification ``verdict``),
    or with its stored leaf hash, as ``(message, code)``; and the ids its record gives
    (:func:`record_ids`, from the verified record when it verifies)."""
    ids, leaf, message, code = verdict
    if ids is None:
        return (message, code), record_ids(data)
    if stored_leaf is None or stored_leaf[0] != index:
        return (f"entry {index}: no stored leaf hash", E_STORE_CORRUPT), ids
    if leaf != stored_leaf[1]:
        return ("its leaf hash differs from the stored one", E_STORE_CORRUPT), ids
    return None, ids


def _lookup_problem(
    expected: tuple[str, str] | None, indexed: tuple[str, str] | None, *, required: bool
) -> str | None:
    """The lookup row of one entry against the ids its record gives (``required``: the entry
    is below the indexes' high-water mark, so its row must be there)."""
    if indexed == expected or (indexed is None and not required):
        return None
    if indexed is None:
        assert expected is not None
        return (
            f"missing from the lookup index: a lookup of execution {expected[0]} or of "
            f"declaration {expected[1]} would not find this run"
        )
    if expected is None:
        return "the lookup index lists this entry, which holds no readable record"
    return (
        f"the lookup index has it as execution {indexed[0]} of declaration {indexed[1]}, "
        f"but its record is execution {expected[0]} of declaration {expected[1]}"
    )


def _declaration_lookups(store: LogStore, blobs_mark: int) -> list[AuditFinding]:
    """Declaration id -> blob rebuilt from the blobs, against the stored rows."""
    findings = []
    top = store.max_blob_rowid()
    if blobs_mark > top:
        findings.append(
            AuditFinding(
                "lookup index",
                f"the lookup state says blobs up to {blobs_mark} were indexed, but the newest "
                f"blob is {top}: declarations stored from now on would not be found",
            )
        )
    stored = dict(store.iter_declaration_lookups())
    seen: set[str] = set()
    for rowid, data in store.iter_declaration_blobs(0):
        declaration_id = declaration_id_of(data)
        if declaration_id is None:
            continue
        seen.add(declaration_id)
        digest = content_digest(data)
        indexed = stored.get(declaration_id)
        if indexed == digest or (indexed is None and rowid > blobs_mark):
            continue  # right, or not indexed yet
        says = "is missing" if indexed is None else f"points at blob {indexed}"
        findings.append(
            AuditFinding(
                "lookup index",
                f"declaration {declaration_id} is stored as blob {digest} but its lookup row "
                f"{says}: 'runid log declaration' would say it is not stored",
            )
        )
    for declaration_id, digest in stored.items():
        # A row for a declaration no blob holds is harmless (a lookup re-checks the blob and
        # finds none); one that names another blob that exists is not.
        if declaration_id not in seen and store.get_blob(digest) is not None:
            findings.append(
                AuditFinding(
                    "lookup index",
                    f"declaration {declaration_id} points at blob {digest}, which is not that "
                    "declaration",
                )
            )
    return findings


def _erasures(store: LogStore, notices: list[Notice]) -> list[AuditFinding]:
    """Every local erasure row has a notice naming its digest (``E_ERASURE_UNNOTICED``: a blob
    deleted without one, the erasure cannot be proven), and no digest a notice names is stored
    (``E_ERASED_STORED``: an erasure that did not finish, or bytes put back). A log that never
    erased anything has neither, and nothing to find. ``notices``: the log's erasure notices
    (:func:`~runid.log.notices.iter_notices`), in log order."""
    named = notices_by_digest(notices)
    findings = []
    for erasure in store.iter_erasures():
        if erasure.digest not in named:
            findings.append(
                AuditFinding(
                    f"erasure of {erasure.digest}",
                    f"erased at {erasure.erased_at} by the local erasure row, but no erasure "
                    "notice in the log names it: the erasure cannot be proven (a blob deleted "
                    "outside 'runid log erase'?)",
                    E_ERASURE_UNNOTICED,
                )
            )
    for digest, indexes in named.items():
        if store.get_blob(digest) is not None:
            findings.append(
                AuditFinding(
                    f"entry {indexes[-1]}",
                    f"its erasure notice names {digest}, which is stored: an erasure that did "
                    "not finish (run it again) or content stored again since",
                    E_ERASED_STORED,
                )
            )
    return findings
