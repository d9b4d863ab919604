"""One line at the bottom of every screen: who I am, peers online and sync state."""

from __future__ import annotations

from textual.widgets import Static

from pactclient.display import text


class StatusBar(Static):
    """Refreshed every second from the app (the sync engine's status when one runs, "offline" otherwise)."""

    def on_mount(self) -> None:
        self.update_status()
        self.set_interval(1.0, self.update_status)

    def update_status(self) -> None:
        app = self.app
        ws = getattr(app, "workspace", None)
        me = ""
        if ws is not None:
            ident = ws.identity
            me = f"{ident.name}{' · ' + ident.org if ident.org else ''} · {ident.short_fingerprint}  │  "
        # Work in progress first (pactclient.tui.progress): what the user is waiting for.
        busy = "".join(f"⟳ {what}  │  " for what in getattr(app, "busy", {}).values())
        # Peer names come from the peers themselves: plain text, never markup.
        self.update(text(f"{busy}{me}{app.peer_status()}"))
