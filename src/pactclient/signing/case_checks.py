"""Permissions on receipt for case entries (``model.case_entries``): the customer's effort, links to
earlier cases, known faults, complaints and their answers, and no money claimed by an entry.

``PermissionChecker`` collects the fields of every timeline entry a change makes; here each is judged
with the model's own ``entry_problem`` against the terms in force at the change's dependencies (who is
a customer or a supplier, which activities exist and who owns their escalation) — the same predicate
the model applies before writing, so a local edit and a received one meet one rule.
"""

from __future__ import annotations

from pactclient.model.case_entries import entry_problem
from pactclient.signing.proposal_checks import Refusal
from pactclient.signing.terms_history import Terms


def check_entries(entries, terms: Terms, writer: str, contract_id: str) -> Refusal | None:
    """The first rule a new timeline entry among ``entries`` (dicts of the fields written) breaks."""
    for fields in entries:
        if not isinstance(fields, dict):
            continue
        problem = entry_problem(fields, writer, terms.parties, terms.activities, contract_id)
        if problem is not None:
            return Refusal(*problem)
    return None
