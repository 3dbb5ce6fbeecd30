"""The transparency log: signed execution records in an RFC 9162 Merkle log with checkpoints.


:class:`Log` joins a :class:`~runid.store.LogStore` (sequencing and durability) with the
issuer's signing key (envelopes and checkpoints). :meth:`Log.append` is the one way in: signed
envelopes and their content blobs in one store transaction (one durable commit however
many runs it holds). Checkpoints are decoupled from appends (ADR 0019): an append signs one in
its transaction at most every :data:`CHECKPOINT_INTERVAL` seconds per :class:`Log`, a receipt,
proof or checkpoint request signs one for the current size when the latest does not cover it,
and closing a log that appended signs one for its size; every stored checkpoint is of a prefix
of the stored tree, even after a crash. :meth:`Log.record_run`, :meth:`Log.append_record` and
capture's writer thread all append through it.

>>> import tempfile, pathlib
>>> from runid.home import Home
>>> from runid.examples import example
>>> home = Home(pathlib.Path(tempfile.mkdtemp()) / "home")
>>> _ = home.init_keys("runid.example/log")
>>> with Log.open(home) as log:
...     entry = log.record_run(example("chat-hosted-model"), output=b"Refund on its way.")
...     entry.index, log.size()
(0, 1)
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, cast

from .. import canonical
from ..checkpoint import Checkpoint, sign_checkpoint, verify_checkpoint
from ..digest import content_digest, content_ref
from ..envelope import envelope_bytes, sign_record, verify_envelope
from ..errors import (
    E_DECLARATION_NOT_STORED,
    E_NOT_IN_LOG,
    E_STORE_CORRUPT,
    InputError,
    VerificationError,
)
from ..home import Home
from ..identity import compute_identity
from ..keys import Keyring, PublicKey, SigningKey
from ..merkle import verify_consistency
from ..proof import format_proof
from ..receipt import make_receipt
from ..record import new_record
from ..store import (
    DECLARATION_BLOB_PREFIX,
    AppendLookups,
    LogStore,
    open_store,
    open_store_url,
)
from ..wire import Declaration, Envelope, Record
from ._audit import AuditFinding, Progress, audit_log
from ._checkpoints import CHECKPOINT_INTERVAL, stored_covering
from ._ids import DIGEST, declaration_id_of, envelope_of, payload_record, record_ids
from ._parallel import verified, workers_for

__all__ = ["CHECKPOINT_INTERVAL", "AuditFinding", "Entry", "Log"]


@dataclass(frozen=True)
class Entry:
    """One log entry: its position and the signed record."""

    index: int
    envelope: Envelope
    record: Record


class Log:
    """A transparency log in a runid home."""

    def __init__(
        self,
        store: LogStore,
        key: SigningKey | None,
        public: PublicKey,
        *,
        home: Home | None = None,
    ) -> None:
        self.store = store
        self.key = key
        self.public = public
        self.origin = public.name
        self.keyring = Keyring([public])
        # Where keyed-index lines go (Log.open sets it; a log built on a bare store has none).
        self.home = home
        # SHA-256 of the leaves of envelopes this log signed and has not appended yet, with
        # their execution and declaration ids: they verify by construction, so append does
        # not verify them again (see sign()).
        self._signed: dict[bytes, tuple[str, str]] = {}
        # Declaration blob digest -> its declaration id (None: not a declaration), so the
        # same declaration stored with run after run is read once (see _declaration_rows).
        self._declaration_ids: dict[bytes, str | None] = {}
        # Checkpoints decoupled from appends (ADR 0019): when this log last signed one in an
        # append (monotonic seconds; None: never), and whether it appended since.
        self.checkpoint_interval = CHECKPOINT_INTERVAL
        self._checkpointed: float | None = None
        self._uncovered = False

    @classmethod
    def open(
        cls,
        home: Home,
        *,
        need_key: bool = True,
        store_url: str | None = None,
        readonly: bool = False,
    ) -> Log:
        """Open the log of ``home``. Without ``need_key`` the public key is enough: reading,
        proving and auditing need no private key. ``store_url`` (``sqlite:PATH`` or
        ``postgresql://...``, :func:`~runid.store.open_store_url`) keeps the log elsewhere than
        the home's SQLite file; the keys stay in the home.

        ``readonly`` opens the home's log for reading only (nothing created or written: SQLite
        ``mode=ro``) with the public key, so the commands that only read work on a home the
        process may not write (a snapshot handed to an auditor, a read-only mount). Lookups then
        keep their index rows in memory; anything that would write fails (``E_STORE``).
        """
        if not home.signing_key_path.exists() and not home.public_key_path.exists():
            raise InputError(
                f"{home.path}: no runid keys here",
                hint="create them with 'runid keys init' (or point --home / RUNID_HOME elsewhere)",
            )
        if readonly and store_url is None:
            if home.public_key_path.exists():
                public = PublicKey.parse(home.public_key_path.read_text())
            else:
                public = home.signing_key().public_key
            return cls(open_store(home.path, readonly=True), None, public, home=home)
        key = home.signing_key() if need_key or home.signing_key_path.exists() else None
        public = key.public_key if key else PublicKey.parse(home.public_key_path.read_text())
        store = open_store(home.path) if store_url is None else open_store_url(store_url)
        return cls(store, key, public, home=home)

    @property
    def readonly(self) -> bool:
        """True when the log was opened read-only (see :meth:`open`)."""
        return bool(getattr(self.store, "readonly", False))

    def close(self) -> None:
        """Close the store; first sign a checkpoint for the size if this log appended past its
        latest (best effort: the appends are durable, and the next request signs one)."""
        if self._uncovered and self.key is not None:
            with contextlib.suppress(Exception):
                self.checkpoint()
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- writing --------------------------------------------------------------------------

    def _signer(self) -> SigningKey:
        if self.key is None:
            raise InputError(
                "this operation needs the log's private key", hint="run on the log host"
            )
        return self.key

    def _sign_checkpoint(self, size: int, root: bytes) -> bytes:
        return sign_checkpoint(Checkpoint(self.origin, size, root), self._signer())

    def sign(self, record: Mapping[str, Any]) -> Envelope:
        """The envelope of ``record`` signed with the issuer key, to give to :meth:`append`.

        The log remembers the envelope (the digest of its bytes) until it is appended, and does
        not verify it again then (an envelope changed since would not match, and is verified).
        This is the batched ingest of runs the caller signs itself: sign each record with this
        method, then append them in batches (up to :data:`_SIGNED_MAX` signed ahead; past that
        the log forgets those and verifies them at append like any envelope).
        """
        envelope = sign_record(record, self._signer())  # validates ``record`` (any mapping)
        if len(self._signed) >= _SIGNED_MAX:
            self._signed.clear()  # signed but never appended: they would only be verified
        key = hashlib.sha256(envelope_bytes(envelope)).digest()
        self._signed[key] = (record["execution_id"], record["declaration_id"])
        return envelope

    def append(
        self,
        envelopes: Sequence[Mapping[str, Any]],  # untrusted: verified unless sign() made them
        *,
        blobs: Sequence[bytes] = (),
        keyed: Sequence[Mapping[str, Any]] = (),
        checkpoint: bool | None = None,
    ) -> list[int]:
        """Append signed envelopes with their content; the index of each, in order.

        The one write path of the log. The envelopes (verified first, unless :meth:`sign`
        made them: the log only holds what verifies) and the content ``blobs`` go into one
        store transaction: one durable commit for any number of runs, all of it or nothing;
        acknowledged is durable. A checkpoint for the new tree is signed in the same
        transaction when ``checkpoint`` is true, or, by default, when this log signed none in
        its appends for :attr:`checkpoint_interval` seconds (ADR 0019): the checkpoint that
        covers an entry is otherwise signed when a receipt, proof or checkpoint asks for it
        (:meth:`checkpoint`), or when this log is closed.

        ``keyed`` are keyed-index lines (privacy mode ``keyed``), appended to the home's index
        (:meth:`~runid.home.Home.append_keyed_index`) just before the transaction: a file, not
        part of it, so a line can exist for a run that did not land (or twice, when that run is
        appended again), never a run without its lines. An envelope already in the log is not
        appended again (its index is returned), so retrying an append whose acknowledgement was
        lost is safe.

        The lookup indexes (execution id, declaration id, stored declaration) are written in the
        same transaction (ADR 0017): the first lookup after a bulk import has nothing to catch
        up. The ids come from the verified record, or, for an envelope this log signed, from
        the record it signed.
        """
        leaves = [envelope_bytes(envelope) for envelope in envelopes]
        if leaves:
            self._signer()  # a log without its key cannot sign the checkpoints of its appends
        signed = self._signed
        keys = [hashlib.sha256(leaf).digest() for leaf in leaves]
        records: list[tuple[str, str] | None] = []
        for envelope, key in zip(envelopes, keys, strict=True):
            ids = signed.get(key)
            if ids is None:
                record = verify_envelope(envelope, self.keyring)
                ids = (record["execution_id"], record["declaration_id"])
            records.append(ids)
        lookups = AppendLookups(records, self._declaration_rows(blobs))
        if keyed:
            if self.home is None:
                raise InputError("keyed-index lines need a log opened in a home (Log.open)")
            self.home.append_keyed_index(keyed)
        now = time.monotonic()
        if checkpoint is None:
            last = self._checkpointed
            checkpoint = last is None or now - last >= self.checkpoint_interval
        signer = self._sign_checkpoint if checkpoint else None
        indices = self.store.append(leaves, sign_checkpoint=signer, blobs=blobs, lookups=lookups)
        if checkpoint:
            self._checkpointed, self._uncovered = now, False
        elif leaves:
            self._uncovered = True
        for key in keys:
            signed.pop(key, None)
        return indices

    def _declaration_rows(self, blobs: Sequence[bytes]) -> list[tuple[str, str]]:
        """``(declaration id, blob digest)`` of each of ``blobs`` that holds a declaration's
        canonical bytes: what the read-time catch-up would index (see refresh_lookups)."""
        rows = []
        memo = self._declaration_ids
        for blob in blobs:
            if not isinstance(blob, bytes) or not blob.startswith(DECLARATION_BLOB_PREFIX):
                continue
            digest = hashlib.sha256(blob).digest()
            if digest not in memo:
                if len(memo) >= _DECLARATIONS_MAX:
                    memo.clear()
                memo[digest] = declaration_id_of(blob)
            declaration_id = memo[digest]
            if declaration_id is not None:
                rows.append((declaration_id, "sha256:" + digest.hex()))
        return rows

    def append_record(self, record: Mapping[str, Any]) -> Entry:
        """Sign ``record`` with the issuer key and append it durably."""
        envelope = self.sign(record)  # validates the record
        return Entry(self.append([envelope])[0], envelope, cast(Record, dict(record)))

    def record_run(
        self,
        declaration: Mapping[str, Any],
        *,
        output: bytes,
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
        observed: Mapping[str, Any] | None = None,
        media_type: str = "text/plain; charset=utf-8",
    ) -> Entry:
        """Record one run of ``declaration`` that produced ``output``; keep both as blobs, in
        the transaction that appends the record."""
        identity = compute_identity(declaration)  # validates ``declaration`` (any mapping)
        now = datetime.now(UTC)
        ref = content_ref(output, media_type)
        record = new_record(
            identity.declaration_id,
            issuer=self._signer(),
            started_at=started_at or now,
            ended_at=ended_at or now,
            outputs=[ref],
            observed=observed,
        )
        envelope = self.sign(record)
        blobs = [output, canonical.canonicalize(declaration)]
        return Entry(self.append([envelope], blobs=blobs)[0], envelope, record)

    def checkpoint(self, *, covering: int | None = None) -> bytes:
        """The signed checkpoint of the log's current size, signed (and stored) now if the
        latest stored one is older: appends do not sign one each (ADR 0019).

        A log that cannot sign (opened read-only or without its private key) returns the latest
        stored checkpoint if it covers ``covering`` entries (default: the current size), and
        raises :class:`~runid.errors.InputError` (``E_NOT_IN_LOG``) when none does yet.
        """
        note = self.current_checkpoint()
        if note is not None:
            return note
        if self.key is None or self.readonly:
            return stored_covering(self.store, covering)
        size = self.store.size()
        note = self._sign_checkpoint(size, self.store.root(size))
        stored = self.store.save_checkpoint(size, note).note
        self._uncovered = False  # what this log appended is in the tree of ``size``
        return stored

    def current_checkpoint(self) -> bytes | None:
        """The stored signed checkpoint of the log's current size, or ``None`` if there is
        none (appends sign one at most every :data:`CHECKPOINT_INTERVAL` seconds, ADR 0019;
        :meth:`checkpoint` then signs one, which needs the key and a writable log)."""
        latest = self.store.latest_checkpoint()
        if latest is not None and latest.size == self.store.size():
            return latest.note
        return None

    # --- reading --------------------------------------------------------------------------

    def size(self) -> int:
        return self.store.size()

    def entry(self, ref: str | int) -> Entry:
        """The entry at index ``ref`` (a number) or with execution id ``ref``."""
        index = self._index_of(ref)
        entry = self._verified(index, self.store.entry(index))
        if isinstance(ref, str) and DIGEST.fullmatch(ref) and entry.record["execution_id"] != ref:
            raise _stale_index(f"entry {index} is indexed as execution {ref}")
        return entry

    def iter_entries(
        self, start: int = 0, stop: int | None = None, *, workers: int | None = None
    ) -> Iterator[Entry]:
        """The entries ``start <= index < stop`` (default: up to the size now), each verified,
        in log order. Read from the store in pages, so memory stays flat however long the log
        (``runid check --all``); a leaf that does not verify raises, as :meth:`entry` does.

        ``workers`` processes verify the signatures (:mod:`runid.log._parallel`); by default
        as many as the CPUs this process may use once the range is long, else none (0: this
        process verifies)."""
        stop = self.store.size() if stop is None else stop
        count = workers_for(stop - start) if workers is None else workers
        pages = self.store.iter_entries(start, stop)
        if count <= 0:
            for index, data in pages:
                yield self._verified(index, data)
            return
        for index, data, (ids, _leaf, message, code) in verified(pages, self.keyring, count):
            if ids is None:
                raise VerificationError(f"entry {index}: {message}", code=code)
            envelope = envelope_of(data)
            yield Entry(index, envelope, payload_record(envelope))

    def _verified(self, index: int, data: bytes) -> Entry:
        envelope = envelope_of(data)
        if not isinstance(envelope, dict):
            raise VerificationError(f"entry {index}: stored bytes are not an envelope")
        record = verify_envelope(envelope, self.keyring)
        return Entry(index, cast(Envelope, envelope), record)  # verify_envelope accepted it

    def _index_of(self, ref: str | int) -> int:
        size = self.store.size()
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            index = int(ref)
            if not 0 <= index < size:
                span = f"entries 0..{size - 1}" if size else "no entries yet"
                raise InputError(f"no entry {index}: the log has {span}")
            return index
        if not DIGEST.fullmatch(ref):
            raise InputError(
                f"{ref!r} is neither an entry number nor an execution id (sha256:<64 hex>)"
            )
        self.refresh_lookups()
        found = self.store.find_execution(ref)
        if found is not None:
            return found
        raise InputError(
            f"no entry with execution id {ref} in this log",
            code=E_NOT_IN_LOG,
            hint="check the id, or --home / RUNID_HOME: it may be another log's run",
        )

    # --- lookups by id --------------------------------------------------------------------

    def refresh_lookups(self) -> None:
        """Bring the lookup indexes up to date with the log; cheap when they already are.

        The indexes (execution id -> entry, declaration id -> entries and stored declaration)
        are derived data. :meth:`append` writes them with each append (ADR 0017), so they are
        current after any append through this class; this catch-up covers the rest: a log
        written before, or by a path that appends to the store directly. Entries and blobs are
        read in order from the high-water marks, in batches of :data:`_LOOKUP_BATCH`, each
        committed on its own. Index rows are hints: every lookup re-verifies what it returns.
        """
        store = self.store
        entries_done, blobs_done = store.lookup_state()
        size = store.size()
        top_blob = store.max_blob_rowid()
        records: list[tuple[int, str, str]] = []
        start = entries_done
        for index, data in store.iter_entries(entries_done, size):
            ids = record_ids(data)
            if ids is not None:
                records.append((index, *ids))
            if index + 1 - start >= _LOOKUP_BATCH:
                store.add_lookups(records, [], entries=index + 1, blobs=blobs_done)
                records, start = [], index + 1
        declarations: list[tuple[str, str]] = []
        for rowid, data in store.iter_declaration_blobs(blobs_done):
            if rowid > top_blob:
                break  # stored after we looked: the next refresh takes it
            declaration_id = declaration_id_of(data)
            if declaration_id is not None:
                declarations.append((declaration_id, content_digest(data)))
        if records or declarations or entries_done < size or blobs_done < top_blob:
            store.add_lookups(records, declarations, entries=size, blobs=top_blob)

    def entries_of(self, declaration_id: str) -> list[Entry]:
        """Every entry (verified) whose record has ``declaration_id``, in log order."""
        _check_id(declaration_id, "declaration id")
        self.refresh_lookups()
        found = []
        for index in self.store.find_records(declaration_id):
            entry = self.entry(index)
            if entry.record["declaration_id"] != declaration_id:
                raise _stale_index(f"entry {index} is indexed under declaration {declaration_id}")
            found.append(entry)
        return found

    def records_of(self, declaration_id: str) -> list[Entry]:
        """Alias of :meth:`entries_of` (the records are in each entry's ``record``)."""
        return self.entries_of(declaration_id)

    def declaration(self, declaration_id: str) -> Declaration | None:
        """The stored declaration with ``declaration_id``, or ``None`` if it was not stored
        (withheld, or recorded elsewhere). Its id is recomputed before it is returned."""
        _check_id(declaration_id, "declaration id")
        self.refresh_lookups()
        digest = self.store.find_declaration(declaration_id)
        if digest is None:
            return None
        data = self.store.get_blob(digest)
        if data is None:
            return None  # erased since it was indexed
        declaration = canonical.loads(data)
        if not isinstance(declaration, dict) or declaration_id_of(data) != declaration_id:
            raise _stale_index(f"blob {digest} is indexed as declaration {declaration_id}")
        return cast(Declaration, declaration)  # valid: declaration_id_of computed its id

    def content(self, digest: str) -> bytes | None:
        """The stored bytes with artifact digest ``digest`` (checked), or ``None``."""
        _check_id(digest, "content digest")
        return self.store.get_blob(digest)

    def stored_declaration(self, ref: str | int) -> tuple[str, Declaration]:
        """The declaration this log stores for ``ref``: ``(declaration id, declaration)``.

        ``ref`` is an entry number, an execution id, or a declaration id. Raises
        :class:`~runid.errors.InputError`: ``E_NOT_IN_LOG`` when ``ref`` names nothing in this
        log, ``E_DECLARATION_NOT_STORED`` when the log does not hold that declaration (it was
        withheld by the recorder's privacy mode, or recorded elsewhere).
        """
        where = ""
        if isinstance(ref, str) and DIGEST.fullmatch(ref):
            self.refresh_lookups()
            if self.store.find_execution(ref) is not None:
                declaration_id = self.entry(ref).record["declaration_id"]
                where = f" (the declaration of execution {ref})"
            elif self.store.find_records(ref) or self.store.find_declaration(ref) is not None:
                declaration_id = ref
            else:
                raise InputError(
                    f"no entry with execution id or declaration id {ref} in this log",
                    code=E_NOT_IN_LOG,
                    hint="check the id, or --home / RUNID_HOME: it may be another log's run",
                )
        else:
            entry = self.entry(ref)
            declaration_id = entry.record["declaration_id"]
            where = f" (the declaration of entry {entry.index})"
        declaration = self.declaration(declaration_id)
        if declaration is None:
            raise InputError(
                f"this log does not hold declaration {declaration_id}{where}",
                code=E_DECLARATION_NOT_STORED,
                hint="it was withheld when the run was recorded (privacy mode), erased, or "
                "recorded in another home; ask its issuer for the declaration file",
            )
        return declaration_id, declaration

    def receipt(
        self,
        ref: str | int,
        declaration: Mapping[str, Any] | None = None,
        *,
        include_stored: bool = False,
    ) -> bytes:
        """An offline-verifiable receipt for entry ``ref`` against the latest checkpoint.

        ``declaration`` is included (its id must be the recorded one). Without it, and with
        ``include_stored``, the declaration this log stores for the entry is included when it
        holds it; otherwise the receipt withholds the declaration (``{"absent": "withheld"}``).
        """
        entry = self.entry(ref)
        included: Declaration | None = None
        if declaration is not None:
            # Any mapping: compute_identity validates it (raises for an invalid declaration).
            computed = compute_identity(declaration).declaration_id
            if computed != entry.record["declaration_id"]:
                raise InputError(
                    f"the declaration's id {computed} is not the one recorded in entry "
                    f"{entry.index} ({entry.record['declaration_id']})"
                )
            included = cast(Declaration, dict(declaration))
        elif include_stored:
            included = self.declaration(entry.record["declaration_id"])
        note = self.checkpoint(covering=entry.index + 1)
        checkpoint = verify_checkpoint(note, self.keyring, self.origin)
        hashes = self.store.inclusion_proof(entry.index, checkpoint.size)
        proof = format_proof(entry.index, hashes, note)
        return make_receipt(entry.envelope, proof, included)

    def consistency(self, old_note: bytes) -> tuple[Checkpoint, Checkpoint]:
        """Prove that the current log extends the tree of an earlier signed checkpoint (its
        checkpoint now; a log that cannot sign uses its latest stored one, ADR 0019)."""
        old = verify_checkpoint(old_note, self.keyring, self.origin)
        new_note = self.checkpoint(covering=old.size)
        new = verify_checkpoint(new_note, self.keyring, self.origin)
        if old.size > new.size:
            raise VerificationError(
                f"the old checkpoint has {old.size} entries, more than the log's {new.size}: "
                "the log was truncated or this checkpoint is from another log"
            )
        if old.size == 0:
            return old, new  # the empty tree is a prefix of every tree
        proof = self.store.consistency_proof(old.size, new.size) if old.size < new.size else []
        verify_consistency(old.size, new.size, proof, old.root, new.root)
        return old, new

    def audit(self, progress: Progress | None = None) -> list[AuditFinding]:
        """Check everything the log and its lookups rely on; every problem found, by place.

        The store re-hashes every entry, subtree and blob and checks its own structure (SQLite's
        integrity check); every stored checkpoint note is verified (signature, origin, and the
        size and root it states against the stored ones), and the tree against the latest;
        every envelope is verified and its leaf hash compared; and the lookup indexes are
        rebuilt from the entries and blobs and compared with the stored ones, so a lookup that
        answers "no such run" or "not stored" cannot be wrong without audit saying so.

        Memory stays flat: entries are read in pages and only findings kept. ``progress(done,
        total)`` is called every few thousand entries of the envelope pass (``runid log
        audit`` draws a progress bar with it on a terminal).
        """
        return audit_log(self.store, self.keyring, self.origin, progress)


_LOOKUP_BATCH = 10_000
"""Entries indexed per transaction when the lookup indexes catch up."""

_SIGNED_MAX = 1 << 16
"""Envelopes :meth:`Log.sign` remembers at most (32 bytes each; far more than capture's writer
queue holds, and a batched import signs and appends in batches of a few thousand)."""

_DECLARATIONS_MAX = 4096
"""Declaration blobs whose ids :meth:`Log.append` remembers."""


def _check_id(value: object, what: str) -> None:
    if not isinstance(value, str) or not DIGEST.fullmatch(value):
        raise InputError(
            f"{value!r:.80} is not a {what}", hint=f"a {what} is sha256:<64 lowercase hex digits>"
        )


def _stale_index(message: str) -> VerificationError:
    return VerificationError(
        f"lookup index: {message}, but it is not",
        code=E_STORE_CORRUPT,
        hint="the log database was altered; run 'runid log audit' and restore it from a backup",
    )
