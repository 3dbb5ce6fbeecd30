"""`runid diff A B`: real homes, real logs, real receipts; exit codes as diff(1)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runid._cli import main
from runid._cli.diff import render
from runid.diff import compare
from runid.diff import json_schema as diff_json_schema
from runid.digest import content_digest, content_ref
from runid.examples import example
from runid.home import Home
from runid.keys import SigningKey
from runid.log import Log
from runid.resolve import subject_of_declaration


def invoke(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(main, list(args), input=stdin)


def make_home(path: Path, name: str) -> Home:
    home = Home(path)
    home.init_keys(name)
    return home


@pytest.fixture
def systems(tmp_path: Path) -> dict[str, Any]:
    """Two independent systems (own keys, own logs) run what should be the same request; the
    second's index snapshot moved after a document was edited."""
    a_home = make_home(tmp_path / "a", "runid.test/system-a")
    b_home = make_home(tmp_path / "b", "runid.test/system-b")
    decl_a = example("rag-retrieved-chunks")
    decl_b = copy.deepcopy(decl_a)
    decl_b["context"]["index"]["snapshot"] = content_digest(b"index snapshot 2026-11-27")
    decl_b["context"]["retrieved"][3]["content"] = content_ref("Fees: card orders are free.")
    paths = {}
    for home, decl, output, name in (
        (a_home, decl_a, b"Refunds take 5 days.", "ra.json"),
        (b_home, decl_b, b"Card orders are free.", "rb.json"),
    ):
        with Log.open(home) as log:
            entry = log.record_run(decl, output=output)
            paths[name] = tmp_path / name
            paths[name].write_bytes(log.receipt(entry.index, decl))
    return {
        "a": a_home,
        "b": b_home,
        "ra": str(paths["ra.json"]),
        "rb": str(paths["rb.json"]),
        "keys": ["--key", str(a_home.public_key_path), "--key", str(b_home.public_key_path)],
        "decl_a": decl_a,
    }


def test_two_systems_receipts_name_the_condition_that_moved(systems: dict[str, Any]) -> None:
    result = invoke("diff", systems["ra"], systems["rb"], *systems["keys"])
    assert result.exit_code == 1, result.output
    assert "different declarations: 1 of 8 component differs (context)" in result.stdout
    assert "context.index.snapshot: sha256:" in result.stdout
    assert "context.retrieved[3].content: kb/fees.md chunk 0, sha256:" in result.stdout
    assert "\x1b[" not in result.stdout  # not a terminal: no colour


def test_json_report_is_the_spec_format(systems: dict[str, Any]) -> None:
    result = invoke("diff", systems["ra"], systems["rb"], *systems["keys"], "--json")
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["format"] == "runid/diff/v1"
    assert body["verdict"] == "different_declarations" and body["identical"] is False
    assert body["a"]["kind"] == "receipt" and body["a"]["declaration"] == "included"
    assert [c["path"] for c in body["declaration"]["changes"]] == [
        "context.index.snapshot",
        "context.retrieved[3].content",
    ]
    assert body["declaration"]["components"]["context"] == "different"
    assert body["outcome"]["compared"] is True and body["outcome"]["identical"] is False


def test_identical_declarations_exit_zero(systems: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps(systems["decl_a"]))
    result = invoke("diff", str(path), systems["ra"], "--home", str(systems["a"].path))
    assert result.exit_code == 0, result.output
    assert "identical declarations" in result.stdout


def test_two_runs_by_execution_id_classify_the_outcome(tmp_path: Path) -> None:
    home = make_home(tmp_path / "h", "runid.test/h")
    decl = example("chat-hosted-model")
    facts = {"served_model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_1"}
    with Log.open(home) as log:
        one = log.record_run(decl, output=b"Sure.", observed=facts)
        two = log.record_run(decl, output=b"Certainly.", observed=facts)
        three = log.record_run(
            decl, output=b"Of course.", observed=facts | {"system_fingerprint": "fp_2"}
        )
    ids = [e.record["execution_id"] for e in (one, two, three)]
    result = invoke("--home", str(home.path), "diff", ids[0], ids[1])
    assert result.exit_code == 1
    assert "sampling nondeterminism" in result.stdout
    result = invoke("diff", ids[0], ids[2], "--home", str(home.path), "--json")
    assert json.loads(result.stdout)["verdict"] == "provider_drift"
    assert invoke("diff", ids[0], ids[0], "--home", str(home.path)).exit_code == 0


def test_a_withheld_declaration_is_compared_by_id(systems: dict[str, Any], tmp_path: Path) -> None:
    with Log.open(systems["b"]) as log:
        withheld = tmp_path / "withheld.json"
        withheld.write_bytes(log.receipt(0))
    result = invoke("diff", systems["ra"], str(withheld), *systems["keys"], "--json")
    body = json.loads(result.stdout)
    assert result.exit_code == 1
    assert body["b"]["declaration"] == "withheld"
    assert [c["kind"] for c in body["declaration"]["changes"]] == ["declaration"]


@pytest.mark.parametrize(
    "case",
    [
        "unknown id",
        "bad signature",
        "untrusted key",
        "invalid declaration",
        "spec v2",
        "not json",
        "missing file",
        "no args",
    ],
)
def test_every_error_exits_2_with_a_message_and_no_traceback(
    case: str, systems: dict[str, Any], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    args: list[str]
    if case == "unknown id":
        args = ["sha256:" + "ab" * 32, systems["ra"], "--home", str(systems["a"].path)]
    elif case == "bad signature":
        receipt = json.loads(Path(systems["ra"]).read_text())
        sig = receipt["envelope"]["signatures"][0]["sig"]
        receipt["envelope"]["signatures"][0]["sig"] = ("A" if sig[0] != "A" else "B") + sig[1:]
        bad.write_text(json.dumps(receipt))
        args = [str(bad), systems["rb"], *systems["keys"]]
    elif case == "untrusted key":
        args = [systems["ra"], systems["rb"], "--key", str(systems["a"].public_key_path)]
    elif case == "invalid declaration":
        decl = copy.deepcopy(systems["decl_a"])
        del decl["model"]
        bad.write_text(json.dumps(decl))
        args = [str(bad), systems["ra"], *systems["keys"]]
    elif case == "spec v2":
        bad.write_text(json.dumps(systems["decl_a"] | {"spec": "runid/v2"}))
        args = [str(bad), systems["ra"], *systems["keys"]]
    elif case == "not json":
        bad.write_text("{")
        args = [str(bad), systems["ra"], *systems["keys"]]
    elif case == "missing file":
        args = [str(tmp_path / "nope.json"), systems["ra"], *systems["keys"]]
    else:
        args = []
    result = invoke("diff", *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "rror" in result.output  # "error: ..." or click's "Error: Missing argument"


def test_colour_only_when_asked(systems: dict[str, Any]) -> None:
    a = subject_of_declaration(systems["decl_a"])
    other = copy.deepcopy(systems["decl_a"])
    other["parameters"]["temperature"]["value"] = 0.9
    b = subject_of_declaration(other)
    comparison = compare(a, b)
    assert "\x1b[" in render(a, b, comparison, color=True)
    plain = render(a, b, comparison)
    assert "\x1b[" not in plain and "parameters.temperature: 0.2 → 0.9" in plain


def test_the_installed_command_honours_no_color_and_exit_codes(systems: dict[str, Any]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runid", "diff", systems["ra"], systems["rb"], *systems["keys"]],
        capture_output=True,
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin", "HOME": str(systems["a"].path)},
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert b"\x1b[" not in done.stdout and b"context.index.snapshot" in done.stdout


STRANGER = SigningKey.generate("runid.test/stranger").public_key.vkey

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    value=json_values
    | st.builds(
        lambda v: {"receipt": "runid/receipt/v1", **v},
        st.dictionaries(st.text(max_size=6), json_values, max_size=3),
    )
    | st.builds(
        lambda v: {"spec": "runid/v1", **v},
        st.dictionaries(st.text(max_size=6), json_values, max_size=3),
    )
    | st.builds(lambda v: {"declaration_id": v, "components": v}, json_values)
)
def test_hostile_files_never_crash_the_command(value: object, tmp_path: Path) -> None:
    path = tmp_path / "hostile.json"
    try:
        path.write_text(json.dumps(value, allow_nan=True))
    except (ValueError, UnicodeEncodeError):
        return
    decl = tmp_path / "ok.json"
    decl.write_text(json.dumps(example("chat-hosted-model")))
    result = invoke("diff", str(path), str(decl), "--key", STRANGER)
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output


def test_the_json_report_matches_its_published_schema(
    systems: dict[str, Any], tmp_path: Path
) -> None:
    import jsonschema

    schema = json.loads(
        (Path(__file__).parent.parent / "docs" / "schema" / "diff-v1.schema.json").read_text()
    )
    assert schema == diff_json_schema()
    with Log.open(systems["b"]) as log:
        withheld = tmp_path / "withheld.json"
        withheld.write_bytes(log.receipt(0))
    decl = tmp_path / "d.json"
    decl.write_text(json.dumps(systems["decl_a"]))
    for pair in (
        (systems["ra"], systems["rb"]),
        (systems["ra"], str(withheld)),
        (str(decl), systems["ra"]),
    ):
        result = invoke("diff", *pair, *systems["keys"], "--json")
        jsonschema.validate(json.loads(result.stdout), schema)


def test_history_truncated_on_one_side_is_said_in_words(tmp_path: Path) -> None:
    a = example("chat-hosted-model")
    b = copy.deepcopy(a)
    b["inputs"]["messages"] = b["inputs"]["messages"][2:]
    b["inputs"]["truncation"] = {"strategy": "drop_oldest", "original_count": 3, "kept_count": 1}
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    result = invoke("diff", str(tmp_path / "a.json"), str(tmp_path / "b.json"))
    assert result.exit_code == 1
    assert "- inputs.messages[0..1]: 2 messages only in A" in result.stdout
    assert "history truncated on B only: kept 1 of 3 messages (drop_oldest)" in result.stdout
