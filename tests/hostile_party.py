"""A hostile party's attacks, for ``tests/test_convergence_hostile.py``: changes a real party writes by
hand with the Automerge API, under its own device key, continuing its own sequence numbers
(``forge.forged``), in the four classes of issue 11 and the delegation class of issue 12 (devices it
certifies itself, or that a stranger certified), and legal changes written the same way.

Each generator looks at the hostile party's own (valid) copy and returns one ``Attack``, or None when
the copy gives it nothing to attack (no done activity to reopen, no answer to take back). Every attack
is refused by construction — the comment on each says by which rule of ``docs/model.md`` — so an
honest copy that stores one has a bug. ``legal`` changes are valid by construction and must be
admitted: honest copies must tell the difference.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from automerge.core import ROOT, ObjType, ScalarType

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pactclient.identity import DeviceIdentity
from pactclient.identity.delegation import delegate, revoke
from pactclient.identity.party import raw_public
from pactclient.model import actions
from pactclient.model.actions import Actor
from pactclient.model.amdoc import child, obj_key, put_value

from conftest import FIXED_NOW
from forge import forged
from test_permissions import _entry, _proposal, _status

DAY = 86_400_000
CLASSES = ("backdating", "conflict", "op-ids", "activity", "devices", "legal")
# Attacks honest copies would admit: the state machine leaves them out while this names them (each is
# also a test of its own in test_convergence_hostile.py). None today.
KNOWN_ADMITTED: set[str] = set()


@dataclass(frozen=True)
class Attack:
    cls: str  # one of CLASSES
    name: str
    signed: tuple[bytes, bytes, bytes]  # hash, bytes, signature

    @property
    def legal(self) -> bool:
        return self.cls == "legal"


class Hostile:
    """The hostile party's copy at one moment, and what it can forge from there."""

    def __init__(self, identity, ws, cid: str, n: int):
        self.identity, self.ws, self.cid, self.n = identity, ws, cid, n
        self.doc = ws.document(cid)
        self.view = ws.view(cid, now=FIXED_NOW)
        self.me = self.view.party_by_key(identity.key_hex).id
        self.key = identity.public_key
        self.changes = self.doc.get_changes([])
        self.own = sorted((c for c in self.changes if c.actor_id == self.key), key=lambda c: c.seq)
        self.last = self.own[-1]
        self.heads = list(self.doc.get_heads())

    def forge(self, write, **kw) -> tuple[bytes, bytes, bytes]:
        return forged(self.identity, self.doc, write, **kw)

    def tag(self, salt: str) -> str:
        return hashlib.sha256(f"{self.n}|{salt}|{len(self.changes)}".encode()).hexdigest()[:8]

    def ancestor(self, change_hash: bytes, heads) -> bool:
        return change_hash not in {c.hash for c in self.doc.get_changes(list(heads))}

    def next_op(self, heads) -> int:
        """The start op Automerge writes on top of ``heads``: one more than any op among their ancestors."""
        later = {c.hash for c in self.doc.get_changes(list(heads))}
        return 1 + max((c.max_op for c in self.changes if c.hash not in later), default=0)

    def maker(self, obj_id: bytes):
        """The change holding the op with id ``obj_id`` (an object, or a scalar's op)."""
        actor, counter = obj_key(obj_id)
        return next(c for c in self.changes if c.actor_id == actor and c.start_op <= counter <= c.max_op)

    def section(self, name: str) -> bytes:
        return self.doc.get(ROOT, name)[1]

    def required(self) -> list[str]:
        return sorted(pid for pid, p in self.view.parties.items() if pid == self.me or (p.key and p.role != "observer"))

    def pick(self, seq):
        seq = list(seq)
        return seq[self.n % len(seq)] if seq else None


# -- writers ---------------------------------------------------------------------------------------


def answer(pid: str, party: str, word: str):
    def write(tx):
        answers = child(tx, child(tx, child(tx, ROOT, "proposals"), pid), "answers")
        put_value(tx, answers, party, {"answer": word, "at": FIXED_NOW, "reason": ""})
        _entry(tx, party, f"{word}ed {pid}")
    return write


def note(by: str, text: str):
    return lambda tx: _entry(tx, by, text)


def remade_progress(activity: str, status: str, by: str):
    def write(tx):
        put_value(tx, child(tx, ROOT, "progress"), activity, {"status": status, "waiting_on": "", "updated_at": FIXED_NOW,
                                                               "updated_by": by})
    return write


def proposals(h: Hostile) -> list[tuple[str, dict, list[str]]]:
    """(kind, payload, required) of proposals worth backdating: each takes something from another party."""
    everyone = h.required()
    return [
        ("change_due", {"id": "callback", "due": FIXED_NOW - 5 * DAY}, [h.me]),
        ("change_assignee", {"id": "callback", "assignee": h.me}, everyone),
        ("replace_key", {"id": "supplier", "key": hashlib.sha256(b"impostor").hexdigest()}, [h.me]),
        ("change_item", {"id": "account", "fields": {"owner": h.me}}, [h.me]),
        ("remove_activity", {"id": "fix"}, everyone),
        ("add_party", {"id": "supplier-2", "name": "Mallory", "org": "", "role": "supplier",
                       "key": hashlib.sha256(b"mallory").hexdigest(), "added_at": FIXED_NOW}, [h.me]),
    ]


# -- (1) backdating: dependencies from an earlier state, own sequence continued ---------------------------


def backdated_proposal(h: Hostile) -> Attack:
    """Written before its own previous change (or at the contract's first change, when only the creator
    had a key): its previous change is not among its ancestors — rule own-chain."""
    kind, payload, required = h.pick(proposals(h))
    at = list(h.last.deps) if h.n % 3 else [next(c.hash for c in h.changes if not c.deps)]
    pid = f"p-{h.me}-{h.tag('bp')}"
    return Attack("backdating", f"proposal {kind} at an earlier state",
                  h.forge(_proposal(pid, h.me, required, kind, payload), at=at))


def backdated_status(h: Hostile) -> Attack:
    """A status written before its own previous change: rule own-chain."""
    aid = h.pick(h.view.activities)
    return Attack("backdating", "status at an earlier state",
                  h.forge(_status(aid, h.pick(["done", "cancelled", "in_progress"]), h.me), at=list(h.last.deps)))


def answer_before_proposal(h: Hostile) -> Attack | None:
    """An answer whose dependencies stop before the proposal it answers was made (its own line kept,
    start op right for those dependencies): it writes into an object none of its ancestors made —
    rule causal-refs."""
    props = h.section("proposals")
    later = [p for p in h.view.proposals if h.doc.get(props, p.id, [h.last.hash]) is None and p.proposer != h.me]
    p = h.pick(later)
    if p is None:
        return None
    deps = [h.last.hash]
    return Attack("backdating", "answer from before the proposal existed",
                  h.forge(answer(p.id, h.me, h.pick(["accept", "reject"])), deps=deps, start_op=h.next_op(deps)))


# -- (2) a second write meant to win Automerge's conflict ----------------------------------------------------


def reanswer(h: Hostile) -> Attack | None:
    """The opposite of its own earlier answer. Written before that answer (own-chain), or after it with
    or without overwriting it (own-answers: an answer is final), or with a start op of its choosing
    (op-counter)."""
    props = h.section("proposals")
    mine = [p for p in h.view.proposals if any(a.party == h.me for a in p.answers)]
    p = h.pick(mine)
    if p is None:
        return None
    given = next(a.answer for a in p.answers if a.party == h.me)
    word = "reject" if given == "accept" else "accept"
    record = h.doc.get(child(h.doc, child(h.doc, props, p.id), "answers"), h.me)[1]
    before = list(h.maker(record).deps)
    variant = h.n % (3 if "answer overwritten in place" in KNOWN_ADMITTED else 4)
    if variant == 0:
        signed = h.forge(answer(p.id, h.me, word), at=before)
    elif variant == 1:
        signed = h.forge(answer(p.id, h.me, word), at=before, start_op=h.next_op(h.heads) + 50)
    elif variant == 2:
        signed = h.forge(answer(p.id, h.me, word), at=before, deps=h.heads, start_op=h.next_op(h.heads))
    else:
        signed = h.forge(answer(p.id, h.me, word))
    return Attack("conflict", f"{word} over its own {given} (variant {variant})", signed)


def steal_proposal_id(h: Hostile) -> Attack | None:
    """A proposal made under the id of another party's existing proposal, written where that proposal
    does not exist yet so that it is a fresh write at the same key: rule proposal-id (the id names
    another party) and proposal-fixed (the id exists at its dependencies), own-chain when the fork is
    older than its own previous change, op-counter with an inflated start op."""
    props = h.section("proposals")
    theirs = [p for p in h.view.proposals if p.proposer != h.me]
    p = h.pick(theirs)
    if p is None:
        return None
    made = h.maker(h.doc.get(props, p.id)[1])
    at = [h.last.hash] if not h.ancestor(made.hash, [h.last.hash]) else list(made.deps)
    write = _proposal(p.id, h.pick([h.me, p.proposer]), h.required(), "change_due",
                      {"id": "callback", "due": FIXED_NOW + 400 * DAY})
    variant = h.n % 3
    kw = {} if variant == 0 else {"deps": h.heads, "start_op": h.next_op(h.heads) + (0 if variant == 1 else 1000)}
    return Attack("conflict", f"proposal under {p.proposer}'s id (variant {variant})", h.forge(write, at=at, **kw))


def own_proposal_rewritten(h: Hostile) -> Attack | None:
    """A new proposal object under the id of its own existing proposal, at its current heads (so it
    overwrites it, with no answers and another payload): rule proposal-fixed."""
    if "proposal overwritten in place" in KNOWN_ADMITTED:
        return None
    p = h.pick([p for p in h.view.proposals if p.proposer == h.me and p.kind == "change_due"])
    if p is None:
        return None
    payload = {"id": p.payload["id"], "due": FIXED_NOW + 365 * DAY}
    return Attack("conflict", "own proposal overwritten in place",
                  h.forge(_proposal(p.id, h.me, list(p.required), "change_due", payload)))


def over_concurrent_done(h: Hostile) -> Attack | None:
    """A status write beside another party's done: written where the activity was not done yet, with
    an inflated start op to win the conflict (op-counter; own-chain if that is older than its own last
    change), or with the done among its dependencies without overwriting it (transition: done is final)."""
    progress = h.section("progress")
    done = [a for a in h.view.activities.values() if a.status == "done"]
    a = h.pick(done)
    if a is None:
        return None
    status_op = h.doc.get(child(h.doc, progress, a.id), "status")[1]
    d = h.maker(status_op)
    if d.actor_id == h.key:
        return None
    at = list(d.deps) + ([h.last.hash] if not h.ancestor(d.hash, [h.last.hash]) else [])
    write = _status(a.id, h.pick(["in_progress", "waiting", "cancelled"]), h.me)
    if h.n % 2:
        return Attack("conflict", "status beside a done, inflated start op",
                      h.forge(write, at=at, start_op=h.next_op(h.heads) + 7))
    return Attack("conflict", "status beside a done, the done among its dependencies",
                  h.forge(write, at=at, deps=h.heads, start_op=h.next_op(h.heads)))


# -- (3) op ids reused or jumped -----------------------------------------------------------------------------


def reused_op_ids(h: Hostile) -> Attack:
    """A correct note, but its ops numbered from one of its own earlier changes' (so they coincide
    with ops it made before: a timeline entry, an answer record), one short, or jumping ahead: rule
    op-counter."""
    right = h.next_op(h.heads)
    starts = [("its first change's", h.own[0].start_op), ("its last change's", h.last.start_op),
              ("one short", right - 1), ("one ahead", right + 1), ("far ahead", right + 100_000),
              ("2^31 ahead", right + 2**31)]
    label, start = h.pick(starts)
    return Attack("op-ids", f"note with ops numbered from {label}", h.forge(note(h.me, "nothing to see"), start_op=start))


def rewrite_own_object(h: Hostile) -> Attack | None:
    """A new timeline entry whose start op is that of an object the party made earlier (its answer
    record, or its own earlier timeline entry), so the change's put lands in that object: it changes
    its answer or its entry in place. Rule op-counter."""
    props = h.section("proposals")
    targets = []
    for p in h.view.proposals:
        if any(a.party == h.me for a in p.answers):
            record = h.doc.get(child(h.doc, child(h.doc, props, p.id), "answers"), h.me)[1]
            targets.append(("its answer record", obj_key(record)[1], "answer", "reject"))
    timeline = h.section("timeline")
    for i in range(h.doc.length(timeline)):
        entry = h.doc.get(timeline, i)[1]
        if obj_key(entry)[0] == h.key:
            targets.append(("its own timeline entry", obj_key(entry)[1], "text", "I never agreed to anything"))
    target = h.pick(targets)
    if target is None:
        return None
    label, counter, field, value = target

    def write(tx):
        timeline_ = child(tx, ROOT, "timeline")
        entry_ = tx.insert_object(timeline_, tx.length(timeline_), ObjType.Map)
        tx.put(entry_, field, ScalarType.Str, value)

    return Attack("op-ids", f"new object at the op id of {label}", h.forge(write, start_op=counter))


# -- (4) activity rules ----------------------------------------------------------------------------------------


def activity_break(h: Hostile) -> Attack | None:
    """Done or started while a dependency is not finished; reopening a done activity; restarting a
    cancelled one; making a progress record over an existing one: rule transition."""
    acts = h.view.activities
    finished = {aid for aid, a in acts.items() if a.finished}
    cases = []
    for aid, a in acts.items():
        if any(d in acts and d not in finished for d in a.depends_on) and aid not in finished:
            cases += [(f"{aid} {s} while a dependency is open", _status(aid, s, h.me)) for s in ("done", "in_progress")]
        if a.status == "done":
            cases += [(f"done {aid} reopened as {s}", _status(aid, s, h.me)) for s in ("in_progress", "waiting", "open")]
        if a.status == "cancelled":
            cases += [(f"cancelled {aid} restarted as {s}", _status(aid, s, h.me)) for s in ("in_progress", "done")]
        if h.doc.get(h.section("progress"), aid) is not None:
            cases.append((f"progress record of {aid} made again", remade_progress(aid, a.status, h.me)))
    case = h.pick(cases)
    if case is None:
        return None
    return Attack("activity", case[0], h.forge(case[1]))


# -- devices: the hostile party certifies devices of its own (legal), and tries to slip around delegation -------


def _device(h: Hostile, salt: str, certifier=None):
    """A new device key, certified by ``certifier`` (a private key; default the hostile party's own)."""
    seed = hashlib.sha256(f"device|{h.tag(salt)}".encode()).digest()
    key = Ed25519PrivateKey.from_private_bytes(seed)
    signer = certifier or h.identity.private_key
    signer_hex = raw_public(signer).hex()
    statement = delegate(signer, signer_hex, raw_public(key).hex(), f"agent {h.tag(salt)}", "laptop", FIXED_NOW)
    return DeviceIdentity(name="rogue", org="", private_key=key, delegation=statement.to_dict())


def _introduce(device, then=None):
    def write(tx):
        put_value(tx, child(tx, ROOT, "devices"), device.key_hex, {**device.delegation, "at": FIXED_NOW})
        if then is not None:
            then(tx)
    return write


def device_attack(h: Hostile) -> Attack | None:
    """A device certified by a key that is no party's; a device of the hostile party writing as another
    party, writing another device's delegation, or naming another party's problem owner; the hostile
    party revoking its own device with a cut-off of its choosing."""
    others = [pid for pid in h.view.parties if pid != h.me]
    other = h.pick(others)
    variant = h.n % 5
    if variant == 0:  # delegation: certified by a stranger's key
        stranger = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"stranger" + h.tag("s").encode()).digest())
        device = _device(h, "stranger", stranger)
        return Attack("devices", "device certified by a stranger", forged(device, h.doc, _introduce(device, note(h.me, "hi"))))
    device = _device(h, f"own{variant}")
    if variant == 1:  # writer-named: a note in another party's name
        return Attack("devices", "device writing as another party", forged(device, h.doc, _introduce(device, note(other, "not mine"))))
    if variant == 2:  # device-record: a delegation record for another key
        victim = _device(h, "victim")
        write = lambda tx: put_value(tx, child(tx, ROOT, "devices"), victim.key_hex, {**victim.delegation, "at": FIXED_NOW})
        return Attack("devices", "device writing another device's record", forged(device, h.doc, _introduce(device, write)))
    if variant == 3:  # problem-owner: naming another party's owner
        write = lambda tx: put_value(tx, child(tx, ROOT, "owner"), other, {"device": device.key_hex, "at": FIXED_NOW,
                                                                          "by": device.key_hex})
        return Attack("devices", "device naming another party's owner", forged(device, h.doc, _introduce(device, write)))
    # revocation-cutoff: a revocation of one of its devices with a cut-off it chose (op 10**6)
    statement = revoke(h.identity.private_key, h.identity.key_hex, device.key_hex, FIXED_NOW)
    write = lambda tx: put_value(tx, child(tx, ROOT, "revocations"), f"{device.key_hex}.{h.identity.key_hex}",
                                 {**statement.to_dict(), "after_op": 10**6, "at": FIXED_NOW})
    return Attack("devices", "revocation with a chosen cut-off", h.forge(write))


def legal_device(h: Hostile) -> Attack:
    """A device the hostile party certified itself introduces itself and writes a note: valid."""
    device = _device(h, "legal")
    return Attack("legal", "own certified device", forged(device, h.doc, _introduce(device, note(h.me, f"from a device {h.tag('d')}"))))


# -- legal changes written the same way ----------------------------------------------------------------------


def legal(h: Hostile) -> Attack | None:
    """A correct note (also one written offline: dependencies only its own last change), a correct answer
    (the model's own checks decide whether an acceptance still fits), a correct status, a correct proposal."""
    variant = h.n % 5
    if variant == 0:
        return Attack("legal", "note", h.forge(note(h.me, f"hostile but correct {h.tag('n')}")))
    if variant == 1:
        return Attack("legal", "note written offline", h.forge(note(h.me, f"offline {h.tag('o')}"), at=[h.last.hash]))
    if variant == 2:
        waiting = [p for p in h.view.open_proposals() if h.me in p.waiting_for() and h.me != p.proposer]
        p = h.pick(waiting)
        if p is None:
            return None
        word = "accept" if h.n % 2 and _model_accepts(h, p.id) else "reject"
        return Attack("legal", f"{word} of an open proposal", h.forge(answer(p.id, h.me, word)))
    if variant == 3:
        movable = [aid for aid, a in h.view.activities.items() if a.status in ("open", "in_progress")]
        aid = h.pick(movable)
        if aid is None:
            return None
        return Attack("legal", "waiting on an activity", h.forge(_status(aid, "waiting", h.me)))
    aid = h.pick(h.view.activities)
    pid = f"p-{h.me}-{h.tag('lp')}"
    payload = {"id": aid, "due": FIXED_NOW + (h.n % 9 + 1) * DAY}
    return Attack("legal", "proposal", h.forge(_proposal(pid, h.me, h.required(), "change_due", payload)))


def _model_accepts(h: Hostile, pid: str) -> bool:
    trial = h.doc.fork()
    trial.set_actor(h.key)
    try:
        actions.answer(trial, Actor(key=h.identity.key_hex, now=FIXED_NOW), pid, True)
    except Exception:
        return False
    return True


GENERATORS = [backdated_proposal, backdated_status, answer_before_proposal, reanswer, steal_proposal_id, own_proposal_rewritten,
              over_concurrent_done, reused_op_ids, rewrite_own_object, activity_break, device_attack, legal, legal,
              legal_device]
