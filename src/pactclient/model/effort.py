"""The customer's effort: calls, visits and hours a case cost the customer ("Time to resolution: 2
months / Visits to store: 3 / Calls to customer service: 4+ / Hours wasted: 4").

A customer records its own effort as signed ``effort`` timeline entries (``record_effort``); only a
customer records effort, and only its own (checked on receipt, ``case_entries.entry_problem``). The
totals (``effort_of``) are sums over those entries: every copy gets the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from automerge.core import Document

from pactclient.errors import UsageError
from pactclient.model import case_entries
from pactclient.model.actions import Actor, Outcome
from pactclient.model.case_entries import CHANNELS, EFFORT  # noqa: F401  (CHANNELS: for the CLI)
from pactclient.model.views import ContractView


def parse_hours(text: str | float | int | None) -> int:
    """'1.5' hours -> 90 minutes; refuses negatives and more precision than a minute."""
    if text is None or text == "":
        return 0
    try:
        hours = Decimal(str(text).strip())
    except InvalidOperation:
        raise UsageError(f"not a number of hours: {text!r} (e.g. 1.5)") from None
    if not hours.is_finite() or hours < 0:
        raise UsageError(f"hours must be zero or more: {text!r}")
    minutes = hours * 60
    if minutes != minutes.to_integral_value():
        raise UsageError(f"{text} hours is not a whole number of minutes")
    if minutes > case_entries.MAX_MINUTES:
        raise UsageError(f"{text} hours is more than one entry may record; record it in parts")
    return int(minutes)


def describe(calls: int, visits: int, minutes: int, channel: str) -> str:
    parts = []
    if calls:
        parts.append(f"{calls} call{'s' if calls != 1 else ''}" + (f" ({channel})" if channel not in ("phone", "store") else ""))
    if visits:
        parts.append(f"{visits} visit{'s' if visits != 1 else ''} to the store")
    if minutes:
        parts.append(f"{format_hours(minutes)} spent")
    return ", ".join(parts)


def format_hours(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if not rest:
        return f"{hours} h"
    return f"{hours} h {rest} min" if hours else f"{rest} min"


def record_effort(doc: Document, actor: Actor, calls: int = 0, visits: int = 0, minutes: int = 0,
                  channel: str = "", note: str = "") -> Outcome:
    """Record contacts and time the customer spent on the case (one signed entry)."""
    for name, value in (("calls", calls), ("visits", visits)):
        if not isinstance(value, int) or value < 0:
            raise UsageError(f"{name} must be a whole number of zero or more")
        if value > case_entries.MAX_COUNT:
            raise UsageError(f"{value} {name} is more than one entry may record")
    if not (calls or visits or minutes):
        raise UsageError("record at least one call, visit or some time spent (--calls, --visits, --hours)")
    channel = channel or ("store" if visits and not calls else "phone")  # the channel of the calls
    if channel not in CHANNELS:
        raise UsageError(f"unknown channel {channel!r}; one of: {', '.join(CHANNELS)}")
    view = case_entries.current_view(doc, actor)
    me = case_entries.me_of(view, actor)
    what = describe(calls, visits, minutes, channel)
    text = f"{me.label}'s effort: {what}" + (f" — {note.strip()}" if note.strip() else "")
    case_entries.append(doc, actor, view, {"kind": EFFORT, "text": text, "ref": "", "party": me.id, "calls": calls,
                                           "visits": visits, "minutes": minutes, "channel": channel})
    return Outcome(f"recorded your effort: {what}")


@dataclass(frozen=True)
class EffortSummary:
    calls: int
    visits: int
    minutes: int
    contacts_by_channel: dict[str, int] = field(compare=False)
    entries: int
    resolved: bool
    time_to_resolution_ms: int | None  # when resolved: opened -> last activity finished
    open_for_ms: int  # the contract's age now (the time so far, while unresolved)

    @property
    def contacts(self) -> int:
        return self.calls + self.visits

    def as_json(self) -> dict:
        return {"calls": self.calls, "visits": self.visits, "contacts": self.contacts, "minutes": self.minutes,
                "hours": round(self.minutes / 60, 2), "contacts_by_channel": dict(self.contacts_by_channel),
                "entries": self.entries, "resolved": self.resolved,
                "time_to_resolution_ms": self.time_to_resolution_ms}  # the age so far is the scorecard's age_ms

    def lines(self) -> list[str]:
        """The customer's side of the scorecard, as the seeds put it."""
        days = (self.time_to_resolution_ms if self.resolved else self.open_for_ms) // (24 * 3600 * 1000)
        span = f"{days} day{'s' if days != 1 else ''}"
        first = f"Time to resolution: {span}" if self.resolved else f"Open for: {span} (not resolved)"
        channels = ", ".join(f"{ch} {n}" for ch, n in self.contacts_by_channel.items() if n) or "none recorded"
        return [first, f"Contacts by channel: {channels}", f"Calls: {self.calls}  Visits: {self.visits}  "
                f"Hours spent: {format_hours(self.minutes) if self.minutes else '0 h'}"]


def effort_of(view: ContractView) -> EffortSummary:
    """The customer's effort on this case, summed from the signed effort entries of customers."""
    calls = visits = minutes = count = 0
    by_channel = {ch: 0 for ch in CHANNELS}
    for entry in case_entries.entries_of(view, EFFORT):
        party = view.parties.get(entry.get("author", ""))
        if party is None or party.role != "customer" or entry.get("party") != party.id:
            continue
        got = [entry.get(k) for k in ("calls", "visits", "minutes")]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in got):
            continue
        calls, visits, minutes, count = calls + got[0], visits + got[1], minutes + got[2], count + 1
        # Calls (or chats, emails) go by the entry's channel; a visit is always made in person, at the store.
        channel = entry.get("channel") if entry.get("channel") in CHANNELS else "phone"
        by_channel[channel] += got[0]
        by_channel["store"] += got[1]
    score = view.scorecard()
    return EffortSummary(calls, visits, minutes, by_channel, count, score.resolved, score.time_to_resolution_ms,
                         score.age_ms)
