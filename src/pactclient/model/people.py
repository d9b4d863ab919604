"""The people behind a party: its certified devices and the problem owner it names.

A party's devices are read from the ``devices`` section (each a delegation signed by the party's
key, verified on admission; here only parsed), its revoked ones from ``revocations``, and the
person who owns the problem for a party from ``owner``. A party of one key (every party of a schema 2
contract, and anyone who never added a device) has no device record: its key writes directly, and
the person is the party's own name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Device:
    key: str  # hex device key
    party: str  # the party id it writes for
    person: str
    name: str  # the device's name ("laptop", "desk")
    contact: tuple[tuple[str, str], ...] = ()  # (phone | email | hours, value)
    revoked: bool = False

    def contact_line(self) -> str:
        return " · ".join(value for _, value in self.contact)


@dataclass(frozen=True)
class Owner:
    """The person of a party who owns the problem: certified device, or the party's own key."""

    party: str
    person: str
    device: str  # hex key of the device (or the party key) the owner uses
    contact: tuple[tuple[str, str], ...] = ()
    since: int = 0

    def contact_line(self) -> str:
        return " · ".join(value for _, value in self.contact)


def read_devices(raw: dict, party_keys: dict[str, str]) -> dict[str, Device]:
    """Devices certified by a party's current key (``party_keys``: key -> party id), by device key."""
    gone = set()
    for name, record in (raw.get("revocations") or {}).items():
        try:
            gone.add((name.partition(".")[0], json.loads(record.get("statement", ""))["party_key"]))
        except (AttributeError, TypeError, ValueError, KeyError):
            continue
    out = {}
    for key, record in (raw.get("devices") or {}).items():
        try:
            fields = json.loads(record.get("statement", ""))
        except (AttributeError, TypeError, ValueError):
            continue
        if not isinstance(fields, dict):
            continue
        party = party_keys.get(fields.get("party_key", ""))
        if party is None or fields.get("device_key") != key:
            continue
        contact = fields.get("contact") if isinstance(fields.get("contact"), dict) else {}
        out[key] = Device(key, party, str(fields.get("person", "")), str(fields.get("device", "")),
                          tuple((k, str(v)) for k, v in sorted(contact.items())), (key, fields.get("party_key")) in gone)
    return out


def read_owners(raw: dict, devices: dict[str, Device], parties: dict) -> dict[str, Owner]:
    """Per party that named one: its problem owner now."""
    out = {}
    for pid, record in (raw.get("owner") or {}).items():
        if not isinstance(record, dict) or pid not in parties:
            continue
        key = record.get("device", "")
        device = devices.get(key)
        if device is None and record.get("statement"):  # a colleague named with their delegation
            device = read_devices({"devices": {key: record}}, {parties[pid].key: pid}).get(key)
        if device is not None and device.party == pid:
            out[pid] = Owner(pid, device.person, key, device.contact, record.get("at", 0))
        elif key and key == parties[pid].key:
            out[pid] = Owner(pid, parties[pid].name, key, (), record.get("at", 0))
    return out
