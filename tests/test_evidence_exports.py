"""Evidence exports (issue 16, item 5), each checked by its ecosystem's own library, not by
runid: in-toto (``securesystemslib`` verifies the DSSE signatures, ``in-toto-attestation``
validates the Statements), W3C PROV-JSON (``prov``), CycloneDX 1.6 (``cyclonedx-python-lib``
and its JSON schema validator), OTLP/JSON (``opentelemetry-proto-json``), and the bare
tlog-proof and the bundle's manifest signature (Go's ``golang.org/x/mod/sumdb``). Each
library's test skips, naming what to install, when it is missing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from evidence_home import make_home
from runid._cli import main
from runid.evidence.archive import read_zip
from runid.home import Home

RUNS = 9
GOPATH = Path("/usr/share/gocode")
SOURCE = Path(__file__).resolve().parent / "interop" / "tlogproof" / "main.go"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    yield make_home(tmp_path_factory.mktemp("exports") / "home", RUNS)[0]


def _export(home: Home, out: Path, fmt: str, *args: str) -> bytes:
    result = CliRunner().invoke(
        main,
        ["--home", str(home.path), "evidence", "export", "--format", fmt, "-o", str(out), *args],
    )
    assert result.exit_code == 0, result.output
    return out.read_bytes()


def test_intoto_envelopes_verify_with_securesystemslib_and_in_toto(
    home: Home, tmp_path: Path
) -> None:
    dsse = pytest.importorskip("securesystemslib.dsse", reason="pip install securesystemslib")
    signer = pytest.importorskip("securesystemslib.signer")
    pytest.importorskip("cryptography", reason="pip install 'securesystemslib[crypto]'")
    statement = pytest.importorskip(
        "in_toto_attestation.v1.statement", reason="pip install in-toto-attestation"
    )
    from google.protobuf import json_format
    from in_toto_attestation.v1 import statement_pb2

    public = home.public_key()
    key = signer.SSlibKey(public.key_id, "ed25519", "ed25519", {"public": public.raw.hex()})
    lines = _export(home, tmp_path / "runs.intoto.jsonl", "intoto").splitlines()
    assert len(lines) == RUNS
    for line in lines:
        envelope = dsse.Envelope.from_dict(json.loads(line))
        assert list(envelope.verify([key], 1)) == [public.key_id]
        parsed = json_format.Parse(envelope.payload, statement_pb2.Statement())
        statement.Statement.copy_from_pb(parsed).validate()
        assert parsed.predicate_type == "https://runid.dev/ExecutionRecord/v1"
    # A changed payload no longer verifies with the library either.
    tampered = json.loads(lines[0])
    tampered["payload"] = tampered["payload"][:-8] + "AAAAAAA="
    from securesystemslib.exceptions import VerificationError as SslibVerificationError

    with pytest.raises(SslibVerificationError):
        dsse.Envelope.from_dict(tampered).verify([key], 1)


def test_prov_json_reads_with_the_prov_library(home: Home, tmp_path: Path) -> None:
    model = pytest.importorskip("prov.model", reason="pip install prov")
    text = _export(home, tmp_path / "runs.prov.json", "prov").decode()
    document = model.ProvDocument.deserialize(content=text, format="json")
    activities = list(document.get_records(model.ProvActivity))
    assert len(activities) == RUNS
    for activity in activities:
        assert activity.get_startTime() is not None and activity.get_endTime() is not None
    kinds = {type(record).__name__ for record in document.get_records()}
    assert {"ProvEntity", "ProvAgent", "ProvUsage", "ProvGeneration", "ProvAssociation"} <= kinds
    again = model.ProvDocument.deserialize(content=document.serialize(format="json"), format="json")
    assert again == document
    assert "runid:Model" in document.serialize(format="provn")  # types are qualified names


def test_cyclonedx_ml_bom_passes_the_schema_and_parses(home: Home, tmp_path: Path) -> None:
    validation = pytest.importorskip(
        "cyclonedx.validation.json", reason="pip install cyclonedx-python-lib"
    )
    from cyclonedx.model.bom import Bom
    from cyclonedx.schema import SchemaVersion

    text = _export(home, tmp_path / "bom.json", "cyclonedx").decode()
    assert validation.JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = Bom.from_json(json.loads(text))
    found = {(c.type.value, c.name, c.version) for c in bom.components}
    assert ("machine-learning-model", "gpt-4o-mini", "gpt-4o-mini-2024-07-18") in found
    assert ("machine-learning-model", "gpt-4o-mini", "gpt-4o-mini-2025-01-31") in found
    assert sum(kind == "data" for kind, _n, _v in found) == 2  # two index snapshots
    runs = {
        c.name + (c.version or ""): int(
            next(p.value for p in c.properties if p.name == "runid:runs")
        )
        for c in bom.components
        if c.type.value == "machine-learning-model" and c.name == "gpt-4o-mini"
    }
    assert sum(runs.values()) == RUNS
    # A schema error is found (the validator is not a no-op).
    broken = json.loads(text)
    broken["components"][0]["type"] = "model"
    assert (
        validation.JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(broken))
        is not None
    )


def test_undisclosed_components_stay_out_of_the_exports(home: Home, tmp_path: Path) -> None:
    text = _export(home, tmp_path / "bom.json", "cyclonedx", "--disclose", "context").decode()
    assert "gpt-4o-mini" not in text and "acme-kb" in text
    spans = _export(home, tmp_path / "spans.json", "otlp", "--disclose", "none").decode()
    # The record's observed facts (the served model) are signed and always shown; the
    # declared model is not, when its component is not disclosed.
    assert '"gen_ai.request.model"' not in spans and '"gen_ai.response.model"' in spans


def test_otlp_json_round_trips_through_the_opentelemetry_codec(home: Home, tmp_path: Path) -> None:
    service = pytest.importorskip(
        "opentelemetry.proto_json.collector.trace.v1.trace_service",
        reason="pip install opentelemetry-proto-json",
    )
    text = _export(home, tmp_path / "spans.json", "otlp").decode()
    request = service.ExportTraceServiceRequest.from_json(text)
    assert request.to_dict() == json.loads(text)  # nothing the codec does not know
    spans = request.resource_spans[0].scope_spans[0].spans
    assert len(spans) == RUNS
    for span in spans:
        assert len(span.trace_id) == 16 and len(span.span_id) == 8
        assert span.end_time_unix_nano >= span.start_time_unix_nano > 1_700_000_000 * 10**9
        attributes: dict[str, Any] = {a.key: a.value for a in span.attributes}
        assert attributes["gen_ai.request.model"].string_value == "gpt-4o-mini"
        assert attributes["gen_ai.usage.output_tokens"].int_value == 20
        assert attributes["runid.execution_id"].string_value.startswith("sha256:")


@pytest.fixture(scope="module")
def tlogproof(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    apt = "apt-get install -y golang-go golang-golang-x-mod-dev"
    if go is None:
        pytest.skip(f"go is not on PATH ({apt})")
    if not (GOPATH / "src" / "golang.org" / "x" / "mod" / "sumdb" / "tlog").is_dir():
        pytest.skip(f"golang.org/x/mod/sumdb/tlog is not in {GOPATH} ({apt})")
    folder = tmp_path_factory.mktemp("go")
    binary = folder / "tlogproof"
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GOPATH),
        "GOCACHE": str(folder / "cache"),
        "GOFLAGS": "",
    }
    built = subprocess.run(
        [go, "build", "-o", str(binary), str(SOURCE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return binary


@pytest.mark.slow
def test_the_bare_tlog_proof_and_the_manifest_verify_with_go_sumdb(
    home: Home, tmp_path: Path, tlogproof: Path
) -> None:
    vkey = tmp_path / "log.vkey"
    vkey.write_text(home.public_key().vkey + "\n")
    proof = tmp_path / "run.tlog-proof"
    envelope = tmp_path / "run.dsse.json"
    _export(home, proof, "tlog-proof", "--run", "3")
    _export(home, envelope, "dsse", "--run", "3")

    def go(*args: Path | str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(tlogproof), *map(str, args)], capture_output=True, text=True, check=False
        )

    result = go("proof", proof, envelope, vkey)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: entry 3 of runid.example/log")
    envelope.write_bytes(envelope.read_bytes().replace(b'"payload":"', b'"payload":"A', 1))
    assert go("proof", proof, envelope, vkey).returncode == 1
    _export(home, tmp_path / "b.zip", "bundle")
    files = read_zip((tmp_path / "b.zip").read_bytes())
    (tmp_path / "manifest.sig").write_bytes(files["manifest.sig"])
    (tmp_path / "manifest.json").write_bytes(files["manifest.json"])
    result = go("manifest", tmp_path / "manifest.sig", tmp_path / "manifest.json", vkey)
    assert result.returncode == 0, result.stderr
    (tmp_path / "manifest.json").write_bytes(files["manifest.json"] + b" ")
    assert (
        go("manifest", tmp_path / "manifest.sig", tmp_path / "manifest.json", vkey).returncode == 1
    )


def test_one_run_formats_need_one_run(home: Home, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "--home",
            str(home.path),
            "evidence",
            "export",
            "--format",
            "dsse",
            "-o",
            str(tmp_path / "x"),
        ],
    )
    assert result.exit_code == 2
    assert "writes one run" in result.output


def test_exports_need_no_private_key_and_write_nothing(home: Home, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(home.path, copy)
    (copy / "keys" / "signing.key").unlink()

    def state() -> dict[Path, bytes]:
        # SQLite's own -wal/-shm files may appear for a read-only reader of a WAL database.
        return {
            p: p.read_bytes()
            for p in copy.rglob("*")
            if p.is_file() and not p.name.endswith(("-wal", "-shm"))
        }

    before = state()
    out = tmp_path / "bom.json"
    result = CliRunner().invoke(
        main, ["--home", str(copy), "evidence", "export", "--format", "cyclonedx", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(
        main,
        ["--home", str(copy), "evidence", "report", "--no-pdf", "-o", str(tmp_path / "report")],
    )
    assert result.exit_code == 0, result.output
    assert state() == before
    result = CliRunner().invoke(
        main, ["--home", str(copy), "evidence", "export", "-o", str(tmp_path / "b.zip")]
    )
    assert result.exit_code == 2  # a bundle is signed: it needs the private key


def test_exports_inside_a_bundle_are_sealed_and_regenerated_by_verify(
    home: Home, tmp_path: Path
) -> None:
    """``--exports`` puts the four exports in the bundle, listed in the signed manifest; verify
    regenerates each from the verified runs, so an issuer cannot sign an export that says
    other than its runs."""
    validation = pytest.importorskip(
        "cyclonedx.validation.json", reason="pip install cyclonedx-python-lib"
    )
    from cyclonedx.schema import SchemaVersion

    from runid.evidence import EXPORT_FILES, MANIFEST, seal

    bundle = tmp_path / "bundle.zip"
    _export(home, bundle, "bundle", "--exports", "--disclose", "context")
    files = read_zip(bundle.read_bytes())
    listed = {f["path"] for f in json.loads(files[MANIFEST])["files"]}
    assert set(EXPORT_FILES.values()) <= listed
    # The same bytes as the standalone exports with the same disclosure (but the BOM's time).
    for fmt in ("intoto", "prov", "otlp"):
        alone = _export(home, tmp_path / f"alone.{fmt}", fmt, "--disclose", "context")
        assert files[EXPORT_FILES[fmt]] == alone, fmt
    bom = files[EXPORT_FILES["cyclonedx"]].decode()
    assert validation.JsonStrictValidator(SchemaVersion.V1_6).validate_str(bom) is None
    assert "gpt-4o-mini" not in bom  # the model component is not disclosed

    runner = CliRunner()
    result = runner.invoke(main, ["evidence", "verify", str(bundle)])
    assert result.exit_code == 0, result.output
    assert "exports: intoto, prov, cyclonedx, otlp regenerated" in result.output

    # The issuer re-signs the bundle with a PROV document that names a model no run used.
    prov = json.loads(files[EXPORT_FILES["prov"]])
    prov.setdefault("entity", {})["runid:forged"] = {"prov:label": "gpt-5"}
    forged = dict(files)
    forged[EXPORT_FILES["prov"]] = (json.dumps(prov, indent=2) + "\n").encode()
    manifest = json.loads(files[MANIFEST])
    resealed = seal(
        forged,
        home.signing_key(),
        size=manifest["log"]["size"],
        created_at=manifest["created_at"],
        selection=manifest["selection"],
        counts=manifest["counts"],
    )
    from runid.evidence.archive import write_zip

    bad = tmp_path / "forged.zip"
    bad.write_bytes(write_zip(resealed))
    result = runner.invoke(main, ["evidence", "verify", str(bad), "--json"])
    assert result.exit_code == 7, result.output
    report = json.loads(result.output)
    assert report["verified"] is False
    failure = report["failure"]
    assert (failure["file"], failure["check"], failure["code"]) == (
        EXPORT_FILES["prov"],
        "exports",
        "E_BUNDLE_DIGEST",
    )


def test_exports_in_a_bundle_need_the_bundle_format(home: Home, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "--home",
            str(home.path),
            "evidence",
            "export",
            "--format",
            "prov",
            "--exports",
            "-o",
            str(tmp_path / "x.json"),
        ],
    )
    assert result.exit_code == 2 and "--exports" in result.output
    assert not (tmp_path / "x.json").exists()
