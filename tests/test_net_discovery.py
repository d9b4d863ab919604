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


async def test_a_new_agent_device_finds_its_desk_through_the_party_key(tmp_path):
    """Raj's new laptop, just certified by BT's organisation key, knows no address and is in no
    contract: it finds the desk on the LAN by the party fingerprint both advertise, and receives the
    organisation's case from it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from pactclient.identity.party import certify, init_org, paired_home, raw_public
    from pactclient.store import Workspace
    from conftest import FixedClock

    desk = init_org(tmp_path / "desk", "BT", "BT desk", "desk", 0)
    wd = Workspace(tmp_path / "desk", desk, FixedClock())
    key = Ed25519PrivateKey.generate()
    delegation, cert = certify(desk, raw_public(key), "Raj", "laptop", 0)
    wr = Workspace(tmp_path / "raj", paired_home(tmp_path / "raj", key, delegation, cert), FixedClock())
    try:
        cid = wd.create("A case for the queue", {}, "supplier")
        services = [PeerService(ws, "127.0.0.1", 0, discovery=True) for ws in (wd, wr)]
        try:
            for svc in services:
                await svc.start()
            await until(lambda: wr.store.has_contract(cid))
            assert wr.view(cid).party_by_key(wr.identity.party_key_hex).org == "BT"
        finally:
            await asyncio.gather(*(svc.stop() for svc in services))
    finally:
        wd.close()
        wr.close()
