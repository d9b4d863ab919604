"""The SQLite store and the workspace over it: durability rules, refusal of foreign or altered files."""

import sqlite3

import pytest

from pactclient import catalog
from pactclient.errors import IdentityError, NotInitialised, StoreError
from pactclient.identity import DeviceIdentity
from pactclient.model import actions
from pactclient.store import workspace as workspace_mod
from pactclient.store.workspace import Workspace


@pytest.fixture
def ws(tmp_path):
    identity = DeviceIdentity.create(tmp_path / "home", "Alice", "")
    w = Workspace(tmp_path / "home", identity)
    yield w
    w.close()


def test_foreign_and_corrupt_files_are_refused_and_left_untouched(tmp_path):
    identity = DeviceIdentity.create(tmp_path, "Alice", "")
    db = tmp_path / "pact.db"
    db.write_bytes(b"this is somebody's notes, not a database" * 100)
    before = db.read_bytes()
    with pytest.raises(StoreError, match="not a pact database or is corrupt"):
        Workspace(tmp_path, identity)
    assert db.read_bytes() == before

    db.unlink()
    other = sqlite3.connect(db)
    other.execute("CREATE TABLE recipes (name TEXT)")
    other.execute("INSERT INTO recipes VALUES ('soup')")
    other.commit()
    other.close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match="another application"):
        Workspace(tmp_path, identity)
    assert db.read_bytes() == before


def test_changes_are_append_only(ws):
    cid = ws.create("Fault", catalog.load("broadband-fault"), "customer")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        ws.store.db.execute("DELETE FROM changes")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        ws.store.db.execute("UPDATE changes SET signature = x'00'")
    assert ws.store.change_count(cid) == 1


def test_compaction_snapshot_reloads_and_detects_tampering(ws, tmp_path, monkeypatch):
    monkeypatch.setattr(workspace_mod, "SNAPSHOT_EVERY", 10)
    cid = ws.create("Fault", catalog.load("broadband-fault"), "customer")
    for i in range(25):
        ws.act(cid, actions.note, f"note {i}")
    assert ws.store.snapshot(cid) is not None
    heads = sorted(ws.document(cid).get_heads())

    fresh = Workspace(ws.home, ws.identity)
    assert sorted(fresh.document(cid).get_heads()) == heads
    assert [e.text for e in fresh.view(cid).timeline][-1] == "note 24"
    fresh.close()

    # Someone edits the snapshot behind pact's back: the next open notices.
    data, heads_blob, last, sig = ws.store.snapshot(cid)
    ws.store.db.execute("UPDATE snapshots SET signature=? WHERE contract_id=?", (bytes(64), cid))
    tampered = Workspace(ws.home, ws.identity)
    with pytest.raises(StoreError, match="not signed by this device"):
        tampered.document(cid)
    tampered.close()


def test_a_forged_row_in_the_store_is_detected_on_load(ws):
    cid = ws.create("Fault", catalog.load("broadband-fault"), "customer")
    ws.act(cid, actions.note, "genuine")
    # Insert a change signed with garbage directly into the database, bypassing admission.
    doc = ws.document(cid).fork()
    doc.set_actor(ws.identity.public_key)
    before = doc.get_heads()
    actions.note(doc, actions.Actor(ws.identity.key_hex, ws.clock()), "forged")
    change = doc.get_changes(before)[0]
    with ws.store.write():
        ws.store.add_change(cid, change.hash, change.actor_id, change.seq, change.bytes, bytes(64), 0)
    reopened = Workspace(ws.home, ws.identity)
    with pytest.raises(StoreError, match="signature does not verify"):
        reopened.document(cid)
    reopened.close()


def test_summary_index_lists_without_loading_documents(ws, monkeypatch):
    for i in range(3):
        ws.create(f"Contract {i}", catalog.load("billing-dispute"), "customer")
    calls = []
    monkeypatch.setattr(Workspace, "_load", lambda self, cid: calls.append(cid))
    rows = ws.summaries()
    assert sorted(r["title"] for r in rows) == ["Contract 0", "Contract 1", "Contract 2"]
    assert all(r["turn"] == ["supplier"] for r in rows)
    assert calls == []


def test_prefix_resolution(ws):
    cid = ws.create("Fault", catalog.load("broadband-fault"), "customer")
    assert ws.resolve(cid[:6]) == cid
    assert ws.resolve(cid.upper()) == cid


def test_identity_files(tmp_path):
    with pytest.raises(NotInitialised, match="pact init"):
        DeviceIdentity.load(tmp_path)
    ident = DeviceIdentity.create(tmp_path, "Alice", "Home")
    assert DeviceIdentity.load(tmp_path).public_key == ident.public_key
    (tmp_path / "device.key").chmod(0o644)
    with pytest.raises(IdentityError, match="readable by others"):
        DeviceIdentity.load(tmp_path)


def test_truncated_database_is_detected_and_left_untouched(ws):
    cid = ws.create("Fault", catalog.load("broadband-fault"), "customer")
    for i in range(40):
        ws.act(cid, actions.note, "x" * 500 + str(i))
    ws.close()
    db = ws.home / "pact.db"
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])
    truncated = db.read_bytes()
    with pytest.raises(StoreError, match="corrupt"):
        Workspace(ws.home, ws.identity).document(cid)
    assert db.read_bytes() == truncated
