"""The party list in force at any change's dependencies, recomputed only where it can have changed.

Reading the party list at given heads costs ~0.1–0.2 ms (the parties and the ``add_party`` proposals
are read at those heads). Admission needs it for every received change, so 10,000 changes would
spend over a second on it. But the list at a change's dependencies depends only on which changes that
*may alter it* lie in its history. A change may alter it unless every operation of it writes into the
document outside ``/parties`` and ``/proposals`` (its operations as ``change_ops`` decodes them from its
bytes): into a root key other than those two, or into an object made (in this batch) by such a change. Automerge objects never move, so an
object made outside those subtrees stays outside.

``basis(c)`` names that history: ``{c}`` for a change that may alter the list, otherwise the union of
its dependencies' bases (a dependency outside the batch stands for its whole history). Changes whose
dependencies have the same basis union share one computed list. Every uncertainty — a change whose
bytes do not decode (the permission check refuses it anyway), an object made before the batch, an
author reusing operation ids — counts as "may alter": it costs one more computation, never a wrong
answer. Admission passes the permission checker's decoder, so each change is decoded once per batch.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Callable

from automerge.core import ROOT, Document, ObjType

from pactclient.model.amdoc import materialize, proposal_stamps, scalar
from pactclient.model.terms import terms_in_force
from pactclient.signing.change_ops import DecodedChange, decode_change
from pactclient.signing.terms_history import ObjKey, obj_key, read_device_records

PARTY_ROOTS = ("parties", "proposals", "devices", "revocations")
PARTY_KINDS = ("add_party", "replace_key")  # the proposals that decide who is a party, with which key


def party_keys_at(doc: Document, heads: list[bytes]) -> set[str]:
    """Hex keys of the parties in force at ``heads`` (base parties plus applied add_party and
    replace_key proposals; a replaced key is no longer a party's), and of the devices certified by
    those keys and not revoked at ``heads``.

    Reads only what decides the party list — each party's key and those proposals.
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
            if prop_obj is not None and scalar(doc, prop_obj, "kind", heads) in PARTY_KINDS:
                proposals[prop_id] = materialize(doc, prop_obj, heads)
    stamps = {pid: stamp for pid, stamp in proposal_stamps(doc, heads).items() if pid in proposals}
    terms = terms_in_force({"parties": parties, "proposals": proposals}, stamps)
    keys = {p.get("key", "") for p in terms.parties.values() if p.get("key")}
    sections = {name: obj for name in ("devices", "revocations")
                if (obj := _obj(doc, ROOT, name, heads)) is not None}
    if sections:
        records, revoked = read_device_records(doc, sections, heads)
        gone = {(device, party_key) for device, _, party_key in revoked}
        keys |= {device for device, (_, party_key) in records.items()
                 if party_key in keys and (device, party_key) not in gone}
    return keys


def _obj(doc: Document, parent: bytes, key: str, heads: list[bytes]) -> bytes | None:
    got = doc.get(parent, key, heads)
    if got is None or not isinstance(got[0], ObjType):
        return None
    return got[1]


class PartyLists:
    """Party lists at the dependencies of the changes of one batch, fed in causal order to ``at``."""

    def __init__(self, doc: Document, decode: Callable[[object], DecodedChange] | None = None,
                 root_objects: dict[ObjKey, str] | None = None):
        """``decode(change)`` decodes a change's bytes (ValueError if they do not decode); by default
        ``change_ops.decode_change``. ``root_objects`` maps objects at the root to their keys (by default
        read from ``doc``; a root object missing from it only counts as "may alter"). Admission passes
        ``PermissionChecker.decoded`` and ``.section_objects``, so that both share the work."""
        self.doc = doc
        self._decode = decode or (lambda change: decode_change(change.bytes))
        self.computed = 0  # how many lists were actually read (for tests and benchmarks)
        self._basis: dict[bytes, frozenset] = {}
        self._lists: dict[frozenset, set[str]] = {}
        # Objects known to lie outside the party roots: the root's other objects, and the operation
        # ids of this batch's changes that stay outside, kept per author as (first, last) ranges.
        # An author's ranges must rise in causal order; an author reusing ids is trusted no more.
        self._starts: dict[bytes, list[int]] = {}
        self._ends: dict[bytes, list[int]] = {}
        self._last_op: dict[bytes, int] = {}
        self._reused: set[bytes] = set()
        if root_objects is None:
            root_objects = {}
            for key in doc.keys(ROOT):
                got = doc.get(ROOT, key)
                made = _object_key(got[1]) if got is not None and isinstance(got[0], ObjType) else None
                if made is not None:
                    root_objects[made] = key
        self._root_objects: set[ObjKey] = {made for made, key in root_objects.items() if key not in PARTY_ROOTS}

    def seed(self, heads: list[bytes], keys: set[str]) -> None:
        """Take ``keys`` as the party list at ``heads`` (the copy's own heads, known to the caller)."""
        self._lists[frozenset(heads)] = keys

    def at(self, change) -> set[str]:
        """Hex keys of the parties in force at ``change``'s dependencies."""
        deps = change.deps
        if len(deps) == 1:
            basis = self._basis.get(deps[0]) or frozenset(deps)
        else:
            basis = frozenset()
            for dep in deps:
                basis |= self._basis.get(dep) or frozenset((dep,))
        keys = self._lists.get(basis)
        if keys is None:
            keys = self._lists[basis] = party_keys_at(self.doc, list(deps)) if deps else set()
            self.computed += 1
        self._basis[change.hash] = basis if self._stays_outside(change) else frozenset((change.hash,))
        return keys

    def _stays_outside(self, change) -> bool:
        actor, first, last = change.actor_id, change.start_op, change.max_op
        last_op = self._last_op
        if first <= last_op.get(actor, 0):
            self._reused.add(actor)
        last_op[actor] = last
        if actor in self._reused:
            return False
        try:
            ops = self._decode(change).ops
        except ValueError:
            return False
        root_objects = self._root_objects
        for target, key in {(op.obj, op.key if op.obj is None else None) for op in ops}:
            if target is None:  # the root map: the key says which part of the document
                if key is None or key in PARTY_ROOTS:
                    return False
                continue
            made_by, ctr = target
            if made_by == actor and first <= ctr <= last:
                continue  # an object this change made, where it put it
            if target not in root_objects and not self._made_outside(made_by, ctr):
                return False
        starts = self._starts.get(actor)
        if starts is None:
            starts = self._starts[actor] = []
            self._ends[actor] = []
        starts.append(first)
        self._ends[actor].append(last)
        return True

    def _made_outside(self, made_by: bytes, counter: int) -> bool:
        """Whether this batch made object ``(made_by, counter)`` in a change that stayed outside."""
        starts = self._starts.get(made_by)
        if not starts or made_by in self._reused:
            return False
        i = bisect_right(starts, counter) - 1
        return i >= 0 and counter <= self._ends[made_by][i]


def _object_key(exid: bytes) -> ObjKey | None:
    """(actor, counter) of an object id from the bindings; None for one in a layout not expected here."""
    try:
        return obj_key(exid) if exid[:1] == b"\x10" else None
    except IndexError:
        return None
