"""What the proposing copy checks in a proposal's payload before signing it: names that must be there.

The admission rules (``terms.check_fits``, run on receipt by every copy) leave an empty assignee or
owner alone, since contracts already signed may hold one. A proposal typed now should not: an activity
"for nobody" or an item "owned by nobody" is a typing mistake that, once accepted, cannot be undone
without another round of answers. These checks run only where a proposal is made, so they change
nothing about what every copy admits.
"""

from __future__ import annotations

from pactclient.errors import UsageError
from pactclient.model.currencies import checked_currency


def checked_payload(kind: str, payload: dict, parties: dict) -> dict:
    """``payload`` as it will be signed (a currency upper-cased); UsageError for a missing name."""
    names = ", ".join(parties)

    def party(value, what: str) -> None:
        if not isinstance(value, str) or value not in parties:
            raise UsageError(f"no party {str(value)[:60]!r}: {what} must be one of the parties ({names})")

    def present(value, what: str) -> None:
        if not isinstance(value, str) or not value.strip():
            raise UsageError(f"{what} cannot be empty")

    if kind == "add_activity":
        present(payload.get("title"), "an activity's title")
        present(payload.get("id"), "an activity's id")
        party(payload.get("assignee"), "the assignee")
    elif kind == "change_assignee":
        party(payload.get("assignee"), "the assignee")
    elif kind == "add_item":
        present(payload.get("id"), "an item's id")
        party(payload.get("owner"), "the item's owner")
        if payload.get("currency"):
            payload = {**payload, "currency": checked_currency(payload["currency"])}  # ISO 4217 only
    elif kind == "change_item" and "owner" in (payload.get("fields") or {}):
        party(payload["fields"]["owner"], "the item's owner")
    elif kind == "change_activity" and "title" in (payload.get("fields") or {}):
        present(payload["fields"]["title"], "an activity's title")
    return payload
