"""Permissions for the records that say which device writes for which party (schema 3).

=============================================  ==================================================
path written                                   allowed when
=============================================  ==================================================
``devices/<device>``                           the writer *is* ``<device>`` (a device introduces
                                               itself, once), and the record's delegation is signed
                                               by its party's key in force at the change's
                                               dependencies and names this device
``revocations/<device>.<writer device>``       once per carrier; the revocation is signed by the
                                               writer's party key, names ``<device>``, and its
                                               ``after_op`` is ``<device>``'s last op counter among
                                               the change's ancestors (fixed by history, not chosen)
``owner/<party>``                              ``<party>`` is the writer's, and the record's ``device``
                                               is that party's key or one of its devices certified
                                               at the change's dependencies (or the writer itself),
                                               or the record carries that device's delegation
=============================================  ==================================================

Every record is a new map written whole by one change. A device's own record is keyed by the
device, so only that device's line of changes can write it and two records for one device are
never concurrent; a revocation is keyed by its carrier for the same reason. Which device writes for
which party at a change is then a function of the change's ancestors alone (``TermsHistory``),
the same in every copy. Revocations also act beyond causality: admission refuses a revoked
device's changes past the revocation's ``after_op`` whatever their dependencies say (see
``admission``), so a device cannot write "before" its revocation once a copy knows of it.
"""

from __future__ import annotations

from typing import NamedTuple

from automerge.core import Document, ObjType

from pactclient.identity.delegation import read_delegation, read_revocation
from pactclient.model.amdoc import materialize, obj_key
from pactclient.signing.change_ops import MAKE_MAP, SET, value_of
from pactclient.signing.proposal_checks import Refusal

DEVICE_SECTIONS = ("devices", "revocations", "owner")


class DeviceWrites(NamedTuple):
    """What one change writes of the device sections, read from its own ops (a record may be hidden
    in the document by a later one, as owner records are on a hand-over)."""

    introduced: list  # device keys whose record the change makes (only its own)
    revoked: list  # revocation record names
    owners: list  # party ids whose owner record the change makes
    fields: dict  # (section, name) -> {field: value} as the change wrote them


def new_writes() -> DeviceWrites:
    return DeviceWrites([], [], [], {})


def check_write(op, path: tuple, in_new_object: bool, actor_hex: str, writer: str, writes: DeviceWrites) -> Refusal | None:
    """One op into ``devices``, ``revocations`` or ``owner``: the shape, before the records are read."""
    section = path[0]
    if len(path) == 2:
        if op.action != MAKE_MAP:
            return Refusal("device-record", f"it writes {section}/{path[1]} other than as a new record")
        name = path[1]
        if section == "devices":
            if name != actor_hex:
                return Refusal("device-record", "a device writes only its own delegation")
            writes.introduced.append(name)
        elif section == "revocations":
            if name.partition(".")[2] != actor_hex:
                return Refusal("device-record", "a revocation record is keyed by the device that carries it")
            writes.revoked.append(name)
        else:
            if name != writer:
                return Refusal("problem-owner", f"{writer or 'the writer'} names the problem owner of {name!r}")
            writes.owners.append(name)
        writes.fields[(section, name)] = {}
        return None
    if not in_new_object:
        return Refusal("device-record", f"it changes {section}/{path[1]}, which is written once")
    if len(path) > 3:
        return Refusal("well-formed", f"it writes {'/'.join(map(str, path))!r}, deeper than any record goes")
    if op.action == SET:
        writes.fields.setdefault((section, path[1]), {})[path[2]] = value_of(op)
    return None


def introduced_party(doc: Document, devices_obj: bytes | None, change, parties: dict) -> str | None:
    """The party for which ``change`` introduces its own author — it makes ``devices/<author>`` with
    a delegation signed by that party's key in ``parties`` (the terms at its dependencies) — or None."""
    if devices_obj is None:
        return None
    record = _record_made_by(doc, devices_obj, change.actor_id.hex(), change)
    if record is None:
        return None
    fields = read_delegation(record.get("statement"), record.get("signature"))
    if fields is None or fields["device_key"] != change.actor_id.hex():
        return None
    return next((pid for pid, p in parties.items() if p.get("key") and p.get("key") == fields["party_key"]), None)


def check_records(sections: dict[str, bytes], change, writes: DeviceWrites, terms, writer: str, existed,
                  clock_at) -> Refusal | None:
    """The records ``change`` made, read back: signed statements that fit the writer and the history.
    ``existed(section_obj, key)`` says whether the key held a record at the change's dependencies;
    ``clock_at()`` gives each author's last op counter among the change's ancestors."""
    party_key = terms.parties.get(writer, {}).get("key", "")
    for device in writes.introduced:
        if existed(sections.get("devices"), device):
            return Refusal("device-record", "this device's delegation was already written; it is written once")
        record = writes.fields.get(("devices", device))
        fields = read_delegation(record.get("statement"), record.get("signature")) if record else None
        if fields is None or fields["device_key"] != device or not party_key or fields["party_key"] != party_key:
            return Refusal("delegation", "its device delegation is not signed by its party's key in force, for this device")
    for name in writes.revoked:
        if existed(sections.get("revocations"), name):
            return Refusal("device-record", "this revocation was already carried by this device")
        device = name.partition(".")[0]
        record = writes.fields.get(("revocations", name))
        fields = read_revocation(record.get("statement"), record.get("signature")) if record else None
        if fields is None or fields["device_key"] != device or not party_key or fields["party_key"] != party_key:
            return Refusal("delegation", "its revocation is not signed by its party's key in force, for that device")
        try:
            cutoff = clock_at().get(bytes.fromhex(device), 0)
        except ValueError:
            cutoff = -1
        if record.get("after_op") != cutoff:
            return Refusal("revocation-cutoff", f"its revocation ends the device's writing after op {record.get('after_op')!r}, "
                                                f"but that device's last op among the change's ancestors is {cutoff}")
    for pid in writes.owners:
        record = writes.fields.get(("owner", pid), {})
        device = record.get("device")
        ours = party_key == device or terms.by_key.get(device) == pid or device == change.actor_id.hex()
        if "statement" in record or "signature" in record:  # a colleague not yet in this contract
            fields = read_delegation(record.get("statement"), record.get("signature"))
            ours = fields is not None and fields["device_key"] == device and bool(party_key) and fields["party_key"] == party_key
        if not isinstance(device, str) or not ours:
            return Refusal("problem-owner", "the problem owner it names is not a person of its party")
    return None


def _record_made_by(doc: Document, parent: bytes, key: str, change) -> dict | None:
    """The record at ``parent[key]`` if ``change`` made it (its id is one of the change's ops)."""
    got = doc.get(parent, key)
    if got is None or not isinstance(got[0], ObjType):
        return None
    actor, counter = obj_key(got[1])
    if actor != change.actor_id or not change.start_op <= counter <= change.max_op:
        return None
    return materialize(doc, got[1])
