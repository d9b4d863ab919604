"""Hostile frames: malformed msgpack, huge declared lengths, deep nesting, wrong types in every field,
undecodable or damaged Automerge messages and documents, ``z`` pieces that do not inflate to one message,
changes damaged under a repaired checksum (some make the Automerge bindings panic), replays — in the
version-2 wire format (``z``/``s``, contracts named by ``c`` and ``n``) and in the forms the receiver still
accepts (``m``, ``sigs``, ``c`` alone) — fed to the sans-IO protocol of a
device whose peer is a party gone rogue (its key is pinned, so only the frames can hurt).

Every frame must end in one of: handled (a ping, a replay of what is already held), refused with the
protocol's ``error`` frame and the connection closed, the connection closed by the peer's own
``bye``/``error``, or waiting for the rest of a frame. Never an exception, never a hang, never a change
to the store.

CI runs 100,000 frames (derandomized, so every run is the same). A longer hunt draws new frames each
run: ``PACT_HOSTILE_FRAMES=1000000 pytest -s tests/test_hostile_frames.py``.
"""

from __future__ import annotations

import faulthandler
import os
import time
from collections import Counter

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pactclient.sync import events as ev
from pactclient.sync.connection import VERSION
from pactclient.sync.invites import InviteHost, create_invite

from conftest import new_party, shared_contract
from hostile import (FAMILIES, FRAME_TYPES, build_world, cheap_mutants, frames_of, hostile_frame, hostile_value,
                     needs_shared_contract, _with_length)

FRAMES = int(os.environ.get("PACT_HOSTILE_FRAMES", "100000"))
LONG_RUN = "PACT_HOSTILE_FRAMES" in os.environ
DRAWN = 10  # frames Hypothesis draws per example...
MUTANTS = 9  # ...each followed by this many cheaply damaged copies: Hypothesis alone costs ~1 ms a frame
BATCH = DRAWN * (1 + MUTANTS)
HANG_LIMIT = 10.0  # seconds for one frame: far beyond any real handling, well short of a hang


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    _, wa = new_party(base / "alice", "Alice")
    _, wb = new_party(base / "bob", "Bob", "BT")
    try:
        yield build_world(wa, wb, shared_contract)
    finally:
        wa.close()
        wb.close()


def _peer_said_goodbye(data: bytes) -> bool:
    try:
        return msgpack.unpackb(data[4:], raw=False).get("t") in ("bye", "error")
    except Exception:
        return False


def test_hostile_frames_are_refused_without_crash_hang_or_change(world):
    baseline = world.state()
    quick = world.wa.store.db.execute
    outcomes: Counter = Counter()
    kinds: Counter = Counter()
    slowest = [0.0]
    faulthandler.dump_traceback_later(max(600, FRAMES // 100), exit=True)  # a real hang ends the run loudly
    started = time.monotonic()

    @settings(max_examples=max(1, FRAMES // BATCH), deadline=None, derandomize=not LONG_RUN, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(hostile_frame(world), st.integers(0, 2**32)), min_size=DRAWN, max_size=DRAWN))
    def feed(drawn):
        batch = []
        for (kind, data), seed in drawn:
            batch.append((kind, data))
            batch.extend((kind + "+damaged", m) for m in cheap_mutants(data, seed, MUTANTS))
        conn = None
        before = quick("SELECT count(*), max(rowid) FROM changes").fetchone()
        for kind, data in batch:
            shared = needs_shared_contract(data)
            if conn is None or conn.closed or conn._decoder._buffer or (shared and not conn.shared):
                conn = world.connection(shared=shared)
            t0 = time.perf_counter()
            conn.receive_data(data)  # must never raise
            slowest[0] = max(slowest[0], time.perf_counter() - t0)
            sent = frames_of(conn.data_to_send())
            refused = [e for e in conn.events() if isinstance(e, ev.PeerRefused)]
            kinds[kind] += 1
            if refused:
                assert conn.closed and sent and sent[-1] == {"t": "error", "reason": refused[0].reason}
                outcomes["refused with error"] += 1
            elif conn.closed:
                assert _peer_said_goodbye(data), f"closed without saying why on {kind}: {data[:80]!r}"
                outcomes["closed by the peer's bye/error"] += 1
            elif conn._decoder._buffer:
                outcomes["waiting for the rest"] += 1
            else:
                assert all(f["t"] in ("pong", "sync", "want", "doc") for f in sent), sent
                outcomes["handled"] += 1
        assert quick("SELECT count(*), max(rowid) FROM changes").fetchone() == before
        assert world.state() == baseline

    try:
        feed()
    finally:
        faulthandler.cancel_dump_traceback_later()
    elapsed = time.monotonic() - started
    total = sum(kinds.values())
    print(f"\nhostile frames: {total} fed in {elapsed:.1f} s, 0 crashes, 0 hangs (slowest frame {slowest[0] * 1000:.1f} ms), "
          f"0 state changes; outcomes {dict(outcomes)}; kinds {dict(kinds)}")
    assert world.state() == baseline
    assert total >= FRAMES
    assert slowest[0] < HANG_LIMIT
    # Every family of attack was tried, and most hostile frames were refused outright.
    families = set(FAMILIES)
    assert set(kinds) == families | {f + "+damaged" for f in families}
    assert outcomes["refused with error"] > total // 2


def test_hostile_frames_on_the_invite_port_change_nothing(world):
    """The invite listener reads one frame from a stranger: only a valid redemption may change anything."""
    wa = world.wa
    code = create_invite(wa, world.cid, "observer", ["127.0.0.1:7401"])
    db = wa.store.db

    def invite_state():
        return (db.execute("SELECT count(*) FROM peers").fetchone(), db.execute("SELECT count(*), max(rowid) FROM changes").fetchone(),
                db.execute("SELECT used_at FROM invites WHERE id=?", (code.invite_id,)).fetchone())

    baseline = invite_state()
    # The current version: a version-1 redemption would be refused before any field is looked at.
    redeem = {"t": "redeem", "protocol": "pact-sync", "v": VERSION, "invite": code.invite_id, "secret": bytes(16),
              "key": world.wb.identity.public_key, "name": "B", "org": ""}
    refused = Counter()

    frame = st.one_of(
        st.binary(max_size=120).map(_with_length),
        st.builds(lambda name, value: {**redeem, name: value}, st.sampled_from(sorted(redeem)), hostile_value)
        .map(lambda f: _with_length(msgpack.packb(f, use_bin_type=True))),
        st.sampled_from(FRAME_TYPES).map(lambda t: _with_length(msgpack.packb({"t": t}))),
    )

    @settings(max_examples=40, deadline=None, derandomize=not LONG_RUN, database=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(frame, min_size=25, max_size=25))
    def feed(batch):
        for data in batch:
            host = InviteHost(wa, 7400)
            host.receive_data(data)  # must never raise
            sent = frames_of(host.data_to_send())
            if host.closed:
                assert sent and sent[-1]["t"] == "error"
                refused["refused"] += 1
            else:
                refused["waiting"] += 1
        assert invite_state() == baseline

    feed()
    print(f"\ninvite port: {sum(refused.values())} hostile frames, {dict(refused)}, 0 redeemed, 0 state changes")
    assert refused["refused"] > 0
