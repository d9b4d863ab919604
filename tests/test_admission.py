"""Admission: tampered, unsigned, forged and non-party changes are refused, and nothing of them enters the copy.

Each case builds a real bundle from Alice's copy holding one change Priya lacks, alters it the way an
attacker or a broken disk would, and feeds it to Priya's copy. Her change count, heads and view must be
exactly as before, and the error must name the change and the key concerned.
"""

from __future__ import annotations

import hashlib
import zlib

import msgpack
import pytest
from automerge.core import ROOT, Document

from pactclient import catalog
from pactclient.errors import AdmissionError, FormatError
from pactclient.model import actions
from pactclient.model.actions import Actor
from pactclient.model.amdoc import child, put_value
from pactclient.signing import sign_change
from pactclient.sync import bundle

from conftest import FIXED_NOW, copy_state, exchange, shared_contract
from hostile import uleb


@pytest.fixture
def trio(tmp_path, make_party):
    """Alice and Priya share a contract; Sam is a stranger to it. Alice has one note Priya lacks."""
    alice = make_party(tmp_path, "Alice", "")
    priya = make_party(tmp_path, "Priya", "BT")
    sam = make_party(tmp_path, "Sam", "Nobody")
    cid = shared_contract([alice[1], priya[1]])
    alice[1].act(cid, actions.note, "the router was replaced on Tuesday")
    return alice, priya, sam, cid


def _bundle_parts(ws, cid) -> dict:
    return msgpack.unpackb(bundle.encode(ws, cid), raw=False)


def _pack(obj: dict) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def _import(ws, data: bytes):
    return ws.receive(*bundle.decode(data))


def _refused(ws, cid, data: bytes, error=AdmissionError, match: str | None = None):
    before = copy_state(ws, cid)
    with pytest.raises(error, match=match) as info:
        _import(ws, data)
    assert copy_state(ws, cid) == before
    assert "\n" not in str(info.value)
    return info.value


def _names(err: AdmissionError, change_hash: bytes, key: bytes) -> None:
    assert err.change_hash == change_hash and err.key == key
    assert change_hash.hex()[:12] in str(err)
    assert key.hex()[:16] in str(err)


def _stranger_change(base: Document, author_key: bytes, text: str) -> object:
    """A timeline entry written straight into the document (bypassing the model's party check)."""
    doc = base.fork()
    doc.set_actor(author_key)
    before = doc.get_heads()
    with doc.transaction() as tx:
        timeline = child(tx, ROOT, "timeline")
        put_value(tx, timeline, tx.length(timeline),
                  {"kind": "message", "author": "customer", "at": FIXED_NOW, "text": text, "ref": ""}, insert=True)
    (change,) = doc.get_changes(before)
    return change


def test_untampered_bundle_is_admitted(trio):
    (_, alice), (_, priya), _, cid = trio
    got = exchange(alice, priya, cid)
    assert len(got.admitted) == 1
    assert priya.view(cid).timeline[-1].text == "the router was replaced on Tuesday"


def test_flipped_signature_bit_is_refused(trio):
    (a_id, alice), (_, priya), _, cid = trio
    obj = _bundle_parts(alice, cid)
    new_hash, data, sig = obj["changes"][-1]
    obj["changes"][-1] = [new_hash, data, bytes([sig[0] ^ 0x01]) + sig[1:]]
    err = _refused(priya, cid, _pack(obj), match="signature does not verify")
    _names(err, new_hash, a_id.public_key)


def _unleb128(buf: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def _change_body(data: bytes) -> bytes:
    """The body of a change chunk (magic, checksum, type, LEB128 length, body); type 2 is deflated."""
    length, start = _unleb128(data, 9)
    body = data[start:start + length]
    return zlib.decompress(body, -15) if data[8] == 2 else body


def _change_chunk(magic: bytes, body: bytes) -> bytes:
    """Encode an (uncompressed) change chunk with a correct checksum: a well-formed change."""
    inner = b"\x01" + uleb(len(body)) + body
    return magic + hashlib.sha256(inner).digest()[:4] + inner


def test_changed_byte_in_change_is_refused(trio):
    (a_id, alice), (_, priya), _, cid = trio
    obj = _bundle_parts(alice, cid)
    orig_hash, data, sig = obj["changes"][-1]
    earlier = b"".join(c[1] for c in obj["changes"][:-1])
    # A flipped byte alone fails the chunk checksum: unreadable.
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x01
    obj["changes"][-1] = [orig_hash, bytes(flipped), sig]
    _refused(priya, cid, _pack(obj), FormatError, match="cannot be read")
    # Properly re-encoded, the same content keeps its hash (the encoding round-trips) ...
    body = _change_body(data)
    same = _change_chunk(data[:4], body)
    assert Document.load(earlier + same).get_heads() == [orig_hash]
    # ... and one changed byte of content ("Tuesday" -> "tuesday") gives another hash, so the signature
    # beside it belongs to nothing: the altered change is unsigned.
    altered = _change_chunk(data[:4], body.replace(b"Tuesday", b"tuesday"))
    (forged_hash,) = Document.load(earlier + altered).get_heads()
    assert forged_hash != orig_hash
    obj["changes"][-1] = [orig_hash, altered, sig]
    err = _refused(priya, cid, _pack(obj), match="not signed")
    _names(err, forged_hash, a_id.public_key)
    # Claiming the altered change's own hash for the old signature does not help: it does not verify.
    obj["changes"][-1] = [forged_hash, altered, sig]
    err = _refused(priya, cid, _pack(obj), match="signature does not verify")
    _names(err, forged_hash, a_id.public_key)
    assert "tuesday" not in str(priya.view(cid).timeline)


def test_dropped_signature_is_refused(trio):
    (a_id, alice), (_, priya), _, cid = trio
    blobs_cid, blobs, sigs = bundle.decode(bundle.encode(alice, cid))
    new_hash = alice.signed_changes(cid)[-1][0]
    del sigs[new_hash]
    before = copy_state(priya, cid)
    with pytest.raises(AdmissionError, match="it is not signed") as info:
        priya.receive(blobs_cid, blobs, sigs)
    _names(info.value, new_hash, a_id.public_key)
    assert copy_state(priya, cid) == before


def test_change_by_a_key_that_is_not_a_party_is_refused(trio):
    (_, alice), (_, priya), (s_id, _), cid = trio
    change = _stranger_change(alice.document(cid), s_id.public_key, "I am the customer now")
    obj = _bundle_parts(alice, cid)
    obj["changes"].append([change.hash, change.bytes, sign_change(s_id, change.hash)])
    err = _refused(priya, cid, _pack(obj), match="not a party of the contract")
    _names(err, change.hash, s_id.public_key)
    assert "the router" not in str(priya.view(cid).timeline)  # Alice's honest note came in the same batch


def test_change_under_a_partys_key_signed_by_another_key_is_refused(trio):
    (a_id, alice), (_, priya), (s_id, _), cid = trio
    change = _stranger_change(alice.document(cid), a_id.public_key, "Alice agrees to pay £500")
    obj = _bundle_parts(alice, cid)
    obj["changes"].append([change.hash, change.bytes, sign_change(s_id, change.hash)])
    err = _refused(priya, cid, _pack(obj), match="signature does not verify")
    _names(err, change.hash, a_id.public_key)


def test_bundle_of_another_contract_is_refused(trio):
    (_, alice), (_, priya), _, cid = trio
    other = alice.create("Another case", catalog.load("broadband-fault"), "customer")
    # (1) the bundle names Priya's contract but carries another contract's changes
    # (Alice's key already wrote sequence 1 in Priya's copy: the bundle cannot even be read with it.)
    obj = _bundle_parts(alice, other)
    obj["contract"] = cid
    _refused(priya, cid, _pack(obj), FormatError, match="cannot be read")
    # (2) the bundle carries Priya's contract but names another id: nothing is created under that id
    obj = _bundle_parts(alice, cid)
    obj["contract"] = other
    before = copy_state(priya, cid)
    with pytest.raises(AdmissionError, match=f"belong to contract '{cid}'"):
        _import(priya, _pack(obj))
    assert not priya.store.has_contract(other)
    assert [s["id"] for s in priya.summaries()] == [cid]
    assert copy_state(priya, cid) == before


def test_first_change_signed_by_someone_other_than_its_named_creator_is_refused(trio):
    (a_id, _), (_, priya), (s_id, _), cid = trio
    # Sam's device writes a contract that names Alice's key as its creator, and signs it with his own key.
    doc = Document(s_id.public_key)
    actions.create_contract(doc, Actor(key=a_id.key_hex, now=FIXED_NOW), "f" * 32, "Fake case",
                            catalog.load("broadband-fault"), "customer", "Alice", "")
    (root,) = doc.get_changes([])
    data = _pack({"format": "pact-bundle", "version": 1, "contract": "f" * 32, "exported_by": s_id.key_hex,
                  "exported_at": FIXED_NOW, "changes": [[root.hash, root.bytes, sign_change(s_id, root.hash)]]})
    summaries = priya.summaries()
    with pytest.raises(AdmissionError, match="not a party") as info:
        _import(priya, data)
    _names(info.value, root.hash, s_id.public_key)
    assert not priya.store.has_contract("f" * 32)
    assert priya.summaries() == summaries
    # Signed by Alice's key instead (the change's actor is still Sam's key): refused as a bad signature.
    data = _pack({"format": "pact-bundle", "version": 1, "contract": "f" * 32, "exported_by": a_id.key_hex,
                  "exported_at": FIXED_NOW, "changes": [[root.hash, root.bytes, sign_change(a_id, root.hash)]]})
    with pytest.raises(AdmissionError, match="signature does not verify"):
        _import(priya, data)
    assert not priya.store.has_contract("f" * 32)


@pytest.mark.parametrize("attempt", range(4))
def test_a_strangers_own_contract_cannot_be_grafted_onto_a_contract(trio, attempt):
    """A stranger's own, validly signed contract sent under this contract's id: its first change names
    the stranger as creator (of *that* document). Which of the two contract ids a merged copy shows
    depends on the keys, so this repeats with fresh keys; it must be refused every time."""
    (_, alice), (_, priya), (s_id, sam), cid = trio
    theirs = sam.create("Hijack", catalog.load("broadband-fault"), "customer")
    sam.act(theirs, actions.note, f"attempt {attempt}")
    obj = _bundle_parts(sam, theirs)
    obj["contract"] = cid
    err = _refused(priya, cid, _pack(obj), match="contract")
    assert err.key in (None, s_id.public_key)


def test_a_second_first_change_is_refused_by_a_new_copy(trio, make_party, tmp_path):
    """A copy that does not have the contract yet takes exactly one first change: a stranger's own
    contract appended to an honest bundle is refused, and the new copy gets nothing."""
    (_, alice), _, (s_id, sam), cid = trio
    _, fresh = make_party(tmp_path, "Newcomer", "")
    theirs = sam.create("Hijack", catalog.load("broadband-fault"), "customer")
    obj = _bundle_parts(alice, cid)
    obj["changes"] += _bundle_parts(sam, theirs)["changes"]
    with pytest.raises(AdmissionError, match="contract") as info:
        _import(fresh, _pack(obj))
    assert info.value.key in (None, s_id.public_key)
    assert not fresh.store.has_contract(cid) and not fresh.store.has_contract(theirs)
    assert fresh.summaries() == []


def test_a_proposed_party_may_write_only_once_the_proposal_is_applied(trio):
    """Membership is judged at each change's dependencies: a key whose add_party proposal is still
    open is not a party yet, even if the proposal is accepted later."""
    (_, alice), (_, priya), (s_id, sam), cid = trio
    exchange(alice, priya, cid)
    out = alice.act(cid, actions.add_party, s_id.key_hex, "Sam", "coordinator", "Nobody")
    assert not out.applied  # Priya has signed: she must agree
    exchange(alice, sam, cid)
    early = _stranger_change(sam.document(cid), s_id.public_key, "I joined early")
    obj = _bundle_parts(sam, cid)
    obj["changes"].append([early.hash, early.bytes, sign_change(s_id, early.hash)])
    err = _refused(priya, cid, _pack(obj), match="not a party")
    _names(err, early.hash, s_id.public_key)
    # Once Priya accepts, Sam is a party, and his own notes are admitted everywhere.
    exchange(alice, priya, cid)
    priya.act(cid, actions.answer, out.ref, True)
    exchange(priya, sam, cid)
    sam.act(cid, actions.note, "now I am in")
    got = exchange(sam, alice, cid)
    assert [c.actor for c in got.admitted][-1] == s_id.public_key
    assert alice.view(cid).timeline[-1].text == "now I am in"
    # The early note stays out even now (it also reuses Sam's first sequence number, so it cannot
    # even be read beside his real first change).
    obj = _bundle_parts(sam, cid)
    obj["changes"].append([early.hash, early.bytes, sign_change(s_id, early.hash)])
    _refused(alice, cid, _pack(obj), (AdmissionError, FormatError))
    assert "I joined early" not in str(alice.view(cid).timeline)
