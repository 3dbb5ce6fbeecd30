"""Content fetched for a replay is checked against its digest, never trusted."""

from __future__ import annotations

import pytest

from runid.digest import checked_fetch, content_digest
from runid.errors import VerificationError


def test_checked_fetch_returns_content_with_the_asked_digest() -> None:
    store = {content_digest(b"refund policy"): b"refund policy"}
    assert checked_fetch(store.__getitem__, content_digest(b"refund policy")) == b"refund policy"


def test_checked_fetch_refuses_swapped_content() -> None:
    asked = content_digest(b"refund policy v1")
    with pytest.raises(VerificationError) as caught:
        checked_fetch(lambda _digest: b"refund policy v2", asked)
    assert caught.value.code == "E_CONTENT_DIGEST"
    assert asked in str(caught.value) and content_digest(b"refund policy v2") in str(caught.value)
