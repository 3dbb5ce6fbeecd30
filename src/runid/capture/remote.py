"""Remote capture: a home's log forwarded to a log service (``runid serve``), and ``runid push``.

A recorder given a service (``Recorder(url=..., token=...)``, or ``RUNID_URL`` and
``RUNID_TOKEN``) records exactly as it does locally: the run is signed with the application's
own key and committed to the home's SQLite log, which is the **durable spool**. A
:class:`Forwarder` thread then sends the entries the service has not acknowledged yet, in
batches (signed envelopes with their declarations and content), and moves its cursor only
after the service acknowledged a batch, which it does only once the batch is durable there. So:

* the application's call never waits for the network, and never fails because of it;
* a service outage loses nothing: entries wait in the local log and are sent when the service
  answers again (retries back off from 0.5 s to 30 s); a crash of the application or of the
  service at any moment at worst sends a batch twice, and the service's log keeps one copy
  (an entry already in the log is not appended again);
* a refusal that waiting cannot fix (a token the service does not accept, a key not registered
  for the project) is logged once on the ``runid`` logger with the fix, and retried slowly, so
  the entries are sent once an admin fixed it.

The cursor of each (service, token) is kept in ``<home>/remote.sqlite3``. :func:`push` sends
everything once, in the foreground (``runid push``).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import http.client
import json
import logging
import os
import random
import sqlite3
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from .. import canonical
from ..digest import content_digest
from ..errors import E_REMOTE, InputError
from ..home import Home
from ..log import Log

__all__ = ["Forwarder", "PushResult", "RemoteError", "push", "remote_settings"]

BATCH_RECORDS: Final = 256
BATCH_BYTES: Final = 4 * 1024 * 1024
MAX_BACKOFF: Final = 30.0
EXIT_WAIT: Final = 5.0
"""At interpreter exit, how long forwarders keep sending what is left (the rest stays in the
local log and is sent by the next run of the application, or by ``runid push``)."""

_log = logging.getLogger("runid")


class RemoteError(InputError):
    """The service refused a batch or could not be reached. ``status`` is the HTTP status
    (0: not reached); ``retry`` says whether waiting may help."""

    code = E_REMOTE

    def __init__(self, message: str, *, status: int, retry: bool, hint: str | None = None):
        super().__init__(message, hint=hint, code=E_REMOTE)
        self.status = status
        self.retry = retry


@dataclass(frozen=True)
class PushResult:
    sent: int  # entries the service acknowledged in this call
    size: int  # the local log's size the push reached


def remote_settings(url: str | None, token: str | None) -> tuple[str, str] | None:
    """The service to forward to: the arguments, else ``RUNID_URL`` / ``RUNID_TOKEN``."""
    url = url or os.environ.get("RUNID_URL") or None
    token = token or os.environ.get("RUNID_TOKEN") or None
    if url is None:
        return None
    if token is None:
        raise InputError(
            f"a service URL ({url}) needs a token",
            hint="pass token=... or set RUNID_TOKEN (an ingest token: runid tokens create)",
        )
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{url!r:.100} is not an http(s) URL of a runid service")
    return url.rstrip("/"), token


class _Client:
    """One keep-alive HTTP connection to the service."""

    def __init__(self, url: str, token: str, timeout: float) -> None:
        parts = urllib.parse.urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port
        self.base = parts.path.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        for attempt in (0, 1):
            if self.conn is None:
                cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
                self.conn = cls(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(
                    "POST",
                    self.base + path,
                    body=body,
                    headers={
                        "Authorization": f"Bearer {self.token}",
                        "Content-Type": "application/json",
                    },
                )
                response = self.conn.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if attempt or not isinstance(exc, http.client.RemoteDisconnected | BrokenPipeError):
                    raise RemoteError(
                        f"the runid service at {self.host} could not be reached: {exc}",
                        status=0,
                        retry=True,
                    ) from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None


class _Cursor:
    """How far a (service, token) has been acknowledged, in ``<home>/remote.sqlite3``."""

    def __init__(self, home: Home, target: str) -> None:
        self.path = home.path / "remote.sqlite3"
        self.target = target

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE IF NOT EXISTS cursor (target TEXT PRIMARY KEY, next INTEGER)")
        return db

    def get(self) -> int:
        with contextlib.closing(self._connect()) as db:
            row = db.execute("SELECT next FROM cursor WHERE target = ?", (self.target,)).fetchone()
        return int(row[0]) if row else 0

    def advance(self, value: int) -> None:
        with contextlib.closing(self._connect()) as db:
            db.execute(
                "INSERT INTO cursor (target, next) VALUES (?, ?) ON CONFLICT(target) "
                "DO UPDATE SET next = max(next, excluded.next)",
                (self.target, value),
            )


class Forwarder:
    """Sends the entries of ``home``'s log to the service at ``url`` with ``token``."""

    def __init__(
        self,
        home: Home,
        url: str,
        token: str,
        *,
        timeout: float = 10.0,
        drain: Callable[[float], object] | None = None,
    ) -> None:
        self.home = home
        # At exit, the recorder's writer is drained first, so its last runs are sent too.
        self.drain = drain
        self.url, self.token = url.rstrip("/"), token
        self._client = _Client(self.url, token, timeout)
        token_id = token.split("_")[1] if token.count("_") >= 2 else content_digest(token.encode())
        self._cursor = _Cursor(home, f"{self.url} {token_id}")
        self._wake = threading.Event()
        self._lock = threading.Lock()  # one push at a time
        self._thread: threading.Thread | None = None
        self._sent_blobs: set[str] = set()
        self._warned: str | None = None
        self.batch_records = BATCH_RECORDS
        self.sent = 0
        self.last_error: RemoteError | None = None
        _forwarders.add(self)

    # --- the background thread -----------------------------------------------------------

    def notify(self) -> None:
        """New entries were committed: send them soon (starts the thread if needed)."""
        self._wake.set()
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="runid-forwarder", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        backoff = 0.5
        while True:
            self._wake.wait(timeout=5.0)
            self._wake.clear()
            try:
                self.push()
                backoff = 0.5
                self.last_error = None
            except RemoteError as exc:
                self.last_error = exc
                self._warn(exc)
                delay = backoff if exc.retry else MAX_BACKOFF
                backoff = min(backoff * 2, MAX_BACKOFF)
                time.sleep(delay * (0.5 + random.random() / 2))
                self._wake.set()
            except Exception as exc:  # the local log: try again later
                self.last_error = RemoteError(str(exc), status=0, retry=True)
                time.sleep(MAX_BACKOFF)
                self._wake.set()

    def _warn(self, exc: RemoteError) -> None:
        if exc.retry or self._warned == exc.message:
            return
        self._warned = exc.message
        _log.warning(
            "runid: the service at %s refused the runs of %s (kept in the local log, retried "
            "every %d s): %s%s",
            self.url,
            self.home.path,
            MAX_BACKOFF,
            exc.message,
            f" (hint: {exc.hint})" if exc.hint else "",
        )

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every entry committed so far was acknowledged; True if it was."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with contextlib.closing(Log.open(self.home, need_key=False)) as log:
            target = log.size()
        while self._cursor.get() < target:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self.notify()
            time.sleep(0.05)
        return True

    # --- sending -------------------------------------------------------------------------

    def pending(self) -> int:
        """How many entries of the local log the service has not acknowledged."""
        with contextlib.closing(Log.open(self.home, need_key=False)) as log:
            return max(0, log.size() - self._cursor.get())

    def push(self) -> PushResult:
        """Send every entry not acknowledged yet, in batches; raises :class:`RemoteError`."""
        with (
            self._lock,
            contextlib.closing(Log.open(self.home, need_key=False)) as log,
            contextlib.closing(self._client),  # one connection per push, closed after it
        ):
            sent = 0
            size = log.size()
            start = self._cursor.get()
            log.refresh_lookups()
            while start < size:
                count, body = self._batch(log, start, size)
                status, answer = self._client.post("/v1/records/batch", body)
                if status == 413 and count > 1:
                    self.batch_records = max(1, count // 2)
                    continue
                if status != 201:
                    raise _refusal(status, answer, self.url)
                start += count
                sent += count
                self.sent += count
                self._cursor.advance(start)
            return PushResult(sent, size)

    def _batch(self, log: Log, start: int, size: int) -> tuple[int, bytes]:
        envelopes: list[Any] = []
        blobs: dict[str, bytes] = {}
        total = 0
        for _index, data in log.store.iter_entries(start, min(size, start + self.batch_records)):
            envelope = json.loads(data)
            extra = dict(self._blobs_of(log, envelope))
            weight = len(data) + sum(len(b) for b in extra.values())
            if envelopes and total + weight > BATCH_BYTES:
                break
            envelopes.append(envelope)
            blobs.update(extra)
            total += weight
        body = {
            "records": envelopes,
            "blobs": [base64.b64encode(b).decode("ascii") for b in blobs.values()],
        }
        self._sent_blobs.update(blobs)
        if len(self._sent_blobs) > 100_000:
            self._sent_blobs.clear()
        return len(envelopes), json.dumps(body).encode("utf-8")

    def _blobs_of(self, log: Log, envelope: dict[str, Any]) -> Iterator[tuple[str, bytes]]:
        """The stored content a record names: its declaration and what it references, its
        outputs and error message (what the service has from this forwarder is skipped)."""
        record = json.loads(base64.b64decode(envelope["payload"]))["predicate"]
        digests = [ref["digest"] for ref in record["outcome"]["outputs"]]
        message = record["outcome"].get("error", {}).get("message", {})
        if isinstance(message, dict) and "digest" in message:
            digests.append(message["digest"])
        stored = log.store.find_declaration(record["declaration_id"])
        if stored is not None and stored not in self._sent_blobs:
            data = log.store.get_blob(stored)
            if data is not None:
                yield stored, data
                digests.extend(_refs(canonical.loads(data)))
        for digest in digests:
            if digest not in self._sent_blobs:
                data = log.store.get_blob(digest)
                if data is not None:
                    yield digest, data


def _refs(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        digest = value.get("digest")
        if isinstance(digest, str) and "size" in value and "media_type" in value:
            yield digest
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def _refusal(status: int, answer: bytes, url: str) -> RemoteError:
    try:
        error = json.loads(answer)["error"]
        message, hint = f"{error['code']}: {error['message']}", error.get("hint")
    except (ValueError, KeyError, TypeError):
        message, hint = f"HTTP {status}", None
    retry = status >= 500 or status in (408, 429)
    return RemoteError(f"{url}: {message}", status=status, retry=retry, hint=hint)


def push(home: Home, url: str, token: str) -> PushResult:
    """Send ``home``'s log to the service (everything it has not acknowledged), once."""
    return Forwarder(home, url, token).push()


_forwarders: weakref.WeakSet[Forwarder] = weakref.WeakSet()


@atexit.register
def _send_at_exit() -> None:
    """At interpreter exit, give forwarders a few seconds to send what is left."""
    deadline = time.monotonic() + EXIT_WAIT
    for forwarder in list(_forwarders):
        if forwarder._thread is None:
            continue
        with contextlib.suppress(Exception):
            if forwarder.drain is not None:
                forwarder.drain(max(0.0, deadline - time.monotonic()))
            forwarder.wait(max(0.0, deadline - time.monotonic()))
