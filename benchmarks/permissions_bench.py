#!/usr/bin/env python3
"""Figures for the permission check every copy runs on every received change.

    .venv/bin/python benchmarks/permissions_bench.py [--changes 10000]

Builds a contract of N notes by two parties (real Automerge, real signatures), then prints: the
check of all N changes as one batch (a first fetch), the check of one new change on top of the N
(a live edit from a peer; also as ``Workspace`` runs it, given the terms it kept from the previous
write), and, for comparison, ``doc.diff`` of one change (what the check avoids).
Each figure is CPU time of this process (less disturbed by other jobs than wall time) and wall time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from automerge.core import ROOT, Document

from pactclient import catalog
from pactclient.identity import DeviceIdentity
from pactclient.model import actions
from pactclient.model.actions import Actor
from pactclient.model.amdoc import child, put_value
from pactclient.signing.permissions import PermissionChecker

NOW = 1_767_603_600_000


def timed(fn):
    c, w = time.process_time(), time.perf_counter()
    out = fn()
    return out, (time.process_time() - c) * 1000, (time.perf_counter() - w) * 1000


def note(doc: Document, key: bytes, author: str, i: int) -> None:
    doc.set_actor(key)
    with doc.transaction() as tx:
        timeline = child(tx, ROOT, "timeline")
        put_value(tx, timeline, tx.length(timeline),
                  {"kind": "message", "author": author, "at": NOW + i, "text": f"note {i}", "ref": ""}, insert=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--changes", type=int, default=10_000)
    n = ap.parse_args().changes
    root = Path(tempfile.mkdtemp(prefix="pact-perm-"))
    alice = DeviceIdentity.create(root / "a", "Alice", "")
    bt = DeviceIdentity.create(root / "b", "Priya", "BT")
    doc = Document(alice.public_key)
    actions.create_contract(doc, Actor(alice.key_hex, NOW), "c" * 32, "Bench", catalog.load("broadband-fault"),
                            "customer", "Alice", "")
    actions.add_party(doc, Actor(alice.key_hex, NOW), bt.key_hex, "Priya", "supplier", "BT")
    for i in range(n):
        note(doc, alice.public_key if i % 2 == 0 else bt.public_key, "customer" if i % 2 == 0 else "supplier", i)
    changes = doc.get_changes([])
    for _ in range(2):
        checker = PermissionChecker(doc)
        refused, cpu, wall = timed(lambda: [c for c in changes if checker.check(c) is not None])
        print(f"check a batch of {len(changes)} changes: {cpu:.0f} ms CPU ({cpu / len(changes) * 1000:.1f} us/change), "
              f"{wall:.0f} ms wall; {len(refused)} refused")
    before = doc.get_heads()
    earlier = PermissionChecker(doc)  # as the previous write's checker: it knows the terms at its heads
    earlier.party_keys_at(before)
    terms = earlier.terms_at(before)
    note(doc, bt.public_key, "supplier", n)
    (last,) = doc.get_changes(before)
    _, cpu, wall = timed(lambda: PermissionChecker(doc).check(last))
    print(f"check one new change on a {len(changes)}-change contract: {cpu:.2f} ms CPU, {wall:.2f} ms wall")

    def seeded():
        checker = PermissionChecker(doc)
        checker.seed_terms(before, terms)
        return checker.check(last)

    for _ in range(2):
        _, cpu, wall = timed(seeded)
        print(f"  the same, given the terms at its dependencies (as Workspace keeps them): {cpu:.3f} ms CPU, "
              f"{wall:.3f} ms wall")
    _, cpu, wall = timed(lambda: doc.diff(last.deps, [last.hash]))
    print(f"(for comparison) doc.diff of that one change: {cpu:.2f} ms CPU, {wall:.2f} ms wall")


if __name__ == "__main__":
    main()
