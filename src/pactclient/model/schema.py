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
    finished    {activity_id: {status (done | cancelled), at, by}}    written once, when the activity finishes
    proposals   {proposal_id: {kind, payload, rationale, proposer, created_at, required, answers}}
    timeline    [{kind, author, at, text, ref}]
    devices     {device_key: {statement, signature, at}}       schema 3: a device's delegation, written once,
                by that device itself (see ``identity.delegation``)
    revocations {"<device_key>.<writer_key>": {statement, signature, after_op, at}}   schema 3: a party key's
                revocation of one of its devices, written once by each device that carries it
    owner       {party_id: {device, at, by}}                    schema 3: the person (device key) of that party
                who owns the problem now; rewritten by the party's own devices on a hand-over

Times are integers: milliseconds since the Unix epoch, UTC. Keys are lowercase hex Ed25519 public keys.
``parties``, ``items`` and ``activities`` are the terms as first written; the terms in force are
those plus every applied proposal (see ``pactclient.model.terms``).
"""

from __future__ import annotations

from automerge.core import ROOT, Document, ObjType

from pactclient.errors import SchemaError
from pactclient.model.amdoc import scalar

SCHEMA_VERSION = 3  # 3: devices certified by party keys, revocations, a problem owner per party
LEGACY_SCHEMA = 2  # 2: proposal ids name their proposer, no draft shortcut, well-formed changes (one key a party)
# The root's sections and the kind of object each must be: a reader relies on these before any other
# field (a timeline that is a number would otherwise surface much later, where it is read).
_MAP, _LIST = ObjType.Map, ObjType.List
SECTIONS = {"contract": _MAP, "parties": _MAP, "items": _MAP, "activities": _MAP, "values": _MAP,
            "progress": _MAP, "finished": _MAP, "proposals": _MAP, "timeline": _LIST,
            "devices": _MAP, "revocations": _MAP, "owner": _MAP}

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
    if version < LEGACY_SCHEMA:
        raise SchemaError(
            f"this contract uses schema {version}, made by an earlier pact whose rules a party could get around "
            "(see docs/model.md); it cannot be read as agreed: start it again"
        )
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"this contract uses schema {version}, newer than this pact understands ({SCHEMA_VERSION}); upgrade pact"
        )


def check_sections(doc: Document) -> None:
    """Refuse a document whose root sections are not the kind of object the model reads them as."""
    for name, kind in SECTIONS.items():
        got = doc.get(ROOT, name)
        if got is not None and (not isinstance(got[0], ObjType) or doc.object_type(got[1]) != kind):
            raise SchemaError(f"not a readable contract: its {name} is not a {'list' if kind == _LIST else 'map'}")


# -- the type of every field the model writes (checked on receipt: a wrong type is refused) -----------

_INT, _STR = "int", "str"
FIELD_TYPES = {
    **{k: _STR for k in ("id", "title", "detail", "assignee", "problem_owner", "label", "owner", "currency",
                         "name", "org", "role", "key", "rationale", "proposer", "author", "text", "ref",
                         "set_by", "owed_by", "owed_to", "waiting_on", "outcome", "updated_by", "signature",
                         "answer", "reason", "by", "statement", "device")},
    **{k: _INT for k in ("created_at", "added_at", "position", "at", "set_at", "updated_at", "done_at", "amount",
                         "after_op")},
    "due": "int or null",
    "value": "text or number",
    "status": "status",
    "depends_on": "list of text", "choices": "list of text", "required": "list of text", "heads": "list of text",
    "fields": "map", "payload": "map", "answers": "map of records",
}
SCALAR_TYPES = (_STR, _INT, "int or null", "text or number", "status")


def fits_type(name: str, value) -> bool:
    """Whether ``value`` has the type the model gives field ``name``; fields the model does not know
    may hold any scalar."""
    want = FIELD_TYPES.get(name)
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if want is None:
        return value is None or isinstance(value, (str, int, float))
    if want == _STR:
        return isinstance(value, str)
    if want == _INT:
        return is_int
    if want == "int or null":
        return value is None or is_int
    if want == "text or number":
        return isinstance(value, (str, float)) or is_int
    if want == "status":
        return value in STATUSES
    if want == "map":
        return isinstance(value, dict) and all(fits_type(k, v) for k, v in value.items())
    if want == "map of records":
        return isinstance(value, dict) and all(isinstance(v, dict) and misfit_field(v) is None for v in value.values())
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def misfit_field(record: dict) -> str | None:
    """The first field of ``record`` (a proposal, a value, a progress record, a timeline entry) whose
    type is not the one the model writes, or None."""
    for name, value in record.items():
        if not fits_type(name, value):
            return name
    return None
