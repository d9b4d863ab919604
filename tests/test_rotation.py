"""Key rotation and revocation, end to end through the `pact` command (bundles between homes).

A party replaces its device key: by itself, signed by the old key (a new laptop), or, when the old key
is lost or stolen, by a proposal the other parties accept. What the old key signed before stays valid
evidence; what it signs after the replacement (causally: the replacement among its ancestors) is
refused by every copy. A change concurrent with the replacement (possible when another party made it:
a stolen key keeps signing on top of the stolen copy) is the documented limit: admitted.
"""

from __future__ import annotations

import msgpack
from automerge.core import ROOT

from pactclient.identity import DeviceIdentity
from pactclient.model.amdoc import child, put_value
from pactclient.signing import sign_change
from pactclient.store import Workspace
from pactclient.sync import bundle

from test_cli_flow import pact, pact_json


def _move(src, dst, tmp_path, name: str, short: str) -> dict:
    path = tmp_path / f"{name}.bundle"
    pact(src, "bundle", "export", short, "-o", str(path))
    return pact_json(dst, "bundle", "import", str(path))


def _old_key_note(home, cid: str, text: str, at_heads=None):
    """A note signed by ``home``'s device key with the bare Automerge API (the model would refuse it),
    on top of ``at_heads`` (default: everything that home has). Returns (hash, bytes, signature)."""
    identity = DeviceIdentity.load(home)
    ws = Workspace(home, identity)
    try:
        doc = ws.document(cid).fork(at_heads) if at_heads else ws.document(cid).fork()
        doc.set_actor(identity.public_key)
        before = doc.get_heads()
        with doc.transaction() as tx:
            timeline = child(tx, ROOT, "timeline")
            put_value(tx, timeline, tx.length(timeline),
                      {"kind": "message", "author": "customer", "at": 1, "text": text, "ref": ""}, insert=True)
        (change,) = doc.get_changes(before)
        return change.hash, change.bytes, sign_change(identity, change.hash)
    finally:
        ws.close()


def _offer(src_home, dst_home, cid: str, signed, tmp_path, name: str):
    """``src_home``'s bundle plus one extra change, imported by ``dst_home``'s pact."""
    ws = Workspace(src_home, DeviceIdentity.load(src_home))
    try:
        obj = msgpack.unpackb(bundle.encode(ws, cid), raw=False)
    finally:
        ws.close()
    obj["changes"].append(list(signed))
    path = tmp_path / f"{name}.bundle"
    path.write_bytes(msgpack.packb(obj, use_bin_type=True))
    return pact(dst_home, "bundle", "import", str(path), ok=False)


def test_own_key_rotation_then_old_key_is_refused(tmp_path):
    alice, laptop, bt = tmp_path / "alice", tmp_path / "alice-new-laptop", tmp_path / "bt"
    pact(alice, "init", "--name", "Alice")
    pact(laptop, "init", "--name", "Alice")
    pact(bt, "init", "--name", "Priya", "--org", "BT")
    key_bt = pact_json(bt, "whoami")["public_key"]
    key_old = pact_json(alice, "whoami")["public_key"]
    key_new = pact_json(laptop, "whoami")["public_key"]
    cid = pact_json(alice, "new", "Mail re-downloads", "--template", "broadband-fault")["id"]
    short = cid[:8]
    pact(alice, "party", "add", short, "--key", key_bt, "--name", "Priya", "--org", "BT", "--role", "supplier")
    pact(alice, "note", short, "written with the old laptop")
    _move(alice, bt, tmp_path, "1", short)
    pact(bt, "note", short, "BT here")
    _move(bt, alice, tmp_path, "2", short)
    before_rotation = pact_json(alice, "show", short)["changes"]

    out = pact(alice, "party", "rotate", short, "--new-key", key_new, "--why", "new laptop").stdout
    assert "applied" in out
    _move(alice, bt, tmp_path, "3", short)
    _move(alice, laptop, tmp_path, "4", short)
    pact(laptop, "note", short, "written with the new laptop")
    assert _move(laptop, bt, tmp_path, "5", short)["admitted"] == 1

    shown = pact_json(bt, "show", short)
    customer = next(p for p in shown["parties"] if p["id"] == "customer")
    assert customer["key"] == key_new and customer["former_keys"] == [key_old]
    old_changes = [c for c in shown["changes"] if c["author_key"] == key_old]
    assert len(old_changes) == len([c for c in before_rotation if c["author_key"] == key_old]) + 1  # + the rotation
    assert all(c["signature_verified"] for c in shown["changes"])
    assert {c["author"] for c in shown["changes"] if c["author_key"] in (key_old, key_new)} == {"customer"}

    # The old key, still on the old laptop, signs a note on top of everything it has: refused by BT.
    after = _offer(alice, bt, cid, _old_key_note(alice, cid, "I never agreed to anything"), tmp_path, "6")
    assert after.returncode == 1 and "not a party of the contract" in after.stderr
    # The old home's own pact refuses to write with a replaced key.
    refused = pact(alice, "note", short, "still me?", ok=False)
    assert refused.returncode == 1 and "not a party" in refused.stderr

    # Evidence exported after the rotation still verifies every change the old key made before it.
    pact(bt, "export", short, "-o", str(tmp_path / "case.pact"))
    verdict = pact_json(bt, "verify", str(tmp_path / "case.pact"))
    assert verdict["valid"], verdict
    print(f"rotation: {len(old_changes)} changes by the old key still verify; 1 of 1 later change by it refused")


def test_lost_key_is_replaced_by_the_other_parties(tmp_path):
    alice, laptop, bt, om = (tmp_path / n for n in ("alice", "laptop", "bt", "om"))
    for home, name in ((alice, "Alice"), (laptop, "Alice"), (bt, "Priya"), (om, "Sam")):
        pact(home, "init", "--name", name)
    key_bt, key_om = pact_json(bt, "whoami")["public_key"], pact_json(om, "whoami")["public_key"]
    key_new = pact_json(laptop, "whoami")["public_key"]
    cid = pact_json(alice, "new", "Case", "--template", "broadband-fault")["id"]
    short = cid[:8]
    pact(alice, "party", "add", short, "--key", key_bt, "--name", "Priya", "--org", "BT", "--role", "supplier")
    pact(alice, "party", "add", short, "--key", key_om, "--name", "Sam", "--org", "Ombudsman", "--role", "coordinator")
    for home in (bt, om):
        _move(alice, home, tmp_path, f"a-{home.name}", short)
        pact(home, "note", short, f"{home.name} here")
    for src, dst in ((bt, om), (om, bt)):
        _move(src, dst, tmp_path, f"{src.name}-{dst.name}", short)
    # Alice's laptop is stolen. BT proposes her new key; Alice's old key is not asked, the ombudsman is.
    out = pact(bt, "party", "rotate", short, "--party", "customer", "--new-key", key_new, "--why", "laptop stolen").stdout
    assert "waiting on Ombudsman" in out
    bad = pact(bt, "party", "rotate", short, "--party", "nobody", "--new-key", key_new, ok=False)
    assert bad.returncode == 2 and "no party" in bad.stderr
    _move(bt, om, tmp_path, "p", short)
    proposal = next(p for p in pact_json(om, "show", short)["proposals"] if p["state"] == "open")
    assert proposal["kind"] == "replace_key" and proposal["required"] == ["coordinator", "supplier"]
    assert "now in force" in pact(om, "accept", short, proposal["id"]).stdout
    _move(om, bt, tmp_path, "q", short)
    _move(om, laptop, tmp_path, "r", short)
    pact(laptop, "item", "set", short, "account", "01234")
    assert _move(laptop, bt, tmp_path, "s", short)["admitted"] == 1
    # The thief's key, on top of the copy the thief stole, is refused once the replacement is known.
    thief = _offer(om, bt, cid, _old_key_note(alice, cid, "cancel my contract"), tmp_path, "t")
    assert thief.returncode == 0  # the stolen copy never saw the replacement: concurrent, admitted
    stale = _old_key_note_after(alice, bt, cid)
    got = _offer(bt, om, cid, stale, tmp_path, "u")
    assert got.returncode == 1 and "not a party" in got.stderr


def _old_key_note_after(old_home, informed_home, cid: str):
    """A note by ``old_home``'s key written on top of ``informed_home``'s copy (which holds the replacement)."""
    identity = DeviceIdentity.load(old_home)
    ws = Workspace(informed_home, DeviceIdentity.load(informed_home))
    try:
        doc = ws.document(cid).fork()
        doc.set_actor(identity.public_key)
        own = [c for c in doc.get_changes([]) if c.actor_id == identity.public_key]
        assert own  # the old key's history is in the informed copy: the new note continues it
        before = doc.get_heads()
        with doc.transaction() as tx:
            timeline = child(tx, ROOT, "timeline")
            put_value(tx, timeline, tx.length(timeline),
                      {"kind": "message", "author": "customer", "at": 2, "text": "after", "ref": ""}, insert=True)
        (change,) = doc.get_changes(before)
        return change.hash, change.bytes, sign_change(identity, change.hash)
    finally:
        ws.close()
