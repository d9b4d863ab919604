"""A new contract from a template, with a preview of its parties, items and activities."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from pactclient import catalog
from pactclient.errors import PactError
from pactclient.tui.widgets.status_bar import StatusBar


def preview(template: dict) -> str:
    lines = [f"[b]{template.get('title', template.get('name', ''))}[/b]", template.get("description", ""), "",
             "[b]Parties[/b]"]
    lines += [f"  • {p['role']}" + (f" ({p['org']})" if p.get("org") else "") for p in template.get("parties", [])]
    lines += ["", "[b]Data items[/b]"]
    lines += [f"  • {i.get('label', i['id'])} — {i.get('kind', 'text')}, set by the {i.get('owner', '?')}"
              for i in template.get("items", [])] or ["  (none)"]
    lines += ["", "[b]Activities[/b]"]
    for a in template.get("activities", []):
        due = f", due {a['due_in']} after opening" if a.get("due_in") else ""
        deps = f", after {', '.join(a['depends_on'])}" if a.get("depends_on") else ""
        lines.append(f"  • {a.get('title', a['id'])} — {a.get('assignee', '?')}{due}{deps}")
    return "\n".join(lines)


class NewContractScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="new.back"),
        Binding("ctrl+s", "create", "Create", id="new.create"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.templates = {s["name"]: catalog.load(s["name"]) for s in catalog.summaries()}

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="new-body"):
            with Vertical(id="new-left"):
                yield Label("Template", classes="form-label")
                yield OptionList(*[Option(t.get("title", n), id=n) for n, t in self.templates.items()], id="new-templates")
                yield Label("Title of the case", classes="form-label")
                yield Input(placeholder="e.g. Broadband drops every evening", id="new-title")
                yield Label("Your role", classes="form-label")
                first = next(iter(self.templates.values()))
                roles = [(p["role"], p["role"]) for p in first.get("parties", [])]
                yield Select(roles, id="new-role", allow_blank=False)
                yield Button("Create contract", variant="primary", id="new-create")
            yield Static("", id="new-preview")
        yield StatusBar(id="status-bar")
        yield Footer()

    def on_mount(self) -> None:
        options = self.query_one("#new-templates", OptionList)
        options.highlighted = 0
        options.focus()
        self.show(next(iter(self.templates)))

    def selected(self) -> str:
        options = self.query_one("#new-templates", OptionList)
        return options.get_option_at_index(options.highlighted or 0).id

    def show(self, name: str) -> None:
        template = self.templates[name]
        self.query_one("#new-preview", Static).update(preview(template))
        roles = [p["role"] for p in template.get("parties", [])]
        self.query_one("#new-role", Select).set_options([(r, r) for r in roles])
        self.query_one("#new-role", Select).value = roles[0]

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.show(event.option.id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.query_one("#new-title", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_create()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_create()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_create(self) -> None:
        from pactclient.tui.screens.contract import ContractScreen

        name = self.selected()
        title = self.query_one("#new-title", Input).value
        role = self.query_one("#new-role", Select).value
        try:
            cid = self.app.workspace.create(title, self.templates[name], str(role))
        except PactError as exc:
            self.app.report(exc)
            return
        self.app.note_own_write(cid)
        self.app.notify(f"Created {title.strip()!r} from {name}", title="Contract")
        self.app.switch_screen(ContractScreen(cid))
