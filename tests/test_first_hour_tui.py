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
