"""Markdown of the schema nodes: type descriptions and field tables for docs/spec.md.

``scripts/gen_docs.py`` writes the tables into the spec through the ``reference_markdown()``
of each format's module (declaration, record, policy); ``tests/test_docs.py`` keeps them current.
"""

from __future__ import annotations

from .nodes import AnyJSON, Arr, Bool, MapOf, Named, Node, Num, Obj, OneOf, Str

__all__ = ["describe", "field_rows", "markdown_table"]


def describe(node: Node) -> str:
    """A short Markdown type description of ``node`` for the spec's field tables."""
    if isinstance(node, Named):
        return f"[{node.name}](#{node.name.replace('_', '-')})"
    if isinstance(node, Str):
        if node.const is not None:
            return f"the string `{node.const}`"
        if node.enum is not None:
            return "one of " + ", ".join(f"`{e}`" for e in node.enum)
        if node.pattern:
            return f"string matching `{node.pattern}`"
        return "non-empty string" if node.min_length else "string"
    if isinstance(node, Num):
        kind = "integer" if node.integer else "number"
        if node.minimum is not None and node.maximum is not None:
            return f"{kind} in [{node.minimum:g}, {node.maximum:g}]"
        if node.minimum is not None:
            return f"{kind} ≥ {node.minimum:g}"
        return kind
    if isinstance(node, Bool):
        return "boolean"
    if isinstance(node, AnyJSON):
        return "any JSON value"
    if isinstance(node, Obj):
        return "object (fields below)"
    if isinstance(node, MapOf):
        keys = f"keys matching `{node.key_pattern}`" if node.key_pattern else "any keys"
        return f"object with {keys}, values: {describe(node.value)}"
    if isinstance(node, Arr):
        text = f"array of {describe(node.item)}"
        rules = []
        if node.min_items:
            rules.append(f"at least {node.min_items}")
        if node.sorted_key:
            rules.append(f"sorted by `{node.sorted_key}`, no repeats")
        elif node.unique_key:
            rules.append(f"`{node.unique_key}` unique")
        return text + (f" ({'; '.join(rules)})" if rules else "")
    if isinstance(node, OneOf):
        options = [describe(alt) for alt in node.alternatives]
        if "absent" in node.marker:
            options.append("[absent](#absent)")
        return " or ".join(options)
    return getattr(node, "doc_type", type(node).__name__)


def field_rows(node: Node, prefix: str = "") -> list[tuple[str, str, str]]:
    """(field path, type, description) rows for an object node, nested objects flattened."""
    inner = node.node if isinstance(node, Named) else node
    if isinstance(inner, OneOf) and len(inner.alternatives) == 1:
        inner = inner.alternatives[0]
    if not isinstance(inner, Obj):
        return []
    rows: list[tuple[str, str, str]] = []
    for name, child in inner.fields.items():
        path = f"{prefix}{name}"
        optional = " (optional)" if name in inner.optional else ""
        rows.append((f"`{path}`{optional}", describe(child), child.description))
        targets = [child]
        while any(isinstance(t, OneOf) for t in targets):
            targets = [
                alt for t in targets for alt in (t.alternatives if isinstance(t, OneOf) else [t])
            ]
        for target in targets:  # named types have their own table; don't repeat them
            if isinstance(target, Obj):
                rows.extend(field_rows(target, path + "."))
            elif isinstance(target, Arr) and isinstance(target.item, Obj):
                rows.extend(field_rows(target.item, path + "[]."))
    return rows


def markdown_table(rows: list[tuple[str, str, str]]) -> str:
    """A Markdown table of (field, type, meaning) rows."""
    lines = ["| field | type | meaning |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)
