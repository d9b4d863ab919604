"""Complaints and compensation: what a broken commitment triggers.

A template may say, for an activity, what its breaking triggers (``[activities.on_broken]``)::

    escalation = "Handle the complaint about the missed callback"   # the escalation's title
    owner = "supplier"            # the party that owns the escalation (default: the one that broke it)
    person = "Complaints manager" # the named person who owns it (default: that party's problem owner)
    within = "24h"                # the escalation's own deadline, from the complaint
    compensation = "30.00"        # owed when the commitment is broken ...
    currency = "GBP"
    to = "customer"               # ... by the activity's assignee to this party (default: the first customer)

These are written into the activity's terms when the contract is opened (``escalation_*`` and
``compensation_*`` fields: ``template_rules``), so they are part of what every party signed.

**Compensation** is derived, never written: for every broken commitment (``ContractView.broken_commitments``
— its deadline passed and it was not done by then, judged from its signed due time and the signed time
of its finish) with a compensation, the assignee owes that amount. Every copy computes the same from
the signed history at the same ``now``; an entry claiming money is refused on receipt.

**A complaint** is a signed ``complaint`` entry naming a broken activity (``complain``), made by a party
other than the one that broke it. It opens an escalation: owner and person as above, due ``within``
after the complaint (24 hours unless the template says otherwise). The escalation's owner answers it
with a ``complaint_answer`` entry (``answer_complaint``); answered after its deadline, or not at all
by then, the escalation is itself a broken promise. Which complaint counts is the earliest by its
signed time (then author, then text), never by its place in the list. A complaint about a commitment
that turns out kept (finished on time) stands void.
"""

from __future__ import annotations

from dataclasses import dataclass

from automerge.core import Document

from pactclient.errors import RefusedOperation, UsageError
from pactclient.model import case_entries
from pactclient.model.actions import Actor, Outcome, fmt_time
from pactclient.model.case_entries import ANSWER, COMPLAINT, escalation_owner
from pactclient.model.money import format_debt
from pactclient.model.views import Activity, ContractView

DEFAULT_WITHIN_MS = 24 * 3600 * 1000  # "my complaint would be handled within 24 hours"


# -- what every copy derives ----------------------------------------------------------------------


@dataclass(frozen=True)
class Compensation:
    activity: str
    title: str
    amount: int  # minor units
    currency: str
    owed_by: str
    owed_to: str
    broken_at: int  # the deadline that passed

    def display(self, view: ContractView) -> str:
        return format_debt(self.amount, self.currency, view.label(self.owed_by), view.label(self.owed_to))

    def as_json(self, view: ContractView) -> dict:
        return {"activity": self.activity, "title": self.title, "amount_minor": self.amount, "currency": self.currency,
                "owed_by": self.owed_by, "owed_to": self.owed_to, "broken_at": self.broken_at,
                "display": self.display(view)}


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def compensation_owed(view: ContractView) -> list[Compensation]:
    """The compensation owed now: one per broken commitment whose terms carry a compensation."""
    out = []
    customers = [pid for pid, p in view.parties.items() if p.role == "customer"]
    for act in view.broken_commitments():
        amount, currency = _int(act.rules.get("compensation_minor")), act.rules.get("compensation_currency")
        if not amount or amount < 0 or not isinstance(currency, str) or not currency:
            continue
        to = act.rules.get("compensation_to")
        to = to if isinstance(to, str) and to in view.parties else (customers[0] if customers else "")
        if not to or to == act.assignee:
            continue
        out.append(Compensation(act.id, act.title, amount, currency, act.assignee, to, act.due or 0))
    return out


@dataclass(frozen=True)
class Escalation:
    activity: str  # the broken activity complained about
    title: str
    owner: str  # party
    person: str  # the named person who owns it
    opened_by: str
    opened_at: int
    complaint: str  # the complainant's words
    due: int
    status: str  # open | answered | void
    answered_at: int | None = None
    outcome: str = ""
    void_reason: str = ""

    def broken(self, now: int) -> bool:
        """Answered late, or unanswered past its own deadline."""
        if self.status == "void":
            return False
        if self.status == "answered":
            return (self.answered_at or 0) > self.due
        return self.due < now

    def as_json(self, now: int) -> dict:
        return {"activity": self.activity, "title": self.title, "owner": self.owner, "person": self.person,
                "opened_by": self.opened_by, "opened_at": self.opened_at, "complaint": self.complaint,
                "due": self.due, "status": self.status, "answered_at": self.answered_at, "outcome": self.outcome,
                "broken": self.broken(now), "void_reason": self.void_reason or None}


def _owner_person(view: ContractView, act: Activity, owner: str) -> str:
    named = act.rules.get("escalation_person")
    if isinstance(named, str) and named:
        return named
    found = view.owners.get(owner)
    return found.person if found is not None else view.label(owner)


def escalations(view: ContractView) -> list[Escalation]:
    """One escalation per activity complained about: from the earliest complaint (by signed time,
    author, text), answered by the earliest answer of its owner made after it."""
    raw_parties = {pid: {"role": p.role} for pid, p in view.parties.items()}
    broken = {a.id for a in view.broken_commitments()}
    answers: dict[str, dict] = {}
    for e in case_entries.entries_of(view, ANSWER):
        answers.setdefault(e.get("ref", ""), []).append(e)
    out, seen = [], set()
    for e in case_entries.entries_of(view, COMPLAINT):
        act = view.activities.get(e.get("ref", ""))
        if act is None or act.id in seen or e.get("author") == act.assignee:
            continue
        seen.add(act.id)
        owner = escalation_owner({"assignee": act.assignee, **act.rules}, raw_parties)
        within = _int(act.rules.get("escalation_within")) or DEFAULT_WITHIN_MS
        at = _int(e.get("at")) or 0
        title = act.rules.get("escalation_title") or f"Handle the complaint about {act.title!r}"
        void = ""
        if act.id not in broken:
            void = "the commitment was kept" if act.kept() is True else "the commitment is not broken"
        elif act.due is not None and at <= act.due:
            void = "made before the deadline had passed"
        answer = next((a for a in answers.get(act.id, []) if a.get("author") == owner and (_int(a.get("at")) or 0) >= at),
                      None)
        status = "void" if void else ("answered" if answer else "open")
        out.append(Escalation(act.id, str(title), owner, _owner_person(view, act, owner), e.get("author", ""), at,
                              e.get("text", ""), at + within, status,
                              answer.get("at") if answer else None, answer.get("text", "") if answer else "", void))
    return out


# -- actions ---------------------------------------------------------------------------------------


def complain(doc: Document, actor: Actor, activity_id: str, text: str = "") -> Outcome:
    """Complain about a broken commitment: opens its escalation (one signed entry)."""
    view = case_entries.current_view(doc, actor)
    me = case_entries.me_of(view, actor)
    act = view.activities.get(activity_id)
    if act is None:
        raise UsageError(f"no activity {activity_id!r} in this contract")
    if act.assignee == me.id:
        raise RefusedOperation(f"{activity_id!r} is your own commitment: a complaint is made by another party")
    if act not in view.broken_commitments():
        when = f"due {fmt_time(act.due)}" if act.due else "it has no deadline"
        raise RefusedOperation(f"{activity_id!r} is not a broken commitment ({when}, {act.status.replace('_', ' ')})")
    if any(x.activity == activity_id for x in escalations(view)):
        raise RefusedOperation(f"a complaint about {activity_id!r} is already open")
    words = " ".join(text.split()) or f"{act.title!r} was not done by {fmt_time(act.due)}"
    case_entries.append(doc, actor, view, {"kind": COMPLAINT, "text": f"Complaint: {words}", "ref": activity_id})
    opened = next(x for x in escalations(case_entries.current_view(doc, actor)) if x.activity == activity_id)
    return Outcome(f"complaint made: {opened.title!r} owned by {opened.person} ({view.label(opened.owner)}), "
                   f"due {fmt_time(opened.due)}", ref=activity_id)


def answer_complaint(doc: Document, actor: Actor, activity_id: str, outcome: str) -> Outcome:
    """The escalation's owner records how the complaint was handled (one signed entry)."""
    view = case_entries.current_view(doc, actor)
    case_entries.me_of(view, actor)
    if not outcome.strip():
        raise UsageError("say how the complaint was handled (--answer TEXT)")
    found = next((x for x in escalations(view) if x.activity == activity_id), None)
    if found is None:
        raise RefusedOperation(f"there is no complaint about {activity_id!r} to answer")
    if found.status != "open":
        raise RefusedOperation(f"the complaint about {activity_id!r} is {found.status}")
    case_entries.append(doc, actor, view, {"kind": ANSWER, "text": f"Complaint answered: {' '.join(outcome.split())}",
                                           "ref": activity_id})
    return Outcome(f"answered the complaint about {activity_id!r}", ref=activity_id)
