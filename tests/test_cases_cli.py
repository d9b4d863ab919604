"""Issue 15 through the `pact` command, two homes exchanging bundles: effort, recurrences and linked
cases, a known fault on many cases, complaints and compensation owed."""

from __future__ import annotations

from pathlib import Path

from test_cli_flow import pact, pact_json


def homes(tmp_path: Path):
    alice, bt = tmp_path / "alice", tmp_path / "bt"
    pact(alice, "init", "--name", "Alice")
    pact(bt, "init", "--name", "Raj", "--org", "BT")
    return alice, bt


def send(tmp_path: Path, src: Path, dst: Path, cid: str) -> None:
    out = tmp_path / f"{src.name}-{cid[:8]}.bundle"
    pact(src, "bundle", "export", cid, "-o", str(out), "--force")
    pact(dst, "bundle", "import", str(out))


def shared(tmp_path, alice, bt, title, *new_args, before_join=()):
    """A contract Alice opens (``new_args``: template, --follows), with BT added as supplier and joined.
    ``before_join``: commands Alice runs while she alone has a key (they apply at once)."""
    cid = pact_json(alice, "new", title, *new_args)["id"]
    for args in before_join:
        pact(alice, *[a.replace("CID", cid) for a in args])
    key = pact_json(bt, "whoami")["public_key"]
    pact(alice, "party", "add", cid, "--key", key, "--name", "Raj", "--org", "BT", "--role", "supplier")
    send(tmp_path, alice, bt, cid)
    pact(bt, "join", cid[:8])
    send(tmp_path, bt, alice, cid)
    return cid


def test_effort_recorded_by_customer_shows_in_both_scorecards(tmp_path):
    alice, bt = homes(tmp_path)
    cid = shared(tmp_path, alice, bt, "Training not activated", "--template", "service-activation")
    pact(alice, "effort", cid[:8], "--calls", "4", "--hours", "1.5", "--note", "transferred three times")
    pact(alice, "effort", cid[:8], "--visits", "3", "--hours", "2.5")
    pact(alice, "effort", cid[:8], "--calls", "1", "--channel", "chat")
    send(tmp_path, alice, bt, cid)
    for home in (alice, bt):
        card = pact_json(home, "show", cid[:8])["scorecard"]["customer_effort"]
        assert (card["calls"], card["visits"], card["hours"]) == (5, 3, 4.0)
        assert card["contacts_by_channel"] == {"phone": 4, "store": 3, "chat": 1, "email": 0}
    shown = pact(bt, "show", cid[:8]).stdout
    assert "Customer's effort" in shown and "Hours spent: 4 h" in shown and "phone 4, store 3, chat 1" in shown
    refused = pact(bt, "effort", cid[:8], "--calls", "9", ok=False)
    assert refused.returncode == 1 and "only a customer records effort" in refused.stderr
    assert refused.stderr.count("\n") == 1
    nothing = pact(alice, "effort", cid[:8], ok=False)
    assert nothing.returncode == 2 and "at least one" in nothing.stderr
    bad = pact(alice, "effort", cid[:8], "--hours", "lots", ok=False)
    assert bad.returncode == 2 and "not a number of hours" in bad.stderr
    assert pact_json(alice, "show", cid[:8])["scorecard"]["customer_effort"]["entries"] == 3


def test_recurrence_carries_the_earlier_case_into_view_in_both_homes(tmp_path):
    alice, bt = homes(tmp_path)
    first = shared(tmp_path, alice, bt, "Mail re-downloads", "--template", "broadband-fault")
    pact(alice, "note", first[:8], "POP server sends 18 months of mail again")
    send(tmp_path, alice, bt, first)
    second = shared(tmp_path, alice, bt, "Mail re-downloads again", "--follows", first[:8])
    for home in (alice, bt):
        data = pact_json(home, "show", second[:8])
        assert data["template"] == "broadband-fault"  # the recurrence starts from the earlier case's protocol
        (step,) = data["chain"]
        assert (step["relation"], step["contract"], step["held"]) == ("follows", first, True)
        assert "Mail re-downloads" in step["summary"]
        shown = pact(home, "show", second[:8]).stdout
        assert "Earlier cases" in shown and "18 months" in shown
    # A third case names the second: the chain runs two deep, through the cases this home holds.
    third = shared(tmp_path, alice, bt, "Third time", "--template", "broadband-fault")
    pact(alice, "link", third[:8], "--same-fault", second[:8])
    send(tmp_path, alice, bt, third)
    chain = pact_json(bt, "show", third[:8])["chain"]
    assert [(s["depth"], s["relation"], s["contract"]) for s in chain] == [(1, "same_fault", second), (2, "follows", first)]
    bad = pact(alice, "link", third[:8], "--follows", "nothing-like-an-id", ok=False)
    assert bad.returncode == 2 and "no contract matches" in bad.stderr and bad.stderr.count("\n") == 1
    both = pact(alice, "link", third[:8], ok=False)
    assert both.returncode == 2 and "--follows ID or --same-fault ID" in both.stderr


def test_supplier_marks_known_fault_on_many_cases_each_customer_sees_it(tmp_path):
    alice, bt = homes(tmp_path)
    bob = tmp_path / "bob"
    pact(bob, "init", "--name", "Bob")
    case_a = shared(tmp_path, alice, bt, "Mail again", "--template", "broadband-fault")
    case_b = shared(tmp_path, bob, bt, "Bob's mail", "--template", "broadband-fault")
    out = pact(bt, "fault", "mark", "POP server re-sends deleted mail", case_a[:8], case_b[:8]).stdout
    assert out.count("marked known fault") == 2
    send(tmp_path, bt, alice, case_a)
    send(tmp_path, bt, bob, case_b)
    for home, cid in ((alice, case_a), (bob, case_b)):
        (fault,) = pact_json(home, "show", cid[:8])["known_faults"]
        assert (fault["name"], fault["marked_by"]) == ("POP server re-sends deleted mail", "supplier")
        assert "Known fault: POP server re-sends deleted mail" in pact(home, "show", cid[:8]).stdout
    refused = pact(alice, "fault", "mark", "my own idea", case_a[:8], ok=False)
    assert refused.returncode == 2 and "nothing was marked" in refused.stderr


def test_complaint_and_compensation_from_the_cli(tmp_path):
    alice, bt = homes(tmp_path)
    # The booking and the slot were in the past: Alice moved them there while she alone had a key
    # (applied at once). Both: an activity is never due before what it depends on (effective deadlines).
    cid = shared(tmp_path, alice, bt, "Phone line", "--template", "installation",
                 before_join=[("propose", "CID", "due", "book", "2026-01-04T09:00", "--force"),
                              ("propose", "CID", "due", "install", "2026-01-05T09:00", "--force")])
    for home in (alice, bt):
        data = pact_json(home, "show", cid[:8])
        (owed,) = data["compensation_owed"]
        assert owed["display"] == "BT owes Alice £30.00" and owed["activity"] == "install"
        assert "Compensation owed: BT owes Alice £30.00" in pact(home, "show", cid[:8]).stdout
    not_broken = pact(alice, "complain", cid[:8], "confirm", ok=False)
    assert not_broken.returncode == 1 and "own commitment" in not_broken.stderr
    assert "Installations manager" in pact(alice, "complain", cid[:8], "install", "nobody came").stdout
    send(tmp_path, alice, bt, cid)
    (esc,) = pact_json(bt, "show", cid[:8])["escalations"]
    assert (esc["title"], esc["owner"], esc["person"], esc["status"]) == (
        "Rebook the missed installation", "supplier", "Installations manager", "open")
    assert esc["due"] - esc["opened_at"] == 48 * 3600 * 1000
    pact(bt, "complain", cid[:8], "install", "--answer", "rebooked for Monday")
    send(tmp_path, bt, alice, cid)
    (esc,) = pact_json(alice, "show", cid[:8])["escalations"]
    assert esc["status"] == "answered" and "rebooked for Monday" in esc["outcome"]


def test_effort_complaint_compensation_and_links_in_verify_and_report(tmp_path):
    alice, bt = homes(tmp_path)
    first = shared(tmp_path, alice, bt, "Line never installed", "--template", "installation")
    cid = shared(tmp_path, alice, bt, "Phone line, again", "--follows", first[:8],
                 before_join=[("propose", "CID", "due", "book", "2026-01-04T09:00", "--force"),
                              ("propose", "CID", "due", "install", "2026-01-05T09:00", "--force")])
    pact(alice, "effort", cid[:8], "--calls", "4", "--visits", "3", "--hours", "4", "--note", "store, then the 800 number")
    pact(alice, "complain", cid[:8], "install", "nobody came")
    send(tmp_path, alice, bt, cid)
    pact(bt, "fault", "mark", "Exchange out of capacity", cid[:8])
    evidence, page = tmp_path / "case.pact-evidence", tmp_path / "case.html"
    pact(bt, "export", cid[:8], "-o", str(evidence), "--html", str(page))
    data = pact_json(tmp_path / "nobody", "verify", str(evidence))
    assert data["valid"]
    assert data["customer_effort"]["calls"] == 4 and data["customer_effort"]["hours"] == 4.0
    assert data["customer_effort"]["contacts_by_channel"]["store"] == 3
    assert [c["display"] for c in data["compensation_owed"]] == ["BT owes Alice £30.00"]
    assert data["escalations"][0]["person"] == "Installations manager"
    assert data["links"][0]["contract"] == first and data["known_faults"][0]["name"] == "Exchange out of capacity"
    said = pact(tmp_path / "nobody", "verify", str(evidence)).stdout
    assert "compensation owed: BT owes Alice £30.00" in said and "customer's effort: 4 calls, 3 visits, 4.0 h" in said
    html = page.read_text()
    for shown in ("The customer's effort", "calls 4, visits 3, hours spent 4 h", "BT owes Alice £30.00",
                  "Rebook the missed installation", "Exchange out of capacity", "Line never installed"):
        assert shown in html, shown
