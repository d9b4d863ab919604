"""Building blocks for the hostile-peer tests: a two-party world with recorded honest frames, Hypothesis
strategies for hostile frames, and a raw Automerge sync-message encoder.

Everything here is test support; the protocol under test is ``pactclient.sync``.
"""

from __future__ import annotations

import hashlib
import random
import struct
import zlib
from dataclasses import dataclass

import msgpack
from hypothesis import strategies as st

from pactclient import catalog
from pactclient.model import actions
from pactclient.sync.carried import carried_hashes
from pactclient.sync.connection import VERSION, PeerConnection
from pactclient.sync.frames import MAX_FRAME_BYTES, MAX_HELLO_BYTES, FrameDecoder, encode_frame


def uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def sync_message(heads: list[bytes], need: list[bytes], changes: list[bytes]) -> bytes:
    """An encoded Automerge sync message (type 0x42, no have entries) carrying ``changes`` as given."""
    out = bytearray([0x42])
    for hashes in (heads, need):
        out += uleb(len(hashes)) + b"".join(hashes)
    out += uleb(0) + uleb(len(changes))
    for change in changes:
        out += uleb(len(change)) + change
    return bytes(out)


def deflated(message: bytes) -> bytes:
    """``message`` as the first ``z`` piece of a new raw DEFLATE stream, ending in a sync flush (what an
    honest sender's first ``sync`` frame for a contract carries; docs/protocol.md, section 3). Made with
    zlib directly, not the implementation's ``DeflateStream``, so the test does not trust what it tests."""
    z = zlib.compressobj(6, zlib.DEFLATED, -11)
    return z.compress(message) + z.flush(zlib.Z_SYNC_FLUSH)


def positional(message: bytes, sigs: dict[bytes, bytes]) -> list | None:
    """The ``s`` field for ``message``: one entry per change chunk it carries, in order (its signature
    from ``sigs``, or nil); None when the message holds something not listed change by change."""
    hashes = carried_hashes(message)
    return None if hashes is None else [sigs.get(h) for h in hashes]


def sync_frame(cid: str, message: bytes, sigs: dict[bytes, bytes], *, wire: str = "z+s", number: int | None = 0) -> dict:
    """A version-2 ``sync`` frame naming ``cid`` (and binding ``number`` to it, unless None) for an
    encoded Automerge message. ``wire`` picks the message field (``z``: deflated, ``m``: as is) and the
    signature field (``s``: positional, as the honest sender; ``sigs``: [hash, sig] pairs, still
    accepted). ``s`` falls back to ``sigs`` when the message's changes cannot be listed."""
    body, how = wire.split("+")
    frame: dict = {"t": "sync", "c": cid}
    if number is not None:
        frame["n"] = number
    frame[body] = deflated(message) if body == "z" else message
    entries = positional(message, sigs) if how == "s" else None
    if entries is None:
        frame["sigs"] = [[h, sig] for h, sig in sigs.items()]
    elif entries:
        frame["s"] = entries
    return frame


def hello(key: bytes, name: str = "B", version: int = VERSION) -> dict:
    return {"t": "hello", "protocol": "pact-sync", "v": version, "key": key, "name": name}


def uncompressed(data: bytes) -> bytes:
    """The change as an uncompressed chunk (type 1). Automerge stores larger changes deflated (type 2);
    their hash is that of the uncompressed form, so a meaningful mutation works on that form."""
    if data[8] != 2:
        return data
    pos, length, shift = 9, 0, 0
    while True:
        byte = data[pos]
        length |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            break
    body = zlib.decompress(data[pos : pos + length], -15)
    inner = b"\x01" + uleb(len(body)) + body
    return data[:4] + hashlib.sha256(inner).digest()[:4] + inner


def rechecksum(chunk: bytearray) -> bytes:
    """A change chunk is ``magic(4) checksum(4) type length body``; the checksum is the first 4 bytes of
    SHA-256 over ``type length body``. Repairing it makes a mutated change parse, with a new hash."""
    chunk[4:8] = hashlib.sha256(bytes(chunk[8:])).digest()[:4]
    return bytes(chunk)


def frames_of(data: bytes) -> list[dict]:
    dec = FrameDecoder()
    dec._limit = MAX_FRAME_BYTES  # read what a side sent, hello included
    dec.feed(data)
    return dec.frames()


@dataclass
class World:
    """Alice's workspace under attack by Bob (a party: his key is the pinned peer key), with the honest
    frames Bob sent her during a real sync, and a contract of Bob's that Alice is not a party of."""

    wa: object
    wb: object
    cid: str
    foreign_cid: str
    unknown_cid: str
    honest: list[dict]  # frames Bob sent: hello, offer, sync messages (their changes are now Alice's)
    # The same sync messages, each as a frame that stands alone on a fresh connection (names the
    # contract by id and number, its ``z`` a new stream): Bob's later frames name the contract by
    # number only and continue his DEFLATE stream, so on a new connection they are refused before
    # their content is looked at; these reach it.
    honest_alone: list[dict]
    messages: list[tuple[bytes, dict]]  # (encoded Automerge message, its signatures by hash) of Bob's sync frames
    foreign_doc: dict  # a well-formed ``doc`` frame for a contract Alice is not a party of
    changes: list[bytes]  # Bob's last changes of the shared contract, uncompressed (type 1 chunks)
    history: list[bytes]  # every change of the shared contract, uncompressed, dependencies first

    def state(self) -> tuple:
        """What no hostile frame may change: every stored change and snapshot, and the contract list."""
        db = self.wa.store.db
        return (db.execute("SELECT count(*), max(rowid) FROM changes").fetchone(),
                db.execute("SELECT count(*), max(last_rowid) FROM snapshots").fetchone(),
                tuple(self.wa.store.contract_ids()), sorted(self.wa.document(self.cid).get_heads()))

    def connection(self, shared: bool) -> PeerConnection:
        """Alice's side of a fresh connection from Bob, greeted; if ``shared``, the contract is shared
        and Alice wants two contracts she lacks (so ``doc`` frames reach the document code)."""
        conn = PeerConnection(self.wa, self.wb.identity.public_key, dialer=False)
        preamble = self._greeting + (self._offer if shared else b"")
        conn.receive_data(preamble)
        conn.data_to_send()
        conn.events()
        return conn

    def __post_init__(self) -> None:
        self._greeting = encode_frame(self.honest[0])
        self._offer = encode_frame({"t": "offer", "contracts": {self.cid: [], self.foreign_cid: [], self.unknown_cid: []},
                                    "more": False})

    def number(self, cid: str) -> int:
        """The number a hostile Bob binds to each contract he names (one each, so that frames sent on
        one connection never clash over a number by accident: a clash is its own, separate refusal)."""
        return {self.cid: 0, self.foreign_cid: 1, self.unknown_cid: 2}.get(cid, 3)


def pump(x, y, tap: list | None = None, rounds: int = 60) -> None:
    """Deliver bytes both ways until quiet; ``tap`` collects the frames ``x`` sent."""
    for _ in range(rounds):
        a, b = x.data_to_send(), y.data_to_send()
        if not a and not b:
            return
        if a:
            if tap is not None:
                tap.extend(frames_of(a))
            y.receive_data(a)
        if b:
            x.receive_data(b)
    raise AssertionError("the two sides never went quiet")


def build_world(wa, wb, shared_contract) -> World:
    cid = shared_contract([wa, wb])
    wb.act(cid, actions.note, "before the connection")
    conn_a = PeerConnection(wa, wb.identity.public_key, dialer=True)
    conn_b = PeerConnection(wb, wa.identity.public_key, dialer=False)
    honest: list[dict] = []
    conn_a.start()
    conn_b.start()
    pump(conn_b, conn_a, honest)
    for i in range(3):
        wb.act(cid, actions.note, f"live note {i}")
        conn_b.local_changed(cid)
        pump(conn_b, conn_a, honest)
    assert sorted(wa.document(cid).get_heads()) == sorted(wb.document(cid).get_heads())
    foreign = wb.create("Bob's own case", catalog.load("broadband-fault"), "supplier")
    sigs = wb.head_signatures(foreign)  # as an honest ``doc`` carries them: the author heads' only
    foreign_doc = {"t": "doc", "c": foreign, "data": wb.document(foreign).save(), "sigs": [[h, s] for h, s in sigs.items()]}
    history = [uncompressed(data) for _, data, _ in wb.signed_changes(cid)]
    # Bob's sync frames, inflated as Alice did (one stream for the contract): the messages themselves.
    inflater = zlib.decompressobj(-15)
    messages = []
    for frame in honest:
        if frame["t"] == "sync":
            message = inflater.decompress(frame["z"])
            hashes = carried_hashes(message) or []
            assert "s" not in frame or len(frame["s"]) == len(hashes)
            messages.append((message, {h: sig for h, sig in zip(hashes, frame.get("s", [])) if sig is not None}))
    assert len(messages) >= 4 and any(sigs for _, sigs in messages)
    alone = [sync_frame(cid, m, sigs) for m, sigs in messages]
    foreign_doc["n"] = 1
    return World(wa, wb, cid, foreign, "0" * 32, honest, alone, messages, foreign_doc, history[-4:], history)


# -- Hypothesis strategies -------------------------------------------------------------------------

leaf = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=True)
        | st.text(max_size=20) | st.binary(max_size=40))
hostile_value = st.recursive(leaf, lambda inner: st.lists(inner, max_size=4)
                             | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
FRAME_TYPES = ["hello", "offer", "want", "doc", "sync", "ping", "pong", "bye", "error", "redeem", "joined", "nonsense"]
FAMILIES = ["garbage", "huge_length", "deep", "wrong_field", "automerge", "deflate", "doc", "replay", "mutated_frame",
            "crafted_change"]
# How a hostile sync frame carries its message and signatures: the honest sender's ``z`` and ``s``, and
# the other forms the receiver still accepts (``m``, ``sigs``).
WIRES = ["z+s", "z+sigs", "m+s", "m+sigs"]


def _with_length(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def _mutate(data: bytes, draw) -> bytes:
    """Bit flips, truncation, insertion or a splice: a damaged copy of ``data``."""
    data = bytearray(data)
    how = draw(st.sampled_from(["flip", "truncate", "insert", "overwrite"]))
    if not data or how == "insert":
        at = draw(st.integers(0, len(data)))
        return bytes(data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:])
    if how == "flip":
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] ^= 1 << draw(st.integers(0, 7))
        return bytes(data)
    if how == "truncate":
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    at = draw(st.integers(0, len(data) - 1))
    patch = draw(st.binary(min_size=1, max_size=9))
    return bytes(data[:at] + patch + data[at + len(patch):])


@st.composite
def hostile_frame(draw, world: World) -> tuple[str, bytes]:
    """(kind, bytes on the wire) of one hostile frame, sent after a hello."""
    kind = draw(st.sampled_from(FAMILIES))
    if kind == "garbage":  # not msgpack, or msgpack that is not a frame
        body = draw(st.binary(max_size=200) | hostile_value.map(lambda v: msgpack.packb(v, use_bin_type=True)))
        return kind, _with_length(body)
    if kind == "huge_length":
        length = draw(st.integers(MAX_FRAME_BYTES + 1, 2**32 - 1) | st.integers(MAX_HELLO_BYTES + 1, MAX_FRAME_BYTES))
        return kind, struct.pack(">I", length) + draw(st.binary(max_size=64))
    if kind == "deep":  # nesting far past what any frame needs, in a field or as the whole body
        depth = draw(st.integers(100, 5000))
        opener = draw(st.sampled_from([b"\x91", b"\x81\xa1k"]))
        nested = opener * depth + b"\xc0"
        field = draw(st.sampled_from(["name", "m", "z", "s", "n", "contracts", "sigs", "reason"]))
        head = msgpack.packb({"t": draw(st.sampled_from(FRAME_TYPES)), "c": world.cid}, use_bin_type=True)
        body = bytes([head[0] + 1]) + head[1:] + msgpack.packb(field) + nested
        return kind, _with_length(draw(st.sampled_from([body, nested])))
    if kind == "wrong_field":  # every frame type, one field of a wrong type (or missing, or extra)
        frame = dict(draw(st.sampled_from(_templates(world))))
        name = draw(st.sampled_from(sorted(frame) + ["extra"]))
        if draw(st.booleans()) and name in frame:
            del frame[name]
        else:
            frame[name] = draw(hostile_value)
        return kind, _with_length(msgpack.packb(frame, use_bin_type=True))
    if kind == "automerge":  # undecodable or damaged Automerge sync messages
        base = draw(st.sampled_from([m for m, _ in world.messages]))
        m = draw(st.sampled_from([
            _mutate(base, draw), draw(st.binary(max_size=300)), b"\x42" + draw(st.binary(max_size=100)),
            b"\x42" + uleb(draw(st.integers(2**20, 2**62))) + draw(st.binary(max_size=40)),
            sync_message([], [], [draw(st.binary(max_size=200))]),
        ]))
        sigs = draw(st.sampled_from([{}, {bytes(32): bytes(64)}, world.messages[0][1]]))
        return kind, encode_frame(sync_frame(world.cid, m, sigs, wire=draw(st.sampled_from(WIRES))))
    if kind == "deflate":  # ``z`` pieces that do not inflate, end the stream, or hold something else
        base = draw(st.sampled_from([m for m, _ in world.messages]))
        # (A piece inflating past the 64 MiB limit costs ~0.1 s to refuse: test_resource_limits tries it once.)
        how = draw(st.sampled_from(["damaged", "random", "final block", "zlib wrapper", "two messages"]))
        if how == "damaged":
            z = _mutate(deflated(base), draw)
        elif how == "random":
            z = draw(st.binary(max_size=300))
        elif how == "final block":  # a complete stream: "ending the stream" is a protocol error
            c = zlib.compressobj(6, zlib.DEFLATED, -11)
            z = c.compress(base) + c.flush()
        elif how == "zlib wrapper":
            z = zlib.compress(base)
        else:  # two whole messages in one piece: inflates, but does not decode as one message
            z = deflated(base + base)
        frame = {"t": "sync", "c": world.cid, "n": 0, "z": z}
        frame.update(draw(st.sampled_from([{}, {"s": [None]}, {"s": list(world.messages[0][1].values())},
                                           {"sigs": [[h, sig] for h, sig in world.messages[0][1].items()]}])))
        return kind, encode_frame(frame)
    if kind == "doc":  # damaged saved documents, for a contract asked for and for one not asked for
        data = _mutate(world.foreign_doc["data"], draw) if draw(st.booleans()) else draw(st.binary(max_size=300))
        cid = draw(st.sampled_from([world.foreign_cid, world.unknown_cid, world.cid]))
        return kind, encode_frame({"t": "doc", "c": cid, "n": world.number(cid), "data": data, "sigs": world.foreign_doc["sigs"]})
    if kind == "replay":  # honest frames again, whose changes Alice already holds, or honest out of place
        frame = draw(st.sampled_from(world.honest + world.honest_alone + [world.foreign_doc]))
        return kind, encode_frame(frame)
    if kind == "crafted_change":  # a change damaged *and* given a valid checksum, so Automerge parses it
        original = draw(st.sampled_from(world.changes))
        body = bytearray(original)
        rng = random.Random(draw(st.integers(0, 2**32)))  # positions spread evenly over the change
        for _ in range(rng.randint(1, 2)):
            body[rng.randrange(8, len(body))] ^= 1 << rng.randrange(8)
        crafted = rechecksum(body)
        sigs = {hashlib.sha256(crafted[8:]).digest(): draw(st.binary(min_size=64, max_size=64))}
        if draw(st.booleans()):
            m = sync_message([], [], [crafted])
            return kind, encode_frame(sync_frame(world.cid, m, sigs, wire=draw(st.sampled_from(WIRES))))
        # As a whole document: the history up to the crafted change (loading that is where panics lurk).
        data = b"".join(world.history[: world.history.index(original)]) + crafted
        return kind, encode_frame({"t": "doc", "c": world.foreign_cid, "n": 1, "data": data,
                                   "sigs": [[h, sig] for h, sig in sigs.items()]})
    frame = draw(st.sampled_from(world.honest))  # mutated_frame: honest frame bytes, damaged
    return kind, _with_length(_mutate(msgpack.packb(frame, use_bin_type=True), draw))


def _templates(world: World) -> list[dict]:
    sync = next(f for f in world.honest if f["t"] == "sync")  # the first: binds the number, starts the stream
    m_form = sync_frame(world.cid, *world.messages[0], wire="m+sigs")
    key = world.wb.identity.public_key
    return [
        world.honest[0], {"t": "offer", "contracts": {world.cid: []}, "more": True}, {"t": "want", "c": world.cid, "n": 0},
        world.foreign_doc, sync, m_form, world.honest_alone[-1], {"t": "ping"}, {"t": "pong"}, {"t": "bye"},
        {"t": "error", "reason": "no"},
        {"t": "redeem", "protocol": "pact-sync", "v": VERSION, "invite": bytes(8), "secret": bytes(16), "key": key,
         "name": "B", "org": ""},
        {"t": "joined", "c": world.cid, "message": "", "name": "", "port": 1, "data": b"", "sigs": []},
    ]


def cheap_mutants(data: bytes, seed: int, count: int) -> list[bytes]:
    """``count`` damaged copies of a frame's bytes, made without Hypothesis (which costs ~1 ms a frame):
    flipped bits, a cut or grown body under a corrected length prefix, or a wrong length prefix."""
    rng = random.Random(seed)
    body = data[4:]
    out = []
    for _ in range(count):
        b = bytearray(body)
        how = rng.randrange(4)
        if how == 0 and b:
            for _ in range(rng.randint(1, 3)):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif how == 1 and b:
            del b[rng.randrange(len(b)):]
        elif how == 2:
            at = rng.randint(0, len(b))
            b[at:at] = rng.randbytes(rng.randint(1, 8))
        else:
            out.append(struct.pack(">I", rng.randrange(2**32)) + bytes(b))
            continue
        out.append(_with_length(bytes(b)))
    return out


def needs_shared_contract(data: bytes) -> bool:
    """Whether a frame can reach the sync or document code at all: only then does its connection need
    the (costlier) shared contract set up first."""
    try:
        frame = msgpack.unpackb(data[4:], raw=False)
    except Exception:
        return False
    return isinstance(frame, dict) and frame.get("t") in ("sync", "doc", "want", "offer")
