"""Changes that cross between this copy and others: admitting received ones, and what is handed out.

Every received change, from a bundle or a peer, goes through ``receive`` (a batch of change bytes) or
``admit_from`` (a scratch copy that a sync session filled, after the sync layer bounded what each
message declares): loaded into a scratch copy, admitted by
``pactclient.signing`` and only then stored and merged, in one write transaction, all or nothing.
Equivocations are looked for before anything is loaded (``pactclient.store.equivocation``).

Going the other way, ``signed_changes`` (bundles, evidence) and ``head_signatures`` (the sync
protocol) give what lets another copy admit this one's changes; ``party_keys`` is who may sync a
contract at all.

``ChangeExchange`` is one part of ``Workspace``, kept apart so that each file is about one thing; it
works on the workspace's store, identity, clock and per-contract caches, and writes through the same
helpers as local edits (``document``, ``_checker``, ``_keep_terms``, ``_after_write``, ``_forget``).
"""

from __future__ import annotations

from dataclasses import dataclass

from automerge.core import ROOT, Document, ObjType

from pactclient.errors import AdmissionError, FormatError, PactError
from pactclient.model import actions
from pactclient.model.amdoc import bindings_failed
from pactclient.signing.admission import AdmittedChange, admit_changes, party_keys_at
from pactclient.signing.chunk_limits import check_declared
from pactclient.signing.vouching import ChangeLinks, author_heads
from pactclient.store import equivocation


@dataclass(frozen=True)
class Received:
    """What ``receive`` did: the changes newly stored (empty if nothing was new)."""

    contract_id: str
    admitted: tuple[AdmittedChange, ...]
    files: int = 0  # attached files newly stored with the changes (a bundle's; see sync.files)


class ChangeExchange:
    """Receiving and handing out signed changes; mixed into ``Workspace`` (see the module docstring)."""

    # -- receiving changes from elsewhere ----------------------------------------------------------

    def receive(self, contract_id: str, change_blobs: list[bytes], signatures: dict[bytes, bytes],
                source: str = "bundle", what: str = "the bundle") -> Received:
        """Admit changes of ``contract_id`` received from a bundle or a peer. All or nothing.

        ``what`` names the changes in a refusal. Their declared sizes are bounded before anything reads
        them (``signing.chunk_limits``): the bindings would build every operation they declare."""
        check_declared(change_blobs, what)
        self.refuse_equivocations(contract_id, change_blobs, signatures, source)
        held = self._held_heads(contract_id)
        try:
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
        except BaseException as exc:
            self._after_failed_write(contract_id, exc, held)
            raise

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
        held = self._held_heads(contract_id)
        try:
            with self.store.write():
                return self._admit(contract_id, scratch, signatures, keep_scratch, saved)
        except BaseException as exc:
            self._after_failed_write(contract_id, exc, held)
            raise

    def _admit(self, contract_id: str, scratch: Document, signatures: dict[bytes, bytes], keep_scratch: bool,
               saved: bytes | None = None) -> Received:
        """The shared tail of ``receive`` and ``admit_from``; runs inside the caller's write transaction.

        Validly signed changes by a party can still be malformed (a party list that is a string, a
        timeline that is a number): reading them fails with whatever the model or the bindings raise.
        Such changes are refused like forged ones (the caller rolls back and forgets the in-memory copy).
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
        # A contract held in memory exists in the store (contracts are never deleted).
        held = contract_id in self._docs or self.store.has_contract(contract_id)
        doc = self.document(contract_id) if held else None
        if doc is not None:
            scratch.merge(doc)
        before = doc.get_heads() if doc is not None else []
        known = self._party_keys.get(contract_id)
        known_keys = known[1] if known is not None and known[0] == tuple(sorted(before)) else None
        checker = self._checker(contract_id, scratch, before)
        clock = self.clock_at_heads(contract_id, doc) if doc is not None else {}
        admitted = admit_changes(scratch, before, signatures, contract_id, known_keys, checker, clock)
        if not admitted:
            return Received(contract_id, ())
        now = self.clock()
        if doc is None:
            self.store.ensure_contract(contract_id, now)
        self.store.add_changes(contract_id, [(ch.hash, ch.actor, ch.seq, ch.data, ch.signature) for ch in admitted], now)
        self.own_tail.received(contract_id, admitted)
        if doc is None:
            doc = scratch.fork() if keep_scratch else scratch
        else:
            doc.merge(scratch)
            saved = None
            if checker.only_timeline_written(admitted):  # a note or decision: the cached view carries over
                actions.timeline_grew(doc, self.cache(contract_id), tuple(sorted(before)))
        doc.set_actor(self.identity.public_key)
        self._keep_terms(contract_id, checker, doc.get_heads())
        self._keep_clock(contract_id, clock, admitted, doc.get_heads())
        self._after_write(contract_id, doc, now, saved)
        return Received(contract_id, tuple(admitted))

    # -- what other copies are given and checked against -------------------------------------------

    def revoked_devices(self, contract_id: str) -> set[bytes]:
        """Device keys a revocation in this contract names (refused at connection, see ``net.tls``)."""
        doc = self.document(contract_id)
        got = doc.get(ROOT, "revocations")
        if got is None or not isinstance(got[0], ObjType):
            return set()
        out = set()
        for name in doc.keys(got[1]):
            try:
                out.add(bytes.fromhex(name.partition(".")[0]))
            except ValueError:
                continue
        return out

    def party_keys(self, contract_id: str) -> set[bytes]:
        """Keys of the parties in force in this copy of the contract."""
        return {bytes.fromhex(k) for k in self._party_keys_now(contract_id, self.document(contract_id))}

    def _party_keys_now(self, contract_id: str, doc: Document) -> set[str]:
        """Hex party keys at the document's heads, kept per contract for as long as the heads hold
        (upkeep computes them ahead, so admitting a live edit finds them ready)."""
        heads = tuple(sorted(doc.get_heads()))
        known = self._party_keys.get(contract_id)
        if known is None or known[0] != heads:
            terms = self._terms.get(contract_id)  # the terms the last write's check left: their parties' keys
            keys = set(terms[1].by_key) if terms is not None and terms[0] == heads else party_keys_at(doc, list(heads))
            known = self._party_keys[contract_id] = (heads, keys)
        return known[1]

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
