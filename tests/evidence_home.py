"""A home whose log holds runs whose conditions change over time, with their contents stored:
what the evidence tests (and the report's timeline) are about.

Runs are the RAG example (``runid.examples``) one hour apart from 2025-03-01T09:00Z; the
model snapshot changes halfway, the instructions' template version after a third, the index
snapshot after two thirds, and every fifth run has temperature 0.7. The contents the
declarations reference (system prompt, query, user message, retrieved chunks) are stored
blobs, as capture stores them.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runid.digest import content_digest, content_ref
from runid.examples import POLICY_CHUNKS, SUPPORT_PROMPT, example
from runid.home import Home
from runid.log import Log

START = datetime(2025, 3, 1, 9, tzinfo=UTC)
ORIGIN = "runid.example/log"
QUERY = "charged twice for card order refund"
QUESTION = "I was charged twice for my card. Refund?"
TEXTS = [SUPPORT_PROMPT, QUERY, QUESTION, *(text for _s, _c, text in POLICY_CHUNKS)]
POLICY = Path(__file__).resolve().parent.parent / "examples" / "policies" / "acme-support.yaml"


def variant(i: int, n: int) -> dict[str, Any]:
    """The declaration of run ``i`` of ``n``."""
    decl = copy.deepcopy(example("rag-retrieved-chunks"))
    if i >= n // 2:
        decl["model"]["version"] = "gpt-4o-mini-2025-01-31"
    if i >= n // 3:
        template = decl["instructions"]["template"]
        template["version"] = "8"
        template["digest"] = content_digest(b"template v8")
        decl["instructions"]["source"] = "prompt-registry:support/system@8"
    if i >= 2 * n // 3:
        decl["context"]["index"]["snapshot"] = content_digest(b"index snapshot 2025-03-02")
    if i % 5 == 4:
        decl["parameters"]["temperature"]["value"] = 0.7
    return decl


def make_home(path: Path, runs: int = 12) -> tuple[Home, list[str]]:
    """A home with ``runs`` runs (one append each); the execution ids, in log order."""
    home = Home(path)
    home.init_keys(ORIGIN)
    ids = []
    with Log.open(home) as log:
        for text in TEXTS:
            log.store.put_blob(text.encode("utf-8"))
        for i in range(runs):
            started = START + timedelta(hours=i)
            entry = log.record_run(
                variant(i, runs),
                output=f"Refund {i} is on its way.".encode(),
                started_at=started,
                ended_at=started + timedelta(seconds=2),
                observed={
                    "served_model": variant(i, runs)["model"]["version"],
                    "finish_reason": "stop",
                    "usage": {"input_tokens": 300 + i, "output_tokens": 20},
                },
            )
            ids.append(entry.record["execution_id"])
    return home, ids


def refs() -> dict[str, str]:
    """The digest of each stored text, by text."""
    return {text: content_ref(text)["digest"] for text in TEXTS}
