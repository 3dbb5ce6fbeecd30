"""The diff as a report: values and runs of changes for a terminal, and the JSON report's schema.

:func:`format_value` and :func:`group_runs` shorten and group what :func:`runid.diff.compare`
found; :func:`json_schema` is the schema of ``runid diff --json`` (docs/spec.md §16.5).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from ..declaration import COMPONENTS
from ._compare import MISSING, VERDICTS, Change

__all__ = ["DIFF_FORMAT", "format_value", "group_runs", "json_schema"]

DIFF_FORMAT: Final = "runid/diff/v1"
"""The ``format`` member of ``runid diff --json`` (docs/spec.md §16)."""

_SHORT_DIGEST: Final = 19  # "sha256:" + 12 hex digits


def format_value(value: Any, *, limit: int = 72) -> str:
    """A value for a terminal report: digests shortened, markers and parameters in words.

    >>> format_value({"digest": "sha256:" + "ab" * 32, "size": 5, "media_type": "text/plain"})
    'sha256:abababababab… (5 B)'
    >>> format_value({"absent": "not_recorded"}), format_value({"source": "provider_default"})
    ('(not recorded)', '(provider default)')
    """
    if value is MISSING:
        return "(none)"
    if isinstance(value, dict):
        if value.keys() == {"absent"}:
            return f"({str(value['absent']).replace('_', ' ')})"
        if value.keys() == {"digest", "size", "media_type"}:
            return f"{_short(value['digest'])} ({value['size']} B)"
        if "source" in value and value.keys() <= {"source", "value"}:
            if value["source"] == "provider_default":
                return "(provider default)"
            shown = format_value(value.get("value"), limit=limit)
            return shown if value["source"] == "declared" else f"{shown} ({value['source']})"
    text = _compact(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _compact(value: Any) -> str:
    """JSON-like text with digests and content references shortened, markers in words."""
    if isinstance(value, str) and value.startswith("sha256:") and len(value) == 71:
        return _short(value)
    if isinstance(value, dict):
        if value.keys() == {"absent"} or value.keys() == {"digest", "size", "media_type"}:
            return format_value(value, limit=1 << 30)
        inner = ", ".join(f"{k}: {_compact(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _short(digest: object) -> str:
    text = str(digest)
    return text[:_SHORT_DIGEST] + "…" if len(text) > _SHORT_DIGEST else text


def group_runs(changes: Sequence[Change]) -> list[tuple[str, list[Change]]]:
    """Consecutive added (or removed) items of one list, grouped for a report line:
    ``[("inputs.messages[0..2]", [three removals]), ...]``; other changes stand alone."""
    groups: list[tuple[str, list[Change]]] = []
    for change in changes:
        pointer = change.pointer_a if change.kind == "removed" else change.pointer_b
        if change.kind in ("added", "removed") and pointer and pointer.rsplit("/", 1)[-1].isdigit():
            parent, index = pointer.rsplit("/", 1)
            if groups and groups[-1][1][-1].kind == change.kind:
                last = groups[-1][1][-1]
                last_ptr = last.pointer_a if last.kind == "removed" else last.pointer_b
                assert last_ptr is not None
                last_parent, last_index = last_ptr.rsplit("/", 1)
                if (
                    last_parent == parent
                    and last_index.isdigit()
                    and int(last_index) + 1 == int(index)
                ):
                    groups[-1][1].append(change)
                    continue
        groups.append((change.path, [change]))
    named = []
    for path, members in groups:
        if len(members) > 1:
            head, tail = members[0].path, members[-1].path
            stem = head.rsplit("[", 1)[0]
            start = head.rsplit("[", 1)[1].rstrip("]")
            end = tail.rsplit("[", 1)[1].rstrip("]")
            named.append((f"{stem}[{start}..{end}]", members))
        else:
            named.append((path, members))
    return named


# --- the JSON report's schema ----------------------------------------------------------------


def json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of the ``runid diff --json`` report (docs/spec.md §16.5),
    shipped as ``docs/schema/diff-v1.schema.json``."""
    nullable_digest = {"type": ["string", "null"], "pattern": "^sha256:[0-9a-f]{64}$"}
    pointer = {"type": ["string", "null"]}
    change = {
        "description": "One diverged condition (docs/spec.md §16.5): a diff change object.",
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", "path", "pointer_a", "pointer_b", "a", "b", "label"],
        "properties": {
            "kind": {"enum": ["changed", "added", "removed", "moved", "component", "declaration"]},
            "path": {"type": "string"},
            "pointer_a": pointer,
            "pointer_b": pointer,
            "a": {"description": "The value in A (null when A has none)."},
            "b": {"description": "The value in B (null when B has none)."},
            "label": {"type": ["string", "null"]},
        },
    }
    changes = {"type": "array", "items": {"$ref": "#/$defs/change"}}
    side = {
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", "origin", "declaration_id", "execution_id", "declaration"],
        "properties": {
            "kind": {
                "enum": [
                    "execution",
                    "declaration",
                    "receipt",
                    "declaration-file",
                    "identity-file",
                ]
            },
            "origin": {"type": "string"},
            "declaration_id": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
            "execution_id": nullable_digest,
            "declaration": {"enum": ["included", "digests", "withheld"]},
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://runid.dev/schema/diff-v1.schema.json",
        "title": "runid diff report v1",
        "type": "object",
        "additionalProperties": False,
        "required": [
            "format",
            "a",
            "b",
            "verdict",
            "reasons",
            "identical",
            "declaration",
            "observed",
            "outcome",
        ],
        "properties": {
            "format": {"const": DIFF_FORMAT},
            "a": {"$ref": "#/$defs/side"},
            "b": {"$ref": "#/$defs/side"},
            "verdict": {"enum": list(VERDICTS)},
            "reasons": {
                "description": "For the verdict undetermined: each condition that can change "
                "the output and is not recorded, as 'CONDITION REASON' (e.g. 'model not "
                "recorded'); empty for every other verdict.",
                "type": "array",
                "items": {"type": "string", "minLength": 1},
            },
            "identical": {"type": "boolean"},
            "declaration": {
                "type": "object",
                "additionalProperties": False,
                "required": [
                    "identical",
                    "declaration_id_a",
                    "declaration_id_b",
                    "components",
                    "changes",
                ],
                "properties": {
                    "identical": {"type": "boolean"},
                    "declaration_id_a": {"type": "string"},
                    "declaration_id_b": {"type": "string"},
                    "components": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": sorted(COMPONENTS),
                        "properties": {
                            name: {"enum": ["same", "different", "unknown"]}
                            for name in sorted(COMPONENTS)
                        },
                    },
                    "changes": changes,
                },
            },
            "observed": {
                "type": "object",
                "additionalProperties": False,
                "required": ["compared", "provider_drift", "changes"],
                "properties": {
                    "compared": {"type": "boolean"},
                    "provider_drift": {"type": "boolean"},
                    "changes": changes,
                },
            },
            "outcome": {
                "type": "object",
                "additionalProperties": False,
                "required": ["compared", "identical", "changes"],
                "properties": {
                    "compared": {"type": "boolean"},
                    "identical": {"type": ["boolean", "null"]},
                    "changes": changes,
                },
            },
        },
        "$defs": {"change": change, "side": side},
    }
