"""One-time invite codes, and the sans-IO exchange that redeems one.

A code is ``pact-`` followed by unpadded lowercase base32 of a msgpack array::

    [1, contract id (16 bytes), inviter key (32 bytes), invite id (8 bytes), secret (16 bytes),
     expires_at (ms since epoch, UTC), ["host:port", ...]]

followed by a 4-byte checksum (``code_checksum``: the first 4 bytes of SHA-256 over
``"pact-invite-code\0" || array``). A code without one (made by an earlier pact) is still read; a code
whose checksum does not match, or that does not decode, is *damaged*: one message, whichever part
the damaged character fell in.

The inviter's store keeps only the SHA-256 of the secret, the role offered and the expiry, under an
HMAC-SHA256 with a key derived from the device key (``DeviceIdentity.derived_key("invite")``): a row
added or altered by someone who can write ``pact.db`` but lacks the key is refused at redemption and
never makes this device sign anything. An invite is marked used in the same write that checks it, so
it can be redeemed once even by racing joiners.

How a joiner with an unknown key gets past pinning: the joiner pins the inviter's key from the code and
connects with the TLS server name ``invite.pact``. Its listener answers that name without asking for a
client certificate, so the joiner proves its key inside the channel instead: the inviter first sends
``challenge`` (32 fresh random bytes), and ``redeem`` carries the secret and an Ed25519 signature, by the
key it names, over ``REDEEM_DOMAIN || invite id || contract id || inviter key || joiner key || nonce``
(``redemption_message``). The nonce is fresh per connection and the inviter is pinned, so a signature
made for one redemption proves nothing on another. A key this device has blocked (peers table) is
refused and stays blocked. After a valid redemption the inviter adds the joiner as a party with
``model.actions.add_party`` — a change signed by the inviter's device — sends the contract, and closes.
Later connections are ordinary pinned ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

import msgpack

from pactclient.errors import AdmissionError, FormatError, PactError, RefusedOperation, RemoteProtocolError, UsageError
from pactclient.identity.delegation import read_delegation
from pactclient.identity.device import verify_signature
from pactclient.model import actions
from pactclient.model.amdoc import bindings_failed
from pactclient.store.workspace import Workspace
from pactclient.sync import events as ev
from pactclient.sync.connection import PROTOCOL, VERSION
from pactclient.sync.naming import signatures_of
from pactclient.sync.frames import FrameDecoder, encode_frame, field

CODE_PREFIX = "pact-"
DEFAULT_TTL_MS = 24 * 3600 * 1000
REDEEM_DOMAIN = b"pactclient/invite-redemption/v1\x00"
NONCE_BYTES = 32


def redemption_message(invite_id: bytes, contract_id: str, inviter_key: bytes, joiner_key: bytes, nonce: bytes) -> bytes:
    """What a joiner signs with the key it names (every part has a fixed length: 8, 16, 32, 32, 32 bytes)."""
    return REDEEM_DOMAIN + invite_id + bytes.fromhex(contract_id) + inviter_key + joiner_key + nonce


def invite_mac(ws: Workspace, invite_id: bytes, contract_id: str, role: str, secret_hash: bytes, created_at: int,
               expires_at: int) -> bytes:
    """The HMAC that authenticates a stored invite row (its fields that decide a redemption)."""
    body = msgpack.packb([invite_id, contract_id, role, secret_hash, created_at, expires_at], use_bin_type=True)
    return hmac.new(ws.identity.derived_key("invite"), body, hashlib.sha256).digest()


@dataclass(frozen=True)
class InviteCode:
    contract_id: str
    inviter_key: bytes
    invite_id: bytes
    secret: bytes
    expires_at: int
    addresses: tuple[str, ...]

    def encode(self) -> str:
        body = msgpack.packb([1, bytes.fromhex(self.contract_id), self.inviter_key, self.invite_id, self.secret,
                              self.expires_at, list(self.addresses)], use_bin_type=True)
        return CODE_PREFIX + base64.b32encode(body + code_checksum(body)).decode().rstrip("=").lower()

    @classmethod
    def decode(cls, text: str) -> "InviteCode":
        text = "".join((text or "").split()).lower()
        if not text.startswith(CODE_PREFIX):
            raise UsageError("not an invite code (it starts with 'pact-')")
        raw = text[len(CODE_PREFIX):].upper()
        try:
            data = base64.b32decode(raw + "=" * (-len(raw) % 8))
            unpacker = msgpack.Unpacker(raw=False, max_buffer_size=len(data) + 1)
            unpacker.feed(data)
            fields = unpacker.unpack()
            body, rest = data[:unpacker.tell()], data[unpacker.tell():]
            # A code made before checksums has nothing after the array; a newer one has exactly its checksum.
            ok = rest in (b"", code_checksum(body)) and isinstance(fields, list) and len(fields) == 7
            if ok:
                v, cid, key, iid, secret, expires, addrs = fields
                ok = (v == 1 and isinstance(cid, bytes) and len(cid) == 16 and isinstance(key, bytes) and len(key) == 32
                      and isinstance(iid, bytes) and len(iid) == 8 and isinstance(secret, bytes) and len(secret) == 16
                      and isinstance(expires, int) and isinstance(addrs, list) and all(map(_is_address, addrs)))
        except Exception:  # binascii, msgpack and unpacking errors alike: the code was mistyped
            ok = False
        if not ok:
            raise UsageError(DAMAGED)
        return cls(cid.hex(), key, iid, secret, expires, tuple(addrs))


DAMAGED = "this invite code is damaged: check that it was copied whole, or ask for a new one"
CHECKSUM_BYTES = 4


def code_checksum(body: bytes) -> bytes:
    """Four bytes after the code's array: one changed character (5 bits) changes them, so a damaged
    code is reported as damaged instead of sending the joiner to a wrong key, address or secret."""
    return hashlib.sha256(b"pact-invite-code\x00" + body).digest()[:CHECKSUM_BYTES]


def _is_address(value: object) -> bool:
    """HOST:PORT with a printable host and a port 1-65535 (what ``net.service.split_address`` accepts)."""
    if not isinstance(value, str) or not value.isprintable() or len(value) > 300:
        return False
    host, sep, port = value.rpartition(":")
    return bool(sep and host.strip("[]") and port.isdigit() and 0 < int(port) < 65536)


def create_invite(ws: Workspace, contract_id: str, role: str | None, addresses: list[str],
                  ttl_ms: int = DEFAULT_TTL_MS) -> InviteCode:
    """Record a new invite to ``contract_id`` in this home's store and return its code. ``role`` None
    means the first role of the contract that no device fills yet."""
    view = ws.view(contract_id)
    if view.party_by_key(ws.identity.party_key_hex) is None:
        raise RefusedOperation("only a party of the contract can invite to it")
    if role is None:
        open_slot = next((p for p in view.parties.values() if not p.key), None)
        if open_slot is None:
            raise UsageError("every role of this contract is filled; name the invitee's role (--role)")
        role = open_slot.role
    if not addresses:
        raise UsageError("no address to put in the code: start `pact serve` first, or give --address HOST:PORT")
    now = ws.clock()
    # The code names the inviter's party key: the joiner pins it, and any device of the party answers.
    code = InviteCode(contract_id, ws.identity.party_key, os.urandom(8), os.urandom(16), now + ttl_ms, tuple(addresses))
    secret_hash = hashlib.sha256(code.secret).digest()
    mac = invite_mac(ws, code.invite_id, contract_id, role, secret_hash, now, code.expires_at)
    with ws.store.write():
        ws.store.add_invite(code.invite_id, contract_id, role, secret_hash, now, code.expires_at, mac)
    return code


class _Exchange:
    def __init__(self, ws: Workspace):
        self.ws = ws
        self.closed = False
        self._decoder = FrameDecoder()
        self._out: list[bytes] = []
        self._events: list = []

    def data_to_send(self) -> bytes:
        out, self._out = b"".join(self._out), []
        return out

    def events(self) -> list:
        out, self._events = self._events, []
        return out

    def _send(self, frame: dict) -> None:
        self._out.append(encode_frame(frame))

    def receive_data(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self._decoder.feed(data)
            for frame in self._decoder.frames():
                if not self.closed:
                    self._handle(frame)
        except PactError as exc:
            self._fail(str(exc))
        except BaseException as exc:  # a hostile frame must end the exchange, never the caller's loop
            if not bindings_failed(exc):
                raise
            self._fail(f"could not handle the peer's frame ({str(exc)[:200] or 'it does not fit the protocol'})")

    def _fail(self, reason: str) -> None:
        raise NotImplementedError

    def _handle(self, frame: dict) -> None:
        raise NotImplementedError


class InviteHost(_Exchange):
    """The inviter's side of an invite connection. ``sync_port`` is told to the joiner, who dials it
    (on the host it reached the invite listener at) for every later sync."""

    def __init__(self, ws: Workspace, sync_port: int):
        super().__init__(ws)
        self.sync_port = sync_port
        self.nonce = os.urandom(NONCE_BYTES)  # fresh per connection: binds the joiner's proof to it

    def start(self) -> None:
        self._send({"t": "challenge", "nonce": self.nonce})

    def _fail(self, reason: str) -> None:
        self._events.append(ev.PeerRefused(b"", f"invite refused: {reason}"))
        self._send({"t": "error", "reason": reason})
        self.closed = True

    def _handle(self, frame: dict) -> None:
        if frame["t"] == "pair" and frame.get("protocol") == PROTOCOL and frame.get("v") == VERSION:
            from pactclient.sync.pairing import host_pairing  # pairing builds on this module

            reply, line = host_pairing(self.ws, frame, self.nonce)
            self._send({**reply, "port": self.sync_port})
            self._events.append(ev.InviteRedeemed("", field(frame, "key", bytes), reply["name"], line))
            self.closed = True
            return
        if frame["t"] != "redeem" or frame.get("protocol") != PROTOCOL or frame.get("v") != VERSION:
            raise RemoteProtocolError("only an invite redemption or a device pairing is accepted on this connection")
        invite_id, secret = field(frame, "invite", bytes), field(frame, "secret", bytes)
        key, name = field(frame, "key", bytes), str(frame.get("name", ""))[:200]
        org = str(frame.get("org", ""))[:200]
        if len(key) != 32:
            raise RemoteProtocolError("malformed redemption: the key must be 32 bytes")
        proof = frame.get("proof")
        if not isinstance(proof, bytes):
            raise RefusedOperation("the redemption does not prove possession of its key (no proof: update pact)")
        now = self.ws.clock()
        with self.ws.store.write():
            invite = self.ws.store.invite(invite_id)
            if invite is None:
                raise RefusedOperation("no such invite: the code is wrong, or was made by another device")
            expected = invite_mac(self.ws, invite_id, invite["contract_id"], invite["role"], invite["secret_hash"],
                                  invite["created_at"], invite["expires_at"])
            if not isinstance(invite["mac"], bytes) or not hmac.compare_digest(expected, invite["mac"]):
                raise RefusedOperation("this invite is not authenticated by this device (made by an earlier "
                                       "version, or the store was altered); ask for a new code")
            if not hmac.compare_digest(hashlib.sha256(secret).digest(), invite["secret_hash"]):
                raise RefusedOperation("the invite code is wrong (its secret does not match)")
            message = redemption_message(invite_id, invite["contract_id"], self.ws.identity.party_key, key, self.nonce)
            if not verify_signature(key, proof, message):
                raise RefusedOperation("the redemption does not prove possession of the key it names "
                                       "(its signature does not verify)")
            party, name, org = _joining_party(frame, key, name, org)
            if self.ws.store.peer_state(key.hex()) == "blocked" or self.ws.store.peer_state(party.hex()) == "blocked":
                raise RefusedOperation("this device has blocked that key; it cannot join with an invite")
            if invite["used_at"] is not None:
                raise RefusedOperation("this invite code was already used; ask for a new one")
            if invite["expires_at"] <= now:
                raise RefusedOperation("this invite code has expired; ask for a new one")
            self.ws.store.use_invite(invite_id, now, key.hex())
            self.ws.store.put_peer(key.hex(), name, "", "known")
        cid = invite["contract_id"]
        view = self.ws.view(cid)
        if view.party_by_key(party.hex()) is not None:
            message = f"{name or 'the joiner'} is already a party"
        else:
            outcome = self.ws.act(cid, actions.add_party, party.hex(), name or "invitee", invite["role"], org,
                                  "joined with an invite code")
            message = outcome.message
        doc = self.ws.document(cid)
        sigs = self.ws.head_signatures(cid)
        self._send({"t": "joined", "c": cid, "message": message, "name": self.ws.identity.name, "port": self.sync_port,
                    "data": doc.save(), "sigs": [[h, s] for h, s in sigs.items()]})
        self._events.append(ev.InviteRedeemed(cid, key, name, message))
        self.closed = True


def _joining_party(frame: dict, key: bytes, name: str, org: str) -> tuple[bytes, str, str]:
    """The party a redeeming device joins for: itself, or the party whose key certified it (its
    delegation, sent along and checked here), named as the delegation names it."""
    delegation = frame.get("delegation")
    if delegation is None:
        return key, name, org
    fields = read_delegation(delegation.get("statement"), delegation.get("signature")) if isinstance(delegation, dict) else None
    if fields is None or fields["device_key"] != key.hex():
        raise RefusedOperation("the joiner's device delegation does not verify, or is not for its key")
    return bytes.fromhex(fields["party_key"]), fields["org"] or fields["person"] or name, fields["org"] or org


class InviteGuest(_Exchange):
    """The joiner's side: proves the secret, then stores the contract the inviter sends."""

    def __init__(self, ws: Workspace, code: InviteCode, host: str):
        super().__init__(ws)
        self.code = code
        self.host = host  # the host the invite listener answered at
        self.redeemed = False

    def start(self) -> None:
        pass  # the inviter speaks first: its challenge

    def _redeem(self, nonce: bytes) -> None:
        me, code = self.ws.identity, self.code
        proof = me.sign(redemption_message(code.invite_id, code.contract_id, code.inviter_key, me.public_key, nonce))
        self._send({"t": "redeem", "protocol": PROTOCOL, "v": VERSION, "invite": code.invite_id,
                    "secret": code.secret, "key": me.public_key, "name": me.name, "org": me.org, "proof": proof,
                    **({"delegation": me.delegation} if me.delegation is not None else {})})
        self.redeemed = True

    def _fail(self, reason: str) -> None:
        self._events.append(ev.PeerRefused(self.code.inviter_key, reason))
        self.closed = True

    def _handle(self, frame: dict) -> None:
        if frame["t"] == "error":
            self._events.append(ev.RefusedByPeer(self.code.inviter_key, str(frame.get("reason", ""))[:500]))
            self.closed = True
            return
        if frame["t"] == "challenge" and not self.redeemed:
            nonce = field(frame, "nonce", bytes)
            if len(nonce) != NONCE_BYTES:
                raise RemoteProtocolError(f"malformed challenge: the nonce must be {NONCE_BYTES} bytes")
            self._redeem(nonce)
            return
        if frame["t"] != "joined" or not self.redeemed or field(frame, "c", str) != self.code.contract_id:
            raise RemoteProtocolError("the inviter answered with something other than the contract")
        try:
            got = self.ws.receive(self.code.contract_id, [field(frame, "data", bytes)], signatures_of(frame),
                                  what="the contract")
        except (AdmissionError, FormatError) as exc:
            raise RemoteProtocolError(f"the contract sent by the inviter was refused: {exc}") from None
        port = frame.get("port")
        address = f"{self.host}:{port}" if isinstance(port, int) and 0 < port < 65536 else ""
        with self.ws.store.write():
            self.ws.store.put_peer(self.code.inviter_key.hex(), str(frame.get("name", ""))[:200], address, "known")
        self._events.append(ev.JoinCompleted(self.code.contract_id, self.code.inviter_key,
                                             str(frame.get("message", "")), len(got.admitted)))
        self.closed = True
