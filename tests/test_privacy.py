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
from runid.privacy import Privacy, is_secret_name, scrub, scrub_collect

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


@pytest.mark.parametrize(
    "name", ["max_tokens", "temperature", "model", "top_k", "headers", "tokenizer", "seed", 3]
)
def test_parameters_are_not_secrets(name: object) -> None:
    assert not is_secret_name(name)


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
