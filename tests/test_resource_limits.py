"""Resource limits per peer: what a rogue party (pinned key, valid TLS) can make this device hold.

* changes waiting for a dependency that never comes (Automerge queues them without limit): refused
  once ``MAX_WAITING_BYTES`` of such sync messages arrived; an honest message that arrives one step
  early still goes through;
* signatures held for later changes: cleared once nothing waits, refused beyond ``MAX_PENDING_SIGNATURES``;
* contracts asked for: refused beyond ``MAX_WANTED``; the same contract asked for twice: refused;
* a peer that never reads: dropped once a write has waited ``WRITE_TIMEOUT`` (real sockets).
"""

from __future__ import annotations

import asyncio
import os
import socket

from automerge.core import Document

from pactclient.identity.certs import SERVER_NAME, tls_contexts
from pactclient.model import actions
from pactclient.net import session as session_mod
from pactclient.net.service import PeerService
from pactclient.net.session import Session
from pactclient.sync import connection as connection_mod
from pactclient.sync import events as ev
from pactclient.sync.connection import PeerConnection
from pactclient.sync.frames import encode_frame

from conftest import FIXED_NOW, copy_state, shared_contract
from hostile import pump, sync_message


def _greeted_and_shared(wa, wb, cid) -> PeerConnection:
    conn = PeerConnection(wa, wb.identity.public_key, dialer=False)
    conn.receive_data(encode_frame({"t": "hello", "protocol": "pact-sync", "v": 1, "key": wb.identity.public_key, "name": "B"})
                      + encode_frame({"t": "offer", "contracts": {cid: []}, "more": False}))
    conn.data_to_send()
    assert cid in conn.shared
    return conn


def _chain(wb, cid, count: int) -> list:
    """``count`` changes by Bob, each depending on the previous, none of them known to Alice."""
    doc = wb.document(cid).fork()
    doc.set_actor(wb.identity.public_key)
    before = doc.get_heads()
    for i in range(count):
        actions.note(doc, actions.Actor(key=wb.identity.key_hex, now=FIXED_NOW + i), f"chained {i} {os.urandom(40).hex()}")
    return doc.get_changes(before)


def _sigs(wb, changes) -> list:
    return [[c.hash, wb.identity.sign(b"pactclient/change/v1\x00" + c.hash)] for c in changes]


def test_changes_waiting_for_a_missing_dependency_are_bounded(make_party, tmp_path, monkeypatch):
    monkeypatch.setattr(connection_mod, "MAX_WAITING_BYTES", 64 * 1024)  # the real 16 MiB, scaled down
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb])
    chain = _chain(wb, cid, 400)
    before = copy_state(wa, cid)
    conn = _greeted_and_shared(wa, wb, cid)
    sent = messages = 0
    # Everything but the first change, again and again: it all waits for the first, which never comes.
    while not conn.closed and messages < 1000:
        batch = chain[1 + (messages * 20) % 380: 1 + (messages * 20) % 380 + 20]
        m = sync_message([chain[-1].hash], [], [c.bytes for c in batch])
        conn.receive_data(encode_frame({"t": "sync", "c": cid, "m": m, "sigs": _sigs(wb, batch)}))
        sent += len(m)
        messages += 1
    refused = [e for e in conn.events() if isinstance(e, ev.PeerRefused)]
    print(f"\nqueued changes: refused after {messages} messages, {sent} bytes waiting for a missing dependency "
          f"(limit {connection_mod.MAX_WAITING_BYTES}; real limit {16 * 1024 * 1024})")
    assert conn.closed and refused and "dependencies never came" in refused[0].reason
    assert copy_state(wa, cid) == before
    # An honest early arrival: the second change first, then the first; both admitted, signatures kept.
    conn = _greeted_and_shared(wa, wb, cid)
    for part in ([chain[1]], [chain[0]]):
        m = sync_message([chain[1].hash], [], [c.bytes for c in part])
        conn.receive_data(encode_frame({"t": "sync", "c": cid, "m": m, "sigs": _sigs(wb, part)}))
    assert not conn.closed
    assert wa.store.change_count(cid) == before[0] + 2
    assert not conn._channels[cid].signatures  # nothing waits any more: nothing kept


def test_signatures_and_wanted_contracts_are_bounded(make_party, tmp_path):
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb])
    before = copy_state(wa, cid)
    conn = _greeted_and_shared(wa, wb, cid)
    junk = [[os.urandom(32), bytes(64)] for _ in range(connection_mod.MAX_PENDING_SIGNATURES + 1)]
    conn.receive_data(encode_frame({"t": "sync", "c": cid, "m": sync_message([], [], []), "sigs": junk}))
    assert conn.closed and "far more signatures" in conn.events()[-1].reason
    # Fewer junk signatures pass, and are dropped at once: no change waits for them.
    conn = _greeted_and_shared(wa, wb, cid)
    conn.receive_data(encode_frame({"t": "sync", "c": cid, "m": sync_message([], [], []), "sigs": junk[:50_000]}))
    assert not conn.closed and not conn._channels[cid].signatures
    # An offer of more contracts than this device would ever ask one peer for.
    conn = _greeted_and_shared(wa, wb, cid)
    many = {os.urandom(16).hex(): [] for _ in range(connection_mod.MAX_WANTED + 1)}
    conn.receive_data(encode_frame({"t": "offer", "contracts": many, "more": True}))
    assert conn.closed and "contracts this device lacks" in conn.events()[-1].reason
    # Asking twice for the whole contract (each answer costs a save() and its bytes on the wire).
    conn = _greeted_and_shared(wa, wb, cid)
    conn.receive_data(encode_frame({"t": "want", "c": cid}))
    assert not conn.closed
    conn.receive_data(encode_frame({"t": "want", "c": cid}))
    assert conn.closed and "asked twice" in conn.events()[-1].reason
    assert copy_state(wa, cid) == before
    print(f"\nsignatures: {len(junk)} refused, 50,000 junk dropped at once; offer of {len(many)} unknown contracts "
          f"refused; a second want refused")


async def test_a_peer_that_never_reads_is_dropped_by_the_write_timeout(make_party, tmp_path, monkeypatch):
    """The session's own bound, on real loopback sockets. (Plain TCP here: asyncio's TLS transport hands a
    large write straight to the socket layer, so a stalled peer shows up on a later write; the bound
    and the code path are the same.)"""
    monkeypatch.setattr(session_mod, "WRITE_TIMEOUT", 0.5)
    _, wa = make_party(tmp_path, "Alice")
    carol, wc = make_party(tmp_path, "Sam", "Ombuds")
    _, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb, wc])
    for i in range(200):  # a few hundred kilobytes that do not compress
        wa.act(cid, actions.note, os.urandom(1500).hex())
    sessions = []

    async def accept(reader, writer):
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        session = Session(reader, writer, PeerConnection(wa, carol.public_key, dialer=False), lambda s, e: None,
                          carol.public_key)
        sessions.append(session)
        await session.run()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sam = socket.socket()
    sam.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        await asyncio.to_thread(sam.connect, ("127.0.0.1", port))
        sam.sendall(encode_frame({"t": "hello", "protocol": "pact-sync", "v": 1, "key": carol.public_key, "name": "S"})
                    + encode_frame({"t": "want", "c": cid}))  # ...and never reads
        loop = asyncio.get_running_loop()
        started = loop.time()
        while not sessions and loop.time() - started < 20:
            await asyncio.sleep(0.01)
        await asyncio.wait_for(sessions[0].ended.wait(), 20)
        print(f"\nnon-reading peer: dropped {loop.time() - started:.1f} s after asking for the contract "
              f"(WRITE_TIMEOUT {session_mod.WRITE_TIMEOUT} s here, 30 s for real): {sessions[0].error!r}")
        assert isinstance(sessions[0].error, asyncio.TimeoutError)
    finally:
        sam.close()
        server.close()
        await server.wait_closed()


async def test_a_tls_peer_that_never_reads_is_dropped_too(make_party, tmp_path, monkeypatch):
    """The same over the real TLS listener of ``PeerService``, with a client that never reads."""
    monkeypatch.setattr(session_mod, "WRITE_TIMEOUT", 0.5)
    _, wa = make_party(tmp_path, "Alice")
    carol, wc = make_party(tmp_path, "Sam", "Ombuds")
    _, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb, wc])
    for i in range(200):
        wa.act(cid, actions.note, os.urandom(1500).hex())
    sa = PeerService(wa, "127.0.0.1", 0, dial_known=False)
    await sa.start()
    sa._server.sockets[0].setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # inherited by accepted sockets
    ctx = tls_contexts(carol).client([wa.identity.public_key])
    host, port = sa.address.split(":")

    def connect_and_never_read():
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect((host, int(port)))
        tls = ctx.wrap_socket(raw, server_hostname=SERVER_NAME)
        tls.sendall(encode_frame({"t": "hello", "protocol": "pact-sync", "v": 1, "key": carol.public_key, "name": "S"})
                    + encode_frame({"t": "want", "c": cid}))
        return tls

    tls = await asyncio.to_thread(connect_and_never_read)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        while carol.public_key not in sa.sessions and loop.time() - started < 20:
            await asyncio.sleep(0.01)
        session = sa.sessions[carol.public_key]
        await asyncio.wait_for(session.ended.wait(), 20)
        print(f"\nnon-reading TLS peer: dropped {loop.time() - started:.1f} s after asking for the contract: {session.error!r}")
        assert isinstance(session.error, asyncio.TimeoutError)
    finally:
        tls.close()
        await sa.stop()
