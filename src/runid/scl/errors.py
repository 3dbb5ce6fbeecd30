"""The SCL:V1 error codes (SPEC_V1.md §7) as one runid error class, with the byte offset.

An SCL:V1 engine reports the **first** error of a document by byte offset (§0.6): a code and a
0-based ``byte_offset``. :class:`SclError` carries both (``code``, ``offset``) plus the line and
column of that byte, and its message says what is wrong, where, and (in ``hint``) how to fix it.
It is a :class:`runid.errors.InputError`; the command line exits 3 for it (the input is not
well-formed), as for malformed JSON.
"""

from __future__ import annotations

from typing import Any, Final

from ..errors import InputError

__all__ = ["CODES", "EXIT_CODE", "SclError", "locate"]

CODES: Final[dict[str, str]] = {
    "E001": "invalid UTF-8, CR, tab, or forbidden control character",
    "E101": "missing or invalid SCL:V1 header",
    "E102": "handles block missing, empty, or holding a line that is neither a handle "
    "definition nor its closing }",
    "E103": "unclosed handles block (end of document before its closing })",
    "E104": "missing scl block, or an invalid token where scl content or its terminator is "
    "required",
    "E105": "unclosed scl block (end of document before its terminator)",
    "E201": "invalid handle id",
    "E202": "invalid tag list or tag token",
    "E900": "internal parser error",
}
"""Every SCL:V1 error code and its meaning, as SPEC_V1.md §7 lists them."""

EXIT_CODE: Final = 3
"""The process exit code of an :class:`SclError` (runid's class 3: the input is not well-formed)."""


def locate(data: bytes, offset: int) -> tuple[int, int]:
    """The 1-based line and column of byte ``offset`` of ``data``.

    Lines are counted by LF. The column counts characters (Unicode code points) before the byte,
    plus one; bytes that are not UTF-8 count one each. ``offset == len(data)`` (the end of the
    document) is the column after the last character.
    """
    offset = max(0, min(offset, len(data)))
    start = data.rfind(b"\n", 0, offset) + 1
    line = data.count(b"\n", 0, start) + 1
    column = len(data[start:offset].decode("utf-8", "replace")) + 1
    return line, column


class SclError(InputError):
    """A document that is not SCL:V1: the first error, by ``code`` (``E001`` ... ``E900``) and
    ``offset`` (the 0-based byte offset), with ``line`` and ``column`` (1-based).

    Nothing of the document is accepted: there is no partial AST.
    """

    code = "E900"
    exit_code = EXIT_CODE

    def __init__(
        self,
        code: str,
        offset: int,
        what: str,
        *,
        line: int,
        column: int,
        hint: str | None = None,
        source: str | None = None,
    ) -> None:
        if code not in CODES:
            raise ValueError(f"not an SCL:V1 error code: {code!r}")
        where = f"byte {offset} (line {line}, column {column})"
        prefix = f"{source}: " if source else ""
        super().__init__(f"{prefix}{code} at {where}: {what}", hint=hint, code=code)
        self.offset = offset
        self.line = line
        self.column = column
        self.what = what
        self.source = source

    @property
    def meaning(self) -> str:
        """What the code means in SPEC_V1.md §7."""
        return CODES[self.code]

    def with_source(self, source: str) -> SclError:
        """The same error, its message prefixed with ``source`` (a file name)."""
        error = SclError(
            self.code,
            self.offset,
            self.what,
            line=self.line,
            column=self.column,
            hint=self.hint,
            source=source,
        )
        error.__cause__ = self.__cause__
        return error

    def __reduce__(self) -> tuple[object, ...]:  # picklable despite the keyword arguments
        state = {
            "code": self.code,
            "offset": self.offset,
            "what": self.what,
            "line": self.line,
            "column": self.column,
            "hint": self.hint,
            "source": self.source,
        }
        return (_rebuild, (state,))


def _rebuild(state: dict[str, Any]) -> SclError:
    return SclError(
        state["code"],
        state["offset"],
        state["what"],
        line=state["line"],
        column=state["column"],
        hint=state["hint"],
        source=state["source"],
    )
