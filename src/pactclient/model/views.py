"""Typed, read-only views of a contract and what is derived from them.

``ContractView.from_raw(raw, now)`` turns the plain dict read from a document into frozen dataclasses:
the terms in force (base terms plus applied proposals), each activity's progress, each item's value,
the proposals with their state, the timeline, and the derived views — whose turn it is, the traffic
light and the scorecard. Everything here is pure: ``now`` is passed in.

**Offered or agreed.** Terms bind a party only once that party has signed them, and joining is
accepting: a party's first signed change accepts the terms as they stand in its history. Until every
party of the contract has a device key that has signed a change, the contract is *offered*: its
commitments are shown as offered — never as kept, broken or overdue — in the light, the turn, the
commitments and the scorecard. Which keys have signed is read from the document's changes
(``signers``), never from anything a party writes about itself.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

from pactclient.model import terms as terms_mod
from pactclient.model.lazy import LazyEntries
from pactclient.model.deadlines import effective_dues
from pactclient.model.money import format_debt
from pactclient.model.people import Device, Owner, read_devices, read_owners
from pactclient.model.schema import FINISHED

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class Party:
    id: str
    name: str
    org: str
    role: str
    key: str  # hex public key; "" while the slot is not yet filled by a device
    former_keys: tuple[str, ...] = ()  # keys replaced by a replace_key proposal: they sign no more
    accepted: bool = True  # a key of this party has signed a change: it has accepted the terms

    @property
    def label(self) -> str:
        """How the party is named in sentences: its organisation if it has one, else its name."""
        return self.org or self.name or self.role


@dataclass(frozen=True)
class Item:
    id: str
    label: str
    kind: str
    owner: str
    choices: tuple[str, ...] = ()
    value: Any = None
    amount: int | None = None
    currency: str = ""
    owed_by: str = ""
    owed_to: str = ""
    set_by: str = ""
    set_at: int | None = None

    def display(self, parties: dict[str, Party]) -> str:
        if self.kind == "money":
            if self.amount is None:
                return "(not set)"
            debtor = parties[self.owed_by].label if self.owed_by in parties else self.owed_by
            creditor = parties[self.owed_to].label if self.owed_to in parties else self.owed_to
            return format_debt(self.amount, self.currency, debtor, creditor)
        if self.value is None:
            return "(not set)"
        return str(self.value)


@dataclass(frozen=True)
class Activity:
    id: str
    title: str
    detail: str
    assignee: str
    problem_owner: str
    due: int | None
    depends_on: tuple[str, ...]
    agreed_due: int | None = None  # its own deadline in the terms; ``due`` is the effective one
    status: str = "open"
    waiting_on: str = ""
    outcome: str = ""
    updated_at: int | None = None
    done_at: int | None = None
    rules: dict = field(default_factory=dict, compare=False, hash=False, repr=False)  # model.compensation

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def overdue(self, now: int) -> bool:
        return not self.finished and self.due is not None and self.due < now

    def kept(self) -> bool | None:
        """True if done on time, False if broken (late or overdue), None if not (yet) a judged commitment."""
        if self.due is None or self.status == "cancelled":
            return None
        if self.status == "done":
            return self.done_at is not None and self.done_at <= self.due
        return None


@dataclass(frozen=True)
class Answer:
    party: str
    answer: str  # accept | reject
    at: int
    reason: str = ""


@dataclass(frozen=True)
class Proposal:
    id: str
    kind: str
    payload: dict
    rationale: str
    proposer: str
    created_at: int
    required: tuple[str, ...]
    answers: tuple[Answer, ...]
    state: str  # open | applied | rejected | void
    resolved_at: int | None = None
    note: str = ""
    replay_key: tuple = field(default=(), compare=False, repr=False)  # order of the terms' replay (model.terms)

    def answer_of(self, party: str) -> str | None:
        if party == self.proposer:
            return "accept"
        for a in self.answers:
            if a.party == party:
                return a.answer
        return None

    def waiting_for(self) -> tuple[str, ...]:
        if self.state != "open":
            return ()
        return tuple(p for p in self.required if self.answer_of(p) is None)


@dataclass(frozen=True)
class TimelineEntry:
    kind: str
    author: str
    at: int
    text: str
    ref: str = ""
    person: str = ""  # who wrote it, when a certified device of the author's party did


@dataclass(frozen=True)
class PartyScore:
    party: str
    kept: int
    broken: int
    open: int
    messages: int
    offered: int = 0  # commitments of a contract not yet accepted by every party: neither kept nor broken


@dataclass(frozen=True)
class Scorecard:
    age_ms: int
    resolved: bool
    time_to_resolution_ms: int | None
    per_party: tuple[PartyScore, ...]
    contacts: int


@dataclass(frozen=True)
class ContractView:
    id: str
    title: str
    template: str
    created_at: int
    created_by: str
    schema: int
    parties: dict[str, Party]
    items: dict[str, Item]
    activities: dict[str, Activity]
    proposals: tuple[Proposal, ...]
    raw_timeline: Sequence[dict]  # plain entries; ``timeline`` types them only when someone reads them
    now: int = field(compare=False)
    devices: dict[str, Device] = field(default_factory=dict)  # certified devices, by device key
    owners: dict[str, Owner] = field(default_factory=dict)  # party -> the person who owns the problem for it

    def at(self, now: int) -> "ContractView":
        """The same contract seen at another time (only the answers that depend on ``now`` change)."""
        if now == self.now:
            return self
        moved = copy.copy(self)  # shares every part (all read-only) rather than building the view again
        object.__setattr__(moved, "now", now)
        return moved

    @cached_property
    def timeline(self) -> tuple[TimelineEntry, ...]:
        return tuple(
            TimelineEntry(e.get("kind", ""), e.get("author", ""), e.get("at", 0), e.get("text", ""), e.get("ref", ""),
                          self._person(e.get("device", ""), e.get("author", "")))
            for e in self.raw_timeline
        )

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def from_raw(cls, raw: dict, now: int, timeline: Callable[[], Sequence[dict]] | None = None,
                 stamps: dict[str, tuple] | None = None, signers: frozenset[str] | None = None) -> "ContractView":
        """The view of ``raw`` at ``now``. Its timeline is ``raw["timeline"]``, or, given ``timeline``,
        what that returns when the timeline is first used (see ``LazyEntries``). ``stamps`` order the
        agreements (``amdoc.proposal_stamps``); ``signers`` are the hex keys that signed a change of
        the document (None: every party with a key counts as having accepted)."""
        meta = raw.get("contract", {})
        in_force = terms_mod.terms_in_force(raw, stamps)

        devices = read_devices(raw, {p["key"]: pid for pid, p in in_force.parties.items() if p.get("key")})
        by_party: dict[str, list[str]] = {}
        for device in devices.values():
            by_party.setdefault(device.party, []).append(device.key)

        def accepted(pid: str, p: dict) -> bool:
            keys = [k for k in [p.get("key", ""), *(p.get("former_keys") or ()), *by_party.get(pid, ())] if k]
            return bool(keys) and (signers is None or any(k in signers for k in keys))

        parties = {
            pid: Party(pid, p.get("name", ""), p.get("org", ""), p.get("role", ""), p.get("key", ""),
                       tuple(p.get("former_keys") or ()), accepted(pid, p))
            for pid, p in in_force.parties.items()
        }
        values = raw.get("values", {})
        items = {}
        # Items keep the order their template gave them; items added later follow, by id.
        ordered_items = sorted(in_force.items.items(), key=lambda kv: (kv[1].get("position", 1 << 30), kv[0]))
        for iid, d in ordered_items:
            v = values.get(iid, {})
            items[iid] = Item(
                id=iid,
                label=d.get("label", iid),
                kind=d.get("kind", "text"),
                owner=d.get("owner", ""),
                choices=tuple(d.get("choices") or ()),
                value=v.get("value"),
                amount=v.get("amount"),
                currency=v.get("currency") or d.get("currency", ""),
                owed_by=v.get("owed_by", ""),
                owed_to=v.get("owed_to", ""),
                set_by=v.get("set_by", ""),
                set_at=v.get("set_at"),
            )
        progress = raw.get("progress", {})
        # A finish is recorded once in ``finished`` (set once): a status written concurrently by the
        # other party allowed to move the activity may win Automerge's conflict in ``progress``, even
        # hide its whole record, but cannot undo the finish.
        finished = raw.get("finished", {})
        activities = {}
        # Deadline order reads as a plan; activities without a deadline come last.
        # Judged by its effective deadline: never earlier than what it depends on (model/deadlines.py).
        dues = effective_dues({aid: (d.get("due"), tuple(d.get("depends_on") or ())) for aid, d in in_force.activities.items()})
        ordered = sorted(in_force.activities.items(), key=lambda kv: (dues[kv[0]] is None, dues[kv[0]] or 0, kv[0]))
        for aid, d in ordered:
            pr = progress.get(aid, {})
            end = finished.get(aid) if isinstance(finished.get(aid), dict) else {}
            activities[aid] = Activity(
                id=aid,
                title=d.get("title", aid),
                detail=d.get("detail", ""),
                assignee=d.get("assignee", ""),
                problem_owner=pr.get("problem_owner") or d.get("problem_owner", ""),
                due=dues[aid],
                agreed_due=d.get("due"),
                depends_on=tuple(d.get("depends_on") or ()),
                status=end.get("status") or pr.get("status", "open"),
                waiting_on=pr.get("waiting_on", ""),
                outcome=pr.get("outcome", ""),
                updated_at=pr.get("updated_at"),
                done_at=end.get("at") if end.get("status") == "done" else None,
                rules={k: v for k, v in d.items() if k.startswith(("escalation_", "compensation_"))},
            )
        proposals = tuple(
            Proposal(
                id=s.id,
                kind=s.raw.get("kind", ""),
                payload=dict(s.raw.get("payload") or {}),
                rationale=s.raw.get("rationale", ""),
                proposer=s.raw.get("proposer", ""),
                created_at=s.raw.get("created_at", 0),
                required=tuple(s.raw.get("required") or ()),
                answers=tuple(
                    Answer(pid, a.get("answer", ""), a.get("at", 0), a.get("reason", ""))
                    for pid, a in sorted((s.raw.get("answers") or {}).items())
                ),
                state=s.state,
                resolved_at=s.resolved_at,
                note=s.note,
                replay_key=s.replay_key,
            )
            for s in in_force.proposals
        )
        return cls(
            id=meta.get("id", ""),
            title=meta.get("title", ""),
            template=meta.get("template", ""),
            created_at=meta.get("created_at", 0),
            created_by=meta.get("created_by", ""),
            schema=raw.get("schema", 0),
            parties=parties,
            items=items,
            activities=activities,
            proposals=proposals,
            raw_timeline=LazyEntries(timeline) if timeline is not None else tuple(raw.get("timeline", [])),
            now=now,
            devices=devices,
            owners=read_owners(raw, devices, parties),
        )

    # -- lookups ---------------------------------------------------------------------------------

    def party_by_key(self, key_hex: str) -> Party | None:
        """The party whose key, or whose certified and unrevoked device, ``key_hex`` is."""
        for p in self.parties.values():
            if p.key == key_hex:
                return p
        device = self.devices.get(key_hex)
        if device is not None and not device.revoked:
            return self.parties.get(device.party)
        return None

    def author_by_key(self, key_hex: str) -> Party | None:
        """The party a change's author key belongs to, or belonged to before it was replaced or revoked."""
        device = self.devices.get(key_hex)
        return self.party_by_key(key_hex) or (self.parties.get(device.party) if device else None) or next(
            (p for p in self.parties.values() if key_hex in p.former_keys), None)

    def person_by_key(self, key_hex: str) -> str:
        """'Raj (BT)' for a certified device's key, the party's label for a party key, else ''."""
        party = self.author_by_key(key_hex)
        if party is None:
            return ""
        device = self.devices.get(key_hex)
        return _person_of(device.person if device else "", party.label)

    def _person(self, device_key: str, author: str) -> str:
        device = self.devices.get(device_key)
        if device is None or device.party != author or not device.person:
            return ""
        return _person_of(device.person, self.label(author))

    def problem_owner(self) -> Owner | None:
        """The named problem owner of the case: the one the first supplier (else the first party
        other than a customer) named."""
        ranked = sorted(self.owners.values(), key=lambda o: (self.parties[o.party].role != "supplier",
                                                              self.parties[o.party].role == "customer",
                                                              list(self.parties).index(o.party)))
        return ranked[0] if ranked else None

    def devices_of(self, party_id: str) -> list[Device]:
        return [d for d in self.devices.values() if d.party == party_id]

    def label(self, party_id: str) -> str:
        p = self.parties.get(party_id)
        return p.label if p else party_id

    def proposal(self, proposal_id: str) -> Proposal | None:
        for p in self.proposals:
            if p.id == proposal_id:
                return p
        return None

    def offered_to(self) -> tuple[str, ...]:
        """Parties that have not accepted the terms yet (no key, or their key has signed nothing):
        while there is one, the contract is offered, not agreed. Observers are bound by nothing and
        asked nothing, so one that has not joined keeps nothing from being agreed."""
        return tuple(pid for pid, p in self.parties.items() if not p.accepted and p.role != "observer")

    def agreed(self) -> bool:
        return not self.offered_to()

    def open_proposals(self) -> tuple[Proposal, ...]:
        return tuple(p for p in self.proposals if p.state == "open")

    def is_overdue(self, activity: Activity) -> bool:
        """Overdue as a commitment: past its due time, unfinished, and agreed (an offered one is not)."""
        return self.agreed() and activity.overdue(self.now)

    def broken_commitments(self) -> list[Activity]:
        """Activities whose commitment is broken: finished late, or overdue now (never while offered)."""
        if not self.agreed():
            return []
        return [a for a in self.activities.values() if a.kept() is False or a.overdue(self.now)]

    def blocked_by(self, activity: Activity) -> tuple[str, ...]:
        """Dependencies of ``activity`` that are not finished yet."""
        return tuple(
            dep for dep in activity.depends_on if dep in self.activities and not self.activities[dep].finished
        )

    # -- derived views ---------------------------------------------------------------------------

    def turn(self) -> tuple[str, ...]:
        """The parties that must act next, in party order (while offered: those yet to accept)."""
        due: set[str] = set(self.offered_to())
        for act in self.activities.values():
            if act.finished or self.blocked_by(act):
                continue
            due.add(act.waiting_on if act.status == "waiting" and act.waiting_on else act.assignee)
        for prop in self.open_proposals():
            due.update(prop.waiting_for())
        return tuple(pid for pid in self.parties if pid in due)

    def light(self) -> str:
        """red: a commitment is overdue; amber: one is due within 24 h, a proposal waits, or the
        contract is only offered (an offered commitment is never overdue); else green."""
        open_acts = [a for a in self.activities.values() if not a.finished]
        if not self.agreed():
            return "amber"
        if any(a.overdue(self.now) for a in open_acts):
            return "red"
        if any(a.due is not None and a.due - self.now <= DAY_MS for a in open_acts) or self.open_proposals():
            return "amber"
        return "green"

    def next_due(self) -> Activity | None:
        pending = [a for a in self.activities.values() if not a.finished and a.due is not None]
        return min(pending, key=lambda a: (a.due, a.id)) if pending else None

    def last_activity_at(self) -> int:
        return max([self.created_at] + [e.get("at", 0) for e in self.raw_timeline])

    def resolved(self) -> bool:
        return bool(self.activities) and all(a.finished for a in self.activities.values()) and not self.open_proposals()

    def commitments(self) -> dict[str, dict[str, int]]:
        """Per party: its deadlines kept, broken and still open. Reads no timeline, so the summary
        upkeep that follows every write costs the same however long the contract has run."""
        per = {pid: {"kept": 0, "broken": 0, "open": 0, "offered": 0} for pid in self.parties}
        agreed = self.agreed()
        for act in self.activities.values():
            if act.assignee not in per or act.due is None or act.status == "cancelled":
                continue
            if not agreed:
                per[act.assignee]["offered"] += 1
                continue
            kept = act.kept()
            if kept is True:
                per[act.assignee]["kept"] += 1
            elif kept is False or act.overdue(self.now):
                per[act.assignee]["broken"] += 1
            else:
                per[act.assignee]["open"] += 1
        return per

    def scorecard(self) -> Scorecard:
        per = {pid: {**counts, "messages": 0} for pid, counts in self.commitments().items()}
        contacts = 0
        for entry in self.raw_timeline:
            if entry.get("kind") in ("message", "decision"):
                contacts += 1
                author = entry.get("author")
                if author in per:
                    per[author]["messages"] += 1
        resolved = self.resolved()
        ttr = None
        if resolved:
            ends = [a.done_at or a.updated_at or self.created_at for a in self.activities.values()]
            ttr = max(ends) - self.created_at
        return Scorecard(
            age_ms=max(0, self.now - self.created_at),
            resolved=resolved,
            time_to_resolution_ms=ttr,
            per_party=tuple(PartyScore(pid, **v) for pid, v in per.items()),
            contacts=contacts,
        )


def _person_of(person: str, party_label: str) -> str:
    """'Raj (BT)'; just 'Alice' when the person is the party itself."""
    return f"{person} ({party_label})" if person and person != party_label else party_label
