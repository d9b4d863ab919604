"""The summary index: what is kept per contract so that listing (``pact list``, the TUI's work queue)
never loads a document, and the traffic light worked out from it.

A row is written by ``Workspace`` upkeep with the rowid of the newest change it reflects; see
``Workspace.summaries`` for how a row that lags behind is brought up to date.
"""

from __future__ import annotations

from pactclient.model.views import ContractView


def light_of(summary: dict, now: int) -> str:
    """The traffic light from a summary row (same rule as ``ContractView.light``)."""
    if summary.get("offered_to"):
        return "amber"  # offered, not agreed: no commitment binds yet, so none is broken
    due = summary.get("next_due")
    if due is not None and due < now:
        return "red"
    if (due is not None and due - now <= 24 * 3600 * 1000) or summary.get("open_proposals"):
        return "amber"
    return "green"


def summarize(view: ContractView, my_key: str) -> dict:
    """What the summary index keeps per contract, so listing never loads a document."""
    me = view.party_by_key(my_key)
    nd = view.next_due()
    return {
        "title": view.title,
        "template": view.template,
        "created_at": view.created_at,
        "my_party": me.id if me else "",
        "parties": {pid: p.label for pid, p in view.parties.items()},
        "turn": list(view.turn()),
        "next_due": nd.due if nd else None,
        "next_due_title": nd.title if nd else "",
        "open_proposals": len(view.open_proposals()),
        "last_activity_at": view.last_activity_at(),
        "resolved": view.resolved(),
        "broken": sum(counts["broken"] for counts in view.commitments().values()),
        "offered_to": list(view.offered_to()),
        "owner": _owner(view),
        "persons": persons(view),
        "money": net_debts(view),
        # Who shares the contract, so that a device serving many peers finds what to offer a peer
        # without loading documents (pactclient.sync.sharing).
        "keys": sorted(p.key for p in view.parties.values() if p.key),
    }


def _owner(view: ContractView) -> str:
    owner = view.problem_owner()
    return f"{owner.person} ({view.label(owner.party)})" if owner is not None else ""


def net_debts(view: ContractView) -> list[dict]:
    """What the money items add up to, per pair of parties and currency, netted: who owes whom how much
    ({"by", "to", "amount", "currency"}, largest first; nothing for a pair that is square)."""
    net: dict[tuple[str, str, str], int] = {}
    for item in view.items.values():
        if item.kind != "money" or not item.amount or not item.owed_by or not item.owed_to:
            continue
        a, b = sorted((item.owed_by, item.owed_to))
        sign = 1 if item.owed_by == a else -1  # positive: a owes b
        key = (a, b, item.currency)
        net[key] = net.get(key, 0) + sign * item.amount
    debts = [{"by": a, "to": b, "amount": n, "currency": cur} if n > 0 else {"by": b, "to": a, "amount": -n, "currency": cur}
             for (a, b, cur), n in net.items() if n]
    return sorted(debts, key=lambda d: (-d["amount"], d["currency"], d["by"], d["to"]))


def persons(view: ContractView) -> dict[str, str]:
    """Per party, the person who owns its side of the case, so that "whose turn" names a person: the
    problem owner its organisation named, else the one named on its next unfinished activity."""
    out = {pid: owner.person for pid, owner in view.owners.items() if owner.person}
    waiting = sorted((a for a in view.activities.values() if not a.finished and a.problem_owner),
                     key=lambda a: (a.due is None, a.due or 0))
    for act in waiting:
        out.setdefault(act.assignee, act.problem_owner)
    return out
