"""A captured run: its declaration id fixed on entry, outputs and observed facts, its record.

:class:`Run` is the context manager (sync and async) a recorder hands out. On entry it scrubs
secrets and fixes the declaration id; on exit it builds the record in the caller's thread
(cheap; the writer signs it) and hands it to its recorder's writer (``_writer``), then waits
for the commit (``durability="sync"``) or not (``"background"``). Failures follow the
recorder's ``on_error``. Also here: :func:`current_run` and the capture errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import warnings
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from .. import canonical
from ..digest import ContentRef, content_ref
from ..errors import InputError, RunidError
from ..identity import Identity, identity_and_canonical
from ..privacy import contains_secret, looks_like_credential, redact, scrub_collect
from ..record import new_record
from ..wire import Record
from ._observed import (
    BYTES_MEDIA,
    NOT_APPLICABLE,
    NOT_RECORDED,
    OBSERVED_FACTS,
    TEXT_MEDIA,
    usage_fields,
)
from ._otel import end_run_span, start_run_span
from ._writer import Job, Pending

if TYPE_CHECKING:
    from ._recorder import Recorder

__all__ = [
    "CaptureError",
    "CaptureWarning",
    "DeclarationSource",
    "Run",
    "current_run",
    "stamp",
]

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
    # runid errors carry a message written for users (and a hint: what to do); others get
    # their type for context.
    if isinstance(exc, RunidError):
        return f"{exc.message} (hint: {exc.hint})" if exc.hint else exc.message
    return f"{type(exc).__name__}: {exc}"


_STAMP = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"


def stamp(moment: datetime) -> str:
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
        self.record: Record | None = None
        self.entry_index: int | None = None
        self.recorded = False
        self.failure: BaseException | None = None
        self._token: contextvars.Token[Run | None] | None = None
        self._error_text: str | None = None
        self._salted: list[bytes] = []  # privacy mode "salted": the blobs the references name
        self._job: Job | None = None
        self._span: Any = None  # its OpenTelemetry span, when tracing is configured

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
        if self.recorder.privacy.mode == "salted":
            ref, blob = self.recorder.privacy.salted(raw, media)
            self._salted.append(blob)
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
        endpoint: str | None = None,
    ) -> None:
        """Facts the serving side reported, as reported; None (or "") leaves one not_recorded.

        ``usage`` is a mapping or a provider usage object (see :func:`usage_fields`).
        ``endpoint`` is where the model was reached (a base URL without credentials, query or
        fragment): a fact of this occurrence, not a condition (ADR 0014); not given, the
        record has no ``observed.endpoint``.
        """
        given = {
            "served_model": served_model,
            "system_fingerprint": system_fingerprint,
            "response_id": response_id,
            "finish_reason": finish_reason,
            "endpoint": endpoint,
        }
        for name, value in given.items():
            # A fact that echoes a secret or holds something shaped like a credential is not
            # recorded (it would be signed into the record).
            if (
                isinstance(value, str)
                and value
                and not contains_secret(value, self._secrets)
                and not looks_like_credential(value)
            ):
                self._observed[name] = value
        if usage is not None:
            self._observed["usage"] = usage_fields(usage)

    def mark_not_applicable(self, *names: str) -> None:
        """Record observed facts that do not exist for this run (a tool step calls no model) as
        ``{"absent": "not_applicable"}``, which differs from ``not_recorded`` (not seen; spec
        §12.3). No names: all five (``served_model``, ``system_fingerprint``, ``response_id``,
        ``usage``, ``finish_reason``)."""
        known = OBSERVED_FACTS
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise InputError(
                f"not an observed fact: {', '.join(unknown)} (known: {', '.join(known)})"
            )
        for name in names or known:
            self._observed[name] = dict(NOT_APPLICABLE)

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
            privacy = self.recorder.privacy
            if privacy.mode == "salted":  # before the id: the references name salted blobs
                raw = [
                    c.encode("utf-8") if isinstance(c, str) else bytes(c) for c in self._contents
                ]
                declaration, self._salted = privacy.salt_declaration(declaration, raw)
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
        self._span = start_run_span(declaration, self.identity.declaration_id)
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

    def _end(self, exc: BaseException | None) -> Pending | None:
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
                # Credential-shaped values are replaced; an error text that echoes a dropped
                # secret is not recorded, even by digest.
                text = str(exc)
                if text and not contains_secret(text, self._secrets):
                    text = redact(text)
                    message = content_ref(text)
                    if self.recorder.privacy.mode == "salted":
                        message, blob = self.recorder.privacy.salted(text.encode(), TEXT_MEDIA)
                        self._salted.append(blob)
                    self._error_text = text
                error = {"type": type(exc).__name__, "message": message}
            self.record = new_record(
                self.identity.declaration_id,
                issuer=self.recorder._writer.signing_key(),
                started_at=stamp(self.started_at),
                ended_at=stamp(max(datetime.now(UTC), self.started_at)),
                outputs=self.outputs,
                error=error,
                observed=self._observed,
                parent=self._parent,
                step=self._step,
                replay_of=self.recorder.replay_of,
            )
        except Exception as failure:
            end_run_span(self._span, None, exc)
            self._handle(failure, raising=exc is None)
            return None
        end_run_span(self._span, self.record, exc)
        return self._pending_item(error)

    def _pending_item(self, error: Mapping[str, Any] | None) -> Pending:
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
        item = Pending(self.record)
        if privacy.mode == "salted":
            # Salted blobs in place of the contents (a blob holding a dropped secret is not kept).
            item.blobs = [b for b in self._salted if not contains_secret(b, self._secrets)]
        if privacy.stores_content:
            # Content is stored as produced, except content that holds a dropped secret (its
            # digest is still in the record; the bytes are not kept).
            secrets = self._secrets
            item.blobs = [raw for raw, _media in texts if not contains_secret(raw, secrets)]
        if privacy.stores_declaration:
            item.blobs.append(self._declaration_jcs)
        if privacy.mode == "keyed":
            item.keyed = privacy.index_entries(texts)
        return item

    def _submit(self, item: Pending) -> Job | None:
        """Hand the run to the recorder's writer; the job to wait for ("sync"), or None."""
        background = self.recorder.durability == "background"
        job = self._job = Job(item, self._landed, background)
        self.recorder._writer.submit(job)
        return None if background else job

    def _landed(self, job: Job) -> None:
        """In the writer thread, when the run's commit is done (or failed)."""
        if job.error is None:
            self.entry_index = job.index
            self.recorded = True
        elif job.background:
            # Nobody waits for this run: on_error applies here, as the call would have.
            if self.recorder.on_error == "queue":
                self.failure = job.error
                self.recorder._writer.keep(job.item)
                return
            self.failure = job.error
            message = f"runid: the run was not recorded: {_describe(job.error)}"
            if self.recorder.on_error == "raise":
                failure = CaptureError(message, run=self, cause=job.error)
                self.recorder._writer.report(failure)
            else:
                warnings.warn(CaptureWarning(message), stacklevel=2)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the run's record is committed (``durability="background"``); True if
        it is in the log. Returns at once for a run that was not handed to the log."""
        job = self._job
        if job is not None:
            job.done.wait(timeout)
        return self.recorded

    def _deliver(self, item: Pending, failure: BaseException | None, *, raising: bool) -> None:
        if failure is None:
            return
        if self.recorder.on_error == "queue":
            self.failure = failure
            self.recorder._writer.keep(item)
            return
        self._handle(failure, raising=raising)

    def _handle(self, failure: BaseException, *, raising: bool) -> None:
        self.failure = failure
        message = f"runid: the run was not recorded: {_describe(failure)}"
        if self.recorder.on_error == "raise" and raising:
            raise CaptureError(message, run=self, cause=failure) from failure
        # With a user exception in flight, that exception wins; the capture failure is a warning.
        warnings.warn(CaptureWarning(message), stacklevel=4)
