"""Exports into other ecosystems' formats, from the runs as a bundle shows them.

Private to :mod:`runid.evidence`. Each export reveals only what the bundle's disclosure does
(a component not disclosed contributes nothing but its digest); each is checked in the tests
by that ecosystem's own library, not by runid:

* :func:`intoto_jsonl`: the signed envelopes as an in-toto attestation bundle (JSON Lines of
  DSSE envelopes whose payloads are in-toto Statements v1);
* :func:`prov_document`: W3C PROV-JSON (runs are activities, the declaration, model, index
  snapshot and contents are entities they used, outputs entities they generated, the issuer
  the agent);
* :func:`cyclonedx_bom`: a CycloneDX 1.6 ML-BOM of the models and datasets the runs used;
* :func:`otlp_traces`: OpenTelemetry spans as OTLP/JSON (an ``ExportTraceServiceRequest``)
  with the GenAI semantic-convention attributes.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

from .. import canonical
from ..errors import E_BUNDLE_DIGEST, E_INPUT, InputError
from ._format import VerifiedRun, fail, instant

__all__ = [
    "EXPORT_FILES",
    "FORMATS",
    "check_exports",
    "cyclonedx_bom",
    "export_bytes",
    "intoto_jsonl",
    "otlp_traces",
    "prov_document",
]

FORMATS: Final = ("intoto", "prov", "cyclonedx", "otlp")
"""The exports of several runs (``dsse`` and ``tlog-proof`` are of one run)."""

EXPORT_FILES: Final = {
    "intoto": "exports/intoto.jsonl",
    "prov": "exports/prov.json",
    "cyclonedx": "exports/cyclonedx.json",
    "otlp": "exports/otlp.json",
}
"""Where ``runid evidence export --exports`` puts each export inside a bundle."""

_NS: Final = "https://runid.dev/ns/"
_UUID_NS: Final = uuid.UUID("5f0b8b8e-3f4c-5a8e-9b1d-7c2e4a6d8f10")


def _qname(name: str) -> dict[str, str]:
    """A PROV-JSON qualified-name value (a ``prov:type`` names a type, it is not a string)."""
    return {"$": name, "type": "prov:QUALIFIED_NAME"}


def _hex(digest: str) -> str:
    return digest.removeprefix("sha256:")


def _given(value: Any) -> bool:
    """A value that is stated (not an absence marker)."""
    return value is not None and not (isinstance(value, dict) and "absent" in value)


def _model(run: VerifiedRun) -> dict[str, Any] | None:
    model = run.disclosed.get("model")
    return model if isinstance(model, dict) and "name" in model else None


def _index(run: VerifiedRun) -> dict[str, Any] | None:
    context = run.disclosed.get("context")
    index = context.get("index") if isinstance(context, dict) else None
    return index if isinstance(index, dict) and "id" in index else None


def _tool_step(run: VerifiedRun) -> str | None:
    parent = run.record.get("parent")
    tools = run.disclosed.get("tools")
    if not (isinstance(parent, dict) and "execution_id" in parent):
        return None
    choice = tools.get("choice") if isinstance(tools, dict) else None
    name = choice.get("name") if isinstance(choice, dict) else None
    return name if isinstance(name, str) else "tool"


# --- in-toto ---------------------------------------------------------------------------------


def intoto_jsonl(envelopes: Sequence[bytes]) -> bytes:
    """An in-toto attestation bundle: one DSSE envelope (its canonical JSON) per line."""
    return b"".join(envelope + b"\n" for envelope in envelopes)


# --- PROV ------------------------------------------------------------------------------------


def prov_document(runs: Sequence[VerifiedRun], origin: str) -> dict[str, Any]:
    """A W3C PROV-JSON document of the runs."""
    doc: dict[str, dict[str, Any]] = {
        "prefix": {"runid": _NS},
        "entity": {},
        "activity": {},
        "agent": {},
        "used": {},
        "wasGeneratedBy": {},
        "wasAssociatedWith": {},
        "wasInformedBy": {},
    }
    counter = [0]

    def relation(kind: str, body: dict[str, Any]) -> None:
        counter[0] += 1
        doc[kind][f"_:{kind}{counter[0]}"] = body

    for run in runs:
        record = run.record
        act = f"runid:execution-{_hex(record['execution_id'])}"
        doc["activity"][act] = {
            "prov:startTime": record["started_at"],
            "prov:endTime": record["ended_at"],
            "prov:type": _qname("runid:Execution"),
            "runid:log_index": run.index,
            "runid:status": record["outcome"]["status"],
        }
        issuer = f"runid:issuer-{_hex(record['issuer']['key_id'])}"
        doc["agent"][issuer] = {
            "prov:type": _qname("prov:SoftwareAgent"),
            "prov:label": record["issuer"]["name"],
            "runid:log_origin": origin,
        }
        relation("wasAssociatedWith", {"prov:activity": act, "prov:agent": issuer})
        decl = f"runid:declaration-{_hex(record['declaration_id'])}"
        doc["entity"][decl] = {"prov:type": _qname("runid:Declaration")}
        relation("used", {"prov:activity": act, "prov:entity": decl})
        model = _model(run)
        if model is not None:
            ref = f"runid:model-{_hex(run.components['model'])}" if run.components else None
            if ref is not None:
                label = f"{model['provider']}/{model['name']}"
                if _given(model.get("version")):
                    label += f"@{model['version']}"
                doc["entity"][ref] = {"prov:type": _qname("runid:Model"), "prov:label": label}
                relation("used", {"prov:activity": act, "prov:entity": ref})
        index = _index(run)
        if index is not None and isinstance(index.get("snapshot"), str):
            ref = f"runid:index-{_hex(index['snapshot'])}"
            doc["entity"][ref] = {
                "prov:type": _qname("runid:IndexSnapshot"),
                "prov:label": str(index["id"]),
            }
            relation("used", {"prov:activity": act, "prov:entity": ref})
        for output in record["outcome"]["outputs"]:
            ref = f"runid:content-{_hex(output['digest'])}"
            doc["entity"][ref] = {
                "prov:type": _qname("runid:Output"),
                "runid:size": output["size"],
                "runid:media_type": output["media_type"],
            }
            relation(
                "wasGeneratedBy",
                {"prov:entity": ref, "prov:activity": act, "prov:time": record["ended_at"]},
            )
        parent = record.get("parent")
        if isinstance(parent, dict) and "execution_id" in parent:
            relation(
                "wasInformedBy",
                {
                    "prov:informed": act,
                    "prov:informant": f"runid:execution-{_hex(parent['execution_id'])}",
                },
            )
    return {kind: value for kind, value in doc.items() if value}


# --- CycloneDX -------------------------------------------------------------------------------


def _properties(values: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"name": f"runid:{k}", "value": str(v)} for k, v in values.items() if v is not None]


def _hashes(artifacts: Any) -> list[dict[str, str]]:
    if not isinstance(artifacts, list):
        return []
    return [
        {"alg": "SHA-256", "content": _hex(a["digest"])}
        for a in artifacts
        if isinstance(a, dict) and isinstance(a.get("digest"), str)
    ]


def cyclonedx_bom(
    runs: Sequence[VerifiedRun], origin: str, *, created_at: str, tool_version: str
) -> dict[str, Any]:
    """A CycloneDX 1.6 ML-BOM: a ``machine-learning-model`` component per model and
    embedding model the runs used, a ``data`` component per index snapshot, each with how many
    runs used it and when first and last."""
    found: dict[str, dict[str, Any]] = {}
    usage: dict[str, list[str]] = {}

    def use(ref: str, component: dict[str, Any], started: str) -> None:
        found.setdefault(ref, component)
        usage.setdefault(ref, []).append(started)

    for run in runs:
        started = run.record["started_at"]
        model = _model(run)
        if model is not None and run.components is not None:
            component: dict[str, Any] = {
                "type": "machine-learning-model",
                "bom-ref": f"model-{_hex(run.components['model'])[:16]}",
                "name": model["name"],
                "group": model["provider"],
            }
            if _given(model.get("version")):
                component["version"] = model["version"]
            hashes = _hashes(model.get("weights"))
            if hashes:
                component["hashes"] = hashes
            use(component["bom-ref"], component, started)
        context = run.disclosed.get("context")
        if isinstance(context, dict):
            embedding = context.get("embedding_model")
            if isinstance(embedding, dict) and "name" in embedding:
                key = hashlib.sha256(canonical.canonicalize(embedding)).hexdigest()[:16]
                component = {
                    "type": "machine-learning-model",
                    "bom-ref": f"embedding-{key}",
                    "name": embedding["name"],
                }
                if _given(embedding.get("version")):
                    component["version"] = embedding["version"]
                if isinstance(embedding.get("digest"), str):
                    component["hashes"] = [{"alg": "SHA-256", "content": _hex(embedding["digest"])}]
                use(component["bom-ref"], component, started)
        index = _index(run)
        if index is not None and isinstance(index.get("snapshot"), str):
            component = {
                "type": "data",
                "bom-ref": f"index-{_hex(index['snapshot'])[:16]}",
                "name": str(index["id"]),
                "version": index["snapshot"],
                "data": [{"type": "dataset", "name": str(index["id"])}],
            }
            use(component["bom-ref"], component, started)
    components = []
    for ref, component in found.items():
        times = sorted(usage[ref], key=instant)
        component["properties"] = _properties(
            {"runs": len(times), "first_used": times[0], "last_used": times[-1]}
        )
        components.append(component)
    digest = hashlib.sha256("".join(r.record["execution_id"] for r in runs).encode()).hexdigest()
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": f"urn:uuid:{uuid.uuid5(_UUID_NS, digest)}",
        "version": 1,
        "metadata": {
            "timestamp": created_at,
            "tools": {
                "components": [{"type": "application", "name": "runid", "version": tool_version}]
            },
            "properties": _properties({"log.origin": origin, "runs": len(runs)}),
        },
        "components": components,
    }


# --- OpenTelemetry ---------------------------------------------------------------------------


def _nanos(timestamp: str) -> str:
    head, _, fraction = timestamp.rstrip("Z").partition(".")
    seconds = calendar.timegm(instant(head + "Z").timetuple())
    return str(seconds * 1_000_000_000 + int((fraction + "000000000")[:9]))


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    return {"stringValue": str(value)}


def _attributes(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _value(v)} for k, v in values.items() if _given(v)]


def _span_attributes(run: VerifiedRun, tool: str | None) -> dict[str, Any]:
    record = run.record
    observed = record.get("observed", {})
    values: dict[str, Any] = {
        "gen_ai.operation.name": "execute_tool" if tool else "chat",
        "gen_ai.tool.name": tool,
    }
    model = _model(run)
    if model is not None:
        values["gen_ai.provider.name"] = model["provider"]
        values["gen_ai.request.model"] = model["name"]
    parameters = run.disclosed.get("parameters")
    if isinstance(parameters, dict):
        for name in ("temperature", "top_p", "max_tokens", "seed"):
            parameter = parameters.get(name)
            if isinstance(parameter, dict) and "value" in parameter:
                values[f"gen_ai.request.{name}"] = parameter["value"]
    values["gen_ai.response.model"] = observed.get("served_model")
    values["gen_ai.response.id"] = observed.get("response_id")
    finish = observed.get("finish_reason")
    values["gen_ai.response.finish_reasons"] = [finish] if isinstance(finish, str) else None
    usage = observed.get("usage")
    if isinstance(usage, dict):
        values["gen_ai.usage.input_tokens"] = usage.get("input_tokens")
        values["gen_ai.usage.output_tokens"] = usage.get("output_tokens")
    values["runid.execution_id"] = record["execution_id"]
    values["runid.declaration_id"] = record["declaration_id"]
    values["runid.log.index"] = run.index
    return values


def otlp_traces(runs: Sequence[VerifiedRun], origin: str, *, tool_version: str) -> dict[str, Any]:
    """OTLP/JSON spans, one per run: span id and trace id from the execution ids (a tool
    step's trace and parent are its model call's), GenAI attributes from what is disclosed."""
    parents = {
        r.record["execution_id"]: r.record["parent"]["execution_id"]
        for r in runs
        if isinstance(r.record.get("parent"), dict) and "execution_id" in r.record["parent"]
    }

    def root(execution_id: str) -> str:
        seen = {execution_id}
        while execution_id in parents and parents[execution_id] not in seen:
            execution_id = parents[execution_id]
            seen.add(execution_id)
        return execution_id

    spans = []
    for run in runs:
        record = run.record
        execution_id = record["execution_id"]
        tool = _tool_step(run)
        model = _model(run)
        name = f"execute_tool {tool}" if tool else f"chat {model['name']}" if model else "run"
        span: dict[str, Any] = {
            "traceId": _hex(root(execution_id))[:32],
            "spanId": _hex(execution_id)[:16],
            "name": name,
            "kind": 1 if tool else 3,  # SPAN_KIND_INTERNAL, SPAN_KIND_CLIENT
            "startTimeUnixNano": _nanos(record["started_at"]),
            "endTimeUnixNano": _nanos(record["ended_at"]),
            "attributes": _attributes(_span_attributes(run, tool)),
        }
        if execution_id in parents:
            span["parentSpanId"] = _hex(parents[execution_id])[:16]
        outcome = record["outcome"]
        span["status"] = (
            {"code": 1}
            if outcome["status"] == "ok"
            else {"code": 2, "message": outcome["error"]["type"]}
        )
        spans.append(span)
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": _attributes({"service.name": "runid", "runid.log.origin": origin})
                },
                "scopeSpans": [
                    {"scope": {"name": "runid.evidence", "version": tool_version}, "spans": spans}
                ],
            }
        ]
    }


# --- exports as bytes, and inside a bundle --------------------------------------------------


def export_bytes(
    fmt: str,
    runs: Sequence[VerifiedRun],
    envelopes: Sequence[bytes],
    origin: str,
    *,
    created_at: str,
    tool_version: str,
) -> bytes:
    """The bytes of export ``fmt`` (one of :data:`FORMATS`) of ``runs`` as disclosed
    (``envelopes``: their log leaves, in the same order), as ``runid evidence export`` writes
    them, standalone or inside a bundle.

    >>> lines = export_bytes("intoto", [], [b'{"a":1}'], "log", created_at="", tool_version="0")
    >>> lines.splitlines()
    [b'{"a":1}']
    """
    if fmt == "intoto":
        return intoto_jsonl(envelopes)
    if fmt == "prov":
        document = prov_document(runs, origin)
    elif fmt == "cyclonedx":
        document = cyclonedx_bom(runs, origin, created_at=created_at, tool_version=tool_version)
    elif fmt == "otlp":
        document = otlp_traces(runs, origin, tool_version=tool_version)
    else:
        raise InputError(
            f"not an export format: {fmt!r}", code=E_INPUT, hint=f"use one of {', '.join(FORMATS)}"
        )
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _tool_version(fmt: str, data: bytes) -> str | None:
    """The runid version an export names (None when it names none or is not JSON): a
    verifier of another version regenerates the export with the version that made it."""
    if fmt not in ("cyclonedx", "otlp"):
        return ""  # names no version
    try:
        document = json.loads(data)
        if fmt == "cyclonedx":
            version = document["metadata"]["tools"]["components"][0]["version"]
        elif fmt == "otlp":
            version = document["resourceSpans"][0]["scopeSpans"][0]["scope"]["version"]
    except (ValueError, LookupError, TypeError):
        return None
    return version if isinstance(version, str) else None


def check_exports(
    files: Mapping[str, bytes],
    runs: Sequence[VerifiedRun],
    envelopes: Sequence[bytes],
    origin: str,
    *,
    created_at: str,
) -> list[str]:
    """Check the exports a bundle holds against its verified runs: each is regenerated from
    the runs as the bundle discloses them (the manifest's time, the runid version the export
    names) and must be byte for byte what the bundle holds, so an export never says more or
    other than the signed runs. Returns the formats checked; raises :class:`EvidenceError`
    naming the file that differs."""
    checked = []
    for fmt, name in EXPORT_FILES.items():
        data = files.get(name)
        if data is None:
            continue
        version = _tool_version(fmt, data)
        expected = (
            None
            if version is None
            else export_bytes(
                fmt, runs, envelopes, origin, created_at=created_at, tool_version=version
            )
        )
        if data != expected:
            raise fail(
                name,
                "exports",
                f"not the {fmt} export of the bundle's runs as disclosed (regenerated from the "
                "verified runs, it differs)",
                code=E_BUNDLE_DIGEST,
            )
        checked.append(fmt)
    return checked
