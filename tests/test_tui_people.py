"""People and devices in the terminal UI, as a user sees them: the problem owner first on a contract,
the person who acted on the timeline, handing a case to a colleague, the owner column of the work
queue, and the devices screen (list, pair a new device with a code, revoke one).

BT is an organisation: its desk holds the party key and certified Priya's and Raj's laptops. Alice, the
customer, has a home of one key. Copies travel as bundles, except in the pairing test, where the app
runs its real sync engine and a new home redeems the code over TLS on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from textual.widgets import DataTable, Select, Static, TextArea

from pactclient import catalog
from pactclient.identity import DeviceIdentity
from pactclient.identity.party import certify, init_org, paired_home, raw_public
from pactclient.model import actions
from pactclient.net import engine_for_tui
from pactclient.net.oneshot import pair
from pactclient.store import Workspace
from pactclient.store.workspace import now_ms
from pactclient.sync.pairing import PairingCode
from pactclient.tui import create_app
from pactclient.tui.screens.contract import ContractScreen
from pactclient.tui.screens.devices import DevicesScreen, PairingCodeScreen
from pactclient.tui.screens.form import FormScreen

from conftest import exchange

T0 = int(datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc).timestamp() * 1000)
SIZE = (120, 40)
LIMIT = 20.0


class Org:
    """BT's desk with two agents, and Alice's case with BT, which Priya took."""

    def __init__(self, tmp: Path, clock=lambda: T0):
        clock = clock or now_ms
        self.tmp, self.clock = tmp, clock
        self.desk_home, self.a_home = tmp / "bt-desk", tmp / "alice"
        desk = init_org(self.desk_home, "BT", "BT desk", "desk", T0, {"phone": "0800 800 150"})
        self.desk = Workspace(self.desk_home, desk, clock)
        self.priya = self.agent("Priya", {"phone": "0800 800 151", "hours": "9-17"})
        self.raj = self.agent("Raj", {"phone": "0800 800 152", "email": "raj@bt.example"})
        self.alice = Workspace(self.a_home, DeviceIdentity.create(self.a_home, "Alice"), clock)
        self.cid = self.alice.create("Broadband down", catalog.load("broadband-fault"), "customer")
        self.alice.act(self.cid, actions.add_party, desk.party_key_hex, "BT", "supplier", "BT")
        exchange(self.alice, self.priya, self.cid)
        self.priya.act(self.cid, actions.accept_terms)  # Priya's first change: she owns the problem for BT
        self.priya.act(self.cid, actions.note, "Looking at your line now")
        exchange(self.priya, self.alice, self.cid)
        exchange(self.priya, self.desk, self.cid)

    def agent(self, person: str, contact: dict) -> Workspace:
        key = Ed25519PrivateKey.generate()
        delegation, cert = certify(self.desk.identity, raw_public(key), person, "laptop", T0, contact)
        home = self.tmp / person.lower()
        identity = paired_home(home, key, delegation, cert)
        self.desk.remember_device(identity.key_hex, {**delegation, "person": person, "device": "laptop"})
        return Workspace(home, identity, self.clock)

    def app(self, home: Path, **kwargs):
        return create_app(home, clock=self.clock, **kwargs)

    def close(self) -> None:
        for ws in (self.desk, self.priya, self.raj, self.alice):
            ws.close()


@pytest.fixture
def org(tmp_path):
    world = Org(tmp_path)
    yield world
    world.close()


def cells(app, table_id: str) -> list[list[str]]:
    table = app.screen.query_one(f"#{table_id}", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def texts(app, table_id: str) -> str:
    return "\n".join(" | ".join(r) for r in cells(app, table_id))


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


def owner_line(app) -> str:
    widget = app.screen.query_one("#contract-owner", Static)
    return str(widget.render()) if widget.display else ""


def footer_keys(app) -> set[str]:
    from textual.widgets._footer import FooterKey

    return {k.key for k in app.screen.query(FooterKey) if "-command-palette" not in k.classes}


async def until(pilot, condition, limit: float = LIMIT) -> None:
    for _ in range(int(limit / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    assert condition(), "condition not reached in time"


async def fill(pilot, values: dict[str, str]) -> None:
    screen = pilot.app.screen
    assert isinstance(screen, FormScreen)
    for name, value in values.items():
        screen.query_one(f"#field-{name}").value = value
    await pilot.press("ctrl+s")
    await pilot.pause()


async def open_contract(pilot) -> None:
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(pilot.app.screen, ContractScreen)


def select_row(app, table_id: str, key: str) -> None:
    table = app.screen.query_one(f"#{table_id}", DataTable)
    table.move_cursor(row=table.get_row_index(key))


# -- the problem owner, as the customer sees it ------------------------------------------------------


async def test_customer_sees_the_problem_owner_first_and_who_acted(org):
    app = org.app(org.a_home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        queue = cells(app, "queue")
        assert queue[0][1:3] == ["Broadband down", "Priya (BT)"]  # the owner column
        await open_contract(pilot)
        assert owner_line(app) == "Problem owner: Priya (BT) · 0800 800 151 · 9-17"
        # First: above the line with the title, light and whose turn it is.
        owner, head = app.screen.query_one("#contract-owner"), app.screen.query_one("#contract-head")
        assert owner.region.y < head.region.y
        assert "Priya (BT) | ✔ | message | Looking at your line now" in texts(app, "timeline")
        # A customer sees the owner, and has no hand-over: not offered, and pressed anyway it says why.
        assert "o" not in footer_keys(app)
        before = org.alice.store.change_count(org.cid)
        await pilot.press("o")
        await pilot.pause()
        assert any("a customer has no case to hand over" in n for n in notes(app))
        assert isinstance(app.screen, ContractScreen)
    assert org.alice.store.change_count(org.cid) == before


async def test_a_contract_without_an_owner_shows_no_owner_line(tmp_path):
    home = tmp_path / "solo"
    ws = Workspace(home, DeviceIdentity.create(home, "Sam"), lambda: T0)
    ws.create("Move house", catalog.load("broadband-fault"), "customer")
    ws.close()
    app = create_app(home, clock=lambda: T0)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert cells(app, "queue")[0][2] == "-"
        await open_contract(pilot)
        assert owner_line(app) == ""
        assert "o" not in footer_keys(app)  # a home of one key has nobody to hand the case to


# -- handing a case over ------------------------------------------------------------------------------


async def test_desk_hands_the_case_to_raj_and_the_customer_is_told(org):
    app = org.app(org.desk_home)
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        assert owner_line(app).startswith("Problem owner: Priya (BT)")
        assert "o" in footer_keys(app)
        await pilot.press("o")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, FormScreen)
        shown = [str(label) for label, _ in dialog.query_one("#field-to", Select)._options if _ != Select.BLANK]
        assert shown[0].startswith("me (BT desk), desk")
        assert any(s.startswith("Priya, laptop") and s.endswith("owns it now") for s in shown)
        assert any(s.startswith("Raj, laptop · 0800 800 152 · raj@bt.example") for s in shown)
        await fill(pilot, {"to": org.raj.identity.key_hex})
        assert isinstance(app.screen, ContractScreen)
        assert owner_line(app) == "Problem owner: Raj (BT) · 0800 800 152 · raj@bt.example"
        assert "Raj (BT) owns this case now from Priya" in texts(app, "timeline")
    assert not org.desk.view(org.cid).open_proposals()  # nothing for the customer to accept

    # Alice has the contract open when the hand-over arrives: her screen changes, and she is told.
    app = org.app(org.a_home)
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        assert owner_line(app).startswith("Problem owner: Priya (BT)")
        other = Workspace(org.a_home, org.alice.identity, org.clock)  # as `pact sync` in another process
        exchange(org.desk, other, org.cid)
        other.close()
        app.poll_store()
        await pilot.pause()
        assert owner_line(app) == "Problem owner: Raj (BT) · 0800 800 152 · raj@bt.example"
        assert any("Raj (BT) owns this case now from Priya" in n for n in notes(app))
        await pilot.press("escape")
        await pilot.pause()
        assert cells(app, "queue")[0][2] == "Raj (BT)"


async def test_the_colleague_handed_the_case_is_told_on_their_screen(org):
    exchange(org.priya, org.raj, org.cid)
    app = org.app(org.tmp / "raj")
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        assert owner_line(app).startswith("Problem owner: Priya (BT)")
        org.priya.act(org.cid, actions.note, "Raj, can you take this one?")  # Priya's own words: news to Raj
        from pactclient.store import devices

        devices.hand_over(org.desk, org.cid, "Raj")
        other = Workspace(org.tmp / "raj", org.raj.identity, org.clock)
        exchange(org.priya, other, org.cid)
        exchange(org.desk, other, org.cid)
        other.close()
        app.poll_store()
        await pilot.pause()
        assert owner_line(app) == "Problem owner: Raj (BT) (you) · 0800 800 152 · raj@bt.example"
        told = [n for n in app._notifications if n.title == "New in Broadband down"]
        assert len(told) == 1 and sorted(told[0].message.splitlines()) == [
            "Priya (BT): Raj, can you take this one?", "Raj (BT) owns this case now from Priya"]


async def test_hand_over_to_a_revoked_device_is_not_offered(org):
    from pactclient.store import devices

    devices.revoke(org.desk, org.raj.identity.key_hex, "left BT")
    app = org.app(org.desk_home)
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        await pilot.press("o")
        await pilot.pause()
        values = [v for _, v in app.screen.query_one("#field-to", Select)._options]
        assert org.raj.identity.key_hex not in values
        assert org.priya.identity.key_hex in values


# -- the devices screen ----------------------------------------------------------------------------------


async def test_devices_screen_lists_and_revokes_with_confirmation(org):
    app = org.app(org.desk_home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, DevicesScreen)
        listed = {r[0]: r for r in cells(app, "devices")}
        assert set(listed) == {"BT desk", "Priya", "Raj"}
        assert listed["BT desk"][4] == "this device" and listed["Raj"][4] == "certified"
        assert listed["Raj"][2] == "0800 800 152 · raj@bt.example"
        select_row(app, "devices", org.raj.identity.key_hex)
        await until(pilot, lambda: {"a", "r"} <= footer_keys(app))

        # This device cannot revoke itself: not offered, and says why when pressed.
        select_row(app, "devices", org.desk.identity.key_hex)
        await until(pilot, lambda: "r" not in footer_keys(app))
        await pilot.press("r")
        await pilot.pause()
        assert any("the device you are using" in n for n in notes(app))

        # Revoking Priya asks first; cancelling changes nothing.
        select_row(app, "devices", org.priya.identity.key_hex)
        await pilot.pause()
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, FormScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert {r[0]: r[4] for r in cells(app, "devices")}["Priya"] == "certified"
        await pilot.press("r")
        await pilot.pause()
        await fill(pilot, {"why": "left BT"})
        assert {r[0]: r[4] for r in cells(app, "devices")}["Priya"].startswith("revoked ")
        assert any("Revoked Priya's laptop in 1 contract" in n for n in notes(app))
        assert "r" not in footer_keys(app)  # already revoked
    view = org.desk.view(org.cid)
    assert view.devices[org.priya.identity.key_hex].revoked
    assert any("revoked Priya's laptop" in e.text for e in view.timeline)


async def test_an_agent_device_lists_but_may_not_add_or_revoke(org):
    app = org.app(org.tmp / "priya")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        assert [r[0] for r in cells(app, "devices")] == ["Priya"]
        assert not {"a", "r"} & footer_keys(app)
        hint = str(app.screen.query_one("#devices-hint", Static).render())
        assert "does not hold the party key" in hint
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, DevicesScreen)  # no dialog
        assert any("does not hold the party key" in n for n in notes(app))


async def test_adding_a_device_without_sync_running_says_why(org):
    app = org.app(org.desk_home)  # no engine: nothing would answer a pairing code
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, DevicesScreen)
        assert any("sync is not running" in n for n in notes(app))


async def test_pair_a_new_device_with_the_code_shown(tmp_path):
    """The app's real engine answers the code; a new home redeems it over TLS on 127.0.0.1."""
    org = Org(tmp_path, clock=None)  # the code's expiry is checked against the real clock
    org.close()
    app = create_app(org.desk_home, engine_factory=engine_for_tui)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        # No person: refused with the reason, and the dialog comes back with what was typed.
        await fill(pilot, {"person": " ", "device": "laptop", "phone": "0800 800 153", "hours": "8-20"})
        assert any("name the person" in n for n in notes(app))
        assert isinstance(app.screen, FormScreen)
        assert app.screen.query_one("#field-device").value == "laptop"
        assert app.screen.query_one("#field-phone").value == "0800 800 153"
        await fill(pilot, {"person": "Sam", "ttl": "soon"})
        assert any("not a duration" in n for n in notes(app))
        assert app.screen.query_one("#field-person").value == "Sam"
        await fill(pilot, {"ttl": "1h"})
        assert isinstance(app.screen, PairingCodeScreen)
        code = app.screen.query_one("#pairing-code", TextArea).text
        assert code.startswith("pair-")
        assert [p.read_text().strip() for p in (org.desk_home / "invites").glob("pair-*.txt")] == [code]

        new_home = tmp_path / "sam"
        identity, _, _ = await asyncio.to_thread(lambda: asyncio.run(pair(new_home, PairingCode.decode(code))))
        assert identity.person == "Sam"
        await until(pilot, lambda: any("Paired Sam's laptop" in n for n in notes(app)))
        assert isinstance(app.screen, DevicesScreen)  # the code did its job: closed
        await until(pilot, lambda: "Sam" in [r[0] for r in cells(app, "devices")])
        row = {r[0]: r for r in cells(app, "devices")}["Sam"]
        assert row[1:3] == ["laptop", "0800 800 153 · 8-20"] and row[4] == "certified"


# -- other people's words --------------------------------------------------------------------------------


async def test_a_persons_name_and_contact_are_shown_as_text(tmp_path):
    """A person's name and contact details are whatever the certifying party typed, and reach a customer:
    markup and escape sequences in them are shown written out, on the owner line, the timeline, the queue
    and the devices screen alike."""
    from test_hostile_text import H, SHOWN_H, screen_text

    org = Org(tmp_path)
    key = Ed25519PrivateKey.generate()
    delegation, cert = certify(org.desk.identity, raw_public(key), H, "laptop", T0, {"phone": H})
    mallory = Workspace(tmp_path / "mallory", paired_home(tmp_path / "mallory", key, delegation, cert), org.clock)
    org.desk.remember_device(mallory.identity.key_hex, {**delegation, "person": H, "device": "laptop"})
    exchange(org.alice, mallory, org.cid)
    mallory.act(org.cid, actions.note, "hello")
    from pactclient.store import devices

    exchange(mallory, org.desk, org.cid)
    devices.hand_over(org.desk, org.cid, mallory.identity.key_hex)
    exchange(org.desk, org.alice, org.cid)
    mallory.close()
    org.close()
    app = create_app(org.a_home, clock=lambda: T0)
    async with app.run_test(size=(240, 60)) as pilot:
        await pilot.pause()
        assert cells(app, "queue")[0][2] == f"{SHOWN_H} (BT)"
        await open_contract(pilot)
        assert owner_line(app) == f"Problem owner: {SHOWN_H} (BT) · {SHOWN_H}"
        assert f"{SHOWN_H} (BT) | ✔ | message | hello" in texts(app, "timeline")
        line = next(x for x in screen_text(app).splitlines() if "Problem owner:" in x)
        assert "Problem owner: [bold red]X[/]<i>" in line
    app = create_app(org.desk_home, clock=lambda: T0)
    async with app.run_test(size=(240, 60)) as pilot:
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        assert [SHOWN_H, "laptop", SHOWN_H] in [r[:3] for r in cells(app, "devices")]
        assert "[bold red]X[/]<i>" in screen_text(app)
