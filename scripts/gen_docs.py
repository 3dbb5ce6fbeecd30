"""Regenerate the files derived from the code: JSON Schema, spec field reference, examples.

Run ``python scripts/gen_docs.py`` after changing ``runid/declaration.py``;
``tests/test_docs.py`` fails while either file is stale. ``--check`` only compares.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from runid.declaration import json_schema, reference_markdown
from runid.examples import EXAMPLES, example

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "docs" / "schema" / "declaration-v1.schema.json"
SPEC = ROOT / "docs" / "spec.md"
BEGIN = "<!-- BEGIN GENERATED: reference -->"
END = "<!-- END GENERATED: reference -->"
EXAMPLES_DIR = ROOT / "examples" / "declarations"


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def spec_text(current: str) -> str:
    head, _, rest = current.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{reference_markdown()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    outputs = [(SCHEMA, schema_text()), (SPEC, spec_text(SPEC.read_text("utf-8")))]
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
