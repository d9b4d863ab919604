"""The scorecard and the resolution of a contract in words: what `pact show` prints and the TUI can show.

The numbers come from ``ContractView.scorecard()``, the same computation as `pact show --json`,
`pact verify` and the HTML report, so every place a user looks says the same thing. Pure: the words
are built from the view alone (its ``now`` included); printing and styling are the caller's.
"""

from __future__ import annotations

from pactclient.model.views import ContractView


def span(ms: int | None) -> str:
    """'3 d 4 h', '5 h 12 min'; '-' for none."""
    if ms is None:
        return "-"
    hours = max(0, ms) // 3_600_000
    return f"{hours // 24} d {hours % 24} h" if hours >= 24 else f"{hours} h {(max(0, ms) // 60_000) % 60} min"


def resolution_line(view: ContractView) -> str | None:
    """'Resolved: every activity is finished and no proposal is open (in 2 d 3 h)'; None while it is not."""
    card = view.scorecard()
    if not card.resolved:
        return None
    return f"Resolved: every activity is finished and no proposal is open (in {span(card.time_to_resolution_ms)})"


def party_score_line(view: ContractView, score) -> str:
    """'BT (supplier): 2 kept, 1 broken, 1 open; 3 messages' — promises with a deadline, per party."""
    if score.offered:
        counts = f"{score.offered} offered (judged once every party has joined)"
    else:
        counts = f"{score.kept} kept, {score.broken} broken, {score.open} open"
    role = view.parties[score.party].role if score.party in view.parties else ""
    who = view.label(score.party) + (f" ({role})" if role and role != view.label(score.party) else "")
    return f"{who}: {counts}; {score.messages} message{'s' if score.messages != 1 else ''}"


def scorecard_lines(view: ContractView) -> list[str]:
    """The scorecard as lines of text: the contract's age and contacts, then one line per party."""
    card = view.scorecard()
    head = f"age {span(card.age_ms)}, {card.contacts} contact{'s' if card.contacts != 1 else ''} (messages and decisions)"
    if card.resolved:
        head += f", resolved in {span(card.time_to_resolution_ms)}"
    return [head] + [party_score_line(view, s) for s in card.per_party]
