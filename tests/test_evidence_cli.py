"""`pact export`, `pact verify` and `pact report` driven as users would, in subprocesses: the customer
exports after a broken callback promise, and someone who never saw the contract checks the file."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACT = [sys.executable, "-m", "pactclient"]


def pact(home, *args, ok=True):
    env = {k: v for k, v in os.environ.items() if k != "PACT_HOME"}
    cmd = [*PACT, *(["--home", str(home)] if home else []), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    if ok and proc.returncode != 0:
        raise AssertionError(f"pact {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def key_of(home) -> str:
    return json.loads(pact(home, "whoami", "--json").stdout)["public_key"]


def test_a_broken_callback_exported_and_checked_by_someone_who_never_saw_the_contract(tmp_path):
    alice, bt, sam = tmp_path / "alice", tmp_path / "bt", tmp_path / "sam"
    pact(alice, "init", "--name", "Alice")
    pact(bt, "init", "--name", "Priya", "--org", "BT")
    pact(sam, "init", "--name", "Sam", "--org", "Ombudsman")
    cid = json.loads(pact(alice, "new", "Mail re-downloads", "--template", "broadband-fault", "--json").stdout)["id"][:8]
    # The CLI reads the real clock, so the 24 h that pass are stood in for by a callback due time in the
    # past, set while Alice is setting the contract up (no other party has a key yet).
    pact(alice, "propose", cid, "due", "callback", "2026-01-05T09:00", "--force")
    pact(alice, "party", "add", cid, "--key", key_of(bt), "--name", "Priya", "--org", "BT", "--role", "supplier")
    pact(alice, "note", cid, "Engineer said <b>Tuesday</b>")
    pact(alice, "bundle", "export", cid, "-o", str(tmp_path / "a1.bundle"))
    pact(bt, "bundle", "import", str(tmp_path / "a1.bundle"))
    pact(bt, "join", cid)  # BT accepts the terms as they stand, the past due time included
    pact(bt, "note", cid, "We will call you back within 24 hours")
    pact(bt, "propose", cid, "due", "diagnose", "5d", "--why", "an engineer must visit")
    pact(bt, "bundle", "export", cid, "-o", str(tmp_path / "b1.bundle"))
    pact(alice, "bundle", "import", str(tmp_path / "b1.bundle"))
    proposal = next(p["id"] for p in json.loads(pact(alice, "show", cid, "--json").stdout)["proposals"]
                    if p["state"] == "open")
    pact(alice, "accept", cid, proposal)

    evidence, page = tmp_path / "case.pact", tmp_path / "case.html"
    out = json.loads(pact(alice, "export", cid, "-o", str(evidence), "--html", str(page), "--json").stdout)
    stored = json.loads(pact(alice, "show", cid, "--json").stdout)["changes"]
    assert out["valid"] and out["changes"] == len(stored) and evidence.exists()

    # Sam's home has never seen the contract; the file is all Sam has.
    assert "No contracts yet" in pact(sam, "list").stdout
    shown = pact(sam, "verify", str(evidence)).stdout
    assert shown.startswith("VALID  Mail re-downloads")
    assert "exported" in shown and " by Alice," in shown
    assert "party supplier: Priya (BT), supplier" in shown
    assert "light red; broken commitments: 1" in shown
    assert re.search(r"broken: Call the customer back — BT, due 2026-01-05 09:00 UTC, not done when the file "
                     r"was exported, \d+ d \d+ h past due", shown)
    assert f"agreed version 1 ({proposal}): countersigned by Alice" in shown
    data = json.loads(pact(sam, "verify", str(evidence), "--json").stdout)
    assert data["valid"] and data["failures"] == [] and data["light"] == "red"
    assert [b["activity"] for b in data["broken_commitments"]] == ["callback"]
    assert "No contracts yet" in pact(sam, "list").stdout  # verifying imported nothing

    nobody = tmp_path / "recipient-has-nothing"
    assert pact(nobody, "verify", str(evidence)).stdout.startswith("VALID")
    assert not nobody.exists()

    html = page.read_text()
    assert "VERIFIED" in html and "Engineer said &lt;b&gt;Tuesday&lt;/b&gt;" in html
    assert re.search(r"<b>Call the customer back</b>: BT promised it by 2026-01-05 09:00 UTC", html)
    assert pact(sam, "report", str(evidence), "-o", str(tmp_path / "sam.html")).stdout.endswith("(verified)\n")

    # ...and, following docs/evidence.md, with openssl and a few lines of Python instead of pact.
    if not all(shutil.which(tool) for tool in ("openssl", "xxd", "base32", "cmp")):
        pytest.skip("openssl, xxd, base32 or cmp is not installed: the standard-tools check cannot run")
    from test_evidence_checker import run_recipe

    by_hand = run_recipe(evidence.read_bytes(), tmp_path / "by-hand")
    assert by_hand.returncode == 0 and "ALL CHECKS PASSED" in by_hand.stdout, by_hand.stdout + by_hand.stderr
    assert "activity callback: 'Call the customer back', supplier, due 2026-01-05 09:00 UTC, open — PAST DUE" \
        in by_hand.stdout

    tampered = bytearray(evidence.read_bytes())
    tampered[len(tampered) // 2] ^= 0x20
    (tmp_path / "bad.pact").write_bytes(bytes(tampered))
    bad = pact(nobody, "verify", str(tmp_path / "bad.pact"), ok=False)
    assert bad.returncode == 1 and bad.stdout.startswith("INVALID") and "failed:" in bad.stdout
    report = pact(nobody, "report", str(tmp_path / "bad.pact"), "-o", str(tmp_path / "bad.html"))
    assert "NOT VERIFIED" in report.stdout and "NOT VERIFIED" in (tmp_path / "bad.html").read_text()


@pytest.fixture(scope="module")
def genuine(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("genuine")
    pact(tmp / "a", "init", "--name", "Alice")
    cid = json.loads(pact(tmp / "a", "new", "Mail", "--template", "broadband-fault", "--json").stdout)["id"]
    pact(tmp / "a", "export", cid, "-o", str(tmp / "case.pact"))
    return tmp / "case.pact"


def _one_line_error(proc, code: int, words: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == "" and proc.stderr.startswith("pact: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert words in proc.stderr, proc.stderr


def test_verify_and_report_refuse_what_is_not_a_whole_evidence_file(tmp_path, genuine):
    data = genuine.read_bytes()
    (tmp_path / "empty.pact").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "half.pact").write_bytes(data[: len(data) // 2])
    (tmp_path / "header.pact").write_bytes(data[:30])
    (tmp_path / "longer.pact").write_bytes(data + b"\n")
    (tmp_path / "folder").mkdir()
    cases = [
        ("missing.pact", 1, "cannot read"),
        ("folder", 2, "is a directory"),
        ("empty.pact", 1, "is empty, not a pact evidence file"),
        ("notes.txt", 1, "not a pact evidence file"),
        ("half.pact", 1, "truncated"),
        ("header.pact", 1, "truncated"),
        ("longer.pact", 1, "length mismatch"),
    ]
    for name, code, words in cases:
        _one_line_error(pact(None, "verify", str(tmp_path / name), ok=False), code, words)
    for name, code, words in (cases[2], cases[4]):
        _one_line_error(pact(None, "verify", str(tmp_path / name), "--json", ok=False), code, words)
        _one_line_error(pact(None, "report", str(tmp_path / name), "-o", str(tmp_path / "r.html"), ok=False),
                        code, words)
    assert not (tmp_path / "r.html").exists()
    _one_line_error(pact(None, "report", str(genuine), "-o", str(genuine), ok=False), 2, "overwrite the evidence file")
    assert genuine.read_bytes() == data


def test_export_refuses_bad_targets_before_writing_anything(tmp_path):
    home = tmp_path / "a"
    pact(home, "init", "--name", "Alice")
    pact(home, "new", "Mail", "--template", "broadband-fault")
    cid = json.loads(pact(home, "list", "--json").stdout)[0]["id"]
    (tmp_path / "folder").mkdir()
    _one_line_error(pact(home, "export", cid, ok=False), 2, "-o FILE")
    _one_line_error(pact(home, "export", "nothing-like-it", "-o", str(tmp_path / "x.pact"), ok=False), 1,
                    "no contract matches")
    _one_line_error(pact(home, "export", cid, "-o", str(tmp_path / "folder"), ok=False), 2, "is a directory")
    _one_line_error(pact(home, "export", cid, "-o", str(tmp_path / "no" / "x.pact"), ok=False), 2,
                    "there is no directory")
    _one_line_error(pact(home, "export", cid, "-o", str(tmp_path / "x.pact"), "--html", str(tmp_path / "no" / "x.html"),
                         ok=False), 2, "there is no directory")
    _one_line_error(pact(home, "export", cid, "-o", str(tmp_path / "x"), "--html", str(tmp_path / "x"), ok=False), 2,
                    "different files")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "folder"]  # nothing written, not even half
