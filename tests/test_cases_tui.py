"""Issue 15 in the terminal UI: the contract screen shows the chain of earlier cases, known faults,
complaints and the customer's effort; ``c`` complains about a broken activity (and its owner answers),
``h`` records effort — seen in the other home after a bundle."""

from __future__ import annotations

from test_tui import SIZE, T0, World, deterministic, fill, footer_keys, open_contract, select_row, until  # noqa: F401

import pytest

from pactclient import catalog
from pactclient.model import actions, links
from pactclient.tui.screens.form import FormScreen

DAY = 24 * 3600 * 1000


@pytest.fixture
def late(tmp_path):
    """The World of test_tui, two days on: BT's 24-hour callback is a broken commitment."""
    w = World(tmp_path)
    w.clock = lambda: T0 + 2 * DAY
    yield w
    w.wa.close()
    w.wb.close()


def panel(app) -> str:
    return str(app.screen.query_one("#case-panel").render())


async def test_complain_and_effort_from_the_contract_screen_seen_by_the_supplier(late):
    app = late.app("a")
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        select_row(app, "activities", "diagnose")  # not broken yet: no complaint offered, and pressing says why
        await until(pilot, lambda: "c" not in footer_keys(app))
        await pilot.press("c")
        await pilot.pause()
        assert not isinstance(app.screen, FormScreen)
        select_row(app, "activities", "callback")
        await until(pilot, lambda: "c" in footer_keys(app))
        await pilot.press("c")
        await pilot.pause()
        await fill(pilot, {"text": "nobody called back"})
        await until(pilot, lambda: "Complaint: Handle the complaint about the missed callback" in panel(app))
        assert "Complaints manager (BT)" in panel(app)
        await pilot.press("h")
        await pilot.pause()
        await fill(pilot, {"calls": "3", "visits": "0", "hours": "1.5", "channel": "phone", "note": "on hold"})
        await until(pilot, lambda: "Calls: 3" in panel(app))
        assert "phone 3" in panel(app) and "Hours spent: 1 h 30 min" in panel(app)
    late.to_b()
    app = late.app("b")
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        assert "Calls: 3" in panel(app) and "nobody called back" not in panel(app)
        assert "Complaint: Handle the complaint about the missed callback" in panel(app)
        select_row(app, "activities", "callback")
        await until(pilot, lambda: "c" in footer_keys(app))  # BT owns the escalation: it answers
        await pilot.press("c")
        await pilot.pause()
        await fill(pilot, {"outcome": "called back, engineer booked"})
        await until(pilot, lambda: "answered" in panel(app))


async def test_effort_with_bad_counts_says_why_and_records_nothing(late):
    app = late.app("a")
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        await pilot.press("h")
        await pilot.pause()
        await fill(pilot, {"calls": "lots"})
        await pilot.pause()
        from textual.widgets import Static

        from pactclient.tui.screens.form import FormScreen
        assert isinstance(app.screen, FormScreen)  # the dialog stays, with what was typed and why
        error = app.screen.query_one("#form-error", Static)
        assert error.display and "calls" in str(error.render()).lower()
        await pilot.press("escape")
        await pilot.pause()
        assert "Customer's effort" not in panel(app)


async def test_contract_screen_shows_the_chain_and_known_fault(late):
    earlier = late.wa.create("Mail re-downloads (March)", catalog.load("broadband-fault"), "customer")
    late.wa.act(earlier, actions.note, "18 months of mail again")
    late.wa.act(late.cid, links.link, earlier, "follows", links.summarize(late.wa.view(earlier)))
    late.to_b()
    late.wb.act(late.cid, links.mark_fault, "POP server re-sends deleted mail")
    late.to_a()
    for side in ("a", "b"):
        app = late.app(side)
        async with app.run_test(size=SIZE) as pilot:
            await open_contract(pilot) if side == "b" else await _open(pilot, app, late.cid)
            shown = panel(app)
            assert f"follows {earlier[:8]}" in shown and "Mail re-downloads (March)" in shown
            assert "Known fault: POP server re-sends deleted mail" in shown
            if side == "b":
                assert "not in this home" in shown  # BT has no copy of Alice's earlier case: her summary


async def _open(pilot, app, cid):
    from pactclient.tui.screens.contract import ContractScreen

    await pilot.pause()
    app.push_screen(ContractScreen(cid))
    await pilot.pause()
