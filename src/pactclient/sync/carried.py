"""Which changes an encoded Automerge sync message carries, so their signatures can travel beside it.

The bindings expose nothing of a ``Message``; its encoding is Automerge's documented sync format:
a type byte (0x42, or 0x43 with capabilities), heads, need, have entries (last-sync heads and a bloom
filter), then a list of byte arrays holding storage chunks. Each chunk is ``magic(4) checksum(4)
type(1) length(uleb) body``; the hash of a change chunk (type 1) is SHA-256 over ``type length body``.

``carried_hashes`` returns the hashes of the change chunks, or None when the message holds something
it cannot name one by one (a whole document, a compressed change, an unexpected layout): the sender
then attaches every signature the receiver may lack.
"""

from __future__ import annotations

import hashlib

CHUNK_MAGIC = b"\x85\x6f\x4a\x83"
CHUNK_CHANGE = 1
SYNC_TYPES = (0x42, 0x43)


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise ValueError("truncated")
        self.pos += 1
        return self.data[self.pos - 1]

    def uleb(self) -> int:
        shift = value = 0
        while True:
            b = self.byte()
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
            if shift > 63:
                raise ValueError("uleb too long")

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError("truncated")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def hashes(self) -> list[bytes]:
        return [self.take(32) for _ in range(self.uleb())]


def _chunks(blob: bytes) -> list[bytes] | None:
    out = []
    reader = _Reader(blob)
    while reader.pos < len(blob):
        if reader.take(4) != CHUNK_MAGIC:
            return None
        reader.take(4)  # checksum: the first bytes of the hash, checked by Automerge on receipt
        start = reader.pos
        kind = reader.byte()
        length = reader.uleb()
        reader.take(length)
        if kind != CHUNK_CHANGE:
            return None
        out.append(hashlib.sha256(blob[start : reader.pos]).digest())
    return out


def carried_hashes(encoded: bytes) -> list[bytes] | None:
    try:
        reader = _Reader(encoded)
        if reader.byte() not in SYNC_TYPES:
            return None
        reader.hashes()  # heads
        reader.hashes()  # need
        for _ in range(reader.uleb()):  # have
            reader.hashes()
            reader.take(reader.uleb())
        found: list[bytes] = []
        for _ in range(reader.uleb()):
            chunk_hashes = _chunks(reader.take(reader.uleb()))
            if chunk_hashes is None:
                return None
            found.extend(chunk_hashes)
        return found
    except ValueError:
        return None


def needed_hashes(encoded: bytes) -> list[bytes] | None:
    """The changes the sender of a sync message asks for: the missing dependencies of changes it holds
    back, and heads of the other side it has not seen yet."""
    try:
        reader = _Reader(encoded)
        if reader.byte() not in SYNC_TYPES:
            return None
        reader.hashes()  # heads
        return reader.hashes()
    except ValueError:
        return None


def sender_heads(encoded: bytes) -> list[bytes] | None:
    """The heads the sender of a sync message had when it wrote it."""
    try:
        reader = _Reader(encoded)
        if reader.byte() not in SYNC_TYPES:
            return None
        return reader.hashes()
    except ValueError:
        return None


def carried_blobs(encoded: bytes) -> list[bytes]:
    """The storage chunks a sync message carries, as they are (changes, or a document); [] if none
    can be read. Looked at before the message is applied, to catch an equivocation first."""
    return message_chunks(encoded) or []


def message_chunks(encoded: bytes) -> list[bytes] | None:
    """The storage chunks a sync message carries, as they are; None if the message cannot be read as
    one (the bindings are then not asked to read it either: what it declares could not be bounded)."""
    try:
        reader = _Reader(encoded)
        if reader.byte() not in SYNC_TYPES:
            return None
        reader.hashes()  # heads
        reader.hashes()  # need
        for _ in range(reader.uleb()):  # have
            reader.hashes()
            reader.take(reader.uleb())
        return [reader.take(reader.uleb()) for _ in range(reader.uleb())]
    except ValueError:
        return None
