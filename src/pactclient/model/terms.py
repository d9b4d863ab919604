"""Renegotiation: which proposals are applied, and the terms in force.

Terms (parties, item definitions, activities with their due times and assignees) are never edited in
place after creation. Every change to them is a proposal; the terms in force are the base terms plus
every applied proposal, replayed in the causal order of their resolution. Deriving the terms instead
of writing them means two devices that accept the last missing answer concurrently cannot apply a
proposal twice or disagree about the result: any two copies with the same history compute the same
terms.

The replay order is never one a writer can pick. A proposal resolves with the last acceptance it
needs; that acceptance was written by an op whose counter is one more than anything its author had
seen (``signing.wellformed`` refuses any other), so ordering resolutions by that op id — counter, then
author key — puts every agreement after the agreements its parties had seen when they made it. Only
agreements resolved concurrently (each accepted by every party it asked) fall back on the op id's
order among themselves. The times written in answers (``at``) are shown, never used to order. Without
op ids (a plain dict read without its document) the order falls back on those times.

A proposal's state follows from its answers (the proposer's acceptance is implied):

    open ──every required party accepted──▶ applied
      │                                        (void if it no longer fits the terms, e.g. its
      └──any required party rejected──▶ rejected  activity was removed by an earlier proposal)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pactclient.errors import RefusedOperation, UsageError
from pactclient.model import rules


@dataclass
class ProposalState:
    id: str
    raw: dict
    state: str
    resolved_at: int | None
    note: str = ""
    replay_key: tuple = ()  # where an applied proposal stands in the replay (and the agreed versions)


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


def resolution_stamp(raw: dict, stamp: tuple | None) -> tuple | None:
    """The op id (counter, author) of the write that resolved an applied proposal: the latest of the
    proposal itself and the acceptances it needed; None when ``stamp`` (see ``amdoc.proposal_stamps``)
    is not known."""
    if stamp is None:
        return None
    made, answers = stamp
    proposer = raw.get("proposer", "")
    needed = [answers.get(p) for p in (raw.get("required") or []) if p != proposer]
    if any(n is None for n in needed):
        return None
    return max([made, *needed])


def terms_in_force(raw: dict, stamps: dict[str, tuple] | None = None) -> TermsInForce:
    """The terms in force: base terms plus applied proposals, replayed in the causal order of their
    resolution when ``stamps`` (``amdoc.proposal_stamps`` of the same document) are given."""
    terms = TermsInForce(
        parties=_copy_table(raw.get("parties", {})),
        items=_copy_table(raw.get("items", {})),
        activities=_copy_table(raw.get("activities", {})),
    )
    states = []
    order: dict[str, tuple] = {}
    for pid, praw in (raw.get("proposals") or {}).items():
        state, resolved_at = answer_state(praw)
        states.append(ProposalState(pid, praw, state, resolved_at))
        if state == "applied":
            stamp = resolution_stamp(praw, (stamps or {}).get(pid))
            order[pid] = (0, stamp, pid) if stamp is not None else (1, (resolved_at or 0, praw.get("created_at", 0)), pid)
    for st in states:
        st.replay_key = order.get(st.id, ())
    for st in sorted((s for s in states if s.state == "applied"), key=lambda s: order[s.id]):
        try:
            apply_proposal(terms, st.raw.get("kind", ""), st.raw.get("payload") or {})
        except RefusedOperation as exc:
            st.state, st.note = "void", str(exc)
    for st in states:
        # A proposal still open that no longer asks every party (one became a party after it was made),
        # or no longer fits the terms, can never be accepted (rule ``answer-fits``): it is void.
        if st.state == "open":
            kind, payload = st.raw.get("kind", ""), st.raw.get("payload") or {}
            expected = rules.required_answers(terms.parties, st.raw.get("proposer", ""), kind, payload)
            if list(st.raw.get("required") or []) != expected:
                missing = [p for p in expected if p not in (st.raw.get("required") or [])]
                st.state = "void"
                st.note = (f"made before {', '.join(missing)} became a party; propose it again" if missing
                           else "the parties it asks are no longer those who must agree; propose it again")
                continue
            try:
                check_fits(terms, kind, payload if isinstance(payload, dict) else {})
            except (RefusedOperation, UsageError) as exc:
                st.state, st.note = "void", f"it no longer fits the terms: {exc}"
    terms.proposals = sorted(states, key=lambda s: (s.raw.get("created_at", 0), s.id))
    return terms


def check_fits(terms, kind: str, payload: dict) -> None:
    """Refuse (UsageError, RefusedOperation) a proposal that does not fit ``terms`` (anything with
    ``parties``, ``items`` and ``activities`` dicts): applied to a copy of them, every assignee, owner
    and dependency must still exist. Checked when a proposal is made, and again on receipt."""
    trial = TermsInForce(
        parties={k: dict(v) for k, v in terms.parties.items()},
        items={k: dict(v) for k, v in terms.items.items()},
        activities={k: dict(v) for k, v in terms.activities.items()},
    )
    apply_proposal(trial, kind, payload)
    for aid, act in trial.activities.items():
        if act.get("assignee") and act["assignee"] not in trial.parties:
            raise UsageError(f"no party {act['assignee']!r}; parties: {', '.join(trial.parties)}")
        for dep in act.get("depends_on") or []:
            if dep not in trial.activities:
                raise UsageError(f"activity {aid!r} would depend on {dep!r}, which does not exist")
    for it in trial.items.values():
        if it.get("owner") and it["owner"] not in trial.parties:
            raise UsageError(f"no party {it['owner']!r}; parties: {', '.join(trial.parties)}")


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
        if key and _key_in_use(terms, key):
            raise RefusedOperation("that key is, or was, a party's key")
        terms.parties[target] = {k: v for k, v in payload.items() if k != "id"}
    elif kind == "replace_key":
        party = _existing(terms.parties, target, "party")
        old, key = party.get("key", ""), payload.get("key", "")
        if not old:
            raise RefusedOperation(f"party {target!r} has no device key to replace")
        if not isinstance(key, str) or len(key) != 64 or _key_in_use(terms, key):
            raise RefusedOperation("the new key is not a key, or is (or was) a party's key")
        party["key"] = key
        # The old key stays known (to name the author of what it signed) but is no longer a party's.
        party["former_keys"] = list(party.get("former_keys") or ()) + [old]
    else:
        raise RefusedOperation(f"unknown kind of proposal {kind!r}")


def _key_in_use(terms: TermsInForce, key: str) -> bool:
    return any(p.get("key") == key or key in (p.get("former_keys") or ()) for p in terms.parties.values())


def _existing(table: dict, key: str, what: str) -> dict:
    if key not in table:
        raise RefusedOperation(f"no {what} {key!r}")
    return table[key]
