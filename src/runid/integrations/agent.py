"""Agent tool loops: every model call is its own run, every tool call a step chained to it.

:func:`run_agent` drives the usual loop over an OpenAI-compatible client: call the model
(through :func:`runid.integrations.openai.create_chat`, so each call is a captured run with its
own declaration), run the tools it asks for, feed their results back, repeat until it answers
without tool calls. What is recorded (docs/spec.md §12.9):

* each **model call**: its own record; its declaration's ``inputs.upstream`` lists the previous
  model call (``relation: "previous_call"``) and the tool steps whose results it reads
  (``relation: "tool_result"``);
* each **tool call**: a *step* record whose ``parent`` is ``{execution_id of the model call
  that requested it, step: index of the call among that call's tool calls}``. Its
  declaration (:func:`step_declaration`) has no model, no parameters, no instructions; ``tools``
  is the one definition called (its digest) with ``choice`` naming it, ``inputs`` one
  assistant message whose content is the canonical JSON of the arguments; its output is the
  result (text as UTF-8, anything else as canonical JSON).

A step's declaration id depends only on the tool definition, the arguments and the declared
runtime, never on the provider's random call id, so the same call is the same declaration.

Record/replay of tools: :class:`RecordedTools` serves the results recorded in a log, by tool
name and canonical arguments, instead of calling the tools, and raises
:class:`~runid.errors.InputError` ``E_TOOL_NOT_RECORDED`` naming the tool and the arguments
when the model asks for a call the record does not have. Served results are not recorded as
new steps (no tool ran); the next model call's ``inputs.upstream`` names the recorded step
that produced the result.

>>> decl, blobs = step_declaration(
...     {"type": "function", "function": {"name": "add", "parameters": {}}},
...     '{"b": 2, "a": 1}', runtime=EXAMPLE_TOOL_RUNTIME)
>>> decl["model"], decl["tools"]["choice"]
({'absent': 'not_applicable'}, {'name': 'add'})
>>> blobs[decl["inputs"]["messages"][0]["content"]["digest"]]
b'{"a":1,"b":2}'
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..canonical import canonicalize
from ..capture import Recorder, Run
from ..declaration import validate
from ..digest import content_digest, content_ref
from ..errors import (
    E_TOOL_ARGUMENTS,
    E_TOOL_DEFINITION,
    E_TOOL_NOT_RECORDED,
    E_TOOL_UNKNOWN,
    InputError,
)
from ..runtime import application_code, platform_facts
from .openai import create_chat

__all__ = [
    "ENGINE",
    "EXAMPLE_TOOL_RUNTIME",
    "AgentResult",
    "LiveTools",
    "RecordedTools",
    "ToolProvider",
    "ToolStep",
    "Turn",
    "canonical_arguments",
    "replay",
    "result_content",
    "run_agent",
    "step_declaration",
    "tool_runtime",
]

#: ``runtime.engine.name`` of a tool step's declaration: a Python function called in-process.
ENGINE = "python-tool"
TEXT_MEDIA = "text/plain; charset=utf-8"
JSON_MEDIA = "application/json"
NA: dict[str, str] = {"absent": "not_applicable"}
NOT_RECORDED: dict[str, str] = {"absent": "not_recorded"}
#: Relations of ``inputs.upstream`` entries written by :func:`run_agent`.
PREVIOUS_CALL = "previous_call"
TOOL_RESULT = "tool_result"

#: A fixed step runtime for examples and tests that must not depend on this machine.
EXAMPLE_TOOL_RUNTIME: dict[str, Any] = {
    "engine": {"name": ENGINE, "version": NOT_RECORDED},
    "libraries": {},
    "platform": {"os": "linux", "arch": "x86_64", "python": "3.11.7"},
    "hardware": NOT_RECORDED,
    "code": NOT_RECORDED,
    "determinism": {},
}


def tool_runtime() -> dict[str, Any]:
    """The runtime of a tool step run in this process: the ``python-tool`` engine, the platform
    (OS, arch, Python) and, as ``code``, the application's revision (the tools are its
    functions: :func:`runid.runtime.application_code`, ``not_recorded`` when not known); pass
    a runtime (e.g. :func:`runid.runtime.runtime_component` with an ``engine``) to declare
    more."""
    return {**EXAMPLE_TOOL_RUNTIME, "platform": platform_facts(), "code": application_code()}


def _tool_name(definition: Mapping[str, Any]) -> str:
    kind = str(definition.get("type") or "function")
    body = definition.get(kind)
    name = body.get("name") if isinstance(body, Mapping) else definition.get("name")
    if not isinstance(name, str) or not name:
        raise InputError(
            "a tool definition has no name",
            hint='OpenAI form: {"type": "function", "function": {"name": ..., "parameters": ...}}',
            code=E_TOOL_DEFINITION,
        )
    return name


def canonical_arguments(arguments: str | Mapping[str, Any]) -> bytes:
    """The canonical JSON (RFC 8785) of a tool call's arguments, which must be a JSON object.

    >>> canonical_arguments('{ "city": "Paris" }')
    b'{"city":"Paris"}'
    """
    value: Any = arguments
    if isinstance(arguments, str | bytes):
        try:
            value = json.loads(arguments)
        except ValueError:
            value = None
    if not isinstance(value, Mapping):
        shown = arguments if isinstance(arguments, str) else type(arguments).__name__
        raise InputError(
            f"tool arguments are not a JSON object: {str(shown)[:200]!r}",
            hint="the model wrote arguments the tool cannot take; nothing was called",
            code=E_TOOL_ARGUMENTS,
        )
    return canonicalize(dict(value))


def result_content(result: object) -> tuple[bytes, str]:
    """A tool result as recorded and fed back: text as UTF-8, anything else canonical JSON.

    >>> result_content({"temp": 18})
    (b'{"temp":18}', 'application/json')
    """
    if isinstance(result, str):
        return result.encode("utf-8"), TEXT_MEDIA
    return canonicalize(result), JSON_MEDIA


def step_declaration(
    definition: Mapping[str, Any],
    arguments: str | Mapping[str, Any],
    *,
    runtime: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The declaration of one tool call and the content it references (``{digest: bytes}``).

    ``definition`` is the tool definition as sent to the model (OpenAI ``tools`` entry);
    ``arguments`` the arguments the model wrote (a JSON string or a mapping). The model,
    parameters, instructions and context components are ``not_applicable``; ``tools`` holds the
    one definition (canonical JSON by reference) and ``choice`` names it; ``inputs`` is one
    ``assistant`` message whose content is the canonical arguments (the model wrote them);
    ``runtime`` defaults to :func:`tool_runtime`.
    """
    name = _tool_name(definition)
    args = canonical_arguments(arguments)
    spec = canonicalize(dict(definition))
    blobs = {content_digest(args): args, content_digest(spec): spec}
    declaration: dict[str, Any] = {
        "spec": "runid/v1",
        "model": dict(NA),
        "parameters": dict(NA),
        "instructions": dict(NA),
        "inputs": {
            "messages": [{"role": "assistant", "content": dict(content_ref(args, JSON_MEDIA))}],
            "truncation": dict(NA),
            "upstream": [],
        },
        "context": dict(NA),
        "tools": {
            "definitions": [
                {
                    "name": name,
                    "kind": str(definition.get("type") or "function"),
                    "definition": dict(content_ref(spec, JSON_MEDIA)),
                }
            ],
            "choice": {"name": name},
        },
        "runtime": dict(runtime) if runtime is not None else tool_runtime(),
        "constraints": {"output_schema": dict(NA), "guardrails": [], "budgets": {}},
    }
    validate(declaration)
    return declaration, blobs


@dataclass
class ToolStep:
    """One tool call the model requested and its result.

    ``execution_id`` is the step record's id (for a served recorded result: the id of the
    recorded step it came from); ``run`` the new step's run, None when served from a record.
    """

    name: str
    call_id: str
    arguments: bytes  # canonical JSON
    result: str  # as fed back to the model
    result_ref: dict[str, Any]
    execution_id: str | None
    run: Run | None = None

    @property
    def replayed(self) -> bool:
        """True when the result was served from a record, not computed."""
        return self.run is None


class ToolProvider(Protocol):
    """Runs (or serves) one tool call for :func:`run_agent`."""

    def call(
        self,
        definition: Mapping[str, Any],
        arguments: str,
        *,
        call_id: str,
        recorder: Recorder,
        parent: str | None,
        step: int | None,
    ) -> ToolStep: ...


class LiveTools:
    """Calls the Python functions ``tools[name](**arguments)`` and records each call as a
    step. ``runtime`` replaces :func:`tool_runtime` in the step declarations."""

    def __init__(
        self,
        tools: Mapping[str, Callable[..., Any]],
        *,
        runtime: Mapping[str, Any] | None = None,
    ) -> None:
        self.tools = dict(tools)
        self.runtime = runtime

    def call(
        self,
        definition: Mapping[str, Any],
        arguments: str,
        *,
        call_id: str,
        recorder: Recorder,
        parent: str | None,
        step: int | None,
    ) -> ToolStep:
        """Run the tool under capture (an exception is recorded as the step's error outcome and
        propagates)."""
        name = _tool_name(definition)
        function = self.tools.get(name)
        if function is None:
            raise InputError(
                f"the model called tool {name!r}, which has no function here",
                hint=f"pass tools={{{name!r}: callable}} (known: {', '.join(sorted(self.tools))})",
                code=E_TOOL_UNKNOWN,
            )
        declaration, blobs = step_declaration(definition, arguments, runtime=self.runtime)
        args = canonical_arguments(arguments)
        with recorder.capture(
            declaration, contents=list(blobs.values()), parent=parent, step=step
        ) as run:
            # A tool step calls no model: its observed facts do not exist (spec §12.3).
            run.mark_not_applicable()
            result = function(**json.loads(args))
            raw, media = result_content(result)
            ref = run.set_output(raw, media_type=media)
        return ToolStep(name, call_id, args, raw.decode("utf-8"), dict(ref), run.execution_id, run)


@dataclass(frozen=True)
class _Recorded:
    execution_id: str
    output: dict[str, Any]


class RecordedTools:
    """Serves recorded tool results instead of calling the tools (record/replay).

    Results are looked up by tool name and canonical arguments; when one call was recorded
    several times, the results are served in log order (the last one again once they run out).
    A call the record does not have raises :class:`~runid.errors.InputError`
    ``E_TOOL_NOT_RECORDED`` naming the tool and the arguments; nothing is called.
    """

    def __init__(
        self,
        results: Mapping[tuple[str, bytes], list[_Recorded]],
        content: Callable[[str], bytes | None],
    ) -> None:
        self._results = {key: list(found) for key, found in results.items()}
        self._served: dict[tuple[str, bytes], int] = {}
        self._content = content
        self.calls: list[tuple[str, bytes]] = []  # what the model asked for, in order

    @classmethod
    def from_log(cls, log: Any, *, parents: Iterable[str] | None = None) -> RecordedTools:
        """Index the step records of ``log`` (a :class:`runid.log.Log`, opened; it must stay
        open while results are served). Every entry is read through the log, which verifies
        its signature. ``parents`` limits the index to steps of those model-call records."""
        wanted = set(parents) if parents is not None else None
        results: dict[tuple[str, bytes], list[_Recorded]] = {}
        for index in range(log.size()):
            record = log.entry(index).record
            parent = record["parent"]
            if wanted is not None and parent.get("execution_id") not in wanted:
                continue  # steps are told from model calls by their declaration (below)
            if record["outcome"]["status"] != "ok" or not record["outcome"]["outputs"]:
                continue
            declaration = log.declaration(record["declaration_id"])
            key = _step_key(declaration, log.content) if declaration else None
            if key is not None:
                output = dict(record["outcome"]["outputs"][0])
                results.setdefault(key, []).append(_Recorded(record["execution_id"], output))
        return cls(results, log.content)

    def __len__(self) -> int:
        return sum(len(found) for found in self._results.values())

    def call(
        self,
        definition: Mapping[str, Any],
        arguments: str,
        *,
        call_id: str,
        recorder: Recorder,
        parent: str | None,
        step: int | None,
    ) -> ToolStep:
        """The recorded result of this call (no function runs, no step is recorded)."""
        name = _tool_name(definition)
        args = canonical_arguments(arguments)
        key = (name, args)
        self.calls.append(key)
        found = self._results.get(key)
        if not found:
            raise InputError(
                f"the record has no result for tool {name!r} with arguments "
                f"{args.decode('utf-8')[:300]}",
                hint="the model asked for a call the recorded run did not make; the replay "
                "diverged from the record here",
                code=E_TOOL_NOT_RECORDED,
            )
        served = self._served.get(key, 0)
        recorded = found[min(served, len(found) - 1)]
        self._served[key] = served + 1
        raw = self._content(recorded.output["digest"])
        if raw is None:
            raise InputError(
                f"the recorded result of tool {name!r} (step {recorded.execution_id}) was not "
                "stored (digests-only or erased)",
                hint="record runs with content stored to replay their tools",
                code=E_TOOL_NOT_RECORDED,
            )
        return ToolStep(
            name, call_id, args, raw.decode("utf-8"), recorded.output, recorded.execution_id
        )


def _step_key(
    declaration: Mapping[str, Any], content: Callable[[str], bytes | None]
) -> tuple[str, bytes] | None:
    """(tool name, canonical arguments) of a step declaration; None for other declarations."""
    runtime = declaration.get("runtime", {})
    engine = runtime.get("engine", {}) if isinstance(runtime, Mapping) else {}
    tools = declaration.get("tools", {})
    inputs = declaration.get("inputs", {})
    if not isinstance(engine, Mapping) or engine.get("name") != ENGINE:
        return None
    if "absent" in tools or "absent" in inputs:
        return None
    arguments = content(inputs["messages"][0]["content"]["digest"])
    if arguments is None:
        return None
    return tools["choice"]["name"], arguments


@dataclass
class Turn:
    """One model call of the loop and the tool steps it requested."""

    run: Run
    response: Any
    steps: list[ToolStep] = field(default_factory=list)


@dataclass
class AgentResult:
    """What :func:`run_agent` did: every turn, the final messages, and whether the model
    finished (answered without tool calls) within ``max_turns``."""

    turns: list[Turn]
    messages: list[dict[str, Any]]
    completed: bool

    @property
    def response(self) -> Any:
        """The last model response."""
        return self.turns[-1].response

    @property
    def text(self) -> str:
        """The last model message's text ("" when it has none)."""
        content = self.response.choices[0].message.content
        return content if isinstance(content, str) else ""

    @property
    def runs(self) -> list[Run]:
        """Every run recorded, in order: model calls and the tool steps after each."""
        found: list[Run] = []
        for turn in self.turns:
            found.append(turn.run)
            found += [step.run for step in turn.steps if step.run is not None]
        return found


def _call_parts(call: Any) -> tuple[str, str, str]:
    function = call.function if hasattr(call, "function") else call["function"]
    get = (lambda k: getattr(function, k)) if hasattr(function, "name") else function.get
    call_id = call.id if hasattr(call, "id") else call.get("id")
    return str(call_id or ""), str(get("name") or ""), str(get("arguments") or "")


def run_agent(
    client: Any,
    request: Mapping[str, Any],
    tools: Mapping[str, Callable[..., Any]] | ToolProvider,
    *,
    recorder: Recorder | None = None,
    max_turns: int = 8,
    followup: Mapping[str, Any] | None = None,
    **declares: Any,
) -> AgentResult:
    """Run a tool-using chat loop under capture.

    ``request`` holds the keyword arguments of the first ``chat.completions.create`` call
    (``model``, ``messages``, ``tools`` definitions, ``tool_choice``, sampling parameters);
    ``followup`` replaces fields for the later calls (e.g. ``{"tool_choice": "auto"}`` after
    a forced first call). ``tools`` maps tool names to Python functions (called with the
    arguments as keyword arguments; a :class:`LiveTools`), or is a provider such as
    :class:`RecordedTools`. The loop stops when the model answers without tool calls, or
    after ``max_turns`` model calls (``completed`` is False).

    ``declares`` go to every model call's :func:`runid.integrations.openai.create_chat`: what
    the application declares (``context``, the retrieval the first messages were built from;
    ``template``, the instruction template; ``truncation``, how the history the loop starts
    from was cut; ``contents``; ``runtime``), and the served model (``served_model``,
    ``model_files``, ``model_digest``). Each one not given is ``not_recorded`` in every call's
    declaration (the loop cannot see it). Errors: ``E_TOOL_UNKNOWN`` for a
    tool the request did not define or that has no function, ``E_TOOL_ARGUMENTS`` for
    arguments that are not a JSON object, ``E_TOOL_NOT_RECORDED`` from :class:`RecordedTools`.
    """
    if max_turns < 1:
        raise InputError(f"max_turns must be at least 1, not {max_turns}")
    if request.get("stream"):
        # The loop reads whole responses; stream does not change the declaration, so a
        # non-streamed loop declares exactly what a streamed one would.
        raise InputError(
            "run_agent makes non-streamed model calls", hint="leave stream out of the request"
        )
    unknown = sorted(set(declares) - _DECLARES)
    if unknown:
        raise InputError(
            f"run_agent got unexpected keyword argument(s): {', '.join(unknown)}",
            hint="the request goes in request=...; declared: " + ", ".join(sorted(_DECLARES)),
        )
    rec = recorder if recorder is not None else Recorder()
    provider: ToolProvider = LiveTools(tools) if isinstance(tools, Mapping) else tools
    definitions = {_tool_name(d): d for d in _plain_tools(request.get("tools"))}
    messages: list[dict[str, Any]] = [dict(m) for m in request.get("messages") or ()]
    upstream: list[dict[str, str]] = []
    turns: list[Turn] = []
    for number in range(max_turns):
        later = (followup or {}) if number else {}
        sent = {**request, **later, "messages": list(messages)}
        response, run = create_chat(client, recorder=rec, upstream=upstream, **declares, **sent)
        turn = Turn(run, response)
        turns.append(turn)
        message = response.choices[0].message
        calls = list(message.tool_calls or [])
        if not calls:
            return AgentResult(turns, messages, True)
        parts = [_call_parts(call) for call in calls]
        # llama.cpp's server reads an assistant message's content as a string: send "".
        messages.append(
            {
                "role": "assistant",
                "content": message.content if isinstance(message.content, str) else "",
                "tool_calls": [
                    {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                    for i, n, a in parts
                ],
            }
        )
        parent = run.execution_id
        upstream = [{"execution_id": parent, "relation": PREVIOUS_CALL}] if parent else []
        for index, (call_id, name, arguments) in enumerate(parts):
            definition = definitions.get(name)
            if definition is None:
                raise InputError(
                    f"the model called tool {name!r}, which the request did not define",
                    hint=f"defined tools: {', '.join(sorted(definitions)) or 'none'}",
                    code=E_TOOL_UNKNOWN,
                )
            step = provider.call(
                definition,
                arguments,
                call_id=call_id,
                recorder=rec,
                parent=parent,
                step=index if parent else None,
            )
            turn.steps.append(step)
            messages.append({"role": "tool", "tool_call_id": call_id, "content": step.result})
            if step.execution_id:
                upstream.append({"execution_id": step.execution_id, "relation": TOOL_RESULT})
    return AgentResult(turns, messages, False)


#: What :func:`run_agent` passes on to :func:`~runid.integrations.openai.create_chat`.
_DECLARES = frozenset(
    {
        "context",
        "template",
        "truncation",
        "contents",
        "runtime",
        "served_model",
        "model_files",
        "model_digest",
    }
)


def _plain_tools(tools: Any) -> list[dict[str, Any]]:
    found = []
    for tool in tools or ():
        dump = getattr(tool, "model_dump", None)
        found.append(dict(dump(exclude_unset=True) if callable(dump) else tool))
    return found


def replay(
    declaration: Mapping[str, Any],
    fetch: Callable[[str], bytes],
    *,
    recorder: Recorder,
    parent: str | None = None,
    step: int | None = None,
    **options: Any,
) -> Run:
    """Re-run a recorded tool step (the replay protocol): the definition and arguments are
    fetched by digest and the function ``options["tools"][name]`` is called again under
    capture with the same declared runtime, so the declaration id is the original's."""
    tools = options.get("tools")
    if not isinstance(tools, Mapping):
        raise InputError(
            "replaying a tool step needs the tool functions: tools={name: callable}",
            code=E_TOOL_UNKNOWN,
        )
    try:
        definition = json.loads(
            fetch(declaration["tools"]["definitions"][0]["definition"]["digest"])
        )
        arguments = fetch(declaration["inputs"]["messages"][0]["content"]["digest"])
    except (KeyError, IndexError, TypeError) as exc:
        raise InputError(
            "this declaration is not a tool step (docs/spec.md §12.9)", code=E_TOOL_DEFINITION
        ) from exc
    provider = LiveTools(tools, runtime=declaration.get("runtime"))
    result = provider.call(
        definition,
        arguments.decode("utf-8"),
        call_id="replay",
        recorder=recorder,
        parent=parent,
        step=step,
    )
    assert result.run is not None
    return result.run
