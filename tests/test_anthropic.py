"""The Anthropic adapter: the real ``anthropic`` client over HTTP, against recorded exchanges.

No server that speaks Anthropic's Messages API can run here (no local model serves it, and
the tests make no calls to Anthropic's API). So the real client (``pip install anthropic``) talks
HTTP to a stdlib ``http.server`` on 127.0.0.1 that replays Messages API exchanges recorded in
the shapes Anthropic documents (https://docs.anthropic.com/en/api/messages,
.../en/docs/build-with-claude/streaming): a text answer, a tool use, each plain and as
server-sent events, and a 401. The exchange is a stand-in; the client, its HTTP and streaming
code, and runid's capture are real.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import runid
from runid.capture import Recorder, Run
from runid.digest import content_digest
from runid.home import Home
from runid.integrations.anthropic import (
    ENGINE,
    MessageStreamAccumulator,
    acreate_message,
    create_message,
    declaration_from_messages_request,
    message_output_bytes,
)

anthropic = pytest.importorskip(
    "anthropic", reason="anthropic is not installed (pip install anthropic)"
)

CANARY = "sk-ant-runid-canary-5d1e7c"
MODEL = "claude-3-5-haiku-20241022"
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
USAGE = {"input_tokens": 21, "output_tokens": 10, "cache_creation_input_tokens": 0,
         "cache_read_input_tokens": 0}  # fmt: skip
TEXT_MESSAGE = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant", "model": MODEL,
    "content": [{"type": "text", "text": "The capital of France is Paris."}],
    "stop_reason": "end_turn", "stop_sequence": None, "usage": USAGE,
}  # fmt: skip
TOOL_MESSAGE = {
    "id": "msg_01Aq9w938a90dw8q", "type": "message", "role": "assistant", "model": MODEL,
    "content": [
        {"type": "text", "text": "I'll check the weather in Paris."},
        {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
         "input": {"city": "Paris"}},
    ],
    "stop_reason": "tool_use", "stop_sequence": None, "usage": USAGE,
}  # fmt: skip


def _events(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The server-sent events of ``message`` as the Messages API streams it."""
    start = {**message, "content": [], "stop_reason": None,
             "usage": {**USAGE, "output_tokens": 1}}  # fmt: skip
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}, {"type": "ping"}]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            events.append({"type": "content_block_start", "index": index,
                           "content_block": {"type": "text", "text": ""}})  # fmt: skip
            text = block["text"]
            for part in (text[: len(text) // 2], text[len(text) // 2 :]):
                events.append({"type": "content_block_delta", "index": index,
                               "delta": {"type": "text_delta", "text": part}})  # fmt: skip
        else:
            events.append({"type": "content_block_start", "index": index,
                           "content_block": {**block, "input": {}}})  # fmt: skip
            arguments = json.dumps(block["input"])
            for part in (arguments[:5], arguments[5:]):
                delta = {"type": "input_json_delta", "partial_json": part}
                events.append({"type": "content_block_delta", "index": index, "delta": delta})
        events.append({"type": "content_block_stop", "index": index})
    events.append({"type": "message_delta",
                   "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                   "usage": {"output_tokens": USAGE["output_tokens"]}})  # fmt: skip
    events.append({"type": "message_stop"})
    return events


class Replay(BaseHTTPRequestHandler):
    """POST /v1/messages: the recorded answer to a request like the one received."""

    received: list[tuple[dict[str, str], dict[str, Any]]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.received.append((dict(self.headers), body))
        if "sk-ant-wrong" in str(self.headers) or self.path != "/v1/messages":
            error = {"type": "authentication_error", "message": "invalid x-api-key"}
            self._send(
                401, "application/json", json.dumps({"type": "error", "error": error}).encode()
            )
            return
        message = TOOL_MESSAGE if body.get("tools") else TEXT_MESSAGE
        if not body.get("stream"):
            self._send(200, "application/json", json.dumps(message).encode())
            return
        text = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in _events(message))
        self._send(200, "text/event-stream", text.encode())

    def _send(self, status: int, media: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", media)
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", "req_01canned")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[tuple[dict[str, str], dict[str, Any]]]]]:
    received: list[tuple[dict[str, str], dict[str, Any]]] = []
    handler = type("Handler", (Replay,), {"received": received})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", received
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def recorder(tmp_path: Path) -> Recorder:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/anthropic")
    return Recorder(home, on_error="raise")


def _client(url: str, **kwargs: Any) -> Any:
    return anthropic.Anthropic(base_url=url, api_key=CANARY, max_retries=0, **kwargs)


def _request(**overrides: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 64,
        "system": "You answer in one short sentence.",
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "extra_body": {"temperature": 0},  # the SDK 2 way: temperature is not a keyword
        **overrides,
    }


def _no_canary(home: Path) -> None:
    for path in home.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path


# --- the pure mapping ----------------------------------------------------------------------------


def test_the_declaration_lists_every_sampling_parameter() -> None:
    decl, blobs = declaration_from_messages_request(
        {**_request(), "stop_sequences": ["\n\n"], "metadata": {"user_id": "u-1"},
         "tools": [WEATHER], "tool_choice": {"type": "any", "disable_parallel_tool_use": True}},
    )  # fmt: skip
    params = decl["parameters"]
    assert params["max_tokens"] == {"source": "declared", "value": 64}
    assert params["temperature"] == {"source": "declared", "value": 0}  # from extra_body
    assert params["stop_sequences"] == {"source": "declared", "value": ["\n\n"]}
    assert params["disable_parallel_tool_use"] == {"source": "declared", "value": True}
    for name in ("top_p", "top_k", "thinking"):  # Anthropic applies its own: never silent
        assert params[name] == {"source": "provider_default"}
    assert "metadata" not in params  # bookkeeping, not a condition
    assert decl["model"]["provider"] == "anthropic"
    assert decl["model"]["version"] == MODEL  # a dated model id is its own version
    assert decl["model"]["weights"] == {"absent": "undisclosed"}  # on Anthropic's API
    assert decl["tools"]["choice"] == "required"  # "any": some tool must be used
    assert decl["runtime"]["engine"]["name"] == ENGINE
    assert b"You answer in one short sentence." in blobs.values()
    # Each condition moves the id; the same request gives the same id.
    from runid.identity import compute_identity

    same, _ = declaration_from_messages_request(_request())
    other, _ = declaration_from_messages_request(_request(max_tokens=65))
    first = compute_identity(same).declaration_id
    assert (
        compute_identity(declaration_from_messages_request(_request())[0]).declaration_id == first
    )
    assert compute_identity(other).declaration_id != first
    elsewhere, _ = declaration_from_messages_request(_request(), base_url="http://127.0.0.1:1")
    assert elsewhere["model"]["weights"] == {"absent": "not_recorded"}  # not Anthropic's API


def test_a_request_v1_cannot_carry_is_e_request() -> None:
    with pytest.raises(runid.InputError) as caught:
        declaration_from_messages_request({**_request(), "tool_choice": {"type": "maybe"},
                                           "tools": [WEATHER]})  # fmt: skip
    assert caught.value.code == "E_REQUEST"


def test_stream_accumulator_gives_the_whole_messages_output() -> None:
    for message in (TEXT_MESSAGE, TOOL_MESSAGE):
        acc = MessageStreamAccumulator()
        for event in _events(message):
            acc.add(event)
        assert acc.output_bytes() == message_output_bytes(message)
        assert acc.facts()["finish_reason"] == message["stop_reason"]
    assert message_output_bytes(TEXT_MESSAGE) == b"The capital of France is Paris."
    assert json.loads(message_output_bytes(TOOL_MESSAGE))[1] == {
        "type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
        "input": {"city": "Paris"},
    }  # fmt: skip


# --- the real client -----------------------------------------------------------------------------


def test_a_message_is_declared_called_and_recorded(server: Any, recorder: Recorder) -> None:
    url, received = server
    message, run = create_message(_client(url), recorder=recorder, **_request())
    assert type(message) is anthropic.types.Message
    assert run.recorded and run.declaration is not None and run.record is not None
    headers, body = received[-1]
    assert body["temperature"] == 0 and body["max_tokens"] == 64  # sent as given
    assert run.declaration["model"]["weights"] == {"absent": "not_recorded"}  # not Anthropic's
    observed = run.record["observed"]
    assert observed["served_model"] == MODEL
    assert observed["response_id"] == TEXT_MESSAGE["id"]
    assert observed["finish_reason"] == "end_turn"
    assert observed["usage"]["input_tokens"] == 21 and observed["usage"]["output_tokens"] == 10
    assert observed["endpoint"] == url
    assert run.outputs[0]["digest"] == content_digest(b"The capital of France is Paris.")
    assert CANARY in str(headers)  # the key went to the server ...
    _no_canary(recorder.home.path)  # ... and nowhere into runid's home


def test_a_stream_has_the_same_declaration_and_output(server: Any, recorder: Recorder) -> None:
    url, _ = server
    client = _client(url)
    _, whole = create_message(client, recorder=recorder, **_request())
    stream, run = create_message(client, recorder=recorder, stream=True, **_request())
    assert run.declaration_id == whole.declaration_id and not run.recorded
    events = list(stream)
    assert events[0].type == "message_start" and events[-1].type == "message_stop"
    assert run.recorded and run.outputs == whole.outputs
    assert run.record is not None and run.record["observed"]["usage"]["output_tokens"] == 10


def test_tool_use_plain_and_streamed_then_the_result_fed_back(
    server: Any, recorder: Recorder
) -> None:
    url, _ = server
    client = _client(url)
    request = _request(tools=[WEATHER], tool_choice={"type": "auto"})
    message, run = create_message(client, recorder=recorder, **request)
    assert message.stop_reason == "tool_use"
    assert run.declaration is not None and run.declaration["tools"]["choice"] == "auto"
    assert run.outputs[0]["media_type"] == "application/json"
    stream, streamed = create_message(client, recorder=recorder, stream=True, **request)
    list(stream)
    assert streamed.outputs == run.outputs  # tool input from JSON deltas: the same digest
    call = message.content[1]
    follow_up = [*request["messages"], {"role": "assistant", "content": message.content},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                               "content": "18 C, clear"}]}]  # fmt: skip
    _, second = create_message(client, recorder=recorder, **{**request, "messages": follow_up})
    assert second.declaration is not None
    assert [m["role"] for m in second.declaration["inputs"]["messages"]] == [
        "user", "assistant", "user"]  # fmt: skip
    assert second.declaration["inputs"]["messages"][2]["content"]["media_type"] == (
        "application/json"
    )


def test_async_plain_and_streamed(server: Any, recorder: Recorder) -> None:
    url, _ = server

    async def app() -> tuple[Run, Run]:
        client = anthropic.AsyncAnthropic(base_url=url, api_key=CANARY, max_retries=0)
        _, plain = await acreate_message(client, recorder=recorder, **_request())
        stream, streamed = await acreate_message(client, recorder=recorder, stream=True,
                                                 **_request())  # fmt: skip
        [event async for event in stream]
        await client.close()
        return plain, streamed

    plain, streamed = asyncio.run(app())
    assert plain.recorded and streamed.recorded
    assert streamed.declaration_id == plain.declaration_id and streamed.outputs == plain.outputs


def test_a_rejected_call_is_recorded_without_the_key(server: Any, recorder: Recorder) -> None:
    url, _ = server
    client = anthropic.Anthropic(base_url=url, api_key="sk-ant-wrong", max_retries=0)
    ended: list[Run] = []
    runid.instrument(client, recorder=recorder, on_run=ended.append)
    try:
        with pytest.raises(anthropic.AuthenticationError):
            client.messages.create(**_request())
    finally:
        runid.uninstrument(client)
    (run,) = ended
    assert run.record is not None and run.record["outcome"]["status"] == "error"
    assert run.record["outcome"]["error"]["type"] == "AuthenticationError"
    for path in recorder.home.path.rglob("*"):
        if path.is_file():
            assert b"sk-ant-wrong" not in path.read_bytes(), path


def test_instrumented_create_and_stream_helper(server: Any, recorder: Recorder) -> None:
    import importlib

    url, _ = server
    messages = importlib.import_module("anthropic.resources.messages")
    before = (messages.Messages.__dict__["create"], messages.Messages.__dict__["stream"])
    ended: list[Run] = []
    runid.instrument(recorder=recorder, on_run=ended.append)
    try:
        client = _client(url)
        message = client.messages.create(**_request())  # the app's call, unchanged
        assert type(message) is anthropic.types.Message
        plain = runid.last_run()
        stream = client.messages.create(stream=True, **_request())
        assert isinstance(stream, anthropic.Stream)
        list(stream)
        with client.messages.stream(**_request()) as helper:  # the SDK's helper
            final = helper.get_final_message()
        assert final.content[0].text == message.content[0].text

        async def app() -> Any:
            async_client = anthropic.AsyncAnthropic(base_url=url, api_key=CANARY, max_retries=0)
            async with async_client.messages.stream(**_request()) as events:
                answer = await events.get_final_message()
            await async_client.close()
            return answer

        assert asyncio.run(app()).content[0].text == message.content[0].text
    finally:
        runid.uninstrument()
    assert (messages.Messages.__dict__["create"], messages.Messages.__dict__["stream"]) == before
    assert plain is not None and len(ended) == 4 and all(run.recorded for run in ended)
    assert {run.declaration_id for run in ended} == {plain.declaration_id}
    assert all(run.outputs == plain.outputs for run in ended)
    _no_canary(recorder.home.path)


def test_opentelemetry_next_to_the_sdks_own_spans(
    server: Any, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK opens a span of its own inside the call (on by default): runid's run span is
    its sibling. With the SDK's spans off, runid's span is the call's one GenAI span."""
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    url, _ = server
    found = []
    for option in ({}, {"open_telemetry": False}):
        memory.clear()
        _, run = create_message(_client(url, **option), recorder=recorder, **_request())
        spans = memory.get_finished_spans()
        found.append(sorted(s.name for s in spans))
        ours = [s for s in spans if (s.attributes or {}).get("runid.execution_id")]
        assert [dict(s.attributes or {})["runid.execution_id"] for s in ours] == [run.execution_id]
    assert found == [
        ["anthropic.messages.create", f"chat {MODEL}"],
        [f"chat {MODEL}"],
    ]
    provider.shutdown()
