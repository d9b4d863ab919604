"""Agreed means agreed: a party writing changes by hand cannot rewrite what was agreed.

Alice (customer, the creator), Priya (BT, supplier) and Sam (ombudsman, coordinator) share a contract
in which a deadline change was agreed by all three and each has signed. The hostile party is one of
them, using its own real device key: it writes ops with the Automerge API in a copy at a state of its
choosing, then gives the change the dependencies, sequence number (its own line continued, so no
equivocation is ever detected) and first op counter it likes, and signs it (``tests/forge.py``).

Each attack is offered to both other copies twice: in a bundle (``Workspace.receive``) and over the
sync protocol from a device whose own store holds it. Every one must be refused — or, where the change
is valid with respect to its own history, leave the terms, the answers, the agreements, the scorecard
and the evidence of every honest copy as they were. The four classes are the issue's: backdating into
a state where fewer parties had a say, a second write meant to win Automerge's conflict, op ids reused
or jumped, and activity moves the transition table does not allow. Honest concurrency still works.
"""

from __future__ import annotations

import shutil

import pytest
from automerge.core import ROOT, Document, ObjType, ScalarType

from pactclient import catalog
from pactclient.errors import AdmissionError, FormatError
from pactclient.evidence import encode, verify_bytes
from pactclient.model import actions
from pactclient.model.amdoc import child, obj_key, put_value
from pactclient.signing.change_ops import read_header
from pactclient.store import Workspace
from pactclient.sync import bundle
from pactclient.sync import events as ev

from conftest import FIXED_NOW, FixedClock, copy_state, exchange, shared_contract
from forge import bundle_with, forged, latest_of
from test_sync_protocol import connect, pump

DAY = 86_400_000
PEOPLE = ("alice", "priya", "sam")


@pytest.fixture
def case(tmp_path, make_party):
    """Three parties; Sam's deadline change agreed by all; Priya has set the severity and started the
    callback; everyone has everything."""
    people = {name: make_party(tmp_path, name.title(), org) for name, org in
              (("alice", ""), ("priya", "BT"), ("sam", "Ombudsman"))}
    cid = shared_contract([ws for _, ws in people.values()])
    sam = people["sam"][1]
    agreed = sam.act(cid, actions.propose, "change_due", {"id": "fix", "due": FIXED_NOW + 9 * DAY}, "parts delayed")
    _everyone(people, cid)
    for name in ("alice", "priya"):
        people[name][1].act(cid, actions.answer, agreed.ref, True)
        _everyone(people, cid)
    priya = people["priya"][1]
    priya.act(cid, actions.set_item, "severity", "degraded")
    priya.act(cid, actions.change_status, "callback", "start")
    _everyone(people, cid)
    for _, ws in people.values():
        ws.countersign(cid)
    _everyone(people, cid)
    assert priya.view(cid).proposal(agreed.ref).state == "applied"
    return people, cid, agreed.ref


def _everyone(people, cid):
    for _, src in people.values():
        for _, dst in people.values():
            if src is not dst:
                exchange(src, dst, cid)


def _doc(people, name, cid) -> Document:
    return people[name][1].document(cid)


def _heads_before(doc: Document, key: bytes, seq: int) -> list[bytes]:
    """The heads of the document just before ``key``'s change number ``seq``: everything that is not
    that change or after it."""
    target = next(c for c in doc.get_changes([]) if c.actor_id == key and c.seq == seq)
    later = {c.hash for c in doc.get_changes([target.hash])} | {target.hash}
    keep = [c for c in doc.get_changes([]) if c.hash not in later]
    return Document.load(b"".join(c.bytes for c in keep)).get_heads() if keep else []


def _change_that_made(doc: Document, proposal_id: str):
    """The change whose op made proposal ``proposal_id``."""
    actor, counter = obj_key(doc.get(child(doc, ROOT, "proposals"), proposal_id)[1])
    return next(c for c in doc.get_changes([]) if c.actor_id == actor and c.start_op <= counter <= c.max_op)


def _own_latest(people, name, cid):
    identity = people[name][0]
    return latest_of(_doc(people, name, cid), identity.public_key)


# -- delivery ------------------------------------------------------------------------------------------


def _offer(people, cid, who: str, changes: list, via: str, tmp_path) -> dict:
    """Offer ``who``'s hand-made ``changes`` to both other copies; what each did ("refused: ..." or
    the admitted count). A refused copy must not have moved."""
    out = {}
    for name in people:
        if name == who:
            continue
        ws = people[name][1]
        before = copy_state(ws, cid)
        if via == "bundle":
            try:
                got = ws.receive(*bundle.decode(bundle_with(people[who][1], cid, *changes)))
                out[name] = len(got.admitted)
            except (AdmissionError, FormatError) as exc:
                assert "\n" not in str(exc)
                out[name] = f"refused: {exc}"
        else:
            out[name] = _by_sync(people, cid, who, ws, changes, tmp_path)
        if isinstance(out[name], str):
            assert copy_state(ws, cid) == before, f"{name}'s copy moved although it refused"
    return out


def _hostile_copy(people, who: str, tmp_path) -> Workspace:
    """A copy of ``who``'s home: the hostile device, whose own store will take anything."""
    identity, ws = people[who]
    home = tmp_path / f"hostile-{who}-{len(list(tmp_path.iterdir()))}"
    ws.store.checkpoint()
    shutil.copytree(ws.home, home)
    return Workspace(home, identity, FixedClock())


def _take_unchecked(hostile: Workspace, cid: str, changes: list) -> None:
    """The hostile device puts the changes straight into its store and document, skipping every check."""
    key = hostile.identity.public_key
    doc = Document.load(b"".join(c.bytes for c in hostile.document(cid).get_changes([]))
                        + b"".join(data for _, data, _ in changes))
    with hostile.store.write():
        for h, data, sig in changes:
            hostile.store.add_change(cid, h, key, read_header(data).seq, data, sig, FIXED_NOW)
    hostile._docs[cid] = (doc, hostile.store.last_rowid(cid))


def _by_sync(people, cid, who, honest: Workspace, changes: list, tmp_path) -> str | int:
    """The hostile device takes the changes into its own copy, then syncs with the honest device."""
    hostile = _hostile_copy(people, who, tmp_path)
    try:
        count = honest.store.change_count(cid)
        a, b = connect(honest, hostile)
        a.events()
        _take_unchecked(hostile, cid, changes)
        b.local_changed(cid)
        pump(b, a)
        refused = [e for e in a.events() if isinstance(e, ev.PeerRefused)]
        if refused:
            return f"refused: {refused[0].reason}"
        return honest.store.change_count(cid) - count
    finally:
        hostile.close()


def _refused_everywhere(outcome: dict, *rules: str) -> None:
    for name, got in outcome.items():
        assert isinstance(got, str) and got.startswith("refused"), f"{name} admitted it: {got}"
        if rules:
            assert any(f"'{rule}'" in got for rule in rules), f"{name} refused for another reason: {got}"


VIAS = ["bundle", "sync"]
WELL_FORMED = ("own-chain", "op-counter", "causal-refs")


# -- class 1: backdating, so that fewer parties have a say -----------------------------------------------


def _proposal(pid, proposer, required, kind, payload):
    def write(tx):
        put_value(tx, child(tx, ROOT, "proposals"), pid, {
            "kind": kind, "payload": payload, "rationale": "", "proposer": proposer, "created_at": FIXED_NOW,
            "required": required, "answers": {}})
        timeline = child(tx, ROOT, "timeline")
        put_value(tx, timeline, tx.length(timeline), {"kind": "event", "author": proposer, "at": FIXED_NOW,
                                                      "text": "set the terms", "ref": pid}, insert=True)
    return write


@pytest.fixture
def pair(tmp_path, make_party):
    """Alice created the contract and added Priya (alone: nobody else had a key); Priya joined."""
    people = {"alice": make_party(tmp_path, "Alice", ""), "priya": make_party(tmp_path, "Priya", "BT")}
    alice, priya = people["alice"][1], people["priya"][1]
    cid = alice.create("Mail re-downloads", catalog.load("broadband-fault"), "customer")
    alice.act(cid, actions.add_party, people["priya"][0].key_hex, "Priya", "supplier", "BT")
    exchange(alice, priya, cid)
    priya.act(cid, actions.accept_terms)
    priya.act(cid, actions.set_item, "severity", "degraded")
    exchange(priya, alice, cid)
    return people, cid


BACKDATED = [
    ("item owner moved to the customer", "change_item", {"id": "severity", "fields": {"owner": "customer"}}),
    ("supplier's key replaced by one the creator holds", "replace_key", {"id": "supplier", "key": "ab" * 32}),
    ("deadline moved into the past", "change_due", {"id": "callback", "due": FIXED_NOW - 30 * DAY}),
    ("supplier's activity removed", "remove_activity", {"id": "fix"}),
]


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("name,kind,payload", BACKDATED, ids=[b[0] for b in BACKDATED])
def test_a_creator_cannot_backdate_a_term_change_into_the_set_up(pair, tmp_path, via, name, kind, payload):
    people, cid = pair
    alice_id = people["alice"][0]
    doc = _doc(people, "alice", cid)
    views = {n: copy_state(ws, cid) for n, (_, ws) in people.items()}
    # Variant 1: dependencies from before Priya was added (Alice's own later change left out).
    at = _heads_before(doc, alice_id.public_key, 2)
    early = forged(alice_id, doc, _proposal("p-customer-bacd01", "customer", ["customer"], kind, payload), at=at)
    # Variant 2: dependencies right after Priya was added, before Priya's first change (own line kept).
    at = [_own_latest(people, "alice", cid).hash]
    late = forged(alice_id, doc, _proposal("p-customer-bacd02", "customer", ["customer"], kind, payload), at=at)
    # Variant 3: the same asking nobody but its author, on top of everything.
    now = forged(alice_id, doc, _proposal("p-customer-bacd03", "customer", ["customer"], kind, payload))
    for attack, rules in ((early, WELL_FORMED), (late, ("proposal-required", "proposal-fits")),
                          (now, ("proposal-required", "proposal-fits"))):
        outcome = _offer(people, cid, "alice", [attack], via, tmp_path)
        _refused_everywhere(outcome, *rules)
    assert copy_state(people["priya"][1], cid) == views["priya"]


# -- class 2: a second write that would win Automerge's conflict ----------------------------------------


def _answer(pid, party, word):
    def write(tx):
        answers = child(tx, child(tx, child(tx, ROOT, "proposals"), pid), "answers")
        put_value(tx, answers, party, {"answer": word, "at": FIXED_NOW, "reason": "changed my mind"})
    return write


@pytest.mark.parametrize("via", VIAS)
def test_an_agreement_cannot_be_taken_back_or_taken_over(case, tmp_path, via):
    people, cid, agreed = case
    alice_id, priya_id = people["alice"][0], people["priya"][0]
    doc = _doc(people, "alice", cid)
    made = _change_that_made(doc, agreed)
    attacks = [
        # Reject after accepting, with dependencies from before the accept (own line continued).
        ("reject, backdated", "alice",
         forged(alice_id, doc, _answer(agreed, "customer", "reject"), at=[made.hash]), WELL_FORMED),
        # Reject after accepting, on top of everything: an answer is final.
        ("reject again", "alice", forged(alice_id, doc, _answer(agreed, "customer", "reject")), ("own-answers",)),
        # Priya makes a proposal under the agreed proposal's id, from before it existed.
        ("proposal id taken over, backdated", "priya",
         forged(priya_id, doc, _proposal(agreed, "supplier", ["coordinator", "customer", "supplier"], "change_due",
                                         {"id": "fix", "due": FIXED_NOW + 365 * DAY}), at=made.deps), WELL_FORMED),
        ("proposal id taken over", "priya",
         forged(priya_id, doc, _proposal(agreed, "supplier", ["coordinator", "customer", "supplier"], "change_due",
                                         {"id": "fix", "due": FIXED_NOW + 365 * DAY})), ("proposal-fixed", "proposal-id")),
        # An answer whose op counter jumps far ahead, so it would win any concurrent write.
        ("answer with a counter far ahead", "alice",
         forged(alice_id, doc, _answer(agreed, "customer", "reject"), start_op=10**6), ("op-counter",)),
    ]
    for label, who, attack, rules in attacks:
        outcome = _offer(people, cid, who, [attack], via, tmp_path)
        for name, got in outcome.items():
            assert isinstance(got, str), f"{label}: {name} admitted it"
            assert any(f"'{rule}'" in got for rule in rules), f"{label}: {name} refused for another reason: {got}"
    for _, ws in people.values():
        view = ws.view(cid)
        assert view.proposal(agreed).state == "applied"
        assert view.activities["fix"].due == FIXED_NOW + 9 * DAY


@pytest.mark.parametrize("via", VIAS)
def test_a_coordinator_cannot_overwrite_a_finished_activity_from_an_older_state(case, tmp_path, via):
    people, cid, _ = case
    priya, sam_id = people["priya"][1], people["sam"][0]
    before_done = priya.document(cid).get_heads()
    priya.act(cid, actions.change_status, "callback", "done")
    _everyone(people, cid)
    doc = _doc(people, "sam", cid)

    def status(word):
        def write(tx):
            record = child(tx, child(tx, ROOT, "progress"), "callback")
            tx.put(record, "status", ScalarType.Str, word)
        return write

    # Written on top of the done (so its op overwrites the done) but claiming the older dependencies,
    # with the counter those dependencies would give.
    fixed_up = forged(sam_id, doc, status("waiting"), deps=before_done,
                      start_op=1 + max(c.max_op for c in priya.document(cid).fork(before_done).get_changes([])))
    attacks = [
        ("status over the done, backdated, counter fixed up", fixed_up, WELL_FORMED),
        ("status over the done", forged(sam_id, doc, status("in_progress")), ("transition",)),
        ("cancel over the done", forged(sam_id, doc, status("cancelled")), ("transition",)),
    ]
    for label, attack, rules in attacks:
        outcome = _offer(people, cid, "sam", [attack], via, tmp_path)
        for name, got in outcome.items():
            assert isinstance(got, str), f"{label}: {name} admitted it"
            assert any(f"'{rule}'" in got for rule in rules), f"{label}: {name} refused for another reason: {got}"
    # Written at the state before the done, where Sam could still move it: valid in its own history,
    # so admitted, and concurrent with the done. It may win Automerge's conflict on the status field;
    # the done stands all the same, in every copy.
    concurrent = forged(sam_id, doc, status("waiting"), at=before_done)
    assert _offer(people, cid, "sam", [concurrent], via, tmp_path) == {"alice": 1, "priya": 1}
    views = [ws.view(cid, now=FIXED_NOW) for _, ws in people.values() if ws is not people["sam"][1]]
    assert views[0] == views[1]
    assert views[0].activities["callback"].status == "done"
    assert views[0].activities["callback"].kept() is not None


@pytest.mark.parametrize("via", VIAS)
def test_an_acceptance_of_a_proposal_that_no_longer_fits_is_refused(case, tmp_path, via):
    """Sam proposes a new deadline for 'confirm' and, meanwhile, its removal; the removal is agreed.
    Priya's hand-made acceptance of the deadline (the model would refuse: it is void) is refused by
    rule answer-fits, so the void proposal can never be applied."""
    people, cid, _ = case
    sam = people["sam"][1]
    due = sam.act(cid, actions.propose, "change_due", {"id": "confirm", "due": FIXED_NOW + 30 * DAY}, "later")
    gone = sam.act(cid, actions.propose, "remove_activity", {"id": "confirm"}, "not needed")
    _everyone(people, cid)
    for name in ("alice", "priya"):
        people[name][1].act(cid, actions.answer, gone.ref, True)
        _everyone(people, cid)
    assert people["alice"][1].view(cid).proposal(due.ref).state == "void"
    accept = forged(people["priya"][0], _doc(people, "priya", cid), _answer(due.ref, "supplier", "accept"))
    _refused_everywhere(_offer(people, cid, "priya", [accept], via, tmp_path), "answer-fits")


# -- class 3: op ids reused or jumped ------------------------------------------------------------------


@pytest.mark.parametrize("via", VIAS)
def test_op_ids_are_never_reused_or_chosen(case, tmp_path, via):
    people, cid, agreed = case
    alice_id, priya_id = people["alice"][0], people["priya"][0]
    doc = _doc(people, "priya", cid)
    last = _own_latest(people, "priya", cid)
    first_priya = next(c for c in doc.get_changes([]) if c.actor_id == priya_id.public_key and c.seq == 1)

    def value(text):
        def write(tx):
            put_value(tx, child(tx, ROOT, "values"), "severity",
                      {"value": text, "set_by": "supplier", "set_at": FIXED_NOW})
        return write

    def into_terms(tx):  # a map where a value goes, then a put into it: with a reused id, into an older object
        record = tx.put_object(child(tx, ROOT, "values"), "severity", ObjType.Map)
        tx.put(record, "owner", ScalarType.Str, "supplier")

    attacks = [
        ("start op reusing Priya's first op", forged(priya_id, doc, value("x"), start_op=first_priya.start_op)),
        ("start op one before its due place", forged(priya_id, doc, value("x"), start_op=last.max_op)),
        ("start op equal to the id of an object made earlier", forged(priya_id, doc, into_terms, start_op=first_priya.start_op)),
        ("start op far ahead", forged(priya_id, doc, value("x"), start_op=last.max_op + 10**6)),
        ("start op one ahead", forged(priya_id, doc, value("x"), start_op=max(c.max_op for c in doc.get_changes([])) + 2)),
    ]
    for label, attack in attacks:
        outcome = _offer(people, cid, "priya", [attack], via, tmp_path)
        for name, got in outcome.items():
            assert isinstance(got, str), f"{label}: {name} admitted it"
            assert "'op-counter'" in got or "'causal-refs'" in got, f"{label}: {name}: {got}"
    # Every honest copy still saves, loads and reopens.
    for _, ws in people.values():
        Document.load(ws.document(cid).save())
    assert alice_id


# -- class 4: activity rules -----------------------------------------------------------------------------


def _progress(activity, **fields):
    def write(tx):
        progress = child(tx, ROOT, "progress")
        record = child(tx, progress, activity)
        if record is None:
            put_value(tx, progress, activity, fields)
        else:
            for key, value in fields.items():
                put_value(tx, record, key, value)
    return write


@pytest.mark.parametrize("via", VIAS)
def test_activities_move_only_as_the_table_allows(case, tmp_path, via):
    people, cid, _ = case
    alice, priya = people["alice"][1], people["priya"][1]
    alice_id, priya_id = people["alice"][0], people["priya"][0]
    priya.act(cid, actions.change_status, "callback", "done")
    _everyone(people, cid)
    doc = priya.document(cid)
    sam_id = people["sam"][0]
    attacks = [
        ("priya", "done while what it depends on is open",
         forged(priya_id, doc, _progress("fix", status="done", updated_by="supplier", updated_at=FIXED_NOW, done_at=FIXED_NOW))),
        ("priya", "started while what it depends on is open",
         forged(priya_id, doc, _progress("fix", status="in_progress", updated_by="supplier", updated_at=FIXED_NOW))),
        ("priya", "a done activity reopened",
         forged(priya_id, doc, _progress("callback", status="in_progress", updated_by="supplier", updated_at=FIXED_NOW))),
        ("priya", "a done activity's outcome rewritten",
         forged(priya_id, doc, _progress("callback", outcome="never happened", updated_by="supplier", updated_at=FIXED_NOW))),
        ("priya", "a done activity's record made again",
         forged(priya_id, doc, lambda tx: put_value(tx, child(tx, ROOT, "progress"), "callback",
                                                    {"status": "open", "updated_by": "supplier", "updated_at": FIXED_NOW}))),
        ("sam", "an activity sent back to open by the coordinator",
         forged(sam_id, doc, _progress("callback", status="open", updated_by="coordinator", updated_at=FIXED_NOW))),
        ("alice", "the customer's activity done before the supplier's work",
         forged(alice_id, doc, _progress("confirm", status="done", updated_by="customer", updated_at=FIXED_NOW, done_at=FIXED_NOW))),
    ]
    for who, label, attack in attacks:
        outcome = _offer(people, cid, who, [attack], via, tmp_path)
        for name, got in outcome.items():
            assert isinstance(got, str) and "'transition'" in got, f"{label}: {name}: {got}"
    # A cancelled activity stays cancelled.
    alice.act(cid, actions.change_status, "confirm", "cancel")
    _everyone(people, cid)
    restart = forged(alice_id, alice.document(cid), _progress("confirm", status="in_progress", updated_by="customer",
                                                              updated_at=FIXED_NOW))
    _refused_everywhere(_offer(people, cid, "alice", [restart], via, tmp_path), "transition")
    for _, ws in people.values():
        view = ws.view(cid)
        assert view.activities["callback"].status == "done" and view.activities["confirm"].status == "cancelled"
        assert view.activities["fix"].status == "open"


# -- the copies stay whole, and the evidence says so -----------------------------------------------------


def test_after_the_attacks_every_copy_opens_saves_and_exports(case, tmp_path):
    people, cid, agreed = case
    priya_id = people["priya"][0]
    doc = _doc(people, "priya", cid)
    for attack in (forged(priya_id, doc, _answer(agreed, "supplier", "reject")),
                   forged(priya_id, doc, _answer(agreed, "supplier", "reject"), start_op=1)):
        _refused_everywhere(_offer(people, cid, "priya", [attack], "bundle", tmp_path))
    for name, (identity, ws) in people.items():
        ws.close()
        reopened = Workspace(ws.home, identity, FixedClock())
        Document.load(reopened.document(cid).save())
        verdict = verify_bytes(encode(reopened, cid))
        assert verdict.valid, verdict.failures
        assert verdict.view.proposal(agreed).state == "applied"
        assert [a["proposal"] for a in verdict.body["agreements"]][-1:] == [agreed]
        reopened.close()


def test_the_attackers_own_evidence_does_not_verify(case, tmp_path):
    """The hostile device's store holds its hand-made change: the evidence it exports says INVALID."""
    people, cid, agreed = case
    alice_id = people["alice"][0]
    doc = _doc(people, "alice", cid)
    made = _change_that_made(doc, agreed)
    for attack in (forged(alice_id, doc, _answer(agreed, "customer", "reject"), at=[made.hash]),
                   forged(alice_id, doc, _answer(agreed, "customer", "reject"), start_op=10**6)):
        hostile = _hostile_copy(people, "alice", tmp_path)
        try:
            _take_unchecked(hostile, cid, [attack])
            verdict = verify_bytes(encode(hostile, cid))
        finally:
            hostile.close()
        # Refused by the rule it breaks, or earlier: the backdated change leaves a saved document that
        # Automerge itself cannot load ("changes out of order").
        assert not verdict.valid and verdict.failures, verdict.failures
        assert any(word in f for f in verdict.failures for word in ("own-chain", "op-counter", "cannot be loaded"))


# -- honest concurrency still converges ---------------------------------------------------------------------


def test_two_parties_accepting_at_once_converge(case):
    people, cid, _ = case
    sam = people["sam"][1]
    made = sam.act(cid, actions.propose, "change_due", {"id": "diagnose", "due": FIXED_NOW + 5 * DAY}, "engineer")
    _everyone(people, cid)
    for name in ("alice", "priya"):  # each on its own copy, before seeing the other's answer
        people[name][1].act(cid, actions.answer, made.ref, True)
    _everyone(people, cid)
    views = [people[n][1].view(cid, now=FIXED_NOW) for n in PEOPLE]
    assert views[0] == views[1] == views[2]
    assert views[0].proposal(made.ref).state == "applied"
    assert views[0].activities["diagnose"].due == FIXED_NOW + 5 * DAY


def test_offline_edits_and_a_party_joining_meanwhile_converge(tmp_path, make_party):
    people = {name: make_party(tmp_path, name.title(), org) for name, org in
              (("alice", ""), ("priya", "BT"), ("sam", "Ombudsman"))}
    alice, priya, sam = (people[n][1] for n in PEOPLE)
    cid = shared_contract([alice, priya])
    # Alice proposes adding Sam; meanwhile Priya, offline, works the case.
    added = alice.act(cid, actions.add_party, people["sam"][0].key_hex, "Sam", "coordinator", "Ombudsman")
    priya.act(cid, actions.set_item, "severity", "service down")
    priya.act(cid, actions.change_status, "callback", "start")
    priya.act(cid, actions.note, "on it")
    alice.act(cid, actions.note, "still down here")
    exchange(alice, priya, cid)
    exchange(priya, alice, cid)
    priya.act(cid, actions.answer, added.ref, True)
    exchange(priya, alice, cid)
    exchange(alice, sam, cid)
    sam.act(cid, actions.accept_terms)
    for src in (alice, priya, sam):
        for dst in (alice, priya, sam):
            if src is not dst:
                exchange(src, dst, cid)
    views = [ws.view(cid, now=FIXED_NOW) for ws in (alice, priya, sam)]
    assert views[0] == views[1] == views[2]
    assert views[0].agreed() and "coordinator" in views[0].parties
    assert views[0].activities["callback"].status == "in_progress"
    assert [e.text for e in views[0].timeline].count("on it") == 1


def test_an_offered_contract_judges_no_commitment(pair):
    people, cid = pair
    alice = people["alice"][1]
    fresh = alice.create("Not yet agreed", catalog.load("broadband-fault"), "customer")
    alice.act(fresh, actions.add_party, people["priya"][0].key_hex, "Priya", "supplier", "BT")
    late = alice.view(fresh, now=FIXED_NOW + 60 * DAY)
    assert late.offered_to() == ("supplier",)
    assert late.light() == "amber" and late.broken_commitments() == []
    assert all(score.broken == 0 and score.kept == 0 for score in late.scorecard().per_party)
    assert late.scorecard().per_party[1].offered > 0
