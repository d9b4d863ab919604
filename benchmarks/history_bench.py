"""What a long contract costs: memory per timeline entry, and an edit->admit as the timeline grows.

    .venv/bin/python benchmarks/history_bench.py                 # up to 3,000 notes
    .venv/bin/python benchmarks/history_bench.py --entries 1000

A desk holds the documents in use in memory with their whole history, and re-reads parts of it on
each change. Two homes (Alice and BT) share one contract; Alice adds notes one at a time, each sent
to BT through the sans-IO sync connection (``PeerConnection``, no sockets) and admitted there. Printed
at each size: the bench process's RSS growth per note (both homes hold the document: halve it for one
copy), the saved document's size, and the mean time of one note from ``act`` to BT's admission.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from pactclient import catalog
from pactclient.identity import DeviceIdentity
from pactclient.model import actions
from pactclient.store import Workspace
from pactclient.sync import bundle
from pactclient.sync.connection import PeerConnection

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def send(src: Workspace, dst: Workspace, cid: str) -> None:
    got, blobs, sigs = bundle.decode(bundle.encode(src, cid))
    dst.receive(got, blobs, sigs)


def pump(a: PeerConnection, b: PeerConnection) -> None:
    for _ in range(50):
        x, y = a.data_to_send(), b.data_to_send()
        if not x and not y:
            return
        if x:
            b.receive_data(x)
        if y:
            a.receive_data(y)
    raise SystemExit("the two sides never went quiet")


def main(entries: int) -> None:
    base = Path(tempfile.mkdtemp())
    alice = Workspace(base / "alice", DeviceIdentity.create(base / "alice", "Alice"))
    bt_id = DeviceIdentity.create(base / "bt", "Priya", "BT")
    bt = Workspace(base / "bt", bt_id)
    cid = alice.create("A long case", catalog.load("broadband-fault"), "customer")
    alice.act(cid, actions.add_party, bt_id.party_key_hex, "Priya", "supplier", "BT")
    send(alice, bt, cid)
    bt.act(cid, actions.accept_terms)
    send(bt, alice, cid)
    a = PeerConnection(alice, bt_id.public_key, dialer=True)
    b = PeerConnection(bt, alice.identity.public_key, dialer=False)
    a.start(), b.start()
    pump(a, b)
    sizes = [n for n in (100, 500, 1000, 2000, 3000, 5000, 10000) if n <= entries] or [entries]
    done, rss0, last = 0, rss_mib(), 0
    print(f"{'notes':>6} {'edit->admitted ms':>18} {'RSS +MiB':>9} {'KiB/note':>9} {'saved bytes':>12}")
    for size in sizes:
        while done < size - 50:
            alice.act(cid, actions.note, f"note {done}")
            a.local_changed(cid)
            pump(a, b)
            done += 1
        started = time.perf_counter()
        timed = 0
        while done < size:
            alice.act(cid, actions.note, f"note {done}")
            a.local_changed(cid)
            pump(a, b)
            done, timed = done + 1, timed + 1
        per = (time.perf_counter() - started) / max(timed, 1) * 1000
        grown = rss_mib() - rss0
        print(f"{done:>6} {per:18.2f} {grown:9.1f} {grown * 1024 / done:9.1f} {len(bt.document(cid).save()):>12}",
              flush=True)
        last = done
    assert len(bt.view(cid).timeline) >= last  # every note reached BT
    alice.close(), bt.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=3000)
    main(parser.parse_args().entries)
