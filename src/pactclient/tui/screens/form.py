"""A small modal form: a title, a few labelled fields, OK / Cancel. Returns a dict of values or None.

Every dialog of the app (set an item, propose a change, write a message, ...) is one of these, so
they all behave alike: Enter in the last field or ctrl+s submits, Escape cancels.

A form may be given ``act(values)``: it runs when the user submits, with the dialog still open. If it
raises a ``PactError`` (a bad amount, a validity like "soon", a refused edit) the reason is shown in the
dialog, above its buttons, and everything typed stays: the user fixes one field and submits again.
``act`` may return a callable, run once the dialog has closed (e.g. to open the next screen).

Titles, labels, choices and prefilled values often quote the contract (an item's label, a party's
name, a proposal's rationale): all are shown as plain text (``pactclient.display``), never as markup.
A prefilled value is shown with its control characters made visible, so what is submitted unchanged is
what the user saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from pactclient.display import shown, text
from pactclient.errors import PactError


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    value: str = ""
    choices: tuple[tuple[str, str], ...] = ()  # (shown, value): a Select instead of an Input
    placeholder: str = ""
    hint: str = ""
    # Shown only while the form's ``switch`` field has one of these values (empty: always shown).
    shown_for: tuple[str, ...] = ()


@dataclass(frozen=True)
class Form:
    title: str
    fields: tuple[Field, ...]
    explain: str = ""
    submit: str = "OK"
    extra: dict = field(default_factory=dict)
    switch: str = ""  # a choice field asked first that decides which other fields are shown (``shown_for``)
    focus: str = ""  # the field focused when the dialog opens (default: the first)


class FormScreen(ModalScreen[dict | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
        Binding("ctrl+s", "submit", "Submit", id="form.submit"),
    ]

    def __init__(self, form: Form, act: Callable[[dict], Any] | None = None) -> None:
        super().__init__()
        self.form = form
        self.act = act

    def compose(self) -> ComposeResult:
        with Vertical(id="form-box") as box:
            box.border_title = text(self.form.title)
            # Dialogs have no footer, and a long one scrolls its buttons out of sight: say how to finish.
            box.border_subtitle = f"ctrl+s {self.form.submit.lower()} · esc cancel"
            if self.form.explain:
                yield Static(text(self.form.explain, multiline=True), classes="form-explain")
            for f in self.form.fields:
                with Vertical(classes="form-field", id=f"row-{f.name}"):
                    yield Label(text(f.label), classes="form-label")
                    if f.choices:
                        # The value chosen is the exact data; only how each choice is shown is made safe.
                        choices = [(text(shown_as), value) for shown_as, value in f.choices]
                        if f.value and f.value in {v for _, v in f.choices}:
                            yield Select(choices, value=f.value, allow_blank=False, id=f"field-{f.name}")
                        else:
                            yield Select(choices, id=f"field-{f.name}")
                    else:
                        yield Input(value=shown(f.value), placeholder=shown(f.placeholder), id=f"field-{f.name}")
                    if f.hint:
                        yield Static(text(f.hint), classes="form-hint")
            yield Static("", id="form-error")  # why the last submit was refused; empty (hidden) until then
            with Horizontal(classes="form-buttons"):
                yield Button(self.form.submit, variant="primary", id="form-ok")
                yield Button("Cancel", id="form-cancel")

    def on_mount(self) -> None:
        self.show_fields()
        if self.form.focus:
            self.query_one(f"#field-{self.form.focus}").focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        if self.form.switch and event.select.id == f"field-{self.form.switch}":
            self.show_fields()

    def show_fields(self) -> None:
        """Only the fields of the kind chosen in the switch field (e.g. a proposal's kind)."""
        if not self.form.switch:
            return
        switch = self.query_one(f"#field-{self.form.switch}", Select)
        chosen = "" if switch.is_blank() else str(switch.value)
        for f in self.form.fields:
            if f.shown_for:
                self.query_one(f"#row-{f.name}").display = chosen in f.shown_for

    def values(self) -> dict:
        out = {}
        for f in self.form.fields:
            widget = self.query_one(f"#field-{f.name}")
            blank = isinstance(widget, Select) and widget.is_blank()
            out[f.name] = "" if blank or widget.value is None else str(widget.value).strip()
        return out

    def on_input_submitted(self, event: Input.Submitted) -> None:
        inputs = [i for i in self.query(Input) if i.parent.display]  # the fields shown
        if event.input is inputs[-1]:
            self.action_submit()
        else:
            self.focus_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "form-ok":
            self.action_submit()
        else:
            self.action_cancel()

    def action_submit(self) -> None:
        values = self.values()
        then = None
        if self.act is not None:
            try:
                then = self.act(values)
            except PactError as exc:
                self.show_error(str(exc))
                return
        self.dismiss(values)
        if callable(then):
            then()

    def show_error(self, reason: str) -> None:
        error = self.query_one("#form-error", Static)
        error.update(text(reason, multiline=True))  # a refusal may quote what was typed: plain text
        error.add_class("shown")
        error.scroll_visible()

    def action_cancel(self) -> None:
        self.dismiss(None)
