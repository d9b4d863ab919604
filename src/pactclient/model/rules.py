"""Who may write what: one set of rules for local edits and for received changes.

The model's actions check these before writing (``check_*`` below); ``pactclient.signing.permissions``
checks every received change against the same predicates, with the terms in force at that change's
dependencies, and refuses a change that breaks one like a forged change. Each rule has a short name
that appears in the refusal.

- only an item's owner sets its value;
- only an activity's assignee, or a party with the coordinator role, changes its status;
- the terms (parties, item definitions, activities) change only through an accepted proposal;
- each party writes only its own answer to a proposal, and only once; a proposal is not changed once made;
- anyone may add to the timeline, but no entry is changed or removed;
- every record names the party that wrote it (``author``, ``set_by``, ``updated_by``, ``proposer``);
- a device writes for a party only with a delegation signed by that party's key, until revoked.
"""

from __future__ import annotations

import re

from pactclient.errors import RefusedOperation

RULES = {
    "item-owner": "only an item's owner sets its value",
    "assignee": "only the assignee or a coordinator changes an activity's status",
    "terms-by-proposal": "the terms change only through an accepted proposal",
    "header-fixed": "the contract's header and sections are written once, by its first change",
    "own-answers": "each party writes only its own answer to a proposal, once",
    "proposal-fixed": "a proposal is not changed or withdrawn once made, only answered",
    "proposal-required": "a proposal asks its proposer and every party with a device key except observers",
    "proposal-fits": "a proposal is of a known kind and fits the terms in force when it is made",
    "timeline-append-only": "anyone may add to the timeline, but no entry is changed or removed",
    "writer-named": "a record names the party that wrote it",
    "well-formed": "every field has the type the model writes",
    "readable": "every operation of a change can be read",
    "own-chain": "a key's changes form one line: each has its author's previous change among its ancestors",
    "op-counter": "a change's ops start one after the highest op counter among its ancestors",
    "causal-refs": "a change refers only to ops among its ancestors",
    "transition": "an activity moves only as its transition table allows, after what it depends on",
    "proposal-id": "a proposal's id names its proposer",
    "answer-fits": "a proposal is accepted only while it still fits the terms and asks every party",
    "delegation": "a device writes for a party only with a delegation signed by that party's key in force",
    "device-record": "a device writes its own delegation once; a revocation is carried once by each device",
    "revocation-cutoff": "a revocation ends a device's writing after its last op the revoker had seen",
    "device-revoked": "a revoked device writes nothing after the point its revocation fixes",
    "problem-owner": "a party names its own problem owner, a person certified for it",
    "attachment": "an attachment names its file by SHA-256, within the size limit, with a sane name and media type",
    # Case entries (model.case_entries, signing.case_checks):
    "case-entry": "a case entry (effort, link, known fault, complaint) has the fields of its kind, of their types",
    "own-effort": "only a customer records effort, and only its own",
    "derived-money": "compensation is computed from the template's rules, never written by a party",
    "fault-by-supplier": "only a supplier or a coordinator marks a known fault",
    "complaint-party": "a complaint is made by a party other than the one that broke the commitment, "
                       "and answered by the escalation's owner",
}


def rule_text(name: str) -> str:
    return f"breaks the rule {name!r} ({RULES[name]})"


def may_set_item(owner: str, writer: str) -> bool:
    return bool(writer) and owner == writer


def may_change_status(assignee: str, writer: str, writer_role: str) -> bool:
    return bool(writer) and (assignee == writer or writer_role == "coordinator")


def required_answers(parties: dict[str, dict], proposer: str, kind: str, payload: dict) -> list[str]:
    """The parties whose acceptance a proposal needs, as written into it: the proposer and every party
    with a device key, except observers. Judged from the parties present at the proposal's
    dependencies only: no shortcut depends on something being absent from a change's history (a
    "draft" judged by who has not signed yet could be had back by choosing older dependencies). While
    the creator is the only party with a key, that is the creator alone: the contract is being set up.

    ``replace_key`` is made by the party whose key it replaces (signed by that key), and needs only it.
    """
    if kind == "replace_key":
        return [proposer]
    return sorted(pid for pid, p in parties.items()
                  if pid == proposer or (p.get("key") and p.get("role") != "observer"))


PROPOSAL_ID = re.compile(r"p-(?P<party>.+)-(?P<tag>[0-9a-f]{6,32})")


def proposal_id(party: str, tag: str) -> str:
    """A new proposal's id names its proposer, so that no other party can make (or take over, by a
    concurrent write) a proposal under it."""
    return f"p-{party}-{tag}"


def proposal_id_names(proposal_id_: str, party: str) -> bool:
    found = PROPOSAL_ID.fullmatch(proposal_id_ or "")
    return found is not None and found["party"] == party


# Activity statuses: what may follow what (``model.actions`` offers the same moves). Done and cancelled
# are final: nothing writes the progress of a finished activity again.
NEXT_STATUS = {
    "open": frozenset({"open", "in_progress", "waiting", "done", "cancelled"}),
    "in_progress": frozenset({"in_progress", "waiting", "done", "cancelled"}),
    "waiting": frozenset({"in_progress", "waiting", "done", "cancelled"}),
    "done": frozenset(),
    "cancelled": frozenset(),
}
NEEDS_DEPENDENCIES = frozenset({"in_progress", "done"})


def can_write_item(view, party_id: str, item) -> bool:
    return may_set_item(item.owner, party_id)


def can_change_status(view, party_id: str, activity) -> bool:
    party = view.parties.get(party_id)
    return may_change_status(activity.assignee, party_id, party.role if party else "")


def check_item_write(view, party_id: str, item) -> None:
    if not can_write_item(view, party_id, item):
        raise RefusedOperation(f"only {view.label(item.owner)} (the owner of {item.label!r}) may set it")


def check_status_write(view, party_id: str, activity) -> None:
    if not can_change_status(view, party_id, activity):
        raise RefusedOperation(
            f"only {view.label(activity.assignee)} (the assignee) or a coordinator may change {activity.id!r}"
        )
