"""Which changes a signature vouches for, through the hash chain.

A change's hash is SHA-256 of its bytes, and those bytes hold the hashes of its dependencies: a signed
hash therefore fixes every ancestor of the signed change, byte for byte, and each ancestor names its
author (its actor id). An author's signature over one change thus also vouches for every *earlier change
by the same author* that it descends from: that author saw them in their own copy and built on them,
and could not have without having written them (a copy admits nothing under its own key that it did
not sign). It vouches for nobody else's changes: those need their own author's signature.

So a copy keeps and sends one signature per *author head* — a change with no later change by the same
author above it — and every other change is covered by the signature of a head it leads to.

Both functions take changes in causal order (dependencies first), as ``Document.get_changes`` returns
them, and look only at the given changes: a dependency outside the list is someone else's concern.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple

from pactclient.signing.changes import verify_change


class ChangeLinks(NamedTuple):
    """All these functions read of a change (the bindings' ``Change`` has the same attributes)."""

    hash: bytes
    actor_id: bytes
    deps: list[bytes]


def vouchers(changes: list, signed: Iterable[bytes]) -> dict[bytes, bytes]:
    """For each change that a later change in ``signed`` by the same author descends from: its hash ->
    the hash of one such signed change (its voucher). Signed changes can be vouched for too."""
    signed = set(signed)
    in_set = {c.hash for c in changes}
    # below[h]: {author: hash of a signed change by that author descending from h}; shared between
    # changes and never mutated once passed on, so a long chain costs one dict, not one per change.
    below: dict[bytes, dict[bytes, bytes]] = {}
    out: dict[bytes, bytes] = {}
    for change in reversed(changes):
        found = below.pop(change.hash, None)
        if found is not None and change.actor_id in found:
            out[change.hash] = found[change.actor_id]
        if change.hash in signed:
            found = {**(found or {}), change.actor_id: change.hash}
        if not found:
            continue
        for dep in change.deps:
            if dep not in in_set:
                continue
            there = below.get(dep)
            if there is None or there is found:
                below[dep] = found
            elif not found.keys() <= there.keys():
                below[dep] = {**found, **there}
    return out


def author_heads(changes: list) -> list[bytes]:
    """Hashes of the changes with no later change by the same author among ``changes``: the changes
    whose signatures cover all of ``changes``."""
    covered = vouchers(changes, (c.hash for c in changes))
    return [c.hash for c in changes if c.hash not in covered]


def coverage(changes: list, signatures: dict[bytes, bytes | None]) -> dict[bytes, str]:
    """How each change is covered, checked now: ``"signed"`` (its own signature verifies), ``"vouched
    by <hash hex>"`` (a verified later signature of its author covers it) or ``"not verified"``."""
    signed = {c.hash for c in changes if verify_change(c.actor_id, c.hash, signatures.get(c.hash))}
    vouched = vouchers(changes, signed)
    return {
        c.hash: "signed" if c.hash in signed else f"vouched by {vouched[c.hash].hex()}" if c.hash in vouched
        else "not verified"
        for c in changes
    }
