"""A desk that runs for a long time: memory, latency and errors with many connected customers.

    .venv/bin/python benchmarks/soak_bench.py --short        # 200 idle + 20 active customers, 3 minutes
    .venv/bin/python benchmarks/soak_bench.py                # 1,000 idle + 100 active, 30 minutes
    .venv/bin/python benchmarks/soak_bench.py --idle 500 --active 50 --minutes 10

Set-up (through the public API): BT is an organisation; its desk (a certified device) runs the real
``pact serve`` in a process of its own. An agent's device (another certified device of BT) and every
customer (each its own home with one contract with BT) run in this process, on one asyncio loop, and
dial the desk over real TLS on 127.0.0.1. Active customers each add a note once a second (spread
over the second); the agent's device receives each through the desk.

Measured:
- edit->visible: from a customer's ``PeerService.act`` until the agent's device has admitted that
  change, relayed by the desk (two hops and the desk's admission: what a colleague at the desk sees);
- first a warm-up minute with only the active customers connected (the baseline), then the idle ones
  connect and the run goes on; per minute: p50/p99, edits, the desk's RSS, CPU and open descriptors;
- memory per idle peer: the desk's RSS after the idle customers connected minus before, divided by
  their number;
- errors: sessions the desk refused or closed, and edits not visible within 30 s.

Read ratios within one run (with / without idle peers; RSS at the end / after warm-up): the machine is
shared, and this process's own work (1,000 homes) competes with the desk for the same two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pactclient import catalog
from pactclient.identity import DeviceIdentity
from pactclient.identity.party import certify, init_org, paired_home, raw_public
from pactclient.model import actions
from pactclient.net.service import PeerService
from pactclient.store import Workspace
from pactclient.sync import bundle
from pactclient.sync import events as ev

PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def _send(src: Workspace, dst: Workspace, cid: str) -> None:
    got, blobs, sigs = bundle.decode(bundle.encode(src, cid))
    dst.receive(got, blobs, sigs)


def _build(base: Path, customers: int) -> tuple[list[tuple[Path, str]], Path, Path]:
    now = int(time.time() * 1000)
    desk_identity = init_org(base / "desk", "BT", "BT desk", "desk", now)
    key = Ed25519PrivateKey.generate()
    delegation, cert = certify(desk_identity, raw_public(key), "Raj", "laptop", now)
    paired_home(base / "agent", key, delegation, cert)
    desk = Workspace(base / "desk", desk_identity, defer_upkeep=True)
    made = []
    for n in range(customers):
        identity = DeviceIdentity.create(base / f"c{n}", f"Customer {n}")
        ws = Workspace(base / f"c{n}", identity, defer_upkeep=True)
        cid = desk.create(f"Case {n}", catalog.load("broadband-fault"), "supplier")
        desk.act(cid, actions.add_party, identity.party_key_hex, identity.name, "customer")
        _send(desk, ws, cid)
        ws.act(cid, actions.accept_terms)
        _send(ws, desk, cid)
        ws.upkeep()
        ws.close()
        made.append((base / f"c{n}", cid))
    desk.upkeep()
    desk.close()
    return made, base / "desk", base / "agent"


class Desk:
    """The real ``pact serve`` in its own process, and what /proc says of it."""

    def __init__(self, home: Path, log: Path) -> None:
        # serve announces itself and logs on stderr: a file, so a busy log can never fill a pipe and stall it.
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from pactclient.cli import main; main()", "--home", str(home), "serve",
             "--host", "127.0.0.1", "--port", "0", "--invite-port", "0"],
            stdout=subprocess.DEVNULL, stderr=log.open("w"), text=True)
        deadline = time.monotonic() + 60
        found = None
        while found is None and time.monotonic() < deadline and self.proc.poll() is None:
            time.sleep(0.1)
            found = re.search(r"on (127\.0\.0\.1:\d+)", log.read_text())
        if not found:
            raise SystemExit(f"pact serve did not start: {log.read_text()[:500]!r}")
        self.address = found.group(1)
        self._cpu = (self.cpu_seconds(), time.monotonic())

    def rss_mib(self) -> float:
        with open(f"/proc/{self.proc.pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE / 2**20

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def cpu_percent(self) -> float:
        cpu, at = self.cpu_seconds(), time.monotonic()
        before, self._cpu = self._cpu, (cpu, at)
        return 100 * (cpu - before[0]) / max(at - before[1], 1e-9)

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.log.read_text()


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Run:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.pending: dict[tuple[str, bytes], float] = {}
        self.times: list[float] = []
        self.errors = 0
        self.error_notes: list[str] = []
        self.services: list[PeerService] = []

    def on_agent_event(self, event) -> None:
        if isinstance(event, ev.ChangesAdmitted):
            for h in event.hashes:
                started = self.pending.pop((event.contract_id, h), None)
                if started is not None:
                    self.times.append((time.perf_counter() - started) * 1000)

    def on_event(self, event) -> None:
        if isinstance(event, (ev.PeerRefused, ev.RefusedByPeer)):
            self.errors += 1
            self.error_notes.append(repr(event)[:200])

    async def connect(self, home: Path) -> tuple[PeerService, Workspace]:
        ws = Workspace(home, DeviceIdentity.load(home), defer_upkeep=True)
        svc = PeerService(ws, "127.0.0.1", 0, dial_known=False)
        svc.subscribe(self.on_event)
        self.services.append(svc)
        await svc.dial(self.desk.address)
        return svc, ws

    async def edit(self, svc: PeerService, ws: Workspace, cid: str, n: int) -> None:
        before = set(ws.document(cid).get_heads())
        started = time.perf_counter()
        svc.act(cid, actions.note, f"still down ({n})")
        for h in set(ws.document(cid).get_heads()) - before:
            self.pending[(cid, h)] = started

    def expire(self) -> None:
        now = time.perf_counter()
        for k, started in list(self.pending.items()):
            if now - started > 30:
                del self.pending[k]
                self.errors += 1
                self.error_notes.append("an edit not visible at the agent within 30 s")


async def _editing(run: Run, active: list[tuple[PeerService, Workspace, str]], stop: asyncio.Event) -> None:
    n = 0
    while not stop.is_set():
        started = time.monotonic()
        for svc, ws, cid in active:
            await run.edit(svc, ws, cid, n)
            await asyncio.sleep(1.0 / len(active) * 0.9)
            if stop.is_set():
                return
        n += 1
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))


async def main(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        t = time.perf_counter()
        made, desk_home, agent_home = _build(base, args.active + args.idle)
        print(f"built: desk, agent device, {len(made)} customers in {time.perf_counter() - t:.0f} s", flush=True)
        desk = Desk(desk_home, base / "desk.log")
        run = Run(desk)
        stop = asyncio.Event()
        try:
            agent, agent_ws = await run.connect(agent_home)
            agent.subscribe(run.on_agent_event)
            active = []
            for home, cid in made[:args.active]:
                svc, ws = await run.connect(home)
                active.append((svc, ws, cid))
            await asyncio.sleep(5)  # the agent's device fetches the organisation's contracts
            rss_start = desk.rss_mib()
            print(f"{'minute':>6} {'peers':>6} {'edits':>6} {'p50 ms':>7} {'p99 ms':>7} {'desk RSS MiB':>13} "
                  f"{'CPU %':>6} {'fds':>5} {'errors':>6}", flush=True)
            editing = asyncio.get_running_loop().create_task(_editing(run, active, stop))
            minute_rows = []

            async def minute(label: str, peers: int) -> list[float]:
                run.times = []
                desk.cpu_percent()
                await asyncio.sleep(60 * args.minute_scale)
                run.expire()
                times = run.times
                row = (label, peers, len(times), _pct(times, .5), _pct(times, .99), desk.rss_mib(),
                       desk.cpu_percent(), desk.fds(), run.errors)
                minute_rows.append(row)
                print(f"{row[0]:>6} {row[1]:>6} {row[2]:>6} {row[3]:7.1f} {row[4]:7.1f} {row[5]:13.1f} "
                      f"{row[6]:6.0f} {row[7]:>5} {row[8]:>6}", flush=True)
                return times

            baseline = await minute("base", args.active + 1)
            rss_before_idle = desk.rss_mib()
            for home, _ in made[args.active:]:
                await run.connect(home)
            await asyncio.sleep(5)
            rss_after_idle = desk.rss_mib()
            crowded: list[float] = []
            for m in range(1, args.minutes + 1):
                times = await minute(str(m), len(made) + 1)
                if m > 1:  # the first minute with the idle peers is their warm-up
                    crowded += times
            stop.set()
            await editing
        finally:
            for svc in run.services:
                for session in list(svc.sessions.values()):
                    session.writer.close()
            err = desk.stop()
        rss_warm = minute_rows[2][5] if len(minute_rows) > 2 else minute_rows[-1][5]
        print(f"desk RSS: {rss_start:.1f} MiB at start, {rss_before_idle:.1f} before the idle peers, "
              f"{rss_after_idle:.1f} after; end {minute_rows[-1][5]:.1f} "
              f"({minute_rows[-1][5] / rss_warm:.2f}x the first minute after warm-up)")
        print(f"memory per idle peer: {(rss_after_idle - rss_before_idle) * 1024 / max(args.idle, 1):.0f} KiB")
        print(f"p99 with {args.idle} idle peers / without: {_pct(crowded, .99):.1f} / {_pct(baseline, .99):.1f} ms "
              f"= {_pct(crowded, .99) / _pct(baseline, .99):.2f}x; p50 {_pct(crowded, .5):.1f} / "
              f"{_pct(baseline, .5):.1f} ms")
        print(f"errors: {run.errors}" + (f" ({'; '.join(run.error_notes[:3])})" if run.error_notes else ""))
        tracebacks = err.count("Traceback")
        print(f"desk stderr: {len(err.splitlines())} lines, {tracebacks} tracebacks")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="200 idle + 20 active customers, 3 minutes")
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--active", type=int, default=100)
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--minute-scale", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.short:
        args.idle, args.active, args.minutes = 200, 20, 3
    asyncio.run(main(args))
