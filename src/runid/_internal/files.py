"""Reading user-named inputs with a size limit and clear errors (the CLI's only file reader)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import E_TOO_LARGE, FileAccessError, LimitExceededError


def read_input(name: str, limit: int) -> bytes:
    """The bytes of file ``name`` (``-`` is standard input), at most ``limit`` bytes.

    Reads one byte past the limit so an oversized input is rejected without reading all of it.
    """
    try:
        if name == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with Path(name).open("rb") as handle:
                data = handle.read(limit + 1)
    except FileNotFoundError:
        raise FileAccessError(
            f"{name}: no such file", hint="check the path, or pass - to read standard input"
        ) from None
    except IsADirectoryError:
        raise FileAccessError(f"{name}: is a directory, not a file") from None
    except PermissionError:
        raise FileAccessError(f"{name}: permission denied") from None
    except OSError as exc:
        raise FileAccessError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if len(data) > limit:
        where = "standard input" if name == "-" else name
        raise LimitExceededError(
            f"{where}: input is larger than the limit of {limit} bytes",
            code=E_TOO_LARGE,
            hint="runid reads declarations and JSON documents of at most 64 MiB",
        )
    return data


def write_output(name: str, data: bytes) -> None:
    """Write ``data`` to a new or replaced file atomically (temp file, fsync, rename)."""
    path = Path(name)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise FileAccessError(f"{name}: cannot write ({exc.strerror or exc})") from None
