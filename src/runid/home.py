"""Where runid keeps its state: the home directory, its key files and its log.

Resolution order, for every command: ``--home DIR``, then the ``RUNID_HOME`` environment
variable, then ``$XDG_DATA_HOME/runid`` (if that is an absolute path), then
``~/.local/share/runid`` (:func:`runid.store.default_home`).

Layout::

    <home>/log.sqlite3        the transparency log and blob store (SQLite, WAL)
    <home>/keys/signing.key   the issuer's Ed25519 private key (mode 0600)
    <home>/keys/signing.pub   its verifier key (C2SP vkey), safe to publish
    <home>/keyed/index.jsonl  keyed privacy mode: HMAC digests of the content used (0600)
    <home>/config.toml        the home's settings, if any: [retention] (docs/spec.md §20.7)

Files here are never written through a link someone planted (new files are created with
``O_EXCL | O_NOFOLLOW``; :mod:`runid._internal.files`), and a home anyone may write to, or a
private key others may read, is refused with the ``chmod`` that fixes it, as ssh does.

>>> from pathlib import Path
>>> Home(Path("/tmp/x")).signing_key_path
PosixPath('/tmp/x/keys/signing.key')
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._internal.files import (
    check_private_dir,
    name_too_long,
    open_regular,
    read_regular,
    shown,
    write_atomic,
)
from .errors import (
    E_KEY_EXISTS,
    E_NO_SIGNING_KEY,
    E_PERMISSIONS,
    FileAccessError,
    InputError,
)
from .keys import PublicKey, SigningKey
from .store import default_home, open_store
from .store.sqlite import LOG_FILE

__all__ = ["DEFAULT_KEY_NAME", "Home", "load_signing_key", "resolve_home", "save_signing_key"]

DEFAULT_KEY_NAME = "runid.local/log"
"""The name of a key created without one (``runid keys init``, a recorder's first run)."""


def resolve_home(explicit: str | Path | None = None) -> Path:
    """The home directory by the documented order (not created here)."""
    if explicit:
        return Path(explicit).expanduser()
    return default_home()


_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_KEY_FILE_LIMIT = 1 << 16  # a key file is one short line


@dataclass(frozen=True)
class Home:
    path: Path

    def __post_init__(self) -> None:
        # A name the file system cannot hold fails here, with the name shortened, instead of
        # in the first os call that meets it.
        why = name_too_long(Path(self.path) / "keys" / "signing.key")
        if why:
            raise FileAccessError(
                f"{shown(self.path)}: the runid home's path is too long ({why})",
                hint="choose a shorter --home or RUNID_HOME",
            )

    @property
    def keys_dir(self) -> Path:
        return self.path / "keys"

    @property
    def signing_key_path(self) -> Path:
        return self.keys_dir / "signing.key"

    @property
    def public_key_path(self) -> Path:
        return self.keys_dir / "signing.pub"

    @property
    def keyed_index_path(self) -> Path:
        return self.path / "keyed" / "index.jsonl"

    @property
    def config_path(self) -> Path:
        """``<home>/config.toml``: the home's settings (``[retention]``, docs/spec.md §20.7)."""
        return self.path / "config.toml"

    def append_keyed_index(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Append keyed-index lines (:meth:`runid.privacy.Privacy.index_entries`) to
        :attr:`keyed_index_path`, one JSON object a line (directory 0700, file 0600).

        Under an exclusive ``flock`` of the file, as :meth:`erase_keyed_index` rewrites it: a
        line is appended to the file at the path, never to one an erasure just replaced."""
        if not entries:
            return
        path = self.keyed_index_path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        while True:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                fcntl.flock(fd, fcntl.LOCK_EX)
                with contextlib.suppress(FileNotFoundError):
                    if os.stat(path).st_ino == os.fstat(fd).st_ino:
                        for entry in entries:
                            line = json.dumps(entry, sort_keys=True, separators=(",", ":"))
                            handle.write(line + "\n")
                        return
            # An erasure replaced the file while we waited for the lock: append to the new one.

    def erase_keyed_index(self, keyed_digests: Collection[str]) -> int:
        """Remove every keyed-index line whose ``keyed_digest`` is one of ``keyed_digests``;
        the number of lines removed. The file is replaced atomically (mode 0600) under an
        exclusive ``flock`` (see :meth:`append_keyed_index`)."""
        path = self.keyed_index_path
        if not keyed_digests or not os.path.lexists(path):
            return 0
        wanted = set(keyed_digests)
        try:
            fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW)
        except OSError as exc:
            raise FileAccessError(f"{path}: cannot read the keyed index ({exc})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with os.fdopen(os.dup(fd), "rb") as handle:
                lines = handle.read().splitlines(keepends=True)
            kept = [line for line in lines if _keyed_digest(line) not in wanted]
            if len(kept) < len(lines):
                write_atomic(path, b"".join(kept), mode=0o600, exact_mode=True)
        except OSError as exc:
            raise FileAccessError(f"{path}: cannot rewrite the keyed index ({exc})") from None
        finally:
            os.close(fd)
        return len(lines) - len(kept)

    def check_private(self) -> None:
        """Refuse a home (or keys directory) that everyone may write to: anyone could plant
        files in it. The error's hint is the ``chmod`` that fixes it."""
        check_private_dir(self.path, "the runid home")
        check_private_dir(self.keys_dir, "the keys directory")

    def require_keys(self, *, private: bool = False) -> None:
        """Raise the one "no keys" error (:class:`~runid.errors.InputError`,
        ``E_NO_SIGNING_KEY``, exit 2) unless the home holds a key (with ``private``: the
        private signing key)."""
        self.check_private()
        has_private = os.path.lexists(self.signing_key_path)
        if has_private:
            return
        if not os.path.lexists(self.public_key_path):
            raise InputError(
                f"{shown(self.path)}: no runid keys here",
                hint="create them with 'runid keys init' (or point --home / RUNID_HOME elsewhere)",
                code=E_NO_SIGNING_KEY,
            )
        if private:
            raise InputError(
                f"{shown(self.path)}: this home has the public key only "
                f"({self.public_key_path.name}), no private signing key",
                hint="run this where keys/signing.key is (--home or RUNID_HOME)",
                code=E_NO_SIGNING_KEY,
            )

    def create(self) -> None:
        """Create the home and key directories, private to the user (0700)."""
        self.check_private()
        try:
            self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.path.chmod(0o700)
        except OSError as exc:
            raise FileAccessError(
                f"{self.path}: cannot create the runid home ({exc.strerror})",
                hint="choose another directory with --home or RUNID_HOME",
            ) from None

    def init_keys(self, name: str) -> SigningKey:
        """Generate and store a new signing key; refuses to replace an existing one
        (:class:`~runid.errors.FileAccessError`, code ``E_KEY_EXISTS``)."""
        self.create()
        key = SigningKey.generate(name)
        save_signing_key(key, self.signing_key_path)
        self._write_public(key)
        return key

    def ensure_signing_key(self, name: str = DEFAULT_KEY_NAME) -> tuple[SigningKey, bool]:
        """The home's signing key, created (named ``name``) if the home has none yet.

        Returns ``(key, created)``. Safe when several threads or processes call it at once:
        the key file is created exclusively and appears complete, so exactly one caller
        creates it and every other one loads that same key.

        A key is only created in a home that has no key at all and no log entries: a home
        holding only the public key (a verifier's copy) or a log whose key file is missing
        raises :class:`~runid.errors.InputError` (``E_NO_SIGNING_KEY``) instead, since a new
        key would not be the key of the records already there.
        """
        if not self.signing_key_path.exists():
            try:
                self._check_no_key_expected()
            except InputError:
                # The key file is written before the public key and before any entry: if it
                # exists now, another process created it since we looked.
                if not self.signing_key_path.exists():
                    raise
            else:
                try:
                    return self.init_keys(name), True
                except FileAccessError as exc:
                    if exc.code != E_KEY_EXISTS:
                        raise
                    # Another process created it first: use that key.
        key = self.signing_key()
        if not self.public_key_path.exists():
            self._write_public(key)  # its creator stopped before writing it
        return key, False

    def _check_no_key_expected(self) -> None:
        if self.public_key_path.exists():
            raise InputError(
                f"{self.path}: this home has the public key only ({self.public_key_path}), "
                "no private signing key",
                hint="record into the home that holds keys/signing.key (--home or RUNID_HOME), "
                "or into a new, empty home",
                code=E_NO_SIGNING_KEY,
            )
        if not (self.path / LOG_FILE).exists():
            return
        with open_store(self.path, create=False) as store:
            size = store.size()
        if size:
            raise InputError(
                f"{self.path}: the log holds {size} entries but {self.signing_key_path} is missing",
                hint="restore keys/signing.key from a backup (a new key would not be the key of "
                "those records), or record into a new, empty home",
                code=E_NO_SIGNING_KEY,
            )

    def _write_public(self, key: SigningKey) -> None:
        """Write the verifier key file atomically (same bytes whoever writes it), mode 0644
        whatever the umask, through a new no-follow temporary file renamed over it."""
        path = self.public_key_path
        try:
            write_atomic(
                path, (key.public_key.vkey + "\n").encode("ascii"), mode=0o644, exact_mode=True
            )
        except OSError as exc:
            raise FileAccessError(f"{path}: cannot write the public key ({exc.strerror})") from None

    def signing_key(self) -> SigningKey:
        """The home's private signing key (the home and the key file must be private)."""
        self.require_keys(private=True)
        return load_signing_key(self.signing_key_path)

    def public_key(self) -> PublicKey:
        """The home's verifier key: of its signing key, else of ``keys/signing.pub`` (a
        verifier's copy of a home holds only that)."""
        self.require_keys()
        if os.path.lexists(self.signing_key_path):
            return self.signing_key().public_key
        text = read_regular(self.public_key_path, _KEY_FILE_LIMIT, what="key files")
        return PublicKey.parse(text.decode("ascii", "replace").strip())


def _keyed_digest(line: bytes) -> str | None:
    """The ``keyed_digest`` of one keyed-index line, or ``None`` if it has none."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    digest = value.get("keyed_digest") if isinstance(value, dict) else None
    return digest if isinstance(digest, str) else None


def save_signing_key(key: SigningKey, path: Path) -> None:
    """Write a private key to a new file with mode 0600; never overwrites.

    The file appears complete or not at all: the key is written and synced to a private
    temporary file in the same directory, which is then hard-linked to ``path`` (the link
    fails if ``path`` exists, like ``O_EXCL``). Of several processes saving at once, exactly
    one succeeds; the others get :class:`~runid.errors.FileAccessError` ``E_KEY_EXISTS`` and
    can load the winner's key, never a half-written one. Where hard links are not supported,
    the file is created with ``O_EXCL`` and written in place.
    """
    data = (key.private_text() + "\n").encode("ascii")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        _write_new(tmp, data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise
        except OSError:  # no hard links on this file system: create in place
            _write_new(path, data)
        _fsync_dir(path.parent)
    except FileExistsError:
        raise FileAccessError(
            f"{path}: a key already exists",
            hint="remove it first, or use another --home",
            code=E_KEY_EXISTS,
        ) from None
    except OSError as exc:
        raise FileAccessError(f"{path}: cannot create ({exc.strerror})") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def load_signing_key(path: Path) -> SigningKey:
    """Read a private key file written by :func:`save_signing_key`.

    The file must be a regular file that only its owner can read or write (as ssh requires
    of a private key); otherwise :class:`~runid.errors.FileAccessError` says so, with the
    ``chmod`` that fixes it in the hint.
    """
    if not os.path.lexists(path):
        raise FileAccessError(
            f"{shown(path)}: no signing key", hint="create one with 'runid keys init'"
        )
    fd = open_regular(path)
    try:
        mode = os.fstat(fd).st_mode
        if os.name == "posix" and mode & 0o066:
            who = "readable" if mode & 0o044 else "writable"
            raise FileAccessError(
                f"{shown(path)}: the private key is {who} by others "
                f"(mode {stat.S_IMODE(mode):04o}); it must be private to its owner",
                hint=f"chmod 600 {path}",
                code=E_PERMISSIONS,
            )
        data = os.read(fd, _KEY_FILE_LIMIT)
    except OSError as exc:
        raise FileAccessError(f"{shown(path)}: cannot read the signing key ({exc})") from None
    finally:
        os.close(fd)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise FileAccessError(f"{shown(path)}: cannot read the signing key ({exc})") from None
    return SigningKey.from_private_text(text, str(path))


def _write_new(path: Path, data: bytes) -> None:
    """Create ``path`` (mode 0600, failing if it exists, even as a dangling symlink), write
    ``data`` and sync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    """Make a new directory entry durable (best effort: not every platform can)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
