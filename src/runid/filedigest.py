"""Artifact digests of files (weights, tokenizers, indexes) with a persistent stat cache.

A weights file can be gigabytes; hashing it on every captured call would cost seconds. The
digest is the plain SHA-256 of the file bytes (an *artifact digest*, docs/adr/0002), so it
equals ``sha256sum`` and the Hugging Face LFS pointer for the same file.

The cache remembers ``digest`` for a file keyed by what ``stat`` says about it: the resolved path,
size, ``mtime_ns``, ``ctime_ns``, inode and device. Any change of those forces a re-hash:
rewriting the file (mtime and ctime move), replacing it by rename (new inode), ``touch``
(mtime), even writing new bytes and then resetting the mtime with ``os.utime`` (the kernel
moves ctime, which user code cannot set back).

**The trade-off**, stated plainly: the cache trusts ``stat``. A change that leaves every one of
those fields equal (a raw block-device write, a filesystem that does not keep ctime, a clock set
backwards by root) is not seen, and the old digest is returned. Writes that land within the
filesystem's timestamp granularity of the hash itself are the practical case of that ("racy
git"): so an entry is only *trusted* when the file's mtime and ctime are older than the moment
its hash began by at least ``racy_window_ns`` (default 2 s, coarser than any common filesystem's
timestamps). A file modified just before it was hashed is simply hashed again next time.

The cache is a small SQLite table (WAL, busy timeout) so concurrent processes can share it; one
row per path. A cache that cannot be opened, read or written (corrupt, read-only, missing
directory) is ignored: the digest is computed from the bytes, never guessed.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> (d / "w.bin").write_bytes(b"hello")
5
>>> file_digest(d / "w.bin", cache_dir=d / "cache")
'sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824'
>>> tree_digest({"w.bin": file_digest(d / "w.bin", cache_dir=d / "cache")})[:7]
'sha256:'
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import stat
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from .canonical import canonicalize
from .digest import ContentRef, tagged_digest
from .errors import E_FORMAT, FileAccessError, InputError
from .store import default_home

__all__ = [
    "CACHE_FILENAME",
    "FileDigestCache",
    "directory_files",
    "file_digest",
    "file_ref",
    "shared_cache",
    "tree_digest",
]

CACHE_FILENAME = "filedigest.sqlite3"
_CHUNK = 1 << 20
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS file_digest (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    device INTEGER NOT NULL,
    hashed_at_ns INTEGER NOT NULL,
    digest TEXT NOT NULL
)
"""
# SQLite integers are signed 64-bit; inode/device numbers can use the top bit on some systems.
_MASK = (1 << 63) - 1


def _stat_key(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino & _MASK, st.st_dev & _MASK)


def _stat_file(path: str | os.PathLike[str]) -> tuple[str, os.stat_result]:
    try:
        resolved = os.path.realpath(os.fspath(path))
        st = os.stat(resolved)
    except FileNotFoundError:
        raise FileAccessError(f"{path}: no such file", hint="check the path") from None
    except PermissionError:
        raise FileAccessError(f"{path}: permission denied") from None
    except (OSError, ValueError) as exc:
        raise FileAccessError(f"{path}: cannot read ({exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise FileAccessError(
            f"{path}: not a regular file", hint="name a file, not a directory or device"
        )
    return resolved, st


def _hash_file(path: str) -> tuple[str, os.stat_result]:
    """SHA-256 of the file, streamed; also the stat taken on the open handle after reading."""
    state = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                state.update(chunk)
            after = os.fstat(handle.fileno())
    except PermissionError:
        raise FileAccessError(f"{path}: permission denied") from None
    except OSError as exc:
        raise FileAccessError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return "sha256:" + state.hexdigest(), after


class FileDigestCache:
    """A persistent (path, stat) → digest cache in ``directory/filedigest.sqlite3``.

    ``files_hashed`` counts the files this object actually read, so callers (and tests) can see
    a cache hit. Safe to share between the threads of a process (one connection under a lock)
    and between processes (SQLite's locking). Trusted entries are also kept in memory, so a
    repeated lookup costs one ``stat``.
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, racy_window_ns: int = 2_000_000_000
    ) -> None:
        self.directory = Path(directory)
        self.racy_window_ns = racy_window_ns
        self.files_hashed = 0
        self._conn: sqlite3.Connection | None = None
        self._broken = False
        self._memo: dict[str, tuple[tuple[int, int, int, int, int], str]] = {}
        # One connection shared by the threads of this process, used under this lock.
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        """The SQLite file holding the cache."""
        return self.directory / CACHE_FILENAME

    def _connection(self) -> sqlite3.Connection | None:
        if self._broken:
            return None
        if self._conn is None:
            try:
                self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    self.path, timeout=5.0, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(_SCHEMA)
            except (sqlite3.Error, OSError):
                # A corrupt or unwritable cache costs a re-hash, never a wrong digest or an error.
                self._broken = True
                return None
            self._conn = conn
        return self._conn

    def _lookup(self, key_path: str, key: tuple[int, int, int, int, int]) -> str | None:
        conn = self._connection()
        if conn is None:
            return None
        try:
            row = conn.execute(
                "SELECT size, mtime_ns, ctime_ns, inode, device, hashed_at_ns, digest"
                " FROM file_digest WHERE path = ?",
                (key_path,),
            ).fetchone()
        except sqlite3.Error:
            self._broken = True
            return None
        if row is None or tuple(row[:5]) != key:
            return None
        hashed_at, digest = row[5], row[6]
        if not isinstance(digest, str) or _DIGEST_RE.fullmatch(digest) is None:
            return None
        if not isinstance(hashed_at, int) or not self._trusted(key, hashed_at):
            return None
        return digest

    def _store(
        self, key_path: str, key: tuple[int, int, int, int, int], hashed_at: int, digest: str
    ) -> None:
        conn = self._connection()
        if conn is None:
            return
        try:
            conn.execute(
                "INSERT OR REPLACE INTO file_digest"
                " (path, size, mtime_ns, ctime_ns, inode, device, hashed_at_ns, digest)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key_path, *key, hashed_at, digest),
            )
        except sqlite3.Error:
            self._broken = True

    def _trusted(self, key: tuple[int, int, int, int, int], hashed_at: int) -> bool:
        # Racy entry: the file changed so close to its hashing that a later write in the same
        # timestamp tick would be invisible; do not trust it.
        return max(key[1], key[2]) <= hashed_at - self.racy_window_ns

    def digest(self, path: str | os.PathLike[str]) -> str:
        """The artifact digest of the file at ``path``, from the cache when ``stat`` agrees."""
        # In-process memo first, keyed by the path as given: one stat (which follows symlinks:
        # a repointed link has another inode) and a dict lookup, no realpath, no SQLite.
        given = os.fspath(path)
        memo = self._memo.get(given)
        if memo is not None:
            try:
                if _stat_key(os.stat(given)) == memo[0]:
                    return memo[1]
            except (OSError, ValueError):
                pass  # gone or unreadable: the slow path reports it
        key_path, st = _stat_file(path)
        key = _stat_key(st)
        with self._lock:
            cached = self._lookup(key_path, key)
        if cached is not None:
            self._memo[given] = (key, cached)
            return cached
        hashed_at = time.time_ns()
        digest, after = _hash_file(key_path)
        self.files_hashed += 1
        # Only remember the digest if the file did not change while it was being read.
        if _stat_key(after) == key:
            with self._lock:
                self._store(key_path, key, hashed_at, digest)
            if self._trusted(key, hashed_at):
                self._memo[given] = (key, digest)
        return digest

    def close(self) -> None:
        """Close the SQLite connection (the object can still be used; it reopens)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> FileDigestCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _default_cache_dir() -> Path:
    return default_home() / "cache"


_CACHES: dict[Path, FileDigestCache] = {}


def shared_cache(cache_dir: str | os.PathLike[str] | None = None) -> FileDigestCache:
    """The process-wide :class:`FileDigestCache` for ``cache_dir`` (default
    ``<runid home>/cache``), so that repeated captures reuse one SQLite connection."""
    directory = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    cache = _CACHES.get(directory)
    if cache is None:
        cache = _CACHES[directory] = FileDigestCache(directory)
    return cache


def file_digest(
    path: str | os.PathLike[str],
    *,
    cache: FileDigestCache | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> str:
    """``sha256:<hex>`` of the bytes of the file at ``path`` (plain SHA-256, docs/adr/0002).

    Uses ``cache`` if given, else a cache in ``cache_dir``, else one in ``<runid home>/cache``.
    Raises :class:`~runid.errors.FileAccessError` (``E_FILE``) when the file cannot be read.
    """
    return (cache if cache is not None else shared_cache(cache_dir)).digest(path)


def file_ref(
    path: str | os.PathLike[str],
    media_type: str = "application/octet-stream",
    *,
    cache: FileDigestCache | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> ContentRef:
    """A content reference (digest, size, media type) for the file at ``path``."""
    digest = file_digest(path, cache=cache, cache_dir=cache_dir)
    size = Path(path).stat().st_size
    return {"digest": digest, "size": size, "media_type": media_type}


def directory_files(
    directory: str | os.PathLike[str], suffixes: Iterable[str] | None = None
) -> list[str]:
    """Relative POSIX paths of the regular files under ``directory``, sorted.

    Hidden files and directories (``.git``, ``.cache``) are skipped: they are tool state, not
    the artifact. ``suffixes`` (e.g. ``[".safetensors", ".json"]``) keeps only matching names.
    """
    root = Path(directory)
    if not root.is_dir():
        raise FileAccessError(f"{root}: not a directory", hint="name the model's directory")
    wanted = tuple(suffixes) if suffixes is not None else None
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith(".") or (wanted is not None and not name.endswith(wanted)):
                continue
            full = Path(dirpath) / name
            if full.is_file():
                found.append(full.relative_to(root).as_posix())
    return sorted(found)


def tree_digest(files: Mapping[str, str]) -> str:
    """One structure digest for a set of files: relative POSIX name → artifact digest.

    The digest is ``tagged_digest("runid:v1:file-tree", JCS(files))``, so it does not depend on
    the order the files were listed in, and it changes when any file is renamed, added, removed
    or changed.
    """
    for name, digest in files.items():
        if not isinstance(name, str) or not name or name.startswith("/") or "\\" in name:
            raise InputError(
                f"file tree: {name!r} is not a relative POSIX path",
                hint="name files relative to the directory, with '/' separators",
            )
        if not isinstance(digest, str) or _DIGEST_RE.fullmatch(digest) is None:
            raise InputError(
                f"file tree: {name}: not a digest: {digest!r}",
                hint="a digest is 'sha256:' followed by 64 lowercase hex digits",
                code=E_FORMAT,
            )
    return tagged_digest("runid:v1:file-tree", canonicalize(dict(files)))
