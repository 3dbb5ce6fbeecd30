"""The report as PDF: headless Chromium's print-to-PDF of the report's HTML.

:func:`chromium` finds the browser (``$RUNID_CHROMIUM``, else ``chromium``,
``chromium-browser`` or ``google-chrome`` on ``PATH``; Debian's package is ``chromium``);
:func:`html_to_pdf` prints a page with it in a throwaway profile, with networking, sync,
component updates and first-run pages off (the report fetches nothing: its CSS and chart are
inline).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Final

from ..errors import E_FILE, FileAccessError

__all__ = ["TIMEOUT", "chromium", "html_to_pdf"]

TIMEOUT: Final = 180.0
"""Seconds Chromium may take to print one report."""

_NAMES: Final = ("chromium", "chromium-browser", "google-chrome")
_FLAGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-pdf-header-footer",
)


def chromium() -> str | None:
    """The path of a Chromium to print with, or None."""
    chosen = os.environ.get("RUNID_CHROMIUM")
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else None
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def html_to_pdf(page: str, *, browser: str | None = None) -> bytes:
    """The PDF Chromium prints of the HTML ``page``; :class:`~runid.errors.FileAccessError`
    when there is no Chromium or it fails."""
    path = browser or chromium()
    if path is None:
        raise FileAccessError(
            "no Chromium to print the report to PDF with",
            code=E_FILE,
            hint="apt-get install chromium (or set RUNID_CHROMIUM); --no-pdf writes the HTML only",
        )
    with tempfile.TemporaryDirectory(prefix="runid-report-") as folder:
        work = Path(folder)
        source, target = work / "report.html", work / "report.pdf"
        source.write_text(page, encoding="utf-8")
        command = [
            path,
            *_FLAGS,
            f"--user-data-dir={work / 'profile'}",
            f"--print-to-pdf={target}",
            source.as_uri(),
        ]
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
                env={**os.environ, "HOME": str(work)},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise FileAccessError(f"Chromium could not print the report ({exc})") from None
        if not target.is_file() or target.stat().st_size == 0:
            detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise FileAccessError(
                f"Chromium did not print the report (exit {done.returncode}: {detail[0][:200]})"
            )
        return target.read_bytes()
