"""SCL:V1 documents: parse, canonical JSON, ``doc_hash``, and use as a declaration source.

SCL:V1 (github.com/scl-protocol/scl-spec, ``SPEC_V1.md``, frozen) is a line-based text format
for AI run instructions: a header, a handles block and an scl block, in UTF-8 with LF line
endings only. Its identity is ``doc_hash``, SHA-256 of the canonical JSON of its AST. This
package implements the spec exactly (bytes in, values out; no I/O); docs/scl.md lists the
places where the spec leaves room and what runid chose.

>>> from runid import scl
>>> doc = scl.parse(b'SCL:V1\\n\\nhandles {\\n  main("intent")\\n}\\nscl {\\n  "Be brief."\\n}')
>>> doc.scl.content
'Be brief.'
>>> scl.doc_hash(doc) == scl.doc_hash(scl.parse(
...     b'SCL:V1\\n\\nhandles {\\nmain("intent")\\n}\\nscl {\\n"Be brief."\\n}'))
True

- :func:`parse` -> :class:`Document` (:class:`Handle`, :class:`SclBlock`), or the first error as
  :class:`SclError` (``code`` ``E001``...``E900``, ``offset``, ``line``, ``column``);
- :func:`canonical_json` (bytes) and :func:`doc_hash` (64 lowercase hex digits);
- :meth:`Document.from_json` reads the AST back (e.g. from canonical JSON);
- :func:`scl_source` / :func:`scl_instructions`: the document as a runid declaration's
  ``instructions`` component (docs/adr/0013).
"""

from ._parser import parse
from .canon import canonical_json, canonical_json_value, doc_hash, doc_hash_of_canonical
from .errors import CODES, SclError
from .nodes import VERSION, Document, Handle, SclBlock
from .source import TEXT_MEDIA_TYPE, SclSource, scl_instructions, scl_source

__all__ = [
    "CODES",
    "TEXT_MEDIA_TYPE",
    "VERSION",
    "Document",
    "Handle",
    "SclBlock",
    "SclError",
    "SclSource",
    "canonical_json",
    "canonical_json_value",
    "doc_hash",
    "doc_hash_of_canonical",
    "parse",
    "scl_instructions",
    "scl_source",
]
