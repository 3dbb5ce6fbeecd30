"""Privacy for capture: secrets never stored, content stored, withheld, or indexed by a key.

Two separate concerns live here.

**Secrets** (API keys, ``Authorization``, ``api-key``, ``x-api-key``, cookies, passwords,
tokens) are not conditions of a run: they must never reach a declaration, a digest, a blob, a
record, a receipt, a sidecar or a warning. :func:`scrub` drops them from a request mapping
(recursively, including header lists of pairs) *before* anything else sees it; capture only
ever hands the scrubbed mapping on. :func:`credentials_of` collects what an API client object
holds (its key, credential headers, an Azure AD token), so that a text echoing one (a 401
"Incorrect API key provided: ...") is not stored either. Text runid stores about a run that
the caller did not produce (error messages) also goes through :func:`redact`, which replaces
values that look like credentials (``sk-...``, ``Bearer ...``, JWTs, well-known token
prefixes) even when runid was never given them.

>>> scrub({"model": "m", "api_key": "sk-live", "headers": {"Authorization": "Bearer x",
...        "Accept": "application/json"}, "max_tokens": 5})
{'model': 'm', 'headers': {'Accept': 'application/json'}, 'max_tokens': 5}
>>> scrub({"extra_headers": [("X-Api-Key", "k"), ("User-Agent", "ua")]})
{'extra_headers': [('User-Agent', 'ua')]}

**Content** (prompts, messages, outputs) is referenced by its digest in declarations and
records (docs/spec.md §4.2); what happens to the bytes is a :class:`Privacy` mode:

* ``store`` (default): the bytes go to the log's content-addressed blob store.
* ``digests-only``: no content is stored at all; the signed record and the declaration
  skeleton (digests, parameters) are all that is kept.
* ``keyed``: no content is stored either, and the declaration is not kept in the blob store
  (its plain SHA-256 digests of short texts can be guessed by hashing candidates). Instead a
  local index (``<home>/keyed/index.jsonl``, mode 0600, written by
  :meth:`runid.home.Home.append_keyed_index`) lists, for every content, its
  ``hmac-sha256:<key id>:<hex>`` digest under an organisation key, its size and media type.
  Only the key holder can test whether a candidate text was used. The v1 declaration and
  record formats accept only ``sha256:<hex>`` digests, so the plain digests inside the signed
  record (outputs) are unchanged: keyed mode governs what runid *stores and publishes*, not
  the identity. Keyed digests inside declarations need a v2 content reference.
* ``salted``: every content is committed as a **salted blob** (docs/spec.md §20.6,
  :func:`runid.evidence.salted_content`): the references in the declaration and the record's
  outputs name the blob, which is stored, and whose 16-byte salt is derived from the content
  under an organisation key (HMAC-SHA256), so equal contents get equal references and a
  declaration's id stays the same run after run. The plain digest of a content is then nowhere
  in the log: without the blob, a guess cannot be tested (only the key holder can), and erasing
  the blob (``runid log erase``) leaves nothing that gives the content away, however short.

>>> p = Privacy("keyed", hmac_key=b"k" * 32, hmac_key_id="acme-2026")
>>> p.keyed_digest(b"yes")[:30]
'hmac-sha256:acme-2026:6950b57a'
>>> p  # the key is never shown
Privacy(mode='keyed', hmac_key_id='acme-2026')
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any, Literal, get_args

from .digest import ContentRef, content_ref
from .errors import InputError

__all__ = [
    "REDACTED",
    "SECRET_NAMES",
    "Mode",
    "Privacy",
    "contains_secret",
    "credentials_of",
    "is_secret_name",
    "looks_like_credential",
    "redact",
    "scrub",
    "scrub_collect",
]

Mode = Literal["store", "digests-only", "keyed", "salted"]
MODES: tuple[str, ...] = get_args(Mode)

# Names are compared after splitting camelCase, lower-casing and mapping '-' to '_' (HTTP
# headers, Python kwargs and JSON spell the same thing three ways: "X-Api-Key" / "x_api_key" /
# "xApiKey"), as whole names, then word by word (see _secret_key).
SECRET_NAMES = frozenset(
    {
        "api_key",
        "apikey",
        "x_api_key",
        "x_goog_api_key",
        "ocp_apim_subscription_key",
        "authorization",
        "proxy_authorization",
        "auth",
        "bearer",
        "cookie",
        "cookies",
        "set_cookie",
        "password",
        "passwd",
        "passphrase",
        "secret",
        "client_secret",
        "secret_key",
        "access_key",
        "client_key",
        "private_key",
        "credential",
        "credentials",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "auth_token",
        "session",
        "session_token",
        "bearer_token",
        "api_token",
        "hf_token",
        "x_auth_token",
        "private_token",
        "azure_ad_token",
        "jwt",
        "github_pat",
        "aws_secret_access_key",
        "aws_session_token",
    }
)
# A name holding one of these words names a secret wherever the word stands
# (client_secret_value, x_custom_auth, db_password, oauth_client, jwt_assertion).
_SECRET_WORDS = frozenset(
    {
        "apikey",
        "auth",
        "authorization",
        "bearer",
        "cookie",
        "cookies",
        "credential",
        "credentials",
        "jwt",
        "oauth",
        "passphrase",
        "passwd",
        "password",
        "secret",
        "secrets",
    }
)
# ..._key is a secret after one of these words (api_key, secret_key, access_key, client_key,
# signing_key), not otherwise (sort_key, cache_key, idempotency_key are parameters or
# bookkeeping).
_KEY_QUALIFIERS = frozenset(
    {
        "access",
        "account",
        "admin",
        "api",
        "app",
        "client",
        "encryption",
        "hmac",
        "license",
        "master",
        "private",
        "secret",
        "session",
        "signing",
        "ssh",
        "subscription",
    }
)
# ..._token is a secret (access_token, hf_token, private_token) unless it names a tokenizer's
# special token, which is a model condition: pad_token, eos_token, ... "_tokens" never is:
# max_tokens, total_tokens are parameters and counters.
_TOKENIZER_TOKENS = frozenset(
    {
        "bos",
        "cls",
        "end",
        "eos",
        "eot",
        "image",
        "mask",
        "pad",
        "sep",
        "special",
        "start",
        "stop",
        "unk",
    }
)
# ..._session, ..._pat (a personal access token: github_pat, gitlab_pat) are secrets.
_SECRET_LAST_WORDS = frozenset({"session", "pat"})
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_HMAC_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_KEYED_MODES = ("keyed", "salted")  # the modes that need an organisation key
_REF_KEYS = {"digest", "size", "media_type"}  # a content reference (docs/spec.md §4.2)


def is_secret_name(name: object) -> bool:
    """True when a mapping key or header name names a secret.

    >>> is_secret_name("X-API-Key"), is_secret_name("OPENAI_API_KEY"), is_secret_name("max_tokens")
    (True, True, False)
    >>> is_secret_name("azure_ad_token"), is_secret_name("github_pat"), is_secret_name("eos_token")
    (True, True, False)
    """
    if not isinstance(name, str):
        return False
    return _secret_key(name)


@functools.lru_cache(maxsize=4096)
def _secret_key(name: str) -> bool:
    # Cached: capture scrubs every declaration, and the same few key names recur in each.
    key = _CAMEL.sub("_", name.strip()).lower().replace("-", "_")
    if key in SECRET_NAMES:
        return True
    words = [word for word in re.split(r"[^a-z0-9]+", key) if word]
    if not words:
        return False
    last = words[-1]
    if any(word in _SECRET_WORDS for word in words) or last in _SECRET_LAST_WORDS:
        return True
    if last == "token":
        return len(words) == 1 or words[-2] not in _TOKENIZER_TOKENS
    return last == "key" and len(words) > 1 and words[-2] in _KEY_QUALIFIERS


# --- values that look like credentials ---------------------------------------------------------

REDACTED = "[REDACTED]"
"""What :func:`redact` puts where a credential-looking value was."""

_CREDENTIAL = re.compile(
    # An HTTP credential after its scheme: "Bearer <token>", "Basic <base64>" (with a digit or
    # punctuation in it, as tokens have and words such as "Bearer authentication" do not).
    r"(?i:\b(?:bearer|basic)\s+)(?=[A-Za-z]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{8,}"
    # OpenAI-style secret keys: sk-..., sk-proj-..., sk-ant-...
    r"|(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{16,}"
    # A JSON Web Token: three base64url parts, the first a JSON object ({"... is eyJ).
    r"|eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
    # Well-known token prefixes: GitHub, GitLab, Slack, Hugging Face, AWS key ids, Google keys.
    r"|(?<![A-Za-z0-9_-])(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|glpat-[A-Za-z0-9_-]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}|hf_[A-Za-z0-9]{20,}"
    r"|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35})"
)


def looks_like_credential(text: str) -> bool:
    """True when ``text`` holds a value shaped like a credential (see :func:`redact`).

    >>> looks_like_credential("Bearer eyJhbGciOi.eyJzdWIi.c2ln"), looks_like_credential("top_k")
    (True, False)
    """
    return _CREDENTIAL.search(text) is not None


def redact(text: str) -> str:
    """``text`` with every value that looks like a credential replaced by :data:`REDACTED`:
    ``sk-...`` keys, ``Bearer``/``Basic`` credentials, JSON Web Tokens, and GitHub, GitLab,
    Slack, Hugging Face, AWS and Google key formats. For texts runid stores but the caller did
    not produce (error messages); the secrets a run knows are checked separately
    (:func:`contains_secret`).

    >>> redact("401: Incorrect API key provided: sk-proj-abcdefghijklmnop1234")
    '401: Incorrect API key provided: [REDACTED]'
    >>> redact("Authorization: Bearer abc.def-ghi_jkl rejected")
    'Authorization: Bearer [REDACTED] rejected'
    """
    if not _CREDENTIAL.search(text):
        return text
    return _CREDENTIAL.sub(_redacted, text)


def _redacted(match: re.Match[str]) -> str:
    found = match.group()
    scheme = re.match(r"(?i)(bearer|basic)\s+", found)
    return (scheme.group() if scheme else "") + REDACTED


# --- what an API client holds ------------------------------------------------------------------

# Attributes of client objects (openai.OpenAI, AzureOpenAI and clients shaped like them) that
# hold a credential. Read with getattr only: nothing is called (a token provider may do I/O).
_CLIENT_CREDENTIALS = (
    "api_key",
    "admin_api_key",
    "azure_ad_token",
    "_azure_ad_token",
    "webhook_secret",
)
# Attributes holding the headers a client sends with every request.
_CLIENT_HEADERS = ("default_headers", "_custom_headers")


def credentials_of(client: object, request: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The credentials ``client`` holds and ``request`` carries, as ``{"credentials": [...]}``.

    For capture's ``request=``: every value in it is secret-named, so the run drops all of
    them and remembers them, and a text that echoes one (an error such as "Incorrect API key
    provided: ...") is never stored. Collected: the client's API key, admin key, Azure AD
    token and webhook secret; its default headers whose name names a secret or whose value
    looks like a credential; the same for the request's ``extra_headers``, and the request's
    own secret-named fields. Attributes are read, never called.

    >>> class Client:
    ...     api_key = "k-123"
    ...     default_headers = {"Accept": "json", "X-Api-Key": "k-456"}
    >>> credentials_of(Client(), {"model": "m", "extra_headers": {"Authorization": "Bearer t"}})
    {'credentials': ['k-123', 'k-456', 'Bearer t']}
    """
    found: list[Any] = []
    for attribute in _CLIENT_CREDENTIALS:
        value = _attribute(client, attribute)
        if isinstance(value, str) and value and value not in found:
            found.append(value)
    headers: list[Any] = [_attribute(client, attribute) for attribute in _CLIENT_HEADERS]
    if request is not None:
        headers.append(request.get("extra_headers"))
        found += [value for name, value in request.items() if is_secret_name(name)]
    for group in headers:
        pairs = group.items() if isinstance(group, Mapping) else ()
        for name, value in pairs:
            if not isinstance(value, str) or not value or value in found:
                continue
            if is_secret_name(name) or looks_like_credential(value):
                found.append(value)
    return {"credentials": found}


def _attribute(client: object, name: str) -> Any:
    try:
        return getattr(client, name, None)
    except Exception:  # a property that fails is not a credential we can see
        return None


_SCALARS = (str, int, float, bool, type(None))


def _scrub(value: Any, found: list[str]) -> Any:
    if type(value) in _SCALARS:  # most leaves: skip the slower ABC checks below
        return value
    if type(value) is dict or isinstance(value, Mapping):
        kept: dict[Any, Any] = {}
        for key, item in value.items():
            if is_secret_name(key):
                _collect(item, found)
            else:
                kept[key] = _scrub(item, found)
        return kept
    if isinstance(value, list | tuple):
        items = []
        for item in value:
            # Header lists: [("Authorization", "Bearer ..."), ...]
            if isinstance(item, list | tuple) and len(item) == 2 and is_secret_name(item[0]):
                _collect(item[1], found)
                continue
            items.append(_scrub(item, found))
        return type(value)(items) if isinstance(value, tuple) else items
    return value


# The hot path: capture scrubs every declaration (~100 values). Exact dicts and lists are walked
# with their leaves checked inline and key names looked up in a plain dict (no call per leaf);
# anything else goes through _scrub, so the result is the same as _scrub's.
_NAMES: dict[str, bool] = {}
_NAMES_MAX = 4096


def _secret_str(key: str) -> bool:
    secret = _secret_key(key)
    if len(_NAMES) >= _NAMES_MAX:
        _NAMES.clear()
    _NAMES[key] = secret
    return secret


def _scrub_dict(value: dict[Any, Any], found: list[str]) -> dict[Any, Any]:
    kept: dict[Any, Any] = {}
    for key, item in value.items():
        secret = _NAMES.get(key)  # only str keys are stored; other keys fall through
        if secret is None:
            secret = _secret_str(key) if type(key) is str else is_secret_name(key)
        if secret:
            _collect(item, found)
            continue
        t = type(item)
        if t is str:
            kept[key] = item
        elif t is dict:
            kept[key] = _scrub_dict(item, found)
        elif t is int or t is float or t is bool or item is None:
            kept[key] = item
        elif t is list:
            kept[key] = _scrub_list(item, found)
        else:
            kept[key] = _scrub(item, found)
    return kept


def _scrub_list(value: list[Any], found: list[str]) -> list[Any]:
    items: list[Any] = []
    for item in value:
        t = type(item)
        if t is str or t is int or t is float or t is bool or item is None:
            items.append(item)
        elif t is dict:
            items.append(_scrub_dict(item, found))
        else:
            if isinstance(item, list | tuple) and len(item) == 2 and is_secret_name(item[0]):
                _collect(item[1], found)
                continue
            items.append(_scrub(item, found))
    return items


def _collect(value: Any, found: list[str]) -> None:
    """Remember dropped secret strings, so capture can refuse to record text containing them."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        found.append(value)
        if " " in value:  # "Bearer sk-..." -> also the credential alone
            found.append(value.split(" ", 1)[1])
    elif isinstance(value, Mapping):
        for item in value.values():
            _collect(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, found)


def scrub(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``mapping`` without secrets, at any depth (see :func:`is_secret_name`)."""
    return scrub_collect(mapping)[0]


def scrub_collect(mapping: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """:func:`scrub`, plus the secret strings that were dropped (kept in memory only).

    >>> scrub_collect({"api_key": "sk-1", "n": 1})
    ({'n': 1}, ['sk-1'])
    """
    found: list[str] = []
    clean = _scrub_dict(mapping, found) if type(mapping) is dict else _scrub(mapping, found)
    return clean, [secret for secret in found if secret]


def contains_secret(text: str | bytes, secrets: list[str]) -> bool:
    """True when ``text`` contains one of the dropped secrets (4 characters or more)."""
    if not secrets:
        return False
    raw = text.encode("utf-8", "replace") if isinstance(text, str) else text
    return any(len(s) >= 4 and s.encode("utf-8", "replace") in raw for s in secrets)


class Privacy:
    """What capture does with content bytes: ``store``, ``digests-only``, ``keyed`` or
    ``salted``."""

    __slots__ = ("_key", "hmac_key_id", "mode")

    def __init__(
        self,
        mode: Mode = "store",
        *,
        hmac_key: bytes | None = None,
        hmac_key_id: str | None = None,
    ) -> None:
        if mode not in MODES:
            raise InputError(
                f"unknown privacy mode {mode!r}", hint=f"use one of {', '.join(MODES)}"
            )
        if mode in _KEYED_MODES:
            if not hmac_key or len(hmac_key) < 16 or hmac_key_id is None:
                raise InputError(
                    f"{mode} privacy needs an organisation key of 16 bytes or more and its key id",
                    hint=f"Privacy({mode!r}, hmac_key=os.urandom(32), hmac_key_id='org-2026')",
                )
            if not _HMAC_KEY_ID.fullmatch(hmac_key_id):
                raise InputError(
                    f"hmac key id {hmac_key_id!r} must match [A-Za-z0-9._-]{{1,64}}",
                    hint="the key id is written into every keyed digest",
                )
        self.mode: Mode = mode
        self._key = hmac_key if mode in _KEYED_MODES else None
        self.hmac_key_id = hmac_key_id if mode in _KEYED_MODES else None

    def __repr__(self) -> str:
        if self.mode in _KEYED_MODES:
            return f"Privacy(mode={self.mode!r}, hmac_key_id={self.hmac_key_id!r})"
        return f"Privacy(mode={self.mode!r})"

    @property
    def stores_content(self) -> bool:
        """True when content bytes go to the blob store as they are (``salted`` stores them
        inside salted blobs: :meth:`salted`)."""
        return self.mode == "store"

    @property
    def stores_declaration(self) -> bool:
        """True when the declaration (a skeleton of digests) goes to the blob store."""
        return self.mode != "keyed"

    def salted(self, data: bytes, media_type: str) -> tuple[ContentRef, bytes]:
        """The reference and the salted blob that commit ``data`` (``salted`` mode): the salt
        is the first 16 bytes of HMAC-SHA256 under the organisation key of the media type and
        the content, so the same content gets the same blob."""
        if self.mode != "salted" or self._key is None:
            raise InputError("salted contents need Privacy('salted', ...)")
        from .evidence import salted_content  # only in this mode: the evidence package is big

        message = b"runid/salted/v1 salt\n" + media_type.encode("utf-8") + b"\n" + data
        salt = hmac.new(self._key, message, hashlib.sha256).digest()[:16]
        return salted_content(data, media_type, salt=salt)

    def salt_declaration(
        self, declaration: Mapping[str, Any], contents: list[bytes]
    ) -> tuple[dict[str, Any], list[bytes]]:
        """``declaration`` with every content reference to one of ``contents`` replaced by the
        reference to its salted blob (:meth:`salted`), and those blobs, in order (``salted``
        mode). References to other digests are kept as they are."""
        plain = {content_ref(data)["digest"]: data for data in contents}
        blobs: dict[str, bytes] = {}

        def walk(value: Any) -> Any:
            if isinstance(value, Mapping):
                digest = value.get("digest")
                if set(value) == _REF_KEYS and isinstance(digest, str) and digest in plain:
                    ref, blob = self.salted(plain[digest], str(value["media_type"]))
                    blobs.setdefault(ref["digest"], blob)
                    return dict(ref)
                return {key: walk(item) for key, item in value.items()}
            if isinstance(value, list):
                return [walk(item) for item in value]
            return value

        return walk(declaration), list(blobs.values())

    def keyed_digest(self, data: bytes) -> str:
        """``hmac-sha256:<key id>:<hex>`` of ``data`` under the organisation key."""
        if self.mode != "keyed" or self._key is None or self.hmac_key_id is None:
            raise InputError("keyed digests need Privacy('keyed', ...)")
        mac = hmac.new(self._key, data, hashlib.sha256).hexdigest()
        return f"hmac-sha256:{self.hmac_key_id}:{mac}"

    def index_entries(self, contents: list[tuple[bytes, str]]) -> list[dict[str, Any]]:
        """The keyed-index lines for ``(bytes, media_type)`` contents (keyed mode only)."""
        entries = []
        for data, media_type in contents:
            ref: ContentRef = content_ref(data, media_type)
            entries.append(
                {
                    "keyed_digest": self.keyed_digest(data),
                    "size": ref["size"],
                    "media_type": media_type,
                }
            )
        return entries
