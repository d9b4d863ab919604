"""The sync engine the TUI runs: a ``PeerService`` on its own thread and asyncio loop, or the
``pact serve`` that already keeps the home in step.

One device must run one engine: two would each dial the same peers and fight over connections. So
whichever runs first (``pact serve`` or the TUI's engine) records itself in ``serve.json`` in the home,
and the other defers to it: ``pact serve`` refuses to start, and the TUI talks to the running one
through the store (``ServerEngine``). Edits the TUI commits are found by the running engine's store
watch and pushed within its ``POLL_SECONDS``; what the engine admits reaches the TUI through
``subscribe`` (same process) or the TUI's own store poll (another process).

The engine interface the TUI uses: ``subscribe(callback)`` (events of ``pactclient.sync.events``,
called from any thread), ``status()`` (a dict with ``state`` and ``peers_online``),
``invite(contract_id, role, ttl_ms)`` (an invite code) and ``stop()``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import threading
from pathlib import Path

from pactclient.errors import PactError, UsageError
from pactclient.identity.device import DeviceIdentity
from pactclient.store.sqlite_store import SqliteStore
from pactclient.store.workspace import DB_FILE, Workspace
from pactclient.sync.invites import DEFAULT_TTL_MS, InviteCode, create_invite

RUNNING_FILE = "serve.json"  # written by the running engine: {"pid", "address", "invite_addresses", "by"}
LISTEN_FILE = "listen.json"  # the ports the TUI's engine last listened on: {"port", "invite_port"}


def running_server(home: Path) -> dict | None:
    """The engine (``pact serve`` or a TUI) running for this home, if its record names a live process."""
    path = Path(home) / RUNNING_FILE
    try:
        info = json.loads(path.read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info


def write_running_record(home: Path, by: str, address: str, invite_addresses: list[str]) -> None:
    (Path(home) / RUNNING_FILE).write_text(json.dumps(
        {"pid": os.getpid(), "by": by, "address": address, "invite_addresses": invite_addresses}))


def remove_running_record(home: Path) -> None:
    """Remove the record only if this process wrote it."""
    path = Path(home) / RUNNING_FILE
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def _remembered_ports(home: Path) -> tuple[int, int]:
    try:
        info = json.loads((Path(home) / LISTEN_FILE).read_text())
        return int(info["port"]), int(info["invite_port"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0, 0


class ThreadedPeerService:
    """A ``PeerService`` on a background thread. Without an explicit port it listens where it listened
    last time (``listen.json``), so peers that learnt its address reach it again after a restart."""

    def __init__(self, home: Path, host: str = "127.0.0.1", port: int | None = None):
        self.home = Path(home)
        self.host, self.port = host, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pact-sync", daemon=True)
        self._service = None
        self._subscribers = []

    def start(self) -> None:
        self._thread.start()
        try:
            self._service = asyncio.run_coroutine_threadsafe(self._boot(), self._loop).result(30)
        except BaseException:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            raise
        service = self._service
        if self.port is None:
            (self.home / LISTEN_FILE).write_text(json.dumps({"port": service.port, "invite_port": service.invite_port}))
        write_running_record(self.home, "pact tui", service.address, service.invite_addresses())

    async def _boot(self):
        from pactclient.net.service import PeerService

        ws = Workspace(self.home, DeviceIdentity.load(self.home))
        wanted = [(self.port, 0)] if self.port is not None else [_remembered_ports(self.home), (0, 0)]
        for n, (port, invite_port) in enumerate(wanted):
            service = PeerService(ws, self.host, port, invite_port=invite_port)
            for callback in self._subscribers:
                service.subscribe(callback)
            try:
                await service.start()
                return service
            except OSError:
                await service.stop()
                if n == len(wanted) - 1:
                    ws.close()
                    raise
        raise AssertionError("unreachable")

    def subscribe(self, callback) -> None:
        self._subscribers.append(callback)
        if self._service is not None:
            self._loop.call_soon_threadsafe(self._service.subscribe, callback)

    def status(self) -> dict:
        if self._service is None:
            return {"state": "stopped", "peers_online": 0}
        return self._service.status()

    def invite(self, contract_id: str, role: str | None = None, ttl_ms: int = DEFAULT_TTL_MS) -> str:
        """A one-time code (raises PactError, e.g. when every role is filled and no role is given)."""
        async def make():
            return self._service.invite(contract_id, role, ttl_ms).encode()

        try:
            return asyncio.run_coroutine_threadsafe(make(), self._loop).result(10)
        except concurrent.futures.TimeoutError:
            raise PactError("the sync engine did not answer within 10 s; try again") from None

    def stop(self) -> None:
        remove_running_record(self.home)
        if self._service is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._service.stop(), self._loop).result(10)
            except concurrent.futures.TimeoutError:
                pass  # peers that do not say goodbye in time are dropped with the loop below
            self._service.ws.close()
            self._service = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


class ServerEngine:
    """The TUI's handle on the engine another process runs for this home (``pact serve``).

    It syncs nothing itself: the TUI's edits reach the store, where the server finds and pushes them;
    what the server admits reaches the TUI through its store poll. Status comes from the peer states
    the server records in the store; invites are recorded in the store, where the server checks them.
    """

    def __init__(self, home: Path):
        self.home = Path(home)
        self._store: SqliteStore | None = None
        self._ws: Workspace | None = None

    def status(self) -> dict:
        info = running_server(self.home)
        if info is None:
            return {"state": "pact serve stopped: restart it or this app", "peers_online": 0}
        if self._store is None:
            self._store = SqliteStore(self.home / DB_FILE)
        online = [{"key": p["key"], "name": p["name"]} for p in self._store.peers() if p["state"] == "online"]
        return {"state": f"via {info.get('by', 'pact serve')} (pid {info['pid']})", "peers_online": len(online),
                "peers": online}

    def invite(self, contract_id: str, role: str | None = None, ttl_ms: int = DEFAULT_TTL_MS) -> str:
        info = running_server(self.home)
        if info is None:
            raise UsageError("`pact serve` has stopped, so nobody would answer the code: start it again")
        if self._ws is None:
            self._ws = Workspace.open(self.home)
        cid = self._ws.resolve(contract_id)
        return create_invite(self._ws, cid, role, list(info.get("invite_addresses", [])), ttl_ms).encode()

    def stop(self) -> None:
        for handle in (self._store, self._ws):
            if handle is not None:
                handle.close()
        self._store = self._ws = None


def join_with_code(home: Path, text: str):
    """Redeem an invite code for ``home`` (blocking: run it off the UI thread). Returns the
    ``JoinCompleted`` event; raises ``PactError`` with the reason when the code is bad or refused."""
    from pactclient.net.oneshot import join

    code = InviteCode.decode(text)
    ws = Workspace.open(home)
    try:
        return asyncio.run(join(ws, code))
    finally:
        ws.close()


def connect_peer(home: Path, address: str) -> str:
    """Sync once with the peer at ``address`` (blocking: run it off the UI thread) and remember it
    there, so the running engine keeps dialling it. Returns what changed, in words; raises
    ``PactError`` when the peer cannot be reached or refuses this device."""
    from pactclient.net.oneshot import sync_once
    from pactclient.net.service import split_address
    from pactclient.sync.events import ChangesAdmitted, PeerRefused, RefusedByPeer

    split_address(address)
    ws = Workspace.open(home)
    try:
        events, failures, sent = asyncio.run(sync_once(ws, [address], limit=15.0))
    finally:
        ws.close()
    refused = [e for e in events if isinstance(e, (PeerRefused, RefusedByPeer))]
    if failures or refused:
        raise PactError(failures[0] if failures else f"{address} refused: {refused[0].reason}")
    got = sum(len(e.hashes) for e in events if isinstance(e, ChangesAdmitted))
    return f"in step with {address}: {got} change(s) received, {sum(sent.values())} sent; it is dialled from now on"


def engine_for_tui(home: Path):
    """The sync engine for the TUI: the running ``pact serve`` of this home if there is one, else a
    started ``ThreadedPeerService``; None (offline) when the home has no identity yet.
    ``PACT_LISTEN=HOST:PORT`` chooses where the TUI's own engine listens."""
    home = Path(home)
    try:
        DeviceIdentity.load(home)
    except PactError:
        return None
    if running_server(home) is not None:
        return ServerEngine(home)
    listen = os.environ.get("PACT_LISTEN", "").strip()
    if listen:
        host, _, port = listen.rpartition(":")
        if not port.isdigit() or int(port) > 65535:
            raise UsageError(f"PACT_LISTEN={listen!r} is not HOST:PORT (e.g. 127.0.0.1:7410)")
        engine = ThreadedPeerService(home, host.strip("[]") or "127.0.0.1", int(port))
    else:
        engine = ThreadedPeerService(home)
    engine.start()
    return engine
