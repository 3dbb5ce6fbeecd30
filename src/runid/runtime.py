"""Runtime facts for the ``runtime`` component of a declaration (docs/spec.md §7).

Everything here is gathered *before* inference and describes the conditions the run is set up
to execute under, so it is **declared** (it goes into the declaration and its id): library
versions, Python, OS and architecture, hardware class, code revision and a digest of
uncommitted changes. Nothing here is observed from the serving side; facts reported by a
provider (served model, fingerprint, usage, finish reason) are observed facts of the execution
record instead (:mod:`runid.record`).

Gathering never raises and never hangs: a distribution that is not installed is left out of
``libraries`` (listed in ``missing``), and git that is absent, slow (``timeout``) or run outside
a repository gives ``{"absent": "not_recorded"}``.

>>> facts = runtime_component(["orjson"], cwd="/")
>>> sorted(facts)
['code', 'determinism', 'engine', 'hardware', 'libraries', 'platform']
>>> "orjson" in facts["libraries"], facts["code"]
(True, {'absent': 'not_recorded'})
>>> from runid.declaration import problems
>>> decl = {"spec": "runid/v1", "model": {"absent": "not_recorded"}, "parameters": {},
...         "instructions": {"absent": "not_applicable"}, "inputs": {"absent": "not_recorded"},
...         "context": {"absent": "not_applicable"}, "tools": {"absent": "not_applicable"},
...         "runtime": facts, "constraints": {"absent": "not_applicable"}}
>>> problems(decl)
[]
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .digest import content_digest

__all__ = [
    "code_revision",
    "hardware_class",
    "library_versions",
    "platform_facts",
    "runtime_component",
]

NOT_RECORDED: dict[str, str] = {"absent": "not_recorded"}
NOT_APPLICABLE: dict[str, str] = {"absent": "not_applicable"}

# Machine names differ by OS for the same architecture; one spelling keeps ids consistent.
_ARCH = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64", "i686": "x86", "i386": "x86"}


def library_versions(distributions: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """``({name: version}, missing)`` for the given distribution names.

    >>> versions, missing = library_versions(["orjson", "no-such-dist-xyz"])
    >>> list(versions), missing
    (['orjson'], ['no-such-dist-xyz'])
    """
    found: dict[str, str] = {}
    missing: list[str] = []
    for name in distributions:
        try:
            version = importlib.metadata.version(name)
        except (importlib.metadata.PackageNotFoundError, ValueError):
            missing.append(name)
            continue
        if version:  # a broken metadata file can say "", which the schema rejects
            found[name] = version
        else:
            missing.append(name)
    return found, missing


def _arch() -> str:
    machine = platform.machine().lower() or "unknown"
    return _ARCH.get(machine, machine)


def platform_facts() -> dict[str, str]:
    """``{"os", "arch", "python"}``: e.g. ``linux``, ``x86_64``, ``3.11.7``."""
    return {
        "os": sys.platform if sys.platform != "linux2" else "linux",
        "arch": _arch(),
        "python": platform.python_version(),
    }


def hardware_class(accelerator: str | None = None) -> str:
    """A hardware *class*, never a serial number: ``cpu-x86_64`` unless an accelerator class
    (e.g. ``nvidia-a100-80gb``, which only the model library can tell) is given.

    >>> hardware_class("nvidia-a100-80gb")
    'nvidia-a100-80gb'
    """
    return accelerator or f"cpu-{_arch()}"


def _git(args: list[str], cwd: Path, timeout: float) -> bytes | None:
    """stdout of a git command, or None on any failure (missing git, not a repo, timeout)."""
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    try:
        done = subprocess.run(
            ["git", "-C", str(cwd), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return done.stdout if done.returncode == 0 else None


def code_revision(
    cwd: str | os.PathLike[str] | None = None,
    *,
    repository: str | None = None,
    timeout: float = 2.0,
) -> dict[str, Any]:
    """The ``code`` field: git commit of ``cwd`` (default: the current directory) and, when
    there are uncommitted changes to tracked files, the artifact digest of ``git diff HEAD``.

    ``repository`` is taken only from the caller: a remote URL read from git config may carry
    credentials (``https://token@host/...``). Untracked files are not in ``git diff HEAD`` and
    so not in the digest. Outside a repository, without git, or past ``timeout`` seconds:
    ``{"absent": "not_recorded"}``.
    """
    where = Path(cwd) if cwd is not None else Path.cwd()
    head = _git(["rev-parse", "--verify", "HEAD"], where, timeout)
    revision = head.decode("ascii", "replace").strip() if head else ""
    if not revision:
        return dict(NOT_RECORDED)
    # --no-ext-diff / --no-textconv: the bytes must be git's own, not a configured tool's.
    diff = _git(["diff", "HEAD", "--binary", "--no-ext-diff", "--no-textconv"], where, timeout)
    if diff is None:
        dirty: dict[str, str] | str = dict(NOT_RECORDED)
    elif diff:
        dirty = content_digest(diff)
    else:
        dirty = dict(NOT_APPLICABLE)
    return {
        "repository": repository or dict(NOT_RECORDED),
        "revision": revision,
        "dirty": dirty,
    }


def runtime_component(
    distributions: Iterable[str] = (),
    *,
    engine: Mapping[str, Any] | None = None,
    accelerator: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    repository: str | None = None,
    determinism: Mapping[str, Any] | None = None,
    git_timeout: float = 2.0,
) -> dict[str, Any]:
    """A complete v1 ``runtime`` component from this process (all declared conditions).

    ``engine`` is ``{"name", "version"}`` of the inference engine if the caller knows it (else
    ``not_recorded``); ``determinism`` holds flags such as ``{"torch.deterministic": true}``.
    Distributions that are not installed are left out of ``libraries``.
    """
    libraries, _missing = library_versions(distributions)
    return {
        "engine": dict(engine) if engine is not None else dict(NOT_RECORDED),
        "libraries": libraries,
        "platform": platform_facts(),
        "hardware": hardware_class(accelerator),
        "code": code_revision(cwd, repository=repository, timeout=git_timeout),
        "determinism": dict(determinism or {}),
    }
