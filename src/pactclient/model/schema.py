"""The shape of a contract document and its version.

Root map of every contract document (schema 1)::

    schema      int                     SCHEMA_VERSION of the writer that created the document
    contract    {id, title, template, created_at, created_by}
    parties     {party_id: {name, org, role, key, added_at}}          base terms (written at creation);
                the terms in force add ``former_keys`` (keys replaced by replace_key proposals)
    items       {item_id: {label, kind, owner, choices, currency, position}}  base terms
    activities  {activity_id: {title, detail, assignee, problem_owner, due, depends_on, created_at}}
    values      {item_id: {value | amount, currency, owed_by, owed_to, set_by, set_at}}
    progress    {activity_id: {status, waiting_on, outcome, problem_owner, updated_at, updated_by, done_at}}
    proposals   {proposal_id: {kind, payload, rationale, proposer, created_at, required, answers}}
    timeline    [{kind, author, at, text, ref}]

Times are integers: milliseconds since the Unix epoch, UTC. Keys are lowercase hex Ed25519 public keys.
``parties``, ``items`` and ``activities`` are the terms as first written; the terms in force are
those plus every applied proposal (see ``pactclient.model.terms``).
"""

from __future__ import annotations

from automerge.core import ROOT, Document

from pactclient.errors import SchemaError
from pactclient.model.amdoc import scalar

SCHEMA_VERSION = 1

ROLES = ("customer", "supplier", "coordinator", "observer")
ITEM_KINDS = ("text", "number", "date", "choice", "money")
STATUSES = ("open", "in_progress", "waiting", "done", "cancelled")
FINISHED = ("done", "cancelled")
TIMELINE_KINDS = ("message", "decision", "event")
PROPOSAL_KINDS = (
    "add_activity",
    "change_activity",
    "remove_activity",
    "change_due",
    "change_assignee",
    "add_item",
    "change_item",
    "remove_item",
    "add_party",
    "replace_key",
)


def check_schema(doc: Document) -> None:
    """Refuse a document this version cannot read correctly."""
    version = scalar(doc, ROOT, "schema")
    if version is None:
        raise SchemaError("not a pact contract document (no schema version)")
    if not isinstance(version, int) or version < 1:
        raise SchemaError(f"unknown contract schema {version!r}")
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"this contract uses schema {version}, newer than this pact understands ({SCHEMA_VERSION}); upgrade pact"
        )
