"""An SCL:V1 document as the source of a run's ``instructions`` (docs/adr/0013).

:func:`scl_source` parses a document once and keeps its AST, canonical JSON and ``doc_hash``.
:meth:`SclSource.instructions` is the ``instructions`` component of a runid declaration:

- ``system``: the scl block's content, by reference (UTF-8 text): the prompt the model reads;
- ``template``: the document itself: ``digest`` is ``sha256:`` + ``doc_hash`` (the artifact
  digest of its canonical JSON, so ``sha256sum`` of ``runid scl canon`` output checks it),
  and ``variables`` holds its two blocks: ``handles`` (one item per handle, in order, with its
  ``id`` and ``tags``) and ``scl`` (the content reference again);
- ``source``: where the document came from, as the caller says (``not_recorded`` by default).

:meth:`SclSource.contents` are the bytes to store with the run (``capture(..., contents=)``).

So the declaration id moves with ``doc_hash`` and only with it (formatting variants of a
document, which SCL:V1 hashes alike, get one id), and ``runid diff`` of two such declarations
names the block that changed: ``instructions.template.variables.scl`` for the content, and
``instructions.template.variables.handles[i]`` (labelled with the handle id) for a handle.

>>> src = scl_source(b'SCL:V1\\n\\nhandles {\\nmain("v1")\\n}\\nscl {\\n"Be brief."\\n}')
>>> src.digest == "sha256:" + src.doc_hash
True
>>> src.instructions()["template"]["variables"]["handles"]
[{'id': 'main', 'tags': ['v1']}]
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..digest import ContentRef, content_ref
from ._parser import parse
from .canon import canonical_json, doc_hash_of_canonical
from .nodes import Document

__all__ = ["TEXT_MEDIA_TYPE", "SclSource", "scl_instructions", "scl_source"]

TEXT_MEDIA_TYPE: Final = "text/plain; charset=utf-8"
"""The media type of the scl block's content reference."""

_NOT_RECORDED: Final = {"absent": "not_recorded"}


@dataclass(frozen=True)
class SclSource:
    """A parsed SCL:V1 document with its canonical JSON and ``doc_hash`` (64 hex digits)."""

    document: Document
    canonical: bytes
    doc_hash: str

    @property
    def digest(self) -> str:
        """``sha256:`` + ``doc_hash``: the artifact digest of the canonical JSON."""
        return "sha256:" + self.doc_hash

    @property
    def content(self) -> bytes:
        """The scl block's content as UTF-8 bytes (what ``system`` references)."""
        return self.document.scl.content.encode("utf-8")

    def content_ref(self) -> ContentRef:
        """The content reference of the scl block's content."""
        return content_ref(self.content, TEXT_MEDIA_TYPE)

    def instructions(
        self,
        *,
        template_id: str = "scl",
        template_version: str | None = None,
        source: str | None = None,
    ) -> dict[str, Any]:
        """The ``instructions`` component declaring this document (docs/adr/0013).

        ``template_id`` names the document for people and policies (default ``scl``);
        ``template_version`` is its revision, if the caller has one; ``source`` is where it
        came from (a registry, a repository path). Either left out is ``not_recorded``. None
        of them is read from the document: SCL:V1 has no place for them.
        """
        ref = self.content_ref()
        return {
            "system": [dict(ref)],
            "template": {
                "id": template_id,
                "version": dict(_NOT_RECORDED) if template_version is None else template_version,
                "digest": self.digest,
                "variables": {
                    "handles": [{"id": h.id, "tags": list(h.tags)} for h in self.document.handles],
                    "scl": dict(ref),
                },
            },
            "source": dict(_NOT_RECORDED) if source is None else source,
        }

    def declare(
        self,
        declaration: Mapping[str, Any],
        *,
        template_id: str = "scl",
        template_version: str | None = None,
        source: str | None = None,
    ) -> dict[str, Any]:
        """A copy of ``declaration`` whose ``instructions`` declare this document."""
        declared = copy.deepcopy(dict(declaration))
        declared["instructions"] = self.instructions(
            template_id=template_id, template_version=template_version, source=source
        )
        return declared

    def contents(self) -> list[bytes]:
        """The bytes the declaration references, for ``capture(..., contents=...)``: the scl
        content, then the canonical JSON (whose artifact digest is ``template.digest``)."""
        return [self.content, self.canonical]


def scl_source(document: bytes | Document) -> SclSource:
    """Parse (bytes) or take (a :class:`Document`) an SCL:V1 document as a declaration source.

    Raises :class:`~runid.scl.errors.SclError` for bytes that are not SCL:V1.
    """
    doc = document if isinstance(document, Document) else parse(document)
    canonical = canonical_json(doc)
    return SclSource(doc, canonical, doc_hash_of_canonical(canonical))


def scl_instructions(
    document: bytes | Document,
    *,
    template_id: str = "scl",
    template_version: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """The ``instructions`` component for an SCL:V1 document: ``scl_source(d).instructions()``."""
    return scl_source(document).instructions(
        template_id=template_id, template_version=template_version, source=source
    )
