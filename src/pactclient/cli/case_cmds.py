"""Case commands: the customer's effort, linked cases and known faults, complaints.

    pact effort CONTRACT --calls N --visits N --hours H --channel phone|store|chat|email --note TEXT
    pact link CONTRACT --follows ID | --same-fault ID
    pact fault mark FAULT-NAME CONTRACT...
    pact complain CONTRACT ACTIVITY [TEXT]      (the escalation's owner: --answer OUTCOME)
"""

from __future__ import annotations

import click
from rich.console import Console

from pactclient import catalog
from pactclient.cli.common import emit_json, json_option, workspace
from pactclient.display import assemble, text
from pactclient.errors import UsageError
from pactclient.model import case_entries, compensation, links
from pactclient.model import effort as effort_mod

console = Console(highlight=False)


def register(main: click.Group) -> None:
    for cmd in (effort, link, complain, fault):
        main.add_command(cmd)


@click.command()
@click.argument("contract")
@click.option("--calls", type=click.IntRange(0, None), default=0, help="Calls you made about the case.")
@click.option("--visits", type=click.IntRange(0, None), default=0, help="Visits you made (e.g. to the store).")
@click.option("--hours", default="", help="Time you spent, in hours (e.g. 1.5).")
@click.option("--channel", type=click.Choice(list(effort_mod.CHANNELS)), default=None,
              help="How you made contact (default: phone for calls, store for visits).")
@click.option("--note", default="", help="What happened, in a few words.")
@json_option
@click.pass_context
def effort(ctx, contract, calls, visits, hours, channel, note, as_json):
    """Record what the case cost you: calls, visits and hours spent (customers only; signed)."""
    ws = workspace(ctx)
    cid = ws.resolve(contract)
    minutes = effort_mod.parse_hours(hours)
    outcome = ws.act(cid, effort_mod.record_effort, calls, visits, minutes, channel or "", note)
    if as_json:
        emit_json(effort_mod.effort_of(ws.view(cid)).as_json())
        return
    console.print(text(outcome.message))


def earlier_id(ws, ref: str) -> str:
    """A contract this home holds (by id or unique prefix), or the full id of one it does not hold."""
    ref = (ref or "").strip().lower()
    if ws.store.match_prefix(ref) if ref else False:
        return ws.resolve(ref)
    if case_entries.CONTRACT_ID.fullmatch(ref):
        return ref
    raise UsageError(f"no contract matches {ref!r} in this home; give the earlier case's full id (32 hex digits)")


def link_earlier(ws, cid: str, ref: str, relation: str):
    """Link ``cid`` to the earlier case ``ref``, quoting the earlier case's summary when this home holds it."""
    earlier = earlier_id(ws, ref)
    summary = links.summarize(ws.view(earlier)) if ws.store.has_contract(earlier) else ""
    return ws.act(cid, links.link, earlier, relation, summary)


@click.command()
@click.argument("contract")
@click.option("--follows", "follows", default=None, metavar="ID", help="This case is a recurrence of the earlier case ID.")
@click.option("--same-fault", "same_fault", default=None, metavar="ID", help="This case has the same fault as case ID.")
@click.pass_context
def link(ctx, contract, follows, same_fault):
    """Name an earlier case: this one follows it, or has the same fault (a signed entry)."""
    if bool(follows) == bool(same_fault):
        raise UsageError("give one of --follows ID or --same-fault ID")
    ws = workspace(ctx)
    cid = ws.resolve(contract)
    outcome = link_earlier(ws, cid, follows or same_fault, "follows" if follows else "same_fault")
    console.print(text(outcome.message))


@click.command()
@click.argument("contract")
@click.argument("activity_id")
@click.argument("words", required=False, default="")
@click.option("--answer", default=None, metavar="OUTCOME",
              help="As the escalation's owner: how the complaint was handled (closes it).")
@click.pass_context
def complain(ctx, contract, activity_id, words, answer):
    """Complain about a broken commitment: opens its escalation (owner, deadline) for every party to see."""
    ws = workspace(ctx)
    cid = ws.resolve(contract)
    if answer is not None:
        outcome = ws.act(cid, compensation.answer_complaint, activity_id, answer)
    else:
        outcome = ws.act(cid, compensation.complain, activity_id, words)
    console.print(text(outcome.message))


@click.group()
def fault():
    """Known faults: one fault marked on many cases at once."""


@fault.command(name="mark")
@click.argument("name")
@click.argument("contracts", nargs=-1, required=True)
@json_option
@click.pass_context
def fault_mark(ctx, name, contracts, as_json):
    """Mark the known fault NAME on each of CONTRACTS (a supplier or coordinator; one signed entry each)."""
    ws = workspace(ctx)
    ids = [ws.resolve(c) for c in contracts]  # every name resolves before anything is written
    views = {cid: ws.view(cid) for cid in ids}
    for cid, view in views.items():
        me = view.party_by_key(ws.identity.party_key_hex)
        if me is None or me.role not in ("supplier", "coordinator"):
            raise UsageError(f"you are not a supplier or coordinator of {cid[:8]}: nothing was marked")
    done = []
    for cid in ids:
        outcome = ws.act(cid, links.mark_fault, name)
        done.append({"contract": cid, "result": outcome.message})
        if not as_json:
            console.print(assemble(f"{cid[:8]}  ", text(outcome.message)))
    if as_json:
        emit_json(done)


def template_of(ws, earlier: str) -> str | None:
    """The built-in template the earlier case used, for its recurrence (None: blank or not held)."""
    if not ws.store.has_contract(earlier):
        return None
    name = ws.view(earlier).template
    return name if name in catalog.builtin() else None
