"""Permissions on receipt: does one signed change keep the rules of ``pactclient.model.rules``?

Admission has already checked that the change is signed by a party's key. Here the question is what
the change wrote. Its operations are read from its bytes (``change_ops``); each names the object it
writes and a key. Every object of a contract sits at a fixed place, given when it was made (objects
never move), so each write has a *path*: ``("values", "balance", "amount")``, ``("timeline", "[]")``,
``("proposals", "p-customer-1a2b3c", "answers", "supplier")``. The path and the terms in force at the change's
dependencies (who owns the item, who is assigned the activity, which parties there are) decide:

=========================================  ================================================
path written                               allowed when
=========================================  ================================================
a root key, ``contract``, ``schema``        never after the contract's first change
``parties``, ``items``, ``activities``      never after the first change: terms change by proposals
``values/<item>/...``                       the writer owns the item
``progress/<activity>/...``                 the writer is its assignee or a coordinator, and the move
                                            keeps the transition table (``transitions``)
``finished/<activity>``                     as progress, once, with the finishing status
``proposals/<new id>``                      a new proposal (its id names the writer, and held none at
                                            the change's dependencies) of a known kind that fits the
                                            terms, naming the writer as proposer, with no answers and
                                            the parties ``rules.required_answers`` gives
                                            (``proposal_checks``)
``proposals/<id>/answers/<party>/...``      ``<party>`` is the writer, asked, answering for the first
                                            time; an acceptance only while the proposal still fits
anything else under an existing proposal    never (a proposal is only answered)
``timeline``: a new entry                   the entry names the writer as its author
``timeline``: changing or removing one      never
=========================================  ================================================

Records name their writer: ``set_by`` (values) and ``updated_by`` (progress), when written, must be
the writer's party. Every field written has the type the model gives it (``model.schema.FIELD_TYPES``),
so no party can plant content that breaks the other copies' views.

The first change of a contract (no dependencies) writes the whole set-up and is only checked by
admission (it must be by the creator it names). The creator's later set-up happens through proposals
that need only their author, which the ``proposal-required`` rule allows exactly while no other party
has a key at the proposal's dependencies. Admission has checked, before this, that the change is
well formed (``wellformed``): what it says about its place in history is what the bindings would
have written.

Cost: a check decodes the change (tens of microseconds) and reuses the terms of the change it
depends on when that change did not touch proposals; otherwise ``TermsHistory`` rebuilds them from
the present document, never reading the document's past.
"""

from __future__ import annotations

from typing import NamedTuple

from automerge.core import ROOT, Document, ObjType

from pactclient.model import rules
from pactclient.model.amdoc import scalar
from pactclient.model.schema import FIELD_TYPES, SCALAR_TYPES, fits_type
from pactclient.signing import attachment_checks, case_checks, device_checks, transitions
from pactclient.signing.change_ops import MAKE_MAP, MAKES, SET, DecodedChange, decode_change, value_of
from pactclient.signing.proposal_checks import ProposalChecks, Refusal
from pactclient.signing.terms_history import TERM_SECTIONS, ObjKey, Terms, TermsHistory, obj_key

SECTIONS = ("schema", "contract", "parties", "items", "activities", "values", "progress", "finished", "proposals",
            "timeline", *device_checks.DEVICE_SECTIONS)
HEADER_SECTIONS = ("schema", "contract")
ELEMENT = "[]"  # a list position in a path
TERM_AFFECTING = ("schema", "contract", "parties", "items", "activities", "proposals", "devices", "revocations")
MAX_DEPTH = 32  # objects nest no deeper than this in a contract
LOOKAHEAD = 64  # at most this many later changes are examined before building every change's clock


class _Stored(NamedTuple):
    hash: bytes
    bytes: bytes


class PermissionChecker(ProposalChecks):
    """Checks the changes of one scratch document, each once, dependencies first."""

    def __init__(self, doc: Document):
        self.doc = doc
        self._sections: dict[str, bytes] = {}
        for key in SECTIONS:
            got = doc.get(ROOT, key)
            if got is not None and isinstance(got[0], ObjType):
                self._sections[key] = got[1]
        # The sections' places are known at once; the rest of the present document is indexed only
        # when a change writes into an object elsewhere (a note, written into the timeline, needs none).
        self.section_objects: dict[ObjKey, str] = {obj_key(obj): key for key, obj in self._sections.items()}
        self._places: dict[ObjKey, tuple] = {made: (key,) for made, key in self.section_objects.items()}
        self._indexed = False
        self._decoded: dict[bytes, DecodedChange] = {}  # change hash -> decoded change, for _locate
        self._last: tuple[bytes, DecodedChange | ValueError] | None = None  # the change decoded last
        self._terms_at: dict[tuple[bytes, ...], Terms] = {}
        self._terms_after: dict[bytes, Terms] = {}  # change hash -> terms in force just after it
        self._terms_now: Terms | None = None
        self._history = TermsHistory(doc, self._sections)

    def seed_terms(self, heads, terms: Terms) -> None:
        """Take ``terms`` as the terms in force at ``heads`` (known to the caller from an earlier
        check, see ``terms_at``), so that checking a change on top of ``heads`` reads nothing else."""
        self._terms_at[tuple(sorted(heads))] = terms

    def terms_at(self, heads) -> Terms | None:
        """The terms in force at ``heads`` if this checker already knows them (every head is a change
        it checked that left the same terms, or it computed or was given the terms there), else None."""
        after = self._terms_after
        found = [after.get(h) for h in heads]
        if found and found[0] is not None and all(t is found[0] for t in found):
            return found[0]
        return self._terms_at.get(tuple(sorted(heads)))

    def party_keys_at(self, deps) -> set[str]:
        """Hex keys of the parties in force at ``deps`` — what ``admission.party_keys_at`` computes,
        from the same carried-forward terms as the checks (no reads at past heads). Call it for a
        change before ``check`` to benefit from the terms carried from its dependencies."""
        return set(self._terms_for(tuple(deps)).by_key)

    def decoded(self, change) -> DecodedChange:
        """``change`` decoded from its bytes (ValueError if they do not decode). The last one decoded is
        kept: admission's party lists read a change just before it is checked here."""
        last = self._last
        if last is not None and last[0] == change.hash:
            got = last[1]
        else:
            got = self._decoded.get(change.hash)
            if got is None:
                try:
                    got = decode_change(change.bytes)
                except ValueError as exc:
                    got = exc
            self._last = (change.hash, got)
        if isinstance(got, ValueError):
            raise ValueError(*got.args)
        return got

    def only_timeline_written(self, changes) -> bool:
        """Whether every operation of ``changes`` (each with ``hash`` and ``data``, as admitted) writes
        into the timeline list or into an object made by the same change: then, after them, everything
        but the timeline is as it was. Anything that does not decode counts as writing elsewhere."""
        timeline = next((made for made, key in self.section_objects.items() if key == "timeline"), None)
        if timeline is None:
            return False
        for change in changes:
            try:
                ops = self.decoded(_Stored(change.hash, change.data)).ops
            except ValueError:
                return False
            made = {op.id for op in ops}
            if any(op.obj != timeline and op.obj not in made for op in ops):
                return False
        return True

    # -- the check ---------------------------------------------------------------------------------

    def check(self, change) -> Refusal | None:
        """None if ``change`` keeps every rule, else the first rule it breaks."""
        try:
            return self._check(change)
        except ValueError as exc:  # a value in the change that cannot be read
            return Refusal("readable", f"its operations cannot be read ({exc})")
        except (TypeError, KeyError, AttributeError, IndexError) as exc:
            # Content of a shape no honest writer makes (a list where a map belongs, a number where a
            # party id belongs), met while reading the terms: refused, never a crash.
            return Refusal("readable", "the contract's content cannot be understood")

    def _check(self, change) -> Refusal | None:
        deps = tuple(change.deps)
        if not deps:
            # The first change: admission checks that the creator it names wrote it. What follows it
            # starts from the base terms it wrote, with no proposal yet.
            self._terms_after[change.hash] = self._history.at_clock({change.actor_id: change.max_op})
            return None
        try:
            decoded = self.decoded(change)
        except ValueError as exc:
            return Refusal("readable", f"its operations cannot be read ({exc})")
        terms = self._terms_for(deps)
        actor_hex = change.actor_id.hex()
        writer = terms.by_key.get(actor_hex) or self._introduced(change, terms) or ""
        device_writes = device_checks.new_writes()
        made: dict[ObjKey, tuple] = {}  # objects this change makes -> their paths
        entries: dict[ObjKey, dict] = {}  # new timeline entries -> the fields written into them
        proposals: list[str] = []  # ids of proposals this change makes
        answers: dict[str, list] = {}  # proposal id -> [the answer this change gives, the answers map]
        progress: dict[str, transitions.ProgressWrite] = {}  # activity id -> what this change writes of it
        touches_terms = False
        for op in decoded.ops:
            if op.obj is None:
                place = ()
            elif op.obj in made:
                place = made[op.obj]
            else:
                place = self._place(op.obj)
                if place is None:
                    return Refusal("readable", "it writes into an object no change of this contract made")
            path = place + (op.key if op.key is not None else ELEMENT,)
            if path[0] in device_checks.DEVICE_SECTIONS and len(path) > 1:
                refusal = device_checks.check_write(op, path, op.obj in made, actor_hex, writer, device_writes)
            else:
                refusal = self._check_write(op, path, op.obj in made, terms, writer, proposals, entries, answers, progress)
            if refusal is None and path[0] in ("values", "progress", "finished", "timeline", *device_checks.DEVICE_SECTIONS):
                refusal = _check_shape(op, path)
            if refusal is not None:
                return refusal
            if op.action in MAKES:
                made[op.id] = path
            if path[0] in ("proposals", "devices", "revocations"):
                touches_terms = True
        if device_writes.fields:
            refusal = device_checks.check_records(
                self._sections, change, device_writes, terms, writer, lambda parent, key: self._existed(parent, key, deps),
                lambda: self._history.clock_at(deps))
            if refusal is not None:
                return refusal
        if (refusal := attachment_checks.check_new_entries(decoded.ops, made)) is not None:
            return refusal
        for fields in entries.values():
            if fields.get("author") != writer:
                return Refusal("writer-named", f"a new timeline entry names {fields.get('author')!r} as its author, not {writer!r}")
        refusal = case_checks.check_entries(entries.values(), terms, writer, self._contract_id()) if entries else None
        if refusal is not None:
            return refusal
        for proposal_id in proposals:
            # Set once: the bindings show only one object per key, so a second one made later would
            # hide the first from every reader; whether one existed is read at the dependencies.
            if self._existed(self._sections.get("proposals"), proposal_id, deps):
                return Refusal("proposal-fixed", f"it makes proposal {proposal_id!r} again, over the one among its ancestors")
            refusal = self._check_new_proposal(change, deps, proposal_id, terms, writer)
            if refusal is not None:
                return refusal
        for proposal_id, (given, _) in answers.items():
            if self._existed(self._answers_of(proposal_id), writer, deps):
                return Refusal("own-answers", f"{writer} has already answered {proposal_id!r}; an answer is final")
            refusal = self._check_answer(proposal_id, given, terms, writer)
            if refusal is not None:
                return refusal
        if progress:
            refusal = transitions.check(self.doc, self._sections, deps, terms, progress)
            if refusal is not None:
                return Refusal(*refusal)
        if not touches_terms:
            self._terms_after[change.hash] = terms
        return None

    def _check_write(self, op, path: tuple, in_new_object: bool, terms: Terms, writer: str,
                     proposals: list[str], entries: dict, answers: dict, progress: dict) -> Refusal | None:
        section = path[0]
        if len(path) == 1 or section in HEADER_SECTIONS or section not in SECTIONS:
            rule = "terms-by-proposal" if section in TERM_SECTIONS else "header-fixed"
            return Refusal(rule, f"it writes {'/'.join(map(str, path))!r}")
        if section in TERM_SECTIONS:
            return Refusal("terms-by-proposal", f"it writes {'/'.join(map(str, path))!r} directly")
        if section == "values":
            item = terms.items.get(path[1])
            if item is None:
                return Refusal("item-owner", f"it sets {path[1]!r}, which is not an item of the contract")
            if not rules.may_set_item(item.get("owner", ""), writer):
                return Refusal("item-owner", f"{writer or 'the writer'} sets {path[1]!r}, owned by {item.get('owner')!r}")
            if path[2:] == ("set_by",) and op.action == SET and value_of(op) != writer:
                return Refusal("writer-named", f"the value of {path[1]!r} names {value_of(op)!r} as its writer, not {writer!r}")
            return None
        if section in ("progress", "finished"):
            act = terms.activities.get(path[1])
            if act is None:
                return Refusal("assignee", f"it changes {path[1]!r}, which is not an activity of the contract")
            role = terms.parties.get(writer, {}).get("role", "")
            if not rules.may_change_status(act.get("assignee", ""), writer, role):
                return Refusal("assignee", f"{writer or 'the writer'} changes {path[1]!r}, assigned to {act.get('assignee')!r}")
            if path[2:] == ("updated_by",) and op.action == SET and value_of(op) != writer:
                return Refusal("writer-named", f"the progress of {path[1]!r} names {value_of(op)!r} as its writer, not {writer!r}")
            write = progress.setdefault(path[1], transitions.ProgressWrite())
            if section == "finished":
                if len(path) == 2:
                    write.finish_made = op.action == MAKE_MAP
                elif not in_new_object:
                    return Refusal("transition", f"it changes the finish of {path[1]!r}, which is written once")
                elif path[2:] == ("status",) and op.action == SET:
                    write.finish = value_of(op)
                elif path[2:] == ("by",) and op.action == SET and value_of(op) != writer:
                    return Refusal("writer-named", f"the finish of {path[1]!r} names {value_of(op)!r} as its writer, not {writer!r}")
            elif len(path) == 2:
                write.made_anew = op.action == MAKE_MAP
            elif path[2:] == ("status",) and op.action == SET:
                write.status = value_of(op)
            return None
        if section == "proposals":
            return self._check_proposal_write(op, path, terms, writer, proposals, answers)
        # the timeline
        if len(path) == 2:
            if not (op.insert and op.action == MAKE_MAP):
                return Refusal("timeline-append-only", "it changes or removes a timeline entry")
            entries[op.id] = {}
            return None
        if not in_new_object:
            return Refusal("timeline-append-only", "it changes a timeline entry")
        if len(path) == 3 and op.obj in entries:  # every field, for the author and the case entries' rules
            entries[op.obj][path[2]] = value_of(op) if op.action == SET else None
        return None

    def _contract_id(self) -> str:
        contract = self._sections.get("contract")
        got = scalar(self.doc, contract, "id") if contract is not None else None
        return got if isinstance(got, str) else ""

    def introduced_party(self, change) -> str | None:
        """The party ``change``'s author writes for when it is not a key in force at the change's
        dependencies but the change introduces it (``devices/<author>``, signed by a party's key)."""
        if not change.deps:
            return None
        return self._introduced(change, self._terms_for(tuple(change.deps)))

    def _introduced(self, change, terms: Terms) -> str | None:
        return device_checks.introduced_party(self.doc, self._sections.get("devices"), change, terms.parties)

    # -- where objects are ------------------------------------------------------------------------------

    def _place(self, obj: ObjKey) -> tuple | None:
        """The path of an existing object, or None if no change of the document made it."""
        place = self._places.get(obj)
        if place is None and not self._indexed:
            self._indexed = True
            self._index()
            place = self._places.get(obj)
        if place is None:
            place = self._locate(obj)
        return place

    def _locate(self, obj: ObjKey) -> tuple | None:
        """The path of an object not visible now (an older value record, a timeline entry, something
        inside the terms), from the op that made it and, in turn, the ops that made its parents."""
        chain = []
        while obj is not None and obj not in self._places:
            if len(chain) > MAX_DEPTH:
                return None
            op = self._making_op(obj)
            if op is None:
                return None
            chain.append((obj, op))
            obj = op.obj
        path = () if obj is None else self._places[obj]
        for made, op in reversed(chain):
            path = path + (op.key if op.key is not None else ELEMENT,)
            self._places[made] = path
        return path

    def _making_op(self, obj: ObjKey):
        change = self._history.change_with_op(obj)
        if change is None:
            return None
        decoded = self._decoded.get(change.hash)
        if decoded is None:
            decoded = self._decoded[change.hash] = decode_change(change.bytes)
        index = obj[1] - decoded.start_op
        op = decoded.ops[index] if 0 <= index < len(decoded.ops) else None
        return op if op is not None and op.id == obj and op.action in MAKES else None

    def _index(self) -> None:
        """Record, from the present document, the places of the objects changes write into: the
        sections, each item's value, each activity's progress, each proposal, its answers and each
        answer. Anything else is found from the op that made it (``_locate``)."""
        doc, places = self.doc, self._places
        for key, obj in self._sections.items():
            places[obj_key(obj)] = (key,)
        for section in ("values", "progress", "proposals"):
            parent = self._sections.get(section)
            if parent is None:
                continue
            for name in doc.keys(parent):
                got = doc.get(parent, name)
                if got is None or not isinstance(got[0], ObjType):
                    continue
                places[obj_key(got[1])] = (section, name)
                if section != "proposals":
                    continue
                for part in ("payload", "required"):  # never written after the proposal is made
                    inner = doc.get(got[1], part)
                    if inner is not None and isinstance(inner[0], ObjType):
                        places[obj_key(inner[1])] = (section, name, part)
                answers = doc.get(got[1], "answers")
                if answers is None or not isinstance(answers[0], ObjType):
                    continue
                places[obj_key(answers[1])] = (section, name, "answers")
                for party in doc.keys(answers[1]):
                    one = doc.get(answers[1], party)
                    if one is not None and isinstance(one[0], ObjType):
                        places[obj_key(one[1])] = (section, name, "answers", party)

    # -- terms at a change's dependencies ---------------------------------------------------------------

    def _terms_for(self, deps: tuple) -> Terms:
        after = self._terms_after
        first = after.get(deps[0])
        if first is not None and all(after.get(d) is first for d in deps[1:]):
            return first
        key = tuple(sorted(deps))
        terms = self._terms_at.get(key)
        if terms is None:
            terms = self._terms_at[key] = self._terms_now_if_same(list(key)) or self._history.at_clock(self._history.clock_at(key))
        return terms

    def _terms_now_if_same(self, deps: list[bytes]) -> Terms | None:
        """The terms in force now, if they are also those at ``deps``: when none of the (few) changes
        that are not ancestors of ``deps`` may touch proposals. Saves building every change's clock."""
        later = self.doc.get_changes(deps)
        if len(later) > LOOKAHEAD:
            return None
        for change in later:
            if self._may_touch_terms(change):
                return None
        if self._terms_now is None:
            self._terms_now = self._history.at_clock(None)
        return self._terms_now

    def _may_touch_terms(self, change) -> bool:
        if not change.deps:
            return True
        try:
            decoded = self.decoded(change)
        except ValueError:
            return True
        made: dict[ObjKey, tuple] = {}
        for op in decoded.ops:
            if op.obj is None:
                return True
            place = made.get(op.obj) or self._place(op.obj)
            if place is None or place[0] in TERM_AFFECTING:
                return True
            if op.action in MAKES:
                made[op.id] = place + (op.key,)
        return False


# Automerge value type codes: 0 null, 1 false, 2 true, 3 unsigned, 4 signed, 5 float, 6 text.
_TYPE_CODES = {"str": {6}, "int": {3, 4}, "int or null": {0, 3, 4}, "text or number": {3, 4, 5, 6},
               None: {0, 1, 2, 3, 4, 5, 6}}


def _check_shape(op, path: tuple) -> Refusal | None:
    """A record's field (``values/<item>/<field>``, ``progress/<activity>/<field>``, a new timeline
    entry's field) or an element of one of its lists has the type the model writes."""
    if len(path) == 3:
        want = FIELD_TYPES.get(path[2])
        if op.action == SET:
            # Judged from the value's type code where that suffices: long texts need not be decoded.
            codes = _TYPE_CODES.get(want)
            fits = (op.value is not None and op.value.kind in codes) if codes is not None else fits_type(path[2], value_of(op))
            if not fits:
                return Refusal("well-formed", f"it writes {path[2]!r} with a value of the wrong type")
        if op.action in MAKES and (want is None or want in SCALAR_TYPES):
            return Refusal("well-formed", f"it writes an object where {path[2]!r} holds a value")
    elif len(path) == 4 and path[3] == ELEMENT and op.action not in MAKES:
        if op.action == SET and not isinstance(value_of(op), str):
            return Refusal("well-formed", f"it puts a value that is not text into {path[2]!r}")
    elif len(path) > 3:
        return Refusal("well-formed", f"it writes {'/'.join(map(str, path))!r}, deeper than any record goes")
    return None
