"""The model behind an OpenAI-compatible server is the condition; where it is served is not
(ADR 0014). Real llama.cpp servers (llama-cpp-python serving SmolLM2-135M-Instruct) on loopback
ports, started and stopped here: the same model on another port gives the same declaration id,
a swapped model file gives another ``model`` component that ``runid diff`` names, and the probe
reads the server's sampler defaults.

Tests that start servers are ``model(subprocess=True)``: the model runs in the server process.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from llama_server import gguf_path, llama_server_fixture, skip_reason
from runid._cli import main
from runid.capture import Recorder
from runid.home import Home
from runid.identity import compute_identity

llama_server = llama_server_fixture()

NOT_RECORDED = {"absent": "not_recorded"}
QUESTION = [
    {"role": "system", "content": "You answer in one short sentence."},
    {"role": "user", "content": "What is the capital of France?"},
]


def _skip_without_server() -> Path:
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    pytest.importorskip("gguf")
    found = gguf_path()
    assert found is not None
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class _Served:
    base_url: str
    model: str = "smollm2"


@contextlib.contextmanager
def _serving(gguf: Path, log: Path) -> Iterator[_Served]:
    """llama-cpp-python's server on ``gguf`` at a free loopback port, until the block ends."""
    port = _free_port()
    command = [
        *(sys.executable, "-m", "llama_cpp.server", "--model", str(gguf)),
        *("--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port)),
        *("--n_ctx", "1024", "--n_threads", "2", "--n_threads_batch", "2", "--verbose", "False"),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    served = _Served(f"http://127.0.0.1:{port}/v1")
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not start:\n{log.read_text(errors='replace')[-2000:]}")
            with (
                contextlib.suppress(urllib.error.URLError, OSError),
                urllib.request.urlopen(f"{served.base_url}/models", timeout=2),
            ):
                break
            time.sleep(0.2)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/served")
    return home


def _client(base_url: str) -> Any:
    import openai

    return openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=180)


def _ask(server: Any, home: Home, **options: Any) -> Any:
    from runid.integrations.openai import create_chat
    from runid.integrations.served import llama_cpp_server

    client = _client(server.base_url)
    try:
        _response, run = create_chat(
            client,
            recorder=Recorder(home, on_error="raise"),
            served_model=llama_cpp_server,
            model=server.model,
            messages=QUESTION,
            temperature=0,
            seed=7,
            max_tokens=12,
            **options,
        )
    finally:
        client.close()
    assert run.recorded and run.declaration is not None and run.record is not None
    return run


def _rewrite_general_name(path: Path) -> None:
    """Another model file that still loads: the GGUF's ``general.name`` metadata reversed, in
    a new file renamed over the old one (as a deployment swaps a model)."""
    import gguf
    import numpy as np

    swapped = path.with_suffix(".new")
    shutil.copyfile(path, swapped)
    reader = gguf.GGUFReader(os.fspath(swapped), "r+")
    field = reader.fields["general.name"]
    raw = field.parts[field.data[0]]
    raw[:] = np.frombuffer(bytes(raw)[::-1], dtype=raw.dtype)
    raw.flush()
    del reader, field, raw
    os.replace(swapped, path)


def _diff(home: Home, a: str, b: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["diff", "--home", str(home.path), a, b, "--json"])
    assert result.exit_code in (0, 1), result.output
    report: dict[str, Any] = json.loads(result.output)
    return report


@pytest.mark.model(subprocess=True)
def test_the_same_model_on_another_port_has_the_same_declaration_id(tmp_path: Path) -> None:
    gguf = _skip_without_server()
    home = _home(tmp_path)
    runs = []
    for name in ("a", "b"):  # one server, restarted on another port
        with _serving(gguf, tmp_path / f"server-{name}.log") as server:
            runs.append(_ask(server, home, model_files=[gguf]))
    first, second = runs
    assert first.record["observed"]["endpoint"] != second.record["observed"]["endpoint"]
    assert first.declaration["model"]["endpoint"] == {"absent": "not_applicable"}
    assert first.declaration_id == second.declaration_id
    report = _diff(home, first.execution_id, second.execution_id)
    assert report["declaration"]["identical"] is True
    # Where the model was reached differs, and is reported as an observed fact.
    paths = [change["path"] for change in report["observed"]["changes"]]
    assert "observed.endpoint" in paths


@pytest.mark.model(subprocess=True)
def test_a_swapped_model_file_is_a_changed_model_component_that_diff_names(
    tmp_path: Path,
) -> None:
    gguf = _skip_without_server()
    home = _home(tmp_path)
    deployed = tmp_path / "models" / gguf.name
    deployed.parent.mkdir()
    shutil.copyfile(gguf, deployed)
    runs, unnamed = [], []
    for day in ("monday", "tuesday"):
        if day == "tuesday":
            _rewrite_general_name(deployed)  # the file behind the server is swapped
        with _serving(deployed, tmp_path / f"server-{day}.log") as server:
            runs.append(_ask(server, home, model_files=[deployed]))
            unnamed.append(_ask(server, home))
    monday, tuesday = runs
    assert monday.declaration["model"]["weights"][0]["name"] == gguf.name  # no directory
    assert monday.declaration_id != tuesday.declaration_id
    ca = compute_identity(monday.declaration).components
    cb = compute_identity(tuesday.declaration).components
    assert [name for name in ca if ca[name] != cb[name]] == ["model"]
    report = _diff(home, monday.execution_id, tuesday.execution_id)
    assert report["verdict"] == "different_declarations"
    assert report["declaration"]["components"]["model"] == "different"
    paths = {change["path"] for change in report["declaration"]["changes"]}
    assert {"model.weights[0].digest", "model.tokenizer[0].digest"} <= paths, paths
    # Without the file named, the declaration says the model is not known, both days: the same
    # id, and a model component that does not claim to know what was served.
    assert unnamed[0].declaration_id == unnamed[1].declaration_id
    for run in unnamed:
        model = run.declaration["model"]
        assert model["weights"] == model["tokenizer"] == NOT_RECORDED


def test_the_probe_reads_the_servers_sampler_defaults(llama_server: Any, tmp_path: Path) -> None:
    import llama_cpp

    run = _ask(llama_server, _home(tmp_path))
    params = run.declaration["parameters"]
    assert params["temperature"] == {"source": "declared", "value": 0}  # the request's
    # What the request leaves out, the server applies, and says so in its request schema.
    assert params["top_k"] == {"source": "default", "value": 40}
    assert params["min_p"] == {"source": "default", "value": 0.05}
    assert params["repeat_penalty"] == {"source": "default", "value": 1.1}
    assert params["top_p"] == {"source": "default", "value": 0.95}
    assert params["max_tokens"] == {"source": "declared", "value": 12}
    libraries = run.declaration["runtime"]["libraries"]
    assert libraries["server:llama-cpp-python"] == llama_cpp.__version__
    # llama-cpp-python's server does not report the file it loaded.
    assert run.declaration["model"]["weights"] == NOT_RECORDED
    assert run.record["observed"]["endpoint"] == llama_server.base_url


def test_a_replay_asks_the_same_kind_of_server_again(llama_server: Any, tmp_path: Path) -> None:
    from runid.integrations.openai import replay
    from runid.log import Log

    home = _home(tmp_path)
    gguf = gguf_path()
    assert gguf is not None
    original = _ask(llama_server, home, model_files=[gguf])
    with Log.open(home, need_key=False) as log:
        declaration = log.declaration(original.declaration_id)
    assert declaration is not None

    def stored(digest: str) -> bytes:
        with Log.open(home, need_key=False) as log:
            found = log.content(digest)
        assert found is not None
        return found

    recorder = Recorder(home, on_error="raise", replay_of=original.execution_id)
    # The probe is found from the server software the declaration names; the model file is
    # given again (runid replay --model-path); the endpoint comes from the record.
    run = replay(declaration, stored, recorder=recorder, model_path=gguf)
    assert run.declaration_id == original.declaration_id
    assert run.outputs == original.outputs
    # Without the file, the replay does not know which model the server serves: it says so.
    unknown = replay(declaration, stored, recorder=recorder)
    assert unknown.declaration["model"]["weights"] == NOT_RECORDED
    assert unknown.declaration_id != original.declaration_id


# --- probes, the hook, named files, without a model -------------------------------------------


class _FakeServer:
    """A loopback HTTP server answering GET paths with canned JSON (404 otherwise)."""

    def __init__(self, answers: dict[str, Any]) -> None:
        import http.server
        import threading

        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.seen.append(self.path)
                body = answers.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.seen: list[str] = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> _FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_llama_server_props_give_defaults_template_build_and_the_local_file(
    tmp_path: Path,
) -> None:
    from runid.digest import content_digest
    from runid.filedigest import file_digest
    from runid.integrations.served import llama_cpp_server

    model = tmp_path / "qwen.Q4_K_M.gguf"
    model.write_bytes(b"GGUF" + bytes(60))
    props = {  # the shape llama.cpp's llama-server answers GET /props with
        "default_generation_settings": {
            "n_ctx": 4096,
            "params": {
                "temperature": 0.8,
                "top_k": 40,
                "top_p": 0.95,
                "min_p": 0.05,
                "repeat_penalty": 1.0,
                "seed": 4294967295,
                "samplers": ["top_k", "top_p", "min_p", "temperature"],
                "n_probs": 0,
            },
        },
        "total_slots": 1,
        "model_path": str(model),
        "chat_template": "{{ messages }}",
        "build_info": "b4000-abcdef0",
    }
    with _FakeServer({"/props": props}) as server:
        facts = llama_cpp_server(server.endpoint, "qwen")
    assert facts is not None
    assert facts.defaults["top_k"] == 40 and facts.defaults["min_p"] == 0.05
    assert "seed" not in facts.defaults  # 4294967295: a random seed per request
    assert facts.defaults["samplers"] == ["top_k", "top_p", "min_p", "temperature"]
    assert facts.defaults["chat_template"] == content_digest(b"{{ messages }}")
    assert facts.server == {"llama.cpp": "b4000-abcdef0"}
    assert facts.weights is not None
    assert facts.weights[0] == {
        "name": "qwen.Q4_K_M.gguf",
        "digest": file_digest(model, cache_dir=tmp_path / "cache"),
        "size": 64,
    }


def test_a_probe_that_cannot_read_the_server_leaves_the_model_not_recorded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from runid.integrations.openai import declaration_from_chat_request
    from runid.integrations.served import llama_cpp_server, served_facts

    with _FakeServer({}) as server:
        assert llama_cpp_server(server.endpoint, "m") is None
        assert server.seen == ["/props", "/openapi.json"]

    def broken(endpoint: str, model: str) -> Any:
        raise RuntimeError("the server is down")

    with caplog.at_level("WARNING", logger="runid"):
        facts = served_facts("http://127.0.0.1:9/v1", "m", served_model=broken)
        again = served_facts("http://127.0.0.1:9/v1", "m", served_model=broken)
    assert facts is None and again is None
    assert sum("could not be read" in r.getMessage() for r in caplog.records) == 1  # once
    decl, _ = declaration_from_chat_request(
        {"model": "m", "messages": QUESTION}, base_url="http://127.0.0.1:9/v1", served=facts
    )
    assert decl["model"]["weights"] == NOT_RECORDED
    assert decl["parameters"]["temperature"] == {"source": "provider_default"}


def test_a_probe_of_your_own_is_the_hook_for_other_servers(tmp_path: Path) -> None:
    """vLLM, Ollama, TGI: a function (endpoint, model) -> ServedModel, passed as served_model
    and registered for replays under the server name it reports."""
    from runid.integrations.openai import declaration_from_chat_request
    from runid.integrations.served import (
        PROBES,
        ServedModel,
        probe_for,
        register_probe,
        served_facts,
    )

    seen: list[tuple[str, str]] = []

    def ollama(endpoint: str, model: str) -> ServedModel:
        seen.append((endpoint, model))
        # e.g. GET /api/tags: the model's digest; POST /api/show: its parameters
        return ServedModel(
            version="sha256:" + "cd" * 32,
            quantization="Q4_K_M",
            defaults={"temperature": 0.7, "num_ctx": 2048},
            server={"ollama": "0.5.7"},
        )

    facts = served_facts("http://127.0.0.1:11434/v1", "llama3.2", served_model=ollama)
    assert seen == [("http://127.0.0.1:11434/v1", "llama3.2")]
    decl, _ = declaration_from_chat_request(
        {"model": "llama3.2", "messages": QUESTION, "temperature": 0},
        base_url="http://127.0.0.1:11434/v1",
        served=facts,
    )
    assert decl["model"]["version"] == "sha256:" + "cd" * 32
    assert decl["model"]["quantization"] == "Q4_K_M"
    assert decl["parameters"]["temperature"] == {"source": "declared", "value": 0}
    assert decl["parameters"]["num_ctx"] == {"source": "default", "value": 2048}
    assert decl["runtime"]["libraries"]["server:ollama"] == "0.5.7"
    try:
        register_probe("ollama", ollama)
        assert probe_for(decl) is ollama
    finally:
        PROBES.pop("ollama", None)
    assert probe_for(decl) is None


def test_model_files_and_model_digest(tmp_path: Path) -> None:
    from runid.errors import InputError
    from runid.integrations.served import ServedModel, model_digest, model_files, served_facts

    weights = tmp_path / "ckpt"
    weights.mkdir()
    (weights / "model.safetensors").write_bytes(b"w" * 10)
    (weights / "config.json").write_text("{}")
    facts = model_files([weights], cache_dir=tmp_path / "cache")
    assert [a["name"] for a in facts.weights or ()] == ["config.json", "model.safetensors"]
    assert facts.tokenizer is None  # not GGUF files: the tokenizer is not among them
    with pytest.raises(InputError, match="no such model file"):
        model_files([tmp_path / "missing.gguf"])
    with pytest.raises(InputError, match="two files named"):
        model_files([weights / "config.json", weights / "config.json"])
    with pytest.raises(InputError) as bad:
        model_digest("md5:abc")
    assert bad.value.code == "E_FORMAT"
    combined = served_facts(
        "http://127.0.0.1:8080/v1",
        "m",
        served_model=ServedModel(defaults={"top_k": 1}, version="v1"),
        model_files_given=[weights / "model.safetensors"],
        model_digest_given="sha256:" + "ef" * 32,
        cache_dir=tmp_path / "cache",
    )
    assert combined is not None
    assert combined.version == "sha256:" + "ef" * 32  # the later statement wins
    assert combined.defaults == {"top_k": 1}
    assert [a["name"] for a in combined.weights or ()] == ["model.safetensors"]


def test_the_record_carries_the_endpoint_as_an_observed_fact() -> None:
    from runid.keys import SigningKey
    from runid.record import new_record, record_problems

    key = SigningKey("runid.test/k", bytes(32))
    times = {"started_at": "2026-12-05T00:00:00Z", "ended_at": "2026-12-05T00:00:01Z"}
    plain = new_record("sha256:" + "ab" * 32, issuer=key, **times)
    assert "endpoint" not in plain["observed"]  # optional: left out when not given
    record = new_record(
        "sha256:" + "ab" * 32,
        issuer=key,
        observed={"endpoint": "http://127.0.0.1:8080/v1"},
        **times,
    )
    assert record_problems(record) == []
    bad = dict(record, observed={**record["observed"], "endpoint": "not a url"})
    assert [p.code for p in record_problems(bad)] == ["E_FORMAT"]
