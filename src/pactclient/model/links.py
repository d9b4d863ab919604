"""Linked cases and known faults: "the problem recurred … I included the reference to the previous event".

A contract names an earlier contract in a signed ``link`` entry: it *follows* it (a recurrence) or has
the *same fault*. The entry carries, in its text, the linking party's summary of the earlier case as it
stood then, so a party that has no copy of the earlier case still reads what it was; a home that has
the earlier case shows it as it stands now (``chain`` walks the links through the contracts a home
holds). A supplier marks a known fault (``fault`` entries) on many cases at once; each is a signed
entry in that case, seen by its customer after sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from automerge.core import Document

from pactclient.errors import UsageError
from pactclient.model import case_entries
from pactclient.model.actions import Actor, Outcome, fmt_time, slug
from pactclient.model.case_entries import CONTRACT_ID, FAULT, LINK, RELATIONS
from pactclient.model.views import ContractView

MAX_CHAIN = 20  # earlier cases followed back at most (a cycle of links ends the walk too)
RELATION_TEXT = {"follows": "follows", "same_fault": "has the same fault as"}


@dataclass(frozen=True)
class Link:
    relation: str  # follows | same_fault
    contract: str  # the earlier contract's id
    author: str
    at: int
    text: str  # the linking party's summary of the earlier case, when it linked

    def as_json(self) -> dict:
        return {"relation": self.relation, "contract": self.contract, "author": self.author, "at": self.at,
                "summary": self.text}


@dataclass(frozen=True)
class KnownFault:
    name: str
    author: str
    at: int

    def as_json(self) -> dict:
        return {"name": self.name, "marked_by": self.author, "at": self.at}


def summarize(view: ContractView) -> str:
    """One line on a case, as a later case quotes it: title, id, template, opened, commitments, state."""
    broken = sum(1 for _ in view.broken_commitments())
    kept = sum(1 for a in view.activities.values() if a.kept() is True)
    state = "resolved" if view.resolved() else f"open ({view.light()})"
    made = f" from {view.template}" if view.template else ""
    return (f"{view.title!r} ({view.id[:8]}{made}), opened {fmt_time(view.created_at)}, {state}: "
            f"{kept} commitment{'s' if kept != 1 else ''} kept, {broken} broken")


def link(doc: Document, actor: Actor, earlier_id: str, relation: str, summary: str = "") -> Outcome:
    """Name an earlier contract: this case ``follows`` it or has the ``same_fault``."""
    if relation not in RELATIONS:
        raise UsageError(f"unknown link {relation!r}; one of: {', '.join(RELATIONS)}")
    if not CONTRACT_ID.fullmatch(earlier_id or ""):
        raise UsageError(f"not a contract id: {earlier_id!r}")
    view = case_entries.current_view(doc, actor)
    if earlier_id == view.id:
        raise UsageError("a contract cannot follow itself")
    if any(lk.contract == earlier_id and lk.relation == relation for lk in links_of(view)):
        raise UsageError(f"this contract already {RELATION_TEXT[relation]} {earlier_id[:8]}")
    text = f"{RELATION_TEXT[relation]} {summary or earlier_id}"
    case_entries.append(doc, actor, view, {"kind": LINK, "text": text, "ref": earlier_id, "relation": relation})
    return Outcome(f"linked: this contract {text}", ref=earlier_id)


def mark_fault(doc: Document, actor: Actor, name: str) -> Outcome:
    """Mark a known fault on this case (a supplier or coordinator)."""
    name = " ".join((name or "").split())
    if not name:
        raise UsageError("a known fault needs a name")
    if len(name) > case_entries.MAX_NAME:
        raise UsageError(f"a fault's name has at most {case_entries.MAX_NAME} characters")
    view = case_entries.current_view(doc, actor)
    if any(f.name == name for f in faults_of(view)):
        return Outcome(f"already marked: known fault {name!r}")
    case_entries.append(doc, actor, view, {"kind": FAULT, "text": name, "ref": slug(name)})
    return Outcome(f"marked known fault {name!r}")


def links_of(view: ContractView) -> list[Link]:
    out, seen = [], set()
    for e in case_entries.entries_of(view, LINK):
        key = (e.get("relation"), e.get("ref"))
        if e.get("relation") in RELATIONS and key not in seen:
            seen.add(key)
            out.append(Link(e["relation"], e.get("ref", ""), e.get("author", ""), e.get("at", 0), e.get("text", "")))
    return out


def faults_of(view: ContractView) -> list[KnownFault]:
    out, seen = [], set()
    for e in case_entries.entries_of(view, FAULT):
        party = view.parties.get(e.get("author", ""))
        if party is None or party.role not in ("supplier", "coordinator") or e.get("text") in seen:
            continue
        seen.add(e.get("text"))
        out.append(KnownFault(e.get("text", ""), e.get("author", ""), e.get("at", 0)))
    return out


@dataclass(frozen=True)
class ChainStep:
    depth: int  # 1: named by this case; 2: named by that one; ...
    link: Link
    view: ContractView | None  # the earlier case as this home holds it now, or None if it holds none


def chain(view: ContractView, lookup: Callable[[str], ContractView | None]) -> list[ChainStep]:
    """The earlier cases this one names, and those they name in turn, through the contracts ``lookup``
    finds in this home (None for one it does not hold: its step shows the linking party's summary)."""
    steps: list[ChainStep] = []
    seen = {view.id}
    frontier = [(1, lk) for lk in links_of(view)]
    while frontier and len(steps) < MAX_CHAIN:
        depth, lk = frontier.pop(0)
        if lk.contract in seen:
            continue
        seen.add(lk.contract)
        earlier = lookup(lk.contract)
        steps.append(ChainStep(depth, lk, earlier))
        if earlier is not None:
            frontier.extend((depth + 1, further) for further in links_of(earlier))
    return steps
