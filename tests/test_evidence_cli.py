"""`pact export`, `pact verify` and `pact report` driven as a user would, in subprocesses."""

import json
import os
import subprocess
import sys
from pathlib import Path

PACT = [sys.executable, "-m", "pactclient"]


def pact(home, *args, ok=True):
    env = {k: v for k, v in os.environ.items() if k != "PACT_HOME"}
    cmd = [*PACT, *(["--home", str(home)] if home else []), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    if ok and proc.returncode != 0:
        raise AssertionError(f"pact {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def test_export_then_verify_by_someone_without_a_home(tmp_path):
    alice, bt = tmp_path / "alice", tmp_path / "bt"
    pact(alice, "init", "--name", "Alice")
    pact(bt, "init", "--name", "Priya", "--org", "BT")
    key_bt = json.loads(pact(bt, "whoami", "--json").stdout)["public_key"]
    cid = json.loads(pact(alice, "new", "Mail re-downloads", "--template", "broadband-fault", "--json").stdout)["id"][:8]
    pact(alice, "party", "add", cid, "--key", key_bt, "--name", "Priya", "--org", "BT", "--role", "supplier")
    pact(alice, "note", cid, "Engineer said <b>Tuesday</b>")

    evidence, page = tmp_path / "case.pact", tmp_path / "case.html"
    out = json.loads(pact(alice, "export", cid, "-o", str(evidence), "--html", str(page), "--json").stdout)
    assert out["valid"] and out["changes"] == 3 and evidence.exists()

    # The recipient has no pact home at all.
    nobody = tmp_path / "recipient-has-nothing"
    shown = pact(nobody, "verify", str(evidence))
    assert shown.stdout.startswith("VALID") and "Mail re-downloads" in shown.stdout
    assert "Priya (BT)" in shown.stdout and "light" in shown.stdout
    assert not nobody.exists()
    data = json.loads(pact(nobody, "verify", str(evidence), "--json").stdout)
    assert data["valid"] and data["title"] == "Mail re-downloads" and data["failures"] == []

    html = page.read_text()
    assert "VERIFIED" in html and "Engineer said &lt;b&gt;Tuesday&lt;/b&gt;" in html

    tampered = bytearray(evidence.read_bytes())
    tampered[len(tampered) // 2] ^= 0x20
    (tmp_path / "bad.pact").write_bytes(bytes(tampered))
    bad = pact(nobody, "verify", str(tmp_path / "bad.pact"), ok=False)
    assert bad.returncode == 1 and bad.stdout.startswith("INVALID") and "failed:" in bad.stdout
    report = pact(nobody, "report", str(tmp_path / "bad.pact"), "-o", str(tmp_path / "bad.html"))
    assert "NOT VERIFIED" in report.stdout and "NOT VERIFIED" in (tmp_path / "bad.html").read_text()


def test_bad_input_gives_one_line(tmp_path):
    home = tmp_path / "a"
    pact(home, "init", "--name", "Alice")
    missing = pact(home, "verify", str(tmp_path / "nope.pact"), ok=False)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "cannot read" in missing.stderr
    no_target = pact(home, "export", "abc", ok=False)
    assert no_target.returncode == 2 and "-o FILE" in no_target.stderr
    (tmp_path / "junk").write_bytes(b"hello")
    junk = pact(home, "verify", str(tmp_path / "junk"), ok=False)
    assert junk.returncode == 1 and "not a pact evidence file" in junk.stdout
