"""Version ranges of ``runtime.libraries`` rules, such as ``>=2.0, <3`` or ``==4.57.*``.

The comparison is described in docs/spec.md §17.3.

Private to :mod:`runid.policy`; :func:`version_in_range` is re-exported there.
"""

from __future__ import annotations

import re

__all__ = ["version_in_range"]

_CLAUSE = re.compile(r"\s*(==|!=|>=|<=|>|<)?\s*([^\s,]+)\s*")
_RELEASE = re.compile(r"v?([0-9]+(?:\.[0-9]+)*)")


def _digits(version: str) -> tuple[int, ...] | None:
    match = _RELEASE.match(version)
    return None if match is None else tuple(int(p) for p in match.group(1).split("."))


def _release(version: str) -> tuple[int, ...] | None:
    parts = _digits(version)
    while parts is not None and len(parts) > 1 and parts[-1] == 0:
        parts = parts[:-1]  # 2.0 == 2
    return parts


def version_in_range(version: str, spec: str) -> bool | None:
    """Whether ``version`` satisfies every comma-separated clause of ``spec``; None when a
    version cannot be read.

    Versions compare by their numeric release segments (``2.10`` > ``2.9``, ``2.0`` == ``2``;
    a leading ``v`` and any suffix such as ``rc1`` or ``+cpu`` are ignored); ``==4.57.*`` matches
    a release prefix; a clause without an operator means ``==``.

    >>> version_in_range("2.13.0+cpu", ">=2.4, <3")
    True
    >>> version_in_range("4.57.1", "==4.56.*")
    False
    """
    have = _release(version)
    if have is None:
        return None
    for clause in spec.split(","):
        match = _CLAUSE.fullmatch(clause)
        if match is None:
            return None
        op, text = match.group(1) or "==", match.group(2)
        if text.endswith(".*") and op in ("==", "!="):
            prefix, digits = _digits(text[:-2]), _digits(version)
            if prefix is None or digits is None:
                return None
            padded = digits + (0,) * max(0, len(prefix) - len(digits))
            if (padded[: len(prefix)] == prefix) != (op == "=="):
                return False
            continue
        want = _release(text)
        if want is None:
            return None
        ok = {
            "==": have == want,
            "!=": have != want,
            ">=": have >= want,
            "<=": have <= want,
            ">": have > want,
            "<": have < want,
        }[op]
        if not ok:
            return False
    return True
