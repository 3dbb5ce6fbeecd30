"""Evidence for auditors: signed bundles that verify offline, a report, standard exports.

An **evidence bundle** (``docs/spec.md``, "Evidence bundles") is one zip file holding what an
auditor needs to check a set of runs without runid's database: the signed envelopes, their
declarations (only the components disclosed), the disclosed contents, an inclusion proof per
run, the checkpoints with a consistency chain between them, the log's public key, the policy
and its results, and a manifest listing every file's SHA-256, signed by the log's key as a C2SP
signed note. :func:`verify_files` checks all of it from the files alone.

This package is pure (bytes and values in and out). Its shell modules do the I/O:
:mod:`runid.evidence.collect` reads a log, :mod:`runid.evidence.archive` writes and reads the
zip (defensively), :mod:`runid.evidence.pdf` prints the report with headless Chromium.

>>> sorted(parse_disclose("context,outputs").to_json())
['context', 'outputs']
"""

from __future__ import annotations

from ._assemble import (
    POLICY_RESULTS_SPEC,
    Collected,
    RunEvidence,
    assemble,
    disclosures,
    evaluate_run,
    output_digests,
    peek_record,
    policy_results,
    views,
)
from ._clauses import CLAUSES, DISCLAIMER, Clause
from ._exports import (
    EXPORT_FILES,
    FORMATS,
    check_exports,
    cyclonedx_bom,
    export_bytes,
    intoto_jsonl,
    otlp_traces,
    prov_document,
)
from ._format import (
    BUNDLE_SPEC,
    DISCLOSURE_SPEC,
    LOG_KEY,
    MANIFEST,
    OUTPUTS,
    POLICY_RESULTS,
    REPORT_HTML,
    REPORT_PDF,
    SIGNATURE,
    Disclose,
    EvidenceError,
    VerifiedRun,
    content_path,
    declaration_path,
    digests_under,
    disclosure_document,
    file_kind,
    manifest_note_text,
    parse_disclose,
    parse_time,
    path_problem,
    run_path,
    seal,
)
from ._report import KINDS, Variant, render_report, summarise
from ._salted import SALTED_MEDIA_TYPE, SALTED_SPEC, salted_content, unsalted
from ._verify import Progress, Verified, verify_files

__all__ = [
    "BUNDLE_SPEC",
    "CLAUSES",
    "DISCLAIMER",
    "DISCLOSURE_SPEC",
    "EXPORT_FILES",
    "FORMATS",
    "KINDS",
    "LOG_KEY",
    "MANIFEST",
    "OUTPUTS",
    "POLICY_RESULTS",
    "POLICY_RESULTS_SPEC",
    "REPORT_HTML",
    "REPORT_PDF",
    "SALTED_MEDIA_TYPE",
    "SALTED_SPEC",
    "SIGNATURE",
    "Clause",
    "Collected",
    "Disclose",
    "EvidenceError",
    "Progress",
    "RunEvidence",
    "Variant",
    "Verified",
    "VerifiedRun",
    "assemble",
    "check_exports",
    "content_path",
    "cyclonedx_bom",
    "declaration_path",
    "digests_under",
    "disclosure_document",
    "disclosures",
    "evaluate_run",
    "export_bytes",
    "file_kind",
    "intoto_jsonl",
    "manifest_note_text",
    "otlp_traces",
    "output_digests",
    "parse_disclose",
    "parse_time",
    "path_problem",
    "peek_record",
    "policy_results",
    "prov_document",
    "render_report",
    "run_path",
    "salted_content",
    "seal",
    "summarise",
    "unsalted",
    "verify_files",
    "views",
]
