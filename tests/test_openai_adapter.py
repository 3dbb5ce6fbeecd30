"""The OpenAI-client adapter: pure mappings, and the real ``openai`` client against a real
OpenAI-compatible server (llama-cpp-python serving SmolLM2-135M-Instruct) on 127.0.0.1."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llama_server import LlamaServer, llama_server_fixture
from runid.canonical import canonicalize
from runid.capture import current_run
from runid.declaration import problems
from runid.digest import content_digest
from runid.errors import InputError
from runid.identity import compute_identity
from runid.integrations.openai import (
    CHAT_SAMPLING_PARAMETERS,
    EXAMPLE_RUNTIME,
    RESPONSES_SAMPLING_PARAMETERS,
    StreamAccumulator,
    chat_components,
    declaration_from_chat_request,
    declaration_from_responses_request,
    default_runtime,
    endpoint_of,
    observed_from_chat_response,
    observed_from_responses_response,
    output_bytes,
    output_media_type,
    responses_output_bytes,
    responses_output_media_type,
)
from runid.record import OBSERVED

llama_server = llama_server_fixture()

CANARY = "sk-runid-canary-7f3a9c1e5b"
BASE = "http://127.0.0.1:8080/v1"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def _request(**overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "model": "smollm2",
        "messages": [
            {"role": "system", "content": "You answer in one short sentence."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        "temperature": 0,
        "max_tokens": 24,
        "seed": 1234,
    }
    request.update(overrides)
    return request


def _build(
    request: dict[str, Any], base_url: str = BASE
) -> tuple[dict[str, Any], dict[str, bytes]]:
    return declaration_from_chat_request(request, base_url=base_url, runtime=EXAMPLE_RUNTIME)


def _id(request: dict[str, Any]) -> str:
    return compute_identity(_build(request)[0]).declaration_id


def _check_blobs(decl: dict[str, Any], blobs: dict[str, bytes]) -> None:
    """Every content reference in the declaration has its blob, with matching digest/size."""
    refs: list[dict[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if set(value) == {"digest", "size", "media_type"}:
                refs.append(value)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(decl)
    assert refs
    for ref in refs:
        raw = blobs[ref["digest"]]
        assert content_digest(raw) == ref["digest"] and len(raw) == ref["size"]
    assert set(blobs) == {ref["digest"] for ref in refs}


# --- pure mapping, no server ------------------------------------------------------------------


def test_chat_request_maps_every_component() -> None:
    decl, blobs = _build(_request())
    assert problems(decl) == []
    assert decl["model"]["provider"] == "openai-compatible"
    assert decl["model"]["name"] == "smollm2"
    assert decl["model"]["version"] == {"absent": "not_recorded"}
    # Where the model is served is not a condition (ADR 0014); which model is, and a client
    # does not know it unless told.
    assert decl["model"]["endpoint"] == {"absent": "not_applicable"}
    assert decl["model"]["weights"] == {"absent": "not_recorded"}
    assert decl["instructions"]["system"][0]["size"] == len(b"You answer in one short sentence.")
    assert decl["instructions"]["template"] == {"absent": "not_recorded"}
    assert [m["role"] for m in decl["inputs"]["messages"]] == ["user"]
    assert decl["inputs"]["truncation"] == {"absent": "not_recorded"}
    # The application may have retrieved what it put in the messages: not known here.
    assert decl["context"] == {"absent": "not_recorded"}
    assert decl["tools"] == {"absent": "not_applicable"}
    assert decl["constraints"]["output_schema"] == {"absent": "not_applicable"}
    assert decl["runtime"] == EXAMPLE_RUNTIME
    _check_blobs(decl, blobs)


def test_unset_sampling_parameters_are_provider_default() -> None:
    params = _build(_request())[0]["parameters"]
    assert set(CHAT_SAMPLING_PARAMETERS) <= set(params)
    assert params["temperature"] == {"source": "declared", "value": 0}
    assert params["max_tokens"] == {"source": "declared", "value": 24}
    for name in ("top_p", "presence_penalty", "stop", "n", "logprobs", "parallel_tool_calls"):
        assert params[name] == {"source": "provider_default"}, name


def test_id_stable_and_sensitive_to_each_parameter() -> None:
    base = _id(_request())
    assert base == _id(_request())
    changed = {
        _id(_request(temperature=0.5)),
        _id(_request(top_p=0.9)),
        _id(_request(stop="\n")),
        _id(_request(extra_body={"top_k": 1})),
        _id(_request(max_tokens=25)),
        _id(_request(model="other")),
    }
    assert base not in changed and len(changed) == 6
    # Transport and bookkeeping fields do not change what is computed.
    same = _request(stream=True, stream_options={"include_usage": True}, timeout=5, user="u1")
    assert _id(same) == base
    # One spelling for stop: a string is the list of that string.
    assert _id(_request(stop="\n")) == _id(_request(stop=["\n"]))
    # None and the client's sentinels mean "not sent".
    assert _id(_request(top_p=None)) == base


def test_not_given_sentinels_are_not_sent() -> None:
    openai = pytest.importorskip("openai")
    request = _request(top_p=openai.NOT_GIVEN, frequency_penalty=openai.omit)
    params = _build(request)[0]["parameters"]
    assert params["top_p"] == {"source": "provider_default"}
    assert params["frequency_penalty"] == {"source": "provider_default"}


def test_secrets_never_enter_the_declaration() -> None:
    request = _request(
        extra_headers={"Authorization": f"Bearer {CANARY}", "X-Api-Key": CANARY},
        extra_query={"api-key": CANARY},
        extra_body={"api_key": CANARY, "top_k": 40},
    )
    decl, blobs = declaration_from_chat_request(
        request, base_url=f"https://user:{CANARY}@example.com/v1/?key={CANARY}"
    )
    text = canonicalize(decl)
    assert CANARY.encode() not in text
    assert not any(CANARY.encode() in blob for blob in blobs.values())
    assert decl["model"]["endpoint"] == {"absent": "not_applicable"}
    assert decl["parameters"]["top_k"] == {"source": "declared", "value": 40}


def test_endpoint_of() -> None:
    assert endpoint_of("http://[::1]:8000/v1/") == "http://[::1]:8000/v1"
    assert endpoint_of("HTTPS://Host.Example") == "https://host.example"


@pytest.mark.parametrize(
    "base_url",
    ["not a url", "/v1", "http://[::1/v1", f"http://user:{CANARY}@host:port/v1"],
)
def test_a_base_url_that_is_not_an_absolute_url_is_e_endpoint(base_url: str) -> None:
    with pytest.raises(InputError) as bad:
        endpoint_of(base_url)
    assert bad.value.code == "E_ENDPOINT" and not isinstance(bad.value, ValueError)
    assert CANARY not in str(bad.value)  # credentials in the URL stay out of the message
    with pytest.raises(InputError) as built:
        _build(_request(), base_url=base_url)
    assert built.value.code == "E_ENDPOINT"


def test_tool_round_trip_in_messages() -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{ "city":"Paris" }'},
    }
    request = _request(
        messages=[
            {"role": "developer", "content": "Use tools."},
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18 C, sunny"},
            {"role": "system", "content": "Answer briefly."},
        ],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        response_format={"type": "json_object"},
        parallel_tool_calls=False,
    )
    decl, blobs = _build(request)
    assert problems(decl) == []
    messages = decl["inputs"]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "system"]
    assert messages[0]["content"]["media_type"] == "application/json"
    assert messages[1]["content"] == {"absent": "not_applicable"}
    tool_call = messages[1]["tool_calls"][0]
    assert tool_call["id"] == "call_1" and tool_call["name"] == "get_weather"
    assert blobs[tool_call["arguments"]["digest"]] == b'{"city":"Paris"}'  # canonical JSON
    assert messages[2]["tool_call_id"] == "call_1"
    definition = decl["tools"]["definitions"][0]
    assert definition["name"] == "get_weather" and definition["kind"] == "function"
    assert blobs[definition["definition"]["digest"]] == canonicalize(WEATHER_TOOL)
    assert decl["tools"]["choice"] == {"name": "get_weather"}
    assert blobs[decl["constraints"]["output_schema"]["digest"]] == b'{"type":"json_object"}'
    assert decl["parameters"]["parallel_tool_calls"]["value"] is False
    _check_blobs(decl, blobs)
    auto = _build({**request, "tool_choice": "auto"})[0]["tools"]["choice"]
    assert auto == "auto"
    unset = _build({k: v for k, v in request.items() if k != "tool_choice"})[0]
    assert unset["tools"]["choice"] == {"absent": "not_recorded"}


def test_no_system_prompt_and_bad_role() -> None:
    decl, _ = _build(_request(messages=[{"role": "user", "content": "Hi"}]))
    assert decl["instructions"] == {"absent": "not_applicable"}
    with pytest.raises(InputError, match="role") as bad:
        _build(_request(messages=[{"role": "robot", "content": "Hi"}]))
    assert bad.value.code == "E_REQUEST" and not isinstance(bad.value, ValueError)


_UNDECLARABLE = {
    "role": ({"messages": [{"role": "robot", "content": "Hi"}]}, (), "role"),
    "no model": ({"model": None}, (), "no model name"),
    "parameter name": ({"extra_body": {"Top-K": 1}}, (), "not a valid name"),
    "upstream, no input": (
        {"messages": [{"role": "system", "content": "Be brief."}]},
        [{"execution_id": "sha256:" + "ab" * 32, "relation": "previous_call"}],
        "upstream",
    ),
}


@pytest.mark.parametrize("case", sorted(_UNDECLARABLE))
def test_a_request_v1_cannot_carry_is_e_request(case: str) -> None:
    overrides, upstream, match = _UNDECLARABLE[case]
    with pytest.raises(InputError, match=match) as bad:
        declaration_from_chat_request(
            _request(**overrides), base_url=BASE, runtime=EXAMPLE_RUNTIME, upstream=upstream
        )
    assert bad.value.code == "E_REQUEST" and bad.value.hint
    assert not isinstance(bad.value, ValueError)


def test_the_shared_chat_mapping_raises_e_request() -> None:
    upstream = [{"execution_id": "sha256:" + "ab" * 32, "relation": "previous_call"}]
    with pytest.raises(InputError, match="role") as role:
        chat_components({"messages": [{"role": "robot", "content": "Hi"}]})
    with pytest.raises(InputError, match="upstream") as feed:
        chat_components({"messages": []}, upstream=upstream)
    assert role.value.code == feed.value.code == "E_REQUEST"


def test_a_responses_item_v1_cannot_carry_is_e_request() -> None:
    with pytest.raises(InputError, match="item type") as bad:
        declaration_from_responses_request(
            {"model": "m", "input": [{"type": "web_search_call", "id": "ws_1"}]}, base_url=BASE
        )
    assert bad.value.code == "E_REQUEST" and not isinstance(bad.value, ValueError)


def test_pinned_model_version() -> None:
    decl, _ = _build(_request(model="gpt-4o-mini-2024-07-18"))
    assert decl["model"]["version"] == "gpt-4o-mini-2024-07-18"
    decl, _ = declaration_from_chat_request(
        _request(), base_url=BASE, runtime=EXAMPLE_RUNTIME, model_version="q4_1-2026"
    )
    assert decl["model"]["version"] == "q4_1-2026"


def test_default_runtime_is_client_side() -> None:
    runtime = default_runtime()
    assert "openai" in runtime["libraries"] or runtime["libraries"] == {}
    assert runtime["platform"]["python"]
    decl, _ = declaration_from_chat_request(_request(), base_url=BASE)
    assert decl["runtime"] == runtime and problems(decl) == []


def test_responses_request() -> None:
    request = {
        "model": "gpt-4.1-mini",
        "instructions": "Be terse.",
        "input": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "type": "function_call",
                "call_id": "c1",
                "name": "get_weather",
                "arguments": '{"city": "Paris"}',
            },
            {"type": "function_call_output", "call_id": "c1", "output": "18 C"},
        ],
        "tools": [{"type": "function", "name": "get_weather", "parameters": {}}],
        "text": {"format": {"type": "json_object"}, "verbosity": "low"},
        "max_output_tokens": 50,
        "reasoning": {"effort": "low"},
        "store": False,
    }
    decl, blobs = declaration_from_responses_request(
        request, base_url="https://api.example.com/v1", runtime=EXAMPLE_RUNTIME
    )
    assert problems(decl) == []
    assert blobs[decl["instructions"]["system"][0]["digest"]] == b"Be terse."
    roles = [m["role"] for m in decl["inputs"]["messages"]]
    assert roles == ["user", "assistant", "tool"]
    params = decl["parameters"]
    assert set(RESPONSES_SAMPLING_PARAMETERS) <= set(params)
    assert params["max_output_tokens"] == {"source": "declared", "value": 50}
    assert params["temperature"] == {"source": "provider_default"}
    assert params["text"]["value"] == {"verbosity": "low"}
    assert "store" not in params
    assert decl["tools"]["definitions"][0]["name"] == "get_weather"
    assert decl["constraints"]["output_schema"]["media_type"] == "application/json"
    simple, _ = declaration_from_responses_request(
        {"model": "m", "input": "Hi"}, base_url=BASE, runtime=EXAMPLE_RUNTIME
    )
    assert simple["instructions"] == {"absent": "not_applicable"}
    assert simple["inputs"]["messages"][0]["role"] == "user"


FAKE_RESPONSE = {
    "id": "chatcmpl-1",
    "model": "smollm2-served",
    "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Paris."}}
    ],
    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
}


def test_observed_and_output_from_fake_response() -> None:
    observed = observed_from_chat_response(FAKE_RESPONSE)
    assert not OBSERVED.check(observed)
    assert observed["served_model"] == "smollm2-served"
    assert observed["system_fingerprint"] == {"absent": "not_recorded"}
    assert observed["response_id"] == "chatcmpl-1"
    assert observed["usage"] == {
        "input_tokens": 10,
        "output_tokens": 2,
        "other": {"total_tokens": 12},
    }
    assert observed["finish_reason"] == "stop"
    assert output_bytes(FAKE_RESPONSE) == b"Paris."
    assert output_media_type(FAKE_RESPONSE) == "text/plain; charset=utf-8"
    with_calls = copy.deepcopy(FAKE_RESPONSE)
    with_calls["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    assert json.loads(output_bytes(with_calls)) == [
        {"id": "c1", "type": "function", "name": "get_weather", "arguments": '{"city":"Paris"}'}
    ]
    assert output_media_type(with_calls) == "application/json"


def test_stream_accumulator_matches_fake_response() -> None:
    chunks = [
        {
            "id": "chatcmpl-1",
            "model": "smollm2-served",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Par"}}],
        },
        {
            "id": "chatcmpl-1",
            "model": "smollm2-served",
            "choices": [{"index": 0, "delta": {"content": "is."}, "finish_reason": "stop"}],
        },
        {
            "id": "chatcmpl-1",
            "model": "smollm2-served",
            "choices": [],
            "usage": FAKE_RESPONSE["usage"],
        },
    ]
    acc = StreamAccumulator()
    for chunk in chunks:
        acc.add(chunk)
    assert acc.output_bytes() == output_bytes(FAKE_RESPONSE)
    assert acc.observed() == observed_from_chat_response(FAKE_RESPONSE)
    calls = StreamAccumulator()
    for delta in (
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"ci'},
                }
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": 'ty":"Paris"}'}}]},
    ):
        calls.add({"id": "x", "choices": [{"index": 0, "delta": delta}]})
    assert json.loads(calls.output_bytes())[0]["arguments"] == '{"city":"Paris"}'
    assert calls.output_media_type() == "application/json"


def test_responses_observed_and_output() -> None:
    response: dict[str, Any] = {
        "id": "resp_1",
        "model": "gpt-4.1-mini-2025-04-14",
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [
            {"type": "reasoning", "summary": []},
            {
                "type": "message",
                "role": "assistant",
                "content": [
                    {"type": "output_text", "text": "Par"},
                    {"type": "output_text", "text": "is"},
                ],
            },
        ],
        "usage": {"input_tokens": 9, "output_tokens": 2, "total_tokens": 11},
    }
    observed = observed_from_responses_response(response)
    assert not OBSERVED.check(observed)
    assert observed["finish_reason"] == "max_output_tokens"
    assert observed["system_fingerprint"] == {"absent": "not_recorded"}
    assert observed["usage"]["input_tokens"] == 9
    assert responses_output_bytes(response) == b"Paris"
    assert responses_output_media_type(response) == "text/plain; charset=utf-8"
    call = {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}
    response["output"] = [call]
    assert json.loads(responses_output_bytes(response)) == [
        {"id": "c1", "type": "function", "name": "f", "arguments": "{}"}
    ]
    assert responses_output_media_type(response) == "application/json"


# --- the real client against the real server --------------------------------------------------


def _client(server: LlamaServer, api_key: str = CANARY) -> Any:
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=server.base_url, api_key=api_key, max_retries=0, timeout=180)


def test_real_chat_call(llama_server: LlamaServer) -> None:
    client = _client(llama_server)
    request = _request(model=llama_server.model)
    decl, blobs = declaration_from_chat_request(request, base_url=str(client.base_url))
    assert problems(decl) == []
    assert decl["model"]["endpoint"] == {"absent": "not_applicable"}  # ADR 0014
    assert compute_identity(decl) == compute_identity(
        declaration_from_chat_request(request, base_url=str(client.base_url))[0]
    )
    assert decl["parameters"]["top_p"] == {"source": "provider_default"}
    started = time.perf_counter()
    first = client.chat.completions.create(**request)
    latency = time.perf_counter() - started
    print(f"chat call latency: {latency:.3f} s")
    second = client.chat.completions.create(**request)
    observed = observed_from_chat_response(first)
    assert not OBSERVED.check(observed)
    assert observed["served_model"] == first.model and first.model
    assert observed["finish_reason"] in ("stop", "length")
    assert observed["usage"]["input_tokens"] == first.usage.prompt_tokens > 0
    assert observed["usage"]["output_tokens"] == first.usage.completion_tokens > 0
    if not first.system_fingerprint:
        assert observed["system_fingerprint"] == {"absent": "not_recorded"}
    out = output_bytes(first)
    assert out and out == first.choices[0].message.content.encode("utf-8")
    assert output_bytes(second) == out  # temperature 0: the same bytes
    # The canary api_key never reaches the declaration or its content.
    assert CANARY.encode() not in canonicalize(decl)
    assert not any(CANARY.encode() in blob for blob in blobs.values())


def test_real_streaming_matches_non_streaming(llama_server: LlamaServer) -> None:
    client = _client(llama_server)
    request = _request(model=llama_server.model)
    whole = client.chat.completions.create(**request)
    streamed = {**request, "stream": True, "stream_options": {"include_usage": True}}
    assert compute_identity(
        declaration_from_chat_request(streamed, base_url=llama_server.base_url)[0]
    ) == compute_identity(declaration_from_chat_request(request, base_url=llama_server.base_url)[0])
    acc = StreamAccumulator()
    for chunk in client.chat.completions.create(**streamed):
        acc.add(chunk)
    assert acc.output_bytes() == output_bytes(whole)
    expected = observed_from_chat_response(whole)
    got = acc.observed()
    assert not OBSERVED.check(got)
    for name in ("served_model", "system_fingerprint", "finish_reason"):
        assert got[name] == expected[name], name
    if got["usage"] != {"absent": "not_recorded"}:  # only if the server sends usage in streams
        assert got["usage"]["output_tokens"] == expected["usage"]["output_tokens"]


def test_real_tool_definition_round_trip(llama_server: LlamaServer) -> None:
    client = _client(llama_server)
    request = _request(
        model=llama_server.model,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice="auto",
        max_tokens=32,
    )
    decl, blobs = declaration_from_chat_request(request, base_url=llama_server.base_url)
    assert problems(decl) == []
    definition = decl["tools"]["definitions"][0]
    assert json.loads(blobs[definition["definition"]["digest"]]) == WEATHER_TOOL
    assert decl["tools"]["choice"] == "auto"
    response = client.chat.completions.create(**request)  # the model may or may not call it
    observed = observed_from_chat_response(response)
    assert not OBSERVED.check(observed)
    if output_media_type(response) == "application/json":
        assert isinstance(json.loads(output_bytes(response)), list)
    _check_blobs(decl, blobs)


def test_real_forced_tool_call_fed_back(llama_server: LlamaServer) -> None:
    client = _client(llama_server)
    ask = {"role": "user", "content": "What is the weather in Paris?"}
    forced = {"type": "function", "function": {"name": "get_weather"}}
    request = _request(
        model=llama_server.model, messages=[ask], tools=[WEATHER_TOOL], tool_choice=forced
    )
    decl, _ = declaration_from_chat_request(request, base_url=llama_server.base_url)
    assert decl["tools"]["choice"] == {"name": "get_weather"}
    response = client.chat.completions.create(**request)
    message = response.choices[0].message
    if not message.tool_calls:  # the server did not honour the forced choice: nothing to feed
        pytest.skip("the server returned no tool call for a forced tool_choice")
    assert output_media_type(response) == "application/json"
    calls = json.loads(output_bytes(response))
    assert calls[0]["name"] == "get_weather" and calls[0]["id"] == message.tool_calls[0].id
    # The call goes back into the next request with the tool's result. The SDK's message object
    # and its dict form give the same declaration.
    result = {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "18 C, sunny"}
    assistant = message.model_dump(exclude_none=True)
    assistant.pop("function_call", None)
    as_object = {**request, "messages": [ask, message, result], "tool_choice": "none"}
    as_dict = {**as_object, "messages": [ask, assistant, result]}
    base_url = llama_server.base_url
    assert (
        declaration_from_chat_request(as_object, base_url=base_url)[0]
        == declaration_from_chat_request(as_dict, base_url=base_url)[0]
    )
    # llama-cpp-python's server needs a string content on an assistant message (its chat
    # template reads it), so "" is what is actually sent, and declared.
    follow = {**as_dict, "messages": [ask, {**assistant, "content": ""}, result]}
    decl2, blobs2 = declaration_from_chat_request(follow, base_url=base_url)
    assert problems(decl2) == []
    sent = decl2["inputs"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["tool_calls"][0]["id"] == message.tool_calls[0].id
    assert sent[2]["tool_call_id"] == message.tool_calls[0].id
    _check_blobs(decl2, blobs2)
    final = client.chat.completions.create(**follow)
    assert not OBSERVED.check(observed_from_chat_response(final))


def test_create_chat_captures_a_real_call_end_to_end(
    llama_server: LlamaServer, tmp_path: Path
) -> None:
    from runid.capture import Recorder
    from runid.home import Home
    from runid.integrations.openai import create_chat
    from runid.keys import Keyring
    from runid.log import Log
    from runid.receipt import verify_receipt

    home = Home(tmp_path / "home")
    home.init_keys("runid.test/log")
    recorder = Recorder(home=home.path, on_error="raise")
    client = _client(llama_server, api_key=CANARY)
    request = _request(max_tokens=16)
    first, run1 = create_chat(client, recorder=recorder, **request)
    second, run2 = create_chat(client, recorder=recorder, **request)
    assert run1.declaration_id == run2.declaration_id  # same request, same declaration
    assert run1.execution_id != run2.execution_id  # two occurrences
    assert first.choices[0].message.content == second.choices[0].message.content  # temp 0
    assert run1.record is not None
    assert run1.record["observed"]["served_model"] == first.model
    # Where the model was reached is an observed fact of the record (ADR 0014).
    assert run1.record["observed"]["endpoint"] == llama_server.base_url
    with Log.open(home) as log:
        receipt = log.receipt(run1.execution_id)
    text = (first.choices[0].message.content or "").encode()
    verified = verify_receipt(receipt, Keyring([home.public_key()]), output=text)
    assert verified.record["declaration_id"] == run1.declaration_id
    for path in home.path.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path


# --- streaming, async, Responses and replay under capture ------------------------------------


def _recorder(tmp_path: Path) -> Any:
    from runid.capture import Recorder
    from runid.home import Home

    home = Home(tmp_path / "home")
    home.init_keys("runid.test/log")
    return Recorder(home=home, on_error="raise")


def _no_canary(home: Path) -> None:
    for path in home.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path


def _verified(recorder: Any, run: Any, output: bytes | None = None) -> dict[str, Any]:
    from runid.keys import Keyring
    from runid.log import Log
    from runid.receipt import verify_receipt

    with Log.open(recorder.home) as log:
        receipt = log.receipt(run.execution_id)
    keys = Keyring([recorder.home.public_key()])
    return dict(verify_receipt(receipt, keys, output=output).record)


def test_streamed_capture_matches_non_streamed(llama_server: LlamaServer, tmp_path: Path) -> None:
    from runid.integrations.openai import RecordedStream, create_chat

    recorder = _recorder(tmp_path)
    client = _client(llama_server)
    request = _request(max_tokens=24)
    whole, run1 = create_chat(client, recorder=recorder, **request)
    stream, run2 = create_chat(client, recorder=recorder, stream=True, **request)
    assert isinstance(stream, RecordedStream)
    assert run2.declaration_id == run1.declaration_id  # fixed before the request was sent
    assert not run2.recorded  # nothing is recorded until the stream ends
    chunks = list(stream)
    assert len(chunks) > 2  # yielded as they came, one token per chunk
    assert run2.recorded and stream.finished
    assert run2.outputs == run1.outputs  # same output digest at temperature 0
    record = _verified(recorder, run2, output_bytes(whole))
    assert record["observed"]["finish_reason"] == run1.record["observed"]["finish_reason"]
    assert record["observed"]["served_model"] == whole.model
    _no_canary(recorder.home.path)


def test_stream_closed_early_still_records(llama_server: LlamaServer, tmp_path: Path) -> None:
    from runid.integrations.openai import create_chat

    recorder = _recorder(tmp_path)
    client = _client(llama_server)
    request = _request(max_tokens=24)
    stream, run = create_chat(client, recorder=recorder, stream=True, **request)
    with stream:
        received = [next(stream) for _ in range(3)]
    assert run.recorded
    partial = "".join(c.choices[0].delta.content or "" for c in received if c.choices).encode()
    assert run.outputs[0]["digest"] == content_digest(partial)
    record = _verified(recorder, run, partial)
    assert record["outcome"]["status"] == "ok"
    assert record["observed"]["finish_reason"] == {"absent": "not_recorded"}  # never finished
    # A consumer that breaks out of the loop and drops the stream: recorded on collection.
    stream2, run2 = create_chat(client, recorder=recorder, stream=True, **request)
    for _chunk in stream2:
        break
    del stream2, _chunk
    import gc

    gc.collect()
    assert run2.recorded and run2.declaration_id == run.declaration_id
    _no_canary(recorder.home.path)


def _http_library() -> Any:
    """The HTTP library the installed openai client is built on (``httpx`` or, in openai 3,
    ``httpx2``: same API), so that a custom transport plugs into the real client."""
    import importlib

    import openai

    base = openai.DefaultHttpxClient.__mro__[1]
    return importlib.import_module(base.__module__.split(".")[0])


class _CutAfter:
    """A real HTTP transport that lets ``limit`` body bytes through, then drops the
    connection (httpx.ReadError), as a network failure mid-stream would."""

    def __init__(self, limit: int) -> None:
        httpx = _http_library()

        self.inner = httpx.HTTPTransport()
        self.limit = limit

    def handle_request(self, request: Any) -> Any:
        httpx = _http_library()

        response = self.inner.handle_request(request)
        limit = self.limit

        class Cut(httpx.SyncByteStream):
            def __iter__(self) -> Any:
                sent = 0
                for part in response.stream:
                    yield part
                    sent += len(part)
                    if sent >= limit:
                        raise httpx.ReadError("connection dropped mid-stream")

            def close(self) -> None:
                response.close()

        return httpx.Response(
            response.status_code, headers=response.headers, stream=Cut(), extensions={}
        )

    def close(self) -> None:
        self.inner.close()


def test_stream_failing_midway_records_error_and_what_was_received(
    llama_server: LlamaServer, tmp_path: Path
) -> None:
    httpx = _http_library()
    import openai

    from runid.integrations.openai import create_chat

    recorder = _recorder(tmp_path)
    http = httpx.Client(transport=_CutAfter(600))  # type: ignore[arg-type]
    client = openai.OpenAI(
        base_url=llama_server.base_url, api_key=CANARY, max_retries=0, http_client=http
    )
    stream, run = create_chat(client, recorder=recorder, stream=True, **_request(max_tokens=24))
    received = []
    with pytest.raises((httpx.ReadError, openai.APIError)):
        for chunk in stream:
            received.append(chunk)
    assert received and run.recorded
    record = run.record
    assert record is not None and record["outcome"]["status"] == "error"
    partial = "".join(c.choices[0].delta.content or "" for c in received if c.choices).encode()
    assert record["outcome"]["outputs"][0]["digest"] == content_digest(partial)
    _verified(recorder, run)
    _no_canary(recorder.home.path)


def test_async_create_chat_plain_and_streamed(llama_server: LlamaServer, tmp_path: Path) -> None:
    import asyncio

    import openai

    from runid.integrations.openai import AsyncRecordedStream, acreate_chat, create_chat

    recorder = _recorder(tmp_path)
    request = _request(max_tokens=16)
    _whole, sync_run = create_chat(_client(llama_server), recorder=recorder, **request)

    async def main() -> tuple[Any, Any, list[Any]]:
        client = openai.AsyncOpenAI(base_url=llama_server.base_url, api_key=CANARY, max_retries=0)
        _response, run = await acreate_chat(client, recorder=recorder, **request)
        stream, streamed = await acreate_chat(client, recorder=recorder, stream=True, **request)
        assert isinstance(stream, AsyncRecordedStream)
        async with stream:
            chunks = [chunk async for chunk in stream]
        await client.close()
        return run, streamed, chunks

    run, streamed, chunks = asyncio.run(main())
    assert chunks
    assert run.declaration_id == streamed.declaration_id == sync_run.declaration_id
    assert run.outputs == streamed.outputs == sync_run.outputs
    assert run.recorded and streamed.recorded
    _verified(recorder, streamed)
    _no_canary(recorder.home.path)


def test_request_from_declaration_gives_the_same_declaration() -> None:
    from runid.integrations.openai import request_from_declaration

    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{ "city":"Paris" }'},
    }
    request = _request(
        messages=[
            {"role": "system", "content": "Use tools."},
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18 C, sunny"},
        ],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        response_format={"type": "json_object"},
        stop="\n",
        extra_body={"top_k": 1, "min_p": 0.05},
        stream=True,
    )
    decl, blobs = _build(request)
    rebuilt = request_from_declaration(decl, blobs.__getitem__)
    assert "top_p" not in rebuilt and "stream" not in rebuilt  # provider_default: not sent
    assert rebuilt["extra_body"] == {"top_k": 1, "min_p": 0.05}
    assert rebuilt["temperature"] == 0 and rebuilt["stop"] == ["\n"]
    again, _ = _build(rebuilt)
    assert again == decl
    # A developer prompt comes back as a system prompt: v1 keeps no role for instructions.
    dev = _request(
        messages=[{"role": "developer", "content": "X"}, {"role": "user", "content": "Y"}]
    )
    decl2, blobs2 = _build(dev)
    assert _build(request_from_declaration(decl2, blobs2.__getitem__))[0] == decl2


def test_request_from_declaration_errors() -> None:
    from runid.errors import VerificationError
    from runid.integrations.openai import RESPONSES_ENGINE, request_from_declaration

    decl, _blobs = _build(_request())

    def missing(digest: str) -> bytes:
        raise InputError(f"content {digest} was not stored", code="E_CONTENT_MISSING")

    with pytest.raises(InputError, match="not stored"):
        request_from_declaration(decl, missing)
    with pytest.raises(VerificationError) as wrong:
        request_from_declaration(decl, lambda digest: b"tampered")
    assert wrong.value.code == "E_CONTENT_DIGEST"
    responses, rblobs = declaration_from_responses_request(
        {"model": "m", "input": "Hi"}, base_url=BASE
    )
    assert responses["runtime"]["engine"]["name"] == RESPONSES_ENGINE
    with pytest.raises(InputError) as other:
        request_from_declaration(responses, rblobs.__getitem__)
    assert other.value.code == "E_REPLAY_ENGINE"


def test_recorded_content_that_is_not_its_media_type_is_e_replay_content() -> None:
    from runid.integrations.openai import request_from_declaration

    decl, blobs = _build(_request(tools=[WEATHER_TOOL]))
    ref = decl["tools"]["definitions"][0]["definition"]
    not_json = b"{not json"
    ref.update(digest=content_digest(not_json), size=len(not_json))
    with pytest.raises(InputError) as bad:
        request_from_declaration(decl, {**blobs, ref["digest"]: not_json}.__getitem__)
    assert bad.value.code == "E_REPLAY_CONTENT" and not isinstance(bad.value, ValueError)
    text = decl["inputs"]["messages"][0]["content"]
    not_utf8 = b"\xff\xfe"
    text.update(digest=content_digest(not_utf8), size=len(not_utf8))
    with pytest.raises(InputError) as undecodable:
        request_from_declaration(decl, {**blobs, text["digest"]: not_utf8}.__getitem__)
    assert undecodable.value.code == "E_REPLAY_CONTENT"


def test_replay_a_recorded_call(llama_server: LlamaServer, tmp_path: Path) -> None:
    from runid.capture import Recorder
    from runid.integrations import openai as adapter
    from runid.log import Log

    recorder = _recorder(tmp_path)
    request = _request(max_tokens=16, extra_body={"top_k": 1})
    _response, original = adapter.create_chat(_client(llama_server), recorder=recorder, **request)
    assert original.declaration is not None
    assert original.declaration["runtime"]["engine"]["name"] == adapter.ENGINE

    with Log.open(recorder.home) as log:
        declaration = log.declaration(original.declaration_id)

        def fetch(digest: str) -> bytes:
            found = log.content(digest)
            if found is None:
                raise InputError(f"content {digest} was not stored")
            return found

        assert declaration is not None
        by_client = adapter.replay(
            declaration, fetch, recorder=recorder, client=_client(llama_server)
        )
        # The endpoint is the original record's observed fact (ADR 0014): given as the
        # record, or found in the log through the recorder's replay_of.
        by_url = adapter.replay(
            declaration, fetch, recorder=recorder, stream=True, record=original.record
        )
        linked = Recorder(recorder.home, on_error="raise", replay_of=original.execution_id)
        by_log = adapter.replay(declaration, fetch, recorder=linked)
        with pytest.raises(InputError) as unknown:
            adapter.replay(declaration, fetch, recorder=recorder)
        assert unknown.value.code == "E_REPLAY_ENDPOINT"
    for run in (by_client, by_url, by_log):
        assert run.recorded
        assert run.declaration_id == original.declaration_id
        assert run.outputs == original.outputs  # temperature 0: the same output
        assert run.execution_id != original.execution_id


def _responses_transport(events: bool) -> Any:
    httpx = _http_library()

    body = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "model": "gpt-4.1-mini-2025-04-14",
        "status": "completed",
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Paris.", "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 9,
            "output_tokens": 2,
            "total_tokens": 11,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }
    seen: list[dict[str, Any]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        assert CANARY not in json.dumps(seen[-1])
        if not events:
            return httpx.Response(200, json=body)
        started = {**body, "status": "in_progress", "output": []}
        lines = [
            {"type": "response.created", "sequence_number": 0, "response": started},
            {
                "type": "response.output_text.delta",
                "sequence_number": 1,
                "item_id": "msg_1",
                "output_index": 0,
                "content_index": 0,
                "delta": "Paris.",
                "logprobs": [],
            },
            {"type": "response.completed", "sequence_number": 2, "response": body},
        ]
        text = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in lines)
        return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})

    return httpx.MockTransport(handle), seen


@pytest.mark.parametrize("stream", [False, True])
def test_create_response_over_a_canned_http_exchange(tmp_path: Path, stream: bool) -> None:
    """No local server implements /v1/responses: the real client talks HTTP to a canned
    Responses API answer (the exchange is a stand-in; the capture under test is real)."""
    openai = pytest.importorskip("openai")
    httpx = _http_library()
    from runid.integrations.openai import RESPONSES_ENGINE, create_response

    transport, seen = _responses_transport(stream)
    client = openai.OpenAI(
        base_url=BASE, api_key=CANARY, max_retries=0, http_client=httpx.Client(transport=transport)
    )
    recorder = _recorder(tmp_path)
    request = {"model": "gpt-4.1-mini", "instructions": "Be terse.", "input": "Capital of France?"}
    response, run = create_response(client, recorder=recorder, stream=stream, **request)
    assert current_run() is None  # a stream's run is not left current for the caller's code
    if stream:
        assert [event.type for event in response][-1] == "response.completed"
    assert run.recorded and seen[0]["input"] == "Capital of France?"
    record = _verified(recorder, run, b"Paris.")
    assert record["observed"]["served_model"] == "gpt-4.1-mini-2025-04-14"
    assert record["observed"]["finish_reason"] == "completed"
    assert record["observed"]["usage"]["input_tokens"] == 9
    assert run.declaration is not None
    assert run.declaration["runtime"]["engine"]["name"] == RESPONSES_ENGINE
    expected, _ = declaration_from_responses_request(request, base_url=BASE)
    assert run.declaration_id == compute_identity(expected).declaration_id
    _no_canary(recorder.home.path)


_TEXT = st.text(min_size=1, max_size=12)
_PARAMS = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.sampled_from([0, 0.2, 1, 1.5]),
        "top_p": st.sampled_from([0.5, 1]),
        "max_tokens": st.integers(1, 4096),
        "seed": st.integers(-(2**31), 2**31),
        "stop": st.one_of(_TEXT, st.lists(_TEXT, min_size=1, max_size=3)),
        "presence_penalty": st.sampled_from([-1, 0, 0.5]),
        "logprobs": st.booleans(),
        "parallel_tool_calls": st.booleans(),
        "logit_bias": st.dictionaries(st.sampled_from(["1", "42"]), st.integers(-100, 100)),
        "extra_body": st.fixed_dictionaries(
            {}, optional={"top_k": st.integers(0, 100), "min_p": st.sampled_from([0, 0.05])}
        ),
    },
)
_CALL = st.builds(
    lambda i, city: {
        "id": f"call_{i}",
        "type": "function",
        "function": {"name": "get_weather", "arguments": json.dumps({"city": city})},
    },
    st.integers(0, 9),
    _TEXT,
)
_MESSAGE = st.one_of(
    st.builds(lambda t: {"role": "user", "content": t}, _TEXT),
    st.builds(lambda t: {"role": "user", "content": [{"type": "text", "text": t}]}, _TEXT),
    st.builds(lambda t: {"role": "assistant", "content": t}, _TEXT),
    st.builds(lambda c: {"role": "assistant", "content": "", "tool_calls": [c]}, _CALL),
    st.builds(lambda t: {"role": "tool", "tool_call_id": "call_1", "content": t}, _TEXT),
)


# The first example pays for imports and the cached runtime: no per-example deadline.
@settings(deadline=None, max_examples=80)
@given(
    system=st.lists(_TEXT, max_size=2),
    messages=st.lists(_MESSAGE, min_size=1, max_size=5),
    params=_PARAMS,
    tools=st.booleans(),
    choice=st.sampled_from([None, "auto", "none", "required", {"name": "get_weather"}]),
    schema=st.booleans(),
)
def test_replayed_request_declares_the_same(
    *,
    system: list[str],
    messages: list[dict[str, Any]],
    params: dict[str, Any],
    tools: bool,
    choice: Any,
    schema: bool,
) -> None:
    from runid.integrations.openai import request_from_declaration

    request: dict[str, Any] = {
        "model": "smollm2",
        "messages": [{"role": "system", "content": s} for s in system] + messages,
        **params,
    }
    if tools:
        request["tools"] = [WEATHER_TOOL]
        if isinstance(choice, dict):
            request["tool_choice"] = {"type": "function", "function": choice}
        elif choice is not None:
            request["tool_choice"] = choice
    if schema:
        request["response_format"] = {"type": "json_object"}
    decl, blobs = _build(request)
    rebuilt = request_from_declaration(decl, blobs.__getitem__)
    assert _build(rebuilt)[0] == decl


@pytest.mark.parametrize("stream", [False, True])
def test_acreate_response_over_a_canned_http_exchange(tmp_path: Path, stream: bool) -> None:
    import asyncio

    openai = pytest.importorskip("openai")
    httpx = _http_library()
    from runid.integrations.openai import acreate_response

    transport, _seen = _responses_transport(stream)
    recorder = _recorder(tmp_path)
    request = {"model": "gpt-4.1-mini", "input": "Capital of France?"}

    async def main() -> Any:
        http = httpx.AsyncClient(transport=transport)
        client = openai.AsyncOpenAI(base_url=BASE, api_key=CANARY, http_client=http)
        response, run = await acreate_response(client, recorder=recorder, stream=stream, **request)
        if stream:
            assert [event.type async for event in response][-1] == "response.completed"
        await http.aclose()
        return run

    run = asyncio.run(main())
    assert run.recorded
    assert _verified(recorder, run, b"Paris.")["observed"]["finish_reason"] == "completed"
    _no_canary(recorder.home.path)


def test_an_undeclarable_request_is_reported_with_its_code_and_still_sent(
    tmp_path: Path,
) -> None:
    from runid.capture import CaptureError, CaptureWarning, Recorder
    from runid.integrations.openai import create_response

    openai = pytest.importorskip("openai")
    httpx = _http_library()
    transport, seen = _responses_transport(False)
    client = openai.OpenAI(
        base_url=BASE, api_key=CANARY, max_retries=0, http_client=httpx.Client(transport=transport)
    )
    strict = _recorder(tmp_path)
    lenient = Recorder(home=strict.home, on_error="warn")
    request = {"model": "m", "input": [{"type": "web_search_call", "id": "ws_1"}]}
    with pytest.warns(CaptureWarning, match="item type"):
        _response, run = create_response(client, recorder=lenient, **request)
    assert len(seen) == 1 and not run.recorded and run.declaration_id is None
    with pytest.raises(CaptureError) as failed:
        create_response(client, recorder=strict, **request)
    assert failed.value.code == "E_REQUEST" and isinstance(failed.value.cause, InputError)
    assert len(seen) == 1  # on_error="raise": refused before anything is sent


def test_a_request_runid_cannot_declare_still_runs(
    llama_server: LlamaServer, tmp_path: Path
) -> None:
    from runid.capture import CaptureError, CaptureWarning, Recorder
    from runid.integrations.openai import create_chat

    strict = _recorder(tmp_path)
    lenient = Recorder(home=strict.home, on_error="warn")
    # llama.cpp's server ignores the unknown field; v1 cannot name a parameter "Top-K".
    request = _request(max_tokens=8, extra_body={"Top-K": 1})
    with pytest.warns(CaptureWarning, match="not a valid name"):
        response, run = create_chat(_client(llama_server), recorder=lenient, **request)
    assert response.choices[0].message.content and not run.recorded
    assert run.declaration_id is None
    with pytest.raises(CaptureError, match="not a valid name") as failed:
        create_chat(_client(llama_server), recorder=strict, **request)
    assert failed.value.code == "E_REQUEST"
