"""Resource limits per peer: what a rogue party (pinned key, valid TLS) can make this device hold.

* changes waiting for a dependency that never comes (Automerge queues them without limit): refused
  once ``MAX_WAITING_BYTES`` of such sync messages arrived (counted inflated: ``z`` pieces are small);
  an honest message that arrives one step early still goes through;
* a ``z`` piece that inflates past the frame limit: refused, the inflater never holds more than the limit;
* signatures held for later changes: cleared once nothing waits, refused beyond ``MAX_PENDING_SIGNATURES``;
* contracts asked for: refused beyond ``MAX_WANTED``; the same contract asked for twice: refused;
* a peer that never reads: dropped once a write has waited ``WRITE_TIMEOUT`` (real sockets).
"""

from __future__ import annotations

import asyncio
import os
import socket
import tracemalloc
import zlib

import pytest

from automerge.core import Document

from pactclient.identity.certs import SERVER_NAME, tls_contexts
from pactclient.model import actions
from pactclient.net import session as session_mod
from pactclient.net.service import PeerService
from pactclient.net.session import Session
from pactclient.sync import channel as channel_mod
from pactclient.sync import connection as connection_mod
from pactclient.sync import events as ev
from pactclient.sync.connection import PeerConnection
from pactclient.sync.frames import MAX_FRAME_BYTES, encode_frame

from conftest import FIXED_NOW, copy_state, shared_contract
from hostile import hello, pump, sync_frame, sync_message, uncompressed


def _greeted_and_shared(wa, wb, cid) -> PeerConnection:
    conn = PeerConnection(wa, wb.identity.public_key, dialer=False)
    conn.receive_data(encode_frame(hello(wb.identity.public_key))
                      + encode_frame({"t": "offer", "contracts": {cid: []}, "more": False}))
    conn.data_to_send()
    assert cid in conn.shared
    return conn


class _Sender:
    """Bob's side of one contract on one connection, in a given wire form: ``z+s`` as the honest sender
    does (one DEFLATE stream, the contract named by id the first time and by number after, positional
    signatures), or ``m+sigs``, the forms the receiver still accepts."""

    def __init__(self, wb, cid: str, wire: str):
        self.wb, self.cid, self.wire = wb, cid, wire
        self._z = zlib.compressobj(6, zlib.DEFLATED, -11)
        self._named = False

    def frame(self, changes, heads: list[bytes]) -> tuple[bytes, int]:
        """The frame carrying ``changes`` (as uncompressed chunks, so that ``s`` can list them), and
        the size of the Automerge message in it."""
        message = sync_message(heads, [], [uncompressed(c.bytes) for c in changes])
        sigs = dict(_sigs(self.wb, changes))
        frame = sync_frame(self.cid, message, sigs, wire=self.wire)
        assert self.wire.split("+")[1] in frame  # the signature field the wire form names
        if self._named:
            del frame["c"]
        self._named = True
        if "z" in frame:  # the next piece of this connection's stream, not a new stream
            frame["z"] = self._z.compress(message) + self._z.flush(zlib.Z_SYNC_FLUSH)
        return encode_frame(frame), len(message)


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


@pytest.mark.parametrize("wire", ["z+s", "m+sigs"])
def test_changes_waiting_for_a_missing_dependency_are_bounded(make_party, tmp_path, monkeypatch, wire):
    monkeypatch.setattr(channel_mod, "MAX_WAITING_BYTES", 64 * 1024)  # the real 16 MiB, scaled down
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb])
    chain = _chain(wb, cid, 400)
    before = copy_state(wa, cid)
    conn = _greeted_and_shared(wa, wb, cid)
    bob = _Sender(wb, cid, wire)
    sent = on_wire = messages = 0
    # Everything but the first change, again and again: it all waits for the first, which never comes.
    while not conn.closed and messages < 1000:
        batch = chain[1 + (messages * 20) % 380: 1 + (messages * 20) % 380 + 20]
        data, size = bob.frame(batch, [chain[-1].hash])
        conn.receive_data(data)
        last = size
        sent += size
        on_wire += len(data)
        messages += 1
    refused = [e for e in conn.events() if isinstance(e, ev.PeerRefused)]
    print(f"\nqueued changes ({wire}): refused after {messages} messages, {sent} bytes ({on_wire} on the wire) "
          f"waiting for a missing dependency (limit {channel_mod.MAX_WAITING_BYTES}; real limit {16 * 1024 * 1024})")
    assert conn.closed and refused and "dependencies never came" in refused[0].reason
    # Counted as inflated, not as on the wire: refused by the very message that crossed the limit.
    assert sent - last <= channel_mod.MAX_WAITING_BYTES < sent
    assert copy_state(wa, cid) == before
    # An honest early arrival: the second change first, then the first; both admitted, signatures kept.
    conn = _greeted_and_shared(wa, wb, cid)
    bob = _Sender(wb, cid, wire)
    for part in ([chain[1]], [chain[0]]):
        conn.receive_data(bob.frame(part, [chain[1].hash])[0])
    assert not conn.closed, conn.events()
    assert wa.store.change_count(cid) == before[0] + 2
    assert not conn._channels[cid].signatures  # nothing waits any more: nothing kept


def test_signatures_and_wanted_contracts_are_bounded(make_party, tmp_path):
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb])
    before = copy_state(wa, cid)
    conn = _greeted_and_shared(wa, wb, cid)
    junk = [[os.urandom(32), bytes(64)] for _ in range(channel_mod.MAX_PENDING_SIGNATURES + 1)]
    # Signatures by hash (``sigs``) are still accepted beside a v2 ``z`` message: the one way to send
    # signatures for changes a message does not carry.
    empty = sync_message([], [], [])
    conn.receive_data(encode_frame({**sync_frame(cid, empty, {}), "sigs": junk}))
    assert conn.closed and "far more signatures" in conn.events()[-1].reason
    # Fewer junk signatures pass, and are dropped at once: no change waits for them (here beside ``m``).
    conn = _greeted_and_shared(wa, wb, cid)
    conn.receive_data(encode_frame({**sync_frame(cid, empty, {}, wire="m+s"), "sigs": junk[:50_000]}))
    assert not conn.closed and not conn._channels[cid].signatures
    # Positional signatures cannot smuggle more: one entry more than the message has changes is refused.
    conn = _greeted_and_shared(wa, wb, cid)
    (change,) = _chain(wb, cid, 1)
    one = sync_message([change.hash], [], [uncompressed(change.bytes)])
    frame = sync_frame(cid, one, dict(_sigs(wb, [change])))
    conn.receive_data(encode_frame({**frame, "s": frame["s"] + [bytes(64)]}))
    assert conn.closed and "one entry per change" in conn.events()[-1].reason
    # An offer of more contracts than this device would ever ask one peer for.
    conn = _greeted_and_shared(wa, wb, cid)
    many = {os.urandom(16).hex(): [] for _ in range(connection_mod.MAX_WANTED + 1)}
    conn.receive_data(encode_frame({"t": "offer", "contracts": many, "more": True}))
    assert conn.closed and "contracts this device lacks" in conn.events()[-1].reason
    # Asking twice for the whole contract (each answer costs a save() and its bytes on the wire): named
    # by id and number, then by the number alone, as an honest v2 sender names it.
    conn = _greeted_and_shared(wa, wb, cid)
    conn.receive_data(encode_frame({"t": "want", "c": cid, "n": 0}))
    assert not conn.closed
    conn.receive_data(encode_frame({"t": "want", "n": 0}))
    assert conn.closed and "asked twice" in conn.events()[-1].reason
    assert copy_state(wa, cid) == before
    print(f"\nsignatures: {len(junk)} refused, 50,000 junk dropped at once; offer of {len(many)} unknown contracts "
          f"refused; a second want refused")


def test_contract_numbers_are_bounded_by_the_contracts_named(make_party, tmp_path):
    """Contract numbers (``n``) live for the connection: a peer that binds one shared contract to a new
    number in every frame would grow the receiver's map by an entry a frame, up to 2**31 of them. The
    second number for the same contract is refused; the same binding again is fine."""
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb])
    before = copy_state(wa, cid)
    quiet = sync_message(wa.document(cid).get_heads(), [], [])  # nothing new: handled, no change
    conn = _greeted_and_shared(wa, wb, cid)
    for frame in ({"t": "sync", "c": cid, "n": 7, "m": quiet}, {"t": "sync", "c": cid, "n": 7, "m": quiet},
                  {"t": "sync", "n": 7, "m": quiet}):
        conn.receive_data(encode_frame(frame))
        assert not conn.closed, conn.events()
    bound = 1
    while not conn.closed and bound < 1000:
        conn.receive_data(encode_frame({"t": "sync", "c": cid, "n": 7 + bound, "m": quiet}))
        bound += 1
    refused = [e for e in conn.events() if isinstance(e, ev.PeerRefused)]
    print(f"\ncontract numbers: a second number for the same contract refused at once ({bound} numbers tried)")
    assert conn.closed and refused and "one contract by two numbers" in refused[0].reason
    assert bound == 2
    assert copy_state(wa, cid) == before


def test_a_piece_inflating_past_the_frame_limit_is_refused(make_party, tmp_path):
    """A ``z`` piece is small on the wire but may inflate to anything: a DEFLATE bomb (64 MiB + 1 byte of
    zeros, ~65 KB deflated) is refused, the inflater stopping at the frame limit. A piece of exactly the
    limit is within it (and this one, a sync message header padded with zeros, is harmless: handled)."""
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb])
    before = copy_state(wa, cid)
    sizes = {}
    for size, reason in ((MAX_FRAME_BYTES + 1, "over the size limit"), (MAX_FRAME_BYTES, None)):
        z = zlib.compressobj(9, zlib.DEFLATED, -15)
        piece = z.compress(b"\x42" + bytes(size - 1)) + z.flush(zlib.Z_SYNC_FLUSH)
        sizes[size] = len(piece)
        conn = _greeted_and_shared(wa, wb, cid)
        tracemalloc.start()
        conn.receive_data(encode_frame({"t": "sync", "c": cid, "n": 0, "z": piece}))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        refused = [e for e in conn.events() if isinstance(e, ev.PeerRefused)]
        if reason is None:
            assert not conn.closed and not refused
        else:
            assert conn.closed and refused and reason in refused[0].reason, refused
        print(f"\nDEFLATE piece of {len(piece)} bytes inflating to {size} bytes: "
              f"{repr(refused[0].reason) if refused else 'handled'}; peak Python memory while handling it "
              f"{peak / 2**20:.0f} MiB (frame limit {MAX_FRAME_BYTES / 2**20:.0f} MiB)")
        assert peak < 3 * MAX_FRAME_BYTES
    assert copy_state(wa, cid) == before


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
        sam.sendall(encode_frame(hello(carol.public_key, "S"))
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
        tls.sendall(encode_frame(hello(carol.public_key, "S"))
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
