"""Declared sizes of raw Automerge bytes, bounded before the bindings expand anything.

A few hundred bytes can declare millions of operations: Automerge's columns are run-length encoded (a
run is a count and one value) and may be DEFLATE-compressed, and ``Document.load`` (or
``receive_sync_message``) builds every declared operation before any signature is looked at. So bytes
from outside — a bundle, an evidence file, a ``sync`` or ``doc`` frame, rows read back from the store —
are first walked here, without expanding them, and refused (``FormatError``, one line naming the limit)
when they declare more than the bounds below.

The bytes are one or more concatenated chunks (``magic(4) checksum(4) type(1) length(uleb) body``):
a change (type 1), a deflated change (type 2: its body is raw DEFLATE) or a saved document (type 0).
A change body is summarised in ``signing.change_ops``. A document body is::

    actors (uleb count, each uleb length and bytes), heads (uleb count, 32 bytes each),
    change columns (uleb count, (spec, length) pairs), op columns (the same),
    the change columns' data, the op columns' data, then one head index (uleb) per head.

A column spec is ``id << 4 | deflated << 3 | type``. How many entries a column declares depends on its
type: run-length columns (group counts 0, actor indexes 1, numbers 2, deltas 3, strings 5, value
metadata 6) are runs of ``count value`` (count > 0), literals (count < 0, then -count values) or nulls
(0, then how many); a boolean column (4) is alternating run lengths; raw value bytes (7) declare
nothing beyond their own bytes. A group column's values are how many entries each row has in the
columns it groups (an op's predecessors, a change's dependencies), so their sum is bounded too: the
bindings may reserve room for a group before reading it.

Every column's entries are counted (null runs count), not only the action column that makes Automerge
build an op: the Python change decoder expands every column it reads. Literal runs of numbers are
skipped by counting terminating bytes, so the walk costs a few C calls per run, not per value; and
the runs walked are bounded too (``MAX_BATCH_STEPS``), since DEFLATE can make many from few bytes.
"""

from __future__ import annotations

import zlib
from typing import Iterable, NamedTuple

from pactclient.errors import FormatError
from pactclient.signing.change_ops import CHUNK_CHANGE, CHUNK_DEFLATED_CHANGE, MAGIC, _header, _sleb, _uleb
from pactclient.signing.change_ops import column_specs as _specs

CHUNK_DOCUMENT = 0

# The bounds (docs/security.md, "Limits"). Honest figures for scale: a note is 6 ops, creating a contract
# from a template ~100; a 10,000-change contract is ~60,000 ops, its saved document 46 KB. What passes
# may still be expanded by the bindings: measured at the bounds, a 200-byte document declaring 300,000
# list inserts costs ~160 MiB and ~2 s, one declaring 100,000 empty changes ~100 MiB and ~1 s.
MAX_CHANGE_OPS = 100_000  # entries in any op column of one change (and the sum of its group column)
MAX_BATCH_OPS = 300_000  # ops of all changes and documents in one batch (a file, a frame, a store load)
MAX_BATCH_CHANGES = 50_000  # change chunks plus the changes documents declare, in one batch
MAX_CHUNK_INFLATED = 32 * 1024 * 1024  # what one chunk's deflated parts inflate to, together
MAX_BATCH_INFLATED = 64 * 1024 * 1024  # the same, over one batch
# The walk itself is bounded: its steps (runs, and values of literal runs it cannot skip in one call)
# cost 0.3-0.5 us each, and DEFLATE can make many of them from few bytes. A 10,000-change contract's
# saved document takes 80,000; a document at the ops bound, some 400,000.
MAX_BATCH_STEPS = 1_000_000

_INFLATE_STEP = 1 << 20
_GROUP, _ACTOR, _UINT, _DELTA, _BOOL, _STRING, _META, _RAW = range(8)
_DEFLATED = 0x08
# Short columns recur from change to change (the same keys and actions): their counts are remembered.
_MEMO: dict[tuple[int, bytes], int] = {}
_MEMO_BYTES = 64
_MEMO_SIZE = 4096
_CONTINUES = bytes(1 if b >= 0x80 else 0 for b in range(256))  # a LEB128 byte that is not a number's last


class Declared(NamedTuple):
    """What a batch declares, once it passed."""

    chunks: int
    changes: int
    ops: int
    inflated: int


def check_declared(blobs: Iterable[bytes], what: str) -> Declared:
    """Walk every chunk of ``blobs`` (one batch) and refuse it if it declares more than the bounds.

    ``what`` names the batch in the error ("the bundle", "the sync message"). Raises ``FormatError``
    for a bound exceeded and for bytes that are not a sequence of well-formed chunks (they would be
    refused later anyway; here they cannot be measured). Costs time linear in the bytes.
    """
    walk = _Walk(what)
    for blob in blobs:
        pos, end = 0, len(blob)
        while pos < end:
            try:
                pos = walk.chunk(blob, pos)
            except (IndexError, ValueError):
                raise FormatError(f"{what} holds a malformed Automerge chunk") from None
    return Declared(walk.chunks, walk.changes, walk.ops, walk.inflated)


class _Walk:
    def __init__(self, what: str):
        self.what = what
        self.chunks = self.changes = self.ops = self.inflated = self.steps = 0
        self._chunk_inflated = 0

    def refuse(self, message: str) -> FormatError:
        return FormatError(f"{self.what} {message}")

    def chunk(self, data: bytes, pos: int) -> int:
        if data[pos : pos + 4] != MAGIC or len(data) < pos + 10:
            raise self.refuse("is not a sequence of Automerge chunks")
        kind = data[pos + 8]
        length, start = _uleb(data, pos + 9)
        stop = start + length
        if stop > len(data):
            raise self.refuse(f"holds a chunk declaring {length:,} bytes where {len(data) - start:,} remain")
        self.chunks += 1
        self._chunk_inflated = 0
        body = data[start:stop]
        if kind == CHUNK_CHANGE:
            self._change(body)
        elif kind == CHUNK_DEFLATED_CHANGE:
            self._change(self._inflate(body))
        elif kind == CHUNK_DOCUMENT:
            self._document(body)
        else:
            raise self.refuse(f"holds an Automerge chunk of unknown type {kind}")
        return stop

    def _inflate(self, data: bytes) -> bytearray:
        """``data`` inflated, a MiB at a time into one buffer (inflating in one call would hold the
        output twice while joining its pieces), refused once past the chunk's or the batch's budget."""
        budget = min(MAX_CHUNK_INFLATED - self._chunk_inflated, MAX_BATCH_INFLATED - self.inflated)
        z = zlib.decompressobj(-15)
        out = bytearray()
        try:
            while data and len(out) <= budget:
                out += z.decompress(data, _INFLATE_STEP)
                data = z.unconsumed_tail
        except zlib.error:
            raise self.refuse("holds deflated data that does not inflate") from None
        if len(out) > budget:
            if budget == MAX_CHUNK_INFLATED - self._chunk_inflated:
                raise self.refuse(f"inflates to over {MAX_CHUNK_INFLATED:,} bytes in one chunk (the limit per chunk)")
            raise self.refuse(f"inflates to over {MAX_BATCH_INFLATED:,} bytes (the limit per batch)")
        self._chunk_inflated += len(out)
        self.inflated += len(out)
        return out

    def _change(self, body: bytes) -> None:
        _, _, _, _, pos = _header(body)
        count, pos = _uleb(body, pos)
        for _ in range(count):  # other actors
            length, pos = _uleb(body, pos)
            pos += length
        specs, pos = _specs(body, pos)
        ops = 0
        memo = _MEMO
        for spec, length in specs:
            stop = pos + length
            column = body[pos:stop]  # a column running past the end is refused below, once counted
            pos = stop
            kind = spec & 7
            if spec & _DEFLATED:
                entries = self._walk(self._inflate(column), kind, MAX_CHANGE_OPS)
            elif length <= _MEMO_BYTES:  # a few steps at most: not counted against the budget
                key = (kind, bytes(column))  # the column itself if it is bytes; a deflated body is not
                entries = memo.get(key)
                if entries is None:
                    entries = _entries(column, kind, MAX_CHANGE_OPS, MAX_BATCH_STEPS)[0]
                    if len(memo) >= _MEMO_SIZE:
                        memo.clear()
                    memo[key] = entries
            else:
                entries = self._walk(column, kind, MAX_CHANGE_OPS)
            if entries > ops:
                ops = entries
                if ops > MAX_CHANGE_OPS:
                    raise self.refuse(f"holds a change declaring at least {ops:,} operations "
                                      f"(the limit is {MAX_CHANGE_OPS:,} per change)")
        if pos > len(body):
            raise ValueError("truncated change")
        self._count(1, ops)

    def _document(self, body: bytes) -> None:
        count, pos = _uleb(body, 0)
        for _ in range(count):  # actors
            length, pos = _uleb(body, pos)
            pos += length
        count, pos = _uleb(body, pos)
        pos += 32 * count  # heads
        change_specs, pos = _specs(body, pos)
        op_specs, pos = _specs(body, pos)
        changes = ops = 0
        for specs, limit, noun in ((change_specs, MAX_BATCH_CHANGES - self.changes, "changes"),
                                   (op_specs, MAX_BATCH_OPS - self.ops, "operations")):
            most = 0
            for spec, length in specs:
                column, pos = self._column(body, pos, spec, length)
                entries = self._walk(column, spec & 7, limit)
                if entries > limit:
                    raise self.refuse(f"declares at least {self._earlier(noun) + entries:,} {noun} "
                                      f"(the limit is {self._limit_of(noun):,} per batch)")
                most = max(most, entries)
            if noun == "changes":
                changes = most
            else:
                ops = most
        if pos > len(body):
            raise ValueError("truncated document")
        self._count(changes, ops)

    @staticmethod
    def _limit_of(noun: str) -> int:
        return MAX_BATCH_CHANGES if noun == "changes" else MAX_BATCH_OPS

    def _earlier(self, noun: str) -> int:
        return self.changes if noun == "changes" else self.ops

    def _walk(self, column: bytes, kind: int, limit: int) -> int:
        entries, work = _entries(column, kind, limit, MAX_BATCH_STEPS - self.steps)
        self.steps += work
        if self.steps > MAX_BATCH_STEPS:
            raise self.refuse(f"takes over {MAX_BATCH_STEPS:,} steps to measure (the limit per batch)")
        return entries

    def _column(self, body: bytes, pos: int, spec: int, length: int) -> tuple[bytes, int]:
        stop = pos + length
        if stop > len(body):
            raise self.refuse(f"holds a column declaring {length:,} bytes where {max(len(body) - pos, 0):,} remain")
        column = body[pos:stop]
        if spec & _DEFLATED:
            column = self._inflate(column)
        return column, stop

    def _count(self, changes: int, ops: int) -> None:
        self.changes += changes
        self.ops += ops
        if self.changes > MAX_BATCH_CHANGES:
            raise self.refuse(f"declares at least {self.changes:,} changes (the limit is {MAX_BATCH_CHANGES:,} per batch)")
        if self.ops > MAX_BATCH_OPS:
            raise self.refuse(f"declares at least {self.ops:,} operations (the limit is {MAX_BATCH_OPS:,} per batch)")


def _entries(data: bytes, kind: int, limit: int, budget: int) -> tuple[int, int]:
    """(entries, work): how many entries a column declares — for a group column, the larger of that and
    the sum of its values (the entries of the columns it groups) — and how many steps reading it took
    (runs, and the values of literal runs of strings or group counts). Stops as soon as the entries
    pass ``limit`` or the steps pass ``budget``."""
    if kind == _RAW:
        return 0, 0
    end = len(data)
    pos = entries = work = 0
    if kind == _BOOL:
        while pos < end and entries <= limit and work <= budget:
            run, pos = _uleb(data, pos)
            entries += run
            work += 1
        return entries, work
    grouped = 0
    flags: bytes | None = None
    while pos < end and entries <= limit and grouped <= limit and work <= budget:
        work += 1
        b = data[pos]  # one-byte counts and values, the usual case, are read inline: columns hold many runs
        if b < 0x80:
            count, pos = (b if b < 0x40 else b - 0x80), pos + 1
        else:
            count, pos = _sleb(data, pos)
        if count > 0:
            entries += count
            b = data[pos]
            if b < 0x80:
                value, pos = b, pos + 1
            else:
                value, pos = _uleb(data, pos)  # a delta's sleb ends where a uleb would
            if kind == _STRING:
                pos += value
            elif kind == _GROUP:
                grouped += value * count
        elif count < 0:
            n = -count
            entries += n
            if entries > limit:
                break
            if kind == _STRING:
                work += n
                for _ in range(n):
                    b = data[pos]
                    if b < 0x80:
                        pos += b + 1
                    else:
                        length, pos = _uleb(data, pos)
                        pos += length
            elif kind == _GROUP:
                work += n
                for _ in range(n):
                    value, pos = _uleb(data, pos)
                    grouped += value
            elif n < 4:
                for _ in range(n):
                    if data[pos] < 0x80:
                        pos += 1
                    else:
                        _, pos = _uleb(data, pos)
            else:
                if flags is None:
                    flags = data.translate(_CONTINUES)
                pos = _skip_numbers(data, flags, pos, n)
        else:
            b = data[pos]
            if b < 0x80:
                entries, pos = entries + b, pos + 1
            else:
                nulls, pos = _uleb(data, pos)
                entries += nulls
    if pos > end:
        raise ValueError("truncated column")
    return max(entries, grouped), work


def _skip_numbers(data: bytes, flags: bytes, pos: int, n: int) -> int:
    """The position after ``n`` LEB128 numbers starting at ``pos``; ``flags`` marks continuation bytes.

    Each step takes as many bytes as numbers are still missing: the continuation bytes among them are
    the numbers still missing after it. A number has at most 10 bytes, so each step finds at least a
    tenth of what it looks for (or the column is malformed) and the steps are few; the last few
    numbers are read one by one."""
    stop, missing = pos, n
    while missing >= 16:
        step = stop + missing
        if step > len(flags):
            raise ValueError("truncated column")
        continuing = flags.count(1, stop, step)
        if missing - continuing < missing // 10:
            raise ValueError("malformed number in column")
        stop, missing = step, continuing
    for _ in range(missing):
        _, stop = _uleb(data, stop)
    return stop
