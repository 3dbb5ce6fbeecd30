"""Capture: the declaration id is fixed before the call, the record lands in the log, and
recording never breaks the call (runid.capture)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
import types
import warnings
from pathlib import Path
from typing import Any

import pytest

from runid.capture import CaptureError, CaptureWarning, Recorder, Run, capture, current_run
from runid.digest import content_digest, content_ref
from runid.errors import InputError, RunidError
from runid.examples import example
from runid.home import Home
from runid.identity import compute_identity
from runid.keys import Keyring
from runid.log import Log
from runid.receipt import verify_receipt
from runid.store.sqlite import SQLiteStore

ANSWER = "Duplicate charges are refunded within 5 business days."


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/worker")
    return home


def keyring(home: Home) -> Keyring:
    return Keyring([home.public_key()])


def model(prompt: str, *, temperature: float = 0.2, **_client: Any) -> str:
    """A plain-Python 'model': deterministic, no network."""
    return f"{ANSWER} ({prompt[:10]}, t={temperature})"


def build(request: dict[str, Any]) -> dict[str, Any]:
    """A builder that takes what is really sent: the effective temperature goes in."""
    decl = example("chat-hosted-model")
    decl["parameters"]["temperature"] = {"source": "declared", "value": request["temperature"]}
    return decl


def blob_count(home: Home) -> int:
    with sqlite3.connect(home.path / "log.sqlite3") as conn:
        return int(conn.execute("SELECT count(*) FROM blobs").fetchone()[0])


def fail_append(monkeypatch: pytest.MonkeyPatch) -> None:
    """The log's storage refuses every append (what a full disk does to the commit)."""

    def refuse(self: SQLiteStore, *args: Any, **kwargs: Any) -> Any:
        raise RunidError("the disk is full", code="E_STORE")

    monkeypatch.setattr(SQLiteStore, "append", refuse)


# --- round trip ---------------------------------------------------------------------------


def test_capture_round_trip_lands_in_the_log_and_its_receipt_verifies(home: Home) -> None:
    decl = example("chat-hosted-model")
    expected = compute_identity(decl).declaration_id
    result: str | None = None
    with Recorder(home).capture(decl) as run:
        # The id exists before the model produced anything: it was fixed before inference.
        assert result is None
        assert run.declaration_id == expected
        assert current_run() is run
        result = model("Why was I charged twice?")
        run.set_output(result)
        run.observe(
            served_model="gpt-4o-mini-2024-07-18",
            system_fingerprint="fp_44709d6fcb",
            response_id="chatcmpl-1",
            finish_reason="stop",
            usage={"prompt_tokens": 812, "completion_tokens": 9, "total_tokens": 821},
        )
    assert current_run() is None
    assert run.recorded and run.failure is None and run.entry_index == 0
    with Log.open(home) as log:
        entry = log.entry(run.execution_id or "")
        assert entry.record == run.record
        assert log.store.get_blob(content_digest(result.encode())) == result.encode()
        receipt = log.receipt(entry.index, decl)
    verified = verify_receipt(receipt, keyring(home), output=result.encode())
    record = verified.record
    assert record["declaration_id"] == expected
    assert record["outcome"] == {"status": "ok", "outputs": [content_ref(result)]}
    assert record["observed"] == {
        "served_model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_44709d6fcb",
        "response_id": "chatcmpl-1",
        "usage": {"input_tokens": 812, "output_tokens": 9, "other": {"total_tokens": 821}},
        "finish_reason": "stop",
    }
    assert run.header_value() == f"runid={run.execution_id}; decl={expected}"


def test_unobserved_facts_are_not_recorded_not_silent(home: Home) -> None:
    with Recorder(home).capture(example("absent-components")) as run:
        run.set_output(b"\x00\x01", media_type="application/octet-stream")
    assert run.record is not None
    assert all(value == {"absent": "not_recorded"} for value in run.record["observed"].values())


def test_a_builder_gets_the_scrubbed_request(home: Home) -> None:
    seen: list[dict[str, Any]] = []

    def builder(request: dict[str, Any]) -> dict[str, Any]:
        seen.append(request)
        return build(request)

    request = {"temperature": 0.7, "api_key": "sk-x", "headers": {"Authorization": "Bearer y"}}
    with Recorder(home).capture(builder, request=request) as run:
        run.set_output(model("hi", **request))
    assert seen == [{"temperature": 0.7, "headers": {}}]
    assert run.declaration_id == compute_identity(build({"temperature": 0.7})).declaration_id


def test_the_home_resolves_like_the_cli(
    home: Home, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RUNID_HOME", str(home.path))
    with capture(example("chat-hosted-model")) as run:
        run.set_output(ANSWER)
    assert run.recorded
    with Log.open(home) as log:
        assert log.size() == 1
    other = Home(tmp_path / "explicit")
    other.init_keys("runid.test/other")
    with capture(example("chat-hosted-model"), home=other.path) as run:  # explicit wins
        run.set_output(ANSWER)
    with Log.open(other) as log:
        assert log.entry(0).record == run.record


def test_decorator_records_each_call_with_the_calls_arguments(home: Home) -> None:
    runs: list[Run] = []
    recorder = Recorder(home)

    def builder(prompt: str, *, temperature: float = 0.2, **_: Any) -> dict[str, Any]:
        return build({"temperature": temperature})

    @recorder.captured(
        builder,
        observe=lambda text: {"finish_reason": "stop", "served_model": "local"},
        on_run=runs.append,
    )
    def answer(prompt: str, *, temperature: float = 0.2, api_key: str = "") -> str:
        assert current_run() is not None
        return model(prompt, temperature=temperature)

    assert answer("a", temperature=0.1, api_key="sk-1") == model("a", temperature=0.1)
    answer("b", temperature=0.9)
    assert [r.recorded for r in runs] == [True, True]
    assert runs[0].declaration_id != runs[1].declaration_id  # the temperature differs
    assert runs[0].record is not None
    assert runs[0].record["observed"]["finish_reason"] == "stop"
    assert runs[0].outputs == [content_ref(model("a", temperature=0.1))]


def test_decorator_output_converter(home: Home) -> None:
    runs: list[Run] = []

    @Recorder(home).captured(
        example("chat-hosted-model"), output=lambda r: r["text"], on_run=runs.append
    )
    def answer() -> dict[str, str]:
        return {"text": ANSWER}

    assert answer() == {"text": ANSWER}
    assert runs[0].outputs == [content_ref(ANSWER)]


def test_steps_are_chained_to_their_parent(home: Home) -> None:
    recorder = Recorder(home)
    with recorder.capture(example("agent-step-with-tools")) as parent:
        parent.set_output("call the tool")
    assert parent.execution_id is not None
    with recorder.capture(
        example("agent-step-with-tools"), parent=parent.execution_id, step=0
    ) as child:
        child.set_output("tool result")
    assert child.record is not None
    assert child.record["parent"] == {"execution_id": parent.execution_id, "step": 0}


# --- async --------------------------------------------------------------------------------


def test_async_context_manager_and_decorator(home: Home) -> None:
    recorder = Recorder(home)
    runs: list[Run] = []

    async def amodel(prompt: str) -> str:
        await asyncio.sleep(0)
        return model(prompt)

    @recorder.captured(example("rag-retrieved-chunks"), on_run=runs.append)
    async def answer(prompt: str) -> str:
        return await amodel(prompt)

    async def main() -> tuple[Run, str]:
        async with recorder.capture(example("chat-hosted-model")) as run:
            fixed = run.declaration_id
            text = await amodel("async")
            assert fixed is not None and run.execution_id is None
            run.set_output(text)
        return run, await answer("decorated")

    run, text = asyncio.run(main())
    assert text == model("decorated")
    assert run.recorded and runs[0].recorded
    with Log.open(home) as log:
        assert log.size() == 2
        receipt = log.receipt(runs[0].execution_id or "")
    verify_receipt(receipt, keyring(home), output=text.encode())


def test_async_user_exception_propagates_and_is_recorded(home: Home) -> None:
    async def main() -> Run:
        run = Recorder(home).capture(example("chat-hosted-model"))
        with pytest.raises(TimeoutError):
            async with run:
                raise TimeoutError("upstream timed out")
        return run

    run = asyncio.run(main())
    assert run.record is not None
    assert run.record["outcome"]["error"]["type"] == "TimeoutError"


# --- the user's call is never broken ------------------------------------------------------


def test_user_exception_propagates_unchanged_and_is_recorded_as_error(home: Home) -> None:
    boom = ValueError("the model refused")
    with (
        pytest.raises(ValueError) as caught,
        Recorder(home).capture(example("absent-components")) as run,
    ):
        run.set_output("partial")
        raise boom
    assert caught.value is boom
    assert run.recorded and run.record is not None
    outcome = run.record["outcome"]
    assert outcome["status"] == "error"
    assert outcome["error"] == {"type": "ValueError", "message": content_ref("the model refused")}
    assert outcome["outputs"] == [content_ref("partial")]  # partial outputs are kept
    with Log.open(home) as log:
        assert log.entry(0).record == run.record
        assert log.store.get_blob(content_digest(b"the model refused")) == b"the model refused"


def test_decorated_user_exception_propagates(home: Home) -> None:
    runs: list[Run] = []

    @Recorder(home, on_error="raise").captured(example("absent-components"), on_run=runs.append)
    def broken() -> str:
        raise KeyError("x")

    with pytest.raises(KeyError):
        broken()
    assert runs[0].record is not None
    assert runs[0].record["outcome"]["error"]["type"] == "KeyError"


def test_on_error_warn_returns_the_result(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_append(monkeypatch)

    @Recorder(home).captured(example("chat-hosted-model"))
    def answer() -> str:
        return ANSWER

    with pytest.warns(CaptureWarning, match="not recorded: the disk is full"):
        assert answer() == ANSWER


def key_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "created a signing key" in r.getMessage()]


def test_a_home_without_a_key_gets_one_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = Home(tmp_path / "empty")
    caplog.set_level(logging.WARNING, logger="runid")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a log message, not a Python warning
        with Recorder(home.path).capture(example("absent-components")) as run:
            run.set_output(ANSWER)
    assert run.recorded and run.execution_id is not None
    assert home.signing_key_path.stat().st_mode & 0o777 == 0o600
    assert home.public_key_path.read_text().strip() == home.public_key().vkey
    assert home.public_key().name == "runid.local/log"
    [message] = key_messages(caplog)
    assert str(home.signing_key_path) in message and "mode 0600" in message
    assert f"runid --home {home.path} keys show" in message
    assert home.public_key().key_id in message
    assert [r.name for r in caplog.records if "created" in r.getMessage()] == ["runid"]
    # A second recorder (and the second run) use the same key and say nothing.
    caplog.clear()
    with Recorder(home.path).capture(example("absent-components")) as again:
        again.set_output(ANSWER)
    assert again.recorded and key_messages(caplog) == []
    with Log.open(home) as log:
        assert log.size() == 2 and log.audit() == []


def test_a_public_key_only_home_is_not_given_a_new_key(tmp_path: Path) -> None:
    source = Home(tmp_path / "issuer")
    source.init_keys("runid.test/issuer")
    copy = Home(tmp_path / "verifier")
    copy.create()
    copy.public_key_path.write_text(source.public_key().vkey + "\n")
    with (
        pytest.warns(CaptureWarning, match="public key only.*hint: record into the home"),
        Recorder(copy).capture(example("absent-components")) as run,
    ):
        run.set_output(ANSWER)
    assert not run.recorded and not copy.signing_key_path.exists()


def test_a_log_whose_key_is_missing_is_not_given_a_new_key(home: Home) -> None:
    with Recorder(home).capture(example("absent-components")) as run:
        run.set_output(ANSWER)
    home.signing_key_path.unlink()
    home.public_key_path.unlink()
    recorder = Recorder(home, on_error="raise")
    with (
        pytest.raises(CaptureError, match="log holds 1 entries") as caught,
        recorder.capture(example("absent-components")) as again,
    ):
        again.set_output(ANSWER)
    assert caught.value.code == "E_NO_SIGNING_KEY"
    assert not home.signing_key_path.exists()


def test_threads_of_one_recorder_create_one_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import concurrent.futures

    caplog.set_level(logging.WARNING, logger="runid")
    recorder = Recorder(tmp_path / "threads")

    def one(_: int) -> str | None:
        with recorder.capture(example("absent-components")) as run:
            run.set_output(ANSWER)
        return run.record["issuer"]["key_id"] if run.recorded and run.record else None

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        key_ids = set(pool.map(one, range(16)))
    assert key_ids == {recorder.home.public_key().key_id}
    assert len(key_messages(caplog)) == 1


_CREATE = """
import os, sys, time
from pathlib import Path
from runid.home import Home
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
key, created = Home(Path(sys.argv[1])).ensure_signing_key("runid.test/race")
print(key.public_key.key_id, created)
"""


@pytest.mark.crash
def test_processes_racing_to_create_the_key_all_use_one_key(tmp_path: Path) -> None:
    home = tmp_path / "race"
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CREATE, str(home), str(go)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    time.sleep(1.0)  # let every process import and wait at the line
    go.touch()
    results = [proc.communicate(timeout=120)[0].split() for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    assert {key_id for key_id, _ in results} == {Home(home).public_key().key_id}
    assert [created for _, created in results].count("True") == 1
    assert Home(home).signing_key_path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in (home / "keys").iterdir()) == ["signing.key", "signing.pub"]


def test_issuer_creates_keys_on_first_use(tmp_path: Path) -> None:
    home = Home(tmp_path / "fresh")
    with Recorder(home, issuer="runid.test/auto").capture(example("absent-components")) as run:
        run.set_output(ANSWER)
    assert run.recorded and home.public_key().name == "runid.test/auto"


def test_on_error_raise_carries_the_result(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_append(monkeypatch)

    @Recorder(home, on_error="raise").captured(example("chat-hosted-model"))
    def answer() -> str:
        return ANSWER

    with pytest.raises(CaptureError, match="the disk is full") as caught:
        answer()
    assert caught.value.result == ANSWER
    assert caught.value.code == "E_STORE" and caught.value.run.execution_id is not None


def test_on_error_raise_lets_the_users_exception_win(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_append(monkeypatch)
    recorder = Recorder(home, on_error="raise")
    with (
        pytest.warns(CaptureWarning),
        pytest.raises(ZeroDivisionError),
        recorder.capture(example("absent-components")),
    ):
        _ = 1 / 0


def test_on_error_queue_keeps_the_signed_envelope_and_retries(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder(home, on_error="queue")
    fail_append(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # queue mode does not warn
        with recorder.capture(example("chat-hosted-model")) as first:
            first.set_output(ANSWER)
    assert not first.recorded and recorder.pending == 1
    assert recorder._writer.kept[0].envelope is not None  # signed while it waits
    monkeypatch.undo()
    with recorder.capture(example("rag-retrieved-chunks")) as second:
        second.set_output(ANSWER)
    assert second.recorded and recorder.pending == 0  # the next success flushed the queue
    with Log.open(home) as log:
        assert log.size() == 2
        assert log.entry(first.execution_id or "").record == first.record


def test_explicit_flush(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(home, on_error="queue")
    fail_append(monkeypatch)
    for _ in range(2):
        with recorder.capture(example("absent-components")) as run:
            run.set_output(ANSWER)
    monkeypatch.setattr(SQLiteStore, "append", lambda *a, **k: (_ for _ in ()).throw(OSError()))
    with pytest.raises(OSError):
        recorder.flush()
    assert recorder.pending == 2  # nothing lost
    monkeypatch.undo()
    assert recorder.flush() == 2 and recorder.pending == 0
    with Log.open(home) as log:
        assert log.size() == 2


def test_an_invalid_declaration_does_not_stop_the_call(home: Home) -> None:
    calls: list[str] = []
    with (
        pytest.warns(CaptureWarning, match="could not be captured: invalid declaration"),
        Recorder(home).capture({"spec": "runid/v1"}) as run,
    ):
        calls.append(model("x"))
    assert calls and run.declaration_id is None and run.record is None
    with pytest.raises(InputError):
        run.header_value()
    with pytest.raises(CaptureError), Recorder(home, on_error="raise").capture({}):
        calls.append("never")  # raise mode fails before the call
    assert calls == [model("x")] and current_run() is None


def test_bad_on_error_is_refused(home: Home) -> None:
    with pytest.raises(InputError, match="on_error"):
        Recorder(home, on_error="ignore")  # type: ignore[arg-type]


# --- portable ids -------------------------------------------------------------------------


def test_header_value_and_sidecar(home: Home, tmp_path: Path) -> None:
    with Recorder(home).capture(example("chat-hosted-model")) as run:
        assert run.header_value() == f"decl={run.declaration_id}"
        run.set_output(ANSWER)
    path = run.write_sidecar(tmp_path / "answer.txt.runid.json")
    sidecar = json.loads(path.read_text())
    assert sidecar == {
        "runid": "runid/sidecar/v1",
        "declaration_id": run.declaration_id,
        "execution_id": run.execution_id,
        "log": {"origin": "runid.test/worker", "index": 0},
        "outputs": [content_ref(ANSWER)],
    }


# --- OpenTelemetry ------------------------------------------------------------------------


def test_a_partial_opentelemetry_module_never_breaks_capture(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An API module without a tracer provider (a stub, a broken install): the run is recorded.
    # What a configured OpenTelemetry gets, a span per run, is tests/test_otel.py.
    trace = types.ModuleType("opentelemetry.trace")
    trace.get_current_span = lambda: None  # type: ignore[attr-defined]
    package = types.ModuleType("opentelemetry")
    package.trace = trace  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "opentelemetry", package)
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", trace)
    with Recorder(home).capture(example("absent-components")) as run:
        pass
    assert run.recorded


# --- secrets never land anywhere ----------------------------------------------------------


def test_canary_secret_appears_nowhere(
    home: Home, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = "sk-canary-" + os.urandom(12).hex()
    caplog.set_level(logging.DEBUG)
    request = {
        "temperature": 0.2,
        "api_key": canary,
        "headers": {"Authorization": f"Bearer {canary}", "x-api-key": canary},
        "extra_headers": [("Cookie", f"session={canary}")],
    }

    def naive_builder(request: dict[str, Any]) -> dict[str, Any]:
        decl = build(request)
        for name, value in request.items():  # a careless builder copies the whole request
            decl["parameters"][name.replace("_", "-")] = {"source": "declared", "value": value}
        return decl

    recorder = Recorder(home)
    texts: list[bytes] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with recorder.capture(naive_builder, request=request, contents=["ctx"]) as run:
            run.set_output(model("q", **request))
        receipt = Log.open(home).receipt(run.execution_id or "", run.declaration)
        verify_receipt(receipt, keyring(home))
        texts += [receipt, run.write_sidecar(tmp_path / "out.json").read_bytes()]
        texts.append(run.header_value().encode())
        # A dict declaration with a secret-named parameter: dropped before the id is fixed.
        decl = example("chat-hosted-model")
        decl["parameters"]["api_key"] = {"source": "declared", "value": canary}
        with recorder.capture(decl):
            pass
        # An error whose text echoes the key is recorded without its message.
        with pytest.raises(PermissionError), recorder.capture(naive_builder, request=request):
            raise PermissionError(f"Incorrect API key provided: {canary}")

        @recorder.captured(lambda prompt, **kw: build(kw))
        def decorated(prompt: str, *, temperature: float, api_key: str) -> str:
            return model(prompt, temperature=temperature)

        decorated("p", temperature=0.3, api_key=canary)
        # A failing recording: its warning must not carry the secret either.
        fail_append(monkeypatch)
        with recorder.capture(naive_builder, request=request) as failed:
            failed.set_output("x")
        monkeypatch.undo()
    assert not failed.recorded
    assert any(issubclass(w.category, CaptureWarning) for w in caught)
    texts += [str(w.message).encode() for w in caught]
    texts += [record.getMessage().encode() for record in caplog.records]
    with Log.open(home) as log:
        assert log.size() == 4
        error_record = log.entry(2).record
        for index in range(log.size()):
            texts.append(log.receipt(index))
    files = [p for p in home.path.rglob("*") if p.is_file()]
    assert any(p.name.endswith("-wal") for p in files) or files  # every file, WAL included
    for path in files:
        # SQLite deletes the WAL when the last connection closes (the writer thread's idle
        # close may land now); its content is then in the database file, read too.
        with contextlib.suppress(FileNotFoundError):
            texts.append(path.read_bytes())
    needles = [canary.encode(), canary.encode("utf-16-le"), content_digest(canary.encode())]
    for data in texts:
        for needle in needles:
            assert (needle if isinstance(needle, bytes) else needle.encode()) not in data
    assert error_record["outcome"]["error"]["message"] == {"absent": "not_recorded"}


def test_capture_formats_timestamps_as_the_record_module_does() -> None:
    from datetime import UTC, datetime, timedelta

    from runid.capture._run import stamp
    from runid.record import format_timestamp

    moment = datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    for step in (timedelta(0), timedelta(days=400, microseconds=999_993), timedelta(hours=23)):
        assert stamp(moment + step) == format_timestamp(moment + step)
    now = datetime.now(UTC)
    assert stamp(now) == format_timestamp(now)
