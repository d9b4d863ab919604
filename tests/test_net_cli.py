"""The commands a user types, as real processes: `pact serve` in one home, invite/join/sync from another."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

LIMIT = 30


def pact(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "pactclient", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=LIMIT)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def wait_until(check, what: str, proc: subprocess.Popen | None = None):
    """Poll ``check`` until it returns something truthy (returned), within LIMIT seconds."""
    deadline = time.monotonic() + LIMIT
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        assert proc is None or proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    raise AssertionError(f"{what} never happened")


def wait_for_file(path: Path, proc: subprocess.Popen) -> dict:
    def parsed() -> dict | None:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):  # not there yet, or caught half written
            return None
    return wait_until(parsed, f"{path} appearing", proc)


def test_serve_invite_join_sync_and_stop(tmp_path):
    sup, cus = tmp_path / "supplier", tmp_path / "customer"
    pact(sup, "init", "--name", "Priya", "--org", "BT")
    pact(cus, "init", "--name", "Alice")
    cid = json.loads(pact(sup, "new", "Mail re-downloads", "--template", "broadband-fault", "--as", "supplier",
                          "--json").stdout)["id"]
    server = subprocess.Popen([sys.executable, "-m", "pactclient", "--home", str(sup), "serve", "--port", "0",
                               "--invite-port", "0"], stderr=subprocess.PIPE, text=True)
    try:
        wait_for_file(sup / "serve.json", server)
        code = pact(sup, "invite", cid[:8]).stdout.strip()
        joined = pact(cus, "join", code)
        assert "joined Mail re-downloads" in joined.stdout
        again = pact(cus, "join", code, check=False)
        assert again.returncode == 1 and "you are already a party" in again.stderr
        pact(cus, "note", cid[:8], "Mail still re-downloads")
        out = pact(cus, "sync").stdout
        assert "sent 2 change" in out  # joining (accepting the terms), then the note
        pact(sup, "note", cid[:8], "Engineer booked for Tuesday")
        out = json.loads(pact(cus, "sync", "--json").stdout)
        assert out["changes"] and out["changes"][0]["contract"] == cid
        shown = json.loads(pact(cus, "show", cid[:8], "--json").stdout)
        assert "Engineer booked for Tuesday" in json.dumps(shown)
        peers = json.loads(pact(cus, "peers", "--json").stdout)
        assert peers[0]["name"] == "Priya" and peers[0]["last_seen"]
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=LIMIT)
    assert server.returncode == 0, err
    assert "stopped" in err and "admitted 2 change" in err
    assert not (sup / "serve.json").exists()


def wait_until_shown(home: Path, cid: str, text: str) -> None:
    wait_until(lambda: text in pact(home, "show", cid[:8]).stdout, f"{text!r} reaching {home.name}")


def test_two_serves_on_one_machine_keep_both_copies_in_step(tmp_path):
    """Both parties run `pact serve --port 0` on one machine; edits typed on either side reach the other."""
    sup, cus = tmp_path / "supplier", tmp_path / "customer"
    pact(sup, "init", "--name", "Priya", "--org", "BT")
    pact(cus, "init", "--name", "Alice")
    cid = json.loads(pact(sup, "new", "Mail re-downloads", "--template", "broadband-fault", "--as", "supplier",
                          "--json").stdout)["id"]
    servers = []
    try:
        for home in (sup, cus):
            if home == cus:
                pact(cus, "join", pact(sup, "invite", cid[:8]).stdout.strip())
            # No --invite-port: with --port 0 the invite listener takes any free port, so two homes don't clash.
            servers.append(subprocess.Popen([sys.executable, "-m", "pactclient", "--home", str(home), "serve",
                                             "--port", "0"], stderr=subprocess.PIPE, text=True))
            wait_for_file(home / "serve.json", servers[-1])
        pact(sup, "note", cid[:8], "Engineer booked for Tuesday")
        wait_until_shown(cus, cid, "Engineer booked for Tuesday")
        pact(cus, "note", cid[:8], "Tuesday suits me")
        wait_until_shown(sup, cid, "Tuesday suits me")
        views = [json.loads(pact(h, "show", cid[:8], "--json").stdout) for h in (sup, cus)]
        # Same changes by the same authors; the joiner holds some as vouched for by a later signature.
        sup_changes, cus_changes = ([(c["hash"], c["author_key"]) for c in v["changes"]] for v in views)
        assert sorted(sup_changes) == sorted(cus_changes)
        assert all(c["signature_verified"] for c in views[0]["changes"])
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
            server.communicate(timeout=LIMIT)
    assert [s.returncode for s in servers] == [0, 0]
