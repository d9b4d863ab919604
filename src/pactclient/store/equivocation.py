"""Equivocation: one device key signing two different changes with the same sequence number.

An honest device never does it (every local write first catches up with what is committed, inside
one write transaction). A device that does shows two histories to two peers. Automerge cannot hold
both in one document — loading or merging them fails with "duplicate seq" — so the copies that hold
different ones can no longer take each other's later changes from that author.

Received changes are looked at before they are loaded: a change whose (author, sequence number) is
already in the store, or earlier in the same batch, with another hash is an equivocation if both
signatures verify. Both changes are then kept, with their signatures, in the ``equivocations`` table
(evidence anyone can check with the author's public key), the batch is refused like a forged one, and
``pact show`` flags the author. The copy keeps the change it already held, so what it shows does not
move. A change that reuses a sequence number without a valid signature is only a forgery: refused,
not recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

from pactclient.errors import AdmissionError
from pactclient.identity.device import short_fingerprint
from pactclient.signing.change_ops import change_ids
from pactclient.signing.changes import verify_change
from pactclient.store.sqlite_store import SqliteStore

Signed = tuple[bytes, bytes, bytes]  # hash, change bytes, signature
BULK_FROM = 64  # from this many changes on, each author's stored sequence numbers are read at once


@dataclass(frozen=True)
class Equivocation:
    actor: bytes
    seq: int
    held: Signed  # the change this copy (or the batch, first) holds
    other: Signed  # the different change signed with the same key and sequence number


def find(store: SqliteStore, contract_id: str, blobs: list[bytes], signatures: dict[bytes, bytes]) -> list[Equivocation]:
    """Every pair of different changes of this contract with one (author, sequence number), among the
    stored changes and ``blobs``. Blobs that are not changes (a saved document) are skipped: a document
    never holds two.

    A key writes sequence number 1, 2, ... in every contract it is part of, so a change counts only if
    it continues this contract's history: its dependencies are stored changes of the contract, or
    changes of the batch that do. (Changes of another contract are refused later, as such.)
    """
    chunks = [c for blob in blobs for c in change_ids(blob) or ()]
    if not chunks:
        return []
    # A few changes (a live edit): indexed lookups. Many (a bundle): the contract's list at once.
    bulk = len(chunks) > BULK_FROM
    stored_hashes = store.hashes(contract_id) if bulk else None
    seqs: dict[bytes, dict[int, bytes]] = {}
    ours: set[bytes] = set()  # hashes of batch changes that continue this contract's history
    batch: dict[tuple[bytes, int], Signed] = {}
    found = []
    known = stored_hashes.__contains__ if bulk else (lambda h: store.has_change(contract_id, h))
    for c in chunks:
        if not c.deps or not all(d in ours or known(d) for d in c.deps):
            continue
        ours.add(c.hash)
        mine = (c.hash, c.data, signatures.get(c.hash, b""))
        row = None
        if bulk:
            if c.actor not in seqs:
                seqs[c.actor] = store.seqs_of(contract_id, c.actor)
            held_hash = seqs[c.actor].get(c.seq)
        else:
            row = store.change_at(contract_id, c.actor, c.seq)
            held_hash = row[0] if row else None
        if held_hash is not None and held_hash != c.hash:
            held = row or store.change_at(contract_id, c.actor, c.seq)
            found.append(Equivocation(c.actor, c.seq, tuple(held), mine))
        elif held_hash is None:
            earlier = batch.setdefault((c.actor, c.seq), mine)
            if earlier[0] != c.hash:
                found.append(Equivocation(c.actor, c.seq, earlier, mine))
    return found


def refuse(store: SqliteStore, contract_id: str, blobs: list[bytes], signatures: dict[bytes, bytes],
           source: str, now: int) -> None:
    """Raise AdmissionError if the batch holds an equivocation, after recording every proven one."""
    found = find(store, contract_id, blobs, signatures)
    if not found:
        return
    proven = [e for e in found if verify_change(e.actor, e.held[0], e.held[2]) and verify_change(e.actor, e.other[0], e.other[2])]
    if proven:
        with store.write():
            for e in proven:
                store.add_equivocation(contract_id, e.actor, e.seq, e.held, e.other, source, now)
        e = proven[0]
        raise AdmissionError(
            f"refused change {e.other[0].hex()[:12]} by key {e.actor.hex()[:16]} ({_fp(e.actor)}): that key signed "
            f"two different changes with sequence number {e.seq} (an equivocation); both are kept as evidence, "
            f"see `pact show`", e.other[0], e.actor)
    e = found[0]
    raise AdmissionError(
        f"refused change {e.other[0].hex()[:12]} by key {e.actor.hex()[:16]} ({_fp(e.actor)}): it reuses "
        f"sequence number {e.seq} of another change and is not validly signed", e.other[0], e.actor)


def _fp(actor: bytes) -> str:
    return short_fingerprint(actor) if len(actor) == 32 else "not a key"
