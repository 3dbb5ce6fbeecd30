"""Write the SCL:V1 conformance vectors (``*.json`` here) from the cases below.

Each case is written by hand from SPEC_V1.md: the input bytes, and either the AST the spec says
it has (handles and content) or the error code and byte offset the spec says it raises. The
offsets are the position of the offending byte in the input (``at(doc, b"...")``), derived from
the spec text; nothing here runs ``runid.scl``. The canonical JSON and the hash of a valid case
are computed by an independent oracle (:func:`oracle_canonical`: the standard library's
``json.dumps`` with the escapes SPEC §6.1 forbids rewritten), so the vectors check runid's
implementation instead of repeating it.

``python tests/vectors/scl/generate.py`` rewrites the files; ``--check`` fails if they differ.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SPEC = "scl-protocol/scl-spec SPEC_V1.md, commit 319bc72 (git blob 285cc42)"

H = b"SCL:V1\n\n"
OPEN = b"handles {\n"


def doc(handles: bytes = b'a("x")\n', body: bytes = b'"hi"\n', close: bytes = b"}") -> bytes:
    """A document: header, ``handles {``, the handle lines, ``}``, ``scl {``, body, close."""
    return H + OPEN + handles + b"}\n" + b"scl {\n" + body + close


def at(data: bytes, marker: bytes, nth: int = 1, plus: int = 0) -> int:
    """The offset of the ``nth`` occurrence of ``marker`` in ``data`` (plus ``plus``)."""
    i = -1
    for _ in range(nth):
        i = data.index(marker, i + 1)
    return i + plus


def oracle_canonical(ast: dict[str, Any]) -> bytes:
    """SPEC §6.1 canonical JSON, independently: json.dumps, then \\b \\f \\n \\r \\t as \\u00xx."""
    text = json.dumps(ast, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    short = {"b": "\\u0008", "f": "\\u000c", "n": "\\u000a", "r": "\\u000d", "t": "\\u0009"}
    text = re.sub(r"\\(.)", lambda m: short.get(m.group(1), m.group(0)), text)
    return text.encode("utf-8")


def ast_of(handles: list[tuple[str, list[str]]], content: str) -> dict[str, Any]:
    return {
        "type": "Document",
        "version": "SCL:V1",
        "handles": [{"type": "Handle", "id": i, "tags": t} for i, t in handles],
        "scl": {"type": "SclBlock", "content": content, "refs": [], "hints": []},
    }


A = [("a", ["x"])]  # the handles of doc()'s default handle line


def ok(
    name: str,
    source: str,
    data: bytes,
    content: str,
    handles: list[tuple[str, list[str]]] | None = None,
    *,
    note: str = "",
) -> dict[str, Any]:
    ast = ast_of(A if handles is None else handles, content)
    canonical = oracle_canonical(ast)
    return {
        "name": name,
        "source": source,
        **({"note": note} if note else {}),
        **_input(data),
        "expected_ok": True,
        "ast": ast,
        "canonical_json": canonical.decode("utf-8"),
        "doc_hash": hashlib.sha256(canonical).hexdigest(),
    }


def err(
    name: str, source: str, data: bytes, code: str, offset: int, *, note: str = ""
) -> dict[str, Any]:
    assert 0 <= offset <= len(data), (name, offset)
    return {
        "name": name,
        "source": source,
        **({"note": note} if note else {}),
        **_input(data),
        "expected_ok": False,
        "error": {"code": code, "offset": offset},
    }


def _input(data: bytes) -> dict[str, Any]:
    try:
        return {"input": data.decode("utf-8"), "input_len": len(data)}
    except UnicodeDecodeError:
        return {"input_hex": data.hex(), "input_len": len(data)}


# --- every example SPEC_V1.md gives ------------------------------------------------------------


def spec_examples() -> list[dict[str, Any]]:
    v: list[dict[str, Any]] = []
    v.append(ok("header-line", "§2 (the header SCL:V1)", doc(), "hi"))
    d = doc(b'id("tag1","tag2")\n', b'"<content-bytes-as-utf8-string>"\n')
    v.append(
        ok(
            "ast-example",
            '§5 (the AST example) with §3.4\'s id("tag1","tag2")',
            d,
            "<content-bytes-as-utf8-string>",
            [("id", ["tag1", "tag2"])],
        )
    )
    v.append(
        ok(
            "handle-line-template",
            "§3.3 <indent><handle_id>(<tag_list>)\\n",
            doc(b'    handle_id("tag")\n'),
            "hi",
            [("handle_id", ["tag"])],
        )
    )
    v.append(
        ok(
            "quoted-line-template",
            '§4.2 Mode A <indent>"<bytes>"\\n',
            doc(body=b'  "<bytes>"\n'),
            "<bytes>",
        )
    )
    v.append(
        ok(
            "quoted-lines-joined",
            "§4.2 Mode A: inner contents joined with \\n",
            doc(body=b'"one"\n  "two"\n    "three"\n'),
            "one\ntwo\nthree",
        )
    )
    v.append(
        ok(
            "raw-mode",
            "§4.2 Mode B: lines joined with \\n; terminator ^[ ]*}$ at EOF, its spaces not content",
            doc(body=b"First line.\n\n  indented, kept\n", close=b"   }"),
            "First line.\n\n  indented, kept",
        )
    )
    d = H + OPEN + b"}\n"
    v.append(err("empty-handles-block", "§3.2 (handles {\\n}\\n)", d, "E102", at(d, b"}")))
    d = b"\xef\xbb\xbf" + doc()
    v.append(err("bom", "§2 (a UTF-8 BOM)", d, "E101", 0))
    d = doc().replace(b"SCL:V1", b"SCL:V2")
    v.append(err("version-v2", "§2 (SCL:V2 is not V1 input)", d, "E101", 5))
    d = doc(b'a("x")\n   \n')
    v.append(err("whitespace-only-line", "§3.2 (^[ ]*\\n$ in handles)", d, "E102", at(d, b"   \n")))
    d = doc(b'a("x")\n\n')
    v.append(
        err(
            "empty-line-in-handles",
            "§3.2 (for \\n the first byte is the LF)",
            d,
            "E102",
            at(d, b"\n\n", 2, 1),
        )
    )
    d = doc(body=b"raw\n", close=b"}  ")
    v.append(
        err(
            "raw-terminator-trailing-spaces",
            "§4.2 rule 3 (^[ ]*}[ ]+$)",
            d,
            "E104",
            at(d, b"}  ", plus=1),
        )
    )
    d = doc(body=b'"a\rb"\n')
    v.append(err("cr-in-quoted", "§0.3 (CR anywhere, inside quotes too)", d, "E001", at(d, b"\r")))
    d = doc(body=b"a\tb\n")
    v.append(err("tab-in-raw", "§0.4 (tab anywhere, raw content too)", d, "E001", at(d, b"\t")))
    d = doc(body=b'"caf\xc3"\n')
    v.append(
        err(
            "invalid-utf8",
            "§0.2 (offset: first byte of the invalid sequence)",
            d,
            "E001",
            at(d, b"\xc3"),
        )
    )
    d = doc(body=b'"ab\n')
    v.append(
        err(
            "lf-in-quoted",
            "§0.5 (a literal LF inside a quoted string)",
            d,
            "E001",
            at(d, b"ab\n", plus=2),
        )
    )
    d = doc(body=b'"a\x7f"\n')
    v.append(
        err("del-in-quoted", "§0.5 (U+007F inside a quoted string)", d, "E001", at(d, b"\x7f"))
    )
    v.append(
        ok(
            "formatting-variant",
            "§6.2 (whitespace-equivalent inputs collide: same AST as header-line)",
            doc(b'      a("x")\n', b'        "hi"\n'),
            "hi",
        )
    )
    return v


# --- one valid and one invalid document per grammar rule --------------------------------------


def grammar() -> list[dict[str, Any]]:
    v: list[dict[str, Any]] = []
    # §2 header
    d = doc().replace(b"SCL:V1\n", b"SCL:V1 \n", 1)
    v.append(err("header-trailing-space", "§2 no trailing spaces", d, "E101", 6))
    d = doc().replace(b"SCL:V1", b"scl:v1", 1)
    v.append(err("header-lowercase", "§2 exact casing", d, "E101", 0))
    d = b" " + doc()
    v.append(err("header-leading-space", "§2 first byte S", d, "E101", 0))
    d = doc().replace(b"SCL:V1\n\n", b"SCL:V1\n", 1)
    v.append(err("header-no-blank-line", "§1/§2 exactly one blank line", d, "E101", 7))
    d = doc().replace(b"SCL:V1\n\n", b"SCL:V1\n\n\n", 1)
    v.append(
        err(
            "header-two-blank-lines",
            "§1/§2 no additional blank lines (docs/scl.md #3)",
            d,
            "E101",
            8,
        )
    )
    d = doc().replace(b"SCL:V1", b"SCL:V10", 1)
    v.append(err("header-version-suffix", "§2 exactly SCL:V1", d, "E101", 6))
    v.append(err("empty-document", "§2 (the document is empty)", b"", "E101", 0))
    v.append(err("header-only", "§2 header without its blank line", b"SCL:V1", "E101", 6))
    # §3.1 handles delimiters
    v.append(ok("handles-open", "§3.1 handles {\\n", doc(), "hi"))
    d = H + b"scl {\n" + b'"hi"\n}'
    v.append(err("handles-missing", "§3.1 missing handles block", d, "E102", 8))
    d = doc().replace(b"handles {", b"handles  {", 1)
    v.append(err("handles-open-two-spaces", "§3.1 exactly 'handles {'", d, "E102", 16))
    d = doc().replace(b"handles {\n", b"handles { \n", 1)
    v.append(err("handles-open-trailing-space", "§3.1 nothing after {", d, "E102", 17))
    d = doc().replace(b"handles", b"Handles", 1)
    v.append(err("handles-open-casing", "§8 alternative casing", d, "E102", 8))
    v.append(err("handles-eof-after-header", "§3.1 missing (docs/scl.md #4)", H, "E102", 8))
    v.append(
        err(
            "handles-eof-in-open-line",
            "§3.1 incomplete 'handles {' (docs/scl.md #4)",
            H + b"handles {",
            "E102",
            17,
        )
    )
    d = H + OPEN + b'a("x")\n'
    v.append(err("handles-unclosed", "§3.1 EOF before handles closes", d, "E103", len(d)))
    d = H + OPEN + b'a("x")\n}'
    v.append(
        err("handles-close-no-lf", "§3.1 closing line is }\\n (docs/scl.md #4)", d, "E103", len(d))
    )
    d = doc(b'a("x")\n  }\n')
    v.append(
        err(
            "handles-close-indented",
            "§3.2 not a handle line nor }\\n (docs/scl.md #5)",
            d,
            "E102",
            at(d, b"  }"),
        )
    )
    d = doc().replace(b'a("x")\n}\n', b'a("x")\n} \n', 1)
    v.append(
        err(
            "handles-close-trailing-space",
            "§3.1 closing line exactly }\\n",
            d,
            "E102",
            at(d, b"} \n"),
        )
    )
    d = doc(b'a("x")\n# comment\n')
    v.append(err("handles-comment", "§8 no comments (docs/scl.md #5)", d, "E102", at(d, b"#")))
    d = doc(b'a("x")\nhandles {\nb("y")\n')
    v.append(err("handles-nested", "§3.2 no nested blocks", d, "E201", at(d, b"handles {", 2, 7)))
    # §3.3 handle lines
    v.append(ok("handle-indented", "§3.3 <indent> spaces", doc(b'  a("x")\n'), "hi"))
    v.append(
        ok(
            "handle-many",
            "§3.2 several handles, input order kept",
            doc(b'z("1")\na("2")\n  m_9("3","4")\n'),
            "hi",
            [("z", ["1"]), ("a", ["2"]), ("m_9", ["3", "4"])],
        )
    )
    v.append(
        ok(
            "handle-duplicate-ids",
            "§3.3 (nothing forbids a repeated id; docs/scl.md #9)",
            doc(b'a("x")\na("y")\n'),
            "hi",
            [("a", ["x"]), ("a", ["y"])],
        )
    )
    v.append(
        ok(
            "handle-id-underscore-digits",
            "§3.3 ^[A-Za-z_][A-Za-z0-9_]*$",
            doc(b'_A9z("x")\n'),
            "hi",
            [("_A9z", ["x"])],
        )
    )
    d = doc(b'a-b("x")\n')
    v.append(err("handle-id-hyphen", "§3.3 step 2", d, "E201", at(d, b"-")))
    d = doc(b'9a("x")\n')
    v.append(
        err("handle-id-digit-first", "§3.3 step 2 / §3.2 (docs/scl.md #5)", d, "E102", at(d, b"9a"))
    )
    d = doc('aé("x")\n'.encode())
    v.append(err("handle-id-non-ascii", "§3.3 ASCII only", d, "E201", at(d, "é".encode())))
    d = doc(b'a ("x")\n')
    v.append(err("handle-space-before-paren", "§3.3 step 3", d, "E201", at(d, b' ("')))
    d = doc(b"abc\n")
    v.append(
        err(
            "handle-no-paren",
            "§3.3 step 3 (LF where ( is required)",
            d,
            "E201",
            at(d, b"abc\n", plus=3),
        )
    )
    d = doc(b'a("x") \n')
    v.append(err("handle-trailing-space", "§3.3 step 5", d, "E201", at(d, b'") ', plus=2)))
    d = doc(b'a("x")b\n')
    v.append(err("handle-bytes-after-paren", "§3.3 step 5", d, "E201", at(d, b")b", plus=1)))
    d = doc(b'\ta("x")\n')
    v.append(
        err("handle-tab-indent", "§3.2 indentation is spaces only; §0.4", d, "E001", at(d, b"\t"))
    )
    # §3.4 tag lists
    v.append(
        ok("tags-two", "§3.4 commas separate tags", doc(b'a("x","y")\n'), "hi", [("a", ["x", "y"])])
    )
    v.append(
        ok(
            "tags-literal-bytes",
            "§3.4 a tag holds spaces, commas, parentheses, backslashes, UTF-8",
            doc('a("x y","(,)","\\\\n","ü✓")\n'.encode()),
            "hi",
            [("a", ["x y", "(,)", "\\\\n", "ü✓"])],
        )
    )
    v.append(
        ok(
            "tags-empty-tag",
            '§3.4 (an empty tag "" is a quoted token; docs/scl.md #10)',
            doc(b'a("")\n'),
            "hi",
            [("a", [""])],
        )
    )
    d = doc(b"a()\n")
    v.append(err("tags-empty-list", "§3.4 empty tag list", d, "E202", at(d, b"()", plus=1)))
    d = doc(b"a(x)\n")
    v.append(err("tags-unquoted", "§3.4 tags are double-quoted", d, "E202", at(d, b"(x", plus=1)))
    d = doc(b"a('x')\n")
    v.append(err("tags-single-quoted", "§3.4 double quotes only", d, "E202", at(d, b"'")))
    d = doc(b'a("x",)\n')
    v.append(err("tags-trailing-comma", "§3.4 no trailing comma", d, "E202", at(d, b",)", plus=1)))
    d = doc(b'a("x", "y")\n')
    v.append(
        err(
            "tags-space-after-comma",
            "§3.4 no spaces inside the parentheses",
            d,
            "E202",
            at(d, b", ", plus=1),
        )
    )
    d = doc(b'a( "x")\n')
    v.append(
        err("tags-space-after-paren", "§3.3 no spaces after (", d, "E202", at(d, b"( ", plus=1))
    )
    d = doc(b'a("x" )\n')
    v.append(
        err("tags-space-before-paren", "§3.3 no spaces before )", d, "E202", at(d, b'" )', plus=1))
    )
    d = doc(b'a("x""y")\n')
    v.append(
        err("tags-missing-comma", "§3.4 commas separate tags", d, "E202", at(d, b'""', plus=1))
    )
    d = doc(b'a("x"\n')
    v.append(
        err(
            "tags-unclosed-list",
            "§3.4 (LF where , or ) is required)",
            d,
            "E202",
            at(d, b'"x"\n', plus=3),
        )
    )
    d = doc(b'a("x\n")\n')
    v.append(
        err("tags-lf-in-tag", "§3.4 does not span lines; §0.5", d, "E001", at(d, b'"x\n', plus=2))
    )
    d = doc(b'a("x\x00")\n')
    v.append(err("tags-nul-in-tag", "§0.5 U+0000 in a tag", d, "E001", at(d, b"\x00")))
    d = H + OPEN + b'a("x'
    v.append(err("tags-eof-in-tag", "§3.1 EOF before handles close", d, "E103", len(d)))
    # §4.1 scl block delimiters
    d = doc().replace(b"}\nscl {", b"}\n\nscl {", 1)
    v.append(
        err(
            "scl-blank-line-before",
            "§1 no blank line between handles and scl",
            d,
            "E104",
            at(d, b"}\n\n", plus=2),
        )
    )
    d = doc().replace(b"scl {", b"scl  {", 1)
    v.append(
        err("scl-open-two-spaces", "§4.1 exactly 'scl {'", d, "E104", at(d, b"scl  {", plus=4))
    )
    d = doc().replace(b"scl {\n", b"scl { \n", 1)
    v.append(
        err("scl-open-trailing-space", "§4.1 nothing after {", d, "E104", at(d, b"scl { ", plus=5))
    )
    d = H + OPEN + b'a("x")\n}\n'
    v.append(err("scl-missing", "§4.1 missing scl block (docs/scl.md #4)", d, "E104", len(d)))
    d = doc().replace(b"scl {", b"SCL {", 1)
    v.append(err("scl-open-casing", "§8 alternative casing", d, "E104", at(d, b"SCL {")))
    d = H + OPEN + b'a("x")\n}\nscl {\n'
    v.append(err("scl-eof-after-open", "§4.1 EOF before the scl block closes", d, "E105", len(d)))
    # §4.2 Mode A
    v.append(ok("quoted-one-line", "§4.2 Mode A", doc(body=b'"hi"\n'), "hi"))
    v.append(ok("quoted-empty-string", "§4.2 Mode A (an empty quoted line)", doc(body=b'""\n'), ""))
    v.append(
        ok(
            "quoted-no-escapes",
            "§4.2 Mode A: bytes taken literally, no escape processing",
            doc(body=b'"a\\nb \\u0041 \\\\"\n'),
            "a\\nb \\u0041 \\\\",
        )
    )
    v.append(
        ok(
            "quoted-utf8",
            "§0.2 UTF-8 bytes kept as they are",
            doc(body='"Grüße 🌍"\n'.encode()),
            "Grüße 🌍",
        )
    )
    d = doc(body=b'"hi" \n')
    v.append(
        err(
            "quoted-trailing-space",
            "§4.2 the byte after the closing quote must be LF",
            d,
            "E104",
            at(d, b'"hi" ', plus=4),
        )
    )
    d = doc(body=b'"a"b"\n')
    v.append(
        err(
            "quoted-inner-quote",
            "§4.2 exactly one opening and one closing quote",
            d,
            "E104",
            at(d, b'"a"b', plus=3),
        )
    )
    d = doc(body=b'"hi"\nraw\n')
    v.append(
        err(
            "quoted-then-raw-line",
            "§4.2 once selected, every line in the same mode",
            d,
            "E104",
            at(d, b"raw\n"),
        )
    )
    d = doc(body=b'"hi"\n\n')
    v.append(
        err(
            "quoted-blank-line",
            "§4.2 Mode A / §1 no other blank lines",
            d,
            "E104",
            at(d, b'"hi"\n', plus=5),
        )
    )
    d = doc(body=b'"hi"\n', close=b"  }")
    v.append(
        err(
            "quoted-terminator-indented",
            "§4.2 Mode A ends at a line exactly }",
            d,
            "E104",
            at(d, b"  }", plus=2),
        )
    )
    d = doc(body=b'"hi"\n', close=b"}\n")
    v.append(
        err(
            "quoted-newline-after-close", "§4.1 no newline after the final }", d, "E104", len(d) - 1
        )
    )
    d = doc(body=b'"hi"\n', close=b"} ")
    v.append(
        err(
            "quoted-space-after-close",
            "§4.2 terminator whitespace is structural",
            d,
            "E104",
            len(d) - 1,
        )
    )
    d = H + OPEN + b'a("x")\n}\nscl {\n"hi"\n'
    v.append(
        err("quoted-eof-before-close", "§4.1 EOF before the scl block closes", d, "E105", len(d))
    )
    d = H + OPEN + b'a("x")\n}\nscl {\n"hi'
    v.append(err("quoted-eof-in-quote", "§4.1 EOF before the scl block closes", d, "E105", len(d)))
    d = doc(body=b'"a\x01"\n')
    v.append(err("quoted-control", "§0.5 U+0001 in a quoted line", d, "E001", at(d, b"\x01")))
    # §4.2 Mode B
    v.append(ok("raw-one-line", "§4.2 Mode B", doc(body=b"Be brief.\n"), "Be brief."))
    d = doc(body=b"")
    v.append(
        err("scl-empty-block", "§4.2 content required (docs/scl.md #7)", d, "E104", len(d) - 1)
    )
    d = doc(body=b"", close=b"   }")
    v.append(err("scl-empty-block-indented", "§4.2 (docs/scl.md #7)", d, "E104", len(d) - 1))
    v.append(ok("raw-one-empty-line", "§4.2 rule 4 empty lines are content", doc(body=b"\n"), ""))
    v.append(
        ok(
            "raw-braces-and-quotes",
            '§4.2 Mode B: } lines and "-lines inside raw content (docs/scl.md #8)',
            doc(body=b'{\n  "k": "v"\n}\n"quoted" later\n'),
            '{\n  "k": "v"\n}\n"quoted" later',
        )
    )
    v.append(
        ok(
            "raw-controls",
            "§4.2 rule 5 (only UTF-8, CR and tab are restricted; docs/scl.md #11)",
            doc(body=b"nul\x00 esc\x1b del\x7f\n"),
            "nul\x00 esc\x1b del\x7f",
        )
    )
    v.append(
        ok(
            "raw-backslash-quote",
            '§6.1 " and \\ escaped in canonical JSON',
            doc(body=b'say "hi" \\ bye\n'),
            'say "hi" \\ bye',
        )
    )
    d = doc(body=b"raw\n", close=b"}\n")
    v.append(
        err(
            "raw-newline-after-close",
            "§4.2 rule 2 (the last line is empty, not })",
            d,
            "E105",
            len(d),
        )
    )
    d = doc(body=b"raw\n", close=b"}x")
    v.append(err("raw-bytes-after-close", "§4.2 rule 2 (^[ ]*}$ then EOF)", d, "E105", len(d)))
    d = doc(body=b"raw\n} \nmore\n")
    v.append(
        err(
            "raw-spaced-brace-midway",
            "§4.2 rule 3 on any line (docs/scl.md #8)",
            d,
            "E104",
            at(d, b"} \n", plus=1),
        )
    )
    d = H + OPEN + b'a("x")\n}\nscl {\nraw'
    v.append(err("raw-eof", "§4.2 rule 2 (no terminator line)", d, "E105", len(d)))
    # §0.2 normalization and §0.6 precedence
    v.append(
        ok(
            "no-normalization-nfc",
            "§0.2 bytes are canonical (NFC é)",
            doc(body='"\u00e9"\n'.encode()),
            "\u00e9",
        )
    )
    v.append(
        ok(
            "no-normalization-nfd",
            "§0.2 bytes are canonical (NFD e + U+0301)",
            doc(body='"e\u0301"\n'.encode()),
            "e\u0301",
        )
    )
    d = b"\xffSCL:V1\n\n"
    v.append(err("precedence-e001-over-e101", "§0.6 same offset: E001 first", d, "E001", 0))
    d = doc(b'a("x")\n\tb("y")\n')
    v.append(
        err("precedence-e001-over-e102", "§0.6 same offset: E001 first", d, "E001", at(d, b"\t"))
    )
    d = doc(b'a("x")\n', b"\xff\n").replace(b"SCL:V1\n\n", b"SCL:V1\n\n\n", 1)
    v.append(
        err(
            "first-error-wins",
            "§0.6 the lowest offset wins (E101 before a later E001)",
            d,
            "E101",
            8,
        )
    )
    d = doc(b'a-("\xc0\x80")\n')
    v.append(
        err(
            "first-error-wins-2",
            "§0.6 E201 at a lower offset than the invalid UTF-8",
            d,
            "E201",
            at(d, b"-"),
        )
    )
    return v


# --- one valid and one invalid document per error code ----------------------------------------


def errors() -> list[dict[str, Any]]:
    v: list[dict[str, Any]] = []
    # E001: the byte model, each kind of invalid UTF-8 at the first byte of its sequence
    v.append(
        ok(
            "E001-valid-near-miss",
            "§0.2/§0.5 (U+0080 and U+00A0 are not forbidden controls)",
            doc(body='"\u0080\u00a0"\n'.encode()),
            "\u0080\u00a0",
        )
    )
    for name, bad in (
        ("lone-continuation", b"\x80"),
        ("overlong-nul", b"\xc0\x80"),
        ("overlong-slash", b"\xe0\x80\xaf"),
        ("surrogate", b"\xed\xa0\x80"),
        ("beyond-10ffff", b"\xf4\x90\x80\x80"),
        ("f5-lead", b"\xf5\x80\x80\x80"),
        ("truncated-3-byte", b"\xe2\x82"),
    ):
        d = doc(body=b'"ok ' + bad + b' ok"\n')
        v.append(err(f"E001-{name}", "§0.2 invalid UTF-8", d, "E001", at(d, bad)))
    d = doc(body=b'"ok"\n', close=b"}\xe2\x82")
    v.append(err("E001-truncated-at-eof", "§0.2 invalid UTF-8 at the end", d, "E001", len(d) - 2))
    d = doc().replace(b"SCL:V1\n", b"SCL:V1\r\n", 1)
    v.append(err("E001-crlf-header", "§0.3 CR (a CRLF file)", d, "E001", 6))
    d = doc(body=b"x\r\n")
    v.append(err("E001-cr-raw", "§0.3 CR in raw content", d, "E001", at(d, b"\r")))
    d = doc(b'a("\t")\n')
    v.append(err("E001-tab-in-tag", "§0.4 tab in a tag", d, "E001", at(d, b"\t")))
    d = doc(body=b'"\x1f"\n')
    v.append(err("E001-unit-separator", "§0.5 U+001F in a quoted line", d, "E001", at(d, b"\x1f")))
    # E101
    v.append(ok("E101-valid", "§2", doc(), "hi"))
    d = doc().replace(b"SCL:V1", b"SCL:V", 1)
    v.append(err("E101-truncated-version", "§2", d, "E101", 5))
    # E102
    v.append(
        ok(
            "E102-valid",
            "§3.2 indented handle lines",
            doc(b' a("x")\n  b("y")\n'),
            "hi",
            [("a", ["x"]), ("b", ["y"])],
        )
    )
    d = doc(b'a("x")\n"y"\n')
    v.append(
        err("E102-quoted-line-in-handles", "§3.2 neither a handle nor }", d, "E102", at(d, b'"y"'))
    )
    # E103
    v.append(ok("E103-valid", "§3.1", doc(), "hi"))
    d = H + OPEN + b'a("x")\n  '
    v.append(err("E103-eof-after-indent", "§3.1 EOF before handles closes", d, "E103", len(d)))
    # E104
    v.append(
        ok(
            "E104-valid",
            "§4.2 Mode B",
            doc(body=b"  }\n"),
            "  }",
            note="a } line with leading spaces only is content",
        )
    )
    d = doc(body=b'"x"\n"y"z\n')
    v.append(err("E104-after-quote", "§4.2 Mode A", d, "E104", at(d, b'"y"z', plus=3)))
    # E105
    v.append(
        ok("E105-valid", "§4.2 Mode B terminator with spaces", doc(body=b"x\n", close=b" }"), "x")
    )
    d = doc(body=b"x\n", close=b" ")
    v.append(err("E105-no-brace", "§4.2 rule 2", d, "E105", len(d)))
    # E201
    v.append(ok("E201-valid", "§3.3", doc(b'Z_1("x")\n'), "hi", [("Z_1", ["x"])]))
    d = doc(b'a.b("x")\n')
    v.append(err("E201-dot", "§3.3 step 2", d, "E201", at(d, b".b")))
    # E202
    v.append(ok("E202-valid", "§3.4", doc(b'a("x","y","z")\n'), "hi", [("a", ["x", "y", "z"])]))
    d = doc(b'a("x",,"y")\n')
    v.append(err("E202-double-comma", "§3.4", d, "E202", at(d, b",,", plus=1)))
    # E900: no document produces it (it is a parser bug); every valid vector is its near miss
    return v


GROUPS = {"spec_examples.json": spec_examples, "grammar.json": grammar, "errors.json": errors}


def render(vectors: list[dict[str, Any]], what: str) -> str:
    names = [x["name"] for x in vectors]
    assert len(names) == len(set(names)), "duplicate vector names"
    body = {"format": "runid/scl-vectors/v1", "spec": SPEC, "what": what, "vectors": vectors}
    return json.dumps(body, indent=1, ensure_ascii=True) + "\n"


WHAT = {
    "spec_examples.json": "every example SPEC_V1.md gives, as a whole document",
    "grammar.json": "one valid and one invalid document (or more) per grammar rule",
    "errors.json": "one valid near miss and one invalid document (or more) per error code",
}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, make in GROUPS.items():
        text = render(make(), WHAT[name])
        path = HERE / name
        if check:
            if not path.exists() or path.read_text("utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, "utf-8")
    if stale:
        print(f"stale: {', '.join(stale)}; run python tests/vectors/scl/generate.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
