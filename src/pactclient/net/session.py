"""Running one sans-IO exchange (``PeerConnection``, ``InviteHost``, ``InviteGuest``) over asyncio streams.

Every read has a timeout: a peer silent for ``PING_AFTER`` seconds is pinged (keep-alive), and one
silent for ``DEAD_AFTER`` seconds is dropped. The first frame must arrive within ``HELLO_TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

HELLO_TIMEOUT = 10.0
PING_AFTER = 15.0
DEAD_AFTER = 45.0
READ_SIZE = 256 * 1024


class Session:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, exchange,
                 on_events: Callable[["Session", list], None], peer_key: bytes = b"", dialer: bool = False):
        self.reader, self.writer, self.exchange = reader, writer, exchange
        self.on_events = on_events
        self.peer_key = peer_key
        self.dialer = dialer
        peer = writer.get_extra_info("peername")
        self.address = f"{peer[0]}:{peer[1]}" if peer else ""
        self._last_heard = time.monotonic()
        self._received_any = False
        self.error: Exception | None = None  # what ended the connection, if it was not a clean close
        self.ended = asyncio.Event()

    async def flush(self) -> None:
        # Events first: what the peer sent is shown before our answer to it is written.
        events = self.exchange.events()
        if events:
            self.on_events(self, events)
        data = self.exchange.data_to_send()
        if data:
            self.writer.write(data)
            await self.writer.drain()

    def push_soon(self) -> None:
        """Send what the exchange queued outside ``run`` (e.g. after ``local_changed``)."""
        events = self.exchange.events()
        if events:
            self.on_events(self, events)
        data = self.exchange.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)

    async def run(self) -> None:
        try:
            self.exchange.start()
            await self.flush()
            while not self.exchange.closed:
                timeout = PING_AFTER if self._received_any else HELLO_TIMEOUT
                try:
                    # A deadline on this task rather than ``wait_for``, which runs the read as a task of
                    # its own: that costs two more turns of the event loop for every message received.
                    async with asyncio.timeout(timeout):
                        data = await self.reader.read(READ_SIZE)
                except TimeoutError:
                    if not self._received_any or time.monotonic() - self._last_heard > DEAD_AFTER:
                        self.exchange.close("timed out")
                        await self.flush()
                        break
                    if hasattr(self.exchange, "ping"):
                        self.exchange.ping()
                    await self.flush()
                    continue
                if not data:
                    break
                self._received_any = True
                self._last_heard = time.monotonic()
                self.exchange.receive_data(data)
                await self.flush()
        except (ConnectionError, OSError) as exc:  # ssl.SSLError is an OSError too
            self.error = exc
        finally:
            self.exchange.closed = True
            self.writer.close()
            try:
                await asyncio.wait_for(self.writer.wait_closed(), 2.0)
            except (asyncio.TimeoutError, ConnectionError, OSError):
                pass
            self.ended.set()

    async def until_quiet(self, limit: float = 60.0) -> bool:
        """Wait until the peer and this side have nothing left to say: ping, and when the pong comes
        back with no other frame sent or received meanwhile, both sides are in step. True if so."""
        conn = self.exchange
        deadline = time.monotonic() + limit
        while not conn.closed and time.monotonic() < deadline:
            activity, pongs = conn.activity, conn.pongs
            conn.ping()
            self.push_soon()
            while conn.pongs == pongs and not conn.closed and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            if conn.activity == activity and conn.pongs > pongs:
                return True
        return False
