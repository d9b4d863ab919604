"""The people behind a case on the contract screen: the problem owner line, and handing the case over.

No Textual here: the contract screen paints what these return and opens the hand-over dialog through
its own ``ask``. Names, devices and contact details were written by the party that certified them (or
arrived in a contract): they reach the screen only as ``Text`` from ``pactclient.display``.
"""

from __future__ import annotations

from rich.text import Text

from pactclient.display import assemble
from pactclient.model.views import ContractView
from pactclient.store import devices
from pactclient.tui.screens.form import Field, Form

# A customer reads the number first: it is what they came for.
CONTACT_ORDER = ("phone", "email", "hours")


def contact_line(contact) -> str:
    fields = dict(contact)
    ordered = [k for k in CONTACT_ORDER if k in fields] + sorted(k for k in fields if k not in CONTACT_ORDER)
    return " · ".join(fields[k] for k in ordered if fields[k])


def owner_line(view: ContractView, my_key: str) -> Text | None:
    """'Problem owner: Raj (BT) · 0800 800 151 · 9-17', or None when no party has named one."""
    owner = view.problem_owner()
    if owner is None:
        return None
    reach = contact_line(owner.contact)
    return assemble(("Problem owner: ", "bold"), (f"{owner.person} ({view.label(owner.party)})", "bold"),
                    " (you)" if owner.device == my_key else "", f" · {reach}" if reach else "")


def candidates(ws, view: ContractView, me: str) -> list[tuple[str, str]]:
    """(shown, device key) for each person of my party this case may go to: the devices this home knows
    of its party (``store.devices.known``) and those that wrote in the contract, unrevoked; "me" first."""
    revoked = {d.key for d in view.devices.values() if d.revoked}
    people: dict[str, tuple[str, str, str]] = {}  # key -> (person, device, contact)
    for d in devices.known(ws):
        # A home of one key has no delegation to name itself with: it cannot be a named owner.
        if d["revoked_at"] is None and d["statement"] and d["key"] not in revoked:
            people[d["key"]] = (d["person"], d["device"], contact_line(d["contact"].items()))
    for d in view.devices_of(me):
        if not d.revoked and d.key not in people:
            people[d.key] = (d.person, d.name, contact_line(d.contact))
    owner = view.owners.get(me)
    mine = ws.identity.key_hex
    out = []
    for key, (person, device, reach) in sorted(people.items(), key=lambda kv: (kv[0] != mine, kv[1][0].casefold())):
        shown = f"me ({person})" if key == mine else person
        shown += f", {device}" if device else ""
        shown += f" · {reach}" if reach else ""
        shown += " — owns it now" if owner is not None and owner.device == key else ""
        out.append((shown, key))
    return out


def why_no_hand_over(ws, view: ContractView, me: str) -> str | None:
    """Why this device may not hand the case over, or None."""
    if not me:
        return "this device is not a party of the contract"
    if view.schema < 3:
        return "this contract was made before devices: it has no problem owner to hand over"
    if view.parties[me].role == "customer":
        return "the supplier names the problem owner; a customer has no case to hand over"
    owner = view.owners.get(me)
    others = [key for _, key in candidates(ws, view, me) if owner is None or key != owner.device]
    if not others:
        return "no other person of your party is known here: pair their device first (d on the work queue)"
    return None


def hand_over_form(ws, view: ContractView, me: str) -> Form:
    choices = tuple(candidates(ws, view, me))
    owner = view.owners.get(me)
    first = next((key for _, key in choices if owner is None or key != owner.device), "")
    now = f"{owner.person} owns it now. " if owner is not None and owner.person else ""
    return Form("Hand the case over", (Field("to", "Who owns the problem from now on", first, choices),),
                now + "The new owner sees the whole history. The other parties are told, and asked nothing.",
                submit="Hand over")
