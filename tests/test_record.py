"""Execution record v1: the model, its validation and the content-derived execution id."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runid.digest import content_ref
from runid.errors import InputError
from runid.keys import SigningKey
from runid.record import (
    EXECUTION_TAG,
    RECORD_SPEC,
    execution_id,
    format_timestamp,
    is_valid_record,
    json_schema,
    new_record,
    record_problems,
    reference_markdown,
    validate_record,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEY = SigningKey("runid.example/worker", bytes(range(32)))
DECLARATION_ID = "sha256:" + "d3" * 32
OTHER_ID = "sha256:" + "7e" * 32
NONCE = "0123456789abcdef0123456789abcdef"
START = "2025-03-01T12:00:00.000000Z"
END = "2025-03-01T12:00:01.250000Z"
ANSWER = content_ref("Refunds take 5 business days; see kb/refunds.md.")

# A golden vector: these inputs give exactly this execution id. Other implementations check
# themselves against it; a change here is a change of the v1 format (forbidden once released).
GOLDEN_ID = "sha256:a96f5a0114050156abf69a97ec5e97315dc3f6f3e99d633cebc6898f61545c17"


BASE_OBSERVED = {
    "served_model": {"absent": "not_applicable"},
    "system_fingerprint": {"absent": "not_applicable"},
    "response_id": {"absent": "not_applicable"},
    "usage": {"absent": "not_applicable"},
    "finish_reason": {"absent": "not_applicable"},
}


def reference_execution_id(record: dict[str, Any]) -> str:
    """Straight from the spec, on the rfc8785 package: the oracle."""
    body = {k: v for k, v in record.items() if k != "execution_id"}
    return "sha256:" + hashlib.sha256(b"runid:v1:execution\x00" + rfc8785.dumps(body)).hexdigest()


def make(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "issuer": KEY,
        "started_at": START,
        "ended_at": END,
        "outputs": [ANSWER],
        "observed": {
            "served_model": "gpt-4o-2024-08-06",
            "system_fingerprint": "fp_6b68a8204b",
            "finish_reason": "stop",
            "usage": {"input_tokens": 812, "output_tokens": 9, "other": {"cached_input_tokens": 0}},
        },
        "nonce": NONCE,
    }
    args.update(overrides)
    return new_record(DECLARATION_ID, **args)


def codes(record: object) -> list[tuple[str, str]]:
    return [(p.pointer, p.code) for p in record_problems(record)]


def resealed(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with its execution id recomputed (for tests of other rules)."""
    return {**record, "execution_id": reference_execution_id(record)}


# --- building and the execution id -------------------------------------------------------------


def test_new_record_builds_a_valid_record_with_every_member() -> None:
    record = make()
    assert record_problems(record) == []
    assert is_valid_record(record)
    validate_record(record)
    assert record["spec"] == RECORD_SPEC
    assert record["issuer"] == {"name": KEY.public_key.name, "key_id": KEY.public_key.key_id}
    assert record["parent"] == {"absent": "not_applicable"}
    assert record["outcome"] == {"status": "ok", "outputs": [ANSWER]}
    assert record["observed"]["response_id"] == {"absent": "not_recorded"}
    assert set(record) == {
        "spec",
        "declaration_id",
        "execution_id",
        "issuer",
        "started_at",
        "ended_at",
        "nonce",
        "observed",
        "parent",
        "outcome",
    }


def test_execution_id_matches_the_reference_and_the_golden_vector() -> None:
    record = make()
    assert record["execution_id"] == reference_execution_id(record)
    assert execution_id(record) == record["execution_id"]
    assert record["execution_id"] == GOLDEN_ID
    assert EXECUTION_TAG == "runid:v1:execution"


def test_execution_id_ignores_its_own_member_and_needs_a_valid_body() -> None:
    record = make()
    body = {k: v for k, v in record.items() if k != "execution_id"}
    assert execution_id(body) == record["execution_id"]
    assert execution_id({**record, "execution_id": OTHER_ID}) == record["execution_id"]
    with pytest.raises(InputError) as info:
        execution_id({**body, "nonce": "short"})
    assert info.value.code == "E_INVALID_RECORD"
    assert "/nonce" in info.value.message


def test_two_occurrences_of_the_same_run_get_two_ids() -> None:
    first = new_record(DECLARATION_ID, issuer=KEY, started_at=START, ended_at=END)
    second = new_record(DECLARATION_ID, issuer=KEY, started_at=START, ended_at=END)
    assert first["nonce"] != second["nonce"]
    assert first["execution_id"] != second["execution_id"]
    assert len(first["nonce"]) == 32


def test_the_same_occurrence_gives_the_same_id_whatever_the_spelling() -> None:
    record = make()
    text = json.dumps(record, indent=2, sort_keys=False)
    respelled = json.loads(text.replace('"output_tokens": 9', '"output_tokens": 9.0'))
    shuffled = dict(reversed(list(respelled.items())))
    assert shuffled["observed"]["usage"]["output_tokens"] == 9.0
    assert execution_id(shuffled) == record["execution_id"]
    assert record_problems({**shuffled, "execution_id": record["execution_id"]}) == []


CHANGES: list[tuple[str, Any]] = [
    ("declaration_id", OTHER_ID),
    ("started_at", "2025-03-01T12:00:00.000001Z"),
    ("ended_at", "2025-03-01T12:00:01.25Z"),  # the same instant, spelled differently
    ("nonce", "f" * 32),
    ("issuer", {"name": "runid.example/other", "key_id": OTHER_ID}),
    ("observed", {**BASE_OBSERVED, "served_model": {"absent": "undisclosed"}}),
    ("parent", {"execution_id": OTHER_ID, "step": 0}),
    ("outcome", {"status": "ok", "outputs": []}),
    (
        "outcome",
        {
            "status": "error",
            "outputs": [ANSWER],
            "error": {"type": "timeout", "message": {"absent": "not_recorded"}},
        },
    ),
]


@pytest.mark.parametrize(("field", "value"), CHANGES)
def test_any_change_of_a_member_changes_the_id(field: str, value: Any) -> None:
    record = make()
    changed = {**record, field: value}
    assert execution_id(changed) != record["execution_id"]
    assert codes(changed) == [("/execution_id", "E_EXECUTION_ID")]
    assert record_problems(resealed(changed)) == []


@pytest.mark.parametrize(
    "path",
    [
        ("observed", "served_model"),
        ("observed", "system_fingerprint"),
        ("observed", "finish_reason"),
        ("observed", "usage", "input_tokens"),
        ("observed", "usage", "output_tokens"),
        ("outcome", "outputs", 0, "digest"),
        ("outcome", "outputs", 0, "size"),
    ],
)
def test_any_change_of_a_nested_value_changes_the_id(path: tuple[Any, ...]) -> None:
    record = make()
    changed = copy.deepcopy(record)
    target = changed
    for part in path[:-1]:
        target = target[part]
    old = target[path[-1]]
    target[path[-1]] = (
        old + 1
        if isinstance(old, int)
        else "sha256:" + "0" * 64
        if old.startswith("sha256:")
        else old + "x"
    )
    assert execution_id(changed) != record["execution_id"]


def test_builder_fills_what_was_not_observed_and_takes_datetimes() -> None:
    start = datetime(2025, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    record = new_record(
        DECLARATION_ID,
        issuer=KEY.public_key,
        started_at=start,
        ended_at=start + timedelta(milliseconds=1500),
        observed={"usage": {"output_tokens": 3}},
    )
    assert record["started_at"] == "2025-03-01T12:00:00.000000Z"
    assert record["ended_at"] == "2025-03-01T12:00:01.500000Z"
    assert record["observed"]["usage"] == {
        "input_tokens": {"absent": "not_recorded"},
        "output_tokens": 3,
        "other": {},
    }
    assert record["observed"]["served_model"] == {"absent": "not_recorded"}
    assert record["outcome"] == {"status": "ok", "outputs": []}


def test_builder_error_outcome_and_parent_link() -> None:
    parent = make()
    step = make(
        outputs=[],
        error={"type": "ToolTimeout"},
        parent=parent["execution_id"],
        step=2,
        observed={"usage": {"absent": "not_applicable"}},
    )
    assert step["outcome"] == {
        "status": "error",
        "outputs": [],
        "error": {"type": "ToolTimeout", "message": {"absent": "not_recorded"}},
    }
    assert step["parent"] == {"execution_id": parent["execution_id"], "step": 2}
    assert record_problems(step) == []


@pytest.mark.parametrize(("parent", "step"), [(OTHER_ID, None), (None, 0)])
def test_builder_wants_parent_and_step_together(parent: str | None, step: int | None) -> None:
    with pytest.raises(InputError) as info:
        make(parent=parent, step=step)
    assert info.value.code == "E_REQUIRED"


def test_builder_rejects_what_makes_no_valid_record() -> None:
    with pytest.raises(InputError) as info:
        make(ended_at="2025-03-01T11:00:00Z")
    assert info.value.code == "E_INVALID_RECORD"
    assert "/ended_at: E_RANGE" in info.value.message
    with pytest.raises(InputError) as info:
        make(observed={"served_model": "", "colour": "blue"})
    assert info.value.code == "E_INVALID_RECORD"
    assert "(and 1 more)" in info.value.message
    with pytest.raises(InputError) as info:
        make(observed={"served_model": "bad \ud800"})
    assert "E_LONE_SURROGATE" in info.value.message


def test_format_timestamp_wants_an_aware_datetime() -> None:
    assert format_timestamp(datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == (
        "2025-01-02T03:04:05.000006Z"
    )
    with pytest.raises(InputError) as info:
        format_timestamp(datetime(2025, 1, 2))
    assert info.value.code == "E_FORMAT"


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stamp",
    [
        "2025-03-01T12:00:00Z",
        "2025-03-01T12:00:00.1Z",
        "2025-03-01T12:00:00.123456789Z",
        "2024-02-29T23:59:59Z",
        "2000-02-29T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999999Z",
    ],
)
def test_valid_timestamps(stamp: str) -> None:
    record = resealed({**make(), "started_at": stamp, "ended_at": "9999-12-31T23:59:59.999999999Z"})
    assert record_problems(record) == []


@pytest.mark.parametrize(
    "stamp",
    [
        "2025-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2025-04-31T00:00:00Z",
        "2025-13-01T00:00:00Z",
        "2025-00-01T00:00:00Z",
        "2025-03-00T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "2025-03-01T24:00:00Z",
        "2025-03-01T12:60:00Z",
        "2025-03-01T12:00:60Z",
        "2025-03-01T12:00:00+00:00",
        "2025-03-01T12:00:00z",
        "2025-03-01t12:00:00Z",
        "2025-03-01 12:00:00Z",
        "2025-03-01T12:00:00.Z",
        "2025-03-01T12:00:00.1234567890Z",
        "2025-03-01T12:00Z",
        "20250301T120000Z",
        "\uff12\uff10\uff12\uff15-03-01T12:00:00Z",  # fullwidth digits
        "2025-03-01T12:00:00Z\n",
        "",
    ],
)
def test_invalid_timestamps(stamp: str) -> None:
    record = resealed({**make(), "started_at": stamp})
    assert ("/started_at", "E_FORMAT") in codes(record) or ("/started_at", "E_EMPTY") in codes(
        record
    )
    assert not is_valid_record(record)


def test_ended_at_must_not_be_before_started_at_compared_as_instants() -> None:
    base = make()
    same = resealed(
        {**base, "started_at": "2025-03-01T12:00:00.5Z", "ended_at": "2025-03-01T12:00:00.500Z"}
    )
    assert record_problems(same) == []
    later = resealed(
        {**base, "started_at": "2025-03-01T12:00:00.25Z", "ended_at": "2025-03-01T12:00:00.3Z"}
    )
    assert record_problems(later) == []
    earlier = resealed(
        {**base, "started_at": "2025-03-01T12:00:00.5Z", "ended_at": "2025-03-01T12:00:00.45Z"}
    )
    assert codes(earlier) == [("/ended_at", "E_RANGE")]
    assert not is_valid_record(earlier)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda r: r.update(spec="runid/v1"), [("/spec", "E_CONST")]),
        (lambda r: r.pop("nonce"), [("/nonce", "E_REQUIRED")]),
        (lambda r: r.update(colour="blue"), [("/colour", "E_UNKNOWN_FIELD")]),
        (lambda r: r.update(nonce="0123456789ABCDEF0123456789ABCDEF"), [("/nonce", "E_FORMAT")]),
        (lambda r: r.update(declaration_id="sha256:abc"), [("/declaration_id", "E_FORMAT")]),
        (lambda r: r["issuer"].update(name="has space"), [("/issuer/name", "E_FORMAT")]),
        (lambda r: r["issuer"].update(name="a+b"), [("/issuer/name", "E_FORMAT")]),
        (
            lambda r: r["observed"]["usage"].update(input_tokens=-1),
            [("/observed/usage/input_tokens", "E_RANGE")],
        ),
        (
            lambda r: r["observed"]["usage"].update(input_tokens=1.5),
            [("/observed/usage/input_tokens", "E_TYPE")],
        ),
        (
            lambda r: r["observed"]["usage"].update(input_tokens=True),
            [("/observed/usage/input_tokens", "E_TYPE")],
        ),
        (
            lambda r: r["observed"]["usage"].update(input_tokens=2**53),
            [("/observed/usage/input_tokens", "E_INTEGER_RANGE")],
        ),
        (
            lambda r: r["observed"]["usage"]["other"].update({"Cached": 1}),
            [("/observed/usage/other/Cached", "E_FORMAT")],
        ),
        (
            lambda r: r["observed"].update(finish_reason={"absent": "maybe"}),
            [("/observed/finish_reason/absent", "E_ENUM")],
        ),
        (lambda r: r["observed"].pop("response_id"), [("/observed/response_id", "E_REQUIRED")]),
        (
            lambda r: r.update(parent={"execution_id": OTHER_ID, "step": -1}),
            [("/parent/step", "E_RANGE")],
        ),
        (lambda r: r.update(parent={"execution_id": OTHER_ID}), [("/parent/step", "E_REQUIRED")]),
        (lambda r: r.update(parent=None), [("/parent", "E_TYPE")]),
        (
            lambda r: r["outcome"].update(status="partial"),
            [("/outcome/status", "E_ENUM")],
        ),
        (
            lambda r: r["outcome"].update(
                error={"type": "x", "message": {"absent": "not_recorded"}}
            ),
            [("/outcome/error", "E_UNKNOWN_FIELD")],
        ),
        (lambda r: r["outcome"].update(status="error"), [("/outcome/error", "E_REQUIRED")]),
        (lambda r: r["outcome"].pop("status"), [("/outcome/status", "E_REQUIRED")]),
        (
            lambda r: r["outcome"]["outputs"][0].update(media_type="Text/Plain"),
            [("/outcome/outputs/0/media_type", "E_FORMAT")],
        ),
        (
            lambda r: r["observed"].update(served_model="x\udc00y"),
            [("/observed/served_model", "E_LONE_SURROGATE")],
        ),
    ],
)
def test_problems_have_pointers_and_stable_codes(
    change: Any, expected: list[tuple[str, str]]
) -> None:
    record = copy.deepcopy(make())
    change(record)
    assert codes(record) == expected
    assert not is_valid_record(record)
    with pytest.raises(InputError) as info:
        validate_record(record)
    assert info.value.code == "E_INVALID_RECORD"
    assert expected[0][0] in info.value.message


def test_an_error_outcome_without_outputs_is_valid() -> None:
    record = resealed(
        {
            **make(),
            "outcome": {
                "status": "error",
                "outputs": [],
                "error": {"type": "RateLimitError", "message": content_ref("429 Too Many")},
            },
        }
    )
    assert record_problems(record) == []


@pytest.mark.parametrize("value", [None, [], "record", 3, {"spec": "runid/record/v1"}])
def test_non_records_are_named_not_crashed_on(value: object) -> None:
    assert record_problems(value)
    assert not is_valid_record(value)
    with pytest.raises(InputError):
        validate_record(value)


# --- schema and docs ----------------------------------------------------------------------------


def test_the_json_schema_accepts_records_and_rejects_structural_faults() -> None:
    validator = jsonschema.Draft202012Validator(json_schema())
    jsonschema.Draft202012Validator.check_schema(json_schema())
    record = make()
    step = make(error={"type": "timeout"}, parent=record["execution_id"], step=0, outputs=[])
    assert list(validator.iter_errors(record)) == []
    assert list(validator.iter_errors(step)) == []
    for broken in (
        {**record, "colour": 1},
        {**record, "started_at": "yesterday"},
        {**record, "outcome": {"status": "ok", "outputs": [], "error": {"type": "x"}}},
        {**record, "outcome": {"status": "error", "outputs": []}},
    ):
        assert list(validator.iter_errors(broken)), broken


def test_reference_markdown_lists_every_field() -> None:
    text = reference_markdown()
    for field in ("declaration_id", "observed.usage.other", "parent.step", "outcome.error.type"):
        assert f"`{field}`" in text


# --- properties ---------------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copied = copy.copy(value)
    copied[path[0]] = _replace(value[path[0]], path[1:], new)
    return copied


BASE = make()
BASE_PATHS = _paths(BASE)


@SETTINGS
@given(st.sampled_from(BASE_PATHS), JSON)
def test_fast_and_slow_validation_agree_on_mutated_records(path: tuple[Any, ...], new: Any) -> None:
    mutated = _replace(BASE, path, new)
    found = record_problems(mutated)
    assert is_valid_record(mutated) == (found == [])
    resealed_ok = isinstance(mutated, dict)
    if resealed_ok and not [p for p in found if p.code != "E_EXECUTION_ID"]:
        # Structurally valid: resealing makes it fully valid, with the reference's id.
        assert record_problems(resealed(mutated)) == []


@SETTINGS
@given(JSON)
def test_arbitrary_json_gives_problems_not_crashes(value: Any) -> None:
    assert record_problems(value)
    assert not is_valid_record(value)


@SETTINGS
@given(
    served=st.one_of(st.text(min_size=1, max_size=20), st.just({"absent": "undisclosed"})),
    tokens=st.integers(0, 2**53 - 1),
    outputs=st.lists(st.binary(max_size=40), max_size=4),
    micros=st.integers(0, 10**12),
    step=st.integers(0, 1000),
)
def test_generated_records_are_valid_and_their_ids_survive_a_json_round_trip(
    served: Any, tokens: int, outputs: list[bytes], micros: int, step: int
) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    record = new_record(
        DECLARATION_ID,
        issuer=KEY,
        started_at=start,
        ended_at=start + timedelta(microseconds=micros % 997),
        outputs=[content_ref(data, "application/octet-stream") for data in outputs],
        observed={"served_model": served, "usage": {"input_tokens": tokens}},
        parent=OTHER_ID,
        step=step,
    )
    assert record_problems(record) == []
    assert record["execution_id"] == reference_execution_id(record)
    again = orjson.loads(orjson.dumps(record))
    assert execution_id(again) == record["execution_id"]


def test_the_spec_part_holds_the_current_field_reference() -> None:
    root = Path(__file__).resolve().parent.parent
    spec = root / "docs" / "spec.md"
    part = root / "docs" / "spec-parts" / "12-records.md"
    texts = [p.read_text("utf-8") for p in (spec, part) if p.exists()]
    begin, end = (
        "<!-- BEGIN GENERATED: record-reference -->",
        "<!-- END GENERATED: record-reference -->",
    )
    found = [t.split(begin, 1)[1].split(end, 1)[0] for t in texts if begin in t]
    assert found, "the record reference is in docs/spec.md or docs/spec-parts/12-records.md"
    for text in found:
        assert text.strip() == reference_markdown().strip()
