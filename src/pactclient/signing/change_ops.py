"""What one Automerge change wrote, read from the change's own bytes.

Permissions are decided per change: which objects did it write, under which keys, with which values?
``doc.diff(change.deps, [change.hash])`` answers that, but it rebuilds both document states and costs
about 11 ms per change on a 10,000-change contract here, and the bindings expose a ``Patch`` only as
its debug text. The change's bytes say the same in tens of microseconds. They follow Automerge's
documented binary format (a change chunk):

    magic(4) checksum(4) type(1: change, 2: deflated change) length(uleb) body
    body: deps (uleb count, 32-byte hashes), actor (uleb length, bytes), seq (uleb), start_op (uleb),
          time (sleb), message (uleb length, utf-8), other actors (uleb count, each uleb length, bytes),
          columns (uleb count, then (spec uleb, length uleb) pairs), the column data, extra bytes.

A column spec is ``id << 4 | deflated << 3 | type``. The op columns used here are the object
(actor index, counter), the key (string, or element actor index and counter), insert, action, the
value (metadata, raw bytes) and the predecessors (a count per op, then actor index and counter of
each: the ops this one overwrites or deletes). Counters of keys and predecessors are delta-encoded.
Actor index 0 is the change's author, i >= 1 is ``other actors[i - 1]``. The n-th op of a change has
the id (author, start_op + n); an object made by that op has that id.

Bytes that do not parse raise ``ValueError``: the caller refuses the change.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from typing import Any, NamedTuple

MAGIC = b"\x85\x6f\x4a\x83"
CHUNK_CHANGE, CHUNK_DEFLATED_CHANGE = 1, 2

# Actions (the op's "action" column).
MAKE_MAP, SET, MAKE_LIST, DELETE, MAKE_TEXT, INCREMENT, MAKE_TABLE, MARK = range(8)
MAKES = frozenset({MAKE_MAP, MAKE_LIST, MAKE_TEXT, MAKE_TABLE})

# Column specs without the deflate bit.
_OBJ_ACTOR, _OBJ_CTR = 0x01, 0x02
_KEY_ACTOR, _KEY_CTR, _KEY_STR = 0x11, 0x13, 0x15
_INSERT, _ACTION = 0x34, 0x42
_VAL_META, _VAL_RAW = 0x56, 0x57
_PRED_NUM, _PRED_ACTOR, _PRED_CTR = 0x70, 0x71, 0x73
_DEFLATE = 0x08


class Op(NamedTuple):
    id: tuple[bytes, int]  # (actor, counter): the op's id, and the id of the object it makes
    obj: tuple[bytes, int] | None  # the object written; None is the root map
    key: str | None  # the map key written; None for a list element
    insert: bool  # a new list element (inserted after ``elem``)
    action: int
    value: Any  # for SET, a ``Value``: read it with ``value_of(op)``
    elem: tuple[bytes, int] | None = None  # the list element written or inserted after; None: a map key or the head
    pred: tuple[tuple[bytes, int], ...] = ()  # the ops this one overwrites or deletes


@dataclass(frozen=True, slots=True)
class ChangeHeader:
    actor: bytes
    seq: int
    deps: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class DecodedChange:
    actor: bytes
    seq: int
    start_op: int
    deps: tuple[bytes, ...]
    ops: tuple[Op, ...]


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    b = data[pos]  # IndexError on truncation: callers turn it into ValueError
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
            raise ValueError("malformed number in change")


def _sleb(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return (value - (1 << shift) if b & 0x40 else value), pos
        if shift > 63:
            raise ValueError("malformed number in change")


def _take(data: bytes, pos: int, n: int) -> tuple[bytes, int]:
    end = pos + n
    if end > len(data):
        raise ValueError("truncated change")
    return data[pos:end], end


def _body(data: bytes) -> bytes:
    if len(data) < 10 or data[:4] != MAGIC:
        raise ValueError("not an Automerge change")
    kind = data[8]
    length, pos = _uleb(data, 9)
    body, _ = _take(data, pos, length)
    if kind == CHUNK_CHANGE:
        return body
    if kind == CHUNK_DEFLATED_CHANGE:
        try:
            return zlib.decompress(body, -15)
        except zlib.error:
            raise ValueError("undecodable deflated change") from None
    raise ValueError("not an Automerge change chunk")


def _header(body: bytes) -> tuple[tuple[bytes, ...], bytes, int, int, int]:
    count, pos = _uleb(body, 0)
    deps = []
    for _ in range(count):
        dep, pos = _take(body, pos, 32)
        deps.append(dep)
    length, pos = _uleb(body, pos)
    actor, pos = _take(body, pos, length)
    seq, pos = _uleb(body, pos)
    start_op, pos = _uleb(body, pos)
    _, pos = _sleb(body, pos)  # time
    length, pos = _uleb(body, pos)
    _, pos = _take(body, pos, length)  # message
    return tuple(deps), actor, seq, start_op, pos


def read_header(data: bytes) -> ChangeHeader:
    """Author, sequence number and dependencies of a change, without decoding its ops."""
    try:
        deps, actor, seq, _, _ = _header(_body(data))
    except IndexError:
        raise ValueError("truncated change") from None
    return ChangeHeader(actor, seq, deps)


def decode_change(data: bytes) -> DecodedChange:
    try:
        return _decode(_body(data))
    except IndexError:
        raise ValueError("truncated change") from None


def _decode(body: bytes) -> DecodedChange:
    deps, actor, seq, start_op, pos = _header(body)
    actors = [actor]
    count, pos = _uleb(body, pos)
    for _ in range(count):
        length, pos = _uleb(body, pos)
        other, pos = _take(body, pos, length)
        actors.append(other)
    specs, pos = column_specs(body, pos)
    columns: dict[int, bytes] = {}
    for spec, length in specs:
        raw = body[pos : pos + length]
        pos += length
        if len(raw) != length:
            raise ValueError("truncated change")
        if spec & _DEFLATE:
            try:
                raw = zlib.decompress(raw, -15)
            except zlib.error:
                raise ValueError("undecodable deflated column") from None
        columns[spec & ~_DEFLATE] = raw
    actions = _rle(columns.get(_ACTION, b""), False)
    n = len(actions)
    obj_actor = _fit(_rle(columns.get(_OBJ_ACTOR, b""), False), n)
    obj_ctr = _fit(_rle(columns.get(_OBJ_CTR, b""), False), n)
    key_str = _fit(_rle(columns.get(_KEY_STR, b""), True), n)
    inserts = _booleans(columns.get(_INSERT, b""), n)
    values = _values(columns.get(_VAL_META, b""), columns.get(_VAL_RAW, b""), n)
    n_actors = len(actors)
    elems = _ids(actors, _fit(_rle(columns.get(_KEY_ACTOR, b""), False), n),
                 _fit(_deltas(columns.get(_KEY_CTR, b"")), n), "element")
    preds = _preds(actors, columns, n)
    ops = []
    new_op = tuple.__new__  # a NamedTuple built without its Python-level __new__: this loop is hot
    for i in range(n):
        a, c = obj_actor[i], obj_ctr[i]
        if a is None and c is None:
            obj = None
        elif a is None or c is None or a >= n_actors:
            raise ValueError("malformed object id in change")
        else:
            obj = (actors[a], c)
        action = actions[i]
        if action is None:
            raise ValueError("change op without an action")
        ops.append(new_op(Op, ((actor, start_op + i), obj, key_str[i], inserts[i], action, values[i],
                               elems[i], preds[i])))
    return DecodedChange(actor, seq, start_op, deps, tuple(ops))


def column_specs(body: bytes, pos: int) -> tuple[list[tuple[int, int]], int]:
    """A column count, then (spec, length) pairs: the columns' layout, and where their data starts."""
    count, pos = _uleb(body, pos)
    specs = []
    for _ in range(count):  # one-byte numbers, the usual case, are read inline: this runs per change
        spec = body[pos]
        if spec < 0x80:
            pos += 1
        else:
            spec, pos = _uleb(body, pos)
        length = body[pos]
        if length < 0x80:
            pos += 1
        else:
            length, pos = _uleb(body, pos)
        specs.append((spec, length))
    return specs, pos


def _ids(actors: list[bytes], actor_column: list, counter_column: list, what: str) -> list:
    """Op ids from an actor-index column and a counter column; None where both are null (or the
    counter is 0 with no actor: a list's head)."""
    if actor_column.count(None) == len(actor_column) and all(c is None or c == 0 for c in counter_column):
        return [None] * len(actor_column)  # no op refers to an element: map writes, inserts at the head
    out = []
    n_actors = len(actors)
    for a, c in zip(actor_column, counter_column):
        if a is None:
            if c not in (None, 0):
                raise ValueError(f"malformed {what} id in change")
            out.append(None)
        elif c is None or a >= n_actors or c < 1:
            raise ValueError(f"malformed {what} id in change")
        else:
            out.append((actors[a], c))
    return out


_NO_PREDS = ((),)


def _preds(actors: list[bytes], columns: dict[int, bytes], n: int) -> list:
    """Each op's predecessors: a count per op, then that many (actor index, counter) pairs."""
    counts = _fit(_rle(columns.get(_PRED_NUM, b""), False), n)
    total = sum(c for c in counts if c)
    if not total:
        return list(_NO_PREDS * n)
    ids = _ids(actors, _rle(columns.get(_PRED_ACTOR, b""), False), _deltas(columns.get(_PRED_CTR, b"")), "predecessor")
    if len(ids) != total or None in ids:
        raise ValueError("change columns of different lengths")
    out, pos = [], 0
    for c in counts:
        c = c or 0
        out.append(tuple(ids[pos : pos + c]))
        pos += c
    return out


def _deltas(data: bytes) -> list:
    """A delta-encoded column: run-length encoded signed differences, summed (nulls stay null)."""
    if not data:
        return []
    key = (data, None)
    got = _MEMO.get(key) if len(data) <= _MEMO_BYTES else None
    if got is not None:
        return got
    out: list = []
    total = 0
    for step in _decode_rle(data, False, signed=True):
        if step is None:
            out.append(None)
        else:
            total += step
            out.append(total)
    if len(data) <= _MEMO_BYTES:
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.clear()
        _MEMO[key] = out
    return out


def _fit(column: list, n: int) -> list:
    """A column holds one entry per op; an absent column is all nulls."""
    if not column:
        return [None] * n
    if len(column) != n:
        raise ValueError("change columns of different lengths")
    return column


_MAX_RUN = 1 << 20


_MEMO: dict[tuple[bytes, bool], list] = {}
_MEMO_BYTES = 64  # columns up to this long are remembered: most changes repeat a few shapes
_MEMO_SIZE = 4096


def _rle(data: bytes, strings: bool) -> list:
    """A run-length encoded column, decoded (see ``_decode_rle``). Short columns recur from change to
    change (the same keys, the same actions), so their decoding is remembered. Callers never modify
    the lists returned."""
    if len(data) > _MEMO_BYTES:
        return _decode_rle(data, strings)
    key = (data, strings)
    got = _MEMO.get(key)
    if got is None:
        got = _decode_rle(data, strings)
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.clear()
        _MEMO[key] = got
    return got


def _decode_rle(data: bytes, strings: bool, signed: bool = False) -> list:
    """Run-length encoded column: runs of one repeated value (count > 0), literals (count < 0) or nulls
    (count 0, then how many). Values are unsigned numbers, signed ones (``signed``), or
    length-prefixed UTF-8 strings."""
    out: list = []
    pos, end = 0, len(data)
    while pos < end:
        b = data[pos]
        if b < 0x40:  # a one-byte positive count (the common case), read without a call
            count, pos = b, pos + 1
        else:
            count, pos = _sleb(data, pos)
        if count == 0:
            nulls, pos = _uleb(data, pos)
            if nulls > _MAX_RUN:
                raise ValueError("implausible run in change")
            out.extend([None] * nulls)
            continue
        if count > _MAX_RUN or count < -_MAX_RUN:
            raise ValueError("implausible run in change")
        for _ in range(1 if count > 0 else -count):
            b = data[pos]
            if signed:
                value, pos = _sleb(data, pos)
            elif b < 0x80:
                value, pos = b, pos + 1
            else:
                value, pos = _uleb(data, pos)
            if strings:
                stop = pos + value
                if stop > end:
                    raise ValueError("truncated change")
                try:
                    value = data[pos:stop].decode("utf-8")
                except UnicodeDecodeError:
                    raise ValueError("malformed text in change") from None
                pos = stop
            if count > 1:
                out.extend([value] * count)
            else:
                out.append(value)
    return out


def _booleans(data: bytes, n: int) -> list[bool]:
    """The insert column (runs of false, true, false...): a few bytes that recur, remembered."""
    if len(data) > _MEMO_BYTES:
        return _decode_booleans(data, n)
    key = (data, n)
    got = _MEMO_BOOLEANS.get(key)
    if got is None:
        got = _decode_booleans(data, n)
        if len(_MEMO_BOOLEANS) >= _MEMO_SIZE:
            _MEMO_BOOLEANS.clear()
        _MEMO_BOOLEANS[key] = got
    return got


_MEMO_BOOLEANS: dict[tuple[bytes, int], list[bool]] = {}


def _decode_booleans(data: bytes, n: int) -> list[bool]:
    out: list[bool] = []
    pos, end = 0, len(data)
    value = False
    while pos < end:
        count, pos = _uleb(data, pos)
        if count > _MAX_RUN:
            raise ValueError("implausible run in change")
        out.extend([value] * count)
        value = not value
    if not out:
        return [False] * n
    if len(out) != n:
        raise ValueError("change columns of different lengths")
    return out


def _values(meta: bytes, raw: bytes, n: int) -> list:
    """Each op's value as a ``Value`` (decoded only when read: most values are never looked at)."""
    kinds = _fit(_rle(meta, False), n)
    out: list = []
    pos = 0
    for m in kinds:
        if m is None:
            out.append(None)
            continue
        stop = pos + (m >> 4)
        if stop > len(raw):
            raise ValueError("truncated change")
        out.append(Value(m & 0x0F, raw, pos, stop))
        pos = stop
    return out


class Value:
    """A value as stored in a change: its type code and where its bytes are."""

    __slots__ = ("kind", "raw", "start", "stop")

    def __init__(self, kind: int, raw: bytes, start: int, stop: int):
        self.kind, self.raw, self.start, self.stop = kind, raw, start, stop

    def get(self) -> Any:
        """The scalar: str, int, float, bool, bytes or None; ValueError if malformed."""
        return _scalar(self.kind, self.raw[self.start : self.stop])


def value_of(op: Op) -> Any:
    """The scalar an op writes (None for ops that write none)."""
    return op.value.get() if op.value is not None else None


def _scalar(kind: int, data: bytes) -> Any:
    if kind == 6:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("malformed text in change") from None
    if kind == 0:
        return None
    if kind in (1, 2):
        return kind == 2
    if kind == 3:
        return _uleb(data, 0)[0]
    if kind in (4, 8, 9):  # int, counter, timestamp
        return _sleb(data, 0)[0]
    if kind == 5:
        if len(data) != 8:
            raise ValueError("malformed float in change")
        return struct.unpack("<d", data)[0]
    return data  # bytes, or a value of a kind this version does not know


@dataclass(frozen=True, slots=True)
class ChunkId:
    hash: bytes
    actor: bytes
    seq: int
    deps: tuple[bytes, ...]
    data: bytes  # the chunk as it came


def change_ids(data: bytes) -> list[ChunkId] | None:
    """Hash, author and sequence number of each change chunk in ``data`` (one or more concatenated
    chunks); other chunks (a saved document) are skipped. None if ``data`` is not a sequence of chunks.

    A change's hash is SHA-256 over ``type(1) length(uleb) body`` of its uncompressed form, so a
    deflated change is hashed as the plain change it stands for.
    """
    out = []
    pos, end = 0, len(data)
    try:
        while pos < end:
            if data[pos : pos + 4] != MAGIC:
                return None
            kind = data[pos + 8]
            length, body_start = _uleb(data, pos + 9)
            stop = body_start + length
            if stop > end:
                return None
            if kind in (CHUNK_CHANGE, CHUNK_DEFLATED_CHANGE):
                if kind == CHUNK_CHANGE:
                    body = data[body_start:stop]
                    digest = hashlib.sha256(data[pos + 8 : stop]).digest()
                else:
                    body = zlib.decompress(data[body_start:stop], -15)
                    digest = hashlib.sha256(bytes([CHUNK_CHANGE]) + _uleb_bytes(len(body)) + body).digest()
                deps, actor, seq, _, _ = _header(body)
                out.append(ChunkId(digest, actor, seq, deps, data[pos:stop]))
            pos = stop
    except (IndexError, ValueError, zlib.error):
        return None
    return out


def _uleb_bytes(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)
