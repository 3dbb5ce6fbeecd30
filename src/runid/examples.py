"""Realistic example declarations, built in code from real texts.

Used by ``runid demo``, the documentation, the benchmark and the checked-in files under
``examples/declarations/``. Every content reference is computed from the text it stands for, so
the texts here are the content a blob store would hold.

>>> from runid.examples import EXAMPLES
>>> sorted(EXAMPLES)[:2]
['absent-components', 'agent-step-with-tools']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from .canonical import canonicalize
from .digest import content_digest, content_ref

__all__ = [
    "EXAMPLES",
    "agent_step",
    "chat_hosted",
    "local_transformers",
    "minimal_declaration",
    "rag_call",
    "sized_declaration",
]

Declaration = dict[str, Any]

NA = {"absent": "not_applicable"}
NOT_RECORDED = {"absent": "not_recorded"}
UNDISCLOSED = {"absent": "undisclosed"}
JSON_MEDIA = "application/json"

SUPPORT_PROMPT = (
    "You are the support assistant of Acme Bank. Answer in at most three sentences, cite the "
    "policy document you used, and never give investment advice."
)


def _msg(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "content": content_ref(text)}


def _json_ref(value: object) -> dict[str, Any]:
    return dict(content_ref(canonicalize(value), JSON_MEDIA))


def _declared(value: object) -> dict[str, Any]:
    return {"source": "declared", "value": value}


def _default(value: object) -> dict[str, Any]:
    return {"source": "default", "value": value}


PROVIDER_DEFAULT = {"source": "provider_default"}


def _openai_runtime() -> dict[str, Any]:
    return {
        "engine": {"name": "openai-api", "version": "v1"},
        "libraries": {"openai": "2.8.1", "httpx": "0.28.1"},
        "platform": {"os": "linux", "arch": "x86_64", "python": "3.11.7"},
        "hardware": UNDISCLOSED,
        "code": {
            "repository": "git@example.com:acme/support-bot.git",
            "revision": "9f1c2e4b7a0d3c5e8f6a1b2c3d4e5f60718293a4",
            "dirty": NA,
        },
        "determinism": {},
    }


def _no_constraints() -> dict[str, Any]:
    return {"output_schema": NA, "guardrails": [], "budgets": {}}


def chat_hosted() -> Declaration:
    """A chat completion against a hosted model, system prompt rendered from a template."""
    return {
        "spec": "runid/v1",
        "model": {
            "provider": "openai",
            "name": "gpt-4o-mini",
            "version": "gpt-4o-mini-2024-07-18",
            "endpoint": "https://api.openai.com/v1",
            "weights": UNDISCLOSED,
            "tokenizer": UNDISCLOSED,
            "dtype": UNDISCLOSED,
            "quantization": UNDISCLOSED,
            "adapters": UNDISCLOSED,
        },
        "parameters": {
            "temperature": _declared(0.2),
            "max_tokens": _declared(256),
            "top_p": PROVIDER_DEFAULT,
            "presence_penalty": _default(0),
            "frequency_penalty": _default(0),
            "seed": PROVIDER_DEFAULT,
            "n": _default(1),
        },
        "instructions": {
            "system": [content_ref(SUPPORT_PROMPT)],
            "template": {
                "id": "support/system",
                "version": "7",
                "digest": content_digest(b"You are the support assistant of {{bank}}. ..."),
                "variables": {"bank": "Acme Bank", "max_sentences": 3},
            },
            "source": "prompt-registry:support/system@7",
        },
        "inputs": {
            "messages": [
                _msg("user", "Hi, I was charged twice for my card order."),
                _msg("assistant", "Sorry about that. Which date was the charge?"),
                _msg("user", "Last Tuesday, 49.90 EUR, twice."),
            ],
            "truncation": NA,
            "upstream": [],
        },
        "context": NA,
        "tools": NA,
        "runtime": _openai_runtime(),
        "constraints": _no_constraints(),
    }


def local_transformers() -> Declaration:
    """A local Hugging Face transformers model (a tiny 2-layer GPT-2) run with generate()."""
    return {
        "spec": "runid/v1",
        "model": {
            "provider": "transformers",
            "name": "tiny-gpt2-2l",
            "version": "local-2026-11-27",
            "endpoint": NA,
            "weights": [
                {
                    "name": "model.safetensors",
                    "digest": content_digest(b"tiny-gpt2 weights"),
                    "size": 1_204_824,
                }
            ],
            "tokenizer": [
                {"name": "merges.txt", "digest": content_digest(b"merges"), "size": 456_318},
                {"name": "tokenizer.json", "digest": content_digest(b"tok"), "size": 1_355_256},
                {"name": "vocab.json", "digest": content_digest(b"vocab"), "size": 1_042_301},
            ],
            "dtype": "float32",
            "quantization": NA,
            "adapters": [],
        },
        "parameters": {
            "max_new_tokens": _declared(32),
            "do_sample": _declared(False),
            "num_beams": _default(1),
            "temperature": _default(1.0),
            "top_k": _default(50),
            "top_p": _default(1.0),
            "repetition_penalty": _default(1.0),
        },
        "instructions": NA,
        "inputs": {
            "messages": [_msg("user", "The capital of France is")],
            "truncation": NA,
            "upstream": [],
        },
        "context": NA,
        "tools": NA,
        "runtime": {
            "engine": {"name": "transformers", "version": "4.57.1"},
            "libraries": {"torch": "2.13.0", "transformers": "4.57.1", "safetensors": "0.6.2"},
            "platform": {"os": "linux", "arch": "x86_64", "python": "3.11.7"},
            "hardware": "cpu-x86_64",
            "code": NOT_RECORDED,
            "determinism": {
                "torch.use_deterministic_algorithms": True,
                "cudnn.benchmark": False,
                "seed": 1234,
            },
        },
        "constraints": {"output_schema": NA, "guardrails": [], "budgets": {"max_seconds": 30}},
    }


POLICY_CHUNKS = [
    ("kb/refunds.md", 0, "Duplicate card charges are refunded within 5 business days."),
    ("kb/refunds.md", 2, "Refunds go back to the original payment method."),
    ("kb/cards.md", 1, "A pending charge may show twice until the merchant settles it."),
    ("kb/fees.md", 0, "Acme Bank charges no fee for disputed transactions."),
    ("kb/contact.md", 3, "Call +49 30 1234 567 for urgent card issues."),
]


def _retrieval(chunks: list[tuple[str, int, str]], query: str) -> dict[str, Any]:
    return {
        "query": content_ref(query),
        "retriever": {"name": "acme-kb-dense", "version": "3", "kind": "dense"},
        "embedding_model": {
            "name": "sentence-transformers/all-MiniLM-L6-v2",
            "version": "c9745ed1d9f207416be6d2e6f8de32d1f16199bf",
            "digest": content_digest(b"all-MiniLM-L6-v2 model.safetensors"),
        },
        "index": {
            "id": "acme-kb",
            "snapshot": content_digest(b"index snapshot 2026-11-20"),
        },
        "top_k": len(chunks),
        "threshold": 0.35,
        "filters": {"lang": "en", "audience": ["retail"]},
        "reranker": NA,
        "retrieved": [
            {
                "source": source,
                "chunk": chunk,
                "content": content_ref(text),
                "score": round(0.82 - 0.05 * rank, 4),
            }
            for rank, (source, chunk, text) in enumerate(chunks)
        ],
    }


def rag_call() -> Declaration:
    """A retrieval-augmented call: five chunks from a versioned index, injected in order."""
    decl = chat_hosted()
    decl["context"] = _retrieval(POLICY_CHUNKS, "charged twice for card order refund")
    decl["inputs"]["messages"] = [_msg("user", "I was charged twice for my card. Refund?")]
    decl["constraints"] = {
        "output_schema": NA,
        "guardrails": [{"name": "pii-redactor", "version": "1.4.0", "config": NA}],
        "budgets": {"max_output_tokens": 256},
    }
    return decl


TOOL_DEFINITIONS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_transactions",
            "description": "List card transactions in a date range.",
            "parameters": {
                "type": "object",
                "properties": {
                    "from": {"type": "string", "format": "date"},
                    "to": {"type": "string", "format": "date"},
                },
                "required": ["from", "to"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "open_dispute",
            "description": "Open a dispute for one transaction.",
            "parameters": {
                "type": "object",
                "properties": {"transaction_id": {"type": "string"}},
                "required": ["transaction_id"],
            },
        },
    },
]


def _tools() -> dict[str, Any]:
    return {
        "definitions": [
            {"name": t["function"]["name"], "kind": t["type"], "definition": _json_ref(t)}
            for t in TOOL_DEFINITIONS
        ],
        "choice": "auto",
    }


def agent_step() -> Declaration:
    """Step 3 of a tool-using agent: truncated history, an earlier tool call and its result."""
    decl = chat_hosted()
    args = {"from": "2026-11-17", "to": "2026-11-18"}
    result = [{"id": "tx_881", "amount": "49.90"}, {"id": "tx_882", "amount": "49.90"}]
    decl["inputs"] = {
        "messages": [
            _msg("user", "I was charged twice last Tuesday, please sort it out."),
            {
                "role": "assistant",
                "content": NA,
                "tool_calls": [
                    {"id": "call_1", "name": "get_transactions", "arguments": _json_ref(args)}
                ],
            },
            {"role": "tool", "content": _json_ref(result), "tool_call_id": "call_1"},
        ],
        "truncation": {"strategy": "drop_oldest", "original_count": 6, "kept_count": 3},
        "upstream": [
            {
                "execution_id": content_digest(b"execution of agent step 2"),
                "relation": "previous_step",
            }
        ],
    }
    decl["tools"] = _tools()
    decl["parameters"]["parallel_tool_calls"] = PROVIDER_DEFAULT
    decl["constraints"] = {
        "output_schema": NA,
        "guardrails": [],
        "budgets": {"max_steps": 8, "max_seconds": 120},
    }
    return decl


def minimal_declaration() -> Declaration:
    """A call where little is known: most components explicitly absent, for different reasons."""
    return {
        "spec": "runid/v1",
        "model": {
            "provider": "llama.cpp",
            "name": "SmolLM2-135M-Instruct",
            "version": NOT_RECORDED,
            "endpoint": "http://127.0.0.1:8080/v1",
            "weights": NOT_RECORDED,
            "tokenizer": NOT_RECORDED,
            "dtype": NOT_RECORDED,
            "quantization": "Q4_1",
            "adapters": NOT_RECORDED,
        },
        "parameters": NOT_RECORDED,
        "instructions": NA,
        "inputs": {
            "messages": [_msg("user", "Say hello.")],
            "truncation": NOT_RECORDED,
            "upstream": [],
        },
        "context": NA,
        "tools": NA,
        "runtime": NOT_RECORDED,
        "constraints": NA,
    }


def sized_declaration(messages: int, chunks: int) -> Declaration:
    """A RAG + tools declaration with ``messages`` history turns and ``chunks`` retrieved items.

    The benchmark uses it for its medium (~20 KB) and large (~500 KB) cases.
    """
    decl = agent_step()
    history = [
        _msg("user" if i % 2 == 0 else "assistant", f"turn {i}: " + "lorem ipsum " * (i % 7))
        for i in range(messages)
    ]
    decl["inputs"]["messages"] = history or decl["inputs"]["messages"]
    decl["inputs"]["truncation"] = {
        "strategy": "drop_oldest",
        "original_count": messages + 40,
        "kept_count": messages,
    }
    many = [
        (f"kb/doc-{i // 3:03d}.md", i % 3, f"chunk {i} of the knowledge base: " + "text " * i)
        for i in range(chunks)
    ]
    decl["context"] = _retrieval(many, "what is the refund policy for duplicate charges?")
    return decl


EXAMPLES: dict[str, Callable[[], Declaration]] = {
    "chat-hosted-model": chat_hosted,
    "local-transformers": local_transformers,
    "rag-retrieved-chunks": rag_call,
    "agent-step-with-tools": agent_step,
    "absent-components": minimal_declaration,
}


def example(name: str) -> Declaration:
    """A fresh copy of one named example, sharing no object with any other value.

    (The builders reuse constants such as ``NA``; a JSON round trip, unlike ``deepcopy``,
    does not keep that sharing, so editing one field never edits another.)
    """
    built: Declaration = orjson.loads(orjson.dumps(EXAMPLES[name]()))
    return built
