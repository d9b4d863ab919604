"""The Attachments screen, driven with Textual's Pilot: attach a file, see it listed, save it, and see
altered or missing bytes reported (and never saved)."""

from __future__ import annotations

import os

from pactclient.store.attachments import FileStore
from pactclient.tui.screens.attachments import AttachmentsScreen
from pactclient.tui.screens.form import FormScreen

from test_tui import SIZE, fill, open_contract, rows, until, world  # noqa: F401  (world: the fixture)


async def test_attach_list_save_and_tampered_file_reported(world, tmp_path):
    bill = tmp_path / "bill.pdf"
    bill.write_bytes(b"%PDF-1.4 credit balance 250")
    app = world.app("a")
    async with app.run_test(size=SIZE) as pilot:
        await open_contract(pilot)
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, AttachmentsScreen)
        assert rows(app, "attachments") == []
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, FormScreen)
        await fill(pilot, {"path": str(bill), "name": "March bill.pdf"})
        await until(pilot, lambda: isinstance(app.screen, AttachmentsScreen) and rows(app, "attachments"))
        (row,) = rows(app, "attachments")
        assert row[0] == "March bill.pdf" and row[1] == "application/pdf" and row[-1] == "present"

        # Saved after its bytes are checked.
        await pilot.press("s")
        await pilot.pause()
        target = tmp_path / "saved.pdf"
        await fill(pilot, {"path": str(target)})
        await until(pilot, lambda: target.exists())
        assert target.read_bytes() == bill.read_bytes()

        # Someone changes the stored bytes: the screen says ALTERED and refuses to save them.
        digest = world.wa.view(world.cid).timeline[-1].text.split("sha256 ")[1][:12]
        (stored,) = [p for p in (world.a_home / "files" / "sha256").rglob("*") if p.name.startswith(digest)]
        os.chmod(stored, 0o600)
        stored.write_bytes(b"%PDF-1.4 credit balance 0")
        app.screen.reload()
        await pilot.pause()
        assert rows(app, "attachments")[0][-1].startswith("ALTERED")
        await pilot.press("s")
        await pilot.pause()
        other = tmp_path / "copy.pdf"
        await fill(pilot, {"path": str(other)})
        # Refused in the dialog, which keeps what was typed (issue 13 item 8); escape closes it.
        assert "altered" in str(app.screen.query_one("#form-error").render())
        await pilot.press("escape")
        await pilot.pause()
        assert not other.exists()

        # Gone altogether: missing (not received yet), and listed as such.
        stored.unlink()
        app.screen.reload()
        await pilot.pause()
        assert rows(app, "attachments")[0][-1].startswith("missing")
        # Put back by a peer or a bundle: the screen notices by itself.
        FileStore(world.a_home).put(bill.read_bytes())
        await until(pilot, lambda: rows(app, "attachments")[0][-1] == "present")
