"""Evidence files: export, offline verification, tampering, agreed versions, the HTML report."""

from __future__ import annotations

import random

import pytest
from automerge.core import ROOT, Document, ScalarType
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import exchange, shared_contract
from pactclient.evidence import encode, summary, verify_bytes
from pactclient.evidence import fileformat
from pactclient.evidence.report import render
from pactclient.identity import DeviceIdentity
from pactclient.model import actions
from pactclient.signing.changes import sign_change

HOUR = 3600 * 1000


@pytest.fixture
def world(tmp_path, make_party):
    """Alice (customer) and BT (supplier) on the broadband template; BT misses the 24 h callback."""
    alice, wa = make_party(tmp_path, "Alice")
    priya, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb], roles=("customer", "supplier"))
    wa.act(cid, actions.note, "Mail keeps re-downloading <script>alert(1)</script> & more")
    wb.clock.advance(2 * HOUR)
    outcome = wb.act(cid, actions.propose, "change_due", {"id": "diagnose", "due": wb.clock.now + 5 * 24 * HOUR},
                     "an engineer must visit")
    exchange(wb, wa, cid)
    wa.act(cid, actions.answer, outcome.ref, True, "fine")  # completes the agreement: Alice countersigns at once
    exchange(wa, wb, cid)
    wa.clock.advance(30 * HOUR)  # the callback promised within 24 h never happened
    return {"wa": wa, "wb": wb, "cid": cid, "proposal": outcome.ref, "alice": alice, "priya": priya}


def test_genuine_file_verifies_with_the_contract_summary(world):
    data = encode(world["wa"], world["cid"])
    verdict = verify_bytes(data)
    assert verdict.valid, verdict.failures
    out = summary(verdict)
    assert out["title"] == "Mail re-downloads"
    assert {p["name"] for p in out["parties"]} == {"Alice", "Priya"}
    assert out["light"] == "red"
    assert [b["activity"] for b in out["broken_commitments"]] == ["callback"]
    assert out["broken"] == 1
    assert out["changes"] == world["wa"].store.change_count(world["cid"])


def test_every_single_byte_change_is_rejected(world):
    data = encode(world["wa"], world["cid"])
    rng = random.Random(20261123)
    for _ in range(1000):
        mutated = bytearray(data)
        pos = rng.randrange(len(mutated))
        mutated[pos] ^= rng.randrange(1, 256)
        verdict = verify_bytes(bytes(mutated))
        assert not verdict.valid, f"a change at byte {pos} was accepted"
        assert verdict.failures
    assert not verify_bytes(data + b"\x00").valid
    assert not verify_bytes(data[:-1]).valid


def _resign(body: dict, key: Ed25519PrivateKey, public: bytes) -> bytes:
    """An evidence file for ``body`` with a valid exporter signature: only the inner checks can catch it."""
    return fileformat.pack(fileformat.canonical(body), public, key.sign)


def _forge(body: dict, actor: bytes, signer: DeviceIdentity) -> dict:
    """``body`` with one more change written by ``actor`` and signed by ``signer``."""
    doc = Document.load(body["document"])
    doc.set_actor(actor)
    before = doc.get_heads()
    with doc.transaction() as tx:
        tx.put(ROOT, "forged", ScalarType.Str, "BT admits everything")
    (forged,) = doc.get_changes(before)
    return dict(body, document=doc.save(), heads=sorted(doc.get_heads()),
                signatures=sorted(body["signatures"] + [[forged.hash, sign_change(signer, forged.hash)]]))


def test_a_forged_change_is_rejected_even_when_the_exporter_signs_it(world, tmp_path):
    wa, cid = world["wa"], world["cid"]
    body = fileformat.decode_body(fileformat.unpack(encode(wa, cid)).body)
    stranger = DeviceIdentity.create(tmp_path / "mallory", "Mallory")
    verdict = verify_bytes(_resign(_forge(body, stranger.public_key, stranger), wa.identity.private_key,
                                   wa.identity.public_key))
    assert not verdict.valid
    assert any("not a party" in f for f in verdict.failures)

    # A change in BT's name signed by Alice's key: the signature does not verify against its author.
    in_bts_name = _forge(body, world["priya"].public_key, world["alice"])
    verdict = verify_bytes(_resign(in_bts_name, wa.identity.private_key, wa.identity.public_key))
    assert not verdict.valid
    assert any("signature does not verify" in f for f in verdict.failures)


def test_inner_lies_are_named(world):
    wa, cid = world["wa"], world["cid"]
    key, public = wa.identity.private_key, wa.identity.public_key
    body = fileformat.decode_body(fileformat.unpack(encode(wa, cid)).body)
    cases = {
        "heads": dict(body, heads=body["heads"][:0]),
        "no signature": dict(body, signatures=body["signatures"][1:]),
        "parties": dict(body, parties=[dict(p, name="Someone else") for p in body["parties"]]),
        "agreed versions": dict(body, agreements=[]),
    }
    for expected, lie in cases.items():
        verdict = verify_bytes(_resign(lie, key, public))
        assert not verdict.valid and any(expected in f for f in verdict.failures), (expected, verdict.failures)
    stranger = Ed25519PrivateKey.generate()
    from cryptography.hazmat.primitives import serialization

    raw = stranger.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    verdict = verify_bytes(_resign(dict(body, exported_by=raw), stranger, raw))
    assert any("not a party" in f for f in verdict.failures)


def test_agreed_versions_show_who_countersigned(world):
    wa, wb, cid = world["wa"], world["wb"], world["cid"]
    out = summary(verify_bytes(encode(wa, cid)))
    assert out["agreements"] == [{"version": 1, "proposal": world["proposal"], "signed_by": ["customer"]}]
    # BT countersigns with its next write; countersignatures travel like any change.
    wb.act(cid, actions.note, "engineer booked")
    exchange(wb, wa, cid)
    out = summary(verify_bytes(encode(wa, cid)))
    assert out["agreements"][0]["signed_by"] == ["customer", "supplier"]
    # Further writes do not countersign again.
    before = wb.store.change_count(cid)
    wb.act(cid, actions.note, "another note")
    assert wb.store.change_count(cid) == before + 1
    assert wb.countersign(cid) == 0


def test_exporting_countersigns_what_waits(world):
    wb, cid = world["wb"], world["cid"]
    assert wb.countersign(cid) == 1
    assert summary(verify_bytes(encode(wb, cid)))["agreements"][0]["signed_by"] == ["customer", "supplier"]


def test_report_shows_parties_timeline_verdict_and_escapes_text(world):
    wa, cid = world["wa"], world["cid"]
    page = render(verify_bytes(encode(wa, cid)))
    assert "VERIFIED" in page and "NOT VERIFIED" not in page
    assert "Alice" in page and "BT" in page
    assert "Mail keeps re-downloading &lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert "<script>" not in page
    assert "an engineer must visit" in page
    assert "signed by BT" in page and "signed by Alice" in page
    assert wa.identity.fingerprint in page
    assert "broken" in page and "countersigned" in page
    assert "http://" not in page and "https://" not in page  # no external assets

    bad = bytearray(encode(wa, cid))
    bad[100] ^= 1
    page = render(verify_bytes(bytes(bad)))
    assert "NOT VERIFIED" in page


def test_progress_is_reported_while_gathering(world):
    seen = []
    encode(world["wa"], world["cid"], progress=lambda done, total: seen.append((done, total)))
    total = world["wa"].store.change_count(world["cid"])
    assert seen and seen[-1] == (total, total)


def test_an_answer_right_after_a_note_still_countersigns_at_once(tmp_path, make_party):
    """The countersigning check is skipped only after edits that touch no proposal: a note first
    (checked: nothing waits yet), then the accepting answer, which completes the agreement."""
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb], roles=("customer", "supplier"))
    outcome = wb.act(cid, actions.propose, "change_due", {"id": "diagnose", "due": wb.clock.now + 5 * 24 * HOUR})
    exchange(wb, wa, cid)
    wa.act(cid, actions.note, "let me check the engineer's diary")
    wa.act(cid, actions.answer, outcome.ref, True)
    assert summary(verify_bytes(encode(wa, cid)))["agreements"][0]["signed_by"] == ["customer"]
    assert wa.countersign(cid) == 0
