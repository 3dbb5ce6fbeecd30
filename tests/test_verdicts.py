"""Verdicts never overclaim (issue 11, item 3): ``nondeterminism`` only when every condition that
can change the output is recorded and equal; otherwise ``undetermined``, naming what was not
recorded. The same in ``runid diff``, ``runid replay`` and ``runid check``.

The runs go through the real ``openai`` client and :func:`create_chat`; the endpoint is an HTTP
exchange that answers each call with the next canned answer: a stand-in for the GGUF file
swapped behind a server between two temperature-0 calls, which the client cannot see.
"""

from __future__ import annotations

import copy
import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runid._cli import main
from runid.capture import Recorder
from runid.diff import OUTPUT_CONDITIONS, compare, json_schema, unrecorded
from runid.examples import example
from runid.home import Home
from runid.identity import compute_identity
from runid.policy import evaluate, parse_policy
from runid.replay import replay
from runid.resolve import Subject

BASE = "http://127.0.0.1:9/v1"  # never reached: the transport answers
QUESTION = [{"role": "user", "content": "Name one colour."}]
NA = {"absent": "not_applicable"}
NOT_RECORDED = {"absent": "not_recorded"}


def _client(answers: list[str]) -> Any:
    """An ``openai.OpenAI`` whose every call is answered by the next of ``answers``."""
    openai = pytest.importorskip("openai")
    # The HTTP library the client is built on (httpx2 since openai 3, httpx before): the test
    # extra installs openai, not httpx, so importorskip("httpx") skipped these tests there.
    httpx = importlib.import_module(openai.DefaultHttpxClient.__mro__[1].__module__.split(".")[0])
    queue: Iterator[str] = iter(answers)

    def handle(request: Any) -> Any:
        body = json.loads(request.content)
        answer = next(queue)
        return httpx.Response(
            200,
            json={
                "id": f"chatcmpl-{answer}",
                "object": "chat.completion",
                "created": 1_760_000_000,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
            },
        )

    http = httpx.Client(transport=httpx.MockTransport(handle))
    return openai.OpenAI(base_url=BASE, api_key="unused", max_retries=0, http_client=http)


def _two_runs(home: Home, **declares: Any) -> tuple[Any, Any]:
    """Two calls with one request (temperature 0) that get different answers."""
    from runid.integrations.openai import create_chat

    client = _client(["Blue.", "Green.", "Red."])
    recorder = Recorder(home, on_error="raise")
    request = {"model": "smollm2", "messages": QUESTION, "temperature": 0, "max_tokens": 8}
    _r, a = create_chat(client, recorder=recorder, **declares, **request)
    _r, b = create_chat(client, recorder=recorder, **declares, **request)
    recorder.close()
    assert a.declaration_id == b.declaration_id  # nothing the client sees differs
    return a, b


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


# --- which conditions a declaration leaves unknown ------------------------------------------


def test_what_each_example_leaves_unknown() -> None:
    assert unrecorded(example("chat-hosted-model")) == ()  # a dated snapshot names the model
    assert unrecorded(example("local-transformers")) == ()  # the weights' digests do
    assert unrecorded(example("absent-components")) == (
        "model not recorded",
        "parameters not recorded",
    )
    assert unrecorded(None) == ("declaration withheld",)


def test_each_output_condition_is_named_when_absent() -> None:
    base = example("chat-hosted-model")
    for name in ("parameters", "instructions", "inputs", "tools", "constraints"):
        for reason, words in (("not_recorded", "not recorded"), ("undisclosed", "undisclosed")):
            decl = copy.deepcopy(base)
            decl[name] = {"absent": reason}
            assert unrecorded(decl) == (f"{name} {words}",)
    decl = copy.deepcopy(base)
    decl["constraints"]["output_schema"] = NOT_RECORDED
    assert unrecorded(decl) == ("constraints.output_schema not recorded",)
    # How the request was assembled is not an output condition: its content is in it.
    for name in ("context", "runtime"):
        decl = copy.deepcopy(base)
        decl[name] = NOT_RECORDED
        assert unrecorded(decl) == ()
    assert "context" not in OUTPUT_CONDITIONS and "runtime" not in OUTPUT_CONDITIONS


def test_the_model_is_identified_by_its_weights_or_its_version() -> None:
    decl = example("chat-hosted-model")
    decl["model"]["version"] = NOT_RECORDED  # an alias, and weights undisclosed
    assert unrecorded(decl) == ("model not recorded",)
    decl["model"]["version"] = {"absent": "undisclosed"}
    assert unrecorded(decl) == ("model undisclosed",)
    local = example("local-transformers")
    local["model"]["version"] = NOT_RECORDED
    assert unrecorded(local) == ()  # the files' digests identify it
    decl["model"] = NA  # a tool step: nothing was sampled
    assert unrecorded(decl) == ("no model call",)


# --- runid diff --------------------------------------------------------------------------------


def test_a_changed_answer_without_model_identity_is_undetermined(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    a, b = _two_runs(home)
    assert a.declaration["model"]["weights"] == NOT_RECORDED
    result = _cli("diff", "--home", str(home.path), a.execution_id, b.execution_id, "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "undetermined"
    assert report["reasons"] == ["model not recorded"]
    assert report["declaration"]["identical"] and report["outcome"]["identical"] is False
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(report, json_schema())
    text = _cli("diff", "--home", str(home.path), a.execution_id, b.execution_id)
    assert "undetermined: model not recorded" in text.stdout
    assert "nondeterminism" not in text.stdout


def test_with_model_files_the_same_change_is_nondeterminism(tmp_path: Path) -> None:
    weights = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
    weights.write_bytes(b"GGUF stand-in weights")
    home = Home(tmp_path / "home")
    a, b = _two_runs(home, model_files=[weights])
    assert a.declaration["model"]["weights"][0]["name"] == weights.name
    result = _cli("diff", "--home", str(home.path), a.execution_id, b.execution_id, "--json")
    report = json.loads(result.stdout)
    assert (report["verdict"], report["reasons"]) == ("nondeterminism", [])


def test_a_published_model_digest_identifies_the_model_too(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    a, b = _two_runs(home, model_digest="sha256:" + "ab" * 32)
    result = _cli("diff", "--home", str(home.path), a.execution_id, b.execution_id, "--json")
    assert json.loads(result.stdout)["verdict"] == "nondeterminism"


def _run_side(declaration: dict[str, Any], output: str, **observed: Any) -> Subject:
    from runid.digest import content_ref
    from runid.keys import SigningKey
    from runid.record import new_record

    identity = compute_identity(declaration)
    record = new_record(
        identity.declaration_id,
        issuer=SigningKey("runid.test/verdicts", bytes(32)),
        started_at="2026-12-05T10:00:00Z",
        ended_at="2026-12-05T10:00:01Z",
        outputs=[content_ref(output)],
        observed=observed,
    )
    return Subject(
        "execution", "test", identity.declaration_id, identity.components, declaration, record
    )


def test_undetermined_is_symmetric_and_provider_drift_still_wins() -> None:
    decl = example("absent-components")
    a, b = _run_side(decl, "x"), _run_side(decl, "y")
    result = compare(a, b)
    assert (result.verdict, result.reasons) == (
        "undetermined",
        ("model not recorded", "parameters not recorded"),
    )
    assert compare(b, a) == result.mirrored()
    # A moved provider fact is a finding of its own: it is reported, not "undetermined".
    drift = compare(
        _run_side(decl, "x", served_model="m-1"), _run_side(decl, "y", served_model="m-2")
    )
    assert (drift.verdict, drift.reasons) == ("provider_drift", ())
    # The same outcome is identical whatever was not recorded: nothing is claimed about a cause.
    assert compare(a, _run_side(decl, "x")).verdict == "identical"


def test_a_withheld_declaration_leaves_the_cause_undetermined() -> None:
    from dataclasses import replace

    decl = example("chat-hosted-model")
    a, b = _run_side(decl, "x"), _run_side(decl, "y")
    hidden = compare(replace(a, declaration=None), replace(b, declaration=None))
    assert (hidden.verdict, hidden.reasons) == ("undetermined", ("declaration withheld",))
    # One side's content is the declaration of both (one id).
    assert compare(a, replace(b, declaration=None)).verdict == "nondeterminism"


# --- runid replay ------------------------------------------------------------------------------


def test_a_replay_that_answers_otherwise_without_model_identity_is_undetermined(
    tmp_path: Path,
) -> None:
    from runid.replay import render

    home = Home(tmp_path / "home")
    a, _b = _two_runs(home)
    report = replay(home, a.execution_id, client=_client(["Purple."]))
    assert report.same_declaration and not report.same_outcome
    assert (report.verdict, report.reasons) == ("undetermined", ("model not recorded",))
    assert report.exit_code == 1
    body = report.to_json()
    assert (body["verdict"], body["reasons"]) == ("undetermined", ["model not recorded"])
    assert "verdict:     undetermined: model not recorded" in render(report)
    same = replay(home, a.execution_id, client=_client(["Blue."]))
    assert (same.verdict, same.reasons, same.to_json()["reasons"]) == ("identical", (), [])


# --- runid check -------------------------------------------------------------------------------


def _policy(body: dict[str, Any]) -> Any:
    return parse_policy(json.dumps({"policy": "runid/policy/v1", "name": "t", **body}).encode())


def test_a_rule_whose_value_is_not_recorded_fails_as_not_recorded() -> None:
    evaluation = evaluate(
        _policy(
            {
                "model": {"weights": ["sha256:" + "3" * 64], "name": ["other"]},
                "parameters": {"top_p": {"max": 1}, "seed": {"required": True}},
            }
        ),
        example("absent-components"),
    )
    got = {r.rule: (r.status, r.recorded) for r in evaluation.results}
    assert got == {
        "model.name": ("fail", True),  # a value shown outside the policy
        "model.weights": ("fail", False),  # not recorded: compliance cannot be shown
        "parameters.top_p.max": ("fail", False),
        "parameters.seed.required": ("fail", False),
    }
    assert [r.rule for r in evaluation.not_recorded] == [
        "model.weights",
        "parameters.seed.required",
        "parameters.top_p.max",
    ]
    assert evaluation.status == "fail"  # a rule that cannot be shown to hold never passes
    weights = next(r for r in evaluation.results if r.rule == "model.weights")
    assert weights.to_json()["recorded"] is False
    assert "compliance cannot be shown" in weights.message


def test_a_provider_default_and_a_missing_parameter_are_not_recorded() -> None:
    hosted = example("chat-hosted-model")  # top_p: provider_default; no top_k
    for body, recorded in (
        ({"top_p": {"max": 1}}, False),
        ({"top_k": {"required": True}}, False),
        ({"top_p": {"declared": True}}, True),  # the source is known: the caller did not set it
    ):
        (result,) = evaluate(_policy({"parameters": body}), hosted).results
        assert (result.status, result.recorded) == ("fail", recorded), body


def test_observed_endpoint_approves_where_runs_went() -> None:
    decl = example("chat-hosted-model")
    decl["model"]["endpoint"] = NA  # as every capture declares it (ADR 0014)
    policy = _policy({"observed": {"endpoint": ["https://api.openai.com/v1"]}})
    went = {"observed": {"endpoint": "https://api.openai.com/v1"}}
    elsewhere = {"observed": {"endpoint": "http://10.0.0.7:8080/v1"}}
    assert [(r.status, r.recorded) for r in evaluate(policy, decl, went).results] == [
        ("pass", True)
    ]
    assert [(r.status, r.recorded) for r in evaluate(policy, decl, elsewhere).results] == [
        ("fail", True)
    ]
    (unknown,) = evaluate(policy, decl, {"observed": {}}).results
    assert (unknown.status, unknown.recorded, unknown.document) == ("fail", False, "record")
    (alone,) = evaluate(policy, decl).results
    assert alone.status == "not_applicable"  # a declaration alone: no run went anywhere
    # model.endpoint reads the declaration, where captures state no endpoint: the result
    # says so, and where to look instead.
    (declared,) = evaluate(_policy({"model": {"endpoint": ["x"]}}), decl, went).results
    assert declared.status == "not_applicable"
    assert "ADR 0014" in declared.message and "observed.endpoint" in declared.message


def test_runid_check_says_which_failures_are_not_recorded(tmp_path: Path) -> None:
    policy = tmp_path / "p.json"
    policy.write_text(
        json.dumps(
            {
                "policy": "runid/policy/v1",
                "name": "weights pinned",
                "model": {"weights": ["sha256:" + "3" * 64]},
            }
        )
    )
    decl = tmp_path / "d.json"
    decl.write_text(json.dumps(example("absent-components")))
    result = _cli("check", str(decl), "--policy", str(policy), "--home", str(tmp_path / "h"))
    assert result.exit_code == 1, result.output
    assert "model.weights" in result.stdout and "(not recorded)" in result.stdout
    assert "1 failed (1 not recorded)" in result.stdout
    body = json.loads(
        _cli(
            "check", str(decl), "--policy", str(policy), "--json", "--home", str(tmp_path / "h")
        ).stdout
    )
    (rule,) = body["runs"][0]["results"]
    assert (rule["status"], rule["recorded"]) == ("fail", False)
