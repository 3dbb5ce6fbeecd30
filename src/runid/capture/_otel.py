"""OpenTelemetry glue: a run's ids on the current span, when the API is installed (optional).

Tracing never breaks the user's call: a missing, broken or failing OpenTelemetry is ignored.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["set_span_attributes"]


@functools.cache
def _importable() -> bool:
    try:
        import opentelemetry.trace  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
    except Exception:  # not installed, or broken: tracing is optional
        return False
    return True


def set_span_attributes(attributes: Mapping[str, str]) -> None:
    """Put ids on the current OpenTelemetry span, if the API is installed and a span records."""
    # A dict look-up first: this runs twice per captured call, an import statement costs more.
    trace: Any = sys.modules.get("opentelemetry.trace")
    if trace is None:
        if not _importable():
            return
        trace = sys.modules.get("opentelemetry.trace")
        if trace is None:
            return
    try:
        span = trace.get_current_span()
        if span.is_recording():
            for key, value in attributes.items():
                span.set_attribute(key, value)
    except Exception:  # a tracing problem must never break the user's call
        return
