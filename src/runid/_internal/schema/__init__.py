"""A small typed-schema language: one description gives validation, JSON Schema and docs.

The declaration, record and policy schemas are written once with these nodes (ADR 0003):

* ``nodes.py``: the node types and their interpreted ``check`` (every problem, with pointers);
* ``codegen.py``: the generated fast validator (:func:`compile_normalizer`);
* ``jsonschema.py``: the JSON Schema (draft 2020-12) shipped in ``docs/schema/``;
* ``docs.py``: the Markdown field tables of ``docs/spec.md``;
* ``typeddict.py``: the TypedDicts of ``runid.wire``.

Numbers follow the JSON data model, not Python's: ``1.0`` and ``1`` are the same number (RFC 8785
writes both as ``1``), so an integer field accepts an integral float and a number field accepts an
int. ``bool`` is never a number.
"""

from .codegen import INVALID, MAX_SAFE_INT, MISSING, Gen, Sink, compile_normalizer
from .docs import describe, field_rows, markdown_table
from .nodes import (
    ABSENCE_REASONS,
    MAX_FINDINGS,
    AnyJSON,
    Arr,
    Bool,
    Finding,
    Findings,
    Int,
    MapOf,
    Named,
    Node,
    Num,
    Obj,
    OneOf,
    Str,
    hidden_count,
    json_type,
    pointer,
)

__all__ = [
    "ABSENCE_REASONS",
    "INVALID",
    "MAX_FINDINGS",
    "MAX_SAFE_INT",
    "MISSING",
    "AnyJSON",
    "Arr",
    "Bool",
    "Finding",
    "Findings",
    "Gen",
    "Int",
    "MapOf",
    "Named",
    "Node",
    "Num",
    "Obj",
    "OneOf",
    "Sink",
    "Str",
    "compile_normalizer",
    "describe",
    "field_rows",
    "hidden_count",
    "json_type",
    "markdown_table",
    "pointer",
]
