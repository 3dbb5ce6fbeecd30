"""``runid demo``: identities of realistic declarations, and what does and does not change them."""

from __future__ import annotations

import copy
import json

import click

from . import canonical
from ._internal.files import write_output
from .examples import EXAMPLES, example
from .home import Home
from .identity import compute_identity
from .keys import Keyring
from .log import Log
from .receipt import verify_receipt


def _short(digest: str) -> str:
    return digest[:19] + "…"


def run_demo(home: Home | None = None) -> None:
    title = click.style
    click.echo(title("runid demo: declaration identities", bold=True))
    click.echo("Each declaration is the full composition of one AI run; its id is a pure function")
    click.echo("of it (RFC 8785 canonical JSON, SHA-256, domain-separated per component).\n")

    for name in EXAMPLES:
        ident = compute_identity(example(name))
        absent = [c for c, v in example(name).items() if isinstance(v, dict) and "absent" in v]
        note = f"  (absent: {', '.join(absent)})" if absent else ""
        click.echo(f"  {name:<24} {ident.declaration_id}{note}")

    base = example("rag-retrieved-chunks")
    base_id = compute_identity(base)
    click.echo(title("\nOne parameter changed: temperature 0.2 → 0.7", bold=True))
    changed = copy.deepcopy(base)
    changed["parameters"]["temperature"]["value"] = 0.7
    changed_id = compute_identity(changed)
    click.echo(f"  before  {base_id.declaration_id}")
    click.echo(f"  after   {changed_id.declaration_id}")
    for component in sorted(base_id.components):
        before, after = base_id.components[component], changed_id.components[component]
        if before != after:
            click.echo(f"  component {component!r} differs: {_short(before)} → {_short(after)}")
    same = sum(base_id.components[c] == changed_id.components[c] for c in base_id.components)
    click.echo(f"  the other {same} component digests are unchanged")

    click.echo(title("\nSame declaration, different spelling: same id", bold=True))
    text = json.dumps(base, sort_keys=False)
    respelled = json.dumps(dict(reversed(list(base.items()))), indent=4)
    respelled = respelled.replace('"value": 0.2', '"value": 2.0e-1')
    ids = {compute_identity(canonical.loads(t)).declaration_id for t in (text, respelled)}
    click.echo("  key order, whitespace and number spelling (0.2 vs 2.0e-1) changed")
    click.echo(f"  ids: {', '.join(ids)}  ({'identical' if len(ids) == 1 else 'DIFFERENT'})")

    click.echo(title("\nOne retrieved document edited: the context component names it", bold=True))
    edited = copy.deepcopy(base)
    edited["context"]["retrieved"][1]["content"]["digest"] = "sha256:" + "9f" * 32
    edited_id = compute_identity(edited)
    diverged = [c for c in base_id.components if base_id.components[c] != edited_id.components[c]]
    click.echo(f"  diverged components: {', '.join(diverged)}")
    click.echo(f"  new id  {edited_id.declaration_id}")
    if home is not None:
        _log_demo(home, base)
    click.echo("\nTry: runid id examples/declarations/rag-retrieved-chunks.json --json")


def _log_demo(home: Home, declaration: dict[str, object]) -> None:
    """Record runs in the transparency log and write a receipt that verifies offline."""
    click.echo(click.style(f"\nRecording runs in the transparency log at {home.path}", bold=True))
    if not home.signing_key_path.exists():
        key = home.init_keys("runid.demo/log")
        click.echo(f"  created a signing key: {key.public_key.vkey}")
    output = b"Duplicate card charges are refunded within 5 business days (kb/refunds.md)."
    with Log.open(home) as log:
        for name in EXAMPLES:
            entry = log.record_run(example(name), output=output + name.encode())
            click.echo(f"  entry {entry.index:>4}  {name:<24} {entry.record['execution_id']}")
        entry = log.record_run(declaration, output=output)
        receipt = log.receipt(entry.index, declaration)
        public = log.public
    path = home.path / "demo-receipt.json"
    output_path = home.path / "demo-output.txt"
    write_output(str(path), receipt)
    write_output(str(output_path), output)
    result = verify_receipt(receipt, Keyring([public]), output=output)
    click.echo(f"  receipt for entry {entry.index} written to {path}; verified offline:")
    for check in result.checks:
        click.echo(f"    ok  {check}")
    click.echo(
        f"\nVerify it yourself (no database needed):\n  runid verify {path} "
        f"--key '{public.vkey}' --output {output_path}"
    )
