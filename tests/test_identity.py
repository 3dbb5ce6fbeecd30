"""Declaration identity: a pure function of the declared values, and nothing else."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runid.canonical import loads
from runid.declaration import COMPONENTS
from runid.errors import CanonicalizationError, DeclarationError
from runid.examples import EXAMPLES, example
from runid.identity import compute_identity, declaration_id_from_components


def reference_identity(decl: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """A naive implementation straight from docs/spec.md §5, on the rfc8785 package: the oracle."""

    def tagged(tag: str, payload: bytes) -> str:
        return "sha256:" + hashlib.sha256(tag.encode() + b"\x00" + payload).hexdigest()

    components = {n: tagged(f"runid:v1:component:{n}", rfc8785.dumps(decl[n])) for n in COMPONENTS}
    return tagged("runid:v1:declaration", rfc8785.dumps(components)), components


def test_identity_matches_the_reference_implementation(example_decl: dict[str, Any]) -> None:
    ident = compute_identity(example_decl)
    expected_id, expected_components = reference_identity(example_decl)
    assert ident.declaration_id == expected_id
    assert dict(ident.components) == expected_components


def test_id_can_be_recomputed_from_component_digests_alone(example_decl: dict[str, Any]) -> None:
    ident = compute_identity(example_decl)
    assert declaration_id_from_components(ident.components) == ident.declaration_id


def test_component_digests_are_checked_before_use() -> None:
    ident = compute_identity(example("chat-hosted-model"))
    broken = dict(ident.components, model="sha256:xyz")
    with pytest.raises(DeclarationError) as info:
        declaration_id_from_components(broken)
    assert info.value.problems[0].pointer == "/model"
    with pytest.raises(DeclarationError):
        declaration_id_from_components({"model": ident.components["model"]})


def test_key_order_whitespace_and_number_spelling_do_not_matter() -> None:
    decl = example("rag-retrieved-chunks")
    text = json.dumps(decl)
    respelled = json.dumps(decl, indent=3).replace('"value": 0.2', '"value": 2.0E-1')
    respelled = respelled.replace('"value": 256', '"value": 25.6e1')
    assert respelled != text
    assert compute_identity(loads(text)) == compute_identity(loads(respelled))


def test_a_one_parameter_change_changes_the_id_and_one_component() -> None:
    decl = example("chat-hosted-model")
    before = compute_identity(decl)
    decl["parameters"]["temperature"]["value"] = 0.7
    after = compute_identity(decl)
    assert after.declaration_id != before.declaration_id
    changed = [c for c in COMPONENTS if before.components[c] != after.components[c]]
    assert changed == ["parameters"]


def test_declared_and_defaulted_are_different_conditions() -> None:
    decl = example("chat-hosted-model")
    before = compute_identity(decl).declaration_id
    decl["parameters"]["n"]["source"] = "declared"  # same value, but now the caller set it
    assert compute_identity(decl).declaration_id != before


def test_absence_reasons_are_distinguished() -> None:
    decl = example("chat-hosted-model")
    decl["context"] = {"absent": "not_applicable"}
    a = compute_identity(decl).declaration_id
    decl["context"] = {"absent": "not_recorded"}
    assert compute_identity(decl).declaration_id != a


def test_an_invalid_declaration_gets_no_identity() -> None:
    decl = example("chat-hosted-model")
    decl["parameters"]["temperature"]["value"] = "0.2"
    with pytest.raises(DeclarationError):
        compute_identity(decl)


@pytest.mark.parametrize(
    ("value", "code"),
    [(float("nan"), "E_NAN"), (float("inf"), "E_NAN"), (2**53, "E_INTEGER_RANGE")],
)
def test_json_level_faults_are_named_with_their_pointer(value: Any, code: str) -> None:
    decl = example("local-transformers")
    decl["runtime"]["determinism"]["seed"] = value
    with pytest.raises(CanonicalizationError) as info:
        compute_identity(decl)
    assert info.value.code == code
    assert info.value.pointer == "/runtime/determinism/seed"


def test_a_lone_surrogate_is_rejected_with_its_pointer() -> None:
    decl = example("chat-hosted-model")
    decl["model"]["name"] = "gpt\ud800"
    with pytest.raises(CanonicalizationError) as info:
        compute_identity(decl)
    assert info.value.code == "E_LONE_SURROGATE"
    assert info.value.pointer == "/model/name"


def test_input_is_not_modified(example_decl: dict[str, Any]) -> None:
    before = copy.deepcopy(example_decl)
    compute_identity(example_decl)
    assert example_decl == before
    assert json.dumps(example_decl) == json.dumps(before)  # 1.0 stays 1.0 in the caller's dict


# --- properties ------------------------------------------------------------------------------


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every leaf path of a JSON value."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in paths(v, (*prefix, k))] or [prefix]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in paths(v, (*prefix, i))] or [prefix]
    return [prefix]


def get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def put(value: Any, path: tuple[Any, ...], new: Any) -> None:
    get(value, path[:-1])[path[-1]] = new


def shuffled(value: Any, rnd: Any) -> Any:
    if isinstance(value, dict):
        keys = list(value)
        rnd.shuffle(keys)
        return {k: shuffled(value[k], rnd) for k in keys}
    if isinstance(value, list):
        return [shuffled(v, rnd) for v in value]
    return value


def changed_leaf(leaf: Any) -> Any:
    """A different value of the same JSON type."""
    if isinstance(leaf, bool):
        return not leaf
    if isinstance(leaf, int | float):
        return leaf + 1
    if isinstance(leaf, str):
        # Keep digests and media types well-formed: flip the last character within hex.
        return leaf[:-1] + ("0" if leaf[-1:] != "0" else "1") if leaf else "x"
    if leaf is None:
        return 0
    return leaf


EXAMPLE_NAMES = sorted(EXAMPLES)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(EXAMPLE_NAMES), st.randoms(use_true_random=False))
def test_member_order_never_changes_the_id(name: str, rnd: Any) -> None:
    decl = example(name)
    assert compute_identity(shuffled(decl, rnd)) == compute_identity(decl)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(EXAMPLE_NAMES), st.data())
def test_integral_numbers_may_be_spelled_as_floats(name: str, data: st.DataObject) -> None:
    decl = example(name)
    ints = [p for p in paths(decl) if type(get(decl, p)) is int]
    if not ints:
        return
    chosen = data.draw(st.lists(st.sampled_from(ints), unique=True, min_size=1))
    respelled = copy.deepcopy(decl)
    for p in chosen:
        put(respelled, p, float(get(decl, p)))
    assert compute_identity(respelled) == compute_identity(decl)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(EXAMPLE_NAMES), st.data())
def test_changing_any_leaf_changes_the_id_or_is_rejected(name: str, data: st.DataObject) -> None:
    decl = example(name)
    base = compute_identity(decl)
    path = data.draw(st.sampled_from([p for p in paths(decl) if p]))
    leaf = get(decl, path)
    new = changed_leaf(leaf)
    if new == leaf:
        return  # an empty container: nothing to change
    put(decl, path, new)
    try:
        after = compute_identity(decl)
    except DeclarationError:
        return  # e.g. a size pushed out of range: no identity at all is also a change
    assert after.declaration_id != base.declaration_id
    diverged = [c for c in COMPONENTS if after.components[c] != base.components[c]]
    assert diverged == [path[0]]
    assert (after.declaration_id, dict(after.components)) == reference_identity(decl)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(EXAMPLE_NAMES), st.randoms(use_true_random=False), st.data())
def test_canonical_bytes_from_the_identity_equal_canonicalize(
    name: str, rnd: Any, data: st.DataObject
) -> None:
    # Capture stores the declaration's bytes as put together from its components' bytes.
    from runid.canonical import canonicalize
    from runid.identity import identity_and_canonical

    class Text(str):
        pass

    decl = shuffled(example(name), rnd)
    for p in data.draw(st.lists(st.sampled_from([p for p in paths(decl) if p]), max_size=3)):
        if type(get(decl, p)) is int:
            put(decl, p, float(get(decl, p)))
    if isinstance(decl["instructions"].get("template"), dict):
        decl["instructions"]["template"]["variables"] = {
            "\ue000": [1e21, 1e-7, 0.1, -0.0, 1.0, 2**53 - 1],
            "\U0001f600": {"é": Text("x"), "b": (1, None, True)},
            "k": '\u2028\x00"\\',
        }
    assert identity_and_canonical(decl) == (compute_identity(decl), canonicalize(decl))


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_canonical_bytes_from_the_identity_of_each_example(name: str) -> None:
    from runid.canonical import canonicalize
    from runid.identity import identity_and_canonical

    decl = example(name)
    assert identity_and_canonical(decl) == (compute_identity(decl), canonicalize(decl))
    with pytest.raises(DeclarationError):
        identity_and_canonical({**decl, "extra": 1})
