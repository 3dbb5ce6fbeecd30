"""Policy check: approved conditions for runs, evaluated per rule against declarations.

A policy (``docs/spec.md`` §17) is a small versioned YAML or JSON document that states the
conditions a run must meet: a pinned model, approved instruction digests, allowed parameter
ranges, approved index snapshots, components that must be present, allowed tools, runtime
constraints and observed facts. Every condition is one **named rule** (``model.version``,
``parameters.temperature.max``, ``components.runtime``...), and evaluating a policy against one run
gives each rule a result: ``pass``, ``fail`` (with what was expected, what was found and the JSON
Pointer of the value in the declaration or record) or ``not_applicable``.

The one principle behind every rule: a rule is *not applicable* when the thing it constrains is
declared not part of the run (``{"absent": "not_applicable"}``, a parameter or library the run does
not have, a record that is not at hand); it *fails* when the thing is part of the run but its value
is unknown (``not_recorded``, ``undisclosed``, ``provider_default``), because compliance cannot be
shown from the record.

This module is pure: it parses bytes and evaluates values, and reads no file, log or network.

>>> from runid.examples import example
>>> policy = parse_policy(b'''
... policy: runid/policy/v1
... name: support-bot
... parameters:
...   temperature: {max: 0.3}
...   seed: {declared: true}
... ''')
>>> result = evaluate(policy, example("chat-hosted-model"))
>>> for rule in result.results:
...     print(rule.rule, rule.status, rule.message)
parameters.seed.declared fail the caller did not set it (provider default)
parameters.temperature.max pass 0.2 ≤ 0.3
>>> result.status
'fail'
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, Literal

import yaml

from . import canonical
from ._internal.schema import (
    ABSENCE_REASONS,
    AnyJSON,
    Arr,
    Bool,
    MapOf,
    Named,
    Node,
    Num,
    Obj,
    OneOf,
    Str,
    describe,
    field_rows,
    markdown_table,
    pointer,
)
from .declaration import COMPONENTS, DIGEST, KNOWN_PARAMETERS, PARAM_NAME, TEXT, validate
from .digest import content_digest
from .errors import PolicyError, Problem

__all__ = [
    "POLICY_SPEC",
    "Evaluation",
    "Policy",
    "RuleResult",
    "evaluate",
    "json_schema",
    "parse_policy",
    "policy_problems",
    "reference_markdown",
]

POLICY_SPEC = "runid/policy/v1"

Status = Literal["pass", "fail", "not_applicable"]
PASS: Status = "pass"
FAIL: Status = "fail"
NA: Status = "not_applicable"

# --- schema -----------------------------------------------------------------------------------

_ALL = "Every one is optional; a member left out states no rule."

TEXTS = Arr(TEXT, min_items=1, description="Approved values; the run's value must be one of them.")
DIGESTS = Arr(DIGEST, min_items=1, description="Approved digests.")
_STATE = Str(enum=("present", *ABSENCE_REASONS))
COMPONENT_STATE = Named(
    "component_state",
    OneOf(_STATE, Arr(_STATE, min_items=1)),
    "Allowed state(s) of a component: 'present', or an absence reason (§4.1) that is "
    "acceptable; a string is a list of one.",
)

APPLIES_TO = Obj(
    {
        "provider": Arr(TEXT, min_items=1, description="model.provider values in scope."),
        "name": Arr(TEXT, min_items=1, description="model.name values in scope."),
        "engine": Arr(TEXT, min_items=1, description="runtime.engine.name values in scope."),
    },
    optional=("provider", "name", "engine"),
    description="Which runs the policy governs. A run whose declaration shows a value outside "
    "a list is not_applicable as a whole; an unknown value keeps it in scope.",
)

COMPONENT_RULES = Obj(
    dict.fromkeys(COMPONENTS, COMPONENT_STATE),
    optional=COMPONENTS,
    description="Required state of each component (rule components.NAME).",
)

MODEL_RULES = Obj(
    {
        "provider": TEXTS,
        "name": TEXTS,
        "version": Arr(TEXT, min_items=1, description="Pinned resolved versions."),
        "endpoint": TEXTS,
        "dtype": TEXTS,
        "quantization": TEXTS,
        "weights": Arr(DIGEST, min_items=1, description="Every weights file must have one."),
        "tokenizer": Arr(DIGEST, min_items=1, description="Every tokenizer file must have one."),
    },
    optional=(
        "provider",
        "name",
        "version",
        "endpoint",
        "dtype",
        "quantization",
        "weights",
        "tokenizer",
    ),
    description="Approved model values (rule model.FIELD). " + _ALL,
)

PARAMETER_RULE = Obj(
    {
        "min": Num(description="Smallest allowed value (rule parameters.NAME.min)."),
        "max": Num(description="Largest allowed value (rule parameters.NAME.max)."),
        "values": Arr(
            AnyJSON(), min_items=1, description="Allowed values (rule parameters.NAME.values)."
        ),
        "declared": Bool(
            description="true: the caller must set it explicitly (rule parameters.NAME.declared)."
        ),
        "required": Bool(
            description="true: the declaration must state its value, declared or a known "
            "default (rule parameters.NAME.required)."
        ),
    },
    optional=("min", "max", "values", "declared", "required"),
    description="Conditions on one parameter.",
)

PARAMETER_RULES = MapOf(
    PARAMETER_RULE,
    key_pattern=PARAM_NAME,
    description="Conditions per parameter name. min/max/values are not_applicable to a run "
    "without that parameter and fail on a provider default (its value is unknown).",
)

TEMPLATE = Obj(
    {"id": TEXT, "version": TEXT, "digest": DIGEST},
    optional=("version", "digest"),
    description="An approved template; version and digest, when given, must match too.",
)

INSTRUCTION_RULES = Obj(
    {
        "system": Arr(
            DIGEST, min_items=1, description="Approved system prompt content digests (all)."
        ),
        "template": Arr(TEMPLATE, min_items=1, description="Approved templates (one matches)."),
    },
    optional=("system", "template"),
    description="Approved instructions (rules instructions.system, instructions.template).",
)

INDEX = Obj(
    {"id": TEXT, "snapshot": DIGEST},
    optional=("snapshot",),
    description="An approved index; snapshot, when given, must match too.",
)
EMBEDDING = Obj(
    {"name": TEXT, "version": TEXT, "digest": DIGEST},
    optional=("version", "digest"),
    description="An approved embedding model; version and digest, when given, must match too.",
)
NAME_VERSION = Obj(
    {"name": TEXT, "version": TEXT},
    optional=("version",),
    description="An approved name; version, when given, must match too.",
)

CONTEXT_RULES = Obj(
    {
        "index": Arr(INDEX, min_items=1, description="Approved index snapshots (one matches)."),
        "embedding_model": Arr(EMBEDDING, min_items=1, description="Approved embedding models."),
        "retriever": Arr(NAME_VERSION, min_items=1, description="Approved retrievers."),
    },
    optional=("index", "embedding_model", "retriever"),
    description="Approved retrieval conditions (rules context.index, context.embedding_model, "
    "context.retriever).",
)

TOOL = Obj(
    {"name": TEXT, "definition": DIGEST},
    optional=("definition",),
    description="An allowed tool; definition, when given, is its definition's content digest.",
)

TOOL_RULES = Obj(
    {"allowed": Arr(TOOL, min_items=1, description="Every offered tool must be one of these.")},
    optional=("allowed",),
    description="Allowed tools (rule tools.allowed).",
)

VERSION_SPEC = r"(==|!=|>=|<=|>|<)?[ ]*[0-9A-Za-z][0-9A-Za-z.*+!_-]*"
VERSION_RANGE = Named(
    "version_range",
    Str(
        pattern=rf"{VERSION_SPEC}([ ]*,[ ]*{VERSION_SPEC})*",
        what="a version range such as '>=2.0, <3' or '==4.57.*'",
    ),
    "Comma-separated clauses, all of which must hold: an operator (==, !=, >=, <=, >, <; none "
    "means ==) and a version; ==X.Y.* matches a release prefix (§17.3).",
)

RUNTIME_RULES = Obj(
    {
        "engine": Arr(NAME_VERSION, min_items=1, description="Approved inference engines."),
        "libraries": MapOf(
            VERSION_RANGE,
            min_entries=1,
            description="Library name → allowed version range (rule runtime.libraries.NAME); "
            "not_applicable to a run that does not list the library.",
        ),
    },
    optional=("engine", "libraries"),
    description="Runtime constraints (rules runtime.engine, runtime.libraries.NAME).",
)

CONSTRAINT_RULES = Obj(
    {
        "guardrails": Arr(
            NAME_VERSION,
            min_items=1,
            description="Guardrails every run must apply: each matches one of the run's.",
        ),
        "output_schema": Arr(
            DIGEST, min_items=1, description="Approved output schemas (content digests)."
        ),
    },
    optional=("guardrails", "output_schema"),
    description="Required guardrails and approved output schemas (rules "
    "constraints.guardrails, constraints.output_schema).",
)

OBSERVED_RULES = Obj(
    {
        "served_model": Arr(TEXT, min_items=1, description="Approved served model ids."),
        "system_fingerprint": Arr(TEXT, min_items=1, description="Approved fingerprints."),
    },
    optional=("served_model", "system_fingerprint"),
    description="Approved observed facts of the execution record (rules observed.FIELD); "
    "not_applicable when only a declaration is checked.",
)

_SECTIONS: dict[str, Node] = {
    "applies_to": APPLIES_TO,
    "components": COMPONENT_RULES,
    "model": MODEL_RULES,
    "parameters": PARAMETER_RULES,
    "instructions": INSTRUCTION_RULES,
    "context": CONTEXT_RULES,
    "tools": TOOL_RULES,
    "runtime": RUNTIME_RULES,
    "constraints": CONSTRAINT_RULES,
    "observed": OBSERVED_RULES,
}

POLICY = Obj(
    {
        "policy": Str(const=POLICY_SPEC, description="The policy format version."),
        "name": Str(description="A name for reports, e.g. 'acme-support-bot'."),
        "description": Str(min_length=0, description="Free text for humans."),
        **_SECTIONS,
    },
    optional=("description", *_SECTIONS),
    description="A runid policy: approved conditions for runs.",
)


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a v1 policy, generated from this module."""
    defs: dict[str, Any] = {}
    body = POLICY.json_schema(defs)
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://runid.dev/schema/policy-v1.schema.json",
        "title": "runid policy v1",
        **body,
    }
    if defs:
        schema["$defs"] = dict(sorted(defs.items()))
    return schema


def reference_markdown() -> str:
    """The policy field reference of docs/spec.md §17, generated from this module."""
    parts = [markdown_table(field_rows(POLICY)) + "\n"]
    parts.append("Each `parameters` entry (any parameter name matching `" + PARAM_NAME + "`):\n")
    parts.append(markdown_table(field_rows(PARAMETER_RULE)) + "\n")
    for named in (COMPONENT_STATE, VERSION_RANGE):
        parts.append(f"#### {named.name}\n")
        parts.append(f"{named.description} Type: {describe(named.node)}.\n")
    return "\n".join(parts)


# --- parsing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """A parsed, valid policy.

    ``document`` is its JSON value; ``digest`` the content digest of its canonical JSON, so the
    YAML and JSON spellings of one policy have one digest; ``warnings`` are likely mistakes that
    are not errors (a parameter name runid does not know, close to one it does).
    """

    document: dict[str, Any]
    name: str
    digest: str
    warnings: tuple[str, ...] = ()


# libyaml's parser when PyYAML was built with it (about ten times faster); the same safe
# constructor either way, so the same values and the same checks.
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SAFE_LOADER):  # type: ignore[misc]  # a base chosen at import time
    """PyYAML's safe loader, refusing duplicate keys (YAML 1.1 silently keeps the last)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in out
        except TypeError:  # an unhashable key (a YAML sequence as key) is not JSON anyway
            raise _yaml_error(key_node, "object keys must be strings") from None
        if duplicate:
            raise _yaml_error(key_node, f"duplicate key {key!r}")
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _yaml_error(node: yaml.Node, message: str) -> PolicyError:
    mark = node.start_mark
    return PolicyError(
        [
            Problem(
                "", "E_POLICY_SYNTAX", f"line {mark.line + 1}, column {mark.column + 1}: {message}"
            )
        ]
    )


def _load_yaml(data: bytes) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = Problem("", "E_POLICY_SYNTAX", f"not UTF-8 text (byte {exc.start})")
        raise PolicyError([problem]) from None
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except PolicyError:
        raise
    except RecursionError:
        raise PolicyError([Problem("", "E_POLICY_SYNTAX", "nested too deeply")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = Problem("", "E_POLICY_SYNTAX", f"{where}{exc.problem or exc}")
        raise PolicyError([problem]) from None
    except yaml.YAMLError as exc:
        raise PolicyError([Problem("", "E_POLICY_SYNTAX", str(exc))]) from None
    _check_tree(document)
    return document


def _check_tree(document: Any) -> None:
    """Refuse YAML aliases (``&a`` ... ``*a``, merge keys) and deep nesting before anything
    walks the value: an alias shares one object in several places, so a small file can stand
    for an exponentially large (or an infinitely recursive) document. Linear in the file."""
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if not isinstance(value, dict | list):
            continue
        if id(value) in seen:
            message = "YAML aliases and merge keys are not allowed in a policy; write it out"
            raise PolicyError([Problem("", "E_POLICY_SYNTAX", message)])
        if depth >= canonical.MAX_DEPTH:
            raise PolicyError([Problem("", "E_POLICY_SYNTAX", "nested too deeply")])
        seen.add(id(value))
        items = value.values() if isinstance(value, dict) else value
        stack.extend((item, depth + 1) for item in items)


def _not_json(value: Any, path: list[str | int]) -> Iterator[Problem]:
    """YAML values that have no JSON equivalent (dates, sets, binary, non-string keys)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                yield Problem(
                    pointer([*path, str(key)]),
                    "E_POLICY_SYNTAX",
                    f"key {key!r} is not a string (quote it)",
                )
            else:
                yield from _not_json(item, [*path, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _not_json(item, [*path, index])
    elif isinstance(value, datetime | date | time):
        yield Problem(
            pointer(path),
            "E_POLICY_SYNTAX",
            f"YAML read {value.isoformat()} as a date; quote it to make it a string",
        )
    elif isinstance(value, float) and value - value != 0.0:
        yield Problem(pointer(path), "E_POLICY_SYNTAX", f"{value} is not a JSON number")
    elif not (value is None or isinstance(value, str | int | float | bool)):
        yield Problem(
            pointer(path), "E_POLICY_SYNTAX", f"a YAML {type(value).__name__} is not JSON"
        )


def _hint_for(problem: Problem, document: Any) -> Problem:
    """Add "did you mean" to an unknown member, and "quote it" to a YAML number for a string."""
    message = problem.message
    parts = [p.replace("~1", "/").replace("~0", "~") for p in problem.pointer.split("/")[1:]]
    if problem.code == "E_UNKNOWN_FIELD" and parts:
        allowed = re.search(r"\(allowed: (.*)\)", message)
        if allowed:
            names = allowed.group(1).split(", ")
            close = difflib.get_close_matches(parts[-1], names, n=1)
            if close:
                message = f"unknown field; did you mean {close[0]!r}? (allowed: {allowed.group(1)})"
    if problem.code == "E_TYPE" and message.startswith("expected string, got number"):
        message += ' (in YAML, quote values such as versions: "7")'
    return Problem(problem.pointer, problem.code, message)


def policy_problems(document: object) -> list[Problem]:
    """Every problem with a policy document (its JSON value), each with pointer and code."""
    found = POLICY.check(document)
    out = [Problem(pointer(path), code, message) for path, code, message in found or []]
    out = [_hint_for(problem, document) for problem in out]
    if out or not isinstance(document, dict):
        return out
    for name, rule in document.get("parameters", {}).items():
        where = ["parameters", name]
        if not rule:
            out.append(Problem(pointer(where), "E_EMPTY", "states no condition"))
        low, high = rule.get("min"), rule.get("max")
        if low is not None and high is not None and low > high:
            out.append(Problem(pointer([*where, "min"]), "E_RANGE", f"min {low} > max {high}"))
    return out


def _warnings(document: Mapping[str, Any]) -> tuple[str, ...]:
    out = []
    for name in document.get("parameters", {}):
        if name not in KNOWN_PARAMETERS:
            close = difflib.get_close_matches(name, list(KNOWN_PARAMETERS), n=1)
            if close:
                out.append(
                    f"/parameters/{name}: not a parameter runid knows; did you mean "
                    f"{close[0]!r}? (a run without {name!r} makes its rules not_applicable)"
                )
    return tuple(out)


def parse_policy(data: bytes, *, fmt: Literal["json", "yaml"] | None = None) -> Policy:
    """Parse and validate a policy file's bytes (YAML or JSON) into a :class:`Policy`.

    ``fmt`` None guesses: text whose first non-blank character is ``{`` is JSON, parsed with
    :func:`runid.canonical.loads` (strict: duplicate keys, NaN, huge integers are errors);
    anything else is YAML, read with PyYAML's safe loader refusing duplicate keys and values
    JSON cannot hold (dates, binary). Raises :class:`runid.errors.PolicyError` listing every
    problem with its JSON Pointer (``E_POLICY_SYNTAX`` for text that cannot be read, the
    schema's codes such as ``E_UNKNOWN_FIELD`` otherwise), or the canonical-JSON errors.
    """
    if fmt is None:
        fmt = "json" if data.lstrip()[:1] == b"{" else "yaml"
    if fmt == "json":
        document: Any = canonical.loads(data)
    else:
        document = _load_yaml(data)
        if document is None:
            raise PolicyError([Problem("", "E_POLICY_SYNTAX", "the policy file is empty")])
        odd = list(_not_json(document, []))
        if odd:
            # Report the schema's findings too, except where a YAML-only value already is.
            places = {problem.pointer for problem in odd}
            rest = [p for p in policy_problems(document) if p.pointer not in places]
            raise PolicyError(odd + rest)
    found = policy_problems(document)
    if found:
        raise PolicyError(found)
    # Canonical bytes: the same policy in YAML or JSON, in any key order, has one digest.
    # This also rejects what JSON cannot represent (integers beyond 2^53 from YAML).
    digest = content_digest(canonical.canonicalize(document))
    return Policy(document, document["name"], digest, _warnings(document))


# --- evaluation -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleResult:
    """The result of one named rule for one run.

    ``document`` is ``"declaration"`` or ``"record"``, ``pointer`` the JSON Pointer of the value
    the rule read there (the first offending item when it failed); ``expected`` and ``actual``
    are JSON values (``actual`` None when nothing was read).
    """

    rule: str
    status: Status
    message: str
    pointer: str = ""
    document: Literal["declaration", "record"] = "declaration"
    expected: Any = None
    actual: Any = None

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object (docs/spec.md §17.4)."""
        return {
            "rule": self.rule,
            "status": self.status,
            "message": self.message,
            "document": self.document,
            "pointer": self.pointer,
            "expected": self.expected,
            "actual": self.actual,
        }


@dataclass(frozen=True)
class Evaluation:
    """Every rule's result for one run; ``status`` is fail if any rule failed, pass otherwise,
    and not_applicable when the run is outside the policy's ``applies_to``."""

    status: Status
    results: tuple[RuleResult, ...] = ()
    scope: str = ""  # why the run is outside the scope (empty when in scope)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> tuple[RuleResult, ...]:
        """The rules that failed."""
        return tuple(r for r in self.results if r.status == FAIL)


def _absence(value: Any) -> str | None:
    if type(value) is dict and len(value) == 1 and "absent" in value:
        reason = value["absent"]
        return reason if isinstance(reason, str) else "not_recorded"
    return None


_POINTERS: dict[tuple[str | int, ...], str] = {}


def _pointer(path: Sequence[str | int]) -> str:
    """:func:`pointer`, remembered: a policy reads the same few paths in every run."""
    key = tuple(path)
    found = _POINTERS.get(key)
    if found is None:
        found = pointer(key)
        if len(_POINTERS) < 4096:
            _POINTERS[key] = found
    return found


class _Ctx:
    """Collects the results of one run's evaluation."""

    def __init__(self, declaration: Mapping[str, Any], record: Mapping[str, Any] | None) -> None:
        self.declaration = declaration
        self.record = record
        self.results: list[RuleResult] = []

    def add(
        self, rule: str, status: Status, message: str, path: Sequence[str | int], **kw: Any
    ) -> None:
        self.results.append(RuleResult(rule, status, message, _pointer(path), **kw))

    def lookup(
        self, rule: str, path: Sequence[str | int], expected: Any, *, record: bool = False
    ) -> tuple[Any, bool]:
        """The value at ``path``, or a result for an absence on the way (then ``(None, False)``).

        Absences follow the module's principle: not_applicable → rule not applicable; any other
        reason (the value was part of the run but is unknown) → the rule fails.
        """
        document: Literal["declaration", "record"] = "record" if record else "declaration"
        value: Any = self.record if record else self.declaration
        for depth, part in enumerate(path):
            reason = _absence(value)
            if reason is None and isinstance(value, dict | list):
                try:
                    value = value[part]  # type: ignore[index]
                except (KeyError, IndexError, TypeError):
                    value = {"absent": "not_recorded"}
                reason = _absence(value)
            if reason is not None:
                where = path[: depth + 1]
                status = NA if reason == "not_applicable" else FAIL
                self.add(
                    rule,
                    status,
                    f"{pointer(where)} is absent ({reason})",
                    where,
                    document=document,
                    expected=expected,
                    actual=value,
                )
                return None, False
        return value, True


def _one_of(ctx: _Ctx, rule: str, path: Sequence[str | int], allowed: list[Any]) -> None:
    value, ok = ctx.lookup(rule, path, allowed, record=rule.startswith("observed."))
    if not ok:
        return
    document: Literal["declaration", "record"] = (
        "record" if rule.startswith("observed.") else "declaration"
    )
    status = PASS if value in allowed else FAIL
    message = f"{value!r} is {'' if status == PASS else 'not '}approved"
    ctx.add(rule, status, message, path, document=document, expected=allowed, actual=value)


def _all_digests(
    ctx: _Ctx, rule: str, path: list[str | int], allowed: list[str], key: str = "digest"
) -> None:
    """Every item of the list at ``path`` has its ``key`` digest among ``allowed``."""
    items, ok = ctx.lookup(rule, path, allowed)
    if not ok:
        return
    bad = [(i, item.get(key)) for i, item in enumerate(items) if item.get(key) not in allowed]
    if not bad:
        ctx.add(rule, PASS, f"all {len(items)} approved", path, expected=allowed, actual=None)
        return
    first = bad[0][0]
    ctx.add(
        rule,
        FAIL,
        f"{len(bad)} of {len(items)} not approved: {', '.join(str(d) for _, d in bad)}",
        [*path, first, key],
        expected=allowed,
        actual=[d for _, d in bad],
    )


def _matches(entry: Mapping[str, Any], value: Mapping[str, Any]) -> bool:
    """An approved entry matches when each of its members equals the run's (absent never does)."""
    return all(value.get(k) == v for k, v in entry.items())


def _match_any(ctx: _Ctx, rule: str, path: list[str | int], allowed: list[dict[str, Any]]) -> None:
    value, ok = ctx.lookup(rule, path, allowed)
    if not ok:
        return
    if not isinstance(value, dict):
        ctx.add(rule, FAIL, "not an object", path, expected=allowed, actual=value)
        return
    actual = {k: value.get(k) for k in sorted({k for entry in allowed for k in entry})}
    if any(_matches(entry, value) for entry in allowed):
        ctx.add(rule, PASS, "matches an approved entry", path, expected=allowed, actual=actual)
        return
    # Point at the first member that differs from the closest approved entry.
    closest = max(allowed, key=lambda entry: sum(value.get(k) == v for k, v in entry.items()))
    path = [*path, next(k for k in sorted(closest) if value.get(k) != closest[k])]
    ctx.add(
        rule,
        FAIL,
        f"{_brief(actual)} matches no approved entry",
        path,
        expected=allowed,
        actual=actual,
    )


def _brief(value: Mapping[str, Any]) -> str:
    shown = []
    for key, item in value.items():
        text = item["absent"] if _absence(item) else item
        if isinstance(text, str) and text.startswith("sha256:"):
            text = text[:19] + "…"
        shown.append(f"{key}={text}")
    return " ".join(shown)


def _in_order(rules: Mapping[str, Any], node: Obj) -> list[tuple[str, Any]]:
    """The members of ``rules`` in the schema's order: results depend on the policy's value,
    not on how a file happened to order its keys (YAML dumpers sort them, people do not)."""
    return [(name, rules[name]) for name in node.fields if name in rules]


def _components(ctx: _Ctx, rules: Mapping[str, Any]) -> None:
    for name, allowed in _in_order(rules, COMPONENT_RULES):
        states = [allowed] if isinstance(allowed, str) else list(allowed)
        value = ctx.declaration.get(name)
        state = _absence(value) or "present"
        status = PASS if state in states else FAIL
        ctx.add(
            f"components.{name}",
            status,
            f"{state}{'' if status == PASS else ' (allowed: ' + ', '.join(states) + ')'}",
            [name],
            expected=states,
            actual=state,
        )


def _model(ctx: _Ctx, rules: Mapping[str, Any]) -> None:
    for name, allowed in _in_order(rules, MODEL_RULES):
        if name in ("weights", "tokenizer"):
            _all_digests(ctx, f"model.{name}", ["model", name], allowed)
        else:
            _one_of(ctx, f"model.{name}", ["model", name], allowed)


def _json_equal(a: Any, b: Any) -> bool:
    # JSON equality, not Python's: true is not 1, and 1 is 1.0.
    return bool(canonical.canonicalize([a]) == canonical.canonicalize([b]))


def _parameter(ctx: _Ctx, name: str, rule: Mapping[str, Any]) -> None:
    base = f"parameters.{name}"
    checks = [key for key in ("required", "declared", "min", "max", "values") if key in rule]
    params = ctx.declaration.get("parameters")
    reason = _absence(params)
    for check in checks:
        expected = rule[check]
        if check in ("required", "declared") and expected is not True:
            continue  # false states no condition
        rule_name = f"{base}.{check}"
        if reason is not None:
            ctx.lookup(rule_name, ["parameters", name], expected)
            continue
        entry = params.get(name) if isinstance(params, dict) else None
        path: list[str | int] = ["parameters", name]
        if entry is None:
            if check in ("required", "declared"):
                ctx.add(rule_name, FAIL, "not in the declaration", path, expected=expected)
            else:
                ctx.add(
                    rule_name, NA, f"the run has no {name!r} parameter", path, expected=expected
                )
            continue
        source = entry.get("source")
        if check == "declared":
            ok = source == "declared"
            what = "set by the caller" if ok else _unset(entry)
            ctx.add(
                rule_name,
                PASS if ok else FAIL,
                what,
                [*path, "source"],
                expected="declared",
                actual=source,
            )
            continue
        if source == "provider_default":
            message = "value unknown (provider default)"
            if check == "required":
                message = "the declaration does not state its value (provider default)"
            ctx.add(rule_name, FAIL, message, [*path, "source"], expected=expected, actual=source)
            continue
        value = entry.get("value")
        vpath = [*path, "value"]
        if check == "required":
            ctx.add(
                rule_name, PASS, f"{_show(value)} ({source})", vpath, expected=True, actual=value
            )
        elif check == "values":
            ok = any(_json_equal(value, v) for v in expected)
            verb = "is" if ok else "is not"
            message = f"{_show(value)} {verb} one of {', '.join(_show(v) for v in expected)}"
            ctx.add(
                rule_name, PASS if ok else FAIL, message, vpath, expected=expected, actual=value
            )
        else:
            if type(value) not in (int, float):
                ctx.add(
                    rule_name,
                    FAIL,
                    f"{_show(value)} is not a number",
                    vpath,
                    expected=expected,
                    actual=value,
                )
                continue
            ok = value >= expected if check == "min" else value <= expected
            sign = "≥" if check == "min" else "≤"
            message = (
                f"{_show(value)} {sign} {_show(expected)}"
                if ok
                else f"{_show(value)} is not {sign} {_show(expected)}"
            )
            ctx.add(
                rule_name, PASS if ok else FAIL, message, vpath, expected=expected, actual=value
            )


def _unset(entry: Mapping[str, Any]) -> str:
    if entry.get("source") == "default":
        return f"the caller did not set it (default {_show(entry.get('value'))})"
    return "the caller did not set it (provider default)"


def _show(value: Any) -> str:
    """A value as JSON for messages (``0.2``, ``true``, ``"auto"``)."""
    kind = type(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return canonical.canonicalize([value]).decode("utf-8")[1:-1]


def _instructions(ctx: _Ctx, rules: Mapping[str, Any]) -> None:
    if "system" in rules:
        _all_digests(ctx, "instructions.system", ["instructions", "system"], rules["system"])
    if "template" in rules:
        _match_any(ctx, "instructions.template", ["instructions", "template"], rules["template"])


def _context(ctx: _Ctx, rules: Mapping[str, Any]) -> None:
    for name in ("index", "embedding_model", "retriever"):
        if name in rules:
            _match_any(ctx, f"context.{name}", ["context", name], rules[name])


def _tools(ctx: _Ctx, rules: Mapping[str, Any]) -> None:
    if "allowed" not in rules:
        return
    allowed = rules["allowed"]
    path: list[str | int] = ["tools", "definitions"]
    items, ok = ctx.lookup("tools.allowed", path, allowed)
    if not ok:
        return
    bad = []
    for index, item in enumerate(items):
        offered = {"name": item.get("name"), "definition": item.get("definition", {}).get("digest")}
        if not any(_matches(entry, offered) for entry in allowed):
            bad.append((index, offered))
    if not bad:
        ctx.add("tools.allowed", PASS, f"all {len(items)} tools allowed", path, expected=allowed)
        return
    names = ", ".join(str(offered["name"]) for _, offered in bad)
    ctx.add(
        "tools.allowed",
        FAIL,
        f"not allowed: {names}",
        [*path, bad[0][0]],
        expected=allowed,
        actual=[offered for _, offered in bad],
    )


def _runtime(ctx: _Ctx, rules: Mapping[str, Any]) -> None:
    if "engine" in rules:
        _match_any(ctx, "runtime.engine", ["runtime", "engine"], rules["engine"])
    for library, spec in sorted(rules.get("libraries", {}).items()):
        rule = f"runtime.libraries.{library}"
        path: list[str | int] = ["runtime", "libraries", library]
        libraries, ok = ctx.lookup(rule, ["runtime", "libraries"], spec)
        if not ok:
            continue
        if library not in libraries:
            ctx.add(rule, NA, f"the run does not list {library!r}", path, expected=spec)
            continue
        version = libraries[library]
        verdict = version_in_range(version, spec)
        if verdict is None:
            ctx.add(
                rule,
                FAIL,
                f"cannot compare version {version!r}",
                path,
                expected=spec,
                actual=version,
            )
        else:
            message = f"{version} {'satisfies' if verdict else 'does not satisfy'} {spec}"
            ctx.add(rule, PASS if verdict else FAIL, message, path, expected=spec, actual=version)


def _constraints(ctx: _Ctx, rules: Mapping[str, Any]) -> None:
    if "guardrails" in rules:
        required = rules["guardrails"]
        path: list[str | int] = ["constraints", "guardrails"]
        applied, ok = ctx.lookup("constraints.guardrails", path, required)
        if ok:
            missing = [g for g in required if not any(_matches(g, a) for a in applied)]
            names = ", ".join(
                g["name"] + (f"@{g['version']}" if "version" in g else "") for g in missing
            )
            ctx.add(
                "constraints.guardrails",
                FAIL if missing else PASS,
                f"not applied: {names}" if missing else f"all {len(required)} applied",
                path,
                expected=required,
                actual=[{k: a.get(k) for k in ("name", "version")} for a in applied],
            )
    if "output_schema" in rules:
        path = ["constraints", "output_schema", "digest"]
        _one_of(ctx, "constraints.output_schema", path, rules["output_schema"])


def _observed(ctx: _Ctx, rules: Mapping[str, Any]) -> None:
    for name, allowed in _in_order(rules, OBSERVED_RULES):
        rule = f"observed.{name}"
        if ctx.record is None:
            ctx.add(
                rule,
                NA,
                "no execution record (a declaration alone)",
                ["observed", name],
                document="record",
                expected=allowed,
            )
            continue
        _one_of(ctx, rule, ["observed", name], allowed)


_SECTION_RULES: dict[str, Callable[[_Ctx, Mapping[str, Any]], None]] = {
    "components": _components,
    "model": _model,
    "instructions": _instructions,
    "context": _context,
    "tools": _tools,
    "runtime": _runtime,
    "constraints": _constraints,
    "observed": _observed,
}


def _scope(policy: Mapping[str, Any], declaration: Mapping[str, Any]) -> str:
    """Why the run is outside ``applies_to`` ("" when it is in scope)."""
    scope = policy.get("applies_to", {})
    model = declaration.get("model")
    runtime = declaration.get("runtime")
    engine = runtime.get("engine") if isinstance(runtime, dict) else None
    known = {
        "provider": model.get("provider") if isinstance(model, dict) else None,
        "name": model.get("name") if isinstance(model, dict) else None,
        "engine": engine.get("name") if isinstance(engine, dict) else None,
    }
    label = {"provider": "model.provider", "name": "model.name", "engine": "runtime.engine.name"}
    for key, allowed in scope.items():
        value = known[key]
        if isinstance(value, str) and value not in allowed:
            return f"{label[key]} is {value!r}, outside applies_to.{key}"
    return ""


def evaluate(
    policy: Policy, declaration: Mapping[str, Any], record: Mapping[str, Any] | None = None
) -> Evaluation:
    """Evaluate every rule of ``policy`` for one run: its declaration and, when at hand, its
    (verified) execution record, of which only ``observed`` is read. Pure; the results come in
    a fixed order (docs/spec.md §17.3).

    Raises :class:`runid.errors.DeclarationError` for a declaration that is not valid: a rule
    read from a malformed one would prove nothing.
    """
    validate(declaration)
    return _evaluate(policy.document, declaration, record)


def _evaluate(
    document: Mapping[str, Any],
    declaration: Mapping[str, Any],
    record: Mapping[str, Any] | None,
) -> Evaluation:
    reason = _scope(document, declaration)
    if reason:
        return Evaluation(NA, (), reason, {PASS: 0, FAIL: 0, NA: 0})
    ctx = _Ctx(declaration, record)
    for section, rules in _in_order(document, POLICY):
        if section == "parameters":
            for name, rule in sorted(rules.items()):  # code-point order, as in JCS
                _parameter(ctx, name, rule)
        elif section in _SECTION_RULES:
            _SECTION_RULES[section](ctx, rules)
    results = tuple(ctx.results)
    counts: dict[str, int] = {s: sum(r.status == s for r in results) for s in (PASS, FAIL, NA)}
    return Evaluation(FAIL if counts[FAIL] else PASS, results, "", counts)


# --- versions ---------------------------------------------------------------------------------

_CLAUSE = re.compile(r"\s*(==|!=|>=|<=|>|<)?\s*([^\s,]+)\s*")
_RELEASE = re.compile(r"v?([0-9]+(?:\.[0-9]+)*)")


def _digits(version: str) -> tuple[int, ...] | None:
    match = _RELEASE.match(version)
    return None if match is None else tuple(int(p) for p in match.group(1).split("."))


def _release(version: str) -> tuple[int, ...] | None:
    parts = _digits(version)
    while parts is not None and len(parts) > 1 and parts[-1] == 0:
        parts = parts[:-1]  # 2.0 == 2
    return parts


def version_in_range(version: str, spec: str) -> bool | None:
    """Whether ``version`` satisfies every comma-separated clause of ``spec``; None when a
    version cannot be read.

    Versions compare by their numeric release segments (``2.10`` > ``2.9``, ``2.0`` == ``2``;
    a leading ``v`` and any suffix such as ``rc1`` or ``+cpu`` are ignored); ``==4.57.*`` matches
    a release prefix; a clause without an operator means ``==``.

    >>> version_in_range("2.13.0+cpu", ">=2.4, <3")
    True
    >>> version_in_range("4.57.1", "==4.56.*")
    False
    """
    have = _release(version)
    if have is None:
        return None
    for clause in spec.split(","):
        match = _CLAUSE.fullmatch(clause)
        if match is None:
            return None
        op, text = match.group(1) or "==", match.group(2)
        if text.endswith(".*") and op in ("==", "!="):
            prefix, digits = _digits(text[:-2]), _digits(version)
            if prefix is None or digits is None:
                return None
            padded = digits + (0,) * max(0, len(prefix) - len(digits))
            if (padded[: len(prefix)] == prefix) != (op == "=="):
                return False
            continue
        want = _release(text)
        if want is None:
            return None
        ok = {
            "==": have == want,
            "!=": have != want,
            ">=": have >= want,
            "<=": have <= want,
            ">": have > want,
            "<": have < want,
        }[op]
        if not ok:
            return False
    return True
