"""A third party's checks, without pactclient: the independent checker (tests/independent_checker.py) and
the standard-tools recipe of docs/evidence.md, run exactly as written there, on genuine and forged files
(among them exports made after a key rotation, and changes Automerge writes deflated); and the
documented key file format (docs/cli.md, "The key files"), checked with openssl against `pact whoami`."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import msgpack
import pytest
from automerge.core import Document

from conftest import FIXED_NOW, FixedClock, exchange, shared_contract
from evidence_forgery import body_of, forge, resign
from independent_checker import _uleb, _uleb_bytes
from pactclient.evidence import encode, verify_bytes
from pactclient.identity import DeviceIdentity
from pactclient.model import actions
from pactclient.store import Workspace
from test_cli_flow import pact, pact_json

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


def recipe_steps(doc: str = "evidence.md") -> dict[str, str]:
    """The shell blocks of a page of docs/ that begin with a ``# name`` line, by that name."""
    text = (TESTS.parent / "docs" / doc).read_text()
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
    assert "BT: thanks" in out  # who wrote each entry: a party's own key names the party


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


LONG_NOTE = "Written with the old laptop. " + "The engineer found the line fault at the cabinet. " * 12


@pytest.fixture
def rotated(tmp_path, make_party):
    """Genuine exports made by `pact export` after `pact party rotate`: the customer's first key wrote the
    contract's first changes and accepted an agreed version, then the customer replaced it with its new
    laptop's key, which wrote on. One export is BT's, one the new laptop's."""
    alice, wa = make_party(tmp_path, "Alice")
    laptop_id, laptop = make_party(tmp_path, "Alice laptop")
    _, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb], roles=("customer", "supplier"))
    outcome = wb.act(cid, actions.propose, "change_due", {"id": "fix", "due": wb.clock.now + 9 * 24 * HOUR}, "parts")
    exchange(wb, wa, cid)
    wa.act(cid, actions.answer, outcome.ref, True)
    wa.act(cid, actions.note, LONG_NOTE)  # large enough for Automerge to write it as a deflated chunk
    exchange(wa, wb, cid)
    short = cid[:8]
    out = pact(wa.home, "party", "rotate", short, "--new-key", laptop_id.key_hex, "--why", "new laptop").stdout
    assert "applied" in out
    exchange(wa, wb, cid)
    exchange(wa, laptop, cid)
    laptop.act(cid, actions.note, "written with the new laptop")
    exchange(laptop, wb, cid)
    files = {}
    for name, ws in (("bt", wb), ("laptop", laptop)):
        path = tmp_path / f"{name}.pact"
        pact(ws.home, "export", short, "-o", str(path))
        files[name] = path.read_bytes()
        verdict = pact_json(ws.home, "verify", str(path))
        assert verdict["valid"], verdict
    body = msgpack.unpackb(files["bt"][52:-68], raw=False)
    authors = {c.actor_id for c in Document.load(body["document"]).get_changes([])}
    assert alice.public_key in authors and laptop_id.public_key in authors  # the former key wrote some of it
    customer = next(p for p in body["parties"] if p["id"] == "customer")
    assert customer["key"] == laptop_id.public_key
    return {"files": files, "alice": alice, "laptop": laptop_id,
            "by_former_key": sum(1 for c in Document.load(body["document"]).get_changes([])
                                 if c.actor_id == alice.public_key)}


def test_the_independent_checker_passes_exports_made_after_a_rotation(rotated):
    from independent_checker import independent_check

    for name, data in rotated["files"].items():
        assert independent_check(data), name


@needs_tools
def test_the_documented_recipe_passes_exports_made_after_a_rotation(rotated, tmp_path):
    for name, data in rotated["files"].items():
        proc = run_recipe(data, tmp_path / name)
        assert proc.returncode == 0, (name, proc.stdout + proc.stderr)
        assert "structure OK" in proc.stdout and "ALL CHECKS PASSED" in proc.stdout, name
        assert "written with the new laptop" in proc.stdout, name
    print(f"docs' steps 1-4 pass {len(rotated['files'])} of {len(rotated['files'])} exports made after a rotation, "
          f"{rotated['by_former_key']} changes in each by the former key")


@needs_tools
def test_the_documented_hash_definition_gives_automerge_hashes_of_plain_and_deflated_changes(rotated, tmp_path):
    data = rotated["files"]["bt"]
    changes = Document.load(msgpack.unpackb(data[52:-68], raw=False)["document"]).get_changes([])
    deflated = sum(1 for c in changes if c.bytes[8] == 2)
    assert deflated >= 1 and any(c.bytes[8] == 1 for c in changes)
    proc = run_recipe(data, tmp_path / "hashes", steps=("step 1", "change hashes"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(changes)} changes ({deflated} deflated): 0 hashes not as defined" in proc.stdout
    print(f"hash definition: {len(changes)} of {len(changes)} Automerge hashes recomputed, {deflated} from deflated chunks")
    # A hash over the chunk's whole bytes (magic and checksum included) is not the change's hash.
    assert all(hashlib.sha256(c.bytes).digest() != c.hash for c in changes)


def test_a_change_deflated_by_hand_keeps_the_documented_hash(rotated):
    """Deflate a plain change ourselves (not through the bindings' own encoder): Automerge loads the
    hand-made chunk under the hash the documented definition gives, and refuses it with a wrong checksum."""
    from independent_checker import change_hash

    changes = Document.load(msgpack.unpackb(rotated["files"]["bt"][52:-68], raw=False)["document"]).get_changes([])
    i = next(i for i, c in enumerate(changes) if c.bytes[8] == 2)
    plain = changes[i].raw_bytes
    assert plain[8] == 1 and change_hash(plain) == changes[i].hash
    length, start = _uleb(plain, 9)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = packer.compress(plain[start:start + length]) + packer.flush()
    by_hand = plain[:8] + b"\x02" + _uleb_bytes(len(packed)) + packed
    # (zlib may happen to produce the very bytes the bindings wrote; the hash must not depend on it)
    assert change_hash(by_hand) == changes[i].hash
    history = b"".join(c.bytes for c in changes[:i])
    assert Document.load(history + by_hand).get_heads() == [changes[i].hash]
    with pytest.raises(Exception, match="checksum"):
        Document.load(history + by_hand[:4] + bytes(4) + by_hand[8:])


def test_pact_verify_reads_former_keys_and_version_1_bodies(rotated, tmp_path):
    data = rotated["files"]["laptop"]
    body = msgpack.unpackb(data[52:-68], raw=False)
    laptop = next(p for p in body["parties"] if p["id"] == "customer")
    assert laptop["former_keys"] == [rotated["alice"].public_key]
    identity = rotated["laptop"]
    # A file written before former keys were listed (version 1) still verifies.
    old = dict(body, version=1, parties=[{k: v for k, v in p.items() if k != "former_keys"} for p in body["parties"]])
    assert verify_bytes(resign(old, identity)).valid
    # Former keys left out of a version 2 file, or an outsider's key slipped in: the list is a lie.
    stranger = DeviceIdentity.create(tmp_path / "mallory", "Mallory")
    for former in ([], [rotated["alice"].public_key, stranger.public_key]):
        lie = dict(body, parties=[dict(p, former_keys=former) if p["id"] == "customer" else p for p in body["parties"]])
        verdict = verify_bytes(resign(lie, identity))
        assert not verdict.valid and any("parties listed" in f for f in verdict.failures), verdict.failures


@needs_tools
def test_the_documented_key_file_format_matches_what_pact_init_writes(tmp_path):
    home = tmp_path / "home"
    pact(home, "init", "--name", "Zoë Example", "--org", "Acme")
    who = pact_json(home, "whoami")
    profile = (home / "identity.json").read_text(encoding="utf-8")
    assert json.loads(profile) == {"name": "Zoë Example", "org": "Acme", "public_key": who["public_key"]}
    assert profile.isascii() and "\\u00eb" in profile and profile.endswith("}\n")
    lines = (home / "device.key").read_bytes().split(b"\n")
    assert [len(line) for line in lines] == [27, 64, 25, 0]
    script = recipe_steps("cli.md")["key file"]
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run(["bash", "-c", "set -eo pipefail\n" + script], cwd=home, capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["600", "119", "302e020100300506032b657004220420", who["public_key"],
                                   who["fingerprint"]]
    # Widened permissions: the documented refusal, and nothing is done.
    (home / "device.key").chmod(0o640)
    refused = pact(home, "whoami", ok=False)
    assert refused.returncode == 1 and "is readable by others (mode 640); run: chmod 600" in refused.stderr


@pytest.fixture
def devices_case(tmp_path):
    """Genuine exports (by `pact export`) of a case between people on devices (tests/test_devices.py's
    world): BT is an organisation whose agents Priya and Raj write from certified laptops; Alice writes
    from her laptop (her party key) and her phone (certified by it) and accepts a new due date from the
    phone, so a device countersigns; Priya hands the case to Raj; BT's desk then revokes Priya's laptop.
    One export is Alice's laptop's, one Raj's (an agent's device)."""
    from pactclient.identity.party import init_org, revocation
    from pactclient.model import device_actions
    from test_devices import _case, _paired

    desk_id = init_org(tmp_path / "bt-desk", "BT", "BT desk", "desk", FIXED_NOW)
    w = {"desk": Workspace(tmp_path / "bt-desk", desk_id, FixedClock())}
    w["priya"] = _paired(tmp_path, desk_id, "Priya", "laptop", {"phone": "0800 800 150", "hours": "9-17"})[1]
    w["raj"] = _paired(tmp_path, desk_id, "Raj", "laptop", {"email": "raj@bt.example"})[1]
    laptop_id = DeviceIdentity.create(tmp_path / "alice-laptop", "Alice")
    w["laptop"] = Workspace(tmp_path / "alice-laptop", laptop_id, FixedClock())
    w["phone"] = _paired(tmp_path, laptop_id, "Alice", "phone")[1]
    try:
        laptop, phone, priya, raj, desk = (w[k] for k in ("laptop", "phone", "priya", "raj", "desk"))
        cid = _case(w)
        outcome = priya.act(cid, actions.propose, "change_due", {"id": "fix", "due": FIXED_NOW + 9 * 24 * HOUR},
                            "an engineer must visit")
        exchange(priya, laptop, cid)
        exchange(laptop, phone, cid)
        phone.act(cid, actions.answer, outcome.ref, True)
        phone.act(cid, actions.note, "sent from my phone")
        exchange(phone, laptop, cid)
        exchange(laptop, priya, cid)
        priya.act(cid, device_actions.hand_over, "Raj", {raj.identity.key_hex: {**raj.identity.delegation,
                                                                                "person": "Raj"}})
        exchange(priya, raj, cid)
        raj.act(cid, actions.note, "Line test booked for Tuesday")
        exchange(raj, desk, cid)
        desk.act(cid, device_actions.carry_revocation, revocation(desk.identity, priya.identity.key_hex, FIXED_NOW))
        exchange(desk, raj, cid)
        exchange(raj, laptop, cid)
        files = {}
        for name, ws in (("customer", laptop), ("agent", raj)):
            path = tmp_path / f"{name}.pact"
            pact(ws.home, "export", cid[:8], "-o", str(path))
            files[name] = path.read_bytes()
            assert verify_bytes(files[name]).valid, (name, verify_bytes(files[name]).failures)
        yield {"files": files, "cid": cid, "desk_id": desk_id, **w}
    finally:
        for ws in w.values():
            ws.close()


def _forged_delegations(case, tmp_path) -> dict[str, tuple[bytes, str]]:
    """Files a dishonest customer could sign: a new device writes with a delegation in BT's name whose
    signature was altered, or with one signed by a key that is no party's (an outsider who calls itself
    BT). By name: (file, what the recipe says)."""
    from pactclient.evidence import fileformat
    from pactclient.identity.party import certify, init_org
    from test_devices import _intro

    data = case["files"]["customer"]
    genuine = fileformat.decode_body(fileformat.unpack(data).body)
    eve = DeviceIdentity.create(tmp_path / "eve", "Eve")
    delegation, _ = certify(case["desk_id"], eve.public_key, "Eve", "laptop", FIXED_NOW)
    bent = "0" if delegation["signature"][0] != "0" else "1"
    flipped = dict(delegation, signature=bent + delegation["signature"][1:])
    outsider = init_org(tmp_path / "mallory", "BT", "Mallory", "laptop", FIXED_NOW)
    exporter = case["laptop"].identity
    return {
        "flipped": (resign(forge(genuine, eve.public_key, eve, _intro(eve, flipped)), exporter),
                    "BAD SIGNATURE: sigs/delegation-"),
        "outsider": (resign(forge(genuine, outsider.public_key, outsider, _intro(outsider)), exporter),
                     "which is not a listed party's"),
    }


def test_the_independent_checker_names_devices_and_refuses_forged_delegations(devices_case, tmp_path):
    from independent_checker import independent_check

    for name, data in devices_case["files"].items():
        assert independent_check(data), name
    for name, (data, _) in _forged_delegations(devices_case, tmp_path).items():
        assert not verify_bytes(data).valid, name
        assert independent_check(data) is False, name


@needs_tools
def test_the_documented_recipe_passes_a_devices_case_and_says_who_acted(devices_case, tmp_path):
    for name, data in devices_case["files"].items():
        proc = run_recipe(data, tmp_path / name)
        assert proc.returncode == 0, (name, proc.stdout + proc.stderr)
        out = proc.stdout
        assert "ALL CHECKS PASSED" in out and "4 certified devices" in out, (name, out)
        exporter = "Alice" if name == "customer" else "Raj (BT) on laptop"
        assert re.search(rf"'Broadband down', exported .* by {re.escape(exporter)}\n", out), (name, out)
        assert "problem owner for BT: Raj (BT) on laptop, raj@bt.example" in out
        assert re.search(r"device [A-Z2-7-]+: Priya \(BT\) on laptop, revoked by its party", out)
        assert "Alice on phone: sent from my phone" in out
        assert "Raj (BT) on laptop: Line test booked for Tuesday" in out
        assert "Priya (BT) on laptop: Raj (BT) owns this case now from Priya" in out
        assert "Alice: Alice opened the contract" in out  # the laptop writes with the customer's party key
    print(f"docs' steps 1-4 pass {len(devices_case['files'])} of {len(devices_case['files'])} exports of a case "
          "written from 5 devices of 2 parties")


@needs_tools
def test_the_documented_recipe_fails_forged_delegations(devices_case, tmp_path):
    for name, (data, expected) in _forged_delegations(devices_case, tmp_path).items():
        proc = run_recipe(data, tmp_path / name)
        assert proc.returncode != 0 and "ALL CHECKS PASSED" not in proc.stdout, (name, proc.stdout)
        assert expected in proc.stdout + proc.stderr, (name, proc.stdout, proc.stderr)
        pasted = run_recipe(data, tmp_path / f"{name}-pasted", stop_at_failure=False)
        assert "NOT VALID" in pasted.stdout and "ALL CHECKS PASSED" not in pasted.stdout, (name, pasted.stdout)
