"""Which conditions of two runs diverged, and how their outcomes relate. Pure: no I/O.

:func:`compare` takes two sides (anything with ``declaration_id``, ``components``,
``declaration`` and ``record``, such as :class:`runid.resolve.Subject`) and compares, like
``nix-diff`` walking two derivations:

1. the **component digests** first (a one-level Merkle tree: equal digests mean equal
   components, and nothing below them is read);
2. inside each differing component, every diverged **leaf**, with a readable path and both
   values. Lists are aligned (longest common subsequence), so an inserted or removed item is one
   change, not a shift of every later index; items of a list whose items carry identity fields
   (retrieved chunks by ``source`` and ``chunk``, tools and artifacts by ``name``, ...) are
   matched by them. Content references, absence markers and parameter entries are compared
   as single values: each is one condition;
3. where a declaration is withheld, the components from their digests alone;
4. the **observed facts** and the **outcome** of the two records, when both sides are runs,
   which classifies the relation (:data:`VERDICTS`). A changed output under one declaration
   is called sampling nondeterminism only when the declaration records every condition that
   can change the output (:func:`unrecorded`); otherwise the verdict is ``undetermined`` and
   names what was not recorded (``model not recorded``).

``compare(a, b)`` mirrors ``compare(b, a)`` exactly: lists are aligned in an order fixed by
their content, not by which side came first.

The comparison is :func:`compare` (with :class:`Comparison` and :class:`Change`); the list
alignment it uses is :func:`align`; :mod:`runid.diff.report` shortens values and groups changes
for a report, and holds the JSON Schema of ``runid diff --json``. Everything is re-exported
here.

>>> from runid.examples import example
>>> a, b = example("chat-hosted-model"), example("chat-hosted-model")
>>> b["parameters"]["temperature"]["value"] = 0.7
>>> b["model"]["version"] = "gpt-4o-mini-2024-09-01"
>>> for change in diff_declarations(a, b):
...     print(change.path, format_value(change.a), "->", format_value(change.b))
model.version "gpt-4o-mini-2024-07-18" -> "gpt-4o-mini-2024-09-01"
parameters.temperature 0.2 -> 0.7
"""

from __future__ import annotations

from ._align import Block, align
from ._compare import (
    MISSING,
    PROVIDER_FACTS,
    VERDICTS,
    Change,
    ChangeKind,
    Comparison,
    ComponentState,
    Side,
    Verdict,
    compare,
    diff_declarations,
    diff_values,
)
from ._recorded import OUTPUT_CONDITIONS, unrecorded
from .report import DIFF_FORMAT, format_value, group_runs, json_schema

__all__ = [
    "DIFF_FORMAT",
    "MISSING",
    "OUTPUT_CONDITIONS",
    "PROVIDER_FACTS",
    "VERDICTS",
    "Block",
    "Change",
    "ChangeKind",
    "Comparison",
    "ComponentState",
    "Side",
    "Verdict",
    "align",
    "compare",
    "diff_declarations",
    "diff_values",
    "format_value",
    "group_runs",
    "json_schema",
    "unrecorded",
]
