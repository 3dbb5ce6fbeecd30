"""Shared fixtures: example declarations and the paths of checked-in vectors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runid.examples import EXAMPLES, example

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
VECTORS = TESTS / "vectors"


@pytest.fixture(params=sorted(EXAMPLES))
def example_decl(request: pytest.FixtureRequest) -> dict[str, Any]:
    return example(request.param)
