"""Agreed versions and the parties' countersignatures of them.

An *agreed version* is a proposal that every required party accepted (state ``applied``) and that
needed more than its proposer (a set-up edit, applied at once while the creator was the only party
with a key, is not an agreement). Versions are numbered 1, 2, ... in the order the terms replay them (see
``pactclient.model.terms``); the number is for people, the signature binds what does not move.

The *heads of a version* are the same for every copy that holds it: the heads of the smallest
document state that contains the proposal and every required party's accepting answer — the
change that created the proposal plus each answering change, reduced to those not an ancestor of
another. They do not depend on who looks, when, or on edits made concurrently.

A *countersignature* is a timeline entry of kind ``agreement`` written by the party's own device::

    {kind: "agreement", author: <party id>, at, text, ref: <proposal id>,
     heads: [<hex change hash>, ...] (sorted), key: <hex public key>, signature: <hex Ed25519>}

The signature covers ``agreement_message(contract_id, proposal_id, heads)``. It lives in the
timeline (a list every copy already has) so concurrent countersignatures merge without conflict,
and it travels with the document like any other signed change. Each device countersigns each
version at most once, and only inside its own local write (``countersign_pending``), never in
reaction to a receipt: no reply loops, and no write outside the one write transaction that
prevents equivocation.

Pure: the caller passes the signing function; nothing here reads a clock or a key file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from automerge.core import ROOT, Document, ObjType

from pactclient.model.amdoc import child, materialize, put_value
from pactclient.model.terms import answer_state
from pactclient.model.views import ContractView

AGREEMENT_DOMAIN = b"pactclient/agreement/v1\x00"
AGREEMENT_KIND = "agreement"


def agreement_message(contract_id: str, proposal_id: str, heads: list[bytes]) -> bytes:
    """The exact bytes a party signs to countersign a version (see docs/evidence.md)."""
    return (AGREEMENT_DOMAIN + contract_id.encode() + b"\x00" + proposal_id.encode() + b"\x00"
            + b"".join(sorted(heads)))


@dataclass(frozen=True)
class Countersignature:
    party: str
    key: str  # hex
    heads: tuple[str, ...]  # hex, as written
    signature: str  # hex
    at: int


@dataclass(frozen=True)
class AgreedVersion:
    number: int
    proposal_id: str
    resolved_at: int | None
    required: tuple[str, ...]
    countersignatures: tuple[Countersignature, ...]

    def by(self, party_id: str) -> list[Countersignature]:
        """Every entry written in ``party_id``'s name (which of them hold is for a verifier to say)."""
        return [c for c in self.countersignatures if c.party == party_id]


def agreed_versions(view: ContractView) -> list[AgreedVersion]:
    """Every agreed version in replay order, with the countersignature entries found for it."""
    applied = [p for p in view.proposals if p.state == "applied" and len(p.required) > 1]
    # Same order as the terms replay (see model.terms: causal, by the resolving op's id): version n is the n-th.
    applied.sort(key=lambda p: p.replay_key)
    entries: dict[str, list[Countersignature]] = {}
    for e in view.raw_timeline:
        if e.get("kind") != AGREEMENT_KIND:
            continue
        heads = e.get("heads") or []
        entries.setdefault(e.get("ref", ""), []).append(Countersignature(
            party=str(e.get("author", "")), key=str(e.get("key", "")),
            heads=tuple(str(h) for h in heads) if isinstance(heads, list) else (),
            signature=str(e.get("signature", "")), at=int(e.get("at") or 0)))
    out = []
    for n, prop in enumerate(applied, start=1):
        # Every entry is kept, not only a party's first: the author field is only a claim, so an
        # entry written in a party's name by someone else must not hide that party's real one.
        found = sorted(entries.get(prop.id, []), key=lambda c: (c.party, c.at))
        out.append(AgreedVersion(n, prop.id, prop.resolved_at, prop.required, tuple(found)))
    return out


def version_heads(doc: Document, view: ContractView, proposal_id: str) -> list[bytes]:
    """The heads of a version (see the module docstring); [] if its changes cannot be found."""
    prop = view.proposal(proposal_id)
    if prop is None:
        return []
    chains: dict[bytes, list] = {}
    for change in doc.get_changes([]):
        chains.setdefault(change.actor_id, []).append(change)
    proposals_obj = child(doc, ROOT, "proposals")
    if proposals_obj is None:
        return []
    wanted = [(prop.proposer, lambda h: _obj_at(doc, proposals_obj, proposal_id, h) is not None)]
    for party in prop.required:
        if party != prop.proposer:
            wanted.append((party, lambda h, party=party: _answer_at(doc, proposals_obj, proposal_id, party, h)))
    found: list[bytes] = []
    for party_id, present in wanted:
        writers = _writers(doc, chains, _keys_of(view, party_id), present)
        if not writers:
            return []
        found.extend(writers)
    return sorted(doc.fork(found).get_heads())


def _keys_of(view: ContractView, party_id: str) -> list[str]:
    """Every key that may have written in ``party_id``'s name: the party key, keys it replaced, and
    its certified devices (the admission rules already refused whatever one of them could not write)."""
    party = view.parties.get(party_id)
    if party is None:
        return []
    return [k for k in (party.key, *party.former_keys, *(d.key for d in view.devices_of(party_id))) if k]


def _writers(doc: Document, chains: dict[bytes, list], keys: list[str],
             present: Callable[[list[bytes]], bool]) -> list[bytes]:
    """The changes, among ``keys``' chains, that made ``present`` hold: a chain's first change at
    which it holds, unless it already held at that change's dependencies (the change only saw another
    device's write). Every copy holding the same changes finds the same set, whichever device wrote."""
    out = []
    for key in keys:
        chain = sorted(chains.get(bytes.fromhex(key), []), key=lambda c: c.seq)
        first = _first_where(chain, present)
        if first is None:
            continue
        change = next(c for c in chain if c.hash == first)
        if not change.deps or not present(list(change.deps)):
            out.append(first)
    return out


def _first_where(chain: list, present: Callable[[list[bytes]], bool]) -> bytes | None:
    """Hash of the earliest change of one author's chain at which ``present`` holds (monotone)."""
    lo, hi = 0, len(chain)
    while lo < hi:
        mid = (lo + hi) // 2
        if present([chain[mid].hash]):
            hi = mid
        else:
            lo = mid + 1
    return chain[lo].hash if lo < len(chain) else None


def _obj_at(doc: Document, parent: bytes, key: str, heads: list[bytes]) -> bytes | None:
    try:
        got = doc.get(parent, key, heads)
    except Exception:  # the object did not exist yet at those heads
        return None
    return got[1] if got is not None and isinstance(got[0], ObjType) else None


def _answer_at(doc: Document, proposals_obj: bytes, proposal_id: str, party: str, heads: list[bytes]) -> bool:
    prop_obj = _obj_at(doc, proposals_obj, proposal_id, heads)
    answers = _obj_at(doc, prop_obj, "answers", heads) if prop_obj else None
    answer = _obj_at(doc, answers, party, heads) if answers else None
    if answer is None:
        return False
    got = doc.get(answer, "answer", heads)
    return got is not None and got[0][1] == "accept"


def candidates(doc: Document, my_key: str) -> set[str]:
    """Ids of proposals that may be agreed versions awaiting my countersignature: a cheap superset
    read from the proposals and parties alone (every local write asks, so it must not read the
    timeline)."""
    proposals_obj = child(doc, ROOT, "proposals")
    parties_obj = child(doc, ROOT, "parties")
    if proposals_obj is None or parties_obj is None:
        return set()
    proposals = materialize(doc, proposals_obj)
    mine = {pid for pid, p in materialize(doc, parties_obj).items() if p.get("key") == my_key}
    mine |= {(p.get("payload") or {}).get("id") for p in proposals.values()
             if p.get("kind") in ("add_party", "replace_key") and (p.get("payload") or {}).get("key") == my_key}
    return {
        pid for pid, raw in proposals.items()
        if len(raw.get("required") or ()) > 1 and mine & set(raw.get("required") or ())
        and answer_state(raw)[0] == "applied"
    }


def countersign_pending(doc: Document, view_of: Callable[[], ContractView], my_key: str, now: int,
                        sign: Callable[[bytes], bytes], settled: set[str], party_key: str = "") -> int:
    """Countersign, in one transaction, every agreed version this device's party has not yet signed.

    ``settled`` is the caller's memory of proposal ids already countersigned (or not mine to sign);
    it is updated here, and while every candidate is in it no view is built. Returns how many
    countersignatures were written (0: nothing written, no change made). ``party_key``: the key
    contracts name for this device's party, when the device is a certified one.
    """
    if not candidates(doc, party_key or my_key) - settled:
        return 0
    view = view_of()
    me = view.party_by_key(my_key)
    if me is None:
        return 0
    todo = []
    for version in agreed_versions(view):
        if me.id not in version.required or version.proposal_id in settled:
            settled.add(version.proposal_id)
            continue
        heads = version_heads(doc, view, version.proposal_id)
        if not heads:
            continue
        # Ed25519 signatures are deterministic: this device's own countersignature is exactly the
        # one it would write now, so an entry that differs (a claim in my name) does not count.
        mine = (my_key, tuple(sorted(h.hex() for h in heads)),
                sign(agreement_message(view.id, version.proposal_id, heads)).hex())
        if any((c.key, tuple(sorted(c.heads)), c.signature) == mine for c in version.countersignatures if c.party == me.id):
            settled.add(version.proposal_id)
        else:
            todo.append((version, heads))
    if not todo:
        return 0
    settled.update(version.proposal_id for version, _ in todo)
    with doc.transaction() as tx:
        timeline = child(tx, ROOT, "timeline")
        for version, heads in todo:
            signature = sign(agreement_message(view.id, version.proposal_id, heads))
            put_value(tx, timeline, tx.length(timeline), {
                "kind": AGREEMENT_KIND, "author": me.id, "at": now,
                "text": f"countersigned agreed version {version.number} ({version.proposal_id})",
                "ref": version.proposal_id, "heads": [h.hex() for h in heads],
                "key": my_key, "signature": signature.hex(),
            }, insert=True)
    return len(todo)
