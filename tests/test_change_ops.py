"""Reading what a change wrote from its bytes: the decoder agrees with Automerge, and damaged bytes only
ever raise ValueError (the permission check turns that into a refusal)."""

from __future__ import annotations

import random

import pytest
from automerge.core import ROOT, Document

from pactclient.model.amdoc import child, put_value
from pactclient.signing.change_ops import MAKE_MAP, SET, change_ids, decode_change, read_header, value_of

A, B = b"a" * 32, b"b" * 32


def _doc_with_changes():
    doc = Document(A)
    with doc.transaction() as tx:
        put_value(tx, ROOT, "timeline", [])
        put_value(tx, ROOT, "values", {"x": {"value": 1, "f": 1.5, "none": None, "yes": True, "neg": -300}})
    doc.set_actor(B)
    for i in range(40):
        with doc.transaction() as tx:
            put_value(tx, child(tx, ROOT, "timeline"), i, {"author": "supplier", "text": "é" * (i * 20)}, insert=True)
    return doc, doc.get_changes([])


def test_decoded_ops_are_what_was_written():
    doc, changes = _doc_with_changes()
    first = decode_change(changes[0].bytes)
    assert first.actor == A and first.seq == 1 and first.deps == ()
    values = {op.key: value_of(op) for op in first.ops if op.action == SET}
    assert values == {"value": 1, "f": 1.5, "none": None, "yes": True, "neg": -300}
    timeline = doc.get(ROOT, "timeline")[1]
    for change in changes[1:]:
        d = decode_change(change.bytes)
        assert (d.actor, d.seq, list(d.deps), d.start_op) == (change.actor_id, change.seq, change.deps, change.start_op)
        insert, *puts = d.ops
        assert insert.insert and insert.action == MAKE_MAP and insert.obj[0] == A  # into A's timeline list
        assert {p.key: value_of(p) for p in puts}["author"] == "supplier"
        assert all(p.obj == insert.id for p in puts)
        (ident,) = change_ids(change.bytes)
        assert (ident.hash, ident.actor, ident.seq) == (change.hash, change.actor_id, change.seq)
        assert read_header(change.bytes).seq == change.seq
    assert {c.bytes[8] for c in changes} == {1, 2}  # plain and deflated changes were both read
    assert timeline is not None


def test_damaged_bytes_raise_only_value_error():
    _, changes = _doc_with_changes()
    rng = random.Random(6)
    outcomes = {"read": 0, "refused": 0}
    for _ in range(3000):
        data = bytearray(rng.choice(changes).bytes)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.2:
            data = data[: rng.randrange(len(data))]
        try:
            decoded = decode_change(bytes(data))
            for op in decoded.ops:
                value_of(op)
            outcomes["read"] += 1
        except ValueError:
            outcomes["refused"] += 1
    print(f"change decoder: 3000 damaged changes, {outcomes['refused']} refused with ValueError, "
          f"{outcomes['read']} still readable, 0 other exceptions")
    assert outcomes["refused"] > 0


@pytest.mark.parametrize("data", [b"", b"\x85\x6f\x4a\x83", b"not a change at all", b"\x85\x6f\x4a\x83\0\0\0\0\x01\xff"])
def test_non_changes_are_refused(data):
    with pytest.raises(ValueError):
        decode_change(data)
