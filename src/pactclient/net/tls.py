"""The pinned set of keys, and TLS contexts kept in step with it.

Pinned keys = the keys of the parties of every contract in the store, plus the keys in the peers
table (except blocked ones). The set is recomputed when the store changed (new changes or peers).
The listener keeps one server context for its life and new anchors are added to it as keys become
pinned, so a party added while ``pact serve`` runs can connect at once (a key that stops being pinned
is dropped when the listener restarts). Dialling uses a client context rebuilt when the set changes.

Invites are redeemed on a second listener whose context asks for no client certificate (OpenSSL keeps
the verify mode of the first context even when SNI switches contexts, so one port cannot serve both).
"""

from __future__ import annotations

import asyncio.sslproto
import ssl

from pactclient.identity.certs import pin_anchor, tls_contexts
from pactclient.store.workspace import Workspace

# asyncio gives every TLS connection a read buffer of SSLProtocol.max_size (256 KiB), filled at once:
# three quarters of what an idle peer costs a desk. A TLS record carries at most 16 KiB, so a buffer of
# that size still reads a whole record in one or two calls; a large transfer only takes more (cheap) reads.
# The attribute is asyncio's, not a public knob: where it is missing nothing changes.
TLS_READ_BUFFER = 16 * 1024
if getattr(asyncio.sslproto.SSLProtocol, "max_size", 0) > TLS_READ_BUFFER:
    asyncio.sslproto.SSLProtocol.max_size = TLS_READ_BUFFER


class PinnedContexts:
    def __init__(self, ws: Workspace):
        self.ws = ws
        self._contexts = tls_contexts(ws.identity)
        self._mark: tuple | None = None
        self._pinned: frozenset[bytes] = frozenset()
        self._server: ssl.SSLContext | None = None
        self._server_keys: set[bytes] = set()
        self._client: ssl.SSLContext | None = None
        self._by_contract: dict[str, set[bytes]] = {}  # contract -> party keys
        self._rowid_read = 0  # changes up to this rowid are reflected in ``_by_contract``
        self._revoked: frozenset[bytes] = frozenset()
        self._revoked_in: dict[str, set[bytes]] = {}  # contract -> device keys revoked in it
        self._contract_keys: frozenset[bytes] = frozenset()  # the union of ``_by_contract``
        self._peer_keys: frozenset[bytes] = frozenset()  # keys in the peers table, not blocked

    def _store_mark(self) -> tuple:
        # Changes are append-only, so the newest rowid moves whenever a change is stored; the peers
        # table has a mark of its own. Both are lookups, not scans (this runs on every poll of a
        # running peer, which may know thousands of peers).
        changes = self.ws.store.db.execute("SELECT coalesce(max(rowid), 0) FROM changes").fetchone()[0]
        return (changes, self.ws.store.peers_mark())

    def pinned(self) -> frozenset[bytes]:
        mark = self._store_mark()
        if mark == self._mark:
            return self._pinned
        parties_moved = revocations_moved = False
        if self._mark is None or mark[0] != self._mark[0]:
            # Only contracts with changes stored since the last look are read again, and the sets are
            # joined again only when one of them moved: a desk admitting a hundred edits a second over
            # thousands of contracts must not redo the whole union for each (party lists rarely change).
            changed = self.ws.store.db.execute(
                "SELECT DISTINCT contract_id FROM changes WHERE rowid>? AND rowid<=?", (self._rowid_read, mark[0]))
            for (cid,) in changed.fetchall():
                keys, revoked = self.ws.party_keys(cid), self.ws.revoked_devices(cid)
                if keys != self._by_contract.get(cid):
                    self._by_contract[cid], parties_moved = keys, True
                if revoked != self._revoked_in.get(cid, set()):
                    self._revoked_in[cid], revocations_moved = revoked, True
            self._rowid_read = mark[0]
        if parties_moved or self._mark is None:
            self._contract_keys = frozenset().union(*self._by_contract.values())
        if revocations_moved:
            self._revoked = frozenset().union(*self._revoked_in.values())
        if self._mark is None or mark[1] != self._mark[1]:
            self._peer_keys = frozenset(bytes.fromhex(peer["key"]) for peer in self.ws.store.peers()
                                        if peer["state"] != "blocked")
        keys = set(self._contract_keys | self._peer_keys)
        keys.discard(self.ws.identity.public_key)
        # This party's own key stays pinned: the party's other devices hold certificates it issued.
        keys.add(self.ws.identity.party_key)
        if keys != self._pinned:
            self._pinned = frozenset(keys)
            self._client = None
            self._add_to_server()
        self._mark = mark
        return self._pinned

    def revoked(self) -> frozenset[bytes]:
        """Device keys revoked by their party in a contract this home holds: refused after the handshake
        (a revoked device's certificate still chains to its party's pinned key)."""
        self.pinned()
        return self._revoked

    def _add_to_server(self) -> None:
        if self._server is None:
            return
        new = self._pinned - self._server_keys
        if new:
            self._server.load_verify_locations(cadata="".join(pin_anchor(k, self.ws.identity).decode() for k in new))
            self._server_keys |= new

    def server(self) -> ssl.SSLContext:
        """The listener's context (the same object for its life; anchors are added as keys are pinned)."""
        if self._server is None:
            pinned = self.pinned()
            self._server = self._contexts.server(pinned)
            self._server_keys = set(pinned)
        return self._server

    def client(self, only: bytes | None = None) -> ssl.SSLContext:
        """Pinned to every known key, or to ``only`` (the inviter named by an invite code)."""
        if only is not None:
            return self._contexts.client([only])
        self.pinned()
        if self._client is None:
            self._client = self._contexts.client(self._pinned)
        return self._client

    def invite_server(self) -> ssl.SSLContext:
        return self._contexts.invite_server()
