"""Evidence files: export, offline verification, tampering, agreed versions, the HTML report."""

from __future__ import annotations

import random
from html.parser import HTMLParser

import pytest
from automerge.core import Document
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import exchange, shared_contract
from evidence_forgery import forge, resign
from pactclient.evidence import encode, summary, verify_bytes
from pactclient.evidence import fileformat
from pactclient.evidence.report import render
from pactclient.identity import DeviceIdentity
from pactclient.model import actions

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


# Which check named a failure: (check, words that only that check's failures use).
CHECKS = [
    ("container", ("magic bytes", "truncated", "length mismatch")),
    ("exporter's signature", ("exporter's signature does not verify",)),
    ("body encoding", ("not msgpack", "not a msgpack map", "canonical", "the body's field", "unexpected fields",
                       "not a pact-evidence")),
    ("exporter's key", ("header differs",)),
    ("document", ("document cannot be",)),
    ("heads", ("heads in the file",)),
    ("one signature per change", ("have no signature", "name changes that are not", "two signatures",
                                  "[change hash, signature]")),
    ("admission", ("refused",)),
    ("parties", ("parties listed",)),
    ("agreed versions", ("agreed versions listed",)),
]


def caught_by(failures: list[str]) -> set[str]:
    named = {check for check, words in CHECKS if any(w in f for f in failures for w in words)}
    assert named or not failures, f"a failure no check claims: {failures}"
    return named


def test_every_single_byte_change_is_rejected_by_the_check_that_covers_that_byte(world):
    data = encode(world["wa"], world["cid"])
    n = len(fileformat.unpack(data).body)
    rng = random.Random(20261123)
    for _ in range(1000):
        mutated = bytearray(data)
        pos = rng.randrange(len(mutated))
        mutated[pos] ^= rng.randrange(1, 256)
        verdict = verify_bytes(bytes(mutated))
        assert not verdict.valid, f"a change at byte {pos} was accepted"
        checks = caught_by(verdict.failures)
        if pos < 16 or 48 <= pos < 52 or pos >= 116 + n:  # magic, body length, token length
            assert "container" in checks, (pos, verdict.failures)
        else:  # the exporter's key, the body or the exporter's signature itself
            assert "exporter's signature" in checks, (pos, verdict.failures)
    assert not verify_bytes(data + b"\x00").valid
    assert not verify_bytes(data[:-1]).valid


def test_body_changes_vouched_for_by_the_exporter_are_caught_inside(world):
    """The exporter's signature catches any change made after export, but not the exporter's own lies:
    1,000 single-byte changes of the body, each signed again by the exporter, must all be caught by
    the checks of what the body says. The export time is left alone: it is the exporter's own claim."""
    wa = world["wa"]
    body = fileformat.unpack(encode(wa, world["cid"])).body
    start = body.index(b"\xabexported_at") + len(b"\xabexported_at")
    claim = range(start, start + 9)  # a uint64: its marker byte and 8 bytes of value
    rng = random.Random(5)
    tally: dict[str, int] = {}
    for _ in range(1000):
        pos = rng.randrange(len(body))
        while pos in claim:
            pos = rng.randrange(len(body))
        mutated = bytearray(body)
        mutated[pos] ^= rng.randrange(1, 256)
        verdict = verify_bytes(fileformat.pack(bytes(mutated), wa.identity.public_key, wa.identity.sign))
        assert not verdict.valid, f"a change at body byte {pos} signed by the exporter was accepted"
        for check in caught_by(verdict.failures):
            tally[check] = tally.get(check, 0) + 1
    assert "exporter's signature" not in tally
    # Each of these catches dozens of the 1,000 here: no single early check does all the work.
    for check in ("body encoding", "document", "one signature per change", "admission", "parties",
                  "agreed versions"):
        assert tally.get(check, 0) >= 5, tally
    assert max(tally.values()) < 800, tally


def test_a_forged_change_is_rejected_even_when_the_exporter_signs_it(world, tmp_path):
    wa, cid = world["wa"], world["cid"]
    body = fileformat.decode_body(fileformat.unpack(encode(wa, cid)).body)
    stranger = DeviceIdentity.create(tmp_path / "mallory", "Mallory")
    verdict = verify_bytes(resign(forge(body, stranger.public_key, stranger), wa.identity))
    assert not verdict.valid
    assert any("not a party" in f for f in verdict.failures)

    # A change in BT's name signed by Alice's key: the signature does not verify against its author.
    in_bts_name = forge(body, world["priya"].public_key, world["alice"])
    verdict = verify_bytes(resign(in_bts_name, wa.identity))
    assert not verdict.valid
    assert any("signature does not verify" in f for f in verdict.failures)


def test_inner_lies_are_named(world):
    wa, cid = world["wa"], world["cid"]
    body = fileformat.decode_body(fileformat.unpack(encode(wa, cid)).body)
    cases = {
        "heads": dict(body, heads=body["heads"][:0]),
        # A head of the document has no later change of its author to vouch for it.
        "not signed": dict(body, signatures=[e for e in body["signatures"] if e[0] != body["heads"][0]]),
        "parties": dict(body, parties=[dict(p, name="Someone else") for p in body["parties"]]),
        "agreed versions": dict(body, agreements=[]),
    }
    for expected, lie in cases.items():
        verdict = verify_bytes(resign(lie, wa.identity))
        assert not verdict.valid and any(expected in f for f in verdict.failures), (expected, verdict.failures)
    stranger = Ed25519PrivateKey.generate()
    from cryptography.hazmat.primitives import serialization

    raw = stranger.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    verdict = verify_bytes(resign(dict(body, exported_by=raw), stranger, raw))
    assert any("not a party" in f for f in verdict.failures)


def test_a_change_without_its_own_signature_is_covered_by_its_authors_later_one(world):
    wa, cid = world["wa"], world["cid"]
    body = fileformat.decode_body(fileformat.unpack(encode(wa, cid)).body)
    doc = Document.load(body["document"])
    heads = set(body["heads"])
    # Alice's first change (the contract's root) has later changes of hers above it.
    root = doc.get_changes([])[0]
    assert root.actor_id == world["alice"].public_key and root.hash not in heads
    verdict = verify_bytes(resign(dict(body, signatures=[e for e in body["signatures"] if e[0] != root.hash]),
                                  wa.identity))
    assert verdict.valid, verdict.failures
    assert any("1 vouched for" in c for c in verdict.checks)


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


class PageReader(HTMLParser):
    """The report as a reader sees it: the verdict, and each section's tables as rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.verdict = ""
        self.sections: dict[str, list[list[str]]] = {"": []}
        self.broken: list[str] = []
        self._current, self._cell, self._row, self._where = "", None, None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._where.append((tag, attrs.get("class", ""), attrs.get("id", "")))
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._row is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.sections[self._current].append(self._row)
            self._row = None
        while self._where and self._where.pop()[0] != tag:
            pass

    def handle_startendtag(self, tag, attrs):
        if tag == "br" and self._cell is not None:
            self._cell += " "

    def handle_data(self, data):
        inside = {c for _, c, _ in self._where} | {i for _, _, i in self._where}
        tags = [t for t, _, _ in self._where]
        if self._cell is not None:
            self._cell += data
        elif tags and tags[-1] == "h2":
            self._current = data.split(" (")[0].strip()
            self.sections.setdefault(self._current, [])
        elif "verdict ok" in inside or "verdict bad" in inside and "broken" not in inside:
            self.verdict += data
        if "broken" in inside and "li" in tags:
            if tags[-1] == "b" or not self.broken:
                self.broken.append("")
            self.broken[-1] += data


def read_page(page: str) -> PageReader:
    reader = PageReader()
    reader.feed(page)
    return reader


def test_report_shows_verdict_broken_promise_parties_timeline_and_escapes_text(world):
    wa, cid = world["wa"], world["cid"]
    page = render(verify_bytes(encode(wa, cid)))
    seen = read_page(page)
    assert seen.verdict.startswith("VERIFIED")
    assert len(seen.broken) == 1 and seen.broken[0].startswith("Call the customer back: BT promised it by 2026-01-06")
    assert "not done when the file was exported, 6 h 0 min past due" in seen.broken[0]

    parties = {row[0]: row for row in seen.sections["Parties"][1:]}
    assert parties["customer"][1:4] == ["Alice", "", "customer"] and parties["supplier"][1:4] == ["Priya", "BT", "supplier"]
    assert parties["customer"][4] == wa.identity.fingerprint
    assert parties["supplier"][4] == world["priya"].fingerprint

    commitments = {row[0]: row[-1] for row in seen.sections["Terms in force"][1:] if len(row) == 6}
    assert commitments["Call the customer back"] == "broken" and commitments["Find the cause"] == ""
    versions = seen.sections["Agreed versions"][1:]
    assert len(versions) == 1 and versions[0][0] == "1" and "an engineer" not in versions[0][1]
    assert versions[0][3] == "Alice ✔ countersigned, BT ✘ not countersigned"  # BT has not written since

    timeline = seen.sections["Timeline"][1:]
    by_text = {row[3]: row for row in timeline}
    note = by_text["Mail keeps re-downloading <script>alert(1)</script> & more"]
    assert note[1:3] == ["Alice", "message"] and note[4] == "signed by Alice"
    proposal = next(row for row in timeline if "an engineer must visit" in row[3])
    assert proposal[1] == "BT" and proposal[4] == "signed by BT"
    assert all(row[4] in ("signed by Alice", "signed by BT") for row in timeline)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "http://" not in page and "https://" not in page  # no external assets

    bad = bytearray(encode(wa, cid))
    bad[100] ^= 1
    seen = read_page(render(verify_bytes(bytes(bad))))
    assert seen.verdict.startswith("NOT VERIFIED")
    assert all(row[4] == "signature not verified" for row in seen.sections["Timeline"][1:])


def test_progress_is_reported_while_gathering(world):
    seen = []
    encode(world["wa"], world["cid"], progress=lambda done, total: seen.append((done, total)))
    total = world["wa"].store.change_count(world["cid"])
    assert seen and seen[-1] == (total, total)


def _claim_countersignature(party: str, key: str):
    """A model action writing an agreement entry in ``party``'s name with a signature that is not one."""
    from automerge.core import ROOT

    from pactclient.model.actions import Outcome
    from pactclient.model.amdoc import child, put_value

    def write(doc, actor, proposal_id: str):
        with doc.transaction() as tx:
            timeline = child(tx, ROOT, "timeline")
            put_value(tx, timeline, tx.length(timeline), {
                "kind": "agreement", "author": party, "at": actor.now, "text": "countersigned", "ref": proposal_id,
                "heads": [], "key": key, "signature": "00" * 64}, insert=True)
        return Outcome("claimed")
    return write


def test_a_false_countersignature_is_refused_and_the_real_one_still_comes(world):
    """Alice tries to write an agreement entry in BT's name: the permission rules refuse it (a record names
    the party that wrote it), nothing is written, and BT's device still countersigns with its next write."""
    from pactclient.errors import RefusedOperation

    wa, wb, cid = world["wa"], world["wb"], world["cid"]
    before = wa.document(cid).get_heads()
    with pytest.raises(RefusedOperation, match="writer-named"):
        wa.act(cid, _claim_countersignature("supplier", world["priya"].public_key.hex()), world["proposal"])
    assert wa.document(cid).get_heads() == before
    exchange(wa, wb, cid)
    verdict = verify_bytes(encode(wa, cid))
    assert verdict.valid, verdict.failures
    assert summary(verdict)["agreements"][0]["signed_by"] == ["customer"]
    wb.act(cid, actions.note, "engineer booked")
    exchange(wb, wa, cid)
    verdict = verify_bytes(encode(wa, cid))
    assert verdict.valid and summary(verdict)["agreements"][0]["signed_by"] == ["customer", "supplier"]


def test_the_file_and_its_report_are_written_both_or_neither(tmp_path):
    from pactclient.errors import FormatError
    from pactclient.evidence import write_all

    with pytest.raises(FormatError, match="cannot write"):
        write_all([(tmp_path / "case.pact", b"evidence"), (tmp_path / "gone" / "case.html", b"report")])
    assert list(tmp_path.iterdir()) == []
    write_all([(tmp_path / "case.pact", b"evidence"), (tmp_path / "case.html", b"report")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.html", "case.pact"]


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
