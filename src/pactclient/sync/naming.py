"""How frames name contracts and carry signatures (docs/protocol.md, section 2).

Contracts: the first frame a side sends about a contract names it by id (``c``) and binds a number of
that side's choosing (``n``); later frames in that direction carry the number alone. Signatures: a
``sync`` frame pairs them by position with the changes of its message (``s``), or names each hash
(``sigs``); ``doc`` and ``joined`` always name each hash.
"""

from __future__ import annotations

import re

from pactclient.errors import RemoteProtocolError
from pactclient.sync.frames import field

CONTRACT_ID = re.compile(r"[0-9a-f]{32}")  # uuid4().hex, as Workspace.create makes them
MAX_CONTRACT_NUMBER = 2**31
SIGNATURE_SIZE = 64


class ContractNames:
    """The contract numbers of one connection: this side's, and the peer's."""

    def __init__(self) -> None:
        self._mine: dict[str, int] = {}
        self._peers: dict[int, str] = {}
        # The peer's number of each contract it named: one each. Without this check a peer could bind
        # one shared contract to every number up to 2**31, a map entry per frame, without limit.
        self._peer_numbers: dict[str, int] = {}

    def of(self, cid: str) -> dict:
        """The fields naming ``cid`` in a frame to the peer: id and number the first time, the number after."""
        number = self._mine.get(cid)
        if number is not None:
            return {"n": number}
        number = self._mine[cid] = len(self._mine)
        return {"c": cid, "n": number}

    def resolve(self, frame: dict) -> str:
        """The contract a frame from the peer names (``c`` and ``n`` bind a number; ``n`` alone uses it)."""
        number = frame.get("n")
        if number is not None and (not isinstance(number, int) or isinstance(number, bool)
                                   or not 0 <= number < MAX_CONTRACT_NUMBER):
            raise RemoteProtocolError(f"malformed {frame['t']!r} frame: bad contract number")
        if "c" not in frame:
            if number not in self._peers:
                raise RemoteProtocolError(f"malformed {frame['t']!r} frame: no contract named")
            return self._peers[number]
        cid = contract_id_of(frame)
        if number is not None:
            if self._peers.get(number, cid) != cid:
                raise RemoteProtocolError("named two contracts by the same number")
            if self._peer_numbers.get(cid, number) != number:
                raise RemoteProtocolError("named one contract by two numbers")
            self._peers[number] = cid
            self._peer_numbers[cid] = number
        return cid


def contract_id_of(frame: dict) -> str:
    cid = field(frame, "c", str)
    if not CONTRACT_ID.fullmatch(cid):
        raise RemoteProtocolError(f"malformed {frame['t']!r} frame: not a contract id")
    return cid


def sync_signatures(frame: dict, hashes: list[bytes] | None) -> dict[bytes, bytes]:
    """The signatures a ``sync`` frame carries, by change hash: ``s`` pairs them with the changes of
    the frame's (inflated) message in order, ``hashes`` being ``carried_hashes`` of it, which the
    receiver computes; the fallback ``sigs`` names each hash."""
    if "sigs" in frame:
        return signatures_of(frame)
    entries = frame.get("s", [])
    if not isinstance(entries, list) or hashes is None or len(entries) != len(hashes):
        raise RemoteProtocolError("malformed signatures: 's' must have one entry per change of the message")
    out = {}
    for h, sig in zip(hashes, entries):
        if sig is None:
            continue
        if not isinstance(sig, bytes) or len(sig) != SIGNATURE_SIZE:
            raise RemoteProtocolError("malformed signatures: each must be 64 bytes or nil")
        out[h] = sig
    return out


def signatures_of(frame: dict) -> dict[bytes, bytes]:
    sigs = field(frame, "sigs", list)
    out = {}
    for entry in sigs:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], bytes) and isinstance(entry[1], bytes)):
            raise RemoteProtocolError("malformed signatures: each must be [hash, signature]")
        out[entry[0]] = entry[1]
    return out
