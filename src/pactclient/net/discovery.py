"""LAN discovery with zeroconf (mDNS): advertise ``_pact._tcp`` and dial pinned peers found that way.

The advertisement carries fingerprints only (TXT ``fp``: the device's; ``pfp``: its party key's, when
the device is certified by one) — no names of people or contracts. A device found on the LAN is
dialled only if one of them is the fingerprint of a pinned key (a party's key admits every device it
certified); the TLS handshake then proves it holds that key, or a certificate that key issued.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from zeroconf import IPVersion, ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from pactclient.identity.device import fingerprint

log = logging.getLogger("pact.net")

SERVICE_TYPE = "_pact._tcp.local."


class ZeroconfFinder:
    def __init__(self, service, interfaces: list[str] | None = None):
        self.service = service
        self.interfaces = interfaces
        self._zc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._info: AsyncServiceInfo | None = None
        self._lookups: set[asyncio.Task] = set()

    async def start(self) -> None:
        ident = self.service.ws.identity
        kw = {"interfaces": self.interfaces} if self.interfaces else {}
        self._zc = AsyncZeroconf(ip_version=IPVersion.V4Only, **kw)
        host = self.service.host if self.service.host not in ("0.0.0.0", "") else _primary_address()
        label = ident.fingerprint.replace("-", "")[:32].lower()
        self._info = AsyncServiceInfo(
            SERVICE_TYPE, f"{label}.{SERVICE_TYPE}", port=self.service.port,
            addresses=[socket.inet_aton(host)],
            properties={"fp": ident.fingerprint, **({"pfp": fingerprint(ident.party_key)} if ident.delegation else {})},
            server=f"{label}.local.")
        await self._zc.async_register_service(self._info)
        self._browser = AsyncServiceBrowser(self._zc.zeroconf, SERVICE_TYPE, handlers=[self._on_change])

    async def stop(self) -> None:
        for task in list(self._lookups):
            task.cancel()
        if self._browser is not None:
            await self._browser.async_cancel()
        if self._zc is not None:
            if self._info is not None:
                await self._zc.async_unregister_service(self._info)
            await self._zc.async_close()

    def _on_change(self, zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change in (ServiceStateChange.Added, ServiceStateChange.Updated):
            task = asyncio.get_running_loop().create_task(self._look_up(service_type, name))
            self._lookups.add(task)
            task.add_done_callback(self._lookups.discard)

    async def _look_up(self, service_type: str, name: str) -> None:
        info = AsyncServiceInfo(service_type, name)
        if not await info.async_request(self._zc.zeroconf, 3000):
            return
        fp = (info.properties or {}).get(b"fp", b"").decode(errors="replace")
        party_fp = (info.properties or {}).get(b"pfp", b"").decode(errors="replace")  # absent for a party of one key
        me = self.service.ws.identity
        if not fp or fp == me.fingerprint:
            return
        by_fp = {fingerprint(k): k for k in self.service.tls.pinned()}
        key = by_fp.get(fp) or by_fp.get(party_fp)
        addresses = info.parsed_addresses(IPVersion.V4Only)
        if key is None or not addresses or key in self.service.sessions:
            return
        address = f"{addresses[0]}:{info.port}"
        log.info("found %s on the LAN at %s", fp[:9], address)
        with self.service.ws.store.write():
            self.service.ws.store.put_peer(key.hex(), "", address, "known")
        self.service._dial_known()


def _primary_address() -> str:
    """The address other machines reach this one at (no packet is sent: UDP connect only picks a route)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"
