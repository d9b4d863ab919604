#!/usr/bin/env python3
"""A guided two-party case, run with the real `pact` command in two temporary homes.

Alice's broadband mail server keeps re-downloading 18 months of mail. She opens a contract from the
broadband-fault template, adds BT's agent Priya by her public key, and the two exchange bundle files
(the e-mail route). Priya takes ownership, asks for more time through a proposal, Alice accepts, and
both copies end up identical, every change signed.

    python examples/two_party.py            # narrates each step, then leaves the homes for you to explore
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="pact-example-"))
    alice, bt = root / "alice", root / "bt"

    def pact(home: Path, *args: str, show: bool = True) -> str:
        cmd = [sys.executable, "-m", "pactclient", "--home", str(home), *args]
        if show:
            print(f"\n$ pact --home {home.name} " + " ".join(shlex.quote(a) for a in args))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            raise SystemExit(proc.returncode)
        if show:
            print(proc.stdout.rstrip())
        return proc.stdout

    def step(text: str) -> None:
        print(f"\n=== {text}")

    step("Each party creates its own identity: an Ed25519 key kept in its own home")
    pact(alice, "init", "--name", "Alice")
    pact(bt, "init", "--name", "Priya", "--org", "BT")
    bt_key = json.loads(pact(bt, "whoami", "--json", show=False))["public_key"]

    step("Alice opens a contract from the broadband-fault template and adds BT by its public key")
    cid = json.loads(pact(alice, "new", "Mail keeps re-downloading", "--template", "broadband-fault", "--json", show=False))["id"]
    short = cid[:8]
    print(f"(contract {cid})")
    pact(alice, "party", "add", short, "--key", bt_key, "--name", "Priya", "--org", "BT", "--role", "supplier")
    pact(alice, "item", "set", short, "symptom", "18 months of mail downloaded again and again")
    pact(alice, "bundle", "export", short, "-o", str(root / "to-bt.bundle"))

    step("BT imports the bundle (every change is verified before it enters BT's copy) and joins: its first signed change accepts the terms")
    pact(bt, "bundle", "import", str(root / "to-bt.bundle"))
    pact(bt, "join", short)
    pact(bt, "activity", "start", short, "callback")
    pact(bt, "note", short, "Priya here: I own this case until it is fixed.", "--decision")
    pact(bt, "activity", "done", short, "callback", "--outcome", "called Alice, known server fault")
    pact(bt, "propose", short, "due", "fix", "10d", "--why", "the fix needs a server upgrade")
    pact(bt, "bundle", "export", short, "-o", str(root / "to-alice.bundle"))

    step("Alice imports BT's changes and accepts the new deadline")
    pact(alice, "bundle", "import", str(root / "to-alice.bundle"))
    proposal = [p for p in json.loads(pact(alice, "show", short, "--json", show=False))["proposals"] if p["state"] == "open"][0]
    pact(alice, "accept", short, proposal["id"])
    pact(alice, "bundle", "export", short, "-o", str(root / "to-bt-2.bundle"))
    pact(bt, "bundle", "import", str(root / "to-bt-2.bundle"))

    step("Both copies now agree; each change names its author and carries a verified signature")
    pact(alice, "show", short)
    views = [json.loads(pact(h, "show", short, "--json", show=False)) for h in (alice, bt)]
    heads_equal = [c["hash"] for c in views[0]["changes"]] and sorted(c["hash"] for c in views[0]["changes"]) == sorted(
        c["hash"] for c in views[1]["changes"])
    verified = all(c["signature_verified"] for v in views for c in v["changes"])
    print(f"\nSame changes in both copies: {heads_equal}; every signature verified: {verified}")
    print(f"\nExplore further, e.g.:  pact --home {alice} list   |   pact --home {bt} show {short}")
    return 0 if heads_equal and verified else 1


if __name__ == "__main__":
    sys.exit(main())
