"""Importing a bundle file from the home screen (``i``, "contract: import bundle"), as
``pact bundle import FILE`` does (``sync.bundle.read``): every change is verified, a bad one refuses
the file. A large bundle takes a while to verify, so it is read in a thread worker with a workspace of
its own, "importing …" in the status line meanwhile; the app's store poll then shows what arrived.
"""

from __future__ import annotations

from pathlib import Path

from pactclient.errors import PactError, UsageError
from pactclient.store.workspace import Workspace
from pactclient.sync import bundle
from pactclient.tui import progress
from pactclient.tui.screens.form import Field, Form, FormScreen


def source(path_text: str) -> Path:
    """The file to read, from the dialog's field; UsageError (said in the dialog) if there is none."""
    if not path_text:
        raise UsageError("Bundle file: say which file to import")
    path = Path(path_text).expanduser()
    path = path if path.is_absolute() else Path.cwd() / path
    if not path.is_file():
        raise UsageError(f"no file {path}")
    return path


def ask_and_import(screen) -> None:
    form = Form("Import a bundle", (Field("path", "Bundle file", placeholder=f"e.g. {Path.cwd() / 'case.pact'}"),),
                "A bundle another party wrote (b in their pact, or `pact bundle export`). Every change in it "
                "is verified before it enters your copy; a bad one refuses the whole file.", submit="Import")

    def act(answers: dict):
        path = source(answers["path"])
        return lambda: start(screen, path)
    screen.app.push_screen(FormScreen(form, act))


def start(screen, path: Path) -> None:
    app = screen.app
    progress.show(app, "import", f"importing {path.name}: verifying signed changes…")
    home, clock = app.home, app.clock

    def work() -> None:
        try:
            said = read_bundle(home, clock, path)
        except PactError as exc:
            app.call_from_thread(finish, app, None, exc)
        except OSError as exc:
            app.call_from_thread(finish, app, None, PactError(f"cannot read {path}: {exc.strerror or exc}"))
        else:
            app.call_from_thread(finish, app, said, None)
    screen.run_worker(work, thread=True, group="import", exclusive=True, name="import bundle")


def finish(app, said: str | None, error: PactError | None) -> None:
    progress.show(app, "import", None)
    if error is not None:
        app.report(error)
        return
    app.announce_changes()
    app.notify(said, title="Import")


def read_bundle(home: Path, clock, path: Path) -> str:
    ws = Workspace.open(home, clock)
    try:
        received = bundle.read(ws, path)
        view = ws.view(received.contract_id)
        party = view.party_by_key(ws.identity.party_key_hex)
    finally:
        ws.close()
    said = f"Admitted {len(received.admitted)} new signed changes into {view.title!r} ({received.contract_id[:8]})"
    if party is None:
        said += "; this device is not (yet) a party of that contract: you can read it but not act on it"
    return said
