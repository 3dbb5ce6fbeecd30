"""Portable replay: a run known from its receipt, replayed in another home with its contents
from a directory; and the export that writes such a directory from a log.

Private to :mod:`runid.replay`, which re-exports :func:`replay_receipt`,
:func:`directory_fetcher` and :func:`export_contents`. The original log is never opened: the
receipt proves the record (verified with the issuing log's public key), the declaration is the
receipt's (or a file of the directory, checked against the id the record names), and every
content comes from the directory, checked against its digest. The replay is recorded in the
home given, which makes its own key if it has none.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .. import canonical
from .._internal.files import read_regular, write_output
from ..digest import DIGEST_PATTERN, content_digest
from ..errors import (
    E_CONTENT_DIGEST,
    E_CONTENT_MISSING,
    E_NO_KEY,
    E_NOT_STORED,
    E_UNKNOWN_KEY,
    FileAccessError,
    InputError,
    RunidError,
    VerificationError,
)
from ..home import Home
from ..identity import compute_identity
from ..keys import Keyring
from ..log import Log
from ..receipt import WITHHELD, verify_receipt
from ._run import Fetch, load_declaration, replay_call
from .report import ReplayReport

__all__ = ["directory_fetcher", "export_contents", "replay_receipt"]

_DIGEST = re.compile(DIGEST_PATTERN)
_HEX = 7  # len("sha256:")
#: The largest content file read (as the largest JSON document runid reads).
_CONTENT_LIMIT = canonical.MAX_INPUT_BYTES


def _places(directory: Path, digest: str, suffix: str = "") -> Iterator[Path]:
    """Where a file named by ``digest`` may be: ``DIR/<hex>`` (as ``runid log
    export-contents`` writes it), or an extracted evidence bundle's ``DIR/contents/<hex>``
    (``DIR/declarations/<hex>.json`` for a declaration)."""
    name = digest[_HEX:] + suffix
    yield directory / name
    yield directory / ("declarations" if suffix else "contents") / name


def _read(path: Path) -> bytes | None:
    """The bytes of the regular file ``path``, or None when there is none."""
    try:
        return read_regular(path, _CONTENT_LIMIT, what="contents")
    except FileAccessError:
        if not os.path.lexists(path):
            return None
        raise


def directory_fetcher(directory: str | os.PathLike[str]) -> Fetch:
    """``fetch(digest) -> bytes`` over the files of ``directory`` named by digest
    (``DIR/<hex>``, or ``DIR/contents/<hex>`` as in an extracted evidence bundle), checked
    against the digest (``E_CONTENT_DIGEST``); ``E_CONTENT_MISSING`` when neither file
    exists."""
    root = Path(directory)
    if not root.is_dir():
        raise InputError(
            f"{directory}: not a directory of contents",
            hint="runid log export-contents ID --out DIR writes one",
            code=E_CONTENT_MISSING,
        )

    def fetch(digest: str) -> bytes:
        if _DIGEST.fullmatch(digest):
            for path in _places(root, digest):
                data = _read(path)
                if data is None:
                    continue
                found = content_digest(data)
                if found != digest:  # a directory is trusted for nothing either
                    raise VerificationError(
                        f"{path}: its bytes have the digest {found}, not the {digest} it is "
                        "named for",
                        hint="the file was altered or mixed up; export the contents again "
                        "(runid log export-contents)",
                        code=E_CONTENT_DIGEST,
                    )
                return data
        raise InputError(
            f"content {digest} is not in {directory} (as {digest[_HEX:]})",
            hint="export the run's contents from the log that recorded it: "
            "runid log export-contents ID --out DIR",
            code=E_CONTENT_MISSING,
        )

    return fetch


def _no_contents(digest: str) -> bytes:
    raise InputError(
        f"content {digest} is needed, and no contents directory was given",
        hint="runid replay RECEIPT --contents DIR (runid log export-contents ID --out DIR "
        "writes it where the run was recorded)",
        code=E_CONTENT_MISSING,
    )


def _declaration(
    receipt: Mapping[str, Any], declaration_id: str, directory: Path | None
) -> dict[str, Any]:
    """The receipt's declaration, else the directory's file ``<hex>.json`` with that id."""
    included = receipt.get("declaration")
    if isinstance(included, dict) and included != WITHHELD:
        return included  # verify_receipt recomputed its id
    for path in _places(directory, declaration_id, ".json") if directory else ():
        data = _read(path)
        if data is None:
            continue
        try:
            value = canonical.loads(data)
            found = compute_identity(value).declaration_id if isinstance(value, dict) else None
        except RunidError:
            found = None
        if found != declaration_id or not isinstance(value, dict):
            raise InputError(
                f"{path}: not the declaration {declaration_id} (a disclosure document, or "
                "another declaration)",
                hint="replay needs the whole declaration",
                code=E_NOT_STORED,
            )
        return value
    raise InputError(
        f"the receipt withholds its declaration {declaration_id}, and no contents directory "
        "holds it",
        hint="a receipt made with the declaration (runid log prove, the default), or "
        "runid log export-contents, which writes it as <hex>.json",
        code=E_NOT_STORED,
    )


def replay_receipt(
    home: Home,
    receipt: bytes,
    *,
    keyring: Keyring | None = None,
    contents: str | os.PathLike[str] | None = None,
    privacy: Any = None,
    **options: Any,
) -> ReplayReport:
    """Replay the run a receipt proves, in ``home``, without the log that recorded it.

    The receipt is verified first, with ``keyring`` (the issuing log's public key; default:
    the home's own, for a receipt of its own log), and refused if it does not verify. The
    declaration is the receipt's, else ``contents/<hex>.json``; every content comes from the
    directory ``contents`` (files named by digest, as :func:`export_contents` writes them),
    checked against its digest. The replay is recorded in ``home`` (which makes its key if it
    has none) with ``replay_of`` naming the original; nothing else is written anywhere.
    ``options`` go to the engine (``base_url``: default the original's ``observed.endpoint``;
    ``model_path``, ...). Raises as :func:`runid.replay.replay` does, and
    :class:`~runid.errors.VerificationError` for a receipt that does not verify.
    """
    if keyring is None or not len(keyring):
        if not (home.public_key_path.exists() or home.signing_key_path.exists()):
            raise InputError(
                "a receipt is replayed only once verified, and no key was given",
                hint="pass --key PUBKEY: the verifier key of the log that issued the receipt",
                code=E_NO_KEY,
            )
        keyring = Keyring([home.public_key()])
    try:
        verified = verify_receipt(receipt, keyring)
    except VerificationError as exc:
        raise VerificationError(
            f"the receipt does not verify: {exc.message}",
            code=exc.code,
            hint="pass --key with the verifier key of the log that issued it"
            if exc.code == E_UNKNOWN_KEY
            else exc.hint,
        ) from None
    original = verified.record
    directory = Path(contents) if contents is not None else None
    body = canonical.loads(receipt)
    assert isinstance(body, dict)  # verify_receipt checked its shape
    declaration = _declaration(body, original["declaration_id"], directory)
    fetch = directory_fetcher(directory) if directory is not None else _no_contents
    return replay_call(original, declaration, fetch, home=home, privacy=privacy, options=options)


# --- exporting the contents a replay needs --------------------------------------------------


def _digests(value: Any) -> Iterator[str]:
    """Every digest-shaped string in ``value`` (content references, a template's digest, ...)."""
    if isinstance(value, str):
        if _DIGEST.fullmatch(value):
            yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _digests(item)
    elif isinstance(value, list):
        for item in value:
            yield from _digests(item)


def export_contents(log: Log, ref: str | int, directory: str | os.PathLike[str]) -> list[Path]:
    """Write what a replay of entry ``ref`` needs besides its receipt into ``directory``
    (created if missing): every content the log holds that its declaration references (the
    prompts, messages, retrieved chunks, tool definitions, a template's text) and its outputs,
    each as ``<hex>`` (the bytes whose digest is ``sha256:<hex>``), and the declaration as
    ``<hex>.json`` (canonical JSON; for a receipt that withholds it). Returns the files
    written, in order. ``E_NOT_STORED`` when the log does not hold the declaration: nothing
    can be replayed from it.
    """
    entry = log.entry(ref)
    declaration_id = entry.record["declaration_id"]
    declaration = load_declaration(log, declaration_id)
    root = Path(directory)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FileAccessError(f"{directory}: cannot make the directory ({exc.strerror})") from None
    written: list[Path] = []
    wanted = [*_digests(declaration), *_digests(entry.record["outcome"]["outputs"])]
    for digest in dict.fromkeys(wanted):
        if digest in (declaration_id, entry.record["execution_id"]):
            continue
        data = log.content(digest)
        if data is None:
            continue  # not a stored content (an index snapshot, a weights digest, an id)
        if content_digest(data) != digest:
            raise VerificationError(
                f"the log's content for {digest} has another digest",
                hint="run 'runid log audit'; the blob store was altered",
                code=E_CONTENT_DIGEST,
            )
        path = root / digest[_HEX:]
        write_output(str(path), data)
        written.append(path)
    path = root / (declaration_id[_HEX:] + ".json")
    write_output(str(path), canonical.canonicalize(declaration))
    written.append(path)
    return written
