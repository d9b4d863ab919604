"""An evidence checker written from docs/evidence.md alone, with cryptography, msgpack and automerge.

It must import nothing of pactclient (tests/test_evidence_checker.py runs it in a process where
pactclient cannot be imported): if it agrees with ``pact verify`` on genuine and tampered files, the
format document is complete enough for a third party. Usage: ``python independent_checker.py FILE``
prints ``valid`` or ``invalid``.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
import zlib

import msgpack
from automerge.core import ROOT, Document, ObjType
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MAGIC = b"pact-evidence/1\n"
CHANGE_TAG = b"pactclient/change/v1\x00"
AGREEMENT_TAG = b"pactclient/agreement/v1\x00"
DELEGATION_TAG = b"pact-delegation/1\n"
REVOCATION_TAG = b"pact-revocation/1\n"
CHUNK_MAGIC = b"\x85\x6f\x4a\x83"


def _ed25519_ok(key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _uleb_bytes(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def change_hash(chunk: bytes) -> bytes:
    """docs/evidence.md, "A change's hash": SHA-256 over the type, the unsigned LEB128 length and the
    contents of the change's uncompressed form; a deflated change (type 2) is hashed as the plain one."""
    if chunk[:4] != CHUNK_MAGIC or chunk[8] not in (1, 2):
        raise ValueError("not a change chunk")
    length, start = _uleb(chunk, 9)
    contents = chunk[start : start + length]
    if chunk[8] == 2:
        contents = zlib.decompress(contents, -15)
    digest = hashlib.sha256(b"\x01" + _uleb_bytes(len(contents)) + contents).digest()
    if chunk[4:8] != digest[:4]:
        raise ValueError("the chunk's checksum is not the start of its hash")
    return digest


def _canonical(obj):
    if isinstance(obj, float):
        raise ValueError("floats are not allowed")
    if isinstance(obj, dict):
        return {k: _canonical(obj[k]) for k in sorted(obj, key=lambda k: k.encode())}
    if isinstance(obj, list):
        return [_canonical(x) for x in obj]
    return obj


FIELDS = ["agreements", "contract", "document", "exported_at", "exported_by", "format", "heads", "parties",
          "signatures", "version"]


def independent_check(data: bytes) -> bool:
    """True if the file passes checks 1-5, the simpler party rule of check 6 (a device's key counts
    when its delegation verifies under a listed party's key), and the countersignatures of check 8 of
    docs/evidence.md ("What a verifier checks"). Files with a timestamp are refused."""
    try:
        return _check(data)
    except Exception:  # a malformed body or document: whatever the decoders raise, the file fails
        return False


def _check(data: bytes) -> bool:
    if len(data) < 52 or data[:16] != MAGIC:
        return False
    exporter = data[16:48]
    (n,) = struct.unpack(">I", data[48:52])
    if len(data) < 52 + n + 68:
        return False
    signed, signature = data[: 52 + n], data[52 + n : 116 + n]
    (t,) = struct.unpack(">I", data[116 + n : 120 + n])
    if len(data) != 120 + n + t or t != 0:
        return False
    if not _ed25519_ok(exporter, signature, signed):
        return False
    raw = data[52 : 52 + n]
    body = msgpack.unpackb(raw, raw=False)
    if not isinstance(body, dict) or sorted(body) != FIELDS:
        return False
    if msgpack.packb(_canonical(body), use_bin_type=True) != raw:
        return False
    if body["format"] != "pact-evidence" or body["version"] not in (1, 2) or body["exported_by"] != exporter:
        return False
    party_of_key = {p["key"]: p["id"] for p in body["parties"] if p["key"]}
    author_of_key = {k: p["id"] for p in body["parties"] for k in [p["key"], *p.get("former_keys", [])] if k}
    doc = Document.load(body["document"])
    devices = _certified(doc, author_of_key)
    if devices is None:
        return False
    # A change may be by a party's key, a former key or a device one of those certified; the exporter
    # and countersigners act now: a current key, or a device it certified (the exporter: not revoked).
    author_of_key.update((k, party) for k, (party, _, _) in devices.items())
    acting = {**party_of_key, **{k: party for k, (party, by, _) in devices.items() if party_of_key.get(by) == party}}
    if exporter not in acting or devices.get(exporter, (None, None, False))[2]:
        return False
    if sorted(doc.get_heads()) != body["heads"]:
        return False
    sigs = {h: s for h, s in body["signatures"]}
    changes = doc.get_changes([])
    if any(change_hash(c.bytes) != c.hash for c in changes):
        return False  # the document's hashes are not the documented ones
    if len(sigs) != len(body["signatures"]) or not set(sigs) <= {c.hash for c in changes}:
        return False
    for change in changes:
        if change.actor_id not in author_of_key:
            return False
        if change.hash in sigs and not _ed25519_ok(change.actor_id, sigs[change.hash], CHANGE_TAG + change.hash):
            return False
    if not _all_vouched_for(changes, sigs):
        return False
    for version in body["agreements"]:
        message = (AGREEMENT_TAG + body["contract"].encode() + b"\x00" + version["proposal"].encode() + b"\x00"
                   + b"".join(sorted(version["heads"])))
        for c in version["countersignatures"]:
            if acting.get(c["key"]) != c["party"] or not _ed25519_ok(c["key"], c["signature"], message):
                return False
    return True


def _records(doc: Document, section: str) -> dict[str, dict]:
    """A root section of maps of scalars (``devices``, ``owner``, ``revocations``), as plain dicts."""
    got = doc.get(ROOT, section)
    if got is None or got[0] != ObjType.Map:
        return {}
    out = {}
    for key in doc.keys(got[1]):
        record = doc.get(got[1], key)
        if record is not None and record[0] == ObjType.Map:
            values = {f: doc.get(record[1], f)[0] for f in doc.keys(record[1])}
            out[key] = {f: v[1] for f, v in values.items() if isinstance(v, tuple)}
    return out


def _statement(record: dict, kind: str, tag: bytes, signer_ok) -> dict | None:
    """The fields of a signed statement of ``kind`` whose signer passes ``signer_ok`` and whose
    signature verifies; None otherwise."""
    fields = json.loads(record["statement"])
    signer = bytes.fromhex(fields["party_key"])
    if fields["type"] != kind or not signer_ok(signer):
        return None
    if not _ed25519_ok(signer, bytes.fromhex(record["signature"]), tag + record["statement"].encode()):
        return None
    return fields


def _certified(doc: Document, author_of_key: dict[bytes, str]) -> dict[bytes, tuple[str, bytes, bool]] | None:
    """Device key -> (party, the party key that certified it, revoked) for every delegation in the
    document; None if one is not a delegation of its device verifying under a listed party's key."""
    records = _records(doc, "devices")
    for record in _records(doc, "owner").values():  # a problem owner who has not written yet
        if record.get("statement"):
            records.setdefault(record.get("device", ""), record)
    out = {}
    for key, record in records.items():
        fields = _statement(record, "pact-delegation/1", DELEGATION_TAG, lambda k: k in author_of_key)
        if fields is None or fields["device_key"] != key:
            return None
        signer = bytes.fromhex(fields["party_key"])
        out[bytes.fromhex(key)] = (author_of_key[signer], signer, False)
    for name, record in _records(doc, "revocations").items():
        device = bytes.fromhex(name.split(".")[0])
        if device not in out:
            continue
        party, by, _ = out[device]
        # Only the key that certified the device revokes it; a revocation by another is no revocation.
        if json.loads(record["statement"]).get("party_key") != by.hex():
            continue
        fields = _statement(record, "pact-revocation/1", REVOCATION_TAG, lambda k: k == by)
        if fields is None or fields["device_key"] != device.hex():
            return None
        out[device] = (party, by, True)
    return out


def _all_vouched_for(changes, sigs: dict[bytes, bytes]) -> bool:
    """Every change without a signature has a signed descendant by the same actor (check 6)."""
    deps = {c.hash: c.deps for c in changes}
    actor = {c.hash: c.actor_id for c in changes}
    covered = set(sigs)
    for signed in sigs:
        seen, stack = set(), list(deps[signed])
        while stack:
            h = stack.pop()
            if h not in seen:
                seen.add(h)
                if actor[h] == actor[signed]:
                    covered.add(h)
                stack.extend(deps[h])
    return covered >= set(deps)


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as f:
        print("valid" if independent_check(f.read()) else "invalid")
