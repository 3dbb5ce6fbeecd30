"""Agent tool loops: model calls as runs, tool calls as step records chained to them, and tool
results replayed from the record, against the real SmolLM2 server with the real openai client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llama_server import LlamaServer, llama_server_fixture
from runid.canonical import canonicalize
from runid.capture import Recorder
from runid.declaration import problems
from runid.digest import content_digest
from runid.errors import InputError
from runid.home import Home
from runid.identity import compute_identity
from runid.integrations.agent import (
    ENGINE,
    EXAMPLE_TOOL_RUNTIME,
    RecordedTools,
    canonical_arguments,
    replay,
    result_content,
    run_agent,
    step_declaration,
)
from runid.keys import Keyring
from runid.log import Log
from runid.receipt import verify_receipt

llama_server = llama_server_fixture()

CANARY = "sk-runid-canary-agent-41d7"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
FORCED = {"type": "function", "function": {"name": "get_weather"}}


def _step_id(arguments: str | dict[str, Any], tool: dict[str, Any] = WEATHER_TOOL) -> str:
    decl, _ = step_declaration(tool, arguments, runtime=EXAMPLE_TOOL_RUNTIME)
    return compute_identity(decl).declaration_id


# --- the step declaration, pure ---------------------------------------------------------------


def test_step_declaration_shape() -> None:
    decl, blobs = step_declaration(WEATHER_TOOL, '{"city": "Paris"}', runtime=EXAMPLE_TOOL_RUNTIME)
    assert problems(decl) == []
    for component in ("model", "parameters", "instructions", "context"):
        assert decl[component] == {"absent": "not_applicable"}, component
    assert decl["tools"]["choice"] == {"name": "get_weather"}
    definition = decl["tools"]["definitions"][0]
    assert blobs[definition["definition"]["digest"]] == canonicalize(WEATHER_TOOL)
    (message,) = decl["inputs"]["messages"]
    assert message["role"] == "assistant"
    assert blobs[message["content"]["digest"]] == b'{"city":"Paris"}'
    assert decl["inputs"]["upstream"] == []
    assert decl["runtime"]["engine"]["name"] == ENGINE


# The first example pays for imports and the cached runtime: no per-example deadline.
@settings(deadline=None, max_examples=80)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.one_of(st.integers(-(2**53) + 1, 2**53 - 1), st.text(max_size=8), st.booleans()),
        max_size=5,
    )
)
def test_step_id_depends_on_the_arguments_not_their_spelling(arguments: dict[str, Any]) -> None:
    compact = json.dumps(arguments, separators=(",", ":"))
    spaced = json.dumps(dict(reversed(list(arguments.items()))), indent=2)
    assert _step_id(compact) == _step_id(spaced) == _step_id(arguments)
    assert _step_id({**arguments, "\x00extra": 1}) != _step_id(arguments)


def test_step_id_depends_on_the_definition() -> None:
    other = json.loads(json.dumps(WEATHER_TOOL))
    other["function"]["description"] = "Weather, in Kelvin."
    assert _step_id({"city": "Paris"}, other) != _step_id({"city": "Paris"})


def test_arguments_must_be_a_json_object() -> None:
    for bad in ("[1, 2]", "not json", '"Paris"', ""):
        with pytest.raises(InputError) as found:
            canonical_arguments(bad)
        assert found.value.code == "E_TOOL_ARGUMENTS"
    assert result_content("18 C") == (b"18 C", "text/plain; charset=utf-8")


# --- the loop against the real server ---------------------------------------------------------


def _client(server: LlamaServer) -> Any:
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=server.base_url, api_key=CANARY, max_retries=0, timeout=180)


def _request(server: LlamaServer) -> dict[str, Any]:
    return {
        "model": server.model,
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [WEATHER_TOOL],
        "tool_choice": FORCED,
        "temperature": 0,
        "seed": 1234,
        "max_tokens": 48,
    }


class Weather:
    """A Python tool that counts its calls."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **arguments: Any) -> dict[str, Any]:
        self.calls.append(arguments)
        return {"city": arguments.get("city", "?"), "temperature_c": 18, "sky": "sunny"}


@pytest.fixture(scope="module")
def recorded(llama_server: LlamaServer, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One recorded agent run: a forced tool call, then an answer."""
    home = Home(tmp_path_factory.mktemp("agent") / "home")
    home.init_keys("runid.test/agent")
    recorder = Recorder(home, on_error="raise")
    weather = Weather()
    result = run_agent(
        _client(llama_server),
        _request(llama_server),
        {"get_weather": weather},
        recorder=recorder,
        max_turns=3,
        followup={"tool_choice": "none"},
    )
    if not result.turns[0].steps:
        pytest.skip("the server returned no tool call for a forced tool_choice")
    return recorder, weather, result


def test_each_model_call_is_a_run_and_each_tool_call_a_step(recorded: Any) -> None:
    _recorder, weather, result = recorded
    assert result.completed and len(result.turns) == 2
    first, second = result.turns
    assert len(weather.calls) == len(first.steps) >= 1
    for index, step in enumerate(first.steps):
        assert step.run is not None and step.run.record is not None
        record = step.run.record
        assert record["parent"] == {"execution_id": first.run.execution_id, "step": index}
        assert step.execution_id == record["execution_id"]
        assert record["observed"]["served_model"] == {"absent": "not_applicable"}
        # the step's declaration: the definition, the canonical arguments, the result digest
        decl = step.run.declaration
        assert decl is not None and decl["tools"]["choice"] == {"name": "get_weather"}
        args = decl["inputs"]["messages"][0]["content"]
        assert args["digest"] == content_digest(step.arguments)
        assert record["outcome"]["outputs"][0]["digest"] == content_digest(step.result.encode())
        assert json.loads(step.result)["temperature_c"] == 18
    # the model call after the tools lists them (and the previous call) upstream
    assert second.run.declaration is not None
    upstream = second.run.declaration["inputs"]["upstream"]
    assert upstream == [
        {"execution_id": first.run.execution_id, "relation": "previous_call"},
        *({"execution_id": s.execution_id, "relation": "tool_result"} for s in first.steps),
    ]
    assert first.run.declaration is not None
    assert first.run.declaration["inputs"]["upstream"] == []
    assert second.run.record is not None
    assert second.run.record["parent"] == {"absent": "not_applicable"}
    # the tool result went back to the model as sent
    sent = second.run.declaration["inputs"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant"] + ["tool"] * len(first.steps)


def test_every_record_verifies_in_the_log(recorded: Any) -> None:
    recorder, _weather, result = recorded
    keys = Keyring([recorder.home.public_key()])
    with Log.open(recorder.home) as log:
        assert log.audit() == []
        assert log.size() == len(result.runs)
        for run in result.runs:
            receipt = log.receipt(run.execution_id)
            verified = verify_receipt(receipt, keys)
            assert verified.record["execution_id"] == run.execution_id
    for path in recorder.home.path.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path


def test_replayed_tools_give_the_recorded_results_without_calling(
    recorded: Any, llama_server: LlamaServer, tmp_path: Path
) -> None:
    recorder, weather, original = recorded
    calls_before = len(weather.calls)
    with Log.open(recorder.home) as log:
        tools = RecordedTools.from_log(log, parents=[original.turns[0].run.execution_id])
        assert len(tools) == len(original.turns[0].steps)
        home = Home(tmp_path / "replay")
        home.init_keys("runid.test/replay")
        again = run_agent(
            _client(llama_server),
            _request(llama_server),
            tools,
            recorder=Recorder(home, on_error="raise"),
            max_turns=3,
            followup={"tool_choice": "none"},
        )
    assert len(weather.calls) == calls_before  # no tool function ran
    first, second = again.turns
    assert first.run.declaration_id == original.turns[0].run.declaration_id
    assert [s.result for s in first.steps] == [s.result for s in original.turns[0].steps]
    assert all(s.replayed for s in first.steps)
    # the served results name the recorded steps they came from
    assert second.run.declaration is not None
    upstream = second.run.declaration["inputs"]["upstream"]
    assert [u["execution_id"] for u in upstream[1:]] == [
        s.execution_id for s in original.turns[0].steps
    ]
    assert second.run.outputs == original.turns[1].run.outputs  # temperature 0
    with Log.open(home) as log:
        assert log.size() == 2  # two model calls, no tool steps: no tool ran


def test_a_call_the_record_does_not_have_fails_loudly(recorded: Any) -> None:
    recorder, _weather, _result = recorded
    with Log.open(recorder.home) as log:
        tools = RecordedTools.from_log(log)
        with pytest.raises(InputError) as missing:
            tools.call(
                WEATHER_TOOL,
                '{"city": "Reykjavik"}',
                call_id="c1",
                recorder=recorder,
                parent=None,
                step=None,
            )
    assert missing.value.code == "E_TOOL_NOT_RECORDED"
    assert "get_weather" in missing.value.message and "Reykjavik" in missing.value.message


def test_a_step_replays_through_its_function(recorded: Any) -> None:
    recorder, weather, result = recorded
    step = result.turns[0].steps[0]
    assert step.run is not None and step.run.declaration is not None
    with Log.open(recorder.home) as log:

        def fetch(digest: str) -> bytes:
            found = log.content(digest)
            if found is None:
                raise InputError(f"content {digest} was not stored")
            return found

        again = replay(
            step.run.declaration, fetch, recorder=recorder, tools={"get_weather": weather}
        )
    assert again.declaration_id == step.run.declaration_id
    assert again.outputs == step.run.outputs


def test_unknown_tool_is_a_clear_error(llama_server: LlamaServer, tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/agent")
    with pytest.raises(InputError) as unknown:
        run_agent(
            _client(llama_server),
            _request(llama_server),
            {},
            recorder=Recorder(home, on_error="raise"),
            max_turns=1,
        )
    assert unknown.value.code == "E_TOOL_UNKNOWN"
    with pytest.raises(InputError, match="max_turns") as turns:
        run_agent(_client(llama_server), _request(llama_server), {}, max_turns=0)
    assert turns.value.code == "E_INPUT"


# --- steps and recorded tools without a model -------------------------------------------------


def _home(tmp_path: Path, privacy: str = "store") -> Recorder:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/tools")
    return Recorder(home, on_error="raise", privacy=privacy)  # type: ignore[arg-type]


def test_a_step_records_its_result_and_a_failing_tool_its_error(tmp_path: Path) -> None:
    from runid.integrations.agent import LiveTools

    recorder = _home(tmp_path)
    parent = "sha256:" + "ab" * 32

    def flaky(city: str) -> str:
        if city == "Atlantis":
            raise LookupError(f"no weather station in {city}")
        return f"18 C in {city}"

    tools = LiveTools({"get_weather": flaky}, runtime=EXAMPLE_TOOL_RUNTIME)
    ok = tools.call(
        WEATHER_TOOL, '{"city":"Paris"}', call_id="c1", recorder=recorder, parent=parent, step=0
    )
    assert ok.result == "18 C in Paris" and ok.run is not None and ok.run.record is not None
    assert ok.run.record["parent"] == {"execution_id": parent, "step": 0}
    assert ok.run.record["outcome"]["outputs"][0]["media_type"] == "text/plain; charset=utf-8"
    assert all(v == {"absent": "not_applicable"} for v in ok.run.record["observed"].values())
    with pytest.raises(LookupError):
        tools.call(
            WEATHER_TOOL,
            '{"city":"Atlantis"}',
            call_id="c2",
            recorder=recorder,
            parent=parent,
            step=1,
        )
    with Log.open(recorder.home) as log:
        assert log.size() == 2
        failed = log.entry(1).record
    assert failed["outcome"]["status"] == "error"
    assert failed["outcome"]["error"]["type"] == "LookupError"
    assert failed["parent"] == {"execution_id": parent, "step": 1}


def test_recorded_results_are_served_in_log_order(tmp_path: Path) -> None:
    from runid.integrations.agent import LiveTools

    recorder = _home(tmp_path)
    readings = iter([17, 18, 19])
    tools = LiveTools({"get_weather": lambda city: {"t": next(readings)}})
    for index in range(2):
        tools.call(
            WEATHER_TOOL, '{"city":"Paris"}', call_id="c", recorder=recorder, parent=None, step=None
        )
        del index
    with Log.open(recorder.home) as log:
        served = RecordedTools.from_log(log)
        results = [
            served.call(
                WEATHER_TOOL,
                '{ "city" : "Paris" }',  # another spelling of the same arguments
                call_id="x",
                recorder=recorder,
                parent=None,
                step=None,
            ).result
            for _ in range(3)
        ]
    assert results == ['{"t":17}', '{"t":18}', '{"t":18}']  # the last one again when exhausted


def test_digests_only_records_cannot_serve_results(tmp_path: Path) -> None:
    from runid.integrations.agent import LiveTools

    recorder = _home(tmp_path, privacy="digests-only")
    LiveTools({"get_weather": lambda city: "18 C"}).call(
        WEATHER_TOOL, '{"city":"Paris"}', call_id="c", recorder=recorder, parent=None, step=None
    )
    with Log.open(recorder.home) as log:
        served = RecordedTools.from_log(log)
        assert len(served) == 0
        with pytest.raises(InputError) as missing:
            served.call(
                WEATHER_TOOL,
                '{"city":"Paris"}',
                call_id="c",
                recorder=recorder,
                parent=None,
                step=None,
            )
    assert missing.value.code == "E_TOOL_NOT_RECORDED"
