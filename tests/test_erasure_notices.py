"""Erasure notices (docs/spec.md §20.7): every erasure appends one entry signed by the log's key
that names the erased digests, the time, the reason and the rule, before the blobs go; and
``runid log audit`` checks the local erasure rows and the blobs against the notices."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from runid._cli import main
from runid.capture import Recorder
from runid.errors import E_ERASED_STORED, E_ERASURE_UNNOTICED
from runid.evidence.archive import read_zip
from runid.home import Home
from runid.log import Log
from runid.log.notices import ERASE_ACTION, iter_notices
from runid.store.sqlite import SQLiteStore
from test_erasure import ALICE, BOB, ORIGIN, chat, dated_home, digest

RETENTION = "[retention]\ncontents_days = 90\n"
NOW = "2025-06-15T00:00:00Z"  # Alice's run (2025-01-10) is old, Bob's (2025-06-01) recent


def cli(home: Home, *args: str) -> Result:
    return CliRunner().invoke(main, ["--home", str(home.path), *args])


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def notices(home: Home) -> list[tuple[int, dict[str, Any]]]:
    with Log.open(home, need_key=False) as log:
        return list(iter_notices(log.store, log.keyring))


def audit(home: Home) -> dict[str, Any]:
    result = cli(home, "log", "audit", "--json")
    return dict(json.loads(result.output))


def sql(home: Home, statement: str, *params: object) -> None:
    conn = sqlite3.connect(home.path / "log.sqlite3", isolation_level=None)
    try:
        conn.execute(statement, params)
    finally:
        conn.close()


@pytest.fixture
def home(tmp_path: Path) -> Home:
    """Alice's run (entry 0) and Bob's (1)."""
    h = Home(tmp_path / "home")
    h.init_keys(ORIGIN)
    with Recorder(h) as recorder:
        chat(recorder, ALICE, answer="Alice, the second charge will be refunded.")
        chat(recorder, BOB, answer="Refunds take five business days.")
    return h


def test_an_erasure_appends_a_signed_notice_with_a_receipt(home: Home, tmp_path: Path) -> None:
    assert notices(home) == []
    assert audit(home)["ok"] is True  # no erasure: nothing to find
    done = json.loads(
        ok(
            cli(
                home,
                "log",
                "erase",
                "0",
                "--component",
                "inputs",
                "--reason",
                "ticket 17",
                "--json",
            )
        ).output
    )
    assert done["erased_digests"] == [digest(ALICE)]
    assert done["notice"] == 2  # after the two runs
    [(index, action)] = notices(home)
    assert index == 2
    assert action["action"] == ERASE_ACTION
    assert action["digests"] == [digest(ALICE)] and action["keyed"] == []
    assert action["reason"] == "ticket 17" and action["rule"] == "manual"
    assert action["erased_at"].endswith("Z")
    with Log.open(home, need_key=False) as log:
        entry = log.entry(2)
        assert entry.record["issuer"]["key_id"] == log.public.key_id  # the log's key
        assert log.store.erasure(digest(ALICE)) is not None
        data = log.store.get_blob(entry.record["outcome"]["outputs"][0]["digest"])
    assert data is not None and b"Alice" not in data and b"charged" not in data  # no content
    # A receipt of the notice verifies offline.
    receipt = tmp_path / "notice.json"
    ok(cli(home, "log", "prove", "2", "-o", str(receipt)))
    vkey = home.public_key().vkey
    assert "verified" in ok(cli(home, "verify", str(receipt), "--key", vkey)).output
    assert audit(home)["ok"] is True
    # The lookup names the notice.
    [row] = json.loads(ok(cli(home, "log", "erasures", "--json")).output)["contents"]
    assert row["digest"] == digest(ALICE) and row["notice"] == 2
    assert "notice at entry 2" in ok(cli(home, "log", "erasures", digest(ALICE))).output
    # A dry run writes nothing; erasing what is erased already appends nothing.
    ok(cli(home, "log", "erase", digest(BOB), "--dry-run"))
    ok(cli(home, "log", "erase", digest(ALICE)))
    assert len(notices(home)) == 1
    with Log.open(home, need_key=False) as log:
        assert log.size() == 3


def test_audit_flags_a_blob_deleted_without_a_notice(home: Home) -> None:
    raw = bytes.fromhex(digest(BOB)[7:])
    sql(home, "DELETE FROM blobs WHERE digest = ?", raw)
    sql(home, "INSERT INTO erasures VALUES (?, '2026-01-01T00:00:00Z', 'forged')", raw)
    result = audit(home)
    assert result["ok"] is False
    codes = {(f["code"], f["where"]) for f in result["findings"]}
    assert (E_ERASURE_UNNOTICED, f"erasure of {digest(BOB)}") in codes


def test_audit_flags_a_notice_whose_content_is_stored(home: Home) -> None:
    ok(cli(home, "log", "erase", digest(ALICE), "--reason", "ticket 18"))
    assert audit(home)["ok"] is True
    # The same content stored again (a later run that captured it): the store's own path.
    with SQLiteStore.open(home.path) as store:
        store.put_blob(ALICE.encode())
    result = audit(home)
    assert result["ok"] is False
    assert [f["code"] for f in result["findings"]] == [E_ERASED_STORED]
    assert digest(ALICE) in result["findings"][0]["problem"]


def test_a_crash_after_the_notice_is_reported_and_completed_by_erasing_again(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_args: object, **_kwargs: object) -> list[str]:
        raise RuntimeError("power cut")

    with monkeypatch.context() as patch:
        patch.setattr(SQLiteStore, "erase_blobs", crash)
        failed = cli(home, "log", "erase", digest(ALICE), "--reason", "ticket 19")
        assert failed.exit_code != 0
    [(first, _action)] = notices(home)
    with Log.open(home, need_key=False) as log:
        assert log.content(digest(ALICE)) is not None  # not deleted: the notice came first
    result = audit(home)
    assert [f["code"] for f in result["findings"]] == [E_ERASED_STORED]
    # Erasing again completes it, under a second notice; the audit is clean again.
    done = json.loads(ok(cli(home, "log", "erase", digest(ALICE), "--json")).output)
    assert done["erased_digests"] == [digest(ALICE)] and done["notice"] == first + 1
    assert [index for index, _ in notices(home)] == [first, first + 1]
    assert audit(home)["ok"] is True


def test_retention_appends_one_notice_and_a_listing_none(tmp_path: Path) -> None:
    h = dated_home(tmp_path / "home", RETENTION)
    ok(cli(h, "log", "retention", "--now", NOW))
    assert notices(h) == []
    ok(cli(h, "log", "retention", "--now", NOW, "--apply"))
    [(index, action)] = notices(h)
    assert index == 2
    assert action["rule"] == "retention contents_days=90"
    assert action["reason"] == "retention: contents kept 90 days"
    assert digest(ALICE) in action["digests"] and digest(BOB) not in action["digests"]
    assert audit(h)["ok"] is True
    ok(cli(h, "log", "retention", "--now", NOW, "--apply"))  # nothing left: no notice
    assert len(notices(h)) == 1


def test_keyed_erasure_notice_names_the_keyed_digest(tmp_path: Path) -> None:
    from runid.privacy import Privacy

    h = Home(tmp_path / "home")
    h.init_keys(ORIGIN)
    privacy = Privacy("keyed", hmac_key=b"k" * 32, hmac_key_id="acme-2026")
    with Recorder(h, privacy=privacy) as recorder:
        chat(recorder, ALICE, answer="ok")
    alice = privacy.keyed_digest(ALICE.encode())
    ok(cli(h, "log", "erase", alice, "--reason", "ticket 20"))
    [(_index, action)] = notices(h)
    assert action["keyed"] == [alice] and action["digests"] == []
    assert audit(h)["ok"] is True


def test_a_bundle_of_a_log_holding_a_notice_verifies(home: Home, tmp_path: Path) -> None:
    ok(cli(home, "log", "erase", digest(ALICE), "--reason", "ticket 21"))
    bundle = tmp_path / "all.zip"
    ok(cli(home, "evidence", "export", "-o", str(bundle)))
    vkey = home.public_key().vkey
    ok(cli(home, "evidence", "verify", str(bundle), "--key", vkey))
    # The notice is one of the bundle's runs, with its action: signed word of the erasure.
    files = read_zip(bundle.read_bytes())
    assert "runs/2/envelope.json" in files
    erased = digest(ALICE).encode()
    assert any(
        b'"action":"content.erase"' in data and erased in data
        for name, data in files.items()
        if name.startswith("contents/")
    )
