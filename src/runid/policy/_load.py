"""Reading a policy: a strict YAML/JSON loader, every problem with its pointer, and hints.

Private to :mod:`runid.policy`, which re-exports :class:`Policy`, :func:`parse_policy` and
:func:`policy_problems`. It takes bytes, not paths: reading the file is the caller's (the CLI's).
"""

from __future__ import annotations

import difflib
import gc
import itertools
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Literal

import yaml

from .. import canonical
from .._internal.schema import MAX_FINDINGS, pointer
from ..declaration import KNOWN_PARAMETERS
from ..digest import content_digest
from ..errors import (
    E_EMPTY,
    E_MORE,
    E_NOT_A_POLICY,
    E_POLICY_SYNTAX,
    E_RANGE,
    E_TYPE,
    E_UNKNOWN_FIELD,
    PolicyError,
    Problem,
)
from ._format import POLICY

__all__ = ["Policy", "parse_policy", "policy_problems"]


@dataclass(frozen=True)
class Policy:
    """A parsed, valid policy.

    ``document`` is its JSON value; ``digest`` the content digest of its canonical JSON, so the
    YAML and JSON spellings of one policy have one digest; ``warnings`` are likely mistakes that
    are not errors (a parameter name runid does not know, close to one it does).
    """

    document: dict[str, Any]
    name: str
    digest: str
    warnings: tuple[str, ...] = ()


# libyaml's parser when PyYAML was built with it (about ten times faster); the same safe
# constructor either way, so the same values and the same checks.
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SAFE_LOADER):  # type: ignore[misc]  # a base chosen at import time
    """PyYAML's safe loader, refusing duplicate keys (YAML 1.1 silently keeps the last)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in out
        except TypeError:  # an unhashable key (a YAML sequence as key) is not JSON anyway
            raise _yaml_error(key_node, "object keys must be strings") from None
        if duplicate:
            raise _yaml_error(key_node, f"duplicate key {key!r}")
        out[key] = loader.construct_object(value_node, deep=True)
    return out


def _construct_int(loader: _StrictLoader, node: yaml.ScalarNode) -> int:
    try:
        return int(loader.construct_yaml_int(node))
    except ValueError:  # Python reads at most 4,300 digits (and JSON holds 16 exactly)
        digits = sum(char.isdigit() for char in str(node.value))
        raise _yaml_error(
            node, f"an integer of {digits} digits; a policy's integers are at most 2^53 - 1"
        ) from None


def _construct_timestamp(loader: _StrictLoader, node: yaml.ScalarNode) -> Any:
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError as exc:  # 2026-02-30: a date YAML recognises but the calendar lacks
        raise _yaml_error(node, f"{node.value!s:.40} is not a date ({exc}); quote it") from None


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def _yaml_error(node: yaml.Node, message: str) -> PolicyError:
    mark = node.start_mark
    return PolicyError(
        [Problem("", E_POLICY_SYNTAX, f"line {mark.line + 1}, column {mark.column + 1}: {message}")]
    )


def _load_yaml(data: bytes) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = Problem("", E_POLICY_SYNTAX, f"not UTF-8 text (byte {exc.start})")
        raise PolicyError([problem]) from None
    try:
        with _collector_paused():
            document = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except PolicyError:
        raise
    except RecursionError:
        raise PolicyError([Problem("", E_POLICY_SYNTAX, "nested too deeply")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = Problem("", E_POLICY_SYNTAX, f"{where}{exc.problem or exc}")
        raise PolicyError([problem]) from None
    except yaml.YAMLError as exc:
        raise PolicyError([Problem("", E_POLICY_SYNTAX, str(exc))]) from None
    except (ValueError, OverflowError) as exc:  # a scalar PyYAML recognised but cannot build
        problem = Problem("", E_POLICY_SYNTAX, f"a value YAML cannot read ({exc})")
        raise PolicyError([problem]) from None
    _check_tree(document)
    return document


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector while PyYAML builds a document: its many new
    objects trigger collections that made the load superlinear (4 MiB: 3.5 s, 1.7 s paused).
    Reference counting still frees everything; a collection runs again afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _check_tree(document: Any) -> None:
    """Refuse YAML aliases (``&a`` ... ``*a``, merge keys) and deep nesting before anything
    walks the value: an alias shares one object in several places, so a small file can stand
    for an exponentially large (or an infinitely recursive) document. Linear in the file."""
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if not isinstance(value, dict | list):
            continue
        if id(value) in seen:
            message = "YAML aliases and merge keys are not allowed in a policy; write it out"
            raise PolicyError([Problem("", E_POLICY_SYNTAX, message)])
        if depth >= canonical.MAX_DEPTH:
            raise PolicyError([Problem("", E_POLICY_SYNTAX, "nested too deeply")])
        seen.add(id(value))
        items = value.values() if isinstance(value, dict) else value
        stack.extend((item, depth + 1) for item in items)


def _not_json(value: Any, path: list[str | int]) -> Iterator[Problem]:
    """YAML values that have no JSON equivalent (dates, sets, binary, non-string keys)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                yield Problem(
                    pointer([*path, str(key)]),
                    E_POLICY_SYNTAX,
                    f"key {key!r} is not a string (quote it)",
                )
            else:
                yield from _not_json(item, [*path, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _not_json(item, [*path, index])
    elif isinstance(value, datetime | date | time):
        yield Problem(
            pointer(path),
            E_POLICY_SYNTAX,
            f"YAML read {value.isoformat()} as a date; quote it to make it a string",
        )
    elif isinstance(value, float) and value - value != 0.0:
        yield Problem(pointer(path), E_POLICY_SYNTAX, f"{value} is not a JSON number")
    elif not (value is None or isinstance(value, str | int | float | bool)):
        yield Problem(pointer(path), E_POLICY_SYNTAX, f"a YAML {type(value).__name__} is not JSON")


def _hint_for(problem: Problem, document: Any) -> Problem:
    """Add "did you mean" to an unknown member, and "quote it" to a YAML number for a string."""
    message = problem.message
    parts = [p.replace("~1", "/").replace("~0", "~") for p in problem.pointer.split("/")[1:]]
    if problem.code == E_UNKNOWN_FIELD and parts:
        allowed = re.search(r"\(allowed: (.*)\)", message)
        if allowed:
            names = allowed.group(1).split(", ")
            close = difflib.get_close_matches(parts[-1], names, n=1)
            if close:
                message = f"unknown field; did you mean {close[0]!r}? (allowed: {allowed.group(1)})"
    if problem.code == E_TYPE and message.startswith("expected string, got number"):
        message += ' (in YAML, quote values such as versions: "7")'
    return Problem(problem.pointer, problem.code, message)


def _capped(problems: Iterator[Problem]) -> list[Problem]:
    """The first :data:`MAX_FINDINGS` problems, and one ``E_MORE`` that counts the rest."""
    out = list(itertools.islice(problems, MAX_FINDINGS))
    more = sum(1 for _ in problems)
    if more:
        message = f"... and {more:,} more problem(s) of this kind, not listed"
        out.append(Problem("", E_MORE, message))
    return out


def _not_a_policy(document: object) -> Problem | None:
    """A declaration or a receipt given where a policy belongs (a common slip of argument
    order): one clear problem instead of one per member."""
    if not isinstance(document, dict) or "policy" in document:
        return None
    spec = document.get("spec")
    record = isinstance(spec, str) and spec.startswith("runid/record/")
    for member, what in (
        ("spec", "an execution record" if record else "a declaration"),
        ("receipt", "a receipt"),
    ):
        if member in document:
            return Problem(
                "",
                E_NOT_A_POLICY,
                f"this is {what}, not a policy (it has {member!r} and no 'policy' member)",
            )
    return None


def policy_problems(document: object) -> list[Problem]:
    """Every problem with a policy document (its JSON value), each with pointer and code."""
    wrong = _not_a_policy(document)
    if wrong is not None:
        return [wrong]
    found = POLICY.check(document)
    out = [Problem(pointer(path), code, message) for path, code, message in found or []]
    out = [_hint_for(problem, document) for problem in out]
    if out or not isinstance(document, dict):
        return out
    for name, rule in document.get("parameters", {}).items():
        where = ["parameters", name]
        if not rule:
            out.append(Problem(pointer(where), E_EMPTY, "states no condition"))
        low, high = rule.get("min"), rule.get("max")
        if low is not None and high is not None and low > high:
            out.append(Problem(pointer([*where, "min"]), E_RANGE, f"min {low} > max {high}"))
    return out


def _warnings(document: Mapping[str, Any]) -> tuple[str, ...]:
    out = []
    for name in document.get("parameters", {}):
        if name not in KNOWN_PARAMETERS:
            close = difflib.get_close_matches(name, list(KNOWN_PARAMETERS), n=1)
            if close:
                out.append(
                    f"/parameters/{name}: not a parameter runid knows; did you mean "
                    f"{close[0]!r}? (a run without {name!r} makes its rules not_applicable)"
                )
    return tuple(out)


def parse_policy(data: bytes, *, fmt: Literal["json", "yaml"] | None = None) -> Policy:
    """Parse and validate a policy file's bytes (YAML or JSON) into a :class:`Policy`.

    ``fmt`` None guesses: text whose first non-blank character is ``{`` is JSON, parsed with
    :func:`runid.canonical.loads` (strict: duplicate keys, NaN, huge integers are errors);
    anything else is YAML, read with PyYAML's safe loader refusing duplicate keys and values
    JSON cannot hold (dates, binary). Raises :class:`runid.errors.PolicyError` listing every
    problem with its JSON Pointer (``E_POLICY_SYNTAX`` for text that cannot be read, the
    schema's codes such as ``E_UNKNOWN_FIELD`` otherwise), or the canonical-JSON errors.
    """
    if fmt is None:
        fmt = "json" if data.lstrip()[:1] == b"{" else "yaml"
    if fmt == "json":
        document: Any = canonical.loads(data)
    else:
        document = _load_yaml(data)
        if document is None:
            raise PolicyError([Problem("", E_POLICY_SYNTAX, "the policy file is empty")])
        odd = _capped(_not_json(document, []))
        if odd:
            # Report the schema's findings too, except where a YAML-only value already is.
            places = {problem.pointer for problem in odd}
            rest = [p for p in policy_problems(document) if p.pointer not in places]
            raise PolicyError(odd + rest)
    found = policy_problems(document)
    if found:
        error = PolicyError(found)
        if found[0].code == E_NOT_A_POLICY:
            error.hint = (
                "pass the policy file with --policy, and the runs (declarations, receipts, "
                "ids) as arguments: runid check RUN... --policy POLICY"
            )
        raise error
    # Canonical bytes: the same policy in YAML or JSON, in any key order, has one digest.
    # This also rejects what JSON cannot represent (integers beyond 2^53 from YAML).
    digest = content_digest(canonical.canonicalize(document))
    return Policy(document, document["name"], digest, _warnings(document))
