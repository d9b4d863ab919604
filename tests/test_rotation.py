"""Key rotation and revocation, end to end: set-up through the workspace API, every step the user takes
through the `pact` command (rotate, accept, import, note, show, export, verify).

A party replaces its own device key, signed by the old key (a new laptop). What the old key signed
before stays valid evidence; what it signs after the replacement (which is the old key's own last
change, so every later change of that key has it among its ancestors) is refused by every copy. The
other parties cannot replace a party's key: that would let them write in its name.
"""

from __future__ import annotations

import msgpack
from automerge.core import ROOT

from pactclient import catalog
from pactclient.model import actions
from pactclient.model.amdoc import child, put_value
from pactclient.signing import sign_change
from pactclient.sync import bundle

from conftest import exchange
from test_cli_flow import pact, pact_json


def _old_key_note(old_ws, on_ws, cid: str, text: str):
    """A note signed by ``old_ws``'s device key with the bare Automerge API (its pact would refuse to
    write it), on top of everything ``on_ws``'s copy holds. Returns (hash, bytes, signature)."""
    doc = on_ws.document(cid).fork()
    doc.set_actor(old_ws.identity.public_key)
    before = doc.get_heads()
    with doc.transaction() as tx:
        timeline = child(tx, ROOT, "timeline")
        put_value(tx, timeline, tx.length(timeline),
                  {"kind": "message", "author": "customer", "at": 1, "text": text, "ref": ""}, insert=True)
    (change,) = doc.get_changes(before)
    return change.hash, change.bytes, sign_change(old_ws.identity, change.hash)


def _import_with(src_ws, dst_home, cid: str, signed, tmp_path, name: str):
    """``src_ws``'s bundle plus one extra change, imported by ``dst_home``'s `pact bundle import`."""
    obj = msgpack.unpackb(bundle.encode(src_ws, cid), raw=False)
    obj["changes"].append(list(signed))
    path = tmp_path / f"{name}.bundle"
    path.write_bytes(msgpack.packb(obj, use_bin_type=True))
    return pact(dst_home, "bundle", "import", str(path), ok=False)


def _import(src_ws, dst_home, cid: str, tmp_path, name: str) -> dict:
    path = tmp_path / f"{name}.bundle"
    bundle.write(src_ws, cid, path)
    return pact_json(dst_home, "bundle", "import", str(path))


def test_own_key_rotation_then_old_key_is_refused(tmp_path, make_party):
    _, alice = make_party(tmp_path, "Alice", "")
    new_id, laptop = make_party(tmp_path, "Alice new laptop", "")
    _, bt = make_party(tmp_path, "Priya", "BT")
    cid = alice.create("Mail re-downloads", catalog.load("broadband-fault"), "customer")
    short = cid[:8]
    alice.act(cid, actions.add_party, bt.identity.key_hex, "Priya", "supplier", "BT")
    alice.act(cid, actions.note, "written with the old laptop")
    exchange(alice, bt, cid)
    bt.act(cid, actions.note, "BT here")
    exchange(bt, alice, cid)
    key_old = alice.identity.key_hex

    out = pact(alice.home, "party", "rotate", short, "--new-key", new_id.key_hex, "--why", "new laptop").stdout
    assert "applied" in out
    exchange(alice, bt, cid)
    exchange(alice, laptop, cid)
    laptop.act(cid, actions.note, "written with the new laptop")
    assert _import(laptop, bt.home, cid, tmp_path, "laptop")["admitted"] == 1

    shown = pact_json(bt.home, "show", short)
    customer = next(p for p in shown["parties"] if p["id"] == "customer")
    assert customer["key"] == new_id.key_hex and customer["former_keys"] == [key_old]
    old_changes = [c for c in shown["changes"] if c["author_key"] == key_old]
    assert len(old_changes) == 4  # creation, adding BT, the note, the rotation itself
    assert all(c["signature_verified"] for c in shown["changes"])
    assert {c["author"] for c in shown["changes"] if c["author_key"] in (key_old, new_id.key_hex)} == {"customer"}

    # The old key, still on the old laptop, signs a note on top of everything it has: refused by BT.
    later = _old_key_note(alice, alice, cid, "I never agreed to anything")
    refused = _import_with(alice, bt.home, cid, later, tmp_path, "old")
    assert refused.returncode == 1 and "not a party of the contract" in refused.stderr
    # The old home's own pact refuses to write with a replaced key.
    mine = pact(alice.home, "note", short, "still me?", ok=False)
    assert mine.returncode == 1 and "not a party" in mine.stderr

    # Evidence exported after the rotation still verifies every change the old key made before it.
    pact(bt.home, "export", short, "-o", str(tmp_path / "case.pact"))
    verdict = pact_json(bt.home, "verify", str(tmp_path / "case.pact"))
    assert verdict["valid"], verdict
    print(f"rotation: {len(old_changes)} changes by the old key still verify; 1 of 1 later change by it refused")


def test_another_partys_key_is_never_replaced_by_the_others(tmp_path, make_party):
    """Replacing another party's key would let the others write in its name: the model refuses it
    locally, and a hand-made proposal doing it is refused on receipt (tests/test_permissions.py)."""
    from conftest import shared_contract
    _, alice = make_party(tmp_path, "Alice", "")
    new_id, _laptop = make_party(tmp_path, "Alice laptop", "")
    _, bt = make_party(tmp_path, "Priya", "BT")
    _, om = make_party(tmp_path, "Sam", "Ombudsman")
    cid = shared_contract([alice, bt, om])
    before = bt.store.change_count(cid)
    bad = pact(bt.home, "party", "rotate", cid[:8], "--party", "customer", "--new-key", new_id.key_hex,
               "--why", "laptop stolen", ok=False)
    assert bad.returncode == 1 and "only its own device key" in bad.stderr
    assert bt.store.change_count(cid) == before
