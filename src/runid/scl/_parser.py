"""The SCL:V1 parser: bytes in, a :class:`~runid.scl.nodes.Document` or the first error out.

Private to :mod:`runid.scl`. The parse runs in two passes over the same bytes, and the error
with the lowest byte offset wins (SPEC_V1.md §0.6), E001 first on a tie:

1. the **byte model** (§0.2-0.4): the first byte of an invalid UTF-8 sequence, the first CR,
   the first tab, anywhere (E001);
2. the **grammar** (§1-4), which reads bytes and knows nothing of UTF-8 beyond the control
   characters of quoted strings (E001 inside quotes, E101-E105, E201, E202).

Every error the grammar raises is at the first byte where the document cannot be read on (or
at a line's first byte where the spec says so), so the earlier of the two is the first error of
the document. The choices where SPEC_V1.md leaves room are listed in docs/scl.md; each is marked
``docs/scl.md #N`` below.
"""

from __future__ import annotations

import re
from typing import Final, NoReturn

from .errors import SclError, locate
from .nodes import Document, Handle, SclBlock, content_problem, tag_problem

__all__ = ["parse"]

LF: Final = 0x0A
SPACE: Final = 0x20
QUOTE: Final = 0x22
HEADER: Final = b"SCL:V1\n\n"
HANDLES_OPEN: Final = b"handles {\n"
SCL_OPEN: Final = b"scl {\n"
BOM: Final = b"\xef\xbb\xbf"

_ID_START = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_ID_CONTINUE = _ID_START | frozenset(b"0123456789")
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
# A raw-mode line that is a terminator followed by spaces (SPEC §4.2 rule 3), anywhere.
_BAD_TERMINATOR = re.compile(rb"^ *\}( +)$", re.MULTILINE)
_TERMINATOR = re.compile(rb" *\}")

_UNCLOSED = "end each handle line with LF, and the handles block with a line holding only }"
_CLOSE_HINT = "the document must end right after the closing } of the scl block: no newline"


class _FoundError(Exception):
    def __init__(self, code: str, offset: int, what: str, hint: str | None) -> None:
        super().__init__(what)
        self.code, self.offset, self.what, self.hint = code, offset, what, hint


def _fail(code: str, offset: int, what: str, hint: str) -> NoReturn:
    raise _FoundError(code, offset, what, hint)


def _skip_spaces(data: bytes, i: int) -> int:
    """The offset of the first byte at or after ``i`` that is not a space."""
    end = len(data)
    while i < end and data[i] == SPACE:
        i += 1
    return i


def _show(data: bytes, offset: int) -> str:
    """The byte at ``offset`` for a message: a character, a named control, or end of document."""
    if offset >= len(data):
        return "the end of the document"
    byte = data[offset]
    names = {LF: "a line feed (LF)", SPACE: "a space", 0x0D: "a carriage return (CR)"}
    if byte in names:
        return names[byte]
    if byte == 0x09:
        return "a tab"
    if byte < 0x20 or byte == 0x7F:
        return f"the control character U+{byte:04X}"
    if byte < 0x80:
        return repr(chr(byte))
    return f"the byte 0x{byte:02X}"


# --- pass 1: the byte model -----------------------------------------------------------------


def _byte_model_error(data: bytes) -> _FoundError | None:
    """The first invalid UTF-8 sequence, CR or tab of ``data`` (E001), or ``None``."""
    found: list[_FoundError] = []
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:  # .start: the first byte of the invalid sequence
        found.append(
            _FoundError(
                "E001",
                exc.start,
                f"invalid UTF-8 ({exc.reason}, byte 0x{data[exc.start]:02X})",
                "save the document as UTF-8 (RFC 3629); SCL:V1 accepts no other encoding",
            )
        )
    cr = data.find(b"\r")
    if cr != -1:
        found.append(
            _FoundError(
                "E001",
                cr,
                "a carriage return (CR), which SCL:V1 forbids anywhere",
                "use LF line endings only (e.g. dos2unix, or your editor's line-ending setting)",
            )
        )
    tab = data.find(b"\t")
    if tab != -1:
        found.append(
            _FoundError(
                "E001",
                tab,
                "a tab, which SCL:V1 forbids anywhere",
                "indent with spaces; write no tab, not even inside quotes or raw content",
            )
        )
    return min(found, key=lambda f: f.offset) if found else None


# --- pass 2: the grammar --------------------------------------------------------------------


class _Grammar:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.end = len(data)
        self.pos = 0  # where reading has got to (an internal error is reported here)

    def document(self) -> Document:
        self.header()
        handles = self.handles()
        content = self.scl()
        return Document(tuple(handles), SclBlock(content))

    def literal(self, start: int, expected: bytes, code: str, name: str, hint: str) -> int:
        """Match ``expected`` at ``start``; fail with ``code`` at the first byte that differs."""
        data = self.data
        for k, byte in enumerate(expected):
            i = start + k
            if i >= self.end or data[i] != byte:
                wanted = "a line feed (LF)" if byte == LF else repr(chr(byte))
                _fail(code, i, f"{name}: expected {wanted}, found {_show(data, i)}", hint)
        return start + len(expected)

    # -- §2 header

    def header(self) -> None:
        data = self.data
        if data.startswith(BOM):
            _fail(
                "E101",
                0,
                "the document starts with a UTF-8 byte order mark (BOM)",
                "save the file as UTF-8 without a BOM; the first byte must be 'S'",
            )
        hint = "an SCL:V1 document starts with the line SCL:V1 and then one blank line"
        for k in range(len(HEADER)):
            if k >= self.end or data[k] != HEADER[k]:
                what = (
                    "the header line must be exactly SCL:V1"
                    if k < 6
                    else "nothing may follow SCL:V1 on the header line"
                    if k == 6
                    else "the header must be followed by exactly one blank line"
                )
                if k == 5 and data.startswith(b"SCL:V") and k < self.end:
                    what = "unsupported version: an SCL:V1 engine reads only SCL:V1"
                _fail("E101", k, f"{what} (found {_show(data, k)})", hint)
        if self.end > len(HEADER) and data[len(HEADER)] == LF:  # docs/scl.md #3
            _fail("E101", len(HEADER), "more than one blank line after the header", hint)
        self.pos = len(HEADER)

    # -- §3 handles

    def handles(self) -> list[Handle]:
        data, end = self.data, self.end
        self.pos = self.literal(  # docs/scl.md #4: an incomplete opening line is E102
            self.pos,
            HANDLES_OPEN,
            "E102",
            "the handles block must open with the line 'handles {'",
            "after the header and its blank line comes 'handles {' alone on its line",
        )
        handles: list[Handle] = []
        unclosed = "the handles block is not closed"
        close_hint = _UNCLOSED
        while True:
            s = self.pos
            if s >= end:
                _fail("E103", end, unclosed, close_hint)
            i = _skip_spaces(data, s)
            if i >= end:
                _fail("E103", end, unclosed, close_hint)
            byte = data[i]
            if byte == LF:
                _fail(
                    "E102",
                    s,
                    "a blank (or spaces-only) line inside the handles block",
                    "remove the blank line; only handle lines and the closing } belong here",
                )
            if byte == ord("}") and i == s:
                if not handles:
                    _fail(
                        "E102",
                        s,
                        "the handles block is empty",
                        'define at least one handle, e.g. main("tag")',
                    )
                if s + 1 >= end:
                    _fail("E103", end, f"{unclosed}: its closing }} needs a line feed", _UNCLOSED)
                if data[s + 1] == LF:
                    self.pos = s + 2
                    return handles
            if byte not in _ID_START:  # docs/scl.md #5
                _fail(
                    "E102",
                    s,
                    "a line that is neither a handle definition nor the closing } of the "
                    f"handles block (it starts with {_show(data, i)})",
                    'a handle line is <spaces>id("tag",...); the block closes with } alone',
                )
            handles.append(self.handle_line(i))

    def handle_line(self, i: int) -> Handle:
        """§3.3: ``id("tag",...)`` then LF, from the first byte of the id."""
        data, end = self.data, self.end
        id_hint = "a handle id is ASCII [A-Za-z_][A-Za-z0-9_]* directly followed by ("
        j = i + 1  # data[i] is an id start: read on while the bytes can continue an id
        while j < end and data[j] in _ID_CONTINUE:
            j += 1
        if j >= end:
            _fail("E103", end, "the handles block is not closed (it ends in a handle)", _UNCLOSED)
        if data[j] == LF:
            _fail("E201", j, "a handle id must be followed by a ( and its tags", id_hint)
        if data[j] != ord("("):
            _fail("E201", j, f"{_show(data, j)} cannot be part of a handle id", id_hint)
        ident = data[i:j].decode("ascii")
        tags = self.tags(j + 1)
        k = self.pos
        if k >= end:
            _fail("E103", end, "the handles block is not closed (no LF after ')')", _UNCLOSED)
        if data[k] != LF:
            _fail(
                "E201",
                k,
                f"nothing may follow ) on a handle line (found {_show(data, k)})",
                "end the handle line right after ); no trailing spaces",
            )
        self.pos = k + 1
        return Handle(ident, tuple(tags))

    def tags(self, k: int) -> list[str]:
        """§3.4: ``"tag","tag")`` from the byte after ``(``; leaves ``pos`` after ``)``."""
        data, end = self.data, self.end
        hint = 'tags are double-quoted and comma-separated with no spaces: a("x","y")'
        eof = "the handles block is not closed (the document ends in a tag list)"
        if k < end and data[k] == ord(")"):
            _fail("E202", k, "an empty tag list", 'give the handle at least one tag: a("x")')
        tags: list[str] = []
        while True:
            if k >= end:
                _fail("E103", end, eof, _UNCLOSED)
            if data[k] != QUOTE:
                after_comma = bool(tags)
                if after_comma and data[k] == ord(")"):
                    _fail("E202", k, "a trailing comma in a tag list", hint)
                expected = "the next tag" if after_comma else "a tag"
                _fail(
                    "E202", k, f"expected {expected} (a double quote), found {_show(data, k)}", hint
                )
            close = data.find(b'"', k + 1)
            self.quoted_controls(k + 1, end if close == -1 else close, "a tag")
            if close == -1:
                _fail("E103", end, eof, _UNCLOSED)
            tags.append(data[k + 1 : close].decode("utf-8", "replace"))
            k = close + 1
            if k >= end:
                _fail("E103", end, eof, _UNCLOSED)
            if data[k] == ord(")"):
                self.pos = k + 1
                return tags
            if data[k] != ord(","):
                _fail("E202", k, f"expected , or ) after a tag, found {_show(data, k)}", hint)
            k += 1

    def quoted_controls(self, start: int, stop: int, what: str) -> None:
        """§0.5: no control character (LF included) inside a quoted string."""
        found = _CONTROL.search(self.data, start, stop)
        if found is None:
            return
        at = found.start()
        if self.data[at] == LF:  # docs/scl.md #6
            _fail("E001", at, f"{what} is not closed on its line", "close the quote on its line")
        _fail(
            "E001",
            at,
            f"{_show(self.data, at)} inside {what}",
            "quoted strings hold no control characters (U+0000-U+001F, U+007F)",
        )

    # -- §4 scl block

    def scl(self) -> str:
        data, end = self.data, self.end
        c = self.literal(  # docs/scl.md #4: an incomplete opening line is E104
            self.pos,
            SCL_OPEN,
            "E104",
            "the scl block must open with the line 'scl {' right after the handles block",
            "put 'scl {' alone on the line after the handles block's }, with no blank line",
        )
        self.pos = c
        i = _skip_spaces(data, c)
        if i < end and data[i] == QUOTE:
            return self.quoted(c)
        return self.raw(c)

    def quoted(self, s: int) -> str:
        """Mode A: lines ``<spaces>"text"`` until a line ``}`` that ends the document."""
        data, end = self.data, self.end
        lines: list[bytes] = []
        eof = "the scl block is not closed"
        eof_hint = "end the document with a line holding only } (and no newline after it)"
        line_hint = 'in quoted mode every content line is <spaces>"text" (no " inside)'
        while True:
            self.pos = s
            i = _skip_spaces(data, s)
            if i >= end:
                _fail("E105", end, eof, eof_hint)
            byte = data[i]
            if byte == QUOTE:
                close = data.find(b'"', i + 1)
                self.quoted_controls(i + 1, end if close == -1 else close, "a quoted line")
                if close == -1:
                    _fail("E105", end, eof, eof_hint)
                lines.append(data[i + 1 : close])
                k = close + 1
                if k >= end:
                    _fail("E105", end, f"{eof} (no line feed after the quoted line)", eof_hint)
                if data[k] != LF:
                    _fail(
                        "E104",
                        k,
                        f"nothing may follow the closing quote (found {_show(data, k)})",
                        line_hint,
                    )
                s = k + 1
                continue
            if byte == ord("}") and i == s:
                if s + 1 == end:
                    self.pos = end
                    return b"\n".join(lines).decode("utf-8", "replace")
                _fail(
                    "E104",
                    s + 1,
                    f"{_show(data, s + 1)} after the closing }} of the scl block",
                    _CLOSE_HINT,
                )
            what = (
                "a blank line inside quoted content"
                if byte == LF and i == s
                else "the closing } of quoted content cannot be indented"
                if byte == ord("}")
                else f"expected a quoted line or the closing }}, found {_show(data, i)}"
            )
            _fail("E104", i, what, line_hint)

    def raw(self, c: int) -> str:
        """Mode B: every line is content until the last line, ``<spaces>}`` at the end."""
        data, end = self.data, self.end
        i = _skip_spaces(data, c)
        if i < end and data[i] == ord("}") and not data[i + 1 :].strip(b" "):  # docs/scl.md #7
            _fail(
                "E104",
                i,
                "the scl block is empty: content is required before its closing }",
                'write at least one content line, quoted ("text") or raw, before the }',
            )
        bad = _BAD_TERMINATOR.search(data, c)  # docs/scl.md #8: on any line
        if bad is not None:
            _fail(
                "E104",
                bad.start(1),
                "spaces after } on a terminator-like line of raw content",
                "remove the spaces after }; the block ends with <spaces>} and the document",
            )
        last = data.rfind(b"\n", c - 1)  # the LF that ends the last content line
        if _TERMINATOR.fullmatch(data, last + 1) is None:
            hint = (
                _CLOSE_HINT
                if data.endswith(b"}\n")
                else "end the document with a line holding only } (no newline after it)"
            )
            _fail("E105", end, "the scl block is not closed: the last line is not }", hint)
        self.pos = end
        return data[c:last].decode("utf-8", "replace")


# --- the parse ------------------------------------------------------------------------------


def parse(data: bytes) -> Document:
    """Parse an SCL:V1 document (bytes), or raise the first error (:class:`SclError`).

    >>> doc = parse(b'SCL:V1\\n\\nhandles {\\n  main("intent","v1")\\n}\\nscl {\\n"Be brief."\\n}')
    >>> doc.handles[0], doc.scl.content
    (Handle(id='main', tags=('intent', 'v1')), 'Be brief.')
    >>> parse(b"SCL:V1\\n\\nscl {\\n}")
    Traceback (most recent call last):
    ...
    runid.scl.errors.SclError: E102 at byte 8 (line 3, column 1): the handles block must open \
with the line 'handles {': expected 'h', found 's'
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"an SCL:V1 document is bytes, not {type(data).__name__}")
    data = bytes(data)
    first = _byte_model_error(data)
    grammar = _Grammar(data)
    try:
        document = grammar.document()
    except _FoundError as failure:
        if first is None or failure.offset < first.offset:
            first = failure
    except Exception as exc:  # a bug in this parser: E900 (SPEC §7), unless E001 came first
        if first is None or grammar.pos < first.offset:
            internal = _FoundError("E900", grammar.pos, f"internal parser error ({exc!r})", _BUG)
            raise _error(data, internal) from exc
    else:
        if first is None:
            _self_check(data, document)
            return document
    raise _error(data, first)


_BUG = "this is a bug in runid's SCL parser; please report it with the document"


def _self_check(data: bytes, document: Document) -> None:
    """E900 if the AST is not one an SCL:V1 document can have (a parser bug)."""
    problems = [content_problem(document.scl.content)]
    problems += [tag_problem(t) for h in document.handles for t in h.tags]
    problem = next((p for p in problems if p), None)
    if problem:
        raise _error(
            data, _FoundError("E900", 0, f"internal parser error: the AST {problem}", _BUG)
        )


def _error(data: bytes, failure: _FoundError) -> SclError:
    line, column = locate(data, failure.offset)
    return SclError(
        failure.code, failure.offset, failure.what, line=line, column=column, hint=failure.hint
    )
