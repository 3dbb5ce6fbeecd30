"""runid: verifiable identity for AI runs.

The declaration of a run (model as served, instructions, effective parameters, inputs,
retrieval context, tools, runtime, constraints) gets an identity that is a pure function of it:

>>> import runid
>>> decl = runid.examples.example("chat-hosted-model")
>>> ident = runid.compute_identity(decl)
>>> decl["parameters"]["temperature"]["value"] = 0.7
>>> runid.compute_identity(decl).declaration_id != ident.declaration_id
True
"""

from typing import TYPE_CHECKING, Any

from . import examples
from .canonical import canonicalize, loads
from .declaration import SPEC_VERSION, json_schema, problems, validate
from .digest import content_digest, content_ref, tagged_digest
from .errors import (
    CanonicalizationError,
    DeclarationError,
    FileAccessError,
    InputError,
    JSONSyntaxError,
    LimitExceededError,
    Problem,
    RunidError,
    VerificationError,
)
from .identity import Identity, compute_identity, declaration_id_from_components

__all__ = [
    "SPEC_VERSION",
    "CanonicalizationError",
    "DeclarationError",
    "FileAccessError",
    "Identity",
    "InputError",
    "JSONSyntaxError",
    "LimitExceededError",
    "Problem",
    "RunidError",
    "VerificationError",
    "canonicalize",
    "compute_identity",
    "content_digest",
    "content_ref",
    "context",
    "declaration_id_from_components",
    "examples",
    "instrument",
    "instrumented",
    "json_schema",
    "last_run",
    "loads",
    "problems",
    "tagged_digest",
    "uninstrument",
    "validate",
]

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .integrations.instrument import context, instrument, instrumented, last_run, uninstrument

#: Recording an existing app in one line (runid.integrations.instrument), imported on first use
#: so that ``import runid`` stays the core.
_INSTRUMENT = frozenset({"context", "instrument", "instrumented", "last_run", "uninstrument"})


def __getattr__(name: str) -> Any:
    if name in _INSTRUMENT:
        from .integrations import instrument as module

        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'runid' has no attribute {name!r}")
