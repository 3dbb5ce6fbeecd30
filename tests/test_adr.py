"""The decision records: each has a status and a date, and the index lists every one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ADR = Path(__file__).resolve().parent.parent / "docs" / "adr"
RECORDS = sorted(ADR.glob("[0-9][0-9][0-9][0-9]-*.md"))


def test_there_are_records() -> None:
    assert len(RECORDS) >= 12


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.name[:4])
def test_every_record_has_a_title_status_and_date(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.startswith(f"# ADR {path.name[:4]}: ")
    assert re.search(r"^- Status: (proposed|accepted|superseded by \d{4})", text, re.M)
    assert re.search(r"^- Date: \d{4}-\d{2}-\d{2}$", text, re.M)


def test_the_index_lists_every_record_with_its_title() -> None:
    index = (ADR / "index.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\| \[(\d{4})\]\(([^)]+)\) \| (.+?) \|", index, re.M)
    assert [name for _num, name, _title in listed] == [p.name for p in RECORDS]
    for _num, name, title in listed:
        first = (ADR / name).read_text(encoding="utf-8").splitlines()[0]
        assert first.split(": ", 1)[1] == title
