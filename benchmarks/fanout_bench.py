"""Fan-out at a desk: does an edit cost the desk more when more peers are connected?

    .venv/bin/python benchmarks/fanout_bench.py                # 10 active customers, then + 300 idle
    .venv/bin/python benchmarks/fanout_bench.py --idle 100 --edits 100

One desk (``PeerService``) and every customer (one home, one contract shared with the desk, each its
own ``PeerService`` dialling the desk over real TLS on 127.0.0.1) run in this one process on one
asyncio loop. The desk edits the active customers' contracts in turn; each edit is timed from
``PeerService.act`` at the desk until the customer has admitted it (its ``ChangesAdmitted`` event).
The same edits run twice: with only the active customers connected, then with the idle ones
connected too. Printed: edit->visible p50/p99 in each phase and their ratio, and the desk's time
inside ``PeerService.changed`` (handing one edit to the sessions that share it) per edit.

Everything shares one loop and this machine is shared with other jobs: read the ratio between the
two phases of one run, not the absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pactclient import catalog
from pactclient.identity import DeviceIdentity
from pactclient.model import actions
from pactclient.net.service import PeerService
from pactclient.store import Workspace
from pactclient.sync import bundle
from pactclient.sync import events as ev


def _send(src: Workspace, dst: Workspace, cid: str) -> None:
    got_cid, blobs, sigs = bundle.decode(bundle.encode(src, cid))
    dst.receive(got_cid, blobs, sigs)


def _customer(base: Path, desk: Workspace, n: int) -> tuple[Workspace, str]:
    """A customer home sharing one contract with the desk, made through the public API (bundles)."""
    identity = DeviceIdentity.create(base / f"c{n}", f"Customer {n}")
    ws = Workspace(base / f"c{n}", identity)
    cid = desk.create(f"Case {n}", catalog.load("broadband-fault"), "supplier")
    desk.act(cid, actions.add_party, identity.party_key_hex, identity.name, "customer")
    _send(desk, ws, cid)
    ws.act(cid, actions.accept_terms)
    _send(ws, desk, cid)
    return ws, cid


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _connect(desk_svc: PeerService, customers: list[Workspace], started: list[PeerService]) -> None:
    for ws in customers:
        svc = PeerService(ws, "127.0.0.1", 0, dial_known=False)
        await svc.start()
        started.append(svc)
        await svc.dial(desk_svc.address)
    want = {ws.identity.public_key for ws in customers}
    deadline = time.monotonic() + 120
    while not want <= set(desk_svc.sessions):
        if time.monotonic() > deadline:
            raise SystemExit("customers did not all connect in 120 s")
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # let the first offers and priming exchanges settle


async def _edits(desk_svc: PeerService, active: list[tuple[Workspace, str, PeerService]], edits: int,
                 spent: list[float]) -> list[float]:
    times = []
    for i in range(edits):
        ws, cid, svc = active[i % len(active)]
        seen = asyncio.Event()

        def on_event(event, cid=cid, seen=seen):
            if isinstance(event, ev.ChangesAdmitted) and event.contract_id == cid:
                seen.set()

        svc.subscribe(on_event)
        start = time.perf_counter()
        desk_svc.act(cid, actions.note, f"edit {i}")
        await asyncio.wait_for(seen.wait(), 30)
        times.append((time.perf_counter() - start) * 1000)
        svc._subscribers.remove(on_event)
        await asyncio.sleep(0.02)
    return times


async def main(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        desk_identity = DeviceIdentity.create(base / "desk", "Priya", "BT")
        desk = Workspace(base / "desk", desk_identity)
        made = time.perf_counter()
        active = [_customer(base, desk, n) for n in range(args.active)]
        idle = [_customer(base, desk, args.active + n)[0] for n in range(args.idle)]
        desk.upkeep()
        print(f"homes: 1 desk, {args.active} active + {args.idle} idle customers "
              f"(built in {time.perf_counter() - made:.1f} s)")

        desk_svc = PeerService(desk, "127.0.0.1", 0, dial_known=False)
        await desk_svc.start()
        spent: list[float] = []
        changed = desk_svc.changed

        def timed_changed(*a, **kw):
            t = time.perf_counter()
            try:
                return changed(*a, **kw)
            finally:
                spent.append((time.perf_counter() - t) * 1e6)

        desk_svc.changed = timed_changed
        started: list[PeerService] = []
        try:
            await _connect(desk_svc, [ws for ws, _ in active], started)
            with_active = [(ws, cid, svc) for (ws, cid), svc in zip(active, started)]
            await _edits(desk_svc, with_active, 10, spent)  # warm-up
            spent.clear()
            alone = await _edits(desk_svc, with_active, args.edits, spent)
            spent_alone = list(spent)
            await _connect(desk_svc, idle, started)
            spent.clear()
            crowded = await _edits(desk_svc, with_active, args.edits, spent)
            spent_crowded = list(spent)
        finally:
            for svc in started:
                await svc.stop()
            await desk_svc.stop()

        print(f"{'phase':<34} {'p50 ms':>8} {'p99 ms':>8} {'changed() µs p50':>17}")
        print(f"{'active only':<34} {_pct(alone, .5):8.1f} {_pct(alone, .99):8.1f} "
              f"{statistics.median(spent_alone):17.0f}")
        print(f"{f'active + {args.idle} idle connected':<34} {_pct(crowded, .5):8.1f} {_pct(crowded, .99):8.1f} "
              f"{statistics.median(spent_crowded):17.0f}")
        print(f"ratio with/without idle peers: p50 {_pct(crowded, .5) / _pct(alone, .5):.2f}x, "
              f"p99 {_pct(crowded, .99) / _pct(alone, .99):.2f}x, "
              f"changed() {statistics.median(spent_crowded) / statistics.median(spent_alone):.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--active", type=int, default=10)
    parser.add_argument("--idle", type=int, default=300)
    parser.add_argument("--edits", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
