"""``ContractChannel``: one contract kept in step with one peer, sans-IO. ``PeerConnection`` holds one
per shared contract, frames what it returns and turns what it admitted into events.

Verify before merge: every sync message that carries changes is received into the channel's *scratch*
copy, with the channel's own ``SyncState``. What the scratch copy has beyond the user's copy is
checked by ``Workspace.admit_from`` (signed, by a party's key, of this contract) and only then stored
and merged. A bad change raises (``AdmissionError``, ``RemoteProtocolError``): the connection refuses
the peer, drops every channel, and nothing of the message is kept.

The scratch copy is a fork of the whole document, so it is made only when the peer first sends a
message that carries changes. Until then the channel's messages are generated from the user's copy,
and the peer's change-less messages (heads, needs, bloom filters: the priming exchange after a fetch,
the acknowledgements of this side's edits) are received into it: a message whose change list was read
whole and is empty cannot change a document, and the user's copy is checked to have the same heads
after it. A peer that never sends a change therefore costs no copy of the contract.

Automerge may hold a change back until a later message brings a missing dependency (after a
bloom-filter false positive on the sender's side), so a signature can arrive a message before its
change can be admitted: signatures wait in ``signatures`` while anything is held back, and the bytes
received meanwhile are counted against ``MAX_WAITING_BYTES``.
"""

from __future__ import annotations

from automerge.core import Document, Message, SyncState

from pactclient.errors import RemoteProtocolError
from pactclient.model.amdoc import bindings_failed
from pactclient.signing.admission import AdmittedChange, NotVouched
from pactclient.store.workspace import Workspace
from pactclient.sync.carried import carried_blobs, needed_hashes
from pactclient.sync.deflate import DeflateStream, InflateStream
from pactclient.sync.frames import MAX_FRAME_BYTES

# Resource limits per channel (see docs/security.md). Each is far above what an honest peer needs.
MAX_PENDING_SIGNATURES = 100_000  # signatures held for changes that wait for a missing dependency
MAX_WAITING_BYTES = 16 * 1024 * 1024  # sync bytes received while changes wait for a missing dependency


class ContractChannel:
    def __init__(self, ws: Workspace, contract_id: str, peer_key: bytes):
        self.ws, self.contract_id, self.peer_key = ws, contract_id, peer_key
        self.state = SyncState()
        self.scratch: Document | None = None  # made when the peer first sends a change
        self.signatures: dict[bytes, bytes] = {}  # received, waiting for their changes
        self.waiting_bytes = 0
        # The Automerge messages of this contract travel as one DEFLATE stream per direction (sync.deflate).
        self.deflater = DeflateStream()
        self.inflater = InflateStream(MAX_FRAME_BYTES)

    def next_message(self) -> bytes | None:
        """The next sync message to send, encoded; None if the peer is known to be in step."""
        real = self.ws.document(self.contract_id)
        if self.scratch is None:
            message = real.generate_sync_message(self.state)
        else:
            self.scratch.merge(real)
            message = self.scratch.generate_sync_message(self.state)
        return message.encode() if message is not None else None

    def receive(self, encoded: bytes, message: Message, hashes: list[bytes] | None,
                carried_signatures: dict[bytes, bytes]) -> tuple[tuple[AdmittedChange, ...], bytes | None]:
        """Receive one sync message (``decode_message(encoded)``; ``hashes``: ``carried_hashes(encoded)``)
        and the signatures its frame carried. Returns the changes admitted (stored and merged) and the
        sync message to answer with, if any."""
        real = self.ws.document(self.contract_id)
        if self.scratch is None and hashes == []:
            self._receive_changeless(real, message)
            self._keep_signatures(carried_signatures)  # ``sigs`` may name changes still to come
            admitted: tuple[AdmittedChange, ...] = ()
        else:
            admitted, held = self._receive_changes(real, encoded, message, carried_signatures)
            if held is not None:
                return (), held
        reply = self.next_message()
        if reply is not None and needed_hashes(reply):
            self.waiting_bytes += len(encoded)
            if self.waiting_bytes > MAX_WAITING_BYTES:
                raise RemoteProtocolError(f"sent over {MAX_WAITING_BYTES} bytes of changes whose dependencies never came")
        else:
            # Nothing is held back: every later change comes with its own signature.
            self.waiting_bytes = 0
            self.signatures.clear()
        return admitted, reply

    def _receive_changeless(self, real: Document, message: Message) -> None:
        before = real.get_heads()
        self._apply(real, message)
        if real.get_heads() != before:  # the bindings read a change this side's reading missed
            self.ws.forget_cached(self.contract_id)  # read again from the store: it holds only admitted changes
            raise RemoteProtocolError("sent a sync message that changed the document without carrying a change")

    def _receive_changes(self, real: Document, encoded: bytes, message: Message,
                         carried_signatures: dict[bytes, bytes]) -> tuple[tuple[AdmittedChange, ...], bytes | None]:
        """Into the scratch copy, then admit what it has beyond the user's copy. The second value is the
        message asking for a change Automerge holds back, when admission has to wait for it."""
        if self.scratch is None:
            self.scratch = real.fork()
        else:
            self.scratch.merge(real)
        # Automerge refuses a change reusing an author's sequence number ("duplicate seq"): look first,
        # so that an equivocation is recorded as evidence before the message is refused.
        self.ws.refuse_equivocations(self.contract_id, carried_blobs(encoded),
                                     {**self.signatures, **carried_signatures}, f"peer {self.peer_key.hex()}")
        self._apply(self.scratch, message)
        self._keep_signatures(carried_signatures)
        if not self.scratch.get_changes(real.get_heads()):
            return (), None
        try:
            got = self.ws.admit_from(self.contract_id, self.scratch, self.signatures)
        except NotVouched:
            # The signed change that vouches for these may be one Automerge holds back until a missing
            # dependency arrives: then its next message asks for that dependency and admission waits
            # for the answer. If nothing is held back, nothing can still vouch for them: refuse.
            ask = self.scratch.generate_sync_message(self.state)
            if ask is None or not needed_hashes(ask.encode()):
                raise
            return (), ask.encode()
        for change in got.admitted:
            self.signatures.pop(change.hash, None)
        return got.admitted, None

    def _keep_signatures(self, carried_signatures: dict[bytes, bytes]) -> None:
        self.signatures.update(carried_signatures)
        if len(self.signatures) > MAX_PENDING_SIGNATURES:
            raise RemoteProtocolError("sent far more signatures than changes")

    def _apply(self, doc: Document, message: Message) -> None:
        try:
            doc.receive_sync_message(self.state, message)
        except BaseException as exc:
            if not bindings_failed(exc):
                raise
            raise RemoteProtocolError(f"sent a sync message Automerge refused: {exc}") from None


def decode_message(encoded: bytes) -> Message:
    try:
        return Message.decode(encoded)
    except BaseException as exc:  # a plain Exception, or a panic, on malformed data
        if not bindings_failed(exc):
            raise
        raise RemoteProtocolError("sent a sync message that cannot be decoded") from None
