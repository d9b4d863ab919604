"""The evidence container: exact bytes in, exact bytes out (specified in docs/evidence.md).

    offset        size  content
    0             16    MAGIC, ASCII "pact-evidence/1\\n"
    16            32    the exporter's raw Ed25519 public key
    48            4     N, unsigned 32-bit big-endian: length of the body
    52            N     body: one msgpack map in canonical encoding (see ``canonical``)
    52+N          64    Ed25519 signature by the exporter over bytes [0, 52+N)
    116+N         4     T, unsigned 32-bit big-endian: length of the timestamp token (0 if none)
    120+N         T     RFC 3161 TimeStampToken (DER) over SHA-256 of bytes [0, 116+N)
    120+N+T       64    only if T > 0: the exporter's Ed25519 signature over bytes [0, 120+N+T) (the seal)
    end                 end of file; nothing may follow

The seal exists because a token carries unsigned parts (the authority's certificates): without it a
byte of those could change and the token still verify.

Canonical msgpack: maps with their keys sorted by their UTF-8 bytes, text as str and binary as bin
(never mixed), every integer, length and string in the shortest form the msgpack spec allows, no
floats, no extension types. One content has exactly one encoding, so a verifier can re-encode what
it decoded and insist on the same bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import msgpack

from pactclient.errors import FormatError

MAGIC = b"pact-evidence/1\n"
MAX_EVIDENCE_BYTES = 512 * 1024 * 1024
SIGNATURE_SIZE = 64


@dataclass(frozen=True)
class Container:
    signed: bytes  # bytes [0, 52+N): what the exporter signed
    exporter: bytes  # 32-byte public key from the header
    body: bytes
    signature: bytes
    token: bytes  # b"" when no timestamp
    sealed: bytes = b""  # bytes [0, 120+N+T) when there is a token
    seal: bytes = b""  # the exporter's signature over ``sealed``

    @property
    def stamped(self) -> bytes:
        """Bytes [0, 116+N): what the timestamp authority's token covers (by SHA-256)."""
        return self.signed + self.signature


def _sorted(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _sorted(obj[k]) for k in sorted(obj, key=lambda k: k.encode())}
    if isinstance(obj, (list, tuple)):
        return [_sorted(v) for v in obj]
    if isinstance(obj, float):
        raise FormatError("floats are not allowed in evidence")
    return obj


def canonical(obj: Any) -> bytes:
    """The one encoding of ``obj`` (dicts with str keys, lists, str, bytes, int, bool, None)."""
    return msgpack.packb(_sorted(obj), use_bin_type=True)


def decode_body(body: bytes) -> dict:
    """Decode a body and insist it is canonical; FormatError otherwise."""
    try:
        obj = msgpack.unpackb(body, raw=False, strict_map_key=True, use_list=True,
                              max_bin_len=MAX_EVIDENCE_BYTES, max_str_len=MAX_EVIDENCE_BYTES)
    except Exception as exc:  # msgpack raises several unrelated exception types
        raise FormatError("the body cannot be decoded (it is not msgpack)") from None
    if not isinstance(obj, dict):
        raise FormatError("the body is not a msgpack map")
    try:
        again = canonical(obj)
    except (FormatError, TypeError, ValueError) as exc:
        raise FormatError(f"the body is not canonical: {exc}") from None
    if again != body:
        raise FormatError("the body is not in canonical encoding")
    return obj


HEADER = len(MAGIC) + 32 + 4


def pack(body: bytes, exporter: bytes, sign, token: bytes = b"") -> bytes:
    """The file bytes for ``body``; ``sign(message) -> 64 bytes`` signs the header and body."""
    if len(exporter) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    signed = MAGIC + exporter + struct.pack(">I", len(body)) + body
    signature = sign(signed)
    if len(signature) != SIGNATURE_SIZE:
        raise ValueError("an Ed25519 signature is 64 bytes")
    return signed + signature + struct.pack(">I", len(token)) + token


def with_token(data: bytes, token: bytes, sign) -> bytes:
    """The same evidence with ``token`` as its timestamp (replacing any), sealed by ``sign``."""
    c = unpack(data)
    if not token:
        return c.stamped + struct.pack(">I", 0)
    sealed = c.stamped + struct.pack(">I", len(token)) + token
    return sealed + sign(sealed)


def unpack(data: bytes) -> Container:
    """Split a file into its parts; FormatError naming what is wrong."""
    if data[: len(MAGIC)] != MAGIC:
        raise FormatError("not a pact evidence file (wrong magic bytes)")
    if len(data) < HEADER:
        raise FormatError(f"truncated: the file ends inside its {HEADER}-byte header")
    (n,) = struct.unpack(">I", data[48:HEADER])
    end_body = HEADER + n
    if len(data) < end_body + SIGNATURE_SIZE + 4:
        raise FormatError(f"truncated: the header announces a {n}-byte body, the file is {len(data)} bytes")
    signature = data[end_body : end_body + SIGNATURE_SIZE]
    (t,) = struct.unpack(">I", data[end_body + SIGNATURE_SIZE : end_body + SIGNATURE_SIZE + 4])
    start_token = end_body + SIGNATURE_SIZE + 4
    expected = start_token + t + (SIGNATURE_SIZE if t else 0)
    if len(data) != expected:
        raise FormatError(f"length mismatch: the file should be {expected} bytes, it is {len(data)}")
    end_token = start_token + t
    return Container(signed=data[:end_body], exporter=data[16:48], body=data[HEADER:end_body], signature=signature,
                     token=data[start_token:end_token], sealed=data[:end_token] if t else b"",
                     seal=data[end_token:] if t else b"")
