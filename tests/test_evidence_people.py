"""Evidence names the people: the HTML report and `pact verify` of a case worked from several devices
say who owns the problem (with their certified contact), which person acted for which party from
which device, and which devices their party revoked. The case is tests/test_evidence_checker.py's
``devices_case``: exports by Alice's laptop and by Raj's laptop (an agent of the organisation BT)."""

from __future__ import annotations

from test_cli_flow import pact
from test_evidence import read_page
from test_evidence_checker import devices_case  # noqa: F401 (a fixture)

from pactclient.evidence import verify_bytes
from pactclient.evidence.report import render


def test_the_report_names_the_owner_the_devices_and_who_wrote_each_entry(devices_case):  # noqa: F811
    for name, data in devices_case["files"].items():
        seen = read_page(render(verify_bytes(data)))
        assert seen.verdict.startswith("VERIFIED"), name
        page = render(verify_bytes(data))
        # Near the top, before the broken commitments: who owns the problem and how to reach them.
        assert page.index("Problem owner:") < page.index("id=broken")
        assert "Raj (BT), laptop — raj@bt.example" in page
        devices = {(row[0], row[2]): row for row in seen.sections["Devices"][1:] if len(row) == 5}
        assert devices[("Priya", "laptop")][1] == "BT" and devices[("Priya", "laptop")][4] == "revoked by its party"
        assert devices[("Raj", "laptop")][3] == devices_case["raj"].identity.fingerprint
        assert devices[("Raj", "laptop")][4] == devices[("Alice", "phone")][4] == "no"
        written = {row[0]: row[1] for row in seen.sections["Devices"][1:] if len(row) == 2}
        assert written["Alice, phone"] == "4" and written["Raj (BT), laptop"] == "3"
        timeline = {row[3]: row for row in seen.sections["Timeline"][1:]}
        assert timeline["Line test booked for Tuesday"][4] == "signed by Raj (BT), laptop"
        assert timeline["sent from my phone"][4] == "signed by Alice, phone"
        assert timeline["Raj (BT) owns this case now from Priya"][4] == "signed by Priya (BT), laptop"
        assert any(row[4] == "signed by Alice" for row in timeline.values())  # the customer's party key
        exporter = "Alice" if name == "customer" else "Raj (BT), laptop"
        assert seen.sections[""][1][1].startswith(exporter), seen.sections[""]


def test_pact_verify_prints_the_people(devices_case, tmp_path):  # noqa: F811
    path = tmp_path / "agent.pact"
    path.write_bytes(devices_case["files"]["agent"])
    out = pact(tmp_path / "nohome", "verify", str(path)).stdout
    assert "by Raj (BT) on laptop, sha256" in out
    assert "problem owner: Raj (BT) on laptop — raj@bt.example" in out
    assert f"device {devices_case['priya'].identity.fingerprint}: Priya (BT) on laptop, revoked by its party" in out
    assert "4 change(s) by Alice on phone" in out and "3 change(s) by Raj (BT) on laptop" in out
