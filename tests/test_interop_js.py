"""Cross-check the golden vectors with an independent JavaScript implementation.

`tests/interop/runid-id.mjs` was written from `docs/spec.md` and the JSON Schema alone, with no
access to the Python source. If it and the vectors agree, the spec is precise enough to
reproduce every canonical form, component digest and declaration id in the vectors.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "interop" / "runid-id.mjs"


def _run_node(*args: str) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH")
    return subprocess.run(
        [node, str(SCRIPT), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_identity_vectors_agree_with_js() -> None:
    result = _run_node("--vectors", "tests/vectors/identity")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].endswith(" 0 failed")


def test_jcs_vectors_agree_with_js() -> None:
    result = _run_node("--jcs", "tests/vectors/jcs")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].endswith(" 0 failed")
