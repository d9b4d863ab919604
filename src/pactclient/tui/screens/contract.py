"""One contract: parties, items, activities, proposals and the timeline, worked from the keyboard.

Every edit goes through ``Workspace.act`` (one signed, durable change). Keys for edits the user's role
may not make are not offered (left out of the footer), and the line under the activities says why; if
such an edit is tried anyway (its key, or the command palette) the reason is shown as a notification.

Every string painted here was written by some party: cells, the head line and the hints are ``Text``
made by ``pactclient.display`` (a plain string cell would be parsed as markup, and escape sequences
would reach the terminal).
"""

from __future__ import annotations

import ast

from rich.console import Console
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from pactclient.display import assemble, text
from pactclient.errors import PactError, RefusedOperation, UsageError
from pactclient.model import actions, rules
from pactclient.model.views import ContractView
from pactclient.tui.messages import StoreChanged
from pactclient.tui.queue import time_left, when
from pactclient.tui.screens import case_forms
from pactclient.tui.screens import contract_forms as forms
from pactclient.tui.screens import contract_hints as hints
from pactclient.tui.screens import file_export, scorecard
from pactclient.tui.screens import people
from pactclient.tui.screens.form import FormScreen
from pactclient.tui.screens.invite import InviteCodeScreen
from pactclient.tui.screens.home import light_cell
from pactclient.tui.widgets.status_bar import StatusBar

SIGNED = Text("✔", style="green")
STATUS_STYLE = {"done": "green", "cancelled": "dim", "in_progress": "cyan", "waiting": "yellow", "open": ""}
TABLES = {
    "parties": ("party", "role", "name", "organisation", "device"),
    "items": ("item", "value", "set by", "id"),
    "activities": ("activity", "assignee", "problem owner", "status", "due"),
    "proposals": ("proposal", "change", "by", "answers", "state"),
    "timeline": ("when", "who", "sig", "kind", "what"),
}


# Grouped keys share one label in the footer, so that every key fits in 120 columns.
ACTIVITY_KEYS = Binding.Group("Status", compact=True)
ANSWER_KEYS = Binding.Group("Answer", compact=True)
CASE_KEYS = Binding.Group("Case", compact=True)
TIMELINE_TEXT_WIDTH = 62


class ContractScreen(case_forms.CaseActions, Screen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="contract.back"),
        Binding("i", "set_item", "Set item", id="contract.set_item"),
        Binding("s", "status('start')", "Start", id="contract.start", group=ACTIVITY_KEYS),
        Binding("w", "status('wait')", "Wait", id="contract.wait", group=ACTIVITY_KEYS),
        Binding("d", "status('done')", "Done", id="contract.done", group=ACTIVITY_KEYS),
        Binding("x", "status('cancel')", "Cancel", id="contract.cancel", group=ACTIVITY_KEYS),
        Binding("m", "note(False)", "Message", id="contract.message"),
        Binding("r", "note(True)", "Decision", id="contract.decision"),
        Binding("a", "add_activity", "Add activity", id="contract.add_activity"),
        Binding("p", "propose", "Propose", id="contract.propose"),
        Binding("y", "answer(True)", "Accept", id="contract.accept", group=ANSWER_KEYS),
        Binding("n", "answer(False)", "Reject", id="contract.reject", group=ANSWER_KEYS),
        Binding("v", "invite", "Invite", id="contract.invite"),
        Binding("o", "hand_over", "Hand over", id="contract.hand_over"),
        Binding("f", "attachments", "Files", id="contract.attachments", show=False),  # footer full: ctrl+p lists it
        Binding("c", "complain", "Complain", id="contract.complain", group=CASE_KEYS),
        Binding("h", "effort", "Effort", id="contract.effort", group=CASE_KEYS),
        # Rarely needed once peers sync directly: kept out of the footer (also "contract: export bundle").
        Binding("b", "export_bundle", "Bundle", id="contract.export_bundle", show=False),
        Binding("e", "export_evidence", "Evidence", id="contract.export_evidence", show=False),
    ]

    def __init__(self, contract_id: str) -> None:
        super().__init__()
        self.contract_id = contract_id
        self.view: ContractView | None = None
        self.in_dialog = False  # an edit submitted from a dialog: its errors go back to the dialog

    # -- layout ------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="contract-owner")  # first: who to call is what a customer looks for
        yield Static("", id="contract-head")
        yield Static("", id="contract-score")  # promises kept / broken per party; "Resolved" when it is
        with VerticalScroll(id="contract-body"):
            for name, columns in TABLES.items():
                table = DataTable(id=name, cursor_type="row", classes="contract-table")
                table.border_title = name.capitalize()
                for col in columns:
                    # Timeline text wraps in a fixed column instead of running off the screen.
                    table.add_column(col, key=col, width=TIMELINE_TEXT_WIDTH if col == "what" else None)
                yield table
                if name in hints.HINT_IDS:  # why a key is not offered: shown under the focused table
                    yield Static("", id=hints.HINT_IDS[name], classes="table-hint")
                if name == "activities":
                    yield Static("", id="case-panel")
        yield StatusBar(id="status-bar")
        yield Footer(compact=True, id="contract-footer")

    def on_mount(self) -> None:
        self.reload()
        self.query_one("#activities", DataTable).focus()

    @property
    def ws(self):
        return self.app.workspace

    def me(self) -> str:
        party = self.view.party_by_key(self.ws.identity.party_key_hex) if self.view else None
        return party.id if party else ""

    def reload(self) -> None:
        try:
            self.view = self.ws.view(self.contract_id)
        except PactError as exc:
            self.app.report(exc)
            return
        self.ws.store.mark_seen(self.contract_id)
        self.paint()

    def timeline_line(self, entry) -> str:
        who = entry.person or self.view.label(entry.author)
        return f"{who}: {entry.text}" if entry.kind in ("message", "decision") else entry.text

    def paint(self) -> None:
        v, me, now = self.view, self.me(), self.ws.clock()
        turn = [v.label(p) + (" (you)" if p == me else "") for p in v.turn()]
        head = assemble(light_cell(v.light()), "  ", (v.title, "bold"), f"  ·  {v.template or 'no template'}  ·  ",
                             ("waiting on " + ", ".join(turn)) if turn else ("resolved" if v.resolved() else "nobody's turn"),
                             f"  ·  you are {v.label(me) if me else 'not a party'}  ·  {v.id[:8]}")
        self.query_one("#contract-head", Static).update(head)
        self.query_one("#contract-score", Static).update(scorecard.line(v.at(now)))
        owner = self.query_one("#contract-owner", Static)
        line = people.owner_line(v, self.ws.identity.key_hex)
        owner.display = line is not None
        owner.update(line or "")
        self.fill("parties", [(pid, (pid, p.role, p.name, p.org, "joined" if p.accepted else "invited" if p.key else "open slot"))
                              for pid, p in v.parties.items()])
        self.fill("items", [(iid, (it.label, it.display(v.parties), v.label(it.set_by) if it.set_by else f"({v.label(it.owner)} sets it)", iid))
                            for iid, it in v.items.items()])
        rows = []
        for aid, a in v.activities.items():
            due = "-" if a.due is None else (when(a.due) if a.finished else f"{when(a.due)} ({time_left(a.due, now)})")
            due_text = Text(due + (" offered" if not v.agreed() and a.due is not None and not a.finished else ""),
                            style="bold red" if v.at(now).is_overdue(a) else "")
            status = a.status.replace("_", " ") + (f" on {v.label(a.waiting_on)}" if a.status == "waiting" else "")
            blocked = v.blocked_by(a)
            status += f" (after {', '.join(blocked)})" if blocked and not a.finished else ""
            rows.append((aid, (a.title, v.label(a.assignee), a.problem_owner or "-", text(status, style=STATUS_STYLE.get(a.status, "")), due_text)))
        self.fill("activities", rows)
        case_forms.paint_panel(self.query_one("#case-panel", Static), v, self.ws, now)
        self.fill("proposals", [
            (p.id, (p.id, actions.describe_proposal(p.kind, p.payload, v), v.label(p.proposer),
                    "  ".join(f"{v.label(r)} {({'accept': '✔', 'reject': '✘'}).get(p.answer_of(r) or '', '?')}" for r in p.required),
                    p.state))
            for p in sorted(v.proposals, key=lambda p: (p.state != "open", -p.created_at))
        ])
        # Every change in a loaded copy was verified against its author's key when loaded: hence the mark.
        self.fill("timeline", [(str(n), (when(e.at), e.person or v.label(e.author), SIGNED, e.kind, text(e.text, multiline=True)))
                               for n, e in reversed(list(enumerate(v.timeline)))], wrap=True)
        self.update_hint()

    def fill(self, name: str, rows: list[tuple[str, tuple]], wrap: bool = False) -> None:
        table = self.query_one(f"#{name}", DataTable)
        keep = table.cursor_row
        table.clear()
        lines = 0
        for key, cells in rows:
            cells = tuple(text(c) if isinstance(c, str) else c for c in cells)
            height = _wrapped_height(cells[-1]) if wrap else 1
            table.add_row(*cells, key=key, height=height)
            lines += height
        if rows:
            table.move_cursor(row=min(keep, len(rows) - 1))
        # Borders and header take 3 lines; long tables scroll inside their box.
        table.styles.height = min(lines, 10 if name != "timeline" else 14) + 3

    # -- what is selected, and what it permits --------------------------------------------------------

    def selected(self, name: str) -> str | None:
        table = self.query_one(f"#{name}", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value

    def why_not_status(self, action: str | None = None) -> str | None:
        """Why the selected activity's status may not change (by ``action``, or at all), or None."""
        aid = self.selected("activities")
        if aid is None:
            return "there are no activities"
        act = self.view.activities[aid]
        if not rules.can_change_status(self.view, self.me(), act):
            return f"only {self.view.label(act.assignee)} (the assignee) or a coordinator may change {act.title!r}"
        if act.finished:
            return f"{act.title!r} is {act.status}"
        if action == "start" and act.status == "in_progress":
            return f"{act.title!r} is already in progress"
        blocked = self.view.blocked_by(act)
        if action in ("start", "done") and blocked:
            names = ", ".join(repr(self.view.activities[b].title) if b in self.view.activities else b for b in blocked)
            return f"{act.title!r} comes after {names}, not finished yet"
        return None

    def why_not_item(self) -> str | None:
        iid = self.selected("items")
        if iid is None:
            return "there are no data items"
        item = self.view.items[iid]
        if not rules.can_write_item(self.view, self.me(), item):
            return f"only {self.view.label(item.owner)} (the owner of {item.label!r}) may set it"
        return None

    def answerable(self) -> str | None:
        """The proposal to answer: the selected one if it waits on me, else the first that does."""
        me = self.me()
        waiting = [p.id for p in self.view.open_proposals() if me in p.waiting_for()]
        chosen = self.selected("proposals")
        return chosen if chosen in waiting else (waiting[0] if waiting else None)

    def update_hint(self) -> None:
        hints.paint(self)
        self.refresh_bindings()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if self.view is not None:
            self.update_hint()  # the "not offered" line follows the focus

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # False: the key is not offered (not in the footer); pressed anyway, the action says why.
        if self.view is None:
            return True
        if action == "status":
            return not self.why_not_status(parameters[0] if parameters else None)
        if action == "set_item":
            return not self.why_not_item()
        if action == "answer":
            return bool(self.answerable())
        if action == "hand_over":
            return not people.why_no_hand_over(self.ws, self.view, self.me())
        if action in case_forms.CASE_ACTIONS:
            return not case_forms.why_not(self, action)
        return True

    def on_key(self, event: events.Key) -> None:
        """A key that is not offered was pressed anyway (Textual skipped its binding): say why."""
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            name, _, arg = binding.action.partition("(")
            args = (ast.literal_eval(arg[:-1]),) if arg else ()
            if name in ("status", "set_item", "answer", "hand_over", *case_forms.CASE_ACTIONS) and self.view is not None and not self.check_action(name, args):
                event.stop()
                # The action itself reports the reason (it is what the command palette runs too).
                getattr(self, f"action_{name}")(*args)
                return

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.view is not None:
            self.update_hint()

    def on_store_changed(self, message: StoreChanged) -> None:
        if message.contract_ids and self.contract_id not in message.contract_ids:
            return
        before = {(e.at, e.author, e.kind, e.text) for e in self.view.timeline} if self.view else set()
        self.reload()
        me = self.ws.identity.key_hex
        mine = self.me()
        # A colleague's device writes for my party too: what it did (handing me the case) is news here.
        myself = self.view.person_by_key(me)
        news = [e for e in self.view.timeline
                if (e.at, e.author, e.kind, e.text) not in before and e.author != me
                and (e.author != mine or (e.person and e.person != myself))]
        if news:
            lines = [self.timeline_line(e) for e in news[-3:]]
            more = f"\n(and {len(news) - 3} more)" if len(news) > 3 else ""
            self.app.notify("\n".join(lines) + more, title=f"New in {self.view.title}")

    # -- running edits -----------------------------------------------------------------------------

    def run_edit(self, action, *args, **kwargs) -> bool:
        try:
            outcome = self.ws.act(self.contract_id, action, *args, **kwargs)
        except PactError as exc:
            if self.in_dialog:
                raise
            self.app.report(exc)
            return False
        self.app.note_own_write(self.contract_id)
        self.app.notify(outcome.message, title="Done")
        self.reload()
        return True

    def run_edit_with(self, edit, *args) -> bool:
        """Like ``run_edit``, for a store function that writes through the workspace itself
        (``edit(ws, contract_id, *args)``, e.g. ``store.devices.hand_over``)."""
        try:
            outcome = edit(self.ws, self.contract_id, *args)
        except PactError as exc:
            if self.in_dialog:
                raise
            self.app.report(exc)
            return False
        self.app.note_own_write(self.contract_id)
        self.app.notify(outcome.message, title="Done")
        self.reload()
        return True

    def ask(self, form, then) -> None:
        """Open a dialog; ``then(answers)`` runs when the user submits, with the dialog still open: bad
        input or a refused edit is shown in the dialog, which keeps what was typed (see ``FormScreen``)."""
        def act(answers: dict):
            self.in_dialog = True  # run_edit raises instead of reporting: the dialog shows the reason
            try:
                return then(answers)
            finally:
                self.in_dialog = False
        self.app.push_screen(FormScreen(form, act))

    # -- actions -----------------------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_set_item(self) -> None:
        why = self.why_not_item()
        if why:
            self.app.report(RefusedOperation(why))
            return
        item = self.view.items[self.selected("items")]
        self.ask(forms.item_form(item, self.view),
                 lambda ans: self.run_edit(actions.set_item, item.id, **forms.item_args(item, ans)))

    def action_status(self, action: str) -> None:
        why = self.why_not_status(action)
        if why:
            self.app.report(RefusedOperation(why))
            return
        aid = self.selected("activities")
        if action == "start":
            self.run_edit(actions.change_status, aid, "start")
        elif action == "wait":
            self.ask(forms.wait_form(self.view, self.me()),
                     lambda ans: self.run_edit(actions.change_status, aid, "wait", waiting_on=ans["waiting_on"], outcome=ans["outcome"]))
        else:
            title = "Finish the activity" if action == "done" else "Cancel the activity"
            self.ask(forms.outcome_form(title), lambda ans: self.run_edit(actions.change_status, aid, action, outcome=ans["outcome"]))

    def action_note(self, decision: bool) -> None:
        self.ask(forms.note_form(decision), lambda ans: self.run_edit(actions.note, ans["text"], decision=decision))

    def action_add_activity(self) -> None:
        def then(ans):
            args, kwargs = forms.activity_args(ans, self.ws.clock())
            self.run_edit(actions.add_activity, *args, **kwargs)
        self.ask(forms.activity_form(self.view, self.me()), then)

    def action_propose(self) -> None:
        def then(ans):
            kind, payload, why = forms.proposal_args(ans, self.ws.clock())
            if kind == "add_activity":
                due = forms.deadline(ans["due"], self.ws.clock()) if ans["due"] else None
                self.run_edit(actions.add_activity, ans["title"], ans["assignee"], due, rationale=why)
            else:
                self.run_edit(actions.propose, kind, payload, why)
        self.ask(forms.propose_form(self.view, self.selected("activities") or ""), then)

    def action_answer(self, accept: bool) -> None:
        pid = self.answerable()
        if pid is None:
            self.app.report(RefusedOperation("no open proposal is waiting for your answer"))
            return
        prop = self.view.proposal(pid)
        summary = f"{pid}: {actions.describe_proposal(prop.kind, prop.payload, self.view)}"
        if prop.rationale:
            summary += f" — {prop.rationale}"
        self.ask(forms.answer_form(accept, summary), lambda ans: self.run_edit(actions.answer, pid, accept, ans["reason"]))

    def action_invite(self) -> None:
        """An invite code from the sync engine; without one, adding a party by key is the way."""
        engine = self.app.engine
        if engine is None or not hasattr(engine, "invite"):
            self.action_add_party(offline=True)
            return

        def then(ans):
            role, ttl = forms.invite_args(ans)
            code = engine.invite(self.contract_id, role, ttl)
            return lambda: self.app.push_screen(InviteCodeScreen(code, self.ws, self.view.title))
        self.ask(forms.invite_form(self.view), then)

    def action_hand_over(self) -> None:
        why = people.why_no_hand_over(self.ws, self.view, self.me())
        if why:
            self.app.report(RefusedOperation(why))
            return
        from pactclient.store import devices

        def then(ans):
            if not ans["to"]:
                raise UsageError("choose who owns the problem from now on")
            self.run_edit_with(devices.hand_over, ans["to"])
        self.ask(people.hand_over_form(self.ws, self.view, self.me()), then)

    def action_add_party(self, offline: bool = False) -> None:
        self.ask(forms.add_party_form(self.view, offline), lambda ans: self.run_edit(
            actions.add_party, ans["key"].lower(), ans["name"], ans["role"], ans["org"], ans["why"]))

    def action_attachments(self) -> None:
        from pactclient.tui.screens.attachments import AttachmentsScreen

        self.app.push_screen(AttachmentsScreen(self.contract_id))

    def action_export_bundle(self) -> None:
        file_export.export_bundle(self)

    def action_export_evidence(self) -> None:
        file_export.export_evidence(self)


def _wrapped_height(text) -> int:
    """Lines ``text`` takes when wrapped at the timeline's text width (as the table will wrap it)."""
    plain = text.plain if isinstance(text, Text) else str(text)
    return max(1, len(Text(plain).wrap(_MEASURE, TIMELINE_TEXT_WIDTH)))


_MEASURE = Console(width=200)
