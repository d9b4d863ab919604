"""Who may write what. Used for local edits now; the same rules decide received changes (see docs/model.md).

- only an item's owner sets its value;
- only an activity's assignee, or a party with the coordinator role, changes its status;
- terms change only through proposals (by construction: there is no direct edit of terms);
- each party answers proposals only for itself (by construction: answers are keyed by the writer);
- anyone may add to the timeline.
"""

from __future__ import annotations

from pactclient.errors import RefusedOperation


def can_write_item(view, party_id: str, item) -> bool:
    return item.owner == party_id


def can_change_status(view, party_id: str, activity) -> bool:
    party = view.parties.get(party_id)
    return activity.assignee == party_id or (party is not None and party.role == "coordinator")


def check_item_write(view, party_id: str, item) -> None:
    if not can_write_item(view, party_id, item):
        raise RefusedOperation(f"only {view.label(item.owner)} (the owner of {item.label!r}) may set it")


def check_status_write(view, party_id: str, activity) -> None:
    if not can_change_status(view, party_id, activity):
        raise RefusedOperation(
            f"only {view.label(activity.assignee)} (the assignee) or a coordinator may change {activity.id!r}"
        )
