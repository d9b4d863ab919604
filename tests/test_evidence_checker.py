"""A third party's checks, without pactclient: the independent checker (tests/independent_checker.py) and
the standard-tools recipe of docs/evidence.md, run exactly as written there, on genuine and forged files."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest

from conftest import exchange, shared_contract
from evidence_forgery import body_of, forge, resign
from pactclient.evidence import encode, verify_bytes
from pactclient.identity import DeviceIdentity
from pactclient.model import actions

TESTS = Path(__file__).parent
HOUR = 3_600_000


@pytest.fixture
def world(tmp_path, make_party):
    """Alice and BT with one agreed version countersigned by both; the 24 h callback is 30 h overdue."""
    alice, wa = make_party(tmp_path, "Alice")
    priya, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb], roles=("customer", "supplier"))
    outcome = wb.act(cid, actions.propose, "change_due", {"id": "fix", "due": wb.clock.now + 9 * 24 * HOUR}, "parts")
    exchange(wb, wa, cid)
    wa.act(cid, actions.answer, outcome.ref, True)
    exchange(wa, wb, cid)
    wb.act(cid, actions.note, "thanks")
    exchange(wb, wa, cid)
    wa.clock.advance(30 * HOUR)
    return {"wa": wa, "cid": cid, "alice": alice, "priya": priya, "file": encode(wa, cid)}


def _run_checker(path: Path) -> subprocess.CompletedProcess:
    """The checker in a fresh interpreter where importing pactclient fails, so it cannot lean on it."""
    code = ("import runpy, sys; sys.modules['pactclient'] = None; sys.argv = ['checker', sys.argv[1]]; "
            f"runpy.run_path({str(TESTS / 'independent_checker.py')!r}, run_name='__main__'); "
            "assert not [m for m in sys.modules if m.startswith('pactclient') and sys.modules[m]]")
    return subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)


def test_the_independent_checker_runs_without_pactclient(world, tmp_path):
    genuine, tampered = tmp_path / "genuine.pact", tmp_path / "tampered.pact"
    genuine.write_bytes(world["file"])
    bad = bytearray(world["file"])
    bad[len(bad) // 2] ^= 0x01
    tampered.write_bytes(bytes(bad))
    good, wrong = _run_checker(genuine), _run_checker(tampered)
    assert (good.returncode, good.stdout.strip()) == (0, "valid"), good.stderr
    assert (wrong.returncode, wrong.stdout.strip()) == (0, "invalid"), wrong.stderr


def test_independent_checker_agrees_with_pact_verify(world, tmp_path):
    from independent_checker import independent_check

    data, wa = world["file"], world["wa"]
    body = msgpack.unpackb(data[52:-68], raw=False)
    assert [len(a["countersignatures"]) for a in body["agreements"]] == [2]
    assert independent_check(data) and verify_bytes(data).valid
    rng = random.Random(7)
    for _ in range(200):
        mutated = bytearray(data)
        mutated[rng.randrange(len(mutated))] ^= rng.randrange(1, 256)
        assert independent_check(bytes(mutated)) is False
        assert verify_bytes(bytes(mutated)).valid is False
    # Lies signed by the exporter itself: both must look inside.
    stranger = DeviceIdentity.create(tmp_path / "mallory", "Mallory")
    genuine = body_of(wa, world["cid"])
    lies = [resign(forge(genuine, stranger.public_key, stranger), wa.identity),
            resign(forge(genuine, world["priya"].public_key, world["alice"]), wa.identity),
            resign(dict(genuine, heads=genuine["heads"][1:]), wa.identity)]
    for lie in lies:
        assert independent_check(lie) is False and verify_bytes(lie).valid is False


def recipe_steps() -> dict[str, str]:
    """The shell blocks of docs/evidence.md's "Checking a file with standard tools", by their first line."""
    text = (TESTS.parent / "docs" / "evidence.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    return {b.split("\n", 1)[0][2:]: b for b in blocks if b.startswith("# ")}


def run_recipe(data: bytes, work: Path, steps: tuple[str, ...] = ("step 1", "step 2", "step 3", "step 4"),
               files: dict[str, bytes] | None = None, stop_at_failure: bool = True) -> subprocess.CompletedProcess:
    """Run the documented steps, as written, in an empty directory holding the file as case.pact.

    ``stop_at_failure=False`` runs every line whatever failed, as a person pasting the blocks would."""
    blocks = recipe_steps()
    work.mkdir()
    (work / "case.pact").write_bytes(data)
    for name, content in (files or {}).items():
        (work / name).write_bytes(content)
    script = ("set -e\n" if stop_at_failure else "") + "".join(blocks[s] for s in steps)
    # The recipe's python3 is one with msgpack and automerge: this interpreter's.
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run(["bash", "-c", script], cwd=work, capture_output=True, text=True, env=env, timeout=120)


needs_tools = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("openssl", "xxd", "base32", "cmp")),
    reason="the documented recipe needs openssl, xxd, base32 and cmp, and one of them is not installed")


@needs_tools
def test_the_documented_recipe_passes_a_genuine_file_and_shows_the_broken_promise(world, tmp_path):
    proc = run_recipe(world["file"], tmp_path / "genuine")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "Signature Verified Successfully" in out and "structure OK" in out
    assert world["alice"].fingerprint in out  # step 1 prints the exporter's fingerprint
    changes = len(msgpack.unpackb(world["file"][52:-68], raw=False)["signatures"])
    assert f"{changes + 3} signatures checked, 0 bad" in out and "ALL CHECKS PASSED" in out
    assert re.search(r"activity callback: 'Call the customer back', supplier, .* — PAST DUE when exported", out)
    assert "supplier: thanks" in out


@needs_tools
def test_the_documented_recipe_fails_tampered_and_forged_files(world, tmp_path):
    wa, cid = world["wa"], world["cid"]
    genuine = body_of(wa, cid)
    stranger = DeviceIdentity.create(tmp_path / "mallory", "Mallory")
    tampered = bytearray(world["file"])
    tampered[60] ^= 0x01
    countersigned = genuine["agreements"][0]["countersignatures"]
    cases = {
        # one changed byte: the exporter's signature fails in step 1
        "tampered": (bytes(tampered), "Signature Verification Failure"),
        # a change by a stranger, signed by the stranger, vouched for by the exporter: step 2
        "outsider": (resign(forge(genuine, stranger.public_key, stranger), wa.identity), "not a party's"),
        # a change in BT's name signed with Alice's key: step 3
        "impostor": (resign(forge(genuine, world["priya"].public_key, world["alice"]), wa.identity),
                     "BAD SIGNATURE: sigs/change-"),
        # a countersignature whose signature was altered: step 3
        "countersignature": (resign(dict(genuine, agreements=[dict(
            genuine["agreements"][0],
            countersignatures=[dict(countersigned[0], signature=bytes(64))] + countersigned[1:])]), wa.identity),
            "BAD SIGNATURE: sigs/agreement-1-"),
    }
    for name, (data, expected) in cases.items():
        assert not verify_bytes(data).valid, name
        proc = run_recipe(data, tmp_path / name)
        assert proc.returncode != 0, (name, proc.stdout)
        assert "ALL CHECKS PASSED" not in proc.stdout, name
        assert expected in proc.stdout + proc.stderr, (name, proc.stdout, proc.stderr)
        if name in ("tampered", "impostor"):  # pasted by hand, every line running on after a failure
            pasted = run_recipe(data, tmp_path / f"{name}-pasted", stop_at_failure=False)
            assert "NOT VALID" in pasted.stdout and "ALL CHECKS PASSED" not in pasted.stdout, (name, pasted.stdout)
