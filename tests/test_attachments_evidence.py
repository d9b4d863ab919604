"""Attachments in evidence: the signed hashes always, the files on request; altered bytes make the
evidence invalid and are reported, in pact verify and in the HTML report."""

from __future__ import annotations

import json

from pactclient.evidence import export, fileformat, verify_bytes
from pactclient.evidence.report import render

from conftest import shared_contract
from test_attachments import pact, tamper


def test_export_with_files_verify_and_report(tmp_path):
    home = tmp_path / "alice"
    pact(home, "init", "--name", "Alice")
    cid = json.loads(pact(home, "new", "Bill dispute", "--template", "billing-dispute", "--json").stdout)["id"][:8]
    bill, photo = tmp_path / "bill.pdf", tmp_path / "letter.jpg"
    bill.write_bytes(b"%PDF credit balance 250")
    photo.write_bytes(b"\xff\xd8 photo of the letter")
    h_bill = json.loads(pact(home, "attach", cid, str(bill), "--json").stdout)["sha256"]
    h_photo = json.loads(pact(home, "attach", cid, str(photo), "--json").stdout)["sha256"]

    # Without files: valid, each attachment named by its signed hash, "not included".
    pact(home, "export", cid, "-o", str(tmp_path / "plain.pact"))
    plain = json.loads(pact(home, "verify", str(tmp_path / "plain.pact"), "--json").stdout)
    assert plain["valid"] and {a["sha256"]: a["status"] for a in plain["attachments"]} == {
        h_bill: "not included", h_photo: "not included"}

    # With files, while the photo's bytes were altered in Alice's home: the bill is carried, the photo is not.
    tamper(home, h_photo)
    out = pact(home, "export", cid, "-o", str(tmp_path / "full.pact"), "--html", str(tmp_path / "r.html"),
               "--with-files").stdout
    assert "not included: letter.jpg" in out
    verdict = pact(home, "verify", str(tmp_path / "full.pact")).stdout
    assert "VALID" in verdict and f"attachment bill.pdf (application/pdf, 23 B, sha256 {h_bill}): included" in verdict
    assert "letter.jpg" in verdict and "not included in this file" in verdict
    html = (tmp_path / "r.html").read_text()
    assert "Attachments" in html and h_bill in html and h_photo in html and "not included in the evidence" in html


def test_bytes_in_evidence_that_do_not_match_their_hash_make_it_invalid(make_party, tmp_path):
    (alice, a), (_, b) = make_party(tmp_path, "Alice"), make_party(tmp_path, "BT", "BT")
    cid = shared_contract([a, b], roles=("customer", "supplier"))
    from pactclient.store.attachments import attach_file

    f = tmp_path / "bill.pdf"
    f.write_bytes(b"the real bill")
    digest = attach_file(a, cid, f).ref
    body = export.build_body(a, cid, with_files=True)
    assert body["files"] == [[bytes.fromhex(digest), b"the real bill"]]
    good = verify_bytes(fileformat.pack(fileformat.canonical(body), alice.public_key, alice.sign))
    assert good.valid and good.attachments[0]["status"] == "included"
    body["files"][0][1] = b"a better bill"  # re-signed by the exporter: the signature holds, the hash does not
    bad = verify_bytes(fileformat.pack(fileformat.canonical(body), alice.public_key, alice.sign))
    assert not bad.valid and any("altered" in f for f in bad.failures)
    assert bad.attachments[0]["status"] == "altered"
    assert "ALTERED" in render(bad)
