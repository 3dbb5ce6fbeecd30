"""Verifying a bundle offline, from its files alone: bytes in, a verdict out.

Private to :mod:`runid.evidence`. :func:`verify_files` takes the bundle's files as a mapping of
name to bytes (:mod:`runid.evidence.archive` reads them from the zip, safely) and the trusted
keys, and fails closed at the first failure with an :class:`EvidenceError` naming the file
and the check. It reads no file, database or network.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from ..admin import ClientKey, check_project
from ..checkpoint import Checkpoint
from ..declaration import COMPONENTS
from ..envelope import verify_envelope
from ..errors import (
    E_BUNDLE_ADMIN,
    E_BUNDLE_FILE,
    E_BUNDLE_PROJECT,
    E_CONTENT_DIGEST,
    E_DISCLOSURE,
    E_POLICY_RESULT,
    RunidError,
)
from ..identity import declaration_id_from_components, identity_and_canonical
from ..keys import Keyring, PublicKey
from ..policy import Policy, parse_policy
from ..tlog.cosignature import CosignerKey
from ._anchors import (
    check_checkpoints,
    check_inclusion,
    check_manifest,
    check_witnesses,
    json_file,
    log_key,
)
from ._assemble import evaluate_run, output_digests, results_document, run_result
from ._exports import check_exports
from ._format import (
    DISCLOSURE_SPEC,
    MANIFEST,
    POLICY_RESULTS,
    VerifiedRun,
    admin_path,
    check_disclosed,
    content_path,
    declaration_path,
    digests_under,
    fail,
    file_kind,
    instant,
    load_canonical,
    parse_time,
    path_problem,
    reraise,
    run_path,
)
from ._keys import ClientKeys, check_admin, check_signer

__all__ = ["Progress", "Verified", "verify_files"]

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``, called as runs are verified (for a progress bar)."""

_DISCLOSURE_KEYS: Final = frozenset(("disclosure", "declaration_id", "components", "disclosed"))
_PROGRESS_EVERY: Final = 250


@dataclass
class Verified:
    """What a bundle proved: the checks that passed (one line each), and what they covered."""

    origin: str
    key: PublicKey
    anchored: bool
    checkpoint: Checkpoint
    checkpoints: list[Checkpoint]
    runs: list[VerifiedRun]
    manifest: dict[str, Any] | None
    contents: dict[str, int]
    policy: Policy | None = None
    policy_results: dict[str, Any] | None = None
    checks: list[str] = field(default_factory=list)
    project: str | None = None
    client_keys: dict[str, ClientKey] = field(default_factory=dict)


def _declaration(files: Mapping[str, bytes], declaration_id: str) -> VerifiedRun:
    """What the file of ``declaration_id`` discloses (a run with no index yet)."""
    name = declaration_path(declaration_id)
    data = files[name]
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise fail(name, "declaration", f"not valid JSON ({exc})") from None
    if isinstance(document, dict) and "disclosure" in document:
        json_file(files, name, "declaration")  # canonical
        if set(document) != _DISCLOSURE_KEYS or document["disclosure"] != DISCLOSURE_SPEC:
            raise fail(
                name,
                "declaration",
                f"a {DISCLOSURE_SPEC} document has exactly {sorted(_DISCLOSURE_KEYS)}",
                code=E_DISCLOSURE,
            )
        components, disclosed = document["components"], document["disclosed"]
        if not (
            isinstance(components, dict)
            and set(components) == set(COMPONENTS)
            and isinstance(disclosed, dict)
            and set(disclosed) <= set(COMPONENTS)
        ):
            raise fail(
                name,
                "declaration",
                "components must name the eight components and disclosed some of them",
                code=E_DISCLOSURE,
            )
        try:
            computed = declaration_id_from_components(components)
            check_disclosed(document)
        except RunidError as exc:
            raise fail(name, "declaration", exc.message, code=E_DISCLOSURE) from None
        if computed != declaration_id or document["declaration_id"] != declaration_id:
            raise fail(
                name,
                "declaration",
                f"its components give {computed}, not {declaration_id}",
                code=E_DISCLOSURE,
            )
        return VerifiedRun(-1, {}, dict(components), dict(disclosed), None)
    try:
        identity, written = identity_and_canonical(document)
    except RunidError as exc:
        raise fail(name, "declaration", f"invalid ({exc.message})", code=E_DISCLOSURE) from None
    if written != data:
        raise fail(name, "declaration", "not the canonical JSON of the declaration")
    if identity.declaration_id != declaration_id:
        raise fail(name, "declaration", f"its id is {identity.declaration_id}", code=E_DISCLOSURE)
    assert isinstance(document, dict)
    disclosed = {name: document[name] for name in COMPONENTS}
    return VerifiedRun(-1, {}, dict(identity.components), disclosed, document)


def _run_indices(files: Mapping[str, bytes]) -> list[int]:
    indices: set[int] = set()
    for name in files:
        if file_kind(name) in ("envelope", "proof"):
            indices.add(int(name.split("/")[1]))
    for index in indices:
        for part in ("envelope.json", "inclusion.tlog-proof"):
            if run_path(index, part) not in files:
                raise fail(
                    run_path(index, part),
                    "files",
                    "missing: each run has its envelope and its inclusion proof",
                    code=E_BUNDLE_FILE,
                )
    return sorted(indices)


def _selection(manifest: dict[str, Any] | None) -> tuple[Any, Any, str | None]:
    if manifest is None or not isinstance(manifest["selection"], dict):
        return None, None, None
    project = manifest["selection"].get("project")
    if project is not None:
        try:
            check_project(project)
        except RunidError:
            raise fail(
                MANIFEST, "manifest", f"selection project {project!r:.80} is not a project name"
            ) from None
    bounds = []
    for key in ("since", "until"):
        value = manifest["selection"].get(key)
        try:
            bounds.append(parse_time(value, key) if isinstance(value, str) else None)
        except RunidError:
            raise fail(
                MANIFEST, "manifest", f"selection {key} {value!r:.40} is not a time"
            ) from None
    return bounds[0], bounds[1], project


def _verify_runs(
    files: Mapping[str, bytes],
    keyring: Keyring,
    *,
    origin: str,
    notes: Mapping[bytes, Checkpoint],
    manifest: dict[str, Any] | None,
    progress: Progress | None,
    clients: ClientKeys,
    project: str | None,
) -> list[VerifiedRun]:
    since, until, _project = _selection(manifest)
    signers = Keyring([*keyring.values(), *(info.key for info in clients.keys.values())])
    indices = _run_indices(files)
    declarations: dict[str, VerifiedRun | None] = {}
    runs: list[VerifiedRun] = []
    for done, index in enumerate(indices, 1):
        name = run_path(index, "envelope.json")
        leaf = files[name]
        check_signer(name, index, leaf, clients=clients, log_keys=keyring, project=project)
        try:
            record = verify_envelope(leaf, signers)
        except RunidError as exc:
            raise reraise(name, "envelope", exc) from None
        try:
            load_canonical(leaf)
        except RunidError:
            msg = "not the canonical bytes of the envelope (the log leaf)"
            raise fail(name, "envelope", msg) from None
        started = instant(record["started_at"])
        if (since is not None and started < since) or (until is not None and started >= until):
            raise fail(
                name,
                "selection",
                f"started at {record['started_at']}, outside the bundle's selection",
            )
        proof_name = run_path(index, "inclusion.tlog-proof")
        check_inclusion(files, proof_name, leaf, index, keyring=keyring, origin=origin, notes=notes)
        declaration_id = record["declaration_id"]
        if declaration_id not in declarations:
            held = declaration_path(declaration_id) in files
            declarations[declaration_id] = _declaration(files, declaration_id) if held else None
        disclosed = declarations[declaration_id]
        run = VerifiedRun(index, record)
        if disclosed is not None:
            run.components, run.disclosed = disclosed.components, disclosed.disclosed
            run.declaration = disclosed.declaration
        runs.append(run)
        if progress is not None and (done % _PROGRESS_EVERY == 0 or done == len(indices)):
            progress("runs", done, len(indices))
    for name in files:
        if file_kind(name) == "declaration":
            declaration_id = "sha256:" + name.split("/")[1].removesuffix(".json")
            if declaration_id not in declarations:
                raise fail(name, "declaration", "no run of the bundle has this declaration")
    for index, key_id in clients.about.items():
        if key_id not in clients.used:
            raise fail(
                admin_path(index, "envelope.json"),
                "admin",
                f"no run of the bundle is signed by the key it is about ({key_id})",
                code=E_BUNDLE_ADMIN,
            )
    return runs


def _contents(files: Mapping[str, bytes], runs: Sequence[VerifiedRun]) -> dict[str, int]:
    referenced: set[str] = set()
    for run in runs:
        referenced.update(output_digests(run.record))
        for value in run.disclosed.values():
            referenced.update(digests_under(value))
    found: dict[str, int] = {}
    for name, data in files.items():
        if file_kind(name) != "content":
            continue
        digest = "sha256:" + name.split("/")[1]
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise fail(
                name,
                "content",
                "its bytes do not have the digest it is named by",
                code=E_CONTENT_DIGEST,
            )
        if digest not in referenced:
            raise fail(name, "content", "no disclosed component or output references it")
        assert content_path(digest) == name
        found[digest] = len(data)
    return found


def _policy(
    files: Mapping[str, bytes], runs: Sequence[VerifiedRun]
) -> tuple[Policy, dict[str, Any], int] | None:
    names = [n for n in files if file_kind(n) == "policy"]
    if not names and POLICY_RESULTS not in files:
        return None
    if len(names) != 1 or POLICY_RESULTS not in files:
        missing = POLICY_RESULTS if names else "policy/policy.yaml"
        raise fail(
            missing,
            "files",
            "a bundle has one policy file and its results, or neither",
            code=E_BUNDLE_FILE,
        )
    name = names[0]
    try:
        policy = parse_policy(files[name], fmt="json" if name.endswith(".json") else "yaml")
    except RunidError as exc:
        raise reraise(name, "policy", exc) from None
    stored = json_file(files, POLICY_RESULTS, "policy")
    if not isinstance(stored, dict) or not isinstance(stored.get("runs"), list):
        raise fail(POLICY_RESULTS, "policy", "not a policy results document", code=E_POLICY_RESULT)
    if len(stored["runs"]) != len(runs):
        raise fail(
            POLICY_RESULTS,
            "policy",
            f"holds {len(stored['runs'])} runs, the bundle {len(runs)}",
            code=E_POLICY_RESULT,
        )
    cache: dict[tuple[str, ...], Any] = {}
    checked = 0
    rows = []
    for run, row in zip(runs, stored["runs"], strict=True):
        if not isinstance(row, dict) or row.get("entry") != run.index:
            raise fail(
                POLICY_RESULTS,
                "policy",
                f"expected the result of entry {run.index}",
                code=E_POLICY_RESULT,
            )
        if run.declaration is not None or run.components is None:
            evaluation = evaluate_run(policy, run.declaration, run.record, cache, run.components)
            expected = run_result(run.index, run.record, evaluation)
            if expected != row:
                raise fail(
                    POLICY_RESULTS,
                    "policy",
                    f"entry {run.index}: the stored result is "
                    "not what the policy gives for the run",
                    code=E_POLICY_RESULT,
                )
            checked += 1
        rows.append(row)
    if results_document(policy, name, rows) != stored:
        raise fail(
            POLICY_RESULTS,
            "policy",
            "the policy, status or summary is not the one the runs' results give",
            code=E_POLICY_RESULT,
        )
    return policy, stored, checked


def verify_files(
    files: Mapping[str, bytes],
    trusted: Sequence[PublicKey] | None = None,
    *,
    sealed: bool = True,
    progress: Progress | None = None,
    witnesses: Sequence[CosignerKey] = (),
    min_witnesses: int | None = None,
    project: str | None = None,
) -> Verified:
    """Verify a bundle's files; raise :class:`EvidenceError` at the first failure.

    ``trusted``: the verifier keys to trust (the log's key must be one of them); None trusts
    the bundle's own log key, which proves the bundle is whole and self-consistent, not who
    made it. ``sealed`` False verifies files not sealed yet (no manifest: a report made
    straight from the log). ``witnesses`` (cosigner keys) requires a checkpoint of the bundle
    cosigned by ``min_witnesses`` of them (default 1) whose tree holds every run.
    ``project``: every run must be signed by a client key of that project (files not sealed;
    a sealed bundle's manifest names its project).
    """
    for name in files:
        problem = path_problem(name)
        if problem is not None:
            raise fail(name[:80], "files", problem, code=E_BUNDLE_FILE)
        if file_kind(name) is None:
            raise fail(
                name, "files", "not a file a runid/evidence/v1 bundle holds", code=E_BUNDLE_FILE
            )
    key = log_key(files, trusted)
    origin = key.name
    keyring = Keyring(trusted if trusted is not None else [key])
    manifest = check_manifest(files, keyring, origin) if sealed else None
    checks: list[str] = []
    if manifest is not None:
        checks.append(
            f"manifest: signed by the log {origin} ({key.key_id}); "
            f"{len(manifest['files']):,} files, every SHA-256 and size as listed"
        )
    checks.append(
        f"keys: the log key {key.name} is "
        + (
            "a key given to the verifier"
            if trusted is not None
            else "the bundle's own (pass --key to anchor trust in a key you hold)"
        )
    )
    checkpoints, notes = check_checkpoints(files, keyring, origin)
    latest = checkpoints[-1]
    if manifest is not None and manifest["log"].get("size") != latest.size:
        raise fail(
            MANIFEST,
            "manifest",
            f"names tree size {manifest['log'].get('size')}, "
            f"its latest checkpoint is {latest.size}",
        )
    if manifest is not None:
        named = _selection(manifest)[2]
        if project is not None and named != project:
            raise fail(
                MANIFEST,
                "project",
                f"the bundle's selection is {named or 'no project'}, not project {project}",
                code=E_BUNDLE_PROJECT,
            )
        project = named
    checks.append(
        f"checkpoints: {len(checkpoints)} signed by {origin}, tree sizes "
        f"{', '.join(f'{c.size:,}' for c in checkpoints)}; each extends the one before "
        f"({len(checkpoints) - 1} consistency proofs)"
    )
    clients = check_admin(files, keyring, key, origin=origin, notes=notes)
    if clients.about:
        revoked = sum(info.revoked for info in clients.keys.values())
        checks.append(
            f"admin: {len(clients.about):,} admin record(s) signed by {origin} and included "
            f"in the log register {len(clients.keys):,} client key(s)"
            + (f", {revoked:,} of them revoked later" if revoked else "")
        )
    runs = _verify_runs(
        files,
        keyring,
        origin=origin,
        notes=notes,
        manifest=manifest,
        progress=progress,
        clients=clients,
        project=project,
    )
    signed = sum(run.record["issuer"]["key_id"] in clients.keys for run in runs)
    checks.append(
        f"runs: {len(runs):,} envelopes signed and valid (execution ids recomputed), "
        f"{len(runs):,} inclusion proofs verified"
        + (
            f"; {signed:,} signed by client keys, each registered to its project before the "
            "run and not revoked before it"
            if signed
            else ""
        )
    )
    if project is not None:
        checks.append(f"project: every run is signed by a key of project {project}")
    witnessed = check_witnesses(files, key, runs, witnesses, min_witnesses)
    if witnessed:
        checks.append(witnessed)
    full = sum(r.declaration is not None for r in runs)
    part = sum(r.declaration is None and r.components is not None for r in runs)
    none = len(runs) - full - part
    checks.append(
        f"declarations: {full:,} run(s) with the whole declaration (id recomputed), "
        f"{part:,} in part (each disclosed component's digest recomputed), "
        f"{none:,} with none held"
    )
    contents = _contents(files, runs)
    checks.append(
        f"contents: {len(contents):,} disclosed, each matching its digest and "
        "referenced by a disclosed component or output"
    )
    verified = Verified(
        origin,
        key,
        trusted is not None,
        latest,
        checkpoints,
        runs,
        manifest,
        contents,
        checks=checks,
        project=project,
        client_keys=dict(clients.keys),
    )
    if manifest is not None:
        leaves = [files[run_path(run.index, "envelope.json")] for run in runs]
        made = manifest.get("created_at")
        created = made if isinstance(made, str) else ""
        formats = check_exports(files, runs, leaves, origin, created_at=created)
        if formats:
            checks.append(
                f"exports: {', '.join(formats)} regenerated from the verified runs, byte for "
                "byte as held"
            )
    elif any(file_kind(name) == "export" for name in files):
        raise fail("exports", "exports", "exports are checked against a sealed bundle only")
    found = _policy(files, runs)
    if found is not None:
        policy, stored, checked = found
        verified.policy, verified.policy_results = policy, stored
        rest = len(runs) - checked
        checks.append(
            f"policy: {policy.name} ({policy.digest[:19]}…): {checked:,} run(s) "
            "re-evaluated, results as stored"
            + (f"; {rest:,} with undisclosed components taken as signed" if rest else "")
        )
    return verified
