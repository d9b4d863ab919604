"""The readable report: one printable HTML page, no external assets, every user-written text escaped.

It is rendered from a verified evidence file (``verify_bytes``), never from a home, so what the page
shows is exactly what the file proves, with the verdict on top.
"""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape as html_escape

from automerge.core import ROOT

from pactclient.display import shown
from pactclient.evidence import attachments, case_report
from pactclient.evidence.verify import Verdict
from pactclient.identity.device import fingerprint
from pactclient.model import agreements
from pactclient.model.actions import describe_proposal
from pactclient.model.amdoc import child

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:60rem;margin:2rem auto;color:#111;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;border-bottom:1px solid #bbb;margin-top:1.8rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f0f0f0}code,.fp{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em;word-break:break-all}
.verdict{padding:.6rem 1rem;border:2px solid;margin:1rem 0;font-weight:600}.ok{border-color:#1a7f37;color:#1a7f37}
.bad{border-color:#c62828;color:#c62828}.broken{color:#c62828;font-weight:600}.kept{color:#1a7f37}
.muted{color:#666}#broken h2{margin-top:0;border:0}#broken li{font-weight:400}@media print{body{margin:0;max-width:none}h2{break-after:avoid}tr{break-inside:avoid}}
"""


def escape(value: object) -> str:
    """HTML-escaped, with control and bidi characters made visible (``pactclient.display``): a party's
    right-to-left override must not make "250" read "052" in the report either."""
    return html_escape(shown(value, multiline=True))


def when(ms: int | None) -> str:
    if ms is None:
        return "—"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def span(ms: int | None) -> str:
    if ms is None:
        return "—"
    hours = ms // 3_600_000
    return f"{hours // 24} d {hours % 24} h" if hours >= 24 else f"{hours} h {(ms // 60_000) % 60} min"


def lateness(due: int, status: str, done_at: int | None, now: int) -> str:
    """How a broken commitment was broken, as at ``now`` (the export)."""
    if status == "done" and done_at is not None:
        return f"done {when(done_at)}, {span(done_at - due)} late"
    return f"not done when the file was exported, {span(now - due)} past due"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    """Cells are already-escaped HTML."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body or '<tr><td colspan=99>none</td></tr>'}</tbody></table>"


def entry_writers(doc) -> list[bytes | None]:
    """For each timeline entry, the key of the change that wrote it (from the entry's object id)."""
    timeline = child(doc, ROOT, "timeline")
    if timeline is None:
        return []
    out = []
    for i in range(doc.length(timeline)):
        got = doc.get(timeline, i)
        exid = got[1] if got is not None else b""
        # An object id is: tag byte 0x10, the actor id's length, the actor id, then the counter.
        out.append(exid[2 : 2 + exid[1]] if len(exid) > 2 and exid[0] == 0x10 and len(exid) >= 2 + exid[1] else None)
    return out


def acted(view, key_hex: str) -> str:
    """Who a key is, as a reader names them: "Raj (BT), laptop" for a certified device, the party for
    its own key."""
    person = view.person_by_key(key_hex)
    if not person:
        return f"key {key_hex[:16]}… of no party"
    device = view.devices.get(key_hex)
    return f"{person}, {device.name}" if device is not None and device.name else person


def _people(view, document, e) -> list[str]:
    """The certified devices, and how many changes each key wrote."""
    parts = ["<h2>Devices</h2>", _table(["Person", "Party", "Device", "Key fingerprint", "Revoked"], [
        [e(d.person), e(view.label(d.party)), e(d.name), f"<span class=fp>{e(fingerprint(bytes.fromhex(d.key)))}</span>",
         "<span class=broken>revoked by its party</span>" if d.revoked else "no"]
        for d in sorted(view.devices.values(), key=lambda d: (d.party, d.person, d.name))])]
    if document is not None:
        counts: dict[str, int] = {}
        for change in document.get_changes([]):
            counts[change.actor_id.hex()] = counts.get(change.actor_id.hex(), 0) + 1
        parts.append(_table(["Changes written by", "Changes"], [[e(acted(view, k)), str(n)] for k, n in counts.items()]))
    return parts


def render(v: Verdict) -> str:
    e = escape
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Evidence report</title><style>{STYLE}</style></head><body>"]
    view, body = v.view, v.body
    title = view.title if view else "(unreadable contract)"
    parts.append(f"<h1>{e(title)}</h1>")
    if v.valid:
        parts.append("<div class='verdict ok'>VERIFIED: every change is signed by a party's key or a device it certified, the exporter's signature holds, the heads match the document.</div>")
    else:
        items = "".join(f"<li>{e(f)}</li>" for f in v.failures)
        parts.append(f"<div class='verdict bad'>NOT VERIFIED — do not rely on this file.<ul>{items}</ul></div>")
    if body is not None:
        exporter = body["exported_by"]
        who = acted(view, exporter.hex()) if view and view.author_by_key(exporter.hex()) else "(not a party)"
        changes = len(v.document.get_changes([])) if v.document is not None else len(body["signatures"])
        parts.append(_table(["Contract", "Exported by", "Exported at", "Changes", "File SHA-256"], [[
            f"<code>{e(body['contract'])}</code>",
            f"{e(who)}<br><span class=fp>{e(fingerprint(exporter)) if len(exporter) == 32 else ''}</span>",
            e(when(body["exported_at"])), str(changes), f"<span class=fp>{e(v.sha256)}</span>"]]))
    if view is None:
        parts.append("</body></html>")
        return "".join(parts)
    label = view.label
    card = view.scorecard()
    owner = view.problem_owner()
    if owner is not None:
        contact = owner.contact_line()
        parts.append(f"<p id=owner><b>Problem owner:</b> {e(acted(view, owner.device))}"
                     + (f" — {e(contact)}" if contact else "") + "</p>")

    broken = view.broken_commitments()
    if not view.agreed():
        parts.append("<p id=offered><b>Offered, not agreed:</b> " + e(", ".join(label(p) for p in view.offered_to()))
                     + " had not accepted the terms as at the export; no commitment binds yet.</p>")
    if broken:
        items = "".join(
            f"<li><b>{e(a.title)}</b>: {e(label(a.assignee))} promised it by {e(when(a.due))}"
            + (f" (problem owner {e(a.problem_owner)})" if a.problem_owner else "")
            + f"; {e(lateness(a.due, a.status, a.done_at, view.now))}.</li>"
            for a in sorted(broken, key=lambda a: a.due or 0))
        parts.append(f"<div class='verdict bad' id=broken><h2>Broken commitments ({len(broken)})</h2><ul>{items}</ul></div>")
    else:
        parts.append("<p id=broken>No commitment was broken as at the export.</p>")

    parts.append("<h2>Parties</h2>")
    parts.append(_table(["Party", "Name", "Organisation", "Role", "Key fingerprint"], [
        [e(p.id), e(p.name), e(p.org), e(p.role), f"<span class=fp>{e(fingerprint(bytes.fromhex(p.key))) if p.key else 'no device yet'}</span>"]
        for p in view.parties.values()]))

    parts.extend(_people(view, v.document, e))

    parts.append(f"<h2>Terms in force</h2><p>Light: <b>{e(view.light())}</b> as at the export.</p>")
    act_rows = []
    for a in view.activities.values():
        kept = a.kept()
        judged = ("offered" if not view.agreed() and a.due is not None
                  else "<span class=broken>broken</span>" if kept is False or a.overdue(view.now)
                  else "<span class=kept>kept</span>" if kept else "")
        act_rows.append([e(a.title), e(label(a.assignee)), e(label(a.problem_owner)) if a.problem_owner else "—",
                         e(when(a.due)), e(a.status) + (f": {e(a.outcome)}" if a.outcome else ""), judged])
    parts.append(_table(["Activity", "Assignee", "Problem owner", "Due", "Status", "Commitment"], act_rows))
    parts.append(_table(["Item", "Value", "Set by", "Set at"], [
        [e(i.label), e(i.display(view.parties)), e(label(i.set_by)) if i.set_by else "—", e(when(i.set_at))]
        for i in view.items.values()]))

    parts.append("<h2>Agreed versions</h2>")
    version_rows = []
    for version in agreements.agreed_versions(view):
        prop = view.proposal(version.proposal_id)
        signed = {c["party"] for a in (body or {}).get("agreements", []) if a.get("proposal") == version.proposal_id
                  for c in a.get("countersignatures", [])}
        marks = ", ".join(f"{e(label(p))} {'✔ countersigned' if p in signed else '✘ not countersigned'}" for p in version.required)
        version_rows.append([str(version.number), e(describe_proposal(prop.kind, prop.payload, view)) if prop else "",
                             e(when(version.resolved_at)), marks])
    parts.append(_table(["Version", "What was agreed", "Agreed at", "Countersignatures"], version_rows))

    parts.append("<h2>How the terms changed (proposals and answers)</h2>")
    prop_rows = []
    for p in view.proposals:
        answers = "<br>".join(
            f"{e(label(a.party))}: {e(a.answer)} ({e(when(a.at))})" + (f" — {e(a.reason)}" if a.reason else "")
            for a in p.answers)
        prop_rows.append([f"<code>{e(p.id)}</code>", e(describe_proposal(p.kind, p.payload, view))
                          + (f"<br><span class=muted>{e(p.rationale)}</span>" if p.rationale else ""),
                          f"{e(label(p.proposer))}<br>{e(when(p.created_at))}", e(p.state), answers or "—"])
    parts.append(_table(["Id", "Proposal", "Proposed by", "State", "Answers"], prop_rows))

    parts.append("<h2>Scorecard</h2>")
    parts.append(f"<p>Age {e(span(card.age_ms))}; resolved: {'yes' if card.resolved else 'no'}; time to resolution: "
                 f"{e(span(card.time_to_resolution_ms))}; contacts: {card.contacts}.</p>")
    parts.append(_table(["Party", "Commitments kept", "Broken", "Open", "Messages"], [
        [e(label(s.party)), str(s.kept), f"<span class=broken>{s.broken}</span>" if s.broken else "0", str(s.open), str(s.messages)]
        for s in card.per_party]))
    parts.extend(case_report.sections(view, e, _table, span))  # effort beside the promises; complaints, links

    parts.append(attachments.html(v, label, e))
    parts.append("<h2>Timeline</h2>")
    writers = entry_writers(v.document) if v.document is not None else []
    rows = []
    for i, entry in enumerate(view.timeline):
        party = view.parties.get(entry.author)
        writer = writers[i] if i < len(writers) else None
        # The writer is the key of the change that made the entry, a party's own key or one of its devices.
        # A person on a device of the named party: "signed by Raj (BT), laptop".
        who = view.author_by_key(writer.hex()) if writer is not None else None
        if who is not None and party is not None and who.id == party.id:
            status = "signed by " + e(acted(view, writer.hex())) if v.valid else "signature not verified"
        elif writer is not None:
            status = f"<span class=broken>written by {e(acted(view, writer.hex()))}, not by the named author</span>"
        else:
            status = "unknown"
        rows.append([e(when(entry.at)), e(label(entry.author)), e(entry.kind), e(entry.text), status])
    parts.append(_table(["Time", "Author", "Kind", "Entry", "Signature"], rows))

    parts.append("<h2>How to check this report</h2><p>This page is rendered from an evidence file whose SHA-256 is "
                 f"<span class=fp>{e(v.sha256)}</span>. Run <code>pact verify FILE</code>, or follow "
                 "docs/evidence.md to check it with openssl and any Automerge implementation. Compare each party's key "
                 "fingerprint above with the one the party shows (<code>pact whoami</code>).</p></body></html>")
    return "".join(parts)
