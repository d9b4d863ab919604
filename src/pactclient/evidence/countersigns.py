"""Which countersignatures of an agreed version hold: by the party's own key or one of its certified
devices, over the version's heads."""

from __future__ import annotations

from pactclient.identity.device import verify_signature
from pactclient.model import agreements
from pactclient.model.views import ContractView


def _unhex(text: str) -> bytes | None:
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def valid_countersignatures(view: ContractView, version: agreements.AgreedVersion,
                            heads: list[bytes]) -> list[agreements.Countersignature]:
    """The countersignatures of ``version`` that verify; others (a wrong key, heads or signature) are left out."""
    if not heads:
        return []
    message = agreements.agreement_message(view.id, version.proposal_id, heads)
    wanted_heads = tuple(sorted(h.hex() for h in heads))
    out: list[agreements.Countersignature] = []
    for c in version.countersignatures:
        if any(o.party == c.party for o in out):
            continue  # one countersignature per party; its later ones are redundant
        party = view.parties.get(c.party)
        key, signature = _unhex(c.key), _unhex(c.signature)
        device = view.devices.get(c.key)
        by_party = bool(party and party.key) and (c.key == party.key or (device is not None and device.party == c.party))
        if not by_party or c.party not in version.required:
            continue
        if tuple(sorted(c.heads)) != wanted_heads or key is None or signature is None:
            continue
        if verify_signature(key, signature, message):
            out.append(c)
    return out
