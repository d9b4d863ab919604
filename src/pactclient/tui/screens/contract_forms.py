"""The dialogs of the contract screen: what each asks, and how its answers become model arguments.

Turning answers into arguments raises ``UsageError`` with a one-line reason on bad input, which the
open dialog shows; nothing is written in that case.
"""

from __future__ import annotations

import re

from pactclient.cli.common import parse_when
from pactclient.errors import UsageError
from pactclient.model.actions import parse_duration, slug
from pactclient.model.deadlines import deadline_concern
from pactclient.model.schema import ITEM_KINDS
from pactclient.model.views import ContractView, Item
from pactclient.tui.screens.form import Field, Form

PROPOSAL_CHOICES = (
    ("move a deadline", "change_due"),
    ("give an activity to another party", "change_assignee"),
    ("add an activity", "add_activity"),
    ("remove an activity", "remove_activity"),
    ("add a data item", "add_item"),
    ("remove a data item", "remove_item"),
)
WHEN_HINT = "24h, 3d, or a date/time like 2026-12-01T17:00 (UTC)"


def _parties(view: ContractView) -> tuple[tuple[str, str], ...]:
    return tuple((f"{p.label} ({p.role})", pid) for pid, p in view.parties.items())


def _activities(view: ContractView) -> tuple[tuple[str, str], ...]:
    return tuple((f"{a.title} [{aid}]", aid) for aid, a in view.activities.items())


def item_form(item: Item, view: ContractView) -> Form:
    if item.kind == "money":
        amount = "" if item.amount is None else f"{item.amount / 100:.2f}"
        fields = (
            Field("amount", "Amount", amount, placeholder="e.g. 250.00"),
            Field("currency", "Currency", item.currency or "GBP"),
            Field("owed_by", "Owed by", item.owed_by, _parties(view)),
            Field("owed_to", "Owed to", item.owed_to, _parties(view)),
        )
        return Form(f"Set {item.label}", fields, "Money always says who owes whom.")
    if item.kind == "choice" and item.choices:
        return Form(f"Set {item.label}", (Field("value", item.label, item.value or "", tuple((c, c) for c in item.choices)),))
    placeholder = "YYYY-MM-DD" if item.kind == "date" else ""
    return Form(f"Set {item.label}", (Field("value", f"{item.label} ({item.kind})", str(item.value or ""), placeholder=placeholder),))


def item_args(item: Item, answers: dict) -> dict:
    """Model arguments from the item dialog. Money is checked here first, so that what is missing is
    named by the dialog's own fields (the model's messages name the CLI's flags)."""
    if item.kind == "money":
        if not answers["amount"]:
            raise UsageError("Amount: say how much (e.g. 250.00)")
        if not re.fullmatch(r"[A-Za-z]{3}", answers["currency"]):
            raise UsageError("Currency: a three-letter code, e.g. GBP")
        if not answers["owed_by"] or not answers["owed_to"]:
            raise UsageError("money must say who owes whom: choose a party in both 'Owed by' and 'Owed to'")
        if answers["owed_by"] == answers["owed_to"]:
            raise UsageError("'Owed by' and 'Owed to' must be two different parties: a party cannot owe itself")
        return {"amount": answers["amount"], "currency": answers["currency"], "owed_by": answers["owed_by"],
                "owed_to": answers["owed_to"]}
    return {"value": answers["value"] or None}


def activity_form(view: ContractView, default_assignee: str) -> Form:
    return Form("Add an activity", (
        Field("title", "What must be done"),
        Field("assignee", "Who does it", default_assignee, _parties(view)),
        Field("due", "By when", placeholder=WHEN_HINT),
        Field("detail", "Detail"),
        Field("problem_owner", "Named problem owner (a person)"),
        Field("why", "Why (shown to the other parties)"),
    ), "Once another party has signed, every party must accept a new activity.", submit="Propose")


def deadline(text: str, now: int) -> int:
    """A deadline typed in a dialog. One in the past or years ahead is refused: in a dialog it is nearly
    always a typo, and once signed it cannot be taken back (the CLI takes it with --force)."""
    due = parse_when(text, now)
    concern = deadline_concern(due, now)
    if concern:
        raise UsageError(f"{concern}: check the date")
    return due


def activity_args(answers: dict, now: int) -> tuple[tuple, dict]:
    if not answers["title"]:
        raise UsageError("an activity needs a title")
    due = deadline(answers["due"], now) if answers["due"] else None
    return (answers["title"], answers["assignee"], due), {
        "detail": answers["detail"], "problem_owner": answers["problem_owner"], "rationale": answers["why"]}


def wait_form(view: ContractView, me: str) -> Form:
    others = tuple(c for c in _parties(view) if c[1] != me) or _parties(view)
    return Form("Waiting on…", (Field("waiting_on", "Waiting on", others[0][1], others),
                                Field("outcome", "What for")))


def outcome_form(title: str) -> Form:
    return Form(title, (Field("outcome", "What came of it (optional)"),))


def note_form(decision: bool) -> Form:
    if decision:
        return Form("Record a decision", (Field("text", "The decision, in one sentence"),),
                    "A decision is kept on the timeline so nobody can later deny it was made.")
    return Form("Write a message", (Field("text", "Message"),))


def _items(view: ContractView) -> tuple[tuple[str, str], ...]:
    return tuple((f"{it.label} [{iid}]", iid) for iid, it in view.items.items())


# Which fields each kind of proposal asks for (the dialog asks for the kind first, then shows only these).
FOR_ACTIVITY = ("change_due", "change_assignee", "remove_activity")


def propose_form(view: ContractView, activity_id: str = "") -> Form:
    acts, items = _activities(view), _items(view)
    return Form("Propose a change", (
        Field("kind", "What do you propose?", "change_due", PROPOSAL_CHOICES),
        Field("activity", "Activity", activity_id or (acts[0][1] if acts else ""), acts, shown_for=FOR_ACTIVITY),
        Field("title", "Title of the new activity, or label of the new item", shown_for=("add_activity", "add_item")),
        Field("due", "New deadline", placeholder=WHEN_HINT, shown_for=("change_due", "add_activity")),
        Field("assignee", "Party (who does it, or who sets the new item)", "", _parties(view),
              shown_for=("change_assignee", "add_activity", "add_item")),
        Field("item_kind", "Kind of new item", "text", tuple((k, k) for k in ITEM_KINDS), shown_for=("add_item",)),
        Field("item", "Item to remove", items[0][1] if items else "", items, shown_for=("remove_item",)),
        Field("why", "Why (shown to the other parties)"),
    ), "The change applies once every party has accepted it.", submit="Propose", switch="kind")


def proposal_args(answers: dict, now: int) -> tuple[str, dict, str]:
    """(kind, payload, rationale) for ``actions.propose``; add_activity is built the same way as the CLI's."""
    kind, why = answers["kind"], answers["why"]
    if kind == "change_due":
        if not answers["due"]:
            raise UsageError("say the new deadline (e.g. 3d or 2026-12-01)")
        return kind, {"id": answers["activity"], "due": deadline(answers["due"], now)}, why
    if kind == "change_assignee":
        if not answers["assignee"]:
            raise UsageError("choose the party that should do it")
        return kind, {"id": answers["activity"], "assignee": answers["assignee"]}, why
    if kind == "remove_activity":
        return kind, {"id": answers["activity"]}, why
    if kind == "add_item":
        if not answers["title"] or not answers["assignee"]:
            raise UsageError("a new item needs a label and the party that sets it")
        return kind, {"id": slug(answers["title"]), "label": answers["title"], "kind": answers["item_kind"] or "text",
                      "owner": answers["assignee"], "choices": [], "currency": "GBP" if answers["item_kind"] == "money" else ""}, why
    if kind == "remove_item":
        if not answers["item"]:
            raise UsageError("name the item to remove")
        return kind, {"id": answers["item"]}, why
    if kind == "add_activity":
        if not answers["title"] or not answers["assignee"]:
            raise UsageError("a new activity needs a title and the party that does it")
        return kind, {}, why  # the screen routes this through actions.add_activity
    raise UsageError(f"unknown change {kind!r}")


def answer_form(accept: bool, summary: str) -> Form:
    word = "Accept" if accept else "Reject"
    return Form(f"{word} proposal", (Field("reason", "Reason (optional)" if accept else "Why not"),), summary, submit=word)


def _roles(view: ContractView) -> tuple[list[str], tuple[tuple[str, str], ...]]:
    """(open roles of the contract, every role to choose from: open ones first)."""
    open_roles = sorted({p.role for p in view.parties.values() if not p.key})
    others = sorted({p.role for p in view.parties.values()} | {"customer", "supplier", "coordinator", "observer"})
    return open_roles, tuple((f"{r} (open slot)", r) for r in open_roles) + tuple((r, r) for r in others if r not in open_roles)


def invite_form(view: ContractView) -> Form:
    open_roles, choices = _roles(view)
    return Form("Invite a party", (
        Field("role", "Their role", open_roles[0] if open_roles else "", choices),
        Field("ttl", "Valid for", "24h", placeholder="30m, 24h, 3d"),
    ), "Enter makes the code. You get a one-time code. The other party joins with it (`pact join CODE`, or j in their pact); "
       "this device then adds them as a party, signed, and sends them the contract.", submit="Make code",
        focus="ttl")  # the open slot is chosen already: Enter in "Valid for" makes the code


def invite_args(answers: dict) -> tuple[str, int]:
    """(role, validity in ms) from the invite dialog; a bad validity says which field and what it takes."""
    if not answers["role"]:
        raise UsageError("choose their role")
    try:
        ttl = parse_duration(answers["ttl"] or "24h")
    except UsageError as exc:
        raise UsageError(f"Valid for: {exc}") from None
    return answers["role"], ttl


def add_party_form(view: ContractView, offline: bool = False) -> Form:
    open_roles, choices = _roles(view)
    why = ("No sync engine is running here, so there is no invite code: add the party by key, then send "
           "them a bundle (b). " if offline else "")
    return Form("Add a party by key", (
        Field("key", "Their public key (64 hex characters, from `pact whoami --json`)"),
        Field("name", "Name"),
        Field("role", "Role", open_roles[0] if open_roles else "supplier", choices),
        Field("org", "Organisation"),
        Field("why", "Why (shown to the other parties)"),
    ), why + "Adding a party is a change to the terms: once another party has signed, every party must accept it.",
        submit="Add")
