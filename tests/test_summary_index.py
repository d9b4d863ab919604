"""The summary index and the read caches stay equal to a full recompute, whatever the order of local
edits, receipts (bundles and live sync), deferred upkeep and readers in other processes."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pactclient import catalog
from pactclient.model import actions
from pactclient.model.actions import view_of
from pactclient.signing.admission import party_keys_at
from pactclient.store import Workspace
from pactclient.store.workspace import summarize
from pactclient.sync.connection import PeerConnection

from conftest import FIXED_NOW, FixedClock, exchange, new_party, shared_contract
from test_convergence import apply_edit, edit

EXAMPLES = int(os.environ.get("PACT_SUMMARY_EXAMPLES", "12"))


def fresh_summary(ws: Workspace, contract_id: str, now: int) -> dict:
    """The summary computed from nothing cached: the whole document read again, timeline included."""
    doc = ws.document(contract_id).fork()
    return summarize(view_of(doc, now), ws.identity.key_hex)


def check_copy(ws: Workspace, contract_id: str, now: int) -> None:
    # What a reader in another process (`pact list` while `pact serve` runs) gets from the index.
    reader = Workspace(ws.home, ws.identity, clock=lambda: now)
    try:
        for row in reader.summaries():
            expected = fresh_summary(reader, row["id"], row["updated_at"])
            assert {k: row[k] for k in expected} == expected
    finally:
        reader.close()
    # The writer's own index, once its deferred upkeep has run.
    for row in ws.summaries():
        expected = fresh_summary(ws, row["id"], row["updated_at"])
        assert {k: row[k] for k in expected} == expected
    # The cached view (built once per heads, timeline read lazily) is the view read from scratch.
    doc = ws.document(contract_id)
    assert dataclasses.asdict(ws.view(contract_id, now)) == dataclasses.asdict(view_of(doc.fork(), now))
    assert ws.party_keys(contract_id) == {bytes.fromhex(k) for k in party_keys_at(doc.fork(), doc.get_heads())}


def live_sync(a: Workspace, b: Workspace, contract_id: str) -> None:
    """Keep two copies in step through the peer protocol (received changes go through admit_from)."""
    ca = PeerConnection(a, b.identity.public_key, dialer=True)
    cb = PeerConnection(b, a.identity.public_key, dialer=False)
    ca.start()
    cb.start()
    for _ in range(60):
        x, y = ca.data_to_send(), cb.data_to_send()
        if not x and not y:
            break
        if x:
            cb.receive_data(x)
        if y:
            ca.receive_data(y)
    assert not ca.closed and not cb.closed, (ca.events(), cb.events())


step = st.one_of(
    st.tuples(st.just("edit"), st.integers(0, 1), edit),
    st.tuples(st.just("send"), st.integers(0, 1), st.one_of(st.none(), st.integers(1, 12))),
    st.tuples(st.just("live"), st.just(0), st.just(None)),
    st.tuples(st.just("upkeep"), st.integers(0, 1), st.just(None)),
    st.tuples(st.just("check"), st.integers(0, 1), st.just(None)),
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=14), deferred=st.tuples(st.booleans(), st.booleans()))
def test_summary_index_equals_a_full_recompute_after_any_edits_and_receipts(steps, deferred):
    with tempfile.TemporaryDirectory() as tmp:
        parties = [new_party(Path(tmp) / name, name, org, FixedClock(FIXED_NOW + i * 7))[1]
                   for i, (name, org) in enumerate([("Alice", ""), ("Priya", "BT")])]
        try:
            cid = shared_contract(parties)
            for ws, defer in zip(parties, deferred):
                ws.defer_upkeep = defer
            for kind, who, arg in steps:
                ws, other = parties[who], parties[1 - who]
                if kind == "edit":
                    apply_edit(ws, cid, *arg)
                elif kind == "send":
                    exchange(ws, other, cid, arg)
                elif kind == "live":
                    live_sync(parties[0], parties[1], cid)
                elif kind == "upkeep":
                    ws.upkeep()
                else:
                    check_copy(ws, cid, FIXED_NOW + 3_600_000)
            for ws in parties:
                check_copy(ws, cid, FIXED_NOW + 3_600_000)
        finally:
            for ws in parties:
                ws.close()


def test_a_deferring_writer_never_leaves_another_process_a_wrong_list(make_party, tmp_path):
    identity, writer = make_party(tmp_path, "Alice", clock=FixedClock())
    cid = writer.create("Router keeps rebooting", catalog.load("broadband-fault"), "customer")
    writer.defer_upkeep = True  # as while `pact serve` runs: the summary is left for later
    writer.act(cid, actions.add_activity, "Send the router logs", "customer", FIXED_NOW + 3_600_000)
    reader = Workspace(writer.home, identity)
    try:
        (row,) = reader.summaries()
        assert row["next_due_title"] == "Send the router logs"
        assert row == {**row, **fresh_summary(reader, cid, row["updated_at"])}
    finally:
        reader.close()


def test_a_store_from_before_summary_rowids_opens_and_lists_without_loading(make_party, tmp_path, monkeypatch):
    identity, ws = make_party(tmp_path, "Alice")
    cid = ws.create("Bill twice", catalog.load("billing-dispute"), "customer")
    ws.act(cid, actions.note, "second bill arrived")
    ws.close()
    # Take the store back to the earlier schema: no summary_rowid column, no per-contract index.
    db = sqlite3.connect(tmp_path / "alice" / "pact.db")
    db.execute("DROP INDEX changes_by_contract")
    db.execute("ALTER TABLE contracts DROP COLUMN summary_rowid")
    db.commit()
    db.close()
    loads = []
    monkeypatch.setattr(Workspace, "_load", lambda self, c: loads.append(c))
    reopened = Workspace(tmp_path / "alice", identity)
    try:
        assert [r["title"] for r in reopened.summaries()] == ["Bill twice"]
        assert loads == []  # the migrated rows count as up to date: nothing recomputed
        assert reopened.store.stale_summaries() == []
    finally:
        reopened.close()


def test_received_notes_carry_the_cached_view_and_other_edits_do_not(make_party, tmp_path):
    # Received notes only grow the timeline, so the receiver keeps its cached view past them; an edit
    # that writes anywhere else must still be seen in full.
    parties = [make_party(tmp_path, name, org, clock=FixedClock())[1] for name, org in [("Alice", ""), ("Priya", "BT")]]
    alice, priya = parties
    try:
        cid = shared_contract(parties)
        for i in range(3):
            alice.view(cid)  # the cached view at Alice's heads, as her screen would read it
            priya.act(cid, actions.note, f"engineer booked {i}")
            live_sync(alice, priya, cid)
            check_copy(alice, cid, FIXED_NOW)
        assert alice.view(cid).timeline[-1].text == "engineer booked 2"
        priya.act(cid, actions.set_item, "severity", "service down")
        live_sync(alice, priya, cid)
        assert alice.view(cid).items["severity"].value == "service down"
        check_copy(alice, cid, FIXED_NOW)
    finally:
        for ws in parties:
            ws.close()
