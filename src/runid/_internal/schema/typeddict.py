"""TypedDict source from the JSON Schema the nodes write: the generator of ``runid.wire``.

The nodes' JSON Schema (``jsonschema.py``) is the input, so every node, including one defined
elsewhere with its own ``json_schema`` (``runid.declaration.ParamEntry``), is covered. Closed
objects become TypedDicts (optional fields ``NotRequired``), named types of ``$defs`` keep their
names, ``oneOf`` becomes a union, ``const`` and ``enum`` become ``Literal``. What a TypedDict
cannot say is left to validation: patterns, ranges, sorted or unique items, and the value types
of an open object's known keys (``parameters.temperature``): an open object is a ``dict`` of its
general value type.

A nested object is named after where it is (``Tools`` + ``choice`` = ``ToolsChoice``; a root's
own fields drop the root's name), an alternative of several objects after its ``const`` member
(``Outcome`` + ``ok``); ``names`` overrides a position's name (see :meth:`TypedDicts.add`).
"""

from __future__ import annotations

import json
import keyword
import textwrap
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TypedDicts", "camel"]

WIDTH = 100


def camel(name: str) -> str:
    """``content_ref`` -> ``ContentRef``."""
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_"))


def _comment(text: str, indent: str) -> list[str]:
    return textwrap.wrap(
        text, WIDTH - len(indent), initial_indent=indent + "#: ", subsequent_indent=indent + "#: "
    )


def _docstring(text: str, indent: str) -> list[str]:
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    one = f'{indent}"""{text}"""'
    if len(one) <= WIDTH:
        return [one]
    # Wrapped short enough that a formatter never joins the last line and the closing quotes.
    lines = textwrap.wrap(text, WIDTH - len(indent) - 6)
    return [f'{indent}"""{lines[0]}', *(indent + line for line in lines[1:]), f'{indent}"""']


@dataclass
class _Definition:
    name: str
    lines: list[str]


@dataclass
class TypedDicts:
    """Collects the definitions (TypedDicts and aliases) for one or more JSON Schemas.

    Add each root schema with :meth:`add`; :meth:`source` is the definitions in an order where
    each name is defined before a type alias uses it.
    """

    names: dict[str, str] = field(default_factory=dict)
    definitions: dict[str, _Definition] = field(default_factory=dict)
    _shapes: dict[str, str] = field(default_factory=dict)
    _defs: dict[str, Any] = field(default_factory=dict)

    def add(self, schema: dict[str, Any], name: str) -> str:
        """Define ``name`` (and everything it uses) from the root ``schema``; returns ``name``.

        A position is named by its path from the root: ``record/outcome|ok/error`` (``|x``
        marks an alternative, ``[]`` the items of an array, ``{}`` the values of an open
        object); ``self.names`` maps such a path to the name to use instead.
        """
        self._defs = schema.get("$defs", {})
        body = {k: v for k, v in schema.items() if k != "$defs" and not k.startswith("$")}
        body.pop("title", None)
        return self._type(body, name, name.lower(), root=True)

    def source(self) -> str:
        return "\n\n\n".join("\n".join(d.lines) for d in self.definitions.values())

    # --- one JSON Schema -> one type expression ------------------------------------------------

    def _type(self, schema: dict[str, Any], name: str, path: str, *, root: bool = False) -> str:
        name = self.names.get(path, name)
        if "$ref" in schema:
            return self._ref(schema["$ref"])
        if "oneOf" in schema:
            return self._union(schema, name, path)
        kind = schema.get("type")
        if isinstance(kind, list):  # {"type": ["string", "null"]}: one type or null
            parts = [self._type({**schema, "type": k}, name, path) for k in kind if k != "null"]
            return " | ".join([*parts, "None"] if "null" in kind else parts)
        if kind is None and ("const" in schema or "enum" in schema):  # a value of any type
            values = [schema["const"]] if "const" in schema else schema["enum"]
            return f"Literal[{', '.join(json.dumps(v) for v in values)}]"
        if kind == "null":
            return "None"
        if kind == "string":
            if "const" in schema:
                return f"Literal[{json.dumps(schema['const'])}]"
            if "enum" in schema:
                return f"Literal[{', '.join(json.dumps(e) for e in schema['enum'])}]"
            return "str"
        if kind in ("integer", "number", "boolean"):
            return {"integer": "int", "number": "float", "boolean": "bool"}[kind]
        if kind == "array":
            return f"list[{self._type(schema['items'], name + 'Item', path + '[]')}]"
        if kind == "object" and schema.get("additionalProperties") is False:
            return self._typed_dict(schema, name, path, root=root)
        if kind == "object":
            value = schema.get("additionalProperties", {})
            return f"dict[str, {self._type(value, name + 'Entry', path + '{}')}]"
        if not kind and set(schema) <= {"description"}:
            return "Any"
        raise ValueError(f"{path}: no TypedDict form for the JSON Schema {schema!r}")

    def _ref(self, ref: str) -> str:
        key = ref.removeprefix("#/$defs/")
        name = self.names.get("$" + key, camel(key))
        if name not in self.definitions:
            target = self._defs[key]
            if target.get("type") == "object":
                self._type(target, name, "$" + key)
            else:
                # A named scalar (digest, timestamp): an alias that keeps the name and the rule.
                self.definitions[name] = _Definition(name, [])  # reserve: defined once
                lines = _comment(target.get("description", ""), "")
                pattern = target.get("pattern", "").removeprefix("^(?:").removesuffix(")$")
                if pattern and len(f"#: Pattern: {pattern}") <= WIDTH:
                    lines.append(f"#: Pattern: {pattern}")
                lines.append(f"{name}: TypeAlias = {self._type(target, name, '$' + key)}")
                self.definitions[name] = _Definition(name, lines)
        return name

    def _union(self, schema: dict[str, Any], name: str, path: str) -> str:
        options = schema["oneOf"]
        objects = [o for o in options if o.get("type") == "object"]
        parts: list[str] = []
        for index, option in enumerate(options):
            alt_name, alt_path = name, path
            if len(objects) > 1 and option in objects:
                const = _const_member(option)
                suffix = camel(const) if const else str(index)
                alt_name, alt_path = name + suffix, f"{path}|{const or index}"
            if "description" not in option and "description" in schema:
                # maybe(Obj(...), "what it is"): the object's docstring is the field's.
                described = {**option, "description": schema["description"]}
            else:
                described = option
            part = self._type(described, alt_name, alt_path)
            if part not in parts:
                parts.append(part)
        return " | ".join(parts)

    def _typed_dict(self, schema: dict[str, Any], name: str, path: str, *, root: bool) -> str:
        shape = json.dumps(schema, sort_keys=True)
        if self._shapes.get(name, shape) != shape:
            raise ValueError(f"{path}: two different objects named {name}; name one in `names`")
        if name in self.definitions:
            return name
        self._shapes[name] = shape
        self.definitions[name] = _Definition(name, [])  # reserve the place (and the name)
        required = set(schema.get("required", ()))
        fields: list[tuple[str, str, str]] = []
        for key, child in schema["properties"].items():
            prefix = "" if root else name
            kind = self._type(child, prefix + camel(key), f"{path}/{key}")
            if key not in required:
                kind = f"NotRequired[{kind}]"
            fields.append((key, kind, child.get("description", "")))
        lines = [f"class {name}(TypedDict):"]
        if not all(key.isidentifier() and not keyword.iskeyword(key) for key, _, _ in fields):
            members = ", ".join(f"{json.dumps(key)}: {kind}" for key, kind, _ in fields)
            lines = [f"{name} = TypedDict({json.dumps(name)}, {{{members}}})"]
        else:
            lines += [*_docstring(schema.get("description") or _where(path), "    "), ""]
            for key, kind, description in fields:
                lines += _comment(description, "    ") if description else []
                lines.append(f"    {key}: {kind}")
        # Move the definition after the ones it uses (they were added while walking it).
        del self.definitions[name]
        self.definitions[name] = _Definition(name, lines)
        return name


def _where(path: str) -> str:
    """A docstring for an object without a description: where it is in its document."""
    root, _, rest = path.partition("/")
    parts = [part.partition("|")[0].replace("{}", ".*") for part in rest.split("/")]
    return f"The object at ``{'.'.join(parts)}`` in a {root}."


def _const_member(option: dict[str, Any]) -> str | None:
    for child in option.get("properties", {}).values():
        if "const" in child:
            return str(child["const"])
    return None
