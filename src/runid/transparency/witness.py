"""A witness: its cosigner key and durable per-log state, behind C2SP tlog-witness.

A witness home holds::

    <home>/witness.key       the cosigner's private key, type 0x04 (mode 0600)
    <home>/witness.pub       its verifier key, safe to publish
    <home>/witness.sqlite3   per log (origin): the size and root last cosigned, that cosigned
                             checkpoint, and the signed checkpoints it refused as inconsistent

:meth:`Witness.add_checkpoint` checks a request (:mod:`runid.tlog.witness`), then, in one
SQLite write transaction (``BEGIN IMMEDIATE``, ``synchronous=FULL``), reads the log's state,
checks consistency and stores the new state before it returns the cosignature: of two requests
at once, the second sees the first one's state (no rollback race), and an acknowledged
cosignature is on disk. A checkpoint validly signed by the log but inconsistent with what the
witness cosigned is kept as evidence of the fork (table ``refused``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from ..errors import E_WITNESS_STATE, FileAccessError, InputError
from ..keys import Keyring
from ..tlog.cosignature import CosigningKey, cosign
from ..tlog.witness import (
    LogState,
    WitnessRefusedError,
    check_consistency,
    check_submission,
    origin_hash,
    parse_add_checkpoint,
    witnessed_note,
)
from ._files import create_exclusive, read_file, replace_file

__all__ = ["DEFAULT_WITNESS_NAME", "Witness", "init_witness_key", "load_witness_key"]

DEFAULT_WITNESS_NAME = "runid.local/witness"
"""The name of a witness key created without one."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    checkpoint BLOB NOT NULL,
    updated INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS refused (
    origin TEXT NOT NULL,
    received INTEGER NOT NULL,
    status INTEGER NOT NULL,
    reason TEXT NOT NULL,
    request BLOB NOT NULL
);
"""


def _key_path(home: Path) -> Path:
    return home / "witness.key"


def init_witness_key(home: Path, name: str = DEFAULT_WITNESS_NAME) -> CosigningKey:
    """Create the witness's key in ``home``; refuses to replace one (``E_KEY_EXISTS``)."""
    key = CosigningKey.generate(name)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    create_exclusive(_key_path(home), (key.private_text() + "\n").encode("ascii"))
    replace_file(home / "witness.pub", (key.public.vkey + "\n").encode("ascii"))
    return key


def load_witness_key(home: Path) -> CosigningKey | None:
    """The witness's key in ``home``, or ``None`` if it has none."""
    data = read_file(_key_path(home), 4096)
    if data is None:
        return None
    return CosigningKey.from_private_text(data.decode("ascii", "replace"), str(_key_path(home)))


class Witness:
    """A witness for the logs in ``logs`` (origin -> keys trusted to sign its checkpoints)."""

    def __init__(
        self,
        home: Path,
        key: CosigningKey,
        logs: Mapping[str, Keyring],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not logs:
            raise InputError(
                "a witness needs at least one log to follow",
                hint="pass --log ORIGIN=VKEY (the log's origin and its public key)",
            )
        self.home = home
        self.key = key
        self.logs = dict(logs)
        self._clock = clock
        self._path = home / "witness.sqlite3"
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self._transaction(begin=False) as conn:
            conn.executescript(_SCHEMA)
        with contextlib.suppress(OSError):
            os.chmod(self._path, 0o600)

    @contextlib.contextmanager
    def _transaction(self, *, begin: bool = True) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self._path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise FileAccessError(
                f"{self._path}: cannot open ({exc})", code=E_WITNESS_STATE
            ) from None
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            if not begin:
                yield conn
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise FileAccessError(
                f"{self._path}: the witness state cannot be read or written ({exc})",
                code=E_WITNESS_STATE,
            ) from None
        finally:
            conn.close()

    def add_checkpoint(self, body: bytes) -> bytes:
        """Handle an add-checkpoint request body; the response body (the cosignature line) on
        success, else :class:`~runid.tlog.witness.WitnessRefusedError` with its status."""
        request = parse_add_checkpoint(body)
        submission = check_submission(request, self.logs)
        origin = submission.origin
        refused: WitnessRefusedError | None = None
        response = b""
        with self._transaction() as conn:
            row = conn.execute("SELECT size, root FROM logs WHERE origin = ?", (origin,)).fetchone()
            state = LogState(int(row[0]), bytes(row[1])) if row else None
            try:
                new = check_consistency(request, submission, state)
            except WitnessRefusedError as exc:
                if exc.status == 422:  # signed by the log, and a fork: keep the evidence
                    conn.execute(
                        "INSERT INTO refused VALUES (?, ?, ?, ?, ?)",
                        (origin, int(self._clock()), exc.status, exc.message, body),
                    )
                refused = exc
            else:
                now = max(1, int(self._clock()))
                line = cosign(submission.text, self.key, now)
                note = witnessed_note(submission, [line])
                conn.execute(
                    "INSERT INTO logs VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET "
                    "size = excluded.size, root = excluded.root, "
                    "checkpoint = excluded.checkpoint, updated = excluded.updated",
                    (origin, new.size, new.root, note, now),
                )
                response = (line.line() + "\n").encode("utf-8")
        if refused is not None:
            raise refused
        return response

    def state(self, origin: str) -> tuple[LogState, bytes] | None:
        """What the witness last cosigned for ``origin``: the state and the cosigned note."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT size, root, checkpoint FROM logs WHERE origin = ?", (origin,)
            ).fetchone()
        return (LogState(int(row[0]), bytes(row[1])), bytes(row[2])) if row else None

    def checkpoint_by_hash(self, digest: str) -> bytes | None:
        """The latest cosigned checkpoint of the log whose origin hashes to ``digest``
        (the monitoring endpoint ``<prefix>/<origin hash>/checkpoint``)."""
        for origin in self.logs:
            if origin_hash(origin) == digest:
                found = self.state(origin)
                return found[1] if found else None
        return None

    def refused(self, origin: str) -> list[tuple[int, str]]:
        """The refused, validly signed checkpoints of ``origin``: ``(time, reason)``."""
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT received, reason FROM refused WHERE origin = ? ORDER BY rowid", (origin,)
            ).fetchall()
        return [(int(r[0]), str(r[1])) for r in rows]
