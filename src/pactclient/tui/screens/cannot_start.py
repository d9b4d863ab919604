"""The screen shown instead of the work queue when the home cannot be opened.

A store that is corrupt, not a pact database, or not writable (a read-only directory) leaves the app
nothing to show: it says why in one line, waits for a key so the reason can be read, and the app ends
with a non-zero exit code; ``pact tui`` then prints the same line on stderr, so it stays in the
terminal after the screen is gone.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Static

from pactclient.display import text

EXIT_CODE = 1


class CannotStartScreen(Screen):
    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason

    def compose(self) -> ComposeResult:
        with Vertical(id="cannot-start-box") as box:
            box.border_title = "pact cannot open this home"
            # The reason may quote a path the user chose: plain text, never markup.
            yield Static(text(self.reason), id="cannot-start-reason")
            yield Static("Nothing was changed. Press any key to quit.", classes="form-hint")

    def on_key(self, event: events.Key) -> None:
        event.stop()
        self.app.exit(return_code=EXIT_CODE)
