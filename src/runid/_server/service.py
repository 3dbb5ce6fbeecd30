"""The log service without HTTP: who may do what, and what each endpoint does.

:class:`Service` holds one server process's view of the log: a :class:`~.registry.Registry`
(projects, keys, tokens, the runs of each project) caught up with the log before every
request, a :class:`~runid.log.Log` per thread for reading, and a :class:`~.ingest.GroupCommit`
that appends every ingest request waiting in one commit. :mod:`runid._server.api` maps HTTP
requests onto its methods; tests call them directly too.

Isolation: every read starts from the project of the caller's token. A run, a declaration, a
content blob or an entry index that no run of that project names is "not found" (``E_NOT_FOUND``,
404), exactly as if it did not exist; searches, diffs, checks and counts see only the project's
runs. The proofs and the checkpoint are public: they show hashes and the log's size, nothing of
any run.
"""

from __future__ import annotations

import base64
import bisect
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .. import canonical
from ..diff import compare
from ..envelope import payload_predicate, verify_envelope
from ..errors import (
    E_AUTH,
    E_INPUT,
    E_NOT_FOUND,
    E_SCOPE,
    E_UNKNOWN_KEY,
    InputError,
    VerificationError,
)
from ..home import Home
from ..identity import compute_identity
from ..log import Log
from ..policy import FAIL, NA, PASS, Evaluation, RuleResult, evaluate, parse_policy
from ..resolve import Kind, Subject
from .access import allows, hash_matches, parse_token
from .access import token_hash as hash_of_token
from .ingest import GroupCommit
from .registry import (
    ProjectIndex,
    Registry,
    RunRow,
    admin_action,
    key_action,
    token_action,
)
from .search import Filters, run_json

__all__ = ["Config", "Principal", "Service"]

MAX_CHECK_RUNS: Final = 1000
"""The most runs one policy check names."""

_DUMMY_HASH: Final = hash_of_token("runid_0000000000000000_" + "A" * 43)

_MISSING_DECLARATION = RuleResult(
    "declaration",
    FAIL,
    "the declaration's content is not stored in the log: no rule can be shown to hold",
    expected="the declaration",
)


@dataclass(frozen=True)
class Config:
    """How a service runs: its home (the log's keys), the store URL (default: the home's
    SQLite log) and the request limits."""

    home: Path
    store_url: str | None = None
    max_body: int = 16 * 1024 * 1024
    max_records: int = 1000


@dataclass(frozen=True)
class Principal:
    """Who is asking: the project and scope of the token, and its id (for the access log)."""

    project: str
    scope: str
    token_id: str


def not_found(what: str) -> InputError:
    return InputError(f"{what} not found", code=E_NOT_FOUND)


class Service:
    """One server process's service (thread-safe)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.home = Home(config.home)
        self.home.require_keys(private=True)
        self._local = threading.local()
        log = self.log()
        self.registry = Registry(log.public)
        self._keyrings: dict[tuple[int, str | None], Any] = {}
        self.writer = GroupCommit(self._open_log, lambda: self._keyring(None))
        self.refresh()

    # --- logs, one per thread ----------------------------------------------------------------

    def _open_log(self) -> Log:
        return Log.open(self.home, store_url=self.config.store_url)

    def log(self) -> Log:
        """This thread's log, its keyring current with the registered keys."""
        log: Log | None = getattr(self._local, "log", None)
        if log is None:
            log = self._local.log = self._open_log()
            self._local.version = -1
        registry = getattr(self, "registry", None)
        if registry is not None and self._local.version != registry.version:
            log.keyring = self._keyring(None)
            self._local.version = registry.version
        return log

    def _keyring(self, project: str | None) -> Any:
        registry = self.registry
        with registry.lock:
            key = (registry.version, project)
            ring = self._keyrings.get(key)
            if ring is None:
                if len(self._keyrings) > 64:
                    self._keyrings.clear()
                ring = self._keyrings[key] = (
                    registry.keyring()
                    if project is None
                    else registry.keyring(active_only=True, project=project)
                )
            return ring

    def refresh(self) -> None:
        """Catch the registry up with the log (cheap when nothing changed)."""
        self.registry.refresh(self.log())

    def close(self) -> None:
        self.writer.close()
        log = getattr(self._local, "log", None)
        if log is not None:
            log.close()

    def ready(self) -> dict[str, Any]:
        """Readiness: the store answers and the registry is current."""
        self.refresh()
        return {"status": "ready", "size": self.registry.done}

    # --- who is asking -----------------------------------------------------------------------

    def authenticate(self, authorization: str | None, needed: str) -> Principal:
        """The principal of a ``Bearer`` token that may do what needs scope ``needed``.

        ``E_AUTH`` (401) for a missing, malformed, unknown or revoked token, ``E_SCOPE`` (403)
        for a token whose scope does not allow it.
        """
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        token_id = parse_token(token) if scheme.lower() == "bearer" else None
        if token_id is None:
            raise InputError(
                "this endpoint needs a token: Authorization: Bearer runid_<id>_<secret>",
                code=E_AUTH,
                hint="an admin creates one with 'runid tokens create --project P --scope S'",
            )
        self.refresh()
        info = self.registry.tokens.get(token_id)
        matches = hash_matches(token, info.token_hash if info else _DUMMY_HASH)
        if info is None or not matches or info.revoked:
            raise InputError(f"token {token_id} is not valid (unknown or revoked)", code=E_AUTH)
        if not allows(info.scope, needed):
            raise InputError(
                f"token {token_id} has scope {info.scope}; this needs scope {needed}",
                code=E_SCOPE,
            )
        return Principal(info.project, info.scope, token_id)

    def _project(self, principal: Principal) -> ProjectIndex:
        return self.registry.project(principal.project)

    # --- ingest ------------------------------------------------------------------------------

    def ingest(
        self, principal: Principal, envelopes: Sequence[object], blobs: Sequence[bytes] = ()
    ) -> list[dict[str, Any]]:
        """Append ``envelopes`` (each signed by an active key of the project) and ``blobs`` in
        one commit, with the other requests waiting; each record's index and id.

        Here each envelope's key is checked against the project's active keys (and a
        malformed envelope or a key not active in the project refused with the verifier's own
        code); the full verification (§12.7) is :meth:`runid.log.Log.append`'s, in the writer,
        once per envelope. A request with an envelope that does not verify fails alone.
        """
        keyring = self._keyring(principal.project)
        active = frozenset(keyring)  # key ids (a Keyring's lookup raises for others)
        for position, envelope in enumerate(envelopes):
            if _key_id(envelope) not in active:
                try:
                    verify_envelope(envelope, keyring)  # says what is wrong, with its code
                except VerificationError as exc:
                    raise _refused(exc, position, len(envelopes), principal.project) from None
        checked = [dict(envelope) for envelope in envelopes if isinstance(envelope, Mapping)]
        try:
            indices = self.writer.append(checked, blobs)
        except VerificationError as exc:
            for position, envelope in enumerate(checked):  # which one: the slow path
                try:
                    verify_envelope(envelope, keyring)
                except VerificationError as found:
                    raise _refused(found, position, len(checked), principal.project) from None
            raise _refused(exc, 0, 1, principal.project) from None
        return [
            {"index": index, "execution_id": _execution_id(envelope)}
            for index, envelope in zip(indices, checked, strict=True)
        ]

    def store_blobs(self, blobs: Sequence[bytes]) -> None:
        """Store content blobs (idempotent; visible to a project once its runs name them)."""
        self.writer.append([], blobs)

    def store_declaration(self, declaration: object) -> dict[str, Any]:
        """Validate ``declaration``, store its canonical bytes; its id and digest."""
        identity = compute_identity(declaration)
        data = canonical.canonicalize(declaration)
        self.store_blobs([data])
        from ..digest import content_digest

        return {"declaration_id": identity.declaration_id, "digest": content_digest(data)}

    # --- reads -------------------------------------------------------------------------------

    def run_row(self, principal: Principal, execution_id: str) -> RunRow:
        row = self._project(principal).by_execution.get(execution_id)
        if row is None:
            raise not_found(f"run {execution_id}")
        return row

    def run(self, principal: Principal, execution_id: str) -> dict[str, Any]:
        return self._entry_json(self.run_row(principal, execution_id))

    def entry(self, principal: Principal, index: int) -> dict[str, Any]:
        project = self._project(principal)
        at = bisect.bisect_left(project.positions, index)
        if at == len(project.positions) or project.positions[at] != index:
            raise not_found(f"entry {index}")
        return self._entry_json(project.runs[at])

    def _entry_json(self, row: RunRow) -> dict[str, Any]:
        entry = self.log().entry(row.index)
        return {"index": row.index, "record": entry.record, "envelope": entry.envelope}

    def declaration(self, principal: Principal, declaration_id: str) -> dict[str, Any]:
        rows = self._project(principal).by_declaration.get(declaration_id)
        if not rows:
            raise not_found(f"declaration {declaration_id}")
        stored = self.log().declaration(declaration_id)
        info = self.registry.declarations.get(declaration_id)
        return {
            "declaration_id": declaration_id,
            "declaration": stored if stored is not None else {"absent": "withheld"},
            "components": dict(info.components) if info else None,
            "runs": len(rows),
            "first": rows[0].execution_id,
            "last": rows[-1].execution_id,
        }

    def blob(self, principal: Principal, digest: str) -> bytes:
        data = None
        if digest in self._project(principal).refs:
            data = self.log().content(digest)
        if data is None:
            raise not_found(f"content {digest}")
        return data

    def stats(self, principal: Principal) -> dict[str, Any]:
        project = self._project(principal)
        keys = [k for k in self.registry.keys.values() if k.project == principal.project]
        return {
            "project": principal.project,
            "runs": len(project.runs),
            "declarations": len(project.by_declaration),
            "keys": sum(not k.revoked for k in keys),
        }

    def keys(self, principal: Principal) -> dict[str, Any]:
        """The log's key and the project's keys (verifier keys), for offline verification."""
        keys = [k for k in self.registry.keys.values() if k.project == principal.project]
        return {
            "log": {"key": self.registry.log_key.vkey, "key_id": self.registry.log_key.key_id},
            "keys": [
                {"key": k.key.vkey, "key_id": k.key.key_id, "revoked": k.revoked} for k in keys
            ],
        }

    def search(self, principal: Principal, filters: Filters) -> dict[str, Any]:
        project = self._project(principal)
        matches = filters.select(project, self.registry.declarations)
        items: list[dict[str, Any]] = []
        cursor: int | None = None
        scanned = 0
        policy = filters.policy
        for row in matches:
            scanned += 1
            cursor = row.index
            if policy is not None:
                status = self._evaluate(policy, row).status
                if status != filters.policy_result:
                    if scanned >= filters.scan_limit:
                        break
                    continue
            items.append(run_json(row))
            if len(items) >= filters.limit or scanned >= filters.scan_limit:
                break
        else:
            cursor = None
        return {"items": items, "next_cursor": None if cursor is None else str(cursor)}

    def _evaluate(self, policy: Any, row: RunRow) -> Evaluation:
        log = self.log()
        declaration = log.declaration(row.declaration_id)
        if declaration is None:
            return Evaluation(FAIL, (_MISSING_DECLARATION,), "", {PASS: 0, FAIL: 1, NA: 0})
        return evaluate(policy, declaration, log.entry(row.index).record)

    def _subject(self, principal: Principal, ref: object, name: str) -> Subject:
        if not isinstance(ref, str):
            raise InputError(f"{name}: expected an execution id or a declaration id")
        project = self._project(principal)
        log = self.log()
        row = project.by_execution.get(ref)
        if row is not None:
            record = log.entry(row.index).record
            declaration_id = record["declaration_id"]
            origin = f"execution {ref}"
        elif ref in project.by_declaration:
            record, declaration_id, origin = None, ref, f"declaration {ref}"
        else:
            raise not_found(f"{name}: run or declaration {ref:.80}")
        declaration = log.declaration(declaration_id)
        kind: Kind = "execution" if record is not None else "declaration"
        if declaration is None:
            return Subject(
                kind, origin + ", declaration withheld", declaration_id, None, None, record
            )
        components = compute_identity(declaration).components
        return Subject(kind, origin, declaration_id, components, declaration, record)

    def diff(self, principal: Principal, a: object, b: object) -> dict[str, Any]:
        return compare(self._subject(principal, a, "a"), self._subject(principal, b, "b")).to_json()

    def check(self, principal: Principal, policy_value: object, runs: object) -> dict[str, Any]:
        policy = parse_policy_value(policy_value)
        if not isinstance(runs, list) or not runs or len(runs) > MAX_CHECK_RUNS:
            raise InputError(f"runs: expected a list of 1 to {MAX_CHECK_RUNS} execution ids")
        results = []
        for ref in runs:
            row = self.run_row(principal, str(ref))
            evaluation = self._evaluate(policy, row)
            results.append(
                {
                    "execution_id": row.execution_id,
                    "declaration_id": row.declaration_id,
                    "status": evaluation.status,
                    "results": [r.to_json() for r in evaluation.results],
                }
            )
        failed = any(r["status"] == FAIL for r in results)
        return {
            "policy": {"name": policy.name, "digest": policy.digest},
            "status": FAIL if failed else PASS,
            "runs": results,
        }

    def receipt(self, principal: Principal, execution_id: str, *, declaration: bool) -> bytes:
        row = self.run_row(principal, execution_id)
        return self.log().receipt(row.index, include_stored=declaration)

    # --- public: the checkpoint and proofs ---------------------------------------------------

    def checkpoint(self) -> bytes:
        # Of the current size: appends do not sign one each, this signs it when asked (ADR 0019).
        return self.log().checkpoint(covering=0)

    def inclusion(self, index: int, size: int) -> dict[str, Any]:
        log = self.log()
        if not 0 <= index < size <= log.size():
            raise InputError(
                f"no entry {index} in a tree of size {size} of this log (its size is {log.size()})",
                code=E_NOT_FOUND,
            )
        hashes = log.store.inclusion_proof(index, size)
        return _proof_json(log, size, hashes, index=index)

    def consistency(self, first: int, second: int) -> dict[str, Any]:
        log = self.log()
        if not 0 < first <= second <= log.size():
            raise InputError(
                f"no consistency proof from size {first} to {second} in this log (its size is "
                f"{log.size()}; 0 < from <= to)",
                code=E_NOT_FOUND,
            )
        hashes = log.store.consistency_proof(first, second) if first < second else []
        return _proof_json(log, second, hashes, first=first)

    # --- admin ---------------------------------------------------------------------------------

    def admin(self, action: dict[str, Any]) -> int:
        """Check ``action`` against the current state and append it as an admin record."""
        return admin_action(self.log(), self.registry, action)

    def create_token(self, project: str, scope: str, *, by: str) -> dict[str, Any]:
        action, token = token_action(project, scope, by=by)
        index = self.admin(action)
        return {
            "token": token,
            "token_id": action["token_id"],
            "project": project,
            "scope": scope,
            "index": index,
        }

    def revoke_token(self, project: str, token_id: str, *, by: str) -> int:
        action = {"action": "token.revoke", "project": project, "token_id": token_id, "by": by}
        return self.admin(action)

    def add_key(self, project: str, key: str, *, by: str) -> dict[str, Any]:
        action, public = key_action(project, key, by=by)
        index = self.admin(action)
        return {"key_id": public.key_id, "key": public.vkey, "index": index}

    def revoke_key(self, project: str, key_id: str, *, by: str) -> int:
        return self.admin({"action": "key.revoke", "project": project, "key_id": key_id, "by": by})

    def tokens(self, project: str) -> list[dict[str, Any]]:
        self.refresh()
        return [
            {"token_id": t.token_id, "scope": t.scope, "revoked": t.revoked, "index": t.index}
            for t in self.registry.tokens.values()
            if t.project == project
        ]


def _key_id(envelope: object) -> str | None:
    """The key id an envelope names, if it has the shape of one (checked by the verifier)."""
    try:
        key_id = envelope["signatures"][0]["keyid"]  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        return None
    return key_id if isinstance(key_id, str) else None


def _execution_id(envelope: Mapping[str, Any]) -> str:
    """The execution id in a verified envelope's payload."""
    return str(payload_predicate(envelope)["execution_id"])


def _refused(exc: VerificationError, position: int, count: int, project: str) -> VerificationError:
    where = f"records[{position}]: " if count > 1 else ""
    if exc.code == E_UNKNOWN_KEY:
        return VerificationError(
            f"{where}signed by a key that is not registered (or is revoked) for project {project}",
            code=E_UNKNOWN_KEY,
            hint=f"an admin registers it: runid tokens add-key --project {project} PUBKEY "
            "(PUBKEY: 'runid keys show' where it signs)",
        )
    return VerificationError(f"{where}{exc.message}", code=exc.code, hint=exc.hint)


def parse_policy_value(value: object) -> Any:
    """A policy given in a request: a JSON object (the document) or a YAML/JSON text."""
    if isinstance(value, dict):
        return parse_policy(canonical.canonicalize(value), fmt="json")
    if isinstance(value, str):
        return parse_policy(value.encode("utf-8"))
    raise InputError("policy: expected a policy document (object) or its YAML text", code=E_INPUT)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _proof_json(log: Log, size: int, hashes: list[bytes], **where: int) -> dict[str, Any]:
    stored = log.store.checkpoint_at(size)
    return {
        **where,
        "size": size,
        "hashes": [_b64(h) for h in hashes],
        "checkpoint": stored.note.decode("utf-8") if stored is not None else None,
    }
