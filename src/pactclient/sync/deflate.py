"""Compressed sync messages: one raw DEFLATE stream per contract and direction of a connection.

A live edit's Automerge sync message repeats much of the one before it: the author's 32-byte key,
the previous heads (now the new change's dependency and the last-sync heads), the field names of a
timeline entry. Compressing each message alone gains little; compressing the messages of one contract
as one stream turns those repeats into back-references (a paced edit's message: ~270 -> ~85 bytes).

The ``z`` fields of the ``sync`` frames one side sends for one contract are consecutive pieces of one
raw DEFLATE stream (RFC 1951: no zlib or gzip wrapper), each piece ending with a sync flush (an empty
stored block, ``00 00 ff ff``) so that it decodes completely on arrival. The sender uses a window of
at most 2 KiB; a receiver may inflate with any window of at least that size.

Why one stream per contract and not per connection: all parties of a contract may read all of it, so
a stream that mixes only one contract's data tells an observer of its compressed sizes nothing that
someone able to write into that stream (a party) could not read anyway. Mixing contracts with
different parties in one stream would let a party of one probe another by sizes.

Between messages neither side keeps a zlib object, only the last 2 KiB of the stream's plain bytes:
a piece ends byte-aligned at a block boundary, so a fresh compressor or decompressor given that window
as its preset dictionary continues the stream exactly (same pieces, same back-references). A live
zlib pair costs ~70 KiB per contract and connection (mostly the 32 KiB inflate window and the deflate
hash tables), which a desk with a thousand idle customers would hold for nothing; recreating them
costs less than the compression itself.
"""

from __future__ import annotations

import zlib

from pactclient.errors import RemoteProtocolError

WINDOW_BITS = 11
WINDOW = 1 << WINDOW_BITS
MEMORY_LEVEL = 5
LEVEL = 6


def _window_after(history: bytes, data: bytes) -> bytes:
    return data[-WINDOW:] if len(data) >= WINDOW else (history + data)[-WINDOW:]


class DeflateStream:
    """The sending side of one contract's stream."""

    def __init__(self) -> None:
        self._history = b""

    def piece(self, message: bytes) -> bytes:
        z = zlib.compressobj(LEVEL, zlib.DEFLATED, -WINDOW_BITS, MEMORY_LEVEL, zlib.Z_DEFAULT_STRATEGY,
                             self._history) if self._history else \
            zlib.compressobj(LEVEL, zlib.DEFLATED, -WINDOW_BITS, MEMORY_LEVEL)
        piece = z.compress(message) + z.flush(zlib.Z_SYNC_FLUSH)
        self._history = _window_after(self._history, message)
        return piece


class InflateStream:
    """The receiving side of one contract's stream."""

    def __init__(self, limit: int):
        self._history = b""
        self._limit = limit

    def message(self, piece: bytes) -> bytes:
        z = zlib.decompressobj(-WINDOW_BITS, self._history) if self._history else zlib.decompressobj(-WINDOW_BITS)
        try:
            out = z.decompress(piece, self._limit)
        except zlib.error:
            raise RemoteProtocolError("sent a compressed sync message that does not inflate") from None
        if z.unconsumed_tail or z.eof:
            raise RemoteProtocolError("sent a compressed sync message over the size limit or ending the stream")
        self._history = _window_after(self._history, out)
        return out
