"""Privacy for capture: secrets never stored, content stored, withheld, or indexed by a key.

Two separate concerns live here.

**Secrets** (API keys, ``Authorization``, ``api-key``, ``x-api-key``, cookies, passwords,
tokens) are not conditions of a run: they must never reach a declaration, a digest, a blob, a
record, a receipt, a sidecar or a warning. :func:`scrub` drops them from a request mapping
(recursively, including header lists of pairs) *before* anything else sees it; capture only
ever hands the scrubbed mapping on.

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
    "SECRET_NAMES",
    "Mode",
    "Privacy",
    "is_secret_name",
    "scrub",
    "scrub_collect",
]

Mode = Literal["store", "digests-only", "keyed"]
MODES: tuple[str, ...] = get_args(Mode)

# Names compared after lower-casing and mapping '-' to '_' (HTTP headers and Python kwargs
# spell the same thing both ways: "X-Api-Key" / "x_api_key").
SECRET_NAMES = frozenset(
    {
        "api_key",
        "apikey",
        "x_api_key",
        "x_goog_api_key",
        "ocp_apim_subscription_key",
        "authorization",
        "proxy_authorization",
        "cookie",
        "cookies",
        "set_cookie",
        "password",
        "passwd",
        "secret",
        "client_secret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "auth_token",
        "session_token",
        "bearer_token",
        "api_token",
        "hf_token",
        "x_auth_token",
        "private_key",
        "credentials",
        "aws_secret_access_key",
        "aws_session_token",
    }
)
# Suffixes catch vendor spellings (openai_api_key, azure_ad_token is covered by name lists of
# clients we integrate; these are the unambiguous ones). "_tokens" is not here on purpose:
# max_tokens is a parameter, not a secret.
_SECRET_SUFFIXES = ("_api_key", "_apikey", "_secret", "_password", "_access_token", "_auth_token")
_HMAC_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def is_secret_name(name: object) -> bool:
    """True when a mapping key or header name names a secret.

    >>> is_secret_name("X-API-Key"), is_secret_name("OPENAI_API_KEY"), is_secret_name("max_tokens")
    (True, True, False)
    """
    if not isinstance(name, str):
        return False
    return _secret_key(name)


@functools.lru_cache(maxsize=4096)
def _secret_key(name: str) -> bool:
    # Cached: capture scrubs every declaration, and the same few key names recur in each.
    key = name.strip().lower().replace("-", "_")
    return key in SECRET_NAMES or key.endswith(_SECRET_SUFFIXES)


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
    raw = text.encode("utf-8", "replace") if isinstance(text, str) else text
    return any(len(s) >= 4 and s.encode("utf-8", "replace") in raw for s in secrets)


class Privacy:
    """What capture does with content bytes: ``store``, ``digests-only`` or ``keyed``."""

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
        if mode == "keyed":
            if not hmac_key or len(hmac_key) < 16 or hmac_key_id is None:
                raise InputError(
                    "keyed privacy needs an organisation key of 16 bytes or more and its key id",
                    hint="Privacy('keyed', hmac_key=os.urandom(32), hmac_key_id='org-2026')",
                )
            if not _HMAC_KEY_ID.fullmatch(hmac_key_id):
                raise InputError(
                    f"hmac key id {hmac_key_id!r} must match [A-Za-z0-9._-]{{1,64}}",
                    hint="the key id is written into every keyed digest",
                )
        self.mode: Mode = mode
        self._key = hmac_key if mode == "keyed" else None
        self.hmac_key_id = hmac_key_id if mode == "keyed" else None

    def __repr__(self) -> str:
        if self.mode == "keyed":
            return f"Privacy(mode='keyed', hmac_key_id={self.hmac_key_id!r})"
        return f"Privacy(mode={self.mode!r})"

    @property
    def stores_content(self) -> bool:
        """True when content bytes go to the blob store."""
        return self.mode == "store"

    @property
    def stores_declaration(self) -> bool:
        """True when the declaration (a skeleton of digests) goes to the blob store."""
        return self.mode != "keyed"

    def keyed_digest(self, data: bytes) -> str:
        """``hmac-sha256:<key id>:<hex>`` of ``data`` under the organisation key."""
        if self._key is None or self.hmac_key_id is None:
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
