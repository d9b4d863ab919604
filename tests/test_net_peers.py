"""Peers over real TLS sockets on 127.0.0.1: invites, live edits, pinning, bad frames, reconnects.

Every wait is bounded (``until``); nothing asserts how long something took.
"""

from __future__ import annotations

import asyncio
import ssl

import pytest

from pactclient import catalog
from pactclient.errors import RemoteProtocolError
from pactclient.identity.certs import SERVER_NAME, tls_contexts
from pactclient.model import actions
from pactclient.net import service as service_mod
from pactclient.net.oneshot import join, sync_once
from pactclient.net.service import PeerService
from pactclient.sync import events as ev
from pactclient.sync.connection import VERSION
from pactclient.sync.frames import MAX_HELLO_BYTES, encode_frame

from pactclient.store import Workspace

from conftest import FixedClock, copy_state, exchange, shared_contract

LIMIT = 20.0


async def until(condition, limit: float = LIMIT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def heads(ws, cid):
    return sorted(ws.document(cid).get_heads())


def texts(ws, cid):
    return [e.text for e in ws.view(cid).timeline]


@pytest.fixture
async def services():
    started: list[PeerService] = []

    async def start(ws, **kw) -> PeerService:
        svc = PeerService(ws, "127.0.0.1", 0, **kw)
        await svc.start()
        started.append(svc)
        return svc

    yield start
    for svc in started:
        await svc.stop()


async def test_invite_join_then_live_edits_both_ways(make_party, tmp_path, services):
    _, wa = make_party(tmp_path, "Priya", "BT")
    alice, wb = make_party(tmp_path, "Alice")
    cid = wa.create("Mail re-downloads", catalog.load("broadband-fault"), "supplier")
    sa = await services(wa)
    code = sa.invite(cid, "customer")
    done = await join(wb, code)
    assert done.contract_id == cid
    assert wb.view(cid).party_by_key(alice.key_hex).role == "customer"
    seen_a, seen_b = [], []
    sa.subscribe(seen_a.append)
    sb = await services(wb)  # Alice's peer dials Priya's, whose address it learned when joining
    sb.subscribe(seen_b.append)
    await until(lambda: wa.identity.public_key in sb.sessions and wb.identity.public_key in sa.sessions)
    await until(lambda: cid in sa.sessions[wb.identity.public_key].exchange.shared)
    sb.act(cid, actions.note, "Mail still re-downloads")
    await until(lambda: "Mail still re-downloads" in texts(wa, cid))
    sa.act(cid, actions.note, "Engineer booked")
    await until(lambda: "Engineer booked" in texts(wb, cid))
    assert any(isinstance(e, ev.ChangesAdmitted) for e in seen_a)
    assert any(isinstance(e, ev.ChangesAdmitted) and e.authors == (wa.identity.public_key,) for e in seen_b)
    # Both offline-style concurrent edits, then converge.
    sa.act(cid, actions.note, "A concurrent")
    sb.act(cid, actions.note, "B concurrent")
    # opened, added Alice, Alice joined, four notes
    await until(lambda: heads(wa, cid) == heads(wb, cid) and len(texts(wa, cid)) == len(texts(wb, cid)) == 7)
    assert texts(wa, cid) == texts(wb, cid)


async def test_third_party_receives_changes_relayed_by_second(make_party, tmp_path, services):
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    _, wc = make_party(tmp_path, "Colin", "Openreach")
    cid = shared_contract([wa, wb, wc])
    sb = await services(wb)
    sa = await services(wa, dial_known=False)
    sc = await services(wc, dial_known=False)
    await sa.dial(sb.address)
    await sc.dial(sb.address)
    seen_c = []
    sc.subscribe(seen_c.append)
    await until(lambda: len(sb.sessions) == 2 and all(cid in s.exchange.shared for s in sb.sessions.values()))
    sa.act(cid, actions.note, "from Alice, through Priya")
    await until(lambda: "from Alice, through Priya" in texts(wc, cid))
    relayed = [e for e in seen_c if isinstance(e, ev.ChangesAdmitted)]
    assert relayed[-1].peer_key == wb.identity.public_key
    assert relayed[-1].authors == (wa.identity.public_key,)


async def test_unknown_key_is_refused_at_the_handshake(make_party, tmp_path, services):
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    mallory, wm = make_party(tmp_path, "Mallory")
    cid = shared_contract([wa, wb])
    sa = await services(wa)
    events = []
    sa.subscribe(events.append)
    host, port = sa.address.split(":")
    ctx = tls_contexts(mallory).client([wa.identity.public_key])  # Mallory knows Alice's key
    reader, writer = await asyncio.open_connection(host, int(port), ssl=ctx, server_hostname=SERVER_NAME)
    writer.write(encode_frame({"t": "hello", "protocol": "pact-sync", "v": VERSION, "key": mallory.public_key}))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await writer.drain()
        data = await asyncio.wait_for(reader.read(100), LIMIT)
        if not data:
            raise ConnectionError("closed")
    writer.close()
    assert not sa.sessions and not events
    assert all(p["key"] != mallory.key_hex for p in wa.store.peers())
    # And Alice, dialling a device whose key she has not pinned, refuses it too.
    sm = await services(wm)
    with pytest.raises(RemoteProtocolError, match="not pinned"):
        await sa.dial(sm.address)
    assert not sm.sessions
    assert wa.store.has_contract(cid) and not wm.store.has_contract(cid)


async def test_dialling_a_peer_that_has_not_pinned_us_gives_a_clear_reason(make_party, tmp_path, services):
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    sb = await services(wb)  # Priya holds nothing and knows nobody
    with wa.store.write():
        wa.store.put_peer(wb.identity.key_hex, "Priya", sb.address, "known")  # but Alice pinned Priya
    events, failures, _ = await sync_once(wa, [sb.address])
    assert failures and "has not pinned this device's key" in failures[0]
    assert not sb.sessions


async def test_certificate_less_client_is_refused_on_the_sync_port(make_party, tmp_path, services):
    _, wa = make_party(tmp_path, "Alice")
    sa = await services(wa)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    host, port = sa.address.split(":")
    reader, writer = await asyncio.open_connection(host, int(port), ssl=ctx, server_hostname=SERVER_NAME)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        data = await asyncio.wait_for(reader.read(100), LIMIT)
        if not data:
            raise ConnectionError("closed")
    writer.close()
    assert not sa.sessions


async def test_oversized_and_malformed_frames_end_only_that_connection(make_party, tmp_path, services):
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb])
    sa = await services(wa)
    refused = []
    sa.subscribe(lambda e: refused.append(e) if isinstance(e, ev.PeerRefused) else None)
    host, port = sa.address.split(":")
    ctx = tls_contexts(wb.identity).client([wa.identity.public_key])
    for junk in ((MAX_HELLO_BYTES + 1).to_bytes(4, "big") + b"\0" * 64, (5).to_bytes(4, "big") + b"\xc1" * 5):
        reader, writer = await asyncio.open_connection(host, int(port), ssl=ctx, server_hostname=SERVER_NAME)
        writer.write(junk)
        await writer.drain()
        while await asyncio.wait_for(reader.read(1 << 16), LIMIT):
            pass  # the peer answers with an error frame, then closes
        writer.close()
    await until(lambda: len(refused) == 2 and not sa.sessions)
    # The listener still serves a well-behaved peer.
    wa.act(cid, actions.note, "still here")
    events, failures, _ = await sync_once(wb, [sa.address])
    assert not failures and "still here" in texts(wb, cid)


async def test_connection_cut_mid_sync_recovers_on_reconnect(make_party, tmp_path, services, monkeypatch):
    monkeypatch.setattr(service_mod, "BACKOFF_FIRST", 0.05)
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb])
    for i in range(60):
        wa.act(cid, actions.note, f"offline note {i}")
    sb = await services(wb)
    with wa.store.write():
        wa.store.put_peer(wb.identity.key_hex, "Priya", sb.address, "known")
    cut = []

    def cut_once(event):
        if isinstance(event, ev.ContractsShared) and not cut:
            cut.append(event)
            sb.sessions[event.peer_key].writer.transport.abort()  # the cable is pulled mid-sync

    sb.subscribe(cut_once)
    await services(wa)
    await until(lambda: cut and heads(wa, cid) == heads(wb, cid))
    assert "offline note 59" in texts(wb, cid)
    assert wb.store.change_count(cid) == wa.store.change_count(cid)


async def test_fresh_fetch_with_one_signature_per_author_stores_and_reopens(make_party, tmp_path, services):
    """An empty copy receives the saved document with its authors' head signatures only; the changes
    they vouch for are stored without one, and the copy opens again from its store."""
    _, wa = make_party(tmp_path, "Alice")
    colin, wc = make_party(tmp_path, "Colin", "Openreach")
    _, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb])
    wa.act(cid, actions.add_party, colin.key_hex, "Colin", "coordinator", "Openreach")
    exchange(wa, wb, cid)
    wb.act(cid, actions.answer, wa.view(cid).open_proposals()[0].id, True)
    exchange(wb, wa, cid)
    for i in range(40):
        (wa if i % 2 else wb).act(cid, actions.note, f"note {i}")
        exchange(wa, wb, cid)
        exchange(wb, wa, cid)
    sa = await services(wa)
    with wc.store.write():  # as after `pact peers add --key`
        wc.store.put_peer(wa.identity.key_hex, "Alice", sa.address, "known")
    events, failures, _ = await sync_once(wc, [sa.address])
    assert not failures
    assert heads(wc, cid) == heads(wa, cid)
    signed = [h for h, _, s in wc.signed_changes(cid) if s is not None]
    assert len(signed) == 2 < wc.store.change_count(cid)  # Alice's and Priya's latest changes
    wc.close()
    again = Workspace(wc.home, colin, FixedClock())
    try:
        assert texts(again, cid) == texts(wa, cid)
    finally:
        again.close()


async def test_refused_change_over_the_network_keeps_nothing(make_party, tmp_path, services):
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb])
    sa = await services(wa)
    before = copy_state(wa, cid)
    wb.act(cid, actions.note, "tampered on the way")
    real_signatures = wb.store.signatures

    def forged(contract_id, hashes=None):
        return {h: bytes(64) for h in real_signatures(contract_id, hashes)}

    wb.store.signatures = forged
    events, failures, _ = await sync_once(wb, [sa.address])
    assert any(isinstance(e, ev.RefusedByPeer) and "signature" in e.reason for e in events)
    assert copy_state(wa, cid) == before


def test_tui_engine_runs_on_its_own_thread(make_party, tmp_path):
    import threading

    from pactclient.net import engine_for_tui
    from pactclient.net.oneshot import join as join_with
    from pactclient.sync.invites import InviteCode

    _, wa = make_party(tmp_path, "Priya", "BT")
    _, wb = make_party(tmp_path, "Alice")
    cid = wa.create("Mail re-downloads", catalog.load("broadband-fault"), "supplier")
    engine = engine_for_tui(wa.home)
    try:
        seen = []
        got = threading.Event()
        engine.subscribe(lambda e: (seen.append(e), got.set()))
        assert engine.status()["state"] == "running" and engine.status()["peers_online"] == 0
        code = InviteCode.decode(engine.invite(cid))
        done = asyncio.run(join_with(wb, code))
        assert done.contract_id == cid
        assert got.wait(LIMIT) and any(isinstance(e, ev.InviteRedeemed) for e in seen)
    finally:
        engine.stop()
