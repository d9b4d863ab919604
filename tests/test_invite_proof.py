"""Invite redemption over real TLS sockets on 127.0.0.1: the redeemer must prove the key it names, a
blocked key stays blocked, and an invite row the device did not authenticate never makes it sign.

Each refusal must leave the inviter's copy as it was: no change signed, the invite still unused, no
peer added or unblocked.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3

import pytest

from pactclient import catalog
from pactclient.errors import RefusedOperation
from pactclient.identity.certs import INVITE_SERVER_NAME, tls_contexts
from pactclient.net.oneshot import join
from pactclient.net.service import PeerService, split_address
from pactclient.net.session import Session
from pactclient.sync import events as ev
from pactclient.sync.connection import PROTOCOL, VERSION
from pactclient.sync.invites import InviteCode, InviteGuest, redemption_message

from conftest import copy_state

LIMIT = 20.0


@pytest.fixture
async def inviter(make_party, tmp_path):
    _, wa = make_party(tmp_path, "Alice")
    cid = wa.create("Mail re-downloads", catalog.load("broadband-fault"), "customer")
    svc = PeerService(wa, "127.0.0.1", 0)
    await svc.start()
    yield wa, cid, svc
    await svc.stop()


def inviter_state(ws, cid, code: InviteCode):
    used = ws.store.db.execute("SELECT used_at, used_by FROM invites WHERE id=?", (code.invite_id,)).fetchone()
    return copy_state(ws, cid), used, sorted((p["key"], p["state"]) for p in ws.store.peers())


class NamingAnotherKey(InviteGuest):
    """A code holder that names ``claimed`` (a key it does not hold) and proves it as ``how`` says."""

    def __init__(self, ws, code, host, claimed, how: str, victim=None):
        super().__init__(ws, code, host)
        self.claimed, self.how, self.victim = claimed, how, victim

    def _redeem(self, nonce: bytes) -> None:
        code = self.code
        frame = {"t": "redeem", "protocol": PROTOCOL, "v": VERSION, "invite": code.invite_id, "secret": code.secret,
                 "key": self.claimed, "name": "Mallory", "org": ""}
        if self.how == "signed with its own key":
            frame["proof"] = self.ws.identity.sign(
                redemption_message(code.invite_id, code.contract_id, code.inviter_key, self.claimed, nonce))
        elif self.how == "the key's signature for another connection":
            # A genuine signature by the named key, but over another nonce (a captured earlier proof).
            frame["proof"] = self.victim.sign(
                redemption_message(code.invite_id, code.contract_id, code.inviter_key, self.claimed, os.urandom(32)))
        elif self.how == "the key's signature for another invite":
            frame["proof"] = self.victim.sign(
                redemption_message(os.urandom(8), code.contract_id, code.inviter_key, self.claimed, nonce))
        self._send(frame)
        self.redeemed = True


async def redeem_with(guest: InviteGuest) -> list:
    """Run ``guest`` against the first address of its code, over a real TLS connection, as pact join does."""
    code = guest.code
    host, port = split_address(code.addresses[0])
    reader, writer = await asyncio.wait_for(asyncio.open_connection(
        host, port, ssl=tls_contexts(guest.ws.identity).client([code.inviter_key]),
        server_hostname=INVITE_SERVER_NAME), LIMIT)
    seen: list = []
    await asyncio.wait_for(Session(reader, writer, guest, lambda _s, events: seen.extend(events),
                                   code.inviter_key, True).run(), LIMIT)
    return seen


@pytest.mark.parametrize("how", ["no proof", "signed with its own key", "the key's signature for another connection",
                                 "the key's signature for another invite"])
async def test_a_code_holder_naming_a_key_it_does_not_hold_is_refused(inviter, make_party, tmp_path, how):
    wa, cid, svc = inviter
    victim, _ = make_party(tmp_path, "Victim")
    _, wm = make_party(tmp_path, "Mallory")
    code = svc.invite(cid, "supplier")
    before = inviter_state(wa, cid, code)
    seen = await redeem_with(NamingAnotherKey(wm, code, "127.0.0.1", victim.public_key, how, victim))
    refused = [e.reason for e in seen if isinstance(e, ev.RefusedByPeer)]
    assert refused and "prove possession" in refused[0]
    assert inviter_state(wa, cid, code) == before  # nothing signed, the invite unused, no peer added
    assert wa.view(cid).party_by_key(victim.key_hex) is None and not wm.store.has_contract(cid)
    # The code still works for a device that holds its key.
    _, wp = make_party(tmp_path, "Priya", "BT")
    done = await join(wp, code)
    assert wa.view(cid).party_by_key(wp.identity.key_hex).role == "supplier" and done.contract_id == cid


async def test_a_blocked_key_cannot_join_and_stays_blocked(inviter, make_party, tmp_path):
    wa, cid, svc = inviter
    blocked, wb = make_party(tmp_path, "Blocked")
    with wa.store.write():
        wa.store.put_peer(blocked.key_hex, "Blocked", "", "blocked")
    code = svc.invite(cid, "supplier")
    before = inviter_state(wa, cid, code)
    with pytest.raises(RefusedOperation, match="blocked"):
        await join(wb, code)
    assert inviter_state(wa, cid, code) == before
    assert wa.store.peer_state(blocked.key_hex) == "blocked"
    assert blocked.public_key not in svc.tls.pinned()
    assert not wb.store.has_contract(cid)


def forge_invite_row(ws, cid: str, role: str, how: str, code: InviteCode | None = None) -> InviteCode:
    """Write an invite row with sqlite3, as someone holding pact.db but not the device key would."""
    db = sqlite3.connect(ws.home / "pact.db")
    now = ws.clock()
    if how == "injected":
        secret, invite_id = os.urandom(16), os.urandom(8)
        db.execute("INSERT INTO invites (id, contract_id, role, secret_hash, created_at, expires_at, mac)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (invite_id, cid, role, hashlib.sha256(secret).digest(), now, now + 3_600_000, os.urandom(32)))
        code = InviteCode(cid, ws.identity.public_key, invite_id, secret, now + 3_600_000, code.addresses)
    elif how == "injected without a mac":
        secret, invite_id = os.urandom(16), os.urandom(8)
        db.execute("INSERT INTO invites (id, contract_id, role, secret_hash, created_at, expires_at)"
                   " VALUES (?, ?, ?, ?, ?, ?)", (invite_id, cid, role, hashlib.sha256(secret).digest(), now, now + 3_600_000))
        code = InviteCode(cid, ws.identity.public_key, invite_id, secret, now + 3_600_000, code.addresses)
    elif how == "role altered":
        db.execute("UPDATE invites SET role=? WHERE id=?", (role, code.invite_id))
    elif how == "secret replaced":
        secret = os.urandom(16)
        db.execute("UPDATE invites SET secret_hash=? WHERE id=?", (hashlib.sha256(secret).digest(), code.invite_id))
        code = InviteCode(cid, code.inviter_key, code.invite_id, secret, code.expires_at, code.addresses)
    db.commit()
    db.close()
    return code


@pytest.mark.parametrize("how", ["injected", "injected without a mac", "role altered", "secret replaced"])
async def test_an_invite_row_this_device_did_not_authenticate_signs_nothing(inviter, make_party, tmp_path, how):
    wa, cid, svc = inviter
    genuine = svc.invite(cid, "observer")
    code = forge_invite_row(wa, cid, "supplier", how, genuine)
    _, wm = make_party(tmp_path, "Mallory")
    before = inviter_state(wa, cid, code)
    with pytest.raises(RefusedOperation, match="not authenticated by this device"):
        await join(wm, code)
    assert inviter_state(wa, cid, code) == before
    assert wa.view(cid).party_by_key(wm.identity.key_hex) is None
