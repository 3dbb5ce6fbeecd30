"""Evidence bundles (issue 16): export, offline verification from the bundle alone, tamper
detection that names the file, selection and disclosure, and a zip reader that refuses what is
unsafe (path traversal, links, bombs, too many entries)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import sqlite3
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from evidence_home import ORIGIN, POLICY, TEXTS, make_home, refs, variant
from runid import canonical
from runid._cli import main
from runid.errors import (
    E_BUNDLE,
    E_BUNDLE_FILE,
    E_BUNDLE_LIMIT,
    E_BUNDLE_UNSAFE,
    E_DISCLOSURE,
    E_POLICY_RESULT,
    E_UNKNOWN_KEY,
    LimitExceededError,
)
from runid.evidence import (
    LOG_KEY,
    MANIFEST,
    POLICY_RESULTS,
    SIGNATURE,
    EvidenceError,
    archive,
    declaration_path,
    parse_disclose,
    seal,
    verify_files,
)
from runid.evidence.archive import read_zip, write_zip
from runid.home import Home
from runid.identity import compute_identity
from runid.keys import PublicKey, SigningKey

RUNS = 12


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Home, list[str]]]:
    yield make_home(tmp_path_factory.mktemp("evidence") / "home", RUNS)


def _invoke(home: Home, *args: str) -> Any:
    return CliRunner().invoke(main, ["--home", str(home.path), "evidence", *args])


def _export(home: Home, out: Path, *args: str) -> dict[str, bytes]:
    result = _invoke(home, "export", "-o", str(out), *args)
    assert result.exit_code == 0, result.output
    return read_zip(out.read_bytes())


@pytest.fixture(scope="module")
def bundle(home: tuple[Home, list[str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "bundle.zip"
    _export(home[0], out, "--policy", str(POLICY), "--exports")
    return out


def _public(home: Home) -> PublicKey:
    return home.public_key()


# --- export and verify ---------------------------------------------------------------------


def test_a_bundle_verifies_with_the_log_key(home: tuple[Home, list[str]], bundle: Path) -> None:
    result = _invoke(home[0], "verify", str(bundle), "--key", _public(home[0]).vkey)
    assert result.exit_code == 0, result.output
    assert f"verified: {RUNS} run(s) of the log {ORIGIN}" in result.output
    checks = ("manifest", "keys", "checkpoints", "runs", "declarations", "contents", "exports")
    for check in (*checks, "policy"):
        assert f"ok  {check}: " in result.output
    files = read_zip(bundle.read_bytes())
    assert {name.split("/")[0] for name in files} == {
        "manifest.json",
        "manifest.sig",
        "keys",
        "checkpoints",
        "runs",
        "declarations",
        "contents",
        "policy",
        "exports",
    }
    # Every stored text is disclosed (all components), and every output.
    assert {f"contents/{d[7:]}" for d in refs().values()} <= set(files)
    results = json.loads(files[POLICY_RESULTS])
    assert results["summary"]["runs"]["fail"] > 0  # the later model snapshot is not approved


def test_a_fresh_process_with_no_database_verifies_a_bundle(
    home: tuple[Home, list[str]], bundle: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "nothing"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(empty),
        "RUNID_HOME": str(empty / "runid"),
        "XDG_DATA_HOME": str(empty / "xdg"),
    }
    key = tmp_path / "log.vkey"
    key.write_text(_public(home[0]).vkey)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "runid",
            "evidence",
            "verify",
            str(bundle),
            "--key",
            str(key),
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["verified"] is True
    assert not empty.exists()  # no home, no database, no configuration was created


def test_without_a_key_the_bundle_is_checked_against_its_own_key(bundle: Path) -> None:
    result = CliRunner().invoke(main, ["evidence", "verify", str(bundle)])
    assert result.exit_code == 0, result.output
    assert "pass --key" in result.output


def test_another_key_is_refused_naming_the_key_file(bundle: Path) -> None:
    other = SigningKey.generate(ORIGIN).public_key
    result = CliRunner().invoke(
        main, ["evidence", "verify", str(bundle), "--key", other.vkey, "--json"]
    )
    assert result.exit_code == 7
    failure = json.loads(result.output)["failure"]
    assert (failure["file"], failure["check"], failure["code"]) == (LOG_KEY, "keys", E_UNKNOWN_KEY)


# --- every byte of every file is covered -------------------------------------------------------


def _positions(size: int, rng: random.Random) -> list[int]:
    picks = {0, size - 1, size // 2}
    picks.update(rng.randrange(size) for _ in range(3))
    return sorted(p for p in picks if 0 <= p < size)


def test_a_byte_flip_anywhere_in_any_file_is_detected_and_named(
    home: tuple[Home, list[str]], bundle: Path
) -> None:
    files = read_zip(bundle.read_bytes())
    trusted = [_public(home[0])]
    verify_files(files, trusted)
    rng = random.Random(16)
    flips = 0
    for name, data in sorted(files.items()):
        for position in _positions(len(data), rng):
            for mask in (0x01, 0x80):
                changed = dict(files)
                changed[name] = (
                    data[:position] + bytes([data[position] ^ mask]) + data[position + 1 :]
                )
                with pytest.raises(EvidenceError) as caught:
                    verify_files(changed, trusted)
                assert caught.value.file == name, (name, position, caught.value.message)
                flips += 1
    assert flips > 10 * len(files)


def test_a_flip_in_the_zip_itself_fails_or_changes_no_file(bundle: Path) -> None:
    data = bundle.read_bytes()
    original = read_zip(data)
    rng = random.Random(7)
    for position in sorted(rng.sample(range(len(data)), 150)):
        flipped = data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]
        try:
            files = read_zip(flipped)
        except (EvidenceError, LimitExceededError):
            continue
        # Zip metadata (times, attributes) is not evidence; the files must then be intact.
        if files != original:
            with pytest.raises(EvidenceError):
                verify_files(files)


# --- deeper checks: a bundle that is sealed but says something false -------------------------


def _resealed(home: Home, files: dict[str, bytes], manifest: dict[str, Any]) -> dict[str, bytes]:
    return seal(
        files,
        home.signing_key(),
        size=manifest["log"]["size"],
        created_at=manifest["created_at"],
        selection=manifest["selection"],
        counts=manifest["counts"],
    )


def test_a_false_policy_result_is_found_by_re_evaluation(
    home: tuple[Home, list[str]], bundle: Path
) -> None:
    files = read_zip(bundle.read_bytes())
    manifest = json.loads(files[MANIFEST])
    results = json.loads(files[POLICY_RESULTS])
    failed = next(r for r in results["runs"] if r["status"] == "fail")
    failed["status"] = "pass"
    files[POLICY_RESULTS] = canonical.canonicalize(results)
    with pytest.raises(EvidenceError) as caught:
        verify_files(_resealed(home[0], files, manifest), [_public(home[0])])
    assert (caught.value.file, caught.value.code) == (POLICY_RESULTS, E_POLICY_RESULT)


def test_a_disclosed_component_that_is_not_the_committed_one_is_refused(
    home: tuple[Home, list[str]], tmp_path: Path
) -> None:
    files = _export(home[0], tmp_path / "b.zip", "--disclose", "parameters")
    manifest = json.loads(files[MANIFEST])
    name = next(n for n in files if n.startswith("declarations/"))
    document = json.loads(files[name])
    document["disclosed"]["parameters"]["temperature"]["value"] = 0.0
    files[name] = canonical.canonicalize(document)
    with pytest.raises(EvidenceError) as caught:
        verify_files(_resealed(home[0], files, manifest), [_public(home[0])])
    assert (caught.value.file, caught.value.code) == (name, E_DISCLOSURE)
    assert "component parameters" in caught.value.message


def test_a_run_outside_the_selection_or_a_stray_file_is_refused(
    home: tuple[Home, list[str]], tmp_path: Path
) -> None:
    files = _export(home[0], tmp_path / "b.zip", "--until", "2025-03-01T12:00:00Z")
    manifest = json.loads(files[MANIFEST])
    assert sum(n.endswith("envelope.json") for n in files) == 3
    manifest["selection"]["until"] = "2025-03-01T10:00:00.000000Z"
    with pytest.raises(EvidenceError) as caught:
        verify_files(_resealed(home[0], files, manifest), [_public(home[0])])
    assert (caught.value.check, caught.value.code) == ("selection", E_BUNDLE)
    manifest = json.loads(files[MANIFEST])
    stray = dict(files)
    stray["contents/" + "ab" * 32] = b"not referenced"
    with pytest.raises(EvidenceError) as caught:
        verify_files(_resealed(home[0], stray, manifest), [_public(home[0])])
    assert caught.value.check == "content"
    unsealed = dict(files)
    unsealed["runs/99/notes.txt"] = b"hi"
    with pytest.raises(EvidenceError) as caught:
        verify_files(unsealed, [_public(home[0])])
    assert (caught.value.file, caught.value.code) == ("runs/99/notes.txt", E_BUNDLE_FILE)
    missing = dict(files)
    del missing["checkpoints/consistency.json"]
    with pytest.raises(EvidenceError) as caught:
        verify_files(missing, [_public(home[0])])
    assert (caught.value.file, caught.value.code) == ("checkpoints/consistency.json", E_BUNDLE_FILE)


# --- selection and disclosure ------------------------------------------------------------------


def test_since_until_and_run_select_runs(home: tuple[Home, list[str]], tmp_path: Path) -> None:
    h, ids = home
    files = _export(
        h,
        tmp_path / "a.zip",
        "--since",
        "2025-03-01T11:00:00Z",
        "--until",
        "2025-03-01T14:00:00+00:00",
    )
    assert sorted(n for n in files if n.endswith("envelope.json")) == [
        f"runs/{i}/envelope.json" for i in (2, 3, 4)
    ]
    files = _export(h, tmp_path / "b.zip", "--run", ids[5], "--run", "7")
    assert sorted(n for n in files if n.endswith("envelope.json")) == [
        "runs/5/envelope.json",
        "runs/7/envelope.json",
    ]
    decl_id = compute_identity(variant(0, RUNS)).declaration_id
    files = _export(h, tmp_path / "c.zip", "--run", decl_id)
    assert len([n for n in files if n.endswith("envelope.json")]) == 4  # runs 0 to 3
    for args in (["--since", "2030-01-01"], ["--since", "yesterday"], ["--disclose", "weights"]):
        result = _invoke(h, "export", "-o", str(tmp_path / "x.zip"), *args)
        assert result.exit_code == 2, result.output
        assert isinstance(result.exception, SystemExit)
    for files_ in (read_zip((tmp_path / "a.zip").read_bytes()),):
        verify_files(files_, [_public(h)])


def test_disclosing_one_component_proves_it_belongs_to_the_run(
    home: tuple[Home, list[str]], tmp_path: Path
) -> None:
    h, _ids = home
    files = _export(h, tmp_path / "b.zip", "--run", "0", "--disclose", "instructions")
    name = declaration_path(compute_identity(variant(0, RUNS)).declaration_id)
    document = json.loads(files[name])
    assert sorted(document["disclosed"]) == ["instructions"]
    assert len(document["components"]) == 8
    texts = {files[n].decode() for n in files if n.startswith("contents/")}
    assert texts == {TEXTS[0]}  # the system prompt only; no chunk, no question, no output
    verify_files(files, [_public(h)])


def test_disclosing_one_item_gives_its_content_only(
    home: tuple[Home, list[str]], tmp_path: Path
) -> None:
    h, _ids = home
    files = _export(h, tmp_path / "b.zip", "--run", "0", "--disclose", "/context/retrieved/1")
    texts = {files[n].decode() for n in files if n.startswith("contents/")}
    assert texts == {TEXTS[4]}  # the second retrieved chunk
    verify_files(files, [_public(h)])
    assert parse_disclose("none").to_json() == []
    nothing = _export(h, tmp_path / "c.zip", "--run", "0", "--disclose", "none")
    assert not any(n.startswith("contents/") for n in nothing)
    verify_files(nothing, [_public(h)])


def test_an_erased_content_leaves_every_bundle_verifiable(tmp_path: Path) -> None:
    h, _ids = make_home(tmp_path / "home", 3)
    before = _export(h, tmp_path / "before.zip")
    prompt = refs()[TEXTS[0]]
    with sqlite3.connect(h.path / "log.sqlite3") as conn:
        conn.execute("DELETE FROM blobs WHERE digest = ?", (bytes.fromhex(prompt[7:]),))
    after = _export(h, tmp_path / "after.zip")
    assert f"contents/{prompt[7:]}" in before and f"contents/{prompt[7:]}" not in after
    for files in (before, after):
        verify_files(files, [_public(h)])


# --- the zip reader ----------------------------------------------------------------------------


def _zip(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for info, data in entries:
            out.writestr(info, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name",
    ["../evil", "/etc/passwd", "runs/../../x", "a\\b", "runs//x", ".hidden", "dir/", "c:/x"],
)
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(EvidenceError) as caught:
        read_zip(_zip([(name, b"x")]))
    assert caught.value.code == E_BUNDLE_UNSAFE


def test_links_duplicates_and_encryption_are_refused() -> None:
    link = zipfile.ZipInfo("runs/1/envelope.json")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with pytest.raises(EvidenceError, match="symbolic link"):
        read_zip(_zip([(link, b"/etc/passwd")]))
    with pytest.warns(UserWarning), pytest.raises(EvidenceError, match="twice"):
        read_zip(_zip([("a", b"1"), ("a", b"2")]))
    data = bytearray(_zip([("a", b"1")]))
    data[6] |= 0x01  # the local header's flags
    central = data.rfind(b"PK\x01\x02")
    data[central + 8] |= 0x01  # and the central directory's: encrypted
    with pytest.raises(EvidenceError, match="encrypted"):
        read_zip(bytes(data))


def test_bombs_and_too_many_entries_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(LimitExceededError) as caught:
        read_zip(_zip([("a", bytes(8 << 20))]))
    assert caught.value.code == E_BUNDLE_LIMIT
    monkeypatch.setattr(archive, "MAX_ENTRIES", 3)
    with pytest.raises(LimitExceededError, match="entries"):
        read_zip(_zip([(str(i), b"x") for i in range(4)]))
    monkeypatch.setattr(archive, "MAX_MEMBER", 10)
    with pytest.raises(LimitExceededError, match="MiB"):
        read_zip(_zip([("a", os.urandom(11))]))
    with pytest.raises(EvidenceError, match="not a zip"):
        read_zip(b"PK\x03\x04 not really")


def test_the_same_files_give_the_same_zip(bundle: Path) -> None:
    files = read_zip(bundle.read_bytes())
    assert write_zip(files) == write_zip(dict(reversed(list(files.items()))))
    assert list(read_zip(write_zip(files)))[:2] == [MANIFEST, SIGNATURE]
    assert hashlib.sha256(write_zip(files)).digest() == hashlib.sha256(bundle.read_bytes()).digest()


# --- the policy results a bundle carries are runid check's ------------------------------------

_POLICIES = {
    "acme": POLICY.read_bytes(),
    "observed": b"policy: runid/policy/v1\nname: served\nobserved:\n"
    b"  served_model: [gpt-4o-mini-2024-07-18]\ncomponents: {inputs: present, tools: present}\n",
    "parameters": b"policy: runid/policy/v1\nname: temp\nparameters:\n  temperature: {max: 0.5}\n",
}


@pytest.mark.parametrize("name", sorted(_POLICIES))
def test_shared_evaluations_equal_evaluating_each_run(
    home: tuple[Home, list[str]], name: str
) -> None:
    from runid.evidence import evaluate_run
    from runid.log import Log
    from runid.policy import evaluate, parse_policy

    policy = parse_policy(_POLICIES[name])
    cache: dict[tuple[str, ...], Any] = {}
    with Log.open(home[0], readonly=True) as log:
        for index in range(RUNS):
            record = log.entry(index).record
            declaration = log.declaration(record["declaration_id"])
            assert declaration is not None
            components = compute_identity(declaration).components
            shared = evaluate_run(policy, declaration, record, cache, components)
            assert shared == evaluate(policy, declaration, record), (name, index)
    assert len(cache) < RUNS or name == "observed"


# --- witness cosignatures ----------------------------------------------------------------------


def test_witness_cosignatures_travel_in_the_bundle_and_are_checked(tmp_path: Path) -> None:
    from runid.log import Log
    from runid.tlog.cosignature import CosigningKey, add_signatures, cosign
    from runid.transparency.witnessing import cosigned_path

    h, _ids = make_home(tmp_path / "home", 4)
    witness = CosigningKey.generate("witness.example/w1")
    with Log.open(h) as log:
        note = log.checkpoint()
    text = note.split(b"\n\n", 1)[0].decode() + "\n"
    cosigned = add_signatures(note, [cosign(text, witness, 1_700_000_000)])
    cosigned_path(h).parent.mkdir(parents=True, exist_ok=True)
    cosigned_path(h).write_bytes(cosigned)
    bundle = tmp_path / "b.zip"
    files = _export(h, bundle)
    assert files["checkpoints/4.note"] == cosigned
    assert all(files[f"runs/{i}/inclusion.tlog-proof"].endswith(cosigned) for i in range(4))
    runner = CliRunner()
    key = _public(h).vkey
    result = runner.invoke(main, ["evidence", "verify", str(bundle), "--key", key])
    assert result.exit_code == 0 and "pass --witness VKEY" in result.output, result.output
    result = runner.invoke(
        main, ["evidence", "verify", str(bundle), "--key", key, "--witness", witness.public.vkey]
    )
    assert result.exit_code == 0, result.output
    assert "cosigned by 1 of the witnesses given (witness.example/w1)" in result.output
    other = CosigningKey.generate("witness.example/w2").public.vkey
    result = runner.invoke(
        main, ["evidence", "verify", str(bundle), "--key", key, "--witness", other, "--json"]
    )
    assert result.exit_code == 7
    assert json.loads(result.output)["failure"]["check"] == "witnesses"
    # A run appended after the witnessed checkpoint is not covered by it.
    with Log.open(h) as log:
        log.record_run(variant(0, 4), output=b"late")
    files = _export(h, tmp_path / "c.zip")
    with pytest.raises(EvidenceError) as caught:
        verify_files(files, [_public(h)], witnesses=[witness.public])
    assert caught.value.file == "runs/4/envelope.json"
    verify_files(files, [_public(h)])


def test_progress_shows_on_a_terminal_for_large_bundles(monkeypatch: pytest.MonkeyPatch) -> None:
    from runid._cli import evidence as cli

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    bar = cli._Bar()
    bar("runs", 250, 999)
    assert stream.getvalue() == ""  # small bundles verify before a bar would help
    bar("runs", 500, 10_000)
    bar("runs", 10_000, 10_000)
    bar.clear()
    assert "\rverifying runs: 500/10,000" in stream.getvalue()
    assert stream.getvalue().endswith("\r\033[K")
