"""Delegations and revocations: a party key's signed word about one device key.

A party (a customer, a supplier organisation) has one **party key**; the contracts name it. Each
device a party uses (an agent's desktop, a phone, the desk's ``pact serve``) has its own **device
key**, with which it signs its changes and its TLS connections. A device writes for its party only
with a **delegation**: a statement signed by the party key naming the device key, the person who
uses it, a name for the device and, for an organisation's people, the contact details a customer
may use. The party key ends a device's right to write with a **revocation**.

Both are small JSON objects serialised canonically (sorted keys, no spaces, UTF-8), signed with
Ed25519 over ``DOMAIN + b"\\n" + statement``: the domain keeps a signature over a statement from
being read as a signature over a change (those sign a change hash, 32 bytes, never a JSON text).
Neither names a contract: the same signed statement is written into every contract where the
device writes (see ``model.schema``, sections ``devices`` and ``revocations``), travels in evidence
files and is shown on pairing. Checking one needs only ``cryptography``; docs/evidence.md gives the
openssl commands.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pactclient.errors import IdentityError
from pactclient.identity.device import verify_signature

DELEGATION = "pact-delegation/1"
REVOCATION = "pact-revocation/1"
CONTACT_FIELDS = ("phone", "email", "hours")
MAX_STATEMENT = 2048  # bytes: a name, a device name and three contact fields fit many times over


class Statement(NamedTuple):
    """A signed statement as stored: its canonical text and the party key's signature (hex)."""

    text: str
    signature: str

    def to_dict(self) -> dict:
        return {"statement": self.text, "signature": self.signature}


def canonical(fields: dict) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _message(kind: str, text: str) -> bytes:
    return kind.encode() + b"\n" + text.encode()


def _hex_key(value) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def delegate(party_key: Ed25519PrivateKey, party_key_hex: str, device_key_hex: str, person: str, device: str,
             issued_at: int, contact: dict | None = None, org: str = "") -> Statement:
    """A delegation of ``device_key_hex`` to the party of ``party_key``, signed by it."""
    contact = {k: str(v).strip() for k, v in (contact or {}).items() if k in CONTACT_FIELDS and str(v).strip()}
    fields = {"type": DELEGATION, "party_key": party_key_hex, "device_key": device_key_hex,
              "person": person.strip(), "device": device.strip(), "org": org.strip(), "contact": contact,
              "issued_at": int(issued_at)}
    text = canonical(fields)
    if len(text.encode()) > MAX_STATEMENT:
        raise IdentityError(f"the delegation is longer than {MAX_STATEMENT} bytes: shorten the names or contact details")
    return Statement(text, party_key.sign(_message(DELEGATION, text)).hex())


def revoke(party_key: Ed25519PrivateKey, party_key_hex: str, device_key_hex: str, issued_at: int,
           reason: str = "") -> Statement:
    """A revocation of ``device_key_hex`` by the party of ``party_key``, signed by it."""
    fields = {"type": REVOCATION, "party_key": party_key_hex, "device_key": device_key_hex,
              "reason": reason.strip()[:200], "issued_at": int(issued_at)}
    text = canonical(fields)
    return Statement(text, party_key.sign(_message(REVOCATION, text)).hex())


def read(text, signature, kind: str) -> dict | None:
    """The fields of a statement of ``kind`` if it is one, canonical and signed by the party key it
    names; else None. Never raises: this reads what other parties wrote."""
    if not isinstance(text, str) or not isinstance(signature, str) or len(text.encode()) > MAX_STATEMENT:
        return None
    try:
        fields = json.loads(text)
        sig = bytes.fromhex(signature)
    except ValueError:
        return None
    if not isinstance(fields, dict) or fields.get("type") != kind or canonical(fields) != text:
        return None
    if not (_hex_key(fields.get("party_key")) and _hex_key(fields.get("device_key"))):
        return None
    if not isinstance(fields.get("issued_at"), int):
        return None
    if kind == DELEGATION:
        if not all(isinstance(fields.get(k), str) for k in ("person", "device", "org")):
            return None
        contact = fields.get("contact")
        if not isinstance(contact, dict) or not all(k in CONTACT_FIELDS and isinstance(v, str) for k, v in contact.items()):
            return None
    if not verify_signature(bytes.fromhex(fields["party_key"]), sig, _message(kind, text)):
        return None
    return fields


def read_delegation(text, signature) -> dict | None:
    return read(text, signature, DELEGATION)


def read_revocation(text, signature) -> dict | None:
    return read(text, signature, REVOCATION)
