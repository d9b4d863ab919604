"""The network layer: pinned mutual TLS 1.3 over asyncio TCP, sessions, invites, zeroconf discovery.

The only package with sockets. ``PeerService`` (see ``service``) is the always-on peer that ``pact
serve`` and the TUI run; ``engine_for_tui(home)`` runs one on a background thread for the TUI.
"""

from pactclient.net.service import PeerService
from pactclient.net.threaded import engine_for_tui

__all__ = ["PeerService", "engine_for_tui"]
