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

Recording never breaks the call. When it fails, ``on_error`` decides: ``"warn"`` (default:
:class:`CaptureWarning` with runid's message), ``"raise"`` (:class:`CaptureError`, carrying the
call's ``result``), or ``"queue"`` (keep the signed envelope in memory; it is appended on the
next successful capture or :meth:`Recorder.flush`). An exception of the call itself propagates
unchanged, after its error outcome was recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import threading
import warnings
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
from .home import Home, resolve_home
from .identity import Identity, compute_identity
from .keys import SigningKey
from .log import Log
from .privacy import Mode, Privacy, append_keyed_index, contains_secret, scrub_collect
from .record import new_record

__all__ = [
    "CaptureError",
    "CaptureWarning",
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
    # runid errors carry a message written for users; others get their type for context.
    return exc.message if isinstance(exc, RunidError) else f"{type(exc).__name__}: {exc}"


def _otel(attributes: Mapping[str, str]) -> None:
    """Put ids on the current OpenTelemetry span, if the API is installed and a span records."""
    try:
        from opentelemetry import trace  # type: ignore[attr-defined, import-not-found, unused-ignore]
    except Exception:  # not installed, or broken: tracing is optional
        return
    try:
        span = trace.get_current_span()
        if span.is_recording():
            for key, value in attributes.items():
                span.set_attribute(key, value)
    except Exception:  # a tracing problem must never break the user's call
        return


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


class Recorder:
    """Captures runs into the log of one runid home, with one error policy and privacy mode.

    ``home`` is a directory or :class:`~runid.home.Home` (default: ``$RUNID_HOME``, else the
    default home). The home needs keys (``runid keys init``); ``issuer`` creates them under
    that name when missing. ``privacy`` is a :class:`~runid.privacy.Privacy` or a mode name.
    """

    def __init__(
        self,
        home: str | PathLike[str] | Home | None = None,
        *,
        on_error: OnError = "warn",
        privacy: Privacy | Mode | None = None,
        issuer: str | None = None,
        replay_of: str | None = None,
    ) -> None:
        if on_error not in _ON_ERROR:
            raise InputError(f"on_error must be one of {', '.join(_ON_ERROR)}, not {on_error!r}")
        self.home = home if isinstance(home, Home) else Home(_home_path(home))
        self.on_error: OnError = on_error
        self.privacy = privacy if isinstance(privacy, Privacy) else Privacy(privacy or "store")
        self.issuer = issuer
        # Set only by runid.replay: every record this recorder writes is a replay of that run.
        self.replay_of = replay_of
        self._key: SigningKey | None = None
        self._pending: list[_Pending] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Recorder({str(self.home.path)!r}, on_error={self.on_error!r}, {self.privacy!r})"

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

    def flush(self) -> int:
        """Append every queued run; return how many were appended. An error propagates (this
        is an explicit call) and leaves the runs not yet appended in the queue."""
        with self._lock:
            queued, self._pending = self._pending, []
        done = 0
        try:
            for item in queued:
                self._write(item)
                done += 1
        finally:
            with self._lock:
                self._pending[:0] = queued[done:]
        return done

    # --- internals -------------------------------------------------------------------------

    def _signing_key(self) -> SigningKey:
        if self._key is None:
            if self.issuer and not self.home.signing_key_path.exists():
                self.home.init_keys(self.issuer)
            if not self.home.signing_key_path.exists():
                raise InputError(
                    f"{self.home.path}: no runid keys here",
                    hint="create them with 'runid keys init' or pass issuer= to the Recorder",
                )
            self._key = self.home.signing_key()
        return self._key

    def _write(self, item: _Pending) -> int:
        """Store the content as the privacy mode says and append the record; the log index."""
        with Log.open(self.home) as log:
            for blob in item.blobs:
                log.store.put_blob(blob)
            append_keyed_index(self.home.path, item.keyed)
            item.keyed = []  # written once: a retry must not index the same content twice
            if item.envelope is None:
                entry = log.append_record(item.record)
                item.envelope = entry.envelope
                return entry.index
            # A queued envelope: appending the same bytes again is a no-op (docs/spec.md §14.1)
            return log.append([item.envelope])[0]

    def _queue(self, item: _Pending) -> None:
        if item.envelope is None:
            # Keep it signed, so the run is attested while it waits; if the key cannot be
            # read now, the complete record is signed when it is flushed.
            with contextlib.suppress(Exception):
                item.envelope = sign_record(item.record, self._signing_key())
        with self._lock:
            self._pending.append(item)

    def _retry_queued(self) -> None:
        if not self._pending:
            return
        try:
            self.flush()
        except Exception:  # still failing: stay queued, the current run was recorded
            return


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
            self._deliver(item, self._try_write(item), raising=exc is None)

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
            # SQLite and fsync block; keep them off the event loop.
            failure = await asyncio.to_thread(self._try_write, item)
            self._deliver(item, failure, raising=exc is None)

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
            self.identity = compute_identity(declaration)
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
                started_at=self.started_at,
                ended_at=max(datetime.now(UTC), self.started_at),
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
            item.blobs.append(canonical.canonicalize(self.declaration))
        if privacy.mode == "keyed":
            item.keyed = privacy.index_entries(texts)
        return item

    def _try_write(self, item: _Pending) -> BaseException | None:
        try:
            self.entry_index = self.recorder._write(item)
        except Exception as exc:
            return exc
        self.recorded = True
        self.recorder._retry_queued()
        return None

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

_recorders: dict[tuple[Path, str, object], Recorder] = {}
_recorders_lock = threading.Lock()


def _recorder(
    home: str | PathLike[str] | Home | None, on_error: OnError, privacy: Privacy | Mode | None
) -> Recorder:
    # Cached so that on_error="queue" keeps its queue between calls of capture().
    path = home.path if isinstance(home, Home) else _home_path(home)
    key = (path, on_error, privacy or "store")
    with _recorders_lock:
        found = _recorders.get(key)
        if found is None:
            found = _recorders[key] = Recorder(Home(path), on_error=on_error, privacy=privacy)
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
) -> Run:
    """:meth:`Recorder.capture` on the recorder for ``home`` (default: ``$RUNID_HOME``...)."""
    recorder = _recorder(home, on_error, privacy)
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
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """:meth:`Recorder.captured` on the recorder for ``home``."""
    return _recorder(home, on_error, privacy).captured(
        declaration, output=output, media_type=media_type, observe=observe, on_run=on_run
    )


def flush() -> int:
    """Flush the queues of every recorder :func:`capture` created; how many were appended."""
    with _recorders_lock:
        recorders = list(_recorders.values())
    return sum(recorder.flush() for recorder in recorders)
