"""Sync figures between real peers on loopback: TLS 1.3, signing, verification and durable SQLite on.

    .venv/bin/python benchmarks/sync_bench.py              # full run: 1,000 edits x2, 10,000-change fetch
    .venv/bin/python benchmarks/sync_bench.py --quick      # 200 edits, 2,000-change fetch
    .venv/bin/python benchmarks/sync_bench.py --breakdown  # also: where the time of a live edit goes

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

``--breakdown`` splits each edit->visible interval, with perf counters around the real methods, into:
A's ``Workspace.act``; A's push (``PeerService.act`` after it); the event loop, loopback and TLS
until B's ``receive_data``; B's decoding into its scratch copy; B's ``Workspace.admit_from``; and the
events reaching listeners. It also shows the durable COMMITs (inside act and admit_from) and the
deferred upkeep. The bench also measures what one sync of a small overwritten block costs on this
disk before and after the runs, because other jobs' disk traffic moves every durable commit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from pactclient import catalog
from pactclient.identity import DeviceIdentity
from pactclient.model import actions
from pactclient.sync import bundle
from pactclient.net.service import PeerService
from pactclient.store import Workspace
from pactclient.store.sqlite_store import SqliteStore
from pactclient.sync import events as ev
from pactclient.sync.connection import PeerConnection


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summary(name: str, ms: list[float]) -> str:
    return (f"{name:28} n={len(ms):5}  p50 {pct(ms, 50):7.2f} ms  p90 {pct(ms, 90):7.2f} ms  "
            f"p99 {pct(ms, 99):7.2f} ms  max {max(ms):7.2f} ms")


class Breakdown:
    """Perf counters wrapped around the real methods (both peers run in this process, so wrapping the
    classes is enough), read back per edit: which part of each edit->visible interval went where."""

    STAGES = (
        ("A: Workspace.act (model, sign, store)", "edit", "act_end"),
        ("A: push (sync message, TLS write)", "act_end", "push_end"),
        ("loop, loopback, TLS read", "push_end", "recv_start"),
        ("B: decode, scratch copy", "recv_start", "admit_start"),
        ("B: Workspace.admit_from (verify, store)", "admit_start", "admit_end"),
        ("B: events to listeners", "admit_end", "visible"),
    )

    def __init__(self) -> None:
        self.spans: dict[str, list[tuple[float, float]]] = {}
        self.edits: list[tuple[float, float]] = []
        self._patched: list[tuple[type, str, object]] = []

    def _wrap(self, cls: type, method: str, label) -> None:
        original = getattr(cls, method)

        def timed(obj, *args, **kwargs):
            t = time.perf_counter()
            try:
                return original(obj, *args, **kwargs)
            finally:
                name = label(obj)
                if name:
                    self.spans.setdefault(name, []).append((t, time.perf_counter()))

        self._patched.append((cls, method, original))
        setattr(cls, method, timed)

    def install(self) -> None:
        self._wrap(Workspace, "act", lambda ws: "act" if ws.identity.name == "Alice" else "")
        self._wrap(PeerService, "act", lambda service: "push")
        self._wrap(PeerConnection, "receive_data", lambda conn: "recv" if conn.ws.identity.name == "Priya" else "")
        self._wrap(Workspace, "admit_from", lambda ws: "admit" if ws.identity.name == "Priya" else "")
        self._wrap(Workspace, "upkeep", lambda ws: f"{ws.identity.name}: upkeep (deferred, after the edit)")
        original_write = SqliteStore.write
        spans = self.spans

        @contextmanager
        def write(store, durable: bool = True):
            manager = original_write(store, durable)
            db = manager.__enter__()
            try:
                yield db
            except BaseException:
                if not manager.__exit__(*sys.exc_info()):
                    raise
            else:
                t = time.perf_counter()
                manager.__exit__(None, None, None)
                if durable:
                    spans.setdefault(f"{store.path.parent.name.upper()}: durable COMMIT (in the above)", []).append(
                        (t, time.perf_counter()))

        self._patched.append((SqliteStore, "write", original_write))
        SqliteStore.write = write

    def uninstall(self) -> None:
        for cls, method, original in reversed(self._patched):
            setattr(cls, method, original)
        self._patched.clear()

    def edit(self, started: float, visible: float) -> None:
        self.edits.append((started, visible))

    def _first(self, name: str, after: float, before: float, end: bool = False) -> float | None:
        for start, stop in self.spans.get(name, ()):
            if after <= start <= before:
                return stop if end else start
        return None

    def report(self) -> str:
        per_stage: dict[str, list[float]] = {name: [] for name, _, _ in self.STAGES}
        for started, visible in self.edits:
            t = {"edit": started, "visible": visible,
                 "act_end": self._first("act", started, visible, end=True),
                 "push_end": self._first("push", started, visible, end=True),
                 "recv_start": self._first("recv", started, visible),
                 "admit_start": self._first("admit", started, visible),
                 "admit_end": self._first("admit", started, visible, end=True)}
            if all(v is not None for v in t.values()):
                for name, a, b in self.STAGES:
                    per_stage[name].append((t[b] - t[a]) * 1000)
        lines = []
        for name, values in per_stage.items():
            if values:
                lines.append(f"    {name:44} p50 {pct(values, 50):6.3f} ms  p90 {pct(values, 90):6.3f} ms")
        for name in sorted(n for n in self.spans if ":" in n):
            values = [(b - a) * 1000 for a, b in self.spans[name]]
            lines.append(f"    {name:44} p50 {pct(values, 50):6.3f} ms  p90 {pct(values, 90):6.3f} ms")
        return "\n".join(lines)


def disk_sync_ms(directory: Path, count: int = 50) -> tuple[float, float]:
    """p50 and p90 of writing one 4 KiB block in place and syncing it (what a WAL commit waits for)."""
    path = directory / "sync-probe"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.write(fd, b"\0" * 4096 * 8)
        os.fsync(fd)
        times = []
        for i in range(count):
            t = time.perf_counter()
            os.pwrite(fd, os.urandom(4096), (i % 8) * 4096)
            os.fdatasync(fd)
            times.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
        path.unlink()
    return pct(times, 50), pct(times, 90)


async def live_edits(count: int, pace_ms: float | None, tmp: Path,
                     breakdown: Breakdown | None = None) -> tuple[list[float], float]:
    a = DeviceIdentity.create(tmp / "a", "Alice")
    b = DeviceIdentity.create(tmp / "b", "Priya", "BT")
    wa, wb = Workspace(tmp / "a", a), Workspace(tmp / "b", b)
    cid = wa.create("Mail re-downloads", catalog.load("broadband-fault"), "customer")
    wa.act(cid, actions.add_party, b.key_hex, "Priya", "supplier", "BT")
    # As after `pact join`: B holds the contract, has accepted its terms, and knows A's key (so pins it).
    wb.receive(*bundle.decode(bundle.encode(wa, cid)))
    wb.act(cid, actions.accept_terms)
    wa.receive(*bundle.decode(bundle.encode(wb, cid)))
    with wb.store.write():
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
        if breakdown is not None:
            breakdown.edit(t0, visible[new_hash])
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
    wa.defer_upkeep = True  # as under `pact serve`: building the contract is not what is measured
    for i in range(changes - wa.store.change_count(cid)):
        wa.act(cid, actions.note, f"note {i}")
    wa.defer_upkeep = False
    wa.upkeep()
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
    parser.add_argument("--breakdown", action="store_true", help="time the parts of each live edit")
    parser.add_argument("--no-fetch", action="store_true", help="skip the fresh fetch")
    args = parser.parse_args()
    edits = args.edits or (200 if args.quick else 1000)
    changes = args.changes or (2000 if args.quick else 10_000)
    with tempfile.TemporaryDirectory(prefix="pact-sync-bench-") as tmp:
        tmp = Path(tmp)
        p50, p90 = disk_sync_ms(tmp)
        print(f"disk: sync of one overwritten 4 KiB block p50 {p50:.3f} ms, p90 {p90:.3f} ms (before the runs)")
        results = {}
        for name, pace in (("back to back", None), ("paced 120 ms", 120.0)):
            breakdown = Breakdown()
            if args.breakdown:
                breakdown.install()
            try:
                latencies, per_edit = await live_edits(edits, pace, tmp / name.replace(" ", "-"), breakdown)
            finally:
                breakdown.uninstall()
            results[name] = per_edit
            print(summary(f"edit->visible {name}", latencies))
            if args.breakdown:
                print(breakdown.report())
        p50, p90 = disk_sync_ms(tmp)
        print(f"disk: sync of one overwritten 4 KiB block p50 {p50:.3f} ms, p90 {p90:.3f} ms (after the runs)")
        print(f"bytes per live edit (both ways, frames): paced {results['paced 120 ms']:.0f} B, "
              f"back to back {results['back to back']:.0f} B")
        if args.no_fetch:
            return
        fetch = await fresh_fetch(changes, tmp / "fetch")
        print(f"fresh fetch of {fetch['changes']} changes: {fetch['seconds'] * 1000:.0f} ms "
              f"(CPU {fetch['cpu'] * 1000:.0f} ms), "
              f"{fetch['bytes']} bytes received = {fetch['bytes'] / fetch['save']:.3f}x save() ({fetch['save']} bytes), "
              f"{fetch['signed']} signatures kept  [building it took {fetch['build_s']:.1f} s]")


if __name__ == "__main__":
    asyncio.run(main())
