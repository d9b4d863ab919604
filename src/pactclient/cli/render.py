"""How contracts are printed: rich text for people, JSON (keys documented in docs/cli.md) for scripts."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from pactclient.cli.case_render import case_json, print_case
from pactclient.model.effort import effort_of
from pactclient.cli.common import fmt_ms
from pactclient.display import assemble, text
from pactclient.identity.device import short_fingerprint
from pactclient.model.scorecard_text import resolution_line, scorecard_lines
from pactclient.model.views import ContractView
from pactclient.signing.vouching import ChangeLinks, coverage
from pactclient.store.workspace import Workspace

LIGHT_COLOURS = {"red": "red", "amber": "yellow", "green": "green"}


def contract_json(view: ContractView, ws: Workspace) -> dict:
    me = view.party_by_key(ws.identity.party_key_hex)
    score = view.scorecard()
    nd = view.next_due()
    return {**case_json(view, ws),
        "id": view.id,
        "title": view.title,
        "template": view.template,
        "schema": view.schema,
        "created_at": view.created_at,
        "created_by": view.created_by,
        "me": me.id if me else None,
        "light": view.light(),
        "offered_to": list(view.offered_to()),
        "turn": list(view.turn()),
        "next_due": {"activity": nd.id, "due": nd.due} if nd else None,
        "parties": [
            {"id": p.id, "name": p.name, "org": p.org, "role": p.role, "key": p.key or None,
             "fingerprint": short_fingerprint(bytes.fromhex(p.key)) if p.key else None,
             "former_keys": list(p.former_keys), "accepted": p.accepted}
            for p in view.parties.values()
        ],
        "items": [
            {"id": i.id, "label": i.label, "kind": i.kind, "owner": i.owner, "choices": list(i.choices),
             "value": i.value, "amount_minor": i.amount, "currency": i.currency or None,
             "owed_by": i.owed_by or None, "owed_to": i.owed_to or None, "display": i.display(view.parties),
             "set_by": i.set_by or None, "set_at": i.set_at}
            for i in view.items.values()
        ],
        "activities": [
            {"id": a.id, "title": a.title, "detail": a.detail, "assignee": a.assignee,
             "problem_owner": a.problem_owner, "status": a.status, "waiting_on": a.waiting_on or None,
             "due": a.due, "agreed_due": a.agreed_due, "overdue": view.is_overdue(a), "depends_on": list(a.depends_on),
             "blocked_by": list(view.blocked_by(a)), "outcome": a.outcome, "done_at": a.done_at}
            for a in view.activities.values()
        ],
        "proposals": [
            {"id": p.id, "kind": p.kind, "payload": p.payload, "rationale": p.rationale, "proposer": p.proposer,
             "created_at": p.created_at, "state": p.state, "resolved_at": p.resolved_at, "note": p.note or None,
             "required": list(p.required), "answers": {pid: p.answer_of(pid) for pid in p.required},
             "waiting_for": list(p.waiting_for())}
            for p in view.proposals
        ],
        "timeline": [
            {"kind": e.kind, "author": e.author, "person": e.person or None, "at": e.at, "text": e.text,
             "ref": e.ref or None}
            for e in view.timeline
        ],
        "problem_owner": _owner_json(view),
        "devices": [
            {"key": d.key, "party": d.party, "person": d.person, "device": d.name, "contact": dict(d.contact),
             "revoked": d.revoked}
            for d in view.devices.values()
        ],
        "equivocations": equivocations_json(ws, view.id, view),
        "scorecard": {
            "age_ms": score.age_ms,
            "resolved": score.resolved,
            "time_to_resolution_ms": score.time_to_resolution_ms,
            "contacts": score.contacts,
            "customer_effort": effort_of(view).as_json(),  # calls, visits, hours, contacts by channel
            "per_party": {s.party: {"kept": s.kept, "broken": s.broken, "open": s.open, "offered": s.offered,
                                    "messages": s.messages}
                          for s in score.per_party},
        },
    }


def equivocations_json(ws: Workspace, contract_id: str, view: ContractView) -> list[dict]:
    """Every author key caught signing two different changes with one sequence number (both kept)."""
    out = []
    for e in ws.equivocations(contract_id):
        party = view.author_by_key(e["actor"].hex())
        out.append({
            "author_key": e["actor"].hex(),
            "author": party.id if party else None,
            "seq": e["seq"],
            "held_hash": e["held_hash"].hex(),
            "other_hash": e["other_hash"].hex(),
            "source": e["source"],
            "detected_at": e["detected_at"],
        })
    return out


def changes_json(ws: Workspace, contract_id: str, view: ContractView) -> list[dict]:
    """Every stored change with its author and its signature coverage checked again now."""
    rows = ws.store.changes_after(contract_id, 0)
    links = [ChangeLinks(c.hash, c.actor_id, c.deps) for c in ws.document(contract_id).get_changes([])]
    covered = coverage(links, {r[1]: r[4] for r in rows})
    out = []
    for _rowid, hash_, actor, _data, signature in rows:
        party = view.author_by_key(actor.hex())
        how = covered.get(hash_, "not verified")
        out.append({
            "hash": hash_.hex(),
            "author_key": actor.hex(),
            "author": party.id if party else None,
            "signature": signature.hex() if signature is not None else None,
            "signature_verified": how != "not verified",
            "coverage": how,
        })
    return out


def _owner_json(view: ContractView) -> dict | None:
    owner = view.problem_owner()
    if owner is None:
        return None
    return {"party": owner.party, "person": owner.person, "device": owner.device, "contact": dict(owner.contact),
            "since": owner.since}


TIMELINE_SHOWN = 15


def print_contract(console: Console, view: ContractView, ws: Workspace, all_entries: bool = False) -> None:
    """Every string from the contract goes in as ``Text`` (``pactclient.display``): shown as text, never
    as markup or escape sequences, on a terminal or in a pipe alike. The timeline shows its last
    ``TIMELINE_SHOWN`` entries, or all with ``all_entries``."""
    me = view.party_by_key(ws.identity.party_key_hex)
    light = view.light()
    console.print(assemble((view.title, "bold"), "  ", (f"● {light}", LIGHT_COLOURS[light]), f"   id {view.id}"))
    resolved = resolution_line(view)
    if resolved:
        console.print(assemble((resolved, "bold green")))
    owner = view.problem_owner()
    if owner is not None:
        reach = owner.contact_line()
        console.print(assemble(("Problem owner: ", "bold"), f"{owner.person} ({view.label(owner.party)})",
                               f" · {reach}" if reach else ""))
    offered = view.offered_to()
    if offered:
        whose = ["you" if me and p == me.id else view.label(p) for p in offered]
        console.print(assemble(("Offered, not agreed: ", "yellow"), ", ".join(whose),
                               " must join (accept the terms) before any commitment binds",
                               f" — run: pact join {view.id[:8]}" if me and me.id in offered else ""))
    turn = view.turn()
    if turn:
        whose = ["you" if me and p == me.id else view.label(p) for p in turn]
        console.print(assemble(f"Waiting on: {', '.join(whose)}"))
    for e in equivocations_json(ws, view.id, view):
        who = view.label(e["author"]) if e["author"] else e["author_key"][:16]
        console.print(assemble(("WARNING", "bold red"), f" {who}'s key signed two different changes as number {e['seq']} "
                               f"(an equivocation, seen {fmt_ms(e['detected_at'])} from {e['source'][:21]}); both are kept as evidence"))
    parties = Table("party", "role", "name", "organisation", "fingerprint", box=None, title="Parties", title_justify="left")
    for p in view.parties.values():
        fp = short_fingerprint(bytes.fromhex(p.key)) if p.key else "(no device yet)"
        parties.add_row(text(p.id + (" (you)" if me and p.id == me.id else "")), text(p.role), text(p.name), text(p.org), fp)
    console.print(parties)
    if view.items:
        items = Table("item", "value", "owner", box=None, title="Items", title_justify="left")
        for i in view.items.values():
            items.add_row(assemble(i.label, " ", (f"({i.id})", "dim")), text(i.display(view.parties)), text(view.label(i.owner)))
        console.print(items)
    if view.activities:
        acts = Table("activity", "assignee", "problem owner", "status", "due", box=None, title="Activities", title_justify="left")
        for a in view.activities.values():
            status = a.status.replace("_", " ") + (f" on {view.label(a.waiting_on)}" if a.status == "waiting" else "")
            if view.blocked_by(a):
                status += f" (after {', '.join(view.blocked_by(a))})"
            due = assemble(fmt_ms(a.due), (" OVERDUE", "red") if view.is_overdue(a)
                           else " (offered)" if not view.agreed() and a.due else "",
                           # moved by what it depends on (model/deadlines.py): say so, and its own
                           (f" (after its prerequisites; agreed {fmt_ms(a.agreed_due)})", "dim")
                           if a.agreed_due is not None and a.due != a.agreed_due else "")
            acts.add_row(assemble(a.title, " ", (f"({a.id})", "dim")), text(view.label(a.assignee)), text(a.problem_owner or "-"),
                         text(status), due)
        console.print(acts)
    open_props = view.open_proposals()
    if open_props:
        props = Table("proposal", "what", "by", "answers", box=None, title="Open proposals", title_justify="left")
        from pactclient.model.actions import describe_proposal

        for p in open_props:
            answers = ", ".join(f"{view.label(pid)}: {p.answer_of(pid) or 'waiting'}" for pid in p.required)
            props.add_row(text(p.id), text(describe_proposal(p.kind, p.payload, view)), text(view.label(p.proposer)), text(answers))
        console.print(props)
    console.print(assemble(("Scorecard", "bold"), " (promises with a deadline, per party)"))
    for line in scorecard_lines(view):
        console.print(assemble(f"  {line}"))
    print_case(console, view, ws)
    console.print(assemble(("Timeline", "bold"), " (every entry is part of a signed change, verified on load)"))
    shown_entries = view.timeline if all_entries else view.timeline[-TIMELINE_SHOWN:]
    hidden = len(view.timeline) - len(shown_entries)
    if hidden:
        console.print(f"  … {hidden} earlier {'entry' if hidden == 1 else 'entries'} (pact show --all prints them all)")
    for e in shown_entries:
        mark = {"decision": "DECISION ", "message": ""}.get(e.kind, "")
        who = "" if e.kind == "event" else f"{e.person or view.label(e.author)}: "
        # Messages and decisions may span lines; nothing else in them reaches the terminal raw.
        console.print(assemble(f"  ✔ {fmt_ms(e.at)}  {who}{mark}", text(e.text, multiline=True),
                               style="dim" if e.kind == "event" else ""))

