"""``runid scl parse|canon|hash``: SCL:V1 documents (:mod:`runid.scl`, docs/scl.md).

Each command reads one document, a regular file or standard input (``-``), of at most 64 MiB.
A document that is not SCL:V1 is one error, ``error: FILE: CODE at byte N (line L, column C):
what``, with a hint, and exit code 3 (the input is not well-formed); a file that cannot be read,
or is not a regular file (a directory, a FIFO, a device), exits 6; a larger one exits 5.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import sys

import click

from .. import scl as scl_core
from .._internal.files import read_input
from ..canonical import MAX_INPUT_BYTES
from ..errors import E_TOO_LARGE, FileAccessError, LimitExceededError

__all__ = ["scl"]

_EXITS = (
    "Exit codes: 0 success, 3 not an SCL:V1 document (the first error, its code and byte "
    "offset), 5 larger than 64 MiB, 6 file error (also a FILE that is not a regular file)."
)


@click.group()
def scl() -> None:
    """SCL:V1 documents: parse, canonical JSON, doc_hash (docs/scl.md).

    SCL:V1 is the text format of github.com/scl-protocol/scl-spec (SPEC_V1.md): a header, a
    handles block and an scl block; UTF-8, LF line endings, no tabs.
    """


def _argument(function: click.decorators.FC) -> click.decorators.FC:
    return click.argument("source", metavar="FILE|-")(function)


@scl.command(name="parse", epilog=_EXITS)
@_argument
def scl_parse(source: str) -> None:
    """Check an SCL:V1 document; print its AST as indented JSON.

    The AST is the object model of SPEC_V1.md §5 (handles in order, the scl block's content).
    """
    document = _parse(source)
    click.echo(json.dumps(document.to_json(), indent=2, ensure_ascii=False))


@scl.command(name="canon", epilog=_EXITS)
@_argument
def scl_canon(source: str) -> None:
    """Print the canonical JSON of an SCL:V1 document.

    The canonical JSON of SPEC_V1.md §6 (not RFC 8785: a line feed is written \\u000a). The
    bytes are written exactly, with no trailing newline: piped to sha256sum they give the
    doc_hash.
    """
    sys.stdout.buffer.write(scl_core.canonical_json(_parse(source)))
    sys.stdout.buffer.flush()


@scl.command(name="hash", epilog=_EXITS)
@_argument
def scl_hash(source: str) -> None:
    """Print the doc_hash of an SCL:V1 document (hex SHA-256).

    The doc_hash is SHA-256 of the document's canonical JSON (SPEC_V1.md §6). Documents that
    differ only in formatting (indentation) have the same doc_hash. In a runid declaration it
    is written sha256:<doc_hash> (instructions.template.digest, docs/adr/0013).
    """
    click.echo(scl_core.doc_hash(_parse(source)))


def _parse(source: str) -> scl_core.Document:
    data = _read(source)
    try:
        return scl_core.parse(data)
    except scl_core.SclError as exc:
        raise exc.with_source("standard input" if source == "-" else source) from None


def _read(source: str) -> bytes:
    """The bytes of ``source`` (``-``: standard input); only a regular file is read.

    The file is opened without blocking and checked with ``fstat`` before reading, so a FIFO
    or a device is refused rather than waited on or read forever.
    """
    if source == "-":
        return read_input("-", MAX_INPUT_BYTES)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(source, flags)
    except OSError as exc:
        raise _file_error(source, exc) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO, device or socket"
            raise FileAccessError(
                f"{source}: not a regular file ({kind})",
                hint="name a regular file, or pass - and pipe the document in",
            )
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise _file_error(source, exc) from None
    finally:
        os.close(fd)
    if len(data) > MAX_INPUT_BYTES:
        raise LimitExceededError(
            f"{source}: input is larger than the limit of {MAX_INPUT_BYTES} bytes",
            code=E_TOO_LARGE,
            hint="runid reads SCL documents of at most 64 MiB",
        )
    return data


def _file_error(source: str, exc: OSError) -> FileAccessError:
    if exc.errno == errno.ENOENT:
        return FileAccessError(
            f"{source}: no such file", hint="check the path, or pass - to read standard input"
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return FileAccessError(f"{source}: permission denied")
    if exc.errno == errno.ENXIO:
        return FileAccessError(
            f"{source}: not a regular file (a socket or device)",
            hint="name a regular file, or pass - and pipe the document in",
        )
    return FileAccessError(f"{source}: cannot read ({exc.strerror or exc})")
