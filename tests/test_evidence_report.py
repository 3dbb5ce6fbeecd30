"""The evidence report (issue 16, item 2): what ran, when conditions changed, policy and
verification results, the clause mapping; its digest in the signed manifest when exported
with the bundle; HTML that fetches nothing and escapes what the records say; a PDF printed by
headless Chromium (skipped when there is none)."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from evidence_home import POLICY, START, make_home, variant
from runid._cli import main
from runid.evidence import (
    CLAUSES,
    MANIFEST,
    REPORT_HTML,
    REPORT_PDF,
    EvidenceError,
    render_report,
    summarise,
    verify_files,
)
from runid.evidence.archive import read_zip
from runid.evidence.pdf import chromium
from runid.home import Home
from runid.log import Log

RUNS = 12


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    yield make_home(tmp_path_factory.mktemp("report") / "home", RUNS)[0]


def _run(home: Home, *args: str) -> None:
    result = CliRunner().invoke(main, ["--home", str(home.path), "evidence", *args])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def page(home: Home, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("out")
    _run(home, "report", "--policy", str(POLICY), "--no-pdf", "-o", str(out))
    return (out / "report.html").read_text("utf-8")


def test_the_report_says_what_ran_with_counts_and_time_ranges(page: str) -> None:
    for heading in (
        "Summary",
        "What ran",
        "When each condition changed",
        "Policy results",
        "Verification results",
        "Record-keeping clauses",
    ):
        assert f"<h2>{heading}</h2>" in page
    assert "openai/gpt-4o-mini @ gpt-4o-mini-2024-07-18" in page
    assert "openai/gpt-4o-mini @ gpt-4o-mini-2025-01-31" in page
    assert "template support/system v7" in page and "template support/system v8" in page
    assert re.search(r"Models \(2\).*?<td class=\"n\">6</td>", page, re.S)  # 6 runs each
    assert "2025-03-01 09:00:00Z" in page  # the first run, to the second


def test_the_timeline_shows_each_change(page: str) -> None:
    assert "<svg" in page and "Timeline of conditions" in page
    # model at run 6, template at run 4, index at run 8, temperature at runs 4, 5, 9, 10
    assert "7 change(s) between consecutive runs" in page
    assert "2025-03-01 15:00:00Z" in page  # the model change (run 6)
    assert "temperature=0.2" in page and "temperature=0.7" in page


def test_the_summary_of_conditions_is_right() -> None:
    runs = [variant(i, RUNS) for i in range(RUNS)]
    assert len({r["model"]["version"] for r in runs}) == 2


def test_policy_and_verification_results_are_in_the_report(page: str) -> None:
    assert "acme-support-bot" in page and 'class="badge fail"' in page
    assert "<code>model.version</code>" in page
    assert "ok</span> runs: 12 envelopes signed and valid" in page
    assert "Verified from the log" in page


def test_every_clause_is_cited_with_what_it_does_not_show(page: str) -> None:
    for clause in (
        "Art. 12(1)",
        "Art. 19(1)",
        "Art. 26(6)",
        "Art. 72(1)-(2)",
        "Art. 73(6)",
        "GOVERN 1.6",
        "MEASURE 2.4",
        "MANAGE 4.1, 4.3",
        "A.6.2.8",
        "A.7.5",
    ):
        assert re.search(rf"<b>[^<]*{re.escape(clause)}[^<]*</b>", page), clause
    assert all(c.does_not_show and c.shows and c.paraphrase for c in CLAUSES)
    assert "not that an obligation is met" in page


def test_the_page_fetches_nothing(page: str) -> None:
    assert not re.search(r"\b(?:src|href)\s*=", page)
    assert "@import" not in page and "url(" not in page


def test_what_the_records_say_is_escaped(tmp_path: Path) -> None:
    home, _ids = make_home(tmp_path / "home", 2)
    hostile = copy.deepcopy(variant(0, 2))
    hostile["model"]["name"] = "<script>alert(1)</script>"
    with Log.open(home) as log:
        log.record_run(
            hostile,
            output=b"x",
            started_at=START + timedelta(hours=5),
            ended_at=START + timedelta(hours=5),
        )
    _run(home, "report", "--no-pdf", "-o", str(tmp_path / "out"))
    text = (tmp_path / "out" / "report.html").read_text("utf-8")
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_a_report_exported_with_the_bundle_is_in_the_signed_manifest(
    home: Home, tmp_path: Path
) -> None:
    out = tmp_path / "b.zip"
    _run(home, "export", "--policy", str(POLICY), "--report", "-o", str(out))
    files = read_zip(out.read_bytes())
    listed = {f["path"]: f["sha256"] for f in json.loads(files[MANIFEST])["files"]}
    assert listed[REPORT_HTML] == hashlib.sha256(files[REPORT_HTML]).hexdigest()
    assert (REPORT_PDF in files) == (chromium() is not None)
    verified = verify_files(files, [home.public_key()])
    assert "checked at export" in files[REPORT_HTML].decode()
    changed = dict(files)
    changed[REPORT_HTML] = files[REPORT_HTML].replace(b"fail", b"pass", 1)
    with pytest.raises(EvidenceError) as caught:
        verify_files(changed, [home.public_key()])
    assert caught.value.file == REPORT_HTML
    # From the bundle, the report is the same but for where its results come from.
    again = render_report(verified, generated_at="now", tool_version="x")
    variants, changes = summarise(verified.runs)
    assert len(variants["model"]) == 2 and len(changes) == 7
    assert "openai/gpt-4o-mini @ gpt-4o-mini-2025-01-31" in again


def test_a_report_of_a_bundle_disclosing_nothing_shows_digests_only(
    home: Home, tmp_path: Path
) -> None:
    _run(home, "export", "--disclose", "none", "-o", str(tmp_path / "b.zip"))
    _run(home, "report", str(tmp_path / "b.zip"), "--no-pdf", "-o", str(tmp_path / "out"))
    text = (tmp_path / "out" / "report.html").read_text("utf-8")
    assert "gpt-4o-mini" not in text.replace("gpt-4o-mini-20", "")  # only observed, if any
    assert "undisclosed (" in text
    assert "Models (2)" in text  # the model change is still seen, by its digest
    assert "7 change(s)" in text


@pytest.mark.slow
def test_the_pdf_is_printed_by_chromium(home: Home, tmp_path: Path) -> None:
    if chromium() is None:
        pytest.skip("no Chromium (apt-get install chromium)")
    _run(home, "report", "-o", str(tmp_path / "out"))
    pdf = (tmp_path / "out" / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and len(pdf) > 20_000
    assert b"/Type /Page" in pdf or b"/Type/Page" in pdf
