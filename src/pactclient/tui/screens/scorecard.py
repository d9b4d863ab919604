"""The scorecard line of the contract screen: promises kept and broken per party, and whether the case
is resolved (and how long it took). Computed by ``ContractView.scorecard()``, the same figures as
``pact show --json``, ``pact verify`` and the HTML report.
"""

from __future__ import annotations

from rich.text import Text

from pactclient.display import assemble
from pactclient.model.views import ContractView
from pactclient.tui.queue import span


def party_score(view: ContractView, score) -> str:
    parts = [f"{score.kept} kept", f"{score.broken} broken"]
    if score.open:
        parts.append(f"{score.open} open")
    if score.offered:
        parts.append(f"{score.offered} offered")
    return f"{view.label(score.party)} {', '.join(parts)}"


def line(view: ContractView) -> Text:
    card = view.scorecard()
    if card.resolved:
        took = f" in {span(card.time_to_resolution_ms)}" if card.time_to_resolution_ms else ""
        state = (f"✔ Resolved{took}", "bold green")
    else:
        state = (f"open for {span(card.age_ms)}", "")
    promises = "  ·  ".join(party_score(view, s) for s in card.per_party)
    contacts = f"{card.contacts} message{'s' if card.contacts != 1 else ''}"
    # Party names are other parties' words: assembled as plain text, never markup.
    return assemble(state, "  ·  Promises: ", promises or "none", "  ·  ", contacts)
