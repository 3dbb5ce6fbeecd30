"""Turn what a user names on the command line into a :class:`Subject` to compare or check.

``runid diff``, ``runid check`` and ``runid replay`` take the same kinds of argument:

* an **execution id** (``sha256:<hex>``) found in the log of the home;
* a **declaration id** (``sha256:<hex>``) whose declaration or records are in that log;
* a **receipt file** (``docs/spec.md`` §14.3), verified against the given keys or, without
  them, the home's public key: a receipt that fails verification is refused, not compared;
* a **declaration file** (JSON), validated and given its identity;
* an **identity file**: the ``{"declaration_id", "components"}`` object ``runid id --json``
  prints, for a declaration whose content is not disclosed (its id is recomputed from the
  component digests).

``-`` reads a file from standard input. Every failure is a :class:`~runid.errors.RunidError`
naming the argument; nothing is written.

>>> import json, pathlib, tempfile
>>> from runid.examples import example
>>> path = pathlib.Path(tempfile.mkdtemp()) / "decl.json"
>>> _ = path.write_text(json.dumps(example("chat-hosted-model")))
>>> subject = resolve(str(path))
>>> subject.kind, subject.declaration_id == subject.identity().declaration_id
('declaration-file', True)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from . import canonical
from ._internal.files import parse_json, read_input
from .declaration import COMPONENTS
from .digest import DIGEST_PATTERN
from .errors import (
    E_IDENTITY,
    E_NO_KEY,
    E_SPEC_VERSION,
    E_SUBJECT,
    E_UNKNOWN_ID,
    E_UNKNOWN_KEY,
    FileAccessError,
    InputError,
    RunidError,
    VerificationError,
)
from .identity import Identity, compute_identity, declaration_id_from_components
from .keys import Keyring
from .log import Log
from .receipt import RECEIPT_SPEC, WITHHELD, verify_receipt
from .wire import Declaration, Record

__all__ = ["DECLARATION_SPEC", "Kind", "Subject", "resolve", "subject_of_declaration"]

DECLARATION_SPEC = "runid/v1"
"""The declaration spec version this runid reads."""

Kind = Literal["execution", "declaration", "receipt", "declaration-file", "identity-file"]

_ID = re.compile(DIGEST_PATTERN)


@dataclass(frozen=True)
class Subject:
    """One side of a comparison: a declaration (perhaps only by digests) and maybe a run.

    ``declaration`` is ``None`` when its content is withheld; ``components`` (the eight
    component digests) is ``None`` when even those are unknown and only ``declaration_id`` is.
    ``record`` is the verified execution record when the subject is one run. ``origin`` says
    in words where it came from, for reports.
    """

    kind: Kind
    origin: str
    declaration_id: str
    components: Mapping[str, str] | None
    declaration: Declaration | None = None
    record: Record | None = None

    @property
    def execution_id(self) -> str | None:
        """The execution id of the run, if the subject is one."""
        return None if self.record is None else str(self.record["execution_id"])

    def identity(self) -> Identity:
        """The identity, when the component digests are known (else ``InputError``)."""
        if self.components is None:
            raise InputError(f"{self.origin}: only the declaration id is known")
        return Identity(self.declaration_id, dict(self.components))


def subject_of_declaration(
    declaration: object, *, kind: Kind = "declaration-file", origin: str = "declaration"
) -> Subject:
    """A subject for a declaration given as a value (validated; its identity computed)."""
    _check_spec(declaration, origin)
    identity = compute_identity(declaration)
    assert isinstance(declaration, dict)  # compute_identity accepts only objects
    valid = cast(Declaration, declaration)  # compute_identity validated it
    return Subject(kind, origin, identity.declaration_id, identity.components, valid)


def resolve(arg: str, log: Log | None = None, *, keyring: Keyring | None = None) -> Subject:
    """Resolve ``arg`` (an id, a file path or ``-``) into a :class:`Subject`.

    ``log`` is needed for ids, and lets a receipt or an id whose declaration was withheld find
    the declaration if the log stored it. ``keyring`` verifies receipts; without it the log's
    own public key does. Raises :class:`~runid.errors.InputError` (unknown id ``E_UNKNOWN_ID``,
    wrong spec version ``E_SPEC_VERSION``, unreadable or unrecognised file ``E_SUBJECT``),
    :class:`~runid.errors.DeclarationError` for an invalid declaration, and
    :class:`~runid.errors.VerificationError` for a receipt or an identity file that does not
    verify.
    """
    if not isinstance(arg, str) or not arg:
        raise InputError("an empty argument names nothing", code=E_SUBJECT)
    if _ID.fullmatch(arg):
        return _by_id(arg, log)
    if arg.startswith("sha256:"):
        raise InputError(
            f"{arg!r:.90} is not a well-formed id",
            code=E_SUBJECT,
            hint="execution and declaration ids are sha256: followed by 64 lowercase hex digits",
        )
    try:
        data = read_input(arg, canonical.MAX_INPUT_BYTES)
    except FileAccessError as exc:
        raise FileAccessError(
            f"{exc.message} (an argument is an execution id, a declaration id, a receipt or "
            "a declaration file)",
            hint=exc.hint,
        ) from None
    where = "standard input" if arg == "-" else arg
    value = parse_json(data, arg)  # an error names the file
    if isinstance(value, dict) and "receipt" in value:
        return _receipt(data, value, where, log, keyring)
    if isinstance(value, dict) and "spec" in value:
        return subject_of_declaration(value, origin=f"declaration file {where}")
    if isinstance(value, dict) and set(value) == {"declaration_id", "components"}:
        return _identity_file(value, where)
    raise InputError(
        f"{where}: not a declaration, a receipt or an identity file",
        code=E_SUBJECT,
        hint="a declaration has a 'spec' member, a receipt a 'receipt' member; "
        "'runid id --json' writes an identity file",
    )


def _check_spec(value: object, where: str) -> None:
    spec = value.get("spec") if isinstance(value, dict) else None
    if isinstance(spec, str) and spec != DECLARATION_SPEC and spec.startswith("runid/"):
        raise InputError(
            f"{where}: written for {spec}; this runid reads {DECLARATION_SPEC} declarations",
            code=E_SPEC_VERSION,
            hint="compare declarations of the same spec version, or upgrade runid",
        )


def _by_id(ref: str, log: Log | None) -> Subject:
    if log is None:
        raise InputError(
            f"{ref} is an id, and ids are looked up in a log, but there is none here",
            code=E_UNKNOWN_ID,
            hint="pass --home DIR (or set RUNID_HOME) to the runid home that recorded it",
        )
    log.refresh_lookups()
    if log.store.find_execution(ref) is not None:
        entry = log.entry(ref)
        declaration_id = entry.record["declaration_id"]
        origin = f"execution {ref} (entry {entry.index} of the log {log.origin})"
        return _with_declaration(log, "execution", origin, declaration_id, entry.record)
    declaration = log.declaration(ref)
    if declaration is not None:
        origin = f"declaration {ref} (from the log {log.origin})"
        return subject_of_declaration(declaration, kind="declaration", origin=origin)
    if log.store.find_records(ref):
        origin = f"declaration {ref} (recorded in the log {log.origin}, content not stored)"
        return Subject("declaration", origin, ref, None)
    raise InputError(
        f"{ref}: no execution or declaration with this id in the log {log.origin}",
        code=E_UNKNOWN_ID,
        hint="check the id and --home / RUNID_HOME; for a run recorded elsewhere, "
        "pass its receipt file instead",
    )


def _with_declaration(
    log: Log | None, kind: Kind, origin: str, declaration_id: str, record: Record
) -> Subject:
    """A run's subject, with its declaration when ``log`` stored it."""
    declaration = log.declaration(declaration_id) if log is not None else None
    if declaration is None:
        return Subject(kind, origin + ", declaration withheld", declaration_id, None, None, record)
    identity = compute_identity(declaration)
    return Subject(kind, origin, declaration_id, identity.components, declaration, record)


def _receipt(
    data: bytes,
    body: dict[str, Any],
    where: str,
    log: Log | None,
    keyring: Keyring | None,
) -> Subject:
    if body.get("receipt") != RECEIPT_SPEC:
        raise InputError(
            f"{where}: a receipt of version {body.get('receipt')!r:.40}; this runid reads "
            f"{RECEIPT_SPEC}",
            code=E_SPEC_VERSION,
            hint="compare receipts of the same version, or upgrade runid",
        )
    if keyring is None or not len(keyring):
        if log is None:
            raise InputError(
                f"{where}: a receipt is compared only once verified, and no key was given",
                code=E_NO_KEY,
                hint="pass --key PUBKEY (the issuing log's verifier key), or --home for a "
                "home whose key signed it",
            )
        keyring = log.keyring
    try:
        verified = verify_receipt(data, keyring)
    except VerificationError as exc:
        raise VerificationError(
            f"{where}: the receipt does not verify: {exc.message}",
            code=exc.code,
            hint="pass --key with the verifier key of the log that issued it"
            if exc.code == E_UNKNOWN_KEY
            else exc.hint,
        ) from None
    record = verified.record
    origin = f"receipt {where} (entry {verified.index} of the log {verified.checkpoint.origin})"
    declaration = body["declaration"]
    if declaration == WITHHELD:
        return _with_declaration(log, "receipt", origin, record["declaration_id"], record)
    identity = compute_identity(declaration)  # verify_receipt checked it matches the record
    return Subject(
        "receipt", origin, identity.declaration_id, identity.components, declaration, record
    )


def _identity_file(value: dict[str, Any], where: str) -> Subject:
    components = value["components"]
    declared = value["declaration_id"]
    if not isinstance(components, dict) or not isinstance(declared, str):
        raise InputError(f"{where}: components must be an object and declaration_id a string")
    try:
        computed = declaration_id_from_components(components)
    except RunidError as exc:
        raise InputError(f"{where}: not an identity: {exc.message}", code=E_SUBJECT) from None
    if computed != declared:
        raise VerificationError(
            f"{where}: the component digests give {computed}, not the stated {declared}",
            code=E_IDENTITY,
            hint="the identity file was altered; recompute it with 'runid id --json'",
        )
    digests = {name: str(components[name]) for name in COMPONENTS}
    return Subject("identity-file", f"identity file {where}", computed, digests)
