#!/usr/bin/env python3
"""A supplier desk with two agents handing a case over, run with the real `pact` command.

BT runs one organisation: a desk (`pact org init`, then `pact serve`) whose key certifies each agent's
device. Priya and Raj pair their laptops with one-time codes. Priya opens Alice's case; the desk
invites Alice, who pins BT once — the organisation, not each agent. Priya goes on leave and hands the
case to Raj; Alice sees "Problem owner: Raj (BT)" with his contact details, and is asked nothing.
Raj works the case from his own laptop with the whole history. Finally the desk revokes Priya's
laptop, and Alice's copy refuses what it writes from then on.

    python examples/supplier_desk.py        # narrates each step; the homes stay for you to explore
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="pact-desk-"))
    desk, priya, raj, alice = (root / n for n in ("bt-desk", "priya", "raj", "alice"))

    def pact(home: Path, *args: str, show: bool = True, check: bool = True) -> str:
        cmd = [sys.executable, "-m", "pactclient", "--home", str(home), *args]
        if show:
            print(f"\n$ pact --home {home.name} " + " ".join(shlex.quote(a) for a in args))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 and check:
            print(proc.stderr, file=sys.stderr)
            raise SystemExit(proc.returncode)
        if show:
            print((proc.stdout + (proc.stderr if proc.returncode else "")).rstrip())
        return proc.stdout

    def step(text: str) -> None:
        print(f"\n=== {text}")

    def serve(home: Path) -> tuple[subprocess.Popen, str]:
        proc = subprocess.Popen([sys.executable, "-m", "pactclient", "--home", str(home), "serve", "--port", "0",
                                 "--invite-port", "0"], stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                return proc, json.loads((home / "serve.json").read_text())["address"]
            except (OSError, ValueError):
                time.sleep(0.05)
        raise SystemExit("pact serve did not start")

    step("BT creates its organisation once, at the desk, and keeps the desk running")
    pact(desk, "org", "init", "--name", "BT", "--phone", "0800 800 150")
    server, desk_at = serve(desk)
    try:
        step("The desk makes a one-time pairing code for each agent; each agent pairs a new laptop with it")
        for person, home, phone in (("Priya", priya, "0800 800 151"), ("Raj", raj, "0800 800 152")):
            code = pact(desk, "device", "add", "--person", person, "--device", "laptop", "--phone", phone,
                        "--hours", "Mon-Fri 9-17").strip()
            pact(home, "device", "pair", code)
        pact(desk, "device", "list")

        step("Priya opens Alice's case and gives it to the desk; the desk invites Alice, who joins")
        cid = json.loads(pact(priya, "new", "Mail keeps re-downloading", "--template", "broadband-fault", "--as",
                              "supplier", "--json", show=False))["id"]
        short = cid[:8]
        pact(priya, "sync", desk_at)
        pact(alice, "init", "--name", "Alice")
        pact(alice, "join", pact(desk, "invite", short, show=False).strip())
        pact(priya, "sync", desk_at)
        pact(alice, "sync", desk_at)
        pact(alice, "show", short)

        step("Priya is on leave: she hands the case to Raj. Nothing is asked of Alice")
        pact(priya, "owner", short, "Raj")
        pact(priya, "sync", desk_at)
        pact(raj, "sync", desk_at)
        pact(raj, "note", short, "Raj here: I own this now; line test booked for Tuesday.")
        pact(raj, "sync", desk_at)
        pact(alice, "sync", desk_at)
        pact(alice, "show", short)

        step("Priya's laptop is revoked at the desk; Alice's copy refuses what it writes from then on")
        pact(desk, "device", "revoke", "Priya", "--why", "laptop handed back")
        pact(alice, "sync", desk_at)
        pact(priya, "note", short, "written after the revocation")
        pact(priya, "sync", desk_at, check=False)
        pact(alice, "show", short, "--json", show=False)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    print(f"\nThe homes are in {root} (try: pact --home {alice} tui)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
