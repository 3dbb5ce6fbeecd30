"""Properties of runid.scl over generated SCL:V1 documents (hypothesis).

- a generated document parses to the AST it was built from;
- its canonical JSON, read back, is the same AST with the same canonical bytes and doc_hash;
- formatting variants (indentation) have the same doc_hash;
- any single-byte change of a valid document makes it invalid or changes its doc_hash;
- any bytes at all: a Document or one SclError (code and offset in range), never another
  exception.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runid import canonical, scl

_FORBIDDEN_IN_QUOTES = {chr(c) for c in range(0x20)} | {"\x7f", '"'}

ids = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
quoted_text = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters=_FORBIDDEN_IN_QUOTES),
    max_size=8,
)
raw_line = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters={"\n", "\r", "\t"}),
    max_size=10,
) | st.sampled_from(["}", "  }", "", '"x"', " {", "}}"])


@dataclass(frozen=True)
class Built:
    """A document built from its parts; ``render`` writes it with any indentation."""

    handles: tuple[tuple[str, tuple[str, ...]], ...]
    quoted: bool
    lines: tuple[str, ...]
    indents: tuple[int, ...]

    def render(self, indents: tuple[int, ...]) -> bytes:
        spaces = (" " * indents[i % len(indents)] for i in range(1_000))
        out = [b"SCL:V1\n\nhandles {\n"]
        for ident, tags in self.handles:
            tag_list = ",".join(f'"{t}"' for t in tags)
            out.append(f"{next(spaces)}{ident}({tag_list})\n".encode())
        out.append(b"}\nscl {\n")
        if self.quoted:
            out += [f'{next(spaces)}"{line}"\n'.encode() for line in self.lines]
            out.append(b"}")
        else:
            out += [f"{line}\n".encode() for line in self.lines]
            out.append(f"{next(spaces)}}}".encode())
        return b"".join(out)

    @property
    def data(self) -> bytes:
        return self.render(self.indents)

    @property
    def document(self) -> scl.Document:
        handles = tuple(scl.Handle(i, t) for i, t in self.handles)
        return scl.Document(handles, scl.SclBlock("\n".join(self.lines)))


def _raw_ok(lines: list[str]) -> bool:
    return not lines[0].lstrip(" ").startswith('"') and not any(
        line.rstrip(" ") != line and line.strip(" ") == "}" for line in lines
    )


@st.composite
def documents(draw: st.DrawFn) -> Built:
    tags = st.lists(quoted_text, min_size=1, max_size=3).map(tuple)
    handles = draw(st.lists(st.tuples(ids, tags), min_size=1, max_size=4))
    quoted = draw(st.booleans())
    if quoted:
        lines = draw(st.lists(quoted_text, min_size=1, max_size=4))
    else:
        lines = draw(st.lists(raw_line, min_size=1, max_size=4).filter(_raw_ok))
    indents = draw(st.lists(st.integers(0, 3), min_size=1, max_size=4))
    return Built(tuple(handles), quoted, tuple(lines), tuple(indents))


@given(documents())
def test_a_generated_document_parses_to_its_ast(built: Built) -> None:
    assert scl.parse(built.data) == built.document


@given(documents())
def test_canonical_json_read_back_is_the_same_ast_and_hash(built: Built) -> None:
    document = scl.parse(built.data)
    data = scl.canonical_json(document)
    assert not {0x0A, 0x0D, 0x09} & set(data)  # one line, no whitespace but spaces in strings
    for loads in (canonical.loads, json.loads):
        again = scl.Document.from_json(loads(data))
        assert again == document
        assert scl.canonical_json(again) == data
        assert scl.doc_hash(again) == scl.doc_hash(document)


@given(documents(), st.lists(st.integers(0, 3), min_size=1, max_size=4).map(tuple))
def test_formatting_variants_have_one_doc_hash(built: Built, indents: tuple[int, ...]) -> None:
    variant = built.render(indents)
    assert scl.parse(variant) == built.document
    assert scl.doc_hash(scl.parse(variant)) == scl.doc_hash(scl.parse(built.data))


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.data())
def test_a_single_byte_change_invalidates_or_changes_the_hash(
    built: Built, data: st.DataObject
) -> None:
    original = scl.doc_hash(built.document)
    position = data.draw(st.integers(0, len(built.data) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != built.data[position]))
    changed = bytearray(built.data)
    changed[position] = byte
    try:
        document = scl.parse(bytes(changed))
    except scl.SclError as error:
        assert error.code != "E900"
        return
    assert scl.doc_hash(document) != original


def test_every_single_byte_change_of_two_documents_invalidates_or_changes_the_hash() -> None:
    for data in (
        b'SCL:V1\n\nhandles {\n  a("x","y")\n b_1("")\n}\nscl {\n  "q"\n ""\n}',
        b'SCL:V1\n\nhandles {\na("x")\n}\nscl {\n  r\n\n}\n"x"\n  }',
    ):
        original = scl.doc_hash(scl.parse(data))
        for position in range(len(data)):
            for byte in range(256):
                if byte == data[position]:
                    continue
                changed = data[:position] + bytes([byte]) + data[position + 1 :]
                try:
                    document = scl.parse(changed)
                except scl.SclError as error:
                    assert error.code != "E900"
                    continue
                assert scl.doc_hash(document) != original, (position, byte)


@given(st.binary(max_size=64) | documents().map(lambda b: b.data[: len(b.data) // 2]))
def test_any_bytes_give_a_document_or_one_scl_error(data: bytes) -> None:
    try:
        scl.parse(data)
    except scl.SclError as error:
        assert error.code in scl.CODES and error.code != "E900"
        assert 0 <= error.offset <= len(data)


@given(documents())
def test_scl_canonical_json_is_rfc_8785_when_no_string_holds_a_control(built: Built) -> None:
    value = built.document.to_json()
    strings = [built.document.scl.content, *(t for h in built.document.handles for t in h.tags)]
    if any(ord(c) < 0x20 for text in strings for c in text):
        return
    assert scl.canonical_json(built.document) == canonical.canonicalize(value)
