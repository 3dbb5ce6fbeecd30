"""Validation of v1 declarations: every problem, with its JSON Pointer and stable code."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from runid.declaration import COMPONENTS, is_valid, normalize, problems, validate
from runid.errors import DeclarationError
from runid.examples import example

HEX = "sha256:" + "ab" * 32


def codes(decl: Any) -> list[tuple[str, str]]:
    return [(p.pointer, p.code) for p in problems(decl)]


def test_every_example_is_valid(example_decl: dict[str, Any]) -> None:
    assert problems(example_decl) == []
    assert is_valid(example_decl)
    validate(example_decl)


def mutate(path: str, value: Any) -> dict[str, Any]:
    """chat-hosted-model with the value at ``path`` (slash-separated) replaced or deleted."""
    decl = example("chat-hosted-model")
    *parents, last = path.strip("/").split("/")
    target: Any = decl
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    key: Any = int(last) if isinstance(target, list) else last
    if value is DELETE:
        del target[key]
    else:
        target[key] = value
    return decl


DELETE = object()

CASES = [
    ("/parameters/temperature/value", "0.2", "/parameters/temperature/value", "E_TYPE"),
    ("/parameters/temperature/value", -1, "/parameters/temperature/value", "E_RANGE"),
    ("/parameters/temperature/value", True, "/parameters/temperature/value", "E_TYPE"),
    ("/parameters/max_tokens/value", 2.5, "/parameters/max_tokens/value", "E_TYPE"),
    ("/parameters/max_tokens/value", 0, "/parameters/max_tokens/value", "E_RANGE"),
    ("/parameters/top_p/source", "guessed", "/parameters/top_p/source", "E_ENUM"),
    (
        "/parameters/Temperature",
        {"source": "provider_default"},
        "/parameters/Temperature",
        "E_FORMAT",
    ),
    ("/spec", "runid/v2", "/spec", "E_CONST"),
    ("/tools", DELETE, "/tools", "E_REQUIRED"),
    ("/tools", None, "/tools", "E_TYPE"),
    ("/tools", {"absent": "maybe"}, "/tools/absent", "E_ENUM"),
    ("/tools", {"absent": "not_applicable", "why": "x"}, "/tools/why", "E_UNKNOWN_FIELD"),
    ("/model/region", "eu", "/model/region", "E_UNKNOWN_FIELD"),
    ("/model/name", "", "/model/name", "E_EMPTY"),
    ("/model/endpoint", "https://u:p@api.example.com", "/model/endpoint", "E_FORMAT"),
    ("/model/version", 4, "/model/version", "E_TYPE"),
    ("/instructions/system", [], "/instructions/system", "E_EMPTY"),
    (
        "/instructions/system/0/digest",
        "sha256:AB" + "0" * 62,
        "/instructions/system/0/digest",
        "E_FORMAT",
    ),
    ("/instructions/system/0/size", -1, "/instructions/system/0/size", "E_RANGE"),
    (
        "/instructions/system/0/media_type",
        "Text/Plain",
        "/instructions/system/0/media_type",
        "E_FORMAT",
    ),
    ("/instructions/system/0/digest", DELETE, "/instructions/system/0/digest", "E_REQUIRED"),
    ("/inputs/messages/0/role", "robot", "/inputs/messages/0/role", "E_ENUM"),
    ("/inputs/messages/0/tool_calls", [], "/inputs/messages/0/tool_calls", "E_EMPTY"),
    ("/inputs/messages", "hello", "/inputs/messages", "E_TYPE"),
    ("/runtime/libraries/openai", 2, "/runtime/libraries/openai", "E_TYPE"),
    ("/constraints/budgets/max_steps", -3, "/constraints/budgets/max_steps", "E_RANGE"),
]


@pytest.mark.parametrize(("path", "value", "pointer", "code"), CASES)
def test_a_bad_field_is_named_with_pointer_and_code(
    path: str, value: Any, pointer: str, code: str
) -> None:
    decl = mutate(path, value)
    assert codes(decl) == [(pointer, code)]
    assert not is_valid(decl)
    with pytest.raises(DeclarationError) as info:
        validate(decl)
    assert info.value.problems[0].pointer == pointer
    assert str(info.value.problems[0]).startswith(f"{pointer}: {code} ")


def test_every_problem_is_reported_not_just_the_first() -> None:
    decl = example("rag-retrieved-chunks")
    decl["parameters"]["temperature"]["value"] = "hot"
    decl["context"]["retrieved"][2]["score"] = "high"
    del decl["runtime"]["hardware"]
    decl["tools"] = []
    assert codes(decl) == [
        ("/parameters/temperature/value", "E_TYPE"),
        ("/context/retrieved/2/score", "E_TYPE"),
        ("/tools", "E_TYPE"),
        ("/runtime/hardware", "E_REQUIRED"),
    ]


def test_message_reads_like_the_documented_example() -> None:
    decl = mutate("/parameters/temperature/value", "0.7")
    assert str(problems(decl)[0]) == (
        "/parameters/temperature/value: E_TYPE expected number, got string"
    )


def test_not_an_object_at_all() -> None:
    assert codes([1, 2]) == [("", "E_TYPE")]
    assert codes("declaration") == [("", "E_TYPE")]
    assert codes({}) == [("/spec", "E_REQUIRED")] + [(f"/{c}", "E_REQUIRED") for c in COMPONENTS]


def test_a_tuple_is_not_an_array() -> None:
    decl = example("chat-hosted-model")
    decl["inputs"]["messages"] = tuple(decl["inputs"]["messages"])
    assert codes(decl) == [("/inputs/messages", "E_TYPE")]
    assert "tuple" in problems(decl)[0].message


def test_files_must_be_sorted_and_unique_by_name() -> None:
    decl = example("local-transformers")
    decl["model"]["tokenizer"].reverse()
    assert codes(decl) == [("/model/tokenizer/1/name", "E_ORDER")]
    decl["model"]["tokenizer"] = [decl["model"]["tokenizer"][0]] * 2
    assert codes(decl) == [("/model/tokenizer/1/name", "E_DUPLICATE")]


def test_tool_names_must_be_unique_but_keep_their_order() -> None:
    decl = example("agent-step-with-tools")
    decl["tools"]["definitions"].reverse()  # order as sent is allowed
    assert codes(decl) == []
    decl["tools"]["definitions"].append(decl["tools"]["definitions"][0])
    assert codes(decl) == [("/tools/definitions/2/name", "E_DUPLICATE")]


def test_provider_default_carries_no_value() -> None:
    decl = mutate("/parameters/top_p", {"source": "provider_default", "value": 1})
    assert codes(decl) == [("/parameters/top_p/value", "E_UNKNOWN_FIELD")]
    decl = mutate("/parameters/temperature", {"source": "declared"})
    assert codes(decl) == [("/parameters/temperature/value", "E_REQUIRED")]


def test_integral_floats_are_integers() -> None:
    decl = mutate("/parameters/max_tokens/value", 256.0)
    assert problems(decl) == []


def test_unknown_parameters_take_any_json_value() -> None:
    decl = mutate("/parameters/mirostat", {"source": "declared", "value": {"tau": [5.0, None]}})
    assert problems(decl) == []


def test_normalize_never_modifies_its_input(example_decl: dict[str, Any]) -> None:
    before = copy.deepcopy(example_decl)
    out = normalize(example_decl)
    assert example_decl == before
    assert out == before  # equal as numbers: 1.0 == 1


def test_normalize_rewrites_floats_to_their_canonical_form() -> None:
    decl = example("local-transformers")
    out = normalize(decl)
    assert out["parameters"]["temperature"]["value"] == 1
    assert type(out["parameters"]["temperature"]["value"]) is int
    assert out["model"] is decl["model"]  # untouched parts are shared, not copied
