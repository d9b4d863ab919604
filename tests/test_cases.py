"""What real cases carry (issue 15): the customer's effort, linked cases and known faults, complaints
and compensation — each a signed entry or a rule every copy computes alike, seen in both homes."""

from __future__ import annotations

import pytest
from conftest import FIXED_NOW, FixedClock, exchange, shared_contract

from pactclient import catalog
from pactclient.errors import AdmissionError, RefusedOperation, UsageError
from pactclient.model import actions, compensation, effort, links
from pactclient.model.amdoc import child, put_value
from pactclient.signing import sign_change
from automerge.core import ROOT

DAY = 24 * 3600 * 1000


def both_ways(wa, wb, cid):
    exchange(wa, wb, cid)
    exchange(wb, wa, cid)


def two_homes(make_party, tmp_path, template="broadband-fault"):
    clock_a, clock_b = FixedClock(), FixedClock()
    alice, wa = make_party(tmp_path, "Alice", "", clock_a)
    raj, wb = make_party(tmp_path, "Raj", "BT", clock_b)
    cid = shared_contract([wa, wb], template=template, roles=("customer", "supplier"))
    return wa, wb, cid


# -- effort ---------------------------------------------------------------------------------------


def test_customer_effort_is_summed_alike_in_both_homes(make_party, tmp_path):
    wa, wb, cid = two_homes(make_party, tmp_path)
    wa.act(cid, effort.record_effort, 2, 0, 90, "phone", "on hold twice")
    wa.act(cid, effort.record_effort, 0, 3, 0, "", "")
    wa.act(cid, effort.record_effort, 1, 0, 30, "chat", "")
    both_ways(wa, wb, cid)
    for ws in (wa, wb):
        got = effort.effort_of(ws.view(cid))
        assert (got.calls, got.visits, got.minutes, got.entries) == (3, 3, 120, 3)
        assert got.contacts_by_channel == {"phone": 2, "store": 3, "chat": 1, "email": 0}
        assert "Hours spent: 2 h" in got.lines()[2]
    assert any("on hold twice" in e.text for e in wb.view(cid).timeline)


def test_effort_is_the_customers_own(make_party, tmp_path):
    wa, wb, cid = two_homes(make_party, tmp_path)
    with pytest.raises(RefusedOperation, match="own-effort"):
        wb.act(cid, effort.record_effort, 1, 0, 0, "phone", "")
    with pytest.raises(UsageError, match="at least one"):
        wa.act(cid, effort.record_effort, 0, 0, 0, "phone", "")
    with pytest.raises(UsageError, match="channel"):
        wa.act(cid, effort.record_effort, 1, 0, 0, "fax", "")
    with pytest.raises(UsageError):
        effort.parse_hours("-1")
    assert effort.parse_hours("1.5") == 90
    assert effort.effort_of(wa.view(cid)).entries == 0


def _raw_entry(identity, ws, cid, entry):
    """A hand-written timeline entry, signed with the party's real key (what a hostile party can send)."""
    doc = ws.document(cid).fork()
    doc.set_actor(identity.public_key)
    heads = doc.get_heads()
    with doc.transaction() as tx:
        timeline = child(tx, ROOT, "timeline")
        put_value(tx, timeline, tx.length(timeline), entry, insert=True)
    (change,) = doc.get_changes(heads)
    return [change.bytes], {change.hash: sign_change(identity, change.hash)}


@pytest.mark.parametrize("entry, rule", [
    ({"kind": "effort", "party": "customer", "calls": 40, "visits": 0, "minutes": 600, "channel": "phone",
      "text": "Alice's effort: 40 calls", "ref": ""}, "own-effort"),  # the supplier forges the customer's effort
    ({"kind": "effort", "party": "supplier", "calls": 40, "visits": 0, "minutes": 600, "channel": "phone",
      "text": "our effort", "ref": ""}, "own-effort"),  # a supplier recording effort at all
    ({"kind": "compensation", "text": "Alice owes BT £500.00", "ref": "callback"}, "derived-money"),
    ({"kind": "message", "text": "you owe us", "ref": "", "amount": 50000, "owed_by": "customer",
      "owed_to": "supplier", "currency": "GBP"}, "derived-money"),
    ({"kind": "complaint_answer", "text": "Complaint answered: nothing to see", "ref": "callback"}, "complaint-party"),
])
@pytest.mark.parametrize("via", ["bundle", "sync"])
def test_hostile_entries_are_refused(make_party, tmp_path, entry, rule, via):
    wa, wb, cid = two_homes(make_party, tmp_path)
    author = "supplier" if entry["kind"] != "complaint_answer" else "customer"
    writer = wb if author == "supplier" else wa
    target = wa if writer is wb else wb
    before = (target.store.change_count(cid), effort.effort_of(target.view(cid, now=FIXED_NOW)))
    blobs, sigs = _raw_entry(writer.identity, writer, cid, {"author": author, "at": FIXED_NOW + DAY, **entry})
    if via == "bundle":
        with pytest.raises(AdmissionError, match=rule):
            target.receive(cid, blobs, sigs)
    else:  # the writer's device takes the entry unchecked into its own copy, then syncs with the target
        from test_agreed import _by_sync

        (blob,), ((change_hash, signature),) = blobs, sigs.items()
        people = {"writer": (writer.identity, writer), "target": (target.identity, target)}
        outcome = _by_sync(people, cid, "writer", target, [(change_hash, blob, signature)], tmp_path)
        assert isinstance(outcome, str) and f"'{rule}'" in outcome, outcome
    assert (target.store.change_count(cid), effort.effort_of(target.view(cid, now=FIXED_NOW))) == before


def test_customer_forging_compensation_is_refused(make_party, tmp_path):
    wa, wb, cid = two_homes(make_party, tmp_path, template="installation")
    blobs, sigs = _raw_entry(wa.identity, wa, cid, {"author": "customer", "at": FIXED_NOW, "kind": "compensation",
                                                    "text": "BT owes Alice £3,000.00", "ref": "install",
                                                    "amount": 300000, "owed_by": "supplier", "owed_to": "customer"})
    with pytest.raises(AdmissionError, match="derived-money"):
        wb.receive(cid, blobs, sigs)
    assert compensation.compensation_owed(wb.view(cid, now=FIXED_NOW + 30 * DAY))[0].amount == 3000


# -- links and known faults ---------------------------------------------------------------------------


def test_recurrence_follows_earlier_case_in_both_homes(make_party, tmp_path):
    wa, wb, first = two_homes(make_party, tmp_path)
    wa.act(first, actions.note, "Mail re-downloads 18 months of mail")
    both_ways(wa, wb, first)
    second = shared_contract([wa, wb], roles=("customer", "supplier"))
    summary = links.summarize(wa.view(first))
    wa.act(second, links.link, first, "follows", summary)
    both_ways(wa, wb, second)
    for ws in (wa, wb):
        view = ws.view(second)
        (lk,) = links.links_of(view)
        assert (lk.relation, lk.contract, lk.author) == ("follows", first, "customer")
        steps = links.chain(view, lambda c, ws=ws: ws.view(c) if ws.store.has_contract(c) else None)
        assert [s.link.contract for s in steps] == [first]
        assert any("18 months" in e.text for e in steps[0].view.timeline)
    with pytest.raises(UsageError, match="already follows"):
        wa.act(second, links.link, first, "follows")
    with pytest.raises(UsageError, match="itself"):
        wa.act(second, links.link, second, "follows")


def test_chain_without_the_earlier_case_shows_the_linking_summary(make_party, tmp_path):
    wa, wb, cid = two_homes(make_party, tmp_path)
    wa.act(cid, links.link, "ab" * 16, "same_fault", "'Old fault' (abababab), opened 2025-12-01, resolved")
    both_ways(wa, wb, cid)
    (step,) = links.chain(wb.view(cid), lambda c: None)
    assert step.view is None and "Old fault" in step.link.text and step.link.relation == "same_fault"


def test_supplier_marks_one_fault_on_many_cases(make_party, tmp_path):
    clock = FixedClock()
    _, desk = make_party(tmp_path, "Raj", "BT", clock)
    _, alice = make_party(tmp_path, "Alice", "", FixedClock())
    _, bob = make_party(tmp_path, "Bob", "", FixedClock())
    case_a = shared_contract([alice, desk], roles=("customer", "supplier"))
    case_b = shared_contract([bob, desk], roles=("customer", "supplier"))
    for cid in (case_a, case_b):
        desk.act(cid, links.mark_fault, "POP server re-sends deleted mail")
    with pytest.raises(RefusedOperation, match="fault-by-supplier"):
        alice.act(case_a, links.mark_fault, "my own fault")
    exchange(desk, alice, case_a)
    exchange(desk, bob, case_b)
    for ws, cid in ((alice, case_a), (bob, case_b)):
        (fault,) = links.faults_of(ws.view(cid))
        assert (fault.name, fault.author) == ("POP server re-sends deleted mail", "supplier")


# -- complaints and compensation ---------------------------------------------------------------------


def test_compensation_owed_in_every_copy_after_the_deadline_not_before(make_party, tmp_path):
    wa, wb, cid = two_homes(make_party, tmp_path, template="installation")
    install = wa.view(cid).activities["install"]
    assert install.rules["compensation_minor"] == 3000
    for ws in (wa, wb):
        assert compensation.compensation_owed(ws.view(cid, now=install.due - 1)) == []
        (owed,) = compensation.compensation_owed(ws.view(cid, now=install.due + 1))
        view = ws.view(cid, now=install.due + 1)
        assert owed.display(view) == "BT owes Alice £30.00"
        assert (owed.owed_by, owed.owed_to, owed.activity) == ("supplier", "customer", "install")


def test_compensation_follows_signed_finish_times(make_party, tmp_path):
    wa, wb, cid = two_homes(make_party, tmp_path, template="installation")
    due = wa.view(cid).activities["install"].due
    wb.act(cid, actions.change_status, "book", "done")
    wb.act(cid, actions.change_status, "install", "done")  # done on time (the fixed clock is at the start)
    both_ways(wa, wb, cid)
    for ws in (wa, wb):
        assert compensation.compensation_owed(ws.view(cid, now=due + 10 * DAY)) == []


def test_complaint_opens_escalation_owned_by_named_person(make_party, tmp_path):
    wa, wb, cid = two_homes(make_party, tmp_path)
    callback = wa.view(cid).activities["callback"]
    with pytest.raises(RefusedOperation, match="not a broken commitment"):
        wa.act(cid, compensation.complain, "callback", "nobody called")
    wa.clock.advance(2 * DAY)
    out = wa.act(cid, compensation.complain, "callback", "nobody called")
    assert "Complaints manager" in out.message
    with pytest.raises(RefusedOperation, match="already open"):
        wa.act(cid, compensation.complain, "callback", "again")
    both_ways(wa, wb, cid)
    now = callback.due + DAY
    for ws in (wa, wb):
        (esc,) = compensation.escalations(ws.view(cid, now=now))
        assert (esc.activity, esc.owner, esc.person, esc.status) == ("callback", "supplier", "Complaints manager", "open")
        assert esc.title == "Handle the complaint about the missed callback"
        assert esc.due == esc.opened_at + DAY
    with pytest.raises(RefusedOperation, match="complaint-party"):
        wa.act(cid, compensation.answer_complaint, "callback", "fine")
    wb.clock.advance(2 * DAY)
    wb.act(cid, compensation.answer_complaint, "callback", "called back, engineer booked")
    both_ways(wa, wb, cid)
    for ws in (wa, wb):
        (esc,) = compensation.escalations(ws.view(cid, now=now + 5 * DAY))
        assert esc.status == "answered" and "engineer booked" in esc.outcome and not esc.broken(now + 5 * DAY)


def test_supplier_cannot_complain_about_its_own_commitment(make_party, tmp_path):
    wa, wb, cid = two_homes(make_party, tmp_path)
    wb.clock.advance(2 * DAY)
    with pytest.raises(RefusedOperation, match="own commitment"):
        wb.act(cid, compensation.complain, "callback")


def test_templates_carry_their_rules_and_coordinator():
    move = catalog.load("cancel-on-move")
    assert "coordinator" in [p["role"] for p in move["parties"]]
    for row in catalog.summaries():
        assert "Protects the customer" in row["description"], row["name"]
    assert {"complaint", "price-review", "installation"} <= {r["name"] for r in catalog.summaries()}


def test_concurrent_complaints_every_copy_keeps_the_earliest_by_signed_time(make_party, tmp_path):
    """Which complaint counts is read from what the entries say, not from where Automerge's list puts
    concurrent inserts (an order its op counters decide)."""
    _, wa = make_party(tmp_path, "Alice", "", FixedClock())
    _, wb = make_party(tmp_path, "Raj", "BT", FixedClock())
    _, wc = make_party(tmp_path, "Sam", "Ombuds", FixedClock())
    cid = shared_contract([wa, wb, wc])
    wa.clock.advance(3 * DAY)
    wc.clock.advance(2 * DAY)  # the coordinator complains first, by its signed time
    wa.act(cid, compensation.complain, "callback", "nobody called")
    wc.act(cid, compensation.complain, "callback", "the customer was not called")
    exchange(wa, wc, cid)
    exchange(wc, wa, cid)
    exchange(wa, wb, cid)
    seen = []
    for ws in (wa, wb, wc):
        (esc,) = compensation.escalations(ws.view(cid, now=FIXED_NOW + 4 * DAY))
        seen.append((esc.opened_by, esc.complaint, esc.due))
    assert seen[0] == seen[1] == seen[2] and seen[0][0] == "coordinator"
