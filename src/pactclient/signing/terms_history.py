"""The terms in force at any change of a document, read without reading the document's past.

Reading a document at past heads costs about 1 ms per read on a 10,000-change document (the bindings
rebuild a clock for each read), and the terms take a hundred reads. ``TermsHistory`` reads the present
document once and a vector clock per change instead. This is exact because the rules
(``pactclient.signing.permissions``) keep what decides the terms immutable once written: the base terms
are written only by the first change, a proposal only when it is made, an answer only once. So the
document at a clock holds exactly the proposals and answers whose making op that clock has seen.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass

from automerge.core import Document, ObjType

from pactclient.model.amdoc import materialize, obj_key, scalar
from pactclient.model.terms import terms_in_force

TERM_SECTIONS = ("parties", "items", "activities")
ObjKey = tuple[bytes, int]


@dataclass
class Terms:
    parties: dict[str, dict]
    items: dict[str, dict]
    activities: dict[str, dict]
    proposal_ids: frozenset[str]
    by_key: dict[str, str]  # hex key -> party id: each party's current key, and its certified devices
    answered: frozenset[tuple[str, str]]  # (proposal id, party) of every answer given
    devices: dict[str, str] = None  # type: ignore[assignment]  # certified, unrevoked device key -> party id


class TermsHistory:
    def __init__(self, doc: Document, sections: dict[str, bytes]):
        self.doc = doc
        self.sections = sections  # root section name -> object id
        self._present_cache: tuple[dict, dict] | None = None
        self._devices_cache: tuple[dict, list] | None = None
        self._clocks: dict[bytes, dict[bytes, int]] | None = None
        self._by_actor: dict[bytes, tuple[list[int], list]] = {}

    def at_clock(self, clock: dict[bytes, int] | None) -> Terms:
        """The terms in force at a document state given by its clock (None: now): an op (actor, n) is
        part of that state when ``n <= clock[actor]``."""
        base, proposals = self._present()
        raw = dict(base)
        raw["proposals"] = {}
        stamps = {}
        for pid, (made_by, content, answers) in proposals.items():
            if clock is not None and made_by[1] > clock.get(made_by[0], 0):
                continue
            one = dict(content)
            seen = {party: (made, answer) for party, (made, answer) in answers.items()
                    if clock is None or made[1] <= clock.get(made[0], 0)}
            one["answers"] = {party: answer for party, (made, answer) in seen.items()}
            raw["proposals"][pid] = one
            stamps[pid] = ((made_by[1], made_by[0]), {party: (made[1], made[0]) for party, (made, _) in seen.items()})
        t = terms_in_force(raw, stamps)
        by_key = {p["key"]: pid for pid, p in t.parties.items() if p.get("key")}
        answered = frozenset((pid, party) for pid, p in raw["proposals"].items() for party in p["answers"])
        devices = self._devices_at(clock, by_key)
        for device, pid in devices.items():
            by_key.setdefault(device, pid)
        return Terms(t.parties, t.items, t.activities, frozenset(raw["proposals"]), by_key, answered, devices)

    def _devices_at(self, clock: dict[bytes, int] | None, party_keys: dict[str, str]) -> dict[str, str]:
        """Devices certified at ``clock`` by a party's key in force there, and not revoked there."""
        records, revoked = self._present_devices()
        seen = (lambda made: True) if clock is None else (lambda made: made[1] <= clock.get(made[0], 0))
        gone = {(device, party_key) for device, made, party_key in revoked if seen(made)}
        out = {}
        for device, (made, party_key) in records.items():
            pid = party_keys.get(party_key)
            if pid is not None and (device, party_key) not in gone and seen(made):
                out[device] = pid
        return out

    def _present_devices(self) -> tuple[dict, list]:
        """{device: (id of its record, the party key that certified it)} and [(device, id of a
        revocation, the party key that signed it)].
        Read once: records are written once and never changed (the rules see to it), so the document at
        a clock holds exactly those whose making op the clock has seen."""
        if self._devices_cache is None:
            self._devices_cache = read_device_records(self.doc, self.sections)
        return self._devices_cache

    def proposal(self, proposal_id: str) -> dict | None:
        """A proposal's content as it was made (never changed after), without its answers."""
        found = self._present()[1].get(proposal_id)
        return found[1] if found is not None else None

    def proposal_made_by(self, proposal_id: str, actor: bytes, start_op: int, max_op: int) -> dict | None:
        """The proposal as the change that made it left it — if its object was made by the ops
        ``start_op..max_op`` of ``actor`` (that change) — else None. Read from the present: a
        proposal's content never changes once made."""
        found = self._present()[1].get(proposal_id)
        if found is None:
            return None
        (made_actor, counter), content, answers = found
        if made_actor != actor or not start_op <= counter <= max_op:
            return None
        mine = {party: answer for party, ((by, n), answer) in answers.items() if by == actor and start_op <= n <= max_op}
        return {**content, "answers": mine}  # answers given later are not part of it

    def _present(self) -> tuple[dict, dict]:
        """Base terms, and each proposal as (id of its object, content, {party: (answer's id, answer)})."""
        if self._present_cache is None:
            doc = self.doc
            base = {}
            for section in TERM_SECTIONS:
                obj = self.sections.get(section)
                base[section] = materialize(doc, obj) if obj is not None else {}
            proposals = {}
            parent = self.sections.get("proposals")
            for pid in doc.keys(parent) if parent is not None else ():
                got = doc.get(parent, pid)
                if got is None or not isinstance(got[0], ObjType):
                    continue
                content = materialize(doc, got[1])
                answers = {}
                answers_obj = doc.get(got[1], "answers")
                if answers_obj is not None and isinstance(answers_obj[0], ObjType):
                    for party in doc.keys(answers_obj[1]):
                        one = doc.get(answers_obj[1], party)
                        if one is not None and isinstance(one[0], ObjType):
                            answers[party] = (obj_key(one[1]), materialize(doc, one[1]))
                content.pop("answers", None)
                proposals[pid] = (obj_key(got[1]), content, answers)
            self._present_cache = (base, proposals)
        return self._present_cache

    def clock_at(self, deps: tuple) -> dict[bytes, int]:
        """For each author, the last op counter among the changes before ``deps`` (them included)."""
        if self._clocks is None:
            self._read_changes()
        return _merge([self._clocks[d] for d in deps])

    def change_with_op(self, op_id: tuple[bytes, int]):
        """The change holding op ``(actor, counter)``, or None."""
        if self._clocks is None:
            self._read_changes()
        actor, counter = op_id
        starts, changes = self._by_actor.get(actor, ([], []))
        i = bisect.bisect_right(starts, counter) - 1
        if i < 0 or counter > changes[i].max_op:
            return None
        return changes[i]

    def _read_changes(self) -> None:
        """One pass over every change: its clock, and each author's changes by first op counter."""
        clocks: dict[bytes, dict[bytes, int]] = {}
        by_actor: dict[bytes, tuple[list[int], list]] = {}
        for ch in self.doc.get_changes([]):
            ch_deps, actor = ch.deps, ch.actor_id
            if len(ch_deps) == 1:
                clock = dict(clocks[ch_deps[0]])
            else:
                clock = _merge([clocks[d] for d in ch_deps])
            clock[actor] = ch.max_op
            clocks[ch.hash] = clock
            starts, changes = by_actor.setdefault(actor, ([], []))
            starts.append(ch.start_op)
            changes.append(ch)
        for starts, changes in by_actor.values():
            order = sorted(range(len(starts)), key=starts.__getitem__)
            starts[:] = [starts[i] for i in order]
            changes[:] = [changes[i] for i in order]
        self._clocks, self._by_actor = clocks, by_actor


def read_device_records(doc: Document, sections: dict[str, bytes], heads: list[bytes] | None = None) -> tuple[dict, list]:
    """From ``devices`` and ``revocations`` (at ``heads``, default now): {device: (record id, party key
    named by its delegation)} and [(device, revocation record id, party key that signed it)].
    Statements are parsed, not verified: admission verified each when the change that wrote it came
    in. A revocation counts only against a device its own party key certified: a party cannot
    revoke another's device."""
    records, revoked = {}, []
    for section in ("devices", "revocations"):
        obj = sections.get(section)
        if obj is None:
            continue
        for name in doc.keys(obj, heads):
            got = doc.get(obj, name, heads)
            if got is None or not isinstance(got[0], ObjType):
                continue
            try:
                party_key = json.loads(scalar(doc, got[1], "statement", heads))["party_key"]
            except (TypeError, ValueError, KeyError):
                continue
            if not isinstance(party_key, str):
                continue
            if section == "revocations":
                revoked.append((name.split(".")[0], obj_key(got[1]), party_key))
            else:
                records[name] = (obj_key(got[1]), party_key)
    return records, revoked


def _merge(clocks: list[dict[bytes, int]]) -> dict[bytes, int]:
    out: dict[bytes, int] = {}
    for clock in clocks:
        for actor, n in clock.items():
            if n > out.get(actor, 0):
                out[actor] = n
    return out
