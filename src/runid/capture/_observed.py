"""Observed facts as a record holds them: provider usage normalised, absence markers (pure).

>>> usage_fields({"prompt_tokens": 5, "completion_tokens": 2})
{'input_tokens': 5, 'output_tokens': 2, 'other': {}}
>>> usage_fields(None)
{'absent': 'not_recorded'}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "BYTES_MEDIA",
    "NOT_APPLICABLE",
    "NOT_RECORDED",
    "OBSERVED_FACTS",
    "TEXT_MEDIA",
    "usage_fields",
]

NOT_RECORDED: dict[str, str] = {"absent": "not_recorded"}
NOT_APPLICABLE: dict[str, str] = {"absent": "not_applicable"}
TEXT_MEDIA = "text/plain; charset=utf-8"
BYTES_MEDIA = "application/octet-stream"
#: The observed facts a run reports (docs/spec.md §12.3).
OBSERVED_FACTS = ("served_model", "system_fingerprint", "response_id", "usage", "finish_reason")
# Provider spellings of the two usage counts the record names (OpenAI chat: prompt/completion).
_USAGE_NAMES = {
    "input_tokens": "input_tokens",
    "prompt_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "completion_tokens": "output_tokens",
}


def _int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value < 0 or value != int(value):
        return None
    return int(value)


def _as_mapping(value: object) -> Mapping[str, Any] | None:
    if isinstance(value, Mapping):
        return value
    dump = getattr(value, "model_dump", None)  # pydantic objects of provider SDKs
    if callable(dump):
        dumped = dump()
        return dumped if isinstance(dumped, Mapping) else None
    return None


def _flatten(prefix: str, value: Mapping[str, Any], into: dict[str, int]) -> None:
    for key, item in value.items():
        name = f"{prefix}{str(key).lower()}"
        nested = _as_mapping(item)
        if nested is not None:
            _flatten(name + ".", nested, into)
        elif (count := _int(item)) is not None:
            into[name] = count


def usage_fields(usage: object) -> dict[str, Any]:
    """A record's ``usage`` from a provider's usage object or mapping.

    ``prompt_tokens``/``input_tokens`` and ``completion_tokens``/``output_tokens`` become the
    two named counts; every other count, nested structures flattened with dots, goes to
    ``other`` as reported.

    >>> usage_fields({"prompt_tokens": 5, "completion_tokens": 2,
    ...               "prompt_tokens_details": {"cached_tokens": 3}})
    {'input_tokens': 5, 'output_tokens': 2, 'other': {'prompt_tokens_details.cached_tokens': 3}}
    """
    mapping = _as_mapping(usage)
    if mapping is None:
        return dict(NOT_RECORDED)
    flat: dict[str, int] = {}
    _flatten("", mapping, flat)
    found: dict[str, Any] = {"input_tokens": NOT_RECORDED, "output_tokens": NOT_RECORDED}
    other: dict[str, int] = {}
    for name, count in flat.items():
        target = _USAGE_NAMES.get(name)
        if target is not None and found[target] == NOT_RECORDED:
            found[target] = count
        elif name[:1].isalpha() and name.isascii():
            other[name] = count
    return {**found, "other": other}
