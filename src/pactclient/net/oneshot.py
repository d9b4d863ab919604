"""One-shot operations for the CLI: join with an invite code, sync once with known peers."""

from __future__ import annotations

import asyncio
import logging

from pactclient.errors import PactError, RefusedOperation, RemoteProtocolError
from pactclient.identity.certs import INVITE_SERVER_NAME
from pactclient.net.reasons import dial_failure
from pactclient.net.service import HANDSHAKE_TIMEOUT, PeerService, split_address
from pactclient.net.session import Session
from pactclient.store.workspace import Workspace
from pactclient.sync import events as ev
from pactclient.model import actions
from pactclient.sync.invites import InviteCode, InviteGuest

log = logging.getLogger("pact.net")


async def join(ws: Workspace, code: InviteCode) -> ev.JoinCompleted:
    """Redeem ``code`` at the first of its addresses that answers; the contract is then stored here."""
    if code.expires_at <= ws.clock():
        raise RefusedOperation("this invite code has expired; ask for a new one")
    tls = PeerService(ws, dial_known=False).tls
    failures = []
    for address in code.addresses:
        host, port = split_address(address)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                host, port, ssl=tls.client(only=code.inviter_key), server_hostname=INVITE_SERVER_NAME,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT), HANDSHAKE_TIMEOUT + 1)
        except (OSError, asyncio.TimeoutError) as exc:
            failures.append(f"{address}: {dial_failure(exc)}")
            continue
        seen: list = []
        guest = InviteGuest(ws, code, host)
        await Session(reader, writer, guest, lambda _s, events: seen.extend(events), code.inviter_key, True).run()
        for event in seen:
            if isinstance(event, ev.JoinCompleted):
                accept_on_joining(ws, event.contract_id)
                return event
            if isinstance(event, ev.RefusedByPeer):
                raise RefusedOperation(f"the inviter refused: {event.reason}")
            if isinstance(event, ev.PeerRefused):
                raise RemoteProtocolError(event.reason)
        raise RemoteProtocolError(f"{address} closed the connection before the contract arrived")
    raise PactError("cannot reach the inviter at " + "; ".join(failures) + " (is `pact serve` running there?)")


def accept_on_joining(ws: Workspace, contract_id: str) -> bool:
    """Joining is accepting: once this device is a party of the received contract, its first change
    accepts the terms as they stand (``actions.accept_terms``). False if the addition still waits for
    other parties' answers (nothing is written then)."""
    me = ws.view(contract_id).party_by_key(ws.identity.party_key_hex)
    if me is None:
        return False
    if not me.accepted:
        ws.act(contract_id, actions.accept_terms)
    return True


async def sync_once(ws: Workspace, addresses: list[str], limit: float = 60.0) -> tuple[list, list[str], dict[str, int]]:
    """Sync with each address until in step. Returns (events, failures, changes sent per contract)."""
    service = PeerService(ws, dial_known=False)
    seen: list = []
    failures: list[str] = []
    sent: dict[str, int] = {}
    service.subscribe(seen.append)
    for address in addresses:
        try:
            session = await service.sync_with(address, limit)
        except PactError as exc:
            failures.append(str(exc))
            continue
        except (OSError, asyncio.TimeoutError) as exc:
            failures.append(f"{address}: {dial_failure(exc)}")
            continue
        for cid, n in session.exchange.sent.items():
            sent[cid] = sent.get(cid, 0) + n
        session.exchange.close()
        session.push_soon()
        session.writer.close()
        await session.ended.wait()
    await service.stop()
    return seen, failures, sent


async def pair(home, code, person_hint: str = "", now: int | None = None):
    """Redeem a pairing ``code`` (``sync.pairing.PairingCode``) from a new home: a new device key,
    proven to the host over TLS pinned to the code's party key; the home is written only once the
    host's delegation and certificate check out. Returns (identity, host address for sync, host name)."""
    import time

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from pactclient.identity.certs import tls_contexts
    from pactclient.identity.device import DeviceIdentity
    from pactclient.identity.party import paired_home
    from pactclient.sync.frames import FrameDecoder, encode_frame
    from pactclient.sync.pairing import PairGuest

    now = int(time.time() * 1000) if now is None else now
    if code.expires_at <= now:
        raise RefusedOperation("this pairing code has expired; make a new one on the device that holds the party key")
    device = DeviceIdentity(name=person_hint or "new device", org="", private_key=Ed25519PrivateKey.generate())
    failures = []
    for address in code.addresses:
        host, port = split_address(address)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                host, port, ssl=tls_contexts(device).client([code.party_key]), server_hostname=INVITE_SERVER_NAME,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT), HANDSHAKE_TIMEOUT + 1)
        except (OSError, asyncio.TimeoutError) as exc:
            failures.append(f"{address}: {dial_failure(exc)}")
            continue
        guest, decoder = PairGuest(device, code), FrameDecoder()
        try:
            while not guest.closed:
                data = await asyncio.wait_for(reader.read(1 << 16), HANDSHAKE_TIMEOUT * 4)
                if not data:
                    break
                decoder.feed(data)
                for frame in decoder.frames():
                    reply = guest.answer(frame)
                    if reply is not None:
                        writer.write(encode_frame(reply))
                        await writer.drain()
        finally:
            writer.close()
        if guest.error:
            raise RefusedOperation(f"the party's device refused: {guest.error}")
        if guest.result is None:
            raise RemoteProtocolError(f"{address} closed the connection before the pairing completed")
        delegation, certificate, host_name = guest.result
        identity = paired_home(home, device.private_key, delegation, certificate)
        return identity, f"{host}:{guest.port}" if guest.port else "", host_name
    raise PactError("cannot reach the party's device at " + "; ".join(failures) + " (is `pact serve` running there?)")
