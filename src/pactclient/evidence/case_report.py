"""The case parts of the evidence: linked cases, known faults, complaints and their escalations,
compensation owed and the customer's effort — in ``pact verify`` (text and ``--json``) and in the HTML
report, beside the commitments kept and broken.

Everything here is computed from the verified document alone, as at the export (``view.now``): a
third party reading the file gets the figures every party's copy computed. Earlier cases are shown as
the linking party quoted them (the file holds this contract only).
"""

from __future__ import annotations

from datetime import datetime, timezone

from pactclient.model import compensation, effort, links
from pactclient.model.views import ContractView


def case_summary(view: ContractView) -> dict:
    """The case parts of ``pact verify --json`` (keys in docs/evidence.md)."""
    return {
        "links": [lk.as_json() for lk in links.links_of(view)],
        "known_faults": [f.as_json() for f in links.faults_of(view)],
        "escalations": [x.as_json(view.now) for x in compensation.escalations(view)],
        "compensation_owed": [c.as_json(view) for c in compensation.compensation_owed(view)],
        "customer_effort": effort.effort_of(view).as_json(),
    }


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def verify_lines(data: dict, by_id: dict) -> list[str]:
    """What ``pact verify`` prints of the case parts of ``data`` (a ``summary``)."""
    out = []
    for lk in data.get("links", []):
        out.append(f"linked: {lk['summary']} ({by_id.get(lk['author'], lk['author'])}, {_when(lk['at'])})")
    for f in data.get("known_faults", []):
        out.append(f"known fault: {f['name']} (marked by {by_id.get(f['marked_by'], f['marked_by'])})")
    for c in data.get("compensation_owed", []):
        out.append(f"compensation owed: {c['display']} for {c['title']} (broken {_when(c['broken_at'])})")
    for x in data.get("escalations", []):
        state = {"open": f"open, due {_when(x['due'])}", "answered": f"answered {_when(x['answered_at'])}",
                 "void": f"void ({x['void_reason']})"}.get(x["status"], x["status"])
        out.append(f"complaint: {x['title']} — owner {x['person']} ({by_id.get(x['owner'], x['owner'])}), {state}"
                   + (", BROKEN" if x["broken"] else ""))
    spent = data.get("customer_effort")
    if spent and (spent["entries"] or spent["resolved"]):
        channels = ", ".join(f"{ch} {n}" for ch, n in spent["contacts_by_channel"].items() if n) or "none recorded"
        out.append(f"customer's effort: {spent['calls']} calls, {spent['visits']} visits, {spent['hours']} h; "
                   f"contacts by channel: {channels}")
    return out


def sections(view: ContractView, e, table, span) -> list[str]:
    """The HTML sections (``e`` escapes, ``table(headers, rows)`` of escaped cells, ``span(ms)``)."""
    label, now = view.label, view.now
    parts = ["<h2 id=effort>The customer's effort</h2>"]
    spent = effort.effort_of(view)
    card = view.scorecard()
    resolution = (f"time to resolution {e(span(card.time_to_resolution_ms))}" if card.resolved
                  else f"not resolved after {e(span(card.age_ms))}")
    broken = sum(s.broken for s in card.per_party)
    kept = sum(s.kept for s in card.per_party)
    parts.append(f"<p>{resolution}; promises kept {kept}, broken <span class=broken>{broken}</span>; "
                 f"calls {spent.calls}, visits {spent.visits}, hours spent {e(effort.format_hours(spent.minutes))} "
                 f"(recorded by the customer in {spent.entries} signed entr{'y' if spent.entries == 1 else 'ies'}).</p>")
    parts.append(table(["Channel", "Contacts"], [[e(ch), str(n)] for ch, n in spent.contacts_by_channel.items() if n]))
    owed = compensation.compensation_owed(view)
    parts.append("<h2 id=compensation>Compensation owed</h2>")
    parts.append(table(["Owed", "For", "Broken at"], [
        [f"<b>{e(c.display(view))}</b>", e(c.title), e(_when(c.broken_at))] for c in owed]))
    parts.append("<p class=muted>Computed from the template's rule for each broken commitment, as at the export; "
                 "no party writes it.</p>")
    parts.append("<h2 id=complaints>Complaints</h2>")
    parts.append(table(["Complaint", "Owner", "Opened", "Due", "State"], [
        [e(x.title) + f"<br><span class=muted>{e(x.complaint)}</span>", f"{e(x.person)} ({e(label(x.owner))})",
         f"{e(label(x.opened_by))}<br>{e(_when(x.opened_at))}", e(_when(x.due)),
         ("<span class=broken>broken</span> " if x.broken(now) else "") + e(x.status)
         + (f": {e(x.outcome or x.void_reason)}" if x.outcome or x.void_reason else "")]
        for x in compensation.escalations(view)]))
    parts.append("<h2 id=linked>Linked cases and known faults</h2>")
    parts.append(table(["Link", "Earlier case, as quoted", "By"], [
        [e(links.RELATION_TEXT[lk.relation]), f"<code>{e(lk.contract)}</code><br>{e(lk.text)}",
         f"{e(label(lk.author))}<br>{e(_when(lk.at))}"] for lk in links.links_of(view)]
        + [["known fault", e(f.name), f"{e(label(f.author))}<br>{e(_when(f.at))}"] for f in links.faults_of(view)]))
    return parts
