"""A tiny, real replay adapter for tests of :mod:`runid.replay` (not a test module).

The "model" is a deterministic text function (it reverses the user's message), so tests of the
replay orchestration (log lookup, content fetch, the replay_of link, the comparison, the CLI)
do not depend on a language model; the scenario tests replay real models. The module is a
:class:`runid.replay.ReplayEngine`, as the adapters are: ``ENGINE``, and ``replay(declaration,
fetch, *, recorder, parent, step, **options)`` rebuilding the call from the declaration and
running it through the same code path (:func:`answer`) as a first-time call. Tests register
the module itself: ``register_engine(ENGINE, replay_engine)``.

Options model what can move between the original and its replay: ``engine_version`` (the
runtime changed: a new declaration), ``salt`` (the output changes although nothing declared
did: nondeterminism), ``served_model`` (the serving side reports another model) and ``fail``
(the call raises).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from runid.capture import Recorder, Run
from runid.digest import content_ref

ENGINE = "test-echo"
NA = {"absent": "not_applicable"}
NOT_RECORDED = {"absent": "not_recorded"}


def declaration(prompt: str, *, engine_version: str = "1.0") -> dict[str, Any]:
    """The declaration of one call: the model, one user message, the engine version."""
    return {
        "spec": "runid/v1",
        "model": {
            "provider": "test",
            "name": "reverser",
            "version": "1",
            "endpoint": NA,
            "weights": NA,
            "tokenizer": NA,
            "dtype": NA,
            "quantization": NA,
            "adapters": NA,
        },
        "parameters": {"temperature": {"source": "declared", "value": 0}},
        "instructions": NA,
        "inputs": {
            "messages": [{"role": "user", "content": dict(content_ref(prompt))}],
            "truncation": NA,
            "upstream": [],
        },
        "context": NA,
        "tools": NA,
        "runtime": {
            "engine": {"name": ENGINE, "version": engine_version},
            "libraries": {},
            "platform": NOT_RECORDED,
            "hardware": NOT_RECORDED,
            "code": NOT_RECORDED,
            "determinism": {},
        },
        "constraints": NA,
    }


def answer(
    prompt: str,
    *,
    recorder: Recorder,
    engine_version: str = "1.0",
    salt: str = "",
    served_model: str = "reverser-1",
    fail: bool = False,
    parent: str | None = None,
    step: int | None = None,
) -> Run:
    """Run the "model" on ``prompt`` under capture (the first-time path)."""
    decl = declaration(prompt, engine_version=engine_version)
    with recorder.capture(decl, contents=[prompt], parent=parent, step=step) as run:
        if fail:  # the "model" is down: capture records the error outcome, then re-raises
            raise ConnectionError("the model server refused the connection")
        run.set_output(prompt[::-1] + salt)
        run.observe(served_model=served_model, finish_reason="stop")
    return run


def replay(
    declaration: Mapping[str, Any],
    fetch: Callable[[str], bytes],
    *,
    recorder: Recorder,
    parent: str | None = None,
    step: int | None = None,
    **options: Any,
) -> Run:
    """Rebuild the call from ``declaration`` (the prompt fetched by digest) and run it again."""
    message = declaration["inputs"]["messages"][0]
    prompt = fetch(message["content"]["digest"]).decode("utf-8")
    return answer(prompt, recorder=recorder, parent=parent, step=step, **options)
