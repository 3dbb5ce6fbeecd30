"""When the log signs checkpoints (ADR 0019), and what a log that cannot sign answers.

Appends do not sign a checkpoint each: a :class:`~runid.log.Log` signs one in an append at most
every :data:`CHECKPOINT_INTERVAL` seconds, signs one for its current size when a receipt, proof
or checkpoint asks for it (:meth:`~runid.log.Log.checkpoint`), and when it is closed after
appending. A log opened read-only or without its key uses the latest stored one if it covers
what is asked (:func:`stored_covering`).
"""

from __future__ import annotations

from ..errors import E_NOT_IN_LOG, InputError
from ..store import LogStore

__all__ = ["CHECKPOINT_INTERVAL", "stored_covering"]

CHECKPOINT_INTERVAL = 1.0
"""Seconds between the checkpoints a :class:`~runid.log.Log` signs in its appends: a reader of a
log being appended to sees a checkpoint at most about this old; a receipt does not wait for one
(it signs what it needs). ``Log.checkpoint_interval`` overrides it per log (0: every append)."""


def stored_covering(store: LogStore, covering: int | None) -> bytes:
    """The latest stored checkpoint note if its tree holds ``covering`` entries (default: the
    log's current size); :class:`~runid.errors.InputError` (``E_NOT_IN_LOG``) if none does."""
    latest = store.latest_checkpoint()
    need = store.size() if covering is None else covering
    if latest is not None and latest.size >= need:
        return latest.note
    have = f"the latest covers {latest.size}" if latest is not None else "none is stored"
    raise InputError(
        f"no signed checkpoint of this log covers {need} entries yet ({have})",
        code=E_NOT_IN_LOG,
        hint="checkpoints are signed by the log's host: run 'runid log checkpoint' there",
    )
