"""runid.replay and `runid replay`: the orchestration, the link, the report, the errors.

These tests replay through a small deterministic adapter (tests/replay_engine.py) so that every
verdict can be produced on purpose; tests/test_scenarios.py replays real models.
"""

from __future__ import annotations

import copy
import doctest
import inspect
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import replay_engine
from runid import replay as replay_mod
from runid._cli import main
from runid.capture import Recorder
from runid.errors import InputError
from runid.examples import EXAMPLES, example
from runid.home import Home
from runid.log import Log
from runid.record import validate_record
from runid.replay import (
    ENGINES,
    REPORT_FORMAT,
    VERDICTS,
    ReplayEngine,
    adapter_for,
    compare,
    engine_of,
    register_engine,
    replay,
)

PROMPT = "How long does a refund take?"


@pytest.fixture(autouse=True)
def _engine() -> Iterator[None]:
    register_engine(replay_engine.ENGINE, replay_engine)  # the module is the engine
    yield
    replay_mod.ENGINES.pop(replay_engine.ENGINE, None)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/replay")
    return home


def _original(home: Home, **options: Any) -> str:
    run = replay_engine.answer(PROMPT, recorder=Recorder(home, on_error="raise"), **options)
    assert run.recorded and run.execution_id is not None
    return run.execution_id


def _size(home: Home) -> int:
    with Log.open(home, need_key=False) as log:
        return log.size()


def test_unchanged_run_replays_identically_and_is_linked(home: Home) -> None:
    original = _original(home)
    report = replay(home, original)
    assert report.verdict == "identical" and report.identical and report.exit_code == 0
    assert report.replay["declaration_id"] == report.original["declaration_id"]
    assert report.replay["execution_id"] != original
    with Log.open(home, need_key=False) as log:
        entry = log.entry(report.replay["execution_id"])
    # The link is inside the signed, logged record, not only in the report.
    assert entry.record["replay_of"] == original
    assert entry.index == report.replay_index == 1
    validate_record(entry.record)


def test_original_records_have_no_replay_of(home: Home) -> None:
    original = _original(home)
    with Log.open(home, need_key=False) as log:
        assert "replay_of" not in log.entry(original).record


def test_a_moved_runtime_is_a_different_declaration_naming_the_field(home: Home) -> None:
    original = _original(home)
    report = replay(home, original, engine_version="2.0")
    assert report.verdict == "different_declarations" and report.exit_code == 1
    assert report.changed_components == ("runtime",)
    assert [(c.path, c.a, c.b) for c in report.declaration_changes] == [
        ("runtime.engine.version", "1.0", "2.0")
    ]
    change = report.to_json()["declaration"]["changes"][0]
    assert change["pointer_a"] == "/runtime/engine/version" and change["a"] == "1.0"


def test_same_declaration_other_output_is_nondeterminism(home: Home) -> None:
    report = replay(home, _original(home), salt="!")
    assert report.same_declaration and not report.same_outcome
    assert report.verdict == "nondeterminism" and report.exit_code == 1


def test_other_output_and_other_served_model_is_provider_drift(home: Home) -> None:
    report = replay(home, _original(home), salt="!", served_model="reverser-2")
    assert report.verdict == "provider_drift"
    assert [c.path for c in report.observed_changes] == ["observed.served_model"]
    assert report.to_json()["observed"]["provider_drift"] is True


def test_same_output_other_served_model_is_observed_drift_exit_0(home: Home) -> None:
    report = replay(home, _original(home), served_model="reverser-2")
    assert report.verdict == "observed_drift" and report.identical and report.exit_code == 0


def test_a_step_replays_as_a_step_of_the_same_parent(home: Home) -> None:
    recorder = Recorder(home, on_error="raise")
    parent = replay_engine.answer("parent", recorder=recorder)
    assert parent.execution_id is not None
    step = replay_engine.answer(PROMPT, recorder=recorder, parent=parent.execution_id, step=3)
    assert step.execution_id is not None
    report = replay(home, step.execution_id)
    assert report.replay["parent"] == {"execution_id": parent.execution_id, "step": 3}
    assert report.identical


def test_digests_only_run_cannot_be_replayed_content_missing(home: Home) -> None:
    run = replay_engine.answer(
        PROMPT, recorder=Recorder(home, on_error="raise", privacy="digests-only")
    )
    assert run.execution_id is not None
    before = _size(home)
    with pytest.raises(InputError) as caught:
        replay(home, run.execution_id)
    assert caught.value.code == "E_CONTENT_MISSING"
    assert "digests-only" in (caught.value.hint or "")
    assert _size(home) == before  # nothing was written


def test_keyed_run_has_no_stored_declaration(home: Home) -> None:
    from runid.privacy import Privacy

    privacy = Privacy("keyed", hmac_key=b"k" * 32, hmac_key_id="org-2026")
    run = replay_engine.answer(PROMPT, recorder=Recorder(home, on_error="raise", privacy=privacy))
    assert run.execution_id is not None
    with pytest.raises(InputError) as caught:
        replay(home, run.execution_id)
    assert caught.value.code == "E_NOT_STORED"


def test_unknown_engine_names_the_known_ones(home: Home) -> None:
    replay_mod.ENGINES.pop(replay_engine.ENGINE)
    with pytest.raises(InputError) as caught:
        replay(home, _original(home))
    assert caught.value.code == "E_UNKNOWN_ENGINE"
    for known in ("llama.cpp", "transformers", "openai-compatible"):
        assert known in caught.value.message


def test_a_declaration_without_engine_is_refused() -> None:
    decl = replay_engine.declaration(PROMPT)
    decl["runtime"]["engine"] = {"absent": "not_recorded"}
    with pytest.raises(InputError) as caught:
        engine_of(decl)
    assert caught.value.code == "E_REPLAY_ENGINE"
    decl["runtime"] = {"absent": "undisclosed"}
    with pytest.raises(InputError, match="no runtime component"):
        engine_of(decl)


# --- the engines: one protocol, a lazy registry ------------------------------------------------


def _parameters(function: Any) -> list[tuple[str, Any, Any]]:
    signature = inspect.signature(function)
    return [(p.name, p.kind, p.default) for p in signature.parameters.values() if p.name != "self"]


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_every_registered_engine_follows_the_protocol_under_its_own_name(name: str) -> None:
    engine = adapter_for(name)
    assert isinstance(engine, ReplayEngine)
    assert name == engine.ENGINE
    # isinstance sees only that replay exists; the signature is the protocol's (mypy checks
    # the built-in adapters against it where the registry's loaders return them).
    assert _parameters(engine.replay) == _parameters(ReplayEngine.replay)


def test_the_test_engine_follows_the_protocol_too() -> None:
    assert isinstance(replay_engine, ReplayEngine)
    assert _parameters(replay_engine.replay) == _parameters(ReplayEngine.replay)


def test_importing_replay_loads_no_adapter() -> None:
    # A replay imports only the adapter of the run's engine: an OpenAI run loads no torch.
    code = (
        "import sys, runid.replay\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('runid.integrations.')"
        " or m.split('.')[0] in ('torch', 'transformers', 'llama_cpp', 'openai'))\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_register_engine_refuses_an_engine_under_another_name() -> None:
    with pytest.raises(InputError, match="cannot be registered as 'other'"):
        register_engine("other", replay_engine)
    assert "other" not in ENGINES
    with pytest.raises(InputError, match="not a replay engine"):
        register_engine("other", "replay_engine")  # type: ignore[arg-type]


def test_a_loader_that_gives_no_engine_is_refused_when_used() -> None:
    register_engine("not-an-engine", object)  # type: ignore[arg-type]
    try:
        with pytest.raises(InputError, match="does not follow the replay protocol") as caught:
            adapter_for("not-an-engine")
        assert caught.value.code == "E_REPLAY_UNAVAILABLE"
        # ... and a loader for one engine that gives another's adapter
        register_engine("not-an-engine", lambda: replay_engine)
        with pytest.raises(InputError, match="does not follow the replay protocol"):
            adapter_for("not-an-engine")
    finally:
        ENGINES.pop("not-an-engine", None)


def test_a_loader_that_cannot_import_is_replay_unavailable() -> None:
    def missing() -> ReplayEngine:
        raise ModuleNotFoundError("No module named 'nonexistent_model_library'")

    register_engine("missing", missing)
    try:
        with pytest.raises(InputError, match="nonexistent_model_library") as caught:
            adapter_for("missing")
        assert caught.value.code == "E_REPLAY_UNAVAILABLE"
    finally:
        ENGINES.pop("missing", None)


@pytest.mark.parametrize("module", ["runid.replay", "runid.replay.engines", "runid.replay.report"])
def test_docstring_examples_run(module: str) -> None:
    import importlib

    ENGINES.pop(replay_engine.ENGINE)  # the examples show the built-in engines only
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_compare_refuses_a_declaration_that_is_not_the_records(home: Home) -> None:
    original = _original(home)
    with Log.open(home, need_key=False) as log:
        record = log.entry(original).record
    other = replay_engine.declaration(PROMPT, engine_version="9")
    with pytest.raises(InputError) as caught:
        compare(record, other, record, other)
    assert caught.value.code == "E_NOT_STORED"


def test_verdicts_are_documented_in_order() -> None:
    assert VERDICTS[0] == "identical"
    spec = (Path(__file__).resolve().parent.parent / "docs" / "spec.md").read_text()
    section = spec[spec.index("## 18. Replay") :]
    for verdict in VERDICTS:
        assert f"`{verdict}`" in section


def test_a_failed_replay_is_recorded_and_reported(home: Home) -> None:
    original = _original(home)
    with pytest.raises(InputError) as caught:
        replay(home, original, fail=True)
    assert caught.value.code == "E_REPLAY_FAILED"
    assert "ConnectionError" in caught.value.message
    with Log.open(home, need_key=False) as log:
        record = log.entry(1).record
    assert record["outcome"]["status"] == "error" and record["replay_of"] == original


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(sorted(EXAMPLES)),
    library=st.from_regex(r"[a-z][a-z0-9_-]{0,12}", fullmatch=True),
    version=st.from_regex(r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}", fullmatch=True),
)
def test_a_moved_library_version_is_named_and_nothing_else(
    name: str, library: str, version: str
) -> None:
    from runid.identity import compute_identity
    from runid.keys import SigningKey
    from runid.record import new_record

    before = example(name)
    if "absent" in before["runtime"]:
        before["runtime"] = replay_engine.declaration(PROMPT)["runtime"]
    after = copy.deepcopy(before)
    libraries = after["runtime"]["libraries"]
    assume(libraries.get(library) != version)
    libraries[library] = version
    key = SigningKey("runid.test/k", bytes(32))

    def record(decl: dict[str, Any]) -> dict[str, Any]:
        return new_record(
            compute_identity(decl).declaration_id,
            issuer=key,
            started_at="2025-03-01T12:00:00Z",
            ended_at="2025-03-01T12:00:00Z",
        )

    report = compare(record(before), before, record(after), after)
    assert report.verdict == "different_declarations" and report.exit_code == 1
    assert report.changed_components == ("runtime",)
    changes = report.declaration_changes
    assert [(c.pointer_a, c.pointer_b) for c in changes] in (
        [(f"/runtime/libraries/{library}", f"/runtime/libraries/{library}")],  # moved
        [(None, f"/runtime/libraries/{library}")],  # added
    )
    assert library in changes[0].path


# --- the command line -----------------------------------------------------------------------


def _cli(home: Home, *args: str) -> Any:
    return CliRunner().invoke(main, ["replay", "--home", str(home.path), *args])


def test_cli_identical_exits_0_and_json_is_the_documented_format(home: Home) -> None:
    original = _original(home)
    result = _cli(home, original, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["format"] == REPORT_FORMAT and report["verdict"] == "identical"
    assert set(report) == {
        "format",
        "verdict",
        "reasons",
        "identical",
        "engine",
        "original",
        "replay",
        "declaration",
        "outcome",
        "observed",
    }
    assert report["original"]["execution_id"] == original
    assert report["replay"]["log_index"] == 1
    assert report["declaration"] == {"identical": True, "components": [], "changes": []}
    assert report["observed"] == {"identical": True, "provider_drift": False, "changes": []}


def test_cli_human_report_names_the_outcome(home: Home) -> None:
    result = _cli(home, _original(home))
    assert result.exit_code == 0
    assert "declaration: identical" in result.output
    assert "outcome:     identical" in result.output
    assert "\x1b[" not in result.output  # no colour when not a terminal


def test_cli_errors_exit_2_without_traceback(home: Home) -> None:
    missing = "sha256:" + "0" * 64
    result = _cli(home, missing)
    assert result.exit_code == 2
    assert "error:" in result.output and "Traceback" not in result.output
    result = _cli(home, "not-an-id")
    assert result.exit_code == 2
    result = _cli(home, "7")  # an entry number past the end
    assert result.exit_code == 2 and "no entry 7" in result.output


def test_cli_takes_an_entry_number(home: Home) -> None:
    _original(home)
    result = _cli(home, "0", "--json")
    assert result.exit_code == 0, result.output


def test_cli_without_keys_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["replay", "--home", str(tmp_path / "none"), "0"])
    assert result.exit_code == 2
    assert "no runid keys" in result.output


def test_report_of_a_run_compared_with_itself() -> None:
    from runid.identity import compute_identity
    from runid.keys import SigningKey
    from runid.record import new_record

    decl = replay_engine.declaration(PROMPT)
    key = SigningKey("runid.test/k", bytes(32))
    record = new_record(
        compute_identity(decl).declaration_id,
        issuer=key,
        started_at="2025-03-01T12:00:00Z",
        ended_at="2025-03-01T12:00:00Z",
    )
    report = compare(record, decl, record, decl)
    assert report.to_json()["engine"] == replay_engine.ENGINE
    assert report.verdict == "identical"


# --- OpenAI-compatible runs and agent loops against the real llama.cpp server -----------------

from llama_server import LlamaServer, llama_server_fixture  # noqa: E402

llama_server = llama_server_fixture()

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
def client(llama_server: LlamaServer) -> Iterator[Any]:
    """A client of the test's own (recording) calls, closed after the test."""
    openai = pytest.importorskip("openai")
    with openai.OpenAI(
        base_url=llama_server.base_url, api_key="unused", max_retries=0, timeout=180
    ) as made:
        yield made


def test_an_openai_compatible_run_replays_against_its_recorded_endpoint(
    llama_server: LlamaServer, client: Any, home: Home
) -> None:
    from runid.integrations.openai import create_chat

    _response, run = create_chat(
        client,
        recorder=Recorder(home, on_error="raise"),
        model=llama_server.model,
        messages=[{"role": "user", "content": "Name one colour."}],
        temperature=0,
        seed=3,
        max_tokens=12,
    )
    assert run.execution_id is not None
    result = _cli(home, run.execution_id, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["engine"] == "openai-compatible" and report["verdict"] == "identical"
    # Where the model is served is not a condition (ADR 0014): another spelling of the
    # endpoint is the same declaration, and the report names the moved observed fact.
    other = llama_server.base_url.replace("127.0.0.1", "localhost")
    result = _cli(home, run.execution_id, "--json", "--endpoint", other)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["verdict"] == "observed_drift" and report["declaration"]["identical"]
    assert [c["path"] for c in report["observed"]["changes"]] == ["observed.endpoint"]
    assert report["observed"]["changes"][0]["b"] == other


def _record_loop(server: LlamaServer, client: Any, home: Home, tools: Any) -> Any:
    from runid.integrations.agent import run_agent

    result = run_agent(
        client,
        {
            "model": server.model,
            "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
            "tools": [WEATHER_TOOL],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "temperature": 0,
            "seed": 1234,
            "max_tokens": 48,
        },
        tools,
        recorder=Recorder(home, on_error="raise"),
        max_turns=3,
        followup={"tool_choice": "none"},
    )
    if not result.turns[0].steps:
        pytest.skip("the server returned no tool call for a forced tool_choice")
    return result


def test_an_agent_loop_replays_with_recorded_tool_results(
    llama_server: LlamaServer, client: Any, home: Home
) -> None:
    calls: list[dict[str, Any]] = []

    def get_weather(**arguments: Any) -> dict[str, Any]:
        calls.append(arguments)
        return {"city": arguments.get("city"), "temperature_c": 18}

    original = _record_loop(llama_server, client, home, {"get_weather": get_weather})
    assert len(calls) >= 1
    first = original.turns[0].run.execution_id
    # Any call of the loop names the loop; the replay starts from its first call.
    last = original.turns[-1].run.execution_id
    result = _cli(home, last, "--agent", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["format"] == "runid/agent-replay-report/v1"
    assert report["verdict"] == "identical"
    assert report["original_turns"] == report["replayed_turns"] == len(original.turns)
    assert report["tools_served"] == len(original.turns[0].steps)
    assert len(calls) == len(original.turns[0].steps)  # no tool function ran again
    # Each replayed call is linked to its own original.
    with Log.open(home, need_key=False) as log:
        for turn, original_turn in zip(report["turns"], original.turns, strict=True):
            record = log.entry(turn["replay"]["execution_id"]).record
            assert record["replay_of"] == original_turn.run.execution_id
    assert report["turns"][0]["original"]["execution_id"] == first
    assert report["turns"][0]["outcome"] == {"identical": True, "call_ids_only": True}
    # The first call alone: its output is a tool call whose id the server draws anew.
    result = _cli(home, first, "--json")
    assert result.exit_code == 0, result.output
    single = json.loads(result.output)
    assert single["outcome"] == {"identical": True, "call_ids_only": True}
    assert single["verdict"] == "identical"


def test_an_agent_replay_fails_loudly_on_a_tool_call_the_record_lacks(
    llama_server: LlamaServer, client: Any, home: Home
) -> None:
    from runid.integrations.agent import ToolStep, canonical_arguments

    class Unrecorded:
        """Runs the tool outside capture: the record will not have its result."""

        def call(self, definition: Any, arguments: str, **_: Any) -> ToolStep:
            result = json.dumps({"temperature_c": 18})
            args = canonical_arguments(arguments)
            return ToolStep("get_weather", "c", args, result, {}, None)

    original = _record_loop(llama_server, client, home, Unrecorded())
    before = _size(home)
    result = _cli(home, original.turns[0].run.execution_id, "--agent")
    assert result.exit_code == 2
    assert "get_weather" in result.output and "E_TOOL" not in result.output
    assert "the record has no result for tool" in result.output
    assert "Traceback" not in result.output
    # The first call was replayed (and recorded) before the loop diverged; nothing else.
    assert _size(home) == before + 1
