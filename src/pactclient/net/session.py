"""Running one sans-IO exchange (``PeerConnection``, ``InviteHost``, ``InviteGuest``) over asyncio streams.

Every await has a bound, so a slow or silent peer holds only its own session:

* reads: a peer silent for ``PING_AFTER`` seconds is pinged (keep-alive), one silent for
  ``DEAD_AFTER`` seconds is dropped; the hello (or an invite's one frame) must be complete within
  ``HELLO_TIMEOUT`` even if the peer trickles bytes;
* writes: a peer that stops reading is dropped once a write has waited ``WRITE_TIMEOUT`` seconds, and
  at once when more than ``MAX_UNSENT_BYTES`` wait unsent for it (what is pushed to it outside the
  read loop, e.g. relayed changes, is not awaited).
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

from pactclient.sync.frames import MAX_FRAME_BYTES

HELLO_TIMEOUT = 10.0
PING_AFTER = 15.0
DEAD_AFTER = 45.0
WRITE_TIMEOUT = 30.0
MAX_UNSENT_BYTES = 2 * MAX_FRAME_BYTES
DRAINED_BELOW = 256 * 1024  # a write is done once less than this waits in the socket transport
READ_SIZE = 256 * 1024


def unsent_bytes(writer: asyncio.StreamWriter) -> int:
    """Bytes written but not yet taken by the kernel, the TLS layer's and the socket transport's alike."""
    transport = writer.transport
    total = transport.get_write_buffer_size()
    inner = getattr(getattr(transport, "_ssl_protocol", None), "_transport", None)  # CPython's TLS transport
    if inner is not None and inner is not transport:
        total += inner.get_write_buffer_size()
    return total


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
            async with asyncio.timeout(WRITE_TIMEOUT):
                await self._drained()

    async def _drained(self) -> None:
        await self.writer.drain()
        # asyncio's TLS transport hands a large write straight to the socket transport beneath it, whose
        # buffer ``drain()`` does not wait for: wait for that one too, or a peer that never reads would
        # only be noticed on some later write.
        while unsent_bytes(self.writer) > DRAINED_BELOW:
            await asyncio.sleep(0.01)

    def push_soon(self) -> None:
        """Send what the exchange queued outside ``run`` (e.g. after ``local_changed``)."""
        events = self.exchange.events()
        if events:
            self.on_events(self, events)
        data = self.exchange.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)
            if unsent_bytes(self.writer) > MAX_UNSENT_BYTES:
                self.error = TimeoutError(f"the peer left over {MAX_UNSENT_BYTES} bytes unread")
                self.exchange.closed = True
                self.writer.transport.abort()  # the read loop then ends and cleans up

    def _greeted(self) -> bool:
        # Invite exchanges have no greeting: their one frame closes them.
        return getattr(self.exchange, "greeted", False)

    async def run(self) -> None:
        hello_by = time.monotonic() + HELLO_TIMEOUT
        try:
            self.exchange.start()
            await self.flush()
            while not self.exchange.closed:
                greeted = self._greeted()
                timeout = PING_AFTER if greeted else max(0.0, hello_by - time.monotonic())
                try:
                    # A deadline on this task rather than ``wait_for``, which runs the read as a task of
                    # its own: that costs two more turns of the event loop for every message received.
                    async with asyncio.timeout(timeout):
                        data = await self.reader.read(READ_SIZE)
                except TimeoutError:
                    if not greeted or time.monotonic() - self._last_heard > DEAD_AFTER:
                        self.exchange.close("timed out")
                        await self.flush()
                        break
                    if hasattr(self.exchange, "ping"):
                        self.exchange.ping()
                    await self.flush()
                    continue
                if not data:
                    break
                self._last_heard = time.monotonic()
                self.exchange.receive_data(data)
                await self.flush()
        except (ConnectionError, OSError, asyncio.TimeoutError) as exc:  # ssl.SSLError is an OSError too
            # A write that timed out leaves data the peer will never read: drop it with the connection.
            self.error = self.error or exc
            if isinstance(exc, asyncio.TimeoutError):
                self.writer.transport.abort()
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
