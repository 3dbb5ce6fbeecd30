"""runid.scl: the SCL:V1 parser, AST, canonical JSON and errors (beyond the vectors)."""

from __future__ import annotations

import json
import pickle

import pytest

from runid import canonical, scl
from runid.errors import InputError
from runid.scl import errors as scl_errors
from test_scl_vectors import CASES, _input

DOC = (
    b'SCL:V1\n\nhandles {\n  main("intent","v1")\n  aux("x")\n}\nscl {\n  "Be brief."\n  "Cite."\n}'
)


def test_a_document_parses_to_the_spec_object_model() -> None:
    document = scl.parse(DOC)
    assert document == scl.Document(
        (scl.Handle("main", ("intent", "v1")), scl.Handle("aux", ("x",))),
        scl.SclBlock("Be brief.\nCite."),
    )
    assert document.to_json() == {
        "type": "Document",
        "version": "SCL:V1",
        "handles": [
            {"type": "Handle", "id": "main", "tags": ["intent", "v1"]},
            {"type": "Handle", "id": "aux", "tags": ["x"]},
        ],
        "scl": {"type": "SclBlock", "content": "Be brief.\nCite.", "refs": [], "hints": []},
    }
    assert scl.parse(bytearray(DOC)) == scl.parse(memoryview(DOC)) == document


def test_canonical_json_is_one_line_sorted_with_minimal_escapes() -> None:
    out = scl.canonical_json(scl.parse(DOC))
    assert out == (
        b'{"handles":[{"id":"main","tags":["intent","v1"],"type":"Handle"},'
        b'{"id":"aux","tags":["x"],"type":"Handle"}],'
        b'"scl":{"content":"Be brief.\\u000aCite.","hints":[],"refs":[],"type":"SclBlock"},'
        b'"type":"Document","version":"SCL:V1"}'
    )
    assert scl.doc_hash(scl.parse(DOC)) == scl.doc_hash_of_canonical(out)
    value = {"b": ['q"\\\x00\x1f\x7f/é\u2028'], "a": "", "ab": "", "\u00e9": ""}
    assert scl.canonical_json_value(value) == (
        '{"a":"","ab":"","b":["q\\"\\\\\\u0000\\u001f\x7f/é\u2028"],"é":""}'.encode()
    )


def test_canonical_json_agrees_with_rfc_8785_except_for_control_escapes() -> None:
    document = scl.parse(DOC.replace(b'  "Cite."\n', b""))  # one line: no LF in the content
    assert scl.canonical_json(document) == canonical.canonicalize(document.to_json())
    two_lines = scl.parse(DOC)
    jcs = canonical.canonicalize(two_lines.to_json())
    assert jcs != scl.canonical_json(two_lines)
    assert jcs.replace(b"\\n", b"\\u000a") == scl.canonical_json(two_lines)


def test_canonical_json_refuses_what_is_not_objects_arrays_and_strings() -> None:
    for bad in (1, None, True, {"a": 1.5}, {1: "x"}):
        with pytest.raises(TypeError):
            scl.canonical_json_value(bad)
    with pytest.raises(UnicodeEncodeError):
        scl.canonical_json_value("\ud800")


def test_the_ast_reads_back_from_canonical_json() -> None:
    document = scl.parse(DOC)
    again = scl.Document.from_json(canonical.loads(scl.canonical_json(document)))
    assert again == document
    assert scl.Document.from_json(json.loads(scl.canonical_json(document))) == document


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        (lambda d: d.update(type="Doc"), "/type"),
        (lambda d: d.update(version="SCL:V2"), "/version"),
        (lambda d: d.update(extra=[]), "/ must have exactly"),
        (lambda d: d.update(handles=[]), "/handles"),
        (lambda d: d["handles"][0].update(id="9a"), "/handles/0/id"),
        (lambda d: d["handles"][0].update(tags=[]), "/handles/0/tags"),
        (lambda d: d["handles"][0].update(tags=['a"b']), "/handles/0/tags/0"),
        (lambda d: d["handles"][0].update(tags=["a\nb"]), "/handles/0/tags/0"),
        (lambda d: d["handles"][0].update(tags=[1]), "/handles/0/tags/0"),
        (lambda d: d["scl"].update(refs=["r"]), "/scl/refs"),
        (lambda d: d["scl"].update(hints=[None]), "/scl/hints"),
        (lambda d: d["scl"].update(content=None), "/scl/content"),
        (lambda d: d["scl"].update(content="a\tb"), "/scl/content"),
        (lambda d: d["scl"].update(content="a\rb"), "/scl/content"),
        (lambda d: d["scl"].update(content='"q"\nx\x01'), "/scl/content"),
        (lambda d: d["scl"].update(content='x"\n} '), "/scl/content"),
        (lambda d: d["scl"].update(content="\ud800"), "/scl/content"),
    ],
)
def test_an_ast_no_document_has_is_refused(change: object, pointer: str) -> None:
    value = scl.parse(DOC).to_json()
    change(value)  # type: ignore[operator]
    with pytest.raises(InputError) as info:
        scl.Document.from_json(value)
    assert pointer in info.value.message


def test_content_either_mode_can_hold_is_accepted() -> None:
    for content in ("", "x", 'a\n"b"', "x\x00y", "  }", "}\n}", "a\n\nb", "}  \nx", ' q"\n'):
        value = scl.parse(DOC).to_json()
        value["scl"]["content"] = content
        assert scl.Document.from_json(value).scl.content == content


def test_every_error_is_a_runid_input_error_with_code_offset_place_and_hint() -> None:
    for _name, vector in CASES:
        if vector["expected_ok"]:
            continue
        data = _input(vector)
        with pytest.raises(scl.SclError) as info:
            scl.parse(data)
        error = info.value
        assert isinstance(error, InputError)
        assert error.exit_code == 3
        assert error.code in scl.CODES and error.meaning == scl.CODES[error.code]
        assert (error.line, error.column) == scl_errors.locate(data, error.offset)
        assert error.message.startswith(
            f"{error.code} at byte {error.offset} (line {error.line}, column {error.column}): "
        )
        assert error.hint, error.message
        named = error.with_source("doc.scl")
        assert named.message == f"doc.scl: {error.message}"
        assert (named.code, named.offset, named.hint) == (error.code, error.offset, error.hint)
        copy = pickle.loads(pickle.dumps(error))
        assert (copy.message, copy.code, copy.offset) == (error.message, error.code, error.offset)


def test_line_and_column_count_lines_and_characters() -> None:
    data = "SCL:V1\n\nhandles {\n  aé-(".encode()
    assert scl_errors.locate(data, 0) == (1, 1)
    assert scl_errors.locate(data, 7) == (2, 1)
    assert scl_errors.locate(data, data.index(b"-")) == (4, 5)
    assert scl_errors.locate(data, len(data)) == (4, 7)
    with pytest.raises(scl.SclError) as info:
        scl.parse(data + b'"x")\n}\nscl {\n}')
    error = info.value
    assert (error.code, error.offset, error.line, error.column) == ("E201", 21, 4, 4)


def test_only_bytes_are_parsed() -> None:
    with pytest.raises(TypeError):
        scl.parse(DOC.decode())  # type: ignore[arg-type]


def test_an_unknown_code_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="E999"):
        scl.SclError("E999", 0, "x", line=1, column=1)


def test_a_parser_bug_is_e900_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from runid.scl import _parser

    def broken(self: object) -> str:
        raise IndexError("boom")

    monkeypatch.setattr(_parser._Grammar, "scl", broken)
    with pytest.raises(scl.SclError) as info:
        scl.parse(DOC)
    assert info.value.code == "E900" and "IndexError" in info.value.message
    assert isinstance(info.value.__cause__, IndexError)
    # ... unless an E001 comes first
    with pytest.raises(scl.SclError) as info:
        scl.parse(DOC.replace(b"main", b"m\tin"))
    assert info.value.code == "E001"


def test_an_ast_the_parser_should_never_build_is_e900(monkeypatch: pytest.MonkeyPatch) -> None:
    from runid.scl import _parser

    monkeypatch.setattr(_parser._Grammar, "scl", lambda self: 'x"\n}  ')
    with pytest.raises(scl.SclError) as info:
        scl.parse(DOC)
    assert info.value.code == "E900"


def test_large_documents_parse() -> None:
    # Their speed belongs to a benchmark; here, that they parse whole and exactly.
    lines = b"".join(b'  h%d("tag","t%d")\n' % (i, i) for i in range(20_000))
    raw = b"x" * 79 + b"\n"
    data = b"SCL:V1\n\nhandles {\n" + lines + b"}\nscl {\n" + raw * 100_000 + b"}"
    document = scl.parse(data)
    assert len(document.handles) == 20_000
    assert len(document.scl.content) == 80 * 100_000 - 1
    quoted_line = b'  "' + b"y" * 76 + b'"\n'
    quoted = b'SCL:V1\n\nhandles {\na("x")\n}\nscl {\n' + quoted_line * 100_000 + b"}"
    assert len(scl.parse(quoted).scl.content) == 77 * 100_000 - 1
