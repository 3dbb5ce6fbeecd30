"""Portable replay (issue 11, item 5): ``runid replay RECEIPT --contents DIR`` in another home.

The original log is never opened and never written: the receipt proves the record (verified
with the issuing log's public key), the contents come from a directory of files named by digest
(``runid log export-contents`` writes one), and the replay is recorded in the home it runs in,
with ``replay_of`` and every condition of the original. Most tests replay through the tiny
deterministic adapter of tests/replay_engine.py; the last one replays a RAG run against a real
llama.cpp server.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import replay_engine
from runid import replay as replay_mod
from runid._cli import main
from runid.capture import Recorder
from runid.errors import InputError
from runid.home import Home
from runid.keys import Keyring
from runid.log import Log
from runid.replay import directory_fetcher, register_engine, replay, replay_receipt

PROMPT = "How long does a refund take?"


@pytest.fixture(autouse=True)
def _engine() -> Iterator[None]:
    register_engine(replay_engine.ENGINE, replay_engine)
    yield
    replay_mod.ENGINES.pop(replay_engine.ENGINE, None)


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def _snapshot(home: Home) -> tuple[dict[str, str], int, bytes | None]:
    """Every file of ``home`` but the database (whose bytes SQLite may fold its write-ahead
    log into when a reader closes), with the SHA-256 of its bytes; the log's size and its
    latest signed checkpoint."""
    files = {
        str(p.relative_to(home.path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(home.path.rglob("*"))
        if p.is_file() and not p.name.startswith("log.sqlite3")
    }
    with Log.open(home, readonly=True) as log:
        return files, log.size(), log.current_checkpoint()


@pytest.fixture
def original(tmp_path: Path) -> dict[str, Any]:
    """A run recorded in home A, its receipt and its exported contents."""
    home = Home(tmp_path / "a")
    home.init_keys("runid.test/origin")
    with Recorder(home, on_error="raise") as recorder:
        run = replay_engine.answer(PROMPT, recorder=recorder)
    assert run.execution_id is not None
    receipt, contents = tmp_path / "receipt.json", tmp_path / "contents"
    assert _cli("log", "--home", str(home.path), "prove", "0", "-o", str(receipt)).exit_code == 0
    exported = _cli("log", "--home", str(home.path), "export-contents", "0", "--out", str(contents))
    assert exported.exit_code == 0, exported.output
    return {
        "home": home,
        "run": run,
        "receipt": receipt,
        "contents": contents,
        "key": str(home.public_key_path),
    }


def _replay(original: dict[str, Any], home: Path, *extra: str) -> Any:
    return _cli(
        "replay",
        str(original["receipt"]),
        "--contents",
        str(original["contents"]),
        "--key",
        original["key"],
        "--home",
        str(home),
        "--json",
        *extra,
    )


def test_a_receipt_replays_in_another_home_from_its_contents(
    original: dict[str, Any], tmp_path: Path
) -> None:
    before = _snapshot(original["home"])
    other = tmp_path / "b"  # a new home: no keys, no log yet
    result = _replay(original, other)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "identical" and report["declaration"]["identical"]
    assert report["original"]["execution_id"] == original["run"].execution_id
    # Recorded in the new home (which made its own key), linked to the original.
    b = Home(other)
    assert b.signing_key_path.exists()
    with Log.open(b, need_key=False) as log:
        assert log.size() == 1
        record = log.entry(0).record
    assert record["replay_of"] == original["run"].execution_id
    assert record["declaration_id"] == original["run"].declaration_id
    assert report["replay"]["log_index"] == 0
    # The original log was not written (nor its home: no file added or changed).
    assert _snapshot(original["home"]) == before


def test_the_original_home_is_not_needed(original: dict[str, Any], tmp_path: Path) -> None:
    key = tmp_path / "origin.pub"
    shutil.copy(original["key"], key)
    gone = original["home"].path
    shutil.move(gone, tmp_path / "archived")  # the original log is elsewhere, out of reach
    result = _replay({**original, "key": str(key)}, tmp_path / "b")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["verdict"] == "identical"
    assert not gone.exists()


def test_the_contents_directory_holds_files_named_by_digest(original: dict[str, Any]) -> None:
    names = sorted(p.name for p in original["contents"].iterdir())
    declaration_id = original["run"].declaration_id
    assert f"{declaration_id[7:]}.json" in names
    for name in names:
        data = (original["contents"] / name).read_bytes()
        if not name.endswith(".json"):
            assert hashlib.sha256(data).hexdigest() == name
    prompt = hashlib.sha256(PROMPT.encode()).hexdigest()
    output = hashlib.sha256(PROMPT[::-1].encode()).hexdigest()
    assert {prompt, output} <= set(names)


def test_without_the_issuing_logs_key_the_receipt_is_refused(
    original: dict[str, Any], tmp_path: Path
) -> None:
    fresh = _cli(
        "replay", str(original["receipt"]), "--contents", str(original["contents"]),
        "--home", str(tmp_path / "fresh"),
    )  # fmt: skip
    assert fresh.exit_code == 2 and "no key was given" in fresh.output
    assert "--key" in fresh.output
    keyed = Home(tmp_path / "keyed")
    keyed.init_keys("runid.test/other")
    other = _cli(
        "replay", str(original["receipt"]), "--contents", str(original["contents"]),
        "--home", str(keyed.path),
    )  # fmt: skip
    assert other.exit_code == 2 and "does not verify" in other.output
    assert "--key" in other.output
    with Log.open(keyed, need_key=False) as log:
        assert log.size() == 0  # nothing replayed, nothing recorded


def test_missing_or_altered_contents_are_named(original: dict[str, Any], tmp_path: Path) -> None:
    prompt = original["contents"] / hashlib.sha256(PROMPT.encode()).hexdigest()
    without = _cli(
        "replay", str(original["receipt"]), "--key", original["key"],
        "--home", str(tmp_path / "b1"),
    )  # fmt: skip
    assert without.exit_code == 2 and "no contents directory was given" in without.output
    saved = prompt.read_bytes()
    prompt.unlink()
    missing = _replay(original, tmp_path / "b2")
    assert missing.exit_code == 2 and prompt.name in missing.output
    assert "export-contents" in missing.output
    prompt.write_bytes(b"What is the meaning of life?")
    altered = _replay(original, tmp_path / "b3")
    assert altered.exit_code == 2 and f"{prompt}: its bytes have the digest" in altered.output
    prompt.write_bytes(saved)
    assert _replay(original, tmp_path / "b4").exit_code == 0


def test_a_receipt_without_its_declaration_takes_the_exported_one(
    original: dict[str, Any], tmp_path: Path
) -> None:
    withheld = tmp_path / "withheld.json"
    home = str(original["home"].path)
    made = _cli("log", "--home", home, "prove", "0", "--no-declaration", "-o", str(withheld))
    assert made.exit_code == 0
    original = {**original, "receipt": withheld}
    assert _replay(original, tmp_path / "b").exit_code == 0
    declaration_file = original["contents"] / f"{original['run'].declaration_id[7:]}.json"
    declaration_file.unlink()
    result = _replay(original, tmp_path / "c")
    assert result.exit_code == 2 and "withholds its declaration" in result.output


def test_an_extracted_evidence_bundle_is_a_contents_directory(
    original: dict[str, Any], tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "contents").mkdir(parents=True)
    (bundle / "declarations").mkdir()
    for path in original["contents"].iterdir():
        target = "declarations" if path.name.endswith(".json") else "contents"
        shutil.copy(path, bundle / target / path.name)
    fetch = directory_fetcher(bundle)
    prompt_digest = "sha256:" + hashlib.sha256(PROMPT.encode()).hexdigest()
    assert fetch(prompt_digest) == PROMPT.encode()
    report = replay_receipt(
        Home(tmp_path / "b"),
        original["receipt"].read_bytes(),
        keyring=Keyring([original["home"].public_key()]),
        contents=bundle,
    )
    assert report.verdict == "identical"


def test_a_changed_output_in_another_home_is_reported(
    original: dict[str, Any], tmp_path: Path
) -> None:
    report = replay_receipt(
        Home(tmp_path / "b"),
        original["receipt"].read_bytes(),
        keyring=Keyring([original["home"].public_key()]),
        contents=original["contents"],
        salt="!",
    )
    # The echo model's version is declared, so nothing that computes the output is unknown.
    assert (report.verdict, report.exit_code) == ("nondeterminism", 1)


def test_a_digests_only_run_replays_when_its_contents_are_given(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/digests")
    run = replay_engine.answer(
        PROMPT, recorder=Recorder(home, on_error="raise", privacy="digests-only")
    )
    assert run.execution_id is not None
    with pytest.raises(InputError) as caught:
        replay(home, run.execution_id)
    assert caught.value.code == "E_CONTENT_MISSING" and "--contents" in str(caught.value.hint)
    contents = tmp_path / "contents"
    contents.mkdir()
    (contents / hashlib.sha256(PROMPT.encode()).hexdigest()).write_text(PROMPT)
    result = _cli(
        "replay", run.execution_id, "--contents", str(contents), "--home", str(home.path), "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["verdict"] == "identical"


def test_the_agent_loop_replays_only_from_its_home(original: dict[str, Any]) -> None:
    result = _cli("replay", str(original["receipt"]), "--agent", "--key", original["key"])
    assert result.exit_code == 2 and "--agent replays a loop of the home's log" in result.output


# --- a RAG run through create_chat, replayed in another home against a real llama.cpp server ---

from llama_server import LlamaServer, llama_server_fixture  # noqa: E402

llama_server = llama_server_fixture()

DOCS = {
    "kb/refunds.md": "Refunds go back to the card within 5 business days.",
    "kb/cards.md": "A lost card is blocked at once and replaced within a week.",
    "kb/fees.md": "Card payments abroad have no fee.",
}
WORDS = ("refund", "card", "lost", "fee", "abroad")
TEMPLATE = "Answer in one sentence, from this policy only:\n{excerpt}"


def _rag_run(server: LlamaServer, home: Home) -> Any:
    """The RAG call of docs/capture.md: retrieval over a small index, a versioned template,
    the server asked for its defaults and the model file named."""
    openai = pytest.importorskip("openai")
    pytest.importorskip("numpy")
    from runid.integrations.openai import create_chat
    from runid.integrations.retrieval import (
        SimpleIndex,
        context_component,
        embedding_model_id,
        embedding_model_identity,
    )
    from runid.integrations.served import llama_cpp_server
    from runid.integrations.templates import instruction_template

    index = SimpleIndex(lambda texts: [[t.lower().count(w) for w in WORDS] + [0.1] for t in texts])
    for doc, text in DOCS.items():
        index.add(doc, 0, text)
    encoder = embedding_model_identity("word-counts", version="1")
    ask = "How long does a refund take?"
    hits = index.search(ask, top_k=1)
    context, retrieved = context_component(
        ask,
        hits,
        retriever={"name": "runid.SimpleIndex", "version": "1", "kind": "dense"},
        embedding_model=encoder,
        index_id="policies",
        snapshot=index.snapshot(embedding_model_id(encoder)),
        top_k=1,
        threshold=None,
        reranker=None,
    )
    template, texts = instruction_template(
        "support-answer", TEMPLATE, version="1", variables={"excerpt": hits[0].text}
    )
    with (
        openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0) as client,
        Recorder(home, on_error="raise") as recorder,
    ):
        _response, run = create_chat(
            client,
            recorder=recorder,
            model=server.model,
            temperature=0,
            seed=7,
            max_tokens=24,
            messages=[
                {"role": "system", "content": TEMPLATE.format(excerpt=hits[0].text)},
                {"role": "user", "content": ask},
            ],
            context=context,
            template=template,
            contents=[*retrieved, *texts],
            served_model=llama_cpp_server,
            model_files=[server.gguf],
        )
    return run


@pytest.mark.model(subprocess=True)
def test_a_rag_run_replays_identical_in_another_home(
    llama_server: LlamaServer, tmp_path: Path
) -> None:
    origin = Home(tmp_path / "origin")
    origin.init_keys("runid.test/rag-origin")
    run = _rag_run(llama_server, origin)
    assert run.recorded and run.declaration is not None
    declared = run.declaration
    assert declared["context"]["retrieved"][0]["source"] == "kb/refunds.md"
    assert declared["instructions"]["template"]["id"] == "support-answer"
    assert isinstance(declared["model"]["weights"], list)
    receipt, contents = tmp_path / "receipt.json", tmp_path / "contents"
    home = str(origin.path)
    assert _cli("log", "--home", home, "prove", "0", "-o", str(receipt)).exit_code == 0
    made = _cli("log", "--home", home, "export-contents", "0", "--out", str(contents))
    assert made.exit_code == 0, made.output
    key = tmp_path / "origin.pub"  # what the auditor is given: receipt, contents, public key
    shutil.copy(origin.public_key_path, key)
    shutil.move(origin.path, tmp_path / "archived")  # the original log is out of reach

    elsewhere = tmp_path / "auditor"  # another home: no key, no log, not the origin's
    result = _cli(
        "replay", str(receipt), "--contents", str(contents), "--key", str(key),
        "--model-path", str(llama_server.gguf),
        "--home", str(elsewhere), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "identical", report
    # Every condition kept: the same declaration id (context, template, code, model, defaults).
    assert report["declaration"] == {"identical": True, "components": [], "changes": []}
    assert report["replay"]["declaration_id"] == run.declaration_id
    assert report["replay"]["outputs"] == report["original"]["outputs"]
    with Log.open(Home(elsewhere), need_key=False) as log:
        record = log.entry(report["replay"]["execution_id"]).record
        replayed = log.declaration(record["declaration_id"])
    assert record["replay_of"] == run.execution_id
    assert replayed is not None and replayed["context"] == declared["context"]
    assert not origin.path.exists()  # nothing was written where the original was
