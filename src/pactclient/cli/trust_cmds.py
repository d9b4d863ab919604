"""Keys and trust: replacing a party's device key (``pact party rotate``)."""

from __future__ import annotations

import click

from pactclient.cli.common import workspace
from pactclient.cli.contracts import console, party
from pactclient.display import text
from pactclient.model import actions


def register(main: click.Group) -> None:
    """``rotate`` joins the ``party`` group that ``contracts`` registers."""
    if "rotate" not in party.commands:
        party.add_command(rotate)


@click.command(name="rotate")
@click.argument("contract")
@click.option("--new-key", required=True, help="The new device's public key (hex), from its `pact whoami --json`.")
@click.option("--party", "party_id", default="",
              help="The party whose key to replace: only your own (the default); the others cannot replace it.")
@click.option("--why", default="", help="Rationale, shown to the other parties.")
@click.pass_context
def rotate(ctx, contract, new_key, party_id, why):
    """Replace your own party's device key, at once, signed by this device's key. Whatever the old key
    signs after the replacement is refused by every copy. Another party's key cannot be replaced by
    the others (they could then write in its name)."""
    ws = workspace(ctx)
    cid = ws.resolve(contract)
    outcome = ws.act(cid, actions.replace_key, new_key.strip().lower(), party_id.strip(), rationale=why)
    console.print(text(outcome.message))
