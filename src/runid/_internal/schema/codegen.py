"""The generated validator: schema nodes written out as one straight-line Python function.

ADR 0003. :func:`compile_normalizer` asks a node to ``emit`` its checks into a :class:`Gen`, then
compiles the collected source. The node types (``nodes.py``) call the ``emit_*`` functions here
for their part; a node defined elsewhere (``runid.declaration.ParamEntry``) writes its own
``emit`` with the same :class:`Gen`. Nothing here imports the node types at run time.

Compiling the declaration's source (2,000 lines) costs ~15 ms, on every ``import runid``: so
the sources of the named validators are also checked in, as the functions of
:mod:`runid._internal.generated_validator` (:func:`generated_module`, written by
``python scripts/gen_docs.py``, which ``--check`` keeps current), and Python caches their
bytecode like any module's. :func:`compile_normalizer` with a ``name`` still emits the source
(~1 ms: its constants, regular expressions and memo sets, are built then) and uses the checked-in
code only when that source's digest is the one recorded beside it; otherwise it compiles, so a
stale file costs time, never correctness.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ... import canonical

if TYPE_CHECKING:
    from .nodes import Arr, MapOf, Node, Num, Obj, OneOf, Str

__all__ = [
    "INVALID",
    "MAX_SAFE_INT",
    "MISSING",
    "Gen",
    "Sink",
    "compile_normalizer",
    "generated_module",
    "named_nodes",
    "normalizer_source",
]


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


def normalizer_source(node: Node, depth: int = 0) -> tuple[str, dict[str, Any]]:
    """The generated source of ``node``'s normaliser (a function ``normalize(v0)``) and the
    constants it refers to by name."""
    gen = Gen()
    gen.depth = 2
    node.emit(gen, "v0", lambda new: gen.line(f"v0 = {new}"), depth)
    source = (
        "def normalize(v0):\n    try:\n"
        + "\n".join(gen.lines)
        + "\n    except (KeyError, TypeError, REJECT):\n        return INVALID\n    return v0\n"
    )
    return source, gen.consts


def compile_normalizer(node: Node, depth: int = 0, *, name: str = "") -> Callable[[Any], Any]:
    """A fast ``value -> normalised value | INVALID`` for ``node``, generated as Python.

    Identity computation validates on every call, and walking a schema interpretively, then
    walking the value again to put its numbers in JCS form, costs several times the hashing.
    The generated function does both in one pass of straight-line code: it answers INVALID for
    anything wrong (then the interpreted :meth:`Node.check` names every problem, or
    canonicalization names the JSON-level one), else the value with floats in JCS form (the same
    object where nothing changed; the input is never modified).

    ``name``: the function of :mod:`runid._internal.generated_validator` that holds this source
    precompiled, used when its recorded digest is this source's (see the module docstring).
    """
    source, consts = normalizer_source(node, depth)
    if name:
        _NAMED[name] = node
    namespace: dict[str, Any] = dict(consts)
    namespace["__builtins__"] = builtins
    code = _precompiled(name, source) if name else None
    if code is not None:
        function: Callable[[Any], Any] = types.FunctionType(code, namespace, "normalize")
    else:
        exec(compile(source, f"<runid normalizer {type(node).__name__}>", "exec"), namespace)
        function = namespace["normalize"]
    function.__doc__ = source  # kept for debugging: help(function) shows the generated code
    return function


_NAMED: dict[str, Node] = {}


def named_nodes() -> dict[str, Node]:
    """The nodes compiled so far with a ``name``: what :func:`generated_module` writes out
    (``scripts/gen_docs.py`` imports the schema modules first)."""
    return dict(_NAMED)


def _source_digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _precompiled(name: str, source: str) -> types.CodeType | None:
    """The checked-in code of validator ``name`` if it was generated from ``source``."""
    try:
        from .. import generated_validator
    except ImportError:  # pragma: no cover - only before the first gen_docs run
        return None
    if generated_validator.DIGESTS.get(name) != _source_digest(source):
        return None
    function = getattr(generated_validator, name, None)
    return function.__code__ if isinstance(function, types.FunctionType) else None


def generated_module(nodes: Mapping[str, Node]) -> str:
    """The text of :mod:`runid._internal.generated_validator`: one function per named node
    (``name -> node``), each the source :func:`compile_normalizer` generates, renamed, and the
    digest of that source."""
    sources = {name: normalizer_source(node)[0] for name, node in nodes.items()}
    parts = [
        '"""The generated validators, precompiled: written by ``python scripts/gen_docs.py`` from',
        "the schema nodes (:func:`runid._internal.schema.codegen.generated_module`); do not edit.",
        "",
        "Each function is the source :func:`~runid._internal.schema.codegen.compile_normalizer`",
        "generates for the node of that name. It runs only with the constants that function builds",
        "(its globals here are undefined), and only while ``DIGESTS`` names its source's digest.",
        '"""',
        "",
        "# fmt: off",
        "# ruff: noqa",
        "# mypy: ignore-errors",
        "",
        "DIGESTS = {",
        *(f"    {name!r}: {_source_digest(src)!r}," for name, src in sources.items()),
        "}",
    ]
    for name, src in sources.items():
        head, _, body = src.partition("\n")
        assert head == "def normalize(v0):"
        parts += ["", "", f"def {name}(v0):", body.rstrip("\n")]
    return "\n".join(parts) + "\n"


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


# --- one emitter per node type: write statements that `return INVALID` unless `var` is valid ---


def str_fail_expr(node: Str, gen: Gen, var: str) -> str:
    """One boolean expression, true when ``var`` is invalid (short-circuits on the type)."""
    # Membership in a set of strings needs no type test: anything else is not in it, and
    # an unhashable value raises TypeError, which the generated function answers INVALID.
    if node.const is not None:
        return f"{var} != {node.const!r}"
    if node.enum is not None:
        return f"{var} not in {gen.const(frozenset(node.enum))}"
    test = f"type({var}) is not str"
    if node.min_length == 1 and node.regex is None:
        test += f" or not {var}"
    elif node.min_length and node.regex is None:
        test += f" or len({var}) < {node.min_length}"
    if node.max_length is not None:
        test += f" or len({var}) > {node.max_length}"
    if node.regex is not None:
        # A pattern that cannot match the empty string makes the length check redundant.
        if node.min_length and node.regex.fullmatch("") is not None:
            test += f" or len({var}) < {node.min_length}"
        if node.memo:
            # Few distinct values (media types): remember the ones that matched.
            seen: set[str] = set()
            fullmatch = node.regex.fullmatch

            def matches(value: str) -> bool:
                if fullmatch(value) is None:
                    return False
                if len(seen) < 4096:
                    seen.add(value)
                return True

            test += f" or ({var} not in {gen.const(seen)} and not {gen.const(matches)}({var}))"
        else:
            test += f" or {gen.const(node.regex.fullmatch)}({var}) is None"
    return test


def emit_num(node: Num, gen: Gen, var: str, sink: Sink, depth: int) -> None:
    kind = gen.var()
    gen.line(f"{kind} = type({var})")
    # An int must lie within the schema's range and I-JSON's +/-(2**53 - 1).
    low = -MAX_SAFE_INT if node.minimum is None else max(node.minimum, -MAX_SAFE_INT)
    high = MAX_SAFE_INT if node.maximum is None else min(node.maximum, MAX_SAFE_INT)
    with gen.block(f"if {kind} is int:"):
        gen.fail_if(f"not ({low!r} <= {var} <= {high!r})")
    with gen.block(f"elif {kind} is float:"):
        test = [f"not {var}.is_integer()"] if node.integer else []
        if node.minimum is not None or node.maximum is not None:
            # NaN fails every comparison, so it lands here too (then canonicalization names it).
            lo = "-INF" if node.minimum is None else repr(float(node.minimum))
            hi = "INF" if node.maximum is None else repr(float(node.maximum))
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


def emit_any_json(gen: Gen, var: str, sink: Sink, depth: int) -> None:
    new = gen.var()
    gen.line(f"{new} = NORMALIZE({var}, {depth})")
    if sink is not None:
        with gen.block(f"if {new} is not {var}:"):
            sink(new)


def emit_obj_fields(node: Obj, gen: Gen, var: str, sink: Sink, depth: int) -> None:
    """The checks of an object's ``emit`` after ``var`` is known to be a dict."""
    present = gen.var() if node.optional else None
    if present is not None:
        gen.line(f"{present} = {len(node.required)}")
    changes = gen.var() if node.may_change else None
    if changes is not None:
        gen.line(f"{changes} = None")
    for name, child in node.fields.items():
        item = gen.var()
        child_sink = _collect(gen, changes, repr(name), "{}") if changes else None
        if name in node.optional:
            gen.line(f"{item} = {var}.get({name!r}, MISSING)")
            with gen.block(f"if {item} is not MISSING:"):
                gen.line(f"{present} += 1")
                child.emit(gen, item, child_sink, depth + 1)
        else:
            # A missing field raises KeyError, which the generated function answers with
            # INVALID: cheaper than a .get() and a comparison for every field.
            gen.line(f"{item} = {var}[{name!r}]")
            child.emit(gen, item, child_sink, depth + 1)
    # Every listed field present was counted, so a longer dict has an unknown key.
    gen.fail_if(f"len({var}) != {present or len(node.required)}")
    _emit_merge(gen, var, changes, sink)


def emit_map_of(node: MapOf, gen: Gen, var: str, sink: Sink, depth: int) -> None:
    gen.fail_if(f"type({var}) is not dict")
    if node.min_entries:
        gen.fail_if(f"len({var}) < {node.min_entries}")
    changes = gen.var() if node.may_change else None
    if changes is not None:
        gen.line(f"{changes} = None")
    key, item = gen.var(), gen.var()
    with gen.block(f"for {key}, {item} in {var}.items():"):
        if node.key_regex is not None:
            gen.fail_if(f"{gen.const(node.key_regex.fullmatch)}({key}) is None")
        else:
            gen.fail_if(f"type({key}) is not str")
        child_sink = _collect(gen, changes, key, "{}") if changes else None
        if node.known:
            # Known keys have their own types. Keys whose types are alike share one branch
            # of an if/elif chain, chosen by a table lookup: cheaper than a call per entry.
            groups: dict[str, tuple[Node, list[str]]] = {}
            for name, child in node.known.items():
                signature = json.dumps(child.json_schema({}), sort_keys=True)
                groups.setdefault(signature, (child, []))[1].append(name)
            table = {
                name: number
                for number, (_child, names) in enumerate(groups.values(), 1)
                for name in names
            }
            branch = gen.var()
            gen.line(f"{branch} = {gen.const(table)}.get({key}, 0)")
            for number, (child, _names) in enumerate(groups.values(), 1):
                with gen.block(f"{'if' if number == 1 else 'elif'} {branch} == {number}:"):
                    child.emit(gen, item, child_sink, depth + 1)
            with gen.block("else:"):
                node.value.emit(gen, item, child_sink, depth + 1)
        else:
            node.value.emit(gen, item, child_sink, depth + 1)
    _emit_merge(gen, var, changes, sink)


def emit_arr(node: Arr, gen: Gen, var: str, sink: Sink, depth: int) -> None:
    gen.fail_if(f"type({var}) is not list")
    if node.min_items:
        gen.fail_if(f"len({var}) < {node.min_items}")
    item = gen.var()
    if node.may_change:
        changes, index = gen.var(), gen.var()
        gen.line(f"{changes} = None")
        with gen.block(f"for {index}, {item} in enumerate({var}):"):
            node.item.emit(gen, item, _collect(gen, changes, index, f"list({var})"), depth + 1)
        if sink is not None:
            with gen.block(f"if {changes} is not None:"):
                sink(changes)
    else:
        with gen.block(f"for {item} in {var}:"):
            node.item.emit(gen, item, None, depth + 1)
    if node.unique_key is not None:
        keys = gen.var()
        gen.line(f"{keys} = [{item}[{node.unique_key!r}] for {item} in {var}]")
        if node.sorted_key is not None:
            gen.fail_if(f"{keys} != sorted(set({keys}))")
        else:
            gen.fail_if(f"len(set({keys})) != len({keys})")


_TYPE_TESTS = {
    "string": "{kind} is str",
    "number": "{kind} is int or {kind} is float",
    "boolean": "{kind} is bool",
    "object": "{kind} is dict",
    "array": "{kind} is list",
    "null": "{var} is None",
}


def emit_one_of(node: OneOf, gen: Gen, var: str, sink: Sink, depth: int) -> None:
    kind = gen.var()
    gen.line(f"{kind} = type({var})")
    branches: list[tuple[str, Node]] = [
        (f"{kind} is dict and {key!r} in {var}", marker) for key, marker in node.marker.items()
    ]
    if len(node.alternatives) == 1 and len(node.marker) == 1:
        # The common "value or absent" case, with as few tests as possible.
        (key, marker), alt = next(iter(node.marker.items())), node.alternatives[0]
        fields = alt.object_node()
        if fields is not None:
            gen.fail_if(f"{kind} is not dict")
            with gen.block(f"if {key!r} in {var}:"):
                marker.emit_dict(gen, var, sink, depth)
            with gen.block("else:"):
                fields.emit_fields(gen, var, sink, depth)
        elif "object" not in alt.json_types():
            # Any object here must be the marker: the alternative is not an object.
            with gen.block(f"if {kind} is dict:"):
                marker.emit_dict(gen, var, sink, depth)
            with gen.block("else:"):
                alt.emit(gen, var, sink, depth)
        else:
            with gen.block(f"if {kind} is dict and {key!r} in {var}:"):
                marker.emit_dict(gen, var, sink, depth)
            with gen.block("else:"):
                alt.emit(gen, var, sink, depth)
        return
    if len(node.alternatives) == 1:
        # The alternative checks its own type: no need to dispatch on it first.
        for index, (test, branch) in enumerate(branches):
            with gen.block(f"{'if' if index == 0 else 'elif'} {test}:"):
                branch.emit_dict(gen, var, sink, depth)
        with gen.block("else:" if branches else "if True:"):
            node.alternatives[0].emit(gen, var, sink, depth)
        return
    branches += [
        (_TYPE_TESTS[name].format(kind=kind, var=var), alt) for name, alt in node.by_type.items()
    ]
    for index, (test, branch) in enumerate(branches):
        with gen.block(f"{'if' if index == 0 else 'elif'} {test}:"):
            branch.emit(gen, var, sink, depth)
    with gen.block("else:"):
        gen.line("return INVALID")
