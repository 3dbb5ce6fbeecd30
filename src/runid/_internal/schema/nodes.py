"""The schema node types (Str, Num, Obj, MapOf, Arr, OneOf...) and their interpreted check.

The declaration, record and policy schemas are written once with these nodes (ADR 0003). Each
node answers

* ``check(value)``: every problem, each as (relative path, stable code, message). The fast path
  (a valid document) allocates nothing but the ``None`` it returns, and JSON Pointers are only
  built when something is wrong, because identity computation validates on every call. Each
  object, map and array lists at most :data:`MAX_FINDINGS` findings (its own and its
  children's) and counts the rest in one last ``E_MORE`` finding at its own path, so checking
  stays linear in the input however many problems it holds.
* ``emit(gen, ...)``: its part of the generated validator (``codegen.py``).
* ``json_schema(defs)``: its JSON Schema (``jsonschema.py``), shipped in ``docs/schema/``.

The Markdown field tables are written from the nodes by ``docs.py``.

Numbers follow the JSON data model, not Python's: ``1.0`` and ``1`` are the same number (RFC 8785
writes both as ``1``), so an integer field accepts an integral float and a number field accepts an
int. ``bool`` is never a number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ...errors import (
    E_CONST,
    E_DUPLICATE,
    E_EMPTY,
    E_ENUM,
    E_FORMAT,
    E_MORE,
    E_ORDER,
    E_RANGE,
    E_REQUIRED,
    E_TYPE,
    E_UNKNOWN_FIELD,
)
from . import codegen, jsonschema
from .codegen import Gen, Sink

# One finding before its pointer is built: (path parts from the node being checked, code, message).
Finding = tuple[list[str | int], str, str]
Findings = list[Finding] | None

ABSENCE_REASONS = ("not_applicable", "not_recorded", "undisclosed")

#: Findings one object, map or array lists; the rest are counted in one ``E_MORE`` finding.
MAX_FINDINGS = 100


def json_type(value: object) -> str:
    """The JSON type name of a Python value, for messages."""
    if value is None:
        return "null"
    kind = type(value)
    if kind is bool:
        return "boolean"
    if kind is int or kind is float:
        return "number"
    if kind is str:
        return "string"
    if kind is list:
        return "array"
    if kind is dict:
        return "object"
    # Typed positions take exact JSON types, so a mistake such as a tuple is named as such.
    return f"a Python {type(value).__name__} (not a JSON value of that type)"


def _one(code: str, message: str) -> Findings:
    return [([], code, message)]


class _More(str):
    """The message of an ``E_MORE`` finding, carrying the number of findings it stands for."""

    hidden: int

    def __new__(cls, count: int, what: str) -> _More:
        text = f"... and {count:,} more problem(s) in this {what}, not listed"
        message = super().__new__(cls, f"{text} (at most {MAX_FINDINGS} are listed per {what})")
        message.hidden = count
        return message

    def __reduce__(self) -> tuple[type[str], tuple[str]]:
        return (str, (str(self),))  # a plain string once it leaves this process


class _Findings:
    """The findings of one object, map or array, capped at :data:`MAX_FINDINGS` (linear: each
    finding is appended once, never copied)."""

    __slots__ = ("hidden", "items", "listed")

    def __init__(self) -> None:
        self.items: list[Finding] = []
        self.listed = 0  # findings listed, not counting the E_MORE findings of children
        self.hidden = 0  # findings counted, not listed

    def full(self) -> bool:
        return self.listed >= MAX_FINDINGS

    def add(self, path: list[str | int], code: str, message: str) -> None:
        """One finding of this object itself (``message`` is only built while not full)."""
        if self.listed < MAX_FINDINGS:
            self.items.append((path, code, message))
            self.listed += 1
        else:
            self.hidden += 1

    def extend(self, found: list[Finding], part: str | int) -> None:
        """A child's findings, under ``part``. A child's ``E_MORE`` stays right after the
        finding it follows when that one is listed; otherwise its count joins this list's."""
        kept = True
        for finding in found:
            path, code, message = finding
            if code == E_MORE:
                if kept:
                    path.insert(0, part)
                    self.items.append(finding)
                else:
                    self.hidden += message.hidden if isinstance(message, _More) else 1
            elif self.listed < MAX_FINDINGS:
                path.insert(0, part)
                self.items.append(finding)
                self.listed += 1
            else:
                kept = False
                self.hidden += 1

    def done(self, what: str) -> list[Finding]:
        if self.hidden:
            self.items.append(([], E_MORE, _More(self.hidden, what)))
        return self.items


def hidden_count(message: str) -> int:
    """How many findings the message of an ``E_MORE`` finding counts (1 for any other)."""
    if isinstance(message, _More):
        return message.hidden
    match = re.match(r"\.\.\. and ([\d,]+) more", message)
    return int(match.group(1).replace(",", "")) if match else 1


def _show(value: object) -> str:
    if type(value) is int and value.bit_length() > 128:
        # repr() of an int over 4,300 digits raises; a message needs only its size.
        return f"an integer of {value.bit_length():,} bits"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Node:
    """Base of every schema node."""

    description: str = ""

    def check(self, value: Any) -> Findings:  # pragma: no cover - abstract
        raise NotImplementedError

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover
        """This node's JSON Schema; the named types it uses are added to ``defs``."""
        raise NotImplementedError

    #: Whether normalisation may replace a value of this node (floats, free-form JSON).
    may_change: bool = False

    def emit(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:  # pragma: no cover
        """Write statements that ``return INVALID`` unless ``var`` is valid.

        ``sink(new)`` writes the statements that hand a normalised replacement ``new`` of
        ``var`` to the parent; ``depth`` is the nesting depth of ``var``'s container.
        """
        raise NotImplementedError

    def emit_dict(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        """:meth:`emit` for a ``var`` already known to be a dict."""
        fields = self.object_node()
        if fields is not None:
            fields.emit_fields(gen, var, sink, depth)
        else:
            self.emit(gen, var, sink, depth)

    def object_node(self) -> Obj | None:
        """The closed object this node is (itself, or what its name stands for), else None."""
        return None

    def json_types(self) -> tuple[str, ...]:
        """The JSON types of the values this node may accept."""
        return json_types_of(self)


class Named(Node):
    """A node emitted once under ``$defs`` and referenced elsewhere."""

    def __init__(self, name: str, node: Node, description: str = "") -> None:
        self.name = name
        self.node = node
        self.description = description
        self.check = node.check  # type: ignore[method-assign]  # skip a call layer on the hot path
        self.may_change = node.may_change

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return jsonschema.named(self, defs)

    def emit(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        self.node.emit(gen, var, sink, depth)

    def object_node(self) -> Obj | None:
        return self.node if isinstance(self.node, Obj) else None


class Str(Node):
    def __init__(
        self,
        *,
        pattern: str | None = None,
        enum: Iterable[str] | None = None,
        const: str | None = None,
        min_length: int = 1,
        max_length: int | None = None,
        description: str = "",
        what: str = "",
        memo: bool = False,
    ) -> None:
        self.memo = memo
        self.pattern = pattern
        self.regex = re.compile(pattern) if pattern else None
        self.enum = tuple(enum) if enum is not None else None
        self.const = const
        self.min_length = min_length
        self.max_length = max_length
        self.description = description
        self.what = what or (f"matching {pattern}" if pattern else "")

    def check(self, value: Any) -> Findings:
        if type(value) is not str:
            return _one(E_TYPE, f"expected string, got {json_type(value)}")
        if self.const is not None:
            if value != self.const:
                return _one(E_CONST, f"must be {self.const!r}, got {_show(value)}")
            return None
        if self.enum is not None:
            if value not in self.enum:
                allowed = ", ".join(repr(e) for e in self.enum)
                return _one(E_ENUM, f"{_show(value)} is not one of {allowed}")
            return None
        if len(value) < self.min_length:
            return _one(E_EMPTY, "must not be empty")
        if self.max_length is not None and len(value) > self.max_length:
            return _one(E_RANGE, f"longer than {self.max_length} characters")
        if self.regex is not None and self.regex.fullmatch(value) is None:
            return _one(E_FORMAT, f"{_show(value)} is not {self.what}")
        return None

    def emit(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        gen.fail_if(self.fail_expr(gen, var))

    def fail_expr(self, gen: Gen, var: str) -> str:
        """One boolean expression, true when ``var`` is invalid (short-circuits on the type)."""
        return codegen.str_fail_expr(self, gen, var)

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return jsonschema.string(self)


class Num(Node):
    """A JSON number (int or float; never bool)."""

    def __init__(
        self,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        integer: bool = False,
        description: str = "",
    ) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.integer = integer
        self.description = description

    def check(self, value: Any) -> Findings:
        kind = type(value)
        if kind is int:
            pass
        elif kind is float:
            if self.integer and not value.is_integer():
                return _one(E_TYPE, f"expected integer, got {_show(value)}")
        else:
            return _one(
                E_TYPE,
                f"expected {'integer' if self.integer else 'number'}, got {json_type(value)}",
            )
        if self.minimum is not None and value < self.minimum:
            return _one(E_RANGE, f"{_show(value)} is below the minimum {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            return _one(E_RANGE, f"{_show(value)} is above the maximum {self.maximum}")
        return None

    may_change = True

    def emit(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        codegen.emit_num(self, gen, var, sink, depth)

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return jsonschema.number(self)


def Int(**kwargs: Any) -> Num:  # noqa: N802 - reads like a type in schema definitions
    return Num(integer=True, **kwargs)


class Bool(Node):
    def __init__(self, description: str = "") -> None:
        self.description = description

    def check(self, value: Any) -> Findings:
        if type(value) is not bool:
            return _one(E_TYPE, f"expected boolean, got {json_type(value)}")
        return None

    def emit(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        gen.fail_if(f"type({var}) is not bool")

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return jsonschema.with_doc(self, {"type": "boolean"})


class AnyJSON(Node):
    """Any JSON value; canonicalization checks that it is JSON (finite numbers, str keys...)."""

    def __init__(self, description: str = "") -> None:
        self.description = description

    def check(self, value: Any) -> Findings:
        return None

    may_change = True

    def emit(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        codegen.emit_any_json(gen, var, sink, depth)

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return jsonschema.with_doc(self, {})


class Obj(Node):
    """A closed object: listed fields only; ``optional`` ones may be left out."""

    def __init__(
        self,
        fields: Mapping[str, Node],
        *,
        optional: Iterable[str] = (),
        description: str = "",
    ) -> None:
        self.fields = dict(fields)
        self.optional = frozenset(optional)
        self.required = [name for name in self.fields if name not in self.optional]
        self._items = tuple(self.fields.items())
        self._keys = frozenset(self.fields)
        self._unknown = f"unknown field (allowed: {', '.join(self.fields)})"
        self.description = description
        self.may_change = any(node.may_change for node in self.fields.values())

    def check(self, value: Any) -> Findings:
        if type(value) is not dict:
            return _one(E_TYPE, f"expected object, got {json_type(value)}")
        out: _Findings | None = None
        for name, node in self._items:
            if name in value:
                found = node.check(value[name])
                if found:
                    out = out or _Findings()
                    out.extend(found, name)
            elif name not in self.optional:
                out = out or _Findings()
                out.add([name], E_REQUIRED, "missing required field")
        if not value.keys() <= self._keys:
            out = out or _Findings()
            keys, message = self._keys, self._unknown
            for key in value:
                if key not in keys:
                    if out.full():
                        out.hidden += 1
                    else:
                        out.add([key], E_UNKNOWN_FIELD, message)
        return out.done("object") if out is not None else None

    def emit(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        gen.fail_if(f"type({var}) is not dict")
        self.emit_fields(gen, var, sink, depth)

    def emit_fields(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        """The checks of :meth:`emit` after ``var`` is known to be a dict."""
        codegen.emit_obj_fields(self, gen, var, sink, depth)

    def object_node(self) -> Obj | None:
        return self

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return jsonschema.obj(self, defs)


class MapOf(Node):
    """An open object: any key matching ``key_pattern``; values of one type (or per known key)."""

    def __init__(
        self,
        value: Node,
        *,
        key_pattern: str | None = None,
        known: Mapping[str, Node] | None = None,
        min_entries: int = 0,
        description: str = "",
    ) -> None:
        self.value = value
        self.key_pattern = key_pattern
        self.key_regex = re.compile(key_pattern) if key_pattern else None
        self.known = dict(known or {})
        self.min_entries = min_entries
        self.description = description
        self.may_change = value.may_change or any(n.may_change for n in self.known.values())

    def check(self, value: Any) -> Findings:
        if type(value) is not dict:
            return _one(E_TYPE, f"expected object, got {json_type(value)}")
        if len(value) < self.min_entries:
            return _one(E_EMPTY, f"needs at least {self.min_entries} entries")
        out: _Findings | None = None
        known = self.known
        key_re = self.key_regex
        for key, item in value.items():
            if key_re is not None and key_re.fullmatch(key) is None:
                out = out or _Findings()
                if out.full():
                    out.hidden += 1
                else:
                    out.add([key], E_FORMAT, f"key {_show(key)} does not match {self.key_pattern}")
                continue
            found = known.get(key, self.value).check(item)
            if found:
                out = out or _Findings()
                out.extend(found, key)
        return out.done("object") if out is not None else None

    def emit(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        codegen.emit_map_of(self, gen, var, sink, depth)

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return jsonschema.map_of(self, defs)


class Arr(Node):
    """An array. ``unique_key`` names a field that must differ between items; ``sorted_key``
    additionally requires ascending order of that field, so a set has exactly one spelling."""

    def __init__(
        self,
        item: Node,
        *,
        min_items: int = 0,
        unique_key: str | None = None,
        sorted_key: str | None = None,
        description: str = "",
    ) -> None:
        self.item = item
        self.min_items = min_items
        self.unique_key = unique_key or sorted_key
        self.sorted_key = sorted_key
        self.description = description
        self.may_change = item.may_change

    def check(self, value: Any) -> Findings:
        if type(value) is not list:
            return _one(E_TYPE, f"expected array, got {json_type(value)}")
        if len(value) < self.min_items:
            return _one(E_EMPTY, f"needs at least {self.min_items} item(s)")
        out: _Findings | None = None
        check = self.item.check
        for index, item in enumerate(value):
            found = check(item)
            if found:
                out = out or _Findings()
                out.extend(found, index)
        if out is not None:
            return out.done("array")
        if self.unique_key is not None:
            return self._check_keys(value, self.unique_key)
        return None

    def _check_keys(self, value: list[Any], key: str) -> Findings:
        keys = [item[key] for item in value]
        seen: dict[Any, int] = {}
        for index, name in enumerate(keys):
            if name in seen:
                return [([index, key], E_DUPLICATE, f"{_show(name)} repeats item {seen[name]}")]
            seen[name] = index
        if self.sorted_key is not None:
            for index in range(1, len(keys)):
                # Code-point order of the names, so the array has one canonical order.
                if keys[index - 1] > keys[index]:
                    return [
                        (
                            [index, key],
                            E_ORDER,
                            f"items must be sorted by {key!r}: {_show(keys[index])} "
                            f"comes after {_show(keys[index - 1])}",
                        )
                    ]
        return None

    def emit(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        codegen.emit_arr(self, gen, var, sink, depth)

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return jsonschema.array(self, defs)


class OneOf(Node):
    """Alternatives told apart by JSON type, or an object told apart by a marker key.

    ``marker`` maps a key to the alternative used when an object holds that key (the absence
    marker ``{"absent": ...}``). Otherwise the first alternative whose JSON type matches decides,
    so error messages come from the alternative the author meant.
    """

    def __init__(
        self,
        *alternatives: Node,
        marker: Mapping[str, Node] | None = None,
        description: str = "",
    ) -> None:
        self.alternatives = alternatives
        self.marker = dict(marker or {})
        self.description = description
        self.may_change = any(n.may_change for n in (*alternatives, *self.marker.values()))
        self.by_type: dict[str, Node] = {}
        for alt in alternatives:
            for kind in json_types_of(alt):
                self.by_type.setdefault(kind, alt)

    def check(self, value: Any) -> Findings:
        if self.marker and type(value) is dict:
            for key, node in self.marker.items():
                if key in value:
                    return node.check(value)
        kind = json_type(value)
        chosen = self.by_type.get(kind)
        if chosen is None:
            expected = " or ".join(sorted(self.by_type))
            return _one(E_TYPE, f"expected {expected}, got {kind}")
        return chosen.check(value)

    def emit(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        codegen.emit_one_of(self, gen, var, sink, depth)

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return jsonschema.one_of(self, defs)


def json_types_of(node: Node) -> tuple[str, ...]:
    """The JSON types ``node`` may accept (all of them for a node type not listed here)."""
    inner = node.node if isinstance(node, Named) else node
    if isinstance(inner, Str):
        return ("string",)
    if isinstance(inner, Num):
        return ("number",)
    if isinstance(inner, Bool):
        return ("boolean",)
    if isinstance(inner, Obj | MapOf):
        return ("object",)
    if isinstance(inner, Arr):
        return ("array",)
    if isinstance(inner, OneOf):
        return tuple(inner.by_type)
    return ("object", "array", "string", "number", "boolean", "null")


def pointer(path: Iterable[str | int]) -> str:
    """RFC 6901 JSON Pointer for a path ("" is the whole document)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)
