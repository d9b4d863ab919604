"""Attached files over live sync: sans-IO between two connections, a hostile peer's frames, and a real
sync between two homes on 127.0.0.1."""

from __future__ import annotations

import hashlib

from pactclient.model import attachments as model
from pactclient.store.attachments import FileStore, stage_file, statuses
from pactclient.sync import events as ev
from pactclient.sync.files import FileReceived

from conftest import shared_contract
from test_attachments import tamper
from test_net_peers import services, until  # noqa: F401  (the fixture, and bounded waits)
from test_sync_protocol import connect, pump

BILL = b"%PDF-1.4 Your bill: BT owes Alice 250.00\n"


def two_parties(make_party, tmp_path):
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    return wa, wb, shared_contract([wa, wb], roles=("customer", "supplier"))


def attach(ws, cid, tmp_path, data=BILL, name="bill.pdf") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return ws.act(cid, model.attach, *stage_file(ws.home, path)).ref


def refused(conn) -> list[str]:
    return [e.reason for e in conn.events() if isinstance(e, ev.PeerRefused)]


def test_a_peer_that_sees_an_attachment_fetches_and_verifies_its_bytes(make_party, tmp_path):
    wa, wb, cid = two_parties(make_party, tmp_path)
    ca, cb = connect(wa, wb)
    digest = attach(wa, cid, tmp_path)
    ca.local_changed(cid)
    pump(ca, cb)
    assert [(a.name, s) for a, s in statuses(wb, cid)] == [("bill.pdf", "present")]
    assert FileStore(wb.home).read(digest) == BILL
    assert any(isinstance(e, FileReceived) and e.sha256 == digest for e in cb.events())
    assert not ca.closed and not cb.closed


def test_missing_bytes_are_fetched_when_peers_next_meet(make_party, tmp_path):
    wa, wb, cid = two_parties(make_party, tmp_path)
    digest = attach(wa, cid, tmp_path)
    from conftest import exchange

    exchange(wa, wb, cid)  # the changes only, as an old bundle would carry them
    assert statuses(wb, cid)[0][1] == "missing"
    connect(wa, wb)
    assert FileStore(wb.home).read(digest) == BILL


def test_bytes_that_do_not_match_the_hash_are_refused_and_not_stored(make_party, tmp_path):
    wa, wb, cid = two_parties(make_party, tmp_path)
    ca, cb = connect(wa, wb)
    digest = attach(wa, cid, tmp_path)
    ca.local_changed(cid)

    def lie(frame):  # a hostile Alice: the right hash, other bytes
        if frame["t"] == "file":
            frame["data"] = b"%PDF-1.4 Your bill: Alice owes BT 250.00\n"
        return frame

    pump(ca, cb, tamper=lie)
    assert any("do not match its SHA-256" in r for r in refused(cb))
    assert cb.closed and statuses(wb, cid)[0][1] == "missing"
    assert not FileStore(wb.home).exists(digest)


def test_a_peer_gets_only_files_its_shared_contracts_name_and_only_what_it_asked(make_party, tmp_path):
    wa, wb, cid = two_parties(make_party, tmp_path)
    from pactclient import catalog

    private = wa.create("Alice's own notes", catalog.load("billing-dispute"), "customer")
    secret = attach(wa, private, tmp_path, b"Alice's payslip", "payslip.pdf")
    # Priya asks for the bytes of a contract she is not a party of, then for a hash hers does not name.
    for frame in ({"t": "fwant", "c": private, "h": [bytes.fromhex(secret)]},
                  {"t": "fwant", "c": cid, "h": [bytes.fromhex(secret)]}):
        ca, cb = connect(wa, wb)
        cb._send(frame)
        pump(ca, cb)
        reasons = refused(ca)
        assert reasons and ("may not have" in reasons[0] or "does not name" in reasons[0])
        assert not FileStore(wb.home).exists(secret)
    # Bytes nobody asked for are refused too.
    ca, cb = connect(wa, wb)
    ca._send({"t": "file", "c": cid, "h": bytes.fromhex(secret), "data": b"Alice's payslip"})
    pump(ca, cb)
    assert any("not asked for" in r for r in refused(cb)) and not FileStore(wb.home).exists(secret)


def test_altered_bytes_are_never_sent_as_genuine(make_party, tmp_path):
    wa, wb, cid = two_parties(make_party, tmp_path)
    digest = attach(wa, cid, tmp_path)
    tamper(wa.home, digest)
    ca, cb = connect(wa, wb)
    assert not ca.closed and not cb.closed
    assert statuses(wb, cid)[0][1] == "missing" and not FileStore(wb.home).exists(digest)


async def test_attachment_crosses_a_real_sync_between_two_homes(make_party, tmp_path, services):
    wa, wb, cid = two_parties(make_party, tmp_path)
    sa = await services(wa)
    sb = await services(wb, dial_known=False)
    await sb.dial(sa.address)
    await until(lambda: cid in sa.sessions.get(wb.identity.public_key, None).exchange.shared
                if wb.identity.public_key in sa.sessions else False)
    path = tmp_path / "line-test.txt"
    path.write_bytes(b"line test 02:14: sync lost, noise margin 2 dB")
    digest = sa.act(cid, model.attach, *stage_file(wa.home, path)).ref
    await until(lambda: FileStore(wb.home).exists(digest))
    assert FileStore(wb.home).read(digest) == path.read_bytes()
    assert hashlib.sha256(FileStore(wb.home).read(digest)).hexdigest() == digest
    assert [(a.name, s) for a, s in statuses(wb, cid)] == [("line-test.txt", "present")]


def test_bytes_over_the_limit_are_refused_on_receipt(make_party, tmp_path):
    wa, wb, cid = two_parties(make_party, tmp_path)
    ca, cb = connect(wa, wb)
    digest = attach(wa, cid, tmp_path)
    ca.local_changed(cid)

    def bloat(frame):  # a hostile Alice: more than any attachment may be
        if frame["t"] == "file":
            frame["data"] = b"\0" * (model.MAX_ATTACHMENT_BYTES + 1)
        return frame

    pump(ca, cb, tamper=bloat)
    assert any("over the limit" in r for r in refused(cb)) and not FileStore(wb.home).exists(digest)


def test_bytes_are_served_once_per_connection(make_party, tmp_path):
    wa, wb, cid = two_parties(make_party, tmp_path)
    digest = attach(wa, cid, tmp_path)
    ca, cb = connect(wa, wb)
    assert FileStore(wb.home).exists(digest)
    cb._send({"t": "fwant", "c": cid, "h": [bytes.fromhex(digest)]})  # 10 MiB again and again: no
    pump(ca, cb)
    assert any("twice" in r for r in refused(ca))


async def test_one_shot_sync_fetches_missing_files(make_party, tmp_path, services):
    from conftest import exchange
    from pactclient.net.oneshot import sync_once

    wa, wb, cid = two_parties(make_party, tmp_path)
    digest = attach(wa, cid, tmp_path)
    exchange(wa, wb, cid)  # the signed entry without its bytes
    sa = await services(wa)
    seen, failures, _ = await sync_once(wb, [sa.address], limit=20.0)
    assert not failures
    assert any(isinstance(e, FileReceived) and e.sha256 == digest for e in seen)
    assert FileStore(wb.home).read(digest) == BILL
