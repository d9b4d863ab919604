"""One function per user action. Each validates against the current view, then writes exactly one
Automerge transaction (so one signed change) and returns what happened.

The caller passes an ``Actor``: the device key writing and the current time (and a cache for reading
the document). Nothing here reads a clock or touches the disk.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from automerge.core import ROOT, Document

from pactclient.errors import RefusedOperation, UsageError
from pactclient.model import rules
from pactclient.model.case_rules import template_rules
from pactclient.model.amdoc import ReadCache, child, materialize, proposal_stamps, put_value
from pactclient.model.money import format_debt, parse_amount
from pactclient.model.currencies import currency_of_new_amount
from pactclient.model.item_values import parse_number
from pactclient.model.proposal_input import checked_payload
from pactclient.model.schema import FINISHED, ITEM_KINDS, PROPOSAL_KINDS, SCHEMA_VERSION
from pactclient.model.terms import check_fits, terms_in_force
from pactclient.model.reading import signer_keys, timeline_grew, view_of  # noqa: F401  (imported from here)
from pactclient.model.views import ContractView, Party

HOUR_MS = 3600 * 1000


@dataclass(frozen=True)
class Actor:
    key: str  # hex Ed25519 public key of the writing device
    now: int  # ms since epoch
    cache: ReadCache | None = field(default=None, compare=False)  # speeds up reading the document
    party_key: str = ""  # hex key of the party it writes for, when that is not ``key`` itself
    delegation: dict | None = field(default=None, compare=False)  # {statement, signature} certifying ``key``

    @property
    def writes_as(self) -> str:
        """The key contracts name for this actor's party."""
        return self.party_key or self.key


@dataclass(frozen=True)
class Outcome:
    """What an action did, for the CLI and UI to report."""

    message: str
    ref: str = ""  # id of the activity, item or proposal concerned
    applied: bool = True  # for term changes: applied at once (False: waiting for other parties)


def fmt_time(ms: int | None) -> str:
    if ms is None:
        return "no deadline"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:32].strip("-") or "x"


def _unique(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _me(view: ContractView, actor: Actor) -> Party:
    party = view.party_by_key(actor.key) or (view.party_by_key(actor.party_key) if actor.party_key else None)
    if party is None:
        raise RefusedOperation("this device is not a party of the contract")
    return party


def _event(tx, author: str, at: int, text: str, kind: str = "event", ref: str = "") -> None:
    timeline = child(tx, ROOT, "timeline")
    put_value(tx, timeline, tx.length(timeline), {"kind": kind, "author": author, "at": at, "text": text, "ref": ref}, insert=True)


# -- creation ------------------------------------------------------------------------------------


def create_contract(
    doc: Document,
    actor: Actor,
    contract_id: str,
    title: str,
    template: dict,
    my_role: str | None,
    my_name: str,
    my_org: str,
) -> Outcome:
    """Write a new contract from a template into an empty document."""
    if doc.keys(ROOT):
        raise RefusedOperation("document is not empty")
    if not title.strip():
        raise UsageError("a contract needs a title")
    parties: dict[str, dict] = {}
    for p in template.get("parties", []):
        role = p["role"]
        pid = _unique(slug(p.get("id", role)), set(parties))
        parties[pid] = {"name": p.get("name", ""), "org": p.get("org", ""), "role": role, "key": "", "added_at": actor.now}
    if not parties:
        parties["customer"] = {"name": "", "org": "", "role": "customer", "key": "", "added_at": actor.now}
        parties["supplier"] = {"name": "", "org": "", "role": "supplier", "key": "", "added_at": actor.now}
    mine = my_role or next(iter(parties.values()))["role"]
    me = next((pid for pid, p in parties.items() if p["role"] == mine or pid == mine), None)
    if me is None:
        roles = ", ".join(sorted({p["role"] for p in parties.values()}))
        raise UsageError(f"the template has no role {mine!r}; choose one of: {roles}")
    parties[me].update(name=my_name, org=my_org or parties[me]["org"], key=actor.writes_as)

    role_to_pid = {p["role"]: pid for pid, p in parties.items()}
    role_to_pid.update({pid: pid for pid in parties})
    items = {}
    for position, it in enumerate(template.get("items", [])):
        iid = slug(it["id"])
        kind = it.get("kind", "text")
        if kind not in ITEM_KINDS:
            raise UsageError(f"template item {iid!r} has unknown kind {kind!r}")
        items[iid] = {
            "label": it.get("label", iid),
            "kind": kind,
            "owner": role_to_pid.get(it.get("owner", ""), me),
            "choices": list(it.get("choices", [])),
            "currency": it.get("currency", ""),
            "position": position,
        }
    activities = {}
    for a in template.get("activities", []):
        aid = slug(a["id"])
        due_in = a.get("due_in")
        activities[aid] = {
            "title": a.get("title", aid),
            "detail": a.get("detail", ""),
            "assignee": role_to_pid.get(a.get("assignee", ""), me),
            "problem_owner": a.get("problem_owner", ""),
            "due": actor.now + parse_duration(due_in) if due_in else None,
            "depends_on": [slug(d) for d in a.get("depends_on", [])],
            "created_at": actor.now, **template_rules(a, role_to_pid),  # what breaking it triggers
        }
    with doc.transaction() as tx:
        tx.put(ROOT, "schema", *_int(SCHEMA_VERSION))
        put_value(tx, ROOT, "contract", {
            "id": contract_id,
            "title": title.strip(),
            "template": template.get("name", ""),
            "created_at": actor.now,
            "created_by": me,
        })
        put_value(tx, ROOT, "parties", parties)
        put_value(tx, ROOT, "items", items)
        put_value(tx, ROOT, "activities", activities)
        for name in ("values", "progress", "finished", "proposals", "devices", "revocations", "owner"):
            put_value(tx, ROOT, name, {})
        put_value(tx, ROOT, "timeline", [])
        if actor.delegation is not None:  # the creating device, certified by the creator's party key
            put_value(tx, child(tx, ROOT, "devices"), actor.key, {**actor.delegation, "at": actor.now})
        if parties[me]["role"] != "customer":
            put_value(tx, child(tx, ROOT, "owner"), me, {"device": actor.key, "at": actor.now, "by": actor.key})
        label = my_org or my_name
        _event(tx, me, actor.now, f"{label} opened the contract {title.strip()!r}" + (f" from template {template.get('name')}" if template.get("name") else ""))
    return Outcome(f"created {title.strip()!r}", ref=contract_id)


def _int(v: int):
    from automerge.core import ScalarType

    return ScalarType.Int, v


def parse_duration(text: str | int | None) -> int:
    """'24h', '3d', '90m', '2w' -> milliseconds."""
    if isinstance(text, int):
        return text * HOUR_MS
    m = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", str(text or ""))
    if not m:
        raise UsageError(f"not a duration: {text!r} (use e.g. 90m, 24h, 3d, 2w)")
    n, unit = int(m.group(1)), m.group(2)
    return n * {"m": 60_000, "h": HOUR_MS, "d": 24 * HOUR_MS, "w": 7 * 24 * HOUR_MS}[unit]


# -- renegotiation ---------------------------------------------------------------------------------


def propose(doc: Document, actor: Actor, kind: str, payload: dict, rationale: str = "") -> Outcome:
    """Propose a change to the terms. It applies at once while this party is the only one with a key
    (the creator setting the contract up); otherwise every party with a key must accept it."""
    view = view_of(doc, actor.now, actor.cache)
    me = _me(view, actor)
    if kind not in PROPOSAL_KINDS:
        raise UsageError(f"unknown kind of proposal {kind!r}; one of: {', '.join(PROPOSAL_KINDS)}")
    if kind == "replace_key" and payload.get("id") != me.id:
        raise RefusedOperation("a party replaces only its own device key (signed by the key it replaces)")
    payload = checked_payload(kind, payload, view.parties)  # names a typed proposal must have (proposal_input.py)
    raw = materialize(doc, skip=("timeline",))  # the terms and proposals; the timeline is not needed
    terms = terms_in_force(raw, proposal_stamps(doc))
    check_fits(terms, kind, payload)  # on receipt too: a proposal must fit the terms when it is made
    # The same rule decides, on receipt, whether a proposal asked the right parties (see rules.py).
    required = rules.required_answers(terms.parties, me.id, kind, payload)
    digest = hashlib.sha256(f"{actor.key}|{actor.now}|{kind}|{sorted(payload.items())}".encode()).hexdigest()
    taken = set(raw.get("proposals", {}))
    pid = next(rules.proposal_id(me.id, digest[i:i + 6]) for i in range(0, 58)
               if rules.proposal_id(me.id, digest[i:i + 6]) not in taken)
    summary = describe_proposal(kind, payload, view)
    with doc.transaction() as tx:
        proposals = child(tx, ROOT, "proposals")
        put_value(tx, proposals, pid, {
            "kind": kind,
            "payload": payload,
            "rationale": rationale,
            "proposer": me.id,
            "created_at": actor.now,
            "required": required,
            "answers": {},
        })
        others = [p for p in required if p != me.id]
        why = f" — {rationale}" if rationale else ""
        if others:
            _event(tx, me.id, actor.now, f"{me.label} proposed: {summary}{why}", ref=pid)
        elif kind == "replace_key":
            _event(tx, me.id, actor.now, f"{me.label} replaced its own device key (signed by the old key): {summary}{why}", ref=pid)
        else:
            _event(tx, me.id, actor.now, f"{me.label} set the terms (no other party has a key yet): {summary}", ref=pid)
    if others:
        waiting = ", ".join(view.label(p) for p in others)
        return Outcome(f"proposed {pid}: {summary} (waiting on {waiting})", ref=pid, applied=False)
    if kind == "replace_key":
        return Outcome(f"{summary} (applied: the old key signed it; it signs nothing more)", ref=pid, applied=True)
    return Outcome(f"{summary} (applied: no other party has a key yet)", ref=pid, applied=True)


def describe_proposal(kind: str, payload: dict, view: ContractView) -> str:
    target = payload.get("id", "")
    # People read these sentences (and sign them into the timeline): name activities and items by title.
    activity = view.activities.get(target)
    act = f"{activity.title!r} ({target})" if activity is not None else repr(target)
    item = view.items.get(target)
    itm = f"{item.label!r} ({target})" if item is not None else repr(target)
    if kind == "add_activity":
        return f"add activity {payload.get('title', target)!r} for {view.label(payload.get('assignee', ''))}, due {fmt_time(payload.get('due'))}"
    if kind == "change_due":
        return f"move the deadline of {act} to {fmt_time(payload.get('due'))}"
    if kind == "change_assignee":
        return f"give {act} to {view.label(payload.get('assignee', ''))}"
    if kind == "change_activity":
        return f"change activity {act}: " + ", ".join(f"{k}={v!r}" for k, v in (payload.get("fields") or {}).items())
    if kind == "remove_activity":
        return f"remove activity {act}"
    if kind == "add_item":
        return f"add {payload.get('kind', 'text')} item {payload.get('label', target)!r} owned by {view.label(payload.get('owner', ''))}"
    if kind == "change_item":
        return f"change item {itm}: " + ", ".join(f"{k}={v!r}" for k, v in (payload.get("fields") or {}).items())
    if kind == "remove_item":
        return f"remove item {itm}"
    if kind == "add_party":
        who = payload.get("org") or payload.get("name") or target
        return f"add {who} as {payload.get('role', 'party')}"
    if kind == "replace_key":
        return f"replace the device key of {view.label(target)} with {str(payload.get('key', ''))[:16]}…"
    return kind


def answer(doc: Document, actor: Actor, proposal_id: str, accept: bool, reason: str = "") -> Outcome:
    view = view_of(doc, actor.now, actor.cache)
    me = _me(view, actor)
    prop = view.proposal(proposal_id)
    if prop is None:
        raise RefusedOperation(f"no proposal {proposal_id!r}")
    if prop.state != "open":
        raise RefusedOperation(f"proposal {proposal_id} is already {prop.state}")
    if me.id == prop.proposer:
        raise RefusedOperation("a proposer's acceptance is implied; withdraw by proposing the opposite")
    if me.id not in prop.required:
        raise RefusedOperation(f"{me.label} was not a signing party when {proposal_id} was made, so its answer is not needed")
    if any(a.party == me.id for a in prop.answers):
        raise RefusedOperation(f"{me.label} has already answered {proposal_id}; an answer is final")
    if accept:
        _check_still_fits(doc, view, prop)
    word = "accept" if accept else "reject"
    summary = describe_proposal(prop.kind, prop.payload, view)
    with doc.transaction() as tx:
        answers = child(tx, child(tx, child(tx, ROOT, "proposals"), proposal_id), "answers")
        put_value(tx, answers, me.id, {"answer": word, "at": actor.now, "reason": reason})
        _event(tx, me.id, actor.now, f"{me.label} {word}ed {proposal_id}: {summary}" + (f" — {reason}" if reason else ""), ref=proposal_id)
    after = view_of(doc, actor.now, actor.cache).proposal(proposal_id)
    state = after.state if after else "open"
    tail = {"applied": " — agreed by every party, now in force", "rejected": " — rejected", "void": f" — void: {after.note if after else ''}"}
    return Outcome(f"{word}ed {proposal_id}{tail.get(state, '')}", ref=proposal_id, applied=state == "applied")


def _check_still_fits(doc: Document, view: ContractView, prop) -> None:
    """An acceptance binds the terms as they stand now: refuse one the rule ``answer-fits`` refuses."""
    terms = terms_in_force(materialize(doc, skip=("timeline",)), proposal_stamps(doc))
    expected = rules.required_answers(terms.parties, prop.proposer, prop.kind, prop.payload)
    if list(prop.required) != expected:
        raise RefusedOperation(f"{prop.id} no longer asks every party ({', '.join(expected)}); propose it again")
    try:
        check_fits(terms, prop.kind, prop.payload)
    except (RefusedOperation, UsageError) as exc:
        raise RefusedOperation(f"{prop.id} no longer fits the terms: {exc}") from None


def accept_terms(doc: Document, actor: Actor) -> Outcome:
    """Join: accept the contract as it stands — the terms, and every open proposal that waits for this
    party's answer and can still be accepted — in one signed change. A party's first signed change
    accepts the terms in its history whatever it is; this one says so on the timeline."""
    view = view_of(doc, actor.now, actor.cache)
    me = _me(view, actor)
    waiting = []
    for prop in view.open_proposals():
        if me.id in prop.waiting_for() and me.id != prop.proposer:
            try:
                _check_still_fits(doc, view, prop)
            except RefusedOperation:
                continue
            waiting.append(prop)
    with doc.transaction() as tx:
        proposals = child(tx, ROOT, "proposals")
        for prop in waiting:
            answers = child(tx, child(tx, proposals, prop.id), "answers")
            put_value(tx, answers, me.id, {"answer": "accept", "at": actor.now, "reason": "accepted on joining"})
        also = f", and accepted {', '.join(p.id for p in waiting)}" if waiting else ""
        _event(tx, me.id, actor.now, f"{me.label} accepted the terms of the contract as they stand{also}")
    return Outcome(f"accepted the terms as they stand{also}")


# -- terms, through proposals ---------------------------------------------------------------------------


def add_activity(doc, actor: Actor, title: str, assignee: str, due: int | None, detail: str = "",
                 problem_owner: str = "", depends_on: tuple[str, ...] = (), rationale: str = "") -> Outcome:
    view = view_of(doc, actor.now, actor.cache)
    pending = {p.payload.get("id", "") for p in view.open_proposals()}
    aid = _unique(slug(title), set(view.activities) | pending)
    payload = {"id": aid, "title": title, "detail": detail, "assignee": assignee, "problem_owner": problem_owner,
               "due": due, "depends_on": list(depends_on), "created_at": actor.now}
    return propose(doc, actor, "add_activity", payload, rationale)


def add_party(doc, actor: Actor, key_hex: str, name: str, role: str, org: str = "", rationale: str = "") -> Outcome:
    view = view_of(doc, actor.now, actor.cache)
    if not re.fullmatch(r"[0-9a-f]{64}", key_hex or ""):
        raise UsageError("a party key is 64 hex characters, as printed by `pact whoami --json` (public_key)")
    if view.party_by_key(key_hex):
        raise RefusedOperation(f"that key is already the party {view.party_by_key(key_hex).id!r}")
    # Fill an open slot of that role (from the template) before creating a new party.
    slot = next((p.id for p in view.parties.values() if not p.key and (p.role == role or p.id == role)), None)
    pid = slot or _unique(slug(role), set(view.parties))
    payload = {"id": pid, "name": name, "org": org, "role": view.parties[slot].role if slot else role,
               "key": key_hex, "added_at": actor.now}
    return propose(doc, actor, "add_party", payload, rationale)


def replace_key(doc, actor: Actor, new_key_hex: str, party_id: str = "", rationale: str = "") -> Outcome:
    """Replace this party's own device key; it applies at once (signed by the key being replaced).
    Changes the old key signs after the replacement are refused."""
    view = view_of(doc, actor.now, actor.cache)
    me = _me(view, actor)
    target = party_id or me.id
    if target != me.id:
        raise RefusedOperation("a party replaces only its own device key, signed by that key; another party's "
                               "lost key cannot be replaced by the others (that would let them write in its name)")
    if target not in view.parties:
        raise UsageError(f"no party {target!r}; parties: {', '.join(view.parties)}")
    if not re.fullmatch(r"[0-9a-f]{64}", new_key_hex or ""):
        raise UsageError("a device key is 64 hex characters, as printed by `pact whoami --json` (public_key)")
    return propose(doc, actor, "replace_key", {"id": target, "key": new_key_hex}, rationale)


# -- work on the contract ---------------------------------------------------------------------------


def set_item(doc, actor: Actor, item_id: str, value=None, amount: str | None = None, currency: str | None = None,
             owed_by: str | None = None, owed_to: str | None = None) -> Outcome:
    view = view_of(doc, actor.now, actor.cache)
    me = _me(view, actor)
    item = view.items.get(item_id)
    if item is None:
        raise RefusedOperation(f"no item {item_id!r}; items: {', '.join(view.items) or 'none'}")
    rules.check_item_write(view, me.id, item)
    record: dict = {"set_by": me.id, "set_at": actor.now}
    if item.kind == "money":
        cur = currency_of_new_amount(item, currency)
        if amount is None:
            raise UsageError("money needs --amount")
        by, to = owed_by or item.owed_by, owed_to or item.owed_to
        for who in (by, to):
            if who not in view.parties:
                raise UsageError(f"money must say who owes whom: --owed-by and --owed-to take a party ({', '.join(view.parties)})")
        if by == to:
            raise UsageError("a party cannot owe itself")
        record.update(amount=parse_amount(amount, cur), currency=cur, owed_by=by, owed_to=to)
        shown = format_debt(record["amount"], cur, view.label(by), view.label(to))
    else:
        record["value"] = _coerce(item, value)
        shown = str(record["value"])
    with doc.transaction() as tx:
        values = child(tx, ROOT, "values")
        put_value(tx, values, item_id, record)
        _event(tx, me.id, actor.now, f"{me.label} set {item.label}: {shown}", ref=item_id)
    return Outcome(f"{item.label}: {shown}", ref=item_id)


def _coerce(item, value):
    if value is None:
        raise UsageError(f"{item.label} needs a value")
    if item.kind == "number":
        return parse_number(item.label, value)  # bounded to what a contract stores (item_values.py)
    if item.kind == "date":
        try:
            return datetime.strptime(str(value), "%Y-%m-%d").strftime("%Y-%m-%d")
        except ValueError:
            raise UsageError(f"{item.label} is a date (YYYY-MM-DD), not {value!r}") from None
    if item.kind == "choice" and item.choices and value not in item.choices:
        raise UsageError(f"{item.label} is one of: {', '.join(item.choices)}")
    return str(value)


_TRANSITIONS = {
    "start": ({"open", "waiting"}, "in_progress"),
    "wait": ({"open", "in_progress", "waiting"}, "waiting"),
    "done": ({"open", "in_progress", "waiting"}, "done"),
    "cancel": ({"open", "in_progress", "waiting"}, "cancelled"),
}


def change_status(doc, actor: Actor, activity_id: str, action: str, waiting_on: str = "", outcome: str = "",
                  problem_owner: str = "") -> Outcome:
    """start / wait / done / cancel an activity.

    Whoever starts an activity with no named problem owner becomes it (by name): the customer then
    always knows which person has taken the problem on.
    """
    view = view_of(doc, actor.now, actor.cache)
    me = _me(view, actor)
    act = view.activities.get(activity_id)
    if act is None:
        raise RefusedOperation(f"no activity {activity_id!r}; activities: {', '.join(view.activities) or 'none'}")
    allowed_from, new_status = _TRANSITIONS[action]
    if act.status not in allowed_from:
        raise RefusedOperation(f"{activity_id} is {act.status.replace('_', ' ')}; cannot {action} it")
    rules.check_status_write(view, me.id, act)
    if action in ("start", "done") and view.blocked_by(act):
        raise RefusedOperation(f"{activity_id} depends on {', '.join(view.blocked_by(act))}, not finished yet")
    if action == "wait" and waiting_on not in view.parties:
        raise UsageError(f"wait needs the party it waits on: one of {', '.join(view.parties)}")
    record = {"status": new_status, "waiting_on": waiting_on if action == "wait" else "", "updated_at": actor.now,
              "updated_by": me.id}
    if outcome:
        record["outcome"] = outcome
    if problem_owner or (action == "start" and not act.problem_owner):
        record["problem_owner"] = problem_owner or me.name or me.label
    words = {"start": "started", "wait": f"is waiting on {view.label(waiting_on)} for", "done": "finished", "cancel": "cancelled"}
    late = ""
    if new_status == "done" and act.due is not None and actor.now > act.due:
        late = f" (late: was due {fmt_time(act.due)})"
    text = f"{me.label} {words[action]} {act.title!r}{late}" + (f" — {outcome}" if outcome else "")
    if "problem_owner" in record:
        text += f"; problem owner: {record['problem_owner']}"
    with doc.transaction() as tx:
        progress = child(tx, ROOT, "progress")
        existing = child(tx, progress, activity_id)
        if existing is None:
            put_value(tx, progress, activity_id, record)
        else:
            for k, v in record.items():
                put_value(tx, existing, k, v)
        if new_status in FINISHED:  # written once: a concurrent write to the progress record cannot undo it
            put_value(tx, child(tx, ROOT, "finished"), activity_id, {"status": new_status, "at": actor.now, "by": me.id})
        _event(tx, me.id, actor.now, text, ref=activity_id)
    return Outcome(text, ref=activity_id)


def note(doc, actor: Actor, text: str, decision: bool = False) -> Outcome:
    view = view_of(doc, actor.now, actor.cache)
    me = _me(view, actor)
    if not text.strip():
        raise UsageError("a note needs text")
    kind = "decision" if decision else "message"
    before = tuple(sorted(doc.get_heads()))
    with doc.transaction() as tx:
        _event(tx, me.id, actor.now, text.strip(), kind=kind)
    timeline_grew(doc, actor.cache, before, appended_one=True)
    return Outcome(f"recorded {kind}")


# Actions that write neither proposals nor parties: after one of them, the agreed versions that wait
# for a countersignature are the ones that waited before (see Workspace._countersign_pending).
LEAVE_AGREEMENTS_ALONE = frozenset({set_item, change_status, note})
