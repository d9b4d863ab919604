"""Admission: the only door through which received changes enter a copy.

Received changes are first loaded into a scratch document (never the user's copy). Every change that
is new relative to the copy is then checked:

1. it carries a signature, and the signature verifies against the change's actor id (the author key);
2. the author key belongs to a party of the contract *as the contract stood when the change was
   written* (at the change's dependencies) — or, for the first change of a contract, to the party that
   change itself declares as its creator;
3. the document is a contract of a schema this version can read, with the expected contract id.

One failing change refuses the whole batch: the caller keeps nothing of it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from automerge.core import ROOT, Document, ObjType

from pactclient.errors import AdmissionError, SchemaError
from pactclient.identity.device import short_fingerprint
from pactclient.model.amdoc import materialize, scalar
from pactclient.model.schema import check_schema
from pactclient.model.terms import terms_in_force
from pactclient.signing.changes import verify_change


PARALLEL_FROM = 512  # below this many changes, threads cost more than they save


@dataclass(frozen=True)
class AdmittedChange:
    hash: bytes
    actor: bytes
    seq: int
    data: bytes  # the change's bytes in Automerge's standard encoding
    signature: bytes


def party_keys_at(doc: Document, heads: list[bytes]) -> set[str]:
    """Hex keys of the parties in force at ``heads`` (base parties plus applied add_party proposals).

    Reads only what decides the party list — each party's key and the add_party proposals — because
    this runs for every received change.
    """
    if not heads:
        return set()
    parties = {}
    parties_obj = _obj(doc, ROOT, "parties", heads)
    if parties_obj is not None:
        for pid in doc.keys(parties_obj, heads):
            party_obj = _obj(doc, parties_obj, pid, heads)
            if party_obj is not None:
                parties[pid] = {"key": scalar(doc, party_obj, "key", heads) or ""}
    proposals = {}
    proposals_obj = _obj(doc, ROOT, "proposals", heads)
    if proposals_obj is not None:
        for prop_id in doc.keys(proposals_obj, heads):
            prop_obj = _obj(doc, proposals_obj, prop_id, heads)
            if prop_obj is not None and scalar(doc, prop_obj, "kind", heads) == "add_party":
                proposals[prop_id] = materialize(doc, prop_obj, heads)
    terms = terms_in_force({"parties": parties, "proposals": proposals})
    return {p.get("key", "") for p in terms.parties.values() if p.get("key")}


def _obj(doc: Document, parent: bytes, key: str, heads: list[bytes]) -> bytes | None:
    got = doc.get(parent, key, heads)
    if got is None or not isinstance(got[0], ObjType):
        return None
    return got[1]


def _read(doc: Document, key: str, heads: list[bytes]) -> dict:
    obj = _obj(doc, ROOT, key, heads)
    return materialize(doc, obj, heads) if obj is not None else {}


def admit_changes(
    scratch: Document,
    known_heads: list[bytes],
    signatures: dict[bytes, bytes],
    contract_id: str | None,
    known_keys: set[str] | None = None,
) -> list[AdmittedChange]:
    """Check every change in ``scratch`` that is not covered by ``known_heads``.

    ``known_keys``, if given, is ``party_keys_at(<a copy>, known_heads)`` as the caller already has it
    (a live edit usually depends on exactly the receiver's heads), so it is not read again.
    Returns the admitted changes in an order where dependencies come first. Raises AdmissionError
    naming the first bad change and its key.
    """
    new = scratch.get_changes(known_heads)
    if not new:
        return []
    try:
        check_schema(scratch)
    except SchemaError as exc:
        raise AdmissionError(f"refused: {exc}") from None
    found_id = scalar(scratch, _contract_obj(scratch), "id") if _contract_obj(scratch) else None
    if contract_id is not None and found_id != contract_id:
        raise AdmissionError(f"refused: changes belong to contract {found_id!r}, not {contract_id!r}")
    signed_ok = _verify_all(new, signatures)
    keys_cache: dict[tuple[bytes, ...], set[str]] = {}
    if known_keys is not None:
        keys_cache[tuple(sorted(known_heads))] = known_keys
    admitted = []
    roots_seen = 0
    for change, ok in zip(new, signed_ok):
        h, actor = change.hash, change.actor_id
        if not ok:
            why = "it is not signed" if signatures.get(h) is None else "the signature does not verify"
            raise AdmissionError(f"refused {_who(change)}: {why}", h, actor)
        deps = tuple(sorted(change.deps))
        if deps:
            if deps not in keys_cache:
                keys_cache[deps] = party_keys_at(scratch, list(deps))
            allowed = keys_cache[deps]
        else:
            # A contract has exactly one first change. Another change without dependencies starts a
            # different document (say a stranger's own contract, in which the stranger is the creator):
            # merged in, it would graft that document onto this contract.
            if known_heads or roots_seen:
                raise AdmissionError(f"refused {_who(change)}: it starts another document, not a change to this contract", h, actor)
            roots_seen += 1
            allowed = _creator_keys(scratch, h)
        if actor.hex() not in allowed:
            raise AdmissionError(f"refused {_who(change)}: that key is not a party of the contract", h, actor)
        admitted.append(AdmittedChange(h, actor, change.seq, change.bytes, signatures[h]))
    return admitted


def _who(change) -> str:
    actor = change.actor_id
    fp = short_fingerprint(actor) if len(actor) == 32 else "not a key"
    return f"change {change.hash.hex()[:12]} by key {actor.hex()[:16]} ({fp})"


def _verify_all(changes: list, signatures: dict[bytes, bytes]) -> list[bool]:
    """Verify every change's signature; large batches on two threads (the verify releases the GIL)."""
    jobs = [(c.actor_id, c.hash, signatures.get(c.hash)) for c in changes]
    if len(jobs) < PARALLEL_FROM:
        return [verify_change(*job) for job in jobs]
    workers = min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda job: verify_change(*job), jobs, chunksize=256))


def _contract_obj(doc: Document):
    got = doc.get(ROOT, "contract")
    return got[1] if got is not None else None


def _creator_keys(doc: Document, root_hash: bytes) -> set[str]:
    """A root change may only be written by the party it names as the contract's creator."""
    heads = [root_hash]
    meta = _read(doc, "contract", heads)
    parties = _read(doc, "parties", heads)
    creator = parties.get(meta.get("created_by", ""), {})
    return {creator["key"]} if creator.get("key") else set()
