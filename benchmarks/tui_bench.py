"""First paint of the home screen (the work queue) with 1,000 contracts. Target: <= 1.5 s.

Creates 1,000 contracts through ``Workspace.create`` in a temporary home (slow; not what is measured),
then starts the app headless, as ``pact tui`` builds it, and measures the time until the queue shows
every contract. Prints the figures; asserts nothing.

    .venv/bin/python benchmarks/tui_bench.py [--contracts 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from pactclient import catalog
from pactclient.identity import DeviceIdentity
from pactclient.model import actions
from pactclient.store import Workspace
from pactclient.tui import create_app
from pactclient.tui.screens.home import HomeScreen

TEMPLATES = ("broadband-fault", "billing-dispute", "cancel-on-move", "service-activation")


def populate(home: Path, count: int) -> float:
    identity = DeviceIdentity.create(home, "Bench", "ACME")
    ws = Workspace(home, identity)
    templates = [catalog.load(n) for n in TEMPLATES]
    start = time.perf_counter()
    for n in range(count):
        cid = ws.create(f"Case {n:04d}", templates[n % len(templates)], "supplier" if n % 2 else "customer")
        if n % 3 == 0:
            ws.act(cid, actions.note, f"note on case {n}")
    elapsed = time.perf_counter() - start
    ws.close()
    return elapsed


async def first_paint(home: Path, count: int) -> float:
    start = time.perf_counter()
    app = create_app(home)
    async with app.run_test(size=(120, 40)) as pilot:
        while not (isinstance(app.screen, HomeScreen) and len(app.screen.rows) == count):
            await pilot.pause(0.01)
        await pilot.pause()  # let the frame render
        elapsed = time.perf_counter() - start
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contracts", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        made = populate(home, args.contracts)
        print(f"created {args.contracts} contracts in {made:.1f} s ({made / args.contracts * 1000:.1f} ms each)")
        times = [asyncio.run(first_paint(home, args.contracts)) for _ in range(args.runs)]
        print(f"home screen first paint with {args.contracts} contracts: median {statistics.median(times):.3f} s, "
              f"runs {', '.join(f'{t:.3f}' for t in times)} (target <= 1.5 s)")


if __name__ == "__main__":
    main()
