"""A home for the web UI's tests: runs whose conditions change over time (the evidence tests'
home), plus a replay of one run, a run whose declaration is withheld, a failed run and a run
with absent components; its contents stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from evidence_home import make_home
from runid.digest import content_ref
from runid.examples import example
from runid.home import Home
from runid.identity import compute_identity
from runid.log import Log
from runid.record import new_record

RUNS = 12
POLICY = Path(__file__).resolve().parent.parent / "examples" / "policies" / "acme-support.yaml"


def make_ui_home(path: Path) -> tuple[Home, dict[str, str]]:
    """The home and its notable execution ids: ``first``, ``second``, ``last`` (of the RAG
    pipeline), ``replay`` (of ``first``), ``withheld``, ``failed``, ``absent``."""
    home, ids = make_home(path, RUNS)
    named = {"first": ids[0], "second": ids[1], "last": ids[-1], "changed": ids[RUNS // 2]}
    when = datetime(2025, 3, 2, 12, tzinfo=UTC)
    with Log.open(home) as log:
        original = log.entry(ids[0]).record
        declaration = log.declaration(original["declaration_id"])
        assert declaration is not None
        replay = new_record(
            original["declaration_id"],
            issuer=log.key,  # type: ignore[arg-type]
            started_at=when,
            ended_at=when + timedelta(seconds=1),
            outputs=[content_ref(b"Refund 0 is on its way, again.")],
            observed={"served_model": "gpt-4o-mini-2024-07-18", "finish_reason": "stop"},
            replay_of=ids[0],
        )
        named["replay"] = log.append_record(replay).record["execution_id"]
        withheld = example("chat-hosted-model")
        record = new_record(
            compute_identity(withheld).declaration_id,
            issuer=log.key,  # type: ignore[arg-type]
            started_at=when + timedelta(minutes=1),
            ended_at=when + timedelta(minutes=1, seconds=1),
            outputs=[content_ref(b"withheld answer")],
        )
        named["withheld"] = log.append_record(record).record["execution_id"]
        entry = log.record_run(
            example("absent-components"),
            output=b"<script>alert(1)</script> & answer",
            started_at=when + timedelta(minutes=2),
            ended_at=when + timedelta(minutes=2, seconds=1),
        )
        named["absent"] = entry.record["execution_id"]
    return home, named
