"""Where the operations of one Automerge change write: just enough of the change format to say which
objects a change touches, so admission recomputes the party list only after changes that may alter it.

The bindings expose a change's header (actor, deps, start op) but not its operations. The binary
change format is Automerge's documented one (a chunk of type 1, or type 2 whose body is raw-DEFLATE
compressed): after the header (deps, actor, seq, start op, time, message, other actors) come the
column descriptors ``count, (spec, length)*`` and the column data.
Only three columns are read here, all run-length encoded (a signed count ``n``: ``n > 0`` repeats one
value ``n`` times, ``n < 0`` gives ``-n`` literal values, ``0`` is followed by a count of nulls):

* spec 1, the actor index of each operation's object (uleb values; null for the root map);
* spec 2, the counter of each operation's object (uleb values; null for the root map);
* spec 21, each operation's map key (strings: uleb length + UTF-8; null for list positions).

Operation ``i`` of a change has the id ``(start_op + i, the change's own actor)`` (the bindings give
``start_op`` and ``max_op``); an object is named by the id of the operation that made it. Anything this reader does not expect (a compressed column,
a truncated or odd encoding) yields None, and callers must then assume the change may touch anything.
"""

from __future__ import annotations

import re
import zlib

OBJ_ACTOR, OBJ_CTR, KEY_STR = 1, 2, 21
CHANGE, COMPRESSED_CHANGE = b"\x01", b"\x02"
DEFLATE = 0x08
MAX_OPERATIONS = 1 << 20  # read no further: such a change counts as "may touch anything"

ObjectId = tuple[bytes, int]  # (actor key, counter) of the operation that made the object


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    b = data[pos]  # IndexError when truncated: handled by ``targets``
    if b < 0x80:
        return b, pos + 1
    value, shift = b & 0x7F, 7
    while True:
        pos += 1
        b = data[pos]
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos + 1
        shift += 7
        if shift > 63:
            raise ValueError("integer too long")


def _sleb(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return (value - (1 << shift) if b & 0x40 else value), pos
        if shift > 63:
            raise ValueError("integer too long")


def _rle(data: bytes, pos: int, end: int, string: bool) -> list:
    out: list = []
    while pos < end:
        n = data[pos]
        if n < 0x40:  # a one-byte positive count: a run
            pos += 1
        else:
            n, pos = _sleb(data, pos)
        if len(out) + abs(n) > MAX_OPERATIONS:
            raise ValueError("more operations than a change may hold")  # a few bytes could ask for 2**63
        if n == 0:
            nulls, pos = _uleb(data, pos)
            if len(out) + nulls > MAX_OPERATIONS:
                raise ValueError("more operations than a change may hold")
            out.extend([None] * nulls)
            continue
        for _ in range(1 if n > 0 else -n):
            value = data[pos]
            if value < 0x80:
                pos += 1
            else:
                value, pos = _uleb(data, pos)
            if string:
                value, pos = data[pos : pos + value].decode(), pos + value
            if n > 0:
                out.extend([value] * n)
            else:
                out.append(value)
    if pos != end:
        raise ValueError("column overruns its length")
    return out


def _cached_rle(data: bytes, pos: int, end: int) -> list:
    """A column of small integers that repeats from change to change (e.g. object actor indexes)."""
    column = data[pos:end]
    found = _COLUMNS.get(column)
    if found is None:
        found = _rle(data, pos, end, False)
        if len(_COLUMNS) < 4096:
            _COLUMNS[column] = found
    return found


_COLUMNS: dict[bytes, list] = {}
_LAYOUTS: dict[bytes, tuple] = {}  # column descriptor blocks already decoded


def targets(change_bytes: bytes) -> tuple[list[bytes], list, list, list] | None:
    """Each operation's target, as columns in operation order: (actors, object actor indexes, object
    counters, root-map keys). Actor index i names ``actors[i]`` (0 is the change's author); an operation
    on the root map has None for both object fields and its key in the last column (None elsewhere;
    the key column is only read when some operation is on the root map, else it is empty). None if the
    change cannot be read here."""
    try:
        return _targets(change_bytes)
    except (ValueError, UnicodeDecodeError, IndexError):
        return None


def _targets(data: bytes):
    if data[8:9] not in (CHANGE, COMPRESSED_CHANGE):
        return None
    length, pos = _uleb(data, 9)
    if pos + length != len(data):
        return None
    if data[8:9] == COMPRESSED_CHANGE:  # the body of a large change, raw-DEFLATE compressed
        try:
            data, pos = zlib.decompress(data[pos:], -15), 0
        except zlib.error:
            return None
    header = _COMMON_HEADER.match(data, pos)
    if header is not None:
        actors = [a for a in header.group("actor", "other", "first", "second") if a is not None]
        pos = header.end()
    else:
        actors, pos = _header(data, pos)
    (a0, a1, c0, c1, k0, k1), pos = _layout(data, pos)
    if pos > len(data):
        return None
    obj_actor = _cached_rle(data, a0, a1)
    obj_ctr = _rle(data, c0, c1, False)
    if len(obj_actor) != len(obj_ctr):
        return None
    keys: list = []
    if None in obj_ctr:  # an operation on the root map: its key says which part of the document
        keys = _rle(data, k0, k1, True)
        keys.extend([None] * (len(obj_ctr) - len(keys)))
    return actors, obj_actor, obj_ctr, keys


# The header of most changes, matched in one step: up to three deps, a 32-byte actor, seq, start op
# and time (operation ids come from the bindings' header, so their values are not needed), no
# message, up to two other actors. Anything else takes the general path (``_header``).
_ULEB = rb"[\x80-\xff]{0,9}[\x00-\x7f]"
_COMMON_HEADER = re.compile(
    rb"(?:\x00|\x01.{32}|\x02.{64}|\x03.{96})\x20(?P<actor>.{32})" + _ULEB * 3
    + rb"\x00(?:\x00|\x01\x20(?P<other>.{32})|\x02\x20(?P<first>.{32})\x20(?P<second>.{32}))",
    re.S,
)


def _header(data: bytes, pos: int) -> tuple[list[bytes], int]:
    n, pos = _uleb(data, pos)
    pos += 32 * n  # deps
    n, pos = _uleb(data, pos)
    actors = [data[pos : pos + n]]
    pos += n
    _, pos = _uleb(data, pos)  # seq
    _, pos = _uleb(data, pos)  # start op
    _, pos = _sleb(data, pos)  # time
    n, pos = _uleb(data, pos)
    pos += n  # message
    count, pos = _uleb(data, pos)
    for _ in range(count):
        n, pos = _uleb(data, pos)
        actors.append(data[pos : pos + n])
        pos += n
    return actors, pos


def _layout(data: bytes, pos: int) -> tuple[tuple, int]:
    """Where the wanted columns lie (start and end of each; equal when absent), and where the column
    data ends. Descriptor blocks repeat from change to change, so each one met is decoded once (a
    cached block is all one-byte integers, so equal bytes mean equal descriptors)."""
    count = data[pos]
    block = data[pos : pos + 1 + 2 * count] if count < 0x40 else None
    found = _LAYOUTS.get(block) if block is not None else None
    if found is not None:
        end = pos + len(block)
    else:
        count, end = _uleb(data, pos)
        wanted, total = {}, 0
        for _ in range(count):
            spec, end = _uleb(data, end)
            size, end = _uleb(data, end)
            if spec & ~DEFLATE in (OBJ_ACTOR, OBJ_CTR, KEY_STR):
                if spec & DEFLATE:
                    raise ValueError("compressed column")
                wanted[spec] = (total, total + size)
            total += size
        found = (*(wanted.get(spec, (total, total)) for spec in (OBJ_ACTOR, OBJ_CTR, KEY_STR)), total)
        if block is not None and end - pos == len(block) and len(_LAYOUTS) < 4096:
            _LAYOUTS[block] = found
    (a0, a1), (c0, c1), (k0, k1), total = found
    return (end + a0, end + a1, end + c0, end + c1, end + k0, end + k1), end + total


def object_id(exid: bytes) -> ObjectId | None:
    """The (actor, counter) of an object id as the bindings return it (``0x10, uleb len, actor, uleb
    actor index, uleb counter``); None for the root map or an id in another layout."""
    try:
        if exid[:1] != b"\x10":
            return None
        n, pos = _uleb(exid, 1)
        actor = exid[pos : pos + n]
        _, pos = _uleb(exid, pos + n)  # the actor's index in the document: local to one copy
        counter, pos = _uleb(exid, pos)
        return (actor, counter) if pos == len(exid) and len(actor) == n else None
    except (ValueError, IndexError):
        return None
