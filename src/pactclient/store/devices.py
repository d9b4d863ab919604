"""A party's devices as one home sees them: those it certified (the home that holds the party key),
revoking one everywhere, and handing a case to a colleague.

The directory of certified devices is local (``certified_devices`` in ``pact.db``): each device's
delegation as the party key signed it, and when it was revoked. What other copies know of a device
is what the contracts carry (``devices`` and ``revocations``, see ``model.schema``).
"""

from __future__ import annotations

import json

from pactclient.errors import PactError, UsageError
from pactclient.identity.party import revocation
from pactclient.model import device_actions


def remember(ws, key_hex: str, record: dict) -> None:
    """Keep a device this home certified (``record``: its delegation, person and device name)."""
    ws.store.put_certified_device(key_hex, json.dumps(record, sort_keys=True))


def known(ws) -> list[dict]:
    """Devices this home knows of its own party: itself, and every one it certified."""
    me = ws.identity
    out = [{"key": me.key_hex, "person": me.person, "device": _device_name(me.delegation) or "this device",
            "contact": _contact(me.delegation), "revoked_at": None, "this_device": True,
            "statement": (me.delegation or {}).get("statement", ""), "signature": (me.delegation or {}).get("signature", "")}]
    for key, text, revoked_at in ws.store.certified_devices():
        if key == me.key_hex:
            continue
        record = json.loads(text)
        out.append({"key": key, "person": record.get("person", ""), "device": record.get("device", ""),
                    "contact": _contact(record), "revoked_at": revoked_at, "this_device": False,
                    "statement": record.get("statement", ""), "signature": record.get("signature", "")})
    return out


def _device_name(delegation: dict | None) -> str:
    try:
        return json.loads(delegation["statement"]).get("device", "") if delegation else ""
    except (ValueError, KeyError, TypeError):
        return ""


def _contact(delegation: dict | None) -> dict:
    try:
        return dict(json.loads(delegation["statement"]).get("contact", {})) if delegation else {}
    except (ValueError, KeyError, TypeError):
        return {}


def find(ws, who: str) -> dict:
    """One known device, by key (or its first 8+ hex digits) or by person name."""
    devices = known(ws)
    want = who.strip().casefold()
    hits = [d for d in devices if d["key"] == want or (len(want) >= 8 and d["key"].startswith(want))]
    hits = hits or [d for d in devices if d["person"].casefold() == want]
    if len(hits) != 1:
        names = ", ".join(f"{d['person']} ({d['device']}, {d['key'][:8]})" for d in devices) or "none"
        raise UsageError(f"{'no' if not hits else 'more than one'} device matches {who!r}; known: {names}")
    return hits[0]


def revoke(ws, who: str, reason: str = "") -> tuple[dict, list[str]]:
    """Revoke a device this party certified: sign the revocation with the party key, keep it, and
    carry it into every contract of this party that can hold it. Returns (the device, contract ids)."""
    device = find(ws, who)
    if device["this_device"]:
        raise UsageError("this is the device you are using: revoke it from another device that holds the party key")
    rev = revocation(ws.identity, device["key"], ws.clock(), reason)
    with ws.store.write():
        ws.store.revoke_certified_device(device["key"], ws.clock(), json.dumps(device, sort_keys=True))
    carried = []
    for cid in ws.store.contract_ids():
        try:
            view = ws.view(cid)
        except PactError:
            continue
        if view.schema < 3 or view.party_by_key(ws.identity.party_key_hex) is None:
            continue
        ws.act(cid, device_actions.carry_revocation, rev)
        carried.append(cid)
    return device, carried


def hand_over(ws, contract_id: str, to: str):
    """Make ``to`` (a person, a device key, or "me") the problem owner of a case for this party."""
    directory = {d["key"]: d for d in known(ws) if d["revoked_at"] is None and d["statement"]}
    return ws.act(contract_id, device_actions.hand_over, to, directory)
