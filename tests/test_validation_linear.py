"""Validation is linear in the input and reports a bounded number of findings per object.

Issue 12, defect 2: findings were accumulated with ``out = (out or []) + [...]`` (a copy per
finding), so 40,000 unknown keys took seconds and a 12 MB object minutes. Each object, map and
array now lists at most :data:`MAX_FINDINGS` of its findings and counts the rest in one last
``E_MORE`` finding at its own pointer ("... and N more"); the first findings and their codes are
the ones listed before.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from runid._internal.schema import MAX_FINDINGS
from runid.declaration import COMPONENTS, problems
from runid.errors import PolicyError, Problem
from runid.examples import example
from runid.policy import parse_policy


def _unknown_keys(n: int) -> dict[str, Any]:
    declaration: dict[str, Any] = {"spec": "runid/v1"}
    for i in range(n):
        declaration[f"k{i}"] = i
    return declaration


def _more(problem: Problem) -> int:
    """The count an ``E_MORE`` finding stands for."""
    assert problem.code == "E_MORE", problem
    match = re.search(r"and ([\d,]+) more", problem.message)
    assert match, problem.message
    return int(match.group(1).replace(",", ""))


def _total(found: list[Problem]) -> int:
    """Findings listed plus those counted by the ``E_MORE`` findings."""
    return sum(_more(p) if p.code == "E_MORE" else 1 for p in found)


def test_many_unknown_keys_are_capped_and_the_first_findings_are_kept() -> None:
    found = problems(_unknown_keys(40_000))
    # The eight components are missing, then the unknown members in document order.
    expected = [Problem(f"/{name}", "E_REQUIRED", "missing required field") for name in COMPONENTS]
    assert found[:8] == expected
    assert [(p.pointer, p.code) for p in found[8:MAX_FINDINGS]] == [
        (f"/k{i}", "E_UNKNOWN_FIELD") for i in range(MAX_FINDINGS - 8)
    ]
    assert len(found) == MAX_FINDINGS + 1
    assert found[-1].pointer == ""
    assert _more(found[-1]) == 40_008 - MAX_FINDINGS
    assert str(found[-1]).startswith("/: E_MORE ... and 39,908 more")


def test_a_small_invalid_declaration_lists_every_problem_as_before() -> None:
    decl = example("chat-hosted-model")
    decl["parameters"]["temperature"]["value"] = "hot"
    decl["extra"] = 1
    assert [(p.pointer, p.code) for p in problems(decl)] == [
        ("/parameters/temperature/value", "E_TYPE"),
        ("/extra", "E_UNKNOWN_FIELD"),
    ]
    assert problems(example("chat-hosted-model")) == []


@pytest.mark.parametrize("where", ["map", "array"])
def test_nested_findings_are_capped_per_object_and_counted_exactly(where: str) -> None:
    decl = example("chat-hosted-model")
    n = 5_000
    if where == "map":
        decl["parameters"] = {f"p{i}": {"source": "declared"} for i in range(n)}  # no value
        inner = "/parameters"
    else:
        decl["inputs"]["messages"] = [{"role": "nobody"}] * n  # wrong role, no content
        inner = "/inputs/messages"
    found = problems(decl)
    assert len(found) <= 2 * MAX_FINDINGS + 1
    more = [p for p in found if p.code == "E_MORE"]
    assert [p.pointer for p in more] == [inner]
    uncapped = 2 * n if where == "array" else n
    assert _total(found) == uncapped
    assert all(p.pointer.startswith(inner) for p in found)


def _yaml_policy(n: int) -> bytes:
    lines = ["policy: runid/policy/v1", "name: big"]
    lines += [f"unknown_{i}: {i}" for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


def test_a_large_yaml_policy_is_capped() -> None:
    # Time per byte is measured by bench/validation.py, not here: no timed unit tests.
    with pytest.raises(PolicyError) as caught:
        parse_policy(_yaml_policy(20_000))
    found = list(caught.value.problems)
    assert len(found) == MAX_FINDINGS + 1
    assert (found[0].pointer, found[0].code) == ("/unknown_0", "E_UNKNOWN_FIELD")
    assert _more(found[-1]) == 20_000 - MAX_FINDINGS


def test_a_huge_integer_in_a_checked_field_is_reported_not_raised() -> None:
    decl = example("chat-hosted-model")
    decl["parameters"]["top_p"] = {"source": "declared", "value": 10**5000}
    found = problems(decl)
    assert [(p.pointer, p.code) for p in found] == [("/parameters/top_p/value", "E_RANGE")]
    assert len(found[0].message) < 200
