"""Execution record v1: one occurrence of a run, bound to its declaration.

A declaration (:mod:`runid.declaration`) says what a run *is*; an execution record says that it
*happened*, once: who ran it (the issuer's key), when, what was observed while it ran (the model
as served, usage, finish reason), how it ended and which outputs it produced (content
references). Its **execution id** is content-derived::

    execution_id = sha256(b"runid:v1:execution" || 0x00 || JCS(record without "execution_id"))

and every record carries a random ``nonce``, so two identical runs at the same instant still get
two ids. The issuer signs the record as a DSSE envelope (:mod:`runid.envelope`). The normative
text is ``docs/spec.md`` ("Execution records"); this module is its executable form.

>>> from runid.digest import content_ref
>>> from runid.keys import SigningKey
>>> key = SigningKey("runid.example/worker", bytes(32))
>>> record = new_record(
...     "sha256:" + "ab" * 32,
...     issuer=key,
...     started_at="2025-03-01T12:00:00.000000Z", ended_at="2025-03-01T12:00:01.250000Z",
...     outputs=[content_ref("Refunds take 5 business days.")],
...     observed={"served_model": "gpt-4o-2024-08-06", "finish_reason": "stop",
...               "usage": {"input_tokens": 812, "output_tokens": 9}},
...     nonce="00112233445566778899aabbccddeeff",
... )
>>> record["execution_id"] == execution_id(record)
True
>>> record["observed"]["system_fingerprint"]
{'absent': 'not_recorded'}
>>> record_problems(record)
[]
>>> record["ended_at"] = "2025-03-01T11:59:59Z"
>>> for problem in record_problems(record):
...     print(problem)  # doctest: +ELLIPSIS
/ended_at: E_RANGE ends before it started (started_at is 2025-03-01T12:00:00.000000Z)
/execution_id: E_EXECUTION_ID does not match the record: its content gives sha256:...
"""

from __future__ import annotations

import calendar
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from ._internal.schema import (
    INVALID,
    Arr,
    Gen,
    Int,
    MapOf,
    Named,
    Node,
    Obj,
    Sink,
    Str,
    compile_normalizer,
    describe,
    field_rows,
    markdown_table,
    pointer,
)
from .canonical import Unrepresentable, canonicalize, dumps_prepared
from .declaration import CONTENT, DIGEST, TEXT, maybe
from .digest import tagged_digest
from .errors import (
    E_EXECUTION_ID,
    E_FORMAT,
    E_INVALID_RECORD,
    E_NOT_JSON,
    E_RANGE,
    E_REQUIRED,
    CanonicalizationError,
    InputError,
    Problem,
)
from .keys import PublicKey, SigningKey
from .wire import Record

__all__ = [
    "EXECUTION_TAG",
    "RECORD_SPEC",
    "execution_id",
    "format_timestamp",
    "is_valid_record",
    "json_schema",
    "new_record",
    "record_problems",
    "reference_markdown",
    "validate_record",
]

RECORD_SPEC = "runid/record/v1"
"""The ``spec`` value of a v1 execution record."""

EXECUTION_TAG = "runid:v1:execution"
"""Digest tag of the execution id (docs/spec.md, section 3)."""

NOT_RECORDED = {"absent": "not_recorded"}
NOT_APPLICABLE = {"absent": "not_applicable"}

KEY_NAME_PATTERN = r"[\x21-\x2a\x2c-\x7e]+"  # as runid.keys: printable ASCII, no space, no '+'
NONCE_PATTERN = "[0-9a-f]{32}"
# Explicit [0-9]: Python's \d would also match other scripts' digits.
TIMESTAMP_PATTERN = (
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?Z"
)
COUNT_NAME_PATTERN = r"[a-z][a-z0-9_.-]*"

# --- schema ---------------------------------------------------------------------------------


def _real_date(text: str) -> bool:
    """True when the date of a timestamp that matched the pattern exists (no 02-30, no year 0)."""
    if text[8:10] <= "28":  # every month has day 28 (the pattern allows days 01-31 only)
        return text[0:4] != "0000"
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    return year >= 1 and day <= calendar.monthrange(year, month)[1]


class _Timestamp(Str):
    """An RFC 3339 timestamp in UTC: the pattern, and a date that exists in the calendar."""

    def check(self, value: Any) -> Any:
        found = super().check(value)
        if found is None and not _real_date(value):
            return [([], E_FORMAT, f"{value!r} is not a date of the calendar")]
        return found

    def fail_expr(self, gen: Gen, var: str) -> str:
        return f"{super().fail_expr(gen, var)} or not {gen.const(_real_date)}({var})"

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        schema = super().json_schema(defs)
        schema["format"] = "date-time"
        return schema


TIMESTAMP = Named(
    "timestamp",
    _Timestamp(
        pattern=TIMESTAMP_PATTERN,
        what="an RFC 3339 UTC timestamp 'YYYY-MM-DDThh:mm:ss[.fraction]Z'",
    ),
    "An RFC 3339 date-time in UTC: 'T' and 'Z' in upper case, 0 to 9 fractional digits, no "
    "offset, no leap second; e.g. '2025-03-01T12:00:01.250000Z'.",
)

COUNT = Int(minimum=0)

USAGE = Obj(
    {
        "input_tokens": maybe(COUNT, "Tokens read (prompt), as the serving side reported."),
        "output_tokens": maybe(COUNT, "Tokens written (completion), as reported."),
        "other": MapOf(
            COUNT,
            key_pattern=COUNT_NAME_PATTERN,
            description="Further counts by name (cached_input_tokens, reasoning_tokens, "
            "total_tokens, ...); {} when none.",
        ),
    },
    description="Token usage as reported by the serving side.",
)

OBSERVED = Obj(
    {
        "served_model": maybe(TEXT, "The model id the serving side says it used."),
        "system_fingerprint": maybe(
            TEXT, "The provider's fingerprint of its serving configuration."
        ),
        "response_id": maybe(TEXT, "The provider's id of the response, for its own logs."),
        "usage": maybe(USAGE, "Token usage as reported by the serving side."),
        "finish_reason": maybe(TEXT, "Why generation stopped, as reported: 'stop', 'length'."),
        "endpoint": Str(
            pattern=r"[a-z][a-z0-9+.-]*://[\x21-\x2e\x30-\x3f\x41-\x7e]+(/[\x21-\x7e]*)?",
            what="a URL without credentials (no user:password@)",
            description="Where the model was reached (base URL): observed, not declared.",
        ),
    },
    optional=("endpoint",),
    description="Facts observed during or after the run; never declared before it.",
)

PARENT = Obj(
    {
        "execution_id": DIGEST,
        "step": Int(minimum=0, description="0-based index of this step within the parent."),
    },
    description="The earlier record this one is a step of.",
)

ERROR = Obj(
    {
        "type": Str(description="Kind of failure, e.g. 'timeout', 'RateLimitError'."),
        "message": maybe(CONTENT, "The error message, by reference."),
    },
    description="What went wrong.",
)

OUTPUTS = Arr(CONTENT, description="Outputs in the order produced; [] when none.")

OUTCOME_OK = Obj({"status": Str(const="ok", description="The run completed."), "outputs": OUTPUTS})
OUTCOME_ERROR = Obj(
    {
        "status": Str(const="error", description="The run failed."),
        "outputs": OUTPUTS,
        "error": ERROR,
    }
)
_STATUS = Str(enum=("ok", "error"))


class _Outcome(Node):
    """``{"status": "ok", "outputs"}`` or ``{"status": "error", "outputs", "error"}``."""

    doc_type = "[outcome](#outcome)"
    description = "How the run ended and what it produced."
    may_change = OUTCOME_OK.may_change or OUTCOME_ERROR.may_change

    def check(self, value: Any) -> Any:
        if type(value) is dict:
            status = value.get("status")
            if status == "error":
                return OUTCOME_ERROR.check(value)
            if "status" in value and status != "ok":
                # The status decides the shape; a wrong one makes other findings noise.
                found = _STATUS.check(status) or []
                return [(["status"], code, message) for _path, code, message in found]
        return OUTCOME_OK.check(value)

    def emit(self, gen: Gen, var: str, sink: Sink, depth: int) -> None:
        with gen.block(f"if type({var}) is dict and {var}.get('status') == 'error':"):
            OUTCOME_ERROR.emit(gen, var, sink, depth)
        with gen.block("else:"):
            OUTCOME_OK.emit(gen, var, sink, depth)

    def json_schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {
            "description": self.description,
            "oneOf": [OUTCOME_OK.json_schema(defs), OUTCOME_ERROR.json_schema(defs)],
        }


OUTCOME = _Outcome()

ISSUER = Obj(
    {
        "name": Str(
            pattern=KEY_NAME_PATTERN,
            what="a key name (printable ASCII without spaces or '+')",
            description="The name of the issuer's signing key.",
        ),
        "key_id": DIGEST,
    },
    description="Who ran it and signs the record: the name and key id of its Ed25519 key.",
)

_FIELDS: dict[str, Node] = {
    "spec": Str(const=RECORD_SPEC, description="The record format version; v1 is frozen."),
    "declaration_id": DIGEST,
    "execution_id": DIGEST,
    "issuer": ISSUER,
    "started_at": TIMESTAMP,
    "ended_at": TIMESTAMP,
    "nonce": Str(
        pattern=NONCE_PATTERN,
        what="32 lowercase hex digits",
        description="128 random bits, new for every occurrence.",
    ),
    "observed": OBSERVED,
    "parent": maybe(PARENT, "The record this one is a step of; not_applicable for a top run."),
    "replay_of": DIGEST,
    "outcome": OUTCOME,
}
# Only a replay (docs/spec.md §18) carries ``replay_of``: optional, so that every record written
# before it existed keeps its bytes, its execution id and its signature.
_OPTIONAL = ("replay_of",)

RECORD = Obj(
    _FIELDS,
    optional=_OPTIONAL,
    description="A runid execution record: one occurrence of a declared run.",
)
_BODY = Obj(
    {name: node for name, node in _FIELDS.items() if name != "execution_id"}, optional=_OPTIONAL
)

# Meanings of fields whose type is shared (a digest) and so has no description of its own.
_MEANINGS = {
    "`declaration_id`": "The declaration id (§5) of the run that occurred.",
    "`execution_id`": "This record's execution id (§12.4).",
    "`issuer.key_id`": "The key id of the issuer's Ed25519 public key.",
    "`parent.execution_id`": "The execution id of the parent record.",
    "`replay_of` (optional)": "Present only on a replay (§18): the execution id of the run "
    "this one re-executed.",
    "`started_at`": "When the run started (the request was sent).",
    "`ended_at`": "When it ended (the last byte of the response); not before started_at.",
}

# Validation and JCS number preparation in one generated pass (runid._internal.schema).
_normalize_record = compile_normalizer(RECORD, name="record")
_normalize_body = compile_normalizer(_BODY, name="record_body")
_PREFIX = EXECUTION_TAG.encode("ascii") + b"\x00"

# --- execution id ---------------------------------------------------------------------------


def _instant(timestamp: str) -> str:
    """A string that sorts like the instant of a valid timestamp (fraction padded to 9)."""
    fraction = timestamp[20:-1] if len(timestamp) > 20 else ""
    return timestamp[:19] + fraction.ljust(9, "0")


def _order_problem(record: Mapping[str, Any]) -> Problem | None:
    started, ended = record["started_at"], record["ended_at"]
    if _instant(ended) < _instant(started):
        return Problem("/ended_at", E_RANGE, f"ends before it started (started_at is {started})")
    return None


def _id_of_prepared(prepared: Mapping[str, Any]) -> str:
    """The execution id of a normalised record (``execution_id`` member, if any, left out)."""
    if "execution_id" in prepared:
        prepared = {k: v for k, v in prepared.items() if k != "execution_id"}
    return tagged_digest(EXECUTION_TAG, dumps_prepared(prepared))


def _body_id(body: object) -> str | None:
    """The execution id of a valid record body, or None when the body is not valid."""
    prepared = _normalize_body(body)
    if prepared is INVALID or _order_problem(prepared) is not None:
        return None
    try:
        return _id_of_prepared(prepared)
    except Unrepresentable:  # a lone surrogate, found by orjson
        return None


def execution_id(record: Mapping[str, Any]) -> str:
    """The execution id of ``record``, computed from its content (its own
    ``execution_id`` member, if present, is ignored).

    Raises :class:`~runid.errors.InputError` (``E_INVALID_RECORD``) when the record without its
    id is not valid: an invalid record has no id.
    """
    body: object = record
    if isinstance(record, Mapping) and "execution_id" in record:
        body = {k: v for k, v in record.items() if k != "execution_id"}
    ident = _body_id(body)
    if ident is None:
        raise _invalid(_problems(body, _BODY))
    return ident


# --- validation -----------------------------------------------------------------------------


def _structure_problems(record: object, node: Obj) -> list[Problem]:
    """The schema's findings, or else what JSON cannot carry canonically."""
    found = node.check(record)
    if found:
        return [Problem(pointer(path), code, message) for path, code, message in found]
    try:
        canonicalize(record)
    except CanonicalizationError as exc:
        return [Problem(exc.pointer, exc.code, exc.message)]
    return []


def _problems(record: object, node: Obj) -> list[Problem]:
    found = _structure_problems(record, node)
    if found:
        return found
    assert isinstance(record, Mapping)  # a structurally valid record is an object
    problem = _order_problem(record)
    return [problem] if problem else []


def record_problems(record: object) -> list[Problem]:
    """Every problem with ``record`` (empty when valid), each with JSON Pointer and stable code.

    Structure first (``E_TYPE``, ``E_REQUIRED``, ``E_FORMAT``, ...), then what JSON cannot carry
    canonically; for a well-formed record, the rules the schema cannot state: ``ended_at`` not
    before ``started_at`` (``E_RANGE``) and ``execution_id`` equal to the id its content gives
    (``E_EXECUTION_ID``).
    """
    found = _structure_problems(record, RECORD)
    if found:
        return found  # the id of a record that is not well-formed means nothing
    assert isinstance(record, Mapping)
    problem = _order_problem(record)
    if problem is not None:
        found.append(problem)
    prepared = _normalize_record(record)
    try:
        expected = _id_of_prepared(prepared)
    except (Unrepresentable, TypeError):  # pragma: no cover - check() and canonicalize() agreed
        return [*found, Problem("", E_NOT_JSON, "the record cannot be canonicalized")]
    if record["execution_id"] != expected:
        found.append(
            Problem(
                "/execution_id",
                E_EXECUTION_ID,
                f"does not match the record: its content gives {expected}",
            )
        )
    return found


def prepare_record(record: object) -> Any:
    """The normalised (JCS-ready) form of a valid record, or None if it has any problem.

    For :mod:`runid.envelope`, which serialises the prepared form with
    :func:`runid.canonical.dumps_prepared`.
    """
    prepared = _normalize_record(record)
    if prepared is INVALID or _order_problem(prepared) is not None:
        return None
    try:
        if prepared["execution_id"] != _id_of_prepared(prepared):
            return None
    except Unrepresentable:  # a lone surrogate, found by orjson
        return None
    return prepared


def is_valid_record(record: object) -> bool:
    """True when :func:`record_problems` finds nothing (fast for a valid record)."""
    return prepare_record(record) is not None


def _invalid(found: Sequence[Problem]) -> InputError:
    if not found:  # pragma: no cover - the fast and the slow path disagree: fail loudly
        found = [Problem("", E_NOT_JSON, "the record was rejected without a reason")]
    count = len(found)
    more = f" (and {count - 1} more)" if count > 1 else ""
    return InputError(
        f"invalid execution record: {found[0]}{more}",
        hint="record_problems() lists every problem; see docs/spec.md, 'Execution records'",
        code=E_INVALID_RECORD,
    )


def validate_record(record: object) -> None:
    """Return None for a valid record; else raise :class:`~runid.errors.InputError` with code
    ``E_INVALID_RECORD`` naming the first problem (:func:`record_problems` lists them all).

    >>> validate_record({"spec": "runid/record/v1"})
    Traceback (most recent call last):
    ...
    runid.errors.InputError: invalid execution record: /declaration_id: E_REQUIRED missing \
required field (and 8 more)
    """
    if not is_valid_record(record):
        raise _invalid(record_problems(record))


# --- building -------------------------------------------------------------------------------


def format_timestamp(moment: datetime) -> str:
    """A timezone-aware datetime as a record timestamp: UTC, microseconds, 'Z'.

    >>> from datetime import datetime, timedelta, timezone
    >>> format_timestamp(datetime(2025, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))))
    '2025-03-01T12:00:00.000000Z'
    """
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise InputError(
            f"a timestamp needs a timezone-aware datetime, got {moment!r}",
            hint="use datetime.now(timezone.utc)",
            code=E_FORMAT,
        )
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _timestamp(value: datetime | str) -> str:
    return format_timestamp(value) if isinstance(value, datetime) else value


def _observed(observed: Mapping[str, Any] | None) -> dict[str, Any]:
    given = dict(observed or {})
    usage = given.get("usage")
    if isinstance(usage, Mapping) and "absent" not in usage:
        given["usage"] = {
            "input_tokens": NOT_RECORDED,
            "output_tokens": NOT_RECORDED,
            "other": {},
            **usage,
        }
    return {name: NOT_RECORDED for name in OBSERVED.required} | given


def new_record(
    declaration_id: str,
    *,
    issuer: SigningKey | PublicKey,
    started_at: datetime | str,
    ended_at: datetime | str,
    outputs: Iterable[Mapping[str, Any]] = (),
    error: Mapping[str, Any] | None = None,
    observed: Mapping[str, Any] | None = None,
    parent: str | None = None,
    step: int | None = None,
    nonce: str | None = None,
    replay_of: str | None = None,
) -> Record:
    """Build a valid record with a fresh nonce and its execution id.

    ``outputs`` are content references (:func:`runid.digest.content_ref`). ``error`` (a mapping
    with ``type`` and optionally ``message``, a content reference) makes the status ``error``.
    ``observed`` holds any of ``served_model``, ``system_fingerprint``, ``response_id``,
    ``usage`` (``input_tokens``, ``output_tokens``, ``other``), ``finish_reason`` (whatever is
    left out is ``{"absent": "not_recorded"}``) and ``endpoint`` (optional). ``parent`` and
    ``step`` go together: the execution id of the record this one is a step of, and its index.
    ``nonce`` is for reproducible tests only; by default 16 fresh random bytes.
    ``replay_of`` (only for a replay, docs/spec.md §18) is the execution id of the run this one
    re-executed; left out, the record has no ``replay_of`` member.

    Raises :class:`~runid.errors.InputError`: ``E_INVALID_RECORD`` (naming every problem) for
    anything that does not make a valid record, ``E_REQUIRED`` for a parent without a step or
    the reverse, ``E_FORMAT`` for a naive datetime.
    """
    if (parent is None) != (step is None):
        raise InputError(
            "parent and step go together: give both, or neither",
            hint="step is the 0-based index of this record within its parent",
            code=E_REQUIRED,
        )
    public = issuer.public_key if isinstance(issuer, SigningKey) else issuer
    outcome: dict[str, Any] = {"status": "ok", "outputs": list(outputs)}
    if error is not None:
        outcome["status"] = "error"
        outcome["error"] = {"message": NOT_RECORDED, **error}
    body: dict[str, Any] = {
        "spec": RECORD_SPEC,
        "declaration_id": declaration_id,
        "issuer": {"name": public.name, "key_id": public.key_id},
        "started_at": _timestamp(started_at),
        "ended_at": _timestamp(ended_at),
        "nonce": secrets.token_hex(16) if nonce is None else nonce,
        "observed": _observed(observed),
        "parent": NOT_APPLICABLE if parent is None else {"execution_id": parent, "step": step},
        "outcome": outcome,
    }
    if replay_of is not None:
        body["replay_of"] = replay_of
    ident = _body_id(body)
    if ident is None:
        raise _invalid(_problems(body, _BODY))
    return cast(Record, {"spec": RECORD_SPEC, "execution_id": ident, **body})  # valid: _body_id


# --- documentation --------------------------------------------------------------------------


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a v1 execution record, generated from this module.

    It checks structure only: ``ended_at`` not before ``started_at`` and the execution id are
    rules of :func:`record_problems`.
    """
    defs: dict[str, Any] = {}
    body = RECORD.json_schema(defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://runid.dev/schema/record-v1.schema.json",
        "title": "runid execution record v1",
        **body,
        "$defs": dict(sorted(defs.items())),
    }


def _rows(node: Node, prefix: str = "") -> list[tuple[str, str, str]]:
    return [
        (path, kind, _MEANINGS.get(path, meaning))
        for path, kind, meaning in field_rows(node, prefix)
    ]


def reference_markdown() -> str:
    """The field reference of the record (docs/spec.md), generated from this module."""
    parts = ["#### record\n", RECORD.description + "\n", markdown_table(_rows(RECORD)) + "\n"]
    parts += ["#### outcome\n", OUTCOME.description + " Two shapes, told apart by `status`:\n"]
    rows = _rows(OUTCOME_ERROR, "outcome.")
    rows[0] = (
        "`outcome.status`",
        describe(_STATUS),
        "`ok`: the run completed; `error`: it failed.",
    )
    parts.append(markdown_table(rows) + "\n")
    parts.append(
        "`error` is present exactly when `status` is `error`; a record with status `ok` has "
        "only `status` and `outputs`. Both shapes carry `outputs` (a failed run may leave "
        "partial outputs).\n"
    )
    parts += ["#### timestamp\n", TIMESTAMP.description + "\n", describe(TIMESTAMP.node) + "\n"]
    return "\n".join(parts)
