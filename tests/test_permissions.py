"""Permissions on receipt: a validly signed party that breaks a rule is refused by every honest copy.

Alice (customer, creator), Priya (BT, supplier) and Sam (ombudsman, coordinator) share a contract; every
party has signed, so it is no longer a draft. Each case writes one change straight into a copy with the
Automerge API (bypassing the model's checks), signs it with the writer's own key, and sends it with the
writer's whole history as a bundle to the two other copies. A rule break must be refused by both — named,
nothing of the batch kept — and the same kind of edit made legally must be admitted by both.
"""

from __future__ import annotations

import msgpack
import pytest
from automerge.core import ROOT, ScalarType

from pactclient.errors import AdmissionError
from pactclient.model import actions
from pactclient.model.amdoc import child, put_value
from pactclient.signing import sign_change
from pactclient.sync import bundle

from conftest import FIXED_NOW, copy_state, exchange, shared_contract

PARTIES = ("alice", "priya", "sam")


@pytest.fixture
def case(tmp_path, make_party):
    """Three parties with a shared contract, an open proposal by Sam and a severity Priya has set."""
    alice = make_party(tmp_path, "Alice", "")
    priya = make_party(tmp_path, "Priya", "BT")
    sam = make_party(tmp_path, "Sam", "Ombudsman")
    people = {"alice": alice, "priya": priya, "sam": sam}
    cid = shared_contract([alice[1], priya[1], sam[1]])
    sam[1].act(cid, actions.propose, "change_due", {"id": "fix", "due": FIXED_NOW + 9 * 86_400_000}, "parts delayed")
    priya[1].act(cid, actions.set_item, "severity", "degraded")
    for src in people.values():
        for dst in people.values():
            if src is not dst:
                exchange(src[1], dst[1], cid)
    proposal = next(p.id for p in alice[1].view(cid).open_proposals())
    return people, cid, proposal


def _handmade(people, cid, who: str, write) -> tuple[bytes, bytes, bytes]:
    """One change written by ``who``'s device with the bare Automerge API, signed with ``who``'s key."""
    identity, ws = people[who]
    doc = ws.document(cid).fork()
    doc.set_actor(identity.public_key)
    before = doc.get_heads()
    with doc.transaction() as tx:
        write(tx)
    (change,) = doc.get_changes(before)
    return change.hash, change.bytes, sign_change(identity, change.hash)


def _deliver(people, cid, who: str, signed: tuple[bytes, bytes, bytes]) -> dict[str, object]:
    """Send ``who``'s history plus the hand-made change to every other copy; what each one did."""
    obj = msgpack.unpackb(bundle.encode(people[who][1], cid), raw=False)
    obj["changes"].append(list(signed))
    data = msgpack.packb(obj, use_bin_type=True)
    outcome = {}
    for name, (_, ws) in people.items():
        if name == who:
            continue
        before = copy_state(ws, cid)
        try:
            got = ws.receive(*bundle.decode(data))
            outcome[name] = got
        except AdmissionError as exc:
            assert copy_state(ws, cid) == before, f"{name}'s copy moved although the batch was refused"
            assert "\n" not in str(exc)
            outcome[name] = exc
    return outcome


def _entry(tx, author: str, text: str, kind: str = "message") -> None:
    timeline = child(tx, ROOT, "timeline")
    put_value(tx, timeline, tx.length(timeline), {"kind": kind, "author": author, "at": FIXED_NOW, "text": text, "ref": ""}, insert=True)


def _at(tx, *path):
    obj = ROOT
    for key in path:
        obj = child(tx, obj, key)
    return obj


def _value(item: str, value: str, set_by: str):
    def write(tx):
        put_value(tx, _at(tx, "values"), item, {"value": value, "set_by": set_by, "set_at": FIXED_NOW})
        _entry(tx, set_by, f"set {item}")
    return write


def _status(activity: str, status: str, by: str, updated_by: str | None = None):
    def write(tx):
        record = {"status": status, "waiting_on": "", "updated_at": FIXED_NOW, "updated_by": updated_by or by}
        existing = child(tx, _at(tx, "progress"), activity)
        if existing is None:  # made once; later writes set its fields, as the model does
            put_value(tx, _at(tx, "progress"), activity, record)
        else:
            for key, value in record.items():
                put_value(tx, existing, key, value)
        if status in ("done", "cancelled"):  # a finish is also recorded once, as the model does
            put_value(tx, _at(tx, "finished"), activity, {"status": status, "at": FIXED_NOW, "by": updated_by or by})
        _entry(tx, by, f"{activity} {status}")
    return write


def _proposal(pid: str, proposer: str, required: list[str], kind: str = "change_due", payload=None, answers=None):
    def write(tx):
        put_value(tx, _at(tx, "proposals"), pid, {
            "kind": kind, "payload": payload or {"id": "callback", "due": FIXED_NOW + 86_400_000 * 30},
            "rationale": "", "proposer": proposer, "created_at": FIXED_NOW, "required": required,
            "answers": answers or {}})
        _entry(tx, proposer, f"proposed {pid}")
    return write


def _raw_entry(entry: dict):
    def write(tx):
        timeline = child(tx, ROOT, "timeline")
        put_value(tx, timeline, tx.length(timeline), entry, insert=True)
    return write


def _answer(proposal: str, party: str, by: str):
    def write(tx):
        put_value(tx, _at(tx, "proposals", proposal, "answers"), party, {"answer": "accept", "at": FIXED_NOW, "reason": ""})
        _entry(tx, by, f"answered {proposal}")
    return write


def _put(path: tuple, key, value):
    def write(tx):
        tx.put(_at(tx, *path), key, ScalarType.Str if isinstance(value, str) else ScalarType.Int, value)
    return write


def _delete(path: tuple, key):
    def write(tx):
        tx.delete(_at(tx, *path), key)
    return write


def _timeline_text(index: int, text: str):
    def write(tx):
        entry = child(tx, _at(tx, "timeline"), index)
        tx.put(entry, "text", ScalarType.Str, text)
    return write


def _whole_section(name: str):
    def write(tx):
        put_value(tx, ROOT, name, {})
    return write


def _new_party(tx):
    put_value(tx, _at(tx, "parties"), "supplier-2", {"name": "Priya 2", "org": "BT", "role": "coordinator",
                                                       "key": "ab" * 32, "added_at": FIXED_NOW})


ALL = ["coordinator", "customer", "supplier"]


def rule_breaks(proposal: str):
    """(name, writer, change, rule it breaks). Party ids: customer = Alice, supplier = Priya, coordinator = Sam."""
    return [
        ("supplier sets the customer's item", "priya", _value("account", "999", "supplier"), "item-owner"),
        ("customer sets the supplier's item", "alice", _value("severity", "service down", "customer"), "item-owner"),
        ("customer removes the supplier's value", "alice", _delete(("values",), "severity"), "item-owner"),
        ("value naming another writer", "alice", _value("account", "123", "supplier"), "writer-named"),
        ("value of an item that does not exist", "alice", _value("nonsense", "1", "customer"), "item-owner"),
        ("customer finishes the supplier's activity", "alice", _status("callback", "done", "customer"), "assignee"),
        ("customer finishes its activity before what it depends on", "alice", _status("confirm", "done", "customer"), "transition"),
        ("supplier starts an activity before what it depends on", "priya", _status("diagnose", "in_progress", "supplier"), "transition"),
        ("progress naming another writer", "priya", _status("callback", "in_progress", "supplier", "customer"), "writer-named"),
        ("due time edited in place", "priya", _put(("activities", "callback"), "due", FIXED_NOW + 86_400_000 * 60), "terms-by-proposal"),
        ("assignee edited in place", "priya", _put(("activities", "confirm"), "assignee", "supplier"), "terms-by-proposal"),
        ("item definition edited in place", "priya", _put(("items", "account"), "owner", "supplier"), "terms-by-proposal"),
        ("party added in place", "priya", _new_party, "terms-by-proposal"),
        ("contract title rewritten", "priya", _put(("contract",), "title", "Nothing to see"), "header-fixed"),
        ("a whole section replaced", "priya", _whole_section("values"), "header-fixed"),
        ("another party's answer", "priya", _answer(proposal, "customer", "supplier"), "own-answers"),
        ("proposal made with answers in it", "priya", _proposal("p-supplier-e00001", "supplier", ALL,
                                                                answers={"customer": {"answer": "accept", "at": FIXED_NOW}}), "own-answers"),
        ("proposal that asks only its author", "priya", _proposal("p-supplier-e00002", "supplier", ["supplier"]), "proposal-required"),
        ("proposal naming another proposer", "priya", _proposal("p-supplier-e00003", "customer", ALL), "writer-named"),
        ("key replacement of another party asking only its author", "priya",
         _proposal("p-supplier-e00004", "supplier", ["supplier"], "replace_key", {"id": "customer", "key": "cd" * 32}), "proposal-fits"),
        ("key replacement of another party asking everyone else", "priya",
         _proposal("p-supplier-e00009", "supplier", ["coordinator", "supplier"], "replace_key", {"id": "customer", "key": "cd" * 32}), "proposal-fits"),
        ("proposal under an id that names another party", "priya", _proposal("p-customer-e0000a", "supplier", ALL), "proposal-id"),
        ("proposal under an id that names nobody", "priya", _proposal("evil", "supplier", ALL), "proposal-id"),
        ("proposal of an unknown kind", "priya", _proposal("p-supplier-e00005", "supplier", ALL, "make_me_owner", {"id": "x"}), "proposal-fits"),
        ("proposal that does not fit the terms", "priya",
         _proposal("p-supplier-e00006", "supplier", ALL, "remove_activity", {"id": "callback"}), "proposal-fits"),
        ("proposal with a list where a party list belongs", "priya",
         _proposal("p-supplier-e00007", "supplier", ALL, "add_item", {"id": ["not", "an", "id"], "owner": "supplier"}), "well-formed"),
        ("deadline that is not a time", "priya", _proposal("p-supplier-e00008", "supplier", ALL, "change_due",
                                                            {"id": "callback", "due": "tomorrow-ish"}), "well-formed"),
        ("status the model does not know", "priya", _status("callback", "sort of done", "supplier"), "well-formed"),
        ("timeline entry whose time is text", "sam", _raw_entry({"kind": "message", "author": "coordinator",
                                                                  "at": "noon", "text": "hi", "ref": ""}), "well-formed"),
        ("open proposal rewritten", "priya", _put(("proposals", proposal, "payload"), "due", FIXED_NOW), "proposal-fixed"),
        ("proposal withdrawn", "priya", _delete(("proposals",), proposal), "proposal-fixed"),
        ("someone else's timeline entry rewritten", "priya", _timeline_text(0, "Alice owes BT £1000"), "timeline-append-only"),
        ("timeline entry removed", "priya", _delete(("timeline",), 0), "timeline-append-only"),
        ("timeline entry in another party's name", "priya", lambda tx: _entry(tx, "customer", "I withdraw my complaint"), "writer-named"),
    ]


def legal_edits(proposal: str):
    return [
        ("owner sets an item", "alice", _value("account", "12345", "customer")),
        ("owner replaces a value", "priya", _value("severity", "service down", "supplier")),
        ("assignee changes status", "priya", _status("callback", "in_progress", "supplier")),
        ("coordinator changes status", "sam", _status("callback", "waiting", "coordinator")),
        ("customer cancels its own activity", "alice", _status("confirm", "cancelled", "customer")),
        ("own answer", "alice", _answer(proposal, "customer", "customer")),
        ("proposal asking every party", "priya", _proposal("p-supplier-900001", "supplier", ALL)),
        ("own key replacement asking only itself", "alice",
         _proposal("p-customer-900003", "customer", ["customer"], "replace_key", {"id": "customer", "key": "ef" * 32})),
        ("timeline entry by anyone", "sam", lambda tx: _entry(tx, "coordinator", "I am watching this case")),
    ]


def test_every_rule_break_is_refused_by_every_honest_copy(case):
    people, cid, proposal = case
    breaks = rule_breaks(proposal)
    admitted = 0
    for name, who, write, rule in breaks:
        outcome = _deliver(people, cid, who, _handmade(people, cid, who, write))
        for copy, got in outcome.items():
            if not isinstance(got, AdmissionError):
                admitted += 1
                continue
            assert f"'{rule}'" in str(got), f"{name}: {copy} refused for another reason: {got}"
    copies = len(breaks) * (len(PARTIES) - 1)
    print(f"permissions: 0 of {len(breaks)} rule breaks admitted (each offered to 2 honest copies: {admitted} of {copies} admitted)")
    assert admitted == 0


def test_the_same_kinds_of_edit_made_legally_are_admitted(case):
    people, cid, proposal = case
    edits = legal_edits(proposal)
    admitted = 0
    for name, who, write in edits:
        signed = _handmade(people, cid, who, write)
        outcome = _deliver(people, cid, who, signed)
        for copy, got in outcome.items():
            assert not isinstance(got, AdmissionError), f"{name}: {copy} refused a legal edit: {got}"
            assert signed[0] in {ch.hash for ch in got.admitted}
            admitted += 1
        people[who][1].receive(cid, [signed[1]], {signed[0]: signed[2]})  # the writer keeps its own change
    print(f"permissions: {admitted} of {len(edits) * 2} legal hand-made edits admitted")
    views = [people[p][1].view(cid, now=FIXED_NOW) for p in PARTIES]
    assert views[0] == views[1] == views[2]
    assert views[0].items["account"].value == "12345"
    assert views[0].activities["confirm"].status == "cancelled"


def test_rule_break_refuses_the_honest_changes_of_its_batch(case):
    people, cid, _ = case
    _, priya = people["priya"]
    priya.act(cid, actions.note, "an honest note in the same bundle")
    outcome = _deliver(people, cid, "priya", _handmade(people, cid, "priya", _value("account", "999", "supplier")))
    for copy in ("alice", "sam"):
        assert isinstance(outcome[copy], AdmissionError)
        assert "honest note" not in str(people[copy][1].view(cid).timeline)


def test_the_creator_sets_up_alone_only_while_no_other_party_has_a_key(tmp_path, make_party):
    """While the creator is the only party with a key, its proposals ask only the creator; once another
    party has a key — whether or not it has signed anything yet — a proposal asking only its author is
    refused, whatever dependencies it names."""
    a_id, alice = make_party(tmp_path, "Alice", "")
    p_id, priya = make_party(tmp_path, "Priya", "BT")
    from pactclient import catalog
    cid = alice.create("Set-up", catalog.load("broadband-fault"), "customer")
    alice.act(cid, actions.add_activity, "Send the router", "supplier", FIXED_NOW + 86_400_000)
    alice.act(cid, actions.add_party, p_id.key_hex, "Priya", "supplier", "BT")
    got = exchange(alice, priya, cid)
    assert len(got.admitted) == 3
    assert "send-the-router" in priya.view(cid).activities
    people = {"alice": (a_id, alice), "priya": (p_id, priya)}
    outcome = _deliver(people, cid, "alice", _handmade(people, cid, "alice", _proposal("p-customer-1a7e01", "customer", ["customer"])))
    assert isinstance(outcome["priya"], AdmissionError) and "'proposal-required'" in str(outcome["priya"])


def test_local_edits_meet_the_same_rules(case):
    """The model refuses locally what a peer would refuse: the one rule set serves both."""
    from pactclient.errors import RefusedOperation
    people, cid, proposal = case
    _, alice = people["alice"]
    with pytest.raises(RefusedOperation, match="owner"):
        alice.act(cid, actions.set_item, "severity", "annoyance")
    with pytest.raises(RefusedOperation, match="assignee"):
        alice.act(cid, actions.change_status, "callback", "done")


def test_a_local_edit_that_slips_past_the_model_is_refused_before_it_is_signed(case):
    """The receipt check also runs on every local change before it is signed and stored."""
    from pactclient.errors import RefusedOperation
    from pactclient.model.actions import Outcome
    people, cid, _ = case
    _, priya = people["priya"]
    before = copy_state(priya, cid)

    def sloppy_action(doc, actor):
        with doc.transaction() as tx:
            _value("account", "999", "supplier")(tx)
        return Outcome("done")

    with pytest.raises(RefusedOperation, match="'item-owner'"):
        priya.act(cid, sloppy_action)
    assert copy_state(priya, cid) == before
    priya.act(cid, actions.note, "still works")  # the copy is intact and writable


def test_a_rule_break_sent_over_a_peer_connection_is_refused(case):
    """A hostile device whose own copy took a rule-breaking change offers it by sync: refused, named."""
    from automerge.core import Document

    from pactclient.signing.change_ops import read_header
    from pactclient.sync import events as ev
    from test_sync_protocol import connect, pump

    people, cid, _ = case
    _, alice = people["alice"]
    _, priya = people["priya"]
    ca, cp = connect(alice, priya)
    before = copy_state(alice, cid)
    h, data, sig = _handmade(people, cid, "priya", _value("account", "999", "supplier"))
    # Priya's device skips every check: the change goes straight into its store and copy.
    hostile = Document.load(priya.document(cid).save() + data)
    with priya.store.write():
        priya.store.add_change(cid, h, priya.identity.public_key, read_header(data).seq, data, sig, FIXED_NOW)
    priya._docs[cid] = (hostile, priya.store.last_rowid(cid))
    ca.events()
    cp.local_changed(cid)
    pump(cp, ca)
    refused = [e for e in ca.events() if isinstance(e, ev.PeerRefused)]
    assert refused and "'item-owner'" in refused[0].reason
    assert copy_state(alice, cid) == before


def test_writes_into_a_record_that_lost_a_conflict_are_admitted(case):
    """Assignee and coordinator both start tracking an activity while apart: two progress records, one
    hidden by the merge. Each then writes into its own record again. Every copy admits everything."""
    people, cid, _ = case
    _, alice = people["alice"]
    _, priya = people["priya"]
    _, sam = people["sam"]
    priya.act(cid, actions.change_status, "callback", "start")
    priya.act(cid, actions.change_status, "callback", "wait", waiting_on="customer")
    sam.act(cid, actions.change_status, "callback", "wait", waiting_on="supplier")
    sam.act(cid, actions.change_status, "callback", "start")
    for src, dst in ((priya, alice), (sam, alice), (alice, priya), (alice, sam)):
        exchange(src, dst, cid)
    views = [ws.view(cid, now=FIXED_NOW) for ws in (alice, priya, sam)]
    assert views[0] == views[1] == views[2]
    assert len({ws.store.change_count(cid) for ws in (alice, priya, sam)}) == 1


def test_local_edits_are_judged_by_the_terms_a_received_acceptance_brings(case):
    """Terms are kept from one write to the next (per heads): once the others' acceptance of a new
    assignee arrives, the former assignee's copy refuses its own edit of that activity."""
    from pactclient.errors import RefusedOperation
    from pactclient.model.actions import Outcome
    people, cid, _ = case
    _, priya = people["priya"]
    assignee = priya.view(cid).activities["callback"].assignee

    def sloppy_status(doc, actor, status="in_progress"):
        with doc.transaction() as tx:
            _status("callback", status, assignee)(tx)
        return Outcome("done")

    priya.act(cid, sloppy_status)  # still hers: allowed, and the terms are kept for the next edit
    given = priya.act(cid, actions.propose, "change_assignee", {"id": "callback", "assignee": "customer"}, "")
    for name in ("alice", "sam"):
        exchange(priya, people[name][1], cid)
        people[name][1].act(cid, actions.answer, given.ref, True)
        exchange(people[name][1], priya, cid)
    assert priya.view(cid).activities["callback"].assignee == "customer"
    before = copy_state(priya, cid)
    with pytest.raises(RefusedOperation, match="'assignee'"):
        priya.act(cid, sloppy_status, "waiting")
    assert copy_state(priya, cid) == before
