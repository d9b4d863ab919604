"""This party's devices: list them, pair a new one with a one-time code, revoke one.

The same as ``pact device list|add|revoke``, from the keyboard. Adding and revoking need the party key,
so they are offered only on the home that holds it (the one that ran ``pact org init`` or ``pact init``);
elsewhere the line under the table says why. A pairing code is redeemed on the invite listener of the
engine that runs for this home (the TUI's own, or a ``pact serve``): the code carries the addresses that
engine recorded in ``serve.json``, and without a running engine no code is made, since nothing would
answer it.

Persons, device names and contact details were typed by people of this party, or came from the party's
directory over the network: they reach the table only as ``Text`` (``pactclient.display``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Header, Static, TextArea

from pactclient.cli.common import fmt_ms
from pactclient.display import assemble, shown, text
from pactclient.errors import PactError, RefusedOperation, UsageError
from pactclient.identity.device import short_fingerprint
from pactclient.model.actions import parse_duration
from pactclient.net.threaded import running_server
from pactclient.store import devices
from pactclient.sync.pairing import PairingCode, create_pairing
from pactclient.tui.messages import StoreChanged
from pactclient.tui.screens.form import Field, Form, FormScreen
from pactclient.tui.screens.invite import INVITES_DIR
from pactclient.tui.screens.people import contact_line
from pactclient.tui.widgets.status_bar import StatusBar

# Another process (`pact serve`, `pact device add`) may pair or revoke a device: the list is read again
# this often while the screen is open. A handful of rows: the query costs nothing worth measuring.
REFRESH_SECONDS = 1.0
NO_PARTY_KEY = ("this device does not hold the party key: add and revoke devices on the home that does "
                "(the one that ran `pact org init` or `pact init`)")


def save_pairing_code(home: Path, code: PairingCode) -> Path:
    """Keep the code where a shell can read it, private (mode 0600: it is a secret until used)."""
    folder = Path(home) / INVITES_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"pair-{code.pairing_id.hex()}.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(code.encode() + "\n")
    return path


def pairing_addresses(home: Path) -> list[str]:
    """Where the engine running for this home answers pairing codes; raises UsageError if none runs."""
    info = running_server(home)
    addresses = list(info.get("invite_addresses") or []) if info else []
    if not addresses:
        raise UsageError("sync is not running for this home, so nothing would answer a pairing code: "
                         "restart pact tui with the network available, or run `pact serve`")
    return addresses


def add_form(values: dict | None = None) -> Form:
    values = values or {}
    fields = (
        Field("person", "Who will use the new device", placeholder="e.g. Raj"),
        Field("device", "A name for the device", placeholder="laptop, phone, desk…"),
        Field("phone", "Phone (shown to customers)"),
        Field("email", "E-mail (shown to customers)"),
        Field("hours", "When they can be reached", placeholder="e.g. Mon-Fri 9-17"),
        Field("ttl", "Code valid for", "24h", placeholder="30m, 24h, 3d"),
    )
    fields = tuple(dataclasses.replace(f, value=values[f.name]) if f.name in values else f for f in fields)
    return Form("Add a device", fields,
                "You get a one-time pairing code. On the new device run `pact device pair CODE`: it gets its "
                "own key, certified by your party's key, and writes for your party from then on. Contact "
                "details are shown to customers when this person owns a case.", submit="Make code")


class DevicesScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="devices.back"),
        Binding("a", "add_device", "Add a device", id="devices.add"),
        Binding("r", "revoke", "Revoke", id="devices.revoke"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="devices-head")
        yield DataTable(id="devices", cursor_type="row", zebra_stripes=True)
        yield Static("", id="devices-hint")
        yield StatusBar(id="status-bar")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#devices", DataTable)
        table.add_column("person", key="person", width=20)
        table.add_column("device", key="device", width=14)
        table.add_column("contact", key="contact", width=35)
        table.add_column("key", key="key", width=16)
        table.add_column("state", key="state", width=25)
        me = self.app.workspace.identity
        holds = ("this home holds the party key: it adds and revokes devices" if me.party_signer is not None
                 else "devices are added and revoked on the home that holds the party key")
        self.query_one("#devices-head", Static).update(assemble(
            ("Devices of ", "bold"), (me.org or me.name, "bold"), f"  ·  party key {short_fingerprint(me.party_key)}  ·  {holds}"))
        self.reload()
        table.focus()
        self.set_interval(REFRESH_SECONDS, self.refresh_if_changed, name="devices-refresh")

    @property
    def ws(self):
        return self.app.workspace

    def reload(self) -> None:
        self.rows = devices.known(self.ws)
        table = self.query_one("#devices", DataTable)
        keep = table.cursor_row
        table.clear()
        for d in self.rows:
            state = ("this device" if d["this_device"] else
                     f"revoked {fmt_ms(d['revoked_at'])}" if d["revoked_at"] else "certified")
            table.add_row(text(d["person"]), text(d["device"] or "-"), text(contact_line(d["contact"].items()) or "-"),
                          d["key"][:16], Text(state, style="dim" if d["revoked_at"] else ""), key=d["key"])
        if self.rows:
            table.move_cursor(row=min(keep, len(self.rows) - 1))
        self.update_hint()

    def refresh_if_changed(self) -> None:
        if [(d["key"], d["revoked_at"]) for d in devices.known(self.ws)] != [(d["key"], d["revoked_at"]) for d in self.rows]:
            self.reload()

    def selected(self) -> dict | None:
        table = self.query_one("#devices", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return next((d for d in self.rows if d["key"] == key), None)

    # -- what may be done ------------------------------------------------------------------------------

    def why_not_add(self) -> str | None:
        return NO_PARTY_KEY if self.ws.identity.party_signer is None else None

    def why_not_revoke(self) -> str | None:
        if self.ws.identity.party_signer is None:
            return NO_PARTY_KEY
        device = self.selected()
        if device is None or device["this_device"]:
            return "this is the device you are using: revoke it from another device that holds the party key"
        if device["revoked_at"]:
            return f"{device['person']}'s {device['device'] or 'device'} is already revoked"
        return None

    def update_hint(self) -> None:
        lines = [f"{key} not offered: {why}" for key, why in (("a", self.why_not_add()), ("r", self.why_not_revoke()))
                 if why and not (key == "r" and why == NO_PARTY_KEY and self.why_not_add())]
        self.query_one("#devices-hint", Static).update(Text("\n".join(shown(line) for line in lines), style="dim"))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "add_device":
            return not self.why_not_add()
        if action == "revoke":
            return not self.why_not_revoke()
        return True

    def on_key(self, event: events.Key) -> None:
        """A key that is not offered was pressed anyway: say why (the action itself reports it)."""
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            if binding.action in ("add_device", "revoke") and not self.check_action(binding.action, ()):
                event.stop()
                getattr(self, f"action_{binding.action}")()
                return

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.update_hint()

    def on_store_changed(self, message: StoreChanged) -> None:
        self.refresh_if_changed()

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.reload()

    # -- actions ---------------------------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_add_device(self, values: dict | None = None) -> None:
        try:
            if why := self.why_not_add():
                raise RefusedOperation(why)
            addresses = pairing_addresses(self.app.home)
        except PactError as exc:
            self.app.report(exc)
            return

        def done(answers: dict | None) -> None:
            if answers is None:
                return
            try:
                if not answers["person"].strip():  # said with the dialog's words (the model names --person)
                    raise UsageError("'Who will use the new device': name the person, e.g. Raj")
                contact = {k: answers[k] for k in ("phone", "email", "hours")}
                code = create_pairing(self.ws, answers["person"], answers["device"], contact, addresses,
                                      parse_duration(answers["ttl"] or "24h"))
            except PactError as exc:
                self.app.report(exc)
                self.action_add_device(answers)  # again, with what was typed: fix one field, not six
                return
            self.app.push_screen(PairingCodeScreen(code, self.app.home, answers["person"], answers["device"]))
        self.app.push_screen(FormScreen(add_form(values)), done)

    def action_revoke(self) -> None:
        if why := self.why_not_revoke():
            self.app.report(RefusedOperation(why))
            return
        device = self.selected()
        what = f"{device['person']}'s {device['device'] or 'device'} ({device['key'][:16]})"
        form = Form(f"Revoke {what}?", (Field("why", "Why (kept in the signed revocation)"),),
                    "The revocation is signed with your party key and written into every contract "
                    "of your party; every copy refuses what this device writes from then on, once it has synced. "
                    "It cannot be undone: to use the device again, pair it anew.", submit="Revoke")

        def done(answers: dict | None) -> None:
            if answers is None:
                return
            try:
                gone, carried = devices.revoke(self.ws, device["key"], answers["why"])
            except PactError as exc:
                self.app.report(exc)
                return
            for cid in carried:
                self.app.note_own_write(cid)
            self.app.notify(f"Revoked {gone['person']}'s {gone['device'] or 'device'} in {len(carried)} "
                            f"contract{'s' if len(carried) != 1 else ''}; the other parties learn it when they sync.",
                            title="Revoked")
            self.reload()
        self.app.push_screen(FormScreen(form), done)


class PairingCodeScreen(ModalScreen[None]):
    """The code alone in a selectable box (it is long), ``c`` for the clipboard, and a file."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="pairing.close"),
        Binding("c", "copy", "Copy code", id="pairing.copy"),
    ]

    def __init__(self, code: PairingCode, home: Path, person: str, device: str) -> None:
        super().__init__()
        self.code = code
        self.text = code.encode()
        self.path = save_pairing_code(home, code)
        self.who = f"{person.strip()}'s {device.strip() or 'device'}"

    def compose(self) -> ComposeResult:
        with Vertical(id="pairing-box") as box:
            box.border_title = "Pairing code"
            yield Static(assemble("One-time code to pair ", (self.who, "bold"), ", valid until "
                                  f"{fmt_ms(self.code.expires_at)} UTC; the new device reaches this one at "
                                  f"{', '.join(self.code.addresses)}."), classes="form-explain")
            yield TextArea(self.text, read_only=True, soft_wrap=True, show_line_numbers=False, id="pairing-code")
            yield Static(text("On the new device, in a new home: pact device pair CODE\n"
                              f"Saved to {self.path} (mode 0600; delete it once used)", multiline=True),
                         id="pairing-how", classes="form-hint")
            with Horizontal(classes="form-buttons"):
                yield Button("Copy (c)", variant="primary", id="pairing-copy")
                yield Button("Close", id="pairing-close")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "pairing-copy":
            self.action_copy()
        else:
            self.action_close()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.text)
        self.app.notify("Pairing code sent to the clipboard (if your terminal does not allow that, "
                        f"use the file {self.path.name})", title="Pairing")

    def action_close(self) -> None:
        self.dismiss(None)


def paired(app, event) -> None:
    """The engine reports a pairing redeemed (an ``InviteRedeemed`` without a contract): say so, close
    the code it used, and show the new device in the list."""
    said = event.message or "paired a device"
    app.notify(said[:1].upper() + said[1:], title="Device added")
    if isinstance(app.screen, PairingCodeScreen):
        app.screen.dismiss(None)
    for screen in app.screen_stack:
        if isinstance(screen, DevicesScreen):
            screen.reload()
