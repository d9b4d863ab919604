"""A ``PeerService`` on its own thread and asyncio loop, for the TUI (which runs Textual's loop).

The TUI calls ``subscribe(callback)`` (called on the service's thread for every event),
``status()`` and ``invite(contract_id)``; the service uses its own workspace (its own SQLite
connection), so edits the TUI commits are found by the store watch and pushed within
``POLL_SECONDS``.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path

from pactclient.errors import PactError
from pactclient.identity.device import DeviceIdentity
from pactclient.store.workspace import Workspace

RUNNING_FILE = "serve.json"  # written by `pact serve` while it runs: {"pid", "address"}


def running_server(home: Path) -> dict | None:
    """The ``pact serve`` running for this home, if its record names a live process."""
    path = Path(home) / RUNNING_FILE
    try:
        info = json.loads(path.read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info


class ThreadedPeerService:
    def __init__(self, home: Path, host: str = "127.0.0.1", port: int = 0):
        self.home = Path(home)
        self.host, self.port = host, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pact-sync", daemon=True)
        self._service = None
        self._subscribers = []

    def start(self) -> None:
        from pactclient.net.service import PeerService

        self._thread.start()

        async def boot():
            ws = Workspace(self.home, DeviceIdentity.load(self.home))
            service = PeerService(ws, self.host, self.port)
            for callback in self._subscribers:
                service.subscribe(callback)
            await service.start()
            return service

        self._service = asyncio.run_coroutine_threadsafe(boot(), self._loop).result(30)

    def subscribe(self, callback) -> None:
        self._subscribers.append(callback)
        if self._service is not None:
            self._loop.call_soon_threadsafe(self._service.subscribe, callback)

    def status(self) -> dict:
        if self._service is None:
            return {"state": "stopped", "peers_online": 0}
        return self._service.status()

    def invite(self, contract_id: str, role: str | None = None) -> str:
        """A one-time code (raises PactError, e.g. when every role is filled and no role is given)."""
        async def make():
            return self._service.invite(contract_id, role).encode()

        return asyncio.run_coroutine_threadsafe(make(), self._loop).result(10)

    def stop(self) -> None:
        if self._service is not None:
            asyncio.run_coroutine_threadsafe(self._service.stop(), self._loop).result(10)
            self._service.ws.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def engine_for_tui(home: Path):
    """A started sync engine for the TUI, or None (offline) when no identity exists yet or `pact
    serve` already keeps this home in step (two engines of one device would fight over connections)."""
    home = Path(home)
    if running_server(home) is not None:
        return None
    try:
        DeviceIdentity.load(home)
    except PactError:
        return None
    listen = os.environ.get("PACT_LISTEN", "127.0.0.1:0")
    host, _, port = listen.rpartition(":")
    engine = ThreadedPeerService(home, host or "127.0.0.1", int(port or 0))
    engine.start()
    return engine
