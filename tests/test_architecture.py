"""The architecture, enforced: layers, no reach into private names, modules under 600 lines.

runid is layered (docs/architecture.md). From the bottom:

====  ============  ==========================================================================
rank  layer         what it holds
====  ============  ==========================================================================
0     core          pure formats and algorithms: bytes and values in, values out, no I/O
1     shell         the home directory, key files, storage, the log (the one write path)
2     capture       recording runs as they happen (context manager, writer thread)
3     integrations  adapters for real clients (OpenAI, transformers, llama.cpp, agents, RAG)
4     replay        re-running a recorded run through its adapter
5     edge          the command line, the demo, ``python -m runid``
====  ============  ==========================================================================

A module may import modules of its own layer or of a layer below, never above. Core modules
import no I/O (files, databases, threads, processes, sockets). Integrations never import the
CLI. No module imports another module's private (``_``-prefixed) function, class or value;
a package's private *submodules* are its own business and may be imported inside the package.
No module other than generated code exceeds 600 lines. Error codes are the constants of
``runid.errors``: no other module spells one as a string literal (``"E_TOO_LARGE"``).

Each rule is also checked against a small synthetic package, so a rule that stopped seeing
violations would fail here too.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "runid"
MAX_LINES = 600

#: Module (or package prefix) -> layer. The longest matching prefix wins.
LAYERS: dict[str, str] = {
    "runid": "edge",  # the package root only re-exports the curated API
    "runid.__main__": "edge",
    "runid._cli": "edge",
    "runid._server": "edge",
    "runid._ui": "edge",
    "runid.errors": "core",
    "runid.admin": "core",
    "runid._internal": "core",
    "runid._internal.files": "shell",
    "runid._internal.filedigest": "shell",
    "runid.canonical": "core",
    "runid.digest": "core",
    "runid.declaration": "core",
    "runid.identity": "core",
    "runid.merkle": "core",
    "runid.record": "core",
    "runid.envelope": "core",
    "runid.keys": "core",
    "runid.note": "core",
    "runid.checkpoint": "core",
    "runid.proof": "core",
    "runid.receipt": "core",
    "runid.wire": "core",
    "runid.examples": "core",
    "runid.privacy": "core",
    "runid.diff": "core",
    "runid.policy": "core",
    "runid.scl": "core",
    "runid.evidence": "core",
    "runid.evidence.archive": "shell",
    "runid.evidence.collect": "shell",
    "runid.evidence.pdf": "shell",
    "runid.tlog": "core",
    "runid.home": "shell",
    "runid.store": "shell",
    "runid.log": "shell",
    "runid.filedigest": "shell",
    "runid.runtime": "shell",
    "runid.resolve": "shell",
    "runid.transparency": "shell",
    "runid.capture": "capture",
    "runid.integrations": "integrations",
    "runid.replay": "replay",
}
RANK = {"core": 0, "shell": 1, "capture": 2, "integrations": 3, "replay": 4, "edge": 5}

#: What a core module may not import: the file system, databases, threads, processes, network.
IO_MODULES = frozenset(
    {
        "os",
        "pathlib",
        "shutil",
        "tempfile",
        "glob",
        "io",
        "sqlite3",
        "psycopg",
        "threading",
        "multiprocessing",
        "concurrent",
        "asyncio",
        "subprocess",
        "signal",
        "socket",
        "ssl",
        "http",
        "urllib",
        "atexit",
    }
)

#: Generated modules are exempt from the size rule (their generator is checked instead).
GENERATED = frozenset({"runid._internal.generated_validator"})


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    target: str  # dotted module name imported (or the module a name is imported from)
    names: tuple[str, ...]  # names imported from target ("" for `import target`)
    line: int
    type_checking: bool  # inside `if TYPE_CHECKING:` (no run-time edge)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(importer: str, is_package: bool, level: int, module: str | None) -> str:
    if level == 0:
        return module or ""
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, root: Path) -> Iterator[Import]:
    name = module_name(path, root)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for inner in node.body:
                for sub in ast.walk(inner):
                    guarded.add(id(sub))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, ("",), node.lineno, id(node) in guarded)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(name, is_package, node.level, node.module)
            names = tuple(alias.name for alias in node.names)
            yield Import(name, target, names, node.lineno, id(node) in guarded)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted((root / PACKAGE).rglob("*.py"))}


def layer_of(module: str) -> str | None:
    best = None
    for prefix in LAYERS:
        # The package root names only itself; every other entry is a prefix.
        matches = module == prefix or (prefix != PACKAGE and module.startswith(prefix + "."))
        if matches and (best is None or len(prefix) > len(best)):
            best = prefix
    return LAYERS[best] if best is not None else None


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


# --- the rules, as functions of a source tree (so they can be shown failing) -------------------


def unlayered(root: Path) -> list[str]:
    return [m for m in modules(root) if layer_of(m) is None]


def upward_imports(root: Path) -> list[str]:
    found = []
    for module, path in modules(root).items():
        here = layer_of(module)
        if here is None or module == PACKAGE:
            continue
        for imp in imports_of(path, root):
            if imp.type_checking or not imp.target.startswith(PACKAGE):
                continue
            targets = [imp.target]
            # `from runid import capture` imports the module runid.capture
            if imp.target == PACKAGE:
                targets = [f"{PACKAGE}.{n}" for n in imp.names]
            for target in targets:
                there = layer_of(target)
                if there is not None and RANK[there] > RANK[here]:
                    found.append(f"{module}:{imp.line} ({here}) imports {target} ({there})")
    return found


def core_io_imports(root: Path) -> list[str]:
    found = []
    for module, path in modules(root).items():
        if layer_of(module) != "core":
            continue
        for imp in imports_of(path, root):
            top = imp.target.split(".")[0]
            if not imp.type_checking and top in IO_MODULES:
                found.append(f"{module}:{imp.line} imports {imp.target}")
    return found


def integrations_importing_cli(root: Path) -> list[str]:
    found = []
    for module, path in modules(root).items():
        if not module.startswith(f"{PACKAGE}.integrations"):
            continue
        for imp in imports_of(path, root):
            if imp.target.startswith(f"{PACKAGE}._cli") or imp.target.startswith(f"{PACKAGE}.cli"):
                found.append(f"{module}:{imp.line} imports {imp.target}")
    return found


def private_reach_ins(root: Path) -> list[str]:
    """``from a import _x`` where ``_x`` is not a submodule of ``a`` and ``a`` is not the
    importer itself; and ``import a`` then ``a._x`` attribute use."""
    all_modules = modules(root)
    found = []
    for module, path in all_modules.items():
        for imp in imports_of(path, root):
            if not imp.target.startswith(PACKAGE) or imp.target == module:
                continue
            for name in imp.names:
                if name and _is_private(name) and f"{imp.target}.{name}" not in all_modules:
                    found.append(f"{module}:{imp.line} imports {imp.target}.{name}")
        found.extend(_private_attribute_uses(module, path, root, all_modules))
    return found


def _private_attribute_uses(
    module: str, path: Path, root: Path, all_modules: dict[str, Path]
) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases: dict[str, str] = {}
    for imp_node in ast.walk(tree):
        if isinstance(imp_node, ast.Import):
            for alias in imp_node.names:
                if alias.name.startswith(PACKAGE):
                    aliases[alias.asname or alias.name.split(".")[0]] = (
                        alias.name if alias.asname else alias.name.split(".")[0]
                    )
        elif isinstance(imp_node, ast.ImportFrom):
            target = _resolve(module, path.name == "__init__.py", imp_node.level, imp_node.module)
            for alias in imp_node.names:
                full = f"{target}.{alias.name}"
                if full in all_modules:
                    aliases[alias.asname or alias.name] = full
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and _is_private(node.attr)
            and aliases[node.value.id] != module
            and f"{aliases[node.value.id]}.{node.attr}" not in all_modules
        ):
            found.append(f"{module}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    return found


#: A string that is an error code (``E_TOO_LARGE``).
CODE = re.compile(r"E_[A-Z0-9_]+")
#: The one module that defines the codes (as constants); generated code is exempt too.
CODES_MODULE = f"{PACKAGE}.errors"


def code_literals(root: Path) -> list[str]:
    """String constants that are error codes, outside :data:`CODES_MODULE` and generated code:
    a code is named by its ``runid.errors`` constant, so a misspelt one fails at import."""
    found = []
    for module, path in modules(root).items():
        if module == CODES_MODULE or module in GENERATED:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
            if is_text and CODE.fullmatch(node.value):
                found.append(f"{module}:{node.lineno} {node.value!r}")
    return found


def oversized(root: Path) -> list[str]:
    found = []
    for module, path in modules(root).items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES and module not in GENERATED:
            found.append(f"{module}: {lines} lines")
    return found


RULES = {
    "every module has a layer": unlayered,
    "no module imports a layer above its own": upward_imports,
    "core modules do no I/O": core_io_imports,
    "integrations never import the CLI": integrations_importing_cli,
    "no module reaches into another module's private names": private_reach_ins,
    f"no module over {MAX_LINES} lines": oversized,
    "error codes are runid.errors constants, not string literals": code_literals,
}


@pytest.mark.parametrize("rule", RULES)
def test_the_source_tree_keeps_the_rule(rule: str) -> None:
    violations = RULES[rule](SRC)
    assert violations == [], f"{rule}:\n  " + "\n  ".join(violations)


# --- each rule fails on a tree that breaks it ----------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / PACKAGE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for folder in [tmp_path / PACKAGE, *(tmp_path / PACKAGE).rglob("*")]:
        if folder.is_dir() and not (folder / "__init__.py").exists():
            (folder / "__init__.py").write_text("", encoding="utf-8")
    return tmp_path


BROKEN: dict[str, dict[str, str]] = {
    "every module has a layer": {"stray.py": "X = 1\n"},
    "no module imports a layer above its own": {
        "canonical.py": "from .capture import Recorder\n",
        "capture/__init__.py": "class Recorder: ...\n",
    },
    "core modules do no I/O": {"digest.py": "import sqlite3\n"},
    "integrations never import the CLI": {
        "integrations/openai.py": "from .._cli import main\n",
        "_cli/__init__.py": "def main() -> None: ...\n",
    },
    "no module reaches into another module's private names": {
        "capture/__init__.py": "from ..identity import _identity_and_canonical\n",
        "identity.py": "def _identity_and_canonical() -> None: ...\n",
    },
    f"no module over {MAX_LINES} lines": {"merkle.py": "X = 1\n" * (MAX_LINES + 1)},
    "error codes are runid.errors constants, not string literals": {
        "_cli/scl.py": 'def fail() -> None:\n    raise ValueError(code="E_TOO_LARGE")\n',
        "errors.py": 'E_TOO_LARGE = "E_TOO_LARGE"\n',
    },
}


@pytest.mark.parametrize("rule", RULES)
def test_the_rule_fails_on_a_tree_that_breaks_it(rule: str, tmp_path: Path) -> None:
    root = _tree(tmp_path, BROKEN[rule])
    assert RULES[rule](root) != []
    # ... and the same tree without the offending file keeps every rule but the layer map's
    clean = _tree(tmp_path / "clean", {"canonical.py": "import hashlib\n"})
    assert RULES[rule](clean) == []


def test_a_private_attribute_reach_in_is_seen(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "capture/__init__.py": "from .. import identity\nidentity._secret()\n",
            "identity.py": "def _secret() -> None: ...\n",
        },
    )
    assert private_reach_ins(root) == ["runid.capture:2 uses runid.identity._secret"]


def test_a_package_may_import_its_own_private_submodules(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "policy/__init__.py": "from . import _rules\nfrom ._rules import evaluate\n",
            "policy/_rules.py": "def evaluate() -> None: ...\n",
        },
    )
    assert private_reach_ins(root) == []
    assert upward_imports(root) == []
