"""The client keys of a bundle: the admin records that register (and revoke) them, and which
key may sign which run.

Private to :mod:`runid.evidence`. A log service's runs are signed by its clients' keys, each
registered to one project by an admin record signed by the log's key (docs/spec.md §21.1). A
bundle of such runs carries those admin records with their actions and inclusion proofs, and
the keys; :func:`check_admin` verifies them and replays their actions in log order with the
rules the service applies (:class:`runid.admin.KeyLedger`), and :func:`check_signer` then
decides whether a run's key may have signed it. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..admin import KEY_ACTIONS, ClientKey, KeyLedger, admin_output, parse_action
from ..checkpoint import Checkpoint
from ..digest import content_digest
from ..envelope import verify_envelope
from ..errors import (
    E_BUNDLE_ADMIN,
    E_BUNDLE_CLIENT_KEY,
    E_BUNDLE_FILE,
    E_BUNDLE_PROJECT,
    RunidError,
)
from ..keys import Keyring, PublicKey
from ._anchors import check_inclusion
from ._format import (
    admin_path,
    client_key_path,
    fail,
    file_kind,
    load_canonical,
    reraise,
)

__all__ = ["ClientKeys", "check_admin", "check_signer", "signer_of"]

_PARTS = ("envelope.json", "action.json", "inclusion.tlog-proof")
_ADMIN_KINDS = ("admin envelope", "admin action", "admin proof")


@dataclass
class ClientKeys:
    """The client keys the bundle's admin records register (``ledger``), the key each record
    is about (``about``: entry -> key id), and the keys that signed a run (``used``)."""

    ledger: KeyLedger
    about: dict[int, str] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)

    @property
    def keys(self) -> dict[str, ClientKey]:
        return self.ledger.keys


def signer_of(leaf: bytes) -> str | None:
    """The key id an envelope names as its signer (not verified), or None."""
    try:
        key_id = orjson.loads(leaf)["signatures"][0]["keyid"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return None
    return key_id if isinstance(key_id, str) else None


def _admin_indices(files: Mapping[str, bytes]) -> list[int]:
    indices = {int(name.split("/")[1]) for name in files if file_kind(name) in _ADMIN_KINDS}
    for index in indices:
        for part in _PARTS:
            if admin_path(index, part) not in files:
                raise fail(
                    admin_path(index, part),
                    "files",
                    "missing: each admin record has its envelope, its action and its inclusion "
                    "proof",
                    code=E_BUNDLE_FILE,
                )
    return sorted(indices)


def _action(files: Mapping[str, bytes], index: int, record: Mapping[str, Any]) -> dict[str, Any]:
    """The key action of the admin record at ``index``, its bytes checked against the record."""
    name = admin_path(index, "action.json")
    digest = admin_output(record)
    if digest is None:
        raise fail(
            admin_path(index, "envelope.json"),
            "admin",
            "not an admin record (one output, of media type application/vnd.runid.admin+json)",
            code=E_BUNDLE_ADMIN,
        )
    if content_digest(files[name]) != digest:
        raise fail(name, "admin", f"its bytes are not the action {digest}", code=E_BUNDLE_ADMIN)
    try:
        action = parse_action(files[name])
    except RunidError as exc:
        raise fail(name, "admin", exc.message, code=E_BUNDLE_ADMIN) from None
    if action.get("action") not in KEY_ACTIONS:
        raise fail(
            name,
            "admin",
            f"{action.get('action')!r:.40} is not a key action (a bundle holds the admin records "
            "of its runs' keys only)",
            code=E_BUNDLE_ADMIN,
        )
    return action


def check_admin(
    files: Mapping[str, bytes],
    keyring: Keyring,
    log_key: PublicKey,
    *,
    origin: str,
    notes: Mapping[bytes, Checkpoint],
) -> ClientKeys:
    """Verify the bundle's admin records and client key files; the client keys they register.

    Each record (in entry order) is signed by a log key of ``keyring`` and included in the
    log (its proof against a checkpoint of the bundle); its one output is the action file's
    bytes; the action is a key action that applies to the state the records before it leave
    (:class:`runid.admin.KeyLedger`, as the service applies them). Each ``keys/<hex>.vkey`` is
    a key a record registers, and each key registered has its file.
    """
    found = ClientKeys(KeyLedger(log_key.key_id))
    for index in _admin_indices(files):
        name = admin_path(index, "envelope.json")
        leaf = files[name]
        signer = signer_of(leaf)
        if signer is not None and signer not in frozenset(keyring):
            raise fail(
                name, "admin", f"signed by {signer}, not by the log's key", code=E_BUNDLE_ADMIN
            )
        try:
            record = verify_envelope(leaf, keyring)
            load_canonical(leaf)
        except RunidError as exc:
            raise reraise(name, "admin", exc) from None
        action = _action(files, index, record)
        try:
            found.ledger.check(action)
        except RunidError as exc:
            raise fail(
                admin_path(index, "action.json"),
                "admin",
                f"does not apply after the admin records before it ({exc.message})",
                code=E_BUNDLE_ADMIN,
            ) from None
        found.about[index] = found.ledger.apply(index, action).key.key_id
        proof_name = admin_path(index, "inclusion.tlog-proof")
        leaf = files[admin_path(index, "envelope.json")]
        check_inclusion(files, proof_name, leaf, index, keyring=keyring, origin=origin, notes=notes)
    for name in files:
        if file_kind(name) != "client key":
            continue
        try:
            key = PublicKey.parse(files[name].decode("ascii"))
        except (RunidError, UnicodeDecodeError) as exc:
            detail = exc.message if isinstance(exc, RunidError) else "not ASCII"
            raise fail(name, "keys", f"not a verifier key ({detail})") from None
        if client_key_path(key.key_id) != name:
            raise fail(name, "keys", f"holds the key {key.key_id}", code=E_BUNDLE_CLIENT_KEY)
        info = found.keys.get(key.key_id)
        if info is None or info.key != key:
            raise fail(
                name,
                "keys",
                f"no admin record of the bundle registers the key {key.key_id}",
                code=E_BUNDLE_CLIENT_KEY,
            )
    for key_id, info in found.keys.items():
        if client_key_path(key_id) not in files:
            raise fail(
                client_key_path(key_id),
                "files",
                f"missing: the key admin record {info.index} registers",
                code=E_BUNDLE_FILE,
            )
    return found


def check_signer(
    name: str,
    index: int,
    leaf: bytes,
    *,
    clients: ClientKeys,
    log_keys: Keyring,
    project: str | None,
) -> str | None:
    """Check, before the envelope of the run at ``index`` is verified, that its key may have
    signed it: a log key (of ``log_keys``), or a client key that an admin record of the bundle
    registered before the run and did not revoke before it; with ``project``, a key of that
    project. The client key id, or None for a log key."""
    signer = signer_of(leaf)
    if signer is None:
        return None  # the envelope's own check says what is wrong
    info = clients.keys.get(signer)
    if info is None:
        if signer in frozenset(log_keys):  # key ids (a Keyring's lookup raises for others)
            if project is not None:
                raise fail(
                    name,
                    "project",
                    f"signed by the log's key, not by a key of project {project}",
                    code=E_BUNDLE_PROJECT,
                )
            return None
        raise fail(
            name,
            "key",
            f"signed by {signer}, which no admin record of the bundle registers",
            code=E_BUNDLE_CLIENT_KEY,
        )
    if not info.signs_at(index):
        when = (
            f"before its key.add (entry {info.index})"
            if index < info.index
            else f"after its key.revoke (entry {info.revoked_at})"
        )
        raise fail(
            name,
            "key",
            f"entry {index} is signed by {info.key.key_id} {when}",
            code=E_BUNDLE_CLIENT_KEY,
        )
    if project is not None and info.project != project:
        raise fail(
            name,
            "project",
            f"signed by a key of project {info.project}, not of project {project}",
            code=E_BUNDLE_PROJECT,
        )
    clients.used.add(info.key.key_id)
    return info.key.key_id
