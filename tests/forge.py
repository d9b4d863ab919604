"""A hostile party's workbench: changes written with the bare Automerge API under a party's own key, then
given the dependencies, sequence number and first op counter the party chooses, and signed.

This is what a party can do without any help from pact: the header of a change (its dependencies, its
author's sequence number, its first op counter) is plain bytes under the author's own signature. The
ops themselves are Automerge's, written in a copy of the document at whatever state the party picks
(``at``: a fork at those heads), so every object id and predecessor in them is one the bindings chose
there.
"""

from __future__ import annotations

import hashlib
import zlib

import msgpack
from automerge.core import Document

from pactclient.signing import sign_change
from pactclient.signing.change_ops import _uleb
from pactclient.sync import bundle

from hostile import uleb

MAGIC = b"\x85\x6f\x4a\x83"


def rewrite(change: bytes, *, deps: list[bytes] | None = None, seq: int | None = None,
            start_op: int | None = None) -> tuple[bytes, bytes]:
    """``change`` (a change chunk; the bindings compress large ones) with another header, uncompressed;
    returns (hash, bytes). The ops are untouched: their object ids and predecessors stay where the
    bindings put them."""
    assert change[:4] == MAGIC and change[8] in (1, 2)
    length, pos = _uleb(change, 9)
    body = change[pos : pos + length]
    if change[8] == 2:  # a compressed change: raw DEFLATE of the same contents
        body = zlib.decompress(body, -15)
    count, p = _uleb(body, 0)
    old_deps = [body[p + 32 * i : p + 32 * (i + 1)] for i in range(count)]
    p += 32 * count
    actor_len, p = _uleb(body, p)
    actor = body[p : p + actor_len]
    p += actor_len
    old_seq, p = _uleb(body, p)
    old_start, p = _uleb(body, p)
    rest = body[p:]  # time, message, other actors, columns: unchanged
    new_deps = sorted(old_deps if deps is None else deps)
    new_body = (uleb(len(new_deps)) + b"".join(new_deps) + uleb(len(actor)) + actor
                + uleb(old_seq if seq is None else seq) + uleb(old_start if start_op is None else start_op) + rest)
    hashed = bytes([1]) + uleb(len(new_body)) + new_body
    digest = hashlib.sha256(hashed).digest()
    return digest, MAGIC + digest[:4] + hashed


def written(identity, base: Document, write, at: list[bytes] | None = None) -> tuple[bytes, object]:
    """A change ``write(tx)`` makes under ``identity``'s key in a copy of ``base`` at heads ``at`` (None:
    its current heads). Returns (bytes, the bindings' Change)."""
    doc = base.fork(at) if at is not None else base.fork()
    doc.set_actor(identity.public_key)
    before = doc.get_heads()
    with doc.transaction() as tx:
        write(tx)
    (change,) = doc.get_changes(before)
    return change.bytes, change


def latest_of(doc: Document, key: bytes):
    """The newest change of ``key`` in ``doc`` (None if it has none)."""
    mine = [c for c in doc.get_changes([]) if c.actor_id == key]
    return max(mine, key=lambda c: c.seq) if mine else None


def forged(identity, doc: Document, write, *, at: list[bytes] | None = None, deps: list[bytes] | None = None,
           seq: int | None = None, start_op: int | None = None) -> tuple[bytes, bytes, bytes]:
    """The hostile party's change: written at heads ``at``, then given ``deps`` (default: the heads it
    was written at), the sequence number that continues the author's own line in ``doc`` (unless
    ``seq``), and ``start_op`` if given; signed with the author's real key. Returns (hash, bytes,
    signature)."""
    data, change = written(identity, doc, write, at)
    if seq is None:
        last = latest_of(doc, identity.public_key)
        seq = (last.seq if last else 0) + 1
    h, data = rewrite(data, deps=deps, seq=seq, start_op=start_op)
    return h, data, sign_change(identity, h)


def bundle_with(ws, cid: str, *extra: tuple[bytes, bytes, bytes]) -> bytes:
    """A bundle of ``ws``'s copy of the contract with the hand-made changes appended."""
    obj = msgpack.unpackb(bundle.encode(ws, cid), raw=False)
    obj["changes"].extend([list(x) for x in extra])
    return msgpack.packb(obj, use_bin_type=True)
