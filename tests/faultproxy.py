"""A small asyncio TCP proxy on 127.0.0.1 that injects network faults between two peers.

    proxy = FaultProxy("127.0.0.1:PORT")     # forwards to the peer listening there
    await proxy.start(); proxy.address       # dial this instead
    proxy.mode = "latency" | "slices" | "reset" | "blackhole" | "clean"
    await proxy.stop()

* ``latency``: every chunk waits ``delay`` seconds before it is forwarded;
* ``slices``: bytes are forwarded one at a time;
* ``reset``: a connection is aborted (TCP RST) after ``reset_after`` bytes, mid-frame;
* ``blackhole``: connections stay open, nothing is forwarded either way;
* ``clean``: plain forwarding. A mode applies to connections made after it is set.
"""

from __future__ import annotations

import asyncio


class FaultProxy:
    def __init__(self, target: str, mode: str = "clean", delay: float = 0.05, reset_after: int = 700):
        self.target_host, port = target.rsplit(":", 1)
        self.target_port = int(port)
        self.mode, self.delay, self.reset_after = mode, delay, reset_after
        self.connections = 0
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, client_r, client_w) -> None:
        self.connections += 1
        mode = self.mode
        try:
            server_r, server_w = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            client_w.transport.abort()
            return
        self._writers |= {client_w, server_w}
        budget = [self.reset_after]
        pipes = [asyncio.ensure_future(self._pipe(client_r, server_w, mode, budget, (client_w, server_w))),
                 asyncio.ensure_future(self._pipe(server_r, client_w, mode, budget, (client_w, server_w)))]
        self._tasks.update(pipes)
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pipes:
                task.cancel()
                self._tasks.discard(task)
            for writer in (client_w, server_w):
                writer.transport.abort()
                self._writers.discard(writer)

    async def _pipe(self, reader, writer, mode: str, budget: list[int], both) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                return
            if mode == "blackhole":
                continue
            if mode == "latency":
                await asyncio.sleep(self.delay)
            if mode == "reset":
                if len(data) >= budget[0]:
                    writer.write(data[: budget[0]])
                    for w in both:
                        w.transport.abort()
                    return
                budget[0] -= len(data)
            if mode == "slices":
                for i in range(len(data)):
                    writer.write(data[i : i + 1])
                    await writer.drain()
                continue
            writer.write(data)
            await writer.drain()
