"""The workspace of one home: its identity, its store, and the contracts in it.

Every local edit runs inside one SQLite write transaction: catch up with what is committed, apply the
action, sign the new change, store it, commit. Two processes of the same home (``pact serve`` and a
``pact note`` typed meanwhile) therefore never write two different changes with the same actor and
sequence number.

Received changes go through the same kind of transaction, and the same permission check before they are
stored: ``receive`` and ``admit_from`` live in ``pactclient.store.exchange`` (``ChangeExchange``, which
``Workspace`` includes) with what is handed to other copies; this file keeps naming, reading, local edits
and upkeep.

Upkeep — the summary index that listing reads, and compaction into a signed snapshot — follows each
write in the same transaction, unless ``defer_upkeep`` is set (``PeerService`` sets it so that a live
edit reaches peers without waiting for it, and calls ``upkeep()`` shortly after). The summary row
records the newest change it reflects, so a summary that lags behind is recomputed when read
(``summaries``): listing is never wrong, whichever process wrote last.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Callable

from automerge.core import ROOT, Document

from pactclient.errors import AdmissionError, ContractNotFound, FormatError, PactError, RefusedOperation, StoreError
from pactclient.identity.device import DeviceIdentity, private_home, verify_signature
from pactclient.model import actions, agreements, device_actions
from pactclient.model.amdoc import ReadCache, bindings_failed
from pactclient.model.actions import Actor, Outcome, view_of
from pactclient.model.views import ContractView
from pactclient.signing.admission import admit_changes
from pactclient.signing.changes import sign_change
from pactclient.signing.chunk_limits import check_declared
from pactclient.signing.permissions import PermissionChecker
from pactclient.signing.terms_history import Terms
from pactclient.signing.wellformed import CausalIndex, Clock, advance, document_clock
from pactclient.store.exchange import ChangeExchange, Received  # noqa: F401  (Received: imported from here by sync.bundle)
from pactclient.store.own_tail import OwnTail
from pactclient.store.sqlite_store import SqliteStore
from pactclient.store.summary import light_of, summarize  # noqa: F401  (light_of: imported from here by the CLI and TUI)

DB_FILE = "pact.db"
SNAPSHOT_EVERY = 256  # compact once this many changes are stored after the last snapshot
CHECKPOINT_EVERY = 64  # deferred upkeep: copy the WAL into the database after this many writes
MAX_DOCUMENTS = 256  # documents held in memory at once (their caches with them); the rest load on demand
SNAPSHOT_DOMAIN = b"pactclient/snapshot/v1\x00"


def now_ms() -> int:
    return int(time.time() * 1000)


def _pack_heads(heads: list[bytes]) -> bytes:
    return b"".join(sorted(heads))


def _unpack_heads(blob: bytes) -> list[bytes]:
    return [blob[i : i + 32] for i in range(0, len(blob), 32)]


class Workspace(ChangeExchange):
    def __init__(self, home: Path, identity: DeviceIdentity, clock: Callable[[], int] = now_ms,
                 defer_upkeep: bool = False, max_documents: int = MAX_DOCUMENTS):
        self.home = Path(home)
        self.identity = identity
        self.clock = clock
        private_home(self.home)
        self.store = SqliteStore(self.home / DB_FILE)
        self.own_tail = OwnTail(self.home, self.store, identity)  # never reuse a sequence number after a loss
        self.defer_upkeep = defer_upkeep
        # Long-running processes keep documents in memory; the rowid says how far each is caught up.
        # At most ``max_documents`` of them, the least recently used evicted first (see ``_hold``).
        self.max_documents = max(1, max_documents)
        self._docs: OrderedDict[str, tuple[Document, int]] = OrderedDict()
        self._caches: dict[str, ReadCache] = {}
        self._countersigned: dict[str, set[str]] = {}  # proposal ids countersigned (or not ours), per contract
        self._agreements_checked: dict[str, tuple[bytes, ...]] = {}  # heads at which nothing waited to be countersigned
        self._party_keys: dict[str, tuple[tuple[bytes, ...], set[str]]] = {}  # (heads, hex keys in force there)
        self._terms: dict[str, tuple[tuple[bytes, ...], Terms]] = {}  # (heads, terms in force there): see _checker
        self._clocks: dict[str, tuple[tuple[bytes, ...], Clock]] = {}  # (heads, clock there): see clock_at
        self._written: set[str] = set()  # contracts written since the last upkeep (deferred mode)
        self._tail_checked: set[str] = set()  # contracts whose document in memory passed own_tail.before_write
        self._writes_since_checkpoint = 0

    @classmethod
    def open(cls, home: Path, clock: Callable[[], int] = now_ms) -> "Workspace":
        return cls(home, DeviceIdentity.load(home), clock)

    def close(self) -> None:
        if self.own_tail.pending():
            with self.store.write():
                self.own_tail.flush()
        self.own_tail.catch_up()
        self.store.close()

    @property
    def defer_upkeep(self) -> bool:
        """True: writes leave the summary index, compaction and WAL checkpoints to ``upkeep()``."""
        return self._defer_upkeep

    @defer_upkeep.setter
    def defer_upkeep(self, deferred: bool) -> None:
        self._defer_upkeep = bool(deferred)
        self.store.defer_checkpoints(self._defer_upkeep)
        self.own_tail.defer_file = self._defer_upkeep

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
            self._docs.move_to_end(contract_id)
            return cached[0]
        self._tail_checked.discard(contract_id)
        doc = self._load(contract_id)
        self._hold(contract_id, doc, last)
        return doc

    def _hold(self, contract_id: str, doc: Document, last: int) -> None:
        """Keep ``doc`` in memory as the newest used, evicting the least recently used beyond the
        budget: a desk that served 10,000 contracts over weeks holds the ones in use, not all it saw."""
        self._docs[contract_id] = (doc, last)
        self._docs.move_to_end(contract_id)
        while len(self._docs) > self.max_documents:
            self._evict(next(iter(self._docs)))

    def _evict(self, contract_id: str) -> None:
        """Drop a contract's document and what was derived from it; unlike ``_forget`` nothing was
        rolled back, so views already handed out keep their caches (which stay true)."""
        self._docs.pop(contract_id, None)
        self._caches.pop(contract_id, None)
        self._countersigned.pop(contract_id, None)
        self._agreements_checked.pop(contract_id, None)
        self._party_keys.pop(contract_id, None)
        self._terms.pop(contract_id, None)
        self._clocks.pop(contract_id, None)
        self._tail_checked.discard(contract_id)  # a reloaded document is checked against own_tail again

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
        tail = [r[3] for r in rows]
        # The snapshot is this device's own (its signature was checked); rows can be added to the file
        # by anyone who can write it, so what they declare is bounded before the bindings build it.
        try:
            check_declared(tail, "the store")
        except FormatError as exc:
            raise StoreError(f"contract {contract_id[:12]} cannot be loaded from the store: {exc}; the store was altered") from None
        blobs.extend(tail)
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

    def known_rowid(self, contract_id: str) -> int | None:
        """The contract's newest change rowid as this workspace last read or wrote it (no query)."""
        cached = self._docs.get(contract_id)
        return cached[1] if cached is not None else None

    def cache(self, contract_id: str) -> ReadCache:
        return self._caches.setdefault(contract_id, ReadCache())

    def forget_cached(self, contract_id: str) -> None:
        """Drop what is held in memory of a contract: the next read loads it from the store again."""
        self._forget(contract_id)

    def _held_heads(self, contract_id: str) -> list[bytes] | None:
        """The heads of the contract's document held in memory, if any (see ``_after_failed_write``)."""
        held = self._docs.get(contract_id)
        return sorted(held[0].get_heads()) if held is not None else None

    def _after_failed_write(self, contract_id: str, exc: BaseException, held: list[bytes] | None) -> None:
        """After a write transaction that failed (and rolled back): a refusal (a ``PactError``) that left
        the document in memory at the heads it had before keeps it — reloading would make every refused
        edit or received message cost a whole load and re-verification of the contract, which a
        hostile peer could repeat at will. Anything else, or a document that moved (an edit written
        into it, changes merged), is dropped: the next read loads it from the store."""
        now = self._docs.get(contract_id)
        if not (isinstance(exc, PactError) and held is not None and now is not None
                and sorted(now[0].get_heads()) == held):
            self._forget(contract_id)

    def _forget(self, contract_id: str) -> None:
        """After a failed write: the in-memory document may hold a change the store does not."""
        self._docs.pop(contract_id, None)
        self._countersigned.pop(contract_id, None)
        self._agreements_checked.pop(contract_id, None)
        self._party_keys.pop(contract_id, None)
        self._terms.pop(contract_id, None)
        self._clocks.pop(contract_id, None)
        self._tail_checked.discard(contract_id)
        cache = self._caches.pop(contract_id, None)
        if cache is not None:
            cache.forget()  # a lazy timeline of an old view may still hold it

    def remember_device(self, key_hex: str, record: dict) -> None:
        """Keep a device this home certified for its party (see ``store.devices``)."""
        from pactclient.store import devices  # a small module of its own, used by pairing

        devices.remember(self, key_hex, record)

    def view(self, contract_id: str, now: int | None = None) -> ContractView:
        return view_of(self.document(contract_id), self.clock() if now is None else now, self.cache(contract_id))

    def summaries(self) -> list[dict]:
        """Every contract's summary row, from the index; rows that lag behind their contract (written
        by a process that defers upkeep and has not caught up yet) are brought up to date first."""
        if self.store.stale_summaries():
            self.upkeep()
        rows = self.store.summaries()
        if older := [cid for cid, summary, _ in rows if "money" not in summary]:
            self._resummarize(older)  # rows written before the summary had the money and the persons
            rows = self.store.summaries()
        out = []
        for cid, summary, updated in rows:
            out.append({"id": cid, "updated_at": updated, **summary})
        return out

    # -- writing local edits -----------------------------------------------------------------------

    def _actor(self, contract_id: str | None) -> Actor:
        identity = self.identity
        return Actor(key=identity.key_hex, now=self.clock(), cache=self.cache(contract_id) if contract_id else None,
                     party_key=identity.party_key_hex if identity.delegation is not None else "",
                     delegation=identity.delegation)

    def create(self, title: str, template: dict, role: str | None = None) -> str:
        contract_id = uuid.uuid4().hex
        doc = Document(self.identity.public_key)
        actor = self._actor(None)
        with self.store.write():
            me = self.identity
            # An organisation's device opens the case for the organisation, not for the person at it.
            name = me.org if me.delegation is not None and me.org else me.name
            actions.create_contract(doc, actor, contract_id, title, template, role, name, me.org)
            self.store.ensure_contract(contract_id, actor.now)
            self._persist_new(contract_id, doc, [], actor.now)
        return contract_id

    def act(self, contract_id: str, action: Callable[..., Outcome], *args, **kwargs) -> Outcome:
        """Run one model action as one signed, durable change."""
        held = self._held_heads(contract_id)
        try:
            with self.store.write():
                doc = self.document(contract_id)
                before = doc.get_heads()
                actor = self._actor(contract_id)
                if action is not device_actions.introduce_device and device_actions.needs_introduction(doc, actor):
                    # A certified device's first change here: its delegation, so that what follows counts.
                    device_actions.introduce_device(doc, actor)
                outcome = action(doc, actor, *args, **kwargs)
                self._countersign_pending(contract_id, doc, actor, before, action)
                self._persist_new(contract_id, doc, before, self.clock())
        except BaseException as exc:
            self._after_failed_write(contract_id, exc, held)
            raise
        return outcome

    def _countersign_pending(self, contract_id: str, doc: Document, actor: Actor, before: list[bytes],
                             action: Callable | None = None) -> int:
        """Countersign agreed versions this party has not signed yet (see pactclient.model.agreements).

        Runs only inside a local write transaction, never on receipt: no reply loops, no equivocation.
        Skipped when nothing but ``action`` changed the document since a check found nothing waiting and
        ``action`` is one that touches no proposal or party.
        """
        if (action in actions.LEAVE_AGREEMENTS_ALONE
                and self._agreements_checked.get(contract_id) == tuple(sorted(before))):
            written = 0
        else:
            settled = self._countersigned.setdefault(self._contract_of(doc), set())
            written = agreements.countersign_pending(doc, lambda: view_of(doc, actor.now, actor.cache),
                                                     self.identity.key_hex, actor.now, self.identity.sign, settled,
                                                     self.identity.party_key_hex)
        self._agreements_checked[contract_id] = tuple(sorted(doc.get_heads()))
        return written

    @staticmethod
    def _contract_of(doc: Document) -> str:
        contract = doc.get(ROOT, "contract")
        got = doc.get(contract[1], "id") if contract is not None else None
        return got[0][1] if got is not None else ""

    def countersign(self, contract_id: str) -> int:
        """Countersign now whatever agreed versions wait for this device; returns how many."""
        try:
            with self.store.write():
                doc = self.document(contract_id)
                before = doc.get_heads()
                written = self._countersign_pending(contract_id, doc, self._actor(contract_id), before)
                if written:
                    self._persist_new(contract_id, doc, before, self.clock())
        except BaseException:
            self._forget(contract_id)
            raise
        return written

    def _persist_new(self, contract_id: str, doc: Document, before: list[bytes], now: int) -> None:
        new = doc.get_changes(before)
        # The check every peer makes on receipt, made before signing: this copy never writes a change
        # its peers would refuse (the model's own checks are the friendly, earlier version of it).
        checker = self._checker(contract_id, doc, before)
        causal = CausalIndex(doc, before, self._known_clock(contract_id, before))
        clock = None
        for change in new:
            refusal = causal.check(change, checker.decoded(change)) or checker.check(change)
            if refusal is not None:
                raise RefusedOperation(f"this edit {refusal}")
            clock = causal.clock_of(change.hash)
        self._keep_terms(contract_id, checker, doc.get_heads())
        if clock is not None and len(new) == 1 and list(new[0].deps) == list(before):
            self._clocks[contract_id] = (tuple(sorted(doc.get_heads())), clock)
        if contract_id not in self._tail_checked or not self.own_tail.file_unchanged():
            # Once per load (and whenever the record file moved): the next sequence number comes from
            # the document in memory, which holds this device's every change once it was checked.
            self.own_tail.before_write(contract_id)
            self._tail_checked.add(contract_id)
        for change in new:
            signature = sign_change(self.identity, change.hash)
            self.store.add_change(contract_id, change.hash, change.actor_id, change.seq, change.bytes, signature, now)
        self.own_tail.wrote(contract_id, new)
        self._after_write(contract_id, doc, now)

    def _after_write(self, contract_id: str, doc: Document, now: int, saved: bytes | None = None) -> None:
        """Runs inside the write transaction, after new changes of the contract were stored; ``saved``
        is ``doc.save()`` if the caller has it (a fetched contract), for compaction."""
        last = self.store.last_rowid(contract_id)
        self._hold(contract_id, doc, last)
        if self.defer_upkeep:
            self._written.add(contract_id)
            self._writes_since_checkpoint += 1
        else:
            self._upkeep_one(contract_id, doc, last, now, saved)

    def _upkeep_one(self, contract_id: str, doc: Document, last_rowid: int, now: int,
                    saved: bytes | None = None) -> None:
        """Bring the summary row up to ``last_rowid`` and compact if enough changes piled up."""
        view = view_of(doc, now, self.cache(contract_id))
        self.store.put_summary(contract_id, summarize(view, self.identity.party_key_hex), now, last_rowid)
        if last_rowid - self.store.snapshot_rowid(contract_id) >= SNAPSHOT_EVERY:
            self._compact(contract_id, doc, last_rowid, now, saved)

    def _resummarize(self, contract_ids: list[str]) -> None:
        with self.store.write(durable=False):  # only derived data: see SqliteStore.write
            now = self.clock()
            for contract_id in contract_ids:
                self._upkeep_one(contract_id, self.document(contract_id), self.store.last_rowid(contract_id), now)

    def upkeep(self) -> int:
        """Do the upkeep that writes left for later (``defer_upkeep``), and bring any lagging summary
        row up to date, in one write transaction. Returns how many contracts it updated."""
        with self.store.write(durable=False):  # only derived data: see SqliteStore.write
            todo = set(self.store.stale_summaries()) | self._written
            now = self.clock()
            for contract_id in sorted(todo):
                if self.store.has_contract(contract_id):
                    doc = self.document(contract_id)
                    self._upkeep_one(contract_id, doc, self.store.last_rowid(contract_id), now)
                    self._party_keys_now(contract_id, doc)  # ready for admitting the next received edit
            self.own_tail.flush()
        self._written -= todo
        self.own_tail.catch_up()
        if self._defer_upkeep and self._writes_since_checkpoint >= CHECKPOINT_EVERY:
            self._writes_since_checkpoint = 0
            self.store.checkpoint()
        return len(todo)

    def _compact(self, contract_id: str, doc: Document, last_rowid: int, now: int, saved: bytes | None = None) -> None:
        data = saved if saved is not None else doc.save()
        heads_blob = _pack_heads(doc.get_heads())
        message = SNAPSHOT_DOMAIN + contract_id.encode() + heads_blob + hashlib.sha256(data).digest()
        self.store.put_snapshot(contract_id, data, heads_blob, last_rowid, self.identity.sign(message), now)

    def compact(self, contract_id: str) -> None:
        with self.store.write():
            doc = self.document(contract_id)
            self._compact(contract_id, doc, self.store.last_rowid(contract_id), self.clock())

    # -- the terms in force, kept between writes (local edits and received changes alike) ----------

    def _checker(self, contract_id: str, doc: Document, heads: list[bytes]) -> PermissionChecker:
        """A permission checker of ``doc`` for changes on top of ``heads``. The terms in force there are
        kept per contract from the previous write (``_keep_terms``): an edit on top of the last one
        reads nothing of the document to know them."""
        checker = PermissionChecker(doc)
        known = self._terms.get(contract_id)
        if known is not None and known[0] == tuple(sorted(heads)):
            checker.seed_terms(heads, known[1])
        return checker

    def _known_clock(self, contract_id: str, heads: list[bytes]) -> Clock | None:
        """The clock at ``heads`` (see ``signing.wellformed``) if kept from the last write there."""
        known = self._clocks.get(contract_id)
        return known[1] if known is not None and known[0] == tuple(sorted(heads)) else None

    def clock_at_heads(self, contract_id: str, doc: Document) -> Clock:
        """The clock of ``doc`` (this copy of the contract) at its heads, kept between writes."""
        heads = doc.get_heads()
        clock = self._known_clock(contract_id, heads)
        if clock is None:
            clock = document_clock(doc)
            self._clocks[contract_id] = (tuple(sorted(heads)), clock)
        return clock

    def _keep_clock(self, contract_id: str, clock: Clock | None, admitted, heads: list[bytes]) -> None:
        """After admitting ``admitted`` on top of a copy whose clock was ``clock``: the clock now."""
        if clock is None:
            self._clocks.pop(contract_id, None)
            return
        for ch in admitted:
            if ch.max_op > clock.get(ch.actor, (0, 0))[1]:
                clock = advance(clock, ch.actor, ch.seq, ch.max_op)
        self._clocks[contract_id] = (tuple(sorted(heads)), clock)

    def _keep_terms(self, contract_id: str, checker: PermissionChecker, heads: list[bytes]) -> None:
        terms = checker.terms_at(heads)
        if terms is None:
            self._terms.pop(contract_id, None)
        else:
            self._terms[contract_id] = (tuple(sorted(heads)), terms)
