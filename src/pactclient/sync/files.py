"""Attached files travelling with their contract: over a live connection (sans-IO) and in bundles.

A contract names each attachment by its SHA-256 (``pactclient.model.attachments``); the bytes travel
beside the signed changes, never inside them, and are believed only once they hash to the name.

Live sync (docs/protocol.md, "Files")
-------------------------------------
Both sides say ``"files": 1`` in their hello; a peer that did not gets no file frame (older versions
refuse frames they do not know). After a contract is shared on the connection, and whenever changes of
it are admitted, a side that holds attachment entries whose intact bytes it lacks asks for them:

    {"t": "fwant", <contract>, "h": [<32-byte SHA-256>, ...]}       at most MAX_WANT_HASHES per frame

The other side answers each hash with the bytes, if the peer is a party of that contract (by the
answering copy) and the answering copy of that contract names the hash, else it refuses the peer (and so it does if a hash
whose bytes it already sent on this connection is asked again):

    {"t": "file", <contract>, "h": <32-byte SHA-256>, "data": <bytes, at most 10 MiB>}
    {"t": "nofile", <contract>, "h": <32-byte SHA-256>}               it lacks them (or they are altered)

A ``file`` frame is taken only for a hash this side asked for on this connection, for that contract,
within the size limit, and whose bytes hash to it; anything else refuses the peer (an ``error`` frame,
the connection closed, nothing stored). A ``nofile`` forgets the question: the next connection (or the
next admitted change of the contract) asks again, perhaps of another peer.

Bundles
-------
A bundle may carry ``"files": [[<32-byte SHA-256>, <bytes>], ...]``. Before any change of the bundle is
admitted, each file is checked (size, hash): one that fails refuses the bundle. After the changes are
admitted, only files the contract names are stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pactclient.errors import FormatError, PactError, RemoteProtocolError, StoreError
from pactclient.model.attachments import ENTRY_KIND, LIMIT_TEXT, MAX_ATTACHMENT_BYTES
from pactclient.store import attachments as stored
from pactclient.signing.change_ops import SET, decode_change, value_of
from pactclient.sync.frames import field, hash_list

CAPABILITY = "files"  # the hello field that says a peer speaks the file frames
MAX_WANT_HASHES = 64  # hashes asked in one fwant frame
MAX_ASKED = 4096  # hashes asked and not yet answered on one connection (either side)
FRAME_KINDS = ("fwant", "file", "nofile")


@dataclass(frozen=True)
class FileReceived:
    """The bytes of an attachment arrived from the peer, matched their SHA-256 and are stored."""

    peer_key: bytes
    contract_id: str
    sha256: str


class FileExchange:
    """The file frames of one ``PeerConnection`` (which owns the frames' naming and sending)."""

    def __init__(self, conn):
        self.conn = conn
        self.peer_speaks = False  # the peer's hello said it speaks the file frames
        self.asked: dict[bytes, str] = {}  # hash -> contract id, asked of the peer and not yet answered
        self.served: set[bytes] = set()  # hashes whose bytes were sent on this connection (each once)

    def hello_field(self) -> dict:
        return {CAPABILITY: 1}

    def on_hello(self, frame: dict) -> None:
        self.peer_speaks = frame.get(CAPABILITY) == 1

    def request_missing(self, cid: str) -> None:
        """Ask the peer for the bytes of every attachment of ``cid`` this home lacks (not asked yet)."""
        if not self.peer_speaks or self.conn.closed:
            return
        try:
            lacking = [bytes.fromhex(h) for h in stored.missing(self.conn.ws, cid)]
        except PactError:
            return
        wanted = [h for h in lacking if h not in self.asked][: max(0, MAX_ASKED - len(self.asked))]
        for start in range(0, len(wanted), MAX_WANT_HASHES):
            chunk = wanted[start : start + MAX_WANT_HASHES]
            self.asked.update((h, cid) for h in chunk)
            self.conn._send({"t": "fwant", **self.conn._names.of(cid), "h": chunk})

    def after_admitted(self, cid: str, admitted) -> None:
        """Changes of ``cid`` were admitted: ask for the files of any attachment they record."""
        if self.peer_speaks and any(records_attachment(ch.data) for ch in admitted):
            self.request_missing(cid)

    def handle(self, frame: dict) -> None:
        {"fwant": self._on_want, "file": self._on_file, "nofile": self._on_nofile}[frame["t"]](frame)

    def _on_want(self, frame: dict) -> None:
        conn = self.conn
        cid = conn._names.resolve(frame)
        hashes = hash_list(frame, "h")
        if len(hashes) > MAX_WANT_HASHES:
            raise RemoteProtocolError(f"asked for more than {MAX_WANT_HASHES} files in one frame")
        if not conn.ws.store.has_contract(cid) or not conn._peer_is_party(cid):
            raise RemoteProtocolError("asked for files of a contract it may not have")
        named = stored.referenced(conn.ws, cid)
        files = stored.FileStore(conn.ws.home)
        for h in hashes:
            if h.hex() not in named:
                raise RemoteProtocolError("asked for a file that contract does not name")
            if h in self.served:  # each answer costs up to 10 MiB: a peer that has the bytes asks no more
                raise RemoteProtocolError("asked twice for the same file")
            try:
                data = files.read(h.hex())
            except StoreError:  # not here yet, or altered here: never sent as if genuine
                conn._send({"t": "nofile", **conn._names.of(cid), "h": h})
                continue
            self.served.add(h)
            conn._send({"t": "file", **conn._names.of(cid), "h": h, "data": data})

    def _answered(self, frame: dict) -> tuple[str, bytes]:
        cid = self.conn._names.resolve(frame)
        h = field(frame, "h", bytes)
        if self.asked.get(h) != cid:
            raise RemoteProtocolError("sent a file that was not asked for")
        del self.asked[h]
        return cid, h

    def _on_file(self, frame: dict) -> None:
        cid, h = self._answered(frame)
        data = field(frame, "data", bytes)
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise RemoteProtocolError(f"sent a file over the limit of {LIMIT_TEXT}")
        if hashlib.sha256(data).digest() != h:
            raise RemoteProtocolError(f"sent bytes for file {h.hex()[:12]} that do not match its SHA-256")
        stored.FileStore(self.conn.ws.home).put(data, h.hex())
        self.conn._events.append(FileReceived(self.conn.peer_key, cid, h.hex()))

    def _on_nofile(self, frame: dict) -> None:
        self._answered(frame)


def records_attachment(change_bytes: bytes) -> bool:
    """Whether a change writes an ``attachment`` timeline entry (read from its ops: cheap, and no
    need to read the contract's timeline after every live edit)."""
    try:
        ops = decode_change(change_bytes).ops
    except ValueError:
        return False
    return any(op.action == SET and op.key == "kind" and value_of(op) == ENTRY_KIND for op in ops)


# -- bundles -------------------------------------------------------------------------------------------


def bundle_files(ws, contract_id: str) -> list[list[bytes]]:
    """``[[sha256, bytes], ...]`` of the contract's attachments whose intact bytes this home holds."""
    files = stored.FileStore(ws.home)
    out = []
    for h in sorted(stored.referenced(ws, contract_id)):
        try:
            out.append([bytes.fromhex(h), files.read(h)])
        except StoreError:
            continue  # missing or altered here: a bundle carries only genuine bytes
    return out


def checked_bundle_files(entries) -> dict[str, bytes]:
    """The files of a decoded bundle, each checked (FormatError naming the first bad one)."""
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise FormatError("malformed bundle: files must be a list")
    out = {}
    for entry in entries:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], bytes) and len(entry[0]) == 32
                and isinstance(entry[1], bytes)):
            raise FormatError("malformed bundle: each file must be [32-byte SHA-256, bytes]")
        if len(entry[1]) > MAX_ATTACHMENT_BYTES:
            raise FormatError(f"the bundle carries a file over the limit of {LIMIT_TEXT}; nothing imported")
        if hashlib.sha256(entry[1]).digest() != entry[0]:
            raise FormatError(f"the bundle's file {entry[0].hex()[:12]} does not match its SHA-256; nothing imported")
        out[entry[0].hex()] = entry[1]
    return out


def store_bundle_files(ws, contract_id: str, files: dict[str, bytes]) -> int:
    """Store the checked files the contract names; returns how many were new here."""
    if not files:
        return 0
    store = stored.FileStore(ws.home)
    count = 0
    for h in stored.referenced(ws, contract_id) & set(files):
        if store.status(h) != stored.PRESENT:
            store.put(files[h], h)
            count += 1
    return count
