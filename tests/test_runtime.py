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
