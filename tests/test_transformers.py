"""transformers capture with a real (tiny, locally built) GPT-2: ids, components, log, replay."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

os.environ.setdefault("HF_HUB_OFFLINE", "1")

pytestmark = pytest.mark.model  # torch in-process: in a forked child (tests/conftest.py)

torch = pytest.importorskip(
    "torch", reason="torch is not installed (pip install -e '.[transformers]')"
)
transformers = pytest.importorskip(
    "transformers", reason="transformers is not installed (pip install -e '.[transformers]')"
)

from runid.capture import CaptureWarning, Recorder, Run  # noqa: E402
from runid.digest import content_digest  # noqa: E402
from runid.errors import InputError  # noqa: E402
from runid.filedigest import FileDigestCache, directory_files, file_digest  # noqa: E402
from runid.home import Home  # noqa: E402
from runid.integrations import transformers as tf  # noqa: E402
from runid.keys import Keyring  # noqa: E402
from runid.log import Log  # noqa: E402
from runid.receipt import verify_receipt  # noqa: E402
from tiny_model import build_tiny_gpt2  # noqa: E402

PROMPT = "the capital of france is"
CHAT = [
    {"role": "system", "content": "be brief ."},
    {"role": "user", "content": "what is the capital of italy ?"},
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_gpt2(tmp_path_factory.mktemp("models") / "tiny-gpt2")


def _load(path: str | Path) -> tuple[Any, Any]:
    model = transformers.AutoModelForCausalLM.from_pretrained(path)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    return model, tokenizer


@pytest.fixture(scope="module")
def loaded(model_dir: Path) -> tuple[Any, Any]:
    return _load(model_dir)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/transformers")
    return home


@pytest.fixture
def recorder(home: Home) -> Recorder:
    return Recorder(home, on_error="raise")


@pytest.fixture
def cache(tmp_path: Path) -> FileDigestCache:
    # Window 0: files written by the fixture a moment ago are cacheable at once.
    return FileDigestCache(tmp_path / "digest-cache", racy_window_ns=0)


def _gen(
    loaded: tuple[Any, Any], recorder: Recorder, cache: FileDigestCache, **kwargs: Any
) -> tuple[str, Run]:
    model, tokenizer = loaded
    kwargs.setdefault("prompt", PROMPT)
    return tf.generate(model, tokenizer, recorder=recorder, cache=cache, **kwargs)


def _changed(a: Run, b: Run) -> set[str]:
    assert a.identity is not None and b.identity is not None
    return {
        name
        for name in a.identity.components
        if a.identity.components[name] != b.identity.components[name]
    }


def _fetcher(home: Home) -> Iterator[Callable[[str], bytes]]:
    with Log.open(home) as log:

        def fetch(digest: str) -> bytes:
            data = log.content(digest)
            if data is None:
                raise InputError(f"content {digest} was not stored")
            return data

        yield fetch


def _copy_model(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_two_builds_are_byte_identical(model_dir: Path, tmp_path: Path) -> None:
    again = build_tiny_gpt2(tmp_path / "again")
    names = directory_files(model_dir)
    assert "model.safetensors" in names and "tokenizer.json" in names
    assert names == directory_files(again)
    for name in names:
        assert file_digest(model_dir / name, cache_dir=tmp_path / "c") == file_digest(
            again / name, cache_dir=tmp_path / "c"
        ), name


def test_greedy_generate_is_deterministic_and_has_one_declaration_id(
    loaded: tuple[Any, Any], recorder: Recorder, cache: FileDigestCache
) -> None:
    text1, run1 = _gen(loaded, recorder, cache, max_new_tokens=6)
    text2, run2 = _gen(loaded, recorder, cache, max_new_tokens=6)
    assert text1 == text2 and text1
    assert run1.declaration_id == run2.declaration_id
    assert run1.execution_id != run2.execution_id
    assert run1.recorded and run2.recorded
    assert run1.outputs[0]["digest"] == content_digest(text1.encode())
    record = run1.record
    assert record is not None
    assert record["observed"]["usage"]["output_tokens"] == 6
    assert record["observed"]["usage"]["input_tokens"] == 5
    assert record["observed"]["finish_reason"] == "length"


def test_declaration_describes_the_model_and_the_call(
    loaded: tuple[Any, Any], recorder: Recorder, cache: FileDigestCache, model_dir: Path
) -> None:
    _text, run = _gen(loaded, recorder, cache, max_new_tokens=6)
    decl = run.declaration
    assert decl is not None
    model = decl["model"]
    assert model["provider"] == "transformers" and model["name"] == "tiny-gpt2"
    assert [w["name"] for w in model["weights"]] == ["config.json", "model.safetensors"]
    weights = {w["name"]: w["digest"] for w in model["weights"]}
    assert weights["model.safetensors"] == content_digest(
        (model_dir / "model.safetensors").read_bytes()
    )
    assert {t["name"] for t in model["tokenizer"]} >= {"tokenizer.json", "chat_template.jinja"}
    assert model["dtype"] == "float32"
    assert model["quantization"] == {"absent": "not_applicable"}
    assert model["adapters"] == []
    params = decl["parameters"]
    assert params["max_new_tokens"] == {"source": "declared", "value": 6}
    assert params["do_sample"] == {"source": "default", "value": False}  # the model's config
    assert params["top_k"] == {"source": "default", "value": 50}  # the library's default
    assert "output_scores" not in params and "transformers_version" not in params
    runtime = decl["runtime"]
    assert runtime["engine"] == {"name": tf.ENGINE, "version": transformers.__version__}
    assert runtime["libraries"]["torch"] == torch.__version__
    assert runtime["hardware"].startswith("cpu-")
    flags = runtime["determinism"]
    assert flags["torch.deterministic_algorithms"] is torch.are_deterministic_algorithms_enabled()
    assert flags["seed"] == {"absent": "not_recorded"}
    message = decl["inputs"]["messages"][0]
    assert message["role"] == "user"
    assert message["content"]["digest"] == content_digest(PROMPT.encode())
    assert decl["instructions"] == {"absent": "not_applicable"}
    with Log.open(recorder.home) as log:
        assert log.content(message["content"]["digest"]) == PROMPT.encode()


def test_max_new_tokens_changes_only_the_parameters(
    loaded: tuple[Any, Any], recorder: Recorder, cache: FileDigestCache
) -> None:
    _t1, run1 = _gen(loaded, recorder, cache, max_new_tokens=6)
    _t2, run2 = _gen(loaded, recorder, cache, max_new_tokens=7)
    assert _changed(run1, run2) == {"parameters"}


def test_a_generation_config_default_changes_only_the_parameters(
    model_dir: Path, tmp_path: Path, recorder: Recorder, cache: FileDigestCache
) -> None:
    other = _copy_model(model_dir, tmp_path / "tiny-gpt2")
    config_file = other / "generation_config.json"
    config = json.loads(config_file.read_text())
    config["repetition_penalty"] = 1.3
    config_file.write_text(json.dumps(config))
    _t1, run1 = _gen(_load(model_dir), recorder, cache)
    _t2, run2 = _gen(_load(other), recorder, cache)
    assert _changed(run1, run2) == {"parameters"}
    assert run2.declaration is not None
    assert run2.declaration["parameters"]["repetition_penalty"] == {
        "source": "default",
        "value": 1.3,
    }


def _perturb_weights(directory: Path) -> None:
    from safetensors.torch import load_file, save_file

    path = directory / "model.safetensors"
    tensors = load_file(path)
    first = sorted(tensors)[0]
    tensors[first] = tensors[first] + 0.25
    save_file(tensors, path, metadata={"format": "pt"})


def test_changed_weights_change_only_the_model_component(
    model_dir: Path, tmp_path: Path, recorder: Recorder, cache: FileDigestCache
) -> None:
    other = _copy_model(model_dir, tmp_path / "tiny-gpt2")
    _perturb_weights(other)
    _t1, run1 = _gen(_load(model_dir), recorder, cache, max_new_tokens=4)
    _t2, run2 = _gen(_load(other), recorder, cache, max_new_tokens=4)
    assert _changed(run1, run2) == {"model"}
    assert run1.declaration is not None and run2.declaration is not None
    before = {w["name"]: w["digest"] for w in run1.declaration["model"]["weights"]}
    after = {w["name"]: w["digest"] for w in run2.declaration["model"]["weights"]}
    assert [n for n in before if before[n] != after[n]] == ["model.safetensors"]


def test_weights_are_not_read_again_on_the_second_call(
    loaded: tuple[Any, Any], recorder: Recorder, cache: FileDigestCache
) -> None:
    _gen(loaded, recorder, cache, max_new_tokens=2)
    hashed = cache.files_hashed
    assert hashed >= 4  # config, weights, tokenizer files
    _gen(loaded, recorder, cache, max_new_tokens=2)
    assert cache.files_hashed == hashed


def test_the_record_verifies_in_the_log(
    loaded: tuple[Any, Any], home: Home, recorder: Recorder, cache: FileDigestCache
) -> None:
    text, run = _gen(loaded, recorder, cache, max_new_tokens=5)
    assert run.execution_id is not None
    with Log.open(home) as log:
        receipt = log.receipt(run.execution_id, run.declaration)
        assert log.declaration(run.declaration_id or "") == run.declaration
    verified = verify_receipt(receipt, Keyring([home.public_key()]), output=text.encode())
    assert verified.record["declaration_id"] == run.declaration_id


def test_replay_gives_the_same_declaration_and_output(
    loaded: tuple[Any, Any], model_dir: Path, home: Home, recorder: Recorder, cache: FileDigestCache
) -> None:
    _text, run = _gen(loaded, recorder, cache, max_new_tokens=6)
    assert run.declaration is not None
    for fetch in _fetcher(home):
        again = tf.replay(
            run.declaration, fetch, recorder=recorder, model_path=model_dir, cache=cache
        )
    assert again.declaration_id == run.declaration_id
    assert again.outputs == run.outputs
    assert again.execution_id != run.execution_id


def test_replay_of_a_chat_reuses_loaded_objects(
    loaded: tuple[Any, Any], home: Home, recorder: Recorder, cache: FileDigestCache
) -> None:
    _text, run = _gen(loaded, recorder, cache, prompt=None, messages=CHAT, max_new_tokens=5)
    assert run.declaration is not None
    model, tokenizer = loaded
    for fetch in _fetcher(home):
        again = tf.replay(
            run.declaration, fetch, recorder=recorder, model=model, tokenizer=tokenizer, cache=cache
        )
    assert again.declaration_id == run.declaration_id
    assert again.outputs == run.outputs


def test_replay_with_changed_weights_names_the_model(
    model_dir: Path, tmp_path: Path, home: Home, recorder: Recorder, cache: FileDigestCache
) -> None:
    _text, run = _gen(_load(model_dir), recorder, cache, max_new_tokens=6)
    assert run.declaration is not None
    other = _copy_model(model_dir, tmp_path / "tiny-gpt2")
    _perturb_weights(other)
    for fetch in _fetcher(home):
        again = tf.replay(run.declaration, fetch, recorder=recorder, model_path=other, cache=cache)
    assert again.declaration_id != run.declaration_id
    assert _changed(run, again) == {"model"}


def test_replay_needs_a_model_and_content(
    loaded: tuple[Any, Any], recorder: Recorder, cache: FileDigestCache
) -> None:
    _text, run = _gen(loaded, recorder, cache, max_new_tokens=2)
    assert run.declaration is not None

    def nothing(digest: str) -> bytes:
        raise InputError(f"content {digest} was not stored")

    with pytest.raises(InputError, match="model_path"):
        tf.replay(run.declaration, nothing, recorder=recorder)
    model, tokenizer = loaded
    with pytest.raises(InputError, match="not stored"):
        tf.replay(run.declaration, nothing, recorder=recorder, model=model, tokenizer=tokenizer)
    with pytest.raises(InputError, match="base_url"):
        tf.replay(run.declaration, nothing, recorder=recorder, base_url="http://x")
    foreign = dict(run.declaration, runtime={**run.declaration["runtime"], "engine": {"name": "x"}})
    with pytest.raises(InputError, match="adapter"):
        tf.replay(foreign, nothing, recorder=recorder, model=model, tokenizer=tokenizer)


def test_a_pipeline_call_is_captured_like_the_direct_call(
    loaded: tuple[Any, Any], recorder: Recorder, cache: FileDigestCache
) -> None:
    model, tokenizer = loaded
    pipe = transformers.pipeline("text-generation", model=model, tokenizer=tokenizer)
    result, run = tf.pipeline_call(pipe, PROMPT, recorder=recorder, cache=cache, max_new_tokens=6)
    text, direct = _gen(loaded, recorder, cache, max_new_tokens=6)
    assert run.recorded
    assert run.declaration_id == direct.declaration_id  # the model saw the same ids and config
    assert result[0]["generated_text"].endswith(text.split(" ")[-1])
    assert run.outputs == direct.outputs
    assert "generate" not in vars(model)  # the interception is undone


def test_a_pipeline_default_is_recorded_as_a_default(
    loaded: tuple[Any, Any], recorder: Recorder, cache: FileDigestCache
) -> None:
    # The model's own config sets max_new_tokens=12, so the pipeline's 256 does not apply.
    model, tokenizer = loaded
    pipe = transformers.pipeline("text-generation", model=model, tokenizer=tokenizer)
    _result, run = tf.pipeline_call(pipe, CHAT, recorder=recorder, cache=cache)
    assert run.declaration is not None
    params = run.declaration["parameters"]
    assert params["max_new_tokens"] == {"source": "default", "value": 12}
    assert run.declaration["instructions"]["system"][0]["digest"] == content_digest(b"be brief .")


def test_chat_records_the_rendered_prompt_and_the_template(
    loaded: tuple[Any, Any], recorder: Recorder, cache: FileDigestCache, model_dir: Path
) -> None:
    _model, tokenizer = loaded
    _text, run = _gen(loaded, recorder, cache, prompt=None, messages=CHAT, max_new_tokens=3)
    assert run.declaration is not None
    rendered = tokenizer.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    content = run.declaration["inputs"]["messages"][0]["content"]
    assert content["digest"] == content_digest(rendered.encode())
    template = run.declaration["instructions"]["template"]
    assert template["digest"] == content_digest((model_dir / "chat_template.jinja").read_bytes())
    assert template["variables"] == {"add_generation_prompt": True}


def test_sampling_with_a_seed_is_reproducible_and_declared(
    loaded: tuple[Any, Any], recorder: Recorder, cache: FileDigestCache
) -> None:
    t1, run1 = _gen(loaded, recorder, cache, seed=7, do_sample=True, max_new_tokens=8)
    t2, run2 = _gen(loaded, recorder, cache, seed=7, do_sample=True, max_new_tokens=8)
    assert t1 == t2 and run1.declaration_id == run2.declaration_id
    _t3, run3 = _gen(loaded, recorder, cache, seed=8, do_sample=True, max_new_tokens=8)
    assert _changed(run1, run3) == {"parameters", "runtime"}
    assert run1.declaration is not None
    assert run1.declaration["parameters"]["seed"] == {"source": "declared", "value": 7}
    assert run1.declaration["parameters"]["do_sample"]["source"] == "declared"
    assert run1.declaration["runtime"]["determinism"]["seed"] == 7


def test_finish_reason_eos(
    loaded: tuple[Any, Any], recorder: Recorder, cache: FileDigestCache
) -> None:
    _model, tokenizer = loaded
    text, _run = _gen(loaded, recorder, cache, max_new_tokens=3)
    first = tokenizer(text, add_special_tokens=False)["input_ids"][0]
    _t, stopped = _gen(loaded, recorder, cache, max_new_tokens=3, eos_token_id=first)
    assert stopped.record is not None
    assert stopped.record["observed"]["finish_reason"] == "eos"
    assert stopped.record["observed"]["usage"]["output_tokens"] == 1


def test_token_ids_without_a_matching_text_are_recorded_as_ids(
    loaded: tuple[Any, Any], home: Home, recorder: Recorder, cache: FileDigestCache
) -> None:
    model, tokenizer = loaded
    ids = torch.tensor([[61, 23, 44, 32, 39]])
    decl, contents = tf.declaration_from_generate(
        model, tokenizer, ids, {"max_new_tokens": 3}, cache=cache
    )
    content = decl["inputs"]["messages"][0]["content"]
    assert content["media_type"] == "application/json"
    assert contents[0] == b"[61,23,44,32,39]"
    assert "tokenizer.add_special_tokens" not in decl["parameters"]


def test_a_call_that_cannot_be_described_still_runs(
    loaded: tuple[Any, Any], home: Home, cache: FileDigestCache
) -> None:
    _model, _tokenizer = loaded
    criteria = transformers.StoppingCriteriaList([])
    warn = Recorder(home, on_error="warn")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        text, run = _gen(
            loaded, warn, cache, max_new_tokens=3, stopping_criteria=criteria, prompt=PROMPT
        )
    assert text  # the user's call ran and returned
    assert not run.recorded and run.declaration_id is None
    assert any(issubclass(w.category, CaptureWarning) for w in caught)
    assert "stopping_criteria" in str(run.failure)


def test_generate_needs_exactly_one_input(
    loaded: tuple[Any, Any], recorder: Recorder, cache: FileDigestCache
) -> None:
    with pytest.raises(InputError):
        _gen(loaded, recorder, cache, prompt=None)
    with pytest.raises(InputError):
        _gen(loaded, recorder, cache, messages=CHAT)


def test_runid_replay_dispatches_to_this_adapter(
    model_dir: Path, tmp_path: Path, home: Home, recorder: Recorder, cache: FileDigestCache
) -> None:
    from runid.replay import replay as replay_run

    _text, run = _gen(_load(model_dir), recorder, cache, max_new_tokens=6)
    assert run.execution_id is not None
    same = replay_run(home, run.execution_id, model_path=str(model_dir))
    assert same.verdict == "identical"
    assert same.replay["replay_of"] == run.execution_id
    other = _copy_model(model_dir, tmp_path / "tiny-gpt2")
    _perturb_weights(other)
    moved = replay_run(home, run.execution_id, model_path=str(other))
    assert moved.verdict == "different_declarations"
    assert moved.changed_components == ("model",)
    assert any(change.path.startswith("model.weights") for change in moved.declaration_changes)


_KWARGS = st.fixed_dictionaries(
    {},
    optional={
        "max_new_tokens": st.integers(1, 40),
        "do_sample": st.booleans(),
        "temperature": st.floats(0.05, 2.0),
        "top_k": st.integers(0, 100),
        "top_p": st.floats(0.1, 1.0),
        "repetition_penalty": st.floats(0.5, 2.0),
        "num_beams": st.integers(1, 3),
        "eos_token_id": st.integers(0, 10),
    },
)


@settings(max_examples=40, deadline=None)
@given(kwargs=_KWARGS, config=st.none() | _KWARGS)
def test_effective_config_matches_transformers_own_merge(
    loaded: tuple[Any, Any], kwargs: dict[str, Any], config: dict[str, Any] | None
) -> None:
    model, _tokenizer = loaded
    given_config = None if config is None else transformers.GenerationConfig(**config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        oracle, _unused = model._prepare_generation_config(given_config, **kwargs)
    expected = {
        k: v
        for k, v in oracle.to_dict().items()
        if v is not None and k not in tf.IGNORED_GENERATION_FIELDS
    }
    ours = tf.effective_generation_config(model, given_config, kwargs)
    got = {k: v for k, v in ours.items() if v is not None and k not in tf.IGNORED_GENERATION_FIELDS}
    assert got == expected


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(kwargs=_KWARGS)
def test_exactly_the_call_arguments_are_declared(
    loaded: tuple[Any, Any], cache: FileDigestCache, kwargs: dict[str, Any]
) -> None:
    model, tokenizer = loaded
    ids = tokenizer(PROMPT, return_tensors="pt")["input_ids"]
    decl, _contents = tf.declaration_from_generate(model, tokenizer, ids, kwargs, cache=cache)
    declared = {n for n, e in decl["parameters"].items() if e["source"] == "declared"}
    assert declared == set(kwargs)
    for name, value in kwargs.items():
        assert decl["parameters"][name]["value"] == value


def test_a_pipeline_that_truncates_records_the_ids_the_model_saw(
    loaded: tuple[Any, Any], home: Home, recorder: Recorder, cache: FileDigestCache
) -> None:
    model, tokenizer = loaded
    pipe = transformers.pipeline("text-generation", model=model, tokenizer=tokenizer)
    _result, run = tf.pipeline_call(
        pipe,
        PROMPT,
        recorder=recorder,
        cache=cache,
        max_new_tokens=2,
        tokenizer_encode_kwargs={"truncation": True, "max_length": 3},
    )
    assert run.declaration is not None and run.record is not None
    content = run.declaration["inputs"]["messages"][0]["content"]
    kept = tokenizer(PROMPT)["input_ids"][:3]
    assert content["media_type"] == "application/json"
    assert content["digest"] == content_digest(json.dumps(kept, separators=(",", ":")).encode())
    assert run.record["observed"]["usage"]["input_tokens"] == 3
    for fetch in _fetcher(home):
        again = tf.replay(
            run.declaration, fetch, recorder=recorder, model=model, tokenizer=tokenizer, cache=cache
        )
    assert again.declaration_id == run.declaration_id


def test_runid_replay_command_takes_the_model_path(
    model_dir: Path, home: Home, recorder: Recorder, cache: FileDigestCache
) -> None:
    from click.testing import CliRunner

    from runid._cli import main

    _text, run = _gen(_load(model_dir), recorder, cache, max_new_tokens=3)
    assert run.execution_id is not None
    args = ["replay", "--home", str(home.path), run.execution_id]
    done = CliRunner().invoke(main, [*args, "--model-path", str(model_dir), "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["verdict"] == "identical" and report["engine"] == "transformers"
    missing = CliRunner().invoke(main, args)
    assert missing.exit_code == 2
    assert "model_path" in missing.output and "Traceback" not in missing.output


def _hub_cache(model_dir: Path, root: Path, revision: str) -> Path:
    """A Hugging Face cache laid out as the hub client writes it (blobs + snapshot links)."""
    repo = root / "models--runid--tiny-gpt2"
    (repo / "blobs").mkdir(parents=True)
    (repo / "snapshots" / revision).mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    for path in model_dir.iterdir():
        data = path.read_bytes()
        blob = content_digest(data).removeprefix("sha256:")
        (repo / "blobs" / blob).write_bytes(data)
        (repo / "snapshots" / revision / path.name).symlink_to(f"../../blobs/{blob}")
    return root


def test_a_model_loaded_by_repo_id_from_the_local_hub_cache(
    model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    recorder: Recorder,
    cache: FileDigestCache,
) -> None:
    import huggingface_hub.constants

    revision = "0123456789abcdef0123456789abcdef01234567"
    hub = _hub_cache(model_dir, tmp_path / "hub", revision)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    tf.hub_snapshot.cache_clear()
    try:
        by_id = _load("runid/tiny-gpt2")
        text, run = _gen(by_id, recorder, cache, max_new_tokens=4)
    finally:
        tf.hub_snapshot.cache_clear()
    local_text, local = _gen(_load(model_dir), recorder, cache, max_new_tokens=4)
    assert text == local_text
    assert run.declaration is not None and local.declaration is not None
    model = run.declaration["model"]
    assert model["name"] == "runid/tiny-gpt2" and model["version"] == revision
    assert model["weights"] == local.declaration["model"]["weights"]  # links followed
    assert model["tokenizer"] == local.declaration["model"]["tokenizer"]
    assert _changed(run, local) == {"model"}
