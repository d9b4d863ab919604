"""The Textual app: owns the workspace, watches the store for changes from elsewhere, routes errors.

Live updates have two sources. A sync engine (``pactclient.net``) may be injected; if it offers
``subscribe(callback)`` the app hears about admitted changes at once, and ``status()`` feeds the status
bar. Independently, the app polls SQLite's ``PRAGMA data_version`` every half second: it changes when
*another connection* commits, so changes written by ``pact serve`` or ``pact bundle import`` in another
process appear within a second, and the app's own writes do not trigger a refresh.

The engine is made by ``engine_factory(home)`` once the home has an identity (at start, or right after
the first-run screen created one), so a new user is online without restarting. An engine the app made
is stopped when the app ends.

SQLite work stays on the event loop: each action is one small write transaction (milliseconds), and
the connection is not shared across threads.

Contract text, peer names and refusal reasons are other parties' words: every notification here is
plain text with control characters made visible (``pactclient.display``), never markup.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Callable

from textual.app import App
from textual.binding import Binding

from pactclient.display import shown
from pactclient.errors import PactError
from pactclient.identity.device import DeviceIdentity, short_fingerprint
from pactclient.store.workspace import Workspace, now_ms
from pactclient.sync import events as ev
from pactclient.tui.commands import PactCommands
from pactclient.tui.messages import StoreChanged, SyncEventReceived

POLL_SECONDS = 0.5
# At most this many notifications on screen at once; news and "Done" go after a few seconds.
MAX_NOTIFICATIONS = 3
# Notification titles in the user's words, by error class (see pactclient.errors).
ERROR_TITLES = {
    "UsageError": "Check what you typed",
    "RefusedOperation": "Not allowed",
    "NotInitialised": "No identity",
    "IdentityError": "Identity problem",
    "ContractNotFound": "No such contract",
    "AdmissionError": "Refused change",
    "StoreError": "Store problem",
    "FormatError": "Unreadable file",
    "RemoteProtocolError": "Peer problem",
}


class PactApp(App):
    CSS_PATH = "pact.tcss"
    TITLE = "pact"
    NOTIFICATION_TIMEOUT = 3
    COMMANDS = App.COMMANDS | {PactCommands}
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
        # The footer already shows ^p at its right edge; the theme key stays out of the way.
        Binding("ctrl+p", "command_palette", "Commands", id="app.command_palette", show=False),
        Binding("f2", "toggle_dark", "Theme", id="app.toggle_theme", show=False),
    ]

    def __init__(self, home: Path, engine: Any = None, clock: Callable[[], int] | None = None,
                 engine_factory: Callable[[Path], Any] | None = None):
        super().__init__()
        self.home = Path(home)
        self.engine = engine
        self.engine_factory = engine_factory
        self._owns_engine = False
        self.clock = clock or now_ms
        self.workspace: Workspace | None = None
        self._data_version: int | None = None
        self._rowids: dict[str, int] = {}
        self.busy: dict[str, str] = {}  # work in progress, shown in the status line (tui/progress.py)
        self.failure = ""  # why the home could not be opened (then the app ends with a non-zero code)

    # -- start-up ----------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.theme = "textual-dark"
        if (self.home / "identity.json").exists():
            try:
                identity = DeviceIdentity.load(self.home)
            except (PactError, OSError) as exc:
                self.cannot_start(exc)
                return
            self.open_workspace(identity)
        else:
            from pactclient.tui.screens.setup import SetupScreen

            self.push_screen(SetupScreen(self.home))

    def open_workspace(self, identity: DeviceIdentity) -> None:
        from pactclient.tui.screens.home import HomeScreen

        try:
            self.workspace = Workspace(self.home, identity, self.clock)
        except (PactError, OSError, sqlite3.Error) as exc:  # corrupt or unwritable store: nothing to show
            self.cannot_start(exc)
            return
        self.sub_title = shown(identity.org and f"{identity.name} ({identity.org})" or identity.name)
        self._data_version = self._read_data_version()
        self._rowids = self._read_rowids()
        self.start_engine()
        if self.engine is not None and hasattr(self.engine, "subscribe"):
            self.engine.subscribe(self._engine_event)
        self.set_interval(POLL_SECONDS, self.poll_store, name="poll-store")
        self.push_screen(HomeScreen())

    def cannot_start(self, exc: Exception) -> None:
        """Say in one line why the home cannot be opened; the app then ends with a non-zero code."""
        reason = str(exc) if isinstance(exc, PactError) else f"cannot open {self.home}: {getattr(exc, 'strerror', None) or exc}"
        self.failure = reason
        from pactclient.tui.screens.cannot_start import CannotStartScreen

        self.push_screen(CannotStartScreen(reason))

    def start_engine(self) -> None:
        if self.engine is not None or self.engine_factory is None:
            return
        try:
            self.engine = self.engine_factory(self.home)
        except (PactError, OSError) as exc:  # e.g. the port is taken: work offline, say why
            self.notify(f"Sync could not start, working offline: {exc}", title="Offline", severity="warning", timeout=10)
            return
        self._owns_engine = self.engine is not None

    def on_unmount(self) -> None:
        if self._owns_engine and hasattr(self.engine, "stop"):
            self.engine.stop()
        if self.workspace is not None:
            self.workspace.close()

    # -- live updates --------------------------------------------------------------------------------

    def _read_data_version(self) -> int:
        return self.workspace.store.db.execute("PRAGMA data_version").fetchone()[0]

    def _read_rowids(self) -> dict[str, int]:
        rows = self.workspace.store.db.execute("SELECT contract_id, max(rowid) FROM changes GROUP BY contract_id")
        return {cid: last for cid, last in rows}

    def poll_store(self) -> None:
        """Cheap check, every half second, for commits by other connections to this home's store."""
        if self.workspace is None:
            return
        version = self._read_data_version()
        if version == self._data_version:
            return
        self._data_version = version
        self.announce_changes()

    def _engine_event(self, event: Any = None) -> None:
        # Called from the engine's task or thread: post_message is thread-safe and does not wait.
        self.post_message(SyncEventReceived(event))

    def on_sync_event_received(self, message: SyncEventReceived) -> None:
        self.engine_event(message.event)

    def engine_event(self, event: Any) -> None:
        """What the sync engine reports: admitted changes are news; refusals, both ways, are errors."""
        if self.workspace is None:
            return
        if isinstance(event, ev.PeerRefused):
            who = self.peer_name(event.peer_key) if event.peer_key else "an invitee"
            self.notify(f"Refused {who}: {event.reason}", title="Sync refused", severity="error", timeout=10)
        elif isinstance(event, ev.RefusedByPeer):
            self.notify(f"{self.peer_name(event.peer_key)} refused this device: {event.reason}",
                        title="Sync refused", severity="error", timeout=10)
        elif isinstance(event, ev.InviteRedeemed) and not event.contract_id:  # a pairing: a device, not a party
            from pactclient.tui.screens.devices import paired

            paired(self, event)
        elif isinstance(event, ev.InviteRedeemed):
            self.notify(f"{event.name or 'The invitee'} joined with your invite code: {event.message}", title="Invite used")
            from pactclient.tui.screens.invite import InviteCodeScreen

            if isinstance(self.screen, InviteCodeScreen) and self.screen.code.contract_id == event.contract_id:
                self.screen.dismiss(None)  # the code did its job: back to the contract, which shows the new party
        if isinstance(event, (ev.ChangesAdmitted, ev.InviteRedeemed)):
            self.announce_changes()

    def peer_name(self, key: bytes) -> str:
        names = {p["key"]: p["name"] for p in self.workspace.store.peers()}
        name = names.get(key.hex(), "")
        return f"{name} ({short_fingerprint(key)})" if name else short_fingerprint(key)

    def announce_changes(self) -> None:
        """Find which contracts grew since last time, tell the user, and refresh every screen.

        The contract screen showing a grown contract names what changed itself; the others are named here.
        """
        rowids = self._read_rowids()
        grown = frozenset(cid for cid, last in rowids.items() if last != self._rowids.get(cid))
        self._rowids = rowids
        if not grown:
            return
        shown = {getattr(s, "contract_id", None) for s in self.screen_stack}
        elsewhere = grown - shown
        if elsewhere:
            titles = {s["id"]: s.get("title", s["id"][:8]) for s in self.workspace.summaries() if s["id"] in elsewhere}
            named = ", ".join(sorted(titles.values())[:3]) + ("…" if len(titles) > 3 else "")
            self.notify(f"New changes in {named}", title="Updated")
        # Every screen, not only the top one: a dialog may be open over the contract that changed.
        for screen in self.screen_stack:
            screen.post_message(StoreChanged(grown))

    def note_own_write(self, contract_id: str) -> None:
        """After this app writes, remember the new rowid so the poll does not announce our own change."""
        self._rowids[contract_id] = self.workspace.store.last_rowid(contract_id)
        self._data_version = self._read_data_version()

    # -- notifications and errors ------------------------------------------------------------------

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = False) -> None:
        """Every notification of the app is plain text: most quote contract text or what a peer sent, and
        markup in them would be the other party's markup. ``markup`` is accepted and ignored."""
        super().notify(shown(message, multiline=True), title=shown(title), severity=severity, timeout=timeout,
                       markup=False)

    def _on_notify(self, event) -> None:
        # Toasts sit over the tables: only the newest few stay, the oldest make room (see pact.tcss).
        self._notifications.add(event.notification)
        for stale in list(self._notifications)[:max(0, len(self._notifications) - MAX_NOTIFICATIONS)]:
            self._unnotify(stale, refresh=False)
        self._refresh_notifications()

    def report(self, exc: PactError) -> None:
        """Every error a user can cause is a notification, never a crash."""
        self.notify(str(exc), title=ERROR_TITLES.get(type(exc).__name__, "Error"), severity="error", timeout=8)

    def peer_status(self) -> str:
        if self.engine is None or not hasattr(self.engine, "status"):
            return "offline · sync not running"
        try:
            status = self.engine.status()
        except Exception as exc:  # the engine is another package: never let its failure crash the UI
            return f"sync error: {exc}"
        if isinstance(status, dict):
            peers = status.get("peers_online", 0)
            names = [p.get("name") or p.get("key", "")[:8] for p in status.get("peers", [])]
            who = f" ({', '.join(names[:3])}{'…' if len(names) > 3 else ''})" if names else ""
            listening = f" on {status['listening']}" if status.get("listening") else ""
            return f"{peers} peer{'s' if peers != 1 else ''} online{who} · sync {status.get('state', 'running')}{listening}"
        return str(status)


def create_app(home: Path, engine: Any = None, clock: Callable[[], int] | None = None,
               engine_factory: Callable[[Path], Any] | None = None) -> PactApp:
    """The one factory for the app: used by ``pact tui``, the tests and the snapshots.

    ``engine_factory(home)`` makes the sync engine once the home has an identity (``pact tui`` passes
    ``pactclient.net.engine_for_tui``); the app then stops it when it ends.
    """
    return PactApp(home, engine=engine, clock=clock, engine_factory=engine_factory)
