"""HTTP for the transparency tools, with the standard library only: bounded GET and POST.

Errors a user can act on (a refused connection, a timeout, a body over its limit) raise
:class:`~runid.errors.FileAccessError` with the caller's code; an HTTP status is returned, not
raised, so callers apply the status rules of their protocol.
"""

from __future__ import annotations

import gzip
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass

from ..errors import FileAccessError

__all__ = ["Response", "request"]

USER_AGENT = "runid (+https://github.com/runid-project/runid)"


@dataclass(frozen=True, slots=True)
class Response:
    """A response: its status, content type and body (decompressed if it was gzip)."""

    status: int
    content_type: str
    body: bytes


def _read(handle: object, limit: int, url: str, code: str) -> bytes:
    data: bytes = handle.read(limit + 1)  # type: ignore[attr-defined]
    if len(data) > limit:
        raise FileAccessError(f"{url}: the response is larger than {limit} bytes", code=code)
    return data


def request(
    url: str, *, body: bytes | None = None, limit: int, timeout: float, code: str
) -> Response:
    """GET ``url`` (or POST ``body``), reading at most ``limit`` bytes of the body."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, identity"}
    if body is not None:
        headers["Content-Type"] = "text/plain; charset=utf-8"
    req = urllib.request.Request(url, data=body, headers=headers, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as handle:
            status, data = handle.status, _read(handle, limit, url, code)
            content_type = handle.headers.get("Content-Type", "")
            encoding = handle.headers.get("Content-Encoding", "")
    except urllib.error.HTTPError as exc:
        status, data = exc.code, _read(exc, limit, url, code)
        content_type = exc.headers.get("Content-Type", "") if exc.headers else ""
        encoding = exc.headers.get("Content-Encoding", "") if exc.headers else ""
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FileAccessError(
            f"{url}: cannot reach it ({reason})",
            hint="check the URL and that the server is up; --timeout waits longer",
            code=code,
        ) from None
    if encoding.strip().lower() == "gzip":
        try:
            decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            data = decompressor.decompress(data, limit + 1)
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise FileAccessError(
                f"{url}: a gzip body that does not decompress ({exc})", code=code
            ) from None
        if len(data) > limit:
            raise FileAccessError(f"{url}: the response is larger than {limit} bytes", code=code)
    return Response(status, content_type, data)
