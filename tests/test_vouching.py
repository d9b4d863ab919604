"""A signature vouches for its author's earlier changes, and for nobody else's; the party list is read
only where it can change, and is still exactly right at every change.

Each case builds real signed changes, removes or forges signatures the way a peer could, and feeds
them to another copy through the bundle encoding (admission is the same for bundles and peers).
"""

from __future__ import annotations

import sqlite3

import msgpack
import pytest

from pactclient.cli.render import changes_json
from pactclient.errors import AdmissionError
from pactclient.model import actions
from pactclient.signing.admission import ChangeInfo
from pactclient.signing.change_ops import decode_change
from pactclient.signing.partylist import PartyLists, party_keys_at
from pactclient.signing.vouching import ChangeLinks, author_heads, vouchers
from pactclient.store import Workspace
from pactclient.sync import bundle

from conftest import FixedClock, copy_state, exchange, shared_contract


@pytest.fixture
def three(tmp_path, make_party):
    """Alice, Priya and Colin share a contract; every copy has every change."""
    parties = [make_party(tmp_path, n, o) for n, o in (("Alice", ""), ("Priya", "BT"), ("Colin", "Openreach"))]
    cid = shared_contract([ws for _, ws in parties])
    return parties, cid


def _entries(ws, cid) -> dict:
    return msgpack.unpackb(bundle.encode(ws, cid), raw=False)


def _import(ws, obj: dict):
    return ws.receive(*bundle.decode(msgpack.packb(obj, use_bin_type=True)))


def _without_signature(obj: dict, change_hash: bytes) -> dict:
    obj["changes"] = [[h, d, None if h == change_hash else s] for h, d, s in obj["changes"]]
    return obj


def _hashes_of_new(src, dst, cid) -> list[bytes]:
    have = {h for h, _, _ in dst.signed_changes(cid)}
    return [h for h, _, _ in src.signed_changes(cid) if h not in have]


def test_a_change_is_admitted_on_its_authors_later_signature_and_reopens(three):
    ((_, alice), (_, priya), _), cid = three
    alice.act(cid, actions.note, "first")
    alice.act(cid, actions.note, "second")
    first, second = _hashes_of_new(alice, priya, cid)
    got = _import(priya, _without_signature(_entries(alice, cid), first))
    assert [c.hash for c in got.admitted] == [first, second]
    assert got.admitted[0].signature is None and got.admitted[0].vouched_by == second
    assert first not in priya.store.signatures(cid) and second in priya.store.signatures(cid)
    shown = {c["hash"]: c for c in changes_json(priya, cid, priya.view(cid))}
    assert shown[first.hex()]["signature"] is None and shown[first.hex()]["signature_verified"]
    assert shown[first.hex()]["coverage"] == f"vouched by {second.hex()}"
    assert shown[second.hex()]["coverage"] == "signed"
    # A new process opening the store re-verifies the tail, vouched change included.
    again = Workspace(priya.home, priya.identity, FixedClock())
    try:
        assert [e.text for e in again.view(cid).timeline][-2:] == ["first", "second"]
    finally:
        again.close()


def test_an_unsigned_change_nothing_vouches_for_is_refused(three):
    ((a_id, alice), (_, priya), _), cid = three
    alice.act(cid, actions.note, "first")
    alice.act(cid, actions.note, "second")
    first, second = _hashes_of_new(alice, priya, cid)
    before = copy_state(priya, cid)
    with pytest.raises(AdmissionError, match="it is not signed") as info:
        _import(priya, _without_signature(_entries(alice, cid), second))  # the head: nothing later
    assert info.value.change_hash == second and info.value.key == a_id.public_key
    assert copy_state(priya, cid) == before


def test_another_authors_signature_does_not_vouch(three):
    """Priya's signed change descends from Alice's unsigned one: Priya's signature fixes its bytes,
    but only Alice may vouch for what Alice's key wrote."""
    ((a_id, alice), (_, priya), (_, colin)), cid = three
    alice.act(cid, actions.note, "Alice writes")
    exchange(alice, priya, cid)
    priya.act(cid, actions.note, "Priya answers, on top of it")
    alices, priyas = _hashes_of_new(priya, colin, cid)
    before = copy_state(colin, cid)
    with pytest.raises(AdmissionError, match="it is not signed") as info:
        _import(colin, _without_signature(_entries(priya, cid), alices))
    assert info.value.change_hash == alices and info.value.key == a_id.public_key
    assert copy_state(colin, cid) == before


def test_a_forged_signed_head_refuses_the_whole_batch(three):
    ((a_id, alice), (_, priya), _), cid = three
    alice.act(cid, actions.note, "first")
    alice.act(cid, actions.note, "second")
    first, second = _hashes_of_new(alice, priya, cid)
    obj = _without_signature(_entries(alice, cid), first)
    obj["changes"] = [[h, d, bytes(64) if h == second else s] for h, d, s in obj["changes"]]
    before = copy_state(priya, cid)
    with pytest.raises(AdmissionError, match="signature does not verify") as info:
        _import(priya, obj)
    assert info.value.change_hash == second
    assert copy_state(priya, cid) == before  # "first" was not kept either


def test_a_bundle_from_a_vouched_copy_imports_into_a_third_copy(three, make_party, tmp_path):
    ((_, alice), (_, priya), (c_id, colin)), cid = three
    for i in range(5):
        alice.act(cid, actions.note, f"note {i}")
    new = _hashes_of_new(alice, priya, cid)
    obj = _entries(alice, cid)
    for h in new[:-1]:
        _without_signature(obj, h)
    _import(priya, obj)
    assert sum(1 for _, _, s in priya.signed_changes(cid) if s is None) == len(new) - 1
    # Priya's bundle now carries nil for those changes; Colin checks the cover himself.
    got = _import(colin, _entries(priya, cid))
    assert len(got.admitted) == len(new)
    assert [e.text for e in colin.view(cid).timeline] == [e.text for e in alice.view(cid).timeline]


def _everyone_writes(copies: list, cid: str, rounds: int) -> None:
    for round_ in range(rounds):
        for ws in copies:
            ws.act(cid, actions.note, f"{ws.identity.name} {round_}")
            for other in copies:
                if other is not ws:
                    exchange(ws, other, cid)


def test_party_lists_are_read_rarely_and_match_a_reading_at_every_change(three, make_party, tmp_path):
    """Many notes by everyone, then a fourth party added by a proposal the others accept, then more
    notes: the list used for each change equals the list read at its dependencies, and is read only
    where a change may have altered it."""
    ((_, alice), (_, priya), (_, colin)), cid = three
    d_id, dana = make_party(tmp_path, "Dana", "Ombudsman")
    _everyone_writes([alice, priya, colin], cid, 10)
    proposal = alice.act(cid, actions.add_party, d_id.key_hex, "Dana", "observer", "Ombudsman")
    assert not proposal.applied
    for ws in (priya, colin):
        exchange(alice, ws, cid)
        ws.act(cid, actions.answer, proposal.ref, True)
        exchange(ws, alice, cid)
    exchange(alice, dana, cid)
    _everyone_writes([alice, priya, colin, dana], cid, 5)
    doc = alice.document(cid)
    assert d_id.key_hex in party_keys_at(doc, doc.get_heads())
    changes = [ChangeInfo.of(c) for c in doc.get_changes([])]
    lists = PartyLists(doc)
    for change in changes:
        expected = party_keys_at(doc, list(change.deps)) if change.deps else set()
        assert lists.at(change) == expected, change.hash.hex()
    assert len(changes) > 60 and lists.computed <= 12


def test_party_lists_stay_exact_across_every_kind_of_edit(make_party, tmp_path):
    """Items, activity status, a large (compressed) change, proposals accepted and rejected, a party
    added while others write concurrently: every change's operations are read, and the list used for
    each change is the list read at its dependencies."""
    _, a = make_party(tmp_path, "Alice")
    _, b = make_party(tmp_path, "Priya", "BT")
    c_id, c = make_party(tmp_path, "Colin", "Openreach")
    cid = shared_contract([a, b])

    def both() -> None:
        exchange(a, b, cid)
        exchange(b, a, cid)

    a.act(cid, actions.set_item, "symptom", "mail re-downloads")
    both()
    b.act(cid, actions.set_item, "severity", "degraded")
    b.act(cid, actions.change_status, "callback", "start")
    a.act(cid, actions.note, "x" * 600)
    both()
    b.act(cid, actions.change_status, "callback", "done", outcome="called back")
    added = b.act(cid, actions.add_activity, "Replace router", "supplier", None)
    both()
    a.act(cid, actions.answer, added.ref, True)
    later = b.act(cid, actions.propose, "change_due", {"id": "fix", "due": 1_768_000_000_000}, "later")
    both()
    a.act(cid, actions.answer, later.ref, False, "no")
    joining = a.act(cid, actions.add_party, c_id.key_hex, "Colin", "coordinator", "Openreach")
    both()
    b.act(cid, actions.note, "concurrent B")
    a.act(cid, actions.note, "concurrent A")
    both()
    b.act(cid, actions.answer, joining.ref, True)
    both()
    exchange(a, c, cid)
    c.act(cid, actions.note, "Colin here")
    exchange(c, a, cid)
    doc = a.document(cid)
    changes = [ChangeInfo.of(ch) for ch in doc.get_changes([])]
    assert all(decode_change(ch.bytes).ops for ch in changes)  # each is read, none assumed to alter the list
    lists = PartyLists(doc)
    for change in changes:
        assert lists.at(change) == (party_keys_at(doc, list(change.deps)) if change.deps else set())
    # The scenario reached what it is about: Colin wrote, as a party by then.
    assert changes[-1].actor_id == c_id.public_key and c_id.key_hex in party_keys_at(doc, list(changes[-1].deps))


def test_party_lists_read_again_after_every_change_they_cannot_decode(three):
    """A change whose operations are not understood counts as one that may alter the party list: the
    list is read again after it (never assumed unchanged), and every list is still the exact one."""
    ((_, alice), _, _), cid = three
    for i in range(6):
        alice.act(cid, actions.note, f"note {i}")
    doc = alice.document(cid)
    changes = [ChangeInfo.of(c) for c in doc.get_changes([])]

    def not_understood(change):
        raise ValueError("not understood")

    decoding, blind = PartyLists(doc), PartyLists(doc, not_understood)
    for change in changes:
        expected = party_keys_at(doc, list(change.deps)) if change.deps else set()
        assert decoding.at(change) == expected and blind.at(change) == expected
    assert blind.computed > decoding.computed + 5  # one read per change, against a few


def test_a_store_of_the_previous_version_is_migrated_on_open(three):
    ((ident, alice), _, _), cid = three
    texts = [e.text for e in alice.view(cid).timeline]
    rows = alice.store.changes_after(cid, 0)
    path = alice.store.path
    alice.close()
    db = sqlite3.connect(path)  # make it a version-1 store: signatures NOT NULL
    sql = db.execute("SELECT sql FROM sqlite_master WHERE name='changes'").fetchone()[0]
    db.executescript(
        "PRAGMA foreign_keys=OFF; BEGIN;"
        " DROP TRIGGER changes_are_append_only_u; DROP TRIGGER changes_are_append_only_d;"
        " DROP INDEX changes_by_actor; ALTER TABLE changes RENAME TO old;"
        f" {sql.replace('signature   BLOB,', 'signature   BLOB NOT NULL,')};"
        " INSERT INTO changes SELECT * FROM old; DROP TABLE old;"
        " CREATE INDEX changes_by_actor ON changes (contract_id, actor, seq);"
        " CREATE TRIGGER changes_are_append_only_u BEFORE UPDATE ON changes"
        " BEGIN SELECT RAISE(ABORT, 'signed changes are append-only'); END;"
        " CREATE TRIGGER changes_are_append_only_d BEFORE DELETE ON changes"
        " BEGIN SELECT RAISE(ABORT, 'signed changes are append-only'); END;"
        " PRAGMA user_version=1; COMMIT;")
    assert "NOT NULL" in db.execute("SELECT sql FROM sqlite_master WHERE name='changes'").fetchone()[0]
    db.close()
    reopened = Workspace(path.parent, ident, FixedClock())
    try:
        assert reopened.store.db.execute("PRAGMA user_version").fetchone()[0] == 2
        assert reopened.store.changes_after(cid, 0) == rows
        assert [e.text for e in reopened.view(cid).timeline] == texts
        reopened.store.add_change(cid, b"\x01" * 32, b"\x02" * 32, 1, b"x", None, 0)  # NULL is allowed now
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            reopened.store.db.execute("DELETE FROM changes")
    finally:
        reopened.close()


def test_author_heads_and_vouchers_follow_the_dependency_graph():
    """Synthetic histories: a fork by one author has two heads; a signature vouches only for its own
    author's ancestors, through other authors' changes too."""
    a, b = b"A" * 32, b"B" * 32
    c1 = ChangeLinks(b"1" * 32, a, [])
    c2 = ChangeLinks(b"2" * 32, b, [c1.hash])
    c3 = ChangeLinks(b"3" * 32, a, [c2.hash])  # A again, above B's change
    c4 = ChangeLinks(b"4" * 32, a, [c1.hash])  # A forks: concurrent with c2 and c3
    changes = [c1, c2, c3, c4]
    assert author_heads(changes) == [c2.hash, c3.hash, c4.hash]
    assert vouchers(changes, {c3.hash}) == {c1.hash: c3.hash}
    assert vouchers(changes, {c2.hash}) == {}  # B's signature vouches for none of A's changes
    assert vouchers(changes, {c4.hash}) == {c1.hash: c4.hash}


def test_head_signatures_find_every_author_head_when_the_shortcut_does_not_hold(three, monkeypatch):
    ((_, alice), _, _), cid = three
    alice.act(cid, actions.note, "latest")
    exact = alice.head_signatures(cid)
    oldest = {actor: h for actor, h, _ in [(r[2], r[1], 0) for r in reversed(alice.store.changes_after(cid, 0))]}
    monkeypatch.setattr(alice.store, "latest_by_author", lambda _cid: oldest)  # wrong candidates
    assert alice.head_signatures(cid) == exact
