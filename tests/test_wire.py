"""runid.wire: the TypedDicts match the documents runid writes, and the generated part is current.

A small run-time reading of a TypedDict (required, optional and unknown keys; Literal, unions,
lists, open objects) checks real documents against the types: every example declaration, a
record, its envelope and statement, receipts with and without the declaration, diff changes and
policy results. The public signatures of the log, receipts, diff and policy name the types, and
none of them returns a document as a plain ``dict[str, Any]``.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import pkgutil
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, NotRequired, Union, get_args, get_origin, get_type_hints

import pytest

from runid import wire
from runid._internal.wiregen import MARKER, wire_text
from runid.diff import diff_declarations
from runid.digest import content_ref
from runid.envelope import sign_record, statement
from runid.keys import SigningKey
from runid.policy import evaluate, parse_policy
from runid.receipt import make_receipt
from runid.record import new_record

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples" / "declarations").glob("*.json"))
KEY = SigningKey("runid.example/worker", bytes(32))
START, END = "2025-03-01T12:00:00Z", "2025-03-01T12:00:01Z"
DECLARATION_ID = "sha256:" + "ab" * 32


def problems(value: Any, kind: Any, at: str = "") -> list[str]:
    """Where ``value`` does not have the type ``kind`` (empty when it does)."""
    origin = get_origin(kind)
    if kind is Any:
        return []
    if origin is NotRequired:
        return problems(value, get_args(kind)[0], at)
    if origin is Literal:
        return [] if value in get_args(kind) else [f"{at}: {value!r} not in {get_args(kind)}"]
    if origin in (Union, types.UnionType):
        found = [problems(value, option, at) for option in get_args(kind)]
        return [] if [] in found else [f"{at}: no option of {kind} fits: {found}"]
    if typing.is_typeddict(kind):
        if not isinstance(value, dict):
            return [f"{at}: expected an object for {kind.__name__}"]
        hints = get_type_hints(kind, include_extras=True)
        out = [f"{at}/{k}: unknown member" for k in value if k not in hints]
        out += [f"{at}/{k}: missing" for k in kind.__required_keys__ if k not in value]
        for key, hint in hints.items():
            if key in value:
                out += problems(value[key], hint, f"{at}/{key}")
        return out
    if origin is list:
        if not isinstance(value, list):
            return [f"{at}: expected an array"]
        item_kind = get_args(kind)[0]
        return [p for i, item in enumerate(value) for p in problems(item, item_kind, f"{at}/{i}")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{at}: expected an object"]
        value_kind = get_args(kind)[1]
        return [p for k, v in value.items() for p in problems(v, value_kind, f"{at}/{k}")]
    # A JSON number fits float whether it is written 1 or 1.0; bool is never a number.
    ok = type(value) in (int, float) if kind is float else type(value) is kind
    return [] if ok else [f"{at}: {value!r} is not {kind.__name__}"]


def record(**args: Any) -> dict[str, Any]:
    return new_record(DECLARATION_ID, issuer=KEY, started_at=START, ended_at=END, **args)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_declaration_is_a_wire_declaration(path: Path) -> None:
    assert problems(json.loads(path.read_text("utf-8")), wire.Declaration) == []


def test_the_reading_of_a_typeddict_rejects_what_the_type_does_not_allow() -> None:
    good = json.loads(EXAMPLES[0].read_text("utf-8"))
    assert problems({**good, "extra": 1}, wire.Declaration) == ["/extra: unknown member"]
    assert problems({**good, "spec": "runid/v2"}, wire.Declaration) != []
    assert problems({**good, "model": {"absent": "lost"}}, wire.Declaration) != []
    missing = {k: v for k, v in good.items() if k != "tools"}
    assert problems(missing, wire.Declaration) == ["/tools: missing"]


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"outputs": [content_ref(b"hi")], "observed": {"usage": {"input_tokens": 3}}},
        {"error": {"type": "timeout"}, "parent": "sha256:" + "cd" * 32, "step": 0},
        {"replay_of": "sha256:" + "ef" * 32},
    ],
)
def test_records_envelopes_and_statements_are_wire_types(args: dict[str, Any]) -> None:
    signed = record(**args)
    assert problems(signed, wire.Record) == []
    assert problems(sign_record(signed, KEY), wire.Envelope) == []
    assert problems(statement(signed), wire.Statement) == []


@pytest.mark.parametrize("included", [True, False])
def test_receipts_are_wire_receipts(included: bool) -> None:
    declaration = json.loads(EXAMPLES[0].read_text("utf-8")) if included else None
    proof = b"c2sp.org/tlog-proof@v1\nindex 0\n\n"
    body = make_receipt(sign_record(record(), KEY), proof, declaration)
    assert problems(json.loads(body), wire.Receipt) == []


def test_diff_changes_and_policy_results_are_wire_types() -> None:
    a = json.loads(EXAMPLES[0].read_text("utf-8"))
    b = {**a, "tools": {"absent": "undisclosed"}, "runtime": {"absent": "not_recorded"}}
    changes = [change.to_json() for change in diff_declarations(a, b)]
    changes += [change.mirrored().to_json() for change in diff_declarations(a, b)]
    assert changes and all(problems(change, wire.DiffChange) == [] for change in changes)
    policy = parse_policy(
        b"policy: runid/policy/v1\nname: p\nparameters:\n  seed: {declared: true}\n"
    )
    results = [result.to_json() for result in evaluate(policy, a, record()).results]
    assert results and all(problems(result, wire.PolicyResult) == [] for result in results)


def test_optional_members_are_not_required() -> None:
    assert wire.Record.__optional_keys__ == {"replay_of"}
    assert wire.Message.__optional_keys__ == {"name", "tool_call_id", "tool_calls"}
    assert wire.Declaration.__optional_keys__ == frozenset()


def test_the_generated_part_is_current_and_the_hand_written_part_is_kept() -> None:
    current = (ROOT / "src" / "runid" / "wire.py").read_text("utf-8")
    assert wire_text(current) == current
    assert current.count("\n" + MARKER) == 1
    assert set(wire.__all__) == {
        name for name, value in vars(wire).items() if typing.is_typeddict(value)
    } | {"Digest", "Timestamp"}


# --- the signatures of the log, receipts, diff and policy use the wire types --------------------

#: Public entry points, the parameter (or ``return``, or dataclass field) that carries a document,
#: and the wire type it must name. A verifier's *input* stays ``Mapping[str, Any]`` or ``object``
#: where the function validates or verifies it itself; what it returns, or trusts, is typed.
WIRE_SIGNATURES = [
    ("runid.log.Entry", "envelope", wire.Envelope),
    ("runid.log.Entry", "record", wire.Record),
    ("runid.log.Log.sign", "return", wire.Envelope),
    ("runid.log.Log.declaration", "return", wire.Declaration),
    ("runid.log.Log.stored_declaration", "return", wire.Declaration),
    ("runid.receipt.make_receipt", "envelope", wire.Envelope),
    ("runid.receipt.make_receipt", "declaration", wire.Declaration),
    ("runid.receipt.VerifiedReceipt", "record", wire.Record),
    ("runid.envelope.sign_record", "return", wire.Envelope),
    ("runid.envelope.statement", "return", wire.Statement),
    ("runid.envelope.verify_envelope", "return", wire.Record),
    ("runid.record.new_record", "return", wire.Record),
    ("runid.diff.Side.declaration", "return", wire.Declaration),
    ("runid.diff.Side.record", "return", wire.Record),
    ("runid.diff.Change.to_json", "return", wire.DiffChange),
    ("runid.resolve.Subject", "declaration", wire.Declaration),
    ("runid.resolve.Subject", "record", wire.Record),
    ("runid.policy.RuleResult.to_json", "return", wire.PolicyResult),
]

#: Modules whose public functions, methods and dataclass fields must not return or hold a
#: document as ``dict[str, Any]``; the exceptions are not documents with a wire type.
TYPED_MODULES = ("runid.log", "runid.receipt", "runid.diff", "runid.policy")
UNTYPED_ALLOWED = {
    "runid.diff.json_schema",  # a JSON Schema
    "runid.policy.json_schema",
    "runid.diff.Comparison.to_json",  # the body of the diff report (no TypedDict generated)
    "runid.policy.Policy.document",  # the policy file (its TypedDict is not generated)
}


def _mentions(hint: Any, kind: Any) -> bool:
    """True when the type ``hint`` is ``kind`` or has it among its arguments, at any depth."""
    return bool(hint == kind) or any(_mentions(arg, kind) for arg in get_args(hint))


@pytest.mark.parametrize(
    ("where", "member", "kind"),
    WIRE_SIGNATURES,
    ids=lambda value: value.__name__ if isinstance(value, type) else str(value),
)
def test_the_entry_points_name_the_wire_types(where: str, member: str, kind: Any) -> None:
    target = pkgutil.resolve_name(where)
    hint = get_type_hints(target.fget if isinstance(target, property) else target).get(member)
    assert hint is not None, f"{where} has no annotated {member}"
    assert _mentions(hint, kind), f"{where} {member}: {hint}, not {kind.__name__}"


def _public_members(module: Any) -> Iterator[tuple[str, Any, str]]:
    """``(qualified name, object, member)`` for every public function's return, every public
    method's return and every public dataclass field of ``module``."""
    for name in module.__all__:
        value = getattr(module, name)
        qualified = f"{module.__name__}.{name}"
        if inspect.isfunction(value):
            yield qualified, value, "return"
        elif inspect.isclass(value):
            if dataclasses.is_dataclass(value):
                for field in dataclasses.fields(value):
                    yield f"{qualified}.{field.name}", value, field.name
            for attr, member in vars(value).items():
                method = member.fget if isinstance(member, property) else member
                if not attr.startswith("_") and inspect.isfunction(method):
                    yield f"{qualified}.{attr}", method, "return"


def test_no_entry_point_returns_a_document_as_a_plain_dict() -> None:
    untyped = dict[str, Any]
    found, seen = [], set()
    for module_name in TYPED_MODULES:
        for qualified, target, member in _public_members(importlib.import_module(module_name)):
            seen.add(qualified)
            hint = get_type_hints(target).get(member)
            if _mentions(hint, untyped) and qualified not in UNTYPED_ALLOWED:
                found.append(f"{qualified}: {hint}")
    assert found == [], "type these with runid.wire:\n  " + "\n  ".join(found)
    assert seen >= UNTYPED_ALLOWED, "stale exceptions: " + ", ".join(UNTYPED_ALLOWED - seen)
