"""A log service's admin actions, and which project a run of its log belongs to: pure.

Admin actions (docs/spec.md §21.1) are records of the log's own key whose one output is the
action, canonical JSON of media type :data:`ADMIN_MEDIA`. The client keys' actions decide
which project a run belongs to: a run belongs to the project of the key that signed it when the
key's ``key.add`` is earlier in the log and no ``key.revoke`` of it is (:meth:`KeyLedger.
project_of`). The log service's registry (``runid._server.registry``) and the evidence bundles
(:mod:`runid.evidence`, docs/spec.md §20) both apply the rules here, so they agree.

>>> from runid.keys import SigningKey
>>> key = SigningKey.generate("app.example/a").public_key
>>> ledger = KeyLedger("sha256:" + "0" * 64)
>>> action = {"action": "key.add", "project": "team-a", "key": key.vkey, "by": "cli"}
>>> ledger.check(action); _ = ledger.apply(3, action)
>>> ledger.project_of(key.key_id, 2), ledger.project_of(key.key_id, 4)
(None, 'team-a')
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .digest import content_ref
from .errors import E_KEY_REGISTERED, E_NOT_FOUND, E_PROJECT, InputError
from .keys import PublicKey

__all__ = [
    "ADMIN_MEDIA",
    "KEY_ACTIONS",
    "PROJECT_PATTERN",
    "ClientKey",
    "KeyLedger",
    "admin_declaration",
    "admin_output",
    "check_project",
    "parse_action",
]

ADMIN_MEDIA: Final = "application/vnd.runid.admin+json"
"""The media type of an admin action, the one output of its record."""

KEY_ACTIONS: Final = ("key.add", "key.revoke")
"""The actions that register and revoke client keys (the others are about tokens)."""

PROJECT_PATTERN: Final = r"[a-z0-9][a-z0-9._-]{0,62}"
"""A project name: 1 to 63 characters, lowercase letters, digits, ``.``, ``_``, ``-``."""

_PROJECT = re.compile(PROJECT_PATTERN)
_NA: Final = {"absent": "not_applicable"}


def check_project(name: object) -> str:
    """``name`` if it is a valid project name, else :class:`~runid.errors.InputError`.

    >>> check_project("team-a")
    'team-a'
    """
    if not isinstance(name, str) or not _PROJECT.fullmatch(name):
        raise InputError(
            f"{name!r:.80} is not a project name",
            code=E_PROJECT,
            hint="1 to 63 characters: lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        )
    return name


def admin_declaration(action: bytes) -> dict[str, Any]:
    """The declaration of an admin action: the action (canonical JSON) is its one input."""
    return {
        "spec": "runid/v1",
        "model": dict(_NA),
        "parameters": dict(_NA),
        "instructions": dict(_NA),
        "inputs": {
            "messages": [{"role": "user", "content": dict(content_ref(action, ADMIN_MEDIA))}],
            "truncation": dict(_NA),
            "upstream": [],
        },
        "context": dict(_NA),
        "tools": dict(_NA),
        "runtime": dict(_NA),
        "constraints": dict(_NA),
    }


def admin_output(record: Mapping[str, Any]) -> str | None:
    """The digest of the action an admin record carries (its one output, of media type
    :data:`ADMIN_MEDIA`), or None when the record is not shaped as one."""
    try:
        outputs = record["outcome"]["outputs"]
        if len(outputs) != 1 or outputs[0]["media_type"] != ADMIN_MEDIA:
            return None
        digest = outputs[0]["digest"]
    except (KeyError, IndexError, TypeError):
        return None
    return digest if isinstance(digest, str) else None


def parse_action(data: bytes) -> dict[str, Any]:
    """An admin action's bytes as a JSON object (:class:`~runid.errors.InputError` if not)."""
    try:
        action = json.loads(data)
    except ValueError:
        raise InputError("an admin action is JSON") from None
    if not isinstance(action, dict):
        raise InputError("an admin action is a JSON object")
    return action


@dataclass
class ClientKey:
    """A client key registered to ``project`` by the admin record at entry ``index``, and
    revoked by the one at ``revoked_at`` (None: not revoked)."""

    key: PublicKey
    project: str
    index: int
    revoked_at: int | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def signs_at(self, index: int) -> bool:
        """Whether a run at entry ``index`` signed by this key is one of its project's: after
        the key was registered, before it was revoked."""
        return self.index < index and (self.revoked_at is None or index < self.revoked_at)


class KeyLedger:
    """The client keys of a log, by key id, as its ``key.add`` and ``key.revoke`` actions
    applied in log order leave them (``log_key_id``: the log's own key, never a client key).

    An action that does not apply to the state before it (:meth:`check` raises) is refused
    when it is made, and ignored by every reader of the log alike.
    """

    def __init__(self, log_key_id: str) -> None:
        self.log_key_id = log_key_id
        self.keys: dict[str, ClientKey] = {}

    def check(self, action: Mapping[str, Any]) -> None:
        """Raise :class:`~runid.errors.InputError` unless the key action ``action`` applies:
        a valid project; ``key.add`` of a verifier key that is not the log's and was never
        registered (a key id belongs to one project, for ever); ``key.revoke`` of a key
        registered to that project."""
        kind = action.get("action")
        project = check_project(action.get("project"))
        if kind == "key.add":
            key = PublicKey.parse(str(action.get("key")))
            if key.key_id == self.log_key_id:
                raise InputError(
                    "that is the log's own key: it signs checkpoints and admin records, not runs",
                    code=E_KEY_REGISTERED,
                )
            known = self.keys.get(key.key_id)
            if known is not None:
                raise InputError(
                    f"key {key.key_id} is already registered"
                    + (" to this project" if known.project == project else ""),
                    code=E_KEY_REGISTERED,
                    hint="a key id belongs to one project, for ever; rotate to a new key",
                )
        elif kind == "key.revoke":
            info = self.keys.get(str(action.get("key_id")))
            if info is None or info.project != project:
                raise InputError(
                    f"key {action.get('key_id')!s:.80} of project {project} not found",
                    code=E_NOT_FOUND,
                )
        else:
            raise InputError(f"{kind!r:.40} is not a key action")

    def apply(self, index: int, action: Mapping[str, Any]) -> ClientKey:
        """Apply the key action ``action`` (checked) of the admin record at entry ``index``;
        the key it is about."""
        if action["action"] == "key.add":
            key = PublicKey.parse(action["key"])
            info = self.keys[key.key_id] = ClientKey(key, action["project"], index)
            return info
        info = self.keys[action["key_id"]]
        if info.revoked_at is None:
            info.revoked_at = index
        return info

    def project_of(self, key_id: str, index: int) -> str | None:
        """The project of a run at entry ``index`` signed by ``key_id``, or None (the key is
        not registered before it, or was revoked before it)."""
        info = self.keys.get(key_id)
        return info.project if info is not None and info.signs_at(index) else None
