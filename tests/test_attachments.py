"""Attachments in one home and between homes by bundle: attach, list, get; the signed entry's checks on
receipt; oversized files refused; bytes altered on disk reported, never shown as genuine."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from automerge.core import ROOT

from pactclient.errors import AdmissionError, RefusedOperation, UsageError
from pactclient.model import attachments as model
from pactclient.model.amdoc import child, put_value
from pactclient.store.attachments import FileStore, attach_file, statuses

from conftest import copy_state, shared_contract
from forge import forged

PACT = [sys.executable, "-m", "pactclient"]


def pact(home: Path, *args: str, ok: bool = True, cwd=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PACT_HOME"}
    proc = subprocess.run([*PACT, "--home", str(home), *args], capture_output=True, text=True, env=env,
                          timeout=60, cwd=cwd)
    if ok and proc.returncode != 0:
        raise AssertionError(f"pact {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def tamper(home: Path, sha256: str, data: bytes = b"forged bill") -> None:
    path = FileStore(home).path(sha256)
    os.chmod(path, 0o600)
    path.write_bytes(data)


def test_attach_list_get_in_one_home_and_tampering_reported(tmp_path):
    home = tmp_path / "alice"
    pact(home, "init", "--name", "Alice")
    cid = json.loads(pact(home, "new", "Bill dispute", "--template", "billing-dispute", "--json").stdout)["id"]
    bill = tmp_path / "bill.pdf"
    bill.write_bytes(b"%PDF-1.4 the bill says credit balance 250\n")
    digest = hashlib.sha256(bill.read_bytes()).hexdigest()

    out = pact(home, "attach", cid[:8], str(bill)).stdout
    assert "attached bill.pdf" in out
    listed = json.loads(pact(home, "attachment", "list", cid[:8], "--json").stdout)
    assert [(a["name"], a["media_type"], a["size"], a["sha256"], a["status"]) for a in listed] == [
        ("bill.pdf", "application/pdf", bill.stat().st_size, digest, "present")]
    # The signed timeline says it too.
    assert any("attached bill.pdf" in e["text"] for e in json.loads(pact(home, "show", cid[:8], "--json").stdout)["timeline"])

    saved = tmp_path / "out"
    saved.mkdir()
    pact(home, "attachment", "get", cid[:8], "bill.pdf", "-o", str(saved))
    assert (saved / "bill.pdf").read_bytes() == bill.read_bytes()
    # By hash prefix, and never over an existing file without --force.
    refused = pact(home, "attachment", "get", cid[:8], digest[:10], "-o", str(saved / "bill.pdf"), ok=False)
    assert refused.returncode == 1 and "exists" in refused.stderr and "--force" in refused.stderr
    pact(home, "attachment", "get", cid[:8], digest[:10], "-o", str(saved / "bill.pdf"), "--force")

    tamper(home, digest)
    listed = json.loads(pact(home, "attachment", "list", cid[:8], "--json").stdout)
    assert listed[0]["status"] == "altered"
    assert "ALTERED" in pact(home, "attachment", "list", cid[:8]).stdout
    got = pact(home, "attachment", "get", cid[:8], "bill.pdf", "-o", str(tmp_path / "copy.pdf"), ok=False)
    assert got.returncode == 1 and "altered" in got.stderr and "Traceback" not in got.stderr
    assert not (tmp_path / "copy.pdf").exists()
    FileStore(home).path(digest).unlink()
    assert json.loads(pact(home, "attachment", "list", cid[:8], "--json").stdout)[0]["status"] == "missing"


def test_oversized_file_refused_at_attach_time_and_nothing_changes(tmp_path):
    home = tmp_path / "alice"
    pact(home, "init", "--name", "Alice")
    cid = json.loads(pact(home, "new", "Bill dispute", "--template", "billing-dispute", "--json").stdout)["id"]
    big = tmp_path / "video.mp4"
    with open(big, "wb") as f:
        f.truncate(model.MAX_ATTACHMENT_BYTES + 1)
    def timeline():
        return json.loads(pact(home, "show", cid[:8], "--json").stdout)["timeline"]

    before = timeline()
    out = pact(home, "attach", cid[:8], str(big), ok=False)
    assert out.returncode == 1 and "at most 10.0 MiB" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert timeline() == before
    bad_name = pact(home, "attach", cid[:8], str(tmp_path / "video.mp4"), "--name", "../etc/passwd", ok=False)
    assert bad_name.returncode == 2 and "path" in bad_name.stderr


def test_attachment_entry_checked_on_receipt(make_party, tmp_path):
    (_, a), (bt, b) = make_party(tmp_path, "Alice"), make_party(tmp_path, "BT", "BT")
    cid = shared_contract([a, b], roles=("customer", "supplier"))
    me = b.view(cid).party_by_key(bt.key_hex).id

    def entry(**fields):
        good = {"kind": "attachment", "author": me, "at": 1, "text": "x", "ref": "", "name": "bill.pdf",
                "media_type": "application/pdf", "size": 10, "sha256": "ab" * 32}
        good.update(fields)
        return lambda tx: put_value(tx, child(tx, ROOT, "timeline"), tx.length(child(tx, ROOT, "timeline")), good,
                                    insert=True)

    doc = b.document(cid)
    for bad, why in [(dict(sha256="xyz"), "hash"), (dict(size=model.MAX_ATTACHMENT_BYTES + 1), "over the limit"),
                     (dict(name="../../.bashrc"), "path"), (dict(media_type="pdf"), "media type")]:
        h, data, sig = forged(bt, doc, entry(**bad))
        before = copy_state(a, cid)
        with pytest.raises(AdmissionError, match=why):
            a.receive(cid, [data], {h: sig})
        assert copy_state(a, cid) == before
        # The same change by sync: BT's device takes it unchecked into its own copy, then syncs with Alice.
        from test_agreed import _by_sync

        people = {"bt": (bt, b), "alice": (None, a)}
        outcome = _by_sync(people, cid, "bt", a, [(h, data, sig)], tmp_path)
        assert isinstance(outcome, str) and "'attachment'" in outcome, outcome
        assert copy_state(a, cid) == before
    # The well-formed one enters, and is listed (its bytes not here yet).
    h, data, sig = forged(bt, doc, entry())
    a.receive(cid, [data], {h: sig})
    assert [(x.name, s) for x, s in statuses(a, cid)] == [("bill.pdf", "missing")]


def test_model_refuses_bad_attachments(make_party, tmp_path):
    _, a = make_party(tmp_path, "Alice")
    from pactclient import catalog

    cid = a.create("Bill", catalog.load("billing-dispute"), "customer")
    with pytest.raises(UsageError, match="hash"):
        a.act(cid, model.attach, "x.pdf", "application/pdf", 3, "nothex")
    f = tmp_path / "bill.txt"
    f.write_text("hello")
    attach_file(a, cid, f)
    with pytest.raises(RefusedOperation, match="already attached"):
        attach_file(a, cid, f, name="again.txt")


def test_attachment_crosses_a_bundle_and_bad_bytes_refuse_it(make_party, tmp_path):
    import msgpack

    from pactclient.errors import FormatError
    from pactclient.sync import bundle

    (_, a), (_, b) = make_party(tmp_path, "Alice"), make_party(tmp_path, "BT", "BT")
    cid = shared_contract([a, b], roles=("customer", "supplier"))
    shot = tmp_path / "line-test.png"
    shot.write_bytes(b"\x89PNG line test: sync lost at 02:14")
    digest = attach_file(a, cid, shot).ref

    path = tmp_path / "case.pact"
    bundle.write(a, cid, path)
    # A bundle whose file bytes do not match their hash is refused whole: not even its changes enter.
    obj = msgpack.unpackb(path.read_bytes(), raw=False)
    assert [f[0].hex() for f in obj["files"]] == [digest]
    obj["files"][0][1] = b"something else"
    bad = tmp_path / "bad.pact"
    bad.write_bytes(msgpack.packb(obj, use_bin_type=True))
    before = copy_state(b, cid)
    with pytest.raises(FormatError, match="does not match its SHA-256"):
        bundle.read(b, bad)
    assert copy_state(b, cid) == before and not FileStore(b.home).path(digest).exists()

    received = bundle.read(b, path)
    assert received.files == 1
    assert [(x.name, s) for x, s in statuses(b, cid)] == [("line-test.png", "present")]
    assert FileStore(b.home).read(digest) == shot.read_bytes()
    # An altered copy is never passed on: the next bundle carries no bytes for it.
    tamper(b.home, digest)
    assert "files" not in msgpack.unpackb(bundle.encode(b, cid), raw=False)
