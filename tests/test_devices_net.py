"""People and devices end to end, as real `pact` processes on 127.0.0.1.

BT is an organisation with a desk (`pact serve`) and three agents, each on a device the desk
certified with a pairing code. Alice has a laptop (`pact serve`, the key of her party) and a phone
paired from it. Priya starts the case and hands it to Raj; Raj works it from his own home; Alice
sees one party, BT, whose named owner changed, and accepts nothing. Her phone and laptop both
write, one of them offline, and converge. The desk revokes Priya's device: Alice's copy refuses
what it writes after that, over the network. Alice's evidence verifies offline and names the people.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from test_net_cli import LIMIT, pact, wait_for_file


def _serve(home):
    proc = subprocess.Popen([sys.executable, "-m", "pactclient", "--home", str(home), "serve", "--port", "0",
                             "--invite-port", "0"], stderr=subprocess.PIPE, text=True)
    info = wait_for_file(home / "serve.json", proc)
    return proc, info["address"]


def _stop(proc):
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=LIMIT)
    assert proc.returncode == 0, err
    return err


def _show(home, cid):
    return json.loads(pact(home, "show", cid[:8], "--json").stdout)


def test_an_organisation_hands_a_case_over_and_a_customer_uses_two_devices(tmp_path):
    desk, laptop, phone = tmp_path / "bt-desk", tmp_path / "alice-laptop", tmp_path / "alice-phone"
    agents = {name: tmp_path / name for name in ("priya", "raj", "sam")}
    pact(desk, "org", "init", "--name", "BT", "--phone", "0800 800 150")
    pact(laptop, "init", "--name", "Alice")
    desk_proc, desk_at = _serve(desk)
    laptop_proc, laptop_at = _serve(laptop)
    try:
        for name, home in agents.items():
            code = pact(desk, "device", "add", "--person", name.title(), "--device", "laptop",
                        "--phone", f"0800 800 {len(name)}").stdout.strip()
            pact(home, "device", "pair", code)
        code = pact(laptop, "device", "add", "--person", "Alice", "--device", "phone").stdout.strip()
        pact(phone, "device", "pair", code)
        devices = json.loads(pact(desk, "device", "list", "--json").stdout)
        assert sorted(d["person"] for d in devices) == ["BT desk", "Priya", "Raj", "Sam"]

        # Priya starts the case; the desk invites Alice, who joins; Priya owns it.
        cid = json.loads(pact(agents["priya"], "new", "Broadband down", "--template", "broadband-fault", "--as",
                              "supplier", "--json").stdout)["id"]
        pact(agents["priya"], "sync", desk_at)
        pact(laptop, "join", pact(desk, "invite", cid[:8]).stdout.strip())
        pact(agents["priya"], "sync", desk_at)
        pact(laptop, "sync", desk_at)
        shown = _show(laptop, cid)
        bt = next(p for p in shown["parties"] if p["role"] == "supplier")
        assert bt["org"] == "BT" and bt["accepted"] and not shown["offered_to"]
        assert shown["problem_owner"]["person"] == "Priya"

        # Priya hands it to Raj (she learnt of him from the desk); Raj works it from his home.
        assert "Raj owns this case now" in pact(agents["priya"], "owner", cid[:8], "Raj").stdout
        pact(agents["priya"], "sync", desk_at)
        pact(agents["raj"], "sync", desk_at)
        pact(agents["raj"], "note", cid[:8], "Line test booked for Tuesday")
        pact(agents["raj"], "sync", desk_at)
        pact(laptop, "sync", desk_at)
        shown = _show(laptop, cid)
        assert shown["problem_owner"]["person"] == "Raj" and shown["problem_owner"]["contact"] == {"phone": "0800 800 3"}
        assert not [p for p in shown["proposals"] if p["state"] == "open"]  # Alice was asked nothing
        notes = {e["text"]: e["person"] for e in shown["timeline"]}
        assert notes["Line test booked for Tuesday"] == "Raj (BT)"
        assert [p["org"] or p["name"] for p in shown["parties"]] == ["Alice", "BT"]  # one party BT, not three
        assert "Raj" in pact(laptop, "show", cid[:8]).stdout.splitlines()[1]  # the owner comes first

        # Alice's phone and laptop both write, the phone offline; then they meet and agree.
        pact(phone, "sync", laptop_at)
        pact(phone, "note", cid[:8], "written on the bus")
        pact(laptop, "note", cid[:8], "written at home")
        pact(phone, "sync", laptop_at)
        on_phone, on_laptop = _show(phone, cid), _show(laptop, cid)
        assert on_phone["timeline"] == on_laptop["timeline"]
        texts = [e["text"] for e in on_laptop["timeline"]]
        assert "written on the bus" in texts and "written at home" in texts

        # The desk revokes Priya's device; Alice's copy refuses what it writes from then on.
        revoked = json.loads(pact(desk, "device", "revoke", "Priya", "--why", "left BT", "--json").stdout)
        assert revoked["contracts"] == [cid]
        pact(laptop, "sync", desk_at)
        assert any(d["person"] == "Priya" and d["revoked"] for d in _show(laptop, cid)["devices"])
        pact(agents["priya"], "note", cid[:8], "I still work here")
        refused = pact(agents["priya"], "sync", laptop_at, check=False)
        assert refused.returncode != 0, refused.stdout
        print("priya sync:", refused.stdout.strip(), "|", refused.stderr.strip())
        assert "I still work here" not in json.dumps(_show(laptop, cid))

        # Evidence from Alice's laptop: valid offline, naming who acted for whom on which device.
        out = tmp_path / "case.pact"
        pact(laptop, "export", cid[:8], "-o", str(out))
        verdict = json.loads(pact(tmp_path / "nobody", "verify", str(out), "--json").stdout)
        assert verdict["valid"], verdict["failures"]
        people = {a["person"] for a in verdict["authors"]}
        assert {"Priya (BT)", "Raj (BT)", "Alice"} <= people
        assert verdict["problem_owner"]["person"] == "Raj"
    finally:
        _stop(desk_proc)
        _stop(laptop_proc)
