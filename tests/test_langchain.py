"""The LangChain callback handler: ``langchain-openai``'s ``ChatOpenAI`` against the local
llama.cpp server (SmolLM2-135M-Instruct), every chat model call a recorded run.

``pip install langchain-openai`` (skipped with the reason when it is missing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import runid
from llama_server import LlamaServer, llama_server_fixture
from runid.canonical import canonicalize
from runid.capture import Recorder, Run
from runid.digest import content_digest
from runid.examples import example
from runid.home import Home

langchain_openai = pytest.importorskip(
    "langchain_openai", reason="langchain-openai is not installed (pip install langchain-openai)"
)
messages_module = pytest.importorskip("langchain_core.messages")
from runid.integrations.langchain import callback_handler  # noqa: E402

llama_server = llama_server_fixture()

QUESTION = [
    messages_module.SystemMessage("You answer in one short sentence."),
    messages_module.HumanMessage("What is the capital of France?"),
]


@pytest.fixture
def recorder(tmp_path: Path) -> Recorder:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/langchain")
    return Recorder(home, on_error="raise")


def _model(server: LlamaServer, **kwargs: Any) -> Any:
    # llama.cpp's server reads max_tokens (LangChain sends max_completion_tokens): extra_body.
    return langchain_openai.ChatOpenAI(
        model="smollm2", base_url=server.base_url, api_key="unused", temperature=0,
        max_retries=0, extra_body={"max_tokens": 12}, **kwargs,
    )  # fmt: skip


def test_invoke_and_stream_are_recorded(llama_server: LlamaServer, recorder: Recorder) -> None:
    ended: list[Run] = []
    handler = callback_handler(recorder, on_run=ended.append)
    model = _model(llama_server)
    answer = model.invoke(QUESTION, config={"callbacks": [handler]})
    assert isinstance(answer, messages_module.AIMessage)
    (run,) = ended
    assert runid.last_run() is run  # the handler runs in the caller's context
    assert run.recorded and run.declaration is not None and run.record is not None
    assert run.outputs[0]["digest"] == content_digest(answer.content.encode())
    params = run.declaration["parameters"]
    assert params["temperature"] == {"source": "declared", "value": 0.0}
    assert params["max_tokens"] == {"source": "declared", "value": 12}  # extra_body
    assert "model_name" not in params and "_type" not in params  # LangChain's bookkeeping
    observed = run.record["observed"]
    assert observed["served_model"] == "smollm2"
    assert observed["usage"]["output_tokens"] > 0
    assert observed["finish_reason"] in ("stop", "length")
    assert observed["endpoint"] == llama_server.base_url

    text = "".join(str(c.content) for c in model.stream(QUESTION, config={"callbacks": [handler]}))
    streamed = ended[-1]
    assert streamed is not run and streamed.recorded
    assert streamed.declaration_id == run.declaration_id  # streaming is not a condition
    assert text == answer.content  # temperature 0
    assert streamed.outputs == run.outputs


def test_the_handler_declares_what_chatopenai_sends(
    llama_server: LlamaServer, recorder: Recorder
) -> None:
    """The same call recorded from the wire (runid.instrument) has the same declaration."""
    handled: list[Run] = []
    model = _model(llama_server)
    model.invoke(
        QUESTION, config={"callbacks": [callback_handler(recorder, on_run=handled.append)]}
    )
    runid.instrument(recorder=recorder)
    try:
        # A new model: ChatOpenAI calls client.with_raw_response.create, which the SDK binds
        # once per client, when first used (a client used before instrument() keeps it).
        _model(llama_server).invoke(QUESTION)
        wire = runid.last_run()
    finally:
        runid.uninstrument()
    assert wire is not None and wire is not handled[0]
    assert wire.declaration_id == handled[0].declaration_id


def test_context_tools_and_errors(llama_server: LlamaServer, recorder: Recorder) -> None:
    ended: list[Run] = []
    handler = callback_handler(recorder, on_run=ended.append)
    context = example("rag-retrieved-chunks")["context"]
    with runid.context(context=context) as runs:
        _model(llama_server).invoke(QUESTION, config={"callbacks": [handler]})
    assert runs == ended[-1:] and ended[-1].declaration is not None
    assert ended[-1].declaration["context"] == context

    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]},
        },
    }  # fmt: skip
    tools = _model(llama_server).bind_tools([weather], tool_choice="get_weather")
    reply = tools.invoke([messages_module.HumanMessage("Weather in Paris?")],
                         config={"callbacks": [handler]})  # fmt: skip
    run = ended[-1]
    assert run.declaration is not None
    assert run.declaration["tools"]["choice"] == {"name": "get_weather"}
    if reply.tool_calls:  # the server honoured the forced choice: the output is the calls
        # LangChain keeps the parsed arguments only: they are recorded as it serializes them.
        (sent,) = messages_module.convert_to_openai_messages([reply])[0]["tool_calls"]
        calls = [{"id": sent["id"], "type": "function", "name": "get_weather",
                  "arguments": sent["function"]["arguments"]}]  # fmt: skip
        assert run.outputs[0]["media_type"] == "application/json"
        assert run.outputs[0]["digest"] == content_digest(canonicalize(calls))

    broken = langchain_openai.ChatOpenAI(
        model="smollm2", base_url="http://127.0.0.1:9/v1", api_key="unused", max_retries=0
    )
    with pytest.raises(Exception, match="Connection"):
        broken.invoke(QUESTION, config={"callbacks": [handler]})
    failed = ended[-1]
    assert failed.record is not None and failed.record["outcome"]["status"] == "error"
