"""Five peers keep one contract through the real protocol while one of them is a hostile party: the
state machine of ``test_convergence_peers.py`` (edits, partitions, dropped, duplicated and reordered
frames, restarts), plus a party of the contract — a second coordinator, so it may move every
activity and its answer is needed by every proposal — that writes changes by hand under its own real
device key (``tests/hostile_party.py``): backdated proposals, answers and status writes, second writes
meant to win Automerge's conflicts, reused or jumping op ids, activity moves the rules forbid, and
legal changes written the same way.

Each hand-made change continues the party's own sequence numbers and goes to honest peers by sync
(from a copy of the hostile device with the change stored in it, as a device that skips every check
would hold it) or as a raw bundle to ``Workspace.receive``. The hostile device's own copy keeps only
what is valid — a device that kept a refused change could get nothing written after it admitted
(rule own-chain), and every later attack would be refused for that alone.

After healing, the four honest copies (and the hostile one) have identical heads and views; no
honest copy holds an attack; what they hold is exactly every party's valid changes, and a plain
Automerge merge of those shows the same terms, answers, agreements and scorecard; a fresh copy
admits an honest copy's whole history; each copy reopens from SQLite, ``save()``/``load()``
round-trips, and evidence exported from one verifies.
Longer: ``PACT_CONVERGENCE_HOSTILE_EXAMPLES=200 pytest -s tests/test_convergence_hostile.py``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
from automerge.core import Document
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule, run_state_machine_as_test

from pactclient.errors import AdmissionError, PactError
from pactclient.evidence import encode, verify_bytes
from pactclient.identity import DeviceIdentity
from pactclient.model import actions, agreements
from pactclient.model.actions import view_of
from pactclient.signing.change_ops import read_header
from pactclient.store import Workspace
from pactclient.sync import bundle
from pactclient.sync import events as ev
from pactclient.sync.connection import PeerConnection

import hostile_party
from conftest import FIXED_NOW, FixedClock, exchange, new_party, shared_contract, view_data
from forge import bundle_with, forged
from test_convergence_peers import NAMES, PEERS, Link, PeersOnABadNetwork
from test_permissions import _proposal

EXAMPLES = int(os.environ.get("PACT_CONVERGENCE_HOSTILE_EXAMPLES", "15"))
ROLES = ("customer", "supplier", "coordinator", "coordinator", "observer")  # the hostile party is the second coordinator
HOSTILE = 3
HONEST = [i for i in range(PEERS) if i != HOSTILE]
STATS = {"runs": 0, "steps": 0, "dropped": 0, "duplicated": 0, "reordered": 0, "restarts": 0,
         "partitions": 0, "refusals": 0, "seconds": 0.0}
OFFERED: Counter = Counter()  # attack class -> hand-made changes offered to an honest copy
REFUSED: Counter = Counter()  # attack class -> offers refused
ADMITTED: Counter = Counter()  # legal -> offers admitted
SKIPPED = Counter()  # generator -> times the copy gave it nothing to attack
RULES: Counter = Counter()  # rule named by a refusal -> count


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, str]:
    base = tmp_path_factory.mktemp("five-hostile")
    parties = [new_party(base / name.lower(), name, org, FixedClock(FIXED_NOW + i * 7))[1]
               for i, (name, org) in enumerate(NAMES)]
    cid = shared_contract(parties, roles=ROLES)
    for ws in parties:
        ws.close()
    return base, cid


def _rule_of(reason: str) -> str:
    found = re.search(r"rule '([a-z-]+)'", reason)
    if found:
        return found[1]
    return "not a party" if "not a party" in reason else "other: " + reason.split("): ", 1)[-1][:60]


class HostilePeer(PeersOnABadNetwork):
    stats = STATS

    @initialize()
    def start(self):
        super().start()
        self.identity = self.peers[HOSTILE].identity
        self.attacks: dict[bytes, hostile_party.Attack] = {}  # refused-by-construction changes offered
        self.valid: set[bytes] = set()  # legal hand-made changes the hostile copy kept
        self.benches = 0

    # -- the hostile party's moves ----------------------------------------------------------------------

    @rule(gen=st.sampled_from(hostile_party.GENERATORS), n=st.integers(0, 11),
          how=st.sampled_from(["sync", "bundle"]), to=st.sets(st.sampled_from(HONEST), min_size=1, max_size=2))
    def attack(self, gen, n, how, to):
        h = hostile_party.Hostile(self.identity, self.peers[HOSTILE], self.cid, n)
        got = gen(h)
        if got is None:
            SKIPPED[gen.__name__] += 1
            return
        digest, data, sig = got.signed
        if got.legal:
            # The hostile device keeps its valid change, as any device would, and offers it as usual.
            self.peers[HOSTILE].receive(self.cid, [data], {digest: sig})
            self.valid.add(digest)
            if how == "sync":
                self._changed(HOSTILE)
                for j in to:
                    OFFERED["legal"] += 1
                    ADMITTED["legal"] += 1  # checked after healing: every honest copy holds it
                return
        else:
            self.attacks[digest] = got
        if how == "sync":
            # First the hostile device catches up with its targets (a session would): the copy that offers
            # the change then has nothing to learn from them, so each target judges the change itself.
            for j in to:
                if self.peers[HOSTILE].receive(*bundle.decode(bundle.encode(self.peers[j], self.cid))).admitted:
                    self._changed(HOSTILE)
        bench = self._bench(got) if how == "sync" else None
        try:
            for j in to:
                self._offer(j, got, bench)
        finally:
            if bench is not None:
                bench[0].close()

    @rule(gen=st.sampled_from(hostile_party.GENERATORS), n=st.integers(0, 11),
          how=st.sampled_from(["sync", "bundle"]), to=st.sets(st.sampled_from(HONEST), min_size=1, max_size=2))
    def attack_again(self, gen, n, how, to):
        """The same move drawn as a second rule, so that about a third of the steps are the hostile party's."""
        self.attack(gen, n, how, to)

    def _offer(self, j: int, got: hostile_party.Attack, bench) -> None:
        """Offer one hand-made change to honest peer ``j``: by bundle, or by sync from ``bench``."""
        OFFERED[got.cls] += 1
        refusal = self._by_bundle(j, got) if bench is None else self._by_sync(j, *bench)
        stored = self.peers[j].store.has_change(self.cid, got.signed[0])
        if got.legal:
            assert stored and refusal is None, f"legal {got.name!r} refused by peer {j}: {refusal}"
            ADMITTED["legal"] += 1
            return
        assert not stored, f"peer {j} admitted the attack {got.cls}: {got.name!r}"
        assert refusal is not None, f"peer {j} neither admitted nor refused {got.name!r}"
        REFUSED[got.cls] += 1
        RULES[_rule_of(refusal)] += 1

    def _by_bundle(self, j: int, got: hostile_party.Attack) -> str | None:
        """A raw bundle: the hostile copy's whole history with the hand-made change appended."""
        ws = self.peers[j]
        before = ws.store.change_count(self.cid)
        try:
            extra = () if got.legal else (got.signed,)  # a legal change is in the hostile copy already
            received = ws.receive(*bundle.decode(bundle_with(self.peers[HOSTILE], self.cid, *extra)))
        except PactError as exc:
            assert ws.store.change_count(self.cid) == before, "a refused bundle left changes behind"
            assert "\n" not in str(exc)
            return str(exc)
        if received.admitted:
            self._changed(j)
        return None

    def _bench(self, got: hostile_party.Attack) -> tuple[Workspace, Document]:
        """A copy of the hostile device (its key and a copy of its database) that holds the change
        unchecked — in its store and its in-memory document, as in test_permissions — and offers it."""
        digest, data, sig = got.signed
        home = self.tmp / f"bench-{self.benches}"
        self.benches += 1
        home.mkdir()
        for name in ("identity.json", "device.key"):
            shutil.copy2(self.homes[HOSTILE] / name, home / name)
        target = sqlite3.connect(home / "pact.db")
        self.peers[HOSTILE].store.db.backup(target)
        target.close()
        bench = Workspace(home, DeviceIdentity.load(home), self.clocks[HOSTILE])
        doc = Document.load(bench.document(self.cid).save() + data)
        with bench.store.write():
            header = read_header(data)
            bench.store.add_change(self.cid, digest, header.actor, header.seq, data, sig, FIXED_NOW)
        return bench, doc

    def _by_sync(self, j: int, bench: Workspace, doc: Document) -> str | None:
        """A fresh session from the bench to honest peer ``j``, pumped until quiet or refused."""
        bench._docs[self.cid] = (doc, bench.store.last_rowid(self.cid))  # its store alone would not load
        # It talks to the parties its valid copy knows (reading them from a document with the attack in
        # it need not give them).
        keys = {k.hex() for k in self.peers[HOSTILE].party_keys(self.cid)}
        bench._party_keys[self.cid] = (tuple(sorted(doc.get_heads())), keys)
        link = Link(PeerConnection(bench, self.peers[j].identity.public_key, dialer=True),
                    PeerConnection(self.peers[j], self.identity.public_key, dialer=False))
        for end in link.ends:
            end.start()
        link.collect()
        refusals: list[str] = []
        for _ in range(200):
            moved = False
            for side in (0, 1):
                while link.flight[side] and not link.ends[1].closed:
                    link.ends[side].receive_data(link.flight[side].pop(0))
                    events = link.ends[side].events()
                    link.collect()
                    moved = True
                    if side == 1:
                        refusals += [e.reason for e in events if isinstance(e, ev.PeerRefused)]
                        if any(isinstance(e, ev.ChangesAdmitted) for e in events):
                            self._changed(j)
            if not moved or link.ends[1].closed:
                break
        return refusals[0] if refusals else None

    # -- healing and what must hold after it ---------------------------------------------------------------

    def check_healed(self):
        super().check_healed()  # all five copies: identical heads and views, and the first one reopens
        honest = [self.peers[i] for i in HONEST]
        held = [ws.store.hashes(self.cid) for ws in honest]
        for i, hashes in zip(HONEST, held):
            leaked = [self.attacks[h].name for h in hashes & set(self.attacks)]
            assert not leaked, f"peer {i} holds attacks: {leaked}"
            assert self.valid <= hashes, f"peer {i} lacks legal hand-made changes"
        # Exactly every party's valid changes: each honest party's own, and the hostile copy's line.
        valid = set().union(*(self._authored(ws) for ws in honest), self.peers[HOSTILE].store.hashes(self.cid))
        assert all(hashes == valid for hashes in held), "honest copies hold other than every party's valid changes"
        self._check_derived(honest[0], valid)
        self._check_fresh_copy(honest[STATS["runs"] % len(honest)])
        for i in HONEST:
            self._check_reopens(i)
        verdict = verify_bytes(encode(honest[0], self.cid))
        assert verdict.valid, verdict.failures

    def _authored(self, ws: Workspace) -> set[bytes]:
        return {row[1] for row in ws.store.changes_after(self.cid, 0) if row[2] == ws.identity.public_key}

    def _check_derived(self, ws: Workspace, valid: set[bytes]) -> None:
        """A plain Automerge merge of the valid changes — no admission, no store — reads the same."""
        merged = Document.load(b"".join(row[3] for row in ws.store.changes_after(self.cid, 0) if row[1] in valid))
        ours, plain = ws.view(self.cid, now=FIXED_NOW), view_of(merged, FIXED_NOW)
        assert dataclasses.asdict(plain) == dataclasses.asdict(ours)
        assert plain.scorecard() == ours.scorecard()
        assert agreements.agreed_versions(plain) == agreements.agreed_versions(ours)

    def _check_fresh_copy(self, ws: Workspace) -> None:
        """A fresh honest copy admits this copy's whole history, as one bundle."""
        home = self.tmp / "fresh"
        fresh = new_party(home, "Fresh", "", FixedClock())[1]
        try:
            got = fresh.receive(*bundle.decode(bundle.encode(ws, self.cid)))
            assert len(got.admitted) == ws.store.change_count(self.cid)
            assert view_data(fresh, self.cid) == view_data(ws, self.cid)
        finally:
            fresh.close()
            shutil.rmtree(home, ignore_errors=True)

    def _check_reopens(self, i: int) -> None:
        ws = self.peers[i]
        doc = ws.document(self.cid)
        loaded = Document.load(doc.save())
        assert sorted(loaded.get_heads()) == sorted(doc.get_heads())
        assert dataclasses.asdict(view_of(loaded, FIXED_NOW)) == dataclasses.asdict(view_of(doc, FIXED_NOW))
        reopened = Workspace(self.homes[i], DeviceIdentity.load(self.homes[i]))
        try:
            assert view_data(reopened, self.cid) == view_data(ws, self.cid)
        finally:
            reopened.close()


def test_honest_copies_agree_whatever_a_hostile_party_writes(template):
    base, cid = template
    HostilePeer.base, HostilePeer.cid = base, cid
    started = time.monotonic()
    run_state_machine_as_test(HostilePeer, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=40, deadline=None, database=None,
        derandomize="PACT_CONVERGENCE_HOSTILE_EXAMPLES" not in os.environ, suppress_health_check=list(HealthCheck),
        **({"phases": [Phase.generate]} if os.environ.get("PACT_NO_SHRINK") else {})))
    attacks = {c: OFFERED[c] for c in hostile_party.CLASSES if c != "legal"}
    print(f"\nhostile party among 5 peers: {STATS['runs']} runs, all converged; attacks offered to honest copies "
          f"{sum(attacks.values())} ({', '.join(f'{c} {n}' for c, n in attacks.items())}), refused "
          f"{sum(REFUSED.values())}, admitted 0; legal hand-made changes offered {OFFERED['legal']}, admitted "
          f"{ADMITTED['legal']}; rules named: {', '.join(f'{r} {n}' for r, n in RULES.most_common())}; "
          f"{STATS['steps']} frames, {STATS['refusals']} refusals on links; {time.monotonic() - started:.1f} s")
    assert STATS["runs"] >= EXAMPLES // 2
    assert all(attacks[c] > 0 for c in attacks), f"an attack class was never tried: {attacks}"
    assert sum(REFUSED.values()) == sum(attacks.values())


# -- attacks first found by the state machine, each kept as a test of its own --------------------------


@pytest.fixture
def agreed(tmp_path, make_party):
    """Alice (customer), Priya (supplier), Sam (coordinator); Priya proposed moving the deadline of
    'fix' and everyone else accepted: applied, in force, in every copy."""
    people = [make_party(tmp_path, name, org)[1] for name, org in (("Alice", ""), ("Priya", "BT"), ("Sam", "Ombuds"))]
    cid = shared_contract(people)
    alice, priya, sam = people
    given = priya.act(cid, actions.propose, "change_due", {"id": "fix", "due": FIXED_NOW + 9 * hostile_party.DAY})
    for ws in (alice, sam):
        exchange(priya, ws, cid)
        ws.act(cid, actions.answer, given.ref, True)
        exchange(ws, priya, cid)
    for src in people:
        for dst in people:
            if src is not dst:
                exchange(src, dst, cid)
    assert alice.view(cid).proposal(given.ref).state == "applied"
    return people, cid, given.ref


def _offered_to_a_fresh_copy(tmp_path, ws, cid, signed):
    """The writer's history and its hand-made change, as one bundle, to a copy that has nothing yet."""
    fresh = new_party(tmp_path / "fresh", "Fresh", "")[1]
    try:
        fresh.receive(*bundle.decode(bundle_with(ws, cid, signed)))
        return None, fresh.view(cid, now=FIXED_NOW)
    except AdmissionError as exc:
        return exc, None
    finally:
        fresh.close()


def test_a_party_cannot_take_back_its_answer_by_overwriting_it(tmp_path, agreed):
    """Sam writes 'reject' over its own 'accept' with a plain Automerge put at its current heads: right
    dependencies, sequence number and op counter. A copy that already holds the accept refuses it
    (own-answers); a copy that receives both at once admits it, and the applied proposal becomes
    rejected there — the agreed deadline reverts. The two honest copies then disagree for good."""
    (alice, priya, sam), cid, pid = agreed
    signed = forged(sam.identity, sam.document(cid), hostile_party.answer(pid, "coordinator", "reject"))
    refused, view = _offered_to_a_fresh_copy(tmp_path, sam, cid, signed)
    assert refused is not None and "'own-answers'" in str(refused), f"admitted: the proposal is {view.proposal(pid).state}"


def test_a_proposer_cannot_rewrite_its_agreed_proposal_by_overwriting_it(tmp_path, agreed):
    (alice, priya, sam), cid, pid = agreed
    write = _proposal(pid, "supplier", ["coordinator", "customer", "supplier"], "change_due",
                      {"id": "fix", "due": FIXED_NOW + 365 * hostile_party.DAY})
    signed = forged(priya.identity, priya.document(cid), write)
    for ws in (alice, sam):  # copies that hold the agreement, its answers and countersignatures
        with pytest.raises(AdmissionError, match="'proposal-fixed'"):
            ws.receive(*bundle.decode(bundle_with(priya, cid, signed)))


def test_a_done_is_not_overturned_by_a_concurrent_write_with_a_higher_counter(tmp_path, make_party):
    """Priya finishes the callback. Sam (coordinator), apart, writes notes until its op counter passes
    Priya's done, then marks the callback waiting — every change legal and made by pact itself. Once
    merged, Automerge keeps Sam's status; the finish mark (done_at) keeps the callback done in every copy."""
    people = [make_party(tmp_path, name, org)[1] for name, org in (("Alice", ""), ("Priya", "BT"), ("Sam", "Ombuds"))]
    cid = shared_contract(people)
    alice, priya, sam = people
    priya.act(cid, actions.change_status, "callback", "done")
    done_op = max(c.max_op for c in priya.document(cid).get_changes([]))
    while max(c.max_op for c in sam.document(cid).get_changes([])) <= done_op:
        sam.act(cid, actions.note, "on it")
    sam.act(cid, actions.change_status, "callback", "wait", waiting_on="customer")
    for src in people:
        for dst in people:
            if src is not dst:
                exchange(src, dst, cid)
    assert [ws.view(cid).activities["callback"].status for ws in people] == ["done"] * 3
