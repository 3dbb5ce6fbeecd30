"""Verifying the envelopes of a long log on several cores: ``runid check --all`` and the audit.

An Ed25519 verification costs ~40-100 µs here, most of what reading a verified entry costs, so
one core verifies at most ~10-25k entries a second. Past :data:`MIN_ENTRIES` entries, and when
the process may use more than one CPU, :func:`verified` hands the entries' bytes to worker
processes in chunks and yields, in log order, each entry's verdict: the ids of its verified
record and its leaf hash as the verifier recomputed it, or the error that verification raised.
The caller keeps reading the store (one connection, one snapshot, in this process) and keeps
memory flat: at most a few chunks per worker are in flight.

Workers are forked, on Linux and only from a process with one thread (forking a threaded
process can leave a lock held for ever in the child; spawning would re-run the caller's main
module, which for ``python -m runid`` is the command itself): otherwise the entries are verified
in this process. A worker never touches the SQLite connection it inherits and leaves with
``os._exit``, so the parent's connection is not disturbed. It gets the keyring as verifier-key
texts and verifies exactly as :func:`verify_envelope` does; only the work is spread, never
skipped.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Final, TypeAlias

from ..envelope import leaf_hash, verify_envelope
from ..errors import E_STORE_CORRUPT, RunidError
from ..keys import Keyring
from ..merkle import leaf_hash as data_leaf_hash
from ._ids import parsed_leaf

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = ["CHUNK", "MIN_ENTRIES", "Verdict", "verdict_of", "verified", "workers_for"]

MIN_ENTRIES: Final = 50_000
"""Entries below which one process is quicker than starting workers (each imports runid)."""

CHUNK: Final = 1000
"""Entries a worker verifies per task."""

_AHEAD: Final = 3
"""Tasks in flight per worker: enough to keep them busy, few enough to keep memory flat."""

_MAX_WORKERS: Final = 8


Verdict: TypeAlias = tuple[tuple[str, str] | None, bytes, str, str]
"""What verifying one entry's bytes gave, ``(ids, leaf, message, code)``: ``ids`` ``(execution
id, declaration id)`` and the ``leaf`` hash of the envelope's canonical form when it verified
(``message`` and ``code`` empty), else ``None``, ``b""`` and the ``message`` and ``code`` of
the error. A plain tuple: workers send them a thousand at a time, and a tuple pickles and
unpickles ~10x quicker than an object (~2.5 µs an entry less, in the worker and here)."""


def workers_for(entries: int) -> int:
    """How many worker processes to verify ``entries`` entries with (0: verify here)."""
    if entries < MIN_ENTRIES or sys.platform != "linux" or threading.active_count() > 1:
        return 0
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return 0 if cpus < 2 else min(cpus, _MAX_WORKERS)


def verified(
    entries: Iterable[tuple[int, bytes]], keyring: Keyring, workers: int
) -> Iterator[tuple[int, bytes, Verdict]]:
    """``(index, data, verdict)`` for each of ``entries``, in order, verified by ``workers``
    processes."""
    # Imported here: the process pool costs ~15 ms of start-up to every command that reads
    # the log, and only a long log uses it.
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    keys = [key.vkey for key in keyring.values()]
    # A forked worker flushes the standard streams it inherited when it ends: flush them
    # first, or what this process had buffered would be written once per worker too.
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    with ProcessPoolExecutor(
        workers, mp_context=get_context("fork"), initializer=_start, initargs=(keys,)
    ) as pool:
        pending: deque[tuple[list[tuple[int, bytes]], Future[list[Verdict]]]] = deque()
        for chunk in _chunks(entries):
            pending.append((chunk, pool.submit(_verify, [data for _index, data in chunk])))
            while len(pending) >= workers * _AHEAD:
                yield from _results(pending.popleft())
        while pending:
            yield from _results(pending.popleft())


def _chunks(entries: Iterable[tuple[int, bytes]]) -> Iterator[list[tuple[int, bytes]]]:
    chunk: list[tuple[int, bytes]] = []
    for entry in entries:
        chunk.append(entry)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _results(
    item: tuple[list[tuple[int, bytes]], Future[list[Verdict]]],
) -> Iterator[tuple[int, bytes, Verdict]]:
    chunk, future = item
    for (index, data), verdict in zip(chunk, future.result(), strict=True):
        yield index, data, verdict


# --- in the worker --------------------------------------------------------------------------

_KEYRING = Keyring()


def _start(keys: list[str]) -> None:
    global _KEYRING  # noqa: PLW0603 - the worker's one piece of state, set once
    _KEYRING = Keyring.from_texts(keys)


def _verify(chunk: list[bytes]) -> list[Verdict]:
    return [verdict_of(data, _KEYRING) for data in chunk]


def verdict_of(data: bytes, keyring: Keyring) -> Verdict:
    """The verdict on one entry's bytes (what a worker computes; also usable in process).

    The leaf hash is :func:`~runid.envelope.leaf_hash` of the verified envelope: the hash of
    its canonical bytes. When reading ``data`` showed them to be exactly those bytes (a sound
    leaf always is), they are hashed as they are instead of canonicalized again."""
    try:
        envelope, canonical = parsed_leaf(data)
        if not isinstance(envelope, dict):
            return None, b"", "not an envelope", E_STORE_CORRUPT
        record = verify_envelope(envelope, keyring)
        # verify_envelope checked the envelope's form, all envelope_bytes() checks besides
        # canonicalizing it; and canonicalize(envelope) == data when ``canonical``.
        leaf = data_leaf_hash(data) if canonical else leaf_hash(envelope)
        return (record["execution_id"], record["declaration_id"]), leaf, "", ""
    except RunidError as exc:
        return None, b"", exc.message, exc.code
