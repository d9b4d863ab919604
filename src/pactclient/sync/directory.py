"""The party's directory of devices, passed from the home that holds the party key to the party's
other devices when they connect, so that an agent can hand a case to a colleague who has not touched
it yet (``store.devices.hand_over``).

Frame ``devices``: ``{"t": "devices", "records": [{statement, signature, person, device, revoked_at}]}``,
sent only to a peer whose certificate was issued by this home's own party key, and taken only from
such a peer. Each record is kept only if its delegation verifies under that party key; what it says
is what the party key signed, whoever carried it. A revocation is marked locally; what stops a
revoked device is the signed revocation in the contracts (``device_checks``).
"""

from __future__ import annotations

import json

from pactclient.errors import RemoteProtocolError
from pactclient.identity.delegation import read_delegation

MAX_RECORDS = 10_000


def offer(ws, peer_party: bytes) -> dict | None:
    """The ``devices`` frame for a peer of this party, if this home holds the party key; else None."""
    me = ws.identity
    if peer_party != me.party_key or me.party_signer is None:
        return None
    records = []
    for key, text, revoked_at in ws.store.certified_devices():
        record = json.loads(text)
        records.append({"statement": record.get("statement", ""), "signature": record.get("signature", ""),
                        "person": record.get("person", ""), "device": record.get("device", ""),
                        "revoked_at": revoked_at})
    if me.delegation is not None:
        records.append({**me.delegation, "person": me.person, "device": "", "revoked_at": None})
    return {"t": "devices", "records": records[:MAX_RECORDS]}


def take(ws, frame: dict, peer_party: bytes) -> int:
    """Keep the verified records of a ``devices`` frame from a device of this party; returns how many."""
    if peer_party != ws.identity.party_key:
        raise RemoteProtocolError("sent a device directory for a party that is not this device's")
    records = frame.get("records")
    if not isinstance(records, list) or len(records) > MAX_RECORDS:
        raise RemoteProtocolError("malformed device directory")
    kept = 0
    with ws.store.write():
        for record in records:
            if not isinstance(record, dict):
                continue
            fields = read_delegation(record.get("statement"), record.get("signature"))
            if fields is None or fields["party_key"] != ws.identity.party_key_hex or fields["device_key"] == ws.identity.key_hex:
                continue
            keep = {"statement": record["statement"], "signature": record["signature"], "person": fields["person"],
                    "device": fields["device"]}
            ws.store.put_certified_device(fields["device_key"], json.dumps(keep, sort_keys=True))
            revoked_at = record.get("revoked_at")
            if isinstance(revoked_at, int) and not isinstance(revoked_at, bool):
                ws.store.revoke_certified_device(fields["device_key"], revoked_at, json.dumps(keep, sort_keys=True))
            kept += 1
    return kept
