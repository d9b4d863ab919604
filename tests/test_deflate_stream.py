"""Sync messages as one DEFLATE stream per contract, kept between messages as a 2 KiB window only."""

import os
import zlib

import pytest

from pactclient.errors import RemoteProtocolError
from pactclient.sync.deflate import WINDOW_BITS, DeflateStream, InflateStream


def _messages(n: int) -> list[bytes]:
    key = os.urandom(32)
    return [key + os.urandom(32) + b"timeline entry: still down %d" % i + os.urandom(16) for i in range(n)]


def test_pieces_continue_one_stream_that_a_plain_inflater_reads():
    """A peer that keeps one live inflater for the whole stream (as older versions did) reads every piece."""
    sender, reader = DeflateStream(), zlib.decompressobj(-15)
    messages = _messages(200) + [os.urandom(5000), b"x" * 3000] + _messages(20)
    for message in messages:
        assert reader.decompress(sender.piece(message)) == message


def test_pieces_of_a_live_compressor_inflate_and_repeats_become_back_references():
    live = zlib.compressobj(6, zlib.DEFLATED, -WINDOW_BITS)
    receiver = InflateStream(1 << 20)
    pieces = []
    for message in _messages(100):
        piece = live.compress(message) + live.flush(zlib.Z_SYNC_FLUSH)
        pieces.append(piece)
        assert receiver.message(piece) == message
    # the key repeated in every message travels once: later pieces are smaller than their messages
    assert sum(map(len, pieces[1:])) < sum(map(len, _messages(99))) - 99 * 24


def test_a_piece_over_the_limit_or_not_deflate_is_refused():
    with pytest.raises(RemoteProtocolError):
        InflateStream(100).message(DeflateStream().piece(b"a" * 1000))
    with pytest.raises(RemoteProtocolError):
        InflateStream(1 << 20).message(b"\xff\xfe not deflate")
