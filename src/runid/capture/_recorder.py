"""The recorder: one home, one error policy and privacy mode, one writer; the capture API.

:class:`Recorder` hands out :class:`~runid.capture.Run` objects (``capture``), decorates
functions (``captured``), and waits for its writer (``flush``/``close``). It owns the signing
key (created on a home's first run) and the :class:`~._writer.Writer` its runs go through.
The module-level :func:`capture`, :func:`captured` and :func:`flush` use one cached recorder
per home and settings, so calls share a writer (group commit) and a queue.
"""

from __future__ import annotations

import functools
import inspect
import logging
import shlex
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, ParamSpec, Self, TypeVar, cast, get_args

from ..errors import InputError
from ..home import DEFAULT_KEY_NAME, Home, resolve_home
from ..keys import SigningKey
from ..privacy import Mode, Privacy
from ._run import CaptureError, DeclarationSource, Run
from ._writer import Job, Writer
from .remote import Forwarder, remote_settings

__all__ = ["Durability", "OnError", "Recorder", "capture", "captured", "flush"]

OnError = Literal["warn", "raise", "queue"]
_ON_ERROR: tuple[str, ...] = get_args(OnError)
Durability = Literal["sync", "background"]
_DURABILITY: tuple[str, ...] = get_args(Durability)

P = ParamSpec("P")
R = TypeVar("R")

_log = logging.getLogger("runid")


class Recorder:
    """Captures runs into the log of one runid home, with one error policy and privacy mode.

    ``home`` is a directory or :class:`~runid.home.Home` (default: ``$RUNID_HOME``, else the
    default home). A home without keys gets a signing key on the first run (named ``issuer``,
    default ``runid.local/log``; private file mode 0600), and the recorder says once, on the
    ``runid`` logger, where it is and how to publish its public key (``runid --home DIR keys
    show``). ``privacy`` is a :class:`~runid.privacy.Privacy` or a mode name.

    ``durability`` says when a captured call returns: ``"sync"`` (default) once its record is
    committed to the log, ``"background"`` at once, the record being committed within one
    commit's time (see :mod:`runid.capture`). Either way, records go through one writer thread
    that commits every run waiting in one transaction (group commit).

    ``url`` and ``token`` (default: ``$RUNID_URL``, ``$RUNID_TOKEN``) name a log service
    (``runid serve``) to send the runs to: they are committed to the home's log as always, and
    a forwarder thread sends them in batches, retrying while the service cannot be reached
    (:mod:`runid.capture.remote`); :attr:`remote` is that forwarder (``None`` without a service).
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
        url: str | None = None,
        token: str | None = None,
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
        # Group commit, the runs on_error="queue" keeps, the background failures flush() raises.
        self._writer = Writer(self.home, self._signing_key)
        # Remote capture (runid.capture.remote): the home's log is the spool a forwarder sends.
        remote = remote_settings(url, token)
        self.remote = Forwarder(self.home, *remote, drain=self._writer.drain) if remote else None
        if self.remote is not None:
            self._writer.after_commit = self.remote.notify

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
        with self._writer.lock:
            return len(self._writer.kept)

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
        failures = self._writer.take_failures()
        if failures:
            raise failures[0]
        queued = self._writer.take_kept()
        if not queued:
            return 0
        jobs = [Job(item) for item in queued]
        for job in jobs:
            self._writer.submit(job)
        for job in jobs:
            job.done.wait()
        failed = [job for job in jobs if job.error is not None]
        if failed:
            self._writer.put_back([job.item for job in failed])
            raise failed[0].error  # type: ignore[misc]
        return len(jobs)

    def close(self) -> None:
        """:meth:`flush`, for the end of a program: records of ``"background"`` runs are in
        the log when it returns, and the writer's log is closed, so a signed checkpoint covers
        them (ADR 0019). The recorder stays usable."""
        self.flush()
        self._writer.stop(timeout=10.0)

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
