"""Shared by the benchmarks: replace one script's section of docs/performance.md."""

from __future__ import annotations

from pathlib import Path


def write_section(path: Path, name: str, lines: list[str]) -> None:
    """Put ``lines`` between this script's markers, leaving the other sections as they are."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = "\n".join([begin, *lines, end])
    text = path.read_text("utf-8") if path.exists() else "# Performance\n"
    if begin in text:
        head, _, rest = text.partition(begin)
        text = head + block + rest.partition(end)[2]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, "utf-8")
