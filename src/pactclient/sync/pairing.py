"""Pairing a new device with its party: one-time codes, and the sans-IO exchange that redeems one.

``pact device add`` on a home that holds the party key makes a code; ``pact device pair CODE`` on the
new device redeems it. A code is ``pair-`` followed by unpadded lowercase base32 of a msgpack array::

    [1, party key (32 bytes), pairing id (8 bytes), secret (16 bytes), expires_at (ms), ["host:port", ...]]

It is stored like an invite (``sync.invites``: only the secret's hash, under the home's HMAC, used
once), with an empty contract id and, as its role, ``device:`` and the JSON of who the device is for
(person, device name, contact details): the home that makes the code decides what the delegation will
say, not the device that redeems it.

On the wire it is an invite connection (the invite listener, TLS server name ``invite.pact``, the
code's party key pinned by the new device): the host sends ``challenge``; the new device answers
``pair`` with the pairing id, the secret, its new device key and an Ed25519 signature by that key over
``PAIR_DOMAIN || pairing id || party key || device key || nonce``; the host answers ``paired`` with the
delegation and TLS certificate it made with the party key, and its sync port. The new device checks
both before it writes its home.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass

import msgpack
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pactclient.errors import PactError, RefusedOperation, RemoteProtocolError, UsageError
from pactclient.identity.certs import peer_identity
from pactclient.identity.delegation import CONTACT_FIELDS, read_delegation
from pactclient.identity.device import verify_signature
from pactclient.identity.party import certify
from pactclient.store.workspace import Workspace
from pactclient.sync.invites import DEFAULT_TTL_MS, invite_mac
from pactclient.sync.connection import PROTOCOL, VERSION
from pactclient.sync.frames import field

CODE_PREFIX = "pair-"
PAIR_DOMAIN = b"pactclient/device-pairing/v1\x00"
ROLE_PREFIX = "device:"


def pairing_message(pairing_id: bytes, party_key: bytes, device_key: bytes, nonce: bytes) -> bytes:
    return PAIR_DOMAIN + pairing_id + party_key + device_key + nonce


@dataclass(frozen=True)
class PairingCode:
    party_key: bytes
    pairing_id: bytes
    secret: bytes
    expires_at: int
    addresses: tuple[str, ...]

    def encode(self) -> str:
        body = msgpack.packb([1, self.party_key, self.pairing_id, self.secret, self.expires_at, list(self.addresses)],
                             use_bin_type=True)
        return CODE_PREFIX + base64.b32encode(body).decode().rstrip("=").lower()

    @classmethod
    def decode(cls, text: str) -> "PairingCode":
        text = "".join((text or "").split()).lower()
        if text.startswith("pact-"):
            raise UsageError("that is an invite code for a contract: use `pact join CODE`")
        if not text.startswith(CODE_PREFIX):
            raise UsageError("not a pairing code (it starts with 'pair-')")
        raw = text[len(CODE_PREFIX):].upper()
        try:
            v, key, pid, secret, expires, addrs = msgpack.unpackb(base64.b32decode(raw + "=" * (-len(raw) % 8)), raw=False)
            ok = (v == 1 and isinstance(key, bytes) and len(key) == 32 and isinstance(pid, bytes) and len(pid) == 8
                  and isinstance(secret, bytes) and len(secret) == 16 and isinstance(expires, int)
                  and isinstance(addrs, list) and all(isinstance(a, str) for a in addrs))
        except Exception:  # binascii, msgpack and unpacking errors alike: the code was mistyped
            ok = False
        if not ok:
            raise UsageError("the pairing code is damaged (check that it was copied whole)")
        return cls(key, pid, secret, expires, tuple(addrs))


def create_pairing(ws: Workspace, person: str, device: str, contact: dict, addresses: list[str],
                   ttl_ms: int = DEFAULT_TTL_MS) -> PairingCode:
    """Record a one-time pairing for a device of this home's party; return its code."""
    if ws.identity.party_signer is None:
        raise RefusedOperation("this home does not hold its party's key: make pairing codes on the home that does "
                               "(the one that ran `pact org init` or `pact init`)")
    if not person.strip():
        raise UsageError("name the person who will use the device (--person)")
    if not addresses:
        raise UsageError("no address to put in the code: start `pact serve` first, or give --address HOST:PORT")
    contact = {k: v.strip() for k, v in contact.items() if k in CONTACT_FIELDS and v and v.strip()}
    role = ROLE_PREFIX + json.dumps({"person": person.strip(), "device": device.strip(), "contact": contact},
                                    sort_keys=True)
    now = ws.clock()
    code = PairingCode(ws.identity.party_key, os.urandom(8), os.urandom(16), now + ttl_ms, tuple(addresses))
    secret_hash = hashlib.sha256(code.secret).digest()
    mac = invite_mac(ws, code.pairing_id, "", role, secret_hash, now, code.expires_at)
    with ws.store.write():
        ws.store.add_invite(code.pairing_id, "", role, secret_hash, now, code.expires_at, mac)
    return code


def host_pairing(ws: Workspace, frame: dict, nonce: bytes) -> tuple[dict, str]:
    """The host's answer to a ``pair`` frame: (the ``paired`` frame, a line for the log). Raises
    RefusedOperation with the reason the new device is told."""
    pairing_id, secret = field(frame, "invite", bytes), field(frame, "secret", bytes)
    key, proof = field(frame, "key", bytes), frame.get("proof")
    if len(key) != 32 or not isinstance(proof, bytes):
        raise RemoteProtocolError("malformed pairing: a 32-byte key and a proof are needed")
    now = ws.clock()
    with ws.store.write():
        row = ws.store.invite(pairing_id)
        if row is None or not str(row["role"]).startswith(ROLE_PREFIX):
            raise RefusedOperation("no such pairing: the code is wrong, or was made by another device")
        expected = invite_mac(ws, pairing_id, row["contract_id"], row["role"], row["secret_hash"], row["created_at"],
                              row["expires_at"])
        if not isinstance(row["mac"], bytes) or not hmac.compare_digest(expected, row["mac"]):
            raise RefusedOperation("this pairing is not authenticated by this device; make a new code")
        if not hmac.compare_digest(hashlib.sha256(secret).digest(), row["secret_hash"]):
            raise RefusedOperation("the pairing code is wrong (its secret does not match)")
        if not verify_signature(key, proof, pairing_message(pairing_id, ws.identity.party_key, key, nonce)):
            raise RefusedOperation("the pairing does not prove possession of the key it names")
        if row["used_at"] is not None:
            raise RefusedOperation("this pairing code was already used; make a new one")
        if row["expires_at"] <= now:
            raise RefusedOperation("this pairing code has expired; make a new one")
        who = json.loads(row["role"][len(ROLE_PREFIX):])
        delegation, certificate = certify(ws.identity, key, who["person"], who["device"], now, who["contact"])
        ws.store.use_invite(pairing_id, now, key.hex())
        ws.store.put_peer(key.hex(), who["person"], "", "known")
        ws.remember_device(key.hex(), {**delegation, "person": who["person"], "device": who["device"]})
    reply = {"t": "paired", "delegation": delegation, "certificate": certificate, "name": ws.identity.name}
    return reply, f"paired {who['person']}'s {who['device'] or 'device'}"


class PairGuest:
    """The new device's side: proves the secret and its key, then checks what it is given. It has no
    home yet; ``device`` is the in-memory identity of its new key."""

    def __init__(self, device, code: PairingCode):
        self.device = device
        self.code = code
        self.closed = False
        self.result: tuple[dict, bytes, str] | None = None  # (delegation, certificate, host's name)
        self.error = ""
        self.port = 0  # the host's sync port, told with the pairing

    def answer(self, frame: dict) -> dict | None:
        """The frame to send in reply to ``frame`` from the host, or None when the exchange is over."""
        t = frame.get("t")
        if t == "error":
            self.error, self.closed = str(frame.get("reason", ""))[:500], True
            return None
        if t == "challenge":
            nonce = field(frame, "nonce", bytes)
            proof = self.device.sign(pairing_message(self.code.pairing_id, self.code.party_key, self.device.public_key, nonce))
            return {"t": "pair", "protocol": PROTOCOL, "v": VERSION, "invite": self.code.pairing_id,
                    "secret": self.code.secret, "key": self.device.public_key, "proof": proof}
        if t != "paired":
            raise RemoteProtocolError("the host answered with something other than a pairing")
        delegation = field(frame, "delegation", dict)
        certificate = field(frame, "certificate", bytes)
        fields = read_delegation(delegation.get("statement"), delegation.get("signature"))
        if fields is None or fields["device_key"] != self.device.key_hex or fields["party_key"] != self.code.party_key.hex():
            raise PactError("the host's delegation does not verify for this device and the code's party")
        try:
            der = x509.load_pem_x509_certificate(certificate).public_bytes(serialization.Encoding.DER)
            ok = peer_identity(der, [self.code.party_key]) == (self.device.public_key, self.code.party_key)
        except (ValueError, PactError):
            ok = False
        if not ok:
            raise PactError("the host's certificate is not this device's, issued by the code's party key")
        self.result = ({"statement": delegation["statement"], "signature": delegation["signature"]}, certificate,
                       str(frame.get("name", ""))[:200])
        port = frame.get("port")
        self.port = port if isinstance(port, int) and 0 < port < 65536 else 0
        self.closed = True
        return None
