"""The `pact` command driven end to end, as a user would: three homes on one machine, bundles between them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACT = [sys.executable, "-m", "pactclient"]


def pact(home: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PACT_HOME"}
    proc = subprocess.run([*PACT, "--home", str(home), *args], capture_output=True, text=True, env=env, timeout=60)
    if ok and proc.returncode != 0:
        raise AssertionError(f"pact {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def pact_json(home: Path, *args: str):
    return json.loads(pact(home, *args, "--json").stdout)


def test_three_parties_agree_a_renegotiation_by_bundles(tmp_path):
    alice, bt, ombud = tmp_path / "alice", tmp_path / "bt", tmp_path / "ombud"
    pact(alice, "init", "--name", "Alice")
    pact(bt, "init", "--name", "Priya", "--org", "BT")
    pact(ombud, "init", "--name", "Sam", "--org", "Ombudsman")
    key_bt = pact_json(bt, "whoami")["public_key"]
    key_om = pact_json(ombud, "whoami")["public_key"]

    cid = pact_json(alice, "new", "Mail re-downloads", "--template", "broadband-fault")["id"]
    short = cid[:8]
    def send(src, *dsts, name="x.bundle"):
        pact(src, "bundle", "export", short, "-o", str(tmp_path / name))
        for home in dsts:
            pact(home, "bundle", "import", str(tmp_path / name))

    # Alice adds BT alone (nobody else has a key yet); BT joins, accepting the terms as they stand.
    assert "applied" in pact(alice, "party", "add", short, "--key", key_bt, "--name", "Priya", "--org", "BT",
                             "--role", "supplier").stdout
    pact(alice, "item", "set", short, "account", "01234-567")
    pact(alice, "bundle", "export", short, "-o", str(tmp_path / "1.bundle"))
    assert pact_json(bt, "bundle", "import", str(tmp_path / "1.bundle"))["admitted"] == 3
    assert pact_json(bt, "show", short)["offered_to"] == ["supplier"]
    assert "accepted the terms" in pact(bt, "join", short).stdout
    send(bt, alice, name="1b.bundle")
    # From now on BT has a say in who else joins: adding the ombudsman waits for BT.
    out = pact(alice, "party", "add", short, "--key", key_om, "--name", "Sam", "--org", "Ombudsman",
               "--role", "coordinator").stdout
    assert "waiting on BT" in out
    send(alice, bt, ombud, name="1c.bundle")
    added = [p for p in pact_json(bt, "show", short)["proposals"] if p["state"] == "open"][0]
    pact(bt, "accept", short, added["id"])
    send(bt, alice, ombud, name="1d.bundle")
    pact(ombud, "join", short)
    send(ombud, alice, bt, name="1e.bundle")
    assert pact_json(alice, "show", short)["offered_to"] == []

    pact(bt, "activity", "start", short, "callback")
    out = pact(bt, "propose", short, "due", "diagnose", "5d", "--why", "an engineer must visit").stdout
    assert "waiting on" in out
    pact(bt, "bundle", "export", short, "-o", str(tmp_path / "2.bundle"))
    for home in (alice, ombud):
        pact(home, "bundle", "import", str(tmp_path / "2.bundle"))
    proposal = [p for p in pact_json(alice, "show", short)["proposals"] if p["state"] == "open"][0]
    assert proposal["waiting_for"] == ["coordinator", "customer"]

    pact(alice, "accept", short, proposal["id"])
    pact(alice, "bundle", "export", short, "-o", str(tmp_path / "3.bundle"))
    pact(ombud, "bundle", "import", str(tmp_path / "3.bundle"))
    assert "now in force" in pact(ombud, "accept", short, proposal["id"], "--why", "fair").stdout
    pact(ombud, "bundle", "export", short, "-o", str(tmp_path / "4.bundle"))
    for home in (alice, bt):
        pact(home, "bundle", "import", str(tmp_path / "4.bundle"))

    views = [pact_json(home, "show", short) for home in (alice, bt, ombud)]
    for v in views:
        assert [p["state"] for p in v["proposals"] if p["id"] == proposal["id"]] == ["applied"]
        assert {c["author"] for c in v["changes"]} == {"customer", "supplier", "coordinator"}
        assert all(c["signature_verified"] for c in v["changes"])
        # 13 edits (the set-up: create, add BT, set an item, BT joins, add Sam, BT accepts, Sam joins;
        # then start, propose, two acceptances), BT's countersignature of Sam's addition written with
        # BT's next change, and the coordinator's countersignature of the deadline, written with its
        # accepting answer (the others countersign on their next write).
        assert len(v["changes"]) == 14
        assert [t["kind"] for t in v["timeline"]].count("agreement") == 3
    # Every copy shows the same contract (only "me" differs).
    strip = lambda v: {k: val for k, val in v.items() if k not in ("me", "scorecard")}
    assert strip(views[0]) == strip(views[1]) == strip(views[2])
    listing = pact_json(bt, "list")
    assert listing[0]["id"] == cid and listing[0]["my_turn"]


def test_commands_before_init_give_a_one_line_hint(tmp_path):
    proc = pact(tmp_path / "nobody", "list", ok=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert "pact init" in proc.stderr


def test_usage_errors_exit_2_and_refusals_exit_1_and_write_nothing(tmp_path):
    home = tmp_path / "a"
    pact(home, "init", "--name", "Alice")
    cid = pact_json(home, "new", "Bill", "--template", "billing-dispute")["id"][:8]
    before = pact_json(home, "show", cid)

    typo = pact(home, "activty", "list", ok=False)
    assert typo.returncode == 2 and typo.stderr.count("\n") == 1 and "No such command" in typo.stderr
    bad_time = pact(home, "activity", "add", cid, "Call", "--assignee", "supplier", "--due", "tomorrowish", ok=False)
    assert bad_time.returncode == 2 and "not a time" in bad_time.stderr
    not_owner = pact(home, "item", "set", cid, "balance", "--amount", "250", "--owed-by", "supplier",
                     "--owed-to", "customer", ok=False)
    assert not_owner.returncode == 1 and "only supplier" in not_owner.stderr
    unknown = pact(home, "show", "zzzz", ok=False)
    assert unknown.returncode == 1 and "no contract matches" in unknown.stderr
    bad_key = pact(home, "party", "add", cid, "--key", "abc", "--name", "X", "--role", "supplier", ok=False)
    assert bad_key.returncode == 2 and "64 hex" in bad_key.stderr
    garbage = tmp_path / "garbage.bundle"
    garbage.write_bytes(b"\x00not a bundle")
    bad_bundle = pact(home, "bundle", "import", str(garbage), ok=False)
    assert bad_bundle.returncode == 1 and "not a pact bundle" in bad_bundle.stderr
    nowhere = pact(home, "bundle", "export", cid, "-o", str(tmp_path / "no" / "x.bundle"), ok=False)
    assert nowhere.returncode == 2 and nowhere.stderr.count("\n") == 1 and "there is no directory" in nowhere.stderr

    after = pact_json(home, "show", cid)
    for view in (before, after):
        view["scorecard"].pop("age_ms")
    assert after == before


def test_init_twice_is_refused_and_key_is_private(tmp_path):
    home = tmp_path / "a"
    pact(home, "init", "--name", "Alice", "--org", "Home")
    assert (home / "device.key").stat().st_mode & 0o777 == 0o600
    again = pact(home, "init", "--name", "Mallory", ok=False)
    assert again.returncode == 1 and "already has an identity" in again.stderr
    who = pact_json(home, "whoami")
    assert who["name"] == "Alice" and who["org"] == "Home" and len(who["public_key"]) == 64
    assert who["fingerprint"].startswith(who["short_fingerprint"])


def test_templates_listed_and_own_template_file_used(tmp_path):
    names = {t["name"] for t in pact_json(tmp_path, "templates")}
    assert {"broadband-fault", "billing-dispute", "cancel-on-move", "service-activation"} <= names
    home = tmp_path / "a"
    pact(home, "init", "--name", "Alice")
    own = tmp_path / "mine.toml"
    own.write_text('name = "mine"\n[[parties]]\nrole = "customer"\n[[parties]]\nrole = "supplier"\n'
                   '[[activities]]\nid = "reply"\ntitle = "Reply"\nassignee = "supplier"\ndue_in = "2h"\n')
    view = pact_json(home, "new", "Mine", "--template", str(own))
    assert [a["id"] for a in view["activities"]] == ["reply"]
    broken = tmp_path / "broken.toml"
    broken.write_text("[[parties]\n")
    proc = pact(home, "new", "Broken", "--template", str(broken), ok=False)
    assert proc.returncode == 1 and "not valid TOML" in proc.stderr
