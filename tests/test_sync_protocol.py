"""The peer protocol without sockets: two (or three) ``PeerConnection``s wired together through bytes."""

from __future__ import annotations

import msgpack
import pytest

from pactclient import catalog
from pactclient.errors import UsageError
from pactclient.model import actions
from pactclient.sync import events as ev
from pactclient.sync.connection import VERSION, PeerConnection
from pactclient.sync.frames import MAX_HELLO_BYTES, FrameDecoder, encode_frame
from pactclient.sync.invites import InviteCode, InviteGuest, InviteHost, create_invite

from pactclient.store import Workspace
from pactclient.sync import bundle

from conftest import FixedClock, copy_state, shared_contract
from hostile import sync_message


def pump(x, y, rounds: int = 50, tamper=None):
    """Deliver bytes both ways until neither side has anything to say; ``tamper(frame)`` may rewrite
    what x sends."""
    for _ in range(rounds):
        a, b = x.data_to_send(), y.data_to_send()
        if not a and not b:
            return
        if a:
            if tamper is not None:
                dec = FrameDecoder()
                dec._limit = 1 << 30
                dec.feed(a)
                a = b"".join(encode_frame(tamper(f)) for f in dec.frames())
            y.receive_data(a)
        if b:
            x.receive_data(b)
    raise AssertionError("the two sides never went quiet")


def connect(wa, wb):
    ca = PeerConnection(wa, wb.identity.public_key, dialer=True)
    cb = PeerConnection(wb, wa.identity.public_key, dialer=False)
    ca.start()
    cb.start()
    pump(ca, cb)
    return ca, cb


def connected_pair(make_party, tmp_path):
    """Alice and Priya sharing one contract, connected and in step, their events so far read."""
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb])
    ca, cb = connect(wa, wb)
    ca.events(), cb.events()
    return wa, wb, cid, ca, cb


def heads(ws, cid):
    return sorted(ws.document(cid).get_heads())


def texts(ws, cid):
    return [e.text for e in ws.view(cid).timeline]


def started(exchange):
    exchange.start()
    return exchange


def test_invite_adds_party_with_signed_change_and_delivers_contract(make_party, tmp_path):
    alice, wa = make_party(tmp_path, "Alice")
    priya, wp = make_party(tmp_path, "Priya", "BT")
    cid = wa.create("Mail re-downloads", catalog.load("broadband-fault"), "customer")
    code = InviteCode.decode(create_invite(wa, cid, "supplier", ["127.0.0.1:7401"]).encode())
    host, guest = InviteHost(wa, 7400), InviteGuest(wp, code, "127.0.0.1")
    guest.start()
    host.start()  # the inviter's challenge, which the joiner signs
    pump(guest, host)
    done = [e for e in guest.events() if isinstance(e, ev.JoinCompleted)]
    assert done and done[0].contract_id == cid
    party = wp.view(cid).party_by_key(priya.key_hex)
    assert party is not None and party.role == "supplier"
    # The party was added by a change signed by Alice's device, and Priya knows where to reach her.
    assert heads(wp, cid) == heads(wa, cid)
    assert wp.store.peers()[0]["address"] == "127.0.0.1:7400"


@pytest.mark.parametrize("problem", ["reused", "expired", "wrong secret"])
def test_bad_invite_codes_are_refused_with_a_reason(make_party, tmp_path, problem):
    _, wa = make_party(tmp_path, "Alice")
    _, wp = make_party(tmp_path, "Priya", "BT")
    cid = wa.create("Mail re-downloads", catalog.load("broadband-fault"), "customer")
    code = create_invite(wa, cid, "supplier", ["127.0.0.1:7401"], ttl_ms=60_000)
    if problem == "reused":
        _, wo = make_party(tmp_path, "Other")
        first = InviteGuest(wo, code, "127.0.0.1")
        first.start()
        pump(first, started(InviteHost(wa, 7400)))
    elif problem == "expired":
        wa.clock.advance(120_000)
    else:
        code = InviteCode(code.contract_id, code.inviter_key, code.invite_id, b"\x00" * 16, code.expires_at, code.addresses)
    before = copy_state(wa, cid)
    guest = InviteGuest(wp, code, "127.0.0.1")
    guest.start()
    pump(guest, started(InviteHost(wa, 7400)))
    refused = [e for e in guest.events() if isinstance(e, ev.RefusedByPeer)]
    expected = {"reused": "already used", "expired": "expired", "wrong secret": "wrong"}[problem]
    assert refused and expected in refused[0].reason
    assert not wp.store.has_contract(cid)
    assert copy_state(wa, cid) == before


def test_damaged_code_is_a_usage_error():
    with pytest.raises(UsageError, match="damaged"):
        InviteCode.decode("pact-abcdefgh")
    with pytest.raises(UsageError, match="not an invite code"):
        InviteCode.decode("hello")


def test_edits_flow_both_ways_and_concurrent_edits_converge(make_party, tmp_path):
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb])
    ca, cb = connect(wa, wb)
    wa.act(cid, actions.note, "from Alice")
    ca.local_changed(cid)
    pump(ca, cb)
    assert "from Alice" in texts(wb, cid)
    # Both edit before either hears of the other's edit.
    wa.act(cid, actions.note, "Alice again")
    wb.act(cid, actions.note, "Priya meanwhile")
    ca.local_changed(cid)
    cb.local_changed(cid)
    pump(ca, cb)
    assert heads(wa, cid) == heads(wb, cid)
    assert texts(wa, cid) == texts(wb, cid)
    admitted = [e for e in cb.events() if isinstance(e, ev.ChangesAdmitted)]
    assert admitted and all(a.authors == (wa.identity.public_key,) for a in admitted)


def test_empty_peer_gets_the_saved_document(make_party, tmp_path):
    _, wa = make_party(tmp_path, "Alice")
    priya, wb = make_party(tmp_path, "Priya", "BT")
    cid = wa.create("Mail re-downloads", catalog.load("broadband-fault"), "customer")
    wa.act(cid, actions.add_party, priya.key_hex, "Priya", "supplier", "BT")
    for i in range(40):
        wa.act(cid, actions.note, f"note {i}")
    ca, cb = connect(wa, wb)
    assert heads(wb, cid) == heads(wa, cid)
    got = [e for e in cb.events() if isinstance(e, ev.ChangesAdmitted)]
    assert got[0].new_contract and len(got[0].hashes) == wa.store.change_count(cid)
    # One compressed document with one signature (Alice wrote every change), not one per change.
    assert ca.bytes_out < len(wa.document(cid).save()) + 1500
    stored = wb.signed_changes(cid)
    assert [s is None for _, _, s in stored].count(False) == 1 and stored[-1][2] is not None
    # Priya's copy opens again from the store, every vouched change re-verified.
    again = Workspace(wb.home, priya, FixedClock())
    try:
        assert texts(again, cid) == texts(wa, cid)
    finally:
        again.close()


def test_changes_held_without_their_own_signature_relay_to_a_third_copy(make_party, tmp_path):
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    _, wc = make_party(tmp_path, "Colin", "Openreach")
    cid = shared_contract([wa, wb, wc])
    for i in range(5):
        wa.act(cid, actions.note, f"note {i}")
    data = bundle.decode(bundle.encode(wa, cid))
    heads_only = {h: s for h, s in data[2].items() if h in wa.head_signatures(cid)}
    assert len(heads_only) < len(data[2])
    wb.receive(data[0], data[1], heads_only)
    assert sum(1 for _, _, s in wb.signed_changes(cid) if s is None) >= 4
    bc, cb = connect(wb, wc)
    assert texts(wc, cid) == texts(wa, cid)
    got = [e for e in cb.events() if isinstance(e, ev.ChangesAdmitted)]
    assert sum(len(e.hashes) for e in got) == 5 and all(e.authors == (wa.identity.public_key,) for e in got)


def test_contract_is_never_offered_to_a_non_party(make_party, tmp_path):
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    _, wm = make_party(tmp_path, "Mallory")
    cid = shared_contract([wa, wb])
    ca = PeerConnection(wa, wm.identity.public_key, dialer=True)
    ca.start()
    sent = FrameDecoder()
    sent.feed(ca.data_to_send())
    frames = sent.frames()
    assert [f["t"] for f in frames] == ["hello", "offer"] and frames[1]["contracts"] == {}
    # Asking for it by id gets nothing but a refusal.
    cm = PeerConnection(wm, wa.identity.public_key, dialer=False)
    cm.start()
    ca.receive_data(cm.data_to_send() + encode_frame({"t": "want", "c": cid}))
    out = FrameDecoder()
    out.feed(ca.data_to_send())
    assert all(f["t"] != "doc" for f in out.frames())
    assert ca.closed and not wm.store.has_contract(cid)


def _tamper_signatures(frame):
    if frame["t"] == "sync" and frame.get("s"):
        frame["s"] = [bytes(64) for _ in frame["s"]]
    return frame


def _drop_signatures(frame):
    if frame["t"] == "sync" and frame.get("s"):
        frame["s"] = [None for _ in frame["s"]]
    return frame


def _drop_head_signature(frame):
    """Keep the signature of the first note, drop the second's: nothing later vouches for the second."""
    if frame["t"] == "sync" and frame.get("s"):
        frame["s"] = frame["s"][:-1] + [None]
    return frame


@pytest.mark.parametrize("tamper", [_tamper_signatures, _drop_signatures, _drop_head_signature],
                         ids=["forged", "unsigned", "unsigned-head"])
def test_badly_signed_changes_are_refused_and_nothing_is_kept(make_party, tmp_path, tamper):
    wa, wb, cid, ca, cb = connected_pair(make_party, tmp_path)
    before = copy_state(wa, cid)
    wb.act(cid, actions.note, "first")
    wb.act(cid, actions.note, "second")
    cb.local_changed(cid)
    pump(cb, ca, tamper=tamper)
    refused = [e for e in ca.events() if isinstance(e, ev.PeerRefused)]
    assert refused and "refused" in refused[0].reason
    told = [e for e in cb.events() if isinstance(e, ev.RefusedByPeer)]
    assert told and told[0].reason == refused[0].reason
    assert ca.closed and cb.closed
    assert copy_state(wa, cid) == before


def test_a_change_slipped_into_a_message_read_as_changeless_is_refused_and_not_kept(make_party, tmp_path, monkeypatch):
    """A channel receives change-less messages into the user's copy until the peer first sends a change
    (no scratch copy before then). Should a message ever change that copy while its reading found no
    change in it, the peer is refused and the copy read again from the store: simulated here by a
    reading of the sync format that misses every change."""
    wa, wb, cid, ca, cb = connected_pair(make_party, tmp_path)
    before = copy_state(wa, cid)
    wb.act(cid, actions.note, "slipped in")
    cb.local_changed(cid)
    decoder = FrameDecoder()
    decoder._limit = 1 << 30
    decoder.feed(cb.data_to_send())
    (frame,) = decoder.frames()  # a well-formed message carrying the note
    note_hash, _, signature = wb.signed_changes(cid)[-1]
    del frame["s"]
    frame["sigs"] = [[note_hash, signature]]  # its signature named by hash, so the reading below pairs none
    monkeypatch.setattr("pactclient.sync.connection.carried_hashes", lambda encoded: [])
    ca.receive_data(encode_frame(frame))
    refused = [e for e in ca.events() if isinstance(e, ev.PeerRefused)]
    assert refused and "without carrying a change" in refused[0].reason
    assert ca.closed
    assert copy_state(wa, cid) == before
    assert "slipped in" not in texts(wa, cid)


def test_relay_carries_the_authors_signatures(make_party, tmp_path):
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    _, wc = make_party(tmp_path, "Colin", "Openreach")
    cid = shared_contract([wa, wb, wc])
    ab, ba = connect(wa, wb)
    bc, cb = connect(wb, wc)
    wa.act(cid, actions.note, "Alice, via Priya")
    ab.local_changed(cid)
    pump(ab, ba)
    bc.local_changed(cid)  # what PeerService does after admitting from another peer
    pump(bc, cb)
    assert "Alice, via Priya" in texts(wc, cid)
    got = [e for e in cb.events() if isinstance(e, ev.ChangesAdmitted)]
    assert got[-1].peer_key == wb.identity.public_key and got[-1].authors == (wa.identity.public_key,)


def test_admission_waits_for_a_voucher_automerge_holds_back(make_party, tmp_path):
    """Alice's first note arrives without a signature, her second (which vouches for it) not yet — as
    after a bloom-filter false positive. Priya's copy admits nothing and asks for what it lacks; once
    the voucher arrives, both notes are admitted."""
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb])
    ca, cb = connect(wa, wb)
    cb.events()
    before = copy_state(wb, cid)
    wa.act(cid, actions.note, "first")
    wa.act(cid, actions.note, "second")
    first, second = wa.document(cid).get_changes(heads(wb, cid))
    cb.receive_data(encode_frame({"t": "sync", "c": cid, "m": sync_message([second.hash], [], [first.bytes]), "s": [None]}))
    assert not cb.closed and copy_state(wb, cid) == before
    asked = FrameDecoder()
    asked.feed(cb.data_to_send())
    assert [f["t"] for f in asked.frames()] == ["sync"]
    signature = wa.store.signatures(cid, [second.hash])[second.hash]
    cb.receive_data(encode_frame({"t": "sync", "c": cid, "m": sync_message([second.hash], [], [second.bytes]),
                                  "s": [signature]}))
    assert not cb.closed and texts(wb, cid)[-2:] == ["first", "second"]
    assert [s is None for h, _, s in wb.signed_changes(cid) if h in (first.hash, second.hash)] == [True, False]


def test_malformed_and_oversized_frames_are_refused_without_a_crash(make_party, tmp_path):
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb])
    bad_inputs = [
        (MAX_HELLO_BYTES + 1).to_bytes(4, "big") + b"x" * 10,  # a hello longer than its limit
        (3).to_bytes(4, "big") + b"\xc1\xc1\xc1",  # not msgpack
        encode_frame({"t": "hello", "protocol": "pact-sync", "v": VERSION, "key": b"wrong"}),  # a key of the wrong size
        encode_frame({"t": "offer", "contracts": {}}),  # before the hello
    ]
    for data in bad_inputs:
        conn = PeerConnection(wa, wb.identity.public_key, dialer=False)
        conn.start()
        conn.receive_data(data)
        assert conn.closed
        assert any(isinstance(e, ev.PeerRefused) for e in conn.events())
    # After the hello: a sync message that Automerge cannot decode, and a frame over the size limit.
    for frame in ({"t": "sync", "c": cid, "m": b"\x42garbage", "s": []}, {"t": "nonsense"},
                  {"t": "sync", "n": 7, "m": b"\x42"},  # a contract number never bound
                  {"t": "sync", "c": cid, "z": b"\xff\xfe not deflate"},
                  {"t": "sync", "c": cid, "n": True, "m": b"\x42"}):
        ca, cb = connect(wa, wb)
        ca.receive_data(encode_frame(frame))
        assert ca.closed
    ca, cb = connect(wa, wb)
    ca.receive_data((1 << 31).to_bytes(4, "big"))
    assert ca.closed
    assert msgpack.unpackb(ca.data_to_send()[4:])["t"] == "error"


@pytest.mark.parametrize("told", ["dialer", "listener", "both"])
def test_a_contract_shared_during_a_session_syncs_whichever_side_offers_it(make_party, tmp_path, told):
    """A customer who joins a second case of a desk it is already connected to: only one side may
    notice first (the other noticed before the customer was a party). The session stays up and the
    new contract's edits flow both ways."""
    wa, wb, _, ca, cb = connected_pair(make_party, tmp_path)
    second = shared_contract([wa, wb])  # shared while connected, as a join by invite does
    if told in ("dialer", "both"):
        ca.local_changed(second)
    if told in ("listener", "both"):
        cb.local_changed(second)
    pump(ca, cb)
    assert not ca.closed and not cb.closed
    assert second in ca.shared and second in cb.shared
    wa.act(second, actions.note, "from Alice")
    ca.local_changed(second)
    wb.act(second, actions.note, "from Priya")
    cb.local_changed(second)
    pump(ca, cb)
    assert heads(wa, second) == heads(wb, second) and "from Alice" in texts(wb, second)
    assert not [e for e in ca.events() + cb.events() if isinstance(e, (ev.PeerRefused, ev.RefusedByPeer))]
