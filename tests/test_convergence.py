"""Copies converge: whatever each party does offline, and in whatever order bundles travel (partial,
repeated, stale), once everyone has everyone's changes all copies have the same heads and show the same
contract."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pactclient.errors import RefusedOperation, UsageError
from pactclient.model import actions
from pactclient.store import Workspace

from conftest import FIXED_NOW, FixedClock, exchange, new_party, shared_contract, view_data

# More examples for a longer hunt: PACT_CONVERGENCE_EXAMPLES=500 pytest tests/test_convergence.py
EXAMPLES = int(os.environ.get("PACT_CONVERGENCE_EXAMPLES", "25"))
NAMES = [("Alice", ""), ("Priya", "BT"), ("Sam", "Ombuds")]
ITEM_VALUES = {"account": ["AC-1", "AC-2"], "symptom": ["drops", "slow"],
               "severity": ["service down", "degraded", "annoyance"], "reference": ["R1", "R2"]}
ACTIVITIES = ["callback", "diagnose", "fix", "confirm"]

# One edit: (kind, a small number that picks its arguments deterministically).
edit = st.tuples(st.sampled_from(["note", "item", "status", "propose", "answer"]), st.integers(0, 11))


def step(n_parties: int):
    party = st.integers(0, n_parties - 1)
    return st.one_of(
        st.tuples(st.just("edit"), party, edit),
        # send: source, destination, and how much of the source's history (None: all of it)
        st.tuples(st.just("send"), st.tuples(party, party), st.one_of(st.none(), st.integers(1, 12))),
    )


def apply_edit(ws, cid, kind: str, n: int) -> None:
    """One edit that makes sense for this party; the model may still refuse it (wrong state, not the
    owner or assignee), which is skipped — refusals must leave no trace, which convergence also checks."""
    view = ws.view(cid)
    me = view.party_by_key(ws.identity.key_hex)
    try:
        if kind == "note":
            ws.act(cid, actions.note, f"{me.id} says {n}", n % 3 == 0)
        elif kind == "item":
            mine = [i for i in view.items.values() if i.owner == me.id] or list(view.items.values())
            item = mine[n % len(mine)]
            values = ITEM_VALUES.get(item.id, [f"v{n}"])
            ws.act(cid, actions.set_item, item.id, values[n % len(values)])
        elif kind == "status":
            aid = ACTIVITIES[n % len(ACTIVITIES)] if (n // 4) % 2 == 0 else list(view.activities)[n % len(view.activities)]
            action = ["start", "wait", "done", "cancel"][(n // 2) % 4]
            ws.act(cid, actions.change_status, aid, action, waiting_on=list(view.parties)[n % len(view.parties)])
        elif kind == "propose":
            if n % 2 == 0:
                ws.act(cid, actions.propose, "change_due", {"id": ACTIVITIES[n % 4], "due": FIXED_NOW + n * 3_600_000})
            else:
                ws.act(cid, actions.add_activity, f"Task {n}", list(view.parties)[n % len(view.parties)],
                       FIXED_NOW + 86_400_000)
        elif kind == "answer":
            waiting = [p for p in view.open_proposals() if me.id in p.waiting_for()]
            if waiting:
                ws.act(cid, actions.answer, waiting[n % len(waiting)].id, n % 4 != 0)
    except (RefusedOperation, UsageError):
        pass


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), n_parties=st.sampled_from([2, 3]))
def test_copies_converge_after_any_exchange_order(data, n_parties):
    steps = data.draw(st.lists(step(n_parties), min_size=1, max_size=40), label="steps")
    with tempfile.TemporaryDirectory() as tmp:
        parties = [new_party(Path(tmp) / name, name, org, FixedClock(FIXED_NOW + i * 7))[1]
                   for i, (name, org) in enumerate(NAMES[:n_parties])]
        try:
            cid = shared_contract(parties)
            for s in steps:
                if s[0] == "edit":
                    apply_edit(parties[s[1]], cid, *s[2])
                else:
                    (src, dst), limit = s[1], s[2]
                    if src != dst:
                        exchange(parties[src], parties[dst], cid, limit)
            # Full exchange: everyone to everyone, twice over (the second round must admit nothing new).
            for _ in range(2):
                for src in parties:
                    for dst in parties:
                        if src is not dst:
                            exchange(src, dst, cid)
            counts = {ws.store.change_count(cid) for ws in parties}
            heads = [sorted(ws.document(cid).get_heads()) for ws in parties]
            views = [view_data(ws, cid) for ws in parties]
            assert len(counts) == 1, counts
            assert all(h == heads[0] for h in heads[1:])
            for v in views[1:]:
                assert v == views[0]
            # Each copy also reloads from its own store (snapshot + tail) to the same contract.
            for ws in parties:
                reopened = Workspace(ws.home, ws.identity)
                try:
                    assert view_data(reopened, cid) == views[0]
                finally:
                    reopened.close()
        finally:
            for ws in parties:
                ws.close()
