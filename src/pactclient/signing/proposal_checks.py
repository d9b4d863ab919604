"""Permissions on receipt for proposals and answers: the part of ``permissions.PermissionChecker`` that
judges writes under ``/proposals``.

A proposal is made once, by the party its id names, with no answers, asking exactly the parties the
model computes from the terms at the change's dependencies, and fitting those terms. An answer is made
once, by a party the proposal asks, for itself; an acceptance only while the proposal still fits the
terms and asks every party who must agree there. "Once" is read at the change's dependencies: the
bindings show one object per key, so a second proposal or answer under a key would hide the first
from every reader, including this checker, which otherwise reads the present document.
"""

from __future__ import annotations

from dataclasses import dataclass

from automerge.core import ObjType

from pactclient.errors import PactError
from pactclient.model import rules
from pactclient.model.amdoc import materialize
from pactclient.model.schema import PROPOSAL_KINDS, misfit_field
from pactclient.model.terms import check_fits
from pactclient.signing.change_ops import MAKE_MAP, SET, value_of
from pactclient.signing.terms_history import Terms


@dataclass(frozen=True)
class Refusal:
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{rules.rule_text(self.rule)}: {self.detail}"


class ProposalChecks:
    """Mixed into ``PermissionChecker``, whose ``doc``, ``_sections`` and ``_history`` it reads."""

    def _check_proposal_write(self, op, path: tuple, terms: Terms, writer: str, proposals: list[str],
                              answers: dict) -> Refusal | None:
        proposal_id = path[1]
        new = proposal_id in proposals
        if len(path) == 2:
            if op.action != MAKE_MAP or proposal_id in terms.proposal_ids or new:
                return Refusal("proposal-fixed", f"it rewrites or removes proposal {proposal_id!r}")
            if not rules.proposal_id_names(proposal_id, writer):
                return Refusal("proposal-id", f"{writer or 'the writer'} makes proposal {proposal_id!r}, an id that "
                                              f"does not name it (p-{writer}-<hex>)")
            proposals.append(proposal_id)
            return None
        if path[2] == "answers" and len(path) >= 4:
            if new:
                return Refusal("own-answers", f"proposal {proposal_id!r} is made with answers already in it")
            if path[3] != writer:
                return Refusal("own-answers", f"{writer or 'the writer'} writes the answer of {path[3]!r} to {proposal_id!r}")
            if (proposal_id, writer) in terms.answered:
                return Refusal("own-answers", f"{writer} has already answered {proposal_id!r}; an answer is final")
            if len(path) == 4 and op.action != MAKE_MAP:
                return Refusal("own-answers", f"{writer}'s answer to {proposal_id!r} is not a record")
            if path[4:] == ("answer",) and op.action == SET:
                answers.setdefault(proposal_id, [None, None])[0] = value_of(op)
            elif len(path) == 4:
                answers[proposal_id] = [None, op.obj]
            return None
        if not new:
            return Refusal("proposal-fixed", f"it changes proposal {proposal_id!r} after it was made")
        return None

    def _check_new_proposal(self, change, deps: tuple, proposal_id: str, terms: Terms, writer: str) -> Refusal | None:
        raw = self._history.proposal_made_by(proposal_id, change.actor_id, change.start_op, change.max_op)
        if raw is None:  # not the proposal visible now (lost a conflict): read it as this change left it
            got = self.doc.get(self._sections["proposals"], proposal_id, [change.hash])
            raw = materialize(self.doc, got[1], [change.hash]) if got is not None and isinstance(got[0], ObjType) else {}
        if raw.get("proposer") != writer:
            return Refusal("writer-named", f"proposal {proposal_id!r} names {raw.get('proposer')!r} as proposer, not {writer!r}")
        if raw.get("answers"):
            return Refusal("own-answers", f"proposal {proposal_id!r} is made with answers already in it")
        misfit = misfit_field(raw)
        if misfit is not None:
            return Refusal("well-formed", f"proposal {proposal_id!r} has a {misfit!r} of the wrong type")
        kind, payload = raw.get("kind"), raw.get("payload")
        if kind not in PROPOSAL_KINDS or not isinstance(payload, dict):
            return Refusal("proposal-fits", f"proposal {proposal_id!r} is of no known kind, or has no payload")
        try:
            check_fits(terms, kind, payload)
        except PactError as exc:
            return Refusal("proposal-fits", f"proposal {proposal_id!r}: {exc}")
        if kind == "replace_key" and payload.get("id") != writer:
            return Refusal("proposal-fits", f"proposal {proposal_id!r} replaces the key of {payload.get('id')!r}; "
                                            "a party replaces only its own key")
        expected = rules.required_answers(terms.parties, writer, kind, payload)
        if list(raw.get("required") or []) != expected:
            return Refusal("proposal-required", f"proposal {proposal_id!r} asks {raw.get('required')!r}, not {expected!r}")
        return None

    def _answers_of(self, proposal_id: str) -> bytes | None:
        """The bindings' id of a proposal's answers map (a proposal is made once, so this is the one)."""
        got = self.doc.get(self._sections["proposals"], proposal_id) if "proposals" in self._sections else None
        inner = self.doc.get(got[1], "answers") if got is not None and isinstance(got[0], ObjType) else None
        return inner[1] if inner is not None and isinstance(inner[0], ObjType) else None

    def _existed(self, parent: bytes | None, key: str, deps: tuple) -> bool:
        """Whether ``parent`` held anything under ``key`` at ``deps``."""
        if parent is None:
            return False
        try:
            return self.doc.get(parent, key, list(deps)) is not None
        except Exception:  # ``parent`` itself is not among those heads' objects
            return False

    def _check_answer(self, proposal_id: str, given, terms: Terms, writer: str) -> Refusal | None:
        """An answer is one of the two words, by a party the proposal asks; an acceptance, moreover,
        only while the proposal still fits the terms at the answer's dependencies and still asks
        exactly the parties who must agree there (a party added since must be asked anew)."""
        found = self._history.proposal(proposal_id)
        if found is None:
            return Refusal("own-answers", f"it answers {proposal_id!r}, which no change among its ancestors made")
        if given not in ("accept", "reject"):
            return Refusal("own-answers", f"{writer}'s answer to {proposal_id!r} is neither accept nor reject")
        required = list(found.get("required") or [])
        if writer not in required or writer == found.get("proposer"):
            return Refusal("own-answers", f"{proposal_id!r} does not ask {writer} for an answer")
        if given != "accept":
            return None
        kind, payload = found.get("kind", ""), found.get("payload") or {}
        expected = rules.required_answers(terms.parties, found.get("proposer", ""), kind, payload)
        if required != expected:
            return Refusal("answer-fits", f"{proposal_id!r} asks {required!r}, but at this answer the parties who "
                                          f"must agree are {expected!r}")
        try:
            check_fits(terms, kind, payload)
        except PactError as exc:
            return Refusal("answer-fits", f"{proposal_id!r} no longer fits the terms: {exc}")
        return None
