"""Automerge bytes that declare far more than they hold, written by hand for ``test_bombs.py``.

Each builder writes, column by column, exactly what the bindings write for a small honest edit — a
list made at the root key "bomb" and ``n`` nulls inserted at its head — with ``n`` as a parameter:
the tests check that at a small ``n`` the bytes equal the bindings' own (or load into a list of ``n``
elements), so at 3 or 30 million they are what Automerge would really build, from a few hundred bytes.
Column layouts follow Automerge's binary format (see ``pactclient.signing.chunk_limits``); the
encoders here are the tests' own, not the implementation's.
"""

from __future__ import annotations

import hashlib
import zlib

from automerge.core import ROOT, Document, ObjType, ScalarType

from hostile import uleb, uncompressed

MAGIC = b"\x85\x6f\x4a\x83"


def sleb(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if (n == 0 and not low & 0x40) or (n == -1 and low & 0x40):
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def raw_deflate(data: bytes) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    return z.compress(data) + z.flush()


def chunk(kind: int, body: bytes, deflate: bool = False) -> bytes:
    """``magic checksum type length body``; the checksum (and the change's hash) is over the plain
    form, so a deflated change (type 2) is checksummed as the change it stands for."""
    plain = bytes([kind]) + uleb(len(body)) + body
    checksum = hashlib.sha256(plain).digest()[:4]
    if not deflate:
        return MAGIC + checksum + plain
    packed = raw_deflate(body)
    return MAGIC + checksum + b"\x02" + uleb(len(packed)) + packed


def change_hash(data: bytes) -> bytes:
    """The hash Automerge gives a change chunk: SHA-256 over its plain ``type length body``."""
    return hashlib.sha256(uncompressed(data)[8:]).digest()


def _columns(columns: list[tuple[int, bytes]]) -> bytes:
    return (uleb(len(columns)) + b"".join(uleb(spec) + uleb(len(data)) for spec, data in columns)
            + b"".join(data for _, data in columns))


def _change_header(template: bytes) -> bytes:
    """A change body up to its columns: deps, actor, seq, start op, time, message, other actors."""
    assert template[8] == 1, "a plain change chunk as template"
    pos, length, shift = 9, 0, 0
    while True:
        byte = template[pos]
        length |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            break
    body = template[pos : pos + length]
    p = 0

    def read() -> int:
        nonlocal p
        value = shift = 0
        while True:
            b = body[p]
            p += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value

    def skip(count: int) -> None:
        nonlocal p
        p += count

    skip(32 * read())  # deps (read first, then skipped: ``p += read()`` would lose read's own advance)
    skip(read())  # actor
    read()  # seq
    start_op = read()
    read()  # time (an sleb ends where a uleb does)
    skip(read())  # message
    for _ in range(read()):  # other actors
        skip(read())
    return body[:p], start_op


def list_change(template: bytes, n: int, deflate: bool = False) -> bytes:
    """The change ``template`` (made by the bindings: a list at root key "bomb" and nulls inserted at
    its head) with its header kept and its columns declaring ``n`` inserts."""
    header, start_op = _change_header(template)
    columns = [
        (0x01, b"\x00\x01" + sleb(n) + b"\x00"),  # object actor: the root, then the list (author's)
        (0x02, b"\x00\x01" + sleb(n) + uleb(start_op)),  # object counter: the list is the first op
        (0x13, b"\x00\x01" + sleb(n) + b"\x00"),  # key element counter (delta): 0, the list's head
        (0x15, b"\x7f\x04bomb\x00" + uleb(n)),  # key string: "bomb", then none
        (0x34, b"\x01" + uleb(n)),  # insert: false once, then true n times
        (0x42, b"\x7f\x02" + sleb(n) + b"\x01"),  # action: make list, then n sets
        (0x56, sleb(n + 1) + b"\x00"),  # value metadata: null every time
        (0x70, sleb(n + 1) + b"\x00"),  # predecessors: none
    ]
    return chunk(1, header + _columns(columns), deflate)


def busy_change(template: bytes, columns: int, runs: int) -> bytes:
    """The header of ``template`` and ``columns`` columns of ``runs`` literal runs of one value each,
    the whole change deflated: each column declares fewer ops than a change may hold, but reading them
    all takes ``columns * runs`` steps from a few KB on the wire."""
    header, _ = _change_header(template)
    cols = [((16 + i) << 4 | 1, b"\x7f\x00" * runs) for i in range(columns)]
    return chunk(1, header + _columns(cols), deflate=True)


def honest_list_change(doc: Document, n: int) -> bytes:
    """What the bindings write for the same edit on ``doc`` (which must not hold "bomb" yet)."""
    before = doc.get_heads()
    with doc.transaction() as tx:
        lst = tx.put_object(ROOT, "bomb", ObjType.List)
        for _ in range(n):
            tx.insert(lst, 0, ScalarType.Null, None)
    (change,) = doc.get_changes(before)
    return change.bytes


def value_change(template: bytes, size: int) -> bytes:
    """The header of ``template`` and one op putting ``size`` zero bytes at root key "blob", the whole
    change deflated (chunk type 2): about a KiB on the wire per MiB declared. Built a MiB at a time,
    so the zeros are never all in memory."""
    header, _ = _change_header(template)
    pred = b"\x01\x00"
    columns = [(0x15, b"\x7f\x04blob"), (0x34, b"\x01"), (0x42, b"\x7f\x01"), (0x56, b"\x7f" + uleb(size << 4 | 7))]
    meta = (uleb(6) + b"".join(uleb(spec) + uleb(len(data)) for spec, data in columns)
            + uleb(0x57) + uleb(size) + uleb(0x70) + uleb(len(pred)))
    head = header + meta + b"".join(data for _, data in columns)
    length = len(head) + size + len(pred)
    digest = hashlib.sha256(b"\x01" + uleb(length) + head)
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = [z.compress(head)]
    block = bytes(1 << 20)
    for start in range(0, size, len(block)):
        piece = block[: min(len(block), size - start)]
        digest.update(piece)
        packed.append(z.compress(piece))
    digest.update(pred)
    packed += [z.compress(pred), z.flush()]
    body = b"".join(packed)
    return MAGIC + digest.digest()[:4] + b"\x02" + uleb(len(body)) + body


def list_document(actor: bytes, heads: list[bytes], n: int, deflate: bool = False) -> bytes:
    """A saved document of two changes by ``actor``: "a" = "b" at the root, then a list at "bomb" with
    ``n`` nulls inserted at its head; ``heads`` as given (the real hash only matters at small ``n``).
    With ``deflate`` the op columns are deflated, as the bindings do with columns of over 256 bytes."""
    changes = [
        (0x01, b"\x02\x00"),  # author: actor 0, twice
        (0x03, b"\x02\x01"),  # seq (delta): 1, 2
        (0x13, b"\x7e\x01" + sleb(n + 1)),  # max op (delta): 1, then n + 2
        (0x23, b"\x02\x00"),  # time
        (0x40, b"\x7e\x00\x01"),  # dependencies: none, then one
        (0x43, b"\x7f\x00"),  # ... the change at index 0
        (0x56, b"\x02\x07"),  # extra bytes: none
    ]
    ops = [
        (0x01, b"\x00\x02" + sleb(n) + b"\x00"),
        (0x02, b"\x00\x02" + sleb(n) + b"\x02"),
        (0x13, b"\x00\x02" + sleb(n) + b"\x00"),
        (0x15, b"\x7e\x01a\x04bomb\x00" + uleb(n)),
        (0x21, sleb(n + 2) + b"\x00"),  # op id actor
        (0x23, b"\x02\x01\x7f" + sleb(n) + sleb(n - 1) + b"\x7f"),  # op id counter: 1, 2, n+2, n+1 ... 3
        (0x34, b"\x02" + uleb(n)),
        (0x42, b"\x7e\x01\x02" + sleb(n) + b"\x01"),
        (0x56, b"\x7f\x16" + sleb(n + 1) + b"\x00"),
        (0x57, b"b"),
        (0x80, sleb(n + 2) + b"\x00"),  # successors: none
    ]
    if deflate:
        ops = [(spec | 0x08, raw_deflate(data)) if spec != 0x57 else (spec, data) for spec, data in ops]
    specs = lambda cols: uleb(len(cols)) + b"".join(uleb(s) + uleb(len(d)) for s, d in cols)  # noqa: E731
    body = (uleb(1) + uleb(len(actor)) + actor + uleb(len(heads)) + b"".join(heads)
            + specs(changes) + specs(ops) + b"".join(d for _, d in changes) + b"".join(d for _, d in ops)
            + b"".join(uleb(1) for _ in heads))
    return chunk(0, body)


def base_document(actor: bytes) -> Document:
    """The first change of ``list_document``: "a" = "b" at the root."""
    doc = Document(actor)
    with doc.transaction() as tx:
        tx.put(ROOT, "a", ScalarType.Str, "b")
    return doc


def honest_list_document(actor: bytes, n: int) -> Document:
    doc = base_document(actor)
    honest_list_change(doc, n)
    return doc
