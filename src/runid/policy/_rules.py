"""Evaluating a policy for one run: one small function per rule kind, chosen from tables.

Private to :mod:`runid.policy`, which re-exports :func:`evaluate`, :class:`RuleResult`,
:class:`Evaluation` and the statuses. Each rule kind is a function ``(ctx, rule, path,
expected)``; :data:`_MEMBER_RULES` names the kind and the place it reads for every member of a
section, :data:`_PARAMETER_CHECKS` the check for every condition on one parameter. Sections are
evaluated in the schema's order and members in their section's order (docs/spec.md §17.3).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from .. import canonical
from .._internal.schema import Obj
from ..declaration import COMPONENTS, validate
from ._format import POLICY
from ._load import Policy
from ._results import FAIL, NA, PASS, Context, Evaluation, absence
from ._versions import version_in_range

__all__ = ["evaluate"]

Where = list[str | int]
"""A path into the declaration (or the record), as JSON Pointer segments."""


# --- generic rule kinds: (ctx, rule name, where it reads, the approved values) ----------------


def _one_of(ctx: Context, rule: str, path: Sequence[str | int], allowed: list[Any]) -> None:
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
    ctx: Context, rule: str, path: list[str | int], allowed: list[str], key: str = "digest"
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


def _match_any(
    ctx: Context, rule: str, path: list[str | int], allowed: list[dict[str, Any]]
) -> None:
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
        text = item["absent"] if absence(item) else item
        if isinstance(text, str) and text.startswith("sha256:"):
            text = text[:19] + "…"
        shown.append(f"{key}={text}")
    return " ".join(shown)


def _in_order(rules: Mapping[str, Any], node: Obj) -> list[tuple[str, Any]]:
    """The members of ``rules`` in the schema's order: results depend on the policy's value,
    not on how a file happened to order its keys (YAML dumpers sort them, people do not)."""
    return [(name, rules[name]) for name in node.fields if name in rules]


# --- rule kinds of the fixed sections: (ctx, rule name, where it reads, the policy's value) ---


def _component_state(ctx: Context, rule: str, path: Where, allowed: str | list[str]) -> None:
    """``components.NAME``: the component is present, or absent for an allowed reason."""
    states = [allowed] if isinstance(allowed, str) else list(allowed)
    value = ctx.declaration.get(str(path[0]))
    state = absence(value) or "present"
    status = PASS if state in states else FAIL
    ctx.add(
        rule,
        status,
        f"{state}{'' if status == PASS else ' (allowed: ' + ', '.join(states) + ')'}",
        path,
        expected=states,
        actual=state,
    )


def _tools_allowed(ctx: Context, rule: str, path: Where, allowed: list[dict[str, Any]]) -> None:
    """``tools.allowed``: every offered tool (name and definition digest) is an allowed one."""
    items, ok = ctx.lookup(rule, path, allowed)
    if not ok:
        return
    bad = []
    for index, item in enumerate(items):
        offered = {"name": item.get("name"), "definition": item.get("definition", {}).get("digest")}
        if not any(_matches(entry, offered) for entry in allowed):
            bad.append((index, offered))
    if not bad:
        ctx.add(rule, PASS, f"all {len(items)} tools allowed", path, expected=allowed)
        return
    names = ", ".join(str(offered["name"]) for _, offered in bad)
    ctx.add(
        rule,
        FAIL,
        f"not allowed: {names}",
        [*path, bad[0][0]],
        expected=allowed,
        actual=[offered for _, offered in bad],
    )


def _libraries(ctx: Context, rule: str, path: Where, specs: Mapping[str, str]) -> None:
    """``runtime.libraries.NAME``, one rule per library: its version is in the allowed range;
    not applicable to a run that does not list the library."""
    for library, spec in sorted(specs.items()):
        name = f"{rule}.{library}"
        where: Where = [*path, library]
        libraries, ok = ctx.lookup(name, path, spec)
        if not ok:
            continue
        if library not in libraries:
            ctx.add(name, NA, f"the run does not list {library!r}", where, expected=spec)
            continue
        version = libraries[library]
        verdict = version_in_range(version, spec)
        if verdict is None:
            ctx.add(
                name,
                FAIL,
                f"cannot compare version {version!r}",
                where,
                expected=spec,
                actual=version,
            )
        else:
            message = f"{version} {'satisfies' if verdict else 'does not satisfy'} {spec}"
            ctx.add(name, PASS if verdict else FAIL, message, where, expected=spec, actual=version)


def _guardrails(ctx: Context, rule: str, path: Where, required: list[dict[str, Any]]) -> None:
    """``constraints.guardrails``: each required guardrail matches one the run applied."""
    applied, ok = ctx.lookup(rule, path, required)
    if not ok:
        return
    missing = [g for g in required if not any(_matches(g, a) for a in applied)]
    names = ", ".join(g["name"] + (f"@{g['version']}" if "version" in g else "") for g in missing)
    ctx.add(
        rule,
        FAIL if missing else PASS,
        f"not applied: {names}" if missing else f"all {len(required)} applied",
        path,
        expected=required,
        actual=[{k: a.get(k) for k in ("name", "version")} for a in applied],
    )


def _observed(ctx: Context, rule: str, path: Where, allowed: list[Any]) -> None:
    """``observed.FIELD``: an approved fact of the record; not applicable without a record."""
    if ctx.record is None:
        ctx.add(
            rule,
            NA,
            "no execution record (a declaration alone)",
            path,
            document="record",
            expected=allowed,
        )
        return
    _one_of(ctx, rule, path, allowed)


RuleKind = Callable[[Context, str, Where, Any], None]

_MODEL_VALUES = ("provider", "name", "version", "endpoint", "dtype", "quantization")

_MEMBER_RULES: dict[str, dict[str, tuple[RuleKind, tuple[str, ...]]]] = {
    "components": {name: (_component_state, (name,)) for name in COMPONENTS},
    "model": {
        **{name: (_one_of, ("model", name)) for name in _MODEL_VALUES},
        "weights": (_all_digests, ("model", "weights")),
        "tokenizer": (_all_digests, ("model", "tokenizer")),
    },
    "instructions": {
        "system": (_all_digests, ("instructions", "system")),
        "template": (_match_any, ("instructions", "template")),
    },
    "context": {
        name: (_match_any, ("context", name)) for name in ("index", "embedding_model", "retriever")
    },
    "tools": {"allowed": (_tools_allowed, ("tools", "definitions"))},
    "runtime": {
        "engine": (_match_any, ("runtime", "engine")),
        "libraries": (_libraries, ("runtime", "libraries")),
    },
    "constraints": {
        "guardrails": (_guardrails, ("constraints", "guardrails")),
        "output_schema": (_one_of, ("constraints", "output_schema", "digest")),
    },
    "observed": {
        name: (_observed, ("observed", name))
        for name in ("served_model", "system_fingerprint", "endpoint")
    },
}
"""Section → member → (the rule kind, the path it reads). The rule is ``SECTION.MEMBER``."""


def _members(ctx: Context, section: str, rules: Mapping[str, Any]) -> None:
    """The rules of one fixed section, in the order of its schema node."""
    node = POLICY.fields[section]
    assert isinstance(node, Obj)
    table = _MEMBER_RULES[section]
    for member, expected in _in_order(rules, node):
        kind, path = table[member]
        kind(ctx, f"{section}.{member}", list(path), expected)


# --- parameters: (ctx, rule name, the parameter's entry, the condition, where the entry is) ---


def _json_equal(a: Any, b: Any) -> bool:
    # JSON equality, not Python's: true is not 1, and 1 is 1.0.
    return bool(canonical.canonicalize([a]) == canonical.canonicalize([b]))


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


ParameterCheck = Callable[[Context, str, Mapping[str, Any], Any, Where], None]
"""A check of one condition: (ctx, rule name, the parameter's entry, the condition, its path)."""

_UNKNOWN = "value unknown (provider default)"


def _known(
    ctx: Context, rule: str, entry: Mapping[str, Any], expected: Any, path: Where, *, unknown: str
) -> bool:
    """Whether the entry's value is known; a provider default fails the rule with ``unknown``."""
    source = entry.get("source")
    if source == "provider_default":
        ctx.add(
            rule,
            FAIL,
            unknown,
            [*path, "source"],
            expected=expected,
            actual=source,
            recorded=False,
        )
        return False
    return True


def _declared(
    ctx: Context, rule: str, entry: Mapping[str, Any], expected: Any, path: Where
) -> None:
    """``parameters.NAME.declared: true``: the caller set the value explicitly."""
    source = entry.get("source")
    ok = source == "declared"
    what = "set by the caller" if ok else _unset(entry)
    status = PASS if ok else FAIL
    ctx.add(rule, status, what, [*path, "source"], expected="declared", actual=source)


def _required(
    ctx: Context, rule: str, entry: Mapping[str, Any], expected: Any, path: Where
) -> None:
    """``parameters.NAME.required: true``: the declaration states the value (declared or a
    known default)."""
    unknown = "the declaration does not state its value (provider default)"
    if _known(ctx, rule, entry, expected, path, unknown=unknown):
        value = entry.get("value")
        message = f"{_show(value)} ({entry.get('source')})"
        ctx.add(rule, PASS, message, [*path, "value"], expected=True, actual=value)


def _values(ctx: Context, rule: str, entry: Mapping[str, Any], expected: Any, path: Where) -> None:
    """``parameters.NAME.values``: the value is one of the listed JSON values."""
    if not _known(ctx, rule, entry, expected, path, unknown=_UNKNOWN):
        return
    value = entry.get("value")
    ok = any(_json_equal(value, v) for v in expected)
    verb = "is" if ok else "is not"
    message = f"{_show(value)} {verb} one of {', '.join(_show(v) for v in expected)}"
    status = PASS if ok else FAIL
    ctx.add(rule, status, message, [*path, "value"], expected=expected, actual=value)


def _bound(sign: Literal["≥", "≤"]) -> ParameterCheck:
    """``parameters.NAME.min`` (``≥``) or ``.max`` (``≤``): the value is a number within it."""

    def check(
        ctx: Context, rule: str, entry: Mapping[str, Any], expected: Any, path: Where
    ) -> None:
        if not _known(ctx, rule, entry, expected, path, unknown=_UNKNOWN):
            return
        value = entry.get("value")
        vpath: Where = [*path, "value"]
        if type(value) not in (int, float):
            message = f"{_show(value)} is not a number"
            ctx.add(rule, FAIL, message, vpath, expected=expected, actual=value)
            return
        ok = value >= expected if sign == "≥" else value <= expected
        message = (
            f"{_show(value)} {sign} {_show(expected)}"
            if ok
            else f"{_show(value)} is not {sign} {_show(expected)}"
        )
        ctx.add(rule, PASS if ok else FAIL, message, vpath, expected=expected, actual=value)

    return check


_PARAMETER_CHECKS: dict[str, tuple[bool, ParameterCheck]] = {
    "required": (True, _required),
    "declared": (True, _declared),
    "min": (False, _bound("≥")),
    "max": (False, _bound("≤")),
    "values": (False, _values),
}
"""Condition → (whether it is a flag, its check), in the order results are given. A flag
states a condition only when true, and fails for a parameter the declaration lacks; the other
conditions are not applicable to a run without the parameter."""


def _parameter(ctx: Context, name: str, rule: Mapping[str, Any]) -> None:
    """Every condition ``rule`` sets on parameter ``name`` (rules ``parameters.NAME.CHECK``).

    What the checks share comes first, once per condition: when the whole ``parameters``
    component is absent, its absence decides (:meth:`Context.lookup`); when the run has no such
    parameter, a flag fails and a range or value list is not applicable. Otherwise the
    condition's own check reads the entry (``{"source": ..., "value"?: ...}``); each fails on a
    provider default, whose value is unknown, except ``declared``, which reads only the source.
    """
    params = ctx.declaration.get("parameters")
    absent = absence(params) is not None
    entry = params.get(name) if isinstance(params, dict) else None
    path: Where = ["parameters", name]
    for check, (flag, run) in _PARAMETER_CHECKS.items():
        if check not in rule:
            continue
        expected = rule[check]
        if flag and expected is not True:
            continue  # false states no condition
        rule_name = f"parameters.{name}.{check}"
        if absent:
            ctx.lookup(rule_name, path, expected)
        elif entry is None and flag:
            message = "not in the declaration"
            ctx.add(rule_name, FAIL, message, path, expected=expected, recorded=False)
        elif entry is None:
            message = f"the run has no {name!r} parameter"
            ctx.add(rule_name, NA, message, path, expected=expected)
        else:
            run(ctx, rule_name, entry, expected, path)


def _parameters(ctx: Context, section: str, rules: Mapping[str, Any]) -> None:
    """The ``parameters`` section: each parameter's conditions, by name in code-point order
    (as in JCS)."""
    for name, rule in sorted(rules.items()):
        _parameter(ctx, name, rule)


_SECTION_RULES: dict[str, Callable[[Context, str, Mapping[str, Any]], None]] = {
    "parameters": _parameters,
    **dict.fromkeys(_MEMBER_RULES, _members),
}
"""The sections that state rules (``applies_to`` states the scope; the rest are metadata)."""


# --- one run ------------------------------------------------------------------------------------


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
    read from a malformed one would prove nothing. Both are plain mappings, not
    :mod:`runid.wire` types: the declaration is validated here, and the record is read
    defensively (a member it lacks counts as not recorded).
    """
    validate(declaration)
    document = policy.document
    reason = _scope(document, declaration)
    if reason:
        return Evaluation(NA, (), reason, {PASS: 0, FAIL: 0, NA: 0})
    ctx = Context(declaration, record)
    for section, rules in _in_order(document, POLICY):
        check = _SECTION_RULES.get(section)
        if check is not None:
            check(ctx, section, rules)
    results = tuple(ctx.results)
    counts: dict[str, int] = {s: sum(r.status == s for r in results) for s in (PASS, FAIL, NA)}
    return Evaluation(FAIL if counts[FAIL] else PASS, results, "", counts)
