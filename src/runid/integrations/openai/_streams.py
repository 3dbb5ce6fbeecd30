"""Streamed calls: the chunk and event accumulators, and :class:`RecordedStream` /
:class:`AsyncRecordedStream`, which yield a stream as it comes and record its run when it ends,
fails or is closed early."""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

from ...capture import Run
from .._chat import JSON_MEDIA, TEXT_MEDIA, get, message_output
from ._common import observe, observed_facts
from ._responses import responses_facts, responses_output_bytes, responses_output_media_type

__all__ = [
    "Accumulator",
    "AsyncRecordedStream",
    "RecordedStream",
    "ResponsesStreamAccumulator",
    "StreamAccumulator",
    "exc_info",
]


class StreamAccumulator:
    """Consumes the chunks of ``create(..., stream=True)`` and gives the same observed facts
    and output as :func:`observed_from_chat_response` and :func:`output_bytes` would for the
    non-streamed response (usage only if the server sent it, e.g. with
    ``stream_options={"include_usage": True}``).

    >>> acc = StreamAccumulator()
    >>> for chunk in [{"id": "c1", "model": "m", "choices": [{"index": 0,
    ...                "delta": {"content": "Hel"}}]},
    ...               {"id": "c1", "model": "m", "choices": [{"index": 0,
    ...                "delta": {"content": "lo"}, "finish_reason": "stop"}]}]:
    ...     acc.add(chunk)
    >>> acc.output_bytes(), acc.observed()["finish_reason"]
    (b'Hello', 'stop')
    """

    def __init__(self) -> None:
        self.model: str | None = None
        self.system_fingerprint: str | None = None
        self.response_id: str | None = None
        self.usage: object = None
        self._text: dict[int, list[str]] = {}
        self._calls: dict[int, dict[int, dict[str, Any]]] = {}
        self._finish: dict[int, str] = {}
        self.count = 0  # chunks taken in

    def add(self, chunk: object) -> None:
        """Take in one chunk (a ``ChatCompletionChunk`` or its dict form)."""
        self.count += 1
        for name, attr in (("model", "model"), ("system_fingerprint", "system_fingerprint")):
            value = get(chunk, attr)
            if isinstance(value, str) and value:
                setattr(self, name, value)
        chunk_id = get(chunk, "id")
        if isinstance(chunk_id, str) and chunk_id and self.response_id is None:
            self.response_id = chunk_id
        usage = get(chunk, "usage")
        if usage is not None:
            self.usage = usage
        for choice in get(chunk, "choices") or []:
            index = get(choice, "index") or 0
            delta = get(choice, "delta")
            content = get(delta, "content")
            if isinstance(content, str):
                self._text.setdefault(index, []).append(content)
            for call in get(delta, "tool_calls") or []:
                slot = self._calls.setdefault(index, {}).setdefault(
                    get(call, "index") or 0,
                    {"id": None, "type": None, "name": "", "arguments": ""},
                )
                if get(call, "id"):
                    slot["id"] = get(call, "id")
                if get(call, "type"):
                    slot["type"] = get(call, "type")
                function = get(call, "function")
                if get(function, "name"):
                    slot["name"] += get(function, "name")
                if get(function, "arguments"):
                    slot["arguments"] += get(function, "arguments")
            finish = get(choice, "finish_reason")
            if isinstance(finish, str) and finish:
                self._finish[index] = finish

    def _calls_of(self, choice: int) -> list[dict[str, Any]]:
        return [self._calls[choice][i] for i in sorted(self._calls.get(choice, {}))]

    def observed(self) -> dict[str, Any]:
        """The record's ``observed`` member (see :func:`observed_from_chat_response`)."""
        return observed_facts(
            self.model, self.system_fingerprint, self.response_id, self.usage, self._finish.get(0)
        )

    def text(self, choice: int = 0) -> str:
        """The assistant text streamed so far for ``choice``."""
        return "".join(self._text.get(choice, []))

    def output_bytes(self, choice: int = 0) -> bytes:
        """The output, exactly as :func:`output_bytes` gives it for the whole response."""
        return message_output(self.text(choice), self._calls_of(choice))

    def output_media_type(self, choice: int = 0) -> str:
        """The media type of :meth:`output_bytes` for ``choice``."""
        return JSON_MEDIA if self._calls_of(choice) else TEXT_MEDIA

    def facts(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`runid.capture.Run.observe`, as the server sent them."""
        return {
            "served_model": self.model,
            "system_fingerprint": self.system_fingerprint,
            "response_id": self.response_id,
            "usage": self.usage,
            "finish_reason": self._finish.get(0),
        }


class ResponsesStreamAccumulator:
    """Consumes the events of ``client.responses.create(..., stream=True)``: the final
    ``response.completed`` / ``response.incomplete`` / ``response.failed`` event carries the
    whole response (same facts and output as the non-streamed call); before it arrives, the
    ``response.output_text.delta`` texts are the output received so far.

    >>> acc = ResponsesStreamAccumulator()
    >>> acc.add({"type": "response.created", "response": {"id": "r1", "model": "m"}})
    >>> acc.add({"type": "response.output_text.delta", "delta": "Hi"})
    >>> acc.output_bytes(), acc.facts()["response_id"]
    (b'Hi', 'r1')
    """

    _FINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})

    def __init__(self) -> None:
        self.response: object = None  # the final response, once received
        self.started: object = None  # the response as announced by response.created
        self._text: list[str] = []
        self.count = 0

    def add(self, event: object) -> None:
        """Take in one stream event (an SDK event object or its dict form)."""
        self.count += 1
        kind = get(event, "type")
        if kind in self._FINAL:
            self.response = get(event, "response")
        elif kind in ("response.created", "response.in_progress"):
            self.started = get(event, "response")
        elif kind == "response.output_text.delta" and isinstance(get(event, "delta"), str):
            self._text.append(get(event, "delta"))

    def output_bytes(self) -> bytes:
        """The output: the final response's, else the text received so far."""
        if self.response is not None:
            return responses_output_bytes(self.response)
        return "".join(self._text).encode("utf-8")

    def output_media_type(self) -> str:
        """The media type of :meth:`output_bytes`."""
        if self.response is not None:
            return responses_output_media_type(self.response)
        return TEXT_MEDIA

    def facts(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`runid.capture.Run.observe`."""
        return responses_facts(self.response if self.response is not None else self.started)


class Accumulator(Protocol):
    """What the stream wrappers need from an accumulator."""

    count: int

    def add(self, item: object) -> None: ...
    def output_bytes(self) -> bytes: ...
    def output_media_type(self) -> str: ...
    def facts(self) -> dict[str, Any]: ...


def exc_info(exc: BaseException | None) -> tuple[Any, Any, Any]:
    """The ``__exit__`` arguments for ``exc`` (or for no exception)."""
    return (type(exc), exc, exc.__traceback__) if exc is not None else (None, None, None)


class _StreamBase:
    def __init__(self, stream: Any, run: Run, accumulator: Any) -> None:
        self.stream = stream  # the client's stream object (``response``, ...)
        self.run = run
        self.accumulator: Accumulator = accumulator
        self.finished = False

    def _outcome(self) -> None:
        acc = self.accumulator
        if acc.count:  # what was received, even when the stream stopped early
            self.run.set_output(acc.output_bytes(), media_type=acc.output_media_type())
        observe(self.run, acc.facts())


class RecordedStream(_StreamBase):
    """The chunks of a streamed call, as they come; the run is recorded when the stream is
    exhausted, fails (error outcome, the exception propagates), or is closed early (what was
    received is the output). Use it as an iterator, ideally inside ``with``; a stream dropped
    unclosed is recorded when it is garbage-collected."""

    def __init__(self, stream: Any, run: Run, accumulator: Any) -> None:
        super().__init__(stream, run, accumulator)
        self._iterator = iter(stream)

    def __iter__(self) -> RecordedStream:
        return self

    def __next__(self) -> Any:
        if self.finished:
            raise StopIteration
        try:
            item = next(self._iterator)
        except StopIteration:
            self._finish(None)
            raise
        except BaseException as exc:
            self._finish(exc)
            raise
        self.accumulator.add(item)
        return item

    def close(self) -> None:
        """Stop reading (closing the HTTP response) and record what was received."""
        if self.finished:
            return
        try:
            close = getattr(self.stream, "close", None)
            if callable(close):
                close()
        finally:
            self._finish(None)

    def _finish(self, exc: BaseException | None) -> None:
        if self.finished:
            return
        self.finished = True
        self._outcome()
        self.run.__exit__(*exc_info(exc))

    def __enter__(self) -> RecordedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "finished", True):
            with contextlib.suppress(Exception):
                self.close()


class AsyncRecordedStream(_StreamBase):
    """:class:`RecordedStream` for an async client: ``async for`` / ``async with`` /
    :meth:`aclose`."""

    def __init__(self, stream: Any, run: Run, accumulator: Any) -> None:
        super().__init__(stream, run, accumulator)
        self._iterator = stream.__aiter__()

    def __aiter__(self) -> AsyncRecordedStream:
        return self

    async def __anext__(self) -> Any:
        if self.finished:
            raise StopAsyncIteration
        try:
            item = await self._iterator.__anext__()
        except StopAsyncIteration:
            await self._finish(None)
            raise
        except BaseException as exc:
            await self._finish(exc)
            raise
        self.accumulator.add(item)
        return item

    async def aclose(self) -> None:
        """Stop reading (closing the HTTP response) and record what was received."""
        if self.finished:
            return
        try:
            close = getattr(self.stream, "close", None)
            if callable(close):
                await close()
        finally:
            await self._finish(None)

    async def _finish(self, exc: BaseException | None) -> None:
        if self.finished:
            return
        self.finished = True
        self._outcome()
        await self.run.__aexit__(*exc_info(exc))

    async def __aenter__(self) -> AsyncRecordedStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # No event loop to await on here: a dropped stream is recorded synchronously.
        if not getattr(self, "finished", True):
            self.finished = True
            with contextlib.suppress(Exception):
                self._outcome()
                self.run.__exit__(None, None, None)
