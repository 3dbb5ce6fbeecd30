"""Small file helpers for the transparency tools: atomic replacement and exclusive creation."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from ..errors import E_KEY_EXISTS, FileAccessError

__all__ = ["create_exclusive", "read_file", "replace_file"]


def _write_fd(fd: int, data: bytes, sync: bool) -> None:
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _sync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def replace_file(path: Path, data: bytes, *, mode: int = 0o644, sync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically: a new temporary file in the same directory
    (created exclusively), written (and with ``sync`` flushed to disk), renamed over ``path``.
    Readers see the old file or the new one, never a part. Parent directories are created."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        try:
            _write_fd(fd, data, sync)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        if sync:
            _sync_dir(path.parent)
    except OSError as exc:
        raise FileAccessError(f"{path}: cannot write ({exc.strerror or exc})") from None


def create_exclusive(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Create ``path`` with ``data``, complete or not at all, failing if it exists
    (:class:`~runid.errors.FileAccessError`, ``E_KEY_EXISTS``): written and synced under a
    temporary name, then hard-linked into place."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        _write_fd(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), data, True)
        os.link(tmp, path)
        _sync_dir(path.parent)
    except FileExistsError:
        raise FileAccessError(f"{path}: already exists", code=E_KEY_EXISTS) from None
    except OSError as exc:
        raise FileAccessError(f"{path}: cannot create ({exc.strerror or exc})") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def read_file(path: Path, limit: int) -> bytes | None:
    """The bytes of file ``path`` (at most ``limit``), or ``None`` if it does not exist."""
    try:
        with path.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size > limit:
                raise FileAccessError(f"{path}: larger than {limit} bytes")
            data = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FileAccessError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise FileAccessError(f"{path}: larger than {limit} bytes")
    return data
