"""An agent's work queue over the summary index: the order in which contracts need acting on, the
filters agents narrow it with, and the totals shown above it. Pure functions over queue rows (made
from summary rows by ``summary_row``), so listing never loads a document.

Order: waiting on me first; then overdue (the next deadline passed); then the soonest next deadline
(none last); then the most recently active. It is the order in which a person clears a queue.
"""

from __future__ import annotations

from dataclasses import dataclass

from pactclient.store.summary import light_of

LIGHTS = ("red", "amber", "green")


@dataclass(frozen=True)
class QueueFilter:
    waiting_on: str = ""  # "me": my turn; "them": someone else's turn (and not resolved)
    overdue: bool = False
    lights: tuple[str, ...] = ()
    template: str = ""
    resolved: bool | None = None  # None: both; True: only resolved; False: only open
    words: str = ""  # every word must occur in the title (case-insensitive)

    def admits(self, row: dict) -> bool:
        if self.waiting_on == "me" and not row["my_turn"]:
            return False
        if self.waiting_on == "them" and (row["my_turn"] or row["resolved"] or not row["turn"]):
            return False
        if self.overdue and not is_overdue(row):
            return False
        if self.lights and row["light"] not in self.lights:
            return False
        if self.template and row["template"] != self.template:
            return False
        if self.resolved is not None and bool(row["resolved"]) != self.resolved:
            return False
        title = row["title"].casefold()
        return all(word in title for word in self.words.casefold().split())


def summary_row(summary: dict, now: int) -> dict:
    labels = summary.get("parties", {})
    me = summary.get("my_party", "")
    turn = summary.get("turn", [])
    return {
        "id": summary["id"],
        "title": summary.get("title", ""),
        "template": summary.get("template", ""),
        "light": light_of(summary, now),
        "my_party": me,
        "my_turn": bool(me) and me in turn,
        "turn": turn,
        "turn_labels": [labels.get(p, p) for p in turn],
        "next_due": summary.get("next_due"),
        "next_due_title": summary.get("next_due_title", ""),
        "open_proposals": summary.get("open_proposals", 0),
        "last_activity_at": summary.get("last_activity_at"),
        "resolved": summary.get("resolved", False),
        "broken": summary.get("broken", 0),
        "offered_to": summary.get("offered_to", []),
        "owner": summary.get("owner", ""),
    }


def is_overdue(row: dict) -> bool:
    # Red means exactly this: agreed, and the next deadline passed (``light_of``); one rule, read once.
    return row["light"] == "red"


def order_key(row: dict) -> tuple:
    return (not row["my_turn"], not is_overdue(row), row["next_due"] is None, row["next_due"] or 0,
            -(row["last_activity_at"] or 0), row["id"])


def queue(rows: list[dict], wanted: QueueFilter = QueueFilter()) -> list[dict]:
    """The rows ``wanted`` admits, in queue order (rows made by ``summary_row`` at the time that counts)."""
    return sorted((r for r in rows if wanted.admits(r)), key=order_key)


def totals(rows: list[dict]) -> dict[str, int]:
    """How many contracts, and how many red, amber, waiting on me, overdue (over the rows given)."""
    out = {"contracts": len(rows), "waiting_on_me": 0, "overdue": 0, **{light: 0 for light in LIGHTS}}
    for r in rows:
        out[r["light"]] += 1
        out["waiting_on_me"] += bool(r["my_turn"])
        out["overdue"] += is_overdue(r)
    return out
