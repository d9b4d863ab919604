"""The device key pair and the small profile (name, organisation) kept beside it.

Layout of a home directory::

    identity.json   {"name", "org", "public_key" (hex)}
    device.key      PKCS#8 PEM Ed25519 private key         mode 0600
    pact.db         the SQLite store (see pactclient.store), with its -wal and -shm files: mode 0600
    own-tail        this device's own-change count (see pactclient.store.own_tail)

The home itself is mode 0700: the store holds every contract in clear, so no other local user may
read it (``private_home`` also tightens homes made by earlier versions, when this user owns them).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import platformdirs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pactclient.errors import IdentityError, NotInitialised

PROFILE_FILE = "identity.json"
KEY_FILE = "device.key"


def default_home() -> Path:
    """``PACT_HOME`` if set, else the platform's per-user data directory."""
    env = os.environ.get("PACT_HOME")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("pact", appauthor=False))


def fingerprint(public_key: bytes) -> str:
    """Full fingerprint: base32 of SHA-256 of the raw public key, in dash-separated groups of four."""
    digest = base64.b32encode(hashlib.sha256(public_key).digest()).decode().rstrip("=")
    return "-".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def short_fingerprint(public_key: bytes) -> str:
    """The first two groups of the fingerprint: enough for a person to compare by eye."""
    return fingerprint(public_key)[:9]


def private_home(home: Path) -> None:
    """Make ``home`` (creating it) readable by this user alone: mode 0700. A home of another owner is
    left as it is (chmod would fail; its owner decides)."""
    home = Path(home)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = home.stat()
    if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(home, stat.S_IMODE(st.st_mode) & 0o700)


def verify_signature(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class DeviceIdentity:
    """An initialised device: its profile and its private key."""

    name: str
    org: str
    private_key: Ed25519PrivateKey

    # Derived once: deriving the public key costs ~30 µs, and every write and sync message asks for it.
    @cached_property
    def public_key(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @cached_property
    def key_hex(self) -> str:
        return self.public_key.hex()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    @property
    def short_fingerprint(self) -> str:
        return short_fingerprint(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    def derived_key(self, purpose: str) -> bytes:
        """A 32-byte secret for one local purpose (a MAC key for the store), derived from the device key
        with HKDF-SHA256 (RFC 5869; no salt, info ``pactclient/<purpose>/v1``). Only this device can
        compute it, and keys for different purposes are independent."""
        raw = self.private_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                             serialization.NoEncryption())
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=f"pactclient/{purpose}/v1".encode()).derive(raw)

    def to_public_dict(self) -> dict:
        return {
            "name": self.name,
            "org": self.org,
            "fingerprint": self.fingerprint,
            "short_fingerprint": self.short_fingerprint,
            "public_key": self.key_hex,
        }

    # -- files ---------------------------------------------------------------------------------

    @classmethod
    def create(cls, home: Path, name: str, org: str = "") -> "DeviceIdentity":
        home = Path(home)
        if (home / KEY_FILE).exists() or (home / PROFILE_FILE).exists():
            raise IdentityError(f"{home} already has an identity; use a different --home to make another")
        if not name.strip():
            raise IdentityError("a name is required")
        private_home(home)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        key_path = home / KEY_FILE
        # Create with 0600 from the start so the key is never readable by others, even briefly.
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        identity = cls(name=name.strip(), org=org.strip(), private_key=key)
        profile = {"name": identity.name, "org": identity.org, "public_key": identity.key_hex}
        tmp = home / (PROFILE_FILE + ".tmp")
        tmp.write_text(json.dumps(profile, indent=2) + "\n")
        os.replace(tmp, home / PROFILE_FILE)
        return identity

    @classmethod
    def load(cls, home: Path) -> "DeviceIdentity":
        home = Path(home)
        key_path, profile_path = home / KEY_FILE, home / PROFILE_FILE
        if not key_path.exists() or not profile_path.exists():
            raise NotInitialised(f"no identity in {home}; run: pact init --name \"Your Name\"")
        mode = stat.S_IMODE(key_path.stat().st_mode)
        if mode & 0o077:
            raise IdentityError(f"{key_path} is readable by others (mode {mode:o}); run: chmod 600 {key_path}")
        try:
            profile = json.loads(profile_path.read_text())
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (ValueError, TypeError, OSError) as exc:
            raise IdentityError(f"cannot read the identity in {home}: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise IdentityError(f"{key_path} is not an Ed25519 key")
        identity = cls(name=profile.get("name", ""), org=profile.get("org", ""), private_key=key)
        if profile.get("public_key") != identity.key_hex:
            raise IdentityError(f"{profile_path} does not match {key_path}")
        return identity
