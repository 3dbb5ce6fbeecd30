"""Declaration identity: a pure function of the declared composition.

``component digest = sha256(b"runid:v1:component:" + name + b"\\x00" + JCS(component))``

``declaration id  = sha256(b"runid:v1:declaration\\x00" + JCS({name: component digest, ...}))``

The id is a one-level Merkle tree over the eight components, so two declarations compare
component by component from digests alone, and one component can be disclosed and proven
without the others (give its JCS bytes plus the seven other digests).

>>> from runid.identity import compute_identity
>>> from runid.examples import minimal_declaration
>>> ident = compute_identity(minimal_declaration())
>>> ident.declaration_id.startswith("sha256:"), sorted(ident.components)[0]
(True, 'constraints')
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from ._internal.schema import INVALID
from .canonical import Unrepresentable, canonicalize, dumps_prepared
from .declaration import ABSENCE_REASONS, COMPONENTS, SPEC_VERSION, normalize, problems
from .digest import DIGEST_PATTERN, tagged_digest
from .errors import (
    E_COMPONENTS,
    E_FORMAT,
    E_NOT_JSON,
    CanonicalizationError,
    DeclarationError,
    Problem,
)

__all__ = [
    "DECLARATION_TAG",
    "Identity",
    "component_digest",
    "compute_identity",
    "declaration_id_from_components",
    "identity_and_canonical",
]

DECLARATION_TAG = "runid:v1:declaration"
COMPONENT_TAG_PREFIX = "runid:v1:component:"
_SORTED = tuple(sorted(COMPONENTS))
_DIGEST_RE = re.compile(DIGEST_PATTERN)
_TAGS = {name: COMPONENT_TAG_PREFIX + name for name in COMPONENTS}
# The hot path: per component the bytes "tag || 0x00" (with OpenSSL 3, a new SHA-256 over
# prefix + payload costs fewer instructions than copying a pre-fed state), and the digests of
# the absence markers, which are constants.
_sha256 = hashlib.sha256
_PREFIXES = {name: tag.encode("ascii") + b"\x00" for name, tag in _TAGS.items()}
_ABSENT_JCS = {reason: b'{"absent":"' + reason.encode() + b'"}' for reason in ABSENCE_REASONS}
_ABSENT_DIGESTS = {
    (name, reason): tagged_digest(_TAGS[name], _ABSENT_JCS[reason])
    for name in COMPONENTS
    for reason in ABSENCE_REASONS
}


class Identity(NamedTuple):
    """The identity of one declaration: its id and the digest of each component."""

    declaration_id: str
    components: Mapping[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"declaration_id": self.declaration_id, "components": dict(self.components)}


def component_digest(name: str, value: object) -> str:
    """Digest of one component's value (already validated)."""
    return tagged_digest(_TAGS[name], canonicalize(value))


def declaration_id_from_components(components: Mapping[str, str]) -> str:
    """The declaration id from the eight component digests (e.g. from a disclosed proof)."""
    found = [
        Problem(f"/{name}", E_FORMAT, "not a digest 'sha256:' + 64 lowercase hex digits")
        for name, value in components.items()
        if name in _TAGS and _DIGEST_RE.fullmatch(str(value)) is None
    ]
    if set(components) != set(COMPONENTS):
        names = ", ".join(_SORTED)
        found.insert(0, Problem("", E_COMPONENTS, f"need exactly the components {names}"))
    if found:
        raise DeclarationError(found)
    return _id_of(components)


# The component map's JCS form, written directly: the keys are fixed ASCII names in sorted order
# and the values are validated digest strings, so no escaping can occur.
_MAP_TEMPLATE = "{" + ",".join(f'"{name}":"%s"' for name in _SORTED) + "}"
_DECLARATION_PREFIX = DECLARATION_TAG + "\x00"


def _id_of(digests: Mapping[str, str]) -> str:
    text = _DECLARATION_PREFIX + _MAP_TEMPLATE % tuple([digests[name] for name in _SORTED])
    return "sha256:" + _sha256(text.encode("ascii")).hexdigest()


def compute_identity(declaration: object) -> Identity:
    """Validate ``declaration`` and compute its identity.

    Raises :class:`DeclarationError` (every structural problem, with JSON Pointers) or
    :class:`CanonicalizationError` (a value JSON cannot carry canonically, with its pointer);
    an invalid declaration gets no identity.
    """
    return _compute(declaration, None)


# A valid declaration has exactly these members (the schema rejects others and requires all),
# and "spec" is the constant SPEC_VERSION: its JCS form is the members' JCS forms in this order.
_MEMBERS = tuple(sorted((*COMPONENTS, "spec")))
_MEMBER_KEYS = {name: b'"' + name.encode("ascii") + b'":' for name in _MEMBERS}
_SPEC_JCS = canonicalize(SPEC_VERSION)


def identity_and_canonical(declaration: object) -> tuple[Identity, bytes]:
    """:func:`compute_identity`, plus the declaration's canonical bytes (``canonicalize``'s
    result), put together from the components' bytes the id was computed from: no second walk
    or serialisation. For capture, which stores those bytes as the declaration's blob.

    >>> from runid.canonical import canonicalize
    >>> from runid.examples import minimal_declaration
    >>> declaration = minimal_declaration()
    >>> ident, data = identity_and_canonical(declaration)
    >>> ident == compute_identity(declaration), data == canonicalize(declaration)
    (True, True)
    """
    parts: dict[str, bytes] = {"spec": _SPEC_JCS}
    identity = _compute(declaration, parts)
    return identity, b"{" + b",".join([_MEMBER_KEYS[n] + parts[n] for n in _MEMBERS]) + b"}"


def _compute(declaration: object, parts: dict[str, bytes] | None) -> Identity:
    """The identity; with ``parts``, each component's JCS bytes are put there by name."""
    prepared = normalize(declaration)  # validated, floats in JCS form, in one generated pass
    digests: dict[str, str] = {}
    if prepared is not INVALID:
        try:
            for name in _SORTED:
                value = prepared[name]
                if len(value) == 1 and "absent" in value:  # every component is a dict here
                    reason = value["absent"]
                    digests[name] = _ABSENT_DIGESTS[name, reason]
                    if parts is not None:
                        parts[name] = _ABSENT_JCS[reason]
                    continue
                data = dumps_prepared(value)
                if parts is not None:
                    parts[name] = data
                digests[name] = "sha256:" + _sha256(_PREFIXES[name] + data).hexdigest()
            return Identity(declaration_id=_id_of(digests), components=digests)
        except Unrepresentable:
            pass  # a lone surrogate, found by orjson: the slow path below names it
    found = problems(declaration)
    if found:
        raise DeclarationError(found)
    assert isinstance(declaration, dict)  # a structurally valid declaration is a dict
    for name in _SORTED:
        try:
            canonicalize(declaration[name])
        except CanonicalizationError as exc:
            raise _in_component(exc, name) from None
    # Unreachable unless the fast and the slow path disagree: fail closed, loudly.
    raise CanonicalizationError(  # pragma: no cover
        "internal error: the declaration was rejected without a reason", code=E_NOT_JSON
    )


def _in_component(exc: CanonicalizationError, name: str) -> CanonicalizationError:
    """The same error with its pointer made absolute (it was relative to the component)."""
    pointer = f"/{name}{exc.pointer}"
    message = exc.message.replace(f" at {exc.pointer or 'the root'}", f" at {pointer}", 1)
    if pointer not in message:
        message = f"{message} (at {pointer})"
    return CanonicalizationError(message, pointer=pointer, hint=exc.hint, code=exc.code)
