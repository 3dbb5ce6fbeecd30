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

The application's own revision (which build of the app assembled the request) is
:func:`application_code`: ``$RUNID_APP_REVISION`` when set, else the commit checked out in the
git repository that holds the calling code, read from its ``.git`` files (no ``git`` process);
the adapters declare it as ``runtime.code``.

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

import functools
import importlib.metadata
import os
import platform
import re
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .digest import content_digest

__all__ = [
    "APP_REPOSITORY_ENV",
    "APP_REVISION_ENV",
    "application_code",
    "code_revision",
    "hardware_class",
    "library_versions",
    "platform_facts",
    "runtime_component",
]

NOT_RECORDED: dict[str, str] = {"absent": "not_recorded"}
NOT_APPLICABLE: dict[str, str] = {"absent": "not_applicable"}
#: The application's revision, as its build or deployment knows it (a commit, a tag, a build id).
APP_REVISION_ENV = "RUNID_APP_REVISION"
#: Where that revision lives (a repository URL; credentials in it are dropped).
APP_REPOSITORY_ENV = "RUNID_APP_REPOSITORY"

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


# --- the application's own revision ----------------------------------------------------------

_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# Revisions found per git directory, for the life of the process: the code a process runs was
# loaded when it started, so a commit made later does not describe it.
_REVISIONS: dict[str, str | None] = {}
_BY_FILE: dict[str, str | None] = {}  # a file of the application -> its checkout's revision
_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _library_roots() -> tuple[str, ...]:
    """Where installed code lives (the interpreter's prefixes, site-packages, the standard
    library): a frame there is a library's, never the application's."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for name in ("stdlib", "platstdlib", "purelib", "platlib", "scripts"):
        path = sysconfig.get_paths().get(name)
        if path:
            roots.add(path)
    return tuple(os.path.join(os.path.realpath(r), "") for r in roots if r)


@functools.lru_cache(maxsize=1024)
def _application_file(path: str) -> str | None:
    """``path`` resolved when it is application code, not an installed library's or the
    standard library's; None otherwise."""
    real = os.path.realpath(path)
    return None if real.startswith(_library_roots()) else real


def _caller_file(frame: FrameType | None) -> str | None:
    """The file of the first frame outside runid, installed libraries and the standard
    library: the application's code that called into the adapter. None when there is none."""
    while frame is not None:
        module = str(frame.f_globals.get("__name__") or "")
        if module != "runid" and not module.startswith("runid."):
            path = frame.f_code.co_filename
            if path.startswith("<"):  # <stdin>, <string>, a doctest: no file to place
                return None
            found = _application_file(path)
            if found is not None:
                return found
        frame = frame.f_back
    return None


def _git_dir(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        dot = folder / ".git"
        if dot.is_dir():
            return dot
        if dot.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = dot.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                target = Path(text[len("gitdir:") :].strip())
                return target if target.is_absolute() else (folder / target)
            return None
    return None


def _packed_ref(common: Path, ref: str) -> str | None:
    try:
        lines = (common / "packed-refs").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in lines.splitlines():
        parts = line.split(" ", 1)
        if len(parts) == 2 and parts[1].strip() == ref:
            return parts[0].strip()
    return None


def _head_commit(git_dir: Path) -> str | None:
    """The commit HEAD names, read from the files (a symbolic ref, loose or packed), or None."""
    try:
        head = (git_dir / "HEAD").read_text(encoding="utf-8", errors="replace").strip()
        common = git_dir
        if (git_dir / "commondir").is_file():  # a linked worktree keeps refs in the main one
            shared = (git_dir / "commondir").read_text(encoding="utf-8").strip()
            common = (git_dir / shared).resolve()
        if head.startswith("ref:"):
            ref = head[len("ref:") :].strip()
            loose = common / ref
            value = (
                loose.read_text(encoding="utf-8").strip()
                if loose.is_file()
                else _packed_ref(common, ref)
            )
        else:
            value = head
    except OSError:
        return None
    return value if value and _COMMIT.fullmatch(value) else None


def _revision_of(path: str) -> str | None:
    with _LOCK:
        if path in _BY_FILE:
            return _BY_FILE[path]
    where = Path(path)
    git_dir = _git_dir(where if where.is_dir() else where.parent)
    found = None
    if git_dir is not None:
        key = str(git_dir)
        with _LOCK:
            if key not in _REVISIONS:
                _REVISIONS[key] = _head_commit(git_dir)
            found = _REVISIONS[key]
    with _LOCK:
        _BY_FILE[path] = found
    return found


def _without_credentials(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return url
    if not parts.scheme or host is None or "@" not in parts.netloc:
        return url
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{port}" if port is not None else ""
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def application_code(*, caller: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The ``runtime.code`` of the application whose code calls into runid: which build of
    the app assembled the request (docs/capture-reference.md, "The application's revision").

    1. ``$RUNID_APP_REVISION`` when set (a commit, tag or build id the deployment knows; with
       ``$RUNID_APP_REPOSITORY``, credentials dropped, as ``repository``);
    2. else the commit checked out in the git repository holding ``caller`` (default: the file
       of the first stack frame outside runid, installed libraries and the standard library),
       read from the ``.git`` files without running git, once per repository and process (the
       code a process runs was loaded when it started);
    3. else ``{"absent": "not_recorded"}`` (an app installed from a wheel, a notebook cell).

    ``dirty`` is ``not_recorded``: whether the checkout had uncommitted changes is not
    computed here (that costs a ``git diff``; :func:`code_revision` does it). Never raises.

    >>> import os
    >>> os.environ[APP_REVISION_ENV] = "v2.3.1+build.7"
    >>> application_code()["revision"]
    'v2.3.1+build.7'
    >>> del os.environ[APP_REVISION_ENV]
    """
    revision = os.environ.get(APP_REVISION_ENV, "").strip()
    repository: Any = dict(NOT_RECORDED)
    if revision:
        given = os.environ.get(APP_REPOSITORY_ENV, "").strip()
        if given:
            repository = _without_credentials(given)
    else:
        try:
            path = os.fspath(caller) if caller is not None else _caller_file(sys._getframe(1))
            found = _revision_of(path) if path else None
        except (OSError, ValueError):
            found = None
        if found is None:
            return dict(NOT_RECORDED)
        revision = found
    return {"repository": repository, "revision": revision, "dirty": dict(NOT_RECORDED)}
