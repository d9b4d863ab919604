"""How a contract's case parts are printed (``pact show``) and put into its JSON: the chain of earlier
cases, known faults, complaints and their escalations, compensation owed and the customer's effort."""

from __future__ import annotations

from rich.console import Console

from pactclient.cli.common import fmt_ms
from pactclient.display import assemble, text
from pactclient.errors import PactError
from pactclient.model import compensation, effort, links
from pactclient.model.views import ContractView


def lookup_in(ws):
    """A function giving the view of a contract this home holds, or None."""
    def lookup(contract_id: str) -> ContractView | None:
        try:
            return ws.view(contract_id) if ws.store.has_contract(contract_id) else None
        except PactError:  # held but unreadable here: shown from the link's own summary
            return None
    return lookup


def case_json(view: ContractView, ws) -> dict:
    """The case parts of ``pact show --json`` (keys in docs/cli.md)."""
    steps = links.chain(view, lookup_in(ws))
    return {
        "links": [lk.as_json() for lk in links.links_of(view)],
        "chain": [{"depth": s.depth, **s.link.as_json(), "held": s.view is not None,
                   "now": links.summarize(s.view) if s.view is not None else None} for s in steps],
        "known_faults": [f.as_json() for f in links.faults_of(view)],
        "escalations": [x.as_json(view.now) for x in compensation.escalations(view)],
        "compensation_owed": [c.as_json(view) for c in compensation.compensation_owed(view)],
    }


def print_case(console: Console, view: ContractView, ws) -> None:
    """The case parts of ``pact show``, after the activities: each only when there is something to say."""
    steps = links.chain(view, lookup_in(ws))
    if steps:
        console.print(assemble(("Earlier cases", "bold")))
        for s in steps:
            indent = "  " * s.depth
            console.print(assemble(f"{indent}{links.RELATION_TEXT[s.link.relation]} {s.link.contract[:8]}: ",
                                   text(links.summarize(s.view) if s.view is not None else s.link.text)))
            if s.view is not None:
                for e in s.view.timeline[-3:]:
                    console.print(assemble(f"{indent}  {fmt_ms(e.at)}  ", text(e.text), style="dim"))
            else:
                console.print(assemble(f"{indent}  (not in this home: as {view.label(s.link.author)} summarised it)",
                                       style="dim"))
    faults = links.faults_of(view)
    for f in faults:
        console.print(assemble(("Known fault: ", "bold yellow"), text(f.name),
                               f" (marked by {view.label(f.author)}, {fmt_ms(f.at)})"))
    for c in compensation.compensation_owed(view):
        console.print(assemble(("Compensation owed: ", "bold red"), text(c.display(view)),
                               " for ", text(c.title), f" (broken {fmt_ms(c.broken_at)})"))
    for x in compensation.escalations(view):
        state = {"open": f"open, due {fmt_ms(x.due)}", "answered": f"answered {fmt_ms(x.answered_at)}",
                 "void": f"void: {x.void_reason}"}[x.status]
        late = ("  BROKEN", "red") if x.broken(view.now) else ""
        console.print(assemble(("Complaint: ", "bold"), text(x.title), f" — owner {x.person} ({view.label(x.owner)}), ",
                               text(state), late))
        if x.outcome:
            console.print(assemble("  ", text(x.outcome), style="dim"))
    summary = effort.effort_of(view)
    if summary.entries or summary.resolved:
        console.print(assemble(("Customer's effort", "bold"), "  " + "  ·  ".join(summary.lines())))
