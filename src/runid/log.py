"""The transparency log: signed execution records in an RFC 9162 Merkle log with checkpoints.

:class:`Log` joins a :class:`~runid.store.LogStore` (sequencing and durability) with the
issuer's signing key (envelopes and checkpoints). Every append signs a new checkpoint inside
the store's transaction, so the stored tree always matches its latest signed checkpoint, even
after a crash.

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

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from . import canonical
from .checkpoint import Checkpoint, sign_checkpoint, verify_checkpoint
from .digest import content_ref
from .envelope import envelope_bytes, leaf_hash, sign_record, verify_envelope
from .errors import InputError, RunidError, VerificationError
from .home import Home
from .identity import compute_identity
from .keys import Keyring, PublicKey, SigningKey
from .merkle import verify_consistency
from .proof import format_proof
from .receipt import make_receipt
from .record import new_record
from .store import LogStore, open_store

__all__ = ["AuditFinding", "Entry", "Log"]

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Entry:
    """One log entry: its position and the signed record."""

    index: int
    envelope: dict[str, Any]
    record: dict[str, Any]


@dataclass(frozen=True)
class AuditFinding:
    """One problem ``runid log audit`` found, naming the entry (or part) concerned."""

    where: str
    problem: str


class Log:
    """A transparency log in a runid home."""

    def __init__(self, store: LogStore, key: SigningKey | None, public: PublicKey) -> None:
        self.store = store
        self.key = key
        self.public = public
        self.origin = public.name
        self.keyring = Keyring([public])

    @classmethod
    def open(cls, home: Home, *, need_key: bool = True) -> Log:
        """Open the log of ``home``. Without ``need_key`` it opens read-only in spirit: the
        public key is enough to read, prove and audit."""
        if not home.signing_key_path.exists() and not home.public_key_path.exists():
            raise InputError(
                f"{home.path}: no runid keys here",
                hint="create them with 'runid keys init' (or point --home / RUNID_HOME elsewhere)",
            )
        key = home.signing_key() if need_key or home.signing_key_path.exists() else None
        public = key.public_key if key else PublicKey.parse(home.public_key_path.read_text())
        return cls(open_store(home.path), key, public)

    def close(self) -> None:
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

    def append(self, envelopes: Sequence[Mapping[str, Any]]) -> list[int]:
        """Append signed envelopes (verified first: the log only holds what verifies)."""
        for envelope in envelopes:
            verify_envelope(envelope, self.keyring)
        leaves = [envelope_bytes(envelope) for envelope in envelopes]
        return self.store.append(leaves, sign_checkpoint=self._sign_checkpoint)

    def append_record(self, record: Mapping[str, Any]) -> Entry:
        """Sign ``record`` with the issuer key and append it durably."""
        envelope = sign_record(record, self._signer())
        leaves = [envelope_bytes(envelope)]
        index = self.store.append(leaves, sign_checkpoint=self._sign_checkpoint)[0]
        return Entry(index, envelope, dict(record))

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
        """Record one run of ``declaration`` that produced ``output``; keep both as blobs."""
        identity = compute_identity(declaration)
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
        self.store.put_blob(output)
        self.store.put_blob(canonical.canonicalize(declaration))
        return self.append_record(record)

    def checkpoint(self) -> bytes:
        """The latest signed checkpoint (signing one for the current size if there is none)."""
        latest = self.store.latest_checkpoint()
        size = self.store.size()
        if latest is not None and latest.size == size:
            return latest.note
        note = self._sign_checkpoint(size, self.store.root(size))
        return self.store.save_checkpoint(size, note).note

    # --- reading --------------------------------------------------------------------------

    def size(self) -> int:
        return self.store.size()

    def entry(self, ref: str | int) -> Entry:
        """The entry at index ``ref`` (a number) or with execution id ``ref``."""
        index = self._index_of(ref)
        envelope = canonical.loads(self.store.entry(index))
        if not isinstance(envelope, dict):
            raise VerificationError(f"entry {index}: stored bytes are not an envelope")
        record = verify_envelope(envelope, self.keyring)
        return Entry(index, envelope, record)

    def _index_of(self, ref: str | int) -> int:
        size = self.store.size()
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            index = int(ref)
            if not 0 <= index < size:
                raise InputError(f"no entry {index}: the log has {size} entries (0..{size - 1})")
            return index
        if not _DIGEST.fullmatch(ref):
            raise InputError(
                f"{ref!r} is neither an entry number nor an execution id (sha256:<64 hex>)"
            )
        found = self.store.find_execution(ref) if hasattr(self.store, "find_execution") else None
        if found is not None:
            return int(found)
        needle = f'"execution_id":"{ref}"'.encode()
        for index, data in self.store.iter_entries():
            # The execution id sits in the base64 payload; decode only the candidates.
            if _has_execution_id(data, needle):
                return index
        raise InputError(f"no entry with execution id {ref} in this log")

    def receipt(self, ref: str | int, declaration: Mapping[str, Any] | None = None) -> bytes:
        """An offline-verifiable receipt for entry ``ref`` against the latest checkpoint."""
        entry = self.entry(ref)
        if declaration is not None:
            computed = compute_identity(declaration).declaration_id
            if computed != entry.record["declaration_id"]:
                raise InputError(
                    f"the declaration's id {computed} is not the one recorded in entry "
                    f"{entry.index} ({entry.record['declaration_id']})"
                )
        note = self.checkpoint()
        checkpoint = verify_checkpoint(note, self.keyring, self.origin)
        hashes = self.store.inclusion_proof(entry.index, checkpoint.size)
        proof = format_proof(entry.index, hashes, note)
        return make_receipt(entry.envelope, proof, dict(declaration) if declaration else None)

    def consistency(self, old_note: bytes) -> tuple[Checkpoint, Checkpoint]:
        """Prove that the current log extends the tree of an earlier signed checkpoint."""
        old = verify_checkpoint(old_note, self.keyring, self.origin)
        new_note = self.checkpoint()
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

    def audit(self) -> list[AuditFinding]:
        """Re-hash every record and node; check them against the latest signed checkpoint."""
        findings: list[AuditFinding] = []
        try:
            report = self.store.audit(check=False)
            findings += [AuditFinding("store", problem) for problem in report.problems]
        except RunidError as exc:
            findings.append(AuditFinding("store", exc.message))
        latest = self.store.latest_checkpoint()
        if latest is not None:
            try:
                checkpoint = verify_checkpoint(latest.note, self.keyring, self.origin)
                if checkpoint.root != latest.root or checkpoint.size != latest.size:
                    findings.append(AuditFinding("checkpoint", "signed root differs from stored"))
                elif self.store.root(checkpoint.size) != checkpoint.root:
                    findings.append(
                        AuditFinding("checkpoint", "the tree does not match its signed checkpoint")
                    )
            except RunidError as exc:
                findings.append(AuditFinding(f"checkpoint at size {latest.size}", exc.message))
        for index, data in self.store.iter_entries():
            try:
                envelope = canonical.loads(data)
                if not isinstance(envelope, dict):
                    raise VerificationError("not an envelope")
                verify_envelope(envelope, self.keyring)
                if leaf_hash(envelope) != self._stored_leaf_hash(index):
                    raise VerificationError("its leaf hash differs from the stored one")
            except RunidError as exc:
                findings.append(AuditFinding(f"entry {index}", exc.message))
        return findings

    def _stored_leaf_hash(self, index: int) -> bytes:
        for _i, digest in self.store.iter_nodes(0, index, index + 1):
            return digest
        raise VerificationError(f"entry {index}: no stored leaf hash")


def _has_execution_id(data: bytes, needle: bytes) -> bool:
    envelope = canonical.loads(data)
    payload = envelope.get("payload") if isinstance(envelope, dict) else None
    if not isinstance(payload, str):
        return False
    try:
        return needle in base64.b64decode(payload)
    except ValueError:
        return False
