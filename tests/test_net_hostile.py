"""Hostile peers on real TLS sockets on 127.0.0.1: who is admitted, and what a silent or slow peer can hold.

Admission attempts — an unknown key, a certificate naming a pinned key but signed by another, a pinned
party vouching for a stranger's key, a hello naming another key, a party speaking protocol version 1, no
client certificate, the device's own key, a duplicate session — 0 admitted, each refused at the step
meant to refuse it (the TLS handshake, right after it, or the hello, with its reason named). Then: a silent TCP client, a silent TLS peer and a peer that
never reads hold only their own connection while an honest peer syncs.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from pactclient.identity.certs import SERVER_NAME, tls_contexts
from pactclient.identity.device import fingerprint
from pactclient.model import actions
from pactclient.net import service as service_mod
from pactclient.net import session as session_mod
from pactclient.net.oneshot import sync_once
from pactclient.net.service import PeerService
from pactclient.sync import events as ev
from pactclient.sync.connection import VERSION
from pactclient.sync.frames import FrameDecoder, encode_frame

from conftest import shared_contract

LIMIT = 20.0


async def until(condition, limit: float = LIMIT) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


@pytest.fixture
async def services():
    started: list[PeerService] = []

    async def start(ws, **kw) -> PeerService:
        svc = PeerService(ws, "127.0.0.1", 0, dial_known=False, **kw)
        await svc.start()
        started.append(svc)
        return svc

    yield start
    for svc in started:
        await svc.stop()


def _forged_certificate(claimed_key: bytes, signer) -> tuple[bytes, bytes]:
    """(cert PEM, key PEM): a device certificate naming ``claimed_key``'s fingerprint as issuer but holding
    and signed by ``signer``'s key — or, with ``claimed_key`` a stranger's, a party vouching for it."""
    fp = fingerprint(claimed_key)
    name = lambda role: x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),  # noqa: E731
                                   x509.NameAttribute(NameOID.COMMON_NAME, fp)])
    cert = (x509.CertificateBuilder().subject_name(name("pact device")).issuer_name(name("pact key"))
            .public_key(signer.private_key.public_key()).serial_number(1)
            .not_valid_before(datetime.datetime(2020, 1, 1)).not_valid_after(datetime.datetime(9999, 1, 1))
            .sign(signer.private_key, None))
    key = signer.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key


def _client_context(cert_key: tuple[bytes, bytes] | None, pinned_server: bytes, tmp_path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    if cert_key is not None:
        (tmp_path / "c.pem").write_bytes(cert_key[0])
        (tmp_path / "k.pem").write_bytes(cert_key[1])
        ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    return ctx


def _hello(key: bytes, name: str = "x", version: int = VERSION) -> bytes:
    return encode_frame({"t": "hello", "protocol": "pact-sync", "v": version, "key": key, "name": name})


async def _attempt(address: str, ctx: ssl.SSLContext, hello_key: bytes | None, version: int = VERSION) -> str:
    """Connect, say hello, read until the listener closes (or the handshake fails). Returns how it ended:
    ``"tls"`` (the handshake failed, or the listener closed without a byte: one that admits a peer at
    the TLS level sends its own hello at once), the reason of the listener's ``error`` frame, or
    ``"closed"``."""
    host, port = address.split(":")
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, int(port), ssl=ctx, server_hostname=SERVER_NAME), LIMIT)
    except (ssl.SSLError, ConnectionError, OSError):
        return "tls"
    got = b""
    try:
        if hello_key is not None:
            writer.write(_hello(hello_key, version=version))
            await writer.drain()
        while data := await asyncio.wait_for(reader.read(1 << 16), LIMIT):
            got += data
    except (ssl.SSLError, ConnectionError, OSError):
        pass  # TLS 1.3 reports a refused client certificate only at the first read
    finally:
        writer.close()
    if not got:
        return "tls"
    decoder = FrameDecoder()
    decoder._limit = 1 << 30  # read every frame the listener sent, its hello included
    decoder.feed(got)
    errors = [f.get("reason", "") for f in decoder.frames() if f.get("t") == "error"]
    return errors[-1] if errors else "closed"


async def test_no_hostile_connection_is_admitted(make_party, tmp_path, services):
    alice, wa = make_party(tmp_path, "Alice")
    bob, wb = make_party(tmp_path, "Priya", "BT")
    mallory, wm = make_party(tmp_path, "Mallory")
    cid = shared_contract([wa, wb])
    sa = await services(wa)
    seen = []
    sa.subscribe(seen.append)
    alice_key = alice.public_key
    for d in ("f1", "f2", "f3"):
        (tmp_path / d).mkdir()
    attempts = {
        "unknown key": (tls_contexts(mallory).client([alice_key]), mallory.public_key),
        "certificate naming a pinned key, signed by another": (
            _client_context(_forged_certificate(bob.public_key, mallory), alice_key, tmp_path / "f1"), bob.public_key),
        "pinned party vouching for a stranger's key": (
            _client_context(_forged_certificate(mallory.public_key, bob), alice_key, tmp_path / "f2"), mallory.public_key),
        "hello naming another key": (tls_contexts(bob).client([alice_key]), mallory.public_key),
        "a party speaking protocol version 1": (tls_contexts(bob).client([alice_key]), bob.public_key),
        "no client certificate": (_client_context(None, alice_key, tmp_path / "f3"), bob.public_key),
        "the device's own key": (tls_contexts(alice).client([alice_key]), alice_key),
    }
    # Where each must be refused: a hello from a peer the handshake let in names its reason.
    expected = {what: "tls" for what in attempts}
    expected["hello naming another key"] = "the key in the hello is not the key of the peer's certificate"
    expected["a party speaking protocol version 1"] = f"the peer speaks pact-sync version 1, this device {VERSION}"
    # A device's own party key is pinned (its other devices hold certificates it issued), so its own
    # key passes the handshake and is refused right after it, before any byte of the protocol.
    expected["the device's own key"] = "refused: the peer shows this device's own key"
    admitted, how = {}, {}
    for what, (ctx, hello_key) in attempts.items():
        before = len(seen)
        how[what] = await _attempt(sa.address, ctx, hello_key, version=1 if "version 1" in what else VERSION)
        admitted[what] = any(isinstance(e, ev.PeerGreeted) for e in seen[before:])  # greeted = admitted
    # Duplicate sessions: Priya (a party) connects three times at once; at most one session stands.
    dup_ctx = tls_contexts(bob).client([alice_key])
    host, port = sa.address.split(":")
    conns = [await asyncio.open_connection(host, int(port), ssl=dup_ctx, server_hostname=SERVER_NAME) for _ in range(3)]
    for _, writer in conns:
        writer.write(_hello(bob.public_key, "P"))
    await until(lambda: bob.public_key in sa.sessions)
    await asyncio.sleep(0.2)
    live = [s for s in sa.sessions.values() if not s.exchange.closed]
    admitted["duplicate session"] = len(live) > 1
    for _, writer in conns:
        writer.close()
    count = sum(admitted.values())
    print(f"\npeer admission on 127.0.0.1: {len(admitted)} hostile attempts, {count} admitted; {admitted}; "
          f"refused by {how}")
    assert count == 0, admitted
    assert how == expected
    assert len(live) == 1  # the duplicates replaced one another: one session for Priya's key
    assert not any(p["key"] == mallory.key_hex for p in wa.store.peers())
    assert wa.store.has_contract(cid) and not wm.store.has_contract(cid)


async def test_silent_and_slow_peers_do_not_stall_an_honest_one(make_party, tmp_path, services, monkeypatch):
    # The real bounds are seconds long (10 s handshake and hello, 45 s silence); shortened here.
    monkeypatch.setattr(service_mod, "HANDSHAKE_TIMEOUT", 1.0)
    monkeypatch.setattr(session_mod, "HELLO_TIMEOUT", 1.0)
    monkeypatch.setattr(session_mod, "PING_AFTER", 0.3)
    monkeypatch.setattr(session_mod, "DEAD_AFTER", 1.5)
    _, wa = make_party(tmp_path, "Alice")
    bob, wb = make_party(tmp_path, "Priya", "BT")
    carol, wc = make_party(tmp_path, "Sam", "Ombuds")
    dan, wd = make_party(tmp_path, "Dan", "Openreach")
    eve, we = make_party(tmp_path, "Eve", "Billing")
    cid = shared_contract([wa, wb, wc, wd, we], roles=("customer", "supplier", "coordinator", "observer", "observer"))
    for i in range(200):
        wa.act(cid, actions.note, f"note {i} {os.urandom(100).hex()}")
    sa = await services(wa)
    host, port = sa.address.split(":")
    pinned = lambda who: tls_contexts(who).client([wa.identity.public_key])  # noqa: E731
    # 1. a TCP client that never starts TLS; 2. a pinned peer that completes TLS and says nothing;
    # 3. a pinned peer that trickles part of a hello; 4. Sam, who greets, asks for the contract, never reads.
    raw = await asyncio.open_connection(host, int(port))
    silent = await asyncio.open_connection(host, int(port), ssl=pinned(dan), server_hostname=SERVER_NAME)
    trickle = await asyncio.open_connection(host, int(port), ssl=pinned(eve), server_hostname=SERVER_NAME)
    trickle[1].write(_hello(eve.public_key, "E")[:10])
    reader, writer = await asyncio.open_connection(host, int(port), ssl=pinned(carol), server_hostname=SERVER_NAME)
    writer.write(_hello(carol.public_key, "S") + encode_frame({"t": "want", "c": cid, "n": 0}))
    await writer.drain()
    writer.transport.pause_reading()
    await until(lambda: carol.public_key in sa.sessions)
    # Meanwhile an honest peer (Priya) syncs fully.
    loop = asyncio.get_running_loop()
    started = loop.time()
    events, failures, _ = await sync_once(wb, [sa.address], limit=LIMIT)
    honest_seconds = loop.time() - started
    assert not failures
    assert sorted(wb.document(cid).get_heads()) == sorted(wa.document(cid).get_heads())
    # Each staller is dropped by its own bound, and none of them changed anything.
    ends = []
    for r, _ in (raw, silent, trickle):
        got = b""
        while True:
            try:
                data = await asyncio.wait_for(r.read(1 << 16), LIMIT)
            except (ConnectionError, ssl.SSLError):
                break
            if not data:
                break
            got += data
        ends.append(got)
    await until(lambda: carol.public_key not in sa.sessions, limit=LIMIT)
    print(f"\nstalling peers: 4 (raw TCP, silent TLS, trickled hello, never reading) held connections while the "
          f"honest peer synced {wa.store.change_count(cid)} changes in {honest_seconds:.2f} s (shared machine: noisy); "
          f"all 4 dropped by their own time limits")
    assert ends[0] == b""  # the TLS handshake timed out
    assert all(b"timed out" in e for e in ends[1:])  # the hello did not come in time: an error frame, then close
    assert wa.store.change_count(cid) == wb.store.change_count(cid)
    for _, w in (raw, silent, trickle, (reader, writer)):
        w.close()
