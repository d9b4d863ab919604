"""`pact list` as an agent's work queue over a home of several hundred contracts: order, filters,
paging and totals, the same in text and in --json."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FixedClock, shared_contract

from pactclient import catalog

PACT = [sys.executable, "-m", "pactclient"]


def pact(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PACT_HOME"}
    proc = subprocess.run([*PACT, "--home", str(home), *args], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


def rows(home: Path, *args: str) -> list[dict]:
    return json.loads(pact(home, "list", "--json", *args).stdout)


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    """Alice's home: 3 agreed cases with BT whose first deadline passed long ago (a fixed clock in
    November 2026), 150 cases she opened as a customer (BT's turn, offered) and 150 she runs as the
    supplier of a billing dispute (her turn)."""
    from conftest import new_party

    base = tmp_path_factory.mktemp("queue")
    _, wa = new_party(base / "alice", "Alice", "", FixedClock())
    _, wb = new_party(base / "bt", "Priya", "BT", FixedClock())
    overdue = [shared_contract([wa, wb], roles=("customer", "supplier")) for _ in range(3)]
    for n in range(150):
        wa.create(f"Broadband fault {n}", catalog.load("broadband-fault"), "customer")
        wa.create(f"Bill query {n}", catalog.load("billing-dispute"), "supplier")
    wa.upkeep()
    wa.close(), wb.close()
    return base / "alice", overdue


def test_the_queue_puts_my_turn_then_overdue_first_and_pages(desk):
    home, overdue = desk
    every = rows(home)
    assert len(every) == 303
    mine = [r for r in every if r["my_turn"]]
    assert mine and every[: len(mine)] == mine  # waiting on me first
    after_mine = [r["id"] for r in every[len(mine):len(mine) + 3]]
    assert sorted(after_mine) == sorted(overdue)  # then what is overdue
    dues = [r["next_due"] for r in every[len(mine) + 3:] if r["next_due"] is not None]
    assert dues == sorted(dues)  # then the soonest deadline

    text = pact(home, "list").stdout
    first = text.splitlines()[0]
    assert first.startswith("303 contracts · ") and "waiting on you" in first and "3 overdue" in first
    assert "… 253 more (--all, or --limit N)" in text
    assert len([line for line in text.splitlines() if "●" in line]) == 50
    assert len([line for line in pact(home, "list", "--all").stdout.splitlines() if "●" in line]) == 303
    assert [r["id"] for r in rows(home, "--limit", "10")] == [r["id"] for r in every[:10]]


def test_filters_narrow_the_queue_alike_in_text_and_json(desk):
    home, overdue = desk
    every = rows(home)
    assert [r["id"] for r in rows(home, "--waiting-on", "me")] == [r["id"] for r in every if r["my_turn"]]
    them = rows(home, "--waiting-on", "them")
    assert them and not any(r["my_turn"] for r in them)
    assert sorted(r["id"] for r in rows(home, "--overdue")) == sorted(overdue)
    assert sorted(r["id"] for r in rows(home, "--light", "red")) == sorted(overdue)
    bills = rows(home, "--template", "billing-dispute")
    assert len(bills) == 150 and {r["template"] for r in bills} == {"billing-dispute"}
    assert [r["title"] for r in rows(home, "fault", "149")] == ["Broadband fault 149"]
    assert rows(home, "--resolved") == [] and len(rows(home, "--open")) == 303
    text = pact(home, "list", "--overdue").stdout
    assert text.splitlines()[0].startswith("3 contracts of 303 · ")
    assert "None matches these filters." in pact(home, "list", "no such title").stdout
