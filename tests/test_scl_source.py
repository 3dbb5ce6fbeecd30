"""An SCL:V1 document as a declaration source (docs/adr/0013): a declaration id, and a diff that
names the block that changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runid import scl
from runid._cli import main
from runid.declaration import problems
from runid.diff import diff_declarations
from runid.digest import content_digest
from runid.errors import DeclarationError
from runid.examples import example
from runid.identity import compute_identity

DOC = (
    b'SCL:V1\n\nhandles {\n  main("intent","v1")\n  aux("x")\n}\nscl {\n  "Be brief."\n  "Cite."\n}'
)


def declared(data: bytes, **options: Any) -> dict[str, Any]:
    return scl.scl_source(data).declare(example("chat-hosted-model"), **options)


def test_the_instructions_hold_the_content_the_doc_hash_and_the_blocks() -> None:
    source = scl.scl_source(DOC)
    assert source.doc_hash == scl.doc_hash(scl.parse(DOC))
    assert source.digest == "sha256:" + source.doc_hash == content_digest(source.canonical)
    text = b"Be brief.\nCite."
    ref = {"digest": content_digest(text), "size": len(text), "media_type": scl.TEXT_MEDIA_TYPE}
    assert source.instructions() == {
        "system": [ref],
        "template": {
            "id": "scl",
            "version": {"absent": "not_recorded"},
            "digest": source.digest,
            "variables": {
                "handles": [{"id": "main", "tags": ["intent", "v1"]}, {"id": "aux", "tags": ["x"]}],
                "scl": ref,
            },
        },
        "source": {"absent": "not_recorded"},
    }
    assert source.contents() == [text, source.canonical]
    assert scl.scl_instructions(DOC) == source.instructions()
    assert scl.scl_source(scl.parse(DOC)) == source


def test_a_run_declared_in_scl_gets_a_declaration_id() -> None:
    base = example("chat-hosted-model")
    declaration = declared(DOC)
    assert problems(declaration) == []
    assert compute_identity(declaration).declaration_id != compute_identity(base).declaration_id
    assert {k: v for k, v in declaration.items() if k != "instructions"} == {
        k: v for k, v in base.items() if k != "instructions"
    }
    assert base["instructions"] != declaration["instructions"]  # the base is not modified
    assert example("chat-hosted-model") == base


def test_the_options_name_the_template_and_its_source() -> None:
    declaration = declared(DOC, template_id="support/system", template_version="7", source="git:x")
    instructions = declaration["instructions"]
    assert instructions["template"]["id"] == "support/system"
    assert instructions["template"]["version"] == "7"
    assert instructions["source"] == "git:x"
    compute_identity(declaration)
    with pytest.raises(DeclarationError):
        compute_identity(declared(DOC, template_id=""))


def test_formatting_variants_get_one_declaration_id_and_a_content_change_another() -> None:
    variant = DOC.replace(b"  ", b"")
    assert variant != DOC
    ids = {compute_identity(declared(d)).declaration_id for d in (DOC, variant)}
    assert len(ids) == 1
    changed = DOC.replace(b"Cite.", b"Cite!")
    assert compute_identity(declared(changed)).declaration_id not in ids


def _paths(a: bytes, b: bytes) -> dict[str, tuple[str, str | None]]:
    return {c.path: (c.kind, c.label) for c in diff_declarations(declared(a), declared(b))}


def test_the_diff_names_the_scl_block_when_its_content_changes() -> None:
    found = _paths(DOC, DOC.replace(b"Cite.", b"Cite sources."))
    assert found == {
        "instructions.system[0]": ("changed", None),
        "instructions.template.digest": ("changed", None),
        "instructions.template.variables.scl": ("changed", None),
    }


def test_the_diff_names_the_handle_that_changed() -> None:
    added = DOC.replace(b'  aux("x")\n', b'  aux("x")\n  extra("e")\n')
    assert _paths(DOC, added) == {
        "instructions.template.digest": ("changed", None),
        "instructions.template.variables.handles[2]": ("added", "extra"),
    }
    renamed = DOC.replace(b"aux(", b"helper(")
    assert _paths(DOC, renamed)["instructions.template.variables.handles[1].id"] == (
        "changed",
        "aux → helper",
    )
    retagged = DOC.replace(b'"v1"', b'"v2"')
    assert "instructions.template.variables.handles[0].tags[1]" in _paths(DOC, retagged)
    swapped = DOC.replace(
        b'  main("intent","v1")\n  aux("x")\n', b'  aux("x")\n  main("intent","v1")\n'
    )
    assert _paths(DOC, swapped)["instructions.template.variables.handles[1→0]"] == ("moved", "aux")


def test_runid_diff_of_two_scl_declaration_files_names_the_block(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(declared(DOC)), "utf-8")
    b.write_text(json.dumps(declared(DOC.replace(b"Cite.", b"Cite sources."))), "utf-8")
    result = CliRunner().invoke(main, ["diff", str(a), str(b)])
    assert result.exit_code == 1, result.output
    assert "instructions.template.variables.scl:" in result.stdout
    assert "1 of 8 component differs (instructions)" in result.stdout
    report = json.loads(CliRunner().invoke(main, ["diff", "--json", str(a), str(b)]).stdout)
    paths = [c["path"] for c in report["declaration"]["changes"]]
    assert "instructions.template.variables.scl" in paths


def test_an_invalid_document_is_not_a_source() -> None:
    with pytest.raises(scl.SclError) as info:
        scl.scl_source(DOC + b"\n")
    assert info.value.code == "E104"


def test_a_run_declared_in_scl_is_recorded_with_its_document(tmp_path: Path) -> None:
    from runid.capture import Recorder
    from runid.home import Home
    from runid.log import Log

    home = Home(tmp_path / "home")
    home.init_keys("runid.test/scl")
    source = scl.scl_source(DOC)
    declaration = source.declare(example("chat-hosted-model"), template_id="support/brief")
    with Recorder(home).capture(declaration, contents=source.contents()) as run:
        assert run.declaration_id == compute_identity(declaration).declaration_id
        run.set_output("Refunds take 5 days.")
    assert run.recorded and run.failure is None
    with Log.open(home) as log:
        assert log.content(source.digest) == source.canonical  # template.digest: the document
        assert log.content(declaration["instructions"]["system"][0]["digest"]) == source.content
    assert scl.Document.from_json(json.loads(source.canonical)) == source.document
