"""The contract model on its own: actions, derived terms, views. No store, no signing."""

import pytest
from automerge.core import ROOT, Document, ScalarType

from pactclient import catalog
from pactclient.errors import RefusedOperation, SchemaError, UsageError
from pactclient.model import actions
from pactclient.model.actions import Actor, view_of
from pactclient.model.money import format_debt, parse_amount

HOUR = 3600 * 1000
T0 = 1_800_000_000_000
A, B, C = "a" * 64, "b" * 64, "c" * 64


def actor(key, now=T0):
    return Actor(key=key, now=now)


def new_doc(template="broadband-fault"):
    """Alice's contract that Priya (BT) has joined: both have signed, so the terms are agreed."""
    doc = Document(bytes.fromhex(A))
    actions.create_contract(doc, actor(A), "cid1", "Mail re-downloads", catalog.load(template), "customer", "Alice", "")
    actions.add_party(doc, actor(A), B, "Priya", "supplier", "BT")
    actions.accept_terms(as_b(doc), actor(B))
    doc.set_actor(bytes.fromhex(A))
    return doc


def as_b(doc):
    doc.set_actor(bytes.fromhex(B))
    return doc


def test_template_sets_parties_items_and_deadlines():
    doc = new_doc()
    view = view_of(doc, T0)
    assert set(view.parties) == {"customer", "supplier"}
    assert view.parties["supplier"].label == "BT"
    assert view.activities["callback"].due == T0 + 24 * HOUR
    assert view.activities["diagnose"].depends_on == ("callback",)
    assert view.items["severity"].choices == ("service down", "degraded", "annoyance")


def test_turn_light_and_broken_commitment():
    doc = new_doc()
    view = view_of(doc, T0)
    assert view.turn() == ("supplier",)  # only callback is unblocked
    assert view.light() == "amber"  # callback due within 24 h
    later = view_of(doc, T0 + 25 * HOUR)
    assert later.light() == "red"
    assert later.scorecard().per_party[1].broken == 1
    as_b(doc)
    actions.change_status(doc, actor(B, T0 + 26 * HOUR), "callback", "done", outcome="called")
    after = view_of(doc, T0 + 26 * HOUR)
    assert after.activities["callback"].kept() is False  # late is broken, even once done
    assert "late" in after.timeline[-1].text
    assert after.light() == "green"  # nothing overdue any more, diagnose due in 2 days


def test_only_assignee_changes_status_and_only_owner_sets_item():
    doc = new_doc()
    with pytest.raises(RefusedOperation, match="only BT"):
        actions.change_status(doc, actor(A), "callback", "start")
    with pytest.raises(RefusedOperation, match="only BT"):
        actions.set_item(doc, actor(A), "severity", "degraded")
    as_b(doc)
    with pytest.raises(RefusedOperation, match="depends on callback"):
        actions.change_status(doc, actor(B), "diagnose", "start")
    with pytest.raises(UsageError, match="one of"):
        actions.set_item(doc, actor(B), "severity", "terrible")


def test_money_says_who_owes_whom():
    doc = Document(bytes.fromhex(A))
    actions.create_contract(doc, actor(A), "c2", "Bill", catalog.load("billing-dispute"), "supplier", "Priya", "BT")
    actions.add_party(doc, actor(A), B, "Alice", "customer")
    actions.set_item(doc, actor(A), "balance", amount="250.00", owed_by="supplier", owed_to="customer")
    item = view_of(doc, T0).items["balance"]
    assert item.amount == 25000 and item.currency == "GBP"
    assert item.display(view_of(doc, T0).parties) == "BT owes Alice £250.00"
    with pytest.raises(UsageError, match="who owes whom"):
        actions.set_item(doc, actor(A), "balance", amount="-5", owed_by="supplier", owed_to="customer")
    with pytest.raises(UsageError, match="cannot owe itself"):
        actions.set_item(doc, actor(A), "balance", amount="5", owed_by="supplier", owed_to="supplier")


def test_money_formatting_and_parsing():
    assert parse_amount("1,250.5", "GBP") == 125050
    assert parse_amount("300", "JPY") == 300
    with pytest.raises(UsageError):
        parse_amount("1.001", "GBP")
    assert format_debt(25000, "GBP", "BT", "Alice") == "BT owes Alice £250.00"
    assert format_debt(1999, "CHF", "A", "B") == "A owes B 19.99 CHF"


def test_the_creator_alone_sets_up_then_everyone_with_a_key_must_agree():
    doc = Document(bytes.fromhex(A))
    actions.create_contract(doc, actor(A), "cid1", "Mail re-downloads", catalog.load("broadband-fault"), "customer", "Alice", "")
    # A is the only party with a key: applied at once.
    out = actions.add_activity(doc, actor(A), "Send router logs", "customer", T0 + 2 * HOUR)
    assert out.applied and "send-router-logs" in view_of(doc, T0).activities
    assert actions.add_party(doc, actor(A), B, "Priya", "supplier", "BT").applied
    # B has a key now: the contract is offered to B, and a change to the terms waits for B.
    assert view_of(doc, T0).offered_to() == ("supplier",)
    assert view_of(doc, T0 + 25 * HOUR).light() == "amber"  # an offered commitment is never broken
    out = actions.propose(doc, actor(A), "change_due", {"id": "callback", "due": T0 + 48 * HOUR}, "weekend")
    assert not out.applied
    view = view_of(doc, T0)
    assert view.activities["callback"].due == T0 + 24 * HOUR
    assert view.proposal(out.ref).waiting_for() == ("supplier",)
    assert "supplier" in view.turn()
    # People read the proposal by the activity's title, not its id.
    described = actions.describe_proposal("change_due", view.proposal(out.ref).payload, view)
    assert described.startswith(f"move the deadline of {view.activities['callback'].title!r} (callback) to ")
    as_b(doc)
    res = actions.answer(doc, actor(B, T0 + HOUR), out.ref, True)
    assert res.applied
    assert view_of(doc, T0).activities["callback"].due == T0 + 48 * HOUR


def test_rejected_proposal_changes_nothing_and_cannot_be_answered_again():
    doc = new_doc()
    out = actions.propose(doc, actor(A), "remove_activity", {"id": "confirm"})
    as_b(doc)
    actions.answer(doc, actor(B), out.ref, False, "we need your confirmation")
    view = view_of(doc, T0)
    assert view.proposal(out.ref).state == "rejected"
    assert "confirm" in view.activities
    with pytest.raises(RefusedOperation, match="already rejected"):
        actions.answer(doc, actor(B), out.ref, True)


def test_proposal_that_no_longer_fits_is_void():
    doc = new_doc()
    first = actions.propose(doc, actor(A), "remove_activity", {"id": "confirm"})
    second = actions.propose(doc, actor(A, T0 + 1), "change_due", {"id": "confirm", "due": T0})
    as_b(doc)
    actions.answer(doc, actor(B, T0 + 10), first.ref, True)
    with pytest.raises(RefusedOperation, match="already void"):
        actions.answer(doc, actor(B, T0 + 20), second.ref, True)
    view = view_of(doc, T0)
    assert view.proposal(second.ref).state == "void"
    assert "no activity 'confirm'" in view.proposal(second.ref).note


def test_cannot_remove_an_activity_others_depend_on():
    doc = new_doc()
    with pytest.raises(UsageError, match="'confirm' would depend on 'fix'"):
        actions.propose(doc, actor(A), "remove_activity", {"id": "fix"})


def test_proposal_must_fit_the_terms_when_made():
    doc = new_doc()
    with pytest.raises(RefusedOperation, match="no activity"):
        actions.propose(doc, actor(A), "change_due", {"id": "nope", "due": T0})
    with pytest.raises(UsageError, match="no party"):
        actions.add_activity(doc, actor(A), "x", "nobody", None)


def test_non_party_device_cannot_act():
    doc = new_doc()
    doc.set_actor(bytes.fromhex(C))
    with pytest.raises(RefusedOperation, match="not a party"):
        actions.note(doc, actor(C), "hello")


def test_scorecard_counts_kept_broken_messages_and_resolution():
    doc = new_doc()
    as_b(doc)
    for i, aid in enumerate(["callback", "diagnose", "fix"]):
        actions.change_status(doc, actor(B, T0 + (i + 1) * HOUR), aid, "done")
    actions.note(doc, actor(B, T0 + 5 * HOUR), "Fixed at the exchange.", decision=True)
    doc.set_actor(bytes.fromhex(A))
    actions.change_status(doc, actor(A, T0 + 6 * HOUR), "confirm", "done")
    card = view_of(doc, T0 + 7 * HOUR).scorecard()
    per = {s.party: s for s in card.per_party}
    assert per["supplier"].kept == 3 and per["supplier"].broken == 0 and per["supplier"].messages == 1
    assert card.resolved and card.time_to_resolution_ms == 6 * HOUR


def test_unknown_or_newer_schema_is_refused():
    doc = Document()
    with pytest.raises(SchemaError, match="not a pact contract"):
        view_of(doc, T0)
    with doc.transaction() as tx:
        tx.put(ROOT, "schema", ScalarType.Int, 99)
    with pytest.raises(SchemaError, match="newer"):
        view_of(doc, T0)


def test_starting_an_activity_names_a_problem_owner():
    doc = new_doc()
    as_b(doc)
    out = actions.change_status(doc, actor(B), "callback", "start")
    assert view_of(doc, T0).activities["callback"].problem_owner == "Priya"
    assert "problem owner: Priya" in out.message
    actions.change_status(doc, actor(B), "callback", "wait", waiting_on="customer", problem_owner="Dev at BT")
    act = view_of(doc, T0).activities["callback"]
    assert act.problem_owner == "Dev at BT" and act.status == "waiting"
    assert view_of(doc, T0).turn() == ("customer",)


def test_notes_through_a_read_cache_see_what_a_fresh_read_sees():
    # A note carries the cached view forward to its new heads (only the timeline grew): what readers
    # get from the cache afterwards must be exactly the contract read again from nothing.
    from pactclient.model.amdoc import ReadCache

    doc = new_doc()
    cache = ReadCache()
    for i in range(3):
        actions.note(doc, Actor(key=A, now=T0 + i, cache=cache), f"note {i}")
        if i:  # a timeline already read is extended by the new entry rather than read again
            assert view_of(doc, T0, cache).timeline[-1].text == f"note {i}"
    actions.note(as_b(doc), Actor(key=B, now=T0 + 9, cache=cache), "agreed", decision=True)
    cached, fresh = view_of(doc, T0 + 10, cache), view_of(doc, T0 + 10)
    assert cached == fresh
    assert [(e.kind, e.author, e.text) for e in cached.timeline[-4:]] == [
        ("message", "customer", "note 0"), ("message", "customer", "note 1"), ("message", "customer", "note 2"),
        ("decision", "supplier", "agreed")]
    with pytest.raises(RefusedOperation, match="not a party"):
        actions.note(doc, Actor(key=C, now=T0 + 11, cache=cache), "let me in")
    assert len(view_of(doc, T0 + 12, cache).timeline) == len(fresh.timeline)
