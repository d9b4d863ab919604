"""Verify an evidence file offline: no home, no identity, no network (unless asked to check a timestamp).

Checks, in order (docs/evidence.md, "What a verifier checks"):

1. the container: magic bytes, lengths, nothing after the end;
2. the body: canonical msgpack, the expected fields and types;
3. the exporter's Ed25519 signature over bytes [0, 52+N) by the key in the header, and the exporter is a party;
4. the document declares no more than the bounds of ``signing.chunk_limits`` (checked before it is
   expanded), loads, and its heads are exactly the body's heads;
5. no signature names a change that is not in the document, and none is given twice;
6. admission: every signature verifies against its change's author key, every change without one is
   vouched for by a later signed change of the same author, and that key was a party of the contract
   when the change was written (``pactclient.signing.admit_changes``);
7. the body's parties are the parties in force in the document;
8. the body's agreed versions are those of the document, each countersignature verifies;
9. the timestamp token, if any, is sealed by the exporter and stamps SHA-256 of bytes [0, 116+N).

Every failure is named; the verdict is valid only if there is none.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from automerge.core import Document

from pactclient.errors import AdmissionError, FormatError, PactError
from pactclient.evidence import attachments, fileformat
from pactclient.evidence.case_report import case_summary
from pactclient.evidence.export import FORMAT, READABLE_VERSIONS, agreements_of, parties_of
from pactclient.identity.device import fingerprint, verify_signature
from pactclient.model.actions import view_of
from pactclient.model.amdoc import bindings_failed
from pactclient.model.views import ContractView
from pactclient.signing.admission import admit_changes
from pactclient.signing.chunk_limits import check_declared

FIELDS = {
    "format": str, "version": int, "contract": str, "exported_at": int, "exported_by": bytes,
    "document": bytes, "heads": list, "signatures": list, "parties": list, "agreements": list,
}


@dataclass
class Verdict:
    valid: bool = False
    failures: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    body: dict | None = None
    view: ContractView | None = None
    document: Document | None = None
    sha256: str = ""
    timestamp: dict | None = None
    attachments: list[dict] | None = None  # each attachment and its status (evidence.attachments)

    def fail(self, what: str) -> None:
        self.failures.append(what)

    def passed(self, what: str) -> None:
        self.checks.append(what)


def verify_bytes(data: bytes, tsa_ca: str | None = None) -> Verdict:
    verdict = Verdict(sha256=hashlib.sha256(data).hexdigest())
    try:
        _verify(data, verdict, tsa_ca)
    except FormatError as exc:
        verdict.fail(str(exc))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # the bindings panic (PanicException) on some malformed documents
        verdict.fail("the document cannot be read (its changes do not load)")
    verdict.valid = not verdict.failures
    return verdict


def _verify(data: bytes, v: Verdict, tsa_ca: str | None) -> None:
    container = fileformat.unpack(data)
    exporter = container.exporter
    if verify_signature(exporter, container.signature, container.signed):
        v.passed("exporter's signature")
    else:
        v.fail("the exporter's signature does not verify: the file was altered or not signed by the key it names")
    body = fileformat.decode_body(container.body)
    for name, kind in FIELDS.items():
        if not isinstance(body.get(name), kind) or isinstance(body.get(name), bool):
            raise FormatError(f"the body's field {name!r} is missing or not a {kind.__name__}")
    optional = {"files"} if body.get("version") == attachments.FILES_VERSION else set()
    if set(body) - optional != set(FIELDS):
        raise FormatError(f"the body has unexpected fields: {', '.join(sorted(set(body) - set(FIELDS)))}")
    if body["format"] != FORMAT or body["version"] not in READABLE_VERSIONS:
        raise FormatError(f"not a {FORMAT} body of version {' or '.join(map(str, READABLE_VERSIONS))}")
    v.body = body
    v.passed("container and canonical encoding")

    if body["exported_by"] != exporter:
        v.fail("the exporter's key in the header differs from the one in the body")

    # Bounded before it is loaded: a few hundred bytes can declare millions of operations.
    try:
        check_declared([body["document"]], "it")
    except FormatError as exc:
        raise FormatError(f"the document cannot be loaded: {exc}") from None
    try:
        doc = Document.load(body["document"])
    except BaseException as exc:  # a plain Exception, or a panic, on malformed data
        if not bindings_failed(exc):
            raise
        raise FormatError(f"the document cannot be loaded: {exc}") from None
    v.document = doc
    if sorted(doc.get_heads()) != body["heads"]:
        v.fail("the heads in the file do not match the document's heads")
    else:
        v.passed("heads match the document")

    signatures = _signatures(body["signatures"])
    changes = doc.get_changes([])
    hashes = {c.hash for c in changes}
    spare = set(signatures) - hashes
    if spare:
        v.fail(f"{len(spare)} signature(s) name changes that are not in the document")
    try:
        admitted = admit_changes(doc, [], signatures, body["contract"])
        vouched = sum(1 for a in admitted if a.signature is None)
        v.passed(f"{len(changes)} changes covered by their authors' signatures ({len(changes) - vouched} signed, "
                 f"{vouched} vouched for by a later signed change of the same author), each author a party when it wrote")
    except AdmissionError as exc:
        v.fail(str(exc))
    except PactError as exc:
        v.fail(f"the document is not a readable contract: {exc}")
        return

    try:
        view = view_of(doc, body["exported_at"])
    except PactError as exc:
        v.fail(f"the document is not a readable contract: {exc}")
        return
    v.view = view
    if parties_of(view, body["version"]) != body["parties"]:
        v.fail("the parties listed in the file are not the parties in force in the document")
    else:
        v.passed("parties match the document")
    if not any(p["key"] == exporter for p in body["parties"]) and view.party_by_key(exporter.hex()) is None:
        v.fail(f"the exporter (key {fingerprint(exporter)[:9] if len(exporter) == 32 else '?'}) is not a party, "
               "nor a device certified by one")
    if agreements_of(doc, view) != body["agreements"]:
        v.fail("the agreed versions listed in the file are not those of the document")
    else:
        v.passed(f"{len(body['agreements'])} agreed version(s) and their countersignatures")
    attachments.check(v)

    if container.token:
        from pactclient.evidence import timestamp

        if not verify_signature(exporter, container.seal, container.sealed):
            v.fail("the exporter's seal over the timestamp token does not verify: the token was altered")

        try:
            v.timestamp = timestamp.check(container.token, hashlib.sha256(container.stamped).digest(), tsa_ca)
            v.passed("timestamp token")
        except FormatError as exc:
            v.fail(f"timestamp: {exc}")


def _signatures(entries: list) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    for entry in entries:
        if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(x, bytes) for x in entry)):
            raise FormatError("each signature must be [change hash, signature]")
        if entry[0] in out:
            raise FormatError(f"two signatures for change {entry[0].hex()[:12]}")
        out[entry[0]] = entry[1]
    return out


def _authors(doc: Document, view: ContractView) -> list[dict]:
    """Who wrote the changes: per author key, its party, the person and device, and how many changes."""
    counts: dict[str, int] = {}
    for change in doc.get_changes([]):
        key = change.actor_id.hex()
        counts[key] = counts.get(key, 0) + 1
    out = []
    for key, n in counts.items():
        party = view.author_by_key(key)
        device = view.devices.get(key)
        out.append({"key": key, "party": party.id if party else None, "person": view.person_by_key(key),
                    "device": device.name if device else ("party key" if party else ""), "changes": n})
    return out


def _owner(view: ContractView) -> dict | None:
    owner = view.problem_owner()
    if owner is None:
        return None
    return {"party": owner.party, "person": owner.person, "device": owner.device, "contact": dict(owner.contact)}


def summary(v: Verdict) -> dict:
    """The verdict as plain data (``pact verify --json``)."""
    out: dict = {"valid": v.valid, "failures": v.failures, "checks": v.checks, "sha256": v.sha256}
    if v.body is not None:
        out.update(contract=v.body["contract"], exported_at=v.body["exported_at"],
                   exported_by=v.body["exported_by"].hex(),
                   exported_by_person=v.view.person_by_key(v.body["exported_by"].hex()) if v.view is not None else "",
                   changes=len(v.document.get_changes([])) if v.document is not None else len(v.body["signatures"]))
    if v.view is not None:
        view = v.view
        card = view.scorecard()
        out.update(
            title=view.title,
            light=view.light(),
            turn=list(view.turn()),
            broken=sum(s.broken for s in card.per_party),
            broken_commitments=[
                {"activity": a.id, "title": a.title, "assignee": a.assignee, "due": a.due, "status": a.status,
                 "done_at": a.done_at}
                for a in view.broken_commitments()
            ],
            offered_to=list(view.offered_to()),
            parties=[{"id": p.id, "name": p.name, "org": p.org, "role": p.role, "key": p.key,
                      "fingerprint": fingerprint(bytes.fromhex(p.key)) if p.key else ""}
                     for p in view.parties.values()],
            devices=[{"key": d.key, "party": d.party, "person": d.person, "device": d.name,
                      "contact": dict(d.contact), "revoked": d.revoked,
                      "fingerprint": fingerprint(bytes.fromhex(d.key))}
                     for d in view.devices.values()],
            authors=_authors(v.document, view) if v.document is not None else [],
            problem_owner=_owner(view),
            scorecard=[{"party": s.party, "kept": s.kept, "broken": s.broken, "open": s.open, "offered": s.offered}
                       for s in card.per_party],
            **case_summary(view),  # links, known faults, escalations, compensation owed, the customer's effort
        )
    if v.body is not None and isinstance(v.body.get("agreements"), list):
        out["agreements"] = [
            {"version": a.get("version"), "proposal": a.get("proposal"),
             "signed_by": [c.get("party") for c in a.get("countersignatures", []) if isinstance(c, dict)]}
            for a in v.body["agreements"] if isinstance(a, dict)
        ]
    if v.timestamp is not None:
        out["timestamp"] = v.timestamp
    if v.attachments is not None:
        out["attachments"] = v.attachments
    return out
