"""Signed execution records: a DSSE v1 envelope around an in-toto Statement v1.

The issuer of a record (:mod:`runid.record`) signs it so that anyone holding the issuer's public
key can check who vouches for it, and existing supply-chain tooling can read it:

* the **Statement** (in-toto v1) has ``_type`` ``https://in-toto.io/Statement/v1``, ``subject``
  the record's execution id and outputs as ``{"name", "digest": {"sha256": hex}}``,
  ``predicateType`` :data:`PREDICATE_TYPE` and ``predicate`` the record;
* the **envelope** (DSSE v1) carries ``payload`` = base64 of the statement's JCS bytes,
  ``payloadType`` ``application/vnd.in-toto+json`` and exactly one signature
  ``{"keyid": <issuer key id>, "sig": base64(Ed25519(PAE(payloadType, payload)))}``.

:func:`envelope_bytes` (the envelope's JCS bytes) is what the transparency log stores as a
leaf. The normative text is ``docs/spec.md`` ("Execution records").

>>> from runid.keys import Keyring, SigningKey
>>> from runid.record import new_record
>>> key = SigningKey("runid.example/worker", bytes(32))
>>> record = new_record("sha256:" + "ab" * 32, issuer=key,
...                     started_at="2025-03-01T12:00:00Z", ended_at="2025-03-01T12:00:01Z")
>>> envelope = sign_record(record, key)
>>> sorted(envelope), envelope["payloadType"]
(['payload', 'payloadType', 'signatures'], 'application/vnd.in-toto+json')
>>> verify_envelope(envelope, Keyring([key.public_key])) == record
True
>>> verify_envelope(envelope, Keyring())  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
runid.errors.VerificationError: key: the envelope is signed by key id sha256:..., which is \
not a trusted key; trusted: none
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Final, cast

import orjson

from .canonical import Unrepresentable, canonicalize, dumps_prepared, loads
from .errors import (
    E_BASE64,
    E_ENVELOPE,
    E_EXECUTION_ID,
    E_INVALID_RECORD,
    E_ISSUER,
    E_PAYLOAD_TYPE,
    E_SIGNATURE,
    E_STATEMENT,
    E_SUBJECT,
    E_UNKNOWN_KEY,
    InputError,
    RunidError,
    VerificationError,
)
from .keys import PublicKey, SigningKey
from .merkle import leaf_hash as _merkle_leaf_hash
from .record import prepare_record, record_problems
from .wire import Envelope, Record, Statement

__all__ = [
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "envelope_bytes",
    "leaf_hash",
    "pae",
    "payload_predicate",
    "sign_record",
    "statement",
    "verify_envelope",
]

PAYLOAD_TYPE: Final = "application/vnd.in-toto+json"
"""The DSSE payload type of an in-toto Statement (the only one accepted)."""

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
"""The in-toto Statement v1 ``_type``."""

PREDICATE_TYPE = "https://runid.dev/ExecutionRecord/v1"
"""The ``predicateType`` of a runid execution record v1."""

_PAYLOAD_TYPE_BYTES = PAYLOAD_TYPE.encode("utf-8")
_ENVELOPE_KEYS = frozenset(("payload", "payloadType", "signatures"))
_SIGNATURE_KEYS = frozenset(("keyid", "sig"))
_STATEMENT_KEYS = frozenset(("_type", "subject", "predicateType", "predicate"))
_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")
_HINT = "the envelope, its payload or its signature was altered, or it is not a runid record"


def pae(payload_type: str | bytes, payload: bytes) -> bytes:
    """DSSE v1 Pre-Authentication Encoding: the bytes a signature covers.

    ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``, lengths in ASCII decimal bytes.

    >>> pae("http://example.com/HelloWorld", b"hello world")
    b'DSSEv1 29 http://example.com/HelloWorld 11 hello world'
    """
    kind = payload_type.encode("utf-8") if isinstance(payload_type, str) else payload_type
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def _subjects(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The statement's subject: the execution id, then each output, as DigestSets."""
    found = [{"name": "execution_id", "digest": {"sha256": record["execution_id"][7:]}}]
    for index, output in enumerate(record["outcome"]["outputs"]):
        found.append({"name": f"outputs/{index}", "digest": {"sha256": output["digest"][7:]}})
    return found


def _statement(prepared: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "_type": STATEMENT_TYPE,
        "subject": _subjects(prepared),
        "predicateType": PREDICATE_TYPE,
        "predicate": prepared,
    }


def _valid(record: object) -> Any:
    prepared = prepare_record(record)
    if prepared is None:
        found = record_problems(record)
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise InputError(
            f"invalid execution record: {found[0]}{more}",
            hint="record_problems() lists every problem; build records with new_record()",
            code=E_INVALID_RECORD,
        )
    return prepared


def statement(record: Mapping[str, Any]) -> Statement:
    """The in-toto Statement v1 of a valid record (what the envelope's payload encodes).

    >>> from runid.keys import SigningKey
    >>> from runid.record import new_record
    >>> record = new_record("sha256:" + "ab" * 32, issuer=SigningKey("w", bytes(32)),
    ...                     started_at="2025-03-01T12:00:00Z", ended_at="2025-03-01T12:00:01Z")
    >>> [subject["name"] for subject in statement(record)["subject"]]
    ['execution_id']

    Raises :class:`~runid.errors.InputError` (``E_INVALID_RECORD``) for an invalid record.
    """
    _valid(record)  # ``record`` may be any mapping: it is validated here
    return cast(Statement, _statement(record))


def sign_record(record: Mapping[str, Any], key: SigningKey) -> Envelope:
    """Sign a valid record with its issuer's key; returns the DSSE envelope (a JSON object).

    The record must name ``key`` as its issuer (name and key id). Raises
    :class:`~runid.errors.InputError`: ``E_INVALID_RECORD`` for an invalid record (including a
    wrong ``execution_id``), ``E_ISSUER`` when ``key`` is not the record's issuer.
    """
    prepared = _valid(record)
    public = key.public_key
    key_id = public.key_id
    issuer = prepared["issuer"]
    if issuer["key_id"] != key_id or issuer["name"] != public.name:
        raise InputError(
            f"the record's issuer is {issuer['name']} ({issuer['key_id']}), "
            f"not the signing key {public.name} ({key_id})",
            hint="only the issuer signs its records: build the record with issuer=key",
            code=E_ISSUER,
        )
    payload = dumps_prepared(_statement(prepared))
    signature = key.sign(pae(_PAYLOAD_TYPE_BYTES, payload))
    return {
        "payload": base64.b64encode(payload).decode("ascii"),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [{"keyid": key_id, "sig": base64.b64encode(signature).decode("ascii")}],
    }


def _fail(code: str, check: str, detail: str) -> VerificationError:
    return VerificationError(f"{check}: {detail}", hint=_HINT, code=code)


def _shape_problem(envelope: object) -> str | None:
    """Why ``envelope`` is not a v1 runid envelope in form (None if it is)."""
    if type(envelope) is not dict:
        return "the envelope is not a JSON object"
    if envelope.keys() != _ENVELOPE_KEYS:
        return "the envelope must have exactly the members payload, payloadType, signatures"
    if type(envelope["payload"]) is not str or type(envelope["payloadType"]) is not str:
        return "payload and payloadType must be strings"
    signatures = envelope["signatures"]
    if type(signatures) is not list or len(signatures) != 1:
        return "signatures must be an array of exactly one signature"
    entry = signatures[0]
    if type(entry) is not dict or entry.keys() != _SIGNATURE_KEYS:
        return "a signature must have exactly the members keyid and sig"
    if type(entry["keyid"]) is not str or type(entry["sig"]) is not str:
        return "keyid and sig must be strings"
    return None


def _b64decode(text: str, what: str) -> bytes:
    """Strict base64: standard or URL-safe alphabet (not mixed), padded, canonical."""
    standard = text
    if "-" in text or "_" in text:
        if "+" in text or "/" in text:
            raise _fail(E_BASE64, "base64", f"{what} mixes the standard and URL-safe alphabets")
        standard = text.translate(_URLSAFE_TO_STANDARD)
    try:
        raw = base64.b64decode(standard, validate=True)
    except ValueError:  # binascii.Error, and non-ASCII text
        raise _fail(E_BASE64, "base64", f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != standard:
        raise _fail(E_BASE64, "base64", f"{what} is not in canonical base64 (padding bits)")
    return raw


def _key(keyring: Mapping[str, PublicKey], key_id: str) -> PublicKey:
    try:
        key = keyring[key_id]
    except (KeyError, VerificationError):
        key = None
    if not isinstance(key, PublicKey) or key.key_id != key_id:
        # Not a sign of tampering: the verifier was not given the signer's key. Say which key
        # signed and which keys are trusted, so the right one can be found and passed.
        raise VerificationError(
            f"key: the envelope is signed by key id {key_id}, which is not a trusted key; "
            f"trusted: {_trusted_keys(keyring)}",
            hint="pass the issuer's public key (runid verify --key; repeat for rotated keys); "
            "'runid keys show' on the issuer's home prints it",
            code=E_UNKNOWN_KEY,
        )
    return key


def _trusted_keys(keyring: Mapping[str, PublicKey]) -> str:
    """The trusted keys of ``keyring`` for a message: ``key id (name)``, comma-separated.

    >>> from runid.keys import Keyring, SigningKey
    >>> _trusted_keys(Keyring())
    'none'
    >>> _trusted_keys(Keyring([SigningKey("a.example/log", bytes(32)).public_key]))[-15:]
    '(a.example/log)'
    """
    named = []
    for key_id in keyring:
        try:
            key = keyring[key_id]
        except (KeyError, VerificationError):  # pragma: no cover - a mapping that lies
            continue
        name = key.name if isinstance(key, PublicKey) else "?"
        named.append(f"{key_id} ({name})")
    return ", ".join(named) or "none"


def verify_envelope(envelope: object, keyring: Mapping[str, PublicKey]) -> Record:
    """Verify a signed record and return the record.

    ``envelope`` is the envelope as a JSON object, or its JSON text. ``keyring`` maps trusted
    key ids to public keys (:class:`runid.keys.Keyring`). The checks, in order, each failing
    closed with :class:`~runid.errors.VerificationError` and its own code:

    ``E_ENVELOPE`` form (exactly ``payload``, ``payloadType``, one ``{keyid, sig}``);
    ``E_PAYLOAD_TYPE`` the payload type; ``E_UNKNOWN_KEY`` the key id is trusted;
    ``E_BASE64`` payload and signature decode; ``E_SIGNATURE`` the Ed25519 signature over the
    PAE; ``E_STATEMENT`` the payload is the JCS of an in-toto Statement v1 with our predicate
    type; ``E_INVALID_RECORD`` the predicate is a valid record; ``E_EXECUTION_ID`` its id
    matches its content; ``E_ISSUER`` the record's issuer is the signing key; ``E_SUBJECT`` the
    subject lists exactly the execution id and the outputs.

    Nothing else escapes: any input gives the record or a VerificationError.
    """
    if isinstance(envelope, bytes | str):
        try:
            envelope = loads(envelope)
        except RunidError as exc:
            raise _fail(E_ENVELOPE, "envelope format", f"not JSON: {exc.message}") from None
    problem = _shape_problem(envelope)
    if problem is not None:
        raise _fail(E_ENVELOPE, "envelope format", problem)
    assert isinstance(envelope, dict)
    if envelope["payloadType"] != PAYLOAD_TYPE:
        raise _fail(
            E_PAYLOAD_TYPE,
            "payload type",
            f"{envelope['payloadType']!r} is not {PAYLOAD_TYPE!r}",
        )
    entry = envelope["signatures"][0]
    key = _key(keyring, entry["keyid"])
    payload = _b64decode(envelope["payload"], "the payload")
    signature = _b64decode(entry["sig"], "the signature")
    try:
        key.verify(pae(_PAYLOAD_TYPE_BYTES, payload), signature)
    except VerificationError:
        raise _fail(
            E_SIGNATURE,
            "signature",
            f"the signature does not verify with key {key.name} ({entry['keyid']})",
        ) from None
    # From here on the payload is authentic: what remains is whether it says what it must.
    return _check_statement(payload, entry["keyid"], key)


def _check_statement(payload: bytes, key_id: str, key: PublicKey) -> Record:
    """The record in an authentic payload, once the payload is shown to say what it must."""
    # Fast path: when the payload is, byte for byte, the statement this module would write for
    # the valid record it carries, every check below holds. Anything else takes the slow path,
    # which runs the checks one by one to name the first that fails.
    try:
        stmt = orjson.loads(payload)
        if type(stmt) is dict:
            record = stmt.get("predicate")
            prepared = prepare_record(record)
            if (
                prepared is not None
                and prepared["issuer"]["key_id"] == key_id
                and prepared["issuer"]["name"] == key.name
                and dumps_prepared(_statement(prepared)) == payload
            ):
                assert type(record) is dict
                return cast(Record, record)  # valid: prepare_record accepted it
    except (orjson.JSONDecodeError, Unrepresentable):
        pass
    return _check_statement_slowly(payload, key_id, key)


def _check_statement_slowly(payload: bytes, key_id: str, key: PublicKey) -> Record:
    try:
        stmt = loads(payload)
    except RunidError as exc:
        raise _fail(E_STATEMENT, "statement", f"the payload is not JSON: {exc.message}") from None
    if canonicalize(stmt) != payload:
        raise _fail(E_STATEMENT, "statement", "the payload is not canonical JSON (RFC 8785)")
    if type(stmt) is not dict or stmt.keys() != _STATEMENT_KEYS:
        raise _fail(
            E_STATEMENT,
            "statement",
            "must have exactly the members _type, subject, predicateType, predicate",
        )
    if stmt["_type"] != STATEMENT_TYPE:
        raise _fail(E_STATEMENT, "statement", f"_type is not {STATEMENT_TYPE!r}")
    if stmt["predicateType"] != PREDICATE_TYPE:
        raise _fail(E_STATEMENT, "statement", f"predicateType is not {PREDICATE_TYPE!r}")
    record: Any = stmt["predicate"]
    if prepare_record(record) is None:
        found = record_problems(record)
        first = f"/predicate{found[0].pointer}: {found[0].code} {found[0].message}" if found else ""
        if found and all(problem.code == E_EXECUTION_ID for problem in found):
            raise _fail(E_EXECUTION_ID, "execution id", first)
        raise _fail(E_INVALID_RECORD, "record", first or "the predicate is not a valid record")
    issuer = record["issuer"]
    if issuer["key_id"] != key_id or issuer["name"] != key.name:
        raise _fail(
            E_ISSUER,
            "issuer",
            f"the record names issuer {issuer['name']} ({issuer['key_id']}) but is signed by "
            f"{key.name} ({key_id})",
        )
    if stmt["subject"] != _subjects(record):
        raise _fail(
            E_SUBJECT,
            "subject",
            "the subject does not list exactly the execution id and the outputs of the record",
        )
    assert isinstance(record, dict)
    return cast(Record, record)  # valid: prepare_record accepted it


def envelope_bytes(envelope: Mapping[str, Any]) -> bytes:
    """The canonical (JCS) bytes of an envelope: the transparency-log leaf data.

    Raises :class:`~runid.errors.InputError` (``E_ENVELOPE``) for what is not an envelope in
    form; it does not verify the signature (see :func:`verify_envelope`).
    """
    problem = _shape_problem(envelope)
    if problem is not None:
        raise InputError(f"not a runid envelope: {problem}", code=E_ENVELOPE)
    return canonicalize(envelope)


def payload_predicate(envelope: Mapping[str, Any]) -> Any:
    """The predicate (the record) in an envelope's payload, read without any check: for an
    envelope already verified, or to pick out entries that are then verified. The payload is
    read as :func:`verify_envelope` reads it, in the standard or the URL-safe base64 alphabet.
    Raises ``ValueError``, ``KeyError``, ``TypeError`` or ``AttributeError`` on what is not
    such an envelope.

    >>> payload_predicate({"payload": "eyJwcmVkaWNhdGUiOiI/PyJ9"})
    '??'
    >>> payload_predicate({"payload": "eyJwcmVkaWNhdGUiOiI_PyJ9"})  # URL-safe: the same
    '??'
    """
    payload = base64.b64decode(envelope["payload"].translate(_URLSAFE_TO_STANDARD))
    return orjson.loads(payload)["predicate"]


def leaf_hash(envelope: Mapping[str, Any]) -> bytes:
    """The RFC 9162 leaf hash of an envelope: SHA-256(0x00 || :func:`envelope_bytes`)."""
    return _merkle_leaf_hash(envelope_bytes(envelope))
