"""Sync figures between real peers on loopback: TLS 1.3, signing, verification and durable SQLite on.

    .venv/bin/python benchmarks/sync_bench.py            # full run: 1,000 edits x2, 10,000-change fetch
    .venv/bin/python benchmarks/sync_bench.py --quick    # 200 edits, 2,000-change fetch

Definitions (see docs/benchmarks.md):
- edit->visible: from calling ``PeerService.act`` on A (model action, Ed25519 signature, SQLite commit)
  until B has verified, stored and merged that change (B's ``ChangesAdmitted`` event).
- back to back: each edit starts as soon as the previous one is visible on B.
- paced: an edit starts every 120 ms.
- bytes per live edit: application bytes (frames) both ways during the paced run, per edit.
- fresh fetch: a party with an empty copy dials A and receives the whole contract; bytes are the
  frames it received, compared with ``save()`` of the same document. CPU is this process's CPU time
  over the same span (both peers): on a machine shared with other jobs it shows the work done better
  than the elapsed time does.
Both peers run in this one process on one asyncio loop (so the figures include both sides' CPU).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from pactclient import catalog
from pactclient.identity import DeviceIdentity
from pactclient.model import actions
from pactclient.net.service import PeerService
from pactclient.store import Workspace
from pactclient.sync import events as ev


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summary(name: str, ms: list[float]) -> str:
    return (f"{name:28} n={len(ms):5}  p50 {pct(ms, 50):7.2f} ms  p90 {pct(ms, 90):7.2f} ms  "
            f"p99 {pct(ms, 99):7.2f} ms  max {max(ms):7.2f} ms")


async def live_edits(count: int, pace_ms: float | None, tmp: Path) -> tuple[list[float], float]:
    a = DeviceIdentity.create(tmp / "a", "Alice")
    b = DeviceIdentity.create(tmp / "b", "Priya", "BT")
    wa, wb = Workspace(tmp / "a", a), Workspace(tmp / "b", b)
    cid = wa.create("Mail re-downloads", catalog.load("broadband-fault"), "customer")
    wa.act(cid, actions.add_party, b.key_hex, "Priya", "supplier", "BT")
    with wb.store.write():  # as after `pact join`: B knows A's key (and so pins it)
        wb.store.put_peer(a.key_hex, "Alice", "", "known")
    sa, sb = PeerService(wa, dial_known=False), PeerService(wb, dial_known=False)
    await sa.start()
    await sb.start()
    visible: dict[bytes, float] = {}
    arrived = asyncio.Event()

    def on_event(event) -> None:
        if isinstance(event, ev.ChangesAdmitted):
            now = time.perf_counter()
            for h in event.hashes:
                visible[h] = now
            arrived.set()

    sb.subscribe(on_event)
    session = await sa.sync_with(sb.address)
    assert not session.exchange.closed, "the peers did not connect"
    base_out, base_in = session.exchange.bytes_out, session.exchange.bytes_in
    latencies = []
    start_all = time.perf_counter()
    for i in range(count):
        if pace_ms is not None:
            target = start_all + i * pace_ms / 1000
            await asyncio.sleep(max(0.0, target - time.perf_counter()))
        t0 = time.perf_counter()
        sa.act(cid, actions.note, f"edit {i}")
        new_hash = wa.store.db.execute(
            "SELECT hash FROM changes WHERE contract_id=? ORDER BY rowid DESC LIMIT 1", (cid,)).fetchone()[0]
        while new_hash not in visible:
            arrived.clear()
            await asyncio.wait_for(arrived.wait(), 30)
        latencies.append((visible[new_hash] - t0) * 1000)
    await session.until_quiet()
    per_edit = (session.exchange.bytes_out - base_out + session.exchange.bytes_in - base_in) / count
    await sa.stop()
    await sb.stop()
    wa.close()
    wb.close()
    return latencies, per_edit


async def fresh_fetch(changes: int, tmp: Path) -> dict:
    a = DeviceIdentity.create(tmp / "a", "Alice")
    c = DeviceIdentity.create(tmp / "c", "Colin", "Openreach")
    wa, wc = Workspace(tmp / "a", a), Workspace(tmp / "c", c)
    cid = wa.create("Mail re-downloads", catalog.load("broadband-fault"), "customer")
    wa.act(cid, actions.add_party, c.key_hex, "Colin", "supplier", "Openreach")
    t = time.perf_counter()
    for i in range(changes - wa.store.change_count(cid)):
        wa.act(cid, actions.note, f"note {i}")
    build_s = time.perf_counter() - t
    with wc.store.write():  # C pins A's key (`pact peers add --key`), and holds nothing of the contract
        wc.store.put_peer(a.key_hex, "Alice", "", "known")
    save_size = len(wa.document(cid).save())
    sa, sc = PeerService(wa, dial_known=False), PeerService(wc, dial_known=False)
    await sa.start()
    t0, cpu0 = time.perf_counter(), time.process_time()
    session = await sc.sync_with(sa.address)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    got = wc.store.change_count(cid)
    signed = sum(1 for _, _, s in wc.signed_changes(cid) if s is not None)
    received = session.exchange.bytes_in
    await sc.stop()
    await sa.stop()
    wa.close()
    wc.close()
    return {"changes": got, "seconds": elapsed, "cpu": cpu, "bytes": received, "save": save_size, "build_s": build_s,
            "signed": signed}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer edits and a smaller contract")
    parser.add_argument("--edits", type=int, default=None)
    parser.add_argument("--changes", type=int, default=None)
    args = parser.parse_args()
    edits = args.edits or (200 if args.quick else 1000)
    changes = args.changes or (2000 if args.quick else 10_000)
    with tempfile.TemporaryDirectory(prefix="pact-sync-bench-") as tmp:
        tmp = Path(tmp)
        b2b, b2b_bytes = await live_edits(edits, None, tmp / "b2b")
        print(summary("edit->visible back to back", b2b))
        paced, paced_bytes = await live_edits(edits, 120.0, tmp / "paced")
        print(summary("edit->visible paced 120 ms", paced))
        print(f"bytes per live edit (both ways, frames): paced {paced_bytes:.0f} B, back to back {b2b_bytes:.0f} B")
        fetch = await fresh_fetch(changes, tmp / "fetch")
        print(f"fresh fetch of {fetch['changes']} changes: {fetch['seconds'] * 1000:.0f} ms "
              f"(CPU {fetch['cpu'] * 1000:.0f} ms), "
              f"{fetch['bytes']} bytes received = {fetch['bytes'] / fetch['save']:.3f}x save() ({fetch['save']} bytes), "
              f"{fetch['signed']} signatures kept  [building it took {fetch['build_s']:.1f} s]")


if __name__ == "__main__":
    asyncio.run(main())
