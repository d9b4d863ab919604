"""Homes and contracts made before devices existed keep working.

``tests/data/v2-homes.tar.gz`` holds two homes written by pact at commit 02f9c10 (one key per home, a
schema 2 contract between Alice and Priya of BT with a few signed changes each). Opened by this
version: the key of each home is its party key, the contract reads and takes new changes on both
sides, and its evidence verifies. A device certified later by Alice's old key writes in new
contracts; the old contract tells it plainly that only the key that joined it writes there.
"""

from __future__ import annotations

import tarfile

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pactclient import catalog
from pactclient.errors import RefusedOperation
from pactclient.evidence import encode, verify_bytes
from pactclient.identity import DeviceIdentity
from pactclient.identity.party import certify, paired_home, raw_public
from pactclient.model import actions
from pactclient.store import Workspace

from conftest import FixedClock, exchange

DATA = __import__("pathlib").Path(__file__).parent / "data" / "v2-homes.tar.gz"
CID = "1d6fe9cbe98046398337334d97d87d22"


@pytest.fixture
def old_homes(tmp_path):
    with tarfile.open(DATA) as tar:
        tar.extractall(tmp_path, filter="tar")
    made = {name: Workspace(tmp_path / name, DeviceIdentity.load(tmp_path / name), FixedClock(now=1_767_700_000_000))
            for name in ("alice", "priya")}
    yield tmp_path, made
    for ws in made.values():
        ws.close()


def test_an_old_home_is_a_party_of_one_key(old_homes):
    _, homes = old_homes
    alice = homes["alice"].identity
    assert alice.party_key == alice.public_key and alice.party_signer is not None and alice.delegation is None


def test_an_old_contract_reads_takes_changes_and_verifies(old_homes):
    _, homes = old_homes
    alice, priya = homes["alice"], homes["priya"]
    view = alice.view(CID)
    assert view.schema == 2 and view.agreed() and view.items["severity"].value == "degraded"
    assert [e.text for e in view.timeline if e.kind == "message"] == ["Mail re-downloads every hour"]
    priya.act(CID, actions.note, "Engineer booked")
    alice.act(CID, actions.note, "Thanks")
    exchange(priya, alice, CID)
    exchange(alice, priya, CID)
    assert sorted(alice.document(CID).get_heads()) == sorted(priya.document(CID).get_heads())
    assert alice.view(CID).problem_owner() is None  # schema 2 has no owner section: nothing invented
    verdict = verify_bytes(encode(alice, CID))
    assert verdict.valid, verdict.failures


def test_a_device_paired_later_writes_new_contracts_not_old_ones(old_homes):
    base, homes = old_homes
    alice, priya = homes["alice"], homes["priya"]
    key = Ed25519PrivateKey.generate()
    delegation, cert = certify(alice.identity, raw_public(key), "Alice", "phone", 1_767_700_000_000)
    phone = Workspace(base / "phone", paired_home(base / "phone", key, delegation, cert), FixedClock(now=1_767_700_000_000))
    try:
        exchange(alice, phone, CID)
        assert phone.view(CID).party_by_key(phone.identity.party_key_hex).id == "customer"
        with pytest.raises(RefusedOperation, match="schema 2"):
            phone.act(CID, actions.note, "from my phone")
        # A new contract (schema 3) with Priya's old home: the phone writes for Alice there.
        cid = priya.create("After the upgrade", catalog.load("broadband-fault"), "supplier")
        priya.act(cid, actions.add_party, alice.identity.party_key_hex, "Alice", "customer", "")
        exchange(priya, phone, cid)
        phone.act(cid, actions.accept_terms)
        phone.act(cid, actions.note, "from my phone")
        exchange(phone, priya, cid)
        exchange(priya, alice, cid)
        view = alice.view(cid)
        assert view.agreed()
        assert (view.timeline[-1].text, view.timeline[-1].author, view.timeline[-1].person) == ("from my phone", "customer", "Alice")
    finally:
        phone.close()
