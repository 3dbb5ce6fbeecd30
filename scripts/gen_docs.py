"""Regenerate the files derived from the code: JSON Schema, spec field reference, examples.

Run ``python scripts/gen_docs.py`` after changing ``runid/declaration.py``;
``tests/test_docs.py`` fails while either file is stale. ``--check`` only compares.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from pathlib import Path

import click

from runid import diff, errors, policy, record
from runid._cli import main as cli_main
from runid._cli._schemas import SCHEMAS as CLI_SCHEMAS
from runid._internal.schema import codegen
from runid._internal.wiregen import wire_text
from runid.declaration import json_schema, reference_markdown
from runid.examples import EXAMPLES, example

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "docs" / "schema" / "declaration-v1.schema.json"
RECORD_SCHEMA = ROOT / "docs" / "schema" / "record-v1.schema.json"
POLICY_SCHEMA = ROOT / "docs" / "schema" / "policy-v1.schema.json"
DIFF_SCHEMA = ROOT / "docs" / "schema" / "diff-v1.schema.json"
CLI_DOC = ROOT / "docs" / "cli.md"
SPEC = ROOT / "docs" / "spec.md"
README = ROOT / "README.md"
EXAMPLES_DIR = ROOT / "examples" / "declarations"
WIRE = ROOT / "src" / "runid" / "wire.py"
VALIDATORS = ROOT / "src" / "runid" / "_internal" / "generated_validator.py"


def schema_text(schema: object) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def replace_block(current: str, name: str, body: str) -> str:
    begin, end = f"<!-- BEGIN GENERATED: {name} -->", f"<!-- END GENERATED: {name} -->"
    head, _, rest = current.partition(begin)
    _, _, tail = rest.partition(end)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def error_codes_markdown(spec: str) -> str:
    """The spec's one table of error codes: every constant in runid.errors with the sections of
    the spec that describe it (found by the code's spelling in backticks)."""
    spec = spec.split("<!-- BEGIN GENERATED: error-codes -->", maxsplit=1)[0]
    where: dict[str, list[str]] = {}
    section = ""
    for line in spec.splitlines():
        if line.startswith("## "):
            section = line[3:].split(".")[0].strip()
        for code in errors.CODES:
            if f"`{code}`" in line and section and section not in where.setdefault(code, []):
                where[code].append(section)
    rows = ["| code | described in |", "|---|---|"]
    for code in sorted(errors.CODES):
        sections = ", ".join(f"§{s}" for s in where.get(code, [])) or "(nowhere yet)"
        rows.append(f"| `{code}` | {sections} |")
    return "\n".join(rows)


def contents_markdown(spec: str) -> str:
    """The spec's contents line: its ``##`` headings, in order."""
    headings = [line[3:] for line in spec.splitlines() if line.startswith("## ")]
    titles = [heading.replace(". ", " ", 1) for heading in headings]
    return "Contents: " + " · ".join(titles)


def _architecture() -> object:
    """tests/test_architecture.py, the one place the layers are defined."""
    spec = importlib.util.spec_from_file_location(
        "_architecture", ROOT / "tests" / "test_architecture.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def layout_markdown() -> str:
    """README's layout table: each module and package of src/runid (and each integration), its
    layer, and the first line of its docstring."""
    arch: object = _architecture()
    package = ROOT / "src" / "runid"
    units = [p for p in package.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    units += [p / "__init__.py" for p in package.iterdir() if (p / "__init__.py").is_file()]
    integrations = package / "integrations"
    units += [p for p in integrations.glob("*.py") if p.name != "__init__.py"]
    units += [p / "__init__.py" for p in integrations.iterdir() if (p / "__init__.py").is_file()]
    rows = []
    for path in units:
        unit = path.parent if path.name == "__init__.py" else path
        name = ".".join(unit.relative_to(ROOT / "src").with_suffix("").parts)
        layer = arch.layer_of(name)  # type: ignore[attr-defined]
        doc = ast.get_docstring(ast.parse(path.read_text("utf-8"))) or ""
        first = doc.strip().splitlines()[0] if doc.strip() else "(no docstring)"
        shown = unit.relative_to(ROOT).as_posix() + ("/" if unit.is_dir() else "")
        rank = arch.RANK[layer]  # type: ignore[attr-defined]
        rows.append((rank, shown, f"| {layer} | `{shown}` | {first.replace('|', '/')} |"))
    head = ["| layer | path | what it holds |", "|---|---|---|"]
    return "\n".join(head + [row for _rank, _shown, row in sorted(rows)])


def spec_text(current: str) -> str:
    text = replace_block(current, "contents", contents_markdown(current))
    text = replace_block(text, "reference", reference_markdown())
    text = replace_block(text, "record-reference", record.reference_markdown())
    text = replace_block(text, "policy-reference", policy.reference_markdown())
    return replace_block(text, "error-codes", error_codes_markdown(text))


def cli_text() -> str:
    """docs/cli.md: the --help of every command, so the reference cannot drift from the code."""
    parts = ["# runid command line", "", "Generated from `--help` by `scripts/gen_docs.py`.", ""]

    def walk(command: click.Command, path: list[str], parent: click.Context | None) -> None:
        ctx = click.Context(command, info_name=path[-1], parent=parent, terminal_width=100)
        parts.extend([f"## `{' '.join(path)}`", "", "```text", command.get_help(ctx), "```", ""])
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):  # sorted; imports lazy commands
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(sub, [*path, name], ctx)

    walk(cli_main, ["runid"], None)
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    outputs = [
        (SCHEMA, schema_text(json_schema())),
        (RECORD_SCHEMA, schema_text(record.json_schema())),
        (POLICY_SCHEMA, schema_text(policy.json_schema())),
        (DIFF_SCHEMA, schema_text(diff.json_schema())),
        # The --json results of log append, log consistency and keys show.
        *((SCHEMA.parent / name, schema_text(schema)) for name, schema in CLI_SCHEMAS.items()),
        (SPEC, spec_text(SPEC.read_text("utf-8"))),
        (README, replace_block(README.read_text("utf-8"), "layout", layout_markdown())),
        (CLI_DOC, cli_text()),
        (WIRE, wire_text(WIRE.read_text("utf-8"))),
        # The validators precompiled (import runid would otherwise compile them, ~15 ms).
        (VALIDATORS, codegen.generated_module(codegen.named_nodes())),
    ]
    outputs += [
        (EXAMPLES_DIR / f"{name}.json", json.dumps(example(name), indent=2) + "\n")
        for name in EXAMPLES
    ]
    for path, new in outputs:
        if not path.exists() or path.read_text("utf-8") != new:
            stale.append(path.relative_to(ROOT))
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(new, "utf-8")
    if check and stale:
        print("stale: " + ", ".join(map(str, stale)) + " (run python scripts/gen_docs.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
