"""Equivocation and replay.

Priya's device signs two different changes with the same sequence number and shows one to Alice, the
other to Sam. When the second reaches a copy holding the first — by bundle or over a peer connection —
it is refused, both are kept with their signatures as evidence, and `pact show` flags Priya. Replayed
bundles and sync messages change nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys

import msgpack
import pytest
from automerge.core import ROOT

from pactclient.errors import AdmissionError
from pactclient.model import actions
from pactclient.model.amdoc import child, put_value
from pactclient.signing import sign_change, verify_change
from pactclient.signing.change_ops import read_header
from pactclient.sync import bundle
from pactclient.sync import events as ev

from conftest import FIXED_NOW, copy_state, exchange, shared_contract
from test_sync_protocol import connect, pump


@pytest.fixture
def split(tmp_path, make_party):
    """Alice, Priya, Sam share a contract; Priya signs two notes with one sequence number, one to each."""
    alice = make_party(tmp_path, "Alice", "")
    priya = make_party(tmp_path, "Priya", "BT")
    sam = make_party(tmp_path, "Sam", "Ombudsman")
    cid = shared_contract([alice[1], priya[1], sam[1]])
    p_id, p_ws = priya
    twins = []
    for text in ("BT will refund £250", "BT owes nothing"):
        doc = p_ws.document(cid).fork()
        doc.set_actor(p_id.public_key)
        before = doc.get_heads()
        with doc.transaction() as tx:
            timeline = child(tx, ROOT, "timeline")
            put_value(tx, timeline, tx.length(timeline),
                      {"kind": "decision", "author": "supplier", "at": FIXED_NOW, "text": text, "ref": ""}, insert=True)
        (change,) = doc.get_changes(before)
        twins.append((change.hash, change.bytes, sign_change(p_id, change.hash)))
    for (_, ws), twin in ((alice, twins[0]), (sam, twins[1])):
        ws.receive(cid, [twin[1]], {twin[0]: twin[2]})
    return alice, priya, sam, cid, twins


def test_second_change_with_the_same_sequence_number_is_refused_and_both_kept(split):
    (_, alice), (p_id, _), (_, sam), cid, twins = split
    assert read_header(twins[0][1]).seq == read_header(twins[1][1]).seq and twins[0][0] != twins[1][0]
    before = copy_state(alice, cid)
    with pytest.raises(AdmissionError, match="equivocation") as info:
        exchange(sam, alice, cid)
    assert info.value.key == p_id.public_key and info.value.change_hash == twins[1][0]
    assert copy_state(alice, cid) == before  # Alice keeps showing what she held
    (record,) = alice.equivocations(cid)
    assert (record["held_hash"], record["other_hash"]) == (twins[0][0], twins[1][0])
    assert record["held_data"] == twins[0][1] and record["other_data"] == twins[1][1]
    for h, sig in ((record["held_hash"], record["held_signature"]), (record["other_hash"], record["other_signature"])):
        assert verify_change(p_id.public_key, h, sig)  # evidence anyone can check with Priya's key
    # Offered again, it is refused again and recorded once.
    with pytest.raises(AdmissionError, match="equivocation"):
        exchange(sam, alice, cid)
    assert len(alice.equivocations(cid)) == 1
    print("equivocation: detected by bundle; 2 of 2 changes kept with valid signatures; 0 admitted")


def test_equivocation_over_a_peer_connection_is_detected_and_refused(split):
    (_, alice), (p_id, _), (s_id, sam), cid, twins = split
    before = copy_state(alice, cid)
    ca, cs = connect(alice, sam)
    refusals = [e for e in ca.events() + cs.events() if isinstance(e, ev.PeerRefused)]
    assert refusals and "equivocation" in refusals[0].reason
    assert copy_state(alice, cid) == before
    found = alice.equivocations(cid) + sam.equivocations(cid)
    assert found and {e["actor"] for e in found} == {p_id.public_key}
    assert all(e["source"].startswith("peer ") for e in found)


def test_forged_change_reusing_a_sequence_number_is_refused_not_recorded(split):
    (_, alice), _, (s_id, sam), cid, twins = split
    obj = msgpack.unpackb(bundle.encode(sam, cid), raw=False)
    for entry in obj["changes"]:
        if entry[0] == twins[1][0]:
            entry[2] = sign_change(s_id, twins[1][0])  # Sam's signature on Priya's change
    with pytest.raises(AdmissionError, match="not validly signed"):
        alice.receive(*bundle.decode(msgpack.packb(obj, use_bin_type=True)))
    assert alice.equivocations(cid) == []


def test_pact_show_flags_the_author(split, tmp_path):
    (_, alice), _, (_, sam), cid, _ = split
    with pytest.raises(AdmissionError):
        exchange(sam, alice, cid)
    env_cmd = [sys.executable, "-m", "pactclient", "--home", str(alice.home), "show", cid[:8]]
    data = json.loads(subprocess.run(env_cmd + ["--json"], capture_output=True, text=True, check=True, timeout=60).stdout)
    (flag,) = data["equivocations"]
    assert flag["author"] == "supplier" and flag["held_hash"] != flag["other_hash"]
    text = subprocess.run(env_cmd, capture_output=True, text=True, check=True, timeout=60).stdout
    assert "WARNING" in text and "BT's key signed two different changes" in text


def test_replayed_bundle_changes_nothing(tmp_path, make_party):
    _, alice = make_party(tmp_path, "Alice", "")
    _, priya = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([alice, priya])
    alice.act(cid, actions.note, "once")
    data = bundle.encode(alice, cid)
    assert len(priya.receive(*bundle.decode(data)).admitted) == 1
    before = copy_state(priya, cid), priya.store.summaries()
    replays = 5
    for _ in range(replays):
        assert priya.receive(*bundle.decode(data)).admitted == ()
    assert (copy_state(priya, cid), priya.store.summaries()) == before
    print(f"replay: {replays} replayed bundles, 0 changes stored, copy unchanged")


def test_replayed_sync_message_changes_nothing(tmp_path, make_party):
    _, alice = make_party(tmp_path, "Alice", "")
    _, priya = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([alice, priya])
    ca, cp = connect(alice, priya)
    alice.act(cid, actions.note, "live")
    ca.local_changed(cid)
    sent = ca.data_to_send()
    cp.receive_data(sent)
    assert "live" in [e.text for e in priya.view(cid).timeline]
    before = copy_state(priya, cid)
    cp.events()
    for _ in range(3):
        cp.receive_data(sent)
    pump(ca, cp)
    assert copy_state(priya, cid) == before
    assert not any(isinstance(e, ev.ChangesAdmitted) for e in cp.events())
