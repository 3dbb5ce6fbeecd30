"""The replay engines: the :class:`ReplayEngine` protocol and the registry of engine names.

A replay engine is anything with the engine's name as ``ENGINE`` and a :meth:`~ReplayEngine.replay`
function that rebuilds a call from its declaration and runs it again under capture. Each model
adapter module is one (``runid.integrations.llama_cpp``, ``.openai``, ``.transformers`` and
``.agent`` for tool steps): a module satisfies the protocol structurally, and mypy checks it
where the registry's loaders return the module as a :class:`ReplayEngine`.

The registry maps an engine name (``runtime.engine.name`` of a declaration) to a loader, a
function that imports the adapter when a run of that engine is replayed, never before: an
adapter imports its model library (torch, llama.cpp), and replaying an OpenAI run must not
load torch.

>>> sorted(ENGINES)
['llama.cpp', 'openai-compatible', 'python-tool', 'transformers']
>>> engine_of({"runtime": {"engine": {"absent": "not_recorded"}}})
Traceback (most recent call last):
...
runid.errors.InputError: the declaration does not name its inference engine \
(runtime.engine is not_recorded), so no adapter can replay it
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import E_REPLAY_ENGINE, E_REPLAY_UNAVAILABLE, E_UNKNOWN_ENGINE, InputError
from ._declaration import absent_reason

if TYPE_CHECKING:
    from ..capture import Recorder, Run

__all__ = ["ENGINES", "ReplayEngine", "adapter_for", "engine_of", "register_engine"]


@runtime_checkable
class ReplayEngine(Protocol):
    """What replays the runs of one engine (an adapter module, or any object like it)."""

    @property
    def ENGINE(self) -> str:  # noqa: N802 (the adapters' module constant)
        """The engine's name, as its declarations write it in ``runtime.engine.name``."""
        ...

    def replay(
        self,
        declaration: Mapping[str, Any],
        fetch: Callable[[str], bytes],
        *,
        recorder: Recorder,
        parent: str | None = None,
        step: int | None = None,
        **options: Any,
    ) -> Run:
        """Rebuild the call ``declaration`` describes and run it again, recorded by
        ``recorder`` (which sets ``replay_of``); return the finished run.

        ``fetch(digest)`` gives the bytes of a referenced content, checked against the digest.
        ``parent`` and ``step`` make the new run a step of the same parent as the original.
        ``options`` are the engine's own (e.g. ``base_url``, ``client``, ``model_path``); a
        model call that fails raises, and :func:`runid.replay.replay` reports it.
        """
        ...


def _llama_cpp() -> ReplayEngine:
    from ..integrations import llama_cpp

    return llama_cpp


def _openai() -> ReplayEngine:
    from ..integrations import openai

    return openai


def _python_tool() -> ReplayEngine:
    from ..integrations import agent  # a tool step; needs the functions: tools=

    return agent


def _transformers() -> ReplayEngine:
    from ..integrations import transformers

    return transformers


#: Engine name → a loader that imports its :class:`ReplayEngine` (only when a run of that
#: engine is replayed).
ENGINES: dict[str, Callable[[], ReplayEngine]] = {
    "llama.cpp": _llama_cpp,
    "openai-compatible": _openai,
    "python-tool": _python_tool,
    "transformers": _transformers,
}


def register_engine(name: str, engine: ReplayEngine | Callable[[], ReplayEngine]) -> None:
    """Let replay use ``engine`` for the runs of engine ``name``.

    ``engine`` is a :class:`ReplayEngine` (whose ``ENGINE`` is ``name``), or a function
    without arguments that imports and returns one when it is first needed.
    """
    if not name:
        raise InputError("an engine needs a name", code=E_REPLAY_UNAVAILABLE)
    if isinstance(engine, ReplayEngine):
        if name != engine.ENGINE:
            raise InputError(
                f"the replay engine {engine.ENGINE!r} cannot be registered as {name!r}",
                code=E_REPLAY_UNAVAILABLE,
            )
        found = engine
        ENGINES[name] = lambda: found
    elif callable(engine):
        ENGINES[name] = engine
    else:
        raise InputError(
            f"{engine!r} is not a replay engine (it needs ENGINE and replay()) nor a loader",
            code=E_REPLAY_UNAVAILABLE,
        )


def engine_of(declaration: Mapping[str, Any]) -> str:
    """The ``runtime.engine.name`` of a declaration, or a clear error when it has none."""
    runtime = declaration.get("runtime")
    reason = absent_reason(runtime)
    if reason is not None or not isinstance(runtime, Mapping):
        raise InputError(
            f"the declaration has no runtime component ({reason or 'missing'}), so no adapter "
            "can replay it",
            hint="record runs through a runid adapter (llama.cpp, transformers, openai), which "
            "declares runtime.engine",
            code=E_REPLAY_ENGINE,
        )
    engine = runtime.get("engine")
    reason = absent_reason(engine)
    name = engine.get("name") if isinstance(engine, Mapping) else None
    if reason is not None or not isinstance(name, str) or not name:
        raise InputError(
            f"the declaration does not name its inference engine (runtime.engine is "
            f"{reason or 'missing'}), so no adapter can replay it",
            hint="record runs through a runid adapter (llama.cpp, transformers, openai), which "
            "declares runtime.engine",
            code=E_REPLAY_ENGINE,
        )
    return name


def adapter_for(engine: str) -> ReplayEngine:
    """The :class:`ReplayEngine` for ``engine``, loaded now; clear errors when there is none."""
    load = ENGINES.get(engine)
    if load is None:
        known = ", ".join(sorted(ENGINES))
        raise InputError(
            f"no replay adapter for engine {engine!r} (known engines: {known})",
            hint="runid.replay.register_engine(name, engine) adds one",
            code=E_UNKNOWN_ENGINE,
        )
    try:
        adapter = load()
    except ImportError as exc:
        raise InputError(
            f"the {engine} adapter cannot be loaded: {exc}",
            hint="install the packages it needs, e.g. pip install 'runid[demo]'",
            code=E_REPLAY_UNAVAILABLE,
        ) from None
    # A registered loader is trusted for nothing: check what it gave.
    if not isinstance(adapter, ReplayEngine) or engine != adapter.ENGINE:
        raise InputError(
            f"the adapter registered for engine {engine!r} does not follow the replay "
            "protocol (it needs ENGINE and replay())",
            code=E_REPLAY_UNAVAILABLE,
        )
    return adapter
