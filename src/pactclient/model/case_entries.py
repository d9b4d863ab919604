"""Case entries: timeline entries that carry more than text — the customer's effort, links to earlier
cases, known faults, complaints and their answers.

They live in the timeline because the timeline is what every party may add to, append-only, each entry
naming its author (checked on receipt). Each kind has fixed fields of fixed types, written here and
checked on receipt by ``pactclient.signing.case_checks`` with the same ``entry_problem``. Whatever is
derived from them (effort totals, the chain of cases, escalations, compensation owed) is computed by
every copy from the signed entries alone, ordered by what the entries say (time, author, text), never
by their place in the list (which, for concurrent entries, Automerge orders by op counters).
"""

from __future__ import annotations

import re

from automerge.core import ROOT, Document

from pactclient.errors import RefusedOperation
from pactclient.model.amdoc import child, put_value
from pactclient.model.reading import timeline_grew, view_of
from pactclient.model.views import ContractView, Party

CHANNELS = ("phone", "store", "chat", "email")
RELATIONS = ("follows", "same_fault")
EFFORT, LINK, FAULT, COMPLAINT, ANSWER = "effort", "link", "fault", "complaint", "complaint_answer"
CASE_KINDS = (EFFORT, LINK, FAULT, COMPLAINT, ANSWER)
# Money is never written by a party as an entry: compensation is computed from the rules (model.compensation).
MONEY_FIELDS = ("amount", "owed_by", "owed_to", "currency", "compensation")
MAX_COUNT = 10_000  # calls or visits in one entry
MAX_MINUTES = 100_000  # time spent in one entry (about 70 days)
MAX_NAME = 200  # a fault's name
CONTRACT_ID = re.compile(r"[0-9a-f]{32}")

_INT_FIELDS = {EFFORT: ("calls", "visits", "minutes")}
_STR_FIELDS = {EFFORT: ("party", "channel"), LINK: ("relation",)}


def entry_problem(entry: dict, writer: str, parties: dict[str, dict], activities: dict[str, dict],
                  contract_id: str) -> tuple[str, str] | None:
    """(rule, detail) if a new timeline ``entry`` written by party ``writer`` breaks a rule of case
    entries, judged against the terms (``parties``, ``activities``: plain records) in force; else None.
    The model checks its own writes with this, and every copy checks received ones with it."""
    kind = entry.get("kind")
    for name in MONEY_FIELDS:
        if name in entry:
            return "derived-money", f"a timeline entry writes {name!r}: money owed is computed, not claimed"
    if kind == "compensation":
        return "derived-money", "a timeline entry claims compensation"
    if kind not in CASE_KINDS:
        return None
    for name in _INT_FIELDS.get(kind, ()):
        value = entry.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return "case-entry", f"an {kind} entry's {name!r} is not a whole number of zero or more"
    for name in ("text", "ref", *_STR_FIELDS.get(kind, ())):
        if not isinstance(entry.get(name), str):
            return "case-entry", f"a {kind} entry's {name!r} is not text"
    role = parties.get(writer, {}).get("role", "")
    ref = entry["ref"]
    if kind == EFFORT:
        if entry["party"] != writer:
            return "own-effort", f"{writer or 'the writer'} records effort for {entry['party']!r}"
        if role != "customer":
            return "own-effort", f"{writer or 'the writer'} is not a customer of the contract"
        if entry["channel"] not in CHANNELS:
            return "case-entry", f"an effort entry names the unknown channel {entry['channel']!r}"
        if entry["calls"] > MAX_COUNT or entry["visits"] > MAX_COUNT or entry["minutes"] > MAX_MINUTES:
            return "case-entry", "an effort entry records more than one entry may"
        if not (entry["calls"] or entry["visits"] or entry["minutes"]):
            return "case-entry", "an effort entry records nothing"
    elif kind == LINK:
        if entry["relation"] not in RELATIONS:
            return "case-entry", f"a link names the unknown relation {entry['relation']!r}"
        if not CONTRACT_ID.fullmatch(ref) or ref == contract_id:
            return "case-entry", f"a link names {ref!r}, which is not another contract's id"
    elif kind == FAULT:
        if role not in ("supplier", "coordinator"):
            return "fault-by-supplier", f"{writer or 'the writer'} ({role or 'no role'}) marks a known fault"
        if not entry["text"].strip() or len(entry["text"]) > MAX_NAME:
            return "case-entry", "a known fault needs a name of at most 200 characters"
    else:
        act = activities.get(ref)
        if act is None:
            return "case-entry", f"a {kind} names {ref!r}, which is not an activity of the contract"
        if kind == COMPLAINT and act.get("assignee") == writer:
            return "complaint-party", f"{writer} complains about its own commitment {ref!r}"
        if kind == ANSWER and escalation_owner(act, parties) != writer:
            return "complaint-party", f"{writer or 'the writer'} answers the complaint about {ref!r}, owned by " \
                                      f"{escalation_owner(act, parties)!r}"
    return None


def escalation_owner(activity: dict, parties: dict) -> str:
    """The party that owns the escalation of a broken ``activity`` (a plain terms record): the one its
    template names, else the party that broke it."""
    named = activity.get("escalation_owner")
    return named if isinstance(named, str) and named in parties else activity.get("assignee", "")


def me_of(view: ContractView, actor) -> Party:
    party = view.party_by_key(actor.key) or (view.party_by_key(actor.party_key) if actor.party_key else None)
    if party is None:
        raise RefusedOperation("this device is not a party of the contract")
    return party


def append(doc: Document, actor, view: ContractView, entry: dict) -> None:
    """Write one case entry as one signed change, after the same check every copy makes on receipt."""
    me = me_of(view, actor)
    entry = {"author": me.id, "at": actor.now, **entry}
    parties = {pid: {"role": p.role} for pid, p in view.parties.items()}
    activities = {aid: {"assignee": a.assignee, **a.rules} for aid, a in view.activities.items()}
    problem = entry_problem(entry, me.id, parties, activities, view.id)
    if problem is not None:
        from pactclient.model.rules import rule_text

        raise RefusedOperation(f"{rule_text(problem[0])}: {problem[1]}")
    before = tuple(sorted(doc.get_heads()))
    with doc.transaction() as tx:
        timeline = child(tx, ROOT, "timeline")
        put_value(tx, timeline, tx.length(timeline), entry, insert=True)
    timeline_grew(doc, actor.cache, before, appended_one=False)


def entries_of(view: ContractView, kind: str) -> list[dict]:
    """The entries of ``kind`` by a party of the contract, in the order their content gives (time,
    author, text, ref): every copy lists them alike whatever order the list holds them in."""
    found = [e for e in view.raw_timeline if isinstance(e, dict) and e.get("kind") == kind
             and e.get("author") in view.parties and _written_by_author(view, e)]
    return sorted(found, key=lambda e: (e["at"] if isinstance(e.get("at"), int) else 0, str(e.get("author", "")),
                                        str(e.get("text", "")), str(e.get("ref", ""))))


def _written_by_author(view: ContractView, entry: dict) -> bool:
    """The key that wrote the entry (``device``, from the op that made it) is its author's, or one of
    its devices': received entries are checked for this on receipt, but a contract's first change is
    checked only for its creator, so the views check it too."""
    device = entry.get("device")
    if not device:
        return True  # read without the writers' keys (a plain materialized document)
    party = view.author_by_key(device)
    return party is not None and party.id == entry.get("author")


def current_view(doc: Document, actor) -> ContractView:
    return view_of(doc, actor.now, actor.cache)
