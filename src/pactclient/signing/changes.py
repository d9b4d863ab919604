"""The signature over one Automerge change.

A change is signed by the device whose public key is the change's actor id. The signed message is the
ASCII domain tag ``pactclient/change/v1`` followed by one zero byte and the 32-byte change hash, so a
signature made for a change can never be replayed as a signature over anything else.
"""

from __future__ import annotations

from pactclient.identity.device import DeviceIdentity, verify_signature

CHANGE_DOMAIN = b"pactclient/change/v1\x00"


def change_message(change_hash: bytes) -> bytes:
    return CHANGE_DOMAIN + change_hash


def sign_change(identity: DeviceIdentity, change_hash: bytes) -> bytes:
    return identity.sign(change_message(change_hash))


def verify_change(actor: bytes, change_hash: bytes, signature: bytes | None) -> bool:
    if not signature or len(actor) != 32 or len(signature) != 64:
        return False
    return verify_signature(actor, signature, change_message(change_hash))
