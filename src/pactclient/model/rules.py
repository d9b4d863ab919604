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
- every record names the party that wrote it (``author``, ``set_by``, ``updated_by``, ``proposer``).
"""

from __future__ import annotations

from pactclient.errors import RefusedOperation

RULES = {
    "item-owner": "only an item's owner sets its value",
    "assignee": "only the assignee or a coordinator changes an activity's status",
    "terms-by-proposal": "the terms change only through an accepted proposal",
    "header-fixed": "the contract's header and sections are written once, by its first change",
    "own-answers": "each party writes only its own answer to a proposal, once",
    "proposal-fixed": "a proposal is not changed or withdrawn once made, only answered",
    "proposal-required": "a proposal asks every party with a device (in a draft, only its author)",
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
}


def rule_text(name: str) -> str:
    return f"breaks the rule {name!r} ({RULES[name]})"


def may_set_item(owner: str, writer: str) -> bool:
    return bool(writer) and owner == writer


def may_change_status(assignee: str, writer: str, writer_role: str) -> bool:
    return bool(writer) and (assignee == writer or writer_role == "coordinator")


def required_answers(parties: dict[str, dict], proposer: str, signers: set[str] | frozenset[str],
                     kind: str, payload: dict) -> list[str]:
    """The parties whose acceptance a new proposal needs, as written into the proposal.

    While no party other than the proposer has signed anything (``signers``: hex keys that signed a
    change before this one), the contract is a draft its author shapes alone: only the proposer.
    After that every party with a device except observers. A party replacing its own device key
    needs only itself (the change is signed by the key being replaced); replacing another party's
    key (lost or compromised) needs everyone else, but not that party, whose key cannot be trusted.
    """
    target = payload.get("id", "") if isinstance(payload, dict) else ""
    if kind == "replace_key" and target == proposer:
        return [proposer]

    def signed(p: dict) -> bool:
        keys = [p.get("key", "")] + list(p.get("former_keys") or ())
        return any(k and k in signers for k in keys)

    others_signed = any(signed(p) for pid, p in parties.items() if pid != proposer)
    required = sorted(
        pid for pid, p in parties.items()
        if pid == proposer or (others_signed and p.get("key") and p.get("role") != "observer")
    )
    if kind == "replace_key":
        required = [pid for pid in required if pid != target]
    return required


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
