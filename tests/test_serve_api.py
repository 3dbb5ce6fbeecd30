"""The log service's HTTP API (``runid serve``): ingest, reads, search, diff, check, proofs,
receipts, access control and per-project isolation, errors and limits (docs/spec.md §20)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip(
    "starlette", reason="the service needs the server extra: pip install '.[server]'"
)
pytest.importorskip("uvicorn", reason="the service needs the server extra: pip install '.[server]'")

from runid import errors
from runid.checkpoint import verify_checkpoint
from runid.examples import example
from runid.keys import Keyring, SigningKey
from runid.log import Log
from runid.merkle import verify_inclusion
from runid.receipt import verify_receipt
from serve_helpers import Project, Served, call, call_json, make_envelope, served


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Served]:
    with served(tmp_path, max_body=256 * 1024) as service:
        yield service


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _ingest(svc: Served, project: Project, output: bytes = b"answer", declaration=None) -> dict:
    envelope, record, blobs = make_envelope(project.key, output, declaration)
    body = {"records": [envelope], "blobs": [_b64(b) for b in blobs]}
    result = call_json(svc.base, "POST", "/v1/records/batch", project.ingest, body=body)
    return {"record": record, "envelope": envelope, **result["records"][0]}


def _error(status_and_body: tuple[int, bytes]) -> tuple[int, str]:
    status, body = status_and_body
    return status, json.loads(body)["error"]["code"]


def test_ingest_then_read_by_execution_id_index_and_declaration(svc: Served) -> None:
    a = svc.project("team-a")
    run = _ingest(svc, a)
    got = call_json(svc.base, "GET", f"/v1/runs/{run['execution_id']}", a.read)
    assert got["record"] == run["record"] and got["index"] == run["index"]
    assert call_json(svc.base, "GET", f"/v1/entries/{run['index']}", a.read) == got
    declaration_id = run["record"]["declaration_id"]
    decl = call_json(svc.base, "GET", f"/v1/declarations/{declaration_id}", a.read)
    assert decl["declaration"] == example("chat-hosted-model") and decl["runs"] == 1
    output = run["record"]["outcome"]["outputs"][0]["digest"]
    assert call(svc.base, "GET", f"/v1/blobs/{output}", a.read) == (200, b"answer")


def test_a_single_record_is_acknowledged_once_and_a_retry_keeps_one_copy(svc: Served) -> None:
    a = svc.project("team-a")
    envelope, record, _blobs = make_envelope(a.key)
    first = call_json(svc.base, "POST", "/v1/records", a.ingest, body=envelope)
    again = call_json(svc.base, "POST", "/v1/records", a.ingest, body=envelope)
    assert first == again == {"index": first["index"], "execution_id": record["execution_id"]}
    assert call_json(svc.base, "GET", "/v1/stats", a.read)["runs"] == 1


def test_a_project_sees_nothing_of_another(svc: Served) -> None:
    a, b = svc.project("team-a"), svc.project("team-b")
    run_a = _ingest(svc, a, b"secret of a")
    run_b = _ingest(svc, b, b"of b")
    output_a = run_a["record"]["outcome"]["outputs"][0]["digest"]
    declaration_id = run_a["record"]["declaration_id"]  # the same declaration in both projects
    for path in (
        f"/v1/runs/{run_a['execution_id']}",
        f"/v1/runs/{run_a['execution_id']}/receipt",
        f"/v1/entries/{run_a['index']}",
        f"/v1/blobs/{output_a}",
    ):
        assert _error(call(svc.base, "GET", path, b.read)) == (404, errors.E_NOT_FOUND), path
    decl = call_json(svc.base, "GET", f"/v1/declarations/{declaration_id}", b.read)
    assert decl["runs"] == 1 and decl["first"] == run_b["execution_id"]
    page = call_json(svc.base, "GET", "/v1/runs", b.read)
    assert [item["execution_id"] for item in page["items"]] == [run_b["execution_id"]]
    assert call_json(svc.base, "GET", "/v1/stats", b.read)["runs"] == 1
    body = {"a": run_a["execution_id"], "b": run_b["execution_id"]}
    assert _error(call(svc.base, "POST", "/v1/diff", b.read, body=body)) == (
        404,
        errors.E_NOT_FOUND,
    )
    check = {"policy": {"policy": "runid/policy/v1", "name": "p"}, "runs": [run_a["execution_id"]]}
    assert _error(call(svc.base, "POST", "/v1/check", b.read, body=check))[0] == 404
    # ... and B's ingest token cannot append records signed by A's key
    envelope, _record, _ = make_envelope(a.key, b"forged into b")
    assert _error(call(svc.base, "POST", "/v1/records", b.ingest, body=envelope)) == (
        403,
        errors.E_UNKNOWN_KEY,
    )


def test_tokens_scopes_and_revocation(svc: Served) -> None:
    a = svc.project("team-a")
    envelope, _record, _ = make_envelope(a.key)
    assert _error(call(svc.base, "GET", "/v1/stats")) == (401, errors.E_AUTH)
    assert _error(call(svc.base, "GET", "/v1/stats", "not-a-token")) == (401, errors.E_AUTH)
    forged = a.read[:-4] + ("AAAA" if not a.read.endswith("AAAA") else "BBBB")
    assert _error(call(svc.base, "GET", "/v1/stats", forged)) == (401, errors.E_AUTH)
    assert _error(call(svc.base, "POST", "/v1/records", a.read, body=envelope)) == (
        403,
        errors.E_SCOPE,
    )
    assert _error(call(svc.base, "GET", "/v1/stats", a.ingest)) == (403, errors.E_SCOPE)
    assert call(svc.base, "GET", "/v1/stats", a.admin)[0] == 200  # admin may read
    created = call_json(svc.base, "POST", "/v1/admin/tokens", a.admin, body={"scope": "read"})
    assert call(svc.base, "GET", "/v1/stats", created["token"])[0] == 200
    token_id = created["token_id"]
    assert call(svc.base, "DELETE", f"/v1/admin/tokens/{token_id}", a.admin)[0] == 200
    assert _error(call(svc.base, "GET", "/v1/stats", created["token"])) == (401, errors.E_AUTH)
    listed = call_json(svc.base, "GET", "/v1/admin/tokens", a.admin)["tokens"]
    assert {t["token_id"]: t["revoked"] for t in listed}[token_id] is True
    assert "token" not in json.dumps(listed).replace('"token_id"', "")  # never the token itself
    # another project's admin cannot revoke A's tokens
    b = svc.project("team-b")
    assert (
        _error(call(svc.base, "DELETE", f"/v1/admin/tokens/{a.read.split('_')[1]}", b.admin))[0]
        == 404
    )


def test_admin_actions_are_records_in_the_log_and_the_token_is_only_hashed(svc: Served) -> None:
    a = svc.project("team-a")
    with Log.open(svc.home, need_key=False) as log:
        assert log.audit() == []
        blobs = [log.store.get_blob(d) for d in _all_output_digests(log)]
    texts = b"\n".join(b for b in blobs if b)
    for token in (a.admin, a.ingest, a.read):
        assert token.encode() not in texts
        assert token.split("_")[1].encode() in texts  # the token id and its hash are
    assert b'"action":"key.add"' in texts and b'"action":"token.create"' in texts


def _all_output_digests(log: Log) -> list[str]:
    return [
        ref["digest"]
        for index in range(log.size())
        for ref in log.entry(index).record["outcome"]["outputs"]
    ]


def test_key_rotation_old_records_stay_readable_new_ones_are_refused(svc: Served) -> None:
    a = svc.project("team-a")
    old = _ingest(svc, a, b"before rotation")
    new_key = SigningKey.generate("team-a.example/app2")
    body = {"key": new_key.public_key.vkey}
    assert call(svc.base, "POST", "/v1/admin/keys", a.admin, body=body)[0] == 201
    key_id = a.key.public_key.key_id
    assert call(svc.base, "DELETE", f"/v1/admin/keys/{key_id}", a.admin)[0] == 200
    envelope, _record, _ = make_envelope(a.key, b"after rotation")
    assert _error(call(svc.base, "POST", "/v1/records", a.ingest, body=envelope)) == (
        403,
        errors.E_UNKNOWN_KEY,
    )
    envelope, _record, _ = make_envelope(new_key, b"with the new key")
    assert call(svc.base, "POST", "/v1/records", a.ingest, body=envelope)[0] == 201
    assert call(svc.base, "GET", f"/v1/runs/{old['execution_id']}", a.read)[0] == 200
    keys = call_json(svc.base, "GET", "/v1/keys", a.read)["keys"]
    assert {k["key_id"]: k["revoked"] for k in keys} == {
        key_id: True,
        new_key.public_key.key_id: False,
    }
    # a key id belongs to one project, for ever
    b = svc.project("team-b")
    again = call(svc.base, "POST", "/v1/admin/keys", b.admin, body={"key": a.key.public_key.vkey})
    assert _error(again) == (409, errors.E_KEY_REGISTERED)


def test_search_filters_and_pagination(svc: Served) -> None:
    a = svc.project("team-a")
    other = example("rag-retrieved-chunks")
    runs = [_ingest(svc, a, f"answer {i}".encode(), other if i % 2 else None) for i in range(7)]
    pages, cursor = [], None
    while True:
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = call_json(svc.base, "GET", "/v1/runs" + query, a.read)
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages][:2] == [3, 3]
    seen = [item["execution_id"] for p in pages for item in p]
    assert seen == [r["execution_id"] for r in runs]
    rag_id = runs[1]["record"]["declaration_id"]
    page = call_json(svc.base, "GET", f"/v1/runs?declaration_id={rag_id}", a.read)
    assert len(page["items"]) == 3
    components = call_json(svc.base, "GET", f"/v1/declarations/{rag_id}", a.read)["components"]
    page = call_json(svc.base, "GET", f"/v1/runs?component={components['context']}", a.read)
    assert len(page["items"]) == 3
    page = call_json(svc.base, "GET", "/v1/runs?model=gpt-4o-mini-2024-07-18", a.read)
    assert len(page["items"]) == 7
    assert call_json(svc.base, "GET", "/v1/runs?model=other", a.read)["items"] == []
    page = call_json(svc.base, "GET", "/v1/runs?since=2000-01-01T00:00:00Z", a.read)
    assert len(page["items"]) == 7
    assert call_json(svc.base, "GET", "/v1/runs?until=2000-01-01T00:00:00Z", a.read)["items"] == []
    policy = "policy: runid/policy/v1\nname: cool\nparameters:\n  temperature: {max: 0.3}\n"
    passing = call_json(
        svc.base, "POST", "/v1/search", a.read, body={"policy": policy, "policy_result": "pass"}
    )
    failing = call_json(
        svc.base, "POST", "/v1/search", a.read, body={"policy": policy, "policy_result": "fail"}
    )
    assert len(passing["items"]) + len(failing["items"]) == 7
    both = {i["execution_id"] for i in passing["items"] + failing["items"]}
    assert both == {r["execution_id"] for r in runs} and passing["items"]
    assert _error(call(svc.base, "GET", "/v1/runs?since=yesterday", a.read)) == (
        400,
        errors.E_INPUT,
    )
    assert _error(call(svc.base, "GET", "/v1/runs?colour=red", a.read)) == (400, errors.E_INPUT)


def test_diff_and_check(svc: Served) -> None:
    a = svc.project("team-a")
    changed = example("chat-hosted-model")
    changed["parameters"]["temperature"]["value"] = 0.9
    one, two = _ingest(svc, a, b"x"), _ingest(svc, a, b"y", changed)
    report = call_json(
        svc.base,
        "POST",
        "/v1/diff",
        a.read,
        body={"a": one["execution_id"], "b": two["execution_id"]},
    )
    assert report["declaration"]["identical"] is False
    assert "parameters.temperature" in json.dumps(report)
    policy = {
        "policy": "runid/policy/v1",
        "name": "cool",
        "parameters": {"temperature": {"max": 0.3}},
    }
    result = call_json(
        svc.base,
        "POST",
        "/v1/check",
        a.read,
        body={"policy": policy, "runs": [one["execution_id"], two["execution_id"]]},
    )
    assert result["status"] == "fail"
    assert [r["status"] for r in result["runs"]] == ["pass", "fail"]


def test_receipt_checkpoint_and_proofs_verify(svc: Served) -> None:
    a = svc.project("team-a")
    runs = [_ingest(svc, a, f"r{i}".encode()) for i in range(3)]
    status, receipt = call(svc.base, "GET", f"/v1/runs/{runs[1]['execution_id']}/receipt", a.read)
    assert status == 200
    log_key = call_json(svc.base, "GET", "/v1/log/key")["key"]
    keys = Keyring.from_texts([log_key, a.key.public_key.vkey])
    verified = verify_receipt(receipt, keys, output=b"r1")
    assert verified.record["execution_id"] == runs[1]["execution_id"]
    status, note = call(svc.base, "GET", "/v1/log/checkpoint")
    checkpoint = verify_checkpoint(note, Keyring.from_texts([log_key]))
    proof = call_json(
        svc.base, "GET", f"/v1/log/proofs/inclusion?index={runs[0]['index']}&size={checkpoint.size}"
    )
    from runid.envelope import leaf_hash

    verify_inclusion(
        leaf_hash(runs[0]["envelope"]),
        runs[0]["index"],
        checkpoint.size,
        [base64.b64decode(h) for h in proof["hashes"]],
        checkpoint.root,
    )
    consistency = call_json(
        svc.base, "GET", f"/v1/log/proofs/consistency?from=1&to={checkpoint.size}"
    )
    assert consistency["checkpoint"] == note.decode()


def test_malformed_oversized_and_unsigned_bodies_are_refused_and_nothing_is_written(
    svc: Served,
) -> None:
    a = svc.project("team-a")
    with Log.open(svc.home, need_key=False) as log:
        before = log.size()
    envelope, _record, _ = make_envelope(a.key)
    tampered = dict(envelope, payload=envelope["payload"][:-8] + "AAAAAAA=")
    stranger = make_envelope(SigningKey.generate("stranger.example/x"))[0]
    cases = [
        (b'{"payload": "a", "payload": "b"}', 400, errors.E_DUPLICATE_KEY),
        (b"{not json", 400, errors.E_JSON_SYNTAX),
        (b"", 400, errors.E_INPUT),
        (json.dumps(tampered).encode(), 422, None),
        (json.dumps(stranger).encode(), 403, errors.E_UNKNOWN_KEY),
        (json.dumps({"payload": 1}).encode(), 422, errors.E_ENVELOPE),
        (b" " * (300 * 1024), 413, errors.E_TOO_LARGE),
    ]
    for raw, status, code in cases:
        got_status, got_code = _error(call(svc.base, "POST", "/v1/records", a.ingest, raw=raw))
        assert got_status == status, (raw[:40], got_status, got_code)
        if code is not None:
            assert got_code == code
    status, body = call(
        svc.base, "POST", "/v1/records/batch", a.ingest, body={"records": [envelope, tampered]}
    )
    assert status == 422 and json.loads(body)["error"]["message"].startswith("records[1]: ")
    batch = {"records": [envelope, stranger]}
    assert _error(call(svc.base, "POST", "/v1/records/batch", a.ingest, body=batch))[0] == 403
    assert (
        _error(call(svc.base, "POST", "/v1/declarations", a.ingest, body={"spec": "runid/v1"}))[0]
        == 422
    )
    with Log.open(svc.home, need_key=False) as log:
        assert log.size() == before
    assert _error(call(svc.base, "GET", "/v1/nowhere")) == (404, errors.E_NOT_FOUND)
    assert _error(call(svc.base, "PUT", "/v1/stats", a.read)) == (405, errors.E_METHOD)


def test_health_readiness_openapi_and_access_log(
    svc: Served, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from runid._server.api import create_app

    assert call_json(svc.base, "GET", "/healthz") == {"status": "ok"}
    assert call_json(svc.base, "GET", "/readyz")["status"] == "ready"
    document = call_json(svc.base, "GET", "/openapi.json")
    app = create_app(svc.service, access_log=False)
    routes = {(r.path, m) for r in app.routes for m in r.methods if m != "HEAD"}
    documented = {(p, m.upper()) for p, ops in document["paths"].items() for m in ops}
    assert routes == documented
    a = svc.project("team-a")
    with caplog.at_level(logging.INFO, logger="runid.access"):
        call(svc.base, "GET", "/v1/stats", a.read, headers={"X-Request-Id": "req-42"})
        # the line is written once the response is sent, perhaps after the client read it
        deadline = time.monotonic() + 10
        while True:
            lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "runid.access"]
            found = [x for x in lines if x["request_id"] == "req-42"]
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.01)
    line = found[0]
    assert line["status"] == 200 and line["project"] == "team-a" and line["path"] == "/v1/stats"
    assert a.read not in json.dumps(lines)
