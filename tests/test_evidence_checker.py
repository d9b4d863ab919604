"""An independent checker written from docs/evidence.md alone, with cryptography, msgpack and automerge.

It imports nothing of pactclient's signing or evidence code: if it agrees with ``pact verify`` on genuine
and tampered files, the format document is complete enough for a third party.
"""

from __future__ import annotations

import random
import struct

import msgpack
import pytest
from automerge.core import Document
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from conftest import exchange, shared_contract
from pactclient.model import actions

MAGIC = b"pact-evidence/1\n"
CHANGE_TAG = b"pactclient/change/v1\x00"
AGREEMENT_TAG = b"pactclient/agreement/v1\x00"


def _ed25519_ok(key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


def _canonical(obj):
    if isinstance(obj, dict):
        return {k: _canonical(obj[k]) for k in sorted(obj, key=lambda k: k.encode())}
    if isinstance(obj, list):
        return [_canonical(x) for x in obj]
    return obj


def independent_check(data: bytes) -> bool:
    """True if the file passes every check docs/evidence.md lists for a third party."""
    if len(data) < 52 or data[:16] != MAGIC:
        return False
    exporter = data[16:48]
    (n,) = struct.unpack(">I", data[48:52])
    if len(data) < 52 + n + 68:
        return False
    signed, signature = data[: 52 + n], data[52 + n : 116 + n]
    (t,) = struct.unpack(">I", data[116 + n : 120 + n])
    if len(data) != 120 + n + t or t != 0:  # no timestamp expected in these files
        return False
    if not _ed25519_ok(exporter, signature, signed):
        return False
    try:
        body = msgpack.unpackb(data[52 : 52 + n], raw=False)
    except Exception:
        return False
    if msgpack.packb(_canonical(body), use_bin_type=True) != data[52 : 52 + n]:
        return False
    if body.get("format") != "pact-evidence" or body.get("version") != 1 or body.get("exported_by") != exporter:
        return False
    party_keys = {p["key"] for p in body["parties"] if p["key"]}
    if exporter not in party_keys:
        return False
    doc = Document.load(body["document"])
    if sorted(doc.get_heads()) != body["heads"]:
        return False
    sigs = {h: s for h, s in body["signatures"]}
    changes = doc.get_changes([])
    if len(sigs) != len(body["signatures"]) or set(sigs) != {c.hash for c in changes}:
        return False
    for change in changes:
        if change.actor_id not in party_keys:
            return False
        if not _ed25519_ok(change.actor_id, sigs[change.hash], CHANGE_TAG + change.hash):
            return False
    contract_id = body["contract"]
    for version in body["agreements"]:
        message = (AGREEMENT_TAG + contract_id.encode() + b"\x00" + version["proposal"].encode() + b"\x00"
                   + b"".join(sorted(version["heads"])))
        for c in version["countersignatures"]:
            if c["key"] not in party_keys or not _ed25519_ok(c["key"], c["signature"], message):
                return False
    return True


@pytest.fixture
def evidence_file(tmp_path, make_party):
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb], roles=("customer", "supplier"))
    outcome = wb.act(cid, actions.propose, "change_due", {"id": "fix", "due": wb.clock.now + 9 * 86_400_000}, "parts")
    exchange(wb, wa, cid)
    wa.act(cid, actions.answer, outcome.ref, True)
    exchange(wa, wb, cid)
    wb.act(cid, actions.note, "thanks")
    exchange(wb, wa, cid)
    from pactclient.evidence import encode  # only to make the file; the checker never uses it

    return encode(wa, cid)


def test_independent_checker_agrees_with_pact_verify(evidence_file):
    from pactclient.evidence import verify_bytes

    body = msgpack.unpackb(evidence_file[52:-68], raw=False)
    assert [len(a["countersignatures"]) for a in body["agreements"]] == [2]
    assert independent_check(evidence_file) and verify_bytes(evidence_file).valid
    rng = random.Random(7)
    for _ in range(200):
        mutated = bytearray(evidence_file)
        mutated[rng.randrange(len(mutated))] ^= rng.randrange(1, 256)
        assert independent_check(bytes(mutated)) is False
        assert verify_bytes(bytes(mutated)).valid is False


def _doc_recipe() -> str:
    """The shell recipe of docs/evidence.md ("Checking a file with standard tools"), as written there."""
    import re
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "evidence.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    return "set -e\n" + blocks[0].replace("F=case.pact", 'F="$1"') + blocks[1]


def test_the_documented_openssl_recipe_verifies_genuine_and_rejects_tampered(evidence_file, tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    if not (shutil.which("openssl") and shutil.which("xxd") and shutil.which("base32")):
        pytest.skip("openssl, xxd or base32 not installed")
    script = tmp_path / "recipe.sh"
    script.write_text(_doc_recipe())
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))

    def run(data: bytes, name: str) -> subprocess.CompletedProcess:
        work = tmp_path / name
        work.mkdir()
        (work / "case.pact").write_bytes(data)
        return subprocess.run(["bash", str(script), "case.pact"], cwd=work, capture_output=True, text=True,
                              env=env, timeout=120)

    good = run(evidence_file, "good")
    assert good.returncode == 0, good.stderr
    assert "Signature Verified Successfully" in good.stdout and "BAD SIGNATURE" not in good.stdout
    tampered = bytearray(evidence_file)
    tampered[60] ^= 0x01
    bad = run(bytes(tampered), "bad")
    assert bad.returncode != 0 and "Signature Verified Successfully" not in bad.stdout
