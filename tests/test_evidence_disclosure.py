"""Selective disclosure and erasure (issue 16, items 3 and 4): one component of one run with
what proves it belongs to the run's identity; salted content that a digest does not give away;
erased content leaves every receipt and bundle verifiable and is gone from new bundles."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from evidence_home import START, make_home, variant
from runid._cli import main
from runid.digest import content_digest
from runid.errors import InputError
from runid.evidence import (
    SALTED_MEDIA_TYPE,
    declaration_path,
    salted_content,
    unsalted,
    verify_files,
)
from runid.evidence.archive import read_zip
from runid.home import Home
from runid.identity import compute_identity, declaration_id_from_components
from runid.keys import Keyring
from runid.log import Log
from runid.log.erasure import MANUAL, erase_noticed
from runid.receipt import verify_receipt

ANSWER = b"yes"  # low entropy: its plain digest is found by hashing two guesses


def _salted_home(path: Path) -> tuple[Home, str, bytes]:
    """A home with one run whose user message and output are salted blobs."""
    home, _ids = make_home(path, 1)
    decl = copy.deepcopy(variant(0, 1))
    ref, blob = salted_content("Did I pay twice?")
    decl["inputs"]["messages"] = [{"role": "user", "content": dict(ref)}]
    out_ref, out_blob = salted_content(ANSWER)
    with Log.open(home) as log:
        log.store.put_blob(blob)
        started = START + timedelta(hours=1)
        entry = log.record_run(
            decl,
            output=out_blob,
            media_type=SALTED_MEDIA_TYPE,
            started_at=started,
            ended_at=started,
        )
    assert entry.record["outcome"]["outputs"][0]["digest"] == out_ref["digest"]
    return home, entry.record["execution_id"], blob


def _export(home: Home, out: Path, *args: str) -> dict[str, bytes]:
    result = CliRunner().invoke(
        main, ["--home", str(home.path), "evidence", "export", "-o", str(out), *args]
    )
    assert result.exit_code == 0, result.output
    return read_zip(out.read_bytes())


def test_one_component_of_one_run_proves_itself_against_the_record(tmp_path: Path) -> None:
    home, ids = make_home(tmp_path / "home", 4)
    files = _export(home, tmp_path / "b.zip", "--run", ids[2], "--disclose", "model")
    verify_files(files, [home.public_key()])
    envelope = [n for n in files if n.endswith("envelope.json")]
    assert envelope == ["runs/2/envelope.json"]
    record_id = compute_identity(variant(2, 4)).declaration_id
    document = json.loads(files[declaration_path(record_id)])
    # The proof an auditor can redo by hand: the disclosed value's digest is the listed one,
    # and the eight digests give the declaration id the signed record names.
    assert set(document["disclosed"]) == {"model"}
    assert declaration_id_from_components(document["components"]) == record_id
    assert compute_identity(variant(2, 4)).components["model"] == document["components"]["model"]
    for name in ("instructions", "inputs", "context"):
        assert (
            json.dumps(variant(2, 4)[name])[:40] not in files[declaration_path(record_id)].decode()
        )


def test_salted_content_is_not_found_by_its_plain_digest(tmp_path: Path) -> None:
    home, execution_id, _blob = _salted_home(tmp_path / "home")
    everything = b"".join(
        _export(home, tmp_path / "none.zip", "--run", execution_id, "--disclose", "none").values()
    )
    for guess in (b"yes", b"no", b"Did I pay twice?"):
        assert content_digest(guess)[7:].encode() not in everything
        assert hashlib.sha256(guess).digest() not in everything
    files = _export(home, tmp_path / "all.zip", "--run", execution_id)
    verify_files(files, [home.public_key()])
    opened = {
        unsalted(d)
        for n, d in files.items()
        if n.startswith("contents/") and d.startswith(b"runid/salted/v1")
    }
    assert ("text/plain; charset=utf-8", b"Did I pay twice?") in opened
    assert ("text/plain; charset=utf-8", ANSWER) in opened
    with pytest.raises(InputError):
        unsalted(b"yes")
    assert salted_content("a")[0]["digest"] != salted_content("a")[0]["digest"]  # fresh salt


def test_erasure_leaves_receipts_and_bundles_verifiable(tmp_path: Path) -> None:
    home, execution_id, blob = _salted_home(tmp_path / "home")
    before = _export(home, tmp_path / "before.zip", "--run", execution_id)
    with Log.open(home) as log:
        receipt = log.receipt(execution_id, include_stored=True)
    digest = content_digest(blob)
    with Log.open(home) as log:  # erased under a signed notice, as `runid log erase` does
        erase_noticed(log, [digest], reason="subject's request", rule=MANUAL)
    after = _export(home, tmp_path / "after.zip", "--run", execution_id)
    assert f"contents/{digest[7:]}" in before and f"contents/{digest[7:]}" not in after
    assert blob not in b"".join(after.values())
    for files in (before, after):
        verify_files(files, [home.public_key()])
    verify_receipt(receipt, Keyring([home.public_key()]))
    with Log.open(home) as log:
        assert log.content(digest) is None
        assert log.audit() == []
