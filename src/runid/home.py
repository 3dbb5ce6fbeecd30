"""Where runid keeps its state: the home directory, its key files and its log.

Resolution order, for every command: ``--home DIR``, then the ``RUNID_HOME`` environment
variable, then ``$XDG_DATA_HOME/runid`` (if that is an absolute path), then
``~/.local/share/runid`` (:func:`runid.store.default_home`).

Layout::

    <home>/log.sqlite3        the transparency log and blob store (SQLite, WAL)
    <home>/keys/signing.key   the issuer's Ed25519 private key (mode 0600)
    <home>/keys/signing.pub   its verifier key (C2SP vkey), safe to publish

>>> from pathlib import Path
>>> Home(Path("/tmp/x")).signing_key_path
PosixPath('/tmp/x/keys/signing.key')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import FileAccessError
from .keys import PublicKey, SigningKey
from .store import default_home

__all__ = ["Home", "resolve_home"]


def resolve_home(explicit: str | Path | None = None) -> Path:
    """The home directory by the documented order (not created here)."""
    if explicit:
        return Path(explicit).expanduser()
    return default_home()


@dataclass(frozen=True)
class Home:
    path: Path

    @property
    def keys_dir(self) -> Path:
        return self.path / "keys"

    @property
    def signing_key_path(self) -> Path:
        return self.keys_dir / "signing.key"

    @property
    def public_key_path(self) -> Path:
        return self.keys_dir / "signing.pub"

    def create(self) -> None:
        """Create the home and key directories, private to the user (0700)."""
        try:
            self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.path.chmod(0o700)
        except OSError as exc:
            raise FileAccessError(
                f"{self.path}: cannot create the runid home ({exc.strerror})",
                hint="choose another directory with --home or RUNID_HOME",
            ) from None

    def init_keys(self, name: str) -> SigningKey:
        """Generate and store a new signing key; refuses to replace an existing one."""
        self.create()
        key = SigningKey.generate(name)
        key.save(self.signing_key_path)
        self.public_key_path.write_text(key.public_key.vkey + "\n", "ascii")
        return key

    def signing_key(self) -> SigningKey:
        return SigningKey.load(self.signing_key_path)

    def public_key(self) -> PublicKey:
        return self.signing_key().public_key
