"""Network faults between two real peers on 127.0.0.1, through ``faultproxy.FaultProxy``: latency, 1-byte
slices, a reset mid-frame, a black hole. Every sync attempt ends by itself (0 hangs), and once the
fault clears one more sync brings both copies to the same heads (full resync)."""

from __future__ import annotations

import asyncio
import time

import pytest

from pactclient.model import actions
from pactclient.net import service as service_mod
from pactclient.net import session as session_mod
from pactclient.net.oneshot import sync_once
from pactclient.net.service import PeerService

from conftest import shared_contract
from faultproxy import FaultProxy

HANG = 30.0  # a sync attempt that has not ended after this long is a hang


@pytest.fixture
def short_timeouts(monkeypatch):
    # The real bounds are 10 s (handshake, hello) and 45 s (silence); the same code, shortened.
    monkeypatch.setattr(service_mod, "HANDSHAKE_TIMEOUT", 1.0)
    monkeypatch.setattr(session_mod, "HELLO_TIMEOUT", 1.0)
    monkeypatch.setattr(session_mod, "PING_AFTER", 0.3)
    monkeypatch.setattr(session_mod, "DEAD_AFTER", 1.5)


async def test_faults_never_hang_and_sync_completes_once_they_clear(make_party, tmp_path, short_timeouts):
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb])
    sa = PeerService(wa, "127.0.0.1", 0, dial_known=False)
    await sa.start()
    proxy = FaultProxy(sa.address)
    await proxy.start()
    report = []
    try:
        for mode in ("latency", "slices", "reset", "blackhole"):
            for i in range(15):
                wa.act(cid, actions.note, f"{mode} {i}")
            wb.act(cid, actions.note, f"Priya during {mode}")
            proxy.mode = mode
            started = time.monotonic()
            _, failures, _ = await asyncio.wait_for(sync_once(wb, [proxy.address], limit=3.0), HANG)
            faulty = time.monotonic() - started
            proxy.mode = "clean"
            _, clean_failures, _ = await asyncio.wait_for(sync_once(wb, [proxy.address], limit=10.0), HANG)
            assert not clean_failures, clean_failures
            same = sorted(wa.document(cid).get_heads()) == sorted(wb.document(cid).get_heads())
            report.append(f"{mode}: attempt ended in {faulty:.1f} s ({'failed' if failures else 'synced'}), "
                          f"resynced={same}")
            assert same, mode
            assert wa.store.change_count(cid) == wb.store.change_count(cid)
    finally:
        await proxy.stop()
        await sa.stop()
    print("\nnetwork faults: 4 modes, 0 hangs, full resync after each; " + "; ".join(report))
