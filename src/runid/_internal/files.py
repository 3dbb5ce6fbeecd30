"""The files a user names: read and written safely, with clear errors (the CLI's one reader and
one writer; the home's key files use them too).

Reading (:func:`read_input`, :func:`load_json`) accepts regular files only: a FIFO, a device, a
directory or a socket is refused at once, with what it is and how to fix it (opening a FIFO
for reading would block until something writes to it). The file is opened non-blocking and
checked with ``fstat``, so there is no window between the check and the read.

Writing (:func:`write_output`, :func:`write_atomic`) never goes through a link someone planted:
the bytes go to a new temporary file with a random name in the target's directory, created
``O_CREAT | O_EXCL | O_NOFOLLOW``, synced, then renamed over the target. A symlink at the
target is replaced, not followed; a target that is a FIFO, device or directory is refused.

Messages shorten a name longer than 100 characters (a name beyond the file-name limit is
reported, not echoed in full).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import sys
from pathlib import Path
from typing import Any

from .. import canonical
from ..errors import (
    E_FILE,
    E_PERMISSIONS,
    E_TOO_LARGE,
    CanonicalizationError,
    FileAccessError,
    JSONSyntaxError,
    LimitExceededError,
    RunidError,
)

__all__ = [
    "check_kind",
    "check_private_dir",
    "load_json",
    "name_too_long",
    "not_json_hint",
    "open_regular",
    "parse_json",
    "read_input",
    "read_regular",
    "shown",
    "size_text",
    "write_atomic",
    "write_output",
]

_NAME_LIMIT = 255  # bytes in one file name (NAME_MAX on Linux and macOS)
_PATH_LIMIT = 4095  # bytes in a path (PATH_MAX on Linux, less its terminating NUL)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_NOCTTY = getattr(os, "O_NOCTTY", 0)


def shown(name: str | os.PathLike[str], limit: int = 100) -> str:
    """``name`` for a message: as is, or its start and end around "…" with its length."""
    text = os.fspath(name)
    if len(text) <= limit:
        return text
    keep = (limit - 30) // 2
    return f"{text[:keep]}…{text[-keep:]} ({len(text):,} characters)"


def size_text(size: int) -> str:
    """A limit in words: ``64 MiB``, ``1 MiB``, ``64 KiB``, else bytes."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size:,} bytes"


# --- what a path is --------------------------------------------------------------------------

_KINDS = (
    (stat.S_ISDIR, "a directory", "pass a file, not a directory"),
    (
        stat.S_ISFIFO,
        "a FIFO (named pipe)",
        "runid reads regular files; to read from a pipe, pass - and feed it to standard input",
    ),
    (stat.S_ISCHR, "a character device", "pass a regular file"),
    (stat.S_ISBLK, "a block device", "pass a regular file"),
    (stat.S_ISSOCK, "a socket", "pass a regular file"),
)


def _not_regular(name: str | os.PathLike[str], mode: int, writing: bool = False) -> FileAccessError:
    kind, hint = "not a regular file", "pass a regular file"
    for test, what, fix in _KINDS:
        if test(mode):
            kind, hint = f"{what}, not a regular file", fix
            break
    if writing:
        hint = "name a new file or a regular file to replace"
    return FileAccessError(f"{shown(name)}: is {kind}", hint=hint, code=E_FILE)


def name_too_long(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot name a file (a part over 255 bytes, or over 4,096 bytes in all),
    or None; decided without touching the file system."""
    text = os.fspath(path)
    longest = max((len(os.fsencode(part)) for part in Path(text).parts), default=0)
    if longest > _NAME_LIMIT:
        return f"a part of the path has {longest:,} bytes; the limit is {_NAME_LIMIT}"
    if len(os.fsencode(text)) > _PATH_LIMIT:
        return f"the path has {len(os.fsencode(text)):,} bytes; the limit is {_PATH_LIMIT:,}"
    return None


def _os_error(name: str | os.PathLike[str], exc: OSError, doing: str) -> FileAccessError:
    """The error for an ``OSError`` on ``name``: what happened, in words, with a fix."""
    where = shown(name)
    if exc.errno == errno.ENOENT:
        if doing == "write":
            return FileAccessError(
                f"{where}: cannot write (its directory does not exist)",
                hint="create the directory first, or choose another path",
            )
        return FileAccessError(
            f"{where}: no such file", hint="check the path, or pass - to read standard input"
        )
    if exc.errno == errno.ENOTDIR:
        return FileAccessError(
            f"{where}: a part of the path is not a directory", hint="check the path"
        )
    if exc.errno == errno.ENAMETOOLONG:
        return FileAccessError(
            f"{where}: file name too long",
            hint=f"a file name has at most {_NAME_LIMIT} bytes, a path about 4,096; "
            "use a shorter one",
        )
    if exc.errno == errno.EISDIR:
        return FileAccessError(f"{where}: is a directory, not a regular file", hint="pass a file")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return FileAccessError(f"{where}: permission denied", hint="check the file's permissions")
    if exc.errno == errno.ELOOP:
        return FileAccessError(
            f"{where}: is a symbolic link (or a loop of them), which runid does not follow here",
            hint="name the file itself",
        )
    return FileAccessError(f"{where}: cannot {doing} ({exc.strerror or exc})")


# --- reading ---------------------------------------------------------------------------------


def open_regular(path: str | os.PathLike[str], *, follow: bool = True) -> int:
    """A descriptor open for reading on the regular file ``path``; anything else (a FIFO, a
    device, a directory) is refused at once. ``follow=False`` also refuses a symlink."""
    flags = os.O_RDONLY | _O_CLOEXEC | _O_NONBLOCK | _O_NOCTTY | (0 if follow else _O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _os_error(path, exc, "read") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_kind(name: str | os.PathLike[str], *, directory_ok: bool = False) -> None:
    """Refuse ``name`` at once when it exists and is a FIFO, a device or a socket (or a
    directory, unless ``directory_ok``): for paths handed to code that opens them later."""
    try:
        mode = os.stat(name).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _os_error(name, exc, "read") from None
    if not (stat.S_ISREG(mode) or (directory_ok and stat.S_ISDIR(mode))):
        raise _not_regular(name, mode)


def _read_fd(fd: int, limit: int) -> bytes:
    """Up to ``limit + 1`` bytes (one past the limit, to tell an oversized input)."""
    chunks = []
    left = limit + 1
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_regular(
    path: str | os.PathLike[str], limit: int, *, what: str = "files", follow: bool = True
) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` (``what`` names such files in
    the hint of the size error)."""
    fd = open_regular(path, follow=follow)
    try:
        data = _read_fd(fd, limit)
    except OSError as exc:
        raise _os_error(path, exc, "read") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise _too_large(shown(path), limit, what)
    return data


def _too_large(where: str, limit: int, what: str) -> LimitExceededError:
    return LimitExceededError(
        f"{where}: input is larger than the limit of {size_text(limit)}",
        code=E_TOO_LARGE,
        hint=f"runid reads {what} of at most {size_text(limit)}",
    )


def read_input(name: str, limit: int, *, what: str = "declarations and JSON documents") -> bytes:
    """The bytes of file ``name`` (``-`` is standard input), at most ``limit`` bytes.

    Reads one byte past the limit so an oversized input is rejected without reading all of it.
    ``what`` names the kind of file in the hint of the size error.
    """
    if name != "-":
        return read_regular(name, limit, what=what)
    try:
        data = sys.stdin.buffer.read(limit + 1)
    except OSError as exc:
        raise FileAccessError(f"standard input: cannot read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise _too_large("standard input", limit, what)
    return data


def parse_json(data: bytes, name: str) -> Any:
    """``data`` parsed strictly (:func:`runid.canonical.loads`); an error names file ``name``
    (``-``: standard input) and, for text that is not JSON at all, says what it looks like."""
    try:
        return canonical.loads(data)
    except RunidError as exc:
        raise _named(exc, name, data) from None


def load_json(name: str, limit: int = canonical.MAX_INPUT_BYTES) -> Any:
    """The JSON document in file ``name`` (``-``: standard input), read and parsed strictly."""
    return parse_json(read_input(name, limit), name)


def _named(exc: RunidError, name: str, data: bytes) -> RunidError:
    where = "standard input" if name == "-" else shown(name)
    message = f"{where}: {exc.message}"
    hint = exc.hint
    if isinstance(exc, JSONSyntaxError):
        hint = not_json_hint(name, data) or hint
    if isinstance(exc, CanonicalizationError):
        return CanonicalizationError(message, pointer=exc.pointer, hint=hint, code=exc.code)
    return type(exc)(message, hint=hint, code=exc.code)


def not_json_hint(name: str, data: bytes) -> str | None:
    """The hint for a file that is not JSON at all (a YAML policy given as a declaration, a
    text file), or None when it looks like JSON that went wrong."""
    first = data.lstrip()[:1]
    if name.lower().endswith((".yaml", ".yml")) or (
        first != b"" and first not in b'{["-0123456789tfn'
    ):
        return (
            "this is not JSON (it looks like YAML or plain text); runid reads declarations, "
            "receipts and identity files as JSON (only a --policy may be YAML)"
        )
    return None


# --- writing ---------------------------------------------------------------------------------


def _new_temporary(directory: Path, name: str, mode: int) -> tuple[int, Path]:
    """Create a new file with a random name in ``directory``: exclusively, never through a
    symlink (``O_CREAT | O_EXCL | O_NOFOLLOW``)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC
    for _ in range(100):
        tmp = directory / f".{name[:200]}.{secrets.token_hex(8)}.tmp"
        try:
            return os.open(tmp, flags, mode), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(directory))


def write_atomic(
    path: str | os.PathLike[str], data: bytes, *, mode: int = 0o666, exact_mode: bool = False
) -> None:
    """Replace (or create) file ``path`` with ``data`` atomically: a new temporary file in the
    same directory (exclusive, no-follow, random name), written and synced, then renamed over
    ``path``. ``mode`` is filtered by the umask unless ``exact_mode``. Raises ``OSError``."""
    target = Path(path)
    with contextlib.suppress(FileNotFoundError):
        current = os.lstat(target).st_mode
        if not (stat.S_ISREG(current) or stat.S_ISLNK(current)):
            raise _not_regular(target, current, writing=True)
    fd, tmp = _new_temporary(target.parent, target.name, mode)
    try:
        try:
            if exact_mode:
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)  # replaces a symlink at target; never writes through it
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def write_output(name: str, data: bytes) -> None:
    """Write ``data`` to a new or replaced file ``name`` atomically (:func:`write_atomic`)."""
    try:
        write_atomic(name, data)
    except OSError as exc:
        raise _os_error(name, exc, "write") from None


def _fsync_dir(path: Path) -> None:
    """Make a new directory entry durable (best effort: not every platform can)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | _O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --- permissions -----------------------------------------------------------------------------


def check_private_dir(path: Path, what: str) -> None:
    """Refuse directory ``path`` when everyone may write to it: anyone could plant or replace
    files there (as ssh refuses such a home). A missing directory passes."""
    if os.name != "posix":
        return
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _os_error(path, exc, "read") from None
    if stat.S_ISDIR(mode) and mode & stat.S_IWOTH:
        raise FileAccessError(
            f"{shown(path)}: {what} is writable by everyone (mode {stat.S_IMODE(mode):04o}); "
            "anyone could plant or replace files in it",
            hint=f"chmod 700 {path}",
            code=E_PERMISSIONS,
        )
