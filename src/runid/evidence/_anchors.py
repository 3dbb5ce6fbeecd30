"""The anchors of a bundle: its log key, the manifest's signature and every file's digest,
the checkpoints and the consistency between them, and the witnesses' cosignatures.

Private to :mod:`runid.evidence` (:func:`runid.evidence.verify_files` runs these first). Pure.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ..checkpoint import Checkpoint, verify_checkpoint
from ..errors import (
    E_BUNDLE_DIGEST,
    E_BUNDLE_FILE,
    E_UNKNOWN_KEY,
    E_WITNESS_QUORUM,
    RunidError,
)
from ..keys import Keyring, PublicKey
from ..merkle import leaf_hash, verify_consistency
from ..note import open_note, split_note
from ..proof import parse_proof, verify_tlog_proof
from ..tlog.cosignature import CosignerKey, verify_cosignatures
from ._format import (
    BUNDLE_SPEC,
    CONSISTENCY,
    LOG_KEY,
    MANIFEST,
    SIGNATURE,
    EvidenceError,
    VerifiedRun,
    checkpoint_path,
    fail,
    file_kind,
    load_canonical,
    manifest_note_text,
    reraise,
    run_path,
)

__all__ = [
    "check_checkpoints",
    "check_inclusion",
    "check_manifest",
    "check_witnesses",
    "json_file",
    "log_key",
]

_MANIFEST_KEYS: Final = frozenset(("bundle", "created_at", "log", "selection", "counts", "files"))


def json_file(files: Mapping[str, bytes], name: str, check: str) -> Any:
    try:
        return load_canonical(files[name])
    except RunidError as exc:
        raise fail(name, check, exc.message) from None


def check_manifest(files: Mapping[str, bytes], keyring: Keyring, origin: str) -> dict[str, Any]:
    """The manifest, after its signature and every listed file's digest verified."""
    for name in (MANIFEST, SIGNATURE):
        if name not in files:
            raise fail(
                name,
                "files",
                "missing: a bundle has a manifest and its signature",
                code=E_BUNDLE_FILE,
            )
    try:
        note = open_note(files[SIGNATURE], keyring)
    except RunidError as exc:
        raise reraise(SIGNATURE, "signature", exc) from None
    if not any(key.name == origin for key in note.keys):
        raise fail(SIGNATURE, "signature", f"not signed by the log's key {origin}")
    if not note.text.startswith(BUNDLE_SPEC + "\n"):
        raise fail(SIGNATURE, "signature", f"not a {BUNDLE_SPEC} manifest signature")
    if note.text != manifest_note_text(files[MANIFEST]):
        raise fail(
            MANIFEST,
            "digest",
            "its SHA-256 is not the one the signature names",
            code=E_BUNDLE_DIGEST,
        )
    manifest = json_file(files, MANIFEST, "manifest")
    if not isinstance(manifest, dict) or set(manifest) != _MANIFEST_KEYS:
        raise fail(MANIFEST, "manifest", f"expected exactly the members {sorted(_MANIFEST_KEYS)}")
    if manifest["bundle"] != BUNDLE_SPEC:
        raise fail(MANIFEST, "manifest", f"unsupported bundle version {manifest['bundle']!r}")
    log = manifest["log"]
    if not isinstance(log, dict) or log.get("origin") != origin:
        raise fail(MANIFEST, "manifest", f"its log is not {origin!r}")
    listed = manifest["files"]
    if not isinstance(listed, list):
        raise fail(MANIFEST, "manifest", "files must be a list")
    seen: set[str] = set()
    for item in listed:
        if not (isinstance(item, dict) and set(item) == {"path", "sha256", "size"}):
            raise fail(MANIFEST, "manifest", "each file is {path, sha256, size}")
        name = item["path"]
        if not isinstance(name, str) or name in seen or name in (MANIFEST, SIGNATURE):
            raise fail(MANIFEST, "manifest", f"file {name!r:.80} listed twice or not allowed")
        seen.add(name)
        if name not in files:
            raise fail(
                name, "files", "listed in the manifest but not in the bundle", code=E_BUNDLE_FILE
            )
        data = files[name]
        if len(data) != item["size"] or hashlib.sha256(data).hexdigest() != item["sha256"]:
            raise fail(
                name,
                "digest",
                "its bytes are not the ones the manifest lists "
                f"(sha256 {hashlib.sha256(data).hexdigest()[:16]}…, {len(data)} bytes)",
                code=E_BUNDLE_DIGEST,
            )
    for name in files:
        if name not in seen and name not in (MANIFEST, SIGNATURE):
            raise fail(name, "files", "not listed in the manifest", code=E_BUNDLE_FILE)
    return manifest


def log_key(files: Mapping[str, bytes], trusted: Sequence[PublicKey] | None) -> PublicKey:
    if LOG_KEY not in files:
        raise fail(LOG_KEY, "files", "missing: the log's verifier key", code=E_BUNDLE_FILE)
    try:
        key = PublicKey.parse(files[LOG_KEY].decode("ascii"))
    except (RunidError, UnicodeDecodeError) as exc:
        detail = exc.message if isinstance(exc, RunidError) else "not ASCII"
        raise fail(LOG_KEY, "keys", f"not a verifier key ({detail})") from None
    if trusted is not None and key not in trusted:
        raise fail(
            LOG_KEY,
            "keys",
            f"the bundle's log key {key.name} ({key.key_id}) is not a trusted key",
            code=E_UNKNOWN_KEY,
        )
    return key


def check_checkpoints(
    files: Mapping[str, bytes], keyring: Keyring, origin: str
) -> tuple[list[Checkpoint], dict[bytes, Checkpoint]]:
    found: list[Checkpoint] = []
    by_note: dict[bytes, Checkpoint] = {}
    for name in files:
        if file_kind(name) != "checkpoint":
            continue
        try:
            checkpoint = verify_checkpoint(files[name], keyring, origin)
        except RunidError as exc:
            raise reraise(name, "checkpoint", exc) from None
        if checkpoint_path(checkpoint.size) != name:
            raise fail(name, "checkpoint", f"holds the checkpoint of size {checkpoint.size}")
        found.append(checkpoint)
        by_note[files[name]] = checkpoint
    if not found:
        raise fail("checkpoints/", "files", "no checkpoint in the bundle", code=E_BUNDLE_FILE)
    found.sort(key=lambda c: c.size)
    if CONSISTENCY not in files:
        raise fail(CONSISTENCY, "files", "missing", code=E_BUNDLE_FILE)
    chain = json_file(files, CONSISTENCY, "consistency")
    steps = chain.get("consistency") if isinstance(chain, dict) and len(chain) == 1 else None
    pairs = [(a.size, b.size) for a, b in itertools.pairwise(found)]
    if not isinstance(steps, list) or len(steps) != len(pairs):
        raise fail(
            CONSISTENCY,
            "consistency",
            f"expected one proof for each of {len(pairs)} neighbouring checkpoints",
        )
    for step, (old, new), (a, b) in zip(steps, pairs, itertools.pairwise(found), strict=True):
        if not isinstance(step, dict) or (step.get("old"), step.get("new")) != (old, new):
            raise fail(CONSISTENCY, "consistency", f"expected the proof from {old} to {new}")
        try:
            proof = [_b64hash(h) for h in step.get("proof", [])]
            verify_consistency(old, new, proof, a.root, b.root)
        except RunidError as exc:
            raise reraise(CONSISTENCY, "consistency", exc) from None
        except (TypeError, ValueError):
            raise fail(
                CONSISTENCY,
                "consistency",
                f"the proof from {old} to {new} is not a list of base64 hashes",
            ) from None
    return found, by_note


def _b64hash(text: object) -> bytes:
    if not isinstance(text, str):
        raise TypeError
    return base64.b64decode(text, validate=True)


def check_witnesses(
    files: Mapping[str, bytes],
    key: PublicKey,
    runs: Sequence[VerifiedRun],
    witnesses: Sequence[CosignerKey],
    min_witnesses: int | None,
) -> str:
    """The check line for the checkpoints' witness cosignatures: counted, and with
    ``witnesses``, verified and required (a checkpoint cosigned by ``min_witnesses`` of them
    whose tree holds every run)."""
    names = sorted(
        (n for n in files if file_kind(n) == "checkpoint"),
        key=lambda n: int(n.split("/")[1].split(".")[0]),
    )
    if not witnesses:
        other = 0
        for name in names:
            _text, signatures = split_note(files[name])
            other += sum((s.name, s.key_hash) != (key.name, key.note_hash) for s in signatures)
        if not other:
            return ""
        return (
            f"witnesses: {other} signature line(s) besides the log's on the checkpoints "
            "(cosignatures: pass --witness VKEY to check them)"
        )
    need = 1 if min_witnesses is None else min_witnesses
    best: tuple[int, list[str]] | None = None
    for name in names:
        try:
            found = verify_cosignatures(files[name], witnesses)
        except RunidError as exc:
            raise reraise(name, "witnesses", exc) from None
        size = int(name.split("/")[1].split(".")[0])
        if len(found) >= need:
            best = (size, [c.key.name for c in found])
    if best is None:
        raise fail(
            "checkpoints/",
            "witnesses",
            f"no checkpoint is cosigned by {need} of the {len(witnesses)} witness key(s) given",
            code=E_WITNESS_QUORUM,
        )
    size, cosigners = best
    late = [r.index for r in runs if r.index >= size]
    if late:
        raise fail(
            run_path(late[0], "envelope.json"),
            "witnesses",
            f"entry {late[0]} is not in the largest witnessed tree (size {size})",
            code=E_WITNESS_QUORUM,
        )
    return (
        f"witnesses: the checkpoint of size {size:,} is cosigned by {len(cosigners)} of the "
        f"witnesses given ({', '.join(cosigners)}); every run is in its tree"
    )


def check_inclusion(
    files: Mapping[str, bytes],
    proof_name: str,
    leaf: bytes,
    index: int,
    *,
    keyring: Keyring,
    origin: str,
    notes: Mapping[bytes, Checkpoint],
) -> None:
    """The bundle file ``proof_name`` is a tlog-proof that entry ``index``, the ``leaf`` bytes,
    is in the log, against one of the bundle's checkpoints (``notes``); fails naming it."""
    try:
        proof = parse_proof(files[proof_name])
        if proof.index != index:
            raise fail(proof_name, "inclusion", f"proves entry {proof.index}, not {index}")
        if proof.checkpoint not in notes:
            raise fail(
                proof_name, "inclusion", "proves against a checkpoint that is not in the bundle"
            )
        verify_tlog_proof(proof, leaf_hash(leaf), keyring, origin)
    except EvidenceError:
        raise
    except RunidError as exc:
        raise reraise(proof_name, "inclusion", exc) from None
