"""Shared fixtures: parties with real homes and stores, a clock that only moves when told, bundle exchange.

Use ``make_party(tmp_path, name, org)`` as a fixture (it returns the factory) or call ``new_party`` directly
where a fixture cannot be used (e.g. inside a Hypothesis test, which must make its own temporary directory).
Every workspace made through them is closed at the end of the test that made it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pactclient import catalog
from pactclient.identity import DeviceIdentity
from pactclient.model import actions
from pactclient.store import Workspace
from pactclient.sync import bundle

# 2026-01-05 09:00 UTC: a fixed Monday morning, so deadlines and views do not depend on the real date.
FIXED_NOW = 1_767_603_600_000


class FixedClock:
    """A clock for ``Workspace(clock=...)``: returns ``now`` and moves forward ``step`` ms per reading.

    A step keeps timestamps distinct (proposal ids are derived from them) while staying deterministic.
    """

    def __init__(self, now: int = FIXED_NOW, step: int = 1000):
        self.now = now
        self.step = step

    def __call__(self) -> int:
        current = self.now
        self.now += self.step
        return current

    def advance(self, ms: int) -> None:
        self.now += ms


def new_party(home: Path, name: str, org: str = "", clock=None) -> tuple[DeviceIdentity, Workspace]:
    """A device identity and its workspace in ``home`` (created if needed)."""
    home = Path(home)
    identity = DeviceIdentity.create(home, name, org)
    return identity, Workspace(home, identity, clock or FixedClock())


def exchange(src: Workspace, dst: Workspace, contract_id: str, limit: int | None = None):
    """Send ``src``'s signed changes of a contract to ``dst`` through the bundle encoding.

    ``limit`` sends only the first ``limit`` changes (stored order puts dependencies first, so any prefix
    is a complete history up to some point): a partial exchange.
    """
    data = bundle.encode(src, contract_id)
    cid, blobs, sigs = bundle.decode(data)
    if limit is not None:
        blobs = blobs[:limit]
    return dst.receive(cid, blobs, sigs)


def shared_contract(workspaces: list[Workspace], template: str = "broadband-fault",
                    roles: tuple[str, ...] = ("customer", "supplier", "coordinator")) -> str:
    """A contract created by the first workspace with every other one added as a party (in ``roles``
    order), each addition accepted by the parties already in, each newcomer joining (accepting the
    terms as they stand), and the copies exchanged so every one has everything: from then on term
    changes need everyone's agreement."""
    first = workspaces[0]
    cid = first.create("Mail re-downloads", catalog.load(template), roles[0])
    joined = [first]
    for ws, role in zip(workspaces[1:], roles[1:]):
        ident = ws.identity
        added = first.act(cid, actions.add_party, ident.party_key_hex, ident.name, role, ident.org)
        for member in joined[1:]:
            exchange(first, member, cid)
            waiting = member.view(cid).proposal(added.ref)
            if waiting is not None and member.view(cid).party_by_key(member.identity.party_key_hex).id in waiting.waiting_for():
                member.act(cid, actions.answer, added.ref, True)
                exchange(member, first, cid)
        exchange(first, ws, cid)
        ws.act(cid, actions.accept_terms)
        exchange(ws, first, cid)
        joined.append(ws)
    for ws in workspaces:  # an addition accepted by others is an agreed version: each party countersigns it
        for src in workspaces:
            if src is not ws:
                exchange(src, ws, cid)
        ws.countersign(cid)
    for src in workspaces:
        for dst in workspaces:
            if src is not dst:
                exchange(src, dst, cid)
    return cid


def view_data(ws: Workspace, contract_id: str, now: int = FIXED_NOW) -> dict:
    """The contract view as plain data, as a user of any copy would see it at ``now``."""
    return dataclasses.asdict(ws.view(contract_id, now=now))


def copy_state(ws: Workspace, contract_id: str) -> tuple[int, list[bytes], dict]:
    """What must not move when a copy refuses something: change count, heads, view."""
    return (ws.store.change_count(contract_id), sorted(ws.document(contract_id).get_heads()),
            view_data(ws, contract_id))


@pytest.fixture
def fixed_clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def make_party():
    """Factory fixture: ``make_party(tmp_path, "Alice", "")`` → (identity, workspace) in ``tmp_path/alice``."""
    made: list[Workspace] = []

    def make(base: Path, name: str, org: str = "", clock=None) -> tuple[DeviceIdentity, Workspace]:
        home = Path(base) / name.lower().replace(" ", "-")
        identity, ws = new_party(home, name, org, clock)
        made.append(ws)
        return identity, ws

    yield make
    for ws in made:
        ws.close()
