"""The peer protocol for one connection, sans-IO: bytes in, bytes and events out. No sockets, no asyncio.

Theory of operation
-------------------
The transport has already authenticated the peer: ``peer_key`` is the Ed25519 key of its pinned TLS
certificate. Both sides then talk at once, each in the same way:

1. **hello** — protocol name and version, the sender's key (must equal the certificate's) and name.
2. **offer** — the contracts the sender holds *of which the peer is a party* (by the sender's copy),
   each with its heads. A contract is never named to a peer that is not its party.
3. For each offered contract: the receiver that lacks it answers **want**; the holder answers with
   **doc** — the compressed saved document (``save()``) and the signature of every change — rather
   than letting Automerge send thousands of single changes. A contract both hold is kept in step with
   Automerge **sync** messages. To stop both sides from opening the same exchange (which makes the
   bindings send every change one by one) only the dialer opens it after the first offers; a contract
   offered later (``more``) is opened by the side that receives the offer.
4. Each **sync** message carries the signatures of the changes in it (see ``carried``).

Verify before merge: every sync message is received into a per-peer, per-contract *scratch* copy with
its own ``SyncState``. What the scratch copy has beyond the user's copy is checked by
``Workspace.admit_from`` (signed, by a party's key, of this contract) and only then stored and merged.
One bad change refuses the whole message: the peer gets an **error** frame saying why, the scratch copy
is dropped, the connection is closed, and nothing of the message is kept.

Use: ``start()``; then ``receive_data(bytes)`` for what arrives and ``local_changed(contract_id)`` after a
local edit (or changes admitted from another peer, which relays them); after each call handle
``events()`` and send ``data_to_send()``. ``closed`` is true once either side ended the connection.
The answer to a received sync message is written by ``data_to_send()``, not at once: a caller that
handles the events first shows admitted changes without waiting for it, and one answer covers
every message of a batch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field as dataclass_field

from automerge.core import Document, Message, SyncState

from pactclient.errors import AdmissionError, ContractNotFound, FormatError, PactError, RemoteProtocolError
from pactclient.identity.device import short_fingerprint
from pactclient.signing.admission import party_keys_at
from pactclient.store.workspace import Workspace
from pactclient.sync import events as ev
from pactclient.sync.carried import carried_hashes
from pactclient.sync.frames import FrameDecoder, encode_frame, field

PROTOCOL = "pact-sync"
VERSION = 1
MAX_PENDING_SIGNATURES = 1_000_000
CONTRACT_ID = re.compile(r"[0-9a-f]{32}")  # uuid4().hex, as Workspace.create makes them


@dataclass
class _Channel:
    """One contract kept in step with one peer: the scratch copy and its Automerge sync state."""

    scratch: Document
    state: SyncState
    # Signatures received but not yet used: Automerge may hold a change back until a later message
    # brings its missing dependency (e.g. after a bloom-filter false positive), so a signature can
    # arrive one message before its change can be admitted.
    signatures: dict = dataclass_field(default_factory=dict)


class PeerConnection:
    def __init__(self, workspace: Workspace, peer_key: bytes, *, dialer: bool):
        self.ws = workspace
        self.peer_key = peer_key
        self.peer_name = ""
        self.dialer = dialer
        self.closed = False
        self.bytes_in = 0
        self.bytes_out = 0
        self.activity = 0  # frames other than ping/pong, sent or received: see ``net`` for quiescence
        self.pongs = 0
        self.sent: dict[str, int] = {}  # contract id -> changes sent (by the hashes their signatures name)
        self._decoder = FrameDecoder()
        self._out: list[bytes] = []
        self._events: list = []
        self._greeted = False
        self._channels: dict[str, _Channel] = {}
        self._offered: set[str] = set()
        self._wanted: set[str] = set()
        self._answer_due: set[str] = set()  # contracts whose sync messages await our answer

    # -- the caller's side ---------------------------------------------------------------------------

    def start(self) -> None:
        me = self.ws.identity
        self._send({"t": "hello", "protocol": PROTOCOL, "v": VERSION, "key": me.public_key, "name": me.name})
        self._send_offer(self._contracts_for_peer(), more=False)

    def receive_data(self, data: bytes) -> None:
        if self.closed:
            return
        self.bytes_in += len(data)
        try:
            self._decoder.feed(data)
            for frame in self._decoder.frames():
                if self.closed:
                    return
                self._handle(frame)
        except (RemoteProtocolError, AdmissionError, FormatError) as exc:
            self._refuse(str(exc))

    def local_changed(self, contract_id: str) -> None:
        """This copy of ``contract_id`` grew: tell the peer (a sync message, or an offer if new to it)."""
        if self.closed or not self._greeted:
            return
        if contract_id in self._channels:
            self._push(contract_id)
        elif contract_id not in self._offered and self._peer_is_party(contract_id):
            self._send_offer([contract_id], more=True)

    def close(self, reason: str = "") -> None:
        """End the connection: with a reason, as a refusal (an ``error`` frame); without, a ``bye``."""
        if not self.closed:
            self._send({"t": "error", "reason": reason} if reason else {"t": "bye"})
            self.closed = True

    def data_to_send(self) -> bytes:
        if self._answer_due and not self.closed:
            for cid in sorted(self._answer_due):
                if cid in self._channels:
                    self._push(cid)
        self._answer_due.clear()
        out, self._out = b"".join(self._out), []
        self.bytes_out += len(out)
        return out

    def events(self) -> list:
        out, self._events = self._events, []
        return out

    def ping(self) -> None:
        if not self.closed:
            self._send({"t": "ping"})

    @property
    def greeted(self) -> bool:
        return self._greeted

    @property
    def shared(self) -> frozenset[str]:
        return frozenset(self._channels)

    # -- frames --------------------------------------------------------------------------------------

    def _send(self, frame: dict) -> None:
        if frame["t"] not in ("ping", "pong"):
            self.activity += 1
        self._out.append(encode_frame(frame))

    def _refuse(self, reason: str) -> None:
        self._channels.clear()  # the scratch copies may hold what was refused: keep none of it
        self._events.append(ev.PeerRefused(self.peer_key, reason))
        self.close(reason)

    def _handle(self, frame: dict) -> None:
        kind = frame["t"]
        if kind not in ("ping", "pong"):
            self.activity += 1
        if not self._greeted:
            if kind in ("error", "bye"):
                return self._peer_error(frame) if kind == "error" else self._on_bye(frame)
            if kind != "hello":
                raise RemoteProtocolError(f"expected hello, got {kind!r}")
            return self._on_hello(frame)
        handler = {
            "offer": self._on_offer, "want": self._on_want, "doc": self._on_doc, "sync": self._on_sync,
            "ping": lambda f: self._send({"t": "pong"}), "pong": self._on_pong, "error": self._peer_error, "bye": self._on_bye,
        }.get(kind)
        if handler is None:
            raise RemoteProtocolError(f"unknown frame type {kind!r}")
        handler(frame)

    def _on_bye(self, frame: dict) -> None:
        self.closed = True

    def _on_pong(self, frame: dict) -> None:
        self.pongs += 1

    def _peer_error(self, frame: dict) -> None:
        reason = frame.get("reason") if isinstance(frame.get("reason"), str) else "no reason given"
        self._events.append(ev.RefusedByPeer(self.peer_key, reason[:500]))
        self.closed = True

    def _on_hello(self, frame: dict) -> None:
        if frame.get("protocol") != PROTOCOL:
            raise RemoteProtocolError(f"the peer does not speak {PROTOCOL}")
        if field(frame, "v", int) != VERSION:
            raise RemoteProtocolError(f"the peer speaks {PROTOCOL} version {frame['v']}, this device {VERSION}")
        if field(frame, "key", bytes) != self.peer_key:
            raise RemoteProtocolError("the key in the hello is not the key of the peer's certificate")
        self.peer_name = str(frame.get("name", ""))[:200]
        self._greeted = True
        self._events.append(ev.PeerGreeted(self.peer_key, self.peer_name))

    def _on_offer(self, frame: dict) -> None:
        offered = field(frame, "contracts", dict)
        more = bool(frame.get("more"))
        opened = []
        for cid, heads in offered.items():
            if not isinstance(cid, str) or not CONTRACT_ID.fullmatch(cid) or not isinstance(heads, list):
                raise RemoteProtocolError("malformed offer")
            if not self.ws.store.has_contract(cid):
                if cid not in self._wanted:
                    self._wanted.add(cid)
                    self._send({"t": "want", "c": cid})
                continue
            if cid in self._channels or not self._peer_is_party(cid):
                continue  # a contract the peer is not a party of, by this copy: never acknowledged
            self._open(cid)
            opened.append(cid)
            if self.dialer or more:
                self._push(cid)
        if opened:
            self._events.append(ev.ContractsShared(self.peer_key, tuple(opened)))

    def _on_want(self, frame: dict) -> None:
        cid = contract_id_of(frame)
        if not self.ws.store.has_contract(cid) or not self._peer_is_party(cid):
            raise RemoteProtocolError("asked for a contract it may not have")
        doc = self.ws.document(cid)
        sigs = self.ws.store.signatures(cid)
        self._send({"t": "doc", "c": cid, "data": doc.save(), "sigs": [[h, s] for h, s in sigs.items()]})
        self.sent[cid] = self.sent.get(cid, 0) + len(sigs)
        self._open(cid)
        self._events.append(ev.ContractsShared(self.peer_key, (cid,)))

    def _on_doc(self, frame: dict) -> None:
        cid = contract_id_of(frame)
        if cid not in self._wanted:
            raise RemoteProtocolError("sent a contract that was not asked for")
        self._wanted.discard(cid)
        data = field(frame, "data", bytes)
        try:
            doc = Document.load(data)
        except Exception:  # the bindings raise plain Exception on malformed data
            raise RemoteProtocolError("sent a document that cannot be read") from None
        if self.ws.identity.key_hex not in party_keys_at(doc, doc.get_heads()):
            raise RemoteProtocolError("sent a contract this device is not a party of")
        got = self.ws.receive(cid, [data], signatures_of(frame))
        self._open(cid)
        self._events.append(ev.ContractsShared(self.peer_key, (cid,)))
        self._admitted(cid, got.admitted, new_contract=True)
        self._push(cid)  # primes both sync states, so the next edit travels in one message

    def _on_sync(self, frame: dict) -> None:
        cid = contract_id_of(frame)
        channel = self._channels.get(cid)
        if channel is None:
            raise RemoteProtocolError("sent a sync message for a contract not shared on this connection")
        try:
            message = Message.decode(field(frame, "m", bytes))
        except RemoteProtocolError:
            raise
        except Exception:  # the bindings raise plain Exception on malformed data
            raise RemoteProtocolError("sent a sync message that cannot be decoded") from None
        real = self.ws.document(cid)
        channel.scratch.merge(real)
        try:
            channel.scratch.receive_sync_message(channel.state, message)
        except Exception as exc:
            raise RemoteProtocolError(f"sent a sync message Automerge refused: {exc}") from None
        channel.signatures.update(signatures_of(frame))
        if len(channel.signatures) > MAX_PENDING_SIGNATURES:
            raise RemoteProtocolError("sent far more signatures than changes")
        if channel.scratch.get_changes(real.get_heads()):
            got = self.ws.admit_from(cid, channel.scratch, channel.signatures)
            for ch in got.admitted:
                channel.signatures.pop(ch.hash, None)
            self._admitted(cid, got.admitted)
        self._answer_due.add(cid)

    # -- helpers -------------------------------------------------------------------------------------

    def _admitted(self, cid: str, admitted, new_contract: bool = False) -> None:
        if admitted:
            authors = tuple(dict.fromkeys(ch.actor for ch in admitted))
            self._events.append(ev.ChangesAdmitted(self.peer_key, cid, tuple(ch.hash for ch in admitted), authors, new_contract))

    def _open(self, cid: str) -> None:
        self._channels[cid] = _Channel(self.ws.document(cid).fork(), SyncState())

    def _push(self, cid: str) -> None:
        channel = self._channels[cid]
        channel.scratch.merge(self.ws.document(cid))
        message = channel.scratch.generate_sync_message(channel.state)
        if message is None:
            return
        encoded = message.encode()
        hashes = carried_hashes(encoded)
        sigs = self.ws.store.signatures(cid) if hashes is None else self.ws.store.signatures(cid, hashes)
        self._send({"t": "sync", "c": cid, "m": encoded, "sigs": [[h, s] for h, s in sigs.items()]})
        if hashes:
            self.sent[cid] = self.sent.get(cid, 0) + len(hashes)

    def _send_offer(self, contract_ids: list[str], more: bool) -> None:
        offer = {cid: self.ws.document(cid).get_heads() for cid in contract_ids}
        self._offered.update(contract_ids)
        self._send({"t": "offer", "contracts": offer, "more": more})

    def _contracts_for_peer(self) -> list[str]:
        return [cid for cid in self.ws.store.contract_ids() if self._peer_is_party(cid)]

    def _peer_is_party(self, cid: str) -> bool:
        try:
            return self.peer_key in self.ws.party_keys(cid)
        except (ContractNotFound, PactError):
            return False

    def describe(self) -> str:
        return f"{self.peer_name or 'peer'} ({short_fingerprint(self.peer_key)})"


def contract_id_of(frame: dict) -> str:
    cid = field(frame, "c", str)
    if not CONTRACT_ID.fullmatch(cid):
        raise RemoteProtocolError(f"malformed {frame['t']!r} frame: not a contract id")
    return cid


def signatures_of(frame: dict) -> dict[bytes, bytes]:
    sigs = field(frame, "sigs", list)
    out = {}
    for entry in sigs:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], bytes) and isinstance(entry[1], bytes)):
            raise RemoteProtocolError("malformed signatures: each must be [hash, signature]")
        out[entry[0]] = entry[1]
    return out
