"""An invite code, shown so that it can be handed over whole: selectable text, the clipboard, a file.

A code is about 200 characters: too long for one line of a terminal, and a wrapped notification
copies with its borders. So the code sits alone in a read-only text area (select it, or press
``c`` to put it on the clipboard through the terminal), and is also written to a file in the home
(mode 0600: the code is a secret until used) that a script or another shell can read.
"""

from __future__ import annotations

import os
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TextArea

from pactclient.cli.common import fmt_ms
from pactclient.display import assemble
from pactclient.store.workspace import Workspace
from pactclient.sync.invites import InviteCode

INVITES_DIR = "invites"
LATEST_FILE = "latest.txt"  # used codes are kept, so a glob of the folder would read several


def save_code(home: Path, code: InviteCode, text: str) -> Path:
    folder = Path(home) / INVITES_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"{code.contract_id[:8]}-{code.invite_id.hex()}.txt"
    for target in (path, folder / LATEST_FILE):  # latest.txt: the newest code, a name a script can use
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text + "\n")
    return path


class InviteCodeScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close", id="invite.close"),
        Binding("c", "copy", "Copy code", id="invite.copy"),
    ]

    def __init__(self, text: str, ws: Workspace, title: str) -> None:
        super().__init__()
        self.text = text
        self.code = InviteCode.decode(text)
        invite = ws.store.invite(self.code.invite_id) or {}
        self.role = invite.get("role", "?")
        self.path = save_code(ws.home, self.code, text)
        self.contract_title = title

    def compose(self) -> ComposeResult:
        with Vertical(id="invite-box") as box:
            box.border_title = "Invite code"
            # The title is any party's words: plain text, not markup.
            yield Static(assemble(
                "One-time code to join ", (self.contract_title, "bold"), " as ", (self.role, "bold"), ", valid until "
                f"{fmt_ms(self.code.expires_at)} UTC; the other party reaches this device at "
                f"{', '.join(self.code.addresses)}."), classes="form-explain")
            yield TextArea(self.text, read_only=True, soft_wrap=True, show_line_numbers=False, id="invite-code")
            yield Static(f"They run: [b]pact join CODE[/b] (or press j in their pact and paste it).\n"
                         f"Saved to {self.path}\n"
                         f"So from a shell: pact join \"$(cat {self.path})\"", id="invite-how", classes="form-hint")
            with Horizontal(classes="form-buttons"):
                yield Button("Copy (c)", variant="primary", id="invite-copy")
                yield Button("Close", id="invite-close")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "invite-copy":
            self.action_copy()
        else:
            self.action_close()

    def action_copy(self) -> None:
        # OSC 52: the terminal puts it on the clipboard (most do; inside tmux, with set-clipboard on).
        self.app.copy_to_clipboard(self.text)
        self.app.notify("Invite code sent to the clipboard (if your terminal does not allow that, "
                        f"use the file {self.path.name})", title="Invite")

    def action_close(self) -> None:
        self.dismiss(None)
