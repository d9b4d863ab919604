"""Renegotiation: which proposals are applied, and the terms in force.

Terms (parties, item definitions, activities with their due times and assignees) are never edited in
place after creation. Every change to them is a proposal; the terms in force are the base terms plus
every applied proposal, replayed in the order the proposals were resolved. Deriving the terms instead
of writing them means two devices that accept the last missing answer concurrently cannot apply a
proposal twice or disagree about the result: any two copies with the same history compute the same
terms.

A proposal's state follows from its answers (the proposer's acceptance is implied):

    open ──every required party accepted──▶ applied
      │                                        (void if it no longer fits the terms, e.g. its
      └──any required party rejected──▶ rejected  activity was removed by an earlier proposal)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pactclient.errors import RefusedOperation


@dataclass
class ProposalState:
    id: str
    raw: dict
    state: str
    resolved_at: int | None
    note: str = ""


@dataclass
class TermsInForce:
    parties: dict[str, dict] = field(default_factory=dict)
    items: dict[str, dict] = field(default_factory=dict)
    activities: dict[str, dict] = field(default_factory=dict)
    proposals: list[ProposalState] = field(default_factory=list)


def answer_state(raw: dict) -> tuple[str, int | None]:
    """(open|applied|rejected, time it was resolved) from the answers alone."""
    proposer = raw.get("proposer", "")
    answers = raw.get("answers") or {}
    required = [p for p in (raw.get("required") or []) if p != proposer]
    rejections = [a.get("at", 0) for p, a in answers.items() if p in required and a.get("answer") == "reject"]
    if rejections:
        return "rejected", min(rejections)
    accepted = [answers[p].get("at", 0) for p in required if answers.get(p, {}).get("answer") == "accept"]
    if len(accepted) == len(required):
        return "applied", max(accepted, default=raw.get("created_at", 0))
    return "open", None


def _copy_table(table: dict) -> dict[str, dict]:
    # ``apply_proposal`` replaces, updates or deletes whole entries, and never changes a list inside
    # one in place: copying two levels keeps ``raw`` untouched at a fraction of a deep copy's cost.
    return {key: dict(entry) for key, entry in table.items()}


def terms_in_force(raw: dict) -> TermsInForce:
    terms = TermsInForce(
        parties=_copy_table(raw.get("parties", {})),
        items=_copy_table(raw.get("items", {})),
        activities=_copy_table(raw.get("activities", {})),
    )
    states = []
    for pid, praw in (raw.get("proposals") or {}).items():
        state, resolved_at = answer_state(praw)
        states.append(ProposalState(pid, praw, state, resolved_at))
    # Replay applied proposals in the order they were resolved; ties broken by id so every copy agrees.
    for st in sorted(states, key=lambda s: (s.resolved_at or 0, s.raw.get("created_at", 0), s.id)):
        if st.state != "applied":
            continue
        try:
            apply_proposal(terms, st.raw.get("kind", ""), st.raw.get("payload") or {})
        except RefusedOperation as exc:
            st.state, st.note = "void", str(exc)
    terms.proposals = sorted(states, key=lambda s: (s.raw.get("created_at", 0), s.id))
    return terms


def apply_proposal(terms: TermsInForce, kind: str, payload: dict) -> None:
    """Apply one proposal to ``terms`` in place; RefusedOperation if it does not fit them."""
    target = payload.get("id", "")
    if kind == "add_activity":
        if target in terms.activities:
            raise RefusedOperation(f"activity {target!r} already exists")
        terms.activities[target] = {k: v for k, v in payload.items() if k != "id"}
    elif kind in ("change_activity", "change_due", "change_assignee"):
        act = _existing(terms.activities, target, "activity")
        fields = payload.get("fields") or {}
        if kind == "change_due":
            fields = {"due": payload.get("due")}
        elif kind == "change_assignee":
            fields = {"assignee": payload.get("assignee")}
        act.update(fields)
    elif kind == "remove_activity":
        _existing(terms.activities, target, "activity")
        del terms.activities[target]
    elif kind == "add_item":
        if target in terms.items:
            raise RefusedOperation(f"item {target!r} already exists")
        terms.items[target] = {k: v for k, v in payload.items() if k != "id"}
    elif kind == "change_item":
        _existing(terms.items, target, "item").update(payload.get("fields") or {})
    elif kind == "remove_item":
        _existing(terms.items, target, "item")
        del terms.items[target]
    elif kind == "add_party":
        slot = terms.parties.get(target)
        if slot is not None and slot.get("key"):
            raise RefusedOperation(f"party {target!r} already has a device key")
        key = payload.get("key", "")
        if key and any(p.get("key") == key for p in terms.parties.values()):
            raise RefusedOperation("that key is already a party")
        terms.parties[target] = {k: v for k, v in payload.items() if k != "id"}
    else:
        raise RefusedOperation(f"unknown kind of proposal {kind!r}")


def _existing(table: dict, key: str, what: str) -> dict:
    if key not in table:
        raise RefusedOperation(f"no {what} {key!r}")
    return table[key]
