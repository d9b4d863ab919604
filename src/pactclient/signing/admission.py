"""Admission: the only door through which received changes enter a copy.

Received changes are first loaded into a scratch document (never the user's copy). Every change that
is new relative to the copy is then checked:

1. every signature given for it verifies against the change's actor id (the author key), and it has
   one — or it is *vouched for*: a later change by the same author in the same batch descends from it
   and carries a valid signature (see ``vouching``: that signature fixes this change's bytes through
   the hash chain);
2. the author key belongs to a party of the contract *as the contract stood when the change was
   written* (at the change's dependencies) — or, for the first change of a contract, to the party that
   change itself declares as its creator — or it is a device certified by such a party's key, by a
   delegation among the change's ancestors or written by the change itself (``device_checks``), and
   no revocation of that device that this copy holds ends its writing before the change;
3. the document is a contract of a schema this version can read, with the expected contract id,
   whose root sections are the kind of object the model reads (maps; the timeline a list);
4. it is well formed (``wellformed``): it continues its author's own line of changes, its op
   counter is the one its ancestors fix, and it refers only to ops among its ancestors;
5. it keeps the rules of who may write what (``permissions``: item owners, assignees, terms only
   through proposals, own answers, an append-only timeline).

One failing change refuses the whole batch: the caller keeps nothing of it. Admitted changes keep
their own signature if they came with one; a vouched change is stored without, naming its voucher.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from automerge.core import ROOT, Document, ObjType

from pactclient.errors import AdmissionError, SchemaError
from pactclient.identity.delegation import read_delegation
from pactclient.identity.device import short_fingerprint
from pactclient.model import rules
from pactclient.model.amdoc import materialize, scalar
from pactclient.model.schema import check_schema, check_sections
from pactclient.signing.changes import verify_change
from pactclient.signing.permissions import PermissionChecker
from pactclient.signing.partylist import PartyLists, _obj, party_keys_at
from pactclient.signing.terms_history import read_device_records
from pactclient.signing.vouching import vouchers
from pactclient.signing.wellformed import CausalIndex, Clock

__all__ = ["AdmittedChange", "ChangeInfo", "NotVouched", "admit_changes", "party_keys_at"]

PARALLEL_FROM = 512  # below this many signatures, threads cost more than they save


class AdmittedChange(NamedTuple):
    hash: bytes
    actor: bytes
    seq: int
    data: bytes  # the change's bytes in Automerge's standard encoding
    signature: bytes | None  # its own verified signature, or None when ``vouched_by`` covers it
    vouched_by: bytes | None = None  # the hash of the later signed change by the same author
    max_op: int = 0  # its last op counter


class ChangeInfo(NamedTuple):
    """What admission reads of a change, read from the bindings once (each read there copies)."""

    hash: bytes
    actor_id: bytes
    deps: list[bytes]
    seq: int
    start_op: int
    max_op: int
    bytes: bytes

    @classmethod
    def of(cls, change) -> "ChangeInfo":
        return cls(change.hash, change.actor_id, change.deps, change.seq, change.start_op, change.max_op, change.bytes)


class NotVouched(AdmissionError):
    """A change has no signature and no signed later change of its author in the batch vouches for it.

    Over a sync connection this can mean "not yet": Automerge may hold the voucher back until a
    missing dependency arrives (see ``sync.connection``). Anywhere else it is final.
    """


def admit_changes(
    scratch: Document,
    known_heads: list[bytes],
    signatures: dict[bytes, bytes],
    contract_id: str | None,
    known_keys: set[str] | None = None,
    permissions: PermissionChecker | None = None,
    known_clock: Clock | None = None,
) -> list[AdmittedChange]:
    """Check every change in ``scratch`` that is not covered by ``known_heads``.

    ``known_keys``, if given, is ``party_keys_at(<a copy>, known_heads)`` as the caller already has it
    (a live edit usually depends on exactly the receiver's heads), so it is not read again.
    ``permissions``, if given, is the ``PermissionChecker`` of ``scratch`` to use (the caller may have
    seeded it with the terms at ``known_heads``, and may read the terms after the batch from it).
    ``known_clock``, if given, is ``wellformed.document_clock`` of the copy at ``known_heads``.
    Returns the admitted changes in an order where dependencies come first. Raises AdmissionError
    naming the first bad change and its key (NotVouched when the only fault is a missing signature).
    """
    new = [ChangeInfo.of(c) for c in scratch.get_changes(known_heads)]
    if not new:
        return []
    try:
        check_schema(scratch)
    except SchemaError as exc:
        raise AdmissionError(f"refused: {exc}") from None
    found_id = scalar(scratch, _contract_obj(scratch), "id") if _contract_obj(scratch) else None
    if contract_id is not None and found_id != contract_id:
        raise AdmissionError(f"refused: changes belong to contract {found_id!r}, not {contract_id!r}")
    given = [c for c in new if signatures.get(c.hash) is not None]
    for change, ok in zip(given, _verify_all(given, signatures)):
        if not ok:
            raise AdmissionError(f"refused {_who(change)}: the signature does not verify", change.hash, change.actor_id)
    signed = {c.hash for c in given}
    vouched = vouchers(new, signed)
    if permissions is None:
        permissions = PermissionChecker(scratch)
    parties = PartyLists(scratch, permissions.decoded, permissions.section_objects)  # each change decoded once
    if known_keys is not None:
        parties.seed(known_heads, known_keys)
    causal = CausalIndex(scratch, known_heads, known_clock)
    revoked = revocation_cutoffs(scratch)
    admitted = []
    roots_seen = 0
    hex_keys: dict[bytes, str] = {}
    for change in new:
        h, actor = change.hash, change.actor_id
        key = hex_keys.get(actor) or hex_keys.setdefault(actor, actor.hex())
        if h not in signed and h not in vouched:
            raise NotVouched(f"refused {_who(change)}: it is not signed, and no signed later change of its author "
                             "vouches for it", h, actor)
        if change.deps:
            allowed = parties.at(change)
        else:
            # A contract has exactly one first change. Another change without dependencies starts a
            # different document (say a stranger's own contract, in which the stranger is the creator):
            # merged in, it would graft that document onto this contract.
            if known_heads or roots_seen:
                raise AdmissionError(f"refused {_who(change)}: it starts another document, not a change to this contract", h, actor)
            roots_seen += 1
            parties.at(change)
            allowed = _creator_keys(scratch, change)
        if key not in allowed and (not change.deps or permissions.introduced_party(change) is None):
            raise AdmissionError(f"refused {_who(change)}: that key is not a party of the contract, nor a device "
                                 "certified by one", h, actor)
        cutoff = revoked.get(key)
        if cutoff is not None and change.start_op > cutoff:
            raise AdmissionError(f"refused {_who(change)}: {rules.rule_text('device-revoked')}: its party revoked "
                                 f"this device after its op {cutoff}", h, actor)
        try:
            malformed = causal.check(change, permissions.decoded(change))
        except ValueError as exc:
            raise AdmissionError(f"refused {_who(change)}: its operations cannot be read ({exc})", h, actor) from None
        if malformed is not None:
            raise AdmissionError(f"refused {_who(change)}: it {malformed}", h, actor)
        refusal = permissions.check(change)
        if refusal is not None:
            raise AdmissionError(f"refused {_who(change)}: it {refusal}", h, actor)
        own = signatures[h] if h in signed else None
        admitted.append(AdmittedChange(h, actor, change.seq, change.bytes, own, None if own else vouched[h], change.max_op))
    # After the per-change rules, which name the change that broke the shape; this catches what they do
    # not judge (the first change writes the whole set-up).
    try:
        check_sections(scratch)
    except SchemaError as exc:
        raise AdmissionError(f"refused: {exc}") from None
    return admitted


def _who(change) -> str:
    actor = change.actor_id
    fp = short_fingerprint(actor) if len(actor) == 32 else "not a key"
    return f"change {change.hash.hex()[:12]} by key {actor.hex()[:16]} ({fp})"


def _verify_all(changes: list, signatures: dict[bytes, bytes]) -> list[bool]:
    """Verify the given changes' signatures; many on two threads (the verify releases the GIL)."""
    jobs = [(c.actor_id, c.hash, signatures.get(c.hash)) for c in changes]
    if len(jobs) < PARALLEL_FROM:
        return [verify_change(*job) for job in jobs]
    workers = min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda job: verify_change(*job), jobs, chunksize=256))


def _read(doc: Document, key: str, heads: list[bytes]) -> dict:
    obj = _obj(doc, ROOT, key, heads)
    return materialize(doc, obj, heads) if obj is not None else {}


def _contract_obj(doc: Document):
    got = doc.get(ROOT, "contract")
    return got[1] if got is not None else None


def _creator_keys(doc: Document, root) -> set[str]:
    """A root change may only be written by the party it names as the contract's creator: by its key,
    or by a device the same change introduces with a delegation signed by that key."""
    heads = [root.hash]
    meta = _read(doc, "contract", heads)
    parties = _read(doc, "parties", heads)
    creator = parties.get(meta.get("created_by", ""), {})
    if not creator.get("key"):
        return set()
    record = _read(doc, "devices", heads).get(root.actor_id.hex())
    if isinstance(record, dict):
        fields = read_delegation(record.get("statement"), record.get("signature"))
        if fields is not None and fields["device_key"] == root.actor_id.hex() and fields["party_key"] == creator["key"]:
            return {creator["key"], root.actor_id.hex()}
    return {creator["key"]}


def revocation_cutoffs(doc: Document) -> dict[str, int]:
    """Each device that a revocation held by this copy names, signed by the party key that certified
    the device -> the lowest op counter after which it may write nothing (``after_op``; each was
    checked against its change's history on admission). Applied to every change, whatever its
    dependencies: a revoked device cannot write "before" its revocation by choosing old dependencies,
    in any copy that knows of the revocation. A revocation signed by another party's key is no
    revocation of the device."""
    sections = {}
    for name in ("devices", "revocations"):  # read now, not at heads: a read at heads costs a clock
        got = doc.get(ROOT, name)
        if got is not None and isinstance(got[0], ObjType):
            sections[name] = got[1]
    out: dict[str, int] = {}
    if "revocations" not in sections:
        return out
    records, revoked = read_device_records(doc, sections)
    certified_by = {device: party_key for device, (_, party_key) in records.items()}
    for device, made, party_key in revoked:
        if certified_by.get(device) != party_key:
            continue
        got = doc.get(sections["revocations"], f"{device}.{made[0].hex()}")
        after = scalar(doc, got[1], "after_op") if got is not None and isinstance(got[0], ObjType) else None
        if isinstance(after, int) and not isinstance(after, bool):
            out[device] = min(after, out.get(device, after))
    return out
