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
    "declaration_id_from_components",
    "examples",
    "json_schema",
    "loads",
    "problems",
    "tagged_digest",
    "validate",
]

__version__ = "0.1.0"
