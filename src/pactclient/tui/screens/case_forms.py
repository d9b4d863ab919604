"""The case parts of the contract screen: a panel with the chain of earlier cases, known faults,
compensation owed, complaints and the customer's effort; ``c`` complains about the selected broken
activity (or, for the escalation's owner, answers the complaint); ``h`` records the customer's effort.

``CaseActions`` is mixed into ``ContractScreen`` (which provides ``view``, ``ws``, ``me``, ``selected``,
``ask`` and ``run_edit``), so the screen itself only declares the keys and paints the panel.
"""

from __future__ import annotations

from rich.text import Text

from pactclient.display import assemble, text
from pactclient.errors import PactError, RefusedOperation
from pactclient.model import compensation, effort, links
from pactclient.model.views import ContractView
from pactclient.tui.queue import when
from pactclient.tui.screens.form import Field, Form

CASE_ACTIONS = ("complain", "effort")  # keys offered only when they apply (``why_not``)


def lookup_in(ws):
    def lookup(contract_id: str) -> ContractView | None:
        try:
            return ws.view(contract_id) if ws.store.has_contract(contract_id) else None
        except PactError:
            return None
    return lookup


def case_panel(view: ContractView, ws, now: int) -> Text:
    """What the case carries beyond its terms, one line each; empty when there is nothing."""
    v = view.at(now)
    lines: list[Text] = []
    for step in links.chain(v, lookup_in(ws)):
        what = links.summarize(step.view) if step.view is not None else f"{step.link.text} (not in this home)"
        lines.append(assemble("  " * (step.depth - 1), ("↳ ", "bold"), f"{links.RELATION_TEXT[step.link.relation]} "
                              f"{step.link.contract[:8]}: ", text(what)))
    for fault in links.faults_of(v):
        lines.append(assemble(("Known fault: ", "bold yellow"), text(fault.name), f" (marked by {v.label(fault.author)})"))
    for owed in compensation.compensation_owed(v):
        lines.append(assemble(("Compensation owed: ", "bold red"), text(owed.display(v)), " for ", text(owed.title)))
    for esc in compensation.escalations(v):
        state = {"open": f"open, due {when(esc.due)}", "answered": "answered", "void": f"void ({esc.void_reason})"}[esc.status]
        lines.append(assemble(("Complaint: ", "bold"), text(esc.title), f" — {esc.person} ({v.label(esc.owner)}), ",
                              text(state), ("  BROKEN", "bold red") if esc.broken(now) else ""))
    spent = effort.effort_of(v)
    if spent.entries or spent.resolved:
        lines.append(assemble(("Customer's effort: ", "bold"), "  ·  ".join(spent.lines())))
    return Text("\n").join(lines)


def paint_panel(panel, view: ContractView, ws, now: int) -> None:
    """Show the case panel only when it has something to say (an empty one would take a line)."""
    content = case_panel(view, ws, now)
    panel.display = bool(content.plain)
    panel.update(content)


def why_not(screen, action: str) -> str | None:
    """Why the case key for ``action`` is not offered on ``screen``, or None."""
    if action == "effort":
        party = screen.view.parties.get(screen.me())
        return None if party is not None and party.role == "customer" else "only a customer records its effort"
    return why_no_complaint(screen)


def why_no_complaint(screen) -> str | None:
    """Why ``c`` does nothing for the selected activity, or None (a complaint, or its answer, applies)."""
    view, me = screen.view.at(screen.ws.clock()), screen.me()
    aid = screen.selected("activities")
    if aid is None:
        return "there are no activities"
    act = view.activities[aid]
    esc = next((x for x in compensation.escalations(view) if x.activity == aid), None)
    if esc is not None:
        return None if esc.status == "open" and esc.owner == me else f"the complaint about {act.title!r} is {esc.status}"
    if act.assignee == me:
        return f"{act.title!r} is your own commitment"
    if aid not in {a.id for a in view.broken_commitments()}:
        return f"{act.title!r} is not a broken commitment"
    return None


class CaseActions:
    """The contract screen's case keys."""

    def action_complain(self) -> None:
        why = why_no_complaint(self)
        if why:
            self.app.report(RefusedOperation(why))
            return
        aid = self.selected("activities")
        act = self.view.activities[aid]
        esc = next((x for x in compensation.escalations(self.view.at(self.ws.clock())) if x.activity == aid), None)
        if esc is not None:
            form = Form(f"Answer the complaint: {esc.title}", (Field("outcome", "How it was handled", ""),),
                        text(esc.complaint), submit="Answer")
            self.ask(form, lambda ans: self.run_edit(compensation.answer_complaint, aid, ans["outcome"]))
            return
        rule = act.rules
        owner = rule.get("escalation_person") or self.view.label(rule.get("escalation_owner") or act.assignee)
        explain = f"{act.title!r} was due {when(act.due)} and is not done. The complaint goes to {owner}."
        form = Form("Complain about a broken commitment", (Field("text", "What went wrong", ""),), explain, submit="Complain")
        self.ask(form, lambda ans: self.run_edit(compensation.complain, aid, ans["text"]))

    def action_effort(self) -> None:
        why = why_not(self, "effort")
        if why:
            self.app.report(RefusedOperation(why))
            return
        fields = (
            Field("calls", "Calls", "0"), Field("visits", "Visits", "0"), Field("hours", "Hours spent", "", placeholder="e.g. 1.5"),
            Field("channel", "Channel", "phone", tuple((c, c) for c in effort.CHANNELS)), Field("note", "Note", ""),
        )

        def then(ans):
            calls, visits = (_count(ans[k], k) for k in ("calls", "visits"))
            self.run_edit(effort.record_effort, calls, visits, effort.parse_hours(ans["hours"]), ans["channel"], ans["note"])
        self.ask(Form("Record your effort", fields, "What this case cost you: calls, visits, time.", submit="Record"), then)


def _count(raw: str, name: str) -> int:
    from pactclient.errors import UsageError

    raw = (raw or "0").strip()
    if not raw.isdigit():
        raise UsageError(f"{name}: a whole number of zero or more, not {raw!r}")
    return int(raw)
