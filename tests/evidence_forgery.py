"""Forged evidence files for tests: bodies a dishonest exporter could sign (see docs/evidence.md).

Re-signing with the exporter's own key makes the exporter's signature hold, so only the checks of
what is inside the body can catch the lie.
"""

from __future__ import annotations

from automerge.core import ROOT, Document, ScalarType

from pactclient.evidence import encode, fileformat
from pactclient.identity import DeviceIdentity
from pactclient.signing.changes import sign_change
from pactclient.store import Workspace


def body_of(workspace: Workspace, contract_id: str) -> dict:
    """The decoded body of a genuine export."""
    return fileformat.decode_body(fileformat.unpack(encode(workspace, contract_id)).body)


def resign(body: dict, identity_or_key, public: bytes | None = None) -> bytes:
    """An evidence file for ``body`` whose exporter's signature verifies."""
    if isinstance(identity_or_key, DeviceIdentity):
        return fileformat.pack(fileformat.canonical(body), identity_or_key.public_key, identity_or_key.sign)
    return fileformat.pack(fileformat.canonical(body), public, identity_or_key.sign)


def forge(body: dict, actor: bytes, signer: DeviceIdentity, write=None) -> dict:
    """``body`` with one more change, ``write(tx)`` (default: a claim that BT admits everything),
    written under actor id ``actor`` and signed by ``signer``."""
    doc = Document.load(body["document"])
    doc.set_actor(actor)
    before = doc.get_heads()
    with doc.transaction() as tx:
        if write is None:
            tx.put(ROOT, "forged", ScalarType.Str, "BT admits everything")
        else:
            write(tx)
    (forged,) = doc.get_changes(before)
    return dict(body, document=doc.save(), heads=sorted(doc.get_heads()),
                signatures=sorted(body["signatures"] + [[forged.hash, sign_change(signer, forged.hash)]]))
