"""The workspace of one home: its identity, its store, and the contracts in it.

Every local edit runs inside one SQLite write transaction: catch up with what is committed, apply the
action, sign the new change, store it, update the summary index, commit. Two processes of the same
home (``pact serve`` and a ``pact note`` typed meanwhile) therefore never write two different changes
with the same actor and sequence number.

Every received change, from a bundle or a peer, goes through ``receive``: loaded into a scratch copy,
admitted by ``pactclient.signing`` and only then stored and merged.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from automerge.core import ROOT, Document

from pactclient.errors import AdmissionError, ContractNotFound, FormatError, PactError, RefusedOperation, StoreError
from pactclient.identity.device import DeviceIdentity, verify_signature
from pactclient.model import actions, agreements
from pactclient.model.amdoc import EntryCache, bindings_failed
from pactclient.model.actions import Actor, Outcome, view_of
from pactclient.model.views import ContractView
from pactclient.signing.admission import AdmittedChange, admit_changes, party_keys_at
from pactclient.signing.changes import sign_change
from pactclient.signing.permissions import PermissionChecker
from pactclient.store import equivocation
from pactclient.signing.vouching import ChangeLinks, author_heads
from pactclient.store.sqlite_store import SqliteStore

DB_FILE = "pact.db"
SNAPSHOT_EVERY = 256  # compact once this many changes are stored after the last snapshot
SNAPSHOT_DOMAIN = b"pactclient/snapshot/v1\x00"


def now_ms() -> int:
    return int(time.time() * 1000)


def _pack_heads(heads: list[bytes]) -> bytes:
    return b"".join(sorted(heads))


def _unpack_heads(blob: bytes) -> list[bytes]:
    return [blob[i : i + 32] for i in range(0, len(blob), 32)]


@dataclass(frozen=True)
class Received:
    """What ``receive`` did: the changes newly stored (empty if nothing was new)."""

    contract_id: str
    admitted: tuple[AdmittedChange, ...]


class Workspace:
    def __init__(self, home: Path, identity: DeviceIdentity, clock: Callable[[], int] = now_ms):
        self.home = Path(home)
        self.identity = identity
        self.clock = clock
        self.store = SqliteStore(self.home / DB_FILE)
        # Long-running processes keep documents in memory; the rowid says how far each is caught up.
        self._docs: dict[str, tuple[Document, int]] = {}
        self._caches: dict[str, EntryCache] = {}
        self._countersigned: dict[str, set[str]] = {}  # proposal ids countersigned (or not ours), per contract

    @classmethod
    def open(cls, home: Path, clock: Callable[[], int] = now_ms) -> "Workspace":
        return cls(home, DeviceIdentity.load(home), clock)

    def close(self) -> None:
        self.store.close()

    # -- naming ----------------------------------------------------------------------------------

    def resolve(self, ref: str) -> str:
        """A full contract id from an id or a unique prefix of one."""
        ref = (ref or "").strip().lower()
        if not ref:
            raise ContractNotFound("name a contract by its id or a unique prefix (see: pact list)")
        matches = self.store.match_prefix(ref)
        if not matches:
            raise ContractNotFound(f"no contract matches {ref!r} (see: pact list)")
        if len(matches) > 1 and ref not in matches:
            raise ContractNotFound(f"{ref!r} matches several contracts: {', '.join(m[:12] for m in matches)}; give more of the id")
        return ref if ref in matches else matches[0]

    # -- reading ---------------------------------------------------------------------------------

    def document(self, contract_id: str) -> Document:
        """The contract's document, caught up with the store and re-verified (see ``_load``)."""
        last = self.store.last_rowid(contract_id)
        cached = self._docs.get(contract_id)
        if cached is not None and cached[1] == last:
            return cached[0]
        doc = self._load(contract_id)
        self._docs[contract_id] = (doc, last)
        return doc

    def _load(self, contract_id: str) -> Document:
        if not self.store.has_contract(contract_id):
            raise ContractNotFound(f"no contract {contract_id!r}")
        snap = self.store.snapshot(contract_id)
        base_heads: list[bytes] = []
        after = 0
        blobs = []
        if snap is not None:
            data, heads_blob, after, signature = snap
            message = SNAPSHOT_DOMAIN + contract_id.encode() + heads_blob + hashlib.sha256(data).digest()
            if not verify_signature(self.identity.public_key, signature, message):
                raise StoreError(f"the stored snapshot of {contract_id[:12]} is not signed by this device; the store was altered")
            base_heads = _unpack_heads(heads_blob)
            blobs.append(data)
        rows = self.store.changes_after(contract_id, after)
        blobs.extend(r[3] for r in rows)
        try:
            doc = Document.load(b"".join(blobs)) if blobs else Document()
        except BaseException as exc:  # a tampered store may make the bindings panic
            if not bindings_failed(exc):
                raise
            raise StoreError(f"contract {contract_id[:12]} cannot be loaded from the store: {exc}") from None
        snapshot_heads = (doc if not rows else Document.load(snap[0])).get_heads() if snap is not None else []
        if snap is not None and sorted(snapshot_heads) != sorted(base_heads):
            raise StoreError(f"the stored snapshot of {contract_id[:12]} does not match its heads; the store was altered")
        # Re-verify what the snapshot does not vouch for: signatures and authors of the tail. A change
        # stored without a signature needs its voucher there too: vouchers are later changes, and
        # everything after the snapshot's last row is in the tail.
        sigs = {r[1]: r[4] for r in rows if r[4] is not None}
        try:
            admitted = admit_changes(doc, base_heads, sigs, contract_id)
        except AdmissionError as exc:
            raise StoreError(f"stored contract {contract_id[:12]} fails verification: {exc}") from None
        if len(admitted) != len(rows):
            raise StoreError(f"stored contract {contract_id[:12]} has changes that do not chain to its history")
        doc.set_actor(self.identity.public_key)
        return doc

    def cache(self, contract_id: str) -> EntryCache:
        return self._caches.setdefault(contract_id, EntryCache())

    def view(self, contract_id: str, now: int | None = None) -> ContractView:
        return view_of(self.document(contract_id), self.clock() if now is None else now, self.cache(contract_id))

    def summaries(self) -> list[dict]:
        out = []
        for cid, summary, updated in self.store.summaries():
            out.append({"id": cid, "updated_at": updated, **summary})
        return out

    def signer_keys(self, contract_id: str) -> frozenset[str]:
        return frozenset(k.hex() for k in self.store.signer_keys(contract_id))

    # -- writing local edits -----------------------------------------------------------------------

    def _actor(self, contract_id: str | None) -> Actor:
        signers = self.signer_keys(contract_id) if contract_id else frozenset()
        return Actor(key=self.identity.key_hex, now=self.clock(), signers=signers,
                     cache=self.cache(contract_id) if contract_id else None)

    def create(self, title: str, template: dict, role: str | None = None) -> str:
        contract_id = uuid.uuid4().hex
        doc = Document(self.identity.public_key)
        actor = self._actor(None)
        with self.store.write():
            actions.create_contract(doc, actor, contract_id, title, template, role, self.identity.name, self.identity.org)
            self.store.ensure_contract(contract_id, actor.now)
            self._persist_new(contract_id, doc, [], actor.now)
        return contract_id

    def act(self, contract_id: str, action: Callable[..., Outcome], *args, **kwargs) -> Outcome:
        """Run one model action as one signed, durable change."""
        with self.store.write():
            doc = self.document(contract_id)
            before = doc.get_heads()
            try:
                actor = self._actor(contract_id)
                outcome = action(doc, actor, *args, **kwargs)
                self._countersign_pending(doc, actor)
                self._persist_new(contract_id, doc, before, self.clock())
            except BaseException:
                # The in-memory document may hold the uncommitted change: forget it.
                self._docs.pop(contract_id, None)
                self._countersigned.pop(contract_id, None)
                raise
        return outcome

    def _countersign_pending(self, doc: Document, actor: Actor) -> int:
        """Countersign agreed versions this party has not signed yet (see pactclient.model.agreements).

        Runs only inside a local write transaction, never on receipt: no reply loops, no equivocation.
        """
        settled = self._countersigned.setdefault(self._contract_of(doc), set())
        return agreements.countersign_pending(doc, lambda: view_of(doc, actor.now, actor.cache),
                                              self.identity.key_hex, actor.now, self.identity.sign, settled)

    @staticmethod
    def _contract_of(doc: Document) -> str:
        contract = doc.get(ROOT, "contract")
        got = doc.get(contract[1], "id") if contract is not None else None
        return got[0][1] if got is not None else ""

    def countersign(self, contract_id: str) -> int:
        """Countersign now whatever agreed versions wait for this device; returns how many."""
        with self.store.write():
            doc = self.document(contract_id)
            before = doc.get_heads()
            try:
                written = self._countersign_pending(doc, self._actor(contract_id))
                if written:
                    self._persist_new(contract_id, doc, before, self.clock())
            except BaseException:
                self._docs.pop(contract_id, None)
                self._countersigned.pop(contract_id, None)
                raise
        return written

    def _persist_new(self, contract_id: str, doc: Document, before: list[bytes], now: int) -> None:
        new = doc.get_changes(before)
        # The check every peer makes on receipt, made before signing: this copy never writes a change
        # its peers would refuse (the model's own checks are the friendly, earlier version of it).
        checker = PermissionChecker(doc)
        for change in new:
            refusal = checker.check(change)
            if refusal is not None:
                raise RefusedOperation(f"this edit {refusal}")
        for change in new:
            signature = sign_change(self.identity, change.hash)
            self.store.add_change(contract_id, change.hash, change.actor_id, change.seq, change.bytes, signature, now)
        self._after_write(contract_id, doc, now)

    def _after_write(self, contract_id: str, doc: Document, now: int, saved: bytes | None = None) -> None:
        last = self.store.last_rowid(contract_id)
        self._docs[contract_id] = (doc, last)
        view = view_of(doc, now, self.cache(contract_id))
        self.store.put_summary(contract_id, summarize(view, self.identity.key_hex), now)
        snap = self.store.snapshot(contract_id)
        if last - (snap[2] if snap else 0) >= SNAPSHOT_EVERY:
            self._compact(contract_id, doc, last, now, saved)

    def _compact(self, contract_id: str, doc: Document, last_rowid: int, now: int, saved: bytes | None = None) -> None:
        data = saved if saved is not None else doc.save()
        heads_blob = _pack_heads(doc.get_heads())
        message = SNAPSHOT_DOMAIN + contract_id.encode() + heads_blob + hashlib.sha256(data).digest()
        self.store.put_snapshot(contract_id, data, heads_blob, last_rowid, self.identity.sign(message), now)

    def compact(self, contract_id: str) -> None:
        with self.store.write():
            doc = self.document(contract_id)
            self._compact(contract_id, doc, self.store.last_rowid(contract_id), self.clock())

    # -- receiving changes from elsewhere -----------------------------------------------------------

    def receive(self, contract_id: str, change_blobs: list[bytes], signatures: dict[bytes, bytes],
                source: str = "bundle") -> Received:
        """Admit changes of ``contract_id`` received from a bundle or a peer. All or nothing."""
        self.refuse_equivocations(contract_id, change_blobs, signatures, source)
        with self.store.write():
            known = self.store.has_contract(contract_id)
            base = self.document(contract_id).save() if known else b""
            try:
                scratch = Document.load(base + b"".join(change_blobs))
            except BaseException as exc:  # crafted changes can make the bindings panic
                if not bindings_failed(exc):
                    raise
                raise FormatError(f"the changes cannot be read, or depend on changes this copy lacks: {exc}") from None
            return self._admit(contract_id, scratch, signatures, keep_scratch=False)

    def refuse_equivocations(self, contract_id: str, change_blobs: list[bytes], signatures: dict[bytes, bytes],
                             source: str) -> None:
        """Refuse (AdmissionError) changes that reuse an author's sequence number with other content,
        keeping both as evidence (``pactclient.store.equivocation``). ``source`` says where they came
        from: "bundle", or "peer <hex key>"."""
        equivocation.refuse(self.store, contract_id, change_blobs, signatures, source, self.clock())

    def equivocations(self, contract_id: str) -> list[dict]:
        return self.store.equivocations(contract_id)

    def admit_from(self, contract_id: str, scratch: Document, signatures: dict[bytes, bytes],
                   keep_scratch: bool = True, saved: bytes | None = None) -> Received:
        """Admit what ``scratch`` (a copy that received changes, e.g. a peer's sync fork) has beyond this
        copy: verified by ``admit_changes``, then stored and merged. All or nothing.

        This copy's committed changes are first merged into ``scratch`` (which the caller keeps using)
        so that ``scratch`` knows every head of this copy. With ``keep_scratch`` false the caller hands
        ``scratch`` over: a new contract then becomes that very document, without a copy. ``saved`` is
        what ``scratch`` was loaded from, if it was one saved document: a new contract keeps it as its
        first snapshot instead of saving the document again.
        """
        with self.store.write():
            return self._admit(contract_id, scratch, signatures, keep_scratch=keep_scratch, saved=saved)

    def _admit(self, contract_id: str, scratch: Document, signatures: dict[bytes, bytes], keep_scratch: bool,
               saved: bytes | None = None) -> Received:
        """The shared tail of ``receive`` and ``admit_from``; runs inside the caller's write transaction.

        Validly signed changes by a party can still be malformed (a party list that is a string, a
        timeline that is a number): reading them fails with whatever the model or the bindings raise.
        Such changes are refused like forged ones; the in-memory copy, which may already have merged
        them, is dropped so that the next read comes from the store (which the caller rolls back).
        """
        try:
            return self._admit_checked(contract_id, scratch, signatures, keep_scratch, saved)
        except PactError:
            raise
        except BaseException as exc:
            if not bindings_failed(exc):
                raise
            raise AdmissionError(f"refused: the changes leave the contract unreadable ({exc.__class__.__name__}: "
                                 f"{str(exc)[:200]})") from None

    def _admit_checked(self, contract_id: str, scratch: Document, signatures: dict[bytes, bytes],
                       keep_scratch: bool, saved: bytes | None) -> Received:
        doc = self.document(contract_id) if self.store.has_contract(contract_id) else None
        if doc is not None:
            scratch.merge(doc)
        before = doc.get_heads() if doc is not None else []
        admitted = admit_changes(scratch, before, signatures, contract_id)
        if not admitted:
            return Received(contract_id, ())
        now = self.clock()
        self.store.ensure_contract(contract_id, now)
        self.store.add_changes(contract_id, [(ch.hash, ch.actor, ch.seq, ch.data, ch.signature) for ch in admitted], now)
        try:
            if doc is None:
                doc = scratch.fork() if keep_scratch else scratch
            else:
                doc.merge(scratch)
                saved = None
            doc.set_actor(self.identity.public_key)
            self._after_write(contract_id, doc, now, saved)
        except BaseException:
            # Both may hold what the rolled-back transaction refused (the cache keys timeline entries by
            # element id, which a later change by the same author could reuse).
            self._docs.pop(contract_id, None)
            self._caches.pop(contract_id, None)
            raise
        return Received(contract_id, tuple(admitted))

    def party_keys(self, contract_id: str) -> set[bytes]:
        """Keys of the parties in force in this copy of the contract."""
        doc = self.document(contract_id)
        return {bytes.fromhex(k) for k in party_keys_at(doc, doc.get_heads())}

    def signed_changes(self, contract_id: str) -> list[tuple[bytes, bytes, bytes | None]]:
        """(hash, data, signature) of every stored change, dependencies first; the signature is None for
        a change vouched for by a later signed change of its author."""
        return [(r[1], r[3], r[4]) for r in self.store.changes_after(contract_id, 0)]

    def head_signatures(self, contract_id: str) -> dict[bytes, bytes]:
        """The signatures of the contract's author heads (each author's changes that no later change of
        theirs descends from): enough to vouch for every change of the document (see signing.vouching)."""
        doc = self.document(contract_id)
        latest = self.store.latest_by_author(contract_id)
        # Usually each author's changes form one chain ending in their latest: then no change of theirs
        # lies outside its history, and Automerge answers that without listing the whole document.
        if all(c.actor_id != actor for actor, h in latest.items() for c in doc.get_changes([h])):
            return self.store.signatures(contract_id, list(latest.values()))
        heads = author_heads([ChangeLinks(c.hash, c.actor_id, c.deps) for c in doc.get_changes([])])
        return self.store.signatures(contract_id, heads)


def light_of(summary: dict, now: int) -> str:
    """The traffic light from a summary row (same rule as ``ContractView.light``)."""
    due = summary.get("next_due")
    if due is not None and due < now:
        return "red"
    if (due is not None and due - now <= 24 * 3600 * 1000) or summary.get("open_proposals"):
        return "amber"
    return "green"


def summarize(view: ContractView, my_key: str) -> dict:
    """What the summary index keeps per contract, so listing never loads a document."""
    me = view.party_by_key(my_key)
    nd = view.next_due()
    return {
        "title": view.title,
        "template": view.template,
        "created_at": view.created_at,
        "my_party": me.id if me else "",
        "parties": {pid: p.label for pid, p in view.parties.items()},
        "turn": list(view.turn()),
        "next_due": nd.due if nd else None,
        "next_due_title": nd.title if nd else "",
        "open_proposals": len(view.open_proposals()),
        "last_activity_at": view.last_activity_at(),
        "resolved": view.resolved(),
        "broken": sum(s.broken for s in view.scorecard().per_party),
    }
