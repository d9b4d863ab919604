"""A tampered store: someone with write access to ``pact.db`` (not the device key) deletes this device's
newest changes, drops its record of them, or puts back an older copy of the whole file; and file modes.

The device must refuse to write (never reuse one of its own sequence numbers, which its peers would
record as an equivocation) until it gets its own changes back from a peer, the honest path.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys

import pytest

from pactclient.errors import StoreError
from pactclient.model import actions
from pactclient.store import Workspace
from pactclient.store.own_tail import FILE as OWN_TAIL_FILE

from conftest import exchange, shared_contract


def own_seqs(ws: Workspace, cid: str) -> dict[int, bytes]:
    return ws.store.seqs_of(cid, ws.identity.public_key)


def reopen(ws: Workspace) -> Workspace:
    ws.close()
    return Workspace(ws.home, ws.identity, ws.clock)


def tamper(ws: Workspace, *statements: str) -> None:
    """Rewrite the store with sqlite3 as an attacker would, the append-only triggers dropped first."""
    db = sqlite3.connect(ws.home / "pact.db")
    db.execute("DROP TRIGGER IF EXISTS changes_are_append_only_d")
    for sql in statements:
        db.execute(sql)
    db.commit()
    db.close()


@pytest.fixture
def pair(make_party, tmp_path):
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb], roles=("customer", "supplier"))
    for text in ("one", "two", "three"):
        wa.act(cid, actions.note, text)
    exchange(wa, wb, cid)
    return wa, wb, cid


def refused_then_recovered(wa: Workspace, wb: Workspace, cid: str, seqs_before: dict[int, bytes], match: str):
    """The next local write is refused with a clear error and writes nothing; syncing the contract back
    from the peer (a bundle, the same admission as sync) recovers, and the next write continues the
    device's own numbering, which the peer admits (no equivocation)."""
    kept = own_seqs(wa, cid)
    with pytest.raises(StoreError, match=match) as err:
        wa.act(cid, actions.note, "after the loss")
    assert "sync" in str(err.value) and "sequence numbers" in str(err.value)
    assert own_seqs(wa, cid) == kept  # nothing written, no number reused
    exchange(wb, wa, cid)  # the honest path: the peer gives this device's own changes back
    assert own_seqs(wa, cid) == seqs_before
    wa.act(cid, actions.note, "after recovery")
    assert max(own_seqs(wa, cid)) == max(seqs_before) + 1
    got = exchange(wa, wb, cid)
    assert len(got.admitted) == 1 and not wb.equivocations(cid)


def test_rows_deleted_from_the_end_are_noticed_before_writing(pair):
    wa, wb, cid = pair
    before = own_seqs(wa, cid)
    last = max(before)
    me = wa.identity.key_hex
    tamper(wa, f"DELETE FROM changes WHERE contract_id='{cid}' AND actor=x'{me}' AND seq>={last - 1}")
    wa = reopen(wa)
    assert max(own_seqs(wa, cid)) == last - 2
    refused_then_recovered(wa, wb, cid, before, "lost this device's own changes")
    wa.close()


def test_rows_deleted_while_the_workspace_is_open_are_noticed(pair):
    wa, wb, cid = pair
    before = own_seqs(wa, cid)
    me = wa.identity.key_hex
    tamper(wa, f"DELETE FROM changes WHERE contract_id='{cid}' AND actor=x'{me}' AND seq={max(before)}")
    refused_then_recovered(wa, wb, cid, before, "lost this device's own changes")


@pytest.mark.parametrize("how", ["row deleted", "table dropped", "row set back"])
def test_the_record_itself_cannot_be_removed_or_set_back(pair, how):
    wa, wb, cid = pair
    before = own_seqs(wa, cid)
    me = wa.identity.key_hex
    last = max(before)
    lose = f"DELETE FROM changes WHERE contract_id='{cid}' AND actor=x'{me}' AND seq={last}"
    erase = {"row deleted": f"DELETE FROM own_tails WHERE contract_id='{cid}'",
             "table dropped": "DROP TABLE own_tails",
             "row set back": f"UPDATE own_tails SET seq={last - 1}, hash=(SELECT hash FROM changes WHERE"
                             f" contract_id='{cid}' AND actor=x'{me}' AND seq={last - 1}) WHERE contract_id='{cid}'"}[how]
    tamper(wa, lose, erase)
    wa = reopen(wa)
    with pytest.raises(StoreError, match="own changes|altered"):
        wa.act(cid, actions.note, "after the loss")
    assert max(own_seqs(wa, cid)) == last - 1
    wa.close()


def test_an_older_copy_of_the_whole_store_is_noticed(pair, tmp_path):
    wa, wb, cid = pair
    wa.store.checkpoint()
    old = tmp_path / "old.db"
    shutil.copy(wa.home / "pact.db", old)  # the whole file, its record of own changes included
    wa.act(cid, actions.note, "four")
    exchange(wa, wb, cid)
    before = own_seqs(wa, cid)
    wa.close()
    for suffix in ("-wal", "-shm"):
        (wa.home / f"pact.db{suffix}").unlink(missing_ok=True)
    shutil.copy(old, wa.home / "pact.db")
    wa = Workspace(wa.home, wa.identity, wa.clock)
    refused_then_recovered(wa, wb, cid, before, "older copy of pact.db")
    wa.close()


def test_an_altered_own_tail_file_is_refused(pair):
    wa, _wb, cid = pair
    path = wa.home / OWN_TAIL_FILE
    path.write_text(path.read_text().replace('"total": ', '"total": 1'))
    with pytest.raises(StoreError, match="not this device's record"):
        wa.act(cid, actions.note, "x")


def test_a_store_from_before_the_record_is_trusted_once(pair):
    wa, _wb, cid = pair
    tamper(wa, "DROP TABLE own_tails")
    (wa.home / OWN_TAIL_FILE).unlink()
    wa = reopen(wa)
    wa.act(cid, actions.note, "first write after the upgrade")
    assert (wa.home / OWN_TAIL_FILE).exists()
    wa.close()


def test_home_and_store_are_private_under_umask_022(tmp_path):
    home = tmp_path / "home"
    script = (  # a process of its own: the umask is per process
        "import os, stat, sys; os.umask(0o022)\n"
        "from pactclient.identity import DeviceIdentity\n"
        "from pactclient.store import Workspace\n"
        "from pactclient import catalog\n"
        "home = sys.argv[1]\n"
        "ws = Workspace(home, DeviceIdentity.create(home, 'Alice'))\n"
        "ws.create('Mail', catalog.load('broadband-fault'), 'customer')\n"
        "for name in sorted(os.listdir(home)) + ['.']:\n"
        "    print(name, oct(stat.S_IMODE(os.stat(os.path.join(home, name)).st_mode)))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(home)], capture_output=True, text=True, check=True)
    modes = dict(line.split() for line in out.stdout.splitlines())
    assert modes["."] == "0o700"
    for name in ("pact.db", "pact.db-wal", "pact.db-shm", "device.key", OWN_TAIL_FILE):
        assert modes[name] == "0o600", (name, modes)


def test_a_home_made_readable_by_an_earlier_version_is_tightened(make_party, tmp_path):
    _, ws = make_party(tmp_path, "Alice")
    home = ws.home
    ws.close()
    os.chmod(home, 0o755)
    for name in ("pact.db", "pact.db-wal", "pact.db-shm"):
        if (home / name).exists():
            os.chmod(home / name, 0o644)
    ws = Workspace(home, ws.identity, ws.clock)
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(home) == 0o700
    for name in ("pact.db", "pact.db-wal", "pact.db-shm"):
        assert mode(home / name) == 0o600, name
    ws.close()
