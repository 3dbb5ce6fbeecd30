"""docs/spec.md holds formats and algorithms only (issue 10, item 8).

The command line is docs/command-line.md (and docs/cli.md, generated from ``--help``); capture
and the reference adapters are docs/capture-reference.md. Where a section of the spec held
them, its number is kept, so the ``§N`` references in the code, the docs and the tests stay
valid: either the section now holds only the formats it defined, or it is a stub whose title
ends ``(moved to docs/PAGE.md)`` and whose body is one paragraph pointing there.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "docs" / "spec.md"

#: Words that make a heading's subject the command line, capture or an adapter.
OFF_TOPIC = re.compile(
    r"command line|\bCLI\b|adapter|openai|llama|transformers|hugging face|anthropic|langchain"
    r"|durability|group commit|opentelemetry|remote capture|informative|\bpush\b",
    re.IGNORECASE,
)
STUB = re.compile(r"\(moved to docs/([\w-]+\.md)\)$")

#: The only `runid COMMAND ...` spellings the spec may hold: each names the program that
#: prints a JSON format the spec defines, so a reader knows where to find that output.
ALLOWED_INVOCATIONS = frozenset(
    {
        "runid verify --json",  # §14.3, the verification report
        "runid log audit --json",  # §14.1, the audit report
        "runid id --json",  # §16.1, the identity file
        "runid diff --json",  # §16.5, the diff report
        "runid check --json",  # §17.4, the check report
        "runid replay --json",  # §18.3, the replay report
        "runid replay --agent --json",  # §18.4, the agent replay report
        "runid evidence verify --json",  # §20.3, the bundle verification report
    }
)
#: `runid` followed by a space and a lowercase word: a command (not `runid/v1`, `runid:v1:…`,
#: `runid.module` or `runid_<token>`).
INVOCATION = re.compile(r"`(runid [a-z][^`]*)`")


def _sections(text: str) -> list[tuple[str, str]]:
    """The ``##`` and ``###`` headings of a Markdown page and the text up to the next one."""
    parts = re.split(r"^(#{2,3} .+)$", text, flags=re.MULTILINE)
    return [(parts[i].lstrip("#").strip(), parts[i + 1]) for i in range(1, len(parts), 2)]


def test_no_section_is_about_the_command_line_capture_or_an_adapter() -> None:
    offending = []
    for title, body in _sections(SPEC.read_text("utf-8")):
        if not OFF_TOPIC.search(title):
            continue
        stub = STUB.search(title)
        paragraphs = [p for p in body.strip().split("\n\n") if p.strip()]
        if stub is None or len(paragraphs) != 1 or "```" in body:
            offending.append(title)
        else:
            assert (ROOT / "docs" / stub.group(1)).is_file(), title
            assert f"]({stub.group(1)}" in body, f"{title}: the stub links to its page"
    assert offending == []


def test_the_spec_names_no_command_but_the_producers_of_its_formats() -> None:
    found = set(INVOCATION.findall(SPEC.read_text("utf-8")))
    assert sorted(found - ALLOWED_INVOCATIONS) == []


def test_the_contents_line_lists_the_headings_in_order() -> None:
    text = SPEC.read_text("utf-8")
    line = next(line for line in text.splitlines() if line.startswith("Contents: "))
    headings = [h[3:].replace(". ", " ", 1) for h in text.splitlines() if h.startswith("## ")]
    assert line.removeprefix("Contents: ").split(" · ") == headings


def test_the_pages_the_spec_hands_off_to_exist_and_point_back() -> None:
    spec = SPEC.read_text("utf-8")
    for page in ("command-line.md", "capture-reference.md"):
        assert f"]({page}" in spec, page
        assert "](spec.md" in (ROOT / "docs" / page).read_text("utf-8"), page
