"""Well-formed changes: what a change claims about its own place in history, checked against that history.

Automerge trusts what a change says about itself. A change written by hand may leave its author's
previous change out of its dependencies (and so write "before" something its author already did),
start its op counter anywhere (reusing op ids its author used before, so a write lands in an object
made earlier; or jumping far ahead, so its puts win every concurrent conflict, which Automerge resolves
by op id), or name, as the ops it overwrites or the objects and list elements it writes into, ops it
has never seen. Each of these lets a party rewrite what others already read as settled.

So, before any rule about *what* a change writes is judged, every change must be exactly what the
bindings themselves would have written on top of its dependencies:

``own-chain``
    The author's change number n has the author's change n-1 among its ancestors, and no later one:
    the changes of one key form a single line, and nothing a key signs is concurrent with anything
    else it signed. (A first change, n = 1, has no change of its author among its ancestors.)
``op-counter``
    Its first op counter is one more than the highest op counter among its ancestors (1 for a
    contract's first change), which is what Automerge writes: op ids are never reused, and a change
    cannot win a conflict by a counter of its choosing — its counter is fixed by what it has seen.
``causal-refs``
    Every op id it refers to — the object it writes into, the list element it writes at or inserts
    after, each op it overwrites or deletes — is an op of one of its ancestors (or an earlier op of
    the change itself).

All three are judged from the change's own ancestors only, so every copy reaches the same verdict
whatever else it holds. They need, per change, a small vector clock: for each author among the
change's ancestors (and itself), its highest sequence number and op counter. Because each author's
changes form one line with rising counters (the rules themselves), that clock says exactly which ops
are ancestors: op ``(a, n)`` is one iff ``n <= clock[a].op``.
"""

from __future__ import annotations

from typing import NamedTuple

from automerge.core import Document

from pactclient.model import rules

Clock = dict[bytes, tuple[int, int]]  # author key -> (highest seq, highest op counter)


class Malformed(NamedTuple):
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{rules.rule_text(self.rule)}: {self.detail}"


def merge(clocks) -> Clock:
    out: Clock = {}
    for clock in clocks:
        for actor, mark in clock.items():
            have = out.get(actor)
            if have is None or mark[1] > have[1]:
                out[actor] = mark
    return out


def advance(clock: Clock, actor: bytes, seq: int, max_op: int) -> Clock:
    """``clock`` with one more change of ``actor`` on top (a copy)."""
    out = dict(clock)
    out[actor] = (seq, max_op)
    return out


def document_clock(doc: Document) -> Clock:
    """The clock of a whole document (its heads): one pass over its changes."""
    out: Clock = {}
    for change in doc.get_changes([]):
        have = out.get(change.actor_id)
        if have is None or change.max_op > have[1]:
            out[change.actor_id] = (change.seq, change.max_op)
    return out


class CausalIndex:
    """Clocks of the changes of one batch, fed in causal order (dependencies first).

    ``known_heads`` are the heads of the copy the batch is checked against, ``known_clock`` (if the
    caller keeps it) the clock at exactly those heads. A dependency outside the batch that is not
    covered by them — a change choosing older dependencies — costs one pass over the document.
    """

    def __init__(self, doc: Document, known_heads: list[bytes], known_clock: Clock | None = None):
        self.doc = doc
        self._known = frozenset(known_heads)
        self._known_clock = known_clock
        self._clocks: dict[bytes, Clock] = {}
        self._all: dict[bytes, Clock] | None = None  # every change's clock, read only when needed

    def check(self, change, decoded) -> Malformed | None:
        """Judge ``change`` (with its ``decoded`` ops) and, if it is well formed, remember its clock."""
        deps = change.deps
        clock = self._at(deps)
        actor, seq = change.actor_id, change.seq
        before = clock.get(actor, (0, 0))[0]
        if before != seq - 1:
            what = "none of its author's earlier changes" if before == 0 else f"its author's change {before}"
            return Malformed("own-chain", f"it is its author's change {seq} but has {what} as the latest of its "
                                          "author among its ancestors")
        highest = max((mark[1] for mark in clock.values()), default=0)
        if change.start_op != highest + 1:
            return Malformed("op-counter", f"its ops start at {change.start_op}, not at {highest + 1} (one more than "
                                           "the highest op counter among its ancestors)")
        start = change.start_op
        seen = {by: mark[1] for by, mark in clock.items()}  # author -> highest op counter among ancestors
        for op in decoded.ops:
            own_before = op.id[1]
            refs = op.pred
            if op.obj is not None:
                refs = (op.obj, *refs) if refs else (op.obj,)
            if op.elem is not None:
                refs = (op.elem, *refs)
            for by, counter in refs:  # hot: a few refs per op, every op of every change
                if counter <= seen.get(by, 0) or (by == actor and start <= counter < own_before):
                    continue
                return Malformed("causal-refs", f"op {own_before} refers to op {counter} of key {by.hex()[:16]}, "
                                                "which is not among its ancestors")
        self._clocks[change.hash] = advance(clock, actor, seq, change.max_op)
        return None

    def clock_of(self, change_hash: bytes) -> Clock | None:
        """The clock just after a change this index accepted (None if it did not)."""
        return self._clocks.get(change_hash)

    def _at(self, deps) -> Clock:
        clocks = self._clocks
        if all(d in clocks for d in deps):
            return merge(clocks[d] for d in deps) if len(deps) != 1 else clocks[deps[0]]
        outside = {d for d in deps if d not in clocks}
        if self._known_clock is not None and outside == self._known:
            return merge([self._known_clock, *(clocks[d] for d in deps if d in clocks)])
        everything = self._every_clock()
        return merge(clocks[d] if d in clocks else everything.get(d, {}) for d in deps)

    def _every_clock(self) -> dict[bytes, Clock]:
        if self._all is None:
            out: dict[bytes, Clock] = {}
            for ch in self.doc.get_changes([]):
                base = merge(out[d] for d in ch.deps if d in out)
                out[ch.hash] = advance(base, ch.actor_id, ch.seq, ch.max_op)
            self._all = out
        return self._all
