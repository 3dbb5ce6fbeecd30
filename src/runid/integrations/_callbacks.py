"""Framework callbacks: a run begun in one callback and ended in another (LangChain, LiteLLM).

What the enclosing ``runid.context()`` blocks declare for the call, and the run begun detached,
its declaration id fixed before the request."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..capture import Recorder, Run
from .instrument import context_options

__all__ = ["CallbackContext", "begin_detached", "callback_context"]


@dataclass(frozen=True)
class CallbackContext:
    """The declaring options of a chat call, and where its run goes (for ``note_run``)."""

    options: dict[str, Any]
    collectors: list[list[Run]]
    parent: str | None
    step: int | None
    contents: tuple[str | bytes, ...]


def callback_context(dropped: Iterable[str]) -> CallbackContext:
    """What the enclosing ``runid.context()`` blocks declare for a chat call, without the
    options named in ``dropped`` (those of a client the framework does not go through)."""
    options, collectors = context_options("chat")
    parent, step = options.pop("parent", None), options.pop("step", None)
    contents = tuple(options.pop("contents", ()))
    for name in dropped:
        options.pop(name, None)
    return CallbackContext(options, collectors, parent, step, contents)


def begin_detached(
    recorder: Recorder,
    build: Callable[[], tuple[Mapping[str, Any], Mapping[str, bytes]]],
    context: CallbackContext,
) -> Run:
    """Begin the run of a call: its declaration from ``build`` (a declaration and the contents
    it references) entered now, detached from this context so another callback ends it. A
    declaration that cannot be built is the run's error, recorded, not raised here."""
    try:
        declaration, blobs = build()
    except Exception as exc:
        failure = exc

        def unbuildable(_request: Mapping[str, Any]) -> Mapping[str, Any]:
            raise failure

        run = recorder.capture(unbuildable, parent=context.parent, step=context.step)
    else:
        run = recorder.capture(
            dict(declaration),
            contents=[*blobs.values(), *context.contents],
            parent=context.parent,
            step=context.step,
        )
    run.__enter__()  # the declaration id is fixed here, before the request
    run.detach()  # it ends in another callback, perhaps in another thread or context
    return run
