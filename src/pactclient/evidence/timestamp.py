"""Trusted time: ask an RFC 3161 timestamp authority to stamp a SHA-256 digest, and check a token.

The request is a few dozen DER bytes built here; checking a token's CMS signature is left to
``openssl ts -verify`` (the ``cryptography`` package cannot verify CMS), which is also what a third
party runs (docs/evidence.md). Without a trusted CA certificate the token is checked against the
certificate it carries: that proves the token is intact and names its authority, not that the
authority is one you trust.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from pactclient.errors import FormatError, RemoteProtocolError

SHA256_OID = bytes.fromhex("0609608648016503040201")  # DER of OID 2.16.840.1.101.3.4.2.1
MAX_REPLY = 1 << 20
TIMEOUT_S = 30


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def _elements(data: bytes) -> list[bytes]:
    """The whole DER elements (tag, length and content) inside one SEQUENCE's content."""
    out, i = [], 0
    while i < len(data):
        if i + 2 > len(data):
            raise FormatError("malformed DER")
        first = data[i + 1]
        if first < 0x80:
            start, n = i + 2, first
        else:
            k = first & 0x7F
            start, n = i + 2 + k, int.from_bytes(data[i + 2 : i + 2 + k], "big")
        if start + n > len(data):
            raise FormatError("malformed DER")
        out.append(data[i : start + n])
        i = start + n
    return out


def _content(element: bytes) -> bytes:
    first = element[1]
    return element[2:] if first < 0x80 else element[2 + (first & 0x7F) :]


def build_request(digest: bytes) -> bytes:
    """TimeStampReq {version 1, messageImprint {sha256, digest}, certReq TRUE}."""
    algorithm = _der(0x30, SHA256_OID + b"\x05\x00")
    imprint = _der(0x30, algorithm + _der(0x04, digest))
    return _der(0x30, _der(0x02, b"\x01") + imprint + b"\x01\x01\xff")


def token_from_reply(reply: bytes) -> bytes:
    """The TimeStampToken of a TimeStampResp; RemoteProtocolError if the authority refused."""
    try:
        (outer,) = _elements(reply)
        parts = _elements(_content(outer))
        status = _elements(_content(parts[0]))[0]
    except (FormatError, ValueError, IndexError):
        raise RemoteProtocolError("the timestamp authority's reply is not a timestamp response") from None
    if int.from_bytes(_content(status), "big") not in (0, 1) or len(parts) < 2:
        raise RemoteProtocolError("the timestamp authority refused the request")
    return parts[1]


def request(url: str, digest: bytes) -> bytes:
    req = urllib.request.Request(url, data=build_request(digest), method="POST",
                                 headers={"Content-Type": "application/timestamp-query"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            reply = resp.read(MAX_REPLY + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RemoteProtocolError(f"cannot reach the timestamp authority {url}: {_why(exc)}") from None
    if len(reply) > MAX_REPLY:
        raise RemoteProtocolError("the timestamp authority's reply is too large")
    return token_from_reply(reply)


def _why(exc: BaseException) -> str:
    """Why the authority could not be reached, in words (never "<urlopen error [Errno 111] ...>")."""
    from pactclient.reasons import os_reason

    if isinstance(exc, urllib.error.HTTPError):
        return f"it answered HTTP {exc.code}"
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return os_reason(reason) if isinstance(reason, BaseException) else str(reason)[:200]


def check_url(url: str) -> str:
    """``url`` if it can name a timestamp authority (http or https, with a host); FormatError otherwise."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if not url.isprintable() or parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise FormatError(f"not a timestamp authority URL: {url[:60]!r} (use http:// or https://, e.g. https://freetsa.org/tsr)")
    return url


def _openssl(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("openssl")
    if exe is None:
        raise FormatError("cannot check the timestamp: openssl is not installed")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)


def check(token: bytes, digest: bytes, ca_file: str | None = None) -> dict:
    """Check that ``token`` stamps ``digest``; returns {time, tsa, trusted}. FormatError if not."""
    with tempfile.TemporaryDirectory() as tmp:
        tok = Path(tmp) / "token.der"
        tok.write_bytes(token)
        certs = _openssl("pkcs7", "-inform", "DER", "-in", str(tok), "-print_certs")
        if certs.returncode != 0 or "BEGIN CERTIFICATE" not in certs.stdout:
            raise FormatError("the token is malformed or carries no certificate")
        args = ["ts", "-verify", "-digest", digest.hex(), "-in", str(tok), "-token_in"]
        if ca_file:
            args += ["-CAfile", ca_file]
        else:
            own = Path(tmp) / "own.pem"
            own.write_text(certs.stdout)
            args += ["-CAfile", str(own), "-partial_chain"]
        verified = _openssl(*args)
        if verified.returncode != 0 or "Verification: OK" not in verified.stdout:
            raise FormatError("the token does not verify or does not stamp this file")
        text = _openssl("ts", "-reply", "-in", str(tok), "-token_in", "-text").stdout
    when = re.search(r"^Time stamp: (.+)$", text, re.M)
    subject = re.search(r"^subject=(.+)$", certs.stdout, re.M)
    return {"time": when.group(1).strip() if when else "", "tsa": subject.group(1).strip() if subject else "",
            "trusted": bool(ca_file)}
