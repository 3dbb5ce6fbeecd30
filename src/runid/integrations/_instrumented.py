"""The client as a capture function sees it, and the SDK's stream as the caller had it.

What :mod:`runid.integrations.instrument` hands the capture functions and the caller.

:func:`client_view` is the client with one method replaced by the SDK's own (so a capture
function that calls ``client.chat.completions.create`` does not go through runid's patch a
second time). :class:`InstrumentedStream` / :class:`AsyncInstrumentedStream` stand for the
SDK's stream: ``isinstance`` of its class (OpenTelemetry instrumentors and the SDKs' stream
helpers check it), its attributes (``response``, ...; an instrumentor's ``_iterator`` set on it
is set on the SDK's stream), while iterating and closing go through
runid's :class:`~runid.integrations.openai.RecordedStream`, which records the run when the
stream ends, fails or is closed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

__all__ = ["AsyncInstrumentedStream", "InstrumentedStream", "client_view"]


def client_view(client: Any, api: str, method: Callable[..., Any]) -> Any:
    """The client as the capture function sees it: every attribute the client's, and the
    patched method the SDK's own (so the call is not recorded twice)."""
    view = _ClientView(client)
    create = SimpleNamespace(create=method)
    if api == "chat":
        view.__dict__["chat"] = SimpleNamespace(completions=create)
    elif api == "responses":
        view.__dict__["responses"] = create
    else:
        view.__dict__["messages"] = create
    return view


class _ClientView:
    def __init__(self, client: Any) -> None:
        self.__dict__["_runid_client"] = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["_runid_client"], name)


#: Attributes the SDK's stream reads itself: set on the proxy, they are set on the stream.
_READ_BY_THE_STREAM = frozenset({"_iterator"})


class _StreamProxy:
    """The SDK's stream as the caller had it: ``isinstance`` of its class, its attributes
    (``response``, ...); iterating and closing go through runid's recorded stream."""

    def __init__(self, recorded: Any, ended: Callable[[], None]) -> None:
        self.__dict__.update(_runid_recorded=recorded, _runid_ended=ended, _runid_told=False)

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self.__dict__["_runid_recorded"].stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["_runid_recorded"].stream, name)

    def __setattr__(self, name: str, value: Any) -> None:
        # An instrumentor outside runid's patch hooks the stream it was returned: MLflow's
        # autolog and Langfuse's drop-in replace its ``_iterator`` (what the SDK's stream reads
        # its chunks from: set on the stream runid reads, so their hook sees the chunks) and
        # its ``close`` (which calls the ``close`` they found: kept on this proxy, the caller's).
        if name in _READ_BY_THE_STREAM:
            setattr(self.__dict__["_runid_recorded"].stream, name, value)
        else:
            self.__dict__[name] = value

    def _runid_check(self) -> None:
        """Once the recorded stream has finished (its run ended), call ``ended`` once."""
        if self.__dict__["_runid_recorded"].finished and not self.__dict__["_runid_told"]:
            self.__dict__["_runid_told"] = True
            self.__dict__["_runid_ended"]()

    def __repr__(self) -> str:
        return f"<runid-recorded {self.__dict__['_runid_recorded'].stream!r}>"


class InstrumentedStream(_StreamProxy):
    """A sync stream (``openai.Stream``, ``anthropic.Stream``) as the SDK returned it."""

    def __iter__(self) -> InstrumentedStream:
        return self

    def __next__(self) -> Any:
        try:
            return next(self.__dict__["_runid_recorded"])
        finally:
            self._runid_check()

    def close(self) -> None:
        try:
            self.__dict__["_runid_recorded"].close()
        finally:
            self._runid_check()

    def __enter__(self) -> InstrumentedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        recorded = self.__dict__.get("_runid_recorded")
        if recorded is not None and not recorded.finished:
            with contextlib.suppress(Exception):
                self.close()


class AsyncInstrumentedStream(_StreamProxy):
    """An async stream (``openai.AsyncStream``, ``anthropic.AsyncStream``) as returned."""

    def __aiter__(self) -> AsyncInstrumentedStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.__dict__["_runid_recorded"].__anext__()
        finally:
            self._runid_check()

    async def close(self) -> None:
        try:
            await self.__dict__["_runid_recorded"].aclose()
        finally:
            self._runid_check()

    async def __aenter__(self) -> AsyncInstrumentedStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
