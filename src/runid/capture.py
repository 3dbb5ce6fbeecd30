"""Capture: fix a run's declaration id before inference, then log a signed execution record.

The declaration is built *before* the call, from what will really be sent (a dict, or a builder
called with the scrubbed request), and its id is fixed on entry: the id exists before the
output does. When the call ends, a signed execution record (declaration id, times, observed
facts, output digests, ok or error outcome) is appended to the transparency log of a runid home
(explicit ``home``, else ``$RUNID_HOME``, else the default, as the CLI resolves it).

>>> import tempfile, pathlib, runid.examples
>>> from runid.home import Home
>>> home = Home(pathlib.Path(tempfile.mkdtemp()) / "home")
>>> _ = home.init_keys("runid.example/worker")
>>> recorder = Recorder(home)
>>> decl = runid.examples.example("chat-hosted-model")
>>> with recorder.capture(decl, request={"api_key": "sk-secret", "temperature": 0.2}) as run:
...     fixed_before = run.declaration_id      # known before the model answers
...     text = "Refunds take 5 business days."  # the model call goes here
...     _ = run.set_output(text)
...     run.observe(served_model="gpt-4o-mini-2024-07-18", finish_reason="stop",
...                 usage={"prompt_tokens": 812, "completion_tokens": 9, "total_tokens": 821})
>>> run.recorded, fixed_before == run.declaration_id, run.entry_index
(True, True, 0)
>>> run.record["observed"]["usage"]
{'input_tokens': 812, 'output_tokens': 9, 'other': {'total_tokens': 821}}
>>> run.header_value() == f"runid={run.execution_id}; decl={run.declaration_id}"
True

The decorator form, sync or async; the builder gets the call's arguments with secrets removed:

>>> def build(prompt: str, **kwargs: object) -> dict[str, object]:
...     assert "api_key" not in kwargs
...     return runid.examples.example("chat-hosted-model")
>>> @recorder.captured(build)
... def answer(prompt: str, *, api_key: str) -> str:
...     return prompt.upper()
>>> answer("hi", api_key="sk-secret")
'HI'

Durability. A recorder's runs go to one writer thread that appends every run waiting in one
SQLite transaction with one checkpoint signature (group commit: concurrent or back-to-back
runs share a commit). ``durability="sync"`` (default) returns once the run's record is
committed; ``durability="background"`` returns at once and the record is committed within one
commit's time: :meth:`Run.wait`, :meth:`Recorder.flush` (also ``close()``, ``with``, and
interpreter exit) wait for it. A crash loses at most the not yet committed tail, in capture
order, and never corrupts the log (docs/spec.md §15):

>>> with Recorder(home, durability="background") as fast:
...     with fast.capture(decl) as run:
...         _ = run.set_output("Refunds take 5 business days.")
...     run.execution_id == run.record["execution_id"]   # known at once
True
>>> run.wait(), run.entry_index    # committed by the writer thread
(True, 2)

Recording never breaks the call. When it fails, ``on_error`` decides: ``"warn"`` (default:
:class:`CaptureWarning` with runid's message), ``"raise"`` (:class:`CaptureError`, carrying the
call's ``result``), or ``"queue"`` (keep the signed envelope in memory; it is appended on the
next successful capture or :meth:`Recorder.flush`). An exception of the call itself propagates
unchanged, after its error outcome was recorded.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import functools
import inspect
import logging
import os
import shlex
import sys
import threading
import warnings
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, ParamSpec, Self, TypeVar, cast, get_args

from . import canonical
from .digest import ContentRef, content_ref
from .envelope import sign_record
from .errors import InputError, RunidError
from .home import DEFAULT_KEY_NAME, Home, resolve_home
from .identity import Identity, identity_and_canonical
from .keys import SigningKey
from .log import Log
from .privacy import Mode, Privacy, contains_secret, scrub_collect
from .record import new_record

__all__ = [
    "CaptureError",
    "CaptureWarning",
    "Durability",
    "OnError",
    "Recorder",
    "Run",
    "capture",
    "captured",
    "current_run",
    "flush",
]

OnError = Literal["warn", "raise", "queue"]
_ON_ERROR: tuple[str, ...] = get_args(OnError)
Durability = Literal["sync", "background"]
_DURABILITY: tuple[str, ...] = get_args(Durability)
# Runs waiting for the writer; past this a capture waits for room, so memory and the
# unflushed tail a crash can lose in "background" mode stay bounded.
MAX_QUEUE = 1024
# A writer with nothing to do closes its connection and ends after this long; the next run
# starts a new one (so idle recorders hold no thread and no open file).
_IDLE_SECONDS = 2.0
# When only "background" runs wait, the writer gives more runs this long to join the group:
# fewer commits and checkpoint signatures per run, so less work competing with the callers.
_LINGER_SECONDS = 0.001
_GROUP = 64
NOT_RECORDED: dict[str, str] = {"absent": "not_recorded"}
TEXT_MEDIA = "text/plain; charset=utf-8"
BYTES_MEDIA = "application/octet-stream"
_OBSERVED_TEXT = ("served_model", "system_fingerprint", "response_id", "finish_reason")
# Provider spellings of the two usage counts the record names (OpenAI chat: prompt/completion).
_USAGE_NAMES = {
    "input_tokens": "input_tokens",
    "prompt_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "completion_tokens": "output_tokens",
}

P = ParamSpec("P")
R = TypeVar("R")
DeclarationSource = Mapping[str, Any] | Callable[..., Mapping[str, Any]]

_log = logging.getLogger("runid")

_current: contextvars.ContextVar[Run | None] = contextvars.ContextVar("runid_run", default=None)


class CaptureWarning(UserWarning):
    """A run could not be captured or recorded (``on_error="warn"``)."""


class CaptureError(RunidError):
    """Capture or recording failed with ``on_error="raise"``; ``result`` is what the call
    returned, ``cause`` the failure, ``code`` the cause's code (e.g. ``E_STORE``)."""

    def __init__(self, message: str, *, run: Run, cause: BaseException) -> None:
        if isinstance(cause, RunidError):
            super().__init__(message, hint=cause.hint, code=cause.code)
        else:
            super().__init__(message)
        self.run = run
        self.cause = cause
        self.result: Any = None


def current_run() -> Run | None:
    """The run being captured in this context (inside a ``with`` block or decorated call)."""
    return _current.get()


def _describe(exc: BaseException) -> str:
    # runid errors carry a message written for users (and a hint: what to do); others get
    # their type for context.
    if isinstance(exc, RunidError):
        return f"{exc.message} (hint: {exc.hint})" if exc.hint else exc.message
    return f"{type(exc).__name__}: {exc}"


@functools.cache
def _otel_importable() -> bool:
    try:
        import opentelemetry.trace  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
    except Exception:  # not installed, or broken: tracing is optional
        return False
    return True


def _otel(attributes: Mapping[str, str]) -> None:
    """Put ids on the current OpenTelemetry span, if the API is installed and a span records."""
    # A dict look-up first: this runs twice per captured call, an import statement costs more.
    trace: Any = sys.modules.get("opentelemetry.trace")
    if trace is None:
        if not _otel_importable():
            return
        trace = sys.modules.get("opentelemetry.trace")
        if trace is None:
            return
    try:
        span = trace.get_current_span()
        if span.is_recording():
            for key, value in attributes.items():
                span.set_attribute(key, value)
    except Exception:  # a tracing problem must never break the user's call
        return


_STAMP = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"


def _stamp(moment: datetime) -> str:
    """:func:`runid.record.format_timestamp` of a UTC datetime from ``datetime.now(UTC)``
    (the same text, without ``strftime``'s cost: this runs twice per captured call)."""
    return _STAMP % (
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
    )


def _int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value < 0 or value != int(value):
        return None
    return int(value)


def _as_mapping(value: object) -> Mapping[str, Any] | None:
    if isinstance(value, Mapping):
        return value
    dump = getattr(value, "model_dump", None)  # pydantic objects of provider SDKs
    if callable(dump):
        dumped = dump()
        return dumped if isinstance(dumped, Mapping) else None
    return None


def _flatten(prefix: str, value: Mapping[str, Any], into: dict[str, int]) -> None:
    for key, item in value.items():
        name = f"{prefix}{str(key).lower()}"
        nested = _as_mapping(item)
        if nested is not None:
            _flatten(name + ".", nested, into)
        elif (count := _int(item)) is not None:
            into[name] = count


def usage_fields(usage: object) -> dict[str, Any]:
    """A record's ``usage`` from a provider's usage object or mapping.

    ``prompt_tokens``/``input_tokens`` and ``completion_tokens``/``output_tokens`` become the
    two named counts; every other count, nested structures flattened with dots, goes to
    ``other`` as reported.

    >>> usage_fields({"prompt_tokens": 5, "completion_tokens": 2,
    ...               "prompt_tokens_details": {"cached_tokens": 3}})
    {'input_tokens': 5, 'output_tokens': 2, 'other': {'prompt_tokens_details.cached_tokens': 3}}
    """
    mapping = _as_mapping(usage)
    if mapping is None:
        return dict(NOT_RECORDED)
    flat: dict[str, int] = {}
    _flatten("", mapping, flat)
    found: dict[str, Any] = {"input_tokens": NOT_RECORDED, "output_tokens": NOT_RECORDED}
    other: dict[str, int] = {}
    for name, count in flat.items():
        target = _USAGE_NAMES.get(name)
        if target is not None and found[target] == NOT_RECORDED:
            found[target] = count
        elif name[:1].isalpha() and name.isascii():
            other[name] = count
    return {**found, "other": other}


@dataclass
class _Pending:
    """A finished run not yet in the log: its record, envelope (once signed) and content."""

    record: dict[str, Any]
    envelope: dict[str, Any] | None = None
    blobs: list[bytes] = field(default_factory=list)
    keyed: list[dict[str, Any]] = field(default_factory=list)


class _Done:
    """A one-shot ``threading.Event`` (``set`` once, ``wait`` by anyone), built on one lock
    held until set: every captured call makes one, and an Event (a Condition) costs more."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def set(self) -> None:
        with contextlib.suppress(RuntimeError):  # already set
            self._lock.release()

    def wait(self, timeout: float | None = None) -> bool:
        if not self._lock.acquire(timeout=-1 if timeout is None else max(timeout, 0)):
            return False
        with contextlib.suppress(RuntimeError):
            self._lock.release()  # let the other waiters through too
        return True


@dataclass(eq=False)
class _Job:
    """One finished run handed to the writer; ``done`` is set once it is in the log or failed."""

    item: _Pending
    run: Run | None = None
    background: bool = False
    done: _Done = field(default_factory=_Done)
    index: int | None = None
    error: BaseException | None = None


class _Writer:
    """Group commit for one recorder: a thread that owns the log connection and appends every
    run queued since its last commit in one transaction, with one checkpoint signature.

    N runs that end while a commit is in flight share the next commit (one fsync, one
    checkpoint signature), whatever thread they come from. The thread starts with the first run
    and ends after :data:`_IDLE_SECONDS` without work.
    """

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._cond = threading.Condition()
        self._jobs: list[_Job] = []
        self._thread: threading.Thread | None = None
        self._submitted = 0
        self._completed = 0
        self._urgent = 0  # runs in the queue that a caller waits for
        # Held while the writer uses SQLite: fork() waits for it, so that a child never
        # inherits SQLite's locks taken by a thread it does not have.
        self._io = threading.Lock()
        self.commits = 0  # transactions written (for benchmarks and tests)
        _writers.add(self)

    def submit(self, job: _Job) -> None:
        """Queue ``job`` (waiting for room when :data:`MAX_QUEUE` runs already wait)."""
        with self._cond:
            while len(self._jobs) >= MAX_QUEUE:
                self._cond.wait()
            self._jobs.append(job)
            self._submitted += 1
            self._urgent += not job.background  # somebody waits for this one
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="runid-capture-writer", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every run submitted before this call is written (or failed)."""
        with self._cond:
            target = self._submitted
            self._urgent += 1  # no lingering: someone waits
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._completed >= target, timeout)

    def _loop(self) -> None:
        log: Log | None = None
        try:
            while True:
                with self._cond:
                    if not self._cond.wait_for(lambda: bool(self._jobs), _IDLE_SECONDS):
                        self._thread = None  # idle: the next submit starts a new thread
                        return
                    if not self._urgent:
                        self._cond.wait_for(
                            lambda: self._urgent > 0 or len(self._jobs) >= _GROUP,
                            _LINGER_SECONDS,
                        )
                    self._urgent = 0
                    batch, self._jobs = self._jobs, []
                    self._cond.notify_all()  # room in the queue again
                try:
                    with self._io:
                        log = self._write(batch, log)
                finally:
                    for job in batch:
                        self._finish(job)
                    with self._cond:
                        self._completed += len(batch)
                        self._cond.notify_all()
        finally:
            with self._cond:
                # Ending abnormally too: the next submit must start a new thread, not wait.
                if self._thread is threading.current_thread():
                    self._thread = None
            if log is not None:
                with self._io, contextlib.suppress(Exception):
                    log.close()

    def _write(self, batch: list[_Job], log: Log | None) -> Log | None:
        """Append ``batch`` in one transaction; on failure every job carries the error."""
        recorder = self._recorder
        try:
            if log is None:
                log = Log.open(recorder.home)
            ready: list[_Job] = []
            for job in batch:
                try:
                    _sign(job.item, log)
                    ready.append(job)
                except Exception as exc:  # this run only; the others still land
                    job.error = exc
            indices = _append(log, [job.item for job in ready])
        except Exception as exc:
            for job in batch:
                job.error = job.error or exc
            if log is not None:
                # The connection's state is unknown after a failure: start afresh next time.
                with contextlib.suppress(Exception):
                    log.close()
            return None
        self.commits += 1
        for job, index in zip(ready, indices, strict=True):
            job.index = index
        self._retry_queued(log)
        return log

    def _retry_queued(self, log: Log) -> None:
        """After a commit that worked, append the runs ``on_error="queue"`` kept, if any."""
        recorder = self._recorder
        with recorder._lock:
            queued, recorder._pending = recorder._pending, []
        if not queued:
            return
        try:
            for item in queued:
                _sign(item, log)
            _append(log, queued)
        except Exception:  # still failing: they stay queued, in order
            with recorder._lock:
                recorder._pending[:0] = queued
            return
        self.commits += 1

    def _finish(self, job: _Job) -> None:
        # A failure here must not stop the writer: the job is done either way.
        try:
            if job.run is not None:
                job.run._landed(job)
        except Exception:  # pragma: no cover - _landed only warns or queues
            pass
        finally:
            job.done.set()


def _sign(item: _Pending, log: Log) -> None:
    if item.envelope is None:
        item.envelope = log.sign(item.record)


def _append(log: Log, items: list[_Pending]) -> list[int]:
    """Append signed ``items`` and their content through :meth:`Log.append`: one transaction,
    one durable commit and one checkpoint signature for all of them."""
    if not items:
        return []
    return log.append(
        [item.envelope for item in items if item.envelope is not None],
        blobs=[blob for item in items for blob in item.blobs],
        keyed=[entry for item in items for entry in item.keyed],
    )


_writers: weakref.WeakSet[_Writer] = weakref.WeakSet()


_forking: list[_Writer] = []


def _before_fork() -> None:
    # Wait for any commit (or close) in flight: its SQLite locks must not be copied held.
    _forking[:] = list(_writers)
    for writer in _forking:
        writer._io.acquire()


def _after_fork_in_parent() -> None:
    for writer in _forking:
        writer._io.release()
    _forking.clear()


def _after_fork_in_child() -> None:
    # A forked child has no writer thread and must not touch the parent's queue or locks
    # (another thread may have held them): start empty; the next run starts a new writer.
    for writer in list(_writers):
        writer._cond = threading.Condition()
        writer._io = threading.Lock()
        writer._jobs = []
        writer._thread = None
        writer._submitted = writer._completed = writer._urgent = 0
    _forking.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


@atexit.register
def _drain_at_exit() -> None:
    """At interpreter exit, wait (boundedly) for background runs still queued."""
    for writer in list(_writers):
        with contextlib.suppress(Exception):
            writer.drain(timeout=10.0)


class Recorder:
    """Captures runs into the log of one runid home, with one error policy and privacy mode.

    ``home`` is a directory or :class:`~runid.home.Home` (default: ``$RUNID_HOME``, else the
    default home). A home without keys gets a signing key on the first run (named ``issuer``,
    default ``runid.local/log``; private file mode 0600), and the recorder says once, on the
    ``runid`` logger, where it is and how to publish its public key (``runid --home DIR keys
    show``). ``privacy`` is a :class:`~runid.privacy.Privacy` or a mode name.

    ``durability`` says when a captured call returns: ``"sync"`` (default) once its record is
    committed to the log, ``"background"`` at once, the record being committed within one
    commit's time (see the module docstring). Either way, records go through one writer thread
    that commits every run waiting in one transaction (group commit).
    """

    def __init__(
        self,
        home: str | PathLike[str] | Home | None = None,
        *,
        on_error: OnError = "warn",
        privacy: Privacy | Mode | None = None,
        issuer: str | None = None,
        replay_of: str | None = None,
        durability: Durability = "sync",
    ) -> None:
        if on_error not in _ON_ERROR:
            raise InputError(f"on_error must be one of {', '.join(_ON_ERROR)}, not {on_error!r}")
        if durability not in _DURABILITY:
            raise InputError(
                f"durability must be one of {', '.join(_DURABILITY)}, not {durability!r}"
            )
        self.durability: Durability = durability
        self.home = home if isinstance(home, Home) else Home(_home_path(home))
        self.on_error: OnError = on_error
        self.privacy = privacy if isinstance(privacy, Privacy) else Privacy(privacy or "store")
        self.issuer = issuer
        # Set only by runid.replay: every record this recorder writes is a replay of that run.
        self.replay_of = replay_of
        self._key: SigningKey | None = None
        self._key_lock = threading.Lock()
        self._pending: list[_Pending] = []
        self._lock = threading.Lock()
        self._writer = _Writer(self)
        # on_error="raise" with durability="background": failures the call could not raise,
        # raised by the next flush() or close().
        self._failures: list[CaptureError] = []

    def __repr__(self) -> str:
        return (
            f"Recorder({str(self.home.path)!r}, on_error={self.on_error!r}, "
            f"durability={self.durability!r}, {self.privacy!r})"
        )

    # --- public API ------------------------------------------------------------------------

    def capture(
        self,
        declaration: DeclarationSource,
        *,
        request: Mapping[str, Any] | None = None,
        contents: Iterable[str | bytes] = (),
        parent: str | None = None,
        step: int | None = None,
    ) -> Run:
        """A run to use as ``with`` / ``async with``; the declaration id is fixed on entry.

        ``declaration`` is a dict, or a builder called with the scrubbed ``request`` (the
        client's keyword arguments and headers, secrets removed). ``contents`` are the bytes
        or texts the declaration references, kept as the privacy mode says.
        """
        return Run(
            self, declaration, request=request, contents=list(contents), parent=parent, step=step
        )

    def captured(
        self,
        declaration: DeclarationSource,
        *,
        output: Callable[[Any], str | bytes | None] | None = None,
        media_type: str | None = None,
        observe: Callable[[Any], Mapping[str, Any]] | None = None,
        on_run: Callable[[Run], None] | None = None,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorate a function (sync or ``async``) so that every call is captured.

        A builder ``declaration`` is called with the call's arguments, keyword arguments
        scrubbed of secrets. The output is ``output(result)`` if given, else the result when it
        is ``str`` or ``bytes`` (unless the function called ``current_run().set_output``);
        ``observe(result)`` returns keyword arguments for :meth:`Run.observe`; ``on_run``
        receives the finished :class:`Run` (ids, header value, sidecar).
        """

        def finish(run: Run, result: Any) -> Exception | None:
            # Converters run on the user's result: their failure is a capture failure only,
            # reported after the block so that it is not recorded as the call's error.
            try:
                if not run.outputs:
                    data = output(result) if output is not None else result
                    if isinstance(data, str | bytes):
                        run.set_output(data, media_type=media_type)
                if observe is not None:
                    run.observe(**observe(result))
            except Exception as exc:
                return exc
            return None

        def converted(run: Run, failure: Exception | None, result: Any) -> None:
            if failure is not None and run.declaration_id is not None:
                try:
                    run._capture_failed(failure)
                except CaptureError as exc:
                    exc.result = result
                    raise

        def decorate(fn: Callable[P, R]) -> Callable[P, R]:
            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                    run = Run(self, _bind(declaration, args), request=kwargs)
                    result: Any = None
                    try:
                        async with run:
                            result = await cast(Callable[..., Awaitable[Any]], fn)(*args, **kwargs)
                            failure = finish(run, result)
                    except CaptureError as exc:
                        exc.result = result
                        raise
                    finally:
                        if on_run is not None:
                            on_run(run)
                    converted(run, failure, result)
                    return result

                return cast(Callable[P, R], async_wrapper)

            @functools.wraps(fn)
            def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
                run = Run(self, _bind(declaration, args), request=kwargs)
                result: Any = None
                try:
                    with run:
                        result = fn(*args, **kwargs)
                        failure = finish(run, result)
                except CaptureError as exc:
                    exc.result = result
                    raise
                finally:
                    if on_run is not None:
                        on_run(run)
                converted(run, failure, result)
                return cast(R, result)

            return wrapper

        return decorate

    @property
    def pending(self) -> int:
        """How many finished runs wait in memory for the log (``on_error="queue"``)."""
        with self._lock:
            return len(self._pending)

    def flush(self, timeout: float | None = None) -> int:
        """Wait until every run captured so far is in the log, then append every queued run
        (``on_error="queue"``); return how many queued runs were appended.

        An error propagates (this is an explicit call) and leaves the queued runs in the queue;
        with ``on_error="raise"`` and ``durability="background"``, a background run that could
        not be recorded is raised here as :class:`CaptureError`. ``timeout`` (seconds) bounds
        the wait for the writer; :class:`~runid.errors.InputError` when it runs out.
        """
        if not self._writer.drain(timeout):
            raise InputError(
                f"runid: the capture writer did not finish within {timeout} s",
                hint="the log may be locked by another process; try again, or raise timeout",
            )
        with self._lock:
            failures, self._failures = self._failures, []
            queued, self._pending = self._pending, []
        if failures:
            with self._lock:
                self._pending[:0] = queued
            raise failures[0]
        if not queued:
            return 0
        jobs = [_Job(item) for item in queued]
        for job in jobs:
            self._writer.submit(job)
        for job in jobs:
            job.done.wait()
        failed = [job for job in jobs if job.error is not None]
        if failed:
            with self._lock:
                self._pending[:0] = [job.item for job in failed]
            raise failed[0].error  # type: ignore[misc]
        return len(jobs)

    def close(self) -> None:
        """:meth:`flush`, for the end of a program: records of ``"background"`` runs are in
        the log when it returns. The recorder stays usable."""
        self.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- internals -------------------------------------------------------------------------

    def _signing_key(self) -> SigningKey:
        key = self._key
        if key is None:
            with self._key_lock:
                key = self._key
                if key is None:
                    # A home without a key gets one on first use (no separate step); of
                    # several threads or processes, one creates it and the others load it.
                    name = self.issuer or DEFAULT_KEY_NAME
                    key, created = self.home.ensure_signing_key(name)
                    if created:
                        _announce_key(self.home, key)
                    self._key = key
        return key

    def _queue(self, item: _Pending) -> None:
        if item.envelope is None:
            # Keep it signed, so the run is attested while it waits; if the key cannot be
            # read now, the complete record is signed when it is flushed.
            with contextlib.suppress(Exception):
                item.envelope = sign_record(item.record, self._signing_key())
        with self._lock:
            self._pending.append(item)


def _announce_key(home: Home, key: SigningKey) -> None:
    """Say once, when a recorder created a home's key, where it is and how to publish it.

    A log message (logger ``runid``, level WARNING: shown on standard error unless logging is
    configured otherwise), not a Python warning: nothing went wrong.
    """
    command = f"runid --home {shlex.quote(str(home.path))} keys show"
    _log.warning(
        "runid: created a signing key for the runid home %s: %s (private, mode 0600), "
        "named %s, key id %s. Records are signed with it; publish its public key so others "
        "can verify them (print it with: %s)",
        home.path,
        home.signing_key_path,
        key.public_key.name,
        key.public_key.key_id,
        command,
    )


def _home_path(home: str | PathLike[str] | None) -> Path:
    """As the CLI: an explicit home, else ``$RUNID_HOME``, else the default home."""
    return resolve_home(None if home is None else Path(home))


def _bind(declaration: DeclarationSource, args: tuple[Any, ...]) -> DeclarationSource:
    """For the decorator: a builder that receives the call's positional arguments too."""
    if isinstance(declaration, Mapping):
        return declaration
    return lambda request: declaration(*args, **request)


class Run:
    """One captured run: its declaration id (fixed on entry), outputs, observed facts and,
    after the block, its record, execution id and log index."""

    def __init__(
        self,
        recorder: Recorder,
        declaration: DeclarationSource,
        *,
        request: Mapping[str, Any] | None = None,
        contents: Iterable[str | bytes] = (),
        parent: str | None = None,
        step: int | None = None,
    ) -> None:
        self.recorder = recorder
        self._source = declaration
        self._request = request
        self._contents = list(contents)
        self._parent = parent
        self._step = step
        self._secrets: list[str] = []
        self.declaration: dict[str, Any] | None = None
        self.identity: Identity | None = None
        self._declaration_jcs = b""
        self.outputs: list[ContentRef] = []
        self._output_bytes: list[bytes] = []
        self._observed: dict[str, Any] = {}
        self.started_at: datetime | None = None
        self.record: dict[str, Any] | None = None
        self.entry_index: int | None = None
        self.recorded = False
        self.failure: BaseException | None = None
        self._token: contextvars.Token[Run | None] | None = None
        self._error_text: str | None = None
        self._job: _Job | None = None

    # --- what the caller reads -------------------------------------------------------------

    @property
    def declaration_id(self) -> str | None:
        """The declaration id, fixed before the call (None if the declaration was invalid)."""
        return self.identity.declaration_id if self.identity else None

    @property
    def execution_id(self) -> str | None:
        """The execution id, once the run ended and its record was built."""
        return self.record["execution_id"] if self.record else None

    def header_value(self) -> str:
        """``runid=<execution id>; decl=<declaration id>`` for an HTTP response header (only
        ``decl=...`` while the run has no record yet)."""
        if self.declaration_id is None:
            raise InputError("this run has no declaration id: its declaration was not valid")
        if self.execution_id is None:
            return f"decl={self.declaration_id}"
        return f"runid={self.execution_id}; decl={self.declaration_id}"

    def sidecar(self) -> dict[str, Any]:
        """A small JSON object that travels with the output: ids, log position, outputs."""
        log: dict[str, Any] = dict(NOT_RECORDED)
        if self.recorded and self.entry_index is not None and self.record is not None:
            log = {"origin": self.record["issuer"]["name"], "index": self.entry_index}
        return {
            "runid": "runid/sidecar/v1",
            "declaration_id": self.declaration_id,
            "execution_id": self.execution_id,
            "log": log,
            "outputs": [dict(ref) for ref in self.outputs],
        }

    def write_sidecar(self, path: str | PathLike[str]) -> Path:
        """Write :meth:`sidecar` as canonical JSON (plus a newline) to ``path``."""
        target = Path(path)
        target.write_bytes(canonical.canonicalize(self.sidecar()) + b"\n")
        return target

    # --- what the caller tells -------------------------------------------------------------

    def set_output(self, data: str | bytes, *, media_type: str | None = None) -> ContentRef:
        """Add an output (in the order produced): text is UTF-8, bytes are taken as given."""
        media = media_type or (TEXT_MEDIA if isinstance(data, str) else BYTES_MEDIA)
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        ref = content_ref(raw, media)
        self.outputs.append(ref)
        self._output_bytes.append(raw)
        return ref

    def observe(
        self,
        *,
        served_model: str | None = None,
        system_fingerprint: str | None = None,
        response_id: str | None = None,
        usage: object = None,
        finish_reason: str | None = None,
    ) -> None:
        """Facts the serving side reported, as reported; None (or "") leaves one not_recorded.

        ``usage`` is a mapping or a provider usage object (see :func:`usage_fields`).
        """
        given = {
            "served_model": served_model,
            "system_fingerprint": system_fingerprint,
            "response_id": response_id,
            "finish_reason": finish_reason,
        }
        for name, value in given.items():
            if isinstance(value, str) and value:
                self._observed[name] = value
        if usage is not None:
            self._observed["usage"] = usage_fields(usage)

    def mark_not_applicable(self, *names: str) -> None:
        """Record observed facts that do not exist for this run (a tool step calls no model) as
        ``{"absent": "not_applicable"}``, which differs from ``not_recorded`` (not seen; spec
        §12.3). No names: all five (``served_model``, ``system_fingerprint``, ``response_id``,
        ``usage``, ``finish_reason``)."""
        known = ("served_model", "system_fingerprint", "response_id", "usage", "finish_reason")
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise InputError(
                f"not an observed fact: {', '.join(unknown)} (known: {', '.join(known)})"
            )
        for name in names or known:
            self._observed[name] = {"absent": "not_applicable"}

    def detach(self) -> None:
        """Stop being this context's :func:`current_run`; the run stays open until it ends.

        For a run that outlives the call that entered it (a stream consumed later, perhaps in
        another task): the caller's unrelated code does not see it as current, and it can be
        ended from any context. Nothing happens when it is not current.
        """
        if self._token is not None:
            with contextlib.suppress(ValueError):  # entered in another context
                _current.reset(self._token)
            self._token = None

    # --- the context manager ---------------------------------------------------------------

    def __enter__(self) -> Self:
        self._begin()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        item = self._end(exc)
        if item is not None:
            job = self._submit(item)
            if job is not None:
                job.done.wait()
                self._deliver(item, job.error, raising=exc is None)

    async def __aenter__(self) -> Self:
        self._begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        item = self._end(exc)
        if item is not None:
            job = self._submit(item)
            if job is not None:
                # The commit blocks; wait for it off the event loop.
                await asyncio.to_thread(job.done.wait)
                self._deliver(item, job.error, raising=exc is None)

    # --- steps -----------------------------------------------------------------------------

    def _begin(self) -> None:
        self._token = _current.set(self)
        try:
            request, self._secrets = scrub_collect(self._request or {})
            source = self._source
            built = source(request) if callable(source) else source
            declaration, dropped = scrub_collect(built)
            self._secrets += dropped
            if dropped:
                warnings.warn(
                    CaptureWarning(
                        f"runid: dropped {len(dropped)} secret-named field(s) from the "
                        "declaration before computing its id"
                    ),
                    stacklevel=3,
                )
            # The canonical bytes stored as the declaration's blob come with the id, from the
            # same serialisation: no second walk of the declaration when the run ends.
            self.identity, self._declaration_jcs = identity_and_canonical(declaration)
            self.declaration = declaration
        except Exception as exc:
            # No valid declaration, no record; the call itself still runs.
            self._capture_failed(exc, fatal=True)
            return
        _otel({"runid.declaration_id": self.identity.declaration_id})
        self.started_at = datetime.now(UTC)

    def _capture_failed(self, exc: BaseException, *, fatal: bool = False) -> None:
        self.failure = exc
        message = f"runid: the run could not be captured: {_describe(exc)}"
        if self.recorder.on_error == "raise":
            if self._token is not None and fatal:
                _current.reset(self._token)
                self._token = None
            raise CaptureError(message, run=self, cause=exc) from exc
        warnings.warn(CaptureWarning(message), stacklevel=4)

    def _end(self, exc: BaseException | None) -> _Pending | None:
        """Build the record of the finished run (in the caller's thread: it is cheap)."""
        if self._token is not None:
            _current.reset(self._token)
            self._token = None
        if self.identity is None or self.declaration is None or self.started_at is None:
            return None
        try:
            error = None
            if exc is not None:
                message: Any = NOT_RECORDED
                text = str(exc)
                # An error text that echoes a dropped secret is not recorded, even by digest.
                if text and not contains_secret(text, self._secrets):
                    message = content_ref(text)
                    self._error_text = text
                error = {"type": type(exc).__name__, "message": message}
            self.record = new_record(
                self.identity.declaration_id,
                issuer=self.recorder._signing_key(),
                started_at=_stamp(self.started_at),
                ended_at=_stamp(max(datetime.now(UTC), self.started_at)),
                outputs=self.outputs,
                error=error,
                observed=self._observed,
                parent=self._parent,
                step=self._step,
                replay_of=self.recorder.replay_of,
            )
        except Exception as failure:
            self._handle(failure, raising=exc is None)
            return None
        _otel({"runid.execution_id": self.record["execution_id"]})
        return self._pending_item(error)

    def _pending_item(self, error: Mapping[str, Any] | None) -> _Pending:
        assert self.record is not None and self.declaration is not None
        privacy = self.recorder.privacy
        texts: list[tuple[bytes, str]] = [
            (c.encode("utf-8"), TEXT_MEDIA) if isinstance(c, str) else (bytes(c), BYTES_MEDIA)
            for c in self._contents
        ]
        texts += [
            (raw, ref["media_type"])
            for raw, ref in zip(self._output_bytes, self.outputs, strict=True)
        ]
        if error is not None and self._error_text is not None:
            texts.append((self._error_text.encode("utf-8"), TEXT_MEDIA))
        item = _Pending(self.record)
        if privacy.stores_content:
            item.blobs = [raw for raw, _media in texts]
        if privacy.stores_declaration:
            item.blobs.append(self._declaration_jcs)
        if privacy.mode == "keyed":
            item.keyed = privacy.index_entries(texts)
        return item

    def _submit(self, item: _Pending) -> _Job | None:
        """Hand the run to the recorder's writer; the job to wait for ("sync"), or None."""
        background = self.recorder.durability == "background"
        job = self._job = _Job(item, self, background)
        self.recorder._writer.submit(job)
        return None if background else job

    def _landed(self, job: _Job) -> None:
        """In the writer thread, when the run's commit is done (or failed)."""
        if job.error is None:
            self.entry_index = job.index
            self.recorded = True
        elif job.background:
            # Nobody waits for this run: on_error applies here, as the call would have.
            if self.recorder.on_error == "queue":
                self.failure = job.error
                self.recorder._queue(job.item)
                return
            self.failure = job.error
            message = f"runid: the run was not recorded: {_describe(job.error)}"
            if self.recorder.on_error == "raise":
                failure = CaptureError(message, run=self, cause=job.error)
                with self.recorder._lock:
                    self.recorder._failures.append(failure)
            else:
                warnings.warn(CaptureWarning(message), stacklevel=2)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the run's record is committed (``durability="background"``); True if
        it is in the log. Returns at once for a run that was not handed to the log."""
        job = self._job
        if job is not None:
            job.done.wait(timeout)
        return self.recorded

    def _deliver(self, item: _Pending, failure: BaseException | None, *, raising: bool) -> None:
        if failure is None:
            return
        if self.recorder.on_error == "queue":
            self.failure = failure
            self.recorder._queue(item)
            return
        self._handle(failure, raising=raising)

    def _handle(self, failure: BaseException, *, raising: bool) -> None:
        self.failure = failure
        message = f"runid: the run was not recorded: {_describe(failure)}"
        if self.recorder.on_error == "raise" and raising:
            raise CaptureError(message, run=self, cause=failure) from failure
        # With a user exception in flight, that exception wins; the capture failure is a warning.
        warnings.warn(CaptureWarning(message), stacklevel=4)


# --- module-level convenience: one recorder per (home, on_error, privacy) --------------------

_recorders: dict[tuple[Path, str, object, str], Recorder] = {}
_recorders_lock = threading.Lock()


def _recorder(
    home: str | PathLike[str] | Home | None,
    on_error: OnError,
    privacy: Privacy | Mode | None,
    durability: Durability = "sync",
) -> Recorder:
    # Cached so that on_error="queue" keeps its queue between calls of capture(), and so that
    # calls share one writer (group commit).
    path = home.path if isinstance(home, Home) else _home_path(home)
    key = (path, on_error, privacy or "store", durability)
    with _recorders_lock:
        found = _recorders.get(key)
        if found is None:
            found = _recorders[key] = Recorder(
                Home(path), on_error=on_error, privacy=privacy, durability=durability
            )
        return found


def capture(
    declaration: DeclarationSource,
    *,
    home: str | PathLike[str] | Home | None = None,
    on_error: OnError = "warn",
    privacy: Privacy | Mode | None = None,
    request: Mapping[str, Any] | None = None,
    contents: Iterable[str | bytes] = (),
    parent: str | None = None,
    step: int | None = None,
    durability: Durability = "sync",
) -> Run:
    """:meth:`Recorder.capture` on the recorder for ``home`` (default: ``$RUNID_HOME``...)."""
    recorder = _recorder(home, on_error, privacy, durability)
    return recorder.capture(
        declaration, request=request, contents=contents, parent=parent, step=step
    )


def captured(
    declaration: DeclarationSource,
    *,
    home: str | PathLike[str] | Home | None = None,
    on_error: OnError = "warn",
    privacy: Privacy | Mode | None = None,
    output: Callable[[Any], str | bytes | None] | None = None,
    media_type: str | None = None,
    observe: Callable[[Any], Mapping[str, Any]] | None = None,
    on_run: Callable[[Run], None] | None = None,
    durability: Durability = "sync",
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """:meth:`Recorder.captured` on the recorder for ``home``."""
    return _recorder(home, on_error, privacy, durability).captured(
        declaration, output=output, media_type=media_type, observe=observe, on_run=on_run
    )


def flush() -> int:
    """Flush every recorder :func:`capture` created (background runs written, queued runs
    appended); how many queued runs were appended."""
    with _recorders_lock:
        recorders = list(_recorders.values())
    return sum(recorder.flush() for recorder in recorders)
