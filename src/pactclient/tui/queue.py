"""The work queue, worked out from the summary index alone (no documents are loaded to paint it).

Pure functions, no Textual: the home screen and the benchmark both use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from pactclient.model.money import format_amount
from pactclient.store.workspace import light_of

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
LIGHT_RANK = {"red": 0, "amber": 1, "green": 2}


@dataclass(frozen=True)
class QueueRow:
    id: str
    title: str
    light: str  # red | amber | green
    turn: str  # "waiting on you", "on BT", "resolved", ...
    mine: bool  # this device's party must act
    next_due: int | None
    next_due_title: str
    last_activity_at: int
    unseen: int
    resolved: bool
    search_text: str  # lower-cased text that the filter matches against
    owner: str = ""  # the named problem owner, "Raj (BT)"
    money: str = ""  # what the money items add up to: "BT owes you £250.00"


def span(ms: int) -> str:
    """A short human duration: 45m, 5h, 3d."""
    ms = abs(ms)
    if ms < HOUR_MS:
        return f"{max(1, ms // MINUTE_MS)}m"
    if ms < 2 * DAY_MS:
        return f"{ms // HOUR_MS}h"
    return f"{ms // DAY_MS}d"


def time_left(due: int | None, now: int) -> str:
    if due is None:
        return "no deadline"
    if due < now:
        return f"overdue {span(now - due)}"
    return f"in {span(due - now)}"


def when(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def ago(ms: int | None, now: int) -> str:
    if not ms:
        return "-"
    return "just now" if now - ms < MINUTE_MS else f"{span(now - ms)} ago"


def turn_text(summary: dict) -> tuple[str, bool]:
    """("waiting on you" | "on Raj (BT)" | "on BT" | "resolved" | "nobody", mine).

    The party whose turn it is is named by the person who owns its side, when there is one."""
    if summary.get("resolved"):
        return "resolved", False
    turn = list(summary.get("turn") or [])
    me = summary.get("my_party", "")
    labels = dict(summary.get("parties") or {})
    for pid, person in (summary.get("persons") or {}).items():
        if pid in labels and person and person != labels[pid]:
            labels[pid] = f"{person} ({labels[pid]})"
    if me and me in turn:
        others = [labels.get(p, p) for p in turn if p != me]
        return "waiting on you" + (f" (and {', '.join(others)})" if others else ""), True
    if not turn:
        return "nobody", False
    return "on " + ", ".join(labels.get(p, p) for p in turn), False


def acting_person(summary: dict) -> str:
    """When no organisation named a problem owner: the person named on the next activity of a party
    whose turn it is ("Priya (BT)"), else nobody."""
    persons, labels = summary.get("persons") or {}, summary.get("parties") or {}
    for pid in summary.get("turn") or []:
        if persons.get(pid):
            label = labels.get(pid, pid)
            return persons[pid] if persons[pid] == label else f"{persons[pid]} ({label})"
    return ""


def money_text(summary: dict) -> str:
    """The largest net debt of the contract, from this party's side ("BT owes you £250.00"), and how
    many more there are; empty when nothing is owed."""
    debts = summary.get("money") or []
    if not debts:
        return ""
    me, labels = summary.get("my_party", ""), summary.get("parties") or {}

    def who(pid: str) -> str:
        return "you" if pid == me else labels.get(pid, pid)
    top = debts[0]
    debtor = who(top["by"])
    line = f"{debtor[0].upper() + debtor[1:]} {'owe' if debtor == 'you' else 'owes'} {who(top['to'])} " \
           f"{format_amount(top['amount'], top['currency'])}"
    return line + (f" (+{len(debts) - 1})" if len(debts) > 1 else "")


def build_rows(summaries: list[dict], unseen: dict[str, int], now: int) -> list[QueueRow]:
    """Rows sorted so that what needs me comes first: my turn, then red before amber before green,
    then the nearest deadline; resolved contracts last."""
    rows = []
    for s in summaries:
        turn, mine = turn_text(s)
        parties = " ".join((s.get("parties") or {}).values())
        rows.append(QueueRow(
            id=s["id"],
            title=s.get("title", ""),
            light=light_of(s, now),
            turn=turn,
            mine=mine,
            next_due=s.get("next_due"),
            next_due_title=s.get("next_due_title", ""),
            last_activity_at=s.get("last_activity_at") or s.get("updated_at") or 0,
            unseen=unseen.get(s["id"], 0),
            resolved=bool(s.get("resolved")),
            search_text=f"{s.get('title', '')} {parties} {s.get('template', '')} {s['id']} {turn} {s.get('owner', '')}".lower(),
            owner=s.get("owner", "") or acting_person(s),
            money=money_text(s),
        ))
    rows.sort(key=lambda r: (r.resolved, not r.mine, LIGHT_RANK.get(r.light, 3),
                             r.next_due is None, r.next_due or 0, -r.last_activity_at, r.id))
    return rows


def matching(rows: list[QueueRow], query: str) -> list[QueueRow]:
    """Rows whose text holds every word of ``query`` (case-insensitive)."""
    words = query.lower().split()
    if not words:
        return rows
    return [r for r in rows if all(w in r.search_text for w in words)]
