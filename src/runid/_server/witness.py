"""The witness's HTTP API (C2SP tlog-witness) as a Starlette app; ``runid witness serve``.

Routes:

* ``POST /add-checkpoint``: the body is an add-checkpoint request; 200 and the cosignature
  line, or the status tlog-witness gives the refusal (400, 403, 404, 409 with the witnessed
  size as ``text/x.tlog.size``, 422) and a one-line reason;
* ``GET /<origin hash>/checkpoint``: the latest checkpoint cosigned for the log whose origin
  has that lowercase hex SHA-256 (the monitoring endpoint), 404 if none.

The witness's checks and state are :class:`runid.transparency.witness.Witness`; its SQLite
work runs in Starlette's thread pool, one transaction per request.
"""

from __future__ import annotations

import re

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ..errors import FileAccessError
from ..tlog.witness import MAX_REQUEST_SIZE, WitnessRefusedError
from ..transparency.witness import Witness

__all__ = ["run", "witness_app"]

_TEXT = "text/plain; charset=utf-8"
_HEX = re.compile(r"[0-9a-f]{64}")


async def _body(request: Request) -> bytes | None:
    """The request body, or ``None`` past the size limit."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_REQUEST_SIZE:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def witness_app(witness: Witness) -> Starlette:
    """The ASGI app of ``witness``."""

    async def add_checkpoint(request: Request) -> Response:
        body = await _body(request)
        if body is None:
            return PlainTextResponse("request body too large\n", status_code=413)
        try:
            cosignature = await run_in_threadpool(witness.add_checkpoint, body)
        except WitnessRefusedError as exc:
            return Response(exc.body(), status_code=exc.status, media_type=exc.content_type)
        except FileAccessError:
            return PlainTextResponse("the witness cannot use its state\n", status_code=500)
        return Response(cosignature, media_type=_TEXT)

    async def checkpoint(request: Request) -> Response:
        digest = request.path_params["origin_hash"]
        note = None
        if _HEX.fullmatch(digest):
            note = await run_in_threadpool(witness.checkpoint_by_hash, digest)
        if note is None:
            return PlainTextResponse("no checkpoint cosigned for that log\n", status_code=404)
        return Response(note, media_type=_TEXT, headers={"Cache-Control": "max-age=5"})

    return Starlette(
        routes=[
            Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
            Route("/{origin_hash}/checkpoint", checkpoint, methods=["GET"]),
        ]
    )


def run(witness: Witness, host: str, port: int, *, log_level: str = "warning") -> None:
    """Serve the witness with uvicorn until interrupted."""
    uvicorn.run(witness_app(witness), host=host, port=port, log_level=log_level)
