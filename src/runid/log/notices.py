"""Admin records, and the erasure notices among them: log entries signed by the log's own key.

An admin record (docs/spec.md §21.1) is a run of the log's key whose one output is an action,
canonical JSON of media type :data:`runid.admin.ADMIN_MEDIA`, and whose declaration names the
action as its input (:func:`runid.admin.admin_declaration`). :func:`record_admin_action`
appends one through the log's one write path (:meth:`runid.log.Log.record_run`); the log
service's registry records its token and key actions with it.

An **erasure notice** (docs/spec.md §20.7) is the admin record of an erasure, the action::

    {"action": "content.erase", "digests": [SHA256...], "keyed": [HMAC...],
     "erased_at": T, "reason": R, "rule": "manual" | "retention contents_days=N", "by": "cli"}

``digests`` are the content digests of the blobs erased (never content), ``keyed`` the keyed
digests whose lines of the home's keyed index were removed. The notice is appended *before*
the blobs are deleted, so an erasure is never silent: a crash in between leaves a notice for
blobs still stored (``runid log audit`` says so, ``E_ERASED_STORED``), and running the erasure
again completes it under a second notice. :func:`iter_notices` finds the notices of a log and
:func:`runid.log._audit.audit_log` checks them against the store's local erasure rows.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from .. import canonical
from ..admin import ADMIN_MEDIA, admin_declaration, admin_output, parse_action
from ..envelope import payload_predicate
from ..errors import RunidError
from ..keys import Keyring
from ..store import LogStore

if TYPE_CHECKING:
    from . import Log

__all__ = [
    "ERASE_ACTION",
    "MANUAL",
    "Notice",
    "erasure_action",
    "iter_notices",
    "notice_finder",
    "notices_by_digest",
    "record_admin_action",
    "retention_rule",
]

ERASE_ACTION: Final = "content.erase"
"""The action of an erasure notice."""

MANUAL: Final = "manual"
"""The rule of an erasure an operator asked for (``runid log erase``)."""

_NA: Final = {"absent": "not_applicable"}
_FACTS: Final = ("served_model", "system_fingerprint", "response_id", "usage", "finish_reason")


def _base64_needles(text: bytes) -> tuple[bytes, ...]:
    """What the base64 of any bytes holding ``text`` holds, at each of the three alignments
    (the characters that only ``text``'s bytes determine).

    >>> import base64
    >>> data = base64.b64encode(b'xy{"media_type":"a/b"}')
    >>> any(n in data for n in _base64_needles(b'"media_type":"a/b"'))
    True
    """
    found = []
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + text)
        start, end = -(-pad // 3) * 4, (pad + len(text)) // 3 * 4
        found.append(encoded[start:end])
    return tuple(found)


_ADMIN_NEEDLES: Final = _base64_needles(f'"media_type":"{ADMIN_MEDIA}"'.encode())
"""An envelope whose payload holds none of these has no admin output (parsing skipped)."""

Notice = tuple[int, dict[str, Any]]
"""An erasure notice: its entry index and its action."""


def retention_rule(contents_days: int) -> str:
    """The rule of an erasure the retention setting made.

    >>> retention_rule(90)
    'retention contents_days=90'
    """
    return f"retention contents_days={contents_days}"


def record_admin_action(log: Log, action: Mapping[str, Any]) -> int:
    """Append ``action`` to ``log`` as an admin record signed with the log's key; its index."""
    data = canonical.canonicalize(dict(action))
    entry = log.record_run(
        admin_declaration(data),
        output=data,
        media_type=ADMIN_MEDIA,
        observed={name: dict(_NA) for name in _FACTS},
    )
    return entry.index


def erasure_action(
    digests: Sequence[str],
    keyed: Sequence[str],
    *,
    erased_at: str,
    reason: str,
    rule: str,
) -> dict[str, Any]:
    """The action of the erasure notice of ``digests`` and ``keyed`` (sorted, once each)."""
    return {
        "action": ERASE_ACTION,
        "digests": sorted(set(digests)),
        "keyed": sorted(set(keyed)),
        "erased_at": erased_at,
        "reason": reason,
        "rule": rule,
        "by": "cli",
    }


def _notice_of(store: LogStore, data: bytes, log_keys: set[str]) -> dict[str, Any] | None:
    """The erasure notice an entry's envelope ``data`` carries, or None. The envelope is not
    verified here: the audit verifies every envelope, and a reader verifies the entry."""
    try:
        envelope = json.loads(data)
        key_id = envelope["signatures"][0]["keyid"]
        record = payload_predicate(envelope)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None
    if key_id not in log_keys:
        return None
    digest = admin_output(record)
    blob = None if digest is None else store.get_blob(digest)
    if blob is None:
        return None
    try:
        action = parse_action(blob)
    except RunidError:
        return None
    if action.get("action") != ERASE_ACTION or not isinstance(action.get("digests"), list):
        return None
    return action


def notice_finder(store: LogStore, keyring: Keyring) -> Callable[[bytes], dict[str, Any] | None]:
    """``find(data)``: the action of the erasure notice an entry's bytes ``data`` carry (a
    record of a key of ``keyring``: the log's), or None. Only entries whose envelope names such
    a key and whose payload names an admin output are parsed: the audit, which reads every
    entry anyway, asks it of each (~0.5 µs for a run's entry)."""
    log_keys = set(keyring)
    needles = tuple(key_id.encode("ascii") for key_id in log_keys)

    def find(data: bytes) -> dict[str, Any] | None:
        for needle in needles:
            if needle in data:
                break
        else:
            return None
        for needle in _ADMIN_NEEDLES:
            if needle in data:
                return _notice_of(store, data, log_keys)
        return None  # its payload names no admin output: a run (most entries of a home's log)

    return find


def iter_notices(store: LogStore, keyring: Keyring, start: int = 0) -> Iterator[Notice]:
    """The erasure notices of the log in ``store`` (records of a key of ``keyring``: the log's),
    in log order, from entry ``start``. See :func:`notice_finder`."""
    find = notice_finder(store, keyring)
    for index, data in store.iter_entries(start, store.size()):
        action = find(data)
        if action is not None:
            yield index, action


def notices_by_digest(notices: Sequence[Notice]) -> dict[str, list[int]]:
    """Content digest -> the indexes of the notices that name it, in log order."""
    found: dict[str, list[int]] = {}
    for index, action in notices:
        for digest in action["digests"]:
            if isinstance(digest, str):
                found.setdefault(digest, []).append(index)
    return found
