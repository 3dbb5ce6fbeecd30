"""JSON Schema (draft 2020-12) of the schema nodes: one function per node type.

A node's ``json_schema(defs)`` calls the function for its type here; named types are written
once into ``defs`` (the document's ``$defs``) and referenced. The documents themselves
(``$schema``, ``$id``, title) are assembled by their owners, e.g.
:func:`runid.declaration.json_schema`. Nothing here imports the node types at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .nodes import Arr, MapOf, Named, Node, Num, Obj, OneOf, Str

__all__ = [
    "array",
    "map_of",
    "named",
    "number",
    "obj",
    "one_of",
    "string",
    "with_doc",
]


def with_doc(node: Node, schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with the node's description, when it has one."""
    if node.description:
        schema["description"] = node.description
    return schema


def named(node: Named, defs: dict[str, Any]) -> dict[str, Any]:
    if node.name not in defs:
        defs[node.name] = {}  # reserve first: a recursive type must not recurse forever
        defs[node.name] = with_doc(node, node.node.json_schema(defs))
    return {"$ref": f"#/$defs/{node.name}"}


def string(node: Str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if node.const is not None:
        schema["const"] = node.const
    elif node.enum is not None:
        schema["enum"] = list(node.enum)
    else:
        if node.min_length:
            schema["minLength"] = node.min_length
        if node.max_length is not None:
            schema["maxLength"] = node.max_length
        if node.pattern:
            schema["pattern"] = f"^(?:{node.pattern})$"
    return with_doc(node, schema)


def number(node: Num) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer" if node.integer else "number"}
    if node.minimum is not None:
        schema["minimum"] = node.minimum
    if node.maximum is not None:
        schema["maximum"] = node.maximum
    return with_doc(node, schema)


def obj(node: Obj, defs: dict[str, Any]) -> dict[str, Any]:
    return with_doc(
        node,
        {
            "type": "object",
            "properties": {k: v.json_schema(defs) for k, v in node.fields.items()},
            "required": list(node.required),
            "additionalProperties": False,
        },
    )


def map_of(node: MapOf, defs: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": node.value.json_schema(defs),
    }
    if node.known:
        schema["properties"] = {k: v.json_schema(defs) for k, v in node.known.items()}
    if node.key_pattern:
        schema["propertyNames"] = {"pattern": f"^(?:{node.key_pattern})$"}
    if node.min_entries:
        schema["minProperties"] = node.min_entries
    return with_doc(node, schema)


def array(node: Arr, defs: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array", "items": node.item.json_schema(defs)}
    if node.min_items:
        schema["minItems"] = node.min_items
    return with_doc(node, schema)


def one_of(node: OneOf, defs: dict[str, Any]) -> dict[str, Any]:
    options = [alt.json_schema(defs) for alt in node.alternatives]
    options += [marker.json_schema(defs) for marker in node.marker.values()]
    return with_doc(node, {"oneOf": options})
