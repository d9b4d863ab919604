"""Actions on who writes for a party: a device introducing itself, a hand-over of the problem, a
revocation carried into a contract. Each writes one change, like every action (see ``actions``)."""

from __future__ import annotations

import json

from automerge.core import ROOT, Document

from pactclient.errors import RefusedOperation, UsageError
from pactclient.model.actions import Actor, Outcome, _event, _me
from pactclient.model.amdoc import child, put_value
from pactclient.model.reading import view_of


def needs_introduction(doc: Document, actor: Actor) -> bool:
    """Whether ``actor`` is a certified device its party has not yet introduced into this contract.
    Raises RefusedOperation for a contract of schema 2, which has no place for devices."""
    if actor.delegation is None or not actor.party_key or actor.party_key == actor.key:
        return False
    view = view_of(doc, actor.now, actor.cache)
    if view.party_by_key(actor.party_key) is None or actor.key in view.devices:
        return False
    if view.schema < 3:
        raise RefusedOperation("this contract was made before devices (schema 2): only the key that joined it "
                               "writes to it; use that device, or start a new contract")
    return True


def introduce_device(doc: Document, actor: Actor) -> Outcome:
    """Write this device's delegation into the contract: from this change on, it writes for its party.
    A supplier's device also becomes the problem owner when its party has named none yet."""
    view = view_of(doc, actor.now, actor.cache)
    if view.schema < 3:
        raise RefusedOperation("this contract was made before devices (schema 2): only its party's own key writes to it")
    party = view.party_by_key(actor.party_key)
    if party is None:
        raise RefusedOperation("this device's party is not a party of the contract")
    if actor.key in view.devices:
        return Outcome("this device is already known to the contract")
    with doc.transaction() as tx:
        put_value(tx, child(tx, ROOT, "devices"), actor.key, {**actor.delegation, "at": actor.now})
        if party.role != "customer" and party.id not in view.owners:
            put_value(tx, child(tx, ROOT, "owner"), party.id, {"device": actor.key, "at": actor.now, "by": actor.key})
    return Outcome("this device now writes for " + party.label)


def hand_over(doc: Document, actor: Actor, to: str, known: dict[str, dict] | None = None) -> Outcome:
    """Make the person of device ``to`` (a device key, a person's name, or "me") the party's problem
    owner. Nothing is asked of the other parties: it is the party's own business. ``known``: the
    delegations (device key -> {statement, signature, person}) this home knows of its party's other
    devices, for a colleague who has not written in this contract yet."""
    view = view_of(doc, actor.now, actor.cache)
    if view.schema < 3:
        raise RefusedOperation("this contract was made before devices (schema 2): it has no problem owner to hand over")
    me = _me(view, actor)
    if to.strip().casefold() == "me":
        to = actor.key
    mine = {d.key: (d.person, None) for d in view.devices_of(me.id) if not d.revoked}
    if actor.delegation is not None:
        mine.setdefault(actor.key, (actor_person(actor), actor.delegation))
    for key, record in (known or {}).items():
        if key not in mine and key not in {d.key for d in view.devices.values() if d.revoked}:
            mine[key] = (record.get("person", ""), {"statement": record["statement"], "signature": record["signature"]})
    target = to if to in mine else next((k for k, (person, _) in mine.items() if person.casefold() == to.strip().casefold()), None)
    if target is None:
        people = ", ".join(sorted({person for person, _ in mine.values() if person})) or "none yet"
        raise UsageError(f"{to!r} is not a person of {me.label} known here (known: {people})")
    person, delegation = mine[target]
    current = view.owners.get(me.id)
    if current is not None and current.device == target:
        return Outcome(f"{person} already owns this case for {me.label}")
    record = {"device": target, "at": actor.now, "by": actor.key}
    if target not in view.devices:
        record.update(delegation or {})
    with doc.transaction() as tx:
        put_value(tx, child(tx, ROOT, "owner"), me.id, record)
        before = f" from {current.person}" if current is not None and current.person else ""
        _event(tx, me.id, actor.now, f"{person} ({me.label}) owns this case now{before}", ref=target)
    return Outcome(f"{person} owns this case now for {me.label}")


def actor_person(actor: Actor) -> str:
    try:
        return json.loads(actor.delegation["statement"]).get("person", "") if actor.delegation else ""
    except (ValueError, TypeError, KeyError):
        return ""


def carry_revocation(doc: Document, actor: Actor, revocation: dict) -> Outcome:
    """Write a revocation signed by this device's party key (``{statement, signature, device}``) into
    the contract, ending that device's writing after its last change this copy holds."""
    view = view_of(doc, actor.now, actor.cache)
    if view.schema < 3:
        raise RefusedOperation("this contract was made before devices (schema 2)")
    me = _me(view, actor)
    device = revocation["device"]
    name = f"{device}.{actor.key}"
    revocations = child(doc, ROOT, "revocations")
    if doc.get(revocations, name) is not None:
        return Outcome("the revocation is already in this contract")
    device_bytes = bytes.fromhex(device)
    after = max((c.max_op for c in doc.get_changes([]) if c.actor_id == device_bytes), default=0)
    with doc.transaction() as tx:
        put_value(tx, child(tx, ROOT, "revocations"), name,
                  {"statement": revocation["statement"], "signature": revocation["signature"], "after_op": after,
                   "at": actor.now})
        known = view.devices.get(device)
        who = f"{known.person}'s {known.name or 'device'}" if known else f"device {device[:16]}"
        _event(tx, me.id, actor.now, f"{me.label} revoked {who}: it writes nothing more for {me.label}", ref=device)
    return Outcome(f"revoked {who} in this contract")
