"""``runid.instrument()``: an existing OpenAI app recorded without changing its calls.

The real ``openai`` client against a real OpenAI-compatible server (llama.cpp serving
SmolLM2-135M-Instruct on 127.0.0.1: the ``llama_server`` fixture); the Responses API, which that
server does not speak, against a canned HTTP exchange. Alongside OpenLLMetry's
``OpenAIInstrumentor`` (``pip install opentelemetry-instrumentation-openai``), with the SDK's
in-memory span exporter: one span per call, carrying runid's ids, whichever was instrumented
first.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import runid
from llama_server import LlamaServer, llama_server_fixture
from runid.capture import Recorder, Run
from runid.examples import example
from runid.home import Home
from runid.integrations.openai import declaration_from_chat_request

openai = pytest.importorskip(
    "openai", reason="openai is not installed (pip install -e '.[openai]')"
)

llama_server = llama_server_fixture()

QUESTION = [
    {"role": "system", "content": "You answer in one short sentence."},
    {"role": "user", "content": "What is the capital of France?"},
]


def _request(**overrides: Any) -> dict[str, Any]:
    return {"model": "smollm2", "messages": QUESTION, "temperature": 0, "max_tokens": 16,
            **overrides}  # fmt: skip


@pytest.fixture
def recorder(tmp_path: Path) -> Recorder:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/instrument")
    return Recorder(home, on_error="raise")


def _methods() -> list[Any]:
    import importlib

    chat = importlib.import_module("openai.resources.chat.completions")
    responses = importlib.import_module("openai.resources.responses")
    return [
        chat.Completions.__dict__["create"],
        chat.AsyncCompletions.__dict__["create"],
        responses.Responses.__dict__["create"],
        responses.AsyncResponses.__dict__["create"],
    ]


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    """Every test leaves the SDK classes as it found them."""
    before = _methods()
    yield
    runid.uninstrument()
    for client in _instrumented_clients:
        runid.uninstrument(client)
    _instrumented_clients.clear()
    assert all(a is b for a, b in zip(before, _methods(), strict=True))


_instrumented_clients: list[Any] = []


def _client(server: LlamaServer, **kwargs: Any) -> Any:
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, **kwargs)


def _declaration_id(server: LlamaServer, request: dict[str, Any]) -> str:
    from runid.identity import compute_identity

    declaration, _ = declaration_from_chat_request(request, base_url=server.base_url)
    return compute_identity(declaration).declaration_id


# --- the one line -------------------------------------------------------------------------------


def test_one_line_records_every_call_and_keeps_the_return_types(
    llama_server: LlamaServer, recorder: Recorder
) -> None:
    client = _client(llama_server)
    original = _methods()[0]
    ended: list[Run] = []
    runid.instrument(recorder=recorder, on_run=ended.append)
    assert runid.instrumented()

    response = client.chat.completions.create(**_request())  # the app's call, unchanged
    assert type(response) is openai.types.chat.ChatCompletion
    run = runid.last_run()
    assert run is not None and run.recorded and ended == [run]
    assert run.declaration_id == _declaration_id(llama_server, _request())
    assert run.record is not None
    assert run.record["observed"]["served_model"] == response.model
    assert run.record["observed"]["endpoint"] == llama_server.base_url
    text = response.choices[0].message.content or ""
    assert run.outputs[0]["size"] == len(text.encode())

    # A second client made after instrument() is recorded too (the classes are patched).
    again = _client(llama_server).chat.completions.create(**_request())
    second = runid.last_run()
    assert second is not None and second is not run and ended[-1] is second
    assert second.declaration_id == run.declaration_id  # same request, same declaration
    assert again.choices[0].message.content == text  # temperature 0

    runid.uninstrument()
    assert _methods()[0] is original
    client.chat.completions.create(**_request(max_tokens=2))
    assert runid.last_run() is second  # not recorded any more


def test_a_stream_is_the_sdks_stream_and_recorded_when_it_ends(
    llama_server: LlamaServer, recorder: Recorder
) -> None:
    client = _client(llama_server)
    ended: list[Run] = []
    runid.instrument(recorder=recorder, on_run=ended.append)
    whole = client.chat.completions.create(**_request())
    plain = runid.last_run()
    stream = client.chat.completions.create(**_request(stream=True))
    assert isinstance(stream, openai.Stream)
    assert stream.response.status_code == 200  # the SDK stream's own attributes
    run = runid.last_run()
    assert run is not None and run is not plain and not run.recorded
    assert run.declaration_id == plain.declaration_id  # fixed before the request was sent
    chunks = list(stream)
    assert all(type(c) is openai.types.chat.ChatCompletionChunk for c in chunks)
    assert run.recorded and ended[-1] is run
    assert run.outputs == plain.outputs  # same output digest at temperature 0
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content

    # Closed early, in a with block: what was received is recorded, on_run called once.
    with client.chat.completions.create(**_request(stream=True)) as early:
        next(early)
    assert ended[-1] is runid.last_run() and ended[-1].recorded
    assert len(ended) == 3

    # The SDK's stream helper goes through create(stream=True): recorded too.
    with client.chat.completions.stream(**_request()) as helper:
        final = helper.get_final_completion()
    assert ended[-1].recorded and ended[-1].declaration_id == plain.declaration_id
    assert final.choices[0].message.content == text


def test_async_calls_plain_and_streamed(llama_server: LlamaServer, recorder: Recorder) -> None:
    ended: list[Run] = []
    runid.instrument(recorder=recorder, on_run=ended.append)

    async def app() -> tuple[Any, Run | None, str, Run | None]:
        client = openai.AsyncOpenAI(base_url=llama_server.base_url, api_key="unused")
        response = await client.chat.completions.create(**_request())
        first = runid.last_run()
        stream = await client.chat.completions.create(**_request(stream=True))
        assert isinstance(stream, openai.AsyncStream)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        await client.close()
        return response, first, text, runid.last_run()

    response, first, text, streamed = asyncio.run(app())
    assert type(response) is openai.types.chat.ChatCompletion
    assert first is not None and first.recorded and streamed is not None and streamed.recorded
    assert streamed.declaration_id == first.declaration_id
    assert text == response.choices[0].message.content
    assert ended == [first, streamed]


def test_one_client_only(llama_server: LlamaServer, recorder: Recorder) -> None:
    mine, other = _client(llama_server), _client(llama_server)
    from runid.integrations.openai import instrument, uninstrument

    instrument(mine, recorder=recorder)
    _instrumented_clients.append(mine)
    assert runid.instrumented(mine) and not runid.instrumented(other)
    before = runid.last_run()
    other.chat.completions.create(**_request(max_tokens=2))
    assert runid.last_run() is before  # not recorded
    mine.chat.completions.create(**_request(max_tokens=2))
    assert runid.last_run() is not None and runid.last_run().recorded
    uninstrument(mine)
    assert not runid.instrumented(mine)


def test_context_declares_what_the_request_cannot_show(
    llama_server: LlamaServer, recorder: Recorder
) -> None:
    from runid.integrations.templates import instruction_template

    client = _client(llama_server)
    runid.instrument(recorder=recorder)
    context = example("rag-retrieved-chunks")["context"]  # what a retrieval declares
    template, contents = instruction_template(
        "short-answer", "You answer in {style}.", variables={"style": "one short sentence"}
    )
    first = client.chat.completions.create(**_request(max_tokens=2))
    parent = runid.last_run()
    assert parent is not None
    with runid.context(
        context=context, template=template, contents=contents, parent=parent
    ) as runs:
        client.chat.completions.create(**_request(max_tokens=2))
        with runid.context(step=2):  # blocks nest
            client.chat.completions.create(**_request(max_tokens=2))
    assert first is not None and len(runs) == 2
    for run in runs:
        assert run.declaration is not None and run.record is not None
        assert run.declaration["context"] == context
        assert run.declaration["instructions"]["template"] == template
        assert run.record["parent"]["execution_id"] == parent.execution_id
        assert run.declaration_id != parent.declaration_id  # the context is a condition
    assert [run.record["parent"]["step"] for run in runs if run.record] == [0, 2]
    client.chat.completions.create(**_request(max_tokens=2))
    assert runid.last_run().declaration["context"] == {"absent": "not_recorded"}  # block over
    with pytest.raises(runid.RunidError, match="does not take"), runid.context(contxt=context):
        pass


def test_one_call_one_run(llama_server: LlamaServer, recorder: Recorder) -> None:
    """An explicit create_chat on an instrumented client is one run; a with_raw_response call
    (LangChain's ChatOpenAI makes those) is recorded and returns the raw response; a
    with_streaming_response call, whose body the caller reads, passes through."""
    from runid.digest import content_digest
    from runid.integrations.openai import create_chat

    client = _client(llama_server)
    runid.instrument(recorder=recorder)
    _, explicit = create_chat(client, recorder=recorder, **_request(max_tokens=2))
    raw = client.chat.completions.with_raw_response.create(**_request(max_tokens=2))
    assert type(raw).__name__ == "LegacyAPIResponse" and raw.headers  # as the SDK gives it
    parsed = raw.parse()
    raw_run = runid.last_run()
    assert raw_run is not None and raw_run.recorded
    assert raw_run.declaration_id == explicit.declaration_id
    text = parsed.choices[0].message.content or ""
    assert raw_run.outputs[0]["digest"] == content_digest(text.encode())
    with client.chat.completions.with_streaming_response.create(**_request(max_tokens=2)) as http:
        assert http.parse().choices
    assert runid.last_run() is raw_run  # not recorded
    client.chat.completions.create(**_request(max_tokens=2))
    last = runid.last_run()
    assert [explicit.entry_index, raw_run.entry_index] == [0, 1]
    assert last is not None and last.entry_index == 2


def test_a_failed_call_is_recorded_with_its_error(recorder: Recorder) -> None:
    client = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="unused", max_retries=0)
    ended: list[Run] = []
    runid.instrument(recorder=recorder, on_run=ended.append)
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(**_request())
    run = runid.last_run()
    assert run is not None and run.record is not None and ended == [run]
    assert run.record["outcome"]["status"] == "error"


# --- the Responses API (a canned exchange: no local server speaks it) ------------------------


def _responses_client(stream: bool, *, use_async: bool = False) -> Any:
    import importlib

    httpx = importlib.import_module(openai.DefaultHttpxClient.__mro__[1].__module__.split(".")[0])
    body = {
        "id": "resp_1", "object": "response", "created_at": 1, "status": "completed",
        "model": "gpt-4.1-mini-2025-04-14", "parallel_tool_calls": True, "tool_choice": "auto",
        "tools": [], "output": [{"type": "message", "id": "msg_1", "role": "assistant",
        "status": "completed", "content": [{"type": "output_text", "text": "Paris.",
        "annotations": []}]}], "usage": {"input_tokens": 9, "output_tokens": 2,
        "total_tokens": 11, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0}},
    }  # fmt: skip

    def handle(request: Any) -> Any:
        if not stream:
            return httpx.Response(200, json=body)
        events = [
            {"type": "response.created", "sequence_number": 0,
             "response": {**body, "status": "in_progress", "output": []}},
            {"type": "response.output_text.delta", "sequence_number": 1, "item_id": "msg_1",
             "output_index": 0, "content_index": 0, "delta": "Paris.", "logprobs": []},
            {"type": "response.completed", "sequence_number": 2, "response": body},
        ]  # fmt: skip
        text = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
        return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})

    transport = httpx.MockTransport(handle)
    if use_async:
        return openai.AsyncOpenAI(
            base_url="http://127.0.0.1:8080/v1", api_key="unused",
            http_client=httpx.AsyncClient(transport=transport),
        )  # fmt: skip
    return openai.OpenAI(
        base_url="http://127.0.0.1:8080/v1", api_key="unused",
        http_client=httpx.Client(transport=transport),
    )  # fmt: skip


@pytest.mark.parametrize("stream", [False, True])
def test_responses_api_sync_and_async(recorder: Recorder, stream: bool) -> None:
    from runid.integrations.openai import RESPONSES_ENGINE

    runid.instrument(recorder=recorder)
    request = {"model": "gpt-4.1-mini", "instructions": "Be terse.", "input": "Capital?"}
    result = _responses_client(stream).responses.create(stream=stream, **request)
    if stream:
        assert isinstance(result, openai.Stream)
        events = list(result)
        assert events[-1].type == "response.completed"
    else:
        assert type(result) is openai.types.responses.Response
    run = runid.last_run()
    assert run is not None and run.recorded and run.declaration is not None
    assert run.declaration["runtime"]["engine"]["name"] == RESPONSES_ENGINE
    assert run.record is not None and run.record["observed"]["response_id"] == "resp_1"

    async def app() -> Run | None:
        client = _responses_client(stream, use_async=True)
        answer = await client.responses.create(stream=stream, **request)
        if stream:
            assert isinstance(answer, openai.AsyncStream)
            [event async for event in answer]
        return runid.last_run()

    async_run = asyncio.run(app())
    assert async_run is not None and async_run.recorded
    assert async_run.declaration_id == run.declaration_id
    assert async_run.outputs == run.outputs
