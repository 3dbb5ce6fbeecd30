"""Runtime facts: declared conditions of the run, gathered without crashing or hanging."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import Any

import pytest

from runid import runtime
from runid.declaration import problems
from runid.digest import content_digest
from runid.examples import example
from runid.runtime import (
    code_revision,
    hardware_class,
    library_versions,
    platform_facts,
    runtime_component,
)

NOT_RECORDED = {"absent": "not_recorded"}


def git(repo: Path, *args: str) -> bytes:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "app.py").write_text("print('v1')\n")
    git(repo, "add", "app.py")
    git(repo, "commit", "-q", "-m", "v1")
    return repo


def test_library_versions() -> None:
    found, missing = library_versions(["orjson", "pynacl", "no-such-distribution-xyz"])
    assert set(found) == {"orjson", "pynacl"} and all(found.values())
    assert missing == ["no-such-distribution-xyz"]


def test_platform_and_hardware() -> None:
    facts = platform_facts()
    assert facts["python"] == platform.python_version()
    assert facts["os"] and facts["arch"]
    assert hardware_class() == f"cpu-{facts['arch']}"
    assert hardware_class("nvidia-a100-80gb") == "nvidia-a100-80gb"


def test_clean_checkout(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").decode().strip()
    assert code_revision(repo) == {
        "repository": NOT_RECORDED,
        "revision": head,
        "dirty": {"absent": "not_applicable"},
    }
    assert code_revision(repo, repository="https://example.com/app.git")["repository"] == (
        "https://example.com/app.git"
    )


def test_uncommitted_changes_are_digested(repo: Path) -> None:
    (repo / "app.py").write_text("print('v2')\n")
    code = code_revision(repo)
    assert code["dirty"] == content_digest(git(repo, "diff", "HEAD", "--binary"))
    (repo / "app.py").write_text("print('v3')\n")
    assert code_revision(repo)["dirty"] != code["dirty"]  # another change, another digest


def test_not_a_repository(tmp_path: Path) -> None:
    assert code_revision(tmp_path) == NOT_RECORDED


def test_git_missing(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    assert code_revision(repo) == NOT_RECORDED


def test_git_that_hangs_times_out(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float] = []

    def slow(*args: Any, timeout: float, **kwargs: Any) -> Any:
        seen.append(timeout)
        raise subprocess.TimeoutExpired(args[0], timeout)

    monkeypatch.setattr(runtime.subprocess, "run", slow)
    assert code_revision(repo, timeout=0.5) == NOT_RECORDED
    assert seen == [0.5]


def test_runtime_component_makes_a_valid_declaration(repo: Path) -> None:
    component = runtime_component(
        ["orjson", "absent-dist-xyz"],
        engine={"name": "python-function", "version": "1"},
        cwd=repo,
        determinism={"seeded": True},
    )
    assert component["libraries"] == {"orjson": library_versions(["orjson"])[0]["orjson"]}
    assert component["engine"] == {"name": "python-function", "version": "1"}
    decl = example("chat-hosted-model")
    decl["runtime"] = component
    assert problems(decl) == []
    decl["runtime"] = runtime_component()  # nothing known: still valid
    assert problems(decl) == []


# --- the application's own revision ------------------------------------------------------------


def _app_module(repo: Path, name: str) -> Any:
    """A module of the application in ``repo`` whose function asks for its revision, as an
    adapter does on the application's behalf."""
    import importlib.util

    source = repo / f"{name}.py"
    source.write_text(
        "from runid.runtime import application_code\n\n\ndef revision():\n"
        "    return application_code()\n"
    )
    spec = importlib.util.spec_from_file_location(name, source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_revision_from_the_environment_wins(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(runtime.APP_REVISION_ENV, "v2.3.1+build.7")
    monkeypatch.setenv(runtime.APP_REPOSITORY_ENV, "https://deploy:s3cret@git.example.com/app.git")
    code = runtime.application_code(caller=repo)
    assert code == {
        "repository": "https://git.example.com/app.git",  # credentials dropped
        "revision": "v2.3.1+build.7",
        "dirty": NOT_RECORDED,
    }


def test_the_revision_of_the_calling_code_is_read_from_git_files(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(runtime.APP_REVISION_ENV, raising=False)
    head = git(repo, "rev-parse", "HEAD").decode().strip()
    module = _app_module(repo, "runid_test_app_loose")
    assert module.revision() == {
        "repository": NOT_RECORDED,
        "revision": head,
        "dirty": NOT_RECORDED,
    }


@pytest.mark.parametrize("layout", ["packed", "detached", "worktree"])
def test_every_git_layout_gives_the_commit(
    tmp_path: Path, layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(runtime.APP_REVISION_ENV, raising=False)
    repo = tmp_path / f"repo-{layout}"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "app.py").write_text("print('v1')\n")
    git(repo, "add", "app.py")
    git(repo, "commit", "-q", "-m", "v1")
    head = git(repo, "rev-parse", "HEAD").decode().strip()
    where = repo
    if layout == "packed":
        git(repo, "pack-refs", "--all")
        assert not any((repo / ".git" / "refs" / "heads").iterdir())
    elif layout == "detached":
        git(repo, "checkout", "-q", "--detach")
    else:
        where = tmp_path / "linked"
        git(repo, "worktree", "add", "-q", "--detach", str(where))
    assert runtime.application_code(caller=where / "app.py")["revision"] == head


def test_no_repository_no_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(runtime.APP_REVISION_ENV, raising=False)
    assert runtime.application_code(caller=tmp_path) == NOT_RECORDED
    (tmp_path / ".git").mkdir()  # a broken repository: still nothing, never an error
    assert runtime.application_code(caller=tmp_path / "x.py") == NOT_RECORDED


def test_adapters_declare_the_application_revision(monkeypatch: pytest.MonkeyPatch) -> None:
    from runid.integrations.agent import tool_runtime
    from runid.integrations.openai import declaration_from_chat_request

    monkeypatch.setenv(runtime.APP_REVISION_ENV, "abc1234")
    decl, _ = declaration_from_chat_request(
        {"model": "m", "messages": [{"role": "user", "content": "Hi"}]},
        base_url="http://127.0.0.1:8080/v1",
    )
    assert decl["runtime"]["code"]["revision"] == "abc1234"
    assert problems(decl) == []
    assert tool_runtime()["code"]["revision"] == "abc1234"
