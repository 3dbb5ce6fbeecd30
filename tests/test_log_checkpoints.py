"""Checkpoints decoupled from appends (ADR 0019): an append signs one at most every
``checkpoint_interval`` seconds; a receipt, proof or checkpoint request signs the one that covers
what it asks for; closing a log that appended signs one for its size; a log that cannot sign
uses the latest stored checkpoint when it covers the entry, and says so when none does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runid._cli import main
from runid.capture import Recorder
from runid.checkpoint import verify_checkpoint
from runid.digest import content_ref
from runid.errors import E_NOT_IN_LOG, InputError
from runid.examples import example
from runid.home import Home
from runid.identity import compute_identity
from runid.keys import Keyring
from runid.log import Log
from runid.receipt import verify_receipt
from runid.record import new_record
from runid.store.memory import MemoryStore

DECL = example("chat-hosted-model")


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/checkpoints")
    return home


def sizes(log: Log) -> list[int]:
    return [cp.size for cp in log.store.iter_checkpoints()]


def test_appends_sign_at_most_once_an_interval_and_a_receipt_signs_what_it_needs(
    home: Home,
) -> None:
    with Log.open(home) as log:
        log.checkpoint_interval = 3600.0
        for i in range(5):
            log.record_run(DECL, output=b"run %d" % i)
        assert sizes(log) == [1]  # the first append signs; the next ones within the hour do not
        assert log.current_checkpoint() is None
        receipt = log.receipt(3)  # signs the checkpoint of the current size, and stores it
        assert sizes(log) == [1, 5]
        assert verify_receipt(receipt, log.keyring, output=b"run 3") is not None
        assert log.receipt(4) and sizes(log) == [1, 5]  # covered: nothing new signed
        assert log.audit() == []


def test_interval_zero_signs_every_append_and_checkpoint_true_forces_one(home: Home) -> None:
    log = Log(MemoryStore(), home.signing_key(), home.public_key())
    log.checkpoint_interval = 0
    for i in range(3):
        log.record_run(DECL, output=b"%d" % i)
    assert sizes(log) == [1, 2, 3]
    log.checkpoint_interval = 3600.0
    log.record_run(DECL, output=b"not signed")
    assert sizes(log) == [1, 2, 3]
    log.append([log.sign(_record(log, "forced"))], checkpoint=True)
    assert sizes(log) == [1, 2, 3, 5]
    log.append([log.sign(_record(log, "never"))], checkpoint=False)
    log.checkpoint_interval = 0
    log.append([log.sign(_record(log, "also never"))], checkpoint=False)
    assert sizes(log) == [1, 2, 3, 5]
    assert log.audit() == []


def test_closing_a_log_that_appended_signs_its_size(home: Home) -> None:
    with Log.open(home) as log:
        log.checkpoint_interval = 3600.0
        for i in range(3):
            log.record_run(DECL, output=b"%d" % i)
        assert sizes(log) == [1]
    with Log.open(home, readonly=True) as reader:
        assert sizes(reader) == [1, 3]
        note = reader.checkpoint()
        assert verify_checkpoint(note, reader.keyring).size == 3


def test_a_reader_that_cannot_sign_uses_a_covering_checkpoint_or_says_none_covers(
    home: Home,
) -> None:
    writer = Log.open(home)
    writer.checkpoint_interval = 3600.0
    for i in range(3):
        writer.record_run(DECL, output=b"%d" % i)
    writer.checkpoint()  # size 3
    writer.record_run(DECL, output=b"past the checkpoint")
    with Log.open(home, readonly=True) as reader:
        # Entry 1 is in the tree of the stored checkpoint of size 3: its receipt verifies.
        assert verify_receipt(reader.receipt(1), reader.keyring, output=b"1") is not None
        with pytest.raises(InputError) as caught:
            reader.receipt(3)
        assert caught.value.code == E_NOT_IN_LOG and "covers 4 entries" in caught.value.message
        assert verify_checkpoint(reader.checkpoint(covering=3), reader.keyring).size == 3
        with pytest.raises(InputError):
            reader.checkpoint()  # the current size (4) has none, and a reader cannot sign
    writer.close()  # signs size 4
    with Log.open(home, readonly=True) as reader:
        assert verify_receipt(reader.receipt(3), reader.keyring, output=b"past the checkpoint")
        assert reader.audit() == []


def _record(log: Log, tag: str) -> dict[str, Any]:
    assert log.key is not None
    return new_record(
        compute_identity(DECL).declaration_id,
        issuer=log.key,
        started_at="2025-03-01T12:00:00Z",
        ended_at="2025-03-01T12:00:01Z",
        outputs=[content_ref(tag)],
    )


def test_the_command_line_without_the_key_answers_from_the_latest_stored_checkpoint(
    home: Home, tmp_path: Path
) -> None:
    with Log.open(home) as log:
        log.checkpoint_interval = 3600.0
        log.record_run(DECL, output=b"covered")  # the first append signs size 1
        old = log.checkpoint()
        log.append([log.sign(_record(log, "past the checkpoint"))], checkpoint=False)
        log._uncovered = False  # as after a crash: nothing signs size 2 at close
    home.signing_key_path.unlink()  # an auditor's copy: the public key only

    def runid(*args: str) -> Any:
        return CliRunner().invoke(main, ["--home", str(home.path), *args])

    receipt = tmp_path / "receipt.json"
    proved = runid("log", "prove", "0", "-o", str(receipt))
    assert proved.exit_code == 0, proved.output
    assert verify_receipt(receipt.read_bytes(), Keyring([home.public_key()]), output=b"covered")
    missing = runid("log", "prove", "1")
    assert missing.exit_code == 2 and "covers 2 entries yet (the latest covers 1)" in missing.stderr
    assert runid("log", "checkpoint").stdout.encode() == old
    (tmp_path / "old.note").write_bytes(old)
    assert runid("log", "consistency", str(tmp_path / "old.note")).exit_code == 0


def test_a_closed_recorder_leaves_its_runs_under_a_signed_checkpoint(home: Home) -> None:
    with Recorder(home, durability="background") as recorder:
        for i in range(5):
            with recorder.capture(DECL) as run:
                run.set_output(f"run {i}")
    with Log.open(home, readonly=True) as reader:
        assert reader.size() == 5
        assert verify_checkpoint(reader.checkpoint(), reader.keyring).size == 5
    with recorder.capture(DECL) as run:  # still usable: a new writer thread
        run.set_output("after close")
    recorder.close()
    with Log.open(home, readonly=True) as reader:
        assert verify_checkpoint(reader.checkpoint(), reader.keyring).size == 6
