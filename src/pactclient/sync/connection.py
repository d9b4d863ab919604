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

What a ``doc`` frame or a sync message declares (operations, changes, inflated bytes) is bounded
before the bindings read it (``signing.chunk_limits``): a few hundred bytes can declare millions.

Verify before merge: each shared contract has a ``ContractChannel`` (``sync.channel``), which receives
the peer's changes into a scratch copy and admits them through ``Workspace.admit_from`` (signed, by a
party's key, of this contract) before anything is stored or merged. One bad change refuses the whole
message: the peer gets an **error** frame saying why, every channel is dropped, the connection is
closed, and nothing of the message is kept.

Use: ``start()``; then ``receive_data(bytes)`` for what arrives and ``local_changed(contract_id)`` after a
local edit (or changes admitted from another peer, which relays them); after each call handle
``events()`` and send ``data_to_send()``. ``closed`` is true once either side ended the connection.
The answer to a received sync message is written by ``data_to_send()``, not at once: a caller that
handles the events first shows admitted changes without waiting for it, and one answer covers
every message of a batch.
"""

from __future__ import annotations

from automerge.core import Document

from pactclient.errors import AdmissionError, ContractNotFound, FormatError, PactError, RemoteProtocolError
from pactclient.identity.device import short_fingerprint
from pactclient.model.amdoc import bindings_failed
from pactclient.signing.admission import party_keys_at
from pactclient.sync import directory, events as ev
from pactclient.signing.chunk_limits import check_declared
from pactclient.store.workspace import Workspace
from pactclient.sync.carried import carried_hashes, message_chunks
from pactclient.sync.channel import ContractChannel, decode_message
from pactclient.sync.files import FRAME_KINDS as FILE_FRAMES, FileExchange
from pactclient.sync.frames import FrameDecoder, encode_frame, field
from pactclient.sync.naming import CONTRACT_ID, ContractNames, signatures_of, sync_signatures
from pactclient.sync.sharing import SharingIndex

PROTOCOL = "pact-sync"
VERSION = 2
MAX_WANTED = 10_000  # contracts this side asks a peer for on one connection (see docs/security.md)


class PeerConnection:
    def __init__(self, workspace: Workspace, peer_key: bytes, *, dialer: bool, party_key: bytes | None = None,
                 sharing: SharingIndex | None = None):
        self.ws = workspace
        self.sharing = sharing  # a device serving many peers shares one index (see sync.sharing)
        self.peer_key = peer_key  # the peer's device key (its certificate's)
        self.party_key = party_key or peer_key  # the key contracts name for its party (its certificate's issuer)
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
        self._channels: dict[str, ContractChannel] = {}
        self._offered: set[str] = set()
        self._wanted: set[str] = set()
        self._given: set[str] = set()  # contracts sent whole on this connection
        # Contracts are named by id in the first frame that names them in each direction, and by a
        # number the sender chose (``n``) from then on: 32 characters less on every live edit.
        self._names = ContractNames()
        self.files = FileExchange(self)  # attached files travel beside the contracts (sync.files)

    # -- the caller's side ---------------------------------------------------------------------------

    def start(self) -> None:
        me = self.ws.identity
        self._send({"t": "hello", "protocol": PROTOCOL, "v": VERSION, "key": me.public_key, "name": me.name,
                    **self.files.hello_field()})
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
        except BaseException as exc:
            # Whatever a hostile frame provokes below (the bindings, even a panic in them, the model,
            # the store) ends this connection with the protocol's error, never the caller's loop; the
            # store rolled back.
            if not bindings_failed(exc):
                raise
            self._refuse(f"could not handle the peer's frame ({exc.__class__.__name__}: {str(exc)[:200]})")

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
            "devices": lambda f: directory.take(self.ws, f, self.party_key),
            **dict.fromkeys(FILE_FRAMES, self.files.handle),
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
        self.files.on_hello(frame)
        self._greeted = True
        self._events.append(ev.PeerGreeted(self.peer_key, self.peer_name))
        devices = directory.offer(self.ws, self.party_key)
        if devices is not None:
            self._send(devices)

    def _on_offer(self, frame: dict) -> None:
        offered = field(frame, "contracts", dict)
        more = bool(frame.get("more"))
        opened = []
        for cid, heads in offered.items():
            if not isinstance(cid, str) or not CONTRACT_ID.fullmatch(cid) or not isinstance(heads, list):
                raise RemoteProtocolError("malformed offer")
            if not self.ws.store.has_contract(cid):
                if cid not in self._wanted:
                    if len(self._wanted) >= MAX_WANTED:
                        raise RemoteProtocolError(f"offered more than {MAX_WANTED} contracts this device lacks")
                    self._wanted.add(cid)
                    self._send({"t": "want", **self._names.of(cid)})
                continue
            if cid in self._channels or not self._peer_is_party(cid):
                continue  # a contract the peer is not a party of, by this copy: never acknowledged
            self._open(cid)
            opened.append(cid)
        # An offer made during the session (``more``) opened no channel on the offering side; offering
        # back makes it open one before our first sync message arrives (else it would refuse that).
        unoffered = [cid for cid in opened if cid not in self._offered]
        if more and unoffered:
            self._send_offer(unoffered, more=True)
        for cid in opened:
            if self.dialer or more:
                self._push(cid)
        if opened:
            self._events.append(ev.ContractsShared(self.peer_key, tuple(opened)))

    def _on_want(self, frame: dict) -> None:
        cid = self._names.resolve(frame)
        if not self.ws.store.has_contract(cid) or not self._peer_is_party(cid):
            raise RemoteProtocolError("asked for a contract it may not have")
        if cid in self._given:
            raise RemoteProtocolError("asked twice for the same contract")  # each answer costs a save()
        self._given.add(cid)
        doc = self.ws.document(cid)
        # One signature per author head vouches for all of that author's earlier changes.
        sigs = self.ws.head_signatures(cid)
        self._send({"t": "doc", **self._names.of(cid), "data": doc.save(), "sigs": [[h, s] for h, s in sigs.items()]})
        self.sent[cid] = self.sent.get(cid, 0) + self.ws.store.change_count(cid)
        self._open(cid)
        self._events.append(ev.ContractsShared(self.peer_key, (cid,)))

    def _on_doc(self, frame: dict) -> None:
        cid = self._names.resolve(frame)
        if cid not in self._wanted:
            raise RemoteProtocolError("sent a contract that was not asked for")
        self._wanted.discard(cid)
        data = field(frame, "data", bytes)
        check_declared([data], "the document")  # before the bindings build what it declares
        try:
            doc = Document.load(data)
        except BaseException as exc:  # a plain Exception, or a panic, on malformed data
            if not bindings_failed(exc):
                raise
            raise RemoteProtocolError("sent a document that cannot be read") from None
        if self.ws.identity.party_key_hex not in party_keys_at(doc, doc.get_heads()):
            raise RemoteProtocolError("sent a contract this device is not a party of")
        # (If another peer delivered the contract meanwhile, this admits only what is new to this copy.)
        got = self.ws.admit_from(cid, doc, signatures_of(frame), keep_scratch=False, saved=data)
        self._open(cid)
        self._events.append(ev.ContractsShared(self.peer_key, (cid,)))
        self._admitted(cid, got.admitted, new_contract=True)
        self._push(cid)  # primes both sync states, so the next edit travels in one message

    def _on_sync(self, frame: dict) -> None:
        cid = self._names.resolve(frame)
        channel = self._channels.get(cid)
        if channel is None:
            raise RemoteProtocolError("sent a sync message for a contract not shared on this connection")
        encoded = channel.inflater.message(field(frame, "z", bytes)) if "z" in frame else field(frame, "m", bytes)
        chunks = message_chunks(encoded)
        if chunks is None:
            raise RemoteProtocolError("sent a sync message that cannot be read")
        check_declared(chunks, "the sync message")  # before the bindings decode (and inflate) its changes
        message = decode_message(encoded)
        hashes = carried_hashes(encoded)  # read once: pairs the signatures, and tells a change-less message
        admitted, reply = channel.receive(encoded, message, hashes, sync_signatures(frame, hashes))
        self._admitted(cid, admitted)
        if reply is not None:
            self._send_sync(cid, reply)

    # -- helpers -------------------------------------------------------------------------------------

    def _admitted(self, cid: str, admitted, new_contract: bool = False) -> None:
        if admitted:
            authors = tuple(dict.fromkeys(ch.actor for ch in admitted))
            self._events.append(ev.ChangesAdmitted(self.peer_key, cid, tuple(ch.hash for ch in admitted), authors, new_contract))
            self.files.after_admitted(cid, admitted)

    def _open(self, cid: str) -> None:
        self._channels[cid] = ContractChannel(self.ws, cid, self.peer_key)
        self.files.request_missing(cid)

    def _push(self, cid: str) -> None:
        """Send the next sync message of a shared contract, if there is one."""
        encoded = self._channels[cid].next_message()
        if encoded is not None:
            self._send_sync(cid, encoded)

    def _send_sync(self, cid: str, encoded: bytes) -> None:
        """A ``sync`` frame; ``s`` holds one entry per change the message carries, in its order: the
        change's own signature, or nil for a change a later one of the same author vouches for."""
        frame = {"t": "sync", **self._names.of(cid), "z": self._channels[cid].deflater.piece(encoded)}
        hashes = carried_hashes(encoded)
        if hashes is None:  # the message holds something not listed change by change: name each signature
            frame["sigs"] = [[h, s] for h, s in self.ws.store.signatures(cid).items()]
        elif hashes:
            sigs = self.ws.store.signatures(cid, hashes)
            frame["s"] = [sigs.get(h) for h in hashes]
            self.sent[cid] = self.sent.get(cid, 0) + len(hashes)
        self._send(frame)

    def _send_offer(self, contract_ids: list[str], more: bool) -> None:
        offer = {cid: self.ws.document(cid).get_heads() for cid in contract_ids}
        self._offered.update(contract_ids)
        self._send({"t": "offer", "contracts": offer, "more": more})

    def _contracts_for_peer(self) -> list[str]:
        if self.sharing is not None:
            return [cid for cid in self.sharing.contracts_of(self.party_key) if self._peer_is_party(cid)]
        return [cid for cid in self.ws.store.contract_ids() if self._peer_is_party(cid)]

    def _peer_is_party(self, cid: str) -> bool:
        try:
            return self.party_key in self.ws.party_keys(cid)
        except (ContractNotFound, PactError):
            return False

    def describe(self) -> str:
        return f"{self.peer_name or 'peer'} ({short_fingerprint(self.peer_key)})"
