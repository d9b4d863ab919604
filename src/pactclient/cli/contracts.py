"""Identity, contracts and bundles: the commands that work one local copy."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from pactclient import catalog
from pactclient.cli import case_cmds
from pactclient.cli.common import (check_output_paths, checked_names, emit_json, fmt_ms, force_deadline_option, force_option,
                                  home_of, json_option,
                                  parse_deadline, workspace)
from pactclient.cli.progress import working
from pactclient.cli.render import changes_json, contract_json, print_contract
from pactclient.display import assemble, text
from pactclient.errors import UsageError
from pactclient.store import worklist
from pactclient.identity.device import DeviceIdentity
from pactclient.model import actions
from pactclient.sync import bundle

console = Console(highlight=False)


def register(main: click.Group) -> None:
    for cmd in (init, whoami, templates, new, list_contracts, show, note, accept, reject):
        main.add_command(cmd)
    for group in (party, item, activity, propose, bundle_group):
        main.add_command(group)


# -- identity ----------------------------------------------------------------------------------------


@click.command()
@click.option("--name", required=True, help="Your name, as the other parties will see it.")
@click.option("--org", default="", help="Your organisation (e.g. BT); empty for a private person.")
@json_option
@click.pass_context
def init(ctx, name, org, as_json):
    """Create this device's identity (an Ed25519 key) in the home directory."""
    checked_names(name=name, org=org)
    identity = DeviceIdentity.create(home_of(ctx), name, org)
    if as_json:
        emit_json({"home": str(home_of(ctx)), **identity.to_public_dict()})
    else:
        console.print(assemble("Created identity for ", (identity.name, "bold"), f" in {home_of(ctx)}"))
        console.print(f"Fingerprint: {identity.fingerprint}")
        console.print("Give your public key to the other parties: pact whoami --json")


@click.command()
@json_option
@click.pass_context
def whoami(ctx, as_json):
    """Show this device's name, organisation, fingerprint and public key."""
    identity = DeviceIdentity.load(home_of(ctx))
    if as_json:
        emit_json({"home": str(home_of(ctx)), **identity.to_public_dict()})
        return
    console.print(assemble(identity.name + (f" ({identity.org})" if identity.org else "")))
    console.print(f"fingerprint  {identity.short_fingerprint}  (full: {identity.fingerprint})")
    console.print(f"public key   {identity.key_hex}")


# -- templates and contracts -------------------------------------------------------------------------


@click.command()
@json_option
def templates(as_json):
    """List the built-in contract templates."""
    rows = catalog.summaries()
    if as_json:
        emit_json(rows)
        return
    table = Table("name", "roles", "items", "activities", "what it is for", box=None)
    for r in rows:
        table.add_row(text(r["name"]), text(", ".join(r["roles"])), str(r["items"]), str(r["activities"]), text(r["description"]))
    console.print(table)


@click.command()
@click.argument("title")
@click.option("--template", "template_name", default=None, help="A built-in template name or a path to a .toml file.")
@click.option("--as", "role", default=None, help="Your role in the contract (default: the template's first).")
@click.option("--follows", default=None, metavar="ID", help="A recurrence of the earlier case ID (its template, linked).")
@json_option
@click.pass_context
def new(ctx, title, template_name, role, follows, as_json):
    """Open a new contract, from a template or blank (customer and supplier)."""
    ws = workspace(ctx)
    earlier = case_cmds.earlier_id(ws, follows) if follows else None  # checked before anything is written
    template_name = template_name or (case_cmds.template_of(ws, earlier) if earlier else None)
    tpl = catalog.load(template_name) if template_name else {"name": "", "parties": [{"role": "customer"}, {"role": "supplier"}]}
    cid = ws.create(title, tpl, role)
    if earlier:
        case_cmds.link_earlier(ws, cid, earlier, "follows")
    view = ws.view(cid)
    if as_json:
        emit_json(contract_json(view, ws))
        return
    console.print(assemble("Opened ", (view.title, "bold"), f"  id {cid}"))
    empty = [p for p in view.parties.values() if not p.key]
    if empty:
        console.print("Add the other parties with their public keys:")
        for p in empty:
            console.print(assemble(f"  pact party add {cid[:8]} --role {p.id} --key HEX --name NAME"))


QUEUE_PAGE = 50  # rows printed unless --limit or --all: a queue is read from the top


@click.command(name="list")
@click.argument("words", nargs=-1)
@click.option("--waiting-on", type=click.Choice(["me", "them"]), help="Only contracts waiting on you, or on another party.")
@click.option("--overdue", is_flag=True, help="Only contracts whose next deadline has passed.")
@click.option("--light", "lights", type=click.Choice(worklist.LIGHTS), multiple=True, help="Only these lights (repeatable).")
@click.option("--template", default="", help="Only contracts made from this template.")
@click.option("--resolved/--open", "resolved", default=None, help="Only resolved, or only open, contracts.")
@click.option("--limit", type=click.IntRange(1, 10**9), help=f"Print at most this many (default {QUEUE_PAGE}).")
@click.option("--all", "show_all", is_flag=True, help="Print every matching contract.")
@json_option
@click.pass_context
def list_contracts(ctx, words, waiting_on, overdue, lights, template, resolved, limit, show_all, as_json):
    """The work queue: waiting on you first, then overdue, then the soonest deadline. WORDS narrow it to
    titles containing every word. Read from the summary index: no document is loaded."""
    ws = workspace(ctx)
    now = ws.clock()
    every = [worklist.summary_row(s, now) for s in ws.summaries()]
    wanted = worklist.QueueFilter(waiting_on or "", overdue, tuple(lights), template, resolved, " ".join(words))
    rows = worklist.queue(every, wanted)
    shown = rows if show_all else rows[:limit or (len(rows) if as_json else QUEUE_PAGE)]
    if as_json:
        emit_json(shown)
        return
    if not every:
        console.print("No contracts yet. Start one: pact new \"Broadband fault\" --template broadband-fault")
        return
    count = worklist.totals(rows)
    console.print(f"{count['contracts']} contract{'s' if count['contracts'] != 1 else ''}"
                  + (f" of {len(every)}" if len(rows) != len(every) else "")
                  + f" · {count['waiting_on_me']} waiting on you · {count['overdue']} overdue · "
                  f"{count['red']} red · {count['amber']} amber · {count['green']} green")
    if not rows:
        console.print("None matches these filters.")
        return
    table = Table("id", "light", "title", "owner", "turn", "next deadline", box=None)
    colours = {"red": "red", "amber": "yellow", "green": "green"}
    for r in shown:
        turn = "you" if r["my_turn"] else (", ".join(r["turn_labels"]) or "-")
        due = f"{fmt_ms(r['next_due'])} {r['next_due_title']}" if r["next_due"] else "-"
        table.add_row(text(r["id"][:8]), assemble(("●", colours[r["light"]]), f" {r['light']}"), text(r["title"]),
                      text(r["owner"] or "-"), text(turn), text(due))
    console.print(table)
    if len(shown) < len(rows):
        console.print(f"… {len(rows) - len(shown)} more (--all, or --limit N)")


@click.command()
@click.argument("contract")
@json_option
@click.option("--changes/--no-changes", default=True, help="Include every change with its author and signature (JSON).")
@click.option("--all", "all_entries", is_flag=True, help="Print every timeline entry (default: the last 15).")
@click.pass_context
def show(ctx, contract, as_json, changes, all_entries):
    """Show a contract: parties, items, activities, proposals, timeline and derived views."""
    ws = workspace(ctx)
    cid = ws.resolve(contract)
    view = ws.view(cid)
    if as_json:
        data = contract_json(view, ws)
        if changes:
            data["changes"] = changes_json(ws, cid, view)
        emit_json(data)
        return
    print_contract(console, view, ws, all_entries)


# -- parties, items, activities ---------------------------------------------------------------------


@click.group()
def party():
    """Parties of a contract."""


@party.command(name="add")
@click.argument("contract")
@click.option("--key", required=True, help="The party's public key (hex), from its `pact whoami --json`.")
@click.option("--name", required=True)
@click.option("--role", required=True, help="customer, supplier, coordinator, observer, or a role of the template.")
@click.option("--org", default="")
@click.option("--why", default="", help="Rationale, if the other parties must agree.")
@click.pass_context
def party_add(ctx, contract, key, name, role, org, why):
    """Add a party by its device key (a proposal, if other parties have already signed)."""
    _run(ctx, contract, actions.add_party, key.strip().lower(), name, role, org, rationale=why)


@click.group()
def item():
    """Data items of a contract."""


@item.command(name="set")
@click.argument("contract")
@click.argument("item_id")
@click.argument("value", required=False)
@click.option("--amount", help="For money: the amount, e.g. 250.00.")
@click.option("--currency", help="For money: ISO code, e.g. GBP.")
@click.option("--owed-by", help="For money: the party that owes.")
@click.option("--owed-to", help="For money: the party that is owed.")
@click.pass_context
def item_set(ctx, contract, item_id, value, amount, currency, owed_by, owed_to):
    """Set an item's value (only its owner may)."""
    _run(ctx, contract, actions.set_item, item_id, value, amount=amount, currency=currency, owed_by=owed_by, owed_to=owed_to)


@click.group()
def activity():
    """Activities: who does what by when."""


@activity.command(name="add")
@click.argument("contract")
@click.argument("title")
@click.option("--assignee", required=True, help="The party that must do it.")
@click.option("--due", default=None, help="24h, 3d, or a date/time like 2026-12-01T17:00 (UTC).")
@click.option("--detail", default="")
@click.option("--owner", "problem_owner", default="", help="The named person who owns the problem.")
@click.option("--depends-on", multiple=True, help="An activity that must be finished first (repeatable).")
@click.option("--why", default="", help="Rationale, if the other parties must agree.")
@force_deadline_option
@click.pass_context
def activity_add(ctx, contract, title, assignee, due, detail, problem_owner, depends_on, why, force_deadline):
    """Add an activity (a proposal, if other parties have already signed)."""
    ws = workspace(ctx)
    due_ms = parse_deadline(due, ws.clock(), force_deadline) if due else None
    _run(ctx, contract, actions.add_activity, title, assignee, due_ms, detail=detail, problem_owner=problem_owner,
         depends_on=tuple(depends_on), rationale=why)


def _status_command(action: str, help_text: str):
    @click.argument("contract")
    @click.argument("activity_id")
    @click.option("--outcome", default="", help="What came of it.")
    @click.option("--owner", "problem_owner", default="", help="The named person who owns the problem from now on.")
    @click.pass_context
    def command(ctx, contract, activity_id, outcome, problem_owner, **kw):
        _run(ctx, contract, actions.change_status, activity_id, action, waiting_on=kw.get("on") or "", outcome=outcome,
             problem_owner=problem_owner)

    command.__doc__ = help_text
    if action == "wait":
        command = click.option("--on", required=True, help="The party it waits on.")(command)
    return activity.command(name=action)(command)


_status_command("start", "Mark an activity as in progress.")
_status_command("wait", "Mark an activity as waiting on a party.")
_status_command("done", "Mark an activity as done.")
_status_command("cancel", "Cancel an activity.")


@click.command()
@click.argument("contract")
@click.argument("text")
@click.option("--decision", is_flag=True, help="Record a decision rather than a message.")
@click.pass_context
def note(ctx, contract, text, decision):
    """Add a message (or a recorded decision) to the timeline."""
    _run(ctx, contract, actions.note, text, decision=decision)


# -- proposals ---------------------------------------------------------------------------------------


@click.group()
@click.argument("contract")
@click.pass_context
def propose(ctx, contract):
    """Propose a change to the terms; it applies when every party has accepted.

    Example: pact propose 5791 due diagnose 5d --why "an engineer must visit"
    """
    ctx.meta["proposal_contract"] = contract


def why_option(fn):
    return click.option("--why", default="", help="The rationale shown to the other parties.")(fn)


def _proposal(ctx, kind: str, payload: dict):
    _run(ctx, ctx.meta["proposal_contract"], actions.propose, kind, payload, ctx.params.get("why", ""))


@propose.command(name="due")
@why_option
@click.argument("activity_id")
@click.argument("when")
@force_deadline_option
@click.pass_context
def propose_due(ctx, activity_id, when, why, force_deadline):
    """Move an activity's deadline (WHEN: 24h, 3d or a date/time; --force for one in the past or years ahead)."""
    _proposal(ctx, "change_due", {"id": activity_id, "due": parse_deadline(when, workspace(ctx).clock(), force_deadline)})


@propose.command(name="assignee")
@why_option
@click.argument("activity_id")
@click.argument("party_id")
@click.pass_context
def propose_assignee(ctx, activity_id, party_id, why):
    """Give an activity to another party."""
    _proposal(ctx, "change_assignee", {"id": activity_id, "assignee": party_id})


@propose.command(name="add-activity")
@why_option
@click.argument("title")
@click.option("--assignee", required=True)
@click.option("--due", default=None)
@click.option("--detail", default="")
@click.option("--owner", "problem_owner", default="")
@force_deadline_option
@click.pass_context
def propose_add_activity(ctx, title, assignee, due, detail, problem_owner, why, force_deadline):
    """Add an activity."""
    ws = workspace(ctx)
    due_ms = parse_deadline(due, ws.clock(), force_deadline) if due else None
    _run(ctx, ctx.meta["proposal_contract"], actions.add_activity, title, assignee, due_ms, detail=detail,
         problem_owner=problem_owner, rationale=why)


@propose.command(name="change-activity")
@why_option
@click.argument("activity_id")
@click.option("--title")
@click.option("--detail")
@click.option("--owner", "problem_owner")
@click.pass_context
def propose_change_activity(ctx, activity_id, title, detail, problem_owner, why):
    """Change an activity's title, detail or problem owner."""
    fields = {k: v for k, v in {"title": title, "detail": detail, "problem_owner": problem_owner}.items() if v is not None}
    if not fields:
        raise UsageError("say what to change: --title, --detail or --owner")
    _proposal(ctx, "change_activity", {"id": activity_id, "fields": fields})


@propose.command(name="remove-activity")
@why_option
@click.argument("activity_id")
@click.pass_context
def propose_remove_activity(ctx, activity_id, why):
    """Remove an activity."""
    _proposal(ctx, "remove_activity", {"id": activity_id})


@propose.command(name="add-item")
@why_option
@click.argument("item_id")
@click.option("--label", default=None)
@click.option("--kind", type=click.Choice(["text", "number", "date", "choice", "money"]), default="text")
@click.option("--owner", required=True, help="The party that sets its value.")
@click.option("--choice", "choices", multiple=True, help="For a choice item (repeatable).")
@click.option("--currency", default="")
@click.pass_context
def propose_add_item(ctx, item_id, label, kind, owner, choices, currency, why):
    """Add a data item."""
    payload = {"id": actions.slug(item_id), "label": label or item_id, "kind": kind, "owner": owner,
               "choices": list(choices), "currency": currency.upper()}
    _proposal(ctx, "add_item", payload)


@propose.command(name="change-item")
@why_option
@click.argument("item_id")
@click.option("--label")
@click.option("--owner")
@click.pass_context
def propose_change_item(ctx, item_id, label, owner, why):
    """Change an item's label or owner."""
    fields = {k: v for k, v in {"label": label, "owner": owner}.items() if v is not None}
    if not fields:
        raise UsageError("say what to change: --label or --owner")
    _proposal(ctx, "change_item", {"id": item_id, "fields": fields})


@propose.command(name="remove-item")
@why_option
@click.argument("item_id")
@click.pass_context
def propose_remove_item(ctx, item_id, why):
    """Remove a data item."""
    _proposal(ctx, "remove_item", {"id": item_id})


@click.command()
@click.argument("contract")
@click.argument("proposal_id")
@click.option("--why", default="")
@click.pass_context
def accept(ctx, contract, proposal_id, why):
    """Accept a proposal."""
    _run(ctx, contract, actions.answer, proposal_id, True, why)


@click.command()
@click.argument("contract")
@click.argument("proposal_id")
@click.option("--why", default="", help="Why you reject it (shown to the other parties).")
@click.pass_context
def reject(ctx, contract, proposal_id, why):
    """Reject a proposal."""
    _run(ctx, contract, actions.answer, proposal_id, False, why)


# -- bundles -----------------------------------------------------------------------------------------


@click.group(name="bundle")
def bundle_group():
    """Exchange signed changes by file, for parties that never meet online."""


@bundle_group.command(name="export")
@click.argument("contract")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="File to write.")
@force_option
@click.pass_context
def bundle_export(ctx, contract, output, force):
    """Write every signed change of a contract to a file (an existing file only with --force)."""
    ws = workspace(ctx)
    cid = ws.resolve(contract)
    check_output_paths(output, force=force)
    with working(f"writing {output}…"):
        count = bundle.write(ws, cid, Path(output))
    console.print(assemble(f"Wrote {count} signed changes of {cid[:8]} to {output}"))


@bundle_group.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False))
@json_option
@click.pass_context
def bundle_import(ctx, file, as_json):
    """Admit the signed changes in a bundle file (each is verified; a bad one refuses the file)."""
    ws = workspace(ctx)
    with working(f"checking the signed changes in {file}…"):
        received = bundle.read(ws, Path(file))
    view = ws.view(received.contract_id)
    if as_json:
        emit_json({"contract": received.contract_id, "admitted": len(received.admitted),
                   "hashes": [c.hash.hex() for c in received.admitted], "files": received.files})
        return
    files = f" and {received.files} attached file(s)" if received.files else ""
    console.print(assemble(f"Admitted {len(received.admitted)} new signed changes{files} into {view.title!r} ({received.contract_id[:8]})"))
    if view.party_by_key(ws.identity.party_key_hex) is None:
        console.print("Note: this device is not (yet) a party of that contract; you can read it but not act on it.")


# -- shared ----------------------------------------------------------------------------------------


def _run(ctx, contract, action, *args, **kwargs):
    ws = workspace(ctx)
    cid = ws.resolve(contract)
    outcome = ws.act(cid, action, *args, **kwargs)
    console.print(text(outcome.message))
    return outcome
