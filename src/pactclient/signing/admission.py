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

from dataclasses import dataclass

from automerge.core import ROOT, Document

from pactclient.errors import AdmissionError, SchemaError
from pactclient.identity.device import short_fingerprint
from pactclient.model.amdoc import materialize, scalar
from pactclient.model.schema import check_schema
from pactclient.model.terms import terms_in_force
from pactclient.signing.changes import verify_change


@dataclass(frozen=True)
class AdmittedChange:
    hash: bytes
    actor: bytes
    seq: int
    data: bytes  # the change's bytes in Automerge's standard encoding
    signature: bytes


def party_keys_at(doc: Document, heads: list[bytes]) -> set[str]:
    """Hex keys of the parties in force at ``heads`` (base parties plus applied add_party proposals)."""
    if not heads:
        return set()
    raw = {
        "parties": _read(doc, "parties", heads),
        "proposals": _read(doc, "proposals", heads),
    }
    return {p.get("key", "") for p in terms_in_force(raw).parties.values() if p.get("key")}


def _read(doc: Document, key: str, heads: list[bytes]) -> dict:
    got = doc.get(ROOT, key, heads)
    if got is None:
        return {}
    return materialize(doc, got[1], heads)


def admit_changes(
    scratch: Document,
    known_heads: list[bytes],
    signatures: dict[bytes, bytes],
    contract_id: str | None,
) -> list[AdmittedChange]:
    """Check every change in ``scratch`` that is not covered by ``known_heads``.

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
    keys_cache: dict[tuple[bytes, ...], set[str]] = {}
    admitted = []
    for change in new:
        h, actor = change.hash, change.actor_id
        who = f"change {h.hex()[:12]} by key {actor.hex()[:16]} ({short_fingerprint(actor) if len(actor) == 32 else 'not a key'})"
        sig = signatures.get(h)
        if sig is None:
            raise AdmissionError(f"refused {who}: it is not signed", h, actor)
        if not verify_change(actor, h, sig):
            raise AdmissionError(f"refused {who}: the signature does not verify", h, actor)
        deps = tuple(sorted(change.deps))
        if deps:
            if deps not in keys_cache:
                keys_cache[deps] = party_keys_at(scratch, list(deps))
            allowed = keys_cache[deps]
        else:
            allowed = _creator_keys(scratch, h)
        if actor.hex() not in allowed:
            raise AdmissionError(f"refused {who}: that key is not a party of the contract", h, actor)
        admitted.append(AdmittedChange(h, actor, change.seq, change.bytes, sig))
    return admitted


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
