"""Retrieval (RAG): the ``context`` component of a declaration, built from a real retrieval.

What a retrieval-augmented run depends on, besides the model and the prompt, is *which index
answered, in which state, through which embedding model, with which knobs, and what it returned*.
This module records exactly that, in the shape of spec §7 ``context``:

* :func:`embedding_model_identity`: ``{name, version, digest}`` of the embedding model, the
  digest computed over its files (or absent when the files are not at hand, as for a hosted
  embedding API);
* :func:`index_snapshot`: a digest of the index state, the RFC 9162 Merkle root over one leaf per
  indexed chunk ``(doc id, chunk id, chunk digest, embedding model id)``; editing, adding or
  removing any chunk, or re-embedding the index with another model, changes it;
* :func:`context_component`: the component itself (query, retriever, embedding model, index id
  and snapshot, top-k, threshold, filters, reranker, retrieved items in injection order with
  their content digests and scores) and the content bytes to hand to
  :func:`runid.capture.capture` as ``contents=``;
* :class:`SimpleIndex`: a tiny in-memory dense retriever (cosine similarity with numpy over the
  embeddings of any ``encode(list[str]) -> array`` function, such as a sentence-transformers
  model's ``encode``), for tests and demos.

>>> index = SimpleIndex(lambda texts: [[t.count("refund"), t.count("card"), 1.0] for t in texts])
>>> index.add("kb/refunds.md", 0, "A refund takes five business days.")
>>> index.add("kb/cards.md", 0, "A blocked card is replaced within a week.")
>>> hits = index.search("refund please", top_k=1)
>>> [(hit.source, hit.chunk) for hit in hits]
[('kb/refunds.md', 0)]
>>> model = embedding_model_identity("toy-counter", version="1")
>>> context, contents = context_component(
...     "refund please", hits,
...     retriever={"name": "simple-index", "version": "1", "kind": "dense"},
...     embedding_model=model, index_id="acme-kb",
...     snapshot=index.snapshot(embedding_model_id(model)), top_k=1)
>>> context["retrieved"][0]["content"]["size"], contents[0]
(34, b'refund please')
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import merkle
from .._internal.schema import pointer
from ..canonical import canonicalize
from ..declaration import CONTEXT
from ..digest import content_digest, content_ref, digest_bytes
from ..errors import E_UNKNOWN_FIELD, DeclarationError, InputError, Problem
from ..filedigest import file_digest

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = [
    "INDEX_ITEM_TAG",
    "NOT_GIVEN",
    "Retrieved",
    "SimpleIndex",
    "context_component",
    "embedding_model_id",
    "embedding_model_identity",
    "index_leaf",
    "index_snapshot",
    "model_files",
]

#: Domain-separation tag of an index-snapshot leaf: a leaf's data is this tag, a NUL byte and the
#: JCS bytes of the item, so no other runid structure can yield the same leaf hash.
INDEX_ITEM_TAG = "runid:v1:index-item"
_INDEX_ITEM_PREFIX = INDEX_ITEM_TAG.encode("ascii") + b"\x00"

NOT_APPLICABLE = {"absent": "not_applicable"}
NOT_RECORDED = {"absent": "not_recorded"}


class _NotGiven:
    """The default of an optional retrieval setting the caller did not state."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


#: Left out, ``threshold`` and ``reranker`` are ``not_recorded``: the helper cannot see whether
#: the retriever applied one. ``None`` states that none applied (``not_applicable``).
NOT_GIVEN: Any = _NotGiven()

Chunk = str | int


@dataclass(frozen=True)
class Retrieved:
    """One retrieved item as injected: document id, chunk id, chunk text and score (or None)."""

    source: str
    chunk: Chunk
    text: str
    score: float | None = None


def _check_chunk(chunk: object) -> Chunk:
    if isinstance(chunk, bool) or not isinstance(chunk, int | str):
        raise InputError(f"a chunk id is a string or an integer >= 0, got {chunk!r}")
    if isinstance(chunk, int) and chunk < 0:
        raise InputError(f"a chunk id is a string or an integer >= 0, got {chunk}")
    if isinstance(chunk, str) and not chunk:
        raise InputError("a chunk id must not be an empty string")
    return chunk


def _check_text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InputError(f"{what} must be a non-empty string, got {value!r}")
    return value


def index_leaf(doc_id: str, chunk_id: Chunk, chunk_digest: str, embedding_model_id: str) -> bytes:
    """The RFC 9162 leaf hash of one index item.

    The leaf data is ``b"runid:v1:index-item" + b"\\x00" + JCS({"doc", "chunk", "content",
    "embedding_model"})``: spec §3's structure-digest framing with the tag
    :data:`INDEX_ITEM_TAG`, so an index leaf never equals a log leaf or any other runid
    structure; :func:`runid.merkle.leaf_hash` adds RFC 9162's own 0x00 leaf prefix.

    >>> index_leaf("kb/a.md", 0, content_digest(b"x"), "m").hex()[:16]
    'ad8db5f478b10386'
    """
    digest_bytes(chunk_digest)  # a clear error for anything but a digest
    item = {
        "doc": _check_text(doc_id, "a document id"),
        "chunk": _check_chunk(chunk_id),
        "content": chunk_digest,
        "embedding_model": _check_text(embedding_model_id, "an embedding model id"),
    }
    return merkle.leaf_hash(_INDEX_ITEM_PREFIX + canonicalize(item))


def _chunk_order(doc: str, chunk: Chunk) -> tuple[str, int, int, str]:
    # Integers before strings, each in its natural order (strings by code point).
    if isinstance(chunk, int):
        return (doc, 0, chunk, "")
    return (doc, 1, 0, chunk)


def index_snapshot(items: Iterable[tuple[str, Chunk, str]], embedding_model_id: str) -> str:
    """Digest of an index state: the Merkle root over its items, as ``sha256:<hex of root>``.

    ``items`` are ``(doc id, chunk id, chunk digest)``, the chunk digest being the artifact
    digest (plain SHA-256) of the chunk's text as indexed. Items are sorted by (doc id, chunk
    id) (integer chunk ids before string ones), so the order of insertion does not matter; a
    repeated (doc id, chunk id) is an error. The root is RFC 9162's Merkle Tree Hash
    (:func:`runid.merkle.root`) over :func:`index_leaf` of each item, which is domain separated
    by the tag ``runid:v1:index-item`` (spec §3); an empty index gives
    :data:`runid.merkle.EMPTY_ROOT`. ``embedding_model_id`` (see :func:`embedding_model_id`)
    enters every leaf: the same texts embedded by another model are another index.

    >>> a = ("kb/a.md", 0, content_digest(b"alpha"))
    >>> b = ("kb/b.md", 0, content_digest(b"beta"))
    >>> index_snapshot([a, b], "m") == index_snapshot([b, a], "m") != index_snapshot([a], "m")
    True
    >>> index_snapshot([], "m") == "sha256:" + merkle.EMPTY_ROOT.hex()
    True
    """
    keyed: dict[tuple[str, int, int, str], bytes] = {}
    for doc, chunk, digest in items:
        key = _chunk_order(_check_text(doc, "a document id"), _check_chunk(chunk))
        if key in keyed:
            raise InputError(f"index item {doc!r} chunk {chunk!r} appears twice")
        keyed[key] = index_leaf(doc, chunk, digest, embedding_model_id)
    return "sha256:" + merkle.root([keyed[key] for key in sorted(keyed)]).hex()


def _file_digest(data: bytes | Path, cache_dir: str | Path | None) -> str:
    if isinstance(data, bytes):
        return content_digest(data)
    if cache_dir is not None:
        return file_digest(data, cache_dir=cache_dir)
    with Path(data).open("rb") as f:
        return "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()


def embedding_model_identity(
    name: str,
    *,
    version: str | None = None,
    files: Mapping[str, bytes | Path] | None = None,
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """The ``embedding_model`` value of the ``context`` component.

    ``digest`` is the artifact digest of the JCS bytes of the list ``[{"name": file name,
    "digest": file digest}, ...]`` sorted by file name (code point order), each file digest the
    plain SHA-256 of the file; ``files`` maps a name (relative to the model directory, with
    ``/``) to the bytes or the path of the file. Without ``files`` (a hosted embedding API) the
    digest is ``{"absent": "undisclosed"}``; without ``version`` the version is
    ``{"absent": "not_recorded"}``. With ``cache_dir``, file digests go through the
    :mod:`runid.filedigest` cache there (keyed by path, size, times and inode), so a model
    directory is not re-read on every run.

    >>> embedding_model_identity("text-embedding-3-small")["digest"]
    {'absent': 'undisclosed'}
    >>> m = embedding_model_identity("mini", version="1", files={"w.bin": b"\\x00"})
    >>> m["digest"] == content_digest(
    ...     b'[{"digest":"' + content_digest(b"\\x00").encode() + b'","name":"w.bin"}]')
    True
    """
    listing: Any = {"absent": "undisclosed"}
    if files is not None:
        if not files:
            raise InputError("files is empty: pass None when the model files are not at hand")
        listing = content_digest(
            canonicalize(
                [
                    {
                        "name": _check_text(n, "a file name"),
                        "digest": _file_digest(files[n], cache_dir),
                    }
                    for n in sorted(files)
                ]
            )
        )
    return {
        "name": _check_text(name, "an embedding model name"),
        "version": NOT_RECORDED if version is None else _check_text(version, "a version"),
        "digest": listing,
    }


def model_files(directory: str | Path) -> dict[str, Path]:
    """Every regular file under ``directory`` by its ``/``-separated relative name.

    Feed it to :func:`embedding_model_identity` for a model kept as a directory (a
    sentence-transformers or Hugging Face checkpoint).
    """
    root = Path(directory)
    found = {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}
    if not found:
        raise InputError(f"{root}: no files here")
    return found


def embedding_model_id(identity: Mapping[str, Any]) -> str:
    """A string naming an embedding model, for :func:`index_snapshot`.

    Its digest when known (the files decide), else ``name@version``, else ``name``.

    >>> embedding_model_id(embedding_model_identity("mini", version="1"))
    'mini@1'
    """
    digest = identity.get("digest")
    if isinstance(digest, str):
        return digest
    version = identity.get("version")
    name = _check_text(identity.get("name"), "an embedding model name")
    return f"{name}@{version}" if isinstance(version, str) else name


def _versioned(value: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    out = {key: value[key] for key in fields if key in value}
    out.setdefault("version", NOT_RECORDED)
    return out


def _stated(value: Any, convert: Callable[[Any], Any]) -> Any:
    if value is NOT_GIVEN:
        return dict(NOT_RECORDED)
    return dict(NOT_APPLICABLE) if value is None else convert(value)


def context_component(
    query: str | None,
    retrieved: Sequence[Retrieved],
    *,
    retriever: Mapping[str, Any],
    embedding_model: Mapping[str, Any] | None,
    index_id: str,
    snapshot: str | None,
    top_k: int | None,
    threshold: float | None = NOT_GIVEN,
    filters: Mapping[str, Any] | None = None,
    reranker: Mapping[str, Any] | None = NOT_GIVEN,
) -> tuple[dict[str, Any], list[bytes]]:
    """The ``context`` component of a retrieval and the content bytes it references.

    ``retriever`` is ``{name, kind, version?}`` and ``reranker`` ``{name, version?}`` (a missing
    version is recorded as not recorded; any extra key is an error). ``embedding_model`` is
    :func:`embedding_model_identity`'s value, or None for a retriever without one (BM25):
    ``not_applicable``. ``snapshot`` None means the index state was not captured
    (``not_recorded``); ``top_k``, ``threshold`` and ``reranker`` None state that none applied
    (``not_applicable``), and ``threshold`` and ``reranker`` left out are ``not_recorded`` (the
    helper cannot see whether the retriever applied one); ``filters`` None means ``{}`` (v1
    has no absence marker there: pass the filters that applied). ``query`` None: not
    recorded.
    ``retrieved`` keeps its order: it is the injection order. A score of None is recorded as
    not recorded; numpy scalars are converted to Python floats.

    The second value is the content to pass to :func:`runid.capture.capture` as ``contents=``:
    the query text and every distinct chunk text, UTF-8 encoded, in that order.

    Raises :class:`runid.errors.DeclarationError` (pointers under ``/context``) when the result
    would not be a valid ``context`` component.

    >>> context, contents = context_component(
    ...     "q", [Retrieved("kb/a.md", 0, "alpha", 0.5)],
    ...     retriever={"name": "bm25", "kind": "sparse"}, embedding_model=None,
    ...     index_id="kb", snapshot=None, top_k=3, reranker=None)
    >>> context["embedding_model"], context["index"]["snapshot"], context["threshold"]
    ({'absent': 'not_applicable'}, {'absent': 'not_recorded'}, {'absent': 'not_recorded'})
    >>> context["reranker"]
    {'absent': 'not_applicable'}
    >>> contents
    [b'q', b'alpha']
    """
    contents: list[bytes] = []
    seen: set[bytes] = set()

    def keep(text: str) -> dict[str, Any]:
        raw = text.encode("utf-8")
        if raw not in seen:
            seen.add(raw)
            contents.append(raw)
        return dict(content_ref(raw))

    query_ref: Any = NOT_RECORDED if query is None else keep(query)
    items = [
        {
            "source": item.source,
            "chunk": item.chunk,
            "content": keep(item.text),
            "score": NOT_RECORDED if item.score is None else float(item.score),
        }
        for item in retrieved
    ]
    component: dict[str, Any] = {
        "query": query_ref,
        "retriever": _versioned(retriever, ("name", "version", "kind")),
        "embedding_model": NOT_APPLICABLE if embedding_model is None else dict(embedding_model),
        "index": {"id": index_id, "snapshot": NOT_RECORDED if snapshot is None else snapshot},
        "top_k": NOT_APPLICABLE if top_k is None else top_k,
        "threshold": _stated(threshold, float),
        "filters": {} if filters is None else dict(filters),
        "reranker": _stated(reranker, lambda r: _versioned(r, ("name", "version"))),
        "retrieved": items,
    }
    extra = [
        Problem(pointer(["context", where, key]), E_UNKNOWN_FIELD, f"unknown field {key!r}")
        for where, given, allowed in (
            ("retriever", retriever, {"name", "version", "kind"}),
            ("reranker", reranker if isinstance(reranker, Mapping) else {}, {"name", "version"}),
        )
        for key in given
        if key not in allowed
    ]
    found = extra + [
        Problem(pointer(["context", *path]), code, message)
        for path, code, message in CONTEXT.check(component) or []
    ]
    if found:
        raise DeclarationError(found)
    return component, contents


class SimpleIndex:
    """A tiny in-memory dense retriever: cosine similarity over ``encode``'s embeddings.

    ``encode(texts)`` returns one embedding per text (a 2-D array or a list of vectors), e.g.
    ``SentenceTransformer(...).encode``. Chunks are keyed by ``(doc id, chunk id)``;
    :meth:`add` with a key already present replaces its text (an edit). Embeddings are computed
    lazily, in one batch, at the next :meth:`search`. Needs numpy.
    """

    def __init__(self, encode: Callable[[list[str]], Any]) -> None:
        self._encode = encode
        self._texts: dict[tuple[str, Chunk], str] = {}
        self._vectors: dict[tuple[str, Chunk], NDArray[np.float64]] = {}

    def __len__(self) -> int:
        return len(self._texts)

    def add(self, doc_id: str, chunk_id: Chunk, text: str) -> None:
        """Index ``text`` as chunk ``chunk_id`` of ``doc_id`` (replacing any earlier text)."""
        key = (_check_text(doc_id, "a document id"), _check_chunk(chunk_id))
        if not isinstance(text, str):
            raise InputError(f"a chunk text is a string, got {type(text).__name__}")
        if self._texts.get(key) != text:
            self._texts[key] = text
            self._vectors.pop(key, None)

    def remove(self, doc_id: str, chunk_id: Chunk) -> None:
        """Drop one chunk; a KeyError if it is not indexed."""
        del self._texts[(doc_id, chunk_id)]
        self._vectors.pop((doc_id, chunk_id), None)

    def items(self) -> list[tuple[str, Chunk, str]]:
        """``(doc id, chunk id, chunk digest)`` of every chunk, for :func:`index_snapshot`."""
        return [(d, c, content_digest(t.encode("utf-8"))) for (d, c), t in self._texts.items()]

    def snapshot(self, embedding_model_id: str) -> str:
        """:func:`index_snapshot` of the current state under ``embedding_model_id``."""
        return index_snapshot(self.items(), embedding_model_id)

    def _embed(self, texts: list[str]) -> NDArray[np.float64]:
        import numpy as np

        vectors = np.asarray(self._encode(texts), dtype=np.float64)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise InputError(
                f"encode returned shape {vectors.shape} for {len(texts)} texts",
                hint="encode(list of texts) must return one vector per text",
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)

    def search(self, query: str, top_k: int, threshold: float | None = None) -> list[Retrieved]:
        """The ``top_k`` chunks most similar to ``query`` with cosine similarity >= ``threshold``,
        best first (ties by doc id, then chunk id): the injection order."""
        import numpy as np

        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise InputError(f"top_k must be an integer >= 1, got {top_k!r}")
        keys = list(self._texts)
        if not keys:
            return []
        missing = [k for k in keys if k not in self._vectors]
        if missing:
            fresh = self._embed([self._texts[k] for k in missing])
            self._vectors.update(zip(missing, fresh, strict=True))
        q = self._embed([query])[0]
        scores = np.stack([self._vectors[k] for k in keys]) @ q
        ranked = sorted(
            range(len(keys)),
            key=lambda i: (-float(scores[i]), _chunk_order(*keys[i])),
        )
        hits = [
            Retrieved(keys[i][0], keys[i][1], self._texts[keys[i]], float(scores[i]))
            for i in ranked
            if threshold is None or float(scores[i]) >= threshold
        ]
        return hits[:top_k]
