"""The desk's sharing index: an edit reaches exactly the sessions of the contract's parties, and the
index follows parties joining a contract and peers connecting and leaving.

Real TLS on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import pytest

from pactclient import catalog
from pactclient.model import actions
from pactclient.net.oneshot import join
from pactclient.net.service import PeerService
from pactclient.sync.connection import PeerConnection
from pactclient.sync.sharing import SharingIndex

from test_net_peers import services, texts, until  # noqa: F401  (services: a fixture)


def test_the_index_read_from_summaries_matches_the_documents(make_party, tmp_path):
    alice, wa = make_party(tmp_path, "Alice")
    bt, wb = make_party(tmp_path, "Priya", "BT")
    first = wa.create("Broadband down", catalog.load("broadband-fault"), "customer")
    second = wa.create("Bill wrong", catalog.load("billing-dispute"), "customer")
    wa.act(first, actions.add_party, bt.key_hex, "BT", "supplier", "BT")
    wa.upkeep()
    from_summaries = SharingIndex(wa)
    assert from_summaries.contracts_of(bt.public_key) == [first]
    assert from_summaries.contracts_of(alice.public_key) == sorted([first, second])
    # The same answers as reading each document: the summaries carry the party keys in force.
    for cid in (first, second):
        assert from_summaries.keys_of(cid) == frozenset(wa.party_keys(cid))
    # A party list that changes is followed by refresh, and the keys before are returned.
    third = wa.create("Moving house", catalog.load("cancel-on-move"), "customer")
    assert from_summaries.contracts_of(bt.public_key) == [first]
    assert from_summaries.refresh(third) == frozenset()
    wa.act(third, actions.add_party, bt.key_hex, "BT", "supplier", "BT")
    assert from_summaries.refresh(third) == frozenset({alice.public_key})
    assert from_summaries.contracts_of(bt.public_key) == sorted([first, third])
    # A party replacing its key: the old key no longer shares the contract, the new one does.
    new_key = "ab" * 32
    wa.act(second, actions.replace_key, new_key)
    assert alice.public_key in from_summaries.refresh(second)
    assert second not in from_summaries.contracts_of(alice.public_key)
    assert from_summaries.contracts_of(bytes.fromhex(new_key)) == [second]


@pytest.fixture
def told():
    """Which contracts each session was told about: PeerConnection.local_changed, recorded."""
    seen: dict[bytes, list[str]] = {}
    original = PeerConnection.local_changed

    def record(self, contract_id):
        seen.setdefault(self.peer_key, []).append(contract_id)
        return original(self, contract_id)

    PeerConnection.local_changed = record
    yield seen
    PeerConnection.local_changed = original


async def test_an_edit_reaches_exactly_the_sessions_that_share_the_contract(make_party, tmp_path, services, told):
    _, desk = make_party(tmp_path, "Priya", "BT")
    alice, wa = make_party(tmp_path, "Alice")
    bob, wb = make_party(tmp_path, "Bob")
    desk.max_documents = 1  # the desk keeps one document in memory: every other one is reloaded on use
    alices = desk.create("Alice's broadband", catalog.load("broadband-fault"), "supplier")
    bobs = desk.create("Bob's bill", catalog.load("billing-dispute"), "supplier")
    sd = await services(desk)
    await join(wa, sd.invite(alices, "customer"))
    await join(wb, sd.invite(bobs, "customer"))
    sa, sb = await services(wa), await services(wb)
    await until(lambda: alice.public_key in sd.sessions and bob.public_key in sd.sessions)
    await until(lambda: alices in sd.sessions[alice.public_key].exchange.shared
                and bobs in sd.sessions[bob.public_key].exchange.shared)

    told.clear()
    sd.act(alices, actions.note, "engineer booked")
    await until(lambda: "engineer booked" in texts(wa, alices))
    assert told.get(alice.public_key) == [alices] and bob.public_key not in told

    # A case nobody else is party to yet: an edit tells no session; once Bob joins it, the next does.
    moving = desk.create("Bob moves house", catalog.load("cancel-on-move"), "supplier")
    told.clear()
    sd.act(moving, actions.note, "waiting for the customer")
    assert not told
    await join(wb, sd.invite(moving, "customer"))
    await until(lambda: bob.public_key in desk.party_keys(moving))
    await until(lambda: moving in sd.sessions[bob.public_key].exchange.shared)
    told.clear()
    sd.act(moving, actions.note, "final bill on the 3rd")
    await until(lambda: "final bill on the 3rd" in texts(wb, moving))
    assert told.get(bob.public_key) == [moving] and alice.public_key not in told

    # Bob goes offline: his session leaves the index, and edits still reach Alice alone.
    await sb.stop()
    await until(lambda: bob.public_key not in sd.sessions)
    assert all(bob.public_key not in keys for keys in sd._sessions_of_party.values())
    told.clear()
    sd.act(alices, actions.note, "Bob is away")
    await until(lambda: "Bob is away" in texts(wa, alices))
    assert set(told) == {alice.public_key}
    assert isinstance(sa, PeerService)


def test_a_workspace_holds_at_most_its_budget_of_documents(make_party, tmp_path):
    """Memory follows use, not history: documents beyond the budget are evicted least recently used
    first, and an evicted contract reads and takes edits exactly as before."""
    _, ws = make_party(tmp_path, "Priya", "BT")
    ws.max_documents = 2
    cases = [ws.create(f"Case {n}", catalog.load("broadband-fault"), "supplier") for n in range(4)]
    before = {cid: ws.view(cid).title for cid in cases}
    assert len(ws._docs) == 2 and list(ws._docs) == cases[2:]
    ws.view(cases[2])  # used again: the newest, so cases[3] goes first
    ws.view(cases[0])
    assert list(ws._docs) == [cases[2], cases[0]]
    ws.act(cases[3], actions.note, "still writable after eviction")
    assert [e.text for e in ws.view(cases[3]).timeline][-1] == "still writable after eviction"
    assert {cid: ws.view(cid).title for cid in cases} == before
    assert len(ws._docs) == 2
