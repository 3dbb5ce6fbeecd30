"""Write the golden identity vectors in tests/vectors/identity/ (see docs/spec.md §11).

The vectors pin the v1 identity: once released they never change. This script exists to add
new ones; ``python scripts/gen_vectors.py --check`` verifies the files still match the code.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runid import examples as ex
from runid.digest import content_digest, content_ref
from runid.errors import RunidError
from runid.identity import compute_identity

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "identity"
COMPONENTS = ex.chat_hosted().keys() - {"spec"}
NA = {"absent": "not_applicable"}
D = dict[str, Any]


def all_absent(reason: str) -> D:
    return {"spec": "runid/v1", **{name: {"absent": reason} for name in sorted(COMPONENTS)}}


def unicode_everywhere() -> D:
    d = ex.chat_hosted()
    d["instructions"]["template"]["variables"] = {
        "bank": "Bänk Ünïcode — 日本語 🏦",
        "\ue000private": "U+E000 sorts after the surrogate pair below in UTF-16 order",
        "😀": "supplementary-plane key",
        "\u20ac": "Euro",
        "\r\n": "control characters in a key",
        "</script>": "\u0000\u001f\u007f\u2028\u2029 escapes",
    }
    d["model"]["name"] = "gpt-4o-mini-ünicode"
    d["inputs"]["messages"][0] = {"role": "user", "content": content_ref("Grüße, 世界! 👋")}
    return d


def numbers() -> D:
    d = ex.local_transformers()
    d["runtime"]["determinism"] = {
        "max_safe": 9007199254740991,
        "min_safe": -9007199254740991,
        "big_double": 1e21,
        "twenty_digits": 1e20,
        "tiny": 1e-7,
        "micro": 0.000001,
        "subnormal": 5e-324,
        "max_double": 1.7976931348623157e308,
        "negative_zero": -0.0,
        "sum": 0.1 + 0.2,
        "third": 1 / 3,
        "integral_float": 4.0,
    }
    return d


def all_parameters() -> D:
    d = ex.chat_hosted()
    d["parameters"] = {
        "temperature": {"source": "declared", "value": 0},
        "top_p": {"source": "declared", "value": 0.95},
        "top_k": {"source": "default", "value": 40},
        "min_p": {"source": "default", "value": 0.05},
        "max_tokens": {"source": "declared", "value": 512},
        "seed": {"source": "declared", "value": -42},
        "stop": {"source": "declared", "value": ["\n\n", "END"]},
        "presence_penalty": {"source": "default", "value": -2},
        "frequency_penalty": {"source": "default", "value": 2},
        "repetition_penalty": {"source": "default", "value": 1.1},
        "n": {"source": "default", "value": 1},
        "logprobs": {"source": "declared", "value": True},
        "top_logprobs": {"source": "declared", "value": 5},
        "parallel_tool_calls": {"source": "provider_default"},
    }
    return d


def vendor_parameters() -> D:
    d = ex.chat_hosted()
    d["parameters"]["mirostat"] = {"source": "declared", "value": {"mode": 2, "tau": 5.0}}
    d["parameters"]["logit_bias"] = {"source": "declared", "value": {"50256": -100}}
    d["parameters"]["x.vendor-flag"] = {"source": "default", "value": None}
    d["parameters"]["grammar"] = {"source": "declared", "value": [1, [2, [3, []]], {}]}
    return d


def with_adapters() -> D:
    d = ex.local_transformers()
    d["model"]["adapters"] = [
        {"name": "lora-a.safetensors", "digest": content_digest(b"lora a"), "size": 4096},
        {"name": "lora-b.safetensors", "digest": content_digest(b"lora b"), "size": 8192},
    ]
    d["model"]["quantization"] = "int8-dynamic"
    d["model"]["dtype"] = "bfloat16"
    return d


def retrieval_variants() -> D:
    d = ex.rag_call()
    ctx = d["context"]
    ctx["reranker"] = {"name": "bge-reranker-base", "version": {"absent": "not_recorded"}}
    ctx["threshold"] = {"absent": "not_applicable"}
    ctx["filters"] = {"and": [{"lang": "en"}, {"year": {"gte": 2024}}], "tags": []}
    ctx["retrieved"][0]["chunk"] = "p3#2"
    ctx["retrieved"][1]["score"] = {"absent": "undisclosed"}
    ctx["embedding_model"] = {"absent": "undisclosed"}
    return d


def named_tool_choice() -> D:
    d = ex.agent_step()
    d["tools"]["choice"] = {"name": "open_dispute"}
    return d


def dirty_code() -> D:
    d = ex.chat_hosted()
    d["runtime"]["code"]["dirty"] = content_digest(b"diff --git a/bot.py b/bot.py")
    d["runtime"]["hardware"] = "nvidia-a100-80gb"
    d["runtime"]["libraries"]["torch"] = "2.13.0+cu130"
    return d


def constraints_full() -> D:
    d = ex.chat_hosted()
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    d["constraints"] = {
        "output_schema": content_ref(json.dumps(schema).encode(), "application/json"),
        "guardrails": [
            {"name": "pii-redactor", "version": "1.4.0", "config": NA},
            {"name": "toxicity", "version": {"absent": "undisclosed"}, "config": NA},
        ],
        "budgets": {"max_output_tokens": 256, "max_cost_usd": 0.02, "max_seconds": 10},
    }
    return d


def multi_tool_calls() -> D:
    d = ex.agent_step()
    call = d["inputs"]["messages"][1]["tool_calls"][0]
    second = dict(call, id="call_2", name="open_dispute")
    d["inputs"]["messages"][1]["tool_calls"].append(second)
    d["inputs"]["messages"].append(
        {
            "role": "tool",
            "content": content_ref('{"ok":true}', "application/json"),
            "tool_call_id": "call_2",
            "name": "open_dispute",
        }
    )
    return d


def media_types() -> D:
    d = ex.chat_hosted()
    d["inputs"]["messages"].append(
        {"role": "user", "content": content_ref(b"\x89PNG\r\n\x1a\n fake image", "image/png")}
    )
    return d


def empty_collections() -> D:
    d = ex.rag_call()
    d["context"]["filters"] = {}
    d["context"]["retrieved"] = []
    d["runtime"]["libraries"] = {}
    d["constraints"] = {"output_schema": NA, "guardrails": [], "budgets": {}}
    d["parameters"] = {}
    return d


def mid_conversation_system() -> D:
    d = ex.chat_hosted()
    d["inputs"]["messages"].insert(
        2, {"role": "system", "content": content_ref("The user is verified.")}
    )
    return d


def zero_temperature() -> D:
    d = ex.chat_hosted()
    d["parameters"]["temperature"]["value"] = 0
    return d


VALID: dict[str, tuple[str, Callable[[], D]]] = {
    "01-chat-hosted-model": ("chat completion against a hosted model", ex.chat_hosted),
    "02-local-transformers": ("local transformers model, file digests", ex.local_transformers),
    "03-rag-retrieved-chunks": ("RAG call with five retrieved chunks", ex.rag_call),
    "04-agent-step-with-tools": ("agent step: tools, truncated history", ex.agent_step),
    "05-absent-components": ("most components absent", ex.minimal_declaration),
    "06-all-not-applicable": (
        "every component not_applicable",
        lambda: all_absent("not_applicable"),
    ),
    "07-all-not-recorded": ("every component not_recorded", lambda: all_absent("not_recorded")),
    "08-unicode": ("unicode values and keys (UTF-16 key order)", unicode_everywhere),
    "09-numbers": ("large, tiny, negative-zero and integral-float numbers", numbers),
    "12-all-known-parameters": ("every known parameter name", all_parameters),
    "13-vendor-parameters": ("vendor parameters with free-form values", vendor_parameters),
    "14-model-adapters": ("local model with adapters and quantization", with_adapters),
    "15-retrieval-variants": ("reranker, nested filters, chunk ids", retrieval_variants),
    "16-named-tool-choice": ("tool_choice naming one tool", named_tool_choice),
    "17-runtime-dirty-code": ("uncommitted changes and hardware class", dirty_code),
    "18-constraints": ("output schema, guardrails, budgets", constraints_full),
    "19-multiple-tool-calls": ("assistant message with two tool calls", multi_tool_calls),
    "20-media-types": ("non-text content reference", media_types),
    "21-empty-collections": ("empty arrays and objects where allowed", empty_collections),
    "22-mid-conversation-system": (
        "system message inside the conversation",
        mid_conversation_system,
    ),
    "23-zero-temperature": ("temperature 0 differs from 0.2", zero_temperature),
}


def invalid_cases() -> dict[str, tuple[str, str, str, str]]:
    """name -> (description, JSON text, expected code, expected pointer)."""
    cases: dict[str, tuple[str, D, str, str]] = {}

    def case(name: str, desc: str, mutate: Callable[[D], None], code: str, ptr: str) -> None:
        d = ex.chat_hosted()
        mutate(d)
        cases[name] = (desc, d, code, ptr)

    case(
        "e01-missing-component",
        "a component is missing",
        lambda d: d.pop("tools"),
        "E_REQUIRED",
        "/tools",
    )
    case(
        "e02-wrong-spec",
        "spec is not runid/v1",
        lambda d: d.update(spec="runid/v2"),
        "E_CONST",
        "/spec",
    )
    case(
        "e03-temperature-string",
        "temperature given as a string",
        lambda d: d["parameters"]["temperature"].update(value="0.2"),
        "E_TYPE",
        "/parameters/temperature/value",
    )
    case(
        "e04-unknown-field",
        "a field v1 does not define",
        lambda d: d["model"].update(region="eu"),
        "E_UNKNOWN_FIELD",
        "/model/region",
    )
    case(
        "e05-bad-absence",
        "an absence reason outside the set",
        lambda d: d.update(context={"absent": "unknown"}),
        "E_ENUM",
        "/context/absent",
    )
    case(
        "e06-uppercase-digest",
        "digest with uppercase hex",
        lambda d: d["instructions"]["system"][0].update(
            digest=d["instructions"]["system"][0]["digest"].upper().replace("SHA256", "sha256")
        ),
        "E_FORMAT",
        "/instructions/system/0/digest",
    )
    case(
        "e07-credentials-in-endpoint",
        "endpoint URL with credentials",
        lambda d: d["model"].update(endpoint="https://user:sk-secret@api.example.com/v1"),
        "E_FORMAT",
        "/model/endpoint",
    )
    case(
        "e08-provider-default-with-value",
        "provider_default must not carry a value",
        lambda d: d["parameters"].update(top_p={"source": "provider_default", "value": 1}),
        "E_UNKNOWN_FIELD",
        "/parameters/top_p/value",
    )
    out = {
        name: (desc, json.dumps(d, ensure_ascii=False), code, ptr)
        for name, (desc, d, code, ptr) in cases.items()
    }
    text = json.dumps(ex.chat_hosted())
    out["e09-integer-range"] = (
        "an integer beyond 2^53-1",
        text.replace('"value": 256', '"value": 9007199254740993'),
        "E_INTEGER_RANGE",
        "/parameters/max_tokens/value",
    )
    out["e10-duplicate-key"] = (
        "the same key twice in one object",
        text.replace('"name": "gpt-4o-mini",', '"name": "gpt-4o-mini", "name": "gpt-4o",'),
        "E_DUPLICATE_KEY",
        "/model",
    )
    unsorted = ex.local_transformers()
    unsorted["model"]["tokenizer"].reverse()
    out["e11-unsorted-files"] = (
        "tokenizer files not sorted by name",
        json.dumps(unsorted),
        "E_ORDER",
        "/model/tokenizer/1/name",
    )
    return out


def render_valid(name: str, desc: str, decl: D) -> str:
    ident = compute_identity(copy.deepcopy(decl))
    vector = {
        "description": desc,
        "declaration": decl,
        "components": dict(ident.components),
        "declaration_id": ident.declaration_id,
    }
    return json.dumps(vector, indent=2, ensure_ascii=False) + "\n"


def spelled_variants(base: str) -> dict[str, str]:
    """Vectors 10/11: the same declaration as 01, spelled differently; the same id."""
    vector = json.loads(base)
    decl = vector["declaration"]
    respelled = json.dumps(vector, indent=2, ensure_ascii=False)
    respelled = respelled.replace('"value": 0.2', '"value": 2e-1', 1)
    respelled = respelled.replace('"value": 256', '"value": 256.0', 1)
    respelled = respelled.replace(
        vector["description"], "number spelling differs from 01 (2e-1, 256.0): same id"
    )
    reordered = dict(vector)
    reordered["description"] = "member order differs from 01 (reversed everywhere): same id"

    def reverse(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: reverse(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [reverse(v) for v in value]
        return value

    reordered["declaration"] = reverse(decl)
    return {
        "10-number-spelling": respelled + "\n",
        "11-member-order": json.dumps(reordered, indent=1, ensure_ascii=False) + "\n",
    }


def all_files() -> dict[str, str]:
    files: dict[str, str] = {}
    for name, (desc, build) in VALID.items():
        files[name] = render_valid(name, desc, build())
    files.update(spelled_variants(files["01-chat-hosted-model"]))
    for name, (desc, text, code, ptr) in invalid_cases().items():
        vector = {
            "description": desc,
            "declaration_json": text,
            "error": {"code": code, "pointer": ptr},
        }
        files[name] = json.dumps(vector, indent=2, ensure_ascii=False) + "\n"
    return files


def main(argv: list[str]) -> int:
    check = "--check" in argv
    OUT.mkdir(parents=True, exist_ok=True)
    bad = []
    for name, text in sorted(all_files().items()):
        path = OUT / f"{name}.json"
        if path.exists() and path.read_text("utf-8") == text:
            continue
        bad.append(name)
        if not check:
            path.write_text(text, "utf-8")
    if check and bad:
        print("vectors differ from the code: " + ", ".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except RunidError as exc:
        sys.exit(f"error: {exc}")
