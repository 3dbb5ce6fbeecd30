"""Evidence bundles of one project of a log service's log (issue 16, ``--project``).

A service log holds runs signed by its clients' keys, each key registered to one project by an
admin record the log's key signs. A project's bundle carries those admin records (with their
actions and inclusion proofs) and the keys, so that ``evidence verify`` trusts a client key only
as far as an included, log-signed admin record registers it for the project, and needs nothing
but the log's public key. The log here is built without HTTP, as ``runid tokens`` and the
service's writer build it:

====  ==========================================================================
0     key.add team-a a1
1     key.add team-b b
2     token.create team-a (not a key action: in no bundle)
3     a run signed by c *before* c is registered (no project's)
4     key.add team-a c
5..9  runs: a1, b, c, a1, b
10    key.add team-a a2 (rotation)
11    key.revoke team-a a1
12    a run signed by a1 *after* its revocation (no project's)
13,14 runs: a2, b
====  ==========================================================================
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runid import canonical
from runid._cli import main
from runid._server.registry import Registry, admin_action, key_action, token_action
from runid.errors import (
    E_BUNDLE_ADMIN,
    E_BUNDLE_CLIENT_KEY,
    E_BUNDLE_FILE,
    E_BUNDLE_PROJECT,
    E_SELECTION,
    InputError,
)
from runid.evidence import MANIFEST, EvidenceError, parse_disclose, seal, verify_files
from runid.evidence.archive import read_zip
from runid.evidence.collect import Selection, collect
from runid.examples import example
from runid.home import Home
from runid.identity import compute_identity
from runid.keys import Keyring, SigningKey
from runid.log import Log
from runid.proof import format_proof
from serve_helpers import LOG_NAME, make_envelope

A, B = "team-a", "team-b"
A_RUNS = [5, 7, 8, 13]
B_RUNS = [6, 9, 14]
EARLY, LATE = 3, 12


@dataclass
class Service:
    home: Home
    keys: dict[str, SigningKey]
    b_declaration: dict[str, Any]
    b_outputs: list[bytes]


def _b_declaration() -> dict[str, Any]:
    declaration = copy.deepcopy(example("chat-hosted-model"))
    declaration["parameters"]["temperature"]["value"] = 0.9
    return declaration


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Service:
    home = Home(tmp_path_factory.mktemp("service") / "home")
    home.init_keys(LOG_NAME)
    keys = {name: SigningKey.generate(f"{name}.example/app") for name in ("a1", "a2", "b", "c")}
    b_declaration, b_outputs = _b_declaration(), []
    with Log.open(home) as log:
        registry = Registry(log.public, admin_only=True)
        registry.refresh(log)

        def admin(action: dict[str, Any]) -> int:
            return admin_action(log, registry, action)

        def run(name: str, text: str) -> int:
            key = keys[name]
            declaration = b_declaration if name == "b" else None
            envelope, _record, blobs = make_envelope(key, text.encode(), declaration)
            if name == "b":
                b_outputs.append(text.encode())
            log.keyring = Keyring([log.public, key.public_key])  # as the service's writer
            return log.append([envelope], blobs=blobs)[0]

        assert admin(key_action(A, keys["a1"].public_key.vkey, by="cli")[0]) == 0
        assert admin(key_action(B, keys["b"].public_key.vkey, by="cli")[0]) == 1
        assert admin(token_action(A, "ingest", by="cli")[0]) == 2
        assert run("c", "early") == EARLY
        assert admin(key_action(A, keys["c"].public_key.vkey, by="cli")[0]) == 4
        for name, text in (("a1", "A0"), ("b", "B0"), ("c", "A1"), ("a1", "A2"), ("b", "B1")):
            run(name, text)
        assert admin(key_action(A, keys["a2"].public_key.vkey, by="cli")[0]) == 10
        revoke = {"action": "key.revoke", "project": A, "key_id": keys["a1"].public_key.key_id}
        assert admin({**revoke, "by": "cli"}) == 11
        assert run("a1", "late") == LATE  # a race the service's ingest check can lose
        assert run("a2", "A3") == 13
        assert run("b", "B2") == 14
    return Service(home, keys, b_declaration, b_outputs)


def _invoke(service: Service, *args: str) -> Any:
    return CliRunner().invoke(main, ["--home", str(service.home.path), "evidence", *args])


def _export(service: Service, out: Path, *args: str) -> dict[str, bytes]:
    result = _invoke(service, "export", "-o", str(out), *args)
    assert result.exit_code == 0, result.output
    return read_zip(out.read_bytes())


@pytest.fixture(scope="module")
def bundles(
    service: Service, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Path]]:
    folder = tmp_path_factory.mktemp("bundles")
    for project in (A, B):
        _export(service, folder / f"{project}.zip", "--project", project)
    yield {project: folder / f"{project}.zip" for project in (A, B)}


def _files(bundles: dict[str, Path], project: str = A) -> dict[str, bytes]:
    return read_zip(bundles[project].read_bytes())


def _runs(files: dict[str, bytes], top: str = "runs") -> list[int]:
    return sorted({int(n.split("/")[1]) for n in files if n.startswith(f"{top}/")})


def _resealed(service: Service, files: dict[str, bytes]) -> dict[str, bytes]:
    manifest = json.loads(files[MANIFEST])
    return seal(
        files,
        service.home.signing_key(),
        size=manifest["log"]["size"],
        created_at=manifest["created_at"],
        selection=manifest["selection"],
        counts=manifest["counts"],
    )


def _refused(service: Service, files: dict[str, bytes]) -> EvidenceError:
    with pytest.raises(EvidenceError) as caught:
        verify_files(_resealed(service, files), [service.home.public_key()])
    return caught.value


# --- export and verify ---------------------------------------------------------------------


def test_a_project_bundle_holds_its_runs_and_the_admin_records_of_their_keys(
    service: Service, bundles: dict[str, Path]
) -> None:
    files = _files(bundles)
    assert _runs(files) == A_RUNS
    # a1's key.add and key.revoke, c's and a2's key.add; not b's, not the token.
    assert _runs(files, "admin") == [0, 4, 10, 11]
    keys = {service.keys[n].public_key for n in ("a1", "a2", "c")}
    assert {n for n in files if n.startswith("keys/")} == {
        "keys/log.vkey",
        *(f"keys/{k.key_id.removeprefix('sha256:')}.vkey" for k in keys),
    }
    assert json.loads(files[MANIFEST])["selection"]["project"] == A
    assert _runs(_files(bundles, B)) == B_RUNS


def test_the_runs_are_the_service_registrys_view_of_the_project(
    service: Service, bundles: dict[str, Path]
) -> None:
    with Log.open(service.home, readonly=True) as log:
        registry = Registry(log.public)
        registry.refresh(log)
    for project, runs in ((A, A_RUNS), (B, B_RUNS)):
        assert [row.index for row in registry.project(project).runs] == runs
        assert _runs(_files(bundles, project)) == runs


def test_it_verifies_offline_with_only_the_log_key(
    service: Service, bundles: dict[str, Path]
) -> None:
    vkey = service.home.public_key().vkey
    result = CliRunner().invoke(main, ["evidence", "verify", str(bundles[A]), "--key", vkey])
    assert result.exit_code == 0, result.output
    assert "ok  admin: 4 admin record(s)" in result.output
    assert "register 3 client key(s), 1 of them revoked later" in result.output
    assert f"ok  project: every run is signed by a key of project {A}" in result.output
    assert f"verified: 4 run(s) of project {A} of the log {LOG_NAME}" in result.output


def test_a_project_bundle_says_nothing_of_another_project(
    service: Service, bundles: dict[str, Path]
) -> None:
    b_key = service.keys["b"].public_key
    b_declaration = compute_identity(service.b_declaration).declaration_id
    secrets = [
        B.encode(),
        b_key.key_id.removeprefix("sha256:").encode(),
        b_key.vkey.encode(),
        b_declaration.removeprefix("sha256:").encode(),
        *(hashlib.sha256(output).hexdigest().encode() for output in service.b_outputs),
    ]
    for name, data in _files(bundles).items():
        for secret in secrets:
            assert secret not in data, (name, secret)


def test_without_project_the_runs_of_every_project_when_their_keys_are_registered(
    service: Service, tmp_path: Path
) -> None:
    files = _export(service, tmp_path / "two.zip", "--run", "5", "--run", "6")
    assert _runs(files) == [5, 6]
    assert _runs(files, "admin") == [0, 1, 11]
    assert json.loads(files[MANIFEST])["selection"]["project"] is None
    verified = verify_files(files, [service.home.public_key()])
    assert verified.project is None
    assert {info.project for info in verified.client_keys.values()} == {A, B}
    # Every run of the log: the run before c's key.add belongs to no project.
    result = _invoke(service, "export", "-o", str(tmp_path / "all.zip"))
    assert result.exit_code == 7
    assert f"entry {EARLY}: signed by" in result.output
    assert "which no admin record of this log registers to a project" in result.output
    assert not (tmp_path / "all.zip").exists()


def test_an_unknown_or_invalid_project_is_refused_and_nothing_is_written(
    service: Service, tmp_path: Path
) -> None:
    out = tmp_path / "x.zip"
    for project in ("team-z", "Team A"):
        for command in ("export", "report"):
            result = _invoke(service, command, "--project", project, "-o", str(out))
            assert result.exit_code == 2, result.output
            assert not out.exists()
    result = _invoke(service, "export", "--project", "team-z", "-o", str(out))
    assert "--project team-z: no client key of this log is registered to it" in result.output
    assert f"projects with keys: {A}, {B}" in result.output
    result = _invoke(service, "export", "--project", "Team A", "-o", str(out))
    assert "is not a project name" in result.output
    with Log.open(service.home, readonly=True) as log:
        with pytest.raises(InputError) as caught:
            collect(log, Selection(project="team-z"), parse_disclose("all"))
        assert caught.value.code == E_SELECTION
        with pytest.raises(InputError) as caught:
            collect(log, Selection(project=A, runs=("6",)), parse_disclose("all"))
        assert caught.value.code == E_SELECTION  # a run of B named in a bundle of A
        assert f"no run of project {A}" in caught.value.message


def test_the_report_from_the_log_of_one_project(service: Service, tmp_path: Path) -> None:
    result = _invoke(service, "report", "--project", A, "--no-pdf", "-o", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r" / "report.html").read_text()
    assert f"<code>{A}</code>" in page
    assert "4 run(s)" in result.output


# --- forged bundles: sealed by the log's key, saying something false ------------------------


def _with_run(files: dict[str, bytes], source: dict[str, bytes], index: int) -> dict[str, bytes]:
    changed = dict(files)
    for part in ("envelope.json", "inclusion.tlog-proof"):
        changed[f"runs/{index}/{part}"] = source[f"runs/{index}/{part}"]
    return changed


def _with_admin(files: dict[str, bytes], source: dict[str, bytes], index: int) -> dict[str, bytes]:
    changed = dict(files)
    for name, data in source.items():
        if name.startswith(f"admin/{index}/") or (
            name.startswith("keys/") and name != "keys/log.vkey"
        ):
            changed[name] = data
    return changed


def test_a_run_of_another_project_is_refused(service: Service, bundles: dict[str, Path]) -> None:
    files, other = _files(bundles), _files(bundles, B)
    forged = _with_run(files, other, B_RUNS[0])
    caught = _refused(service, forged)
    assert (caught.file, caught.check, caught.code) == (
        f"runs/{B_RUNS[0]}/envelope.json",
        "key",
        E_BUNDLE_CLIENT_KEY,
    )
    # With B's own admin record and key: B's key is proven, but for project team-b.
    caught = _refused(service, _with_admin(forged, other, 1))
    assert (caught.file, caught.check, caught.code) == (
        f"runs/{B_RUNS[0]}/envelope.json",
        "project",
        E_BUNDLE_PROJECT,
    )
    assert f"of project {B}, not of project {A}" in caught.detail


def test_an_admin_record_of_another_project_claimed_for_this_one_is_refused(
    service: Service, bundles: dict[str, Path]
) -> None:
    files, other = _files(bundles), _files(bundles, B)
    forged = _with_admin(_with_run(files, other, B_RUNS[0]), other, 1)
    action = json.loads(forged["admin/1/action.json"])
    assert action["project"] == B
    forged["admin/1/action.json"] = canonical.canonicalize({**action, "project": A})
    caught = _refused(service, forged)
    assert (caught.file, caught.check, caught.code) == (
        "admin/1/action.json",
        "admin",
        E_BUNDLE_ADMIN,
    )
    # B's admin record and key alone (no run of B): it proves nothing the bundle needs.
    caught = _refused(service, _with_admin(files, other, 1))
    assert (caught.file, caught.check, caught.code) == (
        "admin/1/envelope.json",
        "admin",
        E_BUNDLE_ADMIN,
    )


def test_a_client_key_without_its_admin_record_is_refused(
    service: Service, bundles: dict[str, Path]
) -> None:
    files = _files(bundles)
    c_key = service.keys["c"].public_key.key_id.removeprefix("sha256:")
    forged = {n: d for n, d in files.items() if not n.startswith("admin/4/")}
    caught = _refused(service, forged)
    assert (caught.file, caught.check, caught.code) == (
        f"keys/{c_key}.vkey",
        "keys",
        E_BUNDLE_CLIENT_KEY,
    )
    # The key file gone too: c's run is signed by a key nothing registers.
    del forged[f"keys/{c_key}.vkey"]
    caught = _refused(service, forged)
    assert (caught.file, caught.check, caught.code) == (
        "runs/7/envelope.json",
        "key",
        E_BUNDLE_CLIENT_KEY,
    )
    # No admin record and no key at all, and no project: still not the log's key.
    bare = {
        n: d
        for n, d in files.items()
        if n == "keys/log.vkey" or not n.startswith(("admin/", "keys/"))
    }
    manifest = json.loads(files[MANIFEST])
    manifest["selection"]["project"] = None
    bare[MANIFEST] = canonical.canonicalize(manifest)
    caught = _refused(service, bare)
    assert (caught.file, caught.check, caught.code) == (
        f"runs/{A_RUNS[0]}/envelope.json",
        "key",
        E_BUNDLE_CLIENT_KEY,
    )
    # The admin record without its key file.
    caught = _refused(service, {n: d for n, d in files.items() if n != f"keys/{c_key}.vkey"})
    assert (caught.file, caught.check, caught.code) == (
        f"keys/{c_key}.vkey",
        "files",
        E_BUNDLE_FILE,
    )


def _orphan(service: Service, files: dict[str, bytes], index: int) -> dict[str, bytes]:
    """``files`` with the run at ``index`` added, its proof against the bundle's checkpoint."""
    size = json.loads(files[MANIFEST])["log"]["size"]
    note = files[f"checkpoints/{size}.note"]
    with Log.open(service.home, readonly=True) as log:
        leaf = log.store.entry(index)
        hashes = log.store.inclusion_proof(index, size)
    changed = dict(files)
    changed[f"runs/{index}/envelope.json"] = leaf
    changed[f"runs/{index}/inclusion.tlog-proof"] = format_proof(index, hashes, note)
    return changed


@pytest.mark.parametrize(
    ("index", "when"),
    [(EARLY, "before its key.add (entry 4)"), (LATE, "after its key.revoke (entry 11)")],
)
def test_a_run_outside_its_keys_registration_is_refused(
    service: Service, bundles: dict[str, Path], index: int, when: str
) -> None:
    caught = _refused(service, _orphan(service, _files(bundles), index))
    assert (caught.file, caught.check, caught.code) == (
        f"runs/{index}/envelope.json",
        "key",
        E_BUNDLE_CLIENT_KEY,
    )
    assert when in caught.detail


def test_an_admin_record_that_does_not_apply_in_log_order_is_refused(
    service: Service, bundles: dict[str, Path]
) -> None:
    # The key.revoke without the key.add before it: a revocation of a key not registered.
    files = _files(bundles)
    forged = {n: d for n, d in files.items() if not n.startswith("admin/0/")}
    caught = _refused(service, forged)
    assert (caught.file, caught.check, caught.code) == (
        "admin/11/action.json",
        "admin",
        E_BUNDLE_ADMIN,
    )


def test_a_log_key_run_in_a_project_bundle_is_refused(
    service: Service, bundles: dict[str, Path]
) -> None:
    caught = _refused(service, _orphan(service, _files(bundles), 0))  # an admin record
    assert (caught.file, caught.check, caught.code) == (
        "runs/0/envelope.json",
        "project",
        E_BUNDLE_PROJECT,
    )


# --- every byte of the new files is covered ----------------------------------------------------


def test_a_byte_flip_in_any_file_of_a_project_bundle_is_detected_and_named(
    service: Service, bundles: dict[str, Path]
) -> None:
    files = _files(bundles)
    trusted = [service.home.public_key()]
    verify_files(files, trusted)
    rng = random.Random(16)
    flips = 0
    for name, data in sorted(files.items()):
        picks = {0, len(data) - 1, len(data) // 2, *(rng.randrange(len(data)) for _ in range(2))}
        for position in sorted(picks):
            changed = dict(files)
            changed[name] = data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]
            with pytest.raises(EvidenceError) as caught:
                verify_files(changed, trusted)
            assert caught.value.file == name, (name, position, caught.value.message)
            flips += 1
    assert sum(n.startswith(("admin/", "keys/")) for n in files) == 4 * 3 + 4
    assert flips > 3 * len(files)
