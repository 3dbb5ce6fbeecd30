"""The one exception hierarchy of runid.

Every error runid raises on purpose derives from :class:`RunidError`. Each carries a stable
machine-readable ``code`` (``E_...``), a message that says what is wrong and where, an optional
``hint`` that says how to fix it, and the process ``exit_code`` the CLI uses for it. The CLI
catches :class:`RunidError` in one place and prints ``error: <message>`` (plus the hint); it never
shows a traceback for a user mistake.

Exit codes (documented in ``docs/spec.md`` and the README):

====  ==========================================================
0     success
1     the declaration is invalid (validation found problems)
2     usage error (bad command line, or an argument runid cannot use)
3     the input is not well-formed JSON (syntax, encoding)
4     the JSON cannot be canonicalized (NaN, duplicate key, ...)
5     a documented limit was exceeded (size, nesting depth)
6     a file could not be read or written
7     verification failed
====  ==========================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "CanonicalizationError",
    "DeclarationError",
    "FileAccessError",
    "InputError",
    "JSONSyntaxError",
    "LimitExceededError",
    "PolicyError",
    "Problem",
    "RunidError",
    "VerificationError",
]


class RunidError(Exception):
    """Root of every error runid raises deliberately."""

    code: str = "E_RUNID"
    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InputError(RunidError):
    """The caller handed runid something it cannot accept. Nothing was written."""

    code = "E_INPUT"
    exit_code = 2


class JSONSyntaxError(InputError):
    """The input is not well-formed JSON text (or not UTF-8)."""

    code = "E_JSON_SYNTAX"
    exit_code = 3


class CanonicalizationError(InputError):
    """The value is JSON, but RFC 8785 / I-JSON cannot represent it canonically.

    Raised for NaN and infinities, duplicate object keys, lone surrogates, integers beyond
    +/-(2**53 - 1), non-string object keys and values that are not JSON at all.
    ``pointer`` is the RFC 6901 JSON Pointer of the offending value ("" is the root).
    """

    code = "E_NOT_CANONICAL"
    exit_code = 4

    def __init__(
        self, message: str, *, pointer: str = "", hint: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, hint=hint, code=code)
        self.pointer = pointer


class LimitExceededError(InputError):
    """The input is larger or deeper than a documented limit."""

    code = "E_LIMIT"
    exit_code = 5


class FileAccessError(InputError):
    """A file could not be read or written."""

    code = "E_FILE"
    exit_code = 6


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation finding: where (JSON Pointer), what (stable code), and why."""

    pointer: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.code} {self.message}"


class DeclarationError(InputError):
    """A declaration failed validation; ``problems`` lists every finding, in document order.

    An invalid declaration gets no identity.
    """

    code = "E_INVALID_DECLARATION"
    exit_code = 1

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        count = len(self.problems)
        first = str(self.problems[0]) if self.problems else "no details"
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__(
            f"invalid declaration: {first}{more}",
            hint="run 'runid validate FILE' to list every problem; see docs/spec.md for the schema",
        )


class PolicyError(InputError):
    """A policy file cannot be read or fails its schema; ``problems`` lists every finding.

    ``runid check`` stops before checking any run (exit code 2, like every error there).
    """

    code = "E_INVALID_POLICY"
    exit_code = 2

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        count = len(self.problems)
        first = str(self.problems[0]) if self.problems else "no details"
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__(
            f"invalid policy: {first}{more}",
            hint="see docs/spec.md section 17 (or docs/schema/policy-v1.schema.json) for the "
            "policy format",
        )


class VerificationError(RunidError):
    """A verification check failed. Verifiers fail closed: any doubt raises this."""

    code = "E_VERIFY"
    exit_code = 7
