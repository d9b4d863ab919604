"""``PeerService``: the always-on peer that ``pact serve`` and the TUI run in-process.

Interface (all on one asyncio loop)::

    service = PeerService(workspace, host="127.0.0.1", port=0, discovery=False)
    await service.start()            # listen, dial known peers, watch the store for local edits
    service.subscribe(callback)      # callback(event) for every pactclient.sync.events fact
    service.address                  # "host:port" it listens on
    service.status()                 # {"state", "listening", "peers_online", "peers": [...]}
    service.invite(contract_id, role=None, ttl_ms) -> InviteCode   # role None: the first unfilled one
    service.act(contract_id, action, *args)   # a local edit, pushed to peers at once
    await service.sync_with(address)          # dial one address and return when both are in step
    await service.stop()

A local edit (``act``) or an admitted change is offered to peers as soon as it is committed; the
workspace's upkeep (summary index, compaction) waits ``UPKEEP_AFTER`` seconds so that it never delays
that, and a burst of edits pays for it once. Edits written by other processes of the same home
(``pact note`` while ``pact serve`` runs) are found by polling the store every ``POLL_SECONDS`` and
pushed like local ones. Changes admitted from one peer
are offered to every other connected peer (relay). Known peers with an address are dialled and
redialled with exponential backoff (``BACKOFF_FIRST`` doubling to ``BACKOFF_MAX``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
from typing import Callable

from pactclient.errors import RemoteProtocolError, UsageError
from pactclient.identity.certs import SERVER_NAME, peer_identity
from pactclient.sync.frames import encode_frame
from pactclient.identity.device import short_fingerprint
from pactclient.net.reasons import dial_failure
from pactclient.net.session import Session
from pactclient.net.tls import PinnedContexts
from pactclient.store.workspace import Workspace
from pactclient.sync import events as ev
from pactclient.sync.connection import PeerConnection
from pactclient.sync.sharing import SharingIndex
from pactclient.sync.invites import DEFAULT_TTL_MS, InviteCode, InviteHost, create_invite

log = logging.getLogger("pact.net")

POLL_SECONDS = 0.2
REDIAL_SECONDS = 5.0  # known peers not connected are looked at again at least this often
UPKEEP_AFTER = 0.05
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
HANDSHAKE_TIMEOUT = 10.0


def split_address(address: str) -> tuple[str, int]:
    host, sep, port = (address or "").rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"not an address: {address!r} (use HOST:PORT, e.g. 192.168.1.20:7400)")
    return host.strip("[]"), int(port)


class PeerService:
    def __init__(self, ws: Workspace, host: str = "127.0.0.1", port: int = 0, discovery: bool = False,
                 dial_known: bool = True, invite_port: int = 0):
        self.ws = ws
        self.host, self.port, self.invite_port = host, port, invite_port
        self.discovery = discovery
        self.dial_known = dial_known
        self.tls = PinnedContexts(ws)
        self.sessions: dict[bytes, Session] = {}
        # An edit goes only to the sessions of the contract's parties: per-edit work follows who shares
        # the contract, not how many peers are connected.
        self.sharing = SharingIndex(ws)
        self._sessions_of_party: dict[bytes, set[bytes]] = {}  # party key -> device keys with a session
        self._subscribers: list[Callable] = []
        self._server: asyncio.AbstractServer | None = None
        self._invite_server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()
        self._dialers: dict[str, asyncio.Task] = {}
        self._rowids: dict[str, int] = {}
        self._rowid_seen = 0  # the store's newest change rowid when ``_rowids`` was last read
        self._upkeep_due: asyncio.TimerHandle | None = None
        self._finder = None
        self._dialled_at: tuple | None = None  # the peers mark when known peers were last dialled
        self._dial_due = True  # a session ended, or nothing was dialled yet
        self._dial_checked = 0.0
        self.state = "stopped"

    # -- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        self.ws.defer_upkeep = True  # done by ``_upkeep`` shortly after each write instead
        self._rowids = self._read_rowids()
        self._server = await asyncio.start_server(self._accept, self.host, self.port, ssl=self.tls.server(),
                                                  ssl_handshake_timeout=HANDSHAKE_TIMEOUT)
        self.port = self._server.sockets[0].getsockname()[1]
        self._invite_server = await asyncio.start_server(
            self._accept_invite, self.host, self.invite_port, ssl=self.tls.invite_server(),
            ssl_handshake_timeout=HANDSHAKE_TIMEOUT)
        self.invite_port = self._invite_server.sockets[0].getsockname()[1]
        self.state = "running"
        log.info("listening on %s (invites on port %d) as %s", self.address, self.invite_port,
                 self.ws.identity.short_fingerprint)
        self._spawn(self._watch_store())
        if self.discovery:
            from pactclient.net.discovery import ZeroconfFinder

            self._finder = ZeroconfFinder(self, interfaces=[self.host] if self.host != "0.0.0.0" else None)
            await self._finder.start()

    async def stop(self) -> None:
        self.state = "stopped"
        if self._finder is not None:
            await self._finder.stop()
        for server in (self._server, self._invite_server):
            if server is not None:
                server.close()
        sessions = list(self.sessions.values())
        for session in sessions:
            session.exchange.close()  # a clean "bye", then the session's own loop ends and closes
            session.push_soon()
            session.writer.close()
        if sessions:
            await asyncio.wait([asyncio.ensure_future(s.ended.wait()) for s in sessions], timeout=3.0)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in (self._server, self._invite_server):
            if server is not None:
                await server.wait_closed()
        if self._upkeep_due is not None:
            self._upkeep_due.cancel()
            self._upkeep_due = None
        try:
            self.ws.defer_upkeep = False
            self.ws.upkeep()  # leave nothing lagging behind for the next process
        except Exception:  # e.g. the workspace was closed first: readers bring rows up to date anyway
            log.exception("store upkeep at stop failed")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def invite_addresses(self) -> list[str]:
        """Where a joiner can reach the invite listener: every local address when listening on all."""
        hosts = [self.host]
        if self.host in ("0.0.0.0", "::", ""):
            hosts = _local_addresses()
        return [f"{h}:{self.invite_port}" for h in hosts]

    def subscribe(self, callback: Callable) -> None:
        self._subscribers.append(callback)

    def status(self) -> dict:
        return {
            "state": self.state,
            "listening": self.address if self._server else "",
            "invites": f"{self.host}:{self.invite_port}" if self._invite_server else "",
            "peers_online": len(self.sessions),
            "peers": [{"key": k.hex(), "name": s.exchange.peer_name, "address": s.address,
                       "contracts": sorted(s.exchange.shared)} for k, s in self.sessions.items()],
        }

    # -- local actions ------------------------------------------------------------------------------

    def invite(self, contract_id: str, role: str | None = None, ttl_ms: int = DEFAULT_TTL_MS,
               addresses: list[str] | None = None) -> InviteCode:
        return create_invite(self.ws, self.ws.resolve(contract_id), role, addresses or self.invite_addresses(), ttl_ms)

    def act(self, contract_id: str, action, *args, **kwargs):
        outcome = self.ws.act(contract_id, action, *args, **kwargs)
        self._rowids[contract_id] = self.ws.known_rowid(contract_id)  # as the write left it
        self.changed(contract_id)
        self._upkeep_soon()
        return outcome

    def changed(self, contract_id: str, except_key: bytes | None = None) -> None:
        """Offer this copy's new changes of a contract to every connected peer of its parties (but
        ``except_key``); a party the change removed still gets the change that removed it."""
        before = self.sharing.refresh(contract_id)
        for party in before | self.sharing.keys_of(contract_id):
            for key in self._sessions_of_party.get(party, ()):
                session = self.sessions.get(key)
                if key != except_key and session is not None and isinstance(session.exchange, PeerConnection):
                    session.exchange.local_changed(contract_id)
                    session.push_soon()

    # -- connections --------------------------------------------------------------------------------

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _accept_invite(self, reader, writer) -> None:
        # Only a redemption is accepted here; a wrong, used or expired code gets its reason.
        self._track_handler()
        await Session(reader, writer, InviteHost(self.ws, self.port), self._on_events).run()

    def _track_handler(self) -> None:
        """Connection handlers are tasks asyncio made; track them so ``stop`` waits for them too."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _accept(self, reader, writer) -> None:
        self._track_handler()
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        try:
            key, party = self._peer_identity(der)
        except RemoteProtocolError as exc:
            log.warning("refused a connection: %s", exc)
            writer.write(encode_frame({"t": "error", "reason": f"refused: {exc}"}))  # the peer is told why
            writer.close()
            return
        await self._run_peer(reader, writer, key, dialer=False, party=party)

    def _peer_identity(self, der: bytes | None) -> tuple[bytes, bytes]:
        """(device key, party key) of a peer that passed the handshake; a revoked device is refused."""
        key, party = peer_identity(der, self.tls.pinned())
        if key == self.ws.identity.public_key:
            # Its party key is pinned (its sibling devices hold certificates it issued), so a device
            # showing this device's own key gets through the handshake: refused here, before any byte.
            raise RemoteProtocolError("the peer shows this device's own key")
        if key in self.tls.revoked():
            raise RemoteProtocolError(f"device {short_fingerprint(key)} was revoked by its party")
        return key, party

    async def dial(self, address: str, expect: bytes | None = None) -> Session:
        host, port = split_address(address)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=self.tls.client(), server_hostname=SERVER_NAME,
                                        ssl_handshake_timeout=HANDSHAKE_TIMEOUT), HANDSHAKE_TIMEOUT + 1)
        except ssl.SSLCertVerificationError:
            raise RemoteProtocolError(f"{address} answered with a key that is not pinned here "
                                      "(not a party of your contracts nor a known peer)") from None
        try:
            key, party = self._peer_identity(writer.get_extra_info("ssl_object").getpeercert(binary_form=True))
        except RemoteProtocolError:
            writer.close()
            raise
        if expect is not None and expect not in (key, party):
            writer.close()
            raise RemoteProtocolError(f"{address} answered with key {short_fingerprint(key)}, not the expected peer")
        with self.ws.store.write():
            self.ws.store.put_peer(key.hex(), "", address, "online")
        exchange = PeerConnection(self.ws, key, dialer=True, party_key=party, sharing=self.sharing)
        session = Session(reader, writer, exchange, self._on_events, key, dialer=True)
        self._spawn(self._keep(session))
        return session

    async def _run_peer(self, reader, writer, key: bytes, dialer: bool, party: bytes | None = None) -> None:
        exchange = PeerConnection(self.ws, key, dialer=dialer, party_key=party, sharing=self.sharing)
        session = Session(reader, writer, exchange, self._on_events, key, dialer)
        await self._keep(session)

    async def _keep(self, session: Session) -> None:
        key = session.peer_key
        old = self.sessions.get(key)
        if old is not None and not old.exchange.closed:
            # Dialled again in the same direction: the dialler found the old connection dead, take the new
            # one. Both devices dialled each other: keep the one dialled by the lower key, on both sides.
            if old.dialer == session.dialer:
                keep_new = True
            else:
                keep_new = session.dialer == (self.ws.identity.public_key < key)
            loser = old if keep_new else session
            loser.exchange.close()
            loser.writer.close()
            if not keep_new:
                return
        self.sessions[key] = session
        party = self._party_of(session)
        self._sessions_of_party.setdefault(party, set()).add(key)
        log.info("connected to %s (%s)", short_fingerprint(key), session.address)
        try:
            await session.run()
        finally:
            self._dial_due = True
            if self.sessions.get(key) is session:
                del self.sessions[key]
                keys = self._sessions_of_party.get(party)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._sessions_of_party[party]
                self._record_peer(key, session.exchange.peer_name, "offline")
            log.info("disconnected from %s", short_fingerprint(key))

    @staticmethod
    def _party_of(session: Session) -> bytes:
        exchange = session.exchange
        return exchange.party_key if isinstance(exchange, PeerConnection) else session.peer_key

    def _record_peer(self, key: bytes, name: str, state: str) -> None:
        try:
            with self.ws.store.write():
                self.ws.store.put_peer(key.hex(), name, "", state)
                self.ws.store.peer_seen(key.hex(), self.ws.clock(), state)
        except Exception as exc:  # a busy store must not take the session down
            log.warning("could not record peer %s: %s", short_fingerprint(key), exc)

    def _on_events(self, session: Session, events: list) -> None:
        for event in events:
            if isinstance(event, ev.InviteRedeemed):
                self.tls.pinned()  # the joiner's key: pinned from now on
            if isinstance(event, ev.PeerGreeted):
                self._record_peer(event.peer_key, event.name, "online")
            elif isinstance(event, ev.ChangesAdmitted):
                self._rowids[event.contract_id] = self.ws.known_rowid(event.contract_id)  # as admission left it
                self.changed(event.contract_id, except_key=event.peer_key)
                self._upkeep_soon()
            _log_event(event)
            for callback in list(self._subscribers):
                try:
                    callback(event)
                except Exception:  # a subscriber's failure must not break sync
                    log.exception("event subscriber failed")

    # -- background work ----------------------------------------------------------------------------

    def _read_rowids(self, after: int = 0) -> dict[str, int]:
        """Newest change rowid of each contract that has changes after rowid ``after``."""
        self._rowid_seen = self.ws.store.db.execute("SELECT coalesce(max(rowid), 0) FROM changes").fetchone()[0]
        rows = self.ws.store.db.execute(
            "SELECT contract_id, max(rowid) FROM changes WHERE rowid>? GROUP BY contract_id", (after,))
        return dict(rows.fetchall())

    def _upkeep_soon(self) -> None:
        if self._upkeep_due is None and self.state == "running":
            self._upkeep_due = asyncio.get_running_loop().call_later(UPKEEP_AFTER, self._upkeep)

    def _upkeep(self) -> None:
        self._upkeep_due = None
        try:
            self.ws.upkeep()
        except Exception:  # a busy store: the summaries stay marked as lagging and are redone later
            log.exception("store upkeep failed")

    async def _watch_store(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                self.tls.pinned()
                # Only changes stored since the last look: reading every contract's newest rowid would
                # walk the whole changes table on every poll.
                for cid, last in self._read_rowids(after=self._rowid_seen).items():
                    if self._rowids.get(cid) != last:
                        self._rowids[cid] = last
                        self.changed(cid)
                        self._upkeep_soon()  # e.g. an invite redeemed here wrote through the workspace
                if self.dial_known:
                    self._dial_when_due()
            except Exception:
                log.exception("store watch failed")

    def _dial_when_due(self) -> None:
        """Dial known peers when the peers table changed or a session ended, and every
        ``REDIAL_SECONDS`` in any case: reading the whole table on every poll costs milliseconds at a
        thousand peers."""
        mark = self.ws.store.peers_mark()
        now = asyncio.get_running_loop().time()
        if mark != self._dialled_at or self._dial_due or now - self._dial_checked >= REDIAL_SECONDS:
            self._dialled_at, self._dial_due, self._dial_checked = mark, False, now
            self._dial_known()

    def _dial_known(self) -> None:
        connected = {k.hex() for k in self.sessions}
        for peer in self.ws.store.peers():
            address = peer["address"]
            if address and peer["state"] != "blocked" and peer["key"] not in connected:
                task = self._dialers.get(address)
                if task is None or task.done():
                    self._dialers[address] = self._spawn(self._redial(address, bytes.fromhex(peer["key"])))

    async def _redial(self, address: str, key: bytes) -> None:
        """Dial until connected, waiting longer after each failure; return when the session ends."""
        delay = BACKOFF_FIRST
        while key not in self.sessions:
            try:
                session = await self.dial(address, expect=key)
                await session.ended.wait()
                return
            except (OSError, asyncio.TimeoutError, RemoteProtocolError) as exc:
                log.info("cannot reach %s (%s); next try in %.1fs", address, dial_failure(exc), delay)
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, BACKOFF_MAX)

    async def sync_with(self, address: str, limit: float = 60.0) -> Session:
        """Dial ``address``, wait until both sides are in step, and leave the session running."""
        session = await self.dial(address)
        while not session.exchange.closed and not session.exchange.greeted:
            await asyncio.sleep(0.005)
        if not session.exchange.greeted:
            await session.ended.wait()
            # A refused client certificate shows up as a TLS alert or a bare EOF, depending on timing.
            raise RemoteProtocolError(f"{address} closed the connection before saying hello: most likely it "
                                      "has not pinned this device's key (you are not a party of its contracts "
                                      "nor a known peer there)")
        await session.until_quiet(limit)
        return session


def _local_addresses() -> list[str]:
    found = []
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            if info[4][0] not in found and not info[4][0].startswith("127."):
                found.append(info[4][0])
    except OSError:
        pass
    return found + ["127.0.0.1"]


def _log_event(event) -> None:
    if isinstance(event, ev.ChangesAdmitted):
        if not log.isEnabledFor(logging.INFO):  # every live edit passes here: skip the fingerprints
            return
        log.info("admitted %d change(s) of %s from %s", len(event.hashes), event.contract_id[:12],
                 short_fingerprint(event.peer_key))
    elif isinstance(event, (ev.PeerRefused, ev.RefusedByPeer)):
        who = short_fingerprint(event.peer_key) if event.peer_key else "an invitee"
        verb = "refused" if isinstance(event, ev.PeerRefused) else "was refused by"
        log.warning("%s %s: %s", verb, who, event.reason)
    elif isinstance(event, ev.InviteRedeemed):
        log.info("invite redeemed for %s by %s: %s", event.contract_id[:12], event.name, event.message)
    elif isinstance(event, ev.ContractsShared):
        log.info("sharing %s with %s", ", ".join(c[:12] for c in event.contract_ids), short_fingerprint(event.peer_key))
