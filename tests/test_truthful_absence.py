"""Absence is truthful (docs/spec.md §4.1): an adapter marks a condition ``not_applicable``
only when it checked that the condition cannot exist for the call; whatever it cannot see is
``not_recorded``. One test per adapter lists every ``not_applicable`` it writes and why it may.

The conditions an adapter cannot see in a request: whether the prompt was built from a
retrieval (``context``), rendered from a template (``instructions.template``), cut from a
longer history (``inputs.truncation``), and which model the server loaded (``model.weights``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llama_server import LlamaServer, llama_server_fixture
from runid.declaration import problems
from runid.integrations.openai import (
    EXAMPLE_RUNTIME,
    declaration_from_chat_request,
    declaration_from_responses_request,
)
from runid.integrations.retrieval import Retrieved, context_component
from runid.integrations.templates import instruction_template

llama_server = llama_server_fixture()

NA = {"absent": "not_applicable"}
NOT_RECORDED = {"absent": "not_recorded"}
BASE = "http://127.0.0.1:8080/v1"
CHAT = [
    {"role": "system", "content": "Answer from the excerpts only."},
    {"role": "user", "content": "How long does a refund take?"},
]


def markers(value: Any, reason: str, pointer: str = "") -> set[str]:
    """JSON pointers of every absence marker with ``reason`` in ``value``."""
    if isinstance(value, dict):
        if value == {"absent": reason}:
            return {pointer}
        found: set[str] = set()
        for key, item in value.items():
            found |= markers(item, reason, f"{pointer}/{key}")
        return found
    if isinstance(value, list):
        return {p for i, item in enumerate(value) for p in markers(item, reason, f"{pointer}/{i}")}
    return set()


def _rag() -> tuple[dict[str, Any], dict[str, Any], list[bytes]]:
    context, contents = context_component(
        "How long does a refund take?",
        [Retrieved("kb/refunds.md", 0, "Refunds take 5 business days.", 0.8)],
        retriever={"name": "bm25", "version": "1", "kind": "sparse"},
        embedding_model=None,
        index_id="kb",
        snapshot=None,
        top_k=1,
        threshold=None,
        reranker=None,
    )
    template, more = instruction_template(
        "support-answer", "Answer from the excerpts only.", version="3"
    )
    return context, template, [*contents, *more]


# --- the OpenAI-compatible client --------------------------------------------------------------

#: What the chat adapter may call not applicable, because the request shows it:
#: the request offers no tools and sets no response format; the endpoint is never a condition
#: (ADR 0014).
CHAT_NA = {"/model/endpoint", "/tools", "/constraints/output_schema"}


def test_openai_chat_declares_not_applicable_only_for_what_the_request_shows() -> None:
    decl, _ = declaration_from_chat_request(
        {"model": "smollm2", "messages": CHAT}, base_url=BASE, runtime=EXAMPLE_RUNTIME
    )
    assert markers(decl, "not_applicable") == CHAT_NA
    # Retrieval may have happened in the application; the prompt may come from a template, the
    # history may have been cut; the server's model is not visible: not recorded.
    assert decl["context"] == NOT_RECORDED
    assert decl["instructions"]["template"] == NOT_RECORDED
    assert decl["inputs"]["truncation"] == NOT_RECORDED
    assert decl["model"]["weights"] == decl["model"]["tokenizer"] == NOT_RECORDED
    # No system message sent: the request shows there are no instructions.
    bare, _ = declaration_from_chat_request(
        {"model": "smollm2", "messages": CHAT[1:]}, base_url=BASE, runtime=EXAMPLE_RUNTIME
    )
    assert markers(bare, "not_applicable") == CHAT_NA | {"/instructions"}


def test_openai_chat_declares_what_the_application_gives() -> None:
    context, template, _ = _rag()
    truncation = {"strategy": "last_n", "original_count": 9, "kept_count": 1}
    decl, _ = declaration_from_chat_request(
        {"model": "smollm2", "messages": CHAT},
        base_url=BASE,
        runtime=EXAMPLE_RUNTIME,
        context=context,
        template=template,
        truncation=truncation,
    )
    assert problems(decl) == []
    assert decl["context"] == context
    assert decl["instructions"]["template"] == template
    assert decl["inputs"]["truncation"] == truncation
    # "There was none" is the application's statement to make.
    stated, _ = declaration_from_chat_request(
        {"model": "smollm2", "messages": CHAT},
        base_url=BASE,
        runtime=EXAMPLE_RUNTIME,
        context=NA,
        truncation=NA,
    )
    assert stated["context"] == NA and stated["inputs"]["truncation"] == NA


def test_openai_responses_declares_not_applicable_only_for_what_the_request_shows() -> None:
    decl, _ = declaration_from_responses_request(
        {"model": "m", "instructions": "Be brief.", "input": "Hi"},
        base_url=BASE,
        runtime=EXAMPLE_RUNTIME,
    )
    assert markers(decl, "not_applicable") == CHAT_NA
    assert decl["context"] == decl["instructions"]["template"] == NOT_RECORDED
    assert decl["inputs"]["truncation"] == NOT_RECORDED


def test_a_template_without_a_system_prompt_is_e_request() -> None:
    from runid.errors import InputError

    _, template, _ = _rag()
    with pytest.raises(InputError) as bad:
        declaration_from_chat_request(
            {"model": "m", "messages": CHAT[1:]}, base_url=BASE, template=template
        )
    assert bad.value.code == "E_REQUEST"


# --- llama.cpp in-process -----------------------------------------------------------------------


def test_llama_cpp_declares_not_applicable_only_for_what_it_checked() -> None:
    from runid.integrations.llama_cpp import EngineFacts, declaration_from_request

    facts = EngineFacts(
        model_file="m.Q4_1.gguf",
        digest="sha256:" + "ab" * 32,
        size=10,
        quantization="Q4_1",
        n_ctx=2048,
        n_batch=512,
        repeat_last_n=64,
        chat_format="chatml",
        chat_template=None,
        lora=None,
        gpu_layers=0,
        version="0.3.36",
    )
    decl, _ = declaration_from_request(
        facts, {"messages": CHAT}, seed=7, defaults={"temperature": 0.2}
    )
    # In-process: there is no endpoint; tools and output schema: the request has none.
    assert markers(decl, "not_applicable") == CHAT_NA
    assert decl["context"] == decl["instructions"]["template"] == NOT_RECORDED
    assert decl["inputs"]["truncation"] == NOT_RECORDED
    assert decl["model"]["adapters"] == []  # no LoRA: read from the instance
    context, template, _ = _rag()
    given, _ = declaration_from_request(
        facts, {"messages": CHAT}, seed=7, defaults={}, context=context, template=template
    )
    assert given["context"] == context and given["instructions"]["template"] == template


# --- the agent loop and its tool steps ---------------------------------------------------------


def test_a_tool_step_is_not_applicable_where_a_tool_call_has_no_such_condition() -> None:
    from runid.integrations.agent import EXAMPLE_TOOL_RUNTIME, step_declaration

    decl, _ = step_declaration(
        {"type": "function", "function": {"name": "add", "parameters": {}}},
        '{"a": 1}',
        runtime=EXAMPLE_TOOL_RUNTIME,
    )
    # A tool call calls no model, has no sampling parameters, no instructions, no retrieval;
    # its one input message is built by the adapter (nothing cut); its result has no schema.
    assert markers(decl, "not_applicable") == {
        "/model",
        "/parameters",
        "/instructions",
        "/context",
        "/inputs/truncation",
        "/constraints/output_schema",
    }


def test_the_agent_loop_declares_what_it_is_given_and_nothing_it_is_not(
    llama_server: LlamaServer, tmp_path: Path
) -> None:
    import openai

    from runid.capture import Recorder
    from runid.home import Home
    from runid.integrations.agent import run_agent

    home = Home(tmp_path / "home")
    home.init_keys("runid.test/agent")
    client = openai.OpenAI(base_url=llama_server.base_url, api_key="unused", max_retries=0)
    request = {"model": llama_server.model, "messages": CHAT, "temperature": 0, "max_tokens": 8}
    plain = run_agent(client, request, {}, recorder=Recorder(home, on_error="raise"))
    declaration = plain.turns[0].run.declaration
    assert markers(declaration, "not_applicable") == CHAT_NA
    assert declaration["context"] == declaration["instructions"]["template"] == NOT_RECORDED
    context, template, contents = _rag()
    rag = run_agent(
        client,
        request,
        {},
        recorder=Recorder(home, on_error="raise"),
        context=context,
        template=template,
        contents=contents,
    )
    declared = rag.turns[0].run.declaration
    assert declared["context"] == context
    assert declared["instructions"]["template"] == template
    with pytest.raises(Exception, match="unexpected keyword"):
        run_agent(client, request, {}, recorder=Recorder(home), temperatur=0)
    client.close()


# --- transformers -----------------------------------------------------------------------------


@pytest.mark.model
def test_transformers_declares_not_applicable_only_for_what_it_checked(tmp_path: Path) -> None:
    transformers = pytest.importorskip(
        "transformers", reason="transformers is not installed (pip install -e '.[transformers]')"
    )
    from runid.capture import Recorder
    from runid.home import Home
    from runid.integrations import transformers as tf
    from tiny_model import build_tiny_gpt2

    path = build_tiny_gpt2(tmp_path / "tiny-gpt2")
    model = transformers.AutoModelForCausalLM.from_pretrained(path)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/tf")
    recorder = Recorder(home, on_error="raise")
    _text, run = tf.generate(
        model, tokenizer, "the capital of france is", recorder=recorder, max_new_tokens=2
    )
    decl = run.declaration
    assert decl is not None
    # In-process (no endpoint); a prompt without a system message (no instructions); generate
    # takes no tools and no output schema; the config names no quantization method.
    assert markers(decl, "not_applicable") == {
        "/model/endpoint",
        "/model/quantization",
        "/instructions",
        "/tools",
        "/constraints",
    }
    assert decl["context"] == decl["inputs"]["truncation"] == NOT_RECORDED
    assert decl["model"]["version"] == NOT_RECORDED  # a local directory: no version known
    context, _template, contents = _rag()
    _text, rag = tf.generate(
        model,
        tokenizer,
        messages=CHAT,
        recorder=recorder,
        context=context,
        contents=contents,
        truncation=NA,
        max_new_tokens=2,
    )
    assert rag.declaration is not None
    assert rag.declaration["context"] == context
    assert rag.declaration["inputs"]["truncation"] == NA
    # The chat template lives in the tokenizer files: it has no version of its own.
    assert "/instructions/template/version" in markers(rag.declaration, "not_applicable")


# --- retrieval ------------------------------------------------------------------------------


def test_retrieval_declares_not_applicable_only_for_what_the_caller_states() -> None:
    hits = [Retrieved("kb/a.md", 0, "alpha", 0.5)]
    left_out, _ = context_component(
        "q",
        hits,
        retriever={"name": "bm25", "kind": "sparse"},
        embedding_model=None,  # stated: this retriever has none
        index_id="kb",
        snapshot=None,
        top_k=3,
    )
    assert markers(left_out, "not_applicable") == {"/embedding_model"}
    assert left_out["threshold"] == left_out["reranker"] == NOT_RECORDED
