"""The LiteLLM callback: ``litellm.completion`` / ``acompletion`` against the local llama.cpp
server (SmolLM2-135M-Instruct) as an OpenAI-compatible endpoint, every call a recorded run.

``pip install -e '.[litellm]'`` (skipped with the reason when it is missing). LiteLLM's model
cost map is read from the copy inside the package (``LITELLM_LOCAL_MODEL_COST_MAP``, set before
LiteLLM is imported): no test here reaches the network.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_TELEMETRY", "False")

import runid
from llama_server import LlamaServer, llama_server_fixture
from runid.capture import Recorder, Run
from runid.digest import content_digest
from runid.examples import example
from runid.home import Home
from runid.log import Log

litellm = pytest.importorskip(
    "litellm", reason="litellm is not installed (pip install -e '.[litellm]')"
)
import openai  # noqa: E402

from runid.integrations import litellm as runid_litellm  # noqa: E402
from runid.integrations.openai import create_chat  # noqa: E402

llama_server = llama_server_fixture()
# LiteLLM's own warnings (third-party: pydantic on its TypedDicts, ...), not the test's.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Items? .* (is|are) using the `ReadOnly` qualifier:UserWarning"
)

QUESTION = [
    {"role": "system", "content": "You answer in one short sentence."},
    {"role": "user", "content": "What is the capital of France?"},
]
DOWN = "http://127.0.0.1:9/v1"  # the discard port: nothing listens


@pytest.fixture(autouse=True)
def event_loop_for_litellm() -> Iterator[None]:
    """A failed sync call makes LiteLLM ask for the thread's event loop
    (``asyncio.get_event_loop()``), which creates one it never closes: give it one, closed
    after the test."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield
    finally:
        asyncio.set_event_loop(None)
        loop.close()


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/litellm")
    return home


@pytest.fixture
def ended(home: Home) -> Iterator[list[Run]]:
    runs: list[Run] = []
    runid_litellm.instrument(Recorder(home, on_error="raise"), on_run=runs.append)
    try:
        yield runs
    finally:
        runid_litellm.uninstrument()


def _call(server: LlamaServer, **kwargs: Any) -> Any:
    request: dict[str, Any] = {
        "model": f"openai/{server.model}", "api_base": server.base_url, "api_key": "unused",
        "messages": QUESTION, "temperature": 0, "max_tokens": 12, "max_retries": 0,
    }  # fmt: skip
    return litellm.completion(**{**request, **kwargs})


def _logged(home: Home) -> list[str]:
    """The execution ids in the home's log, in order."""
    with Log.open(home, need_key=False, readonly=True) as log:
        return [log.entry(i).record["execution_id"] for i in range(log.size())]


def _last() -> Run:
    run = runid.last_run()
    assert run is not None
    assert runid_litellm.wait(run)  # LiteLLM reports success from its logging thread
    return run


def test_completion_and_stream(llama_server: LlamaServer, ended: list[Run], home: Home) -> None:
    response = _call(llama_server)
    run = _last()
    assert ended == [run] and run.recorded and run.record is not None
    assert run.declaration is not None and run.execution_id is not None
    text = response.choices[0].message.content
    assert run.outputs[0]["digest"] == content_digest(text.encode())
    params = run.declaration["parameters"]
    assert params["temperature"] == {"source": "declared", "value": 0}
    assert params["max_tokens"] == {"source": "declared", "value": 12}
    assert params["seed"] == {"source": "provider_default"}
    assert run.declaration["model"]["name"] == "smollm2"  # as sent, without "openai/"
    observed = run.record["observed"]
    assert observed["served_model"] == "smollm2"
    assert observed["response_id"] == response.id
    assert observed["usage"]["output_tokens"] == response.usage.completion_tokens
    assert observed["finish_reason"] in ("stop", "length")
    assert observed["endpoint"] == llama_server.base_url

    chunks = _call(llama_server, stream=True)
    streamed_text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    streamed = _last()
    assert streamed is not run and streamed.recorded and streamed.record is not None
    assert streamed.declaration_id == run.declaration_id  # streaming is not a condition
    assert streamed_text == text  # temperature 0
    assert streamed.outputs == run.outputs
    # LiteLLM counts a stream's tokens itself when the server sent no usage: not a fact.
    assert streamed.record["observed"]["usage"] == {"absent": "not_recorded"}
    assert _logged(home) == [run.execution_id, streamed.execution_id]


def test_the_declaration_is_the_openai_adapters(
    llama_server: LlamaServer, ended: list[Run], home: Home
) -> None:
    """The request LiteLLM sends, declared as the OpenAI adapter declares it: the same call
    made with the openai client has the same declaration id."""
    _call(llama_server, seed=7, stop=["\n"])
    run = _last()
    client = openai.OpenAI(base_url=llama_server.base_url, api_key="unused", max_retries=0)
    try:
        _response, direct = create_chat(
            client, recorder=Recorder(home), model="smollm2", messages=QUESTION,
            temperature=0, max_tokens=12, seed=7, stop=["\n"],
        )  # fmt: skip
    finally:
        client.close()
    assert direct.declaration_id == run.declaration_id

    # runid.instrument() patches chat.completions.create; LiteLLM posts below it: one run.
    runid.instrument(recorder=Recorder(home))
    try:
        _call(llama_server)
        assert runid_litellm.wait()
    finally:
        runid.uninstrument()
    assert len(ended) == 2


def test_context_and_tools(llama_server: LlamaServer, ended: list[Run]) -> None:
    context = example("rag-retrieved-chunks")["context"]
    with runid.context(context=context) as runs:
        _call(llama_server)
    assert runs == [_last()] and runs[0].declaration is not None
    assert runs[0].declaration["context"] == context

    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]},
        },
    }  # fmt: skip
    _call(
        llama_server,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[weather],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    run = _last()
    assert run.declaration is not None and run.recorded
    assert run.declaration["tools"]["choice"] == {"name": "get_weather"}
    assert [d["name"] for d in run.declaration["tools"]["definitions"]] == ["get_weather"]


def test_async_calls(llama_server: LlamaServer, ended: list[Run]) -> None:
    async def main() -> tuple[Run, Run, str, str]:
        request: dict[str, Any] = {
            "model": f"openai/{llama_server.model}", "api_base": llama_server.base_url,
            "api_key": "unused", "messages": QUESTION, "temperature": 0, "max_tokens": 12,
        }  # fmt: skip
        response = await litellm.acompletion(**request)
        first = runid.last_run()
        assert first is not None and await runid_litellm.wait_async(first)
        stream = await litellm.acompletion(**request, stream=True)
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
        second = runid.last_run()
        assert second is not None and await runid_litellm.wait_async(second)
        return first, second, response.choices[0].message.content, text

    first, second, text, streamed_text = asyncio.run(main())
    assert first.recorded and second.recorded and first is not second
    assert first.declaration_id == second.declaration_id
    assert text == streamed_text
    assert first.outputs[0]["digest"] == content_digest(text.encode())
    assert ended == [first, second]


def test_a_failed_call_is_an_error_record(ended: list[Run], home: Home) -> None:
    """The server is down: LiteLLM raises, the run is recorded as failed; nothing else."""
    with pytest.raises(Exception, match="Connection error"):
        litellm.completion(
            model="openai/smollm2", api_base=DOWN, api_key="unused", messages=QUESTION,
            max_retries=0,
        )  # fmt: skip
    run = _last()  # a failure is reported before the exception reaches the caller
    assert run.record is not None and run.recorded
    assert run.record["outcome"]["status"] == "error"
    assert run.outputs == []
    assert run.record["observed"]["endpoint"] == DOWN

    async def fail() -> Run:
        with pytest.raises(Exception, match="Connection error"):
            await litellm.acompletion(
                model="openai/smollm2", api_base=DOWN, api_key="unused", messages=QUESTION,
                max_retries=0,
            )  # fmt: skip
        failed = runid.last_run()
        assert failed is not None and await runid_litellm.wait_async(failed)
        return failed

    failed = asyncio.run(fail())
    assert failed is not run and failed.record is not None
    assert failed.record["outcome"]["status"] == "error"
    assert _logged(home) == [run.execution_id, failed.execution_id]  # nothing half-written
    assert ended == [run, failed]


def test_another_provider_is_declared_from_litellms_view(ended: list[Run]) -> None:
    """A provider LiteLLM does not reach through the openai client (here a mocked Anthropic
    call: nothing is sent) is declared under its name, with LiteLLM's effective parameters."""
    litellm.completion(
        model="anthropic/claude-test", messages=QUESTION, max_tokens=8, temperature=0.5,
        mock_response="Paris.",
    )  # fmt: skip
    run = _last()
    assert run.declaration is not None and run.recorded
    assert run.declaration["model"]["provider"] == "anthropic"
    assert run.declaration["model"]["name"] == "claude-test"
    assert run.declaration["runtime"]["engine"]["name"] == "litellm:anthropic"
    assert "litellm" in run.declaration["runtime"]["libraries"]
    assert run.declaration["parameters"]["max_tokens"] == {"source": "declared", "value": 8}
    assert run.outputs[0]["digest"] == content_digest(b"Paris.")


def test_uninstrument_leaves_litellm_clean(home: Home) -> None:
    def lists() -> dict[str, list[Any]]:
        return {
            name: list(value)
            for name in dir(litellm)
            if not name.startswith("__") and isinstance(value := getattr(litellm, name), list)
        }

    before = lists()
    made = runid_litellm.instrument(Recorder(home))
    assert runid_litellm.instrumented() and made in litellm.callbacks
    litellm.completion(model="openai/x", messages=QUESTION, mock_response="ok")  # copies it
    assert runid_litellm.wait()
    runid_litellm.uninstrument()
    assert not runid_litellm.instrumented()
    after = lists()
    assert not [name for name, value in after.items() if any(x is made for x in value)]
    assert after == before
    runid_litellm.uninstrument()  # again: nothing to do
