"""Which party keys share which contracts, kept in memory by a device that talks to many peers.

A desk with a thousand connected peers must not ask each of them, for every admitted edit, whether it
shares the edited contract; nor load every document of the store to find what to offer a peer that
has just connected. ``SharingIndex`` answers both from two maps: contract -> party keys in force, and
party key -> contracts. It is filled once from the summary index (which records each contract's party
keys; a contract whose summary lags behind its changes is read from its document instead) and kept
current by ``refresh`` whenever a contract changes, which is also when its party list can change.

Pure bookkeeping over the workspace: no IO of its own beyond what the workspace reads.
"""

from __future__ import annotations

from pactclient.errors import ContractNotFound, PactError
from pactclient.store import Workspace


class SharingIndex:
    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self._keys: dict[str, frozenset[bytes]] = {}
        self._contracts: dict[bytes, set[str]] = {}
        self._built = False

    def keys_of(self, contract_id: str) -> frozenset[bytes]:
        """Party keys in force in this copy of the contract (empty for an unknown contract)."""
        self._build()
        return self._keys.get(contract_id, frozenset())

    def contracts_of(self, party_key: bytes) -> list[str]:
        """Contracts that name ``party_key`` as a party, in id order."""
        self._build()
        return sorted(self._contracts.get(party_key, ()))

    def refresh(self, contract_id: str) -> frozenset[bytes]:
        """Read the contract's party keys again (after a change); returns the keys it had before, so
        that the change that removed a party can still be sent to it."""
        self._build()
        before = self._keys.get(contract_id, frozenset())
        self._set(contract_id, self._read(contract_id))
        return before

    def _read(self, contract_id: str) -> frozenset[bytes]:
        try:
            return frozenset(self.ws.party_keys(contract_id))
        except (ContractNotFound, PactError):  # not (or no longer) readable here: shared with nobody
            return frozenset()

    def _build(self) -> None:
        if self._built:
            return
        self._built = True
        stale = set(self.ws.store.stale_summaries())
        for contract_id, summary, _ in self.ws.store.summaries():
            keys = summary.get("keys")
            if contract_id in stale or not isinstance(keys, list):
                self._set(contract_id, self._read(contract_id))
            else:
                self._set(contract_id, frozenset(bytes.fromhex(k) for k in keys if isinstance(k, str)))

    def _set(self, contract_id: str, keys: frozenset[bytes]) -> None:
        old = self._keys.get(contract_id, frozenset())
        if old == keys and contract_id in self._keys:
            return
        for key in old - keys:
            shared = self._contracts.get(key)
            if shared is not None:
                shared.discard(contract_id)
                if not shared:
                    del self._contracts[key]
        for key in keys - old:
            self._contracts.setdefault(key, set()).add(contract_id)
        self._keys[contract_id] = keys
