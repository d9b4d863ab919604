"""Home: the work queue. Every contract, what needs me first, filtered as I type.

Painted from the summary index only (``Workspace.summaries()``), never by loading documents, so it
stays quick with a thousand contracts. Titles and party names are other parties' words: every cell is a
``Text`` made by ``pactclient.display.text`` (a plain string cell would be parsed as markup).
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from pactclient.display import text
from pactclient.errors import PactError
from pactclient.tui import progress
from pactclient.tui.messages import StoreChanged
from pactclient.tui.queue import QueueRow, ago, build_rows, matching, time_left
from pactclient.tui.widgets.status_bar import StatusBar

LIGHT_STYLE = {"red": "bold red", "amber": "bold yellow", "green": "bold green"}


def light_cell(light: str) -> Text:
    return Text(f"● {light}", style=LIGHT_STYLE.get(light, ""))


class HomeScreen(Screen):
    BINDINGS = [
        Binding("n", "new_contract", "New contract", id="home.new_contract"),
        Binding("j", "join", "Join with a code", id="home.join"),
        Binding("c", "connect", "Connect to a peer", id="home.connect"),
        Binding("d", "devices", "Devices", id="home.devices"),
        Binding("i", "import_bundle", "Import a bundle", id="home.import_bundle", show=False),
        Binding("slash", "focus_filter", "Filter", id="home.filter"),
        Binding("enter", "open_contract", "Open", id="home.open", show=True),
        Binding("escape", "clear_filter", "Clear filter", id="home.clear_filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[QueueRow] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="Filter: type words from a title, a party, an owner, a template…", id="queue-filter")
        yield Static("", id="queue-count")
        yield DataTable(id="queue", cursor_type="row", zebra_stripes=True)
        yield StatusBar(id="status-bar")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#queue", DataTable)
        # 100 columns of cells plus one space of padding each side of 9 columns: fits 120 with the margins.
        table.add_column("light", key="light", width=7)
        table.add_column("contract", key="title", width=17)
        table.add_column("problem owner", key="owner", width=13)
        table.add_column("whose turn", key="turn", width=14)
        table.add_column("next deadline", key="due", width=13)
        table.add_column("money", key="money", width=19)
        table.add_column("updated", key="last", width=8)
        table.add_column("new", key="unseen", width=3)
        table.add_column("id", key="id", width=6)
        self.reload()
        table.focus()

    def reload(self) -> None:
        ws = self.app.workspace
        summaries = ws.summaries()
        me = bytes.fromhex(ws.identity.key_hex)  # this device's own edits are not news to it
        unseen = {s["id"]: ws.store.unseen_count(s["id"], not_by=me) for s in summaries}
        self.rows = build_rows(summaries, unseen, ws.clock())
        self.paint()

    def paint(self) -> None:
        table = self.query_one("#queue", DataTable)
        query = self.query_one("#queue-filter", Input).value
        shown = matching(self.rows, query)
        keep = table.cursor_row
        table.clear()
        now = self.app.workspace.clock()
        for r in shown:
            due = "-" if r.next_due is None else f"{time_left(r.next_due, now)} · {r.next_due_title}"
            turn = text(r.turn, style="bold" if r.mine else "dim" if r.resolved else "")
            table.add_row(light_cell(r.light), text(r.title), text(r.owner or "-"), turn, text(due), text(r.money or "-"),
                          ago(r.last_activity_at, now),
                          Text(str(r.unseen), style="bold cyan") if r.unseen else "", text(r.id[:6]), key=r.id)
        if shown:
            table.move_cursor(row=min(keep, len(shown) - 1))
        total = len(self.rows)
        mine = sum(1 for r in self.rows if r.mine)
        unseen = sum(r.unseen for r in self.rows)
        news = f" · {unseen} unseen change{'s' if unseen != 1 else ''}" if unseen else ""
        filt = f" · {len(shown)} match{'es' if len(shown) != 1 else ''} {query!r}" if query.strip() else ""
        empty = "" if total else " · press n to start your first contract, or j to join one with an invite code"
        self.query_one("#queue-count", Static).update(
            text(f"{total} contract{'s' if total != 1 else ''} · {mine} waiting on you{news}{filt}{empty}"))

    # -- events ------------------------------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        self.paint()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#queue", DataTable).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.open(event.row_key.value)

    def on_store_changed(self, message: StoreChanged) -> None:
        self.reload()

    def on_screen_resume(self) -> None:
        if self.is_mounted and self.app.workspace is not None:
            self.reload()

    # -- actions -----------------------------------------------------------------------------------

    def selected_id(self) -> str | None:
        table = self.query_one("#queue", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value

    def open(self, contract_id: str) -> None:
        from pactclient.tui.screens.contract import ContractScreen

        self.app.push_screen(ContractScreen(contract_id))

    def action_open_contract(self) -> None:
        cid = self.selected_id()
        if cid:
            self.open(cid)

    def action_new_contract(self) -> None:
        from pactclient.tui.screens.new_contract import NewContractScreen

        self.app.push_screen(NewContractScreen())

    def action_join(self) -> None:
        from pactclient.tui.screens.form import Field, Form, FormScreen

        form = Form("Join a contract", (Field("code", "Invite code (starts with pact-)"),),
                    "Paste the one-time code the other party gave you. This device connects to theirs, "
                    "proves the code, and receives the contract.", submit="Join")

        def check(answers: dict) -> None:
            # A damaged code is said in the dialog, which keeps what was pasted; the network comes after.
            from pactclient.sync.invites import InviteCode

            InviteCode.decode(answers["code"])

        def done(answers: dict | None) -> None:
            if answers and answers["code"]:
                progress.show(self.app, "join", "joining: connecting to the inviter, proving the code…")
                self.join(answers["code"])
        self.app.push_screen(FormScreen(form, check), done)

    @work(thread=True, exclusive=True, group="join")
    def join(self, text: str) -> None:
        """Redeem the code off the UI thread (it waits on the network); report back on the UI thread."""
        from pactclient.net.threaded import join_with_code

        try:
            done = join_with_code(self.app.home, text)
        except PactError as exc:
            self.app.call_from_thread(self.app.report, exc)
            return
        except OSError as exc:
            self.app.call_from_thread(self.app.report, PactError(f"cannot join: {exc}"))
            return
        finally:
            self.app.call_from_thread(progress.show, self.app, "join", None)
        self.app.call_from_thread(self.joined, done)

    def action_connect(self) -> None:
        from pactclient.tui.screens.form import Field, Form, FormScreen

        form = Form("Connect to a peer", (Field("address", "Address (HOST:PORT)", placeholder="e.g. 192.168.1.20:7400"),),
                    "Sync with a peer that listens at this address (its `pact serve`, or its pact). It must "
                    "be a party of one of your contracts. Once reached, it is dialled again whenever it is "
                    "not connected.", submit="Connect")

        def done(answers: dict | None) -> None:
            if answers and answers["address"]:
                progress.show(self.app, "connect", f"connecting to {answers['address']}…")
                self.connect(answers["address"])
        self.app.push_screen(FormScreen(form), done)

    @work(thread=True, exclusive=True, group="connect")
    def connect(self, address: str) -> None:
        from pactclient.net.threaded import connect_peer

        try:
            said = connect_peer(self.app.home, address)
        except PactError as exc:
            self.app.call_from_thread(self.app.report, exc)
            return
        finally:
            self.app.call_from_thread(progress.show, self.app, "connect", None)
        self.app.call_from_thread(self.app.notify, said, title="Peer")

    def joined(self, done) -> None:
        self.app.announce_changes()
        self.reload()
        self.app.notify(f"Joined: {done.message}", title="Join")
        self.open(done.contract_id)

    def action_import_bundle(self) -> None:
        from pactclient.tui.screens.bundle_import import ask_and_import

        ask_and_import(self)

    def action_devices(self) -> None:
        from pactclient.tui.screens.devices import DevicesScreen

        self.app.push_screen(DevicesScreen())

    def action_focus_filter(self) -> None:
        self.query_one("#queue-filter", Input).focus()

    def action_clear_filter(self) -> None:
        self.query_one("#queue-filter", Input).value = ""
        self.query_one("#queue", DataTable).focus()
