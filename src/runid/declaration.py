"""Declaration model v1: the typed, fixed set of components of a run's composition.

A declaration is a JSON object ``{"spec": "runid/v1", <eight components>}``. Each component is
either an object of its schema or an explicit absence marker ``{"absent": REASON}``:

* ``not_applicable``: the condition is not part of this run (a chat call has no retrieval);
* ``not_recorded``: it was part of the run but was not captured;
* ``undisclosed``: it exists but its owner does not reveal it (a hosted model's weights).

Free text (prompts, messages, documents, tool definitions and arguments) is never inline: it is a
content reference ``{"digest", "size", "media_type"}`` (see :func:`runid.digest.content_ref`), so a
declaration stays small, can be published without its content, and diffs down to the item.

The normative description is ``docs/spec.md``; this module is its executable form, and
``docs/schema/declaration-v1.schema.json`` is generated from it.

>>> from runid.declaration import validate, problems
>>> problems({"spec": "runid/v1"})[0].code
'E_REQUIRED'
"""

from __future__ import annotations

from typing import Any

from ._internal.schema import (
    ABSENCE_REASONS,
    INVALID,
    AnyJSON,
    Arr,
    Bool,
    Gen,
    Int,
    MapOf,
    Named,
    Node,
    Num,
    Obj,
    OneOf,
    Sink,
    Str,
    compile_normalizer,
    describe,
    field_rows,
    markdown_table,
    pointer,
)
from .digest import DIGEST_PATTERN
from .errors import DeclarationError, Problem

__all__ = [
    "ABSENCE_REASONS",
    "COMPONENTS",
    "SPEC_VERSION",
    "json_schema",
    "problems",
    "validate",
]

SPEC_VERSION = "runid/v1"

#: The eight components, in the order the spec lists them. Identity sorts them by name anyway.
COMPONENTS = (
    "model",
    "parameters",
    "instructions",
    "inputs",
    "context",
    "tools",
    "runtime",
    "constraints",
)

# --- shared types ---------------------------------------------------------------------------

ABSENT = Named(
    "absent",
    Obj(
        {
            "absent": Str(
                enum=ABSENCE_REASONS,
                description="not_applicable: not part of this run; not_recorded: part of the "
                "run but not captured; undisclosed: exists but its owner does not reveal it.",
            )
        }
    ),
    "Explicit absence of a value.",
)

DIGEST = Named(
    "digest",
    Str(pattern=DIGEST_PATTERN, what="a digest 'sha256:' + 64 lowercase hex digits"),
    "A tagged SHA-256 digest.",
)

TEXT = Str(description="A non-empty string.")

CONTENT = Named(
    "content_ref",
    Obj(
        {
            "digest": DIGEST,
            "size": Int(minimum=0, description="Length of the content in bytes."),
            "media_type": Str(
                pattern=r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*(;[\x20-\x7e]*)?",
                what="a lowercase media type such as 'text/plain; charset=utf-8'",
                memo=True,
            ),
        }
    ),
    "Content kept by reference: its artifact digest (plain SHA-256 of the bytes), size and type.",
)

ARTIFACT = Named(
    "artifact",
    Obj(
        {
            "name": Str(description="File name relative to the model directory."),
            "digest": DIGEST,
            "size": Int(minimum=0),
        }
    ),
    "A file that is part of a model (weights, tokenizer, adapter) identified by digest.",
)


def maybe(node: Node, description: str = "") -> OneOf:
    """``node`` or an explicit absence marker."""
    return OneOf(node, marker={"absent": ABSENT}, description=description)


def artifacts(description: str) -> Arr:
    return Arr(ARTIFACT, min_items=1, sorted_key="name", description=description)


VERSIONED = Obj({"name": TEXT, "version": maybe(TEXT)})

# --- components -----------------------------------------------------------------------------

MODEL = Obj(
    {
        "provider": Str(description="Who serves the model: 'openai', 'llama.cpp', 'transformers'."),
        "name": Str(description="The model name as requested (may be an alias)."),
        "version": maybe(TEXT, "The resolved version / snapshot fixed before the call."),
        "endpoint": maybe(
            Str(
                pattern=r"[a-z][a-z0-9+.-]*://[\x21-\x2e\x30-\x3f\x41-\x7e]+(/[\x21-\x7e]*)?",
                what="a URL without credentials (no user:password@)",
            ),
            "Base URL of the serving endpoint, without credentials.",
        ),
        "weights": maybe(artifacts("Weights files, sorted by name.")),
        "tokenizer": maybe(artifacts("Tokenizer files, sorted by name.")),
        "dtype": maybe(TEXT, "Compute dtype, e.g. 'float32', 'bfloat16'."),
        "quantization": maybe(TEXT, "Quantization scheme, e.g. 'Q4_1'."),
        "adapters": maybe(
            Arr(ARTIFACT, sorted_key="name", description="Adapters (LoRA...); [] when none.")
        ),
    },
    description=(
        "The model as requested and, where fixed before the call, as served: provider, name, "
        "resolved version, endpoint, and for local models the digests of weights and tokenizer "
        "files."
    ),
)

PARAM_NAME = r"[a-z][a-z0-9_.-]*"


_SOURCE = Str(enum=("declared", "default", "provider_default"))
_PROVIDER_DEFAULT = Obj(
    {"source": Str(const="provider_default")},
    description="The request left it unset and the provider applies its own, unseen default.",
)


class ParamEntry(Node):
    """``{"source": "declared"|"default", "value": V}`` or ``{"source": "provider_default"}``."""

    def __init__(self, value: Node) -> None:
        self.value = value
        self.may_change = value.may_change
        self.with_value = Obj({"source": Str(enum=("declared", "default")), "value": value})

    def check(self, entry: Any) -> Any:
        if type(entry) is dict:
            source = entry.get("source")
            if source == "provider_default":
                return _PROVIDER_DEFAULT.check(entry)
            if "source" in entry and source not in ("declared", "default"):
                # The source decides the shape; a wrong one makes other findings noise.
                found = _SOURCE.check(source) or []
                return [(["source"], code, message) for _path, code, message in found]
        return self.with_value.check(entry)

    def emit(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        test = f"type({var}) is dict and {var}.get('source') == 'provider_default'"
        with gen.block(f"if {test}:"):
            _PROVIDER_DEFAULT.emit(gen, var, sink, depth)
        with gen.block("else:"):
            self.with_value.emit(gen, var, sink, depth)

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"oneOf": [self.with_value.json_schema(defs), _PROVIDER_DEFAULT.json_schema(defs)]}


PROB = Num(minimum=0, maximum=1)
PENALTY = Num(minimum=-2, maximum=2)
POS_INT = Int(minimum=1)

KNOWN_PARAMETERS: dict[str, Node] = {
    "temperature": Num(minimum=0),
    "top_p": PROB,
    "top_k": Int(minimum=0),
    "min_p": PROB,
    "max_tokens": POS_INT,
    "max_completion_tokens": POS_INT,
    "max_output_tokens": POS_INT,
    "max_new_tokens": POS_INT,
    "seed": Int(),
    "stop": Arr(TEXT),
    "presence_penalty": PENALTY,
    "frequency_penalty": PENALTY,
    "repetition_penalty": Num(minimum=0),
    "n": POS_INT,
    "num_beams": POS_INT,
    "do_sample": Bool(),
    "logprobs": Bool(),
    "top_logprobs": Int(minimum=0),
    "parallel_tool_calls": Bool(),
}

PARAMETERS = MapOf(
    ParamEntry(AnyJSON()),
    key_pattern=PARAM_NAME,
    known={name: ParamEntry(node) for name, node in KNOWN_PARAMETERS.items()},
    description="Every effective sampling/decoding parameter by name. 'declared': set by the "
    "caller; 'default': not set by the caller, value filled in from a known default; "
    "'provider_default': not set, and the provider applies a default the caller cannot see.",
)

INSTRUCTIONS = Obj(
    {
        "system": Arr(
            CONTENT,
            min_items=1,
            description="The leading system/developer prompt(s) as sent, in order.",
        ),
        "template": maybe(
            Obj(
                {
                    "id": TEXT,
                    "version": maybe(TEXT),
                    "digest": DIGEST,
                    "variables": MapOf(AnyJSON(), description="Template variables by name."),
                },
            ),
            "The template the prompt was rendered from.",
        ),
        "source": maybe(TEXT, "Where the instructions came from (registry, file, ...)."),
    },
    description=(
        "The system/developer prompt(s) as sent, and the template and variables they were "
        "rendered from."
    ),
)

TOOL_CALL = Named(
    "tool_call",
    Obj({"id": TEXT, "name": TEXT, "arguments": CONTENT}),
    "A tool call requested by an assistant message; arguments as canonical JSON content.",
)

MESSAGE = Named(
    "message",
    Obj(
        {
            "role": Str(enum=("system", "developer", "user", "assistant", "tool")),
            "content": maybe(CONTENT),
            "name": TEXT,
            "tool_call_id": TEXT,
            "tool_calls": Arr(TOOL_CALL, min_items=1),
        },
        optional=("name", "tool_call_id", "tool_calls"),
    ),
    "One message as sent. Optional fields are left out when they do not apply.",
)

INPUTS = Obj(
    {
        "messages": Arr(MESSAGE, min_items=1, description="Messages as sent, after truncation."),
        "truncation": maybe(
            Obj(
                {
                    "strategy": TEXT,
                    "original_count": Int(minimum=0),
                    "kept_count": Int(minimum=0),
                }
            ),
            "How the history was cut; not_applicable when nothing was cut.",
        ),
        "upstream": Arr(
            Obj({"execution_id": DIGEST, "relation": TEXT}),
            description="Runs whose outputs feed this one; [] when none.",
        ),
    },
    description=(
        "The conversation as sent to the model, after truncation, and the upstream runs it "
        "depends on."
    ),
)

RETRIEVED = Named(
    "retrieved_item",
    Obj(
        {
            "source": Str(description="Document id, e.g. 'kb/refunds.md'."),
            "chunk": OneOf(Int(minimum=0), TEXT),
            "content": CONTENT,
            "score": maybe(Num()),
        }
    ),
    "One retrieved item as injected.",
)

CONTEXT = Obj(
    {
        "query": maybe(CONTENT),
        "retriever": Obj({"name": TEXT, "version": maybe(TEXT), "kind": TEXT}),
        "embedding_model": maybe(
            Obj({"name": TEXT, "version": maybe(TEXT), "digest": maybe(DIGEST)})
        ),
        "index": Obj(
            {
                "id": TEXT,
                "snapshot": maybe(
                    DIGEST, "Digest of the index state (a Merkle root of its items)."
                ),
            }
        ),
        "top_k": maybe(Int(minimum=1)),
        "threshold": maybe(Num()),
        "filters": MapOf(AnyJSON(), description="Retrieval filters; {} when none."),
        "reranker": maybe(VERSIONED),
        "retrieved": Arr(RETRIEVED, description="Items in injection order; [] when none."),
    },
    description=(
        "Retrieval: the query, the retriever and its index state, and the retrieved items in "
        "injection order."
    ),
)

TOOLS = Obj(
    {
        "definitions": Arr(
            Obj(
                {
                    "name": TEXT,
                    "kind": TEXT,
                    "definition": CONTENT,
                }
            ),
            min_items=1,
            unique_key="name",
            description="Tool definitions in the order sent; each definition as canonical JSON.",
        ),
        "choice": maybe(
            OneOf(Str(enum=("auto", "none", "required")), Obj({"name": TEXT})),
            "tool_choice as sent; absent when the request left it to the provider.",
        ),
    },
    description="Tool definitions offered to the model, in the order sent, and the tool choice.",
)

RUNTIME = Obj(
    {
        "engine": maybe(VERSIONED, "Inference engine, e.g. llama.cpp, vllm, transformers."),
        "libraries": MapOf(TEXT, description="Library name → version; {} when none."),
        "platform": maybe(Obj({"os": TEXT, "arch": TEXT, "python": maybe(TEXT)})),
        "hardware": maybe(TEXT, "Hardware class, e.g. 'cpu-x86_64', 'nvidia-a100-80gb'."),
        "code": maybe(
            Obj(
                {
                    "repository": maybe(TEXT),
                    "revision": TEXT,
                    "dirty": maybe(
                        DIGEST, "Digest of uncommitted changes; not_applicable if clean."
                    ),
                }
            )
        ),
        "determinism": MapOf(AnyJSON(), description="Determinism flags; {} when none."),
    },
    description=(
        "Where and with what the run executes: inference engine, library versions, platform, "
        "hardware class, code revision, determinism flags."
    ),
)

CONSTRAINTS = Obj(
    {
        "output_schema": maybe(CONTENT),
        "guardrails": Arr(
            Obj({"name": TEXT, "version": maybe(TEXT), "config": maybe(CONTENT)}),
            unique_key="name",
            description="Guardrails applied; [] when none.",
        ),
        "budgets": MapOf(
            Num(minimum=0), description="Budgets (tokens, steps, seconds); {} when none."
        ),
    },
    description="Output schema, guardrails and budgets that bound the run.",
)

_COMPONENT_NODES: dict[str, Obj] = {
    "model": MODEL,
    "parameters": PARAMETERS,  # type: ignore[dict-item]
    "instructions": INSTRUCTIONS,
    "inputs": INPUTS,
    "context": CONTEXT,
    "tools": TOOLS,
    "runtime": RUNTIME,
    "constraints": CONSTRAINTS,
}

DECLARATION = Obj(
    {
        "spec": Str(const=SPEC_VERSION, description="The spec version; v1 is frozen."),
        **{name: maybe(node) for name, node in _COMPONENT_NODES.items()},
    },
    description="A runid declaration: the full composition of one AI run.",
)


#: Validate and put numbers in JCS form in one generated pass (see compile_normalizer).
normalize = compile_normalizer(DECLARATION, name="declaration")


def is_valid(declaration: object) -> bool:
    """True when ``declaration`` is structurally valid and JSON-representable (fast)."""
    return normalize(declaration) is not INVALID


def problems(declaration: object) -> list[Problem]:
    """Every problem with ``declaration`` (empty when valid), each with pointer and stable code.

    Only the structure is checked here; JSON-level faults (NaN, huge integers, lone surrogates)
    are reported by canonicalization, which :func:`runid.identity.compute_identity` runs next.
    """
    found = DECLARATION.check(declaration)
    if not found:
        return []
    return [Problem(pointer(path), code, message) for path, code, message in found]


def validate(declaration: object) -> None:
    """Raise :class:`runid.errors.DeclarationError` listing every problem, or return None."""
    if not is_valid(declaration):
        raise DeclarationError(problems(declaration))


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a v1 declaration, generated from this module."""
    defs: dict[str, Any] = {}
    body = DECLARATION.json_schema(defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://runid.dev/schema/declaration-v1.schema.json",
        "title": "runid declaration v1",
        **body,
        "$defs": dict(sorted(defs.items())),
    }


_SHARED = (ABSENT, DIGEST, CONTENT, ARTIFACT, MESSAGE, TOOL_CALL, RETRIEVED)


def reference_markdown() -> str:
    """The field reference of docs/spec.md (section "Components"), generated from this module."""
    parts: list[str] = []
    for name, node in _COMPONENT_NODES.items():
        parts.append(f"### `{name}`\n")
        if node.description:
            parts.append(node.description + "\n")
        if isinstance(node, MapOf):
            parts.append(f"An object whose keys match `{node.key_pattern}`; each value is a")
            parts.append("parameter entry (see [Parameters](#parameters)). Known names and the")
            parts.append("type their `value` must have:\n")
            rows = [(f"`{k}`", describe(v), "") for k, v in KNOWN_PARAMETERS.items()]
            parts.append(markdown_table(rows) + "\n")
            parts.append("Any other name: `value` is any JSON value.\n")
        else:
            parts.append(markdown_table(field_rows(node)) + "\n")
    parts.append("### Shared types\n")
    for named in _SHARED:
        parts.append(f"#### {named.name}\n")
        parts.append(named.description + "\n")
        rows = field_rows(named)
        parts.append((markdown_table(rows) if rows else describe(named.node)) + "\n")
    return "\n".join(parts)
