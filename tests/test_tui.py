"""The terminal UI, driven with Textual's Pilot: each action as a user would do it, plus snapshots.

Two homes (a customer and a supplier) share a contract through a bundle, like two real parties.
The clock is fixed and the keys and contract ids are made deterministic so that snapshots repeat.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from textual.widgets import DataTable, Input

from pactclient import catalog
from pactclient.identity import DeviceIdentity
from pactclient.identity import device as device_mod
from pactclient.model import actions
from pactclient.store import Workspace
from pactclient.store import workspace as workspace_mod
from pactclient.sync import bundle
from pactclient.tui import create_app
from pactclient.tui.screens.contract import ContractScreen
from pactclient.tui.screens.form import FormScreen
from pactclient.tui.screens.home import HomeScreen

T0 = int(datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc).timestamp() * 1000)
SIZE = (120, 40)


@pytest.fixture(autouse=True)
def deterministic(monkeypatch):
    """Keys and contract ids from counters, so that every run renders the same screens."""
    seeds = iter(range(1, 1000))
    monkeypatch.setattr(device_mod.Ed25519PrivateKey, "generate",
                        staticmethod(lambda: Ed25519PrivateKey.from_private_bytes(bytes([next(seeds)]) * 32)))
    ids = iter(range(1, 1000))
    monkeypatch.setattr(workspace_mod.uuid, "uuid4", lambda: uuid.UUID(int=next(ids) * 0x1111_1111_1111_1111))


class World:
    """A customer's home and a supplier's home with one broadband contract both have signed."""

    def __init__(self, tmp: Path):
        self.a_home, self.b_home = tmp / "alice", tmp / "bt"
        self.alice = DeviceIdentity.create(self.a_home, "Alice", "")
        self.priya = DeviceIdentity.create(self.b_home, "Priya", "BT")
        self.clock = lambda: T0
        self.wa = Workspace(self.a_home, self.alice, clock=self.clock)
        self.wb = Workspace(self.b_home, self.priya, clock=self.clock)
        self.cid = self.wa.create("Mail re-downloads", catalog.load("broadband-fault"), "customer")
        self.wa.act(self.cid, actions.add_party, self.priya.key_hex, "Priya", "supplier", "BT")
        self.wa.act(self.cid, actions.set_item, "account", "ACC-1234")
        self.to_b()
        self.wb.act(self.cid, actions.set_item, "severity", "degraded")
        self.to_a()

    def to_b(self) -> None:
        path = self.a_home / "out.pact"
        bundle.write(self.wa, self.cid, path)
        bundle.read(self.wb, path)

    def to_a(self) -> None:
        path = self.b_home / "out.pact"
        bundle.write(self.wb, self.cid, path)
        bundle.read(self.wa, path)

    def app(self, side: str = "a"):
        return create_app(self.a_home if side == "a" else self.b_home, clock=self.clock)


@pytest.fixture
def world(tmp_path) -> World:
    w = World(tmp_path)
    yield w
    w.wa.close()
    w.wb.close()


def rows(app, table_id: str) -> list[list[str]]:
    table = app.screen.query_one(f"#{table_id}", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def texts(app, table_id: str) -> str:
    return "\n".join(" | ".join(r) for r in rows(app, table_id))


async def open_contract(pilot) -> None:
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(pilot.app.screen, ContractScreen)


async def until(pilot, condition, limit: float = 5.0) -> None:
    """Let the app run until ``condition()`` holds (the footer, for one, repaints after a refresh)."""
    for _ in range(int(limit / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    assert condition(), "condition not reached in time"


def footer_keys(app) -> set[str]:
    """The keys the footer offers on the open screen (the command palette key aside)."""
    from textual.widgets._footer import FooterKey

    return {k.key for k in app.screen.query(FooterKey) if "-command-palette" not in k.classes}


def select_row(app, table_id: str, key: str) -> None:
    table = app.screen.query_one(f"#{table_id}", DataTable)
    table.move_cursor(row=table.get_row_index(key))


async def fill(pilot, values: dict[str, str]) -> None:
    """Type into the open dialog's inputs (by field name), then submit it."""
    screen = pilot.app.screen
    assert isinstance(screen, FormScreen)
    for name, value in values.items():
        widget = screen.query_one(f"#field-{name}")
        widget.value = value
    await pilot.press("ctrl+s")
    await pilot.pause()


# -- first run ----------------------------------------------------------------------------------------


async def test_first_run_creates_identity_then_shows_empty_queue(tmp_path):
    home = tmp_path / "new"
    app = create_app(home, clock=lambda: T0)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "shared workspace" in str(app.screen.query_one("#setup-explain").render())
        await pilot.click("#setup-name")
        await pilot.press(*"Dana")
        await pilot.press("enter")
        await pilot.press(*"Acme")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        assert "press n to start" in str(app.screen.query_one("#queue-count").render())
    ident = DeviceIdentity.load(home)
    assert (ident.name, ident.org) == ("Dana", "Acme")


async def test_first_run_without_a_name_says_why_and_creates_nothing(tmp_path):
    home = tmp_path / "new"
    app = create_app(home, clock=lambda: T0)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert any("name is required" in n.message for n in app._notifications)
    assert not (home / "identity.json").exists()


# -- the work queue -------------------------------------------------------------------------------------


async def test_queue_puts_my_turn_first_and_filters_as_i_type(world):
    # A second contract where nothing waits on Alice's side (BT must call back) vs one where Alice must act.
    other = world.wa.create("Refund for router", catalog.load("billing-dispute"), "customer")
    world.wa.act(other, actions.add_activity, "Send the router back", "customer", T0 + 3600_000)
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = rows(app, "queue")
        assert [r[1] for r in table] == ["Refund for router", "Mail re-downloads"]
        assert table[0][3] == "waiting on you (and supplier)"
        assert table[1][3] == "on BT"
        assert table[0][0] == "● amber"
        await pilot.press("slash", *"mail")
        await pilot.pause()
        assert [r[1] for r in rows(app, "queue")] == ["Mail re-downloads"]
        await pilot.press("escape")
        await pilot.pause()
        assert len(rows(app, "queue")) == 2


async def test_new_contract_from_template_with_preview(world):
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        preview = str(app.screen.query_one("#new-preview").render())
        assert "Balance on the account" in preview  # billing-dispute comes first
        await pilot.press("down")  # broadband-fault
        await pilot.pause()
        assert "Call the customer back" in str(app.screen.query_one("#new-preview").render())
        app.screen.query_one("#new-title", Input).value = "Line drops at night"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ContractScreen)
        assert "Line drops at night" in str(app.screen.query_one("#contract-head").render())
    assert "Line drops at night" in [s["title"] for s in world.wa.summaries()]


# -- the contract screen --------------------------------------------------------------------------------


async def test_contract_shows_parties_money_activities_and_signed_timeline(world):
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        assert "supplier | supplier | Priya | BT | joined" in texts(app, "parties")
        assert "Account number | ACC-1234" in texts(app, "items")
        assert "Call the customer back | BT | - | open | 2026-11-24 09:00 (in 24h)" in texts(app, "activities")
        timeline = rows(app, "timeline")
        assert timeline[0][1:3] == ["BT", "✔"] and "Severity: degraded" in timeline[0][4]
    assert world.wa.store.unseen_count(world.cid) == 0  # opening the contract marks it seen


async def test_set_item_as_owner(world):
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        select_row(app, "items", "symptom")
        await pilot.press("i")
        await pilot.pause()
        await fill(pilot, {"value": "Outlook downloads all mail again"})
        assert "What goes wrong | Outlook downloads all mail again" in texts(app, "items")
    assert world.wa.view(world.cid).items["symptom"].value == "Outlook downloads all mail again"


async def test_edit_my_role_may_not_make_is_not_offered_and_says_why(world):
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        assert "i" in footer_keys(app)  # Alice may set the account number (the first item)
        select_row(app, "items", "severity")
        assert app.screen.check_action("set_item", ()) is False  # not offered: left out of the footer
        assert app.screen.check_action("status", ("start",)) is False
        await until(pilot, lambda: "i" not in footer_keys(app))
        assert not {"s", "w", "d", "x", "y", "n"} & footer_keys(app)
        assert {"m", "p", "v"} <= footer_keys(app)
        assert "only BT (the assignee)" in str(app.screen.query_one("#activity-hint").render())
        await pilot.press("i")  # pressed anyway: says why
        await pilot.pause()
        assert [(n.title, n.severity) for n in app._notifications if "only BT (the owner of 'Severity')" in n.message] \
            == [("Not allowed", "error")]
        await pilot.press("s")
        await pilot.pause()
        assert any("only BT (the assignee) or a coordinator may change" in n.message for n in app._notifications)
        assert isinstance(app.screen, ContractScreen)
        app.screen.action_set_item()  # as the command palette does
        await pilot.pause()
        assert sum("only BT (the owner of 'Severity')" in n.message for n in app._notifications) == 2
    assert world.wa.view(world.cid).items["severity"].value == "degraded"


async def test_supplier_starts_waits_and_finishes(world):
    app = world.app("b")
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        select_row(app, "activities", "callback")
        await pilot.press("s")
        await pilot.pause()
        assert "Call the customer back | BT | Priya | in progress" in texts(app, "activities")
        await pilot.press("w")
        await pilot.pause()
        await fill(pilot, {"waiting_on": "customer", "outcome": "router logs"})
        assert "waiting on Alice" in texts(app, "activities")
        await pilot.press("d")
        await pilot.pause()
        await fill(pilot, {"outcome": "called at 10:00"})
        assert "Call the customer back | BT | Priya | done" in texts(app, "activities")
        assert "finished 'Call the customer back'" in texts(app, "timeline")


async def test_every_key_offered_fits_the_footer_at_120_columns(world):
    """The busiest contract screen: an activity, an item and a proposal all waiting on BT."""
    from textual.widgets._footer import FooterKey

    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        await pilot.press("p")
        await pilot.pause()
        await fill(pilot, {"kind": "change_due", "activity": "diagnose", "due": "5d"})
    world.to_b()
    app = world.app("b")
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        select_row(app, "activities", "callback")
        select_row(app, "items", "reference")
        from textual.widgets._footer import FooterLabel

        def laid_out() -> bool:  # every key there, and the recomposed footer placed on screen
            widgets = [*app.screen.query(FooterKey), *app.screen.query(FooterLabel)]
            return ({"i", "s", "w", "d", "x", "m", "r", "a", "p", "y", "n", "v"} <= footer_keys(app)
                    and all(w.region.width for w in widgets))
        await until(pilot, laid_out)
        await pilot.pause()
        parts = sorted((w.region.x, w.region.right, str(w.render()))
                       for w in [*app.screen.query(FooterKey), *app.screen.query(FooterLabel)])
        assert parts[-1][1] <= SIZE[0]
        assert all(right <= nxt for (_x, right, _t), (nxt, _r, _t2) in zip(parts, parts[1:])), parts  # no overlap
        labels = [(x, right) for x, right, _t in sorted((w.region.x, w.region.right, 0) for w in app.screen.query(FooterLabel))]
        starts = {x for x, _r, _t in parts}
        assert all(right not in starts for _x, right in labels), (labels, parts)  # a label is not glued to the next key


async def test_start_and_done_are_not_offered_before_what_an_activity_comes_after(world):
    app = world.app("b")
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        select_row(app, "activities", "diagnose")  # comes after the callback, still open
        assert app.screen.check_action("status", ("start",)) is False
        assert app.screen.check_action("status", ("done",)) is False
        assert app.screen.check_action("status", ("wait",)) is True
        await until(pilot, lambda: "s" not in footer_keys(app) and "w" in footer_keys(app))
        assert "'Find the cause' comes after 'Call the customer back'" in str(app.screen.query_one("#activity-hint").render())
        await pilot.press("s")
        await pilot.pause()
        assert any("comes after 'Call the customer back', not finished yet" in n.message for n in app._notifications)
        assert "Find the cause | BT | - | open" in texts(app, "activities")
        select_row(app, "activities", "callback")
        await pilot.press("s")
        await pilot.pause()
        assert app.screen.check_action("status", ("start",)) is False  # already in progress
        assert app.screen.check_action("status", ("done",)) is True


async def test_message_and_decision_go_on_the_timeline(world):
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        await pilot.press("m")
        await pilot.pause()
        await fill(pilot, {"text": "It happens every evening"})
        await pilot.press("r")
        await pilot.pause()
        await fill(pilot, {"text": "BT will send an engineer"})
        top = rows(app, "timeline")[:2]
        assert [(r[3], r[4]) for r in top] == [("decision", "BT will send an engineer"),
                                              ("message", "It happens every evening")]


async def test_propose_then_the_other_party_accepts(world):
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        select_row(app, "activities", "callback")
        await pilot.press("p")
        await pilot.pause()
        await fill(pilot, {"kind": "change_due", "activity": "callback", "due": "2026-11-23T17:00", "why": "I am out all day"})
        assert "Alice ✔  BT ?" in texts(app, "proposals")
        assert "open" in texts(app, "proposals")
        assert app.screen.check_action("answer", (True,)) is False  # nothing waits on Alice: y/n not offered
    world.to_b()
    app = world.app("b")
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        await pilot.press("y")
        await pilot.pause()
        await fill(pilot, {"reason": "fine"})
        assert "Alice ✔  BT ✔ | applied" in texts(app, "proposals")
        assert "2026-11-23 17:00" in texts(app, "activities")


async def test_reject_and_add_activity(world):
    app = world.app("b")
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        await pilot.press("a")
        await pilot.pause()
        await fill(pilot, {"title": "Send an engineer", "assignee": "supplier", "due": "2d"})
        assert "add activity 'Send an engineer'" in texts(app, "proposals")
    world.to_a()
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        await pilot.press("n")
        await pilot.pause()
        await fill(pilot, {"reason": "not needed"})
        assert "rejected" in texts(app, "proposals")
        assert "Send an engineer" not in texts(app, "activities")


async def test_bad_input_in_a_dialog_is_said_in_the_dialog_and_writes_nothing(world):
    app = world.app()
    before = world.wa.store.change_count(world.cid)
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        await pilot.press("p")
        await pilot.pause()
        await fill(pilot, {"kind": "change_due", "activity": "callback", "due": "next tuesday"})
        assert "not a time" in str(app.screen.query_one("#form-error").render())  # the dialog stays open
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("v")
        await pilot.pause()
        await fill(pilot, {"key": "abc", "name": "Bob", "role": "coordinator"})
        assert "64 hex characters" in str(app.screen.query_one("#form-error").render())
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ContractScreen)
    assert world.wa.store.change_count(world.cid) == before


async def test_invite_a_party_by_key_and_export_a_bundle(world, tmp_path):
    coordinator = DeviceIdentity.create(tmp_path / "coord", "Sam", "Ombudsman")
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        await pilot.press("v")
        await pilot.pause()
        await fill(pilot, {"key": coordinator.key_hex, "name": "Sam", "role": "coordinator", "org": "Ombudsman"})
        assert "add Ombudsman as coordinator" in texts(app, "proposals")
        await pilot.press("b")
        await pilot.pause()
        await fill(pilot, {"path": str(tmp_path / "case.pact")})
        assert any("signed changes to" in n.message for n in app._notifications)
    wc = Workspace(tmp_path / "coord", coordinator, clock=world.clock)
    received = bundle.read(wc, tmp_path / "case.pact")
    assert received.contract_id == world.cid
    wc.close()


# -- live ----------------------------------------------------------------------------------------------


async def test_change_from_elsewhere_appears_on_the_open_screen(world):
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        assert "Call the customer back | BT | - | open" in texts(app, "activities")
        # BT starts the callback; its bundle is imported into Alice's home by another Workspace object,
        # as `pact bundle import` in another process would do.
        world.wb.act(world.cid, actions.change_status, "callback", "start")
        path = world.b_home / "live.pact"
        bundle.write(world.wb, world.cid, path)
        other = Workspace(world.a_home, world.alice, clock=world.clock)
        bundle.read(other, path)
        other.close()
        app.poll_store()  # what the half-second timer does
        await pilot.pause()
        assert "Call the customer back | BT | Priya | in progress" in texts(app, "activities")
        news = [n for n in app._notifications if n.title == "New in Mail re-downloads"]
        assert [n.message for n in news] == ["BT started 'Call the customer back'; problem owner: Priya"]


async def test_change_arriving_under_an_open_dialog_refreshes_the_contract(world):
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        await pilot.press("m")  # Alice is typing a message when BT's note arrives
        await pilot.pause()
        world.wb.act(world.cid, actions.note, "An engineer comes on Friday")
        path = world.b_home / "live.pact"
        bundle.write(world.wb, world.cid, path)
        other = Workspace(world.a_home, world.alice, clock=world.clock)
        bundle.read(other, path)
        other.close()
        app.poll_store()
        await pilot.pause()
        assert isinstance(app.screen, FormScreen)
        assert any(n.message == "BT: An engineer comes on Friday" for n in app._notifications)
        await pilot.press("escape")
        await pilot.pause()
        assert "An engineer comes on Friday" in texts(app, "timeline")
    assert world.wa.store.unseen_count(world.cid) == 0  # it was on screen: seen


async def test_own_edits_are_not_announced_as_news(world):
    app = world.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        await pilot.press("m")
        await pilot.pause()
        await fill(pilot, {"text": "hello"})
        app.poll_store()
        await pilot.pause()
        assert not any("New changes" in n.message for n in app._notifications)


# -- snapshots (120x40) -----------------------------------------------------------------------------------


def test_snapshot_home(world, snap_compare):
    assert snap_compare(world.app(), terminal_size=SIZE)


def test_snapshot_contract(world, snap_compare):
    assert snap_compare(world.app(), terminal_size=SIZE, press=["enter"])


def test_snapshot_proposal_dialog(world, snap_compare):
    assert snap_compare(world.app(), terminal_size=SIZE, press=["enter", "p"])
