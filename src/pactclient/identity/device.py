"""The device key pair and the small profile (name, organisation) kept beside it.

Layout of a home directory::

    identity.json   {"name", "org", "public_key" (hex)}
    device.key      PKCS#8 PEM Ed25519 private key         mode 0600
    party.key       the party key, PKCS#8 PEM, mode 0600 — only in the home that holds it (an
                    organisation's admin or desk, a person's first device); absent in a home made
                    before devices existed, whose device key is also its party key
    delegation.json {"statement", "signature", "certificate"} — only in a device certified by a
                    separate party key: its delegation (see ``delegation``) and its TLS
                    certificate, issued by the party key
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
PARTY_KEY_FILE = "party.key"
DELEGATION_FILE = "delegation.json"


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


def write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    """Write ``key`` as PKCS#8 PEM, created 0600 so it is never readable by others, even briefly."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())


def _unreadable(exc: BaseException) -> str:
    """Why a key or profile file could not be read, in words: the system's reason, or damage."""
    from pactclient.reasons import os_reason

    if isinstance(exc, OSError):
        return os_reason(exc)
    return "it is damaged, or not a file pact wrote"


def _read_key(path: Path) -> Ed25519PrivateKey:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise IdentityError(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, OSError) as exc:
        raise IdentityError(f"cannot read {path}: {_unreadable(exc)}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityError(f"{path} is not an Ed25519 key")
    return key


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
    # Set for a device certified by a separate party key: its delegation ({statement, signature},
    # naming the party key) and its TLS certificate (PEM) issued by that key.
    delegation: dict | None = None
    certificate: bytes | None = None
    party_private_key: Ed25519PrivateKey | None = None  # held when this home keeps its party's key

    @cached_property
    def party_key(self) -> bytes:
        """The key contracts name for this device's party: the delegation's, or the device's own."""
        if self.delegation is not None:
            return bytes.fromhex(json.loads(self.delegation["statement"])["party_key"])
        return self.public_key

    @cached_property
    def party_key_hex(self) -> str:
        return self.party_key.hex()

    @property
    def party_signer(self) -> Ed25519PrivateKey | None:
        """The private party key if this home holds it (a home of one key holds it as its device key)."""
        if self.party_private_key is not None:
            return self.party_private_key
        return self.private_key if self.delegation is None else None

    @property
    def person(self) -> str:
        if self.delegation is not None:
            return json.loads(self.delegation["statement"]).get("person", "") or self.name
        return self.name

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
            "party_key": self.party_key_hex,
            "party_fingerprint": fingerprint(self.party_key),
            "holds_party_key": self.party_signer is not None,
            "certified_device": self.delegation is not None,
        }

    # -- files ---------------------------------------------------------------------------------

    @classmethod
    def create(cls, home: Path, name: str, org: str = "", key: Ed25519PrivateKey | None = None,
               delegation: dict | None = None, certificate: bytes | None = None,
               party_key: Ed25519PrivateKey | None = None) -> "DeviceIdentity":
        """Make a home's identity: a new device key (or ``key``), and for a certified device its
        delegation and certificate; ``party_key`` is kept as ``party.key`` when this home holds it."""
        home = Path(home)
        if (home / KEY_FILE).exists() or (home / PROFILE_FILE).exists():
            raise IdentityError(f"{home} already has an identity; use a different --home to make another")
        if not name.strip():
            raise IdentityError("a name is required")
        private_home(home)
        key = key or Ed25519PrivateKey.generate()
        write_private_key(home / KEY_FILE, key)
        if party_key is not None:
            write_private_key(home / PARTY_KEY_FILE, party_key)
        if delegation is not None:
            record = {**delegation, "certificate": (certificate or b"").decode()}
            tmp = home / (DELEGATION_FILE + ".tmp")
            tmp.write_text(json.dumps(record, indent=2) + "\n")
            os.chmod(tmp, 0o600)
            os.replace(tmp, home / DELEGATION_FILE)
        identity = cls(name=name.strip(), org=org.strip(), private_key=key, delegation=delegation,
                       certificate=certificate, party_private_key=party_key)
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
            raise IdentityError(f"cannot read the identity in {home}: {_unreadable(exc)}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise IdentityError(f"{key_path} is not an Ed25519 key")
        delegation, certificate, party_private = None, None, None
        if (home / DELEGATION_FILE).exists():
            try:
                record = json.loads((home / DELEGATION_FILE).read_text())
                delegation = {"statement": record["statement"], "signature": record["signature"]}
                certificate = record["certificate"].encode()
            except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
                raise IdentityError(f"cannot read {home / DELEGATION_FILE}: {_unreadable(exc)}") from None
        if (home / PARTY_KEY_FILE).exists():
            party_private = _read_key(home / PARTY_KEY_FILE)
        identity = cls(name=profile.get("name", ""), org=profile.get("org", ""), private_key=key,
                       delegation=delegation, certificate=certificate, party_private_key=party_private)
        if profile.get("public_key") != identity.key_hex:
            raise IdentityError(f"{profile_path} does not match {key_path}")
        return identity
