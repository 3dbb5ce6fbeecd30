"""Putting a bundle together from what was collected, and the policy results it carries.

Private to :mod:`runid.evidence`. Pure: :mod:`runid.evidence.collect` reads the log and hands
the pieces here as values; the bytes of every bundle file are made here.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from .. import canonical
from ..declaration import COMPONENTS
from ..identity import Identity, compute_identity
from ..keys import PublicKey
from ..policy import FAIL, NA, PASS, Evaluation, Policy, RuleResult, evaluate
from ._format import (
    CONSISTENCY,
    LOG_KEY,
    POLICY_RESULTS,
    Disclose,
    VerifiedRun,
    admin_path,
    checkpoint_path,
    client_key_path,
    content_path,
    declaration_path,
    disclosure_document,
    run_path,
)

__all__ = [
    "POLICY_RESULTS_SPEC",
    "AdminEvidence",
    "Collected",
    "RunEvidence",
    "assemble",
    "disclosures",
    "evaluate_run",
    "output_digests",
    "peek_record",
    "policy_results",
    "views",
]

POLICY_RESULTS_SPEC: Final = "runid/evidence-policy/v1"

# A run whose declaration is not in the bundle cannot be shown to comply (as runid check).
MISSING_DECLARATION = RuleResult(
    "declaration",
    FAIL,
    "the declaration's content is not at hand (withheld, erased, or not stored in this log): "
    "no rule can be shown to hold",
    expected="the declaration",
)


@dataclass(frozen=True)
class RunEvidence:
    """One run as collected: its log index, its envelope's bytes (the log leaf, canonical
    JSON), the verified record, and its inclusion proof (a tlog-proof)."""

    index: int
    envelope: bytes
    record: Mapping[str, Any]
    proof: bytes


@dataclass(frozen=True)
class AdminEvidence:
    """The admin record at entry ``index`` that registers or revokes a client key of the
    bundle's runs: its envelope's bytes (the log leaf), the action's bytes (the record's one
    output), and its inclusion proof."""

    index: int
    envelope: bytes
    action: bytes
    proof: bytes


@dataclass
class Collected:
    """Everything a bundle is made of, as values.

    ``checkpoints`` are signed notes by ascending size (the last one is what every proof is
    against); ``consistency`` holds ``(old size, new size, proof hashes)`` between neighbours;
    ``declarations`` maps each run's declaration id to the declaration the log holds (None:
    not held); ``contents`` the content blobs to disclose, by digest; ``policy`` the policy file
    (name and bytes) with its parsed form; ``admin`` the admin records that register (and
    revoke) the client keys that signed runs, ``client_keys`` those keys.
    """

    key: PublicKey
    checkpoints: list[bytes]
    consistency: list[tuple[int, int, list[bytes]]]
    runs: list[RunEvidence]
    declarations: dict[str, dict[str, Any] | None]
    disclose: Disclose
    contents: dict[str, bytes] = field(default_factory=dict)
    policy: tuple[str, bytes, Policy] | None = None
    planned: dict[str, tuple[bytes, list[str]]] | None = None
    identities: dict[str, Identity] = field(default_factory=dict)
    admin: list[AdminEvidence] = field(default_factory=list)
    client_keys: list[PublicKey] = field(default_factory=list)


def peek_record(leaf: bytes) -> dict[str, Any] | None:
    """The record inside a log leaf (an envelope's bytes), **not verified**: to select runs by
    time before verifying the ones selected. None for a leaf that is not a runid envelope."""
    try:
        envelope = orjson.loads(leaf)
        statement = orjson.loads(base64.b64decode(envelope["payload"], validate=True))
        record = statement["predicate"]
    except (orjson.JSONDecodeError, ValueError, KeyError, TypeError):
        return None
    return record if isinstance(record, dict) else None


def output_digests(record: Mapping[str, Any]) -> list[str]:
    """The digests of a record's outputs and of its error message (content it references)."""
    outcome = record.get("outcome", {})
    found = [o["digest"] for o in outcome.get("outputs", []) if isinstance(o, dict)]
    message = outcome.get("error", {}).get("message") if isinstance(outcome, dict) else None
    if isinstance(message, dict) and isinstance(message.get("digest"), str):
        found.append(message["digest"])
    return found


def disclosures(
    declarations: Mapping[str, Mapping[str, Any] | None],
    disclose: Disclose,
    identities: Mapping[str, Identity] | None = None,
) -> dict[str, tuple[bytes, list[str]]]:
    """For each held declaration: its bundle file's bytes and the content digests it
    discloses (``identities``: the declarations' identities when the caller has them)."""
    known = identities or {}
    return {
        declaration_id: disclosure_document(declaration, disclose, known.get(declaration_id))
        for declaration_id, declaration in declarations.items()
        if declaration is not None
    }


def _absence(value: Any) -> str | None:
    """The reason of an absence marker, as the policy check reads it (§17.3), or None."""
    if type(value) is dict and len(value) == 1 and "absent" in value:
        reason = value["absent"]
        return reason if isinstance(reason, str) else "not_recorded"
    return None


def _reads(
    policy: Policy,
    declaration: Mapping[str, Any],
    components: Mapping[str, str],
    record: Mapping[str, Any],
) -> tuple[str, ...]:
    """What the policy's rules read of a run (docs/spec.md §17.3): the components its sections
    name (and ``model`` and ``runtime``, which ``applies_to`` reads), by digest; for a
    ``components`` section, the presence or absence reason of each component it lists; the
    record's ``observed`` facts when it has an ``observed`` section. Two runs that agree on
    these get the same results."""
    document = policy.document
    named = sorted((set(document) & set(COMPONENTS)) | {"model", "runtime"})
    key = [components[name] for name in named]
    for name in sorted(document.get("components", {})):
        value = declaration.get(name)
        key.append(_absence(value) or "present")
    if "observed" in document:
        key.append(canonical.canonicalize(record.get("observed")).decode("utf-8"))
    return tuple(key)


def evaluate_run(
    policy: Policy,
    declaration: Mapping[str, Any] | None,
    record: Mapping[str, Any],
    cache: dict[tuple[str, ...], Evaluation] | None = None,
    components: Mapping[str, str] | None = None,
) -> Evaluation:
    """One run's evaluation, as ``runid check`` gives it (a missing declaration fails).

    With ``cache`` and the declaration's (verified) component ``components``, runs that agree
    on what the policy reads share one evaluation (the declaration was validated when its id
    was computed, so only the rules are skipped)."""
    if declaration is None:
        return Evaluation(FAIL, (MISSING_DECLARATION,), "", {PASS: 0, FAIL: 1, NA: 0})
    if cache is None or components is None:
        return evaluate(policy, declaration, record)
    key = _reads(policy, declaration, components, record)
    evaluation = cache.get(key)
    if evaluation is None:
        evaluation = cache[key] = evaluate(policy, declaration, record)
    return evaluation


def run_result(index: int, record: Mapping[str, Any], evaluation: Evaluation) -> dict[str, Any]:
    """One run's member of the policy results."""
    return {
        "entry": index,
        "execution_id": record["execution_id"],
        "declaration_id": record["declaration_id"],
        "status": evaluation.status,
        "scope": evaluation.scope or None,
        "results": [r.to_json() for r in evaluation.results],
    }


def results_document(
    policy: Policy, policy_file: str, runs: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    by_run = {PASS: 0, FAIL: 0, NA: 0}
    by_rule = {PASS: 0, FAIL: 0, NA: 0}
    for run in runs:
        by_run[run["status"]] += 1
        for result in run["results"]:
            by_rule[result["status"]] += 1
    return {
        "results": POLICY_RESULTS_SPEC,
        "policy": {"name": policy.name, "digest": policy.digest, "file": policy_file},
        "status": FAIL if by_run[FAIL] else PASS,
        "summary": {"runs": by_run, "rules": by_rule},
        "runs": list(runs),
    }


def policy_results(
    policy: Policy,
    policy_file: str,
    runs: Iterable[RunEvidence],
    declarations: Mapping[str, Mapping[str, Any] | None],
    identities: Mapping[str, Identity] | None = None,
) -> bytes:
    """``policy/results.json``: every run's evaluation and the summary (canonical JSON)."""
    cache: dict[tuple[str, ...], Evaluation] = {}
    results = []
    for run in runs:
        declaration_id = run.record["declaration_id"]
        declaration = declarations.get(declaration_id)
        identity = identities.get(declaration_id) if identities else None
        if declaration is not None and identity is None:
            identity = compute_identity(declaration)
        components = identity.components if identity is not None else None
        evaluation = evaluate_run(policy, declaration, run.record, cache, components)
        results.append(run_result(run.index, run.record, evaluation))
    return canonical.canonicalize(results_document(policy, policy_file, results))


def views(collected: Collected) -> list[VerifiedRun]:
    """The runs as a bundle shows them: each record, and of its declaration what
    ``collected.disclose`` discloses (as :func:`runid.evidence.verify_files` returns them)."""
    shown: dict[str, tuple[dict[str, str], dict[str, Any], dict[str, Any] | None]] = {}
    out = []
    for run in collected.runs:
        declaration_id = run.record["declaration_id"]
        declaration = collected.declarations.get(declaration_id)
        if declaration is None:
            out.append(VerifiedRun(run.index, run.record))
            continue
        if declaration_id not in shown:
            identity = collected.identities.get(declaration_id) or compute_identity(declaration)
            components = dict(identity.components)
            disclosed = {c: declaration[c] for c in collected.disclose.components}
            whole = dict(declaration) if collected.disclose.everything else None
            shown[declaration_id] = (components, disclosed, whole)
        components, disclosed, whole = shown[declaration_id]
        out.append(VerifiedRun(run.index, run.record, components, disclosed, whole))
    return out


def consistency_bytes(chain: Sequence[tuple[int, int, Sequence[bytes]]]) -> bytes:
    return canonical.canonicalize(
        {
            "consistency": [
                {
                    "old": old,
                    "new": new,
                    "proof": [base64.b64encode(h).decode("ascii") for h in proof],
                }
                for old, new, proof in chain
            ]
        }
    )


def assemble(
    collected: Collected,
    sizes: Sequence[int],
    planned: Mapping[str, tuple[bytes, list[str]]] | None = None,
) -> dict[str, bytes]:
    """The bundle's files (without the manifest and its signature: :func:`seal` adds them).

    ``sizes`` are the tree sizes of ``collected.checkpoints``, in order; ``planned`` the
    result of :func:`disclosures` when the caller already has it.
    """
    files: dict[str, bytes] = {LOG_KEY: (collected.key.vkey + "\n").encode("ascii")}
    for key in collected.client_keys:
        files[client_key_path(key.key_id)] = (key.vkey + "\n").encode("ascii")
    for entry in collected.admin:
        files[admin_path(entry.index, "envelope.json")] = entry.envelope
        files[admin_path(entry.index, "action.json")] = entry.action
        files[admin_path(entry.index, "inclusion.tlog-proof")] = entry.proof
    for size, note in zip(sizes, collected.checkpoints, strict=True):
        files[checkpoint_path(size)] = note
    files[CONSISTENCY] = consistency_bytes(collected.consistency)
    for run in collected.runs:
        files[run_path(run.index, "envelope.json")] = run.envelope
        files[run_path(run.index, "inclusion.tlog-proof")] = run.proof
    if planned is None:
        planned = collected.planned or disclosures(collected.declarations, collected.disclose)
    for declaration_id, (data, _digests) in planned.items():
        files[declaration_path(declaration_id)] = data
    for digest, data in collected.contents.items():
        files[content_path(digest)] = data
    if collected.policy is not None:
        name, data, policy = collected.policy
        files[name] = data
        files[POLICY_RESULTS] = policy_results(policy, name, collected.runs, collected.declarations)
    return files
