"""The policy format: its schema nodes, its JSON Schema and its field reference (docs/spec.md §17).

Private to :mod:`runid.policy`. The nodes validate a policy document (:mod:`runid.policy._load`),
give the order in which its rules are evaluated (:mod:`runid.policy._rules`) and generate
``docs/schema/policy-v1.schema.json`` and the field tables of the spec.
"""

from __future__ import annotations

from typing import Any

from .._internal.schema import (
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
)
from ..declaration import COMPONENTS, DIGEST, PARAM_NAME, TEXT

__all__ = [
    "COMPONENT_RULES",
    "MODEL_RULES",
    "OBSERVED_RULES",
    "POLICY",
    "POLICY_SPEC",
    "json_schema",
    "reference_markdown",
]

POLICY_SPEC = "runid/policy/v1"

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
        "endpoint": Arr(
            TEXT,
            min_items=1,
            description="Approved declared endpoints. Captures declare none (not_applicable, "
            "ADR 0014): where a run went is observed.endpoint.",
        ),
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
        "endpoint": Arr(
            TEXT,
            min_items=1,
            description="Approved endpoints the run reached (base URLs without credentials, as "
            "the record's observed.endpoint writes them).",
        ),
    },
    optional=("served_model", "system_fingerprint", "endpoint"),
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
