"""Text written by another party is shown as text: in `pact list` / `show` / `verify`, the HTML report and the TUI.

A hostile party (Mallory, the creator) puts terminal escapes (clear screen, window title, an OSC-8 link,
a C1 CSI), a right-to-left override, HTML and rich markup into every string it writes: the contract's
title, its own name and organisation, an item's label and value, an activity's title, detail and problem
owner, a message, a proposal's rationale and an answer's reason. BT receives it all by bundle (`pact bundle
import`). Whatever BT's pact prints must hold none of it raw, show the markup literally, and `--json` must
keep the exact data.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from textual.widgets import DataTable, Static

from pactclient import catalog
from pactclient.display import shown
from pactclient.errors import PactError
from pactclient.identity import DeviceIdentity
from pactclient.model import actions
from pactclient.store import Workspace
from pactclient.sync import bundle
from pactclient.tui import create_app
from pactclient.tui.screens.contract import ContractScreen
from pactclient.tui.screens.form import FormScreen

from conftest import FIXED_NOW, FixedClock, exchange, new_party

# Markup first, so that it is still on screen where a narrow column cuts the rest off; the last "[/]" closes
# nothing (as markup it is an error: it made `pact list` and the TUI's work queue crash).
H = ("[bold red]X[/]<i>\x1b[2J\x1b]0;pwned\x07\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"
     "\x9b31m\u202eevil\u202c[link=https://x]y[/link]:thumbs_up:[/]")
# What every display must show instead: the same characters, escapes written out (docs/security.md).
SHOWN_H = (r"[bold red]X[/]<i>\x1b[2J\x1b]0;pwned\x07\x1b]8;;https://evil.example/\x1b" "\\" r"click\x1b]8;;\x1b"
           "\\" r"\x9b31m\u202eevil\u202c[link=https://x]y[/link]:thumbs_up:[/]")
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\u202c")
# Where each hostile string ends up; "·field" marks which one is seen.
FIELDS = ("title", "name", "org", "label", "value", "activity", "owner", "note", "why", "reason")
PACT = [sys.executable, "-m", "pactclient"]


def pact(home: Path, *args: str, env: dict | None = None, ok: bool = True) -> subprocess.CompletedProcess:
    # Wide enough that no table cell wraps: each field is then found whole on one line.
    base = {k: v for k, v in os.environ.items() if k not in ("PACT_HOME", "FORCE_COLOR", "NO_COLOR")}
    proc = subprocess.run([*PACT, "--home", str(home), *args], capture_output=True, text=True, timeout=60,
                          env={**base, "COLUMNS": "4000", **(env or {})})
    if ok and proc.returncode != 0:
        raise AssertionError(f"pact {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def raw_in(out: str) -> list[str]:
    return [repr(c) for c in RAW if c in out]


class Case:
    def __init__(self, base: Path):
        self.m_home, self.bt_home = base / "mallory", base / "bt"
        mallory, mws = new_party(self.m_home, H + "·name", H + "·org")
        bt, bws = new_party(self.bt_home, "Priya", "BT")
        template = catalog.load("broadband-fault")
        template["items"][0]["label"] = H + "·label"
        self.cid = cid = mws.create(H + "·title", template, "customer")
        mws.act(cid, actions.add_activity, H + "·activity", "supplier", None, detail=H + "·detail",
                problem_owner=H + "·owner")  # set up alone, before BT has a key
        mws.act(cid, actions.add_party, bt.key_hex, "Priya", "supplier", "BT")
        mws.act(cid, actions.set_item, "account", H + "·value")
        exchange(mws, bws, cid)
        bws.act(cid, actions.note, "hello")
        bws.act(cid, actions.propose, "change_due", {"id": "diagnose", "due": FIXED_NOW + 86_400_000}, "a visit")
        exchange(bws, mws, cid)
        mws.act(cid, actions.note, H + "·note")
        mws.act(cid, actions.propose, "change_due", {"id": "callback", "due": FIXED_NOW + 3_600_000}, H + "·why")
        theirs = next(p.id for p in mws.view(cid).proposals if p.proposer == "supplier")
        mws.act(cid, actions.answer, theirs, False, H + "·reason")
        self.bundle = base / "from-mallory.pact"
        bundle.write(mws, cid, self.bundle)
        mws.close()
        bws.close()
        # Delivered as a real party receives it: by the command, from a file.
        pact(self.bt_home, "bundle", "import", str(self.bundle))


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> Case:
    return Case(tmp_path_factory.mktemp("hostile-text"))


# -- the rule itself --------------------------------------------------------------------------------------


def test_shown_writes_out_controls_and_bidi_and_keeps_the_rest():
    assert shown(H) == SHOWN_H
    assert shown("a\nb\tc\rd") == r"a\nb\tc\rd"
    assert shown("a\nb\tc\rd", multiline=True) == "a\nb\tc\\rd"
    hostile = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A))]
    for ch in hostile:
        assert ch not in shown(ch) and shown(ch).startswith("\\")
    ordinary = "Priya (BT) owes Alice £250.00 — «ça va» 東京 مرحبا 👍 [x]"
    assert shown(ordinary) == ordinary


# -- the command line -------------------------------------------------------------------------------------


def test_pact_list_and_show_print_the_other_partys_text_as_text(case):
    listed = pact(case.bt_home, "list").stdout
    shown_out = pact(case.bt_home, "show", case.cid[:8]).stdout
    assert raw_in(listed) == [] and raw_in(shown_out) == []
    assert SHOWN_H + "·title" in listed
    for field in FIELDS:
        assert SHOWN_H + "·" + field in shown_out, field
    # The markup is there, literally, because it was never parsed.
    assert "[bold red]X[/]" in shown_out and "[link=https://x]y[/link]" in shown_out and ":thumbs_up:" in shown_out


def test_a_terminal_with_colours_gets_pacts_styles_and_none_of_the_other_partys_sequences(case):
    out = pact(case.bt_home, "show", case.cid[:8], env={"FORCE_COLOR": "1", "TTY_COMPATIBLE": "1"}).stdout
    assert "\x1b[1m" in out  # pact's own bold: this really was styled output
    for seq in ("\x1b[2J", "\x1b]0;", "\x1b]8;", "\x9b", "\x07", "\u202e"):
        assert seq not in out, repr(seq)
    assert SHOWN_H + "·title" in re.sub(r"\x1b\[[0-9;]*m", "", out)


def test_show_json_keeps_the_exact_data(case):
    data = json.loads(pact(case.bt_home, "show", case.cid[:8], "--json").stdout)
    assert data["title"] == H + "·title"
    mallory = data["parties"][0]
    assert (mallory["name"], mallory["org"]) == (H + "·name", H + "·org")
    item = next(i for i in data["items"] if i["id"] == "account")
    assert (item["label"], item["value"]) == (H + "·label", H + "·value")
    act = next(a for a in data["activities"] if a["title"] == H + "·activity")
    assert (act["detail"], act["problem_owner"]) == (H + "·detail", H + "·owner")
    assert any(e["text"] == H + "·note" for e in data["timeline"])
    assert any(p["rationale"] == H + "·why" for p in data["proposals"])
    assert any(e["text"].endswith(H + "·reason") for e in data["timeline"])


def test_evidence_verify_and_the_html_report_show_it_as_text(case, tmp_path):
    evidence, report = tmp_path / "case.pactev", tmp_path / "case.html"
    pact(case.bt_home, "export", case.cid[:8], "-o", str(evidence), "--html", str(report))
    verdict = pact(case.bt_home, "verify", str(evidence)).stdout
    assert verdict.startswith("VALID") and raw_in(verdict) == []
    assert SHOWN_H + "·title" in verdict and SHOWN_H + "·name" in verdict
    page = report.read_text()
    assert raw_in(page) == [] and "<i>" not in page
    for field in ("title", "name", "label", "value", "activity", "note", "why", "reason"):
        assert html.escape(SHOWN_H + "·" + field) in page, field


def test_errors_and_serve_log_lines_are_shown_as_text():
    from pactclient.cli.common import PactGroup
    from pactclient.cli.net_cmds import ShownFormatter

    @click.group(cls=PactGroup)
    def group():
        pass

    @group.command()
    def fail():
        raise PactError(f"peer {H} refused")

    result = CliRunner().invoke(group, ["fail"])
    assert result.exit_code == 1 and raw_in(result.stderr) == []
    assert result.stderr == f"pact: peer {SHOWN_H} refused\n"

    record = logging.LogRecord("pact.net", logging.INFO, __file__, 1, "invite redeemed by %s: %s",
                               (H, "ok\n09:00:00 admitted 999 change(s)"), None)
    line = ShownFormatter("%(message)s").format(record)
    assert line == rf"invite redeemed by {SHOWN_H}: ok\n09:00:00 admitted 999 change(s)"


# -- the terminal UI --------------------------------------------------------------------------------------


def screen_text(app) -> str:
    """What the screen shows, line by line, read from Textual's own SVG rendering of it."""
    svg = app.export_screenshot()
    assert raw_in(svg) == [], "a raw control or bidi character reached the screen"
    lines: dict[float, list[tuple[float, str]]] = {}
    for attrs, body in re.findall(r"<text ([^>]*)>(.*?)</text>", svg):
        x, y = (float(re.search(rf'\b{a}="([\d.]+)"', attrs).group(1)) for a in ("x", "y"))
        lines.setdefault(y, []).append((x, html.unescape(body).replace("\xa0", " ")))
    return "\n".join("".join(part for _x, part in sorted(parts)) for _y, parts in sorted(lines.items()))


def cells(app, table_id: str) -> list[str]:
    table = app.screen.query_one(f"#{table_id}", DataTable)
    return [str(c) for i in range(table.row_count) for c in table.get_row_at(i)]


async def test_tui_home_contract_dialog_and_live_news_show_the_other_partys_text_as_text(case):
    app = create_app(case.bt_home, clock=FixedClock())
    async with app.run_test(size=(240, 60)) as pilot:
        await pilot.pause()
        assert SHOWN_H + "·title" in cells(app, "queue")
        assert "[bold red]X[/]<i>" in screen_text(app)  # the title column shows its start, markup and all

        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ContractScreen)
        seen = {name: cells(app, name) for name in ("parties", "items", "activities", "timeline")}
        assert SHOWN_H + "·name" in seen["parties"] and SHOWN_H + "·org" in seen["parties"]
        assert {SHOWN_H + "·label", SHOWN_H + "·value"} <= set(seen["items"])
        assert {SHOWN_H + "·activity", SHOWN_H + "·owner"} <= set(seen["activities"])
        assert SHOWN_H + "·note" in seen["timeline"]
        assert any(c.endswith(SHOWN_H + "·why") for c in seen["timeline"])
        assert any(c.endswith(SHOWN_H + "·reason") for c in seen["timeline"])
        screen = screen_text(app)
        assert "[bold red]X[/]<i>" in screen and r"\x1b[2J" in screen

        # Mallory's proposal waits on BT: the answer dialog quotes its rationale.
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, FormScreen)
        explain = app.screen.query_one(".form-explain", Static)
        assert SHOWN_H + "·why" in str(explain.render())
        assert "[bold red]X[/]<i>" in screen_text(app).split("Accept proposal", 1)[-1]
        await pilot.press("escape")
        await pilot.pause()

        # Live news: a message arriving from elsewhere is announced in a notification.
        mallory = DeviceIdentity.load(case.m_home)
        mws = Workspace(case.m_home, mallory, FixedClock(FIXED_NOW + 60_000))
        mws.act(case.cid, actions.note, H + "·live")
        path = case.m_home / "live.pact"
        bundle.write(mws, case.cid, path)
        mws.close()
        other = Workspace(case.bt_home, DeviceIdentity.load(case.bt_home), FixedClock())
        bundle.read(other, path)
        other.close()
        app.poll_store()
        await pilot.pause()
        news = [n for n in app._notifications if n.title.startswith("New in")]
        assert [n.message for n in news] == [f"{SHOWN_H}·org: {SHOWN_H}·live"]
        assert news[0].title == f"New in {SHOWN_H}·title"
        await pilot.pause(0.3)
        assert "[bold red]X[/]<i>" in screen_text(app).split("New in", 1)[-1]
