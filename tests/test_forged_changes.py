"""Forged and mutated changes, through the real admission path (``Workspace.receive``, the door every
bundle, ``doc`` frame and invite answer goes through; sync messages go through ``admit_from`` into the
same checks): a flipped signature bit, a flipped change byte (with and without a repaired checksum),
the author swapped to another party's key, another change's signature, a stranger's well-signed change.
Some crafted changes make the Automerge bindings panic (pyo3's PanicException, a BaseException): they
must be refused like any unreadable input, not crash the receiver.

10,000 attempts, 0 admitted, the copy unchanged — and the honest change still admitted afterwards.
More: ``PACT_FORGED_ATTEMPTS=100000 pytest -s tests/test_forged_changes.py``.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import time
from collections import Counter

import pytest
from automerge.core import ROOT, ScalarType

from pactclient.errors import AdmissionError, FormatError
from pactclient.model import actions
from pactclient.signing.changes import sign_change
from pactclient.store import Workspace
from pactclient.sync import events as ev
from pactclient.sync.connection import PeerConnection
from pactclient.sync.frames import encode_frame

from conftest import FIXED_NOW, FixedClock, copy_state, exchange, shared_contract
from hostile import rechecksum, sync_message, uncompressed

ATTEMPTS = int(os.environ.get("PACT_FORGED_ATTEMPTS", "10000"))
CANDIDATES = 40  # honest changes by Bob, each on top of what Alice holds, to mutate


def _honest_changes(wb, cid: str, count: int) -> list[tuple[bytes, bytes, bytes]]:
    """(hash, bytes, signature) of ``count`` notes by Bob, each alone on top of the shared heads."""
    out = []
    base = wb.document(cid)
    for i in range(count):
        doc = base.fork()
        doc.set_actor(wb.identity.public_key)
        before = doc.get_heads()
        actions.note(doc, actions.Actor(key=wb.identity.key_hex, now=FIXED_NOW + i), f"candidate {i}")
        (change,) = doc.get_changes(before)
        data = uncompressed(change.bytes)
        assert hashlib.sha256(data[8:]).digest() == change.hash
        out.append((change.hash, data, sign_change(wb.identity, change.hash)))
    return out


def test_forged_and_mutated_changes_are_never_admitted(make_party, tmp_path):
    _, wa = make_party(tmp_path, "Alice")
    bob, wb = make_party(tmp_path, "Priya", "BT")
    carol, wc = make_party(tmp_path, "Sam", "Ombuds")
    mallory, wm = make_party(tmp_path, "Mallory")
    cid = shared_contract([wa, wb, wc])
    exchange(wa, wm, cid)  # Mallory holds a copy (say, leaked) but is no party
    candidates = _honest_changes(wb, cid, CANDIDATES)
    strangers = []
    for i in range(CANDIDATES):
        doc = wm.document(cid).fork()
        doc.set_actor(mallory.public_key)
        before = doc.get_heads()
        with doc.transaction() as tx:  # the model refuses a non-party's note: write it raw
            actions._event(tx, "p-mallory", FIXED_NOW + i, f"Mallory {i}", kind="message")
        (change,) = doc.get_changes(before)
        strangers.append((change.hash, change.bytes, sign_change(mallory, change.hash)))
    before = copy_state(wa, cid)
    wa.close()  # a copy of Alice's home, to restore should a mutation turn out to be no mutation
    backup = tmp_path / "alice-backup"
    shutil.copytree(wa.home, backup)
    wa = Workspace.open(wa.home, clock=FixedClock())
    normalized = 0
    rng = random.Random(20260105)
    refused: Counter = Counter()
    reasons: Counter = Counter()
    admitted = 0
    started = time.monotonic()
    for attempt in range(ATTEMPTS):
        h, data, sig = candidates[attempt % CANDIDATES]
        kind = ("signature bit", "change byte", "change byte, checksum repaired", "actor swapped to another party",
                "another change's signature", "stranger's valid signature")[attempt % 6]
        if kind == "signature bit":
            flipped = bytearray(sig)
            bit = rng.randrange(512)
            flipped[bit // 8] ^= 1 << (bit % 8)
            blob, sigs = data, {h: bytes(flipped)}
        elif kind.startswith("change byte"):
            body = bytearray(data)
            at = rng.randrange(len(body)) if kind == "change byte" else rng.randrange(8, len(body))
            body[at] ^= 1 << rng.randrange(8)
            blob = rechecksum(body) if "repaired" in kind else bytes(body)
            sigs = {h: sig, hashlib.sha256(blob[8:]).digest(): sig}  # the old signature, under either hash
        elif kind == "actor swapped to another party":
            body = bytearray(data.replace(bob.public_key, carol.public_key))
            blob = rechecksum(body)
            new_hash = hashlib.sha256(blob[8:]).digest()
            signer = (bob, mallory)[attempt % 2]  # Bob framing Sam, or a stranger doing it
            sigs = {new_hash: sign_change(signer, new_hash), h: sig}
        elif kind == "another change's signature":
            other = candidates[(attempt + 1) % CANDIDATES]
            blob, sigs = data, {h: other[2]}
        else:
            sh, blob, ssig = strangers[attempt % CANDIDATES]
            sigs = {sh: ssig}
        try:
            got = wa.receive(cid, [blob], sigs)
            if got.admitted and [c.hash for c in got.admitted] == [h]:
                # Automerge re-encodes what it reads: a flip it normalizes away (say, in a length's
                # padding) leaves Bob's own signed change, rightly admitted. Put Alice's copy back.
                normalized += 1
                wa.close()
                shutil.rmtree(wa.home)
                shutil.copytree(backup, wa.home)
                wa = Workspace.open(wa.home, clock=FixedClock())
                continue
            admitted += len(got.admitted)
            # A damaged dependency hash leaves the change waiting for a change that does not exist:
            # Automerge holds it back, and nothing of it is stored.
            refused[kind + " (held back: unknown dependency)"] += not got.admitted
        except AdmissionError as exc:
            refused[kind] += 1
            reasons[str(exc).split(":")[-1].strip()[:40]] += 1
        except FormatError:
            refused[kind + " (unreadable)"] += 1
    elapsed = time.monotonic() - started
    try:
        assert copy_state(wa, cid) == before
        print(f"\nforged/mutated changes: {ATTEMPTS} attempts, {admitted} admitted, {elapsed:.1f} s "
              f"({elapsed / ATTEMPTS * 1e6:.0f} us each); {normalized} flips Automerge normalized back to the honest "
              f"change; refused by kind {dict(refused)}; reasons {dict(reasons)}")
        assert admitted == 0
        assert sum(n for k, n in refused.items() if "held back" in k) < ATTEMPTS // 10
        assert normalized < ATTEMPTS // 100
        # The door still opens for the honest change.
        h, data, sig = candidates[0]
        assert [c.hash for c in wa.receive(cid, [data], {h: sig}).admitted] == [h]
    finally:
        wa.close()


MALFORMED = {
    "party list replaced by a string": lambda tx: tx.put(ROOT, "parties", ScalarType.Str, "nobody"),
    "timeline replaced by a number": lambda tx: tx.put(ROOT, "timeline", ScalarType.Int, 5),
    "contract header replaced by a string": lambda tx: tx.put(ROOT, "contract", ScalarType.Str, "x"),
}


@pytest.mark.parametrize("damage", sorted(MALFORMED))
def test_validly_signed_changes_that_leave_the_contract_unreadable_are_refused(make_party, tmp_path, damage):
    """A party's own key signs them, so signatures and membership pass; reading the result fails. They
    used to escape as TypeError/AttributeError (crashing a peer's session) and leave the merged change
    in the in-memory copy; now they are refused like forged ones, by bundle and by sync alike."""
    _, wa = make_party(tmp_path, "Alice")
    bob, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb])
    before = copy_state(wa, cid)
    doc = wb.document(cid).fork()
    doc.set_actor(bob.public_key)
    heads = doc.get_heads()
    with doc.transaction() as tx:
        MALFORMED[damage](tx)
    (change,) = doc.get_changes(heads)
    sigs = {change.hash: sign_change(bob, change.hash)}
    # The permission rules (header-fixed) refuse most such changes first; reading the result is the
    # second line of defence. Either way: refused, with the reason named.
    with pytest.raises(AdmissionError, match="unreadable|breaks the rule"):
        wa.receive(cid, [change.bytes], sigs)
    assert copy_state(wa, cid) == before
    # Over the protocol: the peer is refused with the protocol's error, nothing is kept, the copy works.
    conn = PeerConnection(wa, bob.public_key, dialer=False)
    conn.receive_data(encode_frame({"t": "hello", "protocol": "pact-sync", "v": 1, "key": bob.public_key, "name": "P"})
                      + encode_frame({"t": "offer", "contracts": {cid: []}, "more": False}))
    conn.receive_data(encode_frame({"t": "sync", "c": cid, "m": sync_message(heads + [change.hash], [], [change.bytes]),
                                    "sigs": [[change.hash, sigs[change.hash]]]}))
    refused = [e for e in conn.events() if isinstance(e, ev.PeerRefused)]
    assert conn.closed and refused and re.search("unreadable|breaks the rule", refused[0].reason)
    assert copy_state(wa, cid) == before
    wa.act(cid, actions.note, "still works")
    assert "still works" in [e.text for e in wa.view(cid).timeline]
