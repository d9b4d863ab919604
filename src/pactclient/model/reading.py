"""Reading a contract's document into a view, and keeping the view of the present state between reads.

``view_of`` builds a ``ContractView`` from the document as it stands: the materialized terms and
records, the ids of the ops that made each proposal and answer (they order the agreements: see
``model.terms``), and which keys signed a change (they say who has joined: see ``model.views``).
With a ``ReadCache`` the view is built once per state of the document and carried past notes.
"""

from __future__ import annotations

import dataclasses

from automerge.core import ROOT, Document

from pactclient.model.amdoc import ReadCache, child, materialize, proposal_stamps, read_timeline, timeline_entry
from pactclient.model.lazy import LazyEntries
from pactclient.model.schema import check_schema
from pactclient.model.views import ContractView


def view_of(doc: Document, now: int, cache: ReadCache | None = None) -> ContractView:
    """The contract in ``doc`` as it stands, seen at ``now``.

    With a ``cache`` the view is built once per state of the document (its heads) and its timeline
    is read only if someone uses it, so an action's checks cost little however long the contract is.
    """
    heads = tuple(sorted(doc.get_heads()))
    if cache is not None and cache.view_heads == heads:
        return cache.view.at(now)
    check_schema(doc)
    raw = materialize(doc, cache=cache, skip=("timeline",))
    view = ContractView.from_raw(raw, now, timeline=lambda: read_timeline(doc, list(heads), cache),
                                 stamps=proposal_stamps(doc), signers=signer_keys(doc, cache))
    if cache is not None:
        cache.view_heads, cache.view = heads, view
    return view


def signer_keys(doc: Document, cache: ReadCache | None = None) -> frozenset[str]:
    """Hex keys that signed (authored) a change of ``doc``; with a ``cache``, only changes new since
    the last call are read."""
    heads = list(doc.get_heads())
    if cache is not None and cache.signers is not None:
        since, keys = cache.signers
        if sorted(since) == sorted(heads):
            return keys
        try:
            new = doc.get_changes(list(since))
        except Exception:  # heads of another history (the cache outlived a rollback): read everything
            new = None
        if new is not None:
            keys = keys | {c.actor_id.hex() for c in new}
            cache.signers = (heads, keys)
            return keys
    keys = frozenset(c.actor_id.hex() for c in doc.get_changes([]))
    if cache is not None:
        cache.signers = (heads, keys)
    return keys


def timeline_grew(doc: Document, cache: ReadCache | None, before: tuple[bytes, ...], appended_one: bool = False) -> None:
    """Call right after changes that wrote nothing outside the timeline moved ``doc`` from the sorted
    heads ``before``: the view at the new heads is the cached one at ``before`` with its timeline read
    again, so the next reader (the next note, the summary) reuses the parties, terms and proposals.
    ``appended_one``: the only change is this copy's own ``_event``, which put one entry at the end."""
    if cache is None or cache.view_heads != before:
        return
    heads = tuple(sorted(doc.get_heads()))
    if any(not p.accepted for p in cache.view.parties.values()):
        # A note may be a party's first signed change, which accepts the terms: then build the view again.
        signers = signer_keys(doc, cache)
        if any(not p.accepted and any(k in signers for k in (p.key, *p.former_keys) if k)
               for p in cache.view.parties.values()):
            cache.view_heads = cache.view = None
            return
    read = cache.view.raw_timeline
    if appended_one and isinstance(read, LazyEntries) and read.was_read():
        got = doc.get(child(doc, ROOT, "timeline"), len(read))
        entry = cache.entries[got[1]] = timeline_entry(doc, got)
        timeline = LazyEntries(lambda: (*read, entry))
    else:
        timeline = LazyEntries(lambda: read_timeline(doc, list(heads), cache))
    cache.view = dataclasses.replace(cache.view, raw_timeline=timeline)
    cache.view_heads = heads
