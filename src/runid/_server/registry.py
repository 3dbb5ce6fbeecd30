"""What the log service knows about projects, keys and tokens, derived from the log itself.

Admin actions (a token created or revoked, a key registered or revoked) are **records in the
log**: each is a run of the log's own key whose one output is the action, a small canonical
JSON object of media type :data:`ADMIN_MEDIA` (its declaration names the action as its input,
so every action has its own declaration id). So the state of access control is as auditable as
everything else the log holds, and every server process rebuilds the same state by reading the
log in order: :class:`Registry` scans the entries it has not seen (a few database reads when
nothing changed), applies admin actions and indexes the runs of each project.

Which project a run belongs to follows from its **signing key**: a client key is registered to
exactly one project (once, for ever: a revoked key id is not registered again), and a run
belongs to the project of the key that signed it when the key was registered before the run
and not revoked before it (:class:`runid.admin.KeyLedger`, whose rules the evidence bundles
apply too). Other runs (signed by keys no project registered, or outside a key's registration)
belong to none and are shown to no one.

The actions (``by`` names who did it: ``cli`` or ``token:<id>``)::

    {"action": "token.create", "project": P, "scope": S, "token_id": ID, "token_hash": H, "by": B}
    {"action": "token.revoke", "project": P, "token_id": ID, "by": B}
    {"action": "key.add", "project": P, "key": VKEY, "by": B}
    {"action": "key.revoke", "project": P, "key_id": KEY_ID, "by": B}

Admin records of other kinds (an erasure notice, ``content.erase``: :mod:`runid.log.notices`,
docs/spec.md §20.7) are not about access control: the registry ignores them.

An action that does not apply to the state before it (a token id used twice, a key already
registered) is refused when it is made; if two servers made conflicting actions at once, the
first in the log wins and the later one is ignored, the same way by every reader.
"""

from __future__ import annotations

import bisect
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from .. import canonical
from ..admin import (
    ADMIN_MEDIA,
    KEY_ACTIONS,
    ClientKey,
    KeyLedger,
    admin_declaration,
    admin_output,
    parse_action,
)
from ..digest import content_digest
from ..envelope import payload_predicate
from ..errors import E_KEY_REGISTERED, E_NOT_FOUND, InputError, RunidError
from ..identity import compute_identity
from ..keys import Keyring, PublicKey
from ..log import Log
from ..log.notices import record_admin_action
from ..store import DECLARATION_BLOB_PREFIX
from .access import check_project, check_scope, new_token, parse_token, token_hash

__all__ = [
    "ADMIN_MEDIA",
    "DeclarationInfo",
    "KeyInfo",
    "ProjectIndex",
    "Registry",
    "RunRow",
    "TokenInfo",
    "admin_action",
    "admin_declaration",
    "key_action",
    "parse_time",
    "record_admin_action",
    "token_action",
]

_KINDS: Final = ("token.create", "token.revoke", *KEY_ACTIONS)
"""The admin actions about access control; the registry ignores every other kind."""


@dataclass
class TokenInfo:
    token_id: str
    project: str
    scope: str
    token_hash: str
    index: int
    revoked: bool = False


KeyInfo = ClientKey
"""A registered client key (:class:`runid.admin.ClientKey`)."""


@dataclass(frozen=True, slots=True)
class RunRow:
    """One run as the search index keeps it."""

    index: int
    execution_id: str
    declaration_id: str
    started_at: datetime
    served_model: str | None
    status: str
    refs: tuple[str, ...]  # the digests the record references (outputs, error message)


@dataclass
class DeclarationInfo:
    """What a stored declaration adds to its runs: component digests, model names, content."""

    blob: str
    components: dict[str, str]
    models: frozenset[str]
    refs: frozenset[str]


@dataclass
class ProjectIndex:
    """The runs of one project, in log order, with the lookups the service answers from."""

    runs: list[RunRow] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)  # runs[i].index, for bisect
    by_execution: dict[str, RunRow] = field(default_factory=dict)
    by_declaration: dict[str, list[RunRow]] = field(default_factory=dict)
    refs: set[str] = field(default_factory=set)

    def after(self, index: int) -> Iterator[RunRow]:
        """The runs with a log index above ``index``, in order."""
        start = bisect.bisect_right(self.positions, index)
        yield from self.runs[start:]


def admin_action(log: Log, registry: Registry, action: dict[str, Any]) -> int:
    """Check ``action`` against the state of the log and append it as an admin record (the
    registry is caught up before and after); its index. Concurrent actions of one process are
    serialized by the registry's lock; of several, the first in the log wins."""
    with registry.lock:
        registry.refresh(log)
        registry.check(action)
        index = record_admin_action(log, action)
        registry.refresh(log)
    return index


def token_action(project: str, scope: str, *, by: str) -> tuple[dict[str, Any], str]:
    """The ``token.create`` action of a new token, and the token (shown once)."""
    check_project(project)
    check_scope(scope)
    token_id, token = new_token()
    action = {
        "action": "token.create",
        "project": project,
        "scope": scope,
        "token_id": token_id,
        "token_hash": token_hash(token),
        "by": by,
    }
    return action, token


def key_action(project: str, key: str, *, by: str) -> tuple[dict[str, Any], PublicKey]:
    """The ``key.add`` action of a verifier key (``runid keys show``), and the key."""
    public = PublicKey.parse(key)
    return {"action": "key.add", "project": project, "key": public.vkey, "by": by}, public


def _not_found(what: str) -> InputError:
    return InputError(f"{what} not found", code=E_NOT_FOUND)


class Registry:
    """Projects, keys, tokens and the runs of each project, as of the log's entry ``done``.

    One per server process, shared by its threads (``lock`` guards every change).
    :meth:`refresh` catches up with the log; readers then look things up.
    """

    def __init__(self, log_key: PublicKey, *, admin_only: bool = False) -> None:
        self.log_key = log_key
        # Only admin actions (the command line's view): runs are not indexed.
        self.admin_only = admin_only
        self._log_key_bytes = log_key.key_id.encode("ascii")
        self.lock = threading.RLock()
        self.done = 0  # entries scanned
        self.blobs_done = 0  # declaration blobs scanned (blob sequence number)
        self.tokens: dict[str, TokenInfo] = {}
        self.ledger = KeyLedger(log_key.key_id)
        self.keys: dict[str, KeyInfo] = self.ledger.keys
        self.projects: dict[str, ProjectIndex] = {}
        self.declarations: dict[str, DeclarationInfo] = {}
        self.version = 0  # bumped whenever the keys change
        self.admin_index: list[tuple[int, dict[str, Any]]] = []

    # --- catching up with the log ----------------------------------------------------------

    def refresh(self, log: Log) -> None:
        """Scan the entries and declaration blobs appended since the last refresh."""
        store = log.store
        with self.lock:
            size = store.size()
            if size > self.done:
                for index, data in store.iter_entries(self.done, size):
                    self._scan(index, data, log)
                    self.done = index + 1
            top = 0 if self.admin_only else store.max_blob_rowid()
            if top > self.blobs_done:
                for rowid, data in store.iter_declaration_blobs(self.blobs_done):
                    if rowid > top:
                        break
                    self._declaration_stored(data)
                    self.blobs_done = rowid
                self.blobs_done = top

    def _scan(self, index: int, data: bytes, log: Log) -> None:
        # A declaration stored with (or after) its runs is indexed by the blob scan that
        # follows in the same refresh (_declaration_stored); one stored before, here.
        if self.admin_only and self._log_key_bytes not in data:
            return
        try:
            envelope = json.loads(data)
            key_id = envelope["signatures"][0]["keyid"]
            record = payload_predicate(envelope)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return  # not an envelope: the log's audit reports it
        if key_id == self.log_key.key_id:
            self._admin(index, record, log)
            return
        project_name = self.ledger.project_of(key_id, index)
        if project_name is None:
            return
        outcome = record["outcome"]
        refs = [ref["digest"] for ref in outcome["outputs"]]
        message = outcome.get("error", {}).get("message", {})
        if isinstance(message, dict) and "digest" in message:
            refs.append(message["digest"])
        served = record["observed"]["served_model"]
        row = RunRow(
            index,
            record["execution_id"],
            record["declaration_id"],
            parse_time(record["started_at"]),
            served if isinstance(served, str) else None,
            outcome["status"],
            tuple(refs),
        )
        project = self.projects.setdefault(project_name, ProjectIndex())
        project.runs.append(row)
        project.positions.append(index)
        project.by_execution.setdefault(row.execution_id, row)
        project.by_declaration.setdefault(row.declaration_id, []).append(row)
        project.refs.update(refs)
        info = self.declarations.get(row.declaration_id)
        if info is not None:
            project.refs.add(info.blob)
            project.refs.update(info.refs)

    def _declaration_stored(self, data: bytes) -> DeclarationInfo | None:
        """Index a declaration blob: its components, models and references."""
        if not data.startswith(DECLARATION_BLOB_PREFIX):
            return None
        try:
            declaration = canonical.loads(data)
            identity = compute_identity(declaration)
        except RunidError:
            return None
        known = self.declarations.get(identity.declaration_id)
        if known is not None:
            return known
        model = declaration.get("model") if isinstance(declaration, dict) else None
        models = frozenset(
            value
            for name in ("name", "version")
            if isinstance(model, dict) and isinstance(value := model.get(name), str)
        )
        info = DeclarationInfo(
            content_digest(data), dict(identity.components), models, frozenset(_refs(declaration))
        )
        self.declarations[identity.declaration_id] = info
        for project in self.projects.values():
            if identity.declaration_id in project.by_declaration:
                project.refs.add(info.blob)
                project.refs.update(info.refs)
        return info

    def _admin(self, index: int, record: dict[str, Any], log: Log) -> None:
        digest = admin_output(record)
        if digest is None:
            return
        data = log.store.get_blob(digest)
        if data is None:
            return  # erased: the action cannot be read (access control fails closed)
        try:
            action = parse_action(data)
        except RunidError:
            return
        if action.get("action") not in _KINDS:
            return  # another kind of admin record (an erasure notice, §20.7): not access control
        try:
            self.check(action)
        except RunidError:
            return  # refused when made; a conflicting action that lost the race
        self._apply(index, action)
        self.admin_index.append((index, action))

    # --- admin actions ---------------------------------------------------------------------

    def check(self, action: object) -> None:
        """Raise :class:`~runid.errors.InputError` unless ``action`` applies to this state."""
        if not isinstance(action, dict):
            raise InputError("an admin action is a JSON object")
        kind = action.get("action")
        project = check_project(action.get("project"))
        if kind == "token.create":
            check_scope(action.get("scope"))
            token_id = action.get("token_id")
            if not isinstance(token_id, str) or parse_token(f"runid_{token_id}_{'A' * 43}") is None:
                raise InputError(f"{token_id!r:.40} is not a token id")
            if token_id in self.tokens:
                raise InputError(f"token {token_id} exists", code=E_KEY_REGISTERED)
            if not isinstance(action.get("token_hash"), str):
                raise InputError("token.create needs token_hash")
        elif kind == "token.revoke":
            token = self.tokens.get(str(action.get("token_id")))
            if token is None or token.project != project:
                raise _not_found(f"token {action.get('token_id')!s:.40} of project {project}")
        elif kind in KEY_ACTIONS:
            self.ledger.check(action)
        else:
            raise InputError(f"{kind!r:.40} is not an admin action")

    def _apply(self, index: int, action: dict[str, Any]) -> None:
        kind, project = action["action"], action["project"]
        if kind == "token.create":
            self.tokens[action["token_id"]] = TokenInfo(
                action["token_id"], project, action["scope"], action["token_hash"], index
            )
        elif kind == "token.revoke":
            self.tokens[action["token_id"]].revoked = True
        elif kind in KEY_ACTIONS:
            self.ledger.apply(index, action)
            self.version += 1
        self.projects.setdefault(project, ProjectIndex())

    # --- lookups ---------------------------------------------------------------------------

    def keyring(self, *, active_only: bool = False, project: str | None = None) -> Keyring:
        """The log's key and the registered keys (of ``project``; not revoked ones if
        ``active_only``)."""
        keys = [
            info.key
            for info in self.keys.values()
            if (project is None or info.project == project) and not (active_only and info.revoked)
        ]
        return Keyring([self.log_key, *keys] if project is None else keys)

    def project(self, name: str) -> ProjectIndex:
        return self.projects.get(name) or ProjectIndex()

    def project_of_key(self, key_id: str) -> str | None:
        info = self.keys.get(key_id)
        return info.project if info else None


def parse_time(text: str) -> datetime:
    """A record timestamp (RFC 3339, UTC, 0 to 9 fraction digits) as an aware datetime
    (fractions past microseconds are cut)."""
    head, _, rest = text.rstrip("Z").partition(".")
    fraction = (rest + "000000")[:6]
    return datetime.fromisoformat(f"{head}.{fraction}+00:00")


def _refs(value: object) -> Iterator[str]:
    """The digests of every content reference in a JSON value."""
    if isinstance(value, dict):
        digest = value.get("digest")
        if isinstance(digest, str) and "size" in value and "media_type" in value:
            yield digest
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)
