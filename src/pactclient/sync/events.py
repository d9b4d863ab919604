"""What happened on a peer connection: frozen facts, named in the past tense.

The sans-IO protocol (``PeerConnection``, the invite exchanges) returns these from ``events()``; the
network layer (``pactclient.net``) passes them on to whoever subscribed (``pact serve``'s log, the TUI).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PeerGreeted:
    peer_key: bytes
    name: str


@dataclass(frozen=True)
class ContractsShared:
    """The contracts this connection keeps in step (the peer is a party of each, by this copy)."""

    peer_key: bytes
    contract_ids: tuple[str, ...]


@dataclass(frozen=True)
class ChangesAdmitted:
    """Changes from the peer passed verification and are stored and merged into this copy."""

    peer_key: bytes
    contract_id: str
    hashes: tuple[bytes, ...]
    authors: tuple[bytes, ...]  # distinct author keys: relayed changes name their author, not the peer
    new_contract: bool = False


@dataclass(frozen=True)
class PeerRefused:
    """This device refused the peer (bad data, broken protocol) and closed the connection."""

    peer_key: bytes
    reason: str


@dataclass(frozen=True)
class RefusedByPeer:
    """The peer said why it refused this device and closed the connection."""

    peer_key: bytes
    reason: str


@dataclass(frozen=True)
class InviteRedeemed:
    """(Inviter side) an invite was redeemed: the joiner was added as a party and sent the contract."""

    contract_id: str
    party_key: bytes
    name: str
    message: str


@dataclass(frozen=True)
class JoinCompleted:
    """(Joiner side) the inviter added this device and its copy of the contract is stored."""

    contract_id: str
    inviter_key: bytes
    message: str
    changes: int
