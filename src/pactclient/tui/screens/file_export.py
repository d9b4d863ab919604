"""Writing a contract to a file from the contract screen: a signed evidence file (``e``, "evidence:
export") and a bundle (``b``, "contract: export bundle").

Both ask for a path; the default is a file named after the contract in the directory ``pact`` was
started from (where a user looks for what they just wrote), not the home directory. A path that exists
is refused in the dialog (nothing is overwritten). The evidence file is made exactly as ``pact export``
makes it — countersign what waits, ``evidence.encode``, check it with ``evidence.verify_bytes``, write it
with ``evidence.write_all`` — in a thread worker with its own workspace, its progress in the status
line; a file that would not verify is not written, and the reason is said.
"""

from __future__ import annotations

from pathlib import Path

from pactclient.errors import PactError, UsageError
from pactclient.model.actions import slug
from pactclient.store.workspace import Workspace
from pactclient.sync import bundle
from pactclient.tui import progress
from pactclient.tui.screens.form import Field, Form


def default_path(screen, suffix: str) -> Path:
    return Path.cwd() / f"{slug(screen.view.title)}-{screen.contract_id[:6]}{suffix}"


def target(path_text: str) -> Path:
    """The file to write, from the dialog's field; UsageError (said in the dialog) if it cannot be."""
    if not path_text:
        raise UsageError("Write to file: say where to write")
    path = Path(path_text).expanduser()
    path = path if path.is_absolute() else Path.cwd() / path
    if path.is_dir():
        raise UsageError(f"{path} is a directory: name a file in it")
    if path.exists():
        raise UsageError(f"{path} already exists: choose another name (nothing is overwritten)")
    if not path.parent.is_dir():
        raise UsageError(f"no directory {path.parent}")
    return path


def export_bundle(screen) -> None:
    form = Form("Export a bundle", (Field("path", "Write to file", str(default_path(screen, ".pact"))),),
                "The bundle holds every signed change; the other party imports it with `pact bundle import`. "
                "It is not evidence: for a third party, export evidence (e).", submit="Export")

    def then(answers: dict) -> None:
        path = target(answers["path"])
        try:
            count = bundle.write(screen.ws, screen.contract_id, path)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
        screen.app.notify(f"Wrote {count} signed changes to {path}", title="Bundle")
    screen.ask(form, then)


def export_evidence(screen) -> None:
    form = Form("Export evidence", (Field("path", "Write to file", str(default_path(screen, "-evidence.pact"))),),
                "A signed evidence file: the whole signed history, the parties' keys and your signature. "
                "Anyone can check it offline with `pact verify FILE` (docs/evidence.md), and "
                "`pact report FILE -o case.html` makes a readable page of it.", submit="Export")

    def then(answers: dict):
        path = target(answers["path"])
        return lambda: start(screen, path)
    screen.ask(form, then)


def start(screen, path: Path) -> None:
    app = screen.app
    progress.show(app, "evidence", "exporting evidence")
    home, clock, cid = app.home, app.clock, screen.contract_id

    def work() -> None:
        try:
            said = write_evidence(home, clock, cid, path, progress.counter(app, "evidence", "exporting evidence", "changes"))
        except PactError as exc:
            app.call_from_thread(finish, app, None, exc)
            return
        app.call_from_thread(finish, app, said, None)
    screen.run_worker(work, thread=True, group="evidence", exclusive=True, name="export evidence")


def finish(app, said: str | None, error: PactError | None) -> None:
    progress.show(app, "evidence", None)
    if error is not None:
        app.report(error)
    else:
        app.notify(said, title="Evidence", timeout=10)


def write_evidence(home: Path, clock, contract_id: str, path: Path, on_progress) -> str:
    """What ``pact export -o PATH`` does, on a workspace of its own (this runs in a worker thread)."""
    from pactclient import evidence
    from pactclient.evidence.making import make_evidence

    ws = Workspace.open(home, clock)
    try:
        countersigned, data, verdict = make_evidence(ws, contract_id, on_progress)
        evidence.write_all([(path, data)])
        total = ws.store.change_count(contract_id)
        fingerprint = ws.identity.fingerprint
    finally:
        ws.close()
    first = f"countersigned {countersigned} agreed version(s), then " if countersigned else ""
    return (f"{first}wrote {path}: {total} signed changes, sha256 {verdict.sha256[:16]}…; check it with "
            f"`pact verify`. Give the recipient your key fingerprint to compare: {fingerprint}")
