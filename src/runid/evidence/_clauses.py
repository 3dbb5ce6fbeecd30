"""The record-keeping clauses a bundle's evidence serves, for the report's mapping table.

Private to :mod:`runid.evidence`. Each row cites a clause by number, paraphrases it (the
official texts are the authority: Regulation (EU) 2024/1689, the AI Act; NIST AI 100-1, the AI
Risk Management Framework 1.0; ISO/IEC 42001:2023, Annex A), names the evidence in the bundle
that bears on it, and says what that evidence shows and what it does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["CLAUSES", "DISCLAIMER", "Clause"]


@dataclass(frozen=True)
class Clause:
    framework: str
    clause: str
    paraphrase: str
    evidence: str
    shows: str
    does_not_show: str


DISCLAIMER: Final = (
    "Clauses are cited by number and paraphrased, not quoted; the official texts are the "
    "authority. Whether a system is high-risk, and whether these records are sufficient for "
    "it, is for the provider, the deployer and their assessors to decide: the table says what "
    "each kind of evidence in this bundle can and cannot show, not that an obligation is met."
)

_ONLY_CAPTURED = (
    "That every run of the system was recorded: the log holds the runs that were captured, "
    "and a run never captured leaves no trace"
)

CLAUSES: Final = (
    Clause(
        "EU AI Act",
        "Art. 12(1)",
        "High-risk AI systems must technically allow events to be recorded automatically "
        "(logs) over their lifetime.",
        "Signed execution records (envelopes), one per run, with start and end times, the "
        "declaration id and the outputs' digests; the transparency log's inclusion proofs.",
        "Each recorded run happened as recorded, was signed by the issuer's key and is an "
        "entry of an append-only log that was not rewritten between the checkpoints.",
        _ONLY_CAPTURED + "; and that the times are true (they are the issuer's clock).",
    ),
    Clause(
        "EU AI Act",
        "Art. 12(2)(a)-(c)",
        "Logging must make it possible to trace the system's functioning: to identify "
        "situations that may present a risk or a substantial modification, to support "
        "post-market monitoring (Art. 72), and to monitor operation (Art. 26(5)).",
        "Declarations (component digests, disclosed components), the timeline of conditions, "
        "the policy results.",
        "Which model, instructions, parameters, retrieval index and runtime each run used, "
        "and when each of these changed: a modification shows as a changed component digest.",
        "Why a condition changed, who approved it, or whether a change is substantial in the "
        "Act's sense; conditions declared undisclosed or not recorded.",
    ),
    Clause(
        "EU AI Act",
        "Art. 12(3)(a)",
        "For remote biometric identification systems (Annex III, point 1(a)): at least the "
        "period of each use, start and end date and time.",
        "Each record's started_at and ended_at.",
        "The period of each recorded use as the issuer's clock stated it.",
        "The reference database, the matched input data and the verifying persons (Art. "
        "12(3)(b)-(d)), unless the declarations disclose them; runid records no persons.",
    ),
    Clause(
        "EU AI Act",
        "Art. 19(1)",
        "Providers must keep the automatically generated logs under their control for a "
        "period appropriate to the intended purpose, of at least six months unless other law "
        "provides otherwise.",
        "Checkpoints with a consistency chain; the records' time range.",
        "The log held these records at the checkpoints, and later checkpoints extend earlier "
        "ones (nothing was removed or rewritten in between).",
        "How long logs are kept: one bundle is one moment; retention shows only in bundles or "
        "checkpoints taken over time, and content may have been erased (it is, by design).",
    ),
    Clause(
        "EU AI Act",
        "Art. 26(6)",
        "Deployers must keep the logs the high-risk system generates, to the extent they "
        "control them, for an appropriate period of at least six months.",
        "As Art. 19(1), from the deployer's log (the issuer's key names who kept it).",
        "That the deployer's log holds the recorded runs and was not rewritten between "
        "checkpoints.",
        "The retention period, and logs kept by others (the provider's own logs).",
    ),
    Clause(
        "EU AI Act",
        "Art. 72(1)-(2)",
        "Providers must run a documented post-market monitoring system that actively and "
        "systematically collects and analyses data on the system's performance throughout its "
        "lifetime, to evaluate continuous compliance.",
        "What ran (models, instructions, index snapshots, parameter sets, with counts and "
        "time ranges), the timeline, the policy results; exports (OTLP spans, PROV, "
        "CycloneDX ML-BOM) for the provider's own monitoring tools.",
        "The conditions in use over the period and where they departed from the approved "
        "ones (policy rules that failed, by run).",
        "Performance, accuracy or harm: runid records conditions and outcomes by digest, it "
        "does not judge outputs. A monitoring plan is a document this bundle does not hold.",
    ),
    Clause(
        "EU AI Act",
        "Art. 73(6)",
        "After reporting a serious incident the provider must investigate (risk assessment, "
        "corrective action) and must not alter the system in a way that could affect the "
        "later evaluation of its causes before informing the authorities.",
        "Declarations and records of the runs concerned, with disclosed contents; the "
        "consistency chain.",
        "The exact conditions of each run around the incident, and that the records of them "
        "were not changed after the checkpoints; a later change of conditions shows in the "
        "timeline.",
        "The incident itself, its cause, or its reporting; the system's state outside the "
        "recorded runs.",
    ),
    Clause(
        "NIST AI RMF 1.0",
        "GOVERN 1.6",
        "Mechanisms are in place to inventory AI systems, resourced according to "
        "organizational risk priorities.",
        "What ran, and the CycloneDX ML-BOM of models and datasets used.",
        "An inventory of the models, model snapshots and retrieval index snapshots the "
        "recorded runs used, with when each was in use.",
        "AI systems that were never captured, and the owners or risk tiers of those shown.",
    ),
    Clause(
        "NIST AI RMF 1.0",
        "MEASURE 2.4",
        "The functionality and behavior of the AI system and its components (as identified "
        "in MAP) are monitored when in production.",
        "Records (observed facts: served model, usage, finish reason, status), the timeline.",
        "What was served and how each run ended, and when components changed in production.",
        "Quality of outputs or behaviour against expectations: no metric is computed here.",
    ),
    Clause(
        "NIST AI RMF 1.0",
        "MANAGE 4.1, 4.3",
        "Post-deployment monitoring plans are implemented (including incident response, "
        "recovery and change management); incidents and errors are communicated, and the "
        "processes for tracking, responding to and recovering from them are followed and "
        "documented.",
        "Records with error outcomes, policy results, the timeline of changes.",
        "Which runs failed or broke policy and when conditions changed, as documented inputs "
        "to change management and incident tracking.",
        "That a plan exists or was followed, or that anyone was told.",
    ),
    Clause(
        "ISO/IEC 42001:2023",
        "Annex A, A.6.2.8",
        "Determine the AI system life-cycle phases in which event logs are recorded, at least "
        "while the AI system is in use.",
        "The signed records and the log, over the selected period.",
        "That event logging was in effect for the recorded runs of the period, with records "
        "that cannot be changed unnoticed.",
        "The phases the organization decided to log, or logging outside the selected runs.",
    ),
    Clause(
        "ISO/IEC 42001:2023",
        "Annex A, A.6.2.6, A.6.2.7",
        "Define what is needed to operate and monitor the AI system; document its technical "
        "details for the relevant interested parties.",
        "Declarations (the full composition of each run by component), the report.",
        "The technical conditions of each recorded run, verifiable against its id.",
        "Design rationale, architecture and operating procedures: documents outside runid.",
    ),
    Clause(
        "ISO/IEC 42001:2023",
        "Annex A, A.7.5",
        "Define and document a process for recording the provenance of the data used in the "
        "AI system over the life cycles of the data and the system.",
        "The context component (index id and snapshot digest, retrieved items by digest), "
        "disclosed contents, the PROV-JSON export.",
        "Which index snapshot and which retrieved items (by digest; contents when disclosed) "
        "fed each run.",
        "Where the indexed data came from before indexing, or training data provenance.",
    ),
)
