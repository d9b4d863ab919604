"""Zeroconf discovery, bound to 127.0.0.1 only: two peers that share a contract find each other."""

from __future__ import annotations

import asyncio

from pactclient.model import actions
from pactclient.net.service import PeerService

from conftest import shared_contract
from test_net_peers import texts, until


async def test_pinned_peers_find_each_other_on_the_lan(make_party, tmp_path):
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    _, wm = make_party(tmp_path, "Mallory")
    cid = shared_contract([wa, wb])
    # Nobody knows anybody's address: only discovery can connect them.
    services = [PeerService(ws, "127.0.0.1", 0, discovery=True) for ws in (wa, wb, wm)]
    try:
        for svc in services:
            await svc.start()
        sa, sb, sm = services
        await until(lambda: wb.identity.public_key in sa.sessions and wa.identity.public_key in sb.sessions)
        sa.act(cid, actions.note, "found you")
        await until(lambda: "found you" in texts(wb, cid))
        # The stranger was seen but never dialled, and never reached anyone.
        assert not sm.sessions and wm.identity.public_key not in sa.sessions
    finally:
        await asyncio.gather(*(svc.stop() for svc in services))
