"""runid.replay and `runid replay`: the orchestration, the link, the report, the errors.

These tests replay through a small deterministic adapter (tests/replay_engine.py) so that every
verdict can be produced on purpose; tests/test_scenarios.py replays real models.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import replay_engine
from click.testing import CliRunner

from runid import replay as replay_mod
from runid.capture import Recorder
from runid.cli import main
from runid.errors import InputError
from runid.home import Home
from runid.log import Log
from runid.record import validate_record
from runid.replay import REPORT_FORMAT, VERDICTS, compare, engine_of, register_engine, replay

PROMPT = "How long does a refund take?"


@pytest.fixture(autouse=True)
def _engine() -> Iterator[None]:
    register_engine(replay_engine.ENGINE, "replay_engine")
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
