"""Erasure and retention (issue 16, docs/spec.md §20.7): a person's content is deleted from the
blob store, and afterwards every proof, receipt and bundle still verifies, ``runid log audit``
is clean, the bytes are nowhere in the SQLite files, a replay says the content was erased, and
a lookup says so too. Runs are recorded through the real :class:`runid.capture.Recorder`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from runid._cli import main
from runid.capture import Recorder
from runid.digest import content_digest
from runid.errors import (
    E_CONTENT_ERASED,
    E_ERASE,
    E_ERASE_SHARED,
    E_RETENTION,
    InputError,
)
from runid.evidence import SALTED_MEDIA_TYPE, unsalted
from runid.evidence.archive import read_zip
from runid.examples import example
from runid.home import Home
from runid.integrations.openai import declaration_from_chat_request
from runid.log import Log
from runid.log.erasure import erase, plan_erasure
from runid.privacy import Privacy
from runid.replay import blob_fetcher

ORIGIN = "runid.example/erasure"
ENDPOINT = "http://127.0.0.1:9/v1"  # nothing listens: a replay must fail before calling
SYSTEM = "You are the support assistant of Acme Bank. Answer in three sentences at most."
ALICE = "My name is Alice Example, card 4000 1234 5678 9010, and I was charged twice."
BOB = "Bob here: how long does a refund take?"
CAROL = "Carol: is the branch in Leeds open on Saturdays?"


def cli(home: Home, *args: str) -> Result:
    return CliRunner().invoke(main, ["--home", str(home.path), *args])


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def chat(recorder: Recorder, *messages: str, answer: str) -> str:
    """Record one chat run (the OpenAI adapter's declaration, its contents stored); its
    execution id."""
    request = {
        "model": "gpt-4o-mini-2024-07-18",
        "messages": [{"role": "system", "content": SYSTEM}]
        + [{"role": "user", "content": m} for m in messages],
        "temperature": 0.2,
    }
    declaration, contents = declaration_from_chat_request(request, base_url=ENDPOINT)
    with recorder.capture(declaration, contents=list(contents.values())) as run:
        run.set_output(answer)
    assert run.recorded
    return str(run.execution_id)


def digest(text: str) -> str:
    return content_digest(text.encode("utf-8"))


def db_bytes(home: Home) -> bytes:
    """The SQLite log's bytes on disk: the database file and its write-ahead log."""
    files = [home.path / "log.sqlite3", home.path / "log.sqlite3-wal"]
    return b"".join(path.read_bytes() for path in files if path.exists())


@pytest.fixture
def home(tmp_path: Path) -> tuple[Home, list[str]]:
    """Alice's run (entry 0), Bob's (1), Carol's (2); Bob's question comes back in Carol's
    run (a conversation), so Bob's content is shared."""
    home = Home(tmp_path / "home")
    home.init_keys(ORIGIN)
    with Recorder(home) as recorder:
        ids = [
            chat(recorder, ALICE, answer="Alice, the second charge will be refunded."),
            chat(recorder, BOB, answer="Refunds take five business days."),
            chat(recorder, BOB, CAROL, answer="The Leeds branch opens 9-12 on Saturdays."),
        ]
    return home, ids


def test_erasing_a_runs_input_keeps_every_proof_and_removes_the_bytes(
    home: tuple[Home, list[str]], tmp_path: Path
) -> None:
    h, ids = home
    vkey = h.public_key().vkey
    secret = ALICE.encode("utf-8")
    before = tmp_path / "before.zip"
    receipt = tmp_path / "receipt.json"
    ok(cli(h, "evidence", "export", "-o", str(before)))
    ok(cli(h, "log", "prove", "0", "-o", str(receipt)))
    assert any(secret in data for data in read_zip(before.read_bytes()).values())
    assert secret in db_bytes(h)  # the test would prove nothing otherwise

    dry = json.loads(
        ok(cli(h, "log", "erase", "0", "--component", "inputs", "--dry-run", "--json")).output
    )
    assert dry["dry_run"] is True and dry["erase"] == 1 and dry["shared"] == 0
    [content] = dry["contents"]
    assert content["digest"] == digest(ALICE)
    assert content["parts"] == ["inputs"] and content["runs"] == 1 and content["other_runs"] == []
    assert secret in db_bytes(h)  # a dry run erases nothing

    done = json.loads(
        ok(
            cli(h, "log", "erase", "0", "--component", "inputs", "--reason", "ticket 17", "--json")
        ).output
    )
    assert done["erased_digests"] == [digest(ALICE)]
    assert done["wal_checkpointed"] is True

    # Nothing runid keeps holds the bytes: not the database file, not its write-ahead log.
    assert secret not in db_bytes(h)
    assert b"charged twice" not in db_bytes(h)
    # Everything still verifies: the audit, the old receipt, the old bundle.
    ok(cli(h, "log", "audit"))
    assert "verified" in ok(cli(h, "verify", str(receipt), "--key", vkey)).output
    ok(cli(h, "evidence", "verify", str(before), "--key", vkey))
    # A new bundle verifies and lacks the content; the other contents are still in it.
    after = tmp_path / "after.zip"
    ok(cli(h, "evidence", "export", "-o", str(after)))
    ok(cli(h, "evidence", "verify", str(after), "--key", vkey))
    files = read_zip(after.read_bytes())
    assert not any(secret in data for data in files.values())
    assert f"contents/{digest(ALICE)[7:]}" not in files
    assert f"contents/{digest(BOB)[7:]}" in files
    # A new receipt of the run still verifies too.
    ok(cli(h, "log", "prove", ids[0], "-o", str(tmp_path / "again.json")))
    ok(cli(h, "verify", str(tmp_path / "again.json"), "--key", vkey))
    # The lookup says erased (when, why); other contents are stored.
    shown = ok(cli(h, "log", "erasures", digest(ALICE), digest(BOB))).output
    assert f"{digest(ALICE)}  erased at " in shown and "(ticket 17)" in shown
    assert f"{digest(BOB)}  stored" in shown
    listed = json.loads(ok(cli(h, "log", "erasures", "--json")).output)["contents"]
    assert [(c["digest"], c["status"], c["reason"]) for c in listed] == [
        (digest(ALICE), "erased", "ticket 17")
    ]
    # Replaying the run fails, saying the content was erased.
    replayed = cli(h, "replay", ids[0], "--endpoint", ENDPOINT)
    assert replayed.exit_code == 2, replayed.output
    assert f"content {digest(ALICE)} was erased from this log" in replayed.output
    with Log.open(h, need_key=False) as log, pytest.raises(InputError) as info:
        blob_fetcher(log)(digest(ALICE))
    assert info.value.code == E_CONTENT_ERASED


def test_content_other_runs_reference_is_refused_without_force(
    home: tuple[Home, list[str]],
) -> None:
    h, ids = home
    refused = cli(h, "log", "erase", ids[1], "--component", "inputs")
    assert refused.exit_code == 2
    assert "1 content(s) are referenced by other runs too" in refused.output
    assert "hint: list them with --dry-run; pass --force" in refused.output
    listed = json.loads(
        ok(cli(h, "log", "erase", "1", "--all-content", "--dry-run", "--json")).output
    )
    by_digest = {c["digest"]: c for c in listed["contents"]}
    assert by_digest[digest(BOB)]["other_runs"] == [2]
    # The system prompt is every run's: erasing it by digest concerns all three.
    assert by_digest[digest(SYSTEM)]["parts"] == ["instructions"]
    assert by_digest[digest(SYSTEM)]["other_runs"] == [0, 2]
    failed = json.loads(cli(h, "log", "erase", "1", "--component", "inputs", "--json").output)
    assert failed["code"] == E_ERASE_SHARED and failed["erased"] is False
    with Log.open(h) as log:
        assert log.content(digest(BOB)) is not None  # nothing was erased
        shared = plan_erasure(log, [digest(SYSTEM)])
        assert shared.contents[0].runs == (0, 1, 2)
        with pytest.raises(InputError) as info:
            erase(log, shared)
        assert info.value.code == E_ERASE_SHARED
    ok(cli(h, "log", "erase", "1", "--component", "inputs", "--force"))
    with Log.open(h) as log:
        assert log.content(digest(BOB)) is None
        assert log.content(digest(CAROL)) is not None
    ok(cli(h, "log", "audit"))


def test_erasing_a_runs_declaration_and_outputs(home: tuple[Home, list[str]]) -> None:
    h, ids = home
    result = json.loads(
        ok(
            cli(h, "log", "erase", ids[0], "--component", "outputs", "--declaration", "--json")
        ).output
    )
    parts = {tuple(c["parts"]) for c in result["contents"]}
    assert parts == {("outputs",), ("declaration",)}
    assert len(result["erased_digests"]) == 2
    ok(cli(h, "log", "audit"))
    show = json.loads(ok(cli(h, "log", "show", "0")).output)
    assert show["record"]["declaration_id"]  # the id stays in the record
    missing = cli(h, "log", "declaration", "0")
    assert missing.exit_code == 2 and "does not hold declaration" in missing.output
    replayed = cli(h, "replay", ids[0], "--endpoint", ENDPOINT)
    assert "was erased from this log" in replayed.output
    # With its declaration gone, the run's components cannot be found any more.
    gone = cli(h, "log", "erase", "0", "--component", "inputs")
    assert gone.exit_code == 2 and "does not hold the declaration of entry 0" in gone.output
    # Its input is still erasable by digest.
    ok(cli(h, "log", "erase", digest(ALICE), "--reason", "by digest"))
    ok(cli(h, "log", "audit"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sha256:" + "0" * 64,), "is not stored in this log (and was never erased here)"),
        (("not-a-digest",), "is not a content digest"),
        (("0", "--component", "retrieval"), "not a component of a declaration: 'retrieval'"),
        (("0", "--component", "inputs", "--reason", "a\nb"), "one line"),
    ],
)
def test_bad_erasures_are_refused_with_a_code(
    home: tuple[Home, list[str]], args: tuple[str, ...], message: str
) -> None:
    result = json.loads(cli(home[0], "log", "erase", *args, "--json").output)
    assert result["code"] == E_ERASE
    assert message in result["message"]


def test_keyed_index_lines_are_erased_by_keyed_digest(tmp_path: Path) -> None:
    h = Home(tmp_path / "home")
    h.init_keys(ORIGIN)
    privacy = Privacy("keyed", hmac_key=b"k" * 32, hmac_key_id="acme-2026")
    with Recorder(h, privacy=privacy) as recorder:
        chat(recorder, ALICE, answer="ok")
        chat(recorder, BOB, answer="ok")
    lines = h.keyed_index_path.read_text().splitlines()
    alice = privacy.keyed_digest(ALICE.encode())
    assert any(alice in line for line in lines)
    result = json.loads(ok(cli(h, "log", "erase", alice, "--json")).output)
    assert result["keyed_removed"] == 1
    kept = h.keyed_index_path.read_text().splitlines()
    assert len(kept) == len(lines) - 1 and not any(alice in line for line in kept)
    assert any(privacy.keyed_digest(BOB.encode()) in line for line in kept)
    assert h.keyed_index_path.stat().st_mode & 0o777 == 0o600
    # Appending after an erasure goes to the new file.
    with Recorder(h, privacy=privacy) as recorder:
        chat(recorder, CAROL, answer="ok")
    assert privacy.keyed_digest(CAROL.encode()) in h.keyed_index_path.read_text()


# --- retention ------------------------------------------------------------------------------


def dated_home(path: Path, config: str | None) -> Home:
    """Two runs through Log.record_run with fixed start times: 2025-01-10 (Alice's question)
    and 2025-06-01 (Bob's); both use the system prompt."""
    h = Home(path)
    h.init_keys(ORIGIN)
    if config is not None:
        h.config_path.write_text(config)
    with Log.open(h) as log:
        for text, day in (
            (ALICE, datetime(2025, 1, 10, tzinfo=UTC)),
            (BOB, datetime(2025, 6, 1, tzinfo=UTC)),
        ):
            declaration: dict[str, Any] = example("chat-hosted-model")
            declaration["instructions"]["system"] = [content_ref(SYSTEM)]
            declaration["inputs"]["messages"] = [{"role": "user", "content": content_ref(text)}]
            for blob in (SYSTEM, text):
                log.store.put_blob(blob.encode("utf-8"))
            log.record_run(
                declaration, output=f"answer to {text[:5]}".encode(), started_at=day, ended_at=day
            )
    return h


def content_ref(text: str) -> dict[str, Any]:
    from runid.digest import content_ref as ref

    return dict(ref(text))


def test_retention_erases_the_contents_of_old_runs_only(tmp_path: Path) -> None:
    h = dated_home(tmp_path / "home", "[retention]\ncontents_days = 90\ndeclarations = true\n")
    now = "2025-06-15T00:00:00Z"  # the cutoff is 2025-03-17: Alice's run is old, Bob's recent
    listed = json.loads(ok(cli(h, "log", "retention", "--now", now, "--json")).output)
    assert listed["applied"] is False and listed["cutoff"] == "2025-03-17T00:00:00Z"
    assert listed["runs"] == {"old": 1, "recent": 1}
    assert listed["erase"]["contents"] == 2  # Alice's question and her answer
    assert listed["erase"]["declarations"] == 1
    assert listed["kept_shared"] == 1  # the system prompt: Bob's run still uses it
    assert set(listed["digests"]) >= {digest(ALICE), content_digest(b"answer to My na")}
    with Log.open(h) as log:
        assert log.content(digest(ALICE)) is not None  # listing erased nothing
    text = ok(cli(h, "log", "retention", "--now", now, "--apply")).output
    assert "erased 2 content(s) and 1 declaration(s)" in text
    with Log.open(h) as log:
        assert log.content(digest(ALICE)) is None
        assert log.content(digest(SYSTEM)) is not None
        assert log.content(digest(BOB)) is not None
        assert log.size() == 3  # records stay, and the erasure notice follows them
        erasure = log.store.erasure(digest(ALICE))
        assert erasure is not None and erasure.reason == "retention: contents kept 90 days"
    ok(cli(h, "log", "audit"))
    ok(cli(h, "log", "show", "0"))
    again = json.loads(ok(cli(h, "log", "retention", "--now", now, "--json")).output)
    assert again["erase"] == {"contents": 0, "declarations": 0, "bytes": 0}
    # A moment within the retention of year 1 (no cut-off date exists): nothing is old.
    early = json.loads(ok(cli(h, "log", "retention", "--now", "0001-01-05", "--json")).output)
    assert early["erase"] == {"contents": 0, "declarations": 0, "bytes": 0}


@pytest.mark.parametrize(
    ("config", "code", "message"),
    [
        (None, E_RETENTION, "no retention setting"),
        ("[retention]\nrecords_days = 30\n", E_RETENTION, "kept for ever"),
        ("[retention]\ncontents_days = 0\n", E_RETENTION, "1 or more"),
        ("[retention]\ncontents_days = 99999999999999999999\n", E_RETENTION, "at most 100,000"),
        ("[retention]\ncontents_days = 30\nkeep = 1\n", E_RETENTION, "not a retention setting"),
        ("[retension]\ncontents_days = 30\n", "E_CONFIG", "unknown setting 'retension'"),
        ("[retention\n", "E_CONFIG", "not a TOML file"),
    ],
)
def test_a_retention_setting_that_cannot_be_used_is_refused(
    tmp_path: Path, config: str | None, code: str, message: str
) -> None:
    h = dated_home(tmp_path / "home", config)
    result = json.loads(cli(h, "log", "retention", "--apply", "--json").output)
    assert result["code"] == code and message in result["message"]
    with Log.open(h) as log:
        assert log.content(digest(ALICE)) is not None


# --- privacy mode "salted" ------------------------------------------------------------------


def test_salted_capture_leaves_no_plain_digest_and_erasure_leaves_nothing(tmp_path: Path) -> None:
    """A low-entropy content (a name) committed salted: its plain digest is nowhere in the log,
    equal contents keep equal declaration ids, and once the salted blob is erased nothing runid
    keeps can confirm a guess."""
    h = Home(tmp_path / "home")
    h.init_keys(ORIGIN)
    privacy = Privacy("salted", hmac_key=b"s" * 32, hmac_key_id="acme-2026")
    name, answer = "Alice Example", "Yes."
    with Recorder(h, privacy=privacy) as recorder:
        ids = [chat(recorder, name, answer=answer), chat(recorder, name, answer=answer)]
    on_disk = db_bytes(h)
    for text in (name, answer, SYSTEM):
        assert digest(text)[7:].encode() not in on_disk  # no plain digest, in any form
        assert digest(text) not in on_disk.decode("latin-1")
    assert name.encode() in on_disk  # (the salted blob holds it, until it is erased)
    with Log.open(h) as log:
        first, second = log.entry(ids[0]).record, log.entry(ids[1]).record
        assert first["declaration_id"] == second["declaration_id"]  # the salts are derived
        assert first["outcome"]["outputs"] == second["outcome"]["outputs"]
        assert first["outcome"]["outputs"][0]["media_type"] == SALTED_MEDIA_TYPE
        declaration = log.declaration(first["declaration_id"])
        assert declaration is not None
        ref = declaration["inputs"]["messages"][0]["content"]
        assert ref["media_type"] == SALTED_MEDIA_TYPE
        blob = log.content(ref["digest"])
        assert blob is not None and unsalted(blob) == ("text/plain; charset=utf-8", name.encode())
    before = tmp_path / "before.zip"
    ok(cli(h, "evidence", "export", "-o", str(before)))
    # Both runs reference the name: erasing it is refused, then forced.
    assert cli(h, "log", "erase", "0", "--component", "inputs").exit_code == 2
    ok(cli(h, "log", "erase", "0", "--component", "inputs", "--force", "--reason", "ticket 9"))
    on_disk = db_bytes(h)
    assert name.encode() not in on_disk
    assert digest(name)[7:].encode() not in on_disk
    ok(cli(h, "log", "audit"))
    vkey = h.public_key().vkey
    ok(cli(h, "evidence", "verify", str(before), "--key", vkey))
    after = tmp_path / "after.zip"
    ok(cli(h, "evidence", "export", "-o", str(after)))
    ok(cli(h, "evidence", "verify", str(after), "--key", vkey))
    assert not any(name.encode() in data for data in read_zip(after.read_bytes()).values())


def test_salted_privacy_needs_an_organisation_key() -> None:
    with pytest.raises(InputError) as info:
        Privacy("salted")
    assert "salted privacy needs an organisation key" in info.value.message
    assert repr(Privacy("salted", hmac_key=b"k" * 16, hmac_key_id="k1")) == (
        "Privacy(mode='salted', hmac_key_id='k1')"
    )
