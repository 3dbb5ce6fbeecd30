"""Evidence bundles as zip files: written deterministically, read defensively.

:func:`write_zip` turns a bundle's files into zip bytes: the manifest and its signature first,
then every file by name, each deflated, with a fixed time stamp and mode, so the same files
give the same zip. :func:`read_zip` reads a zip someone handed over without trusting it: it
reads the end-of-central-directory record before anything else and refuses more than
:data:`MAX_ENTRIES` entries, then refuses any entry whose name is not a safe relative name
(no ``..``, no absolute path, no backslash, no directory entry), a symbolic link, an encrypted
or oddly compressed entry, a duplicate name, an entry larger than :data:`MAX_MEMBER` bytes,
more than :data:`MAX_TOTAL` bytes in all, or a compression ratio beyond :data:`MAX_RATIO`. It
extracts nothing to disk: the files come back as bytes, for :func:`runid.evidence.verify_files`.
"""

from __future__ import annotations

import io
import stat
import struct
import zipfile
import zlib
from collections.abc import Mapping
from typing import Final

from ..errors import E_BUNDLE_DIGEST, E_BUNDLE_LIMIT, E_BUNDLE_UNSAFE, LimitExceededError
from ._format import MANIFEST, SIGNATURE, EvidenceError, path_problem

__all__ = [
    "MAX_BUNDLE",
    "MAX_ENTRIES",
    "MAX_MEMBER",
    "MAX_RATIO",
    "MAX_TOTAL",
    "read_zip",
    "write_zip",
]

MAX_BUNDLE: Final = 2 << 30
"""The largest bundle file read, in bytes (2 GiB)."""

MAX_ENTRIES: Final = 1_000_000
"""The most entries a bundle may have (a run is two; 10,000 runs need about 20,000)."""

MAX_MEMBER: Final = 256 << 20
"""The largest file in a bundle, uncompressed (256 MiB)."""

MAX_TOTAL: Final = 2 << 30
"""The most bytes all files of a bundle may hold together, uncompressed (2 GiB)."""

MAX_RATIO: Final = 200
"""The highest compression ratio accepted for an entry over 1 MiB (a zip bomb has millions)."""

_DATE: Final = (1980, 1, 1, 0, 0, 0)
_MODE: Final = (stat.S_IFREG | 0o644) << 16
_EOCD: Final = b"PK\x05\x06"
_EOCD64_LOCATOR: Final = b"PK\x06\x07"
_EOCD64: Final = b"PK\x06\x06"


def write_zip(files: Mapping[str, bytes], *, level: int = 6) -> bytes:
    """The zip of ``files``: the manifest and its signature first, the rest by name."""
    order = [n for n in (MANIFEST, SIGNATURE) if n in files]
    order += sorted(n for n in files if n not in (MANIFEST, SIGNATURE))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name in order:
            info = zipfile.ZipInfo(name, date_time=_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = _MODE
            info.create_system = 3  # Unix, so the mode is read as one
            archive.writestr(info, files[name], compresslevel=level)
    return buffer.getvalue()


def _unsafe(name: str, message: str) -> EvidenceError:
    return EvidenceError(
        name,
        "zip",
        message,
        code=E_BUNDLE_UNSAFE,
        hint="this is not a bundle runid wrote, or it was tampered with",
    )


def _limit(message: str) -> LimitExceededError:
    return LimitExceededError(
        message,
        code=E_BUNDLE_LIMIT,
        hint="a bundle this large was not written by runid evidence export",
    )


def _entry_count(data: bytes) -> int:
    """The number of entries the end-of-central-directory record announces (zip64 too)."""
    at = data.rfind(_EOCD, max(0, len(data) - (22 + 0xFFFF)))
    if at < 0 or len(data) < at + 22:
        raise _unsafe("", "not a zip file (no end-of-central-directory record)")
    count: int = struct.unpack_from("<H", data, at + 10)[0]
    if count != 0xFFFF:
        return count
    locator = at - 20
    if locator < 0 or data[locator : locator + 4] != _EOCD64_LOCATOR:
        raise _unsafe("", "a zip64 archive without its locator")
    offset: int = struct.unpack_from("<Q", data, locator + 8)[0]
    if data[offset : offset + 4] != _EOCD64 or len(data) < offset + 40:
        raise _unsafe("", "a zip64 archive without its end record")
    count64: int = struct.unpack_from("<Q", data, offset + 32)[0]
    return count64


def read_zip(data: bytes) -> dict[str, bytes]:
    """The files of a bundle zip, by name, read within the limits above; anything unsafe
    raises :class:`~runid.evidence.EvidenceError` (``E_BUNDLE_UNSAFE``), anything too large
    :class:`~runid.errors.LimitExceededError` (``E_BUNDLE_LIMIT``)."""
    if len(data) > MAX_BUNDLE:
        raise _limit(f"the bundle is larger than {MAX_BUNDLE >> 30} GiB")
    count = _entry_count(data)
    if count > MAX_ENTRIES:
        raise _limit(f"the bundle has {count:,} entries, more than {MAX_ENTRIES:,}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
        raise _unsafe("", f"not a readable zip file ({exc})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise _limit(f"the bundle has {len(infos):,} entries, more than {MAX_ENTRIES:,}")
        seen: set[str] = set()
        total = 0
        for info in infos:
            name = info.orig_filename
            problem = path_problem(name)
            if problem is not None or name != info.filename:
                raise _unsafe(name[:80], problem or "a file name with a NUL byte")
            if name in seen:
                raise _unsafe(name, "the name occurs twice")
            seen.add(name)
            if info.flag_bits & 0x1:
                raise _unsafe(name, "encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _unsafe(name, f"compressed with method {info.compress_type}, not deflate")
            if stat.S_ISLNK(info.external_attr >> 16) or info.is_dir():
                raise _unsafe(name, "a symbolic link or a directory, not a file")
            if info.file_size > MAX_MEMBER:
                raise _limit(f"{name}: {info.file_size:,} bytes, more than {MAX_MEMBER >> 20} MiB")
            if info.file_size > 1 << 20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise _limit(f"{name}: compressed more than {MAX_RATIO} to 1 (a zip bomb?)")
            total += info.file_size
            if total > MAX_TOTAL:
                raise _limit(f"the bundle holds more than {MAX_TOTAL >> 30} GiB uncompressed")
        files: dict[str, bytes] = {}
        for info in infos:
            try:
                with archive.open(info) as member:
                    content = member.read(MAX_MEMBER + 1)
            except (
                zipfile.BadZipFile,
                zlib.error,
                ValueError,
                EOFError,
                OSError,
                RuntimeError,
            ) as exc:
                raise EvidenceError(
                    info.filename, "zip", f"cannot be read ({exc})", code=E_BUNDLE_DIGEST
                ) from None
            if len(content) != info.file_size:
                raise EvidenceError(
                    info.filename,
                    "zip",
                    "its size is not the one its entry announces",
                    code=E_BUNDLE_DIGEST,
                )
            files[info.filename] = content
    return files
