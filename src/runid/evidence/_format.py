"""The bundle format: its file names, the manifest and its signature, disclosure documents.

Private to :mod:`runid.evidence` (docs/spec.md, "Evidence bundles", is the normative text).
Everything here is pure: bytes and values in, bytes and values out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from .. import canonical
from ..declaration import COMPONENTS
from ..digest import DIGEST_PATTERN
from ..errors import E_BUNDLE, E_SELECTION, InputError, RunidError, VerificationError
from ..identity import Identity, component_digest, compute_identity
from ..keys import SigningKey
from ..note import sign_note

__all__ = [
    "BUNDLE_SPEC",
    "CONSISTENCY",
    "DISCLOSURE_SPEC",
    "LOG_KEY",
    "MANIFEST",
    "OUTPUTS",
    "POLICY_RESULTS",
    "REPORT_HTML",
    "REPORT_PDF",
    "SIGNATURE",
    "Disclose",
    "EvidenceError",
    "VerifiedRun",
    "admin_path",
    "checkpoint_path",
    "client_key_path",
    "content_path",
    "declaration_path",
    "digests_under",
    "disclosure_document",
    "file_kind",
    "instant",
    "load_canonical",
    "manifest_bytes",
    "manifest_note_text",
    "parse_disclose",
    "parse_time",
    "path_problem",
    "run_path",
    "seal",
]

BUNDLE_SPEC: Final = "runid/evidence/v1"
"""The ``bundle`` member of a v1 manifest, and the first line of its signed note."""

DISCLOSURE_SPEC: Final = "runid/disclosure/v1"
"""The ``disclosure`` member of a declaration disclosed in part."""

MANIFEST: Final = "manifest.json"
SIGNATURE: Final = "manifest.sig"
LOG_KEY: Final = "keys/log.vkey"
CONSISTENCY: Final = "checkpoints/consistency.json"
POLICY_RESULTS: Final = "policy/results.json"
REPORT_HTML: Final = "report/report.html"
REPORT_PDF: Final = "report/report.pdf"

OUTPUTS: Final = "outputs"
"""The name that discloses the runs' outputs in ``--disclose`` (not a component)."""

MAX_PATH: Final = 200
"""The longest file name in a bundle, in bytes."""

_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_PATH = re.compile(rf"{_SEGMENT}(/{_SEGMENT})*")
_HEX = "[0-9a-f]{64}"
_NUMBER = "(?:0|[1-9][0-9]{0,18})"
#: Every kind of file a v1 bundle holds, by the pattern of its name.
_KINDS: Final = (
    ("manifest", re.compile(re.escape(MANIFEST))),
    ("signature", re.compile(re.escape(SIGNATURE))),
    ("key", re.compile(re.escape(LOG_KEY))),
    ("client key", re.compile(rf"keys/{_HEX}\.vkey")),
    ("admin envelope", re.compile(rf"admin/{_NUMBER}/envelope\.json")),
    ("admin proof", re.compile(rf"admin/{_NUMBER}/inclusion\.tlog-proof")),
    ("admin action", re.compile(rf"admin/{_NUMBER}/action\.json")),
    ("consistency", re.compile(re.escape(CONSISTENCY))),
    ("checkpoint", re.compile(rf"checkpoints/{_NUMBER}\.note")),
    ("envelope", re.compile(rf"runs/{_NUMBER}/envelope\.json")),
    ("proof", re.compile(rf"runs/{_NUMBER}/inclusion\.tlog-proof")),
    ("declaration", re.compile(rf"declarations/{_HEX}\.json")),
    ("content", re.compile(rf"contents/{_HEX}")),
    ("policy", re.compile(r"policy/policy\.(?:yaml|json)")),
    ("policy results", re.compile(re.escape(POLICY_RESULTS))),
    ("report", re.compile(r"report/report\.(?:html|pdf)")),
    ("export", re.compile(r"exports/(?:intoto\.jsonl|prov\.json|cyclonedx\.json|otlp\.json)")),
)
_DIGEST = re.compile(DIGEST_PATTERN)


@dataclass
class VerifiedRun:
    """One verified run: its entry, record, and what the bundle discloses of its declaration
    (``components`` the eight component digests when known, ``disclosed`` the component values
    disclosed, ``declaration`` the whole declaration when every component is disclosed)."""

    index: int
    record: Mapping[str, Any]
    components: dict[str, str] | None = None
    disclosed: dict[str, Any] = field(default_factory=dict)
    declaration: dict[str, Any] | None = None


class EvidenceError(VerificationError):
    """A bundle that does not verify: ``file`` is the bundle file at fault (``""`` for the
    bundle as a whole), ``check`` the check that failed, ``code`` its stable code."""

    def __init__(
        self, file: str, check: str, message: str, *, code: str, hint: str | None = None
    ) -> None:
        where = f"{file}: " if file else ""
        super().__init__(f"{where}{check}: {message}", hint=hint, code=code)
        self.file = file
        self.check = check
        self.detail = message


def fail(file: str, check: str, message: str, *, code: str = E_BUNDLE) -> EvidenceError:
    """An :class:`EvidenceError` (the bundle's own structure unless ``code`` says otherwise)."""
    return EvidenceError(file, check, message, code=code)


def reraise(file: str, check: str, exc: RunidError) -> EvidenceError:
    """``exc`` (from a core verifier) as the failure of ``check`` on ``file``, same code."""
    return EvidenceError(file, check, exc.message, code=exc.code, hint=exc.hint)


# --- names ----------------------------------------------------------------------------------


def run_path(index: int, name: str) -> str:
    """``runs/<index>/<name>``: ``envelope.json`` or ``inclusion.tlog-proof``."""
    return f"runs/{index}/{name}"


def admin_path(index: int, name: str) -> str:
    """``admin/<index>/<name>``: ``envelope.json``, ``inclusion.tlog-proof`` or
    ``action.json`` of the admin record at entry ``index``."""
    return f"admin/{index}/{name}"


def client_key_path(key_id: str) -> str:
    """``keys/<hex>.vkey``: the verifier key of a client key whose id is ``sha256:<hex>``."""
    return f"keys/{key_id.removeprefix('sha256:')}.vkey"


def declaration_path(declaration_id: str) -> str:
    return f"declarations/{declaration_id.removeprefix('sha256:')}.json"


def content_path(digest: str) -> str:
    return f"contents/{digest.removeprefix('sha256:')}"


def checkpoint_path(size: int) -> str:
    return f"checkpoints/{size}.note"


def path_problem(name: str) -> str | None:
    """Why ``name`` cannot be a bundle file name (None when it can): relative, ``/``-separated
    segments that start with a letter or digit (so no ``..``, no absolute path, no backslash),
    at most :data:`MAX_PATH` bytes."""
    if not isinstance(name, str) or not name:
        return "an empty file name"
    if len(name.encode("utf-8", "replace")) > MAX_PATH:
        return f"a file name longer than {MAX_PATH} bytes"
    if _PATH.fullmatch(name) is None:
        return (
            "not a safe relative file name (letters, digits, '.', '_', '-' in '/'-separated "
            "segments that start with a letter or digit)"
        )
    return None


def file_kind(name: str) -> str | None:
    """The kind of a bundle file by its name (``envelope``, ``content``, ...), or None."""
    for kind, pattern in _KINDS:
        if pattern.fullmatch(name):
            return kind
    return None


# --- the manifest ---------------------------------------------------------------------------


def manifest_bytes(
    files: Mapping[str, bytes],
    *,
    origin: str,
    key_id: str,
    size: int,
    created_at: str,
    selection: Mapping[str, Any],
    counts: Mapping[str, int],
) -> bytes:
    """The manifest's canonical bytes: every file of ``files`` (but the manifest and its
    signature) with its SHA-256 and size, by name."""
    listed = [
        {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for name, data in sorted(files.items())
        if name not in (MANIFEST, SIGNATURE)
    ]
    return canonical.canonicalize(
        {
            "bundle": BUNDLE_SPEC,
            "created_at": created_at,
            "log": {"origin": origin, "key_id": key_id, "size": size},
            "selection": dict(selection),
            "counts": dict(counts),
            "files": listed,
        }
    )


def manifest_note_text(manifest: bytes) -> str:
    """The text the log key signs (a C2SP signed note): the format and the manifest's digest.
    Its second line is not a number and its third not base64, so it is never a checkpoint."""
    return f"{BUNDLE_SPEC}\n{MANIFEST} sha256:{hashlib.sha256(manifest).hexdigest()}\n"


def seal(
    files: dict[str, bytes],
    key: SigningKey,
    *,
    size: int,
    created_at: str,
    selection: Mapping[str, Any],
    counts: Mapping[str, int],
) -> dict[str, bytes]:
    """``files`` with the manifest listing them and its signature by ``key`` (the log's)."""
    sealed = {k: v for k, v in files.items() if k not in (MANIFEST, SIGNATURE)}
    manifest = manifest_bytes(
        sealed,
        origin=key.public_key.name,
        key_id=key.public_key.key_id,
        size=size,
        created_at=created_at,
        selection=selection,
        counts=counts,
    )
    sealed[MANIFEST] = manifest
    sealed[SIGNATURE] = sign_note(manifest_note_text(manifest), [key])
    return sealed


# --- selection ------------------------------------------------------------------------------


def parse_time(text: str, what: str, *, code: str = E_SELECTION) -> datetime:
    """A ``--since`` / ``--until`` (or other ``what``) value: an RFC 3339 date-time (``Z`` or an
    offset; without one, UTC) or a date (its midnight, UTC); ``code`` for a value that is
    neither."""
    value = text.strip()
    try:
        if len(value) == 10:
            parsed = datetime.fromisoformat(value + "T00:00:00")
        else:
            parsed = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{what}: {text!r} is not a date or a date-time",
            code=code,
            hint="use e.g. 2025-03-01 or 2025-03-01T12:00:00Z",
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def instant(timestamp: str) -> datetime:
    """A record's timestamp (RFC 3339, UTC, up to 9 fractional digits) as a datetime (to the
    microsecond; finer digits are cut, which keeps the order of distinct microseconds)."""
    head, _, fraction = timestamp.rstrip("Z").partition(".")
    micro = (fraction + "000000")[:6] if fraction else "000000"
    return datetime.fromisoformat(f"{head}.{micro}+00:00")


# --- disclosure -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Disclose:
    """What a bundle discloses: ``components`` in full (their JSON values, and the contents
    they reference unless ``pointers`` narrows them), and the outputs' contents (``outputs``).

    ``pointers`` maps a component to the JSON Pointers (RFC 6901, inside the declaration) whose
    contents alone are disclosed; a component without an entry discloses all of its contents.
    """

    components: tuple[str, ...]
    outputs: bool
    pointers: Mapping[str, tuple[str, ...]]

    @property
    def everything(self) -> bool:
        return len(self.components) == len(COMPONENTS)

    def to_json(self) -> list[str]:
        items = [c for c in self.components if c not in self.pointers]
        items += [p for c in self.components for p in self.pointers.get(c, ())]
        return [*items, OUTPUTS] if self.outputs else items


def parse_disclose(text: str) -> Disclose:
    """A ``--disclose`` value: ``all``, ``none``, or a comma-separated list of component names,
    ``outputs``, and JSON Pointers into a declaration (``/context/retrieved/0``: the
    component, and only the contents under the pointer)."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if items == ["all"]:
        return Disclose(tuple(sorted(COMPONENTS)), True, {})
    if items in (["none"], []):
        return Disclose((), False, {})
    components: set[str] = set()
    pointers: dict[str, list[str]] = {}
    whole: set[str] = set()
    outputs = False
    for item in items:
        if item == OUTPUTS:
            outputs = True
            continue
        name = item.split("/")[1] if item.startswith("/") else item
        if name not in COMPONENTS:
            raise InputError(
                f"--disclose: {item!r} is not a component, a JSON Pointer into one, "
                f"'{OUTPUTS}', 'all' or 'none'",
                code=E_SELECTION,
                hint="components: " + ", ".join(sorted(COMPONENTS)),
            )
        components.add(name)
        if item.startswith("/") and item != f"/{name}":
            pointers.setdefault(name, []).append(item)
        else:
            whole.add(name)
    narrowed = {c: tuple(p) for c, p in pointers.items() if c not in whole}
    return Disclose(tuple(sorted(components)), outputs, narrowed)


def _resolve_pointer(document: Any, pointer: str) -> Any:
    node = document
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def digests_under(value: Any) -> Iterator[str]:
    """Every digest a JSON value references as content: the ``digest`` member of any object in
    it (content references, artifacts, templates), depth first."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            digest = node.get("digest")
            if isinstance(digest, str) and _DIGEST.fullmatch(digest):
                yield digest
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))


def disclosure_document(
    declaration: Mapping[str, Any], disclose: Disclose, identity: Identity | None = None
) -> tuple[bytes, list[str]]:
    """The bundle file of one declaration, and the content digests it discloses.

    Everything disclosed: the declaration itself (canonical JSON). Less: a disclosure document
    ``{"disclosure", "declaration_id", "components": {name: digest}, "disclosed": {name:
    value}}``, whose component digests prove each disclosed value belongs to the id.
    """
    if identity is None:
        identity = compute_identity(declaration)
    contents: list[str] = []
    for name in disclose.components:
        narrowed = disclose.pointers.get(name)
        scopes = (
            [_resolve_pointer(declaration, p) for p in narrowed]
            if narrowed
            else [declaration[name]]
        )
        for scope in scopes:
            contents.extend(digests_under(scope))
    if disclose.everything:
        return canonical.canonicalize(declaration), list(dict.fromkeys(contents))
    document = {
        "disclosure": DISCLOSURE_SPEC,
        "declaration_id": identity.declaration_id,
        "components": dict(identity.components),
        "disclosed": {name: declaration[name] for name in disclose.components},
    }
    return canonical.canonicalize(document), list(dict.fromkeys(contents))


def load_canonical(data: bytes) -> Any:
    """The JSON value of a bundle file, which must be canonical JSON (§2): parsed fast, then
    written again and compared, which refuses duplicate keys, non-canonical numbers and
    strings, and white space as strictly as the strict reader."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise VerificationError(f"not valid JSON ({exc})") from None
    try:
        again = canonical.canonicalize(value)
    except RunidError as exc:
        raise VerificationError(f"not canonical JSON ({exc.message})") from None
    if again != data:
        raise VerificationError("not canonical JSON (RFC 8785): the bytes differ from the value's")
    return value


def check_disclosed(document: Mapping[str, Any]) -> dict[str, str]:
    """The component digests of a disclosure document, each disclosed value's digest
    recomputed and compared (:class:`~runid.errors.VerificationError` naming the component)."""
    components = document["components"]
    for name, value in document["disclosed"].items():
        try:
            digest = component_digest(name, value)
        except RunidError as exc:
            raise VerificationError(f"component {name}: {exc.message}") from None
        if digest != components[name]:
            raise VerificationError(
                f"component {name}: its value hashes to {digest}, not the listed {components[name]}"
            )
    return dict(components)


def sorted_unique(values: Iterable[str]) -> list[str]:
    return sorted(set(values))


def as_sequence(value: object) -> Sequence[Any]:
    return value if isinstance(value, list) else []
