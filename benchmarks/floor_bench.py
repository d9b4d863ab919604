"""The floor under a live edit: the same path as ``sync_bench.py``'s edit->visible, built from the bare
parts and nothing of pact's own, one part added at a time.

    .venv/bin/python benchmarks/floor_bench.py             # 300 edits back to back and paced 120 ms, per layer
    .venv/bin/python benchmarks/floor_bench.py --edits 100

Two Automerge documents in this one process on one asyncio loop, as in ``sync_bench.py``: A writes one
map entry in a transaction, generates a sync message and writes it to a loopback socket; B reads it,
receives it into its document, and the edit counts as visible when B's document has the change. The
layers, each including the ones before:

1. ``bare``: Automerge over plain asyncio TCP (a 4-byte length before each message);
2. ``+ TLS 1.3``: the same over mutual TLS 1.3 with Ed25519 certificates (the project's contexts);
3. ``+ sign/verify``: A signs the change hash with Ed25519, B verifies it before the change counts;
4. ``+ durable commit``: each side also inserts the change into pact's own store (``SqliteStore``: the
   same tables and indexes, WAL, ``synchronous=FULL``) and commits before sending (A) or before the
   change counts (B).

What this shows: how much of pact's edit->visible is the parts themselves, and how much of it is the
cold start after an idle pause, which every layer pays (docs/benchmarks.md).

``--fetch N`` also times the parts of a fresh fetch of an N-change document, each once, on its own:
``save()`` on the sender, ``Document.load`` on the receiver, reading every change with its bytes
(what a store of one row per change needs), one Ed25519 verification, and inserting the rows into the
same SQLite table with one durable commit.
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import sys
import tempfile
import time
from pathlib import Path

from automerge.core import ROOT, Document, Message, ScalarType, SyncState

from pactclient.identity import DeviceIdentity
from pactclient.identity.certs import SERVER_NAME, tls_contexts
from pactclient.identity.device import verify_signature
from pactclient.store.sqlite_store import SqliteStore

sys.path.insert(0, str(Path(__file__).parent))
from sync_bench import pct  # noqa: E402

LENGTH = struct.Struct(">I")
CONTRACT = "c" * 32


def open_store(path: Path) -> SqliteStore:
    store = SqliteStore(path)
    with store.write():
        store.ensure_contract(CONTRACT, 0)
    return store


def store_change(store: SqliteStore, change, signature: bytes) -> None:
    with store.write():
        store.add_change(CONTRACT, change.hash, change.actor_id, change.seq, change.bytes, signature, 0)


def verify(public_key: bytes, signature: bytes, message: bytes) -> None:
    if not verify_signature(public_key, signature, message):
        raise AssertionError("a signature did not verify")


async def frames(reader: asyncio.StreamReader):
    """Length-prefixed bodies from ``reader`` until the stream ends."""
    while True:
        try:
            head = await reader.readexactly(4)
            yield await reader.readexactly(LENGTH.unpack(head)[0])
        except (asyncio.IncompleteReadError, ConnectionError):
            return


async def run_layer(layer: int, count: int, pace_ms: float | None, tmp: Path) -> list[float]:
    tls, sign, durable = layer >= 2, layer >= 3, layer >= 4
    a_id = DeviceIdentity.create(tmp / "a", "A")
    b_id = DeviceIdentity.create(tmp / "b", "B")
    a_doc, b_doc = Document(a_id.public_key), Document(b_id.public_key)
    a_state, b_state = SyncState(), SyncState()
    a_db = open_store(tmp / "a" / "floor.db") if durable else None
    b_db = open_store(tmp / "b" / "floor.db") if durable else None
    arrived: asyncio.Queue[float] = asyncio.Queue()
    b_out: list[asyncio.StreamWriter] = []
    b_done = asyncio.Event()

    async def b_serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        b_out.append(writer)
        async for body in frames(reader):
            signature, message = body[:64], body[64:]
            before = b_doc.get_heads()
            b_doc.receive_sync_message(b_state, Message.decode(message))
            for change in b_doc.get_changes(before):
                if sign:
                    verify(a_id.public_key, signature, change.hash)
                if durable:
                    store_change(b_db, change, signature)
                arrived.put_nowait(time.perf_counter())
            reply = b_doc.generate_sync_message(b_state)
            if reply is not None:
                data = reply.encode()
                writer.write(LENGTH.pack(len(data) + 64) + bytes(64) + data)
        b_done.set()

    async def a_read(reader: asyncio.StreamReader) -> None:
        async for body in frames(reader):
            a_doc.receive_sync_message(a_state, Message.decode(body[64:]))
            send()

    server_ctx = client_ctx = None
    if tls:
        server_ctx = tls_contexts(b_id).server([a_id.public_key])
        client_ctx = tls_contexts(a_id).client([b_id.public_key])
    server = await asyncio.start_server(b_serve, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx,
                                                   server_hostname=SERVER_NAME if tls else None)
    reading = asyncio.get_running_loop().create_task(a_read(reader))

    signature = [bytes(64)]  # of A's newest change: travels with every message A sends

    def edit(key: str, value: str) -> None:
        before = a_doc.get_heads()
        with a_doc.transaction() as tx:
            tx.put(ROOT, key, ScalarType.Str, value)
        change = a_doc.get_changes(before)[0]
        if sign:
            signature[0] = a_id.sign(change.hash)
        if durable:
            store_change(a_db, change, signature[0])
        send()

    def send() -> None:
        message = a_doc.generate_sync_message(a_state)
        if message is not None:
            data = message.encode()
            writer.write(LENGTH.pack(len(data) + 64) + signature[0] + data)

    edit("k", "first")
    await arrived.get()
    await asyncio.sleep(0.05)
    latencies = []
    start_all = time.perf_counter()
    for i in range(count):
        if pace_ms is not None:
            await asyncio.sleep(max(0.0, start_all + (i + 1) * pace_ms / 1000 - time.perf_counter()))
        t0 = time.perf_counter()
        edit(f"k{i % 50}", f"edit {i}")
        latencies.append((await arrived.get() - t0) * 1000)
    await asyncio.sleep(0.05)  # B's last acknowledgement arrives before A closes
    writer.close()  # B's reader then sees the end of the stream and returns
    await asyncio.wait_for(b_done.wait(), 5)
    for w in b_out:
        w.close()
    reading.cancel()
    await asyncio.gather(reading, return_exceptions=True)
    server.close()
    await server.wait_closed()
    for db in (a_db, b_db):
        if db is not None:
            db.close()
    return latencies


def fetch_parts(count: int, tmp: Path) -> list[tuple[str, float]]:
    """CPU milliseconds of each part of a fresh fetch of a ``count``-change document (one author, each
    change appending one small map to a list, as a note does)."""
    from automerge.core import ObjType

    author = DeviceIdentity.create(tmp / "author", "A")
    doc = Document(author.public_key)
    with doc.transaction() as tx:
        timeline = tx.put_object(ROOT, "timeline", ObjType.List)
    for i in range(count - 1):
        with doc.transaction() as tx:
            entry = tx.insert_object(timeline, i, ObjType.Map)
            tx.put(entry, "text", ScalarType.Str, f"note {i}")
            tx.put(entry, "at", ScalarType.Int, 1_700_000_000_000 + i)
            tx.put(entry, "by", ScalarType.Str, "p1")
    parts = []

    def timed(name, fn):
        t = time.process_time()
        out = fn()
        parts.append((name, (time.process_time() - t) * 1000))
        return out

    saved = timed("sender: save()", doc.save)
    loaded = timed("receiver: Document.load", lambda: Document.load(saved))
    rows = timed("receiver: every change and its bytes",
                 lambda: [(c.hash, c.actor_id, c.seq, c.bytes) for c in loaded.get_changes([])])
    head = rows[-1][0]
    signature = author.sign(head)
    timed("receiver: one Ed25519 verification", lambda: verify(author.public_key, signature, head))
    db = open_store(tmp / "fetch.db")

    def insert() -> None:
        with db.write():
            db.add_changes(CONTRACT, [(*row, None) for row in rows], 0)

    timed(f"receiver: {count:,} rows, one durable commit", insert)
    db.close()
    return parts


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=300)
    parser.add_argument("--fetch", type=int, default=0, metavar="N", help="also the parts of an N-change fetch")
    args = parser.parse_args()
    names = {1: "bare", 2: "+ TLS 1.3", 3: "+ sign/verify", 4: "+ durable commit"}
    with tempfile.TemporaryDirectory(prefix="pact-floor-bench-") as tmp:
        for layer, name in names.items():
            figures = []
            for pace in (None, 120.0):
                lat = await run_layer(layer, args.edits, pace, Path(tmp) / f"{layer}-{pace}")
                figures.append(f"p50 {pct(lat, 50):5.2f}  p90 {pct(lat, 90):5.2f}  p99 {pct(lat, 99):5.2f} ms")
            print(f"{name:18} back to back: {figures[0]}   paced 120 ms: {figures[1]}")
        if args.fetch:
            parts = fetch_parts(args.fetch, Path(tmp) / "fetch")
            for name, ms in parts:
                print(f"fetch part  {name:42} {ms:7.1f} ms CPU")
            print(f"fetch parts together{'':34} {sum(ms for _, ms in parts):7.1f} ms CPU")


if __name__ == "__main__":
    asyncio.run(main())
