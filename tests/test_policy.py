"""Policy check: named rules over real declarations, real logs and the real command line."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runid._cli import main
from runid.declaration import COMPONENTS
from runid.errors import (
    CanonicalizationError,
    DeclarationError,
    InputError,
    PolicyError,
    RunidError,
)
from runid.examples import EXAMPLES, example
from runid.home import Home
from runid.log import Log
from runid.policy import (
    Evaluation,
    Policy,
    evaluate,
    json_schema,
    parse_policy,
    version_in_range,
)

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "examples" / "policies"
ACME = POLICIES / "acme-support.yaml"
HOSTED = ("chat-hosted-model", "rag-retrieved-chunks", "agent-step-with-tools")


def policy_of(body: dict[str, Any]) -> Policy:
    """A policy from a dict of rules (the header added), through the real JSON parser."""
    document = {"policy": "runid/policy/v1", "name": "test", **body}
    return parse_policy(json.dumps(document).encode())


def results(evaluation: Evaluation) -> dict[str, tuple[str, str]]:
    """rule -> (status, pointer)."""
    return {r.rule: (r.status, r.pointer) for r in evaluation.results}


def one(body: dict[str, Any], name: str, record: dict[str, Any] | None = None) -> Any:
    """The single result of a one-rule policy on example ``name``."""
    evaluation = evaluate(policy_of(body), example(name), record)
    assert len(evaluation.results) == 1, evaluation.results
    return evaluation.results[0]


# --- rules on the example declarations ----------------------------------------------------


def test_the_acme_policy_passes_every_hosted_example_and_skips_the_others() -> None:
    acme = parse_policy(ACME.read_bytes())
    for name in EXAMPLES:
        evaluation = evaluate(acme, example(name))
        if name in HOSTED:
            assert evaluation.status == "pass", (name, evaluation.failed)
            assert evaluation.counts["pass"] >= 20
        else:
            assert evaluation.status == "not_applicable"
            assert "outside applies_to.provider" in evaluation.scope
            assert evaluation.results == ()


@pytest.mark.parametrize(
    ("body", "name", "pointer", "expected", "actual"),
    [
        (
            {"model": {"version": ["gpt-4o-mini-2024-09-01"]}},
            "chat-hosted-model",
            "/model/version",
            ["gpt-4o-mini-2024-09-01"],
            "gpt-4o-mini-2024-07-18",
        ),
        (
            {"parameters": {"temperature": {"max": 0.1}}},
            "chat-hosted-model",
            "/parameters/temperature/value",
            0.1,
            0.2,
        ),
        (
            {"parameters": {"max_tokens": {"min": 512}}},
            "chat-hosted-model",
            "/parameters/max_tokens/value",
            512,
            256,
        ),
        (
            {"parameters": {"seed": {"declared": True}}},
            "chat-hosted-model",
            "/parameters/seed/source",
            "declared",
            "provider_default",
        ),
        (
            {"parameters": {"n": {"values": [2, 3]}}},
            "chat-hosted-model",
            "/parameters/n/value",
            [2, 3],
            1,
        ),
        (
            {"instructions": {"system": ["sha256:" + "0" * 64]}},
            "chat-hosted-model",
            "/instructions/system/0/digest",
            ["sha256:" + "0" * 64],
            ["sha256:b9b25e7f161dcd08cc6fc0f3ac18e2ad25e5c106270e0ce8906f96808ead0ec4"],
        ),
        (
            {"instructions": {"template": [{"id": "support/system", "version": "8"}]}},
            "chat-hosted-model",
            "/instructions/template/version",
            [{"id": "support/system", "version": "8"}],
            {"id": "support/system", "version": "7"},
        ),
        (
            {"context": {"index": [{"id": "acme-kb", "snapshot": "sha256:" + "1" * 64}]}},
            "rag-retrieved-chunks",
            "/context/index/snapshot",
            [{"id": "acme-kb", "snapshot": "sha256:" + "1" * 64}],
            {
                "id": "acme-kb",
                "snapshot": "sha256:1a9afe39a4ef7320cca998fbd3c7c45e"
                "4a3286687eeeb475ed6c2b88af06f8b2",
            },
        ),
        (
            {"tools": {"allowed": [{"name": "get_transactions"}]}},
            "agent-step-with-tools",
            "/tools/definitions/1",
            [{"name": "get_transactions"}],
            [
                {
                    "name": "open_dispute",
                    "definition": "sha256:c2392b80027f0f2d5b098ba3b4393578"
                    "3e4249dfb811277f6d4a5b6f66da0229",
                }
            ],
        ),
        (
            {"runtime": {"libraries": {"openai": "<2"}}},
            "chat-hosted-model",
            "/runtime/libraries/openai",
            "<2",
            "2.8.1",
        ),
        (
            {"components": {"context": "present"}},
            "chat-hosted-model",
            "/context",
            ["present"],
            "not_applicable",
        ),
        (
            {"model": {"weights": ["sha256:" + "2" * 64]}},
            "local-transformers",
            "/model/weights/0/digest",
            ["sha256:" + "2" * 64],
            None,  # the example's own weights digest, read in the test
        ),
    ],
)
def test_a_failed_rule_names_the_pointer_the_expected_and_the_actual_value(
    body: dict[str, Any], name: str, pointer: str, expected: Any, actual: Any
) -> None:
    result = one(body, name)
    if actual is None:
        actual = [example(name)["model"]["weights"][0]["digest"]]
    assert (result.status, result.pointer, result.document) == ("fail", pointer, "declaration")
    assert result.expected == expected
    assert result.actual == actual
    assert result.message


def test_the_same_rules_pass_when_the_values_are_the_approved_ones() -> None:
    decl = example("agent-step-with-tools")
    tools = [
        {"name": d["name"], "definition": d["definition"]["digest"]}
        for d in decl["tools"]["definitions"]
    ]
    body = {
        "model": {"version": ["gpt-4o-mini-2024-07-18"]},
        "parameters": {
            "temperature": {"min": 0, "max": 0.2, "declared": True},
            "n": {"values": [1.0], "required": True},  # JSON equality: 1 == 1.0
        },
        "instructions": {"template": [{"id": "support/system"}]},
        "tools": {"allowed": tools},
        "runtime": {"libraries": {"openai": ">=2.8, <2.9", "httpx": "==0.28.*"}},
    }
    evaluation = evaluate(policy_of(body), decl)
    assert evaluation.status == "pass"
    assert all(r.status == "pass" for r in evaluation.results), evaluation.results


def test_values_compare_as_json_so_true_is_not_one() -> None:
    decl = example("local-transformers")
    assert one({"parameters": {"do_sample": {"values": [0]}}}, "local-transformers").status == (
        "fail"
    )
    assert decl["parameters"]["do_sample"]["value"] is False
    assert one({"parameters": {"do_sample": {"values": [False]}}}, "local-transformers").status == (
        "pass"
    )


def test_a_rule_on_something_not_part_of_the_run_is_not_applicable() -> None:
    # The chat example has no retrieval (context not_applicable), no top_k, no torch.
    evaluation = evaluate(
        policy_of(
            {
                "context": {"index": [{"id": "acme-kb"}]},
                "parameters": {"top_k": {"max": 10}},
                "runtime": {"libraries": {"torch": ">=2"}},
                "observed": {"served_model": ["gpt-4o-mini-2024-07-18"]},
            }
        ),
        example("chat-hosted-model"),
    )
    assert {r.rule: r.status for r in evaluation.results} == {
        "context.index": "not_applicable",
        "parameters.top_k.max": "not_applicable",
        "runtime.libraries.torch": "not_applicable",
        "observed.served_model": "not_applicable",  # no record: a declaration alone
    }
    assert evaluation.status == "pass"


def test_a_rule_on_something_unrecorded_fails_because_compliance_cannot_be_shown() -> None:
    evaluation = evaluate(
        policy_of(
            {
                "model": {"version": ["v1"], "weights": ["sha256:" + "3" * 64]},
                "parameters": {"temperature": {"max": 0.3}, "seed": {"required": True}},
                "runtime": {"engine": [{"name": "llama.cpp"}]},
            }
        ),
        example("absent-components"),
    )
    got = results(evaluation)
    assert got == {
        "model.version": ("fail", "/model/version"),
        "model.weights": ("fail", "/model/weights"),
        "parameters.temperature.max": ("fail", "/parameters"),
        "parameters.seed.required": ("fail", "/parameters"),
        "runtime.engine": ("fail", "/runtime"),
    }
    assert all("not_recorded" in r.message for r in evaluation.results)


def test_a_provider_default_fails_range_rules_and_required() -> None:
    for check in ({"max": 1}, {"values": [1]}, {"required": True}):
        result = one({"parameters": {"top_p": check}}, "chat-hosted-model")
        assert (result.status, result.pointer) == ("fail", "/parameters/top_p/source")


def test_a_missing_parameter_fails_declared_and_required() -> None:
    for check in ({"declared": True}, {"required": True}):
        result = one({"parameters": {"top_k": check}}, "chat-hosted-model")
        assert (result.status, result.message) == ("fail", "not in the declaration")


def test_a_default_value_is_required_but_not_declared() -> None:
    assert one({"parameters": {"n": {"required": True}}}, "chat-hosted-model").status == "pass"
    result = one({"parameters": {"n": {"declared": True}}}, "chat-hosted-model")
    assert (result.status, result.actual) == ("fail", "default")
    assert "default 1" in result.message


def test_observed_rules_read_the_record() -> None:
    record = {"observed": {"served_model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_1"}}
    body = {"observed": {"served_model": ["gpt-4o-mini-2024-07-18"], "system_fingerprint": ["x"]}}
    evaluation = evaluate(policy_of(body), example("chat-hosted-model"), record)
    assert [(r.rule, r.status, r.document) for r in evaluation.results] == [
        ("observed.served_model", "pass", "record"),
        ("observed.system_fingerprint", "fail", "record"),
    ]
    unknown = {"observed": {"served_model": {"absent": "not_recorded"}}}
    result = one({"observed": {"served_model": ["m"]}}, "chat-hosted-model", unknown)
    assert (result.status, result.pointer, result.document) == (
        "fail",
        "/observed/served_model",
        "record",
    )


def test_applies_to_keeps_runs_with_unknown_values_in_scope() -> None:
    body = {"applies_to": {"engine": ["llama.cpp"]}, "model": {"name": ["x"]}}
    # absent-components: runtime not_recorded, so its engine is unknown: in scope.
    evaluation = evaluate(policy_of(body), example("absent-components"))
    assert evaluation.status == "fail"
    outside = evaluate(policy_of(body), example("local-transformers"))
    assert outside.status == "not_applicable"
    assert "runtime.engine.name is 'transformers'" in outside.scope


def test_required_guardrails_must_all_be_applied() -> None:
    body = {"constraints": {"guardrails": [{"name": "pii-redactor", "version": "1.4.0"}]}}
    assert one(body, "rag-retrieved-chunks").status == "pass"
    missing = one(body, "chat-hosted-model")
    assert (missing.status, missing.pointer) == ("fail", "/constraints/guardrails")
    assert missing.message == "not applied: pii-redactor@1.4.0"
    assert one(body, "absent-components").status == "not_applicable"
    newer = {"constraints": {"guardrails": [{"name": "pii-redactor", "version": "2.0.0"}]}}
    assert one(newer, "rag-retrieved-chunks").status == "fail"
    schema = {"constraints": {"output_schema": ["sha256:" + "4" * 64]}}
    result = one(schema, "chat-hosted-model")
    assert (result.status, result.pointer) == ("not_applicable", "/constraints/output_schema")


def test_component_states_accept_a_string_or_a_list() -> None:
    body = {"components": {c: ["present", "not_applicable"] for c in COMPONENTS}}
    body["components"]["model"] = "present"
    for name in HOSTED:
        assert evaluate(policy_of(body), example(name)).status == "pass"
    evaluation = evaluate(policy_of(body), example("absent-components"))
    assert {r.rule for r in evaluation.failed} == {"components.parameters", "components.runtime"}


@pytest.mark.parametrize(
    ("version", "spec", "expected"),
    [
        ("2.13.0+cpu", ">=2.4, <3", True),
        ("2.10.1", ">2.9", True),
        ("2.9", ">=2.10", False),
        ("2.0", "==2", True),
        ("4.57.1", "==4.57.*", True),
        ("4.58.0", "==4.57.*", False),
        ("4.1.2", "==4.0.*", False),
        ("4.57.1", "!=4.57.*", False),
        ("v1", ">=1", True),
        ("1.0rc1", "1.0", True),
        ("0.3.36", ">=0.3, <0.4", True),
        ("unknown", ">=1", None),
    ],
)
def test_version_ranges(version: str, spec: str, expected: bool | None) -> None:
    assert version_in_range(version, spec) is expected


def test_an_unreadable_library_version_fails_its_rule() -> None:
    decl = example("chat-hosted-model")
    decl["runtime"]["libraries"]["openai"] = "main"
    evaluation = evaluate(policy_of({"runtime": {"libraries": {"openai": ">=2"}}}), decl)
    assert evaluation.results[0].status == "fail"
    assert "cannot compare" in evaluation.results[0].message


# --- properties: a policy approving a run's own values -----------------------------------


def approve(decl: dict[str, Any]) -> dict[str, Any]:
    """A policy body that approves exactly the values of ``decl`` (every rule kind used)."""
    body: dict[str, Any] = {
        "components": {
            c: (v.get("absent", "present") if isinstance(v, dict) else "present")
            for c, v in decl.items()
            if c != "spec"
        },
    }
    model = decl["model"]
    if "absent" not in model:
        body["model"] = {
            k: [model[k]] for k in ("provider", "name", "version") if isinstance(model[k], str)
        }
        if isinstance(model["weights"], list):
            body["model"]["weights"] = [w["digest"] for w in model["weights"]]
    params = decl["parameters"]
    if "absent" not in params:
        rules: dict[str, Any] = {}
        for name, entry in params.items():
            if entry["source"] == "provider_default":
                continue
            value = entry["value"]
            rule: dict[str, Any] = {"values": [value], "required": True}
            if entry["source"] == "declared":
                rule["declared"] = True
            if type(value) in (int, float):
                rule |= {"min": value, "max": value}
            rules[name] = rule
        body["parameters"] = rules
    instructions = decl["instructions"]
    if "absent" not in instructions:
        body["instructions"] = {"system": [c["digest"] for c in instructions["system"]]}
        template = instructions["template"]
        if "absent" not in template:
            body["instructions"]["template"] = [
                {"id": template["id"], "version": template["version"], "digest": template["digest"]}
            ]
    context = decl["context"]
    if "absent" not in context:
        body["context"] = {
            "index": [context["index"]],
            "retriever": [{"name": context["retriever"]["name"]}],
        }
    tools = decl["tools"]
    if "absent" not in tools:
        body["tools"] = {
            "allowed": [
                {"name": t["name"], "definition": t["definition"]["digest"]}
                for t in tools["definitions"]
            ]
        }
    runtime = decl["runtime"]
    if "absent" not in runtime:
        body["runtime"] = {
            "engine": [runtime["engine"]],
            "libraries": {k: f"=={v}" for k, v in runtime["libraries"].items()},
        }
    constraints = decl["constraints"]
    if "absent" not in constraints and constraints["guardrails"]:
        body["constraints"] = {
            "guardrails": [{"name": g["name"]} for g in constraints["guardrails"]]
        }
    return body


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_a_policy_approving_a_runs_own_values_passes_it(name: str) -> None:
    decl = example(name)
    evaluation = evaluate(policy_of(approve(decl)), decl)
    assert evaluation.status == "pass", evaluation.failed
    assert evaluation.counts["pass"] >= 8


def _leaves(body: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of the approved strings/numbers in a policy body (not booleans, not states)."""
    if isinstance(body, dict):
        return [p for k, v in body.items() for p in _leaves(v, (*path, k))]
    if isinstance(body, list):
        return [p for i, v in enumerate(body) for p in _leaves(v, (*path, i))]
    if isinstance(body, bool) or path[0] == "components":
        return []
    return [path]


def _mutate(value: Any) -> Any:
    if isinstance(value, str):
        if value.startswith("sha256:"):
            return "sha256:" + ("0" if value[7] != "0" else "1") * 64
        if value.startswith("=="):
            return "==999"
        return value + "-other"
    return value + 1000


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(EXAMPLES)), data=st.data())
def test_changing_one_approved_value_fails_exactly_the_rules_that_read_it(
    name: str, data: st.DataObject
) -> None:
    decl = example(name)
    body = approve(decl)
    leaves = _leaves(body)
    if not leaves:
        return
    path = data.draw(st.sampled_from(leaves))
    changed = copy.deepcopy(body)
    holder = changed
    for part in path[:-1]:
        holder = holder[part]
    if path[-1] in ("min", "max"):
        # Move both bounds past the value, so the policy stays valid and only one side fails.
        shift = 1000 if path[-1] == "min" else -1000
        holder["min"] = holder["max"] = holder[path[-1]] + shift
    else:
        holder[path[-1]] = _mutate(holder[path[-1]])
    evaluation = evaluate(policy_of(changed), decl)
    failed = {r.rule for r in evaluation.failed}
    section = path[0]
    if section == "parameters":
        expected = {f"parameters.{path[1]}.{path[2]}"}
    elif section == "runtime" and path[1] == "libraries":
        expected = {f"runtime.libraries.{path[2]}"}
    else:
        expected = {f"{section}.{path[1]}"}
    assert failed == expected, (path, evaluation.failed)


# --- YAML and JSON --------------------------------------------------------------------------

# NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR are line breaks to YAML 1.1, and PyYAML's dumper
# writes them raw: a round trip through its dumper would turn them into spaces.
_chars = st.characters(
    codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="\x85\u2028\u2029"
)
_text = st.text(_chars, min_size=1)
_digest = st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: "sha256:" + h)
_number = st.one_of(
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
)
_json = st.recursive(
    st.one_of(st.none(), st.booleans(), _number, _text),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)
_param_rule = st.fixed_dictionaries(
    {},
    optional={
        "min": _number,
        "values": st.lists(_json, min_size=1, max_size=3),
        "declared": st.booleans(),
        "required": st.booleans(),
    },
).filter(bool)
POLICIES_STRATEGY = st.fixed_dictionaries(
    {"policy": st.just("runid/policy/v1"), "name": _text},
    optional={
        "description": st.text(_chars, max_size=20),
        "applies_to": st.fixed_dictionaries({"provider": st.lists(_text, min_size=1)}),
        "components": st.dictionaries(
            st.sampled_from(COMPONENTS),
            st.sampled_from(["present", "not_applicable", "not_recorded", "undisclosed"])
            | st.lists(st.sampled_from(["present", "not_applicable"]), min_size=1),
        ),
        "model": st.fixed_dictionaries(
            {},
            optional={
                "version": st.lists(_text, min_size=1),
                "weights": st.lists(_digest, min_size=1),
            },
        ),
        "parameters": st.dictionaries(
            st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), _param_rule, max_size=3
        ),
        "context": st.fixed_dictionaries(
            {
                "index": st.lists(
                    st.fixed_dictionaries({"id": _text}, optional={"snapshot": _digest}), min_size=1
                )
            }
        ),
        "runtime": st.fixed_dictionaries(
            {
                "libraries": st.dictionaries(
                    _text, st.sampled_from([">=1", "==2.*", "<3, !=2.1"]), min_size=1
                )
            }
        ),
    },
)


@settings(max_examples=80, deadline=None)
@given(document=POLICIES_STRATEGY, name=st.sampled_from(sorted(EXAMPLES)))
def test_the_yaml_and_the_json_spelling_of_a_policy_are_one_policy(
    document: dict[str, Any], name: str
) -> None:
    as_json = parse_policy(json.dumps(document).encode())
    as_yaml = parse_policy(yaml.safe_dump(document, allow_unicode=True).encode())
    assert as_yaml.document == as_json.document
    assert as_yaml.digest == as_json.digest
    decl = example(name)
    assert evaluate(as_yaml, decl) == evaluate(as_json, decl)
    assert list(jsonschema.Draft202012Validator(json_schema()).iter_errors(document)) == []


def test_the_shipped_policies_in_yaml_and_json_are_equivalent(tmp_path: Path) -> None:
    for path in sorted(POLICIES.glob("*.yaml")):
        parsed = parse_policy(path.read_bytes())
        respelled = tmp_path / (path.stem + ".json")
        respelled.write_text(json.dumps(parsed.document, indent=1))
        again = parse_policy(respelled.read_bytes())
        assert again.digest == parsed.digest, path
        assert (
            list(jsonschema.Draft202012Validator(json_schema()).iter_errors(parsed.document)) == []
        )


def test_the_shipped_schema_is_generated_from_the_code() -> None:
    shipped = json.loads((ROOT / "docs" / "schema" / "policy-v1.schema.json").read_text())
    assert shipped == json_schema()


# --- malformed policies ---------------------------------------------------------------------

HEADER = "policy: runid/policy/v1\nname: x\n"


@pytest.mark.parametrize(
    ("text", "pointer", "code", "words"),
    [
        (HEADER + "modle: {}\n", "/modle", "E_UNKNOWN_FIELD", "did you mean 'model'"),
        (
            HEADER + "parameters:\n  seed: {declard: true}\n",
            "/parameters/seed/declard",
            "E_UNKNOWN_FIELD",
            "did you mean 'declared'",
        ),
        ("policy: runid/policy/v2\nname: x\n", "/policy", "E_CONST", "runid/policy/v1"),
        ("name: x\n", "/policy", "E_REQUIRED", "missing"),
        (HEADER + "name: y\n", "", "E_POLICY_SYNTAX", "duplicate key 'name'"),
        (
            HEADER + "context: {index: [{id: kb, snapshot: 2026-01-01}]}\n",
            "/context/index/0/snapshot",
            "E_POLICY_SYNTAX",
            "quote it",
        ),
        (
            HEADER + "instructions: {template: [{id: t, version: 7}]}\n",
            "/instructions/template/0/version",
            "E_TYPE",
            "quote",
        ),
        (
            HEADER + "parameters: {temperature: {min: 1, max: 0}}\n",
            "/parameters/temperature/min",
            "E_RANGE",
            "min 1 > max 0",
        ),
        (HEADER + "parameters: {temperature: {}}\n", "/parameters/temperature", "E_EMPTY", "no"),
        (
            HEADER + "parameters: {temperature: {max: .nan}}\n",
            "/parameters/temperature/max",
            "E_POLICY_SYNTAX",
            "not a JSON number",
        ),
        (
            HEADER + "runtime: {libraries: {torch: '~~2'}}\n",
            "/runtime/libraries/torch",
            "E_FORMAT",
            "version range",
        ),
        (HEADER + "model: {weights: [abc]}\n", "/model/weights/0", "E_FORMAT", "digest"),
        (HEADER + "model: {version: []}\n", "/model/version", "E_EMPTY", "at least 1"),
        ("policy: [unclosed\n", "", "E_POLICY_SYNTAX", "line 2, column 1: "),
        ("", "", "E_POLICY_SYNTAX", "empty"),
        ("- a list\n", "", "E_TYPE", "expected object"),
        (b"\xff\xfe", "", "E_POLICY_SYNTAX", "UTF-8"),
    ],
)
def test_malformed_policies_are_named_with_pointer_and_code(
    text: str | bytes, pointer: str, code: str, words: str
) -> None:
    data = text if isinstance(text, bytes) else text.encode()
    with pytest.raises(PolicyError) as caught:
        parse_policy(data)
    problems = caught.value.problems
    assert any(p.pointer == pointer and p.code == code and words in p.message for p in problems), (
        problems
    )
    assert caught.value.code == "E_INVALID_POLICY"
    assert caught.value.hint and "section 17" in caught.value.hint


def test_every_problem_is_listed_at_once() -> None:
    text = HEADER + "modle: {}\nparameters: {temperature: {mx: 1}}\ntools: {allowed: []}\n"
    with pytest.raises(PolicyError) as caught:
        parse_policy(text.encode())
    assert [p.pointer for p in caught.value.problems] == [
        "/parameters/temperature/mx",
        "/tools/allowed",
        "/modle",
    ]


def test_json_policies_are_parsed_strictly() -> None:
    with pytest.raises(CanonicalizationError, match="duplicate key"):
        parse_policy(b'{"policy": "runid/policy/v1", "name": "x", "name": "y"}')
    with pytest.raises(PolicyError, match="E_UNKNOWN_FIELD"):
        parse_policy(b'{"policy": "runid/policy/v1", "name": "x", "rules": {}}')


def test_a_misspelt_parameter_name_is_a_warning() -> None:
    parsed = policy_of({"parameters": {"temprature": {"max": 0.3}, "my_knob": {"max": 1}}})
    assert len(parsed.warnings) == 1
    assert "did you mean 'temperature'" in parsed.warnings[0]


def test_the_error_is_in_the_one_hierarchy() -> None:
    assert issubclass(PolicyError, InputError)
    assert issubclass(PolicyError, RunidError)
    assert PolicyError.exit_code == 2


# --- the command line over a real log -----------------------------------------------------


@pytest.fixture
def home(tmp_path: Path) -> Home:
    """A home whose log holds every example run (hosted ones with an observed served model)."""
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/log")
    with Log.open(home) as log:
        for name in EXAMPLES:
            observed = {"served_model": "gpt-4o-mini-2024-07-18"} if name in HOSTED else None
            log.record_run(example(name), output=name.encode(), observed=observed)
    return home


def check(home: Home, *args: str) -> Any:
    return CliRunner().invoke(main, ["check", "--home", str(home.path), *args])


def entries(home: Home) -> list[dict[str, Any]]:
    with Log.open(home, need_key=False) as log:
        return [log.entry(i).record for i in range(log.size())]


def test_check_all_passes_the_acme_policy_and_reports_every_run(home: Home) -> None:
    result = check(home, "--all", "--policy", str(ACME))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("policy acme-support-bot (sha256:")
    assert sum(line.startswith("pass  entry") for line in lines) == 3
    assert sum(line.startswith("n/a   entry") for line in lines) == 2
    assert "  pass  model.version: 'gpt-4o-mini-2024-07-18' is approved" in lines
    assert lines[-1].startswith("5 run(s): 3 passed, 0 failed, 2 not applicable; rules: ")
    assert "\x1b[" not in result.output  # no colour when not on a terminal


def test_a_failing_rule_exits_1_and_json_names_it(home: Home, tmp_path: Path) -> None:
    strict = tmp_path / "strict.yaml"
    text = ACME.read_text().replace("temperature: {max: 0.3", "temperature: {max: 0.1")
    strict.write_text(text + "observed:\n  served_model: [gpt-4o-mini-2024-08-06]\n")
    result = check(home, "--all", "--policy", str(strict), "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["check"] == "runid/check/v1"
    assert report["status"] == "fail"
    assert report["summary"]["runs"] == {"pass": 0, "fail": 3, "not_applicable": 2}
    run = next(r for r in report["runs"] if r["status"] == "fail")
    assert run["source"] == "log" and run["execution_id"].startswith("sha256:")
    failed = {r["rule"]: r for r in run["results"] if r["status"] == "fail"}
    assert set(failed) == {"parameters.temperature.max", "observed.served_model"}
    temperature = failed["parameters.temperature.max"]
    assert temperature["pointer"] == "/parameters/temperature/value"
    assert (temperature["expected"], temperature["actual"]) == (0.1, 0.2)
    served = failed["observed.served_model"]
    assert (served["document"], served["actual"]) == ("record", "gpt-4o-mini-2024-07-18")
    quiet = check(home, "--all", "--policy", str(strict), "-q")
    assert quiet.exit_code == 1
    assert "pass  " not in quiet.output
    assert "  FAIL  parameters.temperature.max: 0.2 is not ≤ 0.1" in quiet.output
    assert "expected: 0.1" in quiet.output


def test_runs_are_named_by_execution_id_entry_or_declaration_id(home: Home) -> None:
    records = entries(home)
    chat = records[list(EXAMPLES).index("chat-hosted-model")]
    by_id = check(home, chat["execution_id"], "--policy", str(ACME), "--json")
    by_entry = check(home, "0", "--policy", str(ACME), "--json")
    by_decl = check(home, chat["declaration_id"], "--policy", str(ACME), "--json")
    for result in (by_id, by_entry, by_decl):
        assert result.exit_code == 0, result.output
        (run,) = json.loads(result.output)["runs"]
        assert run["execution_id"] == chat["execution_id"]
        assert run["status"] == "pass"


def test_declaration_and_receipt_files_are_checked(home: Home, tmp_path: Path) -> None:
    decl_file = tmp_path / "rag.json"
    decl_file.write_text(json.dumps(example("rag-retrieved-chunks")))
    record = entries(home)[list(EXAMPLES).index("rag-retrieved-chunks")]
    with Log.open(home) as log:
        receipt = log.receipt(record["execution_id"], example("rag-retrieved-chunks"))
        withheld = log.receipt(record["execution_id"])
        public = log.public.vkey
    (tmp_path / "r.json").write_bytes(receipt)
    (tmp_path / "w.json").write_bytes(withheld)
    result = check(
        home,
        str(decl_file),
        str(tmp_path / "r.json"),
        str(tmp_path / "w.json"),
        "--policy",
        str(ACME),
        "--key",
        public,
        "--json",
    )
    assert result.exit_code == 0, result.output
    runs = json.loads(result.output)["runs"]
    assert [r["source"] for r in runs] == ["declaration_file", "receipt_file", "receipt_file"]
    assert [r["status"] for r in runs] == ["pass"] * 3
    assert runs[0]["execution_id"] is None
    assert runs[1]["execution_id"] == runs[2]["execution_id"] == record["execution_id"]


def test_a_receipt_whose_declaration_is_nowhere_fails_the_declaration_rule(
    home: Home, tmp_path: Path
) -> None:
    record = entries(home)[0]
    with Log.open(home) as log:
        withheld = log.receipt(record["execution_id"])
        public = log.public.vkey
    (tmp_path / "w.json").write_bytes(withheld)
    elsewhere = tmp_path / "empty-home"  # a verifier without the operator's log
    result = CliRunner().invoke(
        main,
        [
            "check",
            "--home",
            str(elsewhere),
            str(tmp_path / "w.json"),
            "--policy",
            str(ACME),
            "--key",
            public,
        ],
    )
    assert result.exit_code == 1, result.output
    assert "FAIL  declaration: the declaration's content is not at hand" in result.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--all", "--policy", "missing.yaml"], "missing.yaml: no such file"),
        (["--all", "--policy", "HUGE"], "larger than 1048576 bytes"),
        (["--policy", "ACME"], "name the runs to check, or pass --all"),
        (["--all", "0", "--policy", "ACME"], "not both"),
        (["sha256:" + "ab" * 32, "--policy", "ACME"], "no execution or declaration"),
        (["99", "--policy", "ACME"], "no entry 99"),
        (["no-such-thing", "--policy", "ACME"], "no such file"),
    ],
)
def test_errors_exit_2_with_one_clear_message(home: Home, args: list[str], words: str) -> None:
    huge = home.path / "huge.yaml"
    huge.write_text("# " + "x" * (1 << 20) + "\n" + ACME.read_text())
    args = [{"ACME": str(ACME), "HUGE": str(huge)}.get(a, a) for a in args]
    result = check(home, *args)
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert "Traceback" not in result.output
    assert "run(s):" not in result.output  # nothing was checked


def test_a_receipt_that_does_not_verify_is_an_error(home: Home, tmp_path: Path) -> None:
    record = entries(home)[0]
    with Log.open(home) as log:
        receipt = json.loads(log.receipt(record["execution_id"]))
    receipt["envelope"]["signatures"][0]["sig"] = "A" * 86 + "=="
    (tmp_path / "bad.json").write_text(json.dumps(receipt))
    result = check(home, str(tmp_path / "bad.json"), "--policy", str(ACME))
    assert result.exit_code == 2, result.output
    assert "does not verify" in result.output


def test_a_malformed_policy_exits_2_in_a_real_process_listing_every_problem(
    home: Home, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(HEADER + "modle: {}\nparameters:\n  seed: {declard: true}\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "runid",
            "check",
            "--all",
            "--policy",
            str(bad),
            "--home",
            str(home.path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"error: {bad}: /modle: E_UNKNOWN_FIELD unknown field; did you mean 'model'?" in (
        result.stderr
    )
    assert "/parameters/seed/declard" in result.stderr
    assert "hint: see docs/spec.md section 17" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_json_policy_file_gives_the_same_report(home: Home, tmp_path: Path) -> None:
    as_json = tmp_path / "acme.json"
    as_json.write_text(json.dumps(yaml.safe_load(ACME.read_text())))
    a = json.loads(check(home, "--all", "--policy", str(ACME), "--json").output)
    b = json.loads(check(home, "--all", "--policy", str(as_json), "--json").output)
    assert a == b


def test_an_invalid_declaration_is_named_not_a_crash() -> None:
    acme = parse_policy(ACME.read_bytes())
    broken = example("chat-hosted-model")
    broken["model"] = {"provider": "openai", "name": 7}
    with pytest.raises(DeclarationError) as caught:
        evaluate(acme, broken)
    assert any(p.pointer == "/model/name" for p in caught.value.problems)


def _on_a_terminal(*args: str, env: dict[str, str]) -> str:
    """Run runid with its standard output on a pseudo-terminal; return what it wrote there."""
    import os
    import pty

    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "runid", *args],
        stdout=slave,
        stderr=subprocess.DEVNULL,
        env={**{k: v for k, v in os.environ.items() if k != "NO_COLOR"}, **env},
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert process.wait(timeout=60) == 1
    return b"".join(chunks).decode()


def test_colour_only_on_a_terminal_and_never_with_no_color(tmp_path: Path) -> None:
    decl = tmp_path / "chat.json"
    decl.write_text(json.dumps(example("chat-hosted-model")))
    strict = tmp_path / "strict.yaml"
    strict.write_text(HEADER + "parameters: {temperature: {max: 0.1}}\n")
    args = ("--home", str(tmp_path / "none"), "check", str(decl), "--policy", str(strict))
    coloured = _on_a_terminal(*args, env={})
    assert "\x1b[31m\x1b[1mFAIL\x1b[0m" in coloured  # red, bold
    plain = _on_a_terminal(*args, env={"NO_COLOR": "1"})
    assert "\x1b[" not in plain
    assert "FAIL  parameters.temperature.max: 0.2 is not ≤ 0.1" in plain


def test_a_check_that_checked_nothing_says_so(home: Home, tmp_path: Path) -> None:
    scoped = tmp_path / "scoped.yaml"
    scoped.write_text(HEADER + "applies_to: {provider: [anthropic]}\nmodel: {name: [x]}\n")
    result = CliRunner().invoke(
        main, ["check", "--home", str(home.path), "--all", "--policy", str(scoped)]
    )
    assert result.exit_code == 0
    assert "warning: none of the 5 run(s) is in the policy's scope (applies_to)" in result.stderr
    report = json.loads(check(home, "--all", "--policy", str(scoped), "--json").output)
    assert report["warnings"] == ["none of the 5 run(s) is in the policy's scope (applies_to)"]


def test_hostile_yaml_is_refused_quickly() -> None:
    # A billion laughs: nine levels of nine aliases; written out it would be 387 million items.
    laughs = HEADER + "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
    laughs += "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))
    cases = {
        laughs: "aliases",
        HEADER + "model: &m {version: [*m]}\n": "",
        HEADER + "model: " + "[" * 5000 + "]" * 5000 + "\n": "",
    }
    for text, words in cases.items():
        with pytest.raises(PolicyError) as caught:
            parse_policy(text.encode())
        (problem,) = caught.value.problems
        assert problem.code == "E_POLICY_SYNTAX"
        assert words in problem.message


def test_hostile_run_arguments_are_clear_errors(home: Home, tmp_path: Path) -> None:
    v2 = example("chat-hosted-model")
    v2["spec"] = "runid/v2"
    invalid = example("chat-hosted-model")
    invalid["parameters"]["temperature"]["value"] = "hot"
    files = {
        "v2.json": (json.dumps(v2), "written for runid/v2"),
        "invalid.json": (json.dumps(invalid), "/parameters/temperature/value: E_TYPE"),
        "other.json": ('{"hello": 1}', "not a declaration, a receipt or an identity file"),
        "broken.json": ("{nope", "invalid JSON at line 1, column 2"),
    }
    for name, (text, words) in files.items():
        path = tmp_path / name
        path.write_text(text)
        result = check(home, str(path), "--policy", str(ACME))
        assert result.exit_code == 2, (name, result.output)
        assert words in result.output, (name, result.output)
        assert "Traceback" not in result.output
