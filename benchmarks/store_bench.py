#!/usr/bin/env python3
"""Figures for the local store: commit latency, load time of a long contract, listing many contracts.

    .venv/bin/python benchmarks/store_bench.py [--changes 2000] [--contracts 1000]

Prints, for this machine: the time of one durable signed edit (p50/p90/p99) as a contract grows,
the time to open a contract with N changes in a fresh process-like workspace (snapshot + tail
re-verified), bundle import of N changes, and `list` over M contracts from the summary index.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from pactclient import catalog
from pactclient.identity import DeviceIdentity
from pactclient.model import actions
from pactclient.store.workspace import Workspace
from pactclient.sync import bundle


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--changes", type=int, default=2000)
    ap.add_argument("--contracts", type=int, default=1000)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pact-bench-"))
    alice = DeviceIdentity.create(root / "a", "Alice", "")
    bt = DeviceIdentity.create(root / "b", "Priya", "BT")
    ws = Workspace(root / "a", alice)
    cid = ws.create("Bench", catalog.load("broadband-fault"), "customer")
    ws.act(cid, actions.add_party, bt.key_hex, "Priya", "supplier", "BT")

    times = []
    for i in range(args.changes):
        t = time.perf_counter()
        ws.act(cid, actions.note, f"note {i}")
        times.append((time.perf_counter() - t) * 1000)
    first, last = times[: len(times) // 10], times[-len(times) // 10 :]
    print(f"edit (sign + durable commit), {args.changes} edits: p50 {pct(times, 50):.2f} ms, p90 {pct(times, 90):.2f} ms, "
          f"p99 {pct(times, 99):.2f} ms; first 10% p50 {statistics.median(first):.2f} ms, last 10% p50 {statistics.median(last):.2f} ms")

    t = time.perf_counter()
    fresh = Workspace(root / "a", alice)
    fresh.view(cid)
    print(f"open + verify + view of a {args.changes + 2}-change contract: {(time.perf_counter() - t) * 1000:.0f} ms")
    fresh.close()

    path = root / "all.bundle"
    bundle.write(ws, cid, path)
    wb = Workspace(root / "b", bt)
    t = time.perf_counter()
    got = bundle.read(wb, path)
    print(f"bundle import of {len(got.admitted)} changes ({path.stat().st_size / 1024:.0f} KiB): "
          f"{(time.perf_counter() - t) * 1000:.0f} ms")

    tpl = catalog.load("billing-dispute")
    t = time.perf_counter()
    for i in range(args.contracts):
        ws.create(f"Contract {i}", tpl, "customer")
    create_s = time.perf_counter() - t
    t = time.perf_counter()
    rows = ws.summaries()
    print(f"create {args.contracts} contracts: {create_s:.1f} s; list {len(rows)} contracts from the index: "
          f"{(time.perf_counter() - t) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
