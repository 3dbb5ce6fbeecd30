"""A small typed-schema language: one description gives validation and JSON Schema.

The declaration schema (``runid.declaration``) is written once with these nodes. From it we get

* ``check(value)``: every problem, each as (relative path, stable code, message). The fast path
  (a valid document) allocates nothing but the ``None`` it returns, and JSON Pointers are only
  built when something is wrong, because identity computation validates on every call.
* ``json_schema()``: the JSON Schema (draft 2020-12) shipped in ``docs/schema/``.

Numbers follow the JSON data model, not Python's: ``1.0`` and ``1`` are the same number (RFC 8785
writes both as ``1``), so an integer field accepts an integral float and a number field accepts an
int. ``bool`` is never a number.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .. import canonical

# One finding before its pointer is built: (path parts from the node being checked, code, message).
Finding = tuple[list[str | int], str, str]
Findings = list[Finding] | None

ABSENCE_REASONS = ("not_applicable", "not_recorded", "undisclosed")


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


def _prefix(findings: list[Finding], part: str | int) -> list[Finding]:
    for path, _code, _message in findings:
        path.insert(0, part)
    return findings


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Node:
    """Base of every schema node."""

    description: str = ""

    def check(self, value: Any) -> Findings:  # pragma: no cover - abstract
        raise NotImplementedError

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError

    #: Whether normalisation may replace a value of this node (floats, free-form JSON).
    may_change: bool = False

    def emit(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:  # pragma: no cover
        """Write statements that ``return INVALID`` unless ``var`` is valid.

        ``sink(new)`` writes the statements that hand a normalised replacement ``new`` of
        ``var`` to the parent; ``depth`` is the nesting depth of ``var``'s container.
        """
        raise NotImplementedError

    def _with_doc(self, schema: dict[str, Any]) -> dict[str, Any]:
        if self.description:
            schema["description"] = self.description
        return schema


class Named(Node):
    """A node emitted once under ``$defs`` and referenced elsewhere."""

    def __init__(self, name: str, node: Node, description: str = "") -> None:
        self.name = name
        self.node = node
        self.description = description
        self.check = node.check  # type: ignore[method-assign]  # skip a call layer on the hot path
        self.may_change = node.may_change

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        if self.name not in defs:
            defs[self.name] = {}  # reserve first: a recursive type must not recurse forever
            defs[self.name] = self._with_doc(self.node.json_schema(defs))
        return {"$ref": f"#/$defs/{self.name}"}

    def emit(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        self.node.emit(gen, var, sink, depth)


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
        self._re = re.compile(pattern) if pattern else None
        self.enum = tuple(enum) if enum is not None else None
        self.const = const
        self.min_length = min_length
        self.max_length = max_length
        self.description = description
        self.what = what or (f"matching {pattern}" if pattern else "")

    def check(self, value: Any) -> Findings:
        if type(value) is not str:
            return _one("E_TYPE", f"expected string, got {json_type(value)}")
        if self.const is not None:
            if value != self.const:
                return _one("E_CONST", f"must be {self.const!r}, got {_show(value)}")
            return None
        if self.enum is not None:
            if value not in self.enum:
                allowed = ", ".join(repr(e) for e in self.enum)
                return _one("E_ENUM", f"{_show(value)} is not one of {allowed}")
            return None
        if len(value) < self.min_length:
            return _one("E_EMPTY", "must not be empty")
        if self.max_length is not None and len(value) > self.max_length:
            return _one("E_RANGE", f"longer than {self.max_length} characters")
        if self._re is not None and self._re.fullmatch(value) is None:
            return _one("E_FORMAT", f"{_show(value)} is not {self.what}")
        return None

    def emit(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        gen.fail_if(self.fail_expr(gen, var))

    def fail_expr(self, gen: Gen, var: str) -> str:
        """One boolean expression, true when ``var`` is invalid (short-circuits on the type)."""
        # Membership in a set of strings needs no type test: anything else is not in it, and
        # an unhashable value raises TypeError, which the generated function answers INVALID.
        if self.const is not None:
            return f"{var} != {self.const!r}"
        if self.enum is not None:
            return f"{var} not in {gen.const(frozenset(self.enum))}"
        test = f"type({var}) is not str"
        if self.min_length == 1 and self._re is None:
            test += f" or not {var}"
        elif self.min_length and self._re is None:
            test += f" or len({var}) < {self.min_length}"
        if self.max_length is not None:
            test += f" or len({var}) > {self.max_length}"
        if self._re is not None:
            # A pattern that cannot match the empty string makes the length check redundant.
            if self.min_length and self._re.fullmatch("") is not None:
                test += f" or len({var}) < {self.min_length}"
            if self.memo:
                # Few distinct values (media types): remember the ones that matched.
                seen: set[str] = set()
                fullmatch = self._re.fullmatch

                def matches(value: str) -> bool:
                    if fullmatch(value) is None:
                        return False
                    if len(seen) < 4096:
                        seen.add(value)
                    return True

                test += f" or ({var} not in {gen.const(seen)} and not {gen.const(matches)}({var}))"
            else:
                test += f" or {gen.const(self._re.fullmatch)}({var}) is None"
        return test

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string"}
        if self.const is not None:
            schema["const"] = self.const
        elif self.enum is not None:
            schema["enum"] = list(self.enum)
        else:
            if self.min_length:
                schema["minLength"] = self.min_length
            if self.max_length is not None:
                schema["maxLength"] = self.max_length
            if self.pattern:
                schema["pattern"] = f"^(?:{self.pattern})$"
        return self._with_doc(schema)


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
                return _one("E_TYPE", f"expected integer, got {_show(value)}")
        else:
            return _one(
                "E_TYPE",
                f"expected {'integer' if self.integer else 'number'}, got {json_type(value)}",
            )
        if self.minimum is not None and value < self.minimum:
            return _one("E_RANGE", f"{_show(value)} is below the minimum {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            return _one("E_RANGE", f"{_show(value)} is above the maximum {self.maximum}")
        return None

    may_change = True

    def emit(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        kind = gen.var()
        gen.line(f"{kind} = type({var})")
        # An int must lie within the schema's range and I-JSON's +/-(2**53 - 1).
        low = -MAX_SAFE_INT if self.minimum is None else max(self.minimum, -MAX_SAFE_INT)
        high = MAX_SAFE_INT if self.maximum is None else min(self.maximum, MAX_SAFE_INT)
        with gen.block(f"if {kind} is int:"):
            gen.fail_if(f"not ({low!r} <= {var} <= {high!r})")
        with gen.block(f"elif {kind} is float:"):
            test = [f"not {var}.is_integer()"] if self.integer else []
            if self.minimum is not None or self.maximum is not None:
                # NaN fails every comparison, so it lands here too (then canonicalization names it).
                lo = "-INF" if self.minimum is None else repr(float(self.minimum))
                hi = "INF" if self.maximum is None else repr(float(self.maximum))
                test.append(f"not ({lo} <= {var} <= {hi})")
            if test:
                gen.fail_if(" or ".join(test))
            # Floats are rewritten to their JCS form (FIX_FLOAT rejects NaN and infinities).
            new = gen.var()
            gen.line(f"{new} = FIX_FLOAT({var})")
            if sink is not None:
                with gen.block(f"if {new} is not {var}:"):
                    sink(new)
        with gen.block("else:"):
            gen.line("return INVALID")

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "integer" if self.integer else "number"}
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return self._with_doc(schema)


def Int(**kwargs: Any) -> Num:  # noqa: N802 - reads like a type in schema definitions
    return Num(integer=True, **kwargs)


class Bool(Node):
    def __init__(self, description: str = "") -> None:
        self.description = description

    def check(self, value: Any) -> Findings:
        if type(value) is not bool:
            return _one("E_TYPE", f"expected boolean, got {json_type(value)}")
        return None

    def emit(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        gen.fail_if(f"type({var}) is not bool")

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return self._with_doc({"type": "boolean"})


class AnyJSON(Node):
    """Any JSON value; canonicalization checks that it is JSON (finite numbers, str keys...)."""

    def __init__(self, description: str = "") -> None:
        self.description = description

    def check(self, value: Any) -> Findings:
        return None

    may_change = True

    def emit(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        new = gen.var()
        gen.line(f"{new} = NORMALIZE({var}, {depth})")
        if sink is not None:
            with gen.block(f"if {new} is not {var}:"):
                sink(new)

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return self._with_doc({})


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
        self.description = description
        self.may_change = any(node.may_change for node in self.fields.values())

    def check(self, value: Any) -> Findings:
        if type(value) is not dict:
            return _one("E_TYPE", f"expected object, got {json_type(value)}")
        out: Findings = None
        for name, node in self._items:
            if name in value:
                found = node.check(value[name])
                if found:
                    out = (out or []) + _prefix(found, name)
            elif name not in self.optional:
                out = (out or []) + [([name], "E_REQUIRED", "missing required field")]
        if not value.keys() <= self._keys:
            for key in value:
                if key not in self._keys:
                    allowed = ", ".join(self.fields)
                    out = (out or []) + [
                        ([key], "E_UNKNOWN_FIELD", f"unknown field (allowed: {allowed})")
                    ]
        return out

    def emit(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        gen.fail_if(f"type({var}) is not dict")
        self.emit_fields(gen, var, sink, depth)

    def emit_fields(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        """The checks of :meth:`emit` after ``var`` is known to be a dict."""
        present = gen.var() if self.optional else None
        if present is not None:
            gen.line(f"{present} = {len(self.required)}")
        changes = gen.var() if self.may_change else None
        if changes is not None:
            gen.line(f"{changes} = None")
        for name, node in self._items:
            item = gen.var()
            child_sink = _collect(gen, changes, repr(name), "{}") if changes else None
            if name in self.optional:
                gen.line(f"{item} = {var}.get({name!r}, MISSING)")
                with gen.block(f"if {item} is not MISSING:"):
                    gen.line(f"{present} += 1")
                    node.emit(gen, item, child_sink, depth + 1)
            else:
                # A missing field raises KeyError, which the generated function answers with
                # INVALID: cheaper than a .get() and a comparison for every field.
                gen.line(f"{item} = {var}[{name!r}]")
                node.emit(gen, item, child_sink, depth + 1)
        # Every listed field present was counted, so a longer dict has an unknown key.
        gen.fail_if(f"len({var}) != {present or len(self.required)}")
        _emit_merge(gen, var, changes, sink)

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return self._with_doc(
            {
                "type": "object",
                "properties": {k: v.json_schema(defs) for k, v in self.fields.items()},
                "required": list(self.required),
                "additionalProperties": False,
            }
        )


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
        self._key_re = re.compile(key_pattern) if key_pattern else None
        self.known = dict(known or {})
        self.min_entries = min_entries
        self.description = description
        self.may_change = value.may_change or any(n.may_change for n in self.known.values())

    def check(self, value: Any) -> Findings:
        if type(value) is not dict:
            return _one("E_TYPE", f"expected object, got {json_type(value)}")
        if len(value) < self.min_entries:
            return _one("E_EMPTY", f"needs at least {self.min_entries} entries")
        out: Findings = None
        known = self.known
        key_re = self._key_re
        for key, item in value.items():
            if key_re is not None and key_re.fullmatch(key) is None:
                out = (out or []) + [
                    ([key], "E_FORMAT", f"key {_show(key)} does not match {self.key_pattern}")
                ]
                continue
            found = known.get(key, self.value).check(item)
            if found:
                out = (out or []) + _prefix(found, key)
        return out

    def emit(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        gen.fail_if(f"type({var}) is not dict")
        if self.min_entries:
            gen.fail_if(f"len({var}) < {self.min_entries}")
        changes = gen.var() if self.may_change else None
        if changes is not None:
            gen.line(f"{changes} = None")
        key, item = gen.var(), gen.var()
        with gen.block(f"for {key}, {item} in {var}.items():"):
            if self._key_re is not None:
                gen.fail_if(f"{gen.const(self._key_re.fullmatch)}({key}) is None")
            else:
                gen.fail_if(f"type({key}) is not str")
            child_sink = _collect(gen, changes, key, "{}") if changes else None
            if self.known:
                # Known keys have their own types. Keys whose types are alike share one branch
                # of an if/elif chain, chosen by a table lookup: cheaper than a call per entry.
                groups: dict[str, tuple[Node, list[str]]] = {}
                for name, node in self.known.items():
                    signature = json.dumps(node.json_schema({}), sort_keys=True)
                    groups.setdefault(signature, (node, []))[1].append(name)
                table = {
                    name: number
                    for number, (_node, names) in enumerate(groups.values(), 1)
                    for name in names
                }
                branch = gen.var()
                gen.line(f"{branch} = {gen.const(table)}.get({key}, 0)")
                for number, (node, _names) in enumerate(groups.values(), 1):
                    with gen.block(f"{'if' if number == 1 else 'elif'} {branch} == {number}:"):
                        node.emit(gen, item, child_sink, depth + 1)
                with gen.block("else:"):
                    self.value.emit(gen, item, child_sink, depth + 1)
            else:
                self.value.emit(gen, item, child_sink, depth + 1)
        _emit_merge(gen, var, changes, sink)

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "object",
            "additionalProperties": self.value.json_schema(defs),
        }
        if self.known:
            schema["properties"] = {k: v.json_schema(defs) for k, v in self.known.items()}
        if self.key_pattern:
            schema["propertyNames"] = {"pattern": f"^(?:{self.key_pattern})$"}
        if self.min_entries:
            schema["minProperties"] = self.min_entries
        return self._with_doc(schema)


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
            return _one("E_TYPE", f"expected array, got {json_type(value)}")
        if len(value) < self.min_items:
            return _one("E_EMPTY", f"needs at least {self.min_items} item(s)")
        out: Findings = None
        check = self.item.check
        for index, item in enumerate(value):
            found = check(item)
            if found:
                out = (out or []) + _prefix(found, index)
        if out is None and self.unique_key is not None:
            out = self._check_keys(value, self.unique_key)
        return out

    def _check_keys(self, value: list[Any], key: str) -> Findings:
        keys = [item[key] for item in value]
        seen: dict[Any, int] = {}
        for index, name in enumerate(keys):
            if name in seen:
                return [([index, key], "E_DUPLICATE", f"{_show(name)} repeats item {seen[name]}")]
            seen[name] = index
        if self.sorted_key is not None:
            for index in range(1, len(keys)):
                # Code-point order of the names, so the array has one canonical order.
                if keys[index - 1] > keys[index]:
                    return [
                        (
                            [index, key],
                            "E_ORDER",
                            f"items must be sorted by {key!r}: {_show(keys[index])} "
                            f"comes after {_show(keys[index - 1])}",
                        )
                    ]
        return None

    def emit(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        gen.fail_if(f"type({var}) is not list")
        if self.min_items:
            gen.fail_if(f"len({var}) < {self.min_items}")
        item = gen.var()
        if self.may_change:
            changes, index = gen.var(), gen.var()
            gen.line(f"{changes} = None")
            with gen.block(f"for {index}, {item} in enumerate({var}):"):
                self.item.emit(gen, item, _collect(gen, changes, index, f"list({var})"), depth + 1)
            if sink is not None:
                with gen.block(f"if {changes} is not None:"):
                    sink(changes)
        else:
            with gen.block(f"for {item} in {var}:"):
                self.item.emit(gen, item, None, depth + 1)
        if self.unique_key is not None:
            keys = gen.var()
            gen.line(f"{keys} = [{item}[{self.unique_key!r}] for {item} in {var}]")
            if self.sorted_key is not None:
                gen.fail_if(f"{keys} != sorted(set({keys}))")
            else:
                gen.fail_if(f"len(set({keys})) != len({keys})")

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array", "items": self.item.json_schema(defs)}
        if self.min_items:
            schema["minItems"] = self.min_items
        return self._with_doc(schema)


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
        self._by_type: dict[str, Node] = {}
        for alt in alternatives:
            for kind in _json_types_of(alt):
                self._by_type.setdefault(kind, alt)

    def check(self, value: Any) -> Findings:
        if self.marker and type(value) is dict:
            for key, node in self.marker.items():
                if key in value:
                    return node.check(value)
        kind = json_type(value)
        chosen = self._by_type.get(kind)
        if chosen is None:
            expected = " or ".join(sorted(self._by_type))
            return _one("E_TYPE", f"expected {expected}, got {kind}")
        return chosen.check(value)

    def emit(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        kind = gen.var()
        gen.line(f"{kind} = type({var})")
        branches: list[tuple[str, Node]] = [
            (f"{kind} is dict and {key!r} in {var}", node) for key, node in self.marker.items()
        ]
        tests = {
            "string": f"{kind} is str",
            "number": f"{kind} is int or {kind} is float",
            "boolean": f"{kind} is bool",
            "object": f"{kind} is dict",
            "array": f"{kind} is list",
            "null": f"{var} is None",
        }
        if len(self.alternatives) == 1 and len(self.marker) == 1:
            # The common "value or absent" case, with as few tests as possible.
            (key, marker), alt = next(iter(self.marker.items())), self.alternatives[0]
            inner = alt.node if isinstance(alt, Named) else alt
            if isinstance(inner, Obj):
                gen.fail_if(f"{kind} is not dict")
                with gen.block(f"if {key!r} in {var}:"):
                    _emit_dict(marker, gen, var, sink, depth)
                with gen.block("else:"):
                    inner.emit_fields(gen, var, sink, depth)
            elif "object" not in _json_types_of(alt):
                # Any object here must be the marker: the alternative is not an object.
                with gen.block(f"if {kind} is dict:"):
                    _emit_dict(marker, gen, var, sink, depth)
                with gen.block("else:"):
                    alt.emit(gen, var, sink, depth)
            else:
                with gen.block(f"if {kind} is dict and {key!r} in {var}:"):
                    _emit_dict(marker, gen, var, sink, depth)
                with gen.block("else:"):
                    alt.emit(gen, var, sink, depth)
            return
        if len(self.alternatives) == 1:
            # The alternative checks its own type: no need to dispatch on it first.
            for index, (test, node) in enumerate(branches):
                with gen.block(f"{'if' if index == 0 else 'elif'} {test}:"):
                    _emit_dict(node, gen, var, sink, depth)
            with gen.block("else:" if branches else "if True:"):
                self.alternatives[0].emit(gen, var, sink, depth)
            return
        branches += [(tests[name], node) for name, node in self._by_type.items()]
        for index, (test, node) in enumerate(branches):
            with gen.block(f"{'if' if index == 0 else 'elif'} {test}:"):
                node.emit(gen, var, sink, depth)
        with gen.block("else:"):
            gen.line("return INVALID")

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        options = [alt.json_schema(defs) for alt in self.alternatives]
        options += [node.json_schema(defs) for node in self.marker.values()]
        return self._with_doc({"oneOf": options})


def _emit_dict(node: Node, gen: Gen, var: str, sink: Sink, depth: int) -> None:
    """Emit ``node`` for a ``var`` already known to be a dict."""
    inner = node.node if isinstance(node, Named) else node
    if isinstance(inner, Obj):
        inner.emit_fields(gen, var, sink, depth)
    else:
        node.emit(gen, var, sink, depth)


def _json_types_of(node: Node) -> tuple[str, ...]:
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
        return tuple(inner._by_type)
    return ("object", "array", "string", "number", "boolean", "null")


def pointer(path: Iterable[str | int]) -> str:
    """RFC 6901 JSON Pointer for a path ("" is the whole document)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


MISSING: Any = _Marker("MISSING")
#: What a compiled normaliser returns for a value it does not accept (``None`` is JSON null).
INVALID: Any = _Marker("INVALID")
MAX_SAFE_INT = 2**53 - 1

Sink = Callable[[str], None] | None


def _emit_merge(gen: Gen, var: str, changes: str | None, sink: Sink) -> None:
    """Hand the parent a copy of object ``var`` with the recorded ``changes``, if any."""
    if changes is not None and sink is not None:
        with gen.block(f"if {changes} is not None:"):
            new = gen.var()
            gen.line(f"{new} = {{**{var}, **{changes}}}")
            sink(new)


def _collect(gen: Gen, changes: str, key: str, init: str) -> Callable[[str], None]:
    """A sink that records a child's replacement in ``changes`` (created on first use)."""

    def sink(new: str) -> None:
        with gen.block(f"if {changes} is None:"):
            gen.line(f"{changes} = {init}")
        gen.line(f"{changes}[{key}] = {new}")

    return sink


class Gen:
    """Collects the source of one generated normaliser function."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 1
        self.count = 0
        self.consts: dict[str, Any] = {
            "MISSING": MISSING,
            "INVALID": INVALID,
            "FIX_FLOAT": canonical.prepare_float,
            "NORMALIZE": canonical.prepare,
            "REJECT": canonical.Unrepresentable,
            "INF": float("inf"),
        }

    def var(self) -> str:
        self.count += 1
        return f"v{self.count}"

    def const(self, value: Any) -> str:
        name = f"C{len(self.consts)}"
        self.consts[name] = value
        return name

    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    def fail_if(self, condition: str) -> None:
        self.line(f"if {condition}:")
        self.lines.append("    " * (self.depth + 1) + "return INVALID")

    @contextmanager
    def block(self, header: str) -> Iterator[None]:
        self.line(header)
        self.depth += 1
        try:
            yield
            self.line("pass")  # a block may hold no check at all (AnyJSON)
        finally:
            self.depth -= 1


def compile_normalizer(node: Node, depth: int = 0) -> Callable[[Any], Any]:
    """A fast ``value -> normalised value | INVALID`` for ``node``, generated as Python.

    Identity computation validates on every call, and walking a schema interpretively, then
    walking the value again to put its numbers in JCS form, costs several times the hashing.
    The generated function does both in one pass of straight-line code: it answers INVALID for
    anything wrong (then the interpreted :meth:`Node.check` names every problem, or
    canonicalization names the JSON-level one), else the value with floats in JCS form (the same
    object where nothing changed; the input is never modified).
    """
    gen = Gen()
    gen.depth = 2
    node.emit(gen, "v0", lambda new: gen.line(f"v0 = {new}"), depth)
    source = (
        "def normalize(v0):\n    try:\n"
        + "\n".join(gen.lines)
        + "\n    except (KeyError, TypeError, REJECT):\n        return INVALID\n    return v0\n"
    )
    namespace: dict[str, Any] = dict(gen.consts)
    exec(compile(source, f"<runid normalizer {type(node).__name__}>", "exec"), namespace)
    function: Callable[[Any], Any] = namespace["normalize"]
    function.__doc__ = source  # kept for debugging: help(function) shows the generated code
    return function


# --- documentation -------------------------------------------------------------------------


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
    lines = ["| field | type | meaning |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)
