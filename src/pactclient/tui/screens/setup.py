"""First run: no identity in this home yet. Create one (name, organisation)."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Static

from pactclient.errors import PactError
from pactclient.identity.device import DeviceIdentity

WHAT_IS_A_CONTRACT = (
    "A contract here is a small shared workspace between you and a supplier (or a customer): who the "
    "parties are, what each has promised to do by when, and every message and decision, in order. "
    "Each side keeps its own complete, signed copy, so either can show it to a manager or an ombudsman "
    "as evidence of what was agreed."
)


class SetupScreen(Screen):
    BINDINGS = [Binding("ctrl+s", "create", "Create identity", id="setup.create")]

    def __init__(self, home: Path) -> None:
        super().__init__()
        self.home = home

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="setup-box") as box:
            box.border_title = "Welcome to pact"
            yield Static(WHAT_IS_A_CONTRACT, id="setup-explain")
            yield Static(f"This device has no identity yet. It will be kept in {self.home}.", classes="form-hint")
            yield Label("Your name, as the other parties will see it", classes="form-label")
            yield Input(placeholder="e.g. Alice Smith", id="setup-name")
            yield Label("Your organisation (leave empty if you are a private person)", classes="form-label")
            yield Input(placeholder="e.g. BT", id="setup-org")
            yield Button("Create my identity", variant="primary", id="setup-create")
        yield Footer()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "setup-name":
            self.query_one("#setup-org", Input).focus()
        else:
            self.action_create()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_create()

    def action_create(self) -> None:
        name = self.query_one("#setup-name", Input).value
        org = self.query_one("#setup-org", Input).value
        try:
            identity = DeviceIdentity.create(self.home, name, org)
        except PactError as exc:
            self.app.report(exc)
            return
        self.app.notify(f"Identity created: {identity.short_fingerprint}", title="Welcome")
        self.app.pop_screen()
        self.app.open_workspace(identity)
