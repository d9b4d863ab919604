"""Where the operations of one Automerge change write: just enough of the change format to say which
objects a change touches, so admission recomputes the party list only after changes that may alter it.

The bindings expose a change's header (actor, deps, start op) but not its operations. The binary
change format is Automerge's documented one (a chunk of type 1, or type 2 whose body is raw-DEFLATE
compressed): after the header (deps, actor, seq, start op, time,
message, other actors) come the column descriptors ``count, (spec, length)*`` and the column data.
Only three columns are read here, all run-length encoded (a signed count ``n``: ``n > 0`` repeats one
value ``n`` times, ``n < 0`` gives ``-n`` literal values, ``0`` is followed by a count of nulls):

* spec 1, the actor index of each operation's object (uleb values; null for the root map);
* spec 2, the counter of each operation's object (uleb values; null for the root map);
* spec 21, each operation's map key (strings: uleb length + UTF-8; null for list positions).

Operation ``i`` of a change has the id ``(start_op + i, the change's own actor)``; an object is named
by the id of the operation that made it. Anything this reader does not expect (a compressed column,
a truncated or odd encoding) yields None, and callers must then assume the change may touch anything.
"""

from __future__ import annotations

import zlib

OBJ_ACTOR, OBJ_CTR, KEY_STR = 1, 2, 21
CHANGE, COMPRESSED_CHANGE = b"\x01", b"\x02"
DEFLATE = 0x08

ObjectId = tuple[bytes, int]  # (actor key, counter) of the operation that made the object
Target = tuple[ObjectId | None, str | None]  # (object written, or None for the root map; its map key)


class _Reader:
    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None):
        self.data, self.pos = data, pos
        self.end = len(data) if end is None else end

    def uleb(self) -> int:
        shift = value = 0
        while True:
            if self.pos >= self.end:
                raise ValueError("truncated")
            b = self.data[self.pos]
            self.pos += 1
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
            if shift > 63:
                raise ValueError("integer too long")

    def sleb(self) -> int:
        shift = value = 0
        while True:
            if self.pos >= self.end:
                raise ValueError("truncated")
            b = self.data[self.pos]
            self.pos += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value - (1 << shift) if b & 0x40 else value
            if shift > 63:
                raise ValueError("integer too long")

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > self.end:
            raise ValueError("truncated")
        self.pos += n

    def take(self, n: int) -> bytes:
        self.skip(n)
        return self.data[self.pos - n : self.pos]


def _rle(data: bytes, start: int, end: int, string: bool) -> list:
    reader = _Reader(data, start, end)
    out: list = []
    read = (lambda: reader.take(reader.uleb()).decode()) if string else reader.uleb
    while reader.pos < end:
        n = reader.sleb()
        if n > 0:
            out.extend([read()] * n)
        elif n < 0:
            out.extend(read() for _ in range(-n))
        else:
            out.extend([None] * reader.uleb())
    return out


def targets(change_bytes: bytes) -> list[Target] | None:
    """Each operation's object and map key, in operation order; None if the change cannot be read here."""
    try:
        return _targets(change_bytes)
    except (ValueError, UnicodeDecodeError, IndexError):
        return None


def _targets(data: bytes) -> list[Target] | None:
    reader = _Reader(data)
    reader.skip(8)  # magic and checksum
    kind = reader.take(1)
    length = reader.uleb()
    if reader.pos + length != len(data) or kind not in (CHANGE, COMPRESSED_CHANGE):
        return None
    if kind == COMPRESSED_CHANGE:  # the body of a large change, raw-DEFLATE compressed
        try:
            data = zlib.decompress(data[reader.pos :], -15)
        except zlib.error:
            return None
        reader = _Reader(data)
    reader.skip(32 * reader.uleb())  # deps
    actors = [reader.take(reader.uleb())]
    reader.uleb()  # seq
    reader.uleb()  # start op: operation ids come from the bindings' header (``op_ids``)
    reader.sleb()  # time
    reader.skip(reader.uleb())  # message
    actors.extend(reader.take(reader.uleb()) for _ in range(reader.uleb()))
    columns = {}
    offset = 0
    specs = [(reader.uleb(), reader.uleb()) for _ in range(reader.uleb())]
    base = reader.pos
    for spec, size in specs:
        if spec & ~DEFLATE in (OBJ_ACTOR, OBJ_CTR, KEY_STR):
            if spec & DEFLATE:
                return None
            columns[spec] = (base + offset, base + offset + size)
        offset += size
    if base + offset > len(data):
        return None
    obj_actor = _rle(data, *columns[OBJ_ACTOR], string=False) if OBJ_ACTOR in columns else []
    obj_ctr = _rle(data, *columns[OBJ_CTR], string=False) if OBJ_CTR in columns else []
    if len(obj_actor) != len(obj_ctr):
        return None
    keys: list = []
    if None in obj_ctr:  # an operation on the root map: its key says which part of the document
        keys = _rle(data, *columns[KEY_STR], string=True) if KEY_STR in columns else []
        keys.extend([None] * (len(obj_ctr) - len(keys)))
    out: list[Target] = []
    for i, (a, c) in enumerate(zip(obj_actor, obj_ctr)):
        if c is None:
            out.append((None, keys[i]))
        elif a is None or a >= len(actors):
            return None
        else:
            out.append(((actors[a], c), None))
    return out


def op_ids(change) -> list[ObjectId]:
    """The ids of a change's operations (an object made by operation i is named by the i-th)."""
    return [(change.actor_id, change.start_op + i) for i in range(change.max_op - change.start_op + 1)]


def object_id(exid: bytes) -> ObjectId | None:
    """The (actor, counter) of an object id as the bindings return it (``0x10, uleb len, actor, uleb
    actor index, uleb counter``); None for the root map or an id in another layout."""
    try:
        reader = _Reader(exid)
        if reader.take(1) != b"\x10":
            return None
        actor = reader.take(reader.uleb())
        reader.uleb()  # the actor's index in the document: local to one copy
        counter = reader.uleb()
        return (actor, counter) if reader.pos == len(exid) else None
    except ValueError:
        return None
