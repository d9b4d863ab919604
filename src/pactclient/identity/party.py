"""Homes that write for a party through a party key: organisations, paired devices, recovery.

* ``pact init`` makes a home of one key: its device key is also its party key (as every home made
  before devices existed). It can certify more devices for its party with that key.
* ``pact org init`` makes an organisation: a new party key kept in this home (``party.key``) and a
  device key certified by it for the person at this machine (typically the desk).
* ``pact device add`` / ``pact device pair`` make a new home a certified device of an existing
  party (the pairing itself travels over TLS, see ``pactclient.sync.pairing``): it gets a new device key,
  a delegation and a TLS certificate issued by the party key.
* ``pact init --recover FILE`` makes a home for a party that lost its devices, from the party key
  kept offline: a new device key, certified by the recovered key, which this home then keeps.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pactclient.errors import IdentityError
from pactclient.identity.certs import issue_certificate
from pactclient.identity.delegation import delegate, read_delegation, revoke
from pactclient.identity.device import DeviceIdentity, _read_key


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def certify(holder: DeviceIdentity, device_public: bytes, person: str, device: str, now: int,
            contact: dict | None = None) -> tuple[dict, bytes]:
    """A delegation and TLS certificate for ``device_public``, made with the party key ``holder`` keeps."""
    signer = holder.party_signer
    if signer is None:
        raise IdentityError("this home does not hold its party's key: add devices from the home that does "
                            "(the one that ran `pact org init` or `pact init`)")
    if not person.strip():
        raise IdentityError("name the person who uses the device (--person)")
    statement = delegate(signer, raw_public(signer).hex(), device_public.hex(), person, device, now, contact,
                         holder.org)
    return statement.to_dict(), issue_certificate(signer, device_public)


def init_org(home: Path, org: str, person: str, device: str, now: int, contact: dict | None = None) -> DeviceIdentity:
    """A new organisation: its party key, kept here, and this home's device certified by it."""
    if not org.strip():
        raise IdentityError("an organisation needs a name (--name)")
    party_key, device_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    statement = delegate(party_key, raw_public(party_key).hex(), raw_public(device_key).hex(), person or org,
                         device, now, contact, org)
    return DeviceIdentity.create(home, person or org, org, key=device_key, delegation=statement.to_dict(),
                                 certificate=issue_certificate(party_key, raw_public(device_key)), party_key=party_key)


def paired_home(home: Path, device_key: Ed25519PrivateKey, delegation: dict, certificate: bytes) -> DeviceIdentity:
    """Make ``home`` the certified device that pairing gave ``device_key`` (checked here again)."""
    fields = read_delegation(delegation.get("statement"), delegation.get("signature"))
    if fields is None or fields["device_key"] != raw_public(device_key).hex():
        raise IdentityError("the pairing gave a delegation that is not for this device, or does not verify")
    return DeviceIdentity.create(home, fields["person"], fields["org"], key=device_key,
                                 delegation={"statement": delegation["statement"], "signature": delegation["signature"]},
                                 certificate=certificate)


def recover(home: Path, party_key_file: Path, person: str, device: str, now: int) -> DeviceIdentity:
    """A new device for the party whose key is in ``party_key_file`` (kept offline), which this home keeps."""
    party_key = _read_key(Path(party_key_file))
    device_key = Ed25519PrivateKey.generate()
    statement = delegate(party_key, raw_public(party_key).hex(), raw_public(device_key).hex(), person, device, now)
    return DeviceIdentity.create(home, person, "", key=device_key, delegation=statement.to_dict(),
                                 certificate=issue_certificate(party_key, raw_public(device_key)), party_key=party_key)


def revocation(holder: DeviceIdentity, device_hex: str, now: int, reason: str = "") -> dict:
    """A revocation of one of the party's devices, signed by the party key ``holder`` keeps."""
    signer = holder.party_signer
    if signer is None:
        raise IdentityError("this home does not hold its party's key: revoke devices from the home that does")
    if device_hex == holder.party_key_hex:
        raise IdentityError("that is the party key itself, not a device: to replace it, propose `pact key replace`")
    statement = revoke(signer, raw_public(signer).hex(), device_hex, now, reason)
    return {**statement.to_dict(), "device": device_hex}
