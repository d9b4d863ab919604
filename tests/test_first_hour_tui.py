"""The first hour in the terminal UI (tracker issue 13, the TUI items): nothing crashes, nothing
misleads, everything is in view. Each test fails on the code before the fix and passes after."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import Static

from pactclient.identity import DeviceIdentity
from pactclient.tui import create_app
from pactclient.tui.screens.cannot_start import CannotStartScreen

from test_tui import SIZE, T0, World, fill, open_contract, rows, select_row, texts, until  # noqa: F401

PACT = [sys.executable, "-m", "pactclient"]


@pytest.fixture
def world(tmp_path) -> World:
    w = World(tmp_path)
    yield w
    w.wa.close()
    w.wb.close()


# -- 1: a home whose store cannot be opened ------------------------------------------------------------


def run_tui_until_it_ends(home: Path, limit: float = 30.0) -> subprocess.CompletedProcess:
    """Run ``pact --home HOME`` (the TUI) with keys typed on its stdin until it ends (bounded)."""
    env = {**os.environ, "COLUMNS": "100", "LINES": "30"}
    proc = subprocess.Popen([*PACT, "--home", str(home)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + limit
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                proc.stdin.write(b"q")  # "press any key"; keys typed before the screen is up are ignored
                proc.stdin.flush()
            except BrokenPipeError:
                break
            time.sleep(0.2)
        out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_tui_on_a_corrupt_store_says_why_in_one_line_and_exits_non_zero(tmp_path):
    home = tmp_path / "home"
    DeviceIdentity.create(home, "Alice", "")
    (home / "pact.db").write_bytes(b"this is not a database" * 100)
    done = run_tui_until_it_ends(home)
    err = done.stderr.decode(errors="replace")
    assert done.returncode == 1
    assert "Traceback" not in err + done.stdout.decode(errors="replace")
    assert "StoreError" not in err
    assert f"pact: {home / 'pact.db'} is not a pact database or is corrupt" in err
    assert (home / "pact.db").read_bytes() == b"this is not a database" * 100  # left untouched


async def test_tui_on_a_store_it_cannot_open_shows_the_reason_then_ends_with_an_error_code(tmp_path):
    home = tmp_path / "home"
    DeviceIdentity.create(home, "Alice", "")
    (home / "pact.db").mkdir()  # cannot be opened as a file at all
    app = create_app(home, clock=lambda: T0)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, CannotStartScreen)
        reason = str(app.screen.query_one("#cannot-start-reason", Static).render())
        assert "pact.db" in reason and "\n" not in reason.strip()
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 1
    assert app.failure == reason


# -- 8: a dialog refused for bad input keeps what was typed; 13a: its messages name its own fields ----------


def dialog_error(app) -> str:
    error = app.screen.query_one("#form-error", Static)
    return str(error.render()) if error.display else ""


def billing_case(world: World) -> str:
    """A billing dispute in Alice's home where she plays the supplier: she owns the money items."""
    from pactclient import catalog

    return world.wa.create("Bill I cannot read", catalog.load("billing-dispute"), "supplier")


async def open_titled(pilot, title: str) -> None:
    from pactclient.tui.screens.contract import ContractScreen

    app = pilot.app
    await pilot.pause()
    select_row(app, "queue", next(s["id"] for s in app.workspace.summaries() if s["title"] == title))
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(app.screen, ContractScreen)


async def test_set_item_with_a_bad_amount_keeps_the_dialog_and_what_was_typed(world):
    from pactclient.tui.screens.form import FormScreen

    cid = billing_case(world)
    before = world.wa.store.change_count(cid)
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_titled(pilot, "Bill I cannot read")
        select_row(app, "items", "balance")
        await pilot.press("i")
        await pilot.pause()
        await fill(pilot, {"amount": "lots", "owed_by": "supplier", "owed_to": "customer"})
        assert isinstance(app.screen, FormScreen)  # still open
        assert "not an amount: 'lots'" in dialog_error(app)
        assert app.screen.query_one("#field-amount").value == "lots"
        assert app.screen.query_one("#field-owed_by").value == "supplier"
        assert world.wa.store.change_count(cid) == before  # nothing written
        await fill(pilot, {"amount": "250.00"})  # fix the one field, submit again
        assert not isinstance(app.screen, FormScreen)
        assert "Balance on the account | Alice owes customer £250.00" in texts(app, "items")


async def test_money_without_who_owes_whom_names_the_dialogs_fields_not_cli_flags(world):
    cid = billing_case(world)
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_titled(pilot, "Bill I cannot read")
        select_row(app, "items", "balance")
        await pilot.press("i")
        await pilot.pause()
        await fill(pilot, {"amount": "250.00"})
        said = dialog_error(app) + " ".join(n.message for n in app._notifications)
        assert "'Owed by'" in said and "'Owed to'" in said
        assert "--" not in said
    assert world.wa.view(cid).items["balance"].amount is None


class InviteOnlyEngine:
    """An engine that makes no code: the dialog must refuse a bad validity before asking it."""

    def __init__(self):
        self.asked = []

    def invite(self, contract_id, role, ttl_ms):
        self.asked.append((role, ttl_ms))
        raise AssertionError("not reached in this test")

    def status(self):
        return {"state": "running", "peers_online": 0}


async def test_invite_with_a_bad_validity_keeps_the_dialog_and_what_was_typed(world):
    from pactclient.tui.screens.form import FormScreen

    engine = InviteOnlyEngine()
    app = create_app(world.a_home, engine=engine, clock=world.clock)
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        await pilot.press("v")
        await pilot.pause()
        await fill(pilot, {"role": "coordinator", "ttl": "soon"})
        assert isinstance(app.screen, FormScreen)
        assert "Valid for: not a duration: 'soon'" in dialog_error(app)
        assert (app.screen.query_one("#field-ttl").value, app.screen.query_one("#field-role").value) == ("soon", "coordinator")
        assert engine.asked == []


async def test_propose_with_a_bad_deadline_keeps_the_dialog_and_what_was_typed(world):
    from pactclient.tui.screens.contract import ContractScreen
    from pactclient.tui.screens.form import FormScreen

    before = world.wa.store.change_count(world.cid)
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        await pilot.press("p")
        await pilot.pause()
        await fill(pilot, {"kind": "change_due", "activity": "diagnose", "due": "next tuesday", "why": "engineer visit"})
        assert isinstance(app.screen, FormScreen)
        assert "not a time" in dialog_error(app)
        assert app.screen.query_one("#field-why").value == "engineer visit"
        assert world.wa.store.change_count(world.cid) == before
        await fill(pilot, {"due": "5d"})
        assert isinstance(app.screen, ContractScreen)
        assert "move the deadline of 'Find the cause' (diagnose)" in texts(app, "proposals")


async def test_a_deadline_in_the_past_or_years_ahead_is_refused_in_the_dialog(world):
    from pactclient.tui.screens.form import FormScreen

    before = world.wa.store.change_count(world.cid)
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        await pilot.press("p")
        await pilot.pause()
        await fill(pilot, {"kind": "change_due", "activity": "diagnose", "due": "2020-01-01", "why": "typo"})
        assert isinstance(app.screen, FormScreen)
        assert "in the past" in dialog_error(app)
        await fill(pilot, {"due": "3000d"})
        assert isinstance(app.screen, FormScreen)
        assert "more than two years ahead" in dialog_error(app)
        assert world.wa.store.change_count(world.cid) == before


# -- 14: "unseen changes" are other people's ----------------------------------------------------------


async def test_unseen_changes_count_only_what_others_wrote(world):
    from pactclient import catalog
    from pactclient.model import actions

    mine_only = world.wa.create("Only my own edits", catalog.load("billing-dispute"), "customer")
    world.wa.act(mine_only, actions.note, "a note to myself")
    by_bt = world.wa.store.db.execute(
        "SELECT count(*) FROM changes WHERE contract_id=? AND actor=?", (world.cid, bytes.fromhex(world.priya.key_hex))).fetchone()[0]
    assert by_bt >= 1
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        column = {key: n for n, key in enumerate(app.screen.query_one("#queue").columns)}
        new_column = {r[1]: r[column["unseen"]] for r in rows(app, "queue")}
        assert new_column == {"Mail re-downloads": str(by_bt), "Only my own edits": ""}
        count_line = str(app.screen.query_one("#queue-count", Static).render())
        assert f"· {by_bt} unseen change" in count_line


# -- 19: notifications do not pile up; the "not offered" line follows the focus -------------------------


async def test_a_burst_of_notifications_shows_only_the_newest_few(world):
    from textual.widgets._toast import Toast

    app = world.app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_contract(pilot)
        for n in range(10):
            app.notify(f"news {n}", title="Updated")
        await pilot.pause()
        toasts = [str(t.render()) for t in app.screen.query(Toast)]
        assert 1 <= len(toasts) <= 3
        assert any("news 9" in t for t in toasts)  # the newest is kept
        assert not any("news 0" in t for t in toasts)


async def test_the_not_offered_line_follows_the_focus_to_the_items(world):
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        select_row(app, "items", "severity")  # BT's item: Alice may not set it
        select_row(app, "activities", "callback")  # BT's activity: Alice may not start it
        await pilot.pause()
        hint = lambda hint_id: str(app.screen.query_one(f"#{hint_id}", Static).render())  # noqa: E731
        shown = lambda hint_id: app.screen.query_one(f"#{hint_id}", Static).display  # noqa: E731
        assert "s/w/d/x not offered" in hint("activity-hint")
        assert "i (set item)" not in hint("activity-hint")
        app.screen.query_one("#items").focus()
        await pilot.pause()
        assert "i (set item) not offered: only BT (the owner of 'Severity')" in hint("items-hint") and shown("items-hint")
        assert not shown("activity-hint")


# -- 17a: evidence from the TUI; files go to the working directory -----------------------------------


async def test_evidence_export_from_the_contract_screen_writes_a_file_that_verifies(world, tmp_path, monkeypatch):
    from pactclient import evidence

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        await pilot.press("e")
        await pilot.pause()
        path = Path(app.screen.query_one("#field-path").value)
        assert path.parent == work and path.name.endswith(".pact")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: any(n.title == "Evidence" for n in app._notifications), limit=30)
        assert any(str(path) in n.message for n in app._notifications if n.title == "Evidence")
    assert evidence.verify_bytes(path.read_bytes()).valid


async def test_evidence_export_is_in_the_command_palette(world):
    from pactclient.tui.commands import PactCommands

    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        provider = PactCommands(app.screen)
        titles = [title for title, _run, _help in provider._available()]
        assert "evidence: export" in titles


async def test_bundle_export_defaults_to_the_working_directory_and_never_overwrites(world, tmp_path, monkeypatch):
    from pactclient.tui.screens.form import FormScreen

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    precious = work / "precious.txt"
    precious.write_text("keep me")
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        await pilot.press("b")
        await pilot.pause()
        assert Path(app.screen.query_one("#field-path").value).parent == work
        await fill(pilot, {"path": str(precious)})
        assert isinstance(app.screen, FormScreen) and "already exists" in dialog_error(app)
        await fill(pilot, {"path": "case.pact"})
        assert not isinstance(app.screen, FormScreen)
    assert precious.read_text() == "keep me"
    assert (work / "case.pact").stat().st_size > 0


# -- 16: the scorecard on the contract screen, and a resolved case says so -----------------------------


def score_line(app) -> str:
    return str(app.screen.query_one("#contract-score", Static).render())


async def test_contract_screen_shows_promises_kept_per_party_and_says_when_resolved(world):
    from pactclient.model import actions

    for aid in ("callback", "diagnose", "fix"):
        world.wb.act(world.cid, actions.change_status, aid, "start")
        world.wb.act(world.cid, actions.change_status, aid, "done", outcome="ok")
    world.to_a()
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        line = score_line(app)
        assert "BT 3 kept, 0 broken" in line and "Alice 0 kept, 0 broken, 1 open" in line
        assert "Resolved" not in line
        select_row(app, "activities", "confirm")
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        await fill(pilot, {"outcome": "works again"})
        line = score_line(app)
        assert "✔ Resolved" in line and "Alice 1 kept, 0 broken" in line
    card = world.wa.view(world.cid).scorecard()  # the same figures as pact show --json / verify
    assert {s.party: (s.kept, s.broken) for s in card.per_party} == {"customer": (1, 0), "supplier": (3, 0)}


# -- 18: the queue names the person and says who owes whom; item ids; the propose dialog by kind -------


async def test_queue_names_the_problem_owner_whose_turn_it_is_and_who_owes_whom(world):
    from pactclient.model import actions

    world.wb.act(world.cid, actions.change_status, "callback", "start")  # Priya becomes the problem owner
    world.to_a()
    bill = billing_case(world)
    world.wa.act(bill, actions.set_item, "balance", amount="250.00", owed_by="supplier", owed_to="customer")
    world.wa.act(bill, actions.set_item, "monthly-debit", amount="30.00", owed_by="customer", owed_to="supplier")
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#queue")
        column = {key: n for n, key in enumerate(table.columns)}
        by_title = {r[1]: r for r in rows(app, "queue")}
        assert by_title["Mail re-downloads"][column["turn"]] == "on Priya (BT)"
        assert by_title["Mail re-downloads"][column["owner"]] == "Priya (BT)"  # named on the activity
        assert by_title["Bill I cannot read"][column["money"]] == "You owe customer £220.00"  # netted
        assert by_title["Mail re-downloads"][column["money"]] == "-"


async def test_items_table_shows_the_ids_and_propose_picks_the_item_from_a_list(world):
    from textual.widgets import Select

    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        assert "Account number | ACC-1234 | Alice | account" in texts(app, "items")
        await pilot.press("p")
        await pilot.pause()
        dialog = app.screen
        assert app.focused is dialog.query_one("#field-kind")  # the kind of change is asked first

        def shown_fields() -> set[str]:
            return {row.id.removeprefix("row-") for row in dialog.query(".form-field") if row.display}
        assert shown_fields() == {"kind", "activity", "due", "why"}  # moving a deadline
        dialog.query_one("#field-kind", Select).value = "remove_item"
        await pilot.pause()
        assert shown_fields() == {"kind", "item", "why"}
        item = dialog.query_one("#field-item", Select)
        assert [value for _label, value in item._options if value != Select.BLANK][:2] == ["account", "symptom"]
        await fill(pilot, {"item": "symptom", "why": "not needed"})
        assert "remove item 'What goes wrong' (symptom)" in texts(app, "proposals")


# -- 10a: v, then Enter, makes the invite code for the open slot (as the README says) --------------------


class InvitingEngine:
    """Makes real invite codes in the app's own store (what the TUI's engine does, minus the network)."""

    def __init__(self):
        self.app = None

    def invite(self, contract_id, role, ttl_ms):
        from pactclient.sync.invites import create_invite

        return create_invite(self.app.workspace, contract_id, role, ["127.0.0.1:9"], ttl_ms).encode()

    def status(self):
        return {"state": "running", "peers_online": 0}


async def test_v_then_enter_makes_the_invite_code_for_the_open_slot(world):
    from pactclient import catalog
    from pactclient.tui.screens.invite import InviteCodeScreen

    world.wa.create("Line drops at night", catalog.load("broadband-fault"), "customer")  # supplier slot open
    engine = InvitingEngine()
    app = create_app(world.a_home, engine=engine, clock=world.clock)
    engine.app = app
    async with app.run_test(size=SIZE) as pilot:
        await open_titled(pilot, "Line drops at night")
        await pilot.press("v")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, InviteCodeScreen)
        assert app.screen.role == "supplier"
        assert app.screen.path.read_text().startswith("pact-")


# -- 20: work that takes a while shows its progress in the status line -------------------------------------


def status_line(app) -> str:
    return str(app.screen.query_one("#status-bar", Static).render())


class Gate:
    """Holds a worker thread until the test has looked at the screen (no timing involved)."""

    def __init__(self):
        import threading

        self.reached, self.release = threading.Event(), threading.Event()

    def hold(self) -> None:
        self.reached.set()
        assert self.release.wait(30), "the test did not release the worker"


async def test_evidence_export_shows_progress_in_the_status_line_until_done(world, tmp_path, monkeypatch):
    from pactclient.tui.screens import file_export

    monkeypatch.chdir(tmp_path)
    gate, real = Gate(), file_export.write_evidence

    def slow_write(*args):
        gate.hold()
        return real(*args)
    monkeypatch.setattr(file_export, "write_evidence", slow_write)
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await until(pilot, gate.reached.is_set)
        assert "⟳ exporting evidence" in status_line(app)
        gate.release.set()
        await until(pilot, lambda: any(n.title == "Evidence" for n in app._notifications), limit=30)
        assert "⟳" not in status_line(app)


def a_well_formed_code() -> str:
    from pactclient.sync.invites import InviteCode

    return InviteCode("ab" * 16, b"k" * 32, b"i" * 8, b"s" * 16, T0 + 3_600_000, ("127.0.0.1:9",)).encode()


async def test_a_damaged_invite_code_is_said_in_the_join_dialog_which_keeps_it(world):
    from pactclient.tui.screens.form import FormScreen

    damaged = a_well_formed_code()[:-7] + "0000000"
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("j")
        await pilot.pause()
        await fill(pilot, {"code": damaged})
        assert isinstance(app.screen, FormScreen)
        assert "invite code is damaged" in dialog_error(app)
        assert app.screen.query_one("#field-code").value == damaged


async def test_join_shows_progress_in_the_status_line_until_it_fails_or_succeeds(world, monkeypatch):
    from pactclient.errors import PactError
    from pactclient.net import threaded

    gate = Gate()

    def slow_join(home, code):
        gate.hold()
        raise PactError("cannot reach the inviter at 127.0.0.1:9")
    monkeypatch.setattr(threaded, "join_with_code", slow_join)
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("j")
        await pilot.pause()
        await fill(pilot, {"code": a_well_formed_code()})
        await until(pilot, gate.reached.is_set)
        assert "⟳ joining" in status_line(app)
        gate.release.set()
        await until(pilot, lambda: any("cannot reach the inviter" in n.message for n in app._notifications))
        await until(pilot, lambda: "⟳" not in status_line(app))


async def test_bundle_import_from_the_home_screen_shows_progress_then_what_arrived(world, tmp_path, monkeypatch):
    from pactclient.model import actions
    from pactclient.sync import bundle
    from pactclient.tui.screens import bundle_import

    world.wb.act(world.cid, actions.note, "Engineer booked for Tuesday")
    path = tmp_path / "from-bt.pact"
    bundle.write(world.wb, world.cid, path)
    gate, real = Gate(), bundle_import.read_bundle

    def slow_read(*args):
        gate.hold()
        return real(*args)
    monkeypatch.setattr(bundle_import, "read_bundle", slow_read)
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("i")
        await pilot.pause()
        await fill(pilot, {"path": str(path)})
        await until(pilot, gate.reached.is_set)
        assert "⟳ importing from-bt.pact" in status_line(app)
        gate.release.set()
        await until(pilot, lambda: any(n.title == "Import" for n in app._notifications), limit=30)
        assert any("Admitted 1 new signed changes into 'Mail re-downloads'" in n.message for n in app._notifications)
        assert "⟳" not in status_line(app)
    assert "Engineer booked for Tuesday" in [e.text for e in world.wa.view(world.cid).timeline]


async def test_pairing_dialog_without_a_person_names_the_field_not_the_cli_flag(tmp_path, monkeypatch):
    from pactclient.tui.screens import devices

    home = tmp_path / "desk"
    DeviceIdentity.create(home, "Desk", "BT")
    monkeypatch.setattr(devices, "pairing_addresses", lambda home: ["127.0.0.1:9"])
    app = create_app(home, clock=lambda: T0)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        await fill(pilot, {"person": " ", "device": "laptop"})
        said = " ".join(n.message for n in app._notifications)
        assert "'Who will use the new device'" in said and "--person" not in said
