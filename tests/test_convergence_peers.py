"""Five peers keep one contract through the real sans-IO protocol while the network misbehaves: a
Hypothesis state machine edits, connects, partitions, drops, duplicates and reorders frames on each
link, and restarts peers (reopening a Workspace from its SQLite file). After healing — every pair
connected over a clean link until quiet — all five copies have identical heads and identical views.

No frame may raise out of the protocol; an honest peer confused by a damaged link may refuse the
other (the link then closes) but never admits anything that breaks convergence.
Longer: ``PACT_CONVERGENCE_PEER_EXAMPLES=300 pytest -s tests/test_convergence_peers.py``.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule, run_state_machine_as_test

from pactclient.identity import DeviceIdentity
from pactclient.store import Workspace
from pactclient.sync import events as ev
from pactclient.sync.connection import PeerConnection

from conftest import FIXED_NOW, FixedClock, new_party, shared_contract, view_data
from hostile import frames_of
from pactclient.sync.frames import encode_frame
from test_convergence import apply_edit

EXAMPLES = int(os.environ.get("PACT_CONVERGENCE_PEER_EXAMPLES", "80"))
PEERS = 5
NAMES = [("Alice", ""), ("Priya", "BT"), ("Sam", "Ombuds"), ("Dan", "Openreach"), ("Eve", "Billing")]
ROLES = ("customer", "supplier", "coordinator", "observer", "observer")
PAIRS = [(i, j) for i in range(PEERS) for j in range(i + 1, PEERS)]
STATS = {"runs": 0, "steps": 0, "dropped": 0, "duplicated": 0, "reordered": 0, "restarts": 0,
         "partitions": 0, "refusals": 0, "seconds": 0.0}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, str]:
    """Five homes sharing one contract, made once and copied for every run."""
    base = tmp_path_factory.mktemp("five")
    parties = [new_party(base / name.lower(), name, org, FixedClock(FIXED_NOW + i * 7))[1]
               for i, (name, org) in enumerate(NAMES)]
    cid = shared_contract(parties, roles=ROLES)
    for ws in parties:
        ws.close()
    return base, cid


class Link:
    """Two connections, one per end, and the frames in flight each way (which the network may damage)."""

    def __init__(self, left: PeerConnection, right: PeerConnection):
        self.ends = (left, right)
        self.flight: tuple[list[bytes], list[bytes]] = ([], [])  # frames towards ends[0], ends[1]

    def collect(self) -> None:
        for side, conn in enumerate(self.ends):
            self.flight[1 - side].extend(encode_frame(f) for f in frames_of(conn.data_to_send()))

    @property
    def closed(self) -> bool:
        return any(c.closed for c in self.ends)


class PeersOnABadNetwork(RuleBasedStateMachine):
    base: Path
    cid: str
    stats = STATS  # a subclass (tests/test_convergence_hostile.py) counts into its own figures

    @initialize()
    def start(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="pact-five-"))
        self.homes = []
        for name, _ in NAMES:
            home = self.tmp / name.lower()
            shutil.copytree(self.base / name.lower(), home)
            self.homes.append(home)
        self.clocks = [FixedClock(FIXED_NOW + 10_000_000 + i * 7) for i in range(PEERS)]
        self.peers = [Workspace(h, DeviceIdentity.load(h), c) for h, c in zip(self.homes, self.clocks)]
        self.links: dict[tuple[int, int], Link] = {}
        self.restarts_left = 3
        self.started = time.monotonic()
        self.stats["runs"] += 1
        for pair in PAIRS:  # everyone starts connected to everyone; partitions and restarts cut links
            self.connect(pair)

    # -- what happens ---------------------------------------------------------------------------------

    @rule(who=st.integers(0, PEERS - 1), kind=st.sampled_from(["note", "item", "status", "propose", "answer"]),
          n=st.integers(0, 11))
    def edit(self, who, kind, n):
        apply_edit(self.peers[who], self.cid, kind, n)
        self._changed(who)

    @rule(pair=st.sampled_from(PAIRS))
    def connect(self, pair):
        link = self.links.get(pair)
        if link is None or link.closed:
            i, j = pair
            left = PeerConnection(self.peers[i], self.peers[j].identity.public_key, dialer=True)
            right = PeerConnection(self.peers[j], self.peers[i].identity.public_key, dialer=False)
            left.start()
            right.start()
            self.links[pair] = link = Link(left, right)
            link.collect()

    @rule(pair=st.sampled_from(PAIRS))
    def partition(self, pair):
        if self.links.pop(pair, None) is not None:
            self.stats["partitions"] += 1

    @precondition(lambda self: self.links)
    @rule(pair_index=st.integers(0, len(PAIRS) - 1), seed=st.integers(0, 2**32), count=st.integers(1, 40))
    def network(self, pair_index, seed, count):
        """Frames move on one link, each possibly dropped, duplicated or overtaken by the next one. (The
        faults come from a seeded generator: Hypothesis, drawing them one by one, favours clean runs.)"""
        live = sorted(self.links)
        pair = live[pair_index % len(live)]
        rng = random.Random(seed)
        for _ in range(count):
            link = self.links.get(pair)
            if link is None:
                return
            side = rng.randrange(2)
            if not link.flight[side]:
                side = 1 - side
            queue = link.flight[side]
            if not queue:
                return
            fault = rng.choices(["deliver", "drop", "duplicate", "reorder"], [70, 10, 10, 10])[0]
            if fault == "drop":
                queue.pop(0)
                self.stats["dropped"] += 1
                continue
            if fault == "duplicate":
                queue.insert(0, queue[0])
                self.stats["duplicated"] += 1
            elif fault == "reorder" and len(queue) > 1:
                queue[0], queue[1] = queue[1], queue[0]
                self.stats["reordered"] += 1
            self._deliver(pair, side)

    @precondition(lambda self: self.restarts_left > 0)  # a few per run, so that traffic dominates
    @rule(who=st.integers(0, PEERS - 1))
    def restart(self, who):
        """The process dies and comes back: its connections are gone, its copy reopens from SQLite."""
        for pair in [p for p in self.links if who in p]:
            del self.links[pair]
        self.restarts_left -= 1
        self.peers[who].close()
        self.peers[who] = Workspace(self.homes[who], DeviceIdentity.load(self.homes[who]), self.clocks[who])
        self.stats["restarts"] += 1

    # -- the protocol's side --------------------------------------------------------------------------

    def _deliver(self, pair, side) -> None:
        link = self.links[pair]
        frame = link.flight[side].pop(0)
        conn = link.ends[side]
        conn.receive_data(frame)  # must never raise, whatever the network did to the frames before
        self.stats["steps"] += 1
        events = conn.events()
        self.stats["refusals"] += sum(isinstance(e, ev.PeerRefused) for e in events)
        link.collect()
        who = pair[side]
        if any(isinstance(e, ev.ChangesAdmitted) for e in events):
            self._changed(who, except_pair=pair)  # relay, as PeerService does

    def _changed(self, who: int, except_pair=None) -> None:
        for pair, link in self.links.items():
            if who in pair and pair != except_pair:
                link.ends[pair.index(who)].local_changed(self.cid)
                link.collect()

    def _pump(self, pair, rounds: int = 200) -> None:
        link = self.links[pair]
        for _ in range(rounds):
            moved = False
            for side in (0, 1):
                while link.flight[side] and not link.ends[side].closed:
                    self._deliver(pair, side)
                    moved = True
            if not moved:
                return
        raise AssertionError("a clean link never went quiet")

    # -- healing ----------------------------------------------------------------------------------------

    def teardown(self):
        try:
            if not hasattr(self, "peers"):
                return
            self.heal()
            self.check_healed()
        finally:
            for p in getattr(self, "peers", []):
                p.close()
            if hasattr(self, "tmp"):
                shutil.rmtree(self.tmp, ignore_errors=True)
            self.stats["seconds"] += time.monotonic() - getattr(self, "started", time.monotonic())

    def heal(self) -> None:
        """Pairwise syncs over clean links until a whole round changes nothing."""
        self.links.clear()
        for _ in range(4):
            before = [p.store.change_count(self.cid) for p in self.peers]
            for pair in PAIRS:
                self.connect(pair)
                self._pump(pair)
                assert not self.links[pair].closed, "honest peers refused each other over a clean link"
                del self.links[pair]
            if [p.store.change_count(self.cid) for p in self.peers] == before:
                break

    def check_healed(self) -> None:
        heads = [sorted(p.document(self.cid).get_heads()) for p in self.peers]
        views = [view_data(p, self.cid) for p in self.peers]
        assert all(h == heads[0] for h in heads[1:]), "heads differ after healing"
        assert all(v == views[0] for v in views[1:]), "views differ after healing"
        reopened = Workspace(self.homes[0], DeviceIdentity.load(self.homes[0]))
        try:
            assert view_data(reopened, self.cid) == views[0]
        finally:
            reopened.close()


def test_five_peers_converge_through_a_bad_network(template):
    base, cid = template
    PeersOnABadNetwork.base, PeersOnABadNetwork.cid = base, cid
    started = time.monotonic()
    run_state_machine_as_test(PeersOnABadNetwork, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=40, deadline=None, database=None,
        derandomize="PACT_CONVERGENCE_PEER_EXAMPLES" not in os.environ, suppress_health_check=list(HealthCheck)))
    print(f"\nconvergence, 5 peers through the protocol: {STATS['runs']} runs, all converged (identical heads and "
          f"views after healing); {STATS['steps']} frames delivered, {STATS['dropped']} dropped, "
          f"{STATS['duplicated']} duplicated, {STATS['reordered']} reordered, {STATS['partitions']} partitions, "
          f"{STATS['restarts']} restarts, {STATS['refusals']} refusals over damaged links; "
          f"{time.monotonic() - started:.1f} s")
    assert STATS["runs"] >= EXAMPLES // 2
