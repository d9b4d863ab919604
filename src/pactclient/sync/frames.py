"""Frames on the wire: a 4-byte big-endian length, then that many bytes of one msgpack map.

The first frame a peer sends (its hello, or an invite redemption) may be at most ``MAX_HELLO_BYTES``;
every later frame at most ``MAX_FRAME_BYTES``. A longer length prefix is refused as soon as the four
bytes arrive, before any of the body is buffered. Every frame is a map with a string ``"t"`` naming its
type (see docs/protocol.md).
"""

from __future__ import annotations

import struct

import msgpack

from pactclient.errors import RemoteProtocolError

MAX_HELLO_BYTES = 4 * 1024
MAX_FRAME_BYTES = 64 * 1024 * 1024
_LENGTH = struct.Struct(">I")


def encode_frame(frame: dict) -> bytes:
    body = msgpack.packb(frame, use_bin_type=True)
    if len(body) > MAX_FRAME_BYTES:
        raise RemoteProtocolError(f"refusing to send a frame of {len(body)} bytes (limit {MAX_FRAME_BYTES})")
    return _LENGTH.pack(len(body)) + body


class FrameDecoder:
    """Feed bytes with ``feed``; ``frames()`` returns the complete frames decoded so far."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._limit = MAX_HELLO_BYTES
        self._frames: list[dict] = []

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= 4:
            (length,) = _LENGTH.unpack_from(self._buffer)
            if length > self._limit:
                raise RemoteProtocolError(f"frame of {length} bytes is over the limit of {self._limit}")
            if len(self._buffer) < 4 + length:
                return
            body = bytes(self._buffer[4 : 4 + length])
            del self._buffer[: 4 + length]
            self._frames.append(decode_body(body))
            self._limit = MAX_FRAME_BYTES

    def frames(self) -> list[dict]:
        out, self._frames = self._frames, []
        return out


def decode_body(body: bytes) -> dict:
    try:
        frame = msgpack.unpackb(body, raw=False, strict_map_key=True, use_list=True)
    except Exception as exc:  # msgpack raises several unrelated exception types
        raise RemoteProtocolError("sent a frame that cannot be decoded") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("t"), str):
        raise RemoteProtocolError("malformed frame: not a map with a type")
    return frame


def field(frame: dict, name: str, kind: type | tuple[type, ...]):
    """A required field of a frame, of the given type, or RemoteProtocolError."""
    value = frame.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise RemoteProtocolError(f"malformed {frame.get('t')!r} frame: field {name!r} missing or of the wrong type")
    return value


def hash_list(frame: dict, name: str) -> list[bytes]:
    value = field(frame, name, list)
    if not all(isinstance(h, bytes) and len(h) == 32 for h in value):
        raise RemoteProtocolError(f"malformed {frame.get('t')!r} frame: {name!r} must be 32-byte hashes")
    return value
