"""Privacy: secrets are scrubbed; content is stored, withheld, or indexed by key (runid.privacy)."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

from runid.capture import Recorder
from runid.digest import content_digest
from runid.errors import InputError
from runid.examples import example
from runid.home import Home
from runid.log import Log
from runid.privacy import (
    Privacy,
    credentials_of,
    is_secret_name,
    looks_like_credential,
    redact,
    scrub,
    scrub_collect,
)

KEY = b"organisation-key-0123456789abcdef"


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home")
    home.init_keys("runid.test/privacy")
    return home


@pytest.mark.parametrize(
    "name",
    [
        "api_key",
        "API-Key",
        "x-api-key",
        "X-Api-Key",
        "api-key",
        "Authorization",
        "proxy-authorization",
        "Cookie",
        "set-cookie",
        "password",
        "client_secret",
        "access_token",
        "openai_api_key",
        "HF_TOKEN",
        "x-goog-api-key",
        "aws_secret_access_key",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


# Issue 12: each of these was kept in declarations before (and a value under it could be signed
# into a declaration or stored as a blob).
WIDENED = [
    "secret_key",
    "access_key",
    "azure_ad_token",
    "private_token",
    "client_key",
    "credential",
    "passphrase",
    "auth",
    "bearer",
    "jwt",
    "session",
    "github_pat",
    # spellings of the same names
    "Secret-Key",
    "AZURE_AD_TOKEN",
    "x-private-token",
    "apiKey",
    "accessToken",
    "XApiKey",
    "githubPat",
    "db_password",
    "x-custom-auth",
    "oauth_client",
    "slack_token",
    "user_session",
    "signing_key",
    "client_secret_value",
    "jwt_assertion",
]


@pytest.mark.parametrize("name", WIDENED)
def test_widened_secret_names(name: str) -> None:
    assert is_secret_name(name)
    clean, found = scrub_collect({name: "v-1234", "max_tokens": 5, "total_tokens": 9})
    assert clean == {"max_tokens": 5, "total_tokens": 9} and found == ["v-1234"]


@pytest.mark.parametrize(
    "name",
    [
        "max_tokens",
        "total_tokens",
        "prompt_tokens",
        "completion_tokens",
        "max_completion_tokens",
        "max_output_tokens",
        "max_new_tokens",
        "maxTokens",
        "token_count",
        "stop_token_ids",
        "eos_token",
        "pad_token",
        "temperature",
        "model",
        "top_k",
        "headers",
        "tokenizer",
        "seed",
        "author",
        "session_id",
        "cache_key",
        "sort_key",
        "key",
        3,
    ],
)
def test_parameters_are_not_secrets(name: object) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        (
            "Incorrect API key provided: sk-proj-0123456789abcdefXYZ.",
            "Incorrect API key provided: [REDACTED].",
        ),
        ("Authorization: Bearer 0a1b2c3d4e5f", "Authorization: Bearer [REDACTED]"),
        ("basic dXNlcjpwYXNzd29yZA==", "basic [REDACTED]"),
        (
            "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl expired",
            "token [REDACTED] expired",
        ),
        ("ghp_" + "a" * 36 + " and hf_" + "B" * 34, "[REDACTED] and [REDACTED]"),
        ("AKIAABCDEFGHIJKLMNOP", "[REDACTED]"),
        # what is not a credential stays
        ("Bearer authentication is not enabled", "Bearer authentication is not enabled"),
        ("use scikit-learn or task-1234", "use scikit-learn or task-1234"),
        ("max_tokens must be at most 4096", "max_tokens must be at most 4096"),
        ("sk-short", "sk-short"),
    ],
)
def test_credential_shaped_values_are_redacted(text: str, redacted: str) -> None:
    assert redact(text) == redacted
    assert looks_like_credential(text) == (text != redacted)


def test_credentials_of_a_client_reads_but_never_calls() -> None:
    calls: list[str] = []

    class Client:
        api_key = "key-1"
        _azure_ad_token = "token-2"
        default_headers = {  # noqa: RUF012
            "Accept": "application/json",
            "api-key": "key-3",
            "X-Trace": "Bearer 0123456789",
        }

        @property
        def admin_api_key(self) -> str:
            calls.append("admin")
            raise RuntimeError("not configured")

        def azure_ad_token_provider(self) -> str:  # never called
            calls.append("provider")
            return "token-4"

    found = credentials_of(Client(), {"model": "m", "extra_headers": {"Cookie": "c-5"}})
    assert found == {"credentials": ["key-1", "token-2", "key-3", "Bearer 0123456789", "c-5"]}
    assert calls == ["admin"]  # a property is read (and its failure ignored); nothing called
    assert credentials_of(object()) == {"credentials": []}
    # all of it is dropped and remembered by capture's scrub
    clean, secrets = scrub_collect(found)
    assert clean == {} and {"key-1", "0123456789", "c-5"} <= set(secrets)


def test_outputs_and_facts_holding_a_secret_are_not_stored(home: Home) -> None:
    key = "k-" + "9f" * 12
    recorder = Recorder(home)
    decl = example("chat-hosted-model")
    with recorder.capture(decl, request={"api_key": key}) as run:
        run.set_output(f"The key is {key}")  # a model that echoes it: the digest, not the bytes
        run.set_output("A plain answer.")
        run.observe(
            response_id=f"resp-{key}",
            system_fingerprint="Bearer 0123456789abcdef",
            served_model="gpt-4o-mini",
        )
    assert run.recorded and run.record is not None
    observed = run.record["observed"]
    assert observed["response_id"] == observed["system_fingerprint"] == {"absent": "not_recorded"}
    assert observed["served_model"] == "gpt-4o-mini"
    stored = blobs(home)
    assert content_digest(f"The key is {key}".encode()) not in stored
    assert content_digest(b"A plain answer.") in stored
    for path in home.path.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes()


def test_scrub_is_deep_and_leaves_the_input_alone() -> None:
    request: dict[str, Any] = {
        "model": "gpt",
        "api_key": "k1",
        "headers": {"Authorization": "Bearer k2", "Accept": "json"},
        "extra_headers": [("x-api-key", "k3"), ["User-Agent", "ua"]],
        "nested": [{"cookie": "k4", "n": 1}],
        "options": ("a", "b"),
    }
    clean, secrets = scrub_collect(request)
    assert clean == {
        "model": "gpt",
        "headers": {"Accept": "json"},
        "extra_headers": [["User-Agent", "ua"]],
        "nested": [{"n": 1}],
        "options": ("a", "b"),
    }
    assert {"k1", "Bearer k2", "k2", "k3", "k4"} <= set(secrets)
    assert request["api_key"] == "k1"  # a copy: the client still needs its key
    assert scrub({}) == {}


def test_the_fast_scrub_walk_matches_the_general_one() -> None:
    # scrub_collect walks plain dicts and lists inline; _scrub is the reference for every type.
    from collections import OrderedDict
    from types import MappingProxyType

    from runid.privacy import _scrub

    class Text(str):
        pass

    value: dict[Any, Any] = {
        "model": "m",
        "API-KEY": {"nested": "k1"},
        Text("token"): "k2",
        3: [1, 2.5, None, True, Text("t"), b"raw"],
        "headers": [("Authorization", "Bearer k3"), ["Accept", "json"], ("a", "b", "c")],
        "deep": [[["cookie", "k4"]], {"x": [{"password": ["k5", b"k6"]}]}],
        "mapping": MappingProxyType({"secret": "k7", "kept": (1, {"api_key": "k8"})}),
        "ordered": OrderedDict(kept=1, passwd="k9"),
        "tuple": ("api_key", "not a pair because it is one tuple"),
        "empty": [{}, [], ()],
    }
    fast, fast_found = scrub_collect(value)
    slow_found: list[str] = []
    slow = _scrub(value, slow_found)
    assert fast == slow and repr(fast) == repr(slow)
    assert fast_found == [s for s in slow_found if s]
    assert "k2" in fast_found and "k9" in fast_found and "k8" in fast_found
    assert "token" not in fast and "API-KEY" not in fast


def test_privacy_mode_validation() -> None:
    with pytest.raises(InputError, match="unknown privacy mode"):
        Privacy("public")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="organisation key"):
        Privacy("keyed", hmac_key=b"short", hmac_key_id="k")
    with pytest.raises(InputError, match="key id"):
        Privacy("keyed", hmac_key=KEY, hmac_key_id="has space")
    with pytest.raises(InputError):
        Privacy().keyed_digest(b"x")
    keyed = Privacy("keyed", hmac_key=KEY, hmac_key_id="org-1")
    assert KEY.decode() not in repr(keyed)
    digest = keyed.keyed_digest(b"Say hello.")
    assert digest.startswith("hmac-sha256:org-1:") and len(digest) == len("hmac-sha256:org-1:") + 64
    other = Privacy("keyed", hmac_key=KEY[::-1], hmac_key_id="org-1")
    assert other.keyed_digest(b"Say hello.") != digest  # only the key holder can test guesses


def blobs(home: Home) -> set[str]:
    with sqlite3.connect(home.path / "log.sqlite3") as conn:
        rows = conn.execute("SELECT digest FROM blobs").fetchall()
    return {"sha256:" + bytes(row[0]).hex() for row in rows}


def run_once(home: Home, privacy: Privacy) -> tuple[str, str]:
    decl = example("chat-hosted-model")
    with Recorder(home, privacy=privacy).capture(decl, contents=["Hi, charged twice."]) as run:
        run.set_output("Refund on its way.")
    assert run.recorded
    with Log.open(home) as log:
        assert log.entry(0).record == run.record
    return content_digest(b"Refund on its way."), content_digest(b"Hi, charged twice.")


def test_store_mode_keeps_content_and_declaration(home: Home) -> None:
    output, message = run_once(home, Privacy("store"))
    stored = blobs(home)
    assert {output, message} <= stored and len(stored) == 3  # and the declaration's JCS


def test_digests_only_stores_no_content(home: Home) -> None:
    output, message = run_once(home, Privacy("digests-only"))
    stored = blobs(home)
    assert output not in stored and message not in stored
    assert len(stored) == 1  # only the declaration skeleton: digests and parameters


def test_keyed_mode_withholds_everything_and_keeps_a_private_index(home: Home) -> None:
    privacy = Privacy("keyed", hmac_key=KEY, hmac_key_id="org-1")
    run_once(home, privacy)
    assert blobs(home) == set()
    index = home.keyed_index_path  # written by the shell (runid.home), not by runid.privacy
    assert index == home.path / "keyed" / "index.jsonl"
    assert stat.S_IMODE(index.stat().st_mode) == 0o600
    assert stat.S_IMODE(index.parent.stat().st_mode) == 0o700
    lines = [json.loads(line) for line in index.read_text().splitlines()]
    assert [line["keyed_digest"] for line in lines] == [
        privacy.keyed_digest(b"Hi, charged twice."),
        privacy.keyed_digest(b"Refund on its way."),
    ]
    assert b"Refund on its way." not in index.read_bytes()
