"""The TUI with real sync on 127.0.0.1: its own engine, a peer changing the contract, a `pact serve`
of the same home, a join from the home screen. Every wait is bounded; nothing asserts a duration.

The app is built as `pact tui` builds it: ``create_app(home, engine_factory=engine_for_tui)``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable

from pactclient import catalog
from pactclient.identity import DeviceIdentity
from pactclient.model import actions
from pactclient.net import engine_for_tui
from pactclient.net.oneshot import join, sync_once
from pactclient.net.service import PeerService
from pactclient.net.threaded import RUNNING_FILE, ServerEngine, ThreadedPeerService, running_server
from pactclient.store import Workspace
from pactclient.sync.invites import InviteCode
from pactclient.tui import create_app
from pactclient.tui.screens.contract import ContractScreen
from pactclient.tui.screens.form import FormScreen
from pactclient.tui.screens.home import HomeScreen
from pactclient.tui.screens.invite import InviteCodeScreen

SIZE = (120, 40)
LIMIT = 20.0


async def until(pilot, condition, limit: float = LIMIT) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)


def texts(app, table_id: str) -> str:
    table = app.screen.query_one(f"#{table_id}", DataTable)
    return "\n".join(" | ".join(str(c) for c in table.get_row_at(i)) for i in range(table.row_count))


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


def status_line(app) -> str:
    return str(app.screen.query_one("#status-bar").render())


async def fill(pilot, values: dict[str, str]) -> None:
    screen = pilot.app.screen
    assert isinstance(screen, FormScreen)
    for name, value in values.items():
        screen.query_one(f"#field-{name}").value = value
    await pilot.press("ctrl+s")
    await pilot.pause()


@pytest.fixture
def homes(tmp_path):
    opened: list[Workspace] = []

    def party(name: str, org: str = "") -> Workspace:
        home = tmp_path / name.lower()
        ws = Workspace(home, DeviceIdentity.create(home, name, org))
        opened.append(ws)
        return ws

    yield party
    for ws in opened:
        ws.close()


async def invite_from_the_tui(pilot, close: bool = True) -> str:
    """Press v on the open contract, make a code for the open slot, and read it off the dialog."""
    await pilot.press("v")
    await pilot.pause()
    await fill(pilot, {})
    assert isinstance(pilot.app.screen, InviteCodeScreen)
    text = pilot.app.screen.query_one("#invite-code").text
    assert pilot.app.screen.path.read_text().strip() == text  # the same code, saved for a shell
    assert oct(pilot.app.screen.path.stat().st_mode & 0o777) == "0o600"
    if close:
        await pilot.press("escape")
        await pilot.pause()
    return text


async def test_connect_to_a_peer_by_address_then_its_edits_arrive(homes):
    wa, wb = homes("Alice"), homes("Priya", "BT")
    cid = wa.create("Mail re-downloads", catalog.load("broadband-fault"), "customer")
    wa.act(cid, actions.add_party, wb.identity.key_hex, "Priya", "supplier", "BT")
    wb.receive(cid, [blob for _h, blob, _s in wa.signed_changes(cid)],
               {h: sig for h, _b, sig in wa.signed_changes(cid)})  # as a bundle would carry it
    sb = PeerService(wb, "127.0.0.1", 0, dial_known=False)  # BT does not know Alice's address
    await sb.start()
    app = create_app(wa.home, engine_factory=engine_for_tui)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for address, why in (("nowhere", "not an address"), ("127.0.0.1:1", "connection refused")):
            await pilot.press("c")
            await pilot.pause()
            await fill(pilot, {"address": address})
            await until(pilot, lambda: any(why in n for n in notes(app)))
        await pilot.press("c")
        await pilot.pause()
        await fill(pilot, {"address": sb.address})
        await until(pilot, lambda: any(n.startswith(f"in step with {sb.address}") for n in notes(app)))
        await until(pilot, lambda: "1 peer online (Priya)" in status_line(app))  # the engine dials it now
        await pilot.press("enter")
        await pilot.pause()
        sb.act(cid, actions.note, "An engineer comes on Friday")
        await until(pilot, lambda: "An engineer comes on Friday" in texts(app, "timeline"))
        await sb.stop()


async def test_first_run_starts_sync_so_a_new_user_can_invite_at_once(tmp_path):
    home = tmp_path / "new"
    app = create_app(home, engine_factory=engine_for_tui)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.engine is None  # no identity yet: nothing to sync as
        await pilot.click("#setup-name")
        await pilot.press(*"Dana", "enter", "enter")
        await until(pilot, lambda: isinstance(app.screen, HomeScreen))
        assert isinstance(app.engine, ThreadedPeerService)
        await until(pilot, lambda: "0 peers online · sync running on 127.0.0.1:" in status_line(app))
        assert running_server(home)["by"] == "pact tui"  # a `pact serve` of this home would defer to it
    assert running_server(home) is None  # the engine stopped with the app, and said so
    assert json.loads((home / "listen.json").read_text())["port"] > 0


async def test_a_peer_joins_with_the_tui_code_and_its_edits_appear_live(homes):
    wa, wb = homes("Alice"), homes("Priya", "BT")
    cid = wa.create("Mail re-downloads", catalog.load("broadband-fault"), "customer")
    app = create_app(wa.home, engine_factory=engine_for_tui)
    services: list[PeerService] = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ContractScreen)
        text = await invite_from_the_tui(pilot, close=False)  # the dialog stays open while BT joins

        done = await join(wb, InviteCode.decode(text))  # what `pact join CODE` does in BT's home
        assert done.contract_id == cid
        await until(pilot, lambda: any("Priya joined with your invite code" in n for n in notes(app)))
        await until(pilot, lambda: isinstance(app.screen, ContractScreen))  # the used code's dialog closed
        # Added by Alice's device; BT accepted the terms in its own copy, which Alice has not seen yet.
        await until(pilot, lambda: "supplier | supplier | Priya | BT | invited" in texts(app, "parties"))

        sb = PeerService(wb, "127.0.0.1", 0)  # BT's always-on peer dials Alice's TUI engine
        await sb.start()
        services.append(sb)
        await until(pilot, lambda: "1 peer online" in status_line(app))
        await until(pilot, lambda: "supplier | supplier | Priya | BT | joined" in texts(app, "parties"))
        sb.act(cid, actions.change_status, "callback", "start")
        await until(pilot, lambda: "Call the customer back | BT | Priya | in progress" in texts(app, "activities"))
        assert "BT started 'Call the customer back'; problem owner: Priya" in notes(app)

        # Alice's own edit in the TUI reaches BT without her doing anything more.
        await pilot.press("m")
        await pilot.pause()
        await fill(pilot, {"text": "Thanks, I am in all day"})
        deadline = time.monotonic() + LIMIT
        while "Thanks, I am in all day" not in [e.text for e in wb.view(cid).timeline]:
            assert time.monotonic() < deadline, "Alice's message did not reach BT"
            await pilot.pause(0.05)
        for svc in services:
            await svc.stop()


async def test_a_forged_change_from_a_peer_is_a_notification_and_is_not_kept(homes):
    wa, wb = homes("Alice"), homes("Priya", "BT")
    cid = wa.create("Mail re-downloads", catalog.load("broadband-fault"), "customer")
    app = create_app(wa.home, engine_factory=engine_for_tui)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        await join(wb, InviteCode.decode(await invite_from_the_tui(pilot)))
        await until(pilot, lambda: "Priya" in texts(app, "parties"))
        before = wa.store.change_count(cid)
        wb.act(cid, actions.note, "tampered on the way")
        real = wb.store.signatures
        wb.store.signatures = lambda contract_id, hashes=None: {h: bytes(64) for h in real(contract_id, hashes)}
        await sync_once(wb, [app.engine.status()["listening"]], limit=5.0)
        await until(pilot, lambda: any(n.startswith("Refused Priya") and "signature" in n for n in notes(app)))
        assert "tampered on the way" not in texts(app, "timeline")
        assert isinstance(app.screen, ContractScreen)
    assert wa.store.change_count(cid) == before


async def test_join_from_the_home_screen_and_a_bad_code_says_why(homes, tmp_path):
    wa, wb = homes("Alice"), homes("Priya", "BT")
    cid = wb.create("Router refund", catalog.load("billing-dispute"), "supplier")
    sb = PeerService(wb, "127.0.0.1", 0)
    await sb.start()
    code = sb.invite(cid).encode()
    app = create_app(wa.home, engine_factory=engine_for_tui)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("j")
            await pilot.pause()
            await fill(pilot, {"code": "pact-not-a-real-code"})
            # Said in the dialog, which keeps the code (issue 13 item 8); escape closes it.
            assert "invite code is damaged" in str(app.screen.query_one("#form-error").render())
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)
            await pilot.press("j")
            await pilot.pause()
            await fill(pilot, {"code": code})
            await until(pilot, lambda: isinstance(app.screen, ContractScreen))
            assert "Router refund" in str(app.screen.query_one("#contract-head").render())
            assert any(n.startswith("Joined:") for n in notes(app))
            await pilot.press("escape")
            await pilot.pause()
            await pilot.press("j")
            await pilot.pause()
            await fill(pilot, {"code": code})  # the same code again: single use
            await until(pilot, lambda: any("already used" in n for n in notes(app)))
            await sb.stop()  # while the app runs: its engine's goodbye gets an answer
    finally:
        if sb.state != "stopped":
            await sb.stop()
    assert [s["title"] for s in wa.summaries()] == ["Router refund"]


def _start_serve(home: Path) -> subprocess.Popen:
    pact = Path(sys.executable).parent / "pact"
    proc = subprocess.Popen([str(pact), "--home", str(home), "serve", "--port", "0",
                             "--invite-port", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + LIMIT
    while running_server(home) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"pact serve did not start: {proc.stderr.read().decode()[-500:]}")
        time.sleep(0.05)
    return proc


async def test_tui_uses_the_pact_serve_already_running_for_its_home(homes):
    wa, wb = homes("Alice"), homes("Priya", "BT")
    cid = wa.create("Mail re-downloads", catalog.load("broadband-fault"), "customer")
    serve = _start_serve(wa.home)
    try:
        app = create_app(wa.home, engine_factory=engine_for_tui)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert isinstance(app.engine, ServerEngine)  # one engine per device: the running one
            await until(pilot, lambda: f"sync via pact serve (pid {serve.pid})" in status_line(app))
            await pilot.press("enter")
            await pilot.pause()
            text = await invite_from_the_tui(pilot)
            info = json.loads((wa.home / RUNNING_FILE).read_text())
            assert InviteCode.decode(text).addresses == tuple(info["invite_addresses"])
            await join(wb, InviteCode.decode(text))  # redeemed by the serve process
            await until(pilot, lambda: "Priya | BT | invited" in texts(app, "parties"))  # seen via the store poll
            await pilot.press("m")
            await pilot.pause()
            await fill(pilot, {"text": "written in the TUI while serve runs"})
            # The serve process pushes what the TUI wrote: BT fetches it from there.
            _events, failures, _sent = await sync_once(wb, [info["address"]], limit=10.0)
            assert not failures
            assert "written in the TUI while serve runs" in [e.text for e in wb.view(cid).timeline]
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(10)
    assert running_server(wa.home) is None
    # Alice's copy, written by two processes, loads and verifies: every change chains, none was lost.
    assert "written in the TUI while serve runs" in [e.text for e in wa.view(cid).timeline]


def test_pact_serve_refuses_to_start_while_the_tui_syncs_the_home(homes):
    wa = homes("Alice")
    engine = engine_for_tui(wa.home)
    try:
        pact = Path(sys.executable).parent / "pact"
        done = subprocess.run([str(pact), "--home", str(wa.home), "serve", "--port", "0", "--invite-port", "0"],
                              capture_output=True, text=True, timeout=LIMIT)
        assert done.returncode == 2
        assert f"`pact tui` (pid {os.getpid()}) already syncs {wa.home}" in done.stderr
    finally:
        engine.stop()
    assert not (wa.home / RUNNING_FILE).exists()


async def test_sync_that_cannot_start_is_a_notification_and_the_app_works_offline(homes, monkeypatch):
    wa = homes("Alice")
    blocker = PeerService(wa, "127.0.0.1", 0)  # something already listens where the TUI is told to
    await blocker.start()
    monkeypatch.setenv("PACT_LISTEN", blocker.address)
    app = create_app(wa.home, engine_factory=engine_for_tui)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert app.engine is None
            assert any(n.startswith("Sync could not start, working offline") for n in notes(app))
            await until(pilot, lambda: "offline · sync not running" in status_line(app))
            await pilot.press("n")
            await pilot.pause()
            assert app.screen.__class__.__name__ == "NewContractScreen"  # the rest of the app works
    finally:
        await blocker.stop()
    assert running_server(wa.home) is None


async def test_the_engine_thread_never_waits_on_a_busy_ui(homes):
    """The UI waits on the engine (invite codes, stopping); if the engine waited on the UI they would deadlock."""
    import threading

    from pactclient.sync import events as ev

    wa = homes("Alice")
    app = create_app(wa.home, engine_factory=engine_for_tui)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        report = app.engine._subscribers[-1]  # what the engine calls for every event, on its own thread
        refused = ev.RefusedByPeer(bytes(32), "your key is not pinned here")
        caller = threading.Thread(target=report, args=(refused,))
        caller.start()
        caller.join(5.0)  # the UI's loop is busy right here, in this very test
        assert not caller.is_alive()
        await until(pilot, lambda: any("refused this device: your key is not pinned here" in n for n in notes(app)))
