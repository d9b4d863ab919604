"""The files attached to one contract (``f`` on the contract screen): list, attach, save.

Each row says whether the bytes in this home are the ones the contract signed: ``present`` (they hash
to the signed SHA-256), ``missing`` (not received yet: they arrive from a peer that has them, or in a
bundle) or ``ALTERED`` (stored bytes that do not match). A missing or altered file is never saved.
Names and media types were written by some party: they reach the screen only as ``Text``.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from pactclient.display import assemble, text
from pactclient.errors import PactError, RefusedOperation, StoreError, UsageError
from pactclient.model import attachments as model
from pactclient.model.attachments import LIMIT_TEXT, human_size
from pactclient.store.attachments import ALTERED, MISSING, FileStore, stage_file, statuses
from pactclient.tui.messages import StoreChanged
from pactclient.tui.queue import when
from pactclient.tui.screens.form import Field, Form, FormScreen

COLUMNS = ("name", "type", "size", "sha256", "by", "attached", "status")
STATUS_TEXT = {"present": ("present", "green"), MISSING: ("missing (not received yet)", "yellow"),
               ALTERED: ("ALTERED: not the signed bytes", "bold red")}
ARRIVAL_CHECK_SECONDS = 1.0  # how often a missing file is looked for (a peer may deliver it meanwhile)


class AttachmentsScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="attachments.back"),
        Binding("a", "attach", "Attach a file", id="attachments.attach"),
        Binding("s", "save", "Save", id="attachments.save"),
    ]

    def __init__(self, contract_id: str) -> None:
        super().__init__()
        self.contract_id = contract_id
        self.rows: list[tuple[model.Attachment, str]] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="attachments-head")
        table = DataTable(id="attachments", cursor_type="row")
        table.border_title = "Attachments"
        for col in COLUMNS:
            table.add_column(col, key=col)
        yield table
        yield Static(text(f"a attaches a file (at most {LIMIT_TEXT}); s saves the selected one after checking "
                          "its bytes against the signed SHA-256"), id="attachments-hint")
        yield Footer(compact=True)

    @property
    def ws(self):
        return self.app.workspace

    def on_mount(self) -> None:
        self.reload()
        self.query_one("#attachments", DataTable).focus()
        self.set_interval(ARRIVAL_CHECK_SECONDS, self.check_arrivals)

    def reload(self) -> None:
        try:
            view = self.ws.view(self.contract_id)
            self.rows = statuses(self.ws, self.contract_id)
        except PactError as exc:
            self.app.report(exc)
            return
        self.query_one("#attachments-head", Static).update(
            assemble((view.title, "bold"), f"  ·  {len(self.rows)} attachment(s)  ·  {self.contract_id[:8]}"))
        table = self.query_one("#attachments", DataTable)
        keep = table.cursor_row
        table.clear()
        for a, status in self.rows:
            word, style = STATUS_TEXT[status]
            table.add_row(text(a.name), text(a.media_type), human_size(a.size), a.sha256[:16] + "…",
                          text(view.label(a.author)), when(a.at), text(word, style=style), key=a.sha256)
        if self.rows:
            table.move_cursor(row=min(keep, len(self.rows) - 1))

    def check_arrivals(self) -> None:
        """Repaint when a file that was missing has arrived (checked by existence: cheap)."""
        files = FileStore(self.ws.home)
        if any(status == MISSING and files.exists(a.sha256) for a, status in self.rows):
            self.reload()

    def on_store_changed(self, message: StoreChanged) -> None:
        if not message.contract_ids or self.contract_id in message.contract_ids:
            self.reload()

    def selected(self) -> tuple[model.Attachment, str] | None:
        table = self.query_one("#attachments", DataTable)
        if not table.row_count:
            return None
        return self.rows[table.cursor_row]

    # -- actions -----------------------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def ask(self, form: Form, then) -> None:
        # ``then`` runs with the dialog open: a refusal is said in it, and what was typed stays (FormScreen).
        self.app.push_screen(FormScreen(form, then))

    def action_attach(self) -> None:
        form = Form("Attach a file", (
            Field("path", "File", placeholder="~/Documents/bill.pdf", hint=f"at most {LIMIT_TEXT}"),
            Field("name", "Name the other parties see", placeholder="(the file's own name)"),
        ), "Its SHA-256 is signed into the contract; its bytes travel to the other parties with it.", submit="Attach")

        def then(ans):
            if not ans["path"]:
                raise UsageError("name the file to attach")
            path = Path(ans["path"]).expanduser()
            args = stage_file(self.ws.home, path, ans["name"] or None)
            outcome = self.ws.act(self.contract_id, model.attach, *args)
            self.app.note_own_write(self.contract_id)  # the sync engine sees the store grow and tells peers
            self.app.notify(outcome.message, title="Attached")
            self.reload()
        self.ask(form, then)

    def action_save(self) -> None:
        chosen = self.selected()
        if chosen is None:
            self.app.report(RefusedOperation("this contract has no attachments"))
            return
        a, _ = chosen
        form = Form(f"Save {a.name}", (
            Field("path", "Save as", str(Path.home() / a.name)),
            Field("overwrite", "If the file exists", "no", (("keep it (do not save)", "no"), ("overwrite it", "yes"))),
        ), f"{a.media_type}, {human_size(a.size)}, sha256 {a.sha256}", submit="Save")

        def then(ans):
            target = Path(ans["path"] or a.name).expanduser()
            if target.is_dir():
                target = target / a.name
            if target.exists() and ans["overwrite"] != "yes":
                raise RefusedOperation(f"{target} exists; not overwritten (choose 'overwrite it')")
            try:
                data = FileStore(self.ws.home).read(a.sha256)
            except StoreError as exc:
                self.reload()
                raise RefusedOperation(f"cannot save {a.name!r}: {exc}") from None
            from pactclient.evidence.export import write_all

            write_all([(target, data)])
            self.app.notify(f"Saved {a.name} to {target} ({len(data)} bytes, sha256 verified)", title="Saved")
        self.ask(form, then)
