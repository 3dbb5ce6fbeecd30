"""runid.diff: every diverged leaf and nothing else, symmetric, aligned lists, verdicts."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from runid.declaration import is_valid
from runid.diff import (
    MISSING,
    Change,
    align,
    compare,
    diff_declarations,
    diff_values,
    format_value,
    group_runs,
)
from runid.digest import content_digest, content_ref
from runid.examples import EXAMPLES, example, sized_declaration
from runid.identity import compute_identity
from runid.keys import SigningKey
from runid.record import new_record
from runid.resolve import Subject, subject_of_declaration

KEY = SigningKey("runid.test/diff", bytes(32))
REASONS = ("not_applicable", "not_recorded", "undisclosed")


# --- an independent oracle: the units a mutation can touch --------------------------------


def is_unit(value: Any, pointer: tuple[Any, ...]) -> bool:
    """What the diff compares whole: scalars, absence markers, content references and
    parameter entries (written here from the spec, not from runid.diff)."""
    if isinstance(value, dict):
        keys = set(value)
        if keys in ({"absent"}, {"digest", "size", "media_type"}):
            return True
        return len(pointer) == 2 and pointer[0] == "parameters" and "source" in keys
    return not isinstance(value, list)


def units(value: Any, pointer: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if pointer and is_unit(value, pointer):
        return [pointer]
    items = value.items() if isinstance(value, dict) else enumerate(value)
    found: list[tuple[Any, ...]] = []
    for key, child in items:
        if key == "spec" and not pointer:
            continue  # not part of any component
        found.extend(units(child, (*pointer, key)))
    return found


def get(value: Any, pointer: tuple[Any, ...]) -> Any:
    for key in pointer:
        value = value[key]
    return value


def put(value: Any, pointer: tuple[Any, ...], new: Any) -> None:
    get(value, pointer[:-1])[pointer[-1]] = new


def mutated(value: Any, salt: int) -> Any:
    """A different value of the same kind, unique to ``salt``."""
    if isinstance(value, dict):
        if set(value) == {"absent"}:
            return {"absent": next(r for r in REASONS if r != value["absent"])}
        if set(value) == {"digest", "size", "media_type"}:
            return content_ref(f"mutated content {salt}")
        if "value" in value:
            return {**value, "value": mutated(value["value"], salt)}
        return {"source": "default", "value": salt}
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1 + salt
    if isinstance(value, float):
        return value / 2 + 0.001 * (salt + 1)
    if isinstance(value, str) and value.startswith("sha256:"):
        return content_digest(b"mutated %d" % salt)
    return f"{value}~{salt}"


def pointer_text(pointer: tuple[Any, ...]) -> str:
    return "".join(f"/{key}" for key in pointer)


SOURCES = [*sorted(EXAMPLES), "sized"]


def source(name: str) -> dict[str, Any]:
    return sized_declaration(12, 9) if name == "sized" else example(name)


@st.composite
def mutations(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], set[str]]:
    original = source(draw(st.sampled_from(SOURCES)))
    candidates = units(original)
    chosen = draw(
        st.lists(st.sampled_from(candidates), min_size=1, max_size=4, unique=True).filter(
            lambda ps: not any(p != q and q[: len(p)] == p for p in ps for q in ps)
        )
    )
    changed = copy.deepcopy(original)
    for salt, pointer in enumerate(chosen):
        put(changed, pointer, mutated(get(original, pointer), salt))
    assume(is_valid(changed))
    return original, changed, {pointer_text(p) for p in chosen}


def bag(changes: Iterable[Change]) -> list[str]:
    """Changes as a sorted list of their JSON forms (a multiset; Change holds dicts)."""
    return sorted(json.dumps(c.to_json(), sort_keys=True) for c in changes)


def reported(changes: list[Change]) -> set[str]:
    return {c.pointer_a or "" for c in changes}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(mutations())
def test_exactly_the_mutated_leaves_are_reported(
    case: tuple[dict[str, Any], dict[str, Any], set[str]],
) -> None:
    original, changed, expected = case
    changes = diff_declarations(original, changed)
    assert reported(changes) == expected
    assert all(c.kind == "changed" and c.pointer_a == c.pointer_b for c in changes)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(mutations())
def test_diff_is_symmetric(case: tuple[dict[str, Any], dict[str, Any], set[str]]) -> None:
    original, changed, _ = case
    forward = diff_declarations(original, changed)
    backward = diff_declarations(changed, original)
    assert bag(c.mirrored() for c in forward) == bag(backward)


MAPS = (
    ("instructions", "template", "variables"),
    ("context", "filters"),
    ("runtime", "libraries"),
    ("runtime", "determinism"),
    ("constraints", "budgets"),
)


@st.composite
def key_edits(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], set[str], set[str]]:
    """Add keys to, and remove keys from, the open maps of a declaration (template variables,
    filters, libraries, determinism flags, budgets): exactly those are added / removed."""
    original = source(draw(st.sampled_from(SOURCES)))
    maps = [m for m in MAPS if isinstance(_get_or_none(original, m), dict)]
    assume(maps)
    changed = copy.deepcopy(original)
    added: set[str] = set()
    removed: set[str] = set()
    for path in draw(st.lists(st.sampled_from(maps), min_size=1, max_size=3, unique=True)):
        target = get(changed, path)
        if target and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(target)))
            del target[key]
            removed.add(pointer_text((*path, key)))
        else:
            taken = frozenset(target)
            key = draw(
                st.text("abcdefgh_", min_size=1, max_size=6).filter(
                    lambda k, taken=taken: k not in taken
                )
            )
            target[key] = draw(st.integers(1, 9)) if path[-1] == "budgets" else "v" + key
            added.add(pointer_text((*path, key)))
    assume(is_valid(changed))
    return original, changed, added, removed


def _get_or_none(value: Any, pointer: tuple[Any, ...]) -> Any:
    try:
        return get(value, pointer)
    except (KeyError, TypeError):
        return None


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(key_edits())
def test_added_and_removed_keys_are_reported_exactly(
    case: tuple[dict[str, Any], dict[str, Any], set[str], set[str]],
) -> None:
    original, changed, added, removed = case
    changes = diff_declarations(original, changed)
    assert {c.pointer_b for c in changes if c.kind == "added"} == added
    assert {c.pointer_a for c in changes if c.kind == "removed"} == removed
    assert len(changes) == len(added) + len(removed)
    assert bag(c.mirrored() for c in changes) == bag(diff_declarations(changed, original))


def test_a_declaration_compared_with_itself_reports_nothing() -> None:
    for name in EXAMPLES:
        assert diff_declarations(example(name), example(name)) == []


# --- lists: insertions and removals, not shifted indices -----------------------------------


def test_dropping_old_messages_is_one_removal_per_message_not_a_shift() -> None:
    a = sized_declaration(10, 3)
    b = copy.deepcopy(a)
    del b["inputs"]["messages"][:3]
    b["inputs"]["truncation"]["kept_count"] = 7
    changes = diff_declarations(a, b)
    removed = [c for c in changes if c.kind == "removed"]
    assert [c.pointer_a for c in removed] == [f"/inputs/messages/{i}" for i in range(3)]
    assert {c.path for c in changes if c.kind == "changed"} == {"inputs.truncation.kept_count"}
    groups = group_runs(changes)
    assert ("inputs.messages[0..2]", removed) in groups


def test_an_inserted_retrieved_chunk_is_one_addition() -> None:
    a = example("rag-retrieved-chunks")
    b = copy.deepcopy(a)
    extra = {"source": "kb/new.md", "chunk": 0, "content": content_ref("new"), "score": 0.5}
    b["context"]["retrieved"].insert(2, extra)
    b["context"]["top_k"] += 1
    changes = diff_declarations(a, b)
    assert [(c.kind, c.path, c.label) for c in changes] == [
        ("added", "context.retrieved[2]", "kb/new.md chunk 0"),
        ("changed", "context.top_k", None),
    ]


def test_an_edited_chunk_is_named_by_its_source_and_digests() -> None:
    a = example("rag-retrieved-chunks")
    b = copy.deepcopy(a)
    b["context"]["retrieved"][3]["content"] = content_ref("edited policy text")
    (change,) = diff_declarations(a, b)
    assert change.path == "context.retrieved[3].content"
    assert change.label == "{} chunk {}".format(
        a["context"]["retrieved"][3]["source"], a["context"]["retrieved"][3]["chunk"]
    )
    assert format_value(change.a).startswith(a["context"]["retrieved"][3]["content"]["digest"][:19])


def test_reordered_items_are_reported_as_moves() -> None:
    a = example("agent-step-with-tools")
    b = copy.deepcopy(a)
    b["tools"]["definitions"].reverse()
    (change,) = diff_declarations(a, b)
    assert change.kind == "moved"
    assert change.path in ("tools.definitions[0→1]", "tools.definitions[1→0]")
    assert change.a == change.b


def test_list_alignment_is_symmetric_even_when_ambiguous() -> None:
    a = {"x": ["p", "q", "r", "p"]}
    b = {"x": ["q", "p", "r"]}
    forward, backward = diff_values(a, b), diff_values(b, a)
    assert bag(c.mirrored() for c in forward) == bag(backward)


def test_numbers_compare_as_json_numbers() -> None:
    assert diff_values({"t": 1}, {"t": 1.0}) == []
    (change,) = diff_values({"t": 1}, {"t": True})
    assert (change.a, change.b) == (1, True)


# --- parameters, values and paths -----------------------------------------------------------


def test_a_parameter_reads_as_one_condition() -> None:
    a = example("chat-hosted-model")
    b = copy.deepcopy(a)
    b["parameters"]["temperature"]["value"] = 0.7
    b["parameters"]["seed"] = {"source": "declared", "value": 42}
    changes = {c.path: (format_value(c.a), format_value(c.b)) for c in diff_declarations(a, b)}
    assert changes == {
        "parameters.temperature": ("0.2", "0.7"),
        "parameters.seed": ("(provider default)", "42"),
    }


def test_keys_that_are_not_identifiers_are_quoted_in_paths() -> None:
    (change,) = diff_values({"a b": {"c/d": 1}}, {"a b": {"c/d": 2}})
    assert change.path == '["a b"]["c/d"]'
    assert change.pointer_a == "/a b/c~1d"


def test_format_value_keeps_reports_short() -> None:
    assert format_value("x" * 200).endswith("…")
    assert len(format_value("x" * 200)) == 72
    assert format_value(MISSING) == "(none)"
    assert format_value({"source": "default", "value": 0}) == "0 (default)"


# --- sides: withheld content and records ----------------------------------------------------


def digests_only(subject: Subject) -> Subject:
    return replace(subject, declaration=None)


def test_withheld_declarations_still_name_the_differing_components() -> None:
    a = example("rag-retrieved-chunks")
    b = copy.deepcopy(a)
    b["context"]["index"]["snapshot"] = content_digest(b"index snapshot 2026-11-27")
    sa, sb = subject_of_declaration(a), digests_only(subject_of_declaration(b))
    result = compare(sa, sb)
    assert result.verdict == "different_declarations"
    assert result.changed_components == ("context",)
    (change,) = result.declaration
    assert (change.kind, change.path) == ("component", "context")
    assert change.b == compute_identity(b).components["context"]


def test_only_the_declaration_id_known_is_still_a_verdict() -> None:
    a = subject_of_declaration(example("chat-hosted-model"))
    b = Subject(
        "receipt", "r", compute_identity(example("agent-step-with-tools")).declaration_id, None
    )
    result = compare(a, b)
    assert result.verdict == "different_declarations"
    assert set(result.components.values()) == {"unknown"}
    assert [c.kind for c in result.declaration] == ["declaration"]
    same = replace(b, declaration_id=a.declaration_id)
    assert compare(a, same).verdict == "identical"


def run(declaration: dict[str, Any], output: str, **observed: Any) -> Subject:
    identity = compute_identity(declaration)
    record = new_record(
        identity.declaration_id,
        issuer=KEY,
        started_at="2026-11-27T10:00:00Z",
        ended_at="2026-11-27T10:00:01Z",
        outputs=[content_ref(output)],
        observed={"response_id": f"resp-{output}", **observed},
    )
    return Subject(
        "execution", "test", identity.declaration_id, identity.components, declaration, record
    )


@pytest.mark.parametrize(
    ("b_output", "b_facts", "verdict"),
    [
        ("same answer", {"served_model": "m-1", "system_fingerprint": "fp_1"}, "identical"),
        ("other answer", {"served_model": "m-1", "system_fingerprint": "fp_1"}, "nondeterminism"),
        ("other answer", {"served_model": "m-1", "system_fingerprint": "fp_2"}, "provider_drift"),
        ("same answer", {"served_model": "m-2", "system_fingerprint": "fp_1"}, "observed_drift"),
    ],
)
def test_verdicts_for_two_runs_of_one_declaration(
    b_output: str, b_facts: dict[str, str], verdict: str
) -> None:
    decl = example("chat-hosted-model")
    a = run(decl, "same answer", served_model="m-1", system_fingerprint="fp_1")
    b = run(decl, b_output, **b_facts)
    result = compare(a, b)
    assert result.verdict == verdict
    assert result.identical == (verdict == "identical")
    assert compare(b, a).verdict == verdict
    assert compare(b, a) == result.mirrored()
    assert all("response_id" not in (c.pointer_a or "") for c in result.observed or ())


def test_different_declarations_win_over_outcome_relations() -> None:
    a = run(example("chat-hosted-model"), "x")
    other = example("chat-hosted-model")
    other["model"]["version"] = "gpt-4o-mini-2024-09-01"
    result = compare(a, run(other, "y"))
    assert result.verdict == "different_declarations"
    assert [c.path for c in result.declaration] == ["model.version"]
    assert result.outcome and result.outcome[0].path == "outcome.outputs[0]"


def test_the_json_form_is_plain_json() -> None:
    a = run(example("chat-hosted-model"), "x")
    b = run(example("rag-retrieved-chunks"), "y")
    body = compare(a, b).to_json()
    assert body["verdict"] == "different_declarations"
    assert body["declaration"]["components"]["context"] == "different"
    assert body["outcome"]["compared"] is True
    json.dumps(body)  # nothing that JSON cannot carry


# --- the list alignment against a naive oracle ----------------------------------------------


def lcs_length(a: list[int], b: list[int]) -> int:
    """Textbook dynamic programming: the oracle for the alignment's optimality."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = (
                table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
            )
    return table[-1][-1]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 5), max_size=25), st.lists(st.integers(0, 5), max_size=25))
def test_alignment_is_a_shortest_edit_script_and_symmetric(a: list[int], b: list[int]) -> None:
    blocks = align(a, b)
    kept_a = [i for i in range(len(a)) if not any(i1 <= i < i2 for i1, i2, _, _ in blocks)]
    kept_b = [j for j in range(len(b)) if not any(j1 <= j < j2 for _, _, j1, j2 in blocks)]
    assert [a[i] for i in kept_a] == [b[j] for j in kept_b]
    assert len(kept_a) == lcs_length(a, b)
    assert align(b, a) == [(j1, j2, i1, i2) for i1, i2, j1, j2 in blocks]


def test_true_is_not_taken_for_one_inside_lists() -> None:
    changes = diff_values({"x": [1, 2, 3]}, {"x": [True, 2, 3]})
    assert [(c.path, c.a, c.b) for c in changes] == [("x[0]", 1, True)]
    changes = diff_values({"x": [0, 1, 5, 1]}, {"x": [0, True, 5, 1]})
    assert [(c.path, c.a, c.b) for c in changes] == [("x[1]", 1, True)]
