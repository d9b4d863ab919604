"""People and devices: an organisation whose agents each write from their own device, a customer
with a laptop and a phone, a hand-over that asks nothing of the customer, and a revoked device.

BT is an organisation (``init_org``: its party key stays at the desk); Priya and Raj are agents whose
devices the desk certified. Alice's laptop is a home of one key (as every home before devices); her
phone is certified by the laptop's key. Copies travel as bundles here; tests/test_devices_net.py
does the same over real sockets.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pactclient import catalog
from pactclient.errors import AdmissionError
from pactclient.evidence import encode, verify_bytes
from pactclient.evidence.verify import summary
from pactclient.identity import DeviceIdentity
from pactclient.identity.party import certify, init_org, paired_home, raw_public, revocation
from pactclient.model import actions, device_actions
from pactclient.model.amdoc import child, put_value
from pactclient.store import Workspace

from conftest import FIXED_NOW, FixedClock, copy_state, exchange
from forge import bundle_with, forged

from automerge.core import ROOT


def _paired(tmp_path, holder, name, device, contact=None):
    key = Ed25519PrivateKey.generate()
    delegation, cert = certify(holder, raw_public(key), name, device, FIXED_NOW, contact)
    identity = paired_home(tmp_path / f"{name.lower()}-{device}", key, delegation, cert)
    return identity, Workspace(identity_home(tmp_path, name, device), identity, FixedClock())


def identity_home(tmp_path, name, device):
    return tmp_path / f"{name.lower()}-{device}"


@pytest.fixture
def world(tmp_path):
    made = {}
    desk = init_org(tmp_path / "bt-desk", "BT", "BT desk", "desk", FIXED_NOW)
    made["desk"] = Workspace(tmp_path / "bt-desk", desk, FixedClock())
    made["priya"] = _paired(tmp_path, desk, "Priya", "laptop", {"phone": "0800 800 150", "hours": "9-17"})[1]
    made["raj"] = _paired(tmp_path, desk, "Raj", "laptop", {"email": "raj@bt.example"})[1]
    laptop = DeviceIdentity.create(tmp_path / "alice-laptop", "Alice")
    made["laptop"] = Workspace(tmp_path / "alice-laptop", laptop, FixedClock())
    made["phone"] = _paired(tmp_path, laptop, "Alice", "phone")[1]
    yield made
    for ws in made.values():
        ws.close()


def _case(world) -> str:
    """Alice opens a case with BT (the organisation, pinned once); Priya takes it."""
    laptop, priya = world["laptop"], world["priya"]
    cid = laptop.create("Broadband down", catalog.load("broadband-fault"), "customer")
    laptop.act(cid, actions.add_party, priya.identity.party_key_hex, "BT", "supplier", "BT")
    exchange(laptop, priya, cid)
    priya.act(cid, actions.accept_terms)
    exchange(priya, laptop, cid)
    return cid


def test_an_agent_device_writes_for_its_organisation(world):
    cid = _case(world)
    view = world["laptop"].view(cid)
    bt = view.party_by_key(world["priya"].identity.key_hex)
    assert bt is not None and bt.label == "BT" and bt.accepted
    assert view.agreed()
    owner = view.problem_owner()
    assert (owner.person, owner.party, owner.contact_line()) == ("Priya", bt.id, "9-17 · 0800 800 150")
    # The customer pinned one key for BT: the organisation's, never the agent's.
    assert bt.key == world["desk"].identity.party_key_hex != world["priya"].identity.key_hex


def test_hand_over_asks_nothing_of_the_customer(world):
    cid = _case(world)
    priya, raj, laptop, desk = world["priya"], world["raj"], world["laptop"], world["desk"]
    raj_record = {**raj.identity.delegation, "person": "Raj"}
    priya.act(cid, device_actions.hand_over, "Raj", {raj.identity.key_hex: raj_record})
    exchange(priya, laptop, cid)
    view = laptop.view(cid)
    assert view.problem_owner().person == "Raj"
    assert not view.open_proposals()  # nothing for Alice to accept
    assert any("Raj (BT) owns this case now from Priya" in e.text for e in view.timeline)
    # Raj works it from his own home, with the whole history.
    exchange(priya, raj, cid)
    raj.act(cid, actions.note, "Line test booked for Tuesday")
    exchange(raj, laptop, cid)
    timeline = laptop.view(cid).timeline
    assert timeline[-1].text == "Line test booked for Tuesday" and timeline[-1].person == "Raj (BT)"
    assert any(e.person == "Priya (BT)" for e in timeline)


def test_phone_and_laptop_edit_offline_and_converge(world):
    cid = _case(world)
    laptop, phone = world["laptop"], world["phone"]
    exchange(laptop, phone, cid)
    phone.act(cid, actions.note, "sent from my phone")
    laptop.act(cid, actions.note, "sent from my laptop")
    exchange(phone, laptop, cid)
    exchange(laptop, phone, cid)
    assert sorted(phone.document(cid).get_heads()) == sorted(laptop.document(cid).get_heads())
    notes = {e.text: e.author for e in laptop.view(cid).timeline if e.kind == "message"}
    assert notes["sent from my phone"] == notes["sent from my laptop"] == "customer"
    assert laptop.view(cid).party_by_key(phone.identity.key_hex).id == "customer"


def test_a_revoked_device_is_refused_even_with_old_dependencies(world):
    cid = _case(world)
    priya, laptop, desk = world["priya"], world["laptop"], world["desk"]
    exchange(laptop, desk, cid)
    old_heads = list(priya.document(cid).get_heads())
    desk.act(cid, device_actions.carry_revocation, revocation(desk.identity, priya.identity.key_hex, FIXED_NOW))
    exchange(desk, laptop, cid)
    assert laptop.view(cid).devices[priya.identity.key_hex].revoked
    before = copy_state(laptop, cid)
    # Priya's laptop never heard of it and writes on as before: refused by Alice's copy.
    priya.act(cid, actions.note, "I still work here")
    with pytest.raises(AdmissionError, match="device-revoked"):
        exchange(priya, laptop, cid)
    # By hand, with dependencies from before the revocation: refused the same.
    doc = laptop.document(cid)
    change = forged(priya.identity, doc, _note("backdated", "supplier"), at=old_heads)
    with pytest.raises(AdmissionError, match="device-revoked"):
        laptop.receive(cid, *_split(bundle_with(laptop, cid, change)))
    assert copy_state(laptop, cid) == before


def _note(text, author):
    def write(tx):
        timeline = child(tx, ROOT, "timeline")
        put_value(tx, timeline, tx.length(timeline), {"kind": "message", "author": author, "at": FIXED_NOW,
                                                      "text": text, "ref": ""}, insert=True)
    return write


def _split(data):
    from pactclient.sync import bundle
    cid, blobs, sigs = bundle.decode(data)
    return blobs, sigs


# -- hand-made changes trying to slip around delegation ---------------------------------------------


def _refused(ws, cid, change, match):
    before = copy_state(ws, cid)
    with pytest.raises(AdmissionError, match=match):
        ws.receive(cid, *_split(bundle_with(ws, cid, change)))
    assert copy_state(ws, cid) == before


def _intro(identity, delegation=None, owner=None):
    def write(tx):
        put_value(tx, child(tx, ROOT, "devices"), identity.key_hex,
                  {**(delegation or identity.delegation), "at": FIXED_NOW})
        timeline = child(tx, ROOT, "timeline")
        put_value(tx, timeline, tx.length(timeline), {"kind": "message", "author": "supplier", "at": FIXED_NOW,
                                                      "text": "hello", "ref": ""}, insert=True)
        if owner is not None:
            put_value(tx, child(tx, ROOT, "owner"), owner[0], owner[1])
    return write


def test_a_device_certified_by_a_key_that_is_no_party_is_refused(world, tmp_path):
    cid = _case(world)
    stranger = init_org(tmp_path / "mallory", "BT", "Mallory", "laptop", FIXED_NOW)  # calls itself BT too
    laptop = world["laptop"]
    _refused(laptop, cid, forged(stranger, laptop.document(cid), _intro(stranger)), "nor a device certified")


def test_a_device_cannot_claim_another_party(world):
    cid = _case(world)
    laptop, raj, phone = world["laptop"], world["raj"], world["phone"]
    doc = laptop.document(cid)
    # Raj's real BT delegation, but his note names the customer as its author.
    def as_customer(tx):
        _intro(raj.identity)(tx)
        timeline = child(tx, ROOT, "timeline")
        put_value(tx, timeline, tx.length(timeline), {"kind": "message", "author": "customer", "at": FIXED_NOW,
                                                      "text": "I withdraw my complaint", "ref": ""}, insert=True)
    _refused(laptop, cid, forged(raj.identity, doc, as_customer), "writer-named")
    # A delegation whose statement names the customer's key, with BT's signature: it does not verify.
    import json
    fields = json.loads(raj.identity.delegation["statement"])
    fields["party_key"] = laptop.identity.party_key_hex
    from pactclient.identity.delegation import canonical
    bent = {"statement": canonical(fields), "signature": raj.identity.delegation["signature"]}
    _refused(laptop, cid, forged(raj.identity, doc, _intro(raj.identity, bent)), "nor a device certified")
    # Raj writes a delegation for another device (Alice's phone) into the contract.
    def for_phone(tx):
        put_value(tx, child(tx, ROOT, "devices"), phone.identity.key_hex, {**phone.identity.delegation, "at": FIXED_NOW})
    _refused(laptop, cid, forged(raj.identity, doc, lambda tx: (_intro(raj.identity)(tx), for_phone(tx))), "device-record")
    # Alice's phone names BT's problem owner.
    exchange(laptop, phone, cid)
    owner = ("supplier", {"device": phone.identity.key_hex, "at": FIXED_NOW, "by": phone.identity.key_hex})
    def phone_owner(tx):
        put_value(tx, child(tx, ROOT, "devices"), phone.identity.key_hex, {**phone.identity.delegation, "at": FIXED_NOW})
        put_value(tx, child(tx, ROOT, "owner"), *owner)
    _refused(laptop, cid, forged(phone.identity, laptop.document(cid), phone_owner), "problem-owner")


def test_a_revocation_cannot_choose_where_it_cuts(world):
    """A revocation whose cut-off is earlier than what the revoker had seen would disown Priya's
    acceptance of the terms after the fact: refused."""
    cid = _case(world)
    laptop, desk, priya = world["laptop"], world["desk"], world["priya"]
    exchange(laptop, desk, cid)
    desk.act(cid, actions.note, "desk here")  # the desk's device introduces itself
    exchange(desk, laptop, cid)
    rev = revocation(desk.identity, priya.identity.key_hex, FIXED_NOW)
    def early(tx):
        put_value(tx, child(tx, ROOT, "revocations"), f"{priya.identity.key_hex}.{desk.identity.key_hex}",
                  {"statement": rev["statement"], "signature": rev["signature"], "after_op": 0, "at": FIXED_NOW})
    _refused(laptop, cid, forged(desk.identity, laptop.document(cid), early), "revocation-cutoff")
    assert laptop.view(cid).agreed()


def test_a_timeline_entry_cannot_claim_the_person_who_wrote_it(world):
    cid = _case(world)
    laptop, priya = world["laptop"], world["priya"]
    def claims_raj(tx):
        timeline = child(tx, ROOT, "timeline")
        put_value(tx, timeline, tx.length(timeline), {"kind": "message", "author": "supplier", "at": FIXED_NOW,
                                                      "text": "Raj said so", "ref": "",
                                                      "device": world["raj"].identity.key_hex}, insert=True)
    h, data, sig = forged(priya.identity, laptop.document(cid), claims_raj)
    laptop.receive(cid, *_split(bundle_with(laptop, cid, (h, data, sig))))
    entry = laptop.view(cid).timeline[-1]
    assert entry.text == "Raj said so" and entry.person == "Priya (BT)"


def test_evidence_names_the_people(world):
    cid = _case(world)
    laptop = world["laptop"]
    world["priya"].act(cid, actions.note, "exported by the agent")
    exchange(world["priya"], laptop, cid)
    for ws in (laptop, world["priya"]):  # a party key's home and a certified device both export
        verdict = verify_bytes(encode(ws, cid))
        assert verdict.valid, verdict.failures
        data = summary(verdict)
        people = {a["person"]: a["device"] for a in data["authors"]}
        assert people == {"Priya (BT)": "laptop", "Alice": "party key"}
        assert data["problem_owner"]["person"] == "Priya"
    assert data["exported_by_person"] == "Priya (BT)"


def test_a_party_cannot_revoke_another_partys_device(world):
    """Alice signs a revocation of Priya's device with her own key and carries it: it stops nothing."""
    cid = _case(world)
    laptop, priya = world["laptop"], world["priya"]
    forged_revocation = revocation(laptop.identity, priya.identity.key_hex, FIXED_NOW)
    laptop.act(cid, device_actions.carry_revocation, forged_revocation)
    exchange(laptop, priya, cid)
    assert not laptop.view(cid).devices[priya.identity.key_hex].revoked
    priya.act(cid, actions.note, "still BT's agent")
    exchange(priya, laptop, cid)
    assert laptop.view(cid).timeline[-1].person == "Priya (BT)"


def test_a_change_of_terms_agreed_between_devices_is_countersigned_by_both_parties(world):
    """Priya proposes from her laptop and Alice accepts on her phone: both parties' countersignatures
    are found, and the evidence says both signed (neither party key wrote the proposal or the answer)."""
    cid = _case(world)
    priya, laptop, phone = world["priya"], world["laptop"], world["phone"]
    exchange(laptop, phone, cid)
    outcome = priya.act(cid, actions.propose, "change_due", {"id": "diagnose", "due": FIXED_NOW + 5 * 86_400_000},
                        "an engineer must visit")
    exchange(priya, phone, cid)
    phone.act(cid, actions.answer, outcome.ref, True, "fine")
    exchange(phone, priya, cid)
    priya.act(cid, actions.note, "engineer booked")
    exchange(priya, laptop, cid)
    exchange(phone, laptop, cid)
    out = summary(verify_bytes(encode(laptop, cid)))
    assert out["agreements"] == [{"version": 1, "proposal": outcome.ref, "signed_by": ["customer", "supplier"]}]
